//! `stratum generate`: the next migration, from what `migrations/` builds to
//! what `schema/` says.

use anyhow::Result;
use serde::Serialize;

use super::{count, load_keeping, migrations, Report, OK};
use crate::config::Project;
use crate::diff;
use crate::diff::Change;
use crate::kinds::rename::RenameChange;
use crate::kinds::Catalog;
use crate::load::{Built, Side};
use crate::migrations::{next_version, slug, write, Migration, NewMigration};
use crate::plan::{self, Plan};
use crate::render;
use crate::ui::{paint, style};

/// Options of `generate`.
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// The migration's name; derived from the changes when absent.
    pub name: Option<String>,
    /// Write a skeleton for a hand-written migration instead of a diff.
    pub empty: bool,
}

#[derive(Serialize)]
struct Generated {
    version: Option<String>,
    name: Option<String>,
    files: Vec<String>,
    steps: Vec<plan::Step>,
    down_steps: usize,
}

/// Writes the next migration, or reports that there is nothing to write.
pub async fn generate(project: &Project, options: &GenerateOptions) -> Result<Report> {
    let existing = migrations(project)?;
    let version = next_version(&existing);
    if options.empty {
        let name = slug(options.name.as_deref().unwrap_or("data_migration"));
        let up = format!(
            "-- Migration {version}_{name}: written by hand.\n\
             -- It runs in one transaction; `stratum check` still compares the\n\
             -- schema that migrations/ builds with schema/.\n\n"
        );
        let down = format!("-- Reverts {version}_{name}.\n\n");
        let files = write(
            &project.migrations,
            project.layout,
            &NewMigration {
                version: &version,
                name: &name,
                up: &up,
                down: &down,
                no_transaction: false,
            },
        )?;
        return Ok(written(project, version, name, files, &Plan::default(), 0));
    }
    let sides = [
        Side::Migrations(existing.clone()),
        Side::Source(project.schema_source()?),
    ];
    // With a proof, the database the migrations were replayed into is kept:
    // the proof's first try runs there instead of replaying them again.
    let (catalogs, mut kept) = load_keeping(project, &sides, project.proof.then_some(0)).await?;
    let result = from_catalogs(project, options, existing, version, catalogs, &mut kept).await;
    if let Some(kept) = kept {
        kept.finish().await;
    }
    result
}

/// The rest of [`generate`], from what `migrations/` builds and what
/// `schema/` says; `kept`, when the proof may use it, is a scratch database
/// holding the former.
async fn from_catalogs(
    project: &Project,
    options: &GenerateOptions,
    existing: Vec<Migration>,
    version: String,
    mut catalogs: Vec<Catalog>,
    kept: &mut Option<Built>,
) -> Result<Report> {
    let desired = catalogs.pop().expect("two sides");
    let built = catalogs.pop().expect("two sides");
    // Planned against the schema with its renames undone; they run last.
    let (undone, renames) = super::renamed(project, &built, &desired).await?;
    // What the migration must reach, for the proof; `desired` from here on
    // is what it is planned against.
    let reached = undone.as_ref().map(|_| desired.clone());
    let desired = undone.unwrap_or(desired);
    // Never skipped silently: kinds stratum does not manage yet are named.
    let warnings = render::not_managed(
        &crate::coverage::unmanaged(&built, &desired),
        " (not in the migration)",
    );
    let mut changes = diff::diff(&built, &desired);
    crate::coverage::check(&built, &desired, &changes, project.strict)?;
    let undo = RenameChange::undoing(&renames);
    changes.extend(renames.changes.into_iter().map(Change::from));
    if changes.is_empty() {
        let mut report = Report::new(
            OK,
            String::new(),
            format!(
                "No changes: {} builds {}.\n",
                project.show(&project.migrations),
                project.show(&project.schema)
            ),
            Generated {
                version: None,
                name: None,
                files: Vec::new(),
                steps: Vec::new(),
                down_steps: 0,
            },
        );
        report.stderr.push_str(&warnings);
        return Ok(report);
    }
    let up = plan::plan(&built, &desired, changes)?;
    let mut before = built;
    project.filter.keep_history_schema(&desired, &mut before);
    // Down: the renames undone first, then back to what the migrations built.
    let mut down_changes = diff::diff(&desired, &before);
    down_changes.extend(undo.map(Change::from));
    let down = plan::plan(&desired, &before, down_changes)?;
    // The proof reads a third catalog: the one no longer needed goes first
    // (at 10 000 tables, 70 MB).
    drop(before);
    // Proved before it is written: the migrations replayed, rows seeded, the
    // new migration run.
    let proved = if project.proof {
        let target = reached.as_ref().unwrap_or(&desired);
        let build = Side::Migrations(existing.clone());
        let scratch = project.scratch();
        let steps: Vec<super::RunStep> = up.steps.iter().map(super::RunStep::from).collect();
        let major = (target.server_version / 10000) as u32;
        let filter = &project.filter;
        let proof = crate::proof::prove(
            &build,
            &steps,
            Some(target),
            major,
            filter,
            &scratch,
            kept.take(),
        );
        Some(proof.await?)
    } else {
        None
    };
    let name = match &options.name {
        Some(n) => slug(n),
        None => describe(&up),
    };
    let label = format!("{version}_{name}");
    let up_text = script(&label, &up, project, false);
    let down_text = script(&label, &down, project, true);
    let files = write(
        &project.migrations,
        project.layout,
        &NewMigration {
            version: &version,
            name: &name,
            up: &up_text,
            down: &down_text,
            no_transaction: up.steps.iter().any(|s| !s.transactional),
        },
    )?;
    let mut report = written(project, version, name, files, &up, down.steps.len());
    report.stderr.push_str(&warnings);
    if let Some(p) = proved {
        report.stderr.push_str(&super::proved_line(&p));
    }
    Ok(report)
}

