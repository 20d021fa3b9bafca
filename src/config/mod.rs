//! `stratum.yaml`: the project's configuration file, and the settings that
//! flags, the file and defaults resolve into (flags win over the file, the
//! file over defaults).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

mod located;

use crate::filter::Filter;
use crate::migrations::Layout;
use crate::sql::QualName;
use located::{did_you_mean, locate};

/// The file name looked for in the current directory and its parents.
pub const FILE_NAME: &str = "stratum.yaml";

/// The configuration file as written. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Directory (or file) of the desired schema.
    pub schema: Option<PathBuf>,
    /// Directory of migrations.
    pub migrations: Option<PathBuf>,
    /// Server for scratch databases instead of the embedded cluster.
    pub dev_url: Option<String>,
    /// Environment variable holding the database URL.
    pub database_url_env: Option<String>,
    /// Accept a scratch server of another major version than the target's.
    pub allow_major_mismatch: Option<bool>,
    /// Only these schemas are managed (all when absent).
    pub include_schemas: Option<Vec<String>>,
    /// Schemas never managed.
    pub exclude_schemas: Option<Vec<String>>,
    /// Object-name patterns (`*`, `?`; `schema.name` or `name`) never managed.
    pub exclude_objects: Option<Vec<String>>,
    /// Hazards `apply` accepts without `--allow-hazards`.
    pub allow_hazards: Option<Vec<crate::hazard::Approval>>,
    /// The migration history table, optionally schema-qualified.
    pub history_table: Option<String>,
    /// Migration file layout.
    pub layout: Option<Layout>,
    /// Any object of a kind stratum does not manage is an error.
    pub strict: Option<bool>,
    /// Roles: `assume` lists those that exist where plans run.
    pub roles: Option<RolesConfig>,
    /// `manage` (the default) or `ignore` GRANT / REVOKE.
    pub privileges: Option<Managed>,
    /// `schema` (the default: owners the schema sets), `manage` or `ignore`.
    pub owners: Option<crate::filter::Owners>,
    /// Drift `check` reports but does not fail on.
    pub expected_drift: Option<Vec<ExpectedDrift>>,
    /// Policy rules on the desired schema: severities, per environment,
    /// naming patterns.
    pub lint: Option<crate::policy::Config>,
    /// Online plans (the default): indexes of existing tables built and
    /// dropped CONCURRENTLY.
    pub online: Option<bool>,
    /// Lock and statement timeouts of applied steps, and retries.
    pub timeouts: Option<TimeoutsConfig>,
    /// How batched backfills pace themselves.
    pub backfill: Option<BackfillConfig>,
    /// `generate` writes breaking column changes as expand / contract:
    /// always (`true`), or for live tables above a size.
    pub zero_downtime: Option<ZeroDowntimeConfig>,
    /// Prove plans on a copy before `apply` and `generate` finish (the
    /// default).
    pub proof: Option<bool>,
    /// Read-only checks of the rows a statement can fail on, before
    /// `apply` and `migrate` run anything: `true` (the default), `false`,
    /// or `{timeout: 30s, sample_above: 1GB}`.
    pub pre_checks: Option<PreChecksConfig>,
    /// How `rehearse` samples the target's rows into its copy, and which
    /// columns it masks.
    pub rehearse: Option<RehearseConfig>,
    /// `allow` runs a pending migration older than the newest applied one
    /// (`refuse`, the default, stops).
    pub out_of_order: Option<OutOfOrder>,
    /// The databases of a fleet (named groups) and how changes roll out
    /// over them.
    pub fleet: Option<crate::fleet::FleetConfig>,
    /// Schema per tenant: the placeholder schema `schema/` holds a
    /// tenant's objects in, and how a database's tenant schemas are found.
    pub tenants: Option<crate::tenants::TenantsConfig>,
}

/// What `migrate` does with a pending migration older than the newest
/// applied one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutOfOrder {
    /// Stop, naming it (the default).
    #[default]
    Refuse,
    /// Run it.
    Allow,
}

