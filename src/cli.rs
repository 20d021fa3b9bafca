//! The command line: clap arguments, resolved with `stratum.yaml` into one
//! [`Project`] at the edge, then one workflow call and its report printed as
//! text or JSON.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use tokio::signal::unix::SignalKind;

use crate::config::{Overrides, Project};
use crate::filter::Filter;
use crate::load::{load_pair, Source};
use crate::migrations::Layout;
use crate::plan::HazardCode;
use crate::workflow::{self, Report};
use crate::{diff, plan, render, ui};

const AFTER_HELP: &str = "\
The everyday loop:
  stratum generate                 write the next migration: migrations/ -> schema/
  stratum migrate --db URL         apply pending migrations (history, lock, one transaction each)
  stratum status --db URL          applied / pending / changed / missing
  stratum check                    CI: migrations/ builds exactly schema/
  stratum check --db URL           CI: the database equals schema/ (drift)

Declarative (no migration files):
  stratum plan --db URL            the SQL that makes the database match schema/
  stratum apply --db URL           run it; hazards refused unless --allow-hazards

Adopting, repairing, comparing:
  stratum dump --db URL --out schema/     canonical DDL of an existing database
  stratum down --db URL [--to VERSION]    run down files in reverse order
  stratum resolve --db URL --applied V    mark without running (also --rolled-back V)
  stratum diff --from A --to B            any two states: URL, .sql, dir/, empty

Configuration: stratum.yaml in this directory or a parent (see README);
flags override it. --db defaults to $DATABASE_URL (database_url_env).

Exit codes: 0 ok, 1 drift / pending / changed / refused, 2 error.";

const DIFF_HELP: &str = "\
Sources (--from, --to):
  postgres://user@host/db   a live database (libpq defaults and PG* variables apply)
  schema/                   a directory of .sql files, read recursively in path order
  old.sql                   a single .sql file
  empty                     an empty database

