//! `stratum diff`: any two states, SQL on stdout.

use std::collections::BTreeSet;

use anyhow::Result;

use crate::filter::Filter;
use crate::load::{load_pair, Source};
use crate::workflow::{self, Report};
use crate::{diff, plan, render, ui};

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

/// A `--from` / `--to` argument: as [`Source::parse`] reads it, but the
/// project's migrations directory (or `migrations:DIR`) is its migrations
/// replayed in order, up files only.
pub fn source(arg: &str, project: &crate::config::Project) -> Result<Source> {
    if let Some(dir) = arg.strip_prefix("migrations:") {
        let dir = std::path::PathBuf::from(dir);
        if !dir.is_dir() {
            anyhow::bail!("{arg}: no such directory");
        }
        return Ok(Source::Migrations(dir, project.layout));
    }
    let path = std::path::Path::new(arg);
    let same = |a: &std::path::Path, b: &std::path::Path| match (a.canonicalize(), b.canonicalize())
    {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if path.is_dir() && same(path, &project.migrations) {
        return Ok(Source::Migrations(path.to_path_buf(), project.layout));
    }
    Source::parse(arg)
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
    let title = format!("stratum diff: `{}` → `{}`", settings.from, settings.to);
    let document = render::document(&render::html::Page {
        title: title.replace('`', ""),
        plan: &plan,
        current: &current,
        desired: &desired,
        current_name: settings.from.to_string(),
        desired_name: settings.to.to_string(),
    })?;
    Ok(Report {
        stdout: render::sql_explained(&plan, &notes),
        stderr,
        json,
        exit: workflow::OK,
        annotations: Vec::new(),
        markdown: Some(render::markdown(&plan, &title)),
        document,
    })
}