/// The `timeouts:` section of `stratum.yaml` (durations as `500ms`, `3s`,
/// `10m`, `1h`, or `0` for no limit).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// lock_timeout of every step [3s].
    pub lock: Option<String>,
    /// statement_timeout of steps in a transaction [0].
    pub statement: Option<String>,
    /// statement_timeout of concurrent builds and validations [0].
    pub long_statement: Option<String>,
    /// Tries after the first when a lock was not granted in time [5].
    pub retries: Option<u32>,
    /// How long to wait for another run's migration lock [10m].
    pub migration_lock: Option<String>,
}

/// `zero_downtime:` in `stratum.yaml`: `true`, `false`, or the live
/// tables it applies to: `{above_rows: 1000000, above_size: 1GB}`.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum ZeroDowntimeConfig {
    /// For every table, or none.
    On(bool),
    /// For tables at least this big in the live database.
    Above(ZeroDowntimeAbove),
}

/// `pre_checks:` in `stratum.yaml`: `true`, `false`, or how they run.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum PreChecksConfig {
    /// On with the defaults, or off.
    On(bool),
    /// On, with these settings.
    With(PreChecksSettings),
}

/// How pre-checks run.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreChecksSettings {
    /// statement_timeout of each check's query (`30s`; `0` for none) [30s].
    pub timeout: Option<String>,
    /// Tables larger than this (`1GB`; `0` never) are read in a sample of
    /// about this size [1GB].
    pub sample_above: Option<String>,
}

/// The `rehearse:` section of `stratum.yaml`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RehearseConfig {
    /// Percent of a large table's rows copied (`1%`) [1%].
    pub sample: Option<String>,
    /// Rows copied of one table, at most [100000].
    pub max_rows: Option<u64>,
    /// Tables with at most this many rows are copied whole [10000].
    pub small_tables: Option<u64>,
    /// Columns (`schema.table.column`, `*` and `?`) whose values never
    /// leave the database: a digest of a string, NULL otherwise.
    pub mask: Option<Vec<String>>,
    /// Flag steps estimated to hold a lock that blocks writes longer than
    /// this (`1s`) [1s].
    pub max_lock: Option<String>,
}

/// The limits of `zero_downtime:` (either is enough).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZeroDowntimeAbove {
    /// Rows (the table's estimate, `pg_class.reltuples`).
    pub above_rows: Option<u64>,
    /// Size on disk, indexes and TOAST included (`512MB`, `1GB`).
    pub above_size: Option<String>,
}

/// The `backfill:` section of `stratum.yaml`: how an `UPDATE` marked
/// `-- stratum:backfill` runs (its marker line may set its own).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillConfig {
    /// Rows per batch [5000].
    pub batch_size: Option<u64>,
    /// Pause after each batch [0].
    pub pause: Option<String>,
    /// Pause while a standby replays more than this much WAL behind
    /// (`64MB`; `0` never waits) [64MB].
    pub max_replication_lag: Option<String>,
    /// Pause while more than this many other client sessions are active
    /// [no limit].
    pub max_active_sessions: Option<u64>,
}

pub use crate::expected::ExpectedDrift;

/// Whether a part of the schema is managed or left alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Managed {
    /// Planned, and drift reported.
    #[default]
    Manage,
    /// Neither planned nor reported.
    Ignore,
}

/// The `roles:` section of `stratum.yaml`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesConfig {
    /// Roles that exist where the plan will run, though the database read
    /// lacks them (`roles: {assume: [anon, authenticated]}`).
    pub assume: Option<Vec<String>>,
}

impl ConfigFile {
    /// Reads and validates `path`. Errors name the file, line, column and key.
    pub fn read(path: &Path) -> Result<ConfigFile> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        if text.trim().is_empty() {
            return Ok(ConfigFile::default());
        }
        serde_yaml_ng::from_str(&text).map_err(|e| {
            let message = e.to_string();
            // serde_yaml_ng appends " at line L column C"; we lead with it.
            let message = match message.find(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            let message = did_you_mean(&message);
            match e.location() {
                Some(l) => {
                    anyhow::anyhow!("{}:{}:{}: {message}", path.display(), l.line(), l.column())
                }
                None => anyhow::anyhow!("{}: {message}", path.display()),
            }
        })
    }

    /// Finds `stratum.yaml` in `dir` or its parents.
    pub fn find(dir: &Path) -> Option<PathBuf> {
        dir.ancestors()
            .map(|d| d.join(FILE_NAME))
            .find(|p| p.is_file())
    }
}