SQL sources are loaded into a scratch PostgreSQL and read back with the same
queries as a live database. The scratch server is --dev-url, or a throwaway
cluster started from local binaries (STRATUM_PG_BIN, pg_config, PATH,
/usr/lib/postgresql/*/bin).

Examples:
  stratum diff --from empty --to schema/
  stratum diff --from postgres://app@localhost/app --to schema/ > next.sql
  stratum diff --from old.sql --to schema/ --format json

Exit codes: 0 success (with or without changes), 2 error.";

/// Declarative schema diff and migrations for PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "stratum", version, about, after_help = AFTER_HELP)]
struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: Global,
}

/// Options every command takes.
#[derive(Debug, clap::Args)]
struct Global {
    /// Configuration file [default: stratum.yaml here or in a parent].
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Desired schema directory or file [default: schema/].
    #[arg(long, global = true, value_name = "DIR")]
    schema: Option<PathBuf>,
    /// Migrations directory [default: migrations/].
    #[arg(long, global = true, value_name = "DIR")]
    migrations: Option<PathBuf>,
    /// Migration file layout [default: stratum].
    #[arg(long, global = true, value_enum)]
    layout: Option<Layout>,
    /// A server where stratum may create and drop scratch databases, instead
    /// of the embedded throwaway cluster.
    #[arg(long, global = true, value_name = "URL", env = "STRATUM_DEV_URL")]
    dev_url: Option<String>,
    /// Fail (exit 2) when either side holds an object of a kind stratum
    /// does not manage, instead of listing it [stratum.yaml: strict].
    #[arg(long, global = true)]
    strict: bool,
    /// Load SQL into a scratch server even when its PostgreSQL major
    /// version differs from the target database's [stratum.yaml:
    /// allow_major_mismatch]; the diff may then show phantom differences.
    #[arg(long, global = true)]
    allow_major_mismatch: bool,
    /// GRANT / REVOKE and default privileges: manage, or ignore (neither
    /// planned nor reported) [stratum.yaml: privileges; default: manage].
    #[arg(long, global = true, value_enum, value_name = "MODE")]
    privileges: Option<crate::config::Managed>,
    /// Owners: schema (those the schema sets), manage (also give the rest to
    /// the applying role) or ignore [stratum.yaml: owners; default: schema].
    #[arg(long, global = true, value_enum, value_name = "MODE")]
    owners: Option<crate::filter::Owners>,
    /// Plain plans: build and drop indexes of existing tables without
    /// CONCURRENTLY [stratum.yaml: online: false].
    #[arg(long, global = true)]
    no_online: bool,
    /// Do not prove plans on a copy of the database with rows before
    /// applying or writing them [stratum.yaml: proof: false].
    #[arg(long, global = true)]
    no_proof: bool,
    /// Do not check, before `apply`, `migrate` or `down` runs anything,
    /// the rows its statements can fail on (duplicates before a UNIQUE,
    /// NULLs before SET NOT NULL, orphans before a foreign key, ...)
    /// [stratum.yaml: pre_checks: false].
    #[arg(long, global = true)]
    no_pre_checks: bool,
    /// How long a step may wait for a lock before it gives up and is tried
    /// again: 500ms, 3s, 0 for no limit [stratum.yaml: timeouts.lock; 3s].
    #[arg(long, global = true, value_name = "DURATION")]
    lock_timeout: Option<String>,
    /// Tries after the first for a step that timed out waiting for a lock
    /// [stratum.yaml: timeouts.retries; 5].
    #[arg(long, global = true, value_name = "N")]
    retries: Option<u32>,
    /// Output: text (SQL for diff and plan) or JSON on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the next migration: what migrations/ builds -> schema/.
    #[command(after_help = "\
Examples:
  stratum generate                   name derived from the change (add_users_phone)
  stratum generate --name backfill --empty   a skeleton for a hand-written data migration

Writes <UTC timestamp>_<name>.sql and its reverse <...>.down.sql (in the
configured layout). Prints `No changes` and writes nothing when migrations/
already builds schema/.")]
    Generate {
        /// Name of the migration [default: from the changes].
        #[arg(long)]
        name: Option<String>,
        /// Write an empty migration to fill in by hand.
        #[arg(long)]
        empty: bool,
        /// Approve these hazards (comma-separated): a migration that
        /// destroys data is written only with data-loss approved, and the
        /// approval is recorded in its header.
        #[arg(long, value_enum, value_delimiter = ',', value_name = "CODES")]
        allow_hazards: Vec<HazardCode>,
        /// Write a column's rename, rewriting retype or NOT NULL as expand,
        /// backfill and contract migrations, so that the application version
        /// still running keeps working [stratum.yaml: zero_downtime: true,
        /// or {above_rows: N, above_size: SIZE} for big live tables only].
        #[arg(long)]
        zero_downtime: bool,
        /// The live database whose table sizes stratum.yaml's
        /// zero_downtime: {above_rows, above_size} compares with [env:
        /// DATABASE_URL].
        #[arg(long, value_name = "URL")]
        db: Option<String>,
        /// Prove the migration on rows sampled from this database (as
        /// `stratum rehearse` samples them, rehearse.mask masked) instead of
        /// generated ones.
        #[arg(long, value_name = "URL")]
        prove_with_sample: Option<String>,
    },
    /// Apply pending migrations, in order, each in its own transaction.
    #[command(after_help = "\
Examples:
  stratum migrate --db postgres://app@db/app
  DATABASE_URL=postgres://app@db/app stratum migrate --to 20261121093000

Concurrent runs wait on an advisory lock. A failed file is rolled back and
not recorded; an applied file that was edited is an error.")]
    Migrate {
        #[command(flatten)]
        db: Db,
        /// Stop after this version.
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,
        /// Approve these hazards for this run (comma-separated), on top of
        /// the approvals in each file's header.
        #[arg(long, value_enum, value_delimiter = ',', value_name = "CODES")]
        allow_hazards: Vec<HazardCode>,
        /// Print what would run, file by file, with its hazards; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Run a pending migration older than the newest applied one
        /// [stratum.yaml: out_of_order: allow].
        #[arg(long)]
        allow_out_of_order: bool,
        /// Run the contract phases of zero-downtime changes too: only once
        /// the application no longer uses the old shape.
        #[arg(long)]
        contract: bool,
        /// With --dry-run: rehearse the files on a copy with sampled rows and
        /// say the hazards they showed, as `stratum lint` does.
        #[arg(long, requires = "dry_run")]
        rehearse: bool,
    },
    /// Show applied, pending, changed and missing migrations (exit 1 unless all applied).
    Status {
        #[command(flatten)]
        db: Db,
    },
    /// Run down files in reverse order: the last migration, or all after --to.
    Down {
        #[command(flatten)]
        db: Db,
        /// Keep this version and revert everything after it (0: all).
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,
        /// Approve these hazards for this run (comma-separated), on top of
        /// the approvals in each down file's header.
        #[arg(long, value_enum, value_delimiter = ',', value_name = "CODES")]
        allow_hazards: Vec<HazardCode>,
        /// Print what would run, file by file, with its hazards; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Mark a migration applied or rolled back without running it.
    #[command(group(clap::ArgGroup::new("mark").required(true)))]
    Resolve {
        #[command(flatten)]
        db: Db,
        /// Record VERSION as applied.
        #[arg(long, value_name = "VERSION", group = "mark")]
        applied: Option<String>,
        /// Forget VERSION.
        #[arg(long, value_name = "VERSION", group = "mark")]
        rolled_back: Option<String>,
        /// Accept the edit of applied migration VERSION: record its
        /// checksum now (with --reason).
        #[arg(long, value_name = "VERSION", group = "mark", requires = "reason")]
        checksum: Option<String>,
        /// Why the edit is accepted (kept in the history table).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Detect drift: exit 1 when the database (--db) or what migrations/ builds differs from schema/.
    #[command(after_help = "\
Examples:
  stratum check                      does migrations/ build schema/? (no database needed)
  stratum check --db $DATABASE_URL   does the database equal schema/?

On drift, prints a unified diff of each differing object's DDL and the plan
that would fix it. Exit codes: 0 no drift, 1 drift, 2 error.")]
    Check {
        /// Compare this database instead of what migrations/ builds; given
        /// more than once, each of them (a fleet: one table, exit 1 if any
        /// drifted).
        #[arg(long, value_name = "URL")]
        db: Vec<String>,
        /// A file of database URLs, one per line (`#` comments), checked
        /// as a fleet with the --db ones.
        #[arg(long, value_name = "FILE")]
        db_list: Option<PathBuf>,
        /// Databases checked at once (one connection each).
        #[arg(long, default_value_t = 8, value_name = "N")]
        jobs: usize,
    },
    /// Print the SQL that would make the database match schema/.
    #[command(after_help = "\
Examples:
  stratum plan --db postgres://app@localhost/app
  stratum plan --db ... --out plan.json    save it; `stratum apply plan.json` runs it
  stratum plan --db ... --explain          why each statement is there

A saved plan carries a fingerprint of the database's schema: `apply` runs it
only while the schema is still the one it was made for.")]
    Plan {
        #[command(flatten)]
        db: Db,
        /// Also save the plan to FILE (JSON), for `stratum apply FILE`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Say under each statement why it is there: the change it makes,
        /// and for an object dropped and created again, what forced it.
        #[arg(long)]
        explain: bool,
    },
    /// Make the database match schema/ directly, in one transaction where possible.
    #[command(after_help = "\
Examples:
  stratum apply --db postgres://app@localhost/app
  stratum apply --db ... --allow-hazards data-loss,table-rewrite --yes
  stratum apply plan.json --db ...     a plan saved by `stratum plan --out`

Steps with hazards not allowed here or in stratum.yaml (allow_hazards) are
refused: nothing runs, exit 1. Asks before applying on a terminal; without a
terminal it never applies unless --yes.")]
    Apply {
        /// A plan saved by `stratum plan --out`: applied as it is, and only
        /// while the database's schema is the one it was made for.
        #[arg(value_name = "PLAN")]
        saved: Option<PathBuf>,
        #[command(flatten)]
        db: Db,
        /// Hazards to accept, comma-separated.
        #[arg(long, value_enum, value_delimiter = ',', value_name = "CODES")]
        allow_hazards: Vec<HazardCode>,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
        /// Prove the plan on rows sampled from the database (as `stratum
        /// rehearse` samples them, rehearse.mask masked) instead of
        /// generated ones.
        #[arg(long)]
        prove_with_sample: bool,
    },
    /// Run what `apply` would run on a copy with sampled rows, and measure it.
    #[command(after_help = "\
Examples:
  stratum rehearse --db postgres://app@localhost/app
  stratum rehearse --db ... --pending        the pending migration files
  stratum rehearse --db ... --format json

Runs the plan (or the pending files) on a scratch copy of the database with
real rows sampled from it (foreign keys kept, rehearse.mask masked), through
the same executor; per step: its lock and how long it held it, its time,
rewrite and WAL, and estimates for the real table. Writes nothing there.")]
    Rehearse {
        #[command(flatten)]
        db: Db,
        /// The pending migration files, as `migrate` would run them, instead
        /// of the plan to schema/.
        #[arg(long)]
        pending: bool,
        /// With --pending: the contract phase of a zero-downtime change too.
        #[arg(long, requires = "pending")]
        contract: bool,
    },
    /// Find the hazards of migration files by running them on a copy.
    #[command(after_help = "\
Examples:
  stratum lint --db postgres://app@localhost/app          the pending migrations
  stratum lint --db ... migrations/20261207_fix.sql       these files, in this order
  stratum lint --db ... --format github                   annotations at file and line

Each file is rehearsed on a sampled copy (see `stratum rehearse`) and
pre-checked on the database: rewrites, ACCESS EXCLUSIVE locks held while
rows are read, plain index builds, scans, drops of data, statements the rows
would break. Exit 1 when there is any; nothing is written to the database.")]
    Lint {
        #[command(flatten)]
        db: Db,
        /// Files to lint, in the order they would run [default: the pending
        /// migrations].
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Write the canonical DDL of a database as files that load in order.
    #[command(after_help = "\
Examples:
  stratum dump --db postgres://app@localhost/app --out schema/ --split object
  stratum dump --db ... --out -      one file on stdout")]
    Dump {
        #[command(flatten)]
        db: Db,
        /// Output directory, or - for stdout [default: the schema directory].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// One file, a file per schema, or a file per object.
        #[arg(long, value_enum, default_value = "none")]
        split: workflow::Split,
        /// Replace .sql files already in the output directory.
        #[arg(long)]
        force: bool,
    },
    /// Print the SQL that turns --from into --to.
    #[command(after_help = DIFF_HELP)]
    Diff {
        /// The current state: a postgres:// URL, a .sql file, a directory, or `empty`.
        #[arg(long, value_name = "SOURCE")]
        from: String,
        /// The desired state: a postgres:// URL, a .sql file, a directory, or `empty`.
        #[arg(long, value_name = "SOURCE")]
        to: String,
        /// Say under each statement why it is there.
        #[arg(long)]
        explain: bool,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The database a command works on.
#[derive(Debug, clap::Args)]
struct Db {
    /// Database URL [default: $DATABASE_URL, or the variable named by database_url_env].
    #[arg(long, value_name = "URL")]
    db: Option<String>,
}

/// What stdout gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: SQL (diff, plan), reports, diffs.
    #[value(alias = "sql")]
    Text,
    /// For programs.
    Json,
    /// The text, and GitHub Actions annotations (`::error file=...`) for
    /// what `check` finds.
    Github,
    /// A SARIF 2.1.0 log of what `check` finds, for code-scanning tools.
    Sarif,
    /// Markdown for a pull request comment (`rehearse`, `lint`); the text
    /// elsewhere.
    Markdown,
}

/// Resolved settings of one `diff` run.
#[derive(Debug, Clone)]
pub struct DiffSettings {
    /// Current side.
    pub from: Source,
    /// Desired side.
    pub to: Source,
    /// Where SQL sources are loaded.
    pub scratch: crate::load::Scratch,
    /// What is managed.
    pub filter: Filter,
    /// Unmanaged objects are errors.
    pub strict: bool,
    /// Roles assumed to exist on the target.
    pub assume_roles: BTreeSet<String>,
    /// Notes under each statement on why it is there.
    pub explain: bool,
}

/// Runs one diff: SQL on stdout, the summary on stderr.
pub async fn run_diff(settings: &DiffSettings) -> Result<Report> {
    let (mut current, desired) = load_pair(&settings.from, &settings.to, &settings.scratch).await?;
    let to = crate::load::Side::Source(settings.to.clone());
    let (undone, renames) =
        crate::load::undo_renames(&to, &current, &desired, &settings.scratch).await?;
    let mut desired = undone.unwrap_or(desired);
    for warning in &renames.warnings {
        ui::print_err(&format!("warning: {warning}\n"));
    }
    settings.filter.apply(&mut current);
    settings.filter.apply(&mut desired);
    let mut changes = diff::diff(&current, &desired);
    changes.extend(renames.changes.into_iter().map(crate::diff::Change::from));
    crate::coverage::check(&current, &desired, &changes, settings.strict)?;
    crate::coverage::roles(&current, &desired, &settings.assume_roles)?;
    if let Source::Url(url) = &settings.from {
        crate::workflow::measure_sizes(url, &mut current, &desired, &changes).await?;
    }
    let plan = plan::plan(&current, &desired, changes)?;
    let unmanaged = crate::coverage::unmanaged(&current, &desired);
    let json: serde_json::Value = serde_json::from_str(&render::json(&plan, &unmanaged))?;
    let mut stderr = render::summary(&plan, &unmanaged);
    if !current.live && !desired.live {
        // No database says which PostgreSQL prints the canonical text.
        let version = desired.server_version;
        stderr.push_str(&format!(
            "Both sides read with PostgreSQL {}.{}.\n",
            version / 10000,
            version % 10000
        ));
    }
    let notes = if settings.explain {
        plan::explain(&plan, &current)
    } else {
        Vec::new()
    };
    Ok(Report {
        stdout: render::sql_explained(&plan, &notes),
        stderr,
        json,
        exit: workflow::OK,
        annotations: Vec::new(),
        markdown: None,
    })
}

async fn run(command: Command, project: Project) -> Result<Report> {
    let url = |db: Db| project.database_url(db.db.as_deref());
    match command {
        Command::Generate {
            name,
            empty,
            allow_hazards,
            zero_downtime,
            db,
            prove_with_sample,
        } => {
            let options = workflow::GenerateOptions {
                name,
                empty,
                allow: allow_hazards.into_iter().collect(),
                zero_downtime: match zero_downtime {
                    true => crate::zero_downtime::When::Always,
                    false => project.zero_downtime,
                },
                db,
                prove_with_sample,
            };
            workflow::generate(&project, &options).await
        }
        Command::Migrate {
            db,
            to,
            allow_hazards,
            dry_run,
            allow_out_of_order,
            contract,
            rehearse,
        } => {
            let options = workflow::MigrateOptions {
                to,
                allow: allow_hazards.into_iter().collect(),
                dry_run,
                allow_out_of_order,
                contract,
                rehearse,
            };
            workflow::migrate(&project, &url(db)?, &options).await
        }
        Command::Status { db } => workflow::status(&project, &url(db)?).await,
        Command::Down {
            db,
            to,
            allow_hazards,
            dry_run,
        } => {
            let options = workflow::DownOptions {
                to,
                allow: allow_hazards.into_iter().collect(),
                dry_run,
            };
            workflow::down(&project, &url(db)?, &options).await
        }
        Command::Resolve {
            db,
            applied,
            rolled_back,
            checksum,
            reason,
        } => {
            let what = match (applied, rolled_back, checksum) {
                (Some(v), _, _) => workflow::Resolve::Applied(v),
                (None, Some(v), _) => workflow::Resolve::RolledBack(v),
                (None, None, Some(version)) => workflow::Resolve::Checksum {
                    version,
                    reason: reason.unwrap_or_default(),
                },
                (None, None, None) => unreachable!("clap requires one"),
            };
            workflow::resolve(&project, &url(db)?, &what).await
        }
        Command::Check {
            mut db,
            db_list,
            jobs,
        } => {
            if let Some(list) = &db_list {
                db.extend(workflow::read_list(list)?);
            }
            match db.as_slice() {
                [] if db_list.is_some() => anyhow::bail!("the database list is empty"),
                [] => workflow::check(&project, None).await,
                [one] if db_list.is_none() => workflow::check(&project, Some(one)).await,
                many => workflow::check_fleet(&project, many, jobs).await,
            }
        }
        Command::Plan { db, out, explain } => {
            workflow::plan(&project, &url(db)?, out.as_deref(), explain).await
        }
        Command::Apply {
            saved,
            db,
            allow_hazards,
            yes,
            prove_with_sample,
        } => {
            let options = workflow::ApplyOptions {
                allow: allow_hazards.into_iter().collect::<BTreeSet<_>>(),
                yes,
                saved,
                prove_with_sample,
            };
            workflow::apply(&project, &url(db)?, &options).await
        }
        Command::Lint { db, files } => {
            let options = workflow::LintOptions { files };
            workflow::lint(&project, &url(db)?, &options).await
        }
        Command::Rehearse {
            db,
            pending,
            contract,
        } => {
            let options = workflow::RehearseOptions {
                migrations: pending,
                contract,
            };
            workflow::rehearse(&project, &url(db)?, &options).await
        }
        Command::Dump {
            db,
            out,
            split,
            force,
        } => {
            let options = workflow::DumpOptions {
                out: out.unwrap_or_else(|| project.schema.clone()),
                split,
                force,
            };
            workflow::dump(&project, &url(db)?, &options).await
        }
        Command::Diff { from, to, explain } => {
            run_diff(&DiffSettings {
                explain,
                from: Source::parse(&from)?,
                to: Source::parse(&to)?,
                scratch: project.scratch(),
                filter: project.filter.clone(),
                strict: project.strict,
                assume_roles: project.assume_roles.clone(),
            })
            .await
        }
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Args::command(), "stratum", &mut out);
            Ok(Report {
                stdout: String::from_utf8_lossy(&out).into_owned(),
                stderr: String::new(),
                json: serde_json::Value::Null,
                exit: workflow::OK,
                annotations: Vec::new(),
                markdown: None,
            })
        }
    }
}

/// A Unix signal's stream; None where it cannot be listened to.
fn signal(kind: SignalKind) -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).ok()
}

/// The next delivery of `signal`; never, without one.
async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let mut command = Args::command();
    if std::env::args()
        .skip(1)
        .any(|a| a == "--version" || a == "-V")
    {
        // Probing the server binaries costs a process each: only when asked.
        command = command.version(format!(
            "{}\n{}",
            env!("CARGO_PKG_VERSION"),
            crate::scratch::binaries_report()
        ));
    }
    let args = match Args::from_arg_matches(&command.get_matches()) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    let format = args.global.format;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(workflow::ERROR);
        }
    };
    let result = runtime.block_on(async {
        let work = async {
            let cwd = std::env::current_dir()?;
            let g = args.global;
            let mut project = Project::resolve(
                Overrides {
                    config: g.config,
                    schema: g.schema,
                    migrations: g.migrations,
                    dev_url: g.dev_url,
                    allow_major_mismatch: g.allow_major_mismatch,
                    layout: g.layout,
                    strict: g.strict,
                    privileges: g.privileges,
                    owners: g.owners,
                    no_online: g.no_online,
                    no_proof: g.no_proof,
                    no_pre_checks: g.no_pre_checks,
                    lock_timeout: g.lock_timeout,
                    retries: g.retries,
                },
                &cwd,
            )?;
            project.relative_to(&cwd);
            run(args.command, project).await
        };
        tokio::pin!(work);
        // SIGINT, SIGTERM (what CI runners and Kubernetes send) and SIGHUP
        // are one event.
        let mut term = signal(SignalKind::terminate());
        let mut hangup = signal(SignalKind::hangup());
        let finished = loop {
            let signalled = tokio::select! {
                result = &mut work => break Some(result),
                _ = tokio::signal::ctrl_c() => true,
                _ = recv(&mut term) => true,
                _ = recv(&mut hangup) => true,
            };
            // Work that runs statements on the user's database cancels them
            // itself on the first signal (`interrupt`); a second quits.
            if signalled && !crate::interrupt::request() {
                break None;
            }
        };
        // On Ctrl-C, `work` is dropped by now, which stopped and removed an
        // embedded scratch cluster; what it made on a --dev-url server is
        // dropped here.
        match finished {
            Some(result) => result,
            None => {
                crate::scratch::clean_up_interrupted().await;
                Err(anyhow::anyhow!("interrupted"))
            }
        }
    });
    match result {
        Ok(report) => {
            let written = match format {
                Format::Json if !report.json.is_null() => {
                    let mut text =
                        serde_json::to_string_pretty(&report.json).expect("JSON serialises");
                    text.push('\n');
                    ui::print_out(&text)
                }
                Format::Sarif => {
                    ui::print_err(&report.stderr);
                    let log = workflow::annotate::sarif(&report.annotations);
                    let mut text = serde_json::to_string_pretty(&log).expect("JSON serialises");
                    text.push('\n');
                    ui::print_out(&text)
                }
                Format::Markdown => {
                    ui::print_err(&report.stderr);
                    ui::print_out(report.markdown.as_ref().unwrap_or(&report.stdout))
                }
                Format::Github => {
                    ui::print_err(&report.stderr);
                    let annotations = workflow::annotate::github(&report.annotations);
                    ui::print_out(&(report.stdout.clone() + &annotations))
                }
                _ => {
                    ui::print_err(&report.stderr);
                    ui::print_out(&report.stdout)
                }
            };
            if let Err(e) = written {
                eprintln!("error: writing output: {e}");
                return ExitCode::from(workflow::ERROR);
            }
            ExitCode::from(report.exit)
        }
        Err(e) => {
            if format == Format::Json {
                let text = serde_json::json!({ "error": format!("{e:#}") });
                let _ = ui::print_out(&format!("{text}\n"));
            }
            ui::print_err(&format!("{} {e:#}\n", ui::paint(ui::style::RED, "error:")));
            ExitCode::from(workflow::ERROR)
        }
    }
}