fn written(
    project: &Project,
    version: String,
    name: String,
    files: Vec<std::path::PathBuf>,
    up: &Plan,
    down_steps: usize,
) -> Report {
    let files: Vec<String> = files.iter().map(|p| project.show(p)).collect();
    let mut stderr = String::new();
    for f in &files {
        stderr.push_str(&format!("{} {f}\n", paint(style::GREEN, "wrote")));
    }
    if !up.is_empty() {
        stderr.push_str(&render::summary(up, &[]));
    }
    Report::new(
        OK,
        String::new(),
        stderr,
        Generated {
            version: Some(version),
            name: Some(name),
            files,
            steps: up.steps.clone(),
            down_steps,
        },
    )
}

/// A default name from the changes: `add_users_phone`,
/// `create_orders_and_2_more`.
pub fn describe(plan: &Plan) -> String {
    let mut names: Vec<String> = Vec::new();
    for step in &plan.steps {
        if matches!(step.change, crate::diff::Change::Comment(_)) {
            continue;
        }
        let verb = match step.kind.split('_').next().unwrap_or("change") {
            "set" => "alter",
            "validate" => "alter",
            v => v,
        };
        let rest = step.object.split_once(' ').map_or("", |(_, r)| r);
        let rest = rest.split('(').next().unwrap_or(rest);
        let rest = rest.split(" on ").next().unwrap_or(rest);
        let parts: Vec<&str> = rest.split('.').collect();
        let noun = if parts.len() > 1 {
            parts[1..].join("_")
        } else {
            parts.join("_")
        };
        let name = format!("{verb}_{noun}");
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let text = match names.len() {
        0 => "migration".to_string(),
        1 => names[0].clone(),
        2 => format!("{}_and_{}", names[0], names[1]),
        n => format!("{}_and_{}_more", names[0], n - 1),
    };
    slug(&text)
}

/// A migration file: a header saying what it changes and its hazards, then
/// the statements.
fn script(label: &str, plan: &Plan, project: &Project, reverse: bool) -> String {
    let mut out = if reverse {
        format!("-- Reverts migration {label}. Generated by stratum.\n")
    } else {
        format!(
            "-- Migration {label}, generated by stratum from {}.\n",
            project.show(&project.schema)
        )
    };
    out.push_str("--\n-- What it changes:\n");
    for line in render::summary(plan, &[]).lines() {
        out.push_str(&format!("--   {line}\n"));
    }
    let hazards: Vec<String> = plan
        .steps
        .iter()
        .flat_map(|s| &s.hazards)
        .map(|h| format!("--   {}: {}\n", h.code.as_str(), h.message))
        .collect();
    out.push_str("--\n-- Hazards:\n");
    if hazards.is_empty() {
        out.push_str("--   none\n");
    } else {
        out.extend(hazards);
    }
    let outside: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| !s.transactional)
        .map(|s| s.kind)
        .collect();
    if !outside.is_empty() {
        out.push_str(&format!(
            "--\n-- Runs outside a transaction, one statement at a time ({}): \
             a new enum value cannot be used in the transaction that adds it.\n",
            count(outside.len(), "such statement")
        ));
    }
    let body = render::sql(plan);
    // Drop render's own one-line header: the one above says more.
    let body = body.split_once('\n').map_or("", |(_, rest)| rest);
    if !body.starts_with('\n') {
        out.push('\n');
    }
    out.push_str(body);
    out
}