/// Flags that override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--schema`.
    pub schema: Option<PathBuf>,
    /// `--migrations`.
    pub migrations: Option<PathBuf>,
    /// `--dev-url`.
    pub dev_url: Option<String>,
    /// `--layout`.
    pub layout: Option<Layout>,
    /// `--strict`.
    pub strict: bool,
    /// `--allow-major-mismatch`.
    pub allow_major_mismatch: bool,
    /// `--privileges`.
    pub privileges: Option<Managed>,
    /// `--owners`.
    pub owners: Option<crate::filter::Owners>,
    /// `--no-online`.
    pub no_online: bool,
    /// `--no-proof`.
    pub no_proof: bool,
    /// `--no-pre-checks`.
    pub no_pre_checks: bool,
    /// `--lock-timeout`.
    pub lock_timeout: Option<String>,
    /// `--retries`.
    pub retries: Option<u32>,
}

/// Everything a command needs to know about the project, resolved once.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory paths are shown relative to: the configuration file's,
    /// or the working directory.
    pub root: PathBuf,
    /// The configuration file used, if any.
    pub config_file: Option<PathBuf>,
    /// Desired schema.
    pub schema: PathBuf,
    /// Migrations directory.
    pub migrations: PathBuf,
    /// Scratch server, when not embedded.
    pub dev_url: Option<String>,
    /// Accept a scratch server of another major version than the target's.
    pub any_major: bool,
    /// Environment variable holding the database URL.
    pub database_url_env: String,
    /// What is managed.
    pub filter: Filter,
    /// Hazards accepted by `apply` without asking for them.
    pub allow_hazards: crate::hazard::Approvals,
    /// The history table.
    pub history_table: QualName,
    /// Migration file layout.
    pub layout: Layout,
    /// Any object of a kind stratum does not manage is an error.
    pub strict: bool,
    /// Roles assumed to exist where plans run, quoted as SQL names them.
    pub assume_roles: BTreeSet<String>,
    /// Drift `check` reports without failing.
    pub expected_drift: Vec<ExpectedDrift>,
    /// Timeouts and retries of applied steps.
    pub timeouts: crate::execute::Timeouts,
    /// Prove plans on a copy with rows before `apply` runs them and before
    /// `generate` writes them.
    pub proof: bool,
    /// Run pending migrations older than the newest applied one.
    pub out_of_order: bool,
    /// When `generate` writes breaking column changes as expand /
    /// contract.
    pub zero_downtime: crate::zero_downtime::When,
    /// How `apply` and `migrate` check the rows their statements can fail
    /// on before running anything; None: they do not.
    pub pre_checks: Option<crate::precheck::Settings>,
    /// How `rehearse` samples rows, masks columns and flags locks.
    pub rehearse: crate::rehearse::Settings,
    /// `fleet:` as written: groups are read (and their environment
    /// variables) only by a command run over them.
    pub fleet: crate::fleet::FleetConfig,
    /// Schema per tenant (`tenants:`).
    pub tenants: Option<crate::tenants::Tenants>,
    /// Policy rules (`lint:`); `check` runs them only when it is there.
    pub policy: Option<crate::policy::Config>,
    /// The environment whose rule severities apply (`--env`).
    pub policy_env: Option<String>,
    /// The part of `schema/` and the migrations this run works on, in a
    /// project with tenants: set per target by the fleet commands.
    pub tenant: Option<crate::tenants::TenantRun>,
}

/// The pace of backfills: `stratum.yaml`, then defaults.
/// `zero_downtime:` as `generate` reads it.
fn zero_downtime(file: Option<ZeroDowntimeConfig>) -> Result<crate::zero_downtime::When> {
    use crate::zero_downtime::When;
    Ok(match file {
        None | Some(ZeroDowntimeConfig::On(false)) => When::Never,
        Some(ZeroDowntimeConfig::On(true)) => When::Always,
        Some(ZeroDowntimeConfig::Above(above)) => {
            let bytes = match &above.above_size {
                Some(size) => crate::execute::backfill::Pace::parse_size(size)
                    .context("zero_downtime.above_size")?,
                None => None,
            };
            if above.above_rows.is_none() && bytes.is_none() {
                bail!("zero_downtime: give above_rows or above_size (or true for every table)");
            }
            When::Above {
                rows: above.above_rows,
                bytes,
            }
        }
    })
}

/// `pre_checks:` as `apply` and `migrate` read it; None when off.
fn pre_checks(file: Option<PreChecksConfig>) -> Result<Option<crate::precheck::Settings>> {
    use crate::precheck::Settings;
    let defaults = Settings::default();
    Ok(match file {
        Some(PreChecksConfig::On(false)) => None,
        None | Some(PreChecksConfig::On(true)) => Some(defaults),
        Some(PreChecksConfig::With(with)) => Some(Settings {
            timeout: match &with.timeout {
                Some(t) => {
                    crate::execute::Timeouts::parse_duration(t).context("pre_checks.timeout")?
                }
                None => defaults.timeout,
            },
            sample_above: match &with.sample_above {
                Some(size) => crate::execute::backfill::Pace::parse_size(size)
                    .context("pre_checks.sample_above")?,
                None => defaults.sample_above,
            },
        }),
    })
}

/// `rehearse:` as `rehearse` reads it.
fn rehearse(file: RehearseConfig) -> Result<crate::rehearse::Settings> {
    use crate::rehearse::Settings;
    let defaults = Settings::default();
    let mut sampling = defaults.sampling.clone();
    if let Some(sample) = &file.sample {
        let percent: f64 = sample
            .trim()
            .trim_end_matches('%')
            .trim()
            .parse()
            .ok()
            .filter(|p: &f64| *p > 0.0 && *p <= 100.0)
            .with_context(|| format!("rehearse.sample: {sample:?} is no percentage (`1%`)"))?;
        sampling.percent = percent;
    }
    if let Some(n) = file.max_rows {
        sampling.max_rows = n;
    }
    if let Some(n) = file.small_tables {
        sampling.small_rows = n;
    }
    sampling.mask = file.mask.unwrap_or_default();
    Ok(Settings {
        sampling,
        max_lock: match &file.max_lock {
            Some(t) => crate::execute::Timeouts::parse_duration(t)
                .context("rehearse.max_lock")?
                .unwrap_or_default(),
            None => defaults.max_lock,
        },
    })
}

fn pace(file: BackfillConfig) -> Result<crate::execute::backfill::Pace> {
    use crate::execute::backfill::Pace;
    let defaults = Pace::default();
    Ok(Pace {
        batch_size: match file.batch_size {
            Some(0) => bail!("backfill.batch_size: give a number of rows above 0"),
            Some(n) => n,
            None => defaults.batch_size,
        },
        pause: match &file.pause {
            Some(p) => crate::execute::Timeouts::parse_duration(p)
                .context("backfill.pause")?
                .unwrap_or_default(),
            None => defaults.pause,
        },
        max_replication_lag: match &file.max_replication_lag {
            Some(l) => Pace::parse_size(l).context("backfill.max_replication_lag")?,
            None => defaults.max_replication_lag,
        },
        max_active_sessions: match file.max_active_sessions {
            Some(0) => bail!(
                "backfill.max_active_sessions: give a number of sessions above 0, or leave it \
                 out for no limit"
            ),
            n => n.or(defaults.max_active_sessions),
        },
    })
}

/// The timeouts of a project: flags, then `stratum.yaml`, then defaults.
fn timeouts(
    file: TimeoutsConfig,
    lock_flag: &Option<String>,
    retries_flag: Option<u32>,
) -> Result<crate::execute::Timeouts> {
    use crate::execute::Timeouts;
    let defaults = Timeouts::default();
    let parse = |what: &str, text: Option<&String>, default| match text {
        Some(t) => Timeouts::parse_duration(t).with_context(|| format!("timeouts.{what}")),
        None => Ok(default),
    };
    Ok(Timeouts {
        lock: parse(
            "lock",
            lock_flag.as_ref().or(file.lock.as_ref()),
            defaults.lock,
        )?,
        statement: parse("statement", file.statement.as_ref(), defaults.statement)?,
        long_statement: parse(
            "long_statement",
            file.long_statement.as_ref(),
            defaults.long_statement,
        )?,
        retries: retries_flag.or(file.retries).unwrap_or(defaults.retries),
        migration_lock: parse(
            "migration_lock",
            file.migration_lock.as_ref(),
            defaults.migration_lock,
        )?,
        backfill: defaults.backfill,
    })
}

impl Project {
    /// The hazards allowed: `allow_hazards` of stratum.yaml, and `extra`
    /// (the run's --allow-hazards).
    pub fn allowed(&self, extra: &crate::hazard::Approvals) -> crate::hazard::Approvals {
        self.allow_hazards.with(extra)
    }

    /// Where this project loads SQL sources.
    pub fn scratch(&self) -> crate::load::Scratch {
        crate::load::Scratch {
            dev_url: self.dev_url.clone(),
            any_major: self.any_major,
        }
    }

    /// Resolves flags, the configuration file (given or found from `cwd`)
    /// and defaults. Paths in the file are relative to the file.
    pub fn resolve(mut overrides: Overrides, cwd: &Path) -> Result<Project> {
        let config_file = match overrides.config.take() {
            Some(path) => {
                if !path.is_file() {
                    bail!("{}: no such configuration file", path.display());
                }
                Some(path)
            }
            None => ConfigFile::find(cwd),
        };
        let (file, base) = match &config_file {
            Some(path) => (
                ConfigFile::read(path).map_err(|e| {
                    // Name the file as the user would: relative to here.
                    let full = path.display().to_string();
                    let shown = path.strip_prefix(cwd).unwrap_or(path).display().to_string();
                    anyhow::anyhow!("{}", e.to_string().replacen(&full, &shown, 1))
                })?,
                path.parent().map(Path::to_path_buf).unwrap_or_default(),
            ),
            None => (ConfigFile::default(), cwd.to_path_buf()),
        };
        let located = |e: anyhow::Error| match &config_file {
            Some(path) => {
                let shown = path.strip_prefix(cwd).unwrap_or(path).display().to_string();
                locate(path, &shown, e)
            }
            None => e,
        };
        Project::from_file(overrides, file, base, config_file.clone()).map_err(located)
    }

    /// [`Project::resolve`] once the file is read.
    fn from_file(
        overrides: Overrides,
        file: ConfigFile,
        base: PathBuf,
        config_file: Option<PathBuf>,
    ) -> Result<Project> {
        let relative = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let history = file
            .history_table
            .unwrap_or_else(|| "stratum_migrations".to_string());
        let history_table = match history.split_once('.') {
            Some((schema, name)) => QualName {
                schema: schema.to_string(),
                name: name.to_string(),
            },
            None => QualName {
                schema: "public".to_string(),
                name: history,
            },
        };
        let filter = Filter {
            include_schemas: file.include_schemas.unwrap_or_default(),
            exclude_schemas: file.exclude_schemas.unwrap_or_default(),
            exclude_objects: file.exclude_objects.unwrap_or_default(),
            history_table: Some(history_table.clone()),
            ignore_privileges: overrides.privileges.or(file.privileges) == Some(Managed::Ignore),
            owners: overrides.owners.or(file.owners).unwrap_or_default(),
            online: !overrides.no_online && file.online.unwrap_or(true),
            expected_drift: file.expected_drift.clone().unwrap_or_default(),
        };
        Ok(Project {
            schema: overrides
                .schema
                .unwrap_or_else(|| relative(file.schema.unwrap_or_else(|| "schema".into()))),
            migrations: overrides.migrations.unwrap_or_else(|| {
                relative(file.migrations.unwrap_or_else(|| "migrations".into()))
            }),
            dev_url: overrides.dev_url.or(file.dev_url),
            any_major: overrides.allow_major_mismatch || file.allow_major_mismatch.unwrap_or(false),
            database_url_env: file
                .database_url_env
                .unwrap_or_else(|| "DATABASE_URL".to_string()),
            filter,
            allow_hazards: file.allow_hazards.unwrap_or_default().into_iter().collect(),
            history_table,
            layout: overrides.layout.or(file.layout).unwrap_or_default(),
            strict: overrides.strict || file.strict.unwrap_or(false),
            expected_drift: file.expected_drift.unwrap_or_default(),
            timeouts: crate::execute::Timeouts {
                backfill: pace(file.backfill.unwrap_or_default())?,
                ..timeouts(
                    file.timeouts.unwrap_or_default(),
                    &overrides.lock_timeout,
                    overrides.retries,
                )?
            },
            proof: !overrides.no_proof && file.proof.unwrap_or(true),
            out_of_order: file.out_of_order.unwrap_or_default() == OutOfOrder::Allow,
            zero_downtime: zero_downtime(file.zero_downtime)?,
            rehearse: rehearse(file.rehearse.unwrap_or_default())?,
            fleet: file.fleet.unwrap_or_default(),
            tenants: match &file.tenants {
                Some(config) => Some(crate::tenants::Tenants::from_config(config)?),
                None => None,
            },
            tenant: None,
            policy: file.lint,
            policy_env: None,
            pre_checks: match overrides.no_pre_checks {
                true => None,
                false => pre_checks(file.pre_checks)?,
            },
            assume_roles: file
                .roles
                .and_then(|r| r.assume)
                .unwrap_or_default()
                .iter()
                .map(|r| crate::sql::ident(r))
                .collect(),
            config_file,
            root: base,
        })
    }

    /// Makes the schema and migrations paths relative to `cwd`, the
    /// process's working directory, so that messages name `schema/x.sql`
    /// rather than an absolute path.
    pub fn relative_to(&mut self, cwd: &Path) {
        for path in [&mut self.schema, &mut self.migrations] {
            if let Ok(rel) = path.strip_prefix(cwd) {
                if !rel.as_os_str().is_empty() {
                    *path = rel.to_path_buf();
                }
            }
        }
    }

    /// `e`, about a value of stratum.yaml read after the project was
    /// resolved (`fleet.waves: ...`), led by the file and the key's line.
    pub fn located(&self, e: anyhow::Error) -> anyhow::Error {
        match &self.config_file {
            Some(path)
                if format!("{e}").split(':').next().is_some_and(|k| {
                    k.contains('.') && !k.contains(' ') && !k.starts_with('-')
                }) =>
            {
                locate(path, &self.show(path), e)
            }
            _ => e,
        }
    }

    /// `path` relative to the project root when it is below it, for output
    /// that should not depend on where the project is checked out.
    pub fn show(&self, path: &Path) -> String {
        let shown = path
            .strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string();
        if path.is_dir() && !shown.ends_with('/') {
            shown + "/"
        } else {
            shown
        }
    }

    /// The desired schema as a diff source.
    pub fn schema_source(&self) -> Result<crate::load::Source> {
        crate::load::Source::parse(&self.schema.to_string_lossy())
    }

    /// The database URL: `--db`, else the configured environment variable.
    pub fn database_url(&self, flag: Option<&str>) -> Result<String> {
        if let Some(url) = flag {
            return Ok(url.to_string());
        }
        match std::env::var(&self.database_url_env) {
            Ok(url) if !url.is_empty() => Ok(url),
            _ => bail!(
                "no database given: pass --db postgres://... or set {}",
                self.database_url_env
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join(FILE_NAME);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "schema: db/\nmigrashuns: m/\n");
        let err = ConfigFile::read(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}:2:1: unknown field `migrashuns`",
                path.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn bad_value_names_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "layout: stratum\nallow_hazards: [data-los]\n");
        let err = ConfigFile::read(&path).unwrap_err().to_string();
        assert!(err.contains(&format!("{}:2:", path.display())), "{err}");
        assert!(err.contains("allow_hazards"), "{err}");
        assert!(err.contains("data-los"), "{err}");
    }

    #[test]
    fn flags_override_file_and_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "schema: db/schema\nlayout: flyway\nhistory_table: ops.history\n",
        );
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let project = Project::resolve(Overrides::default(), &sub).unwrap();
        assert_eq!(project.schema, dir.path().join("db/schema"));
        assert_eq!(project.migrations, dir.path().join("migrations"));
        assert_eq!(project.layout, Layout::Flyway);
        assert_eq!(project.history_table.to_string(), "ops.history");
        let project = Project::resolve(
            Overrides {
                layout: Some(Layout::Dbmate),
                schema: Some("x".into()),
                ..Overrides::default()
            },
            &sub,
        )
        .unwrap();
        assert_eq!(project.layout, Layout::Dbmate);
        assert_eq!(project.schema, PathBuf::from("x"));
    }
}
