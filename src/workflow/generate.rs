//! `stratum generate`: the next migration, from what `migrations/` builds to
//! what `schema/` says.
use anyhow::{Context, Result};
use serde::Serialize;

use super::{load_keeping, migrations, Report, ATTENTION, OK};
use crate::config::Project;
use crate::diff;
use crate::diff::Change;
use crate::execute::{file, Script};
use crate::hazard::{Hazard, HazardCode};
use crate::kinds::Catalog;
use crate::load::{Built, Side};
use crate::migrations::{next_version, slug, write, Migration, NewMigration};
use crate::plan::{self, Plan};
use crate::render;
use crate::sql::QualName;
use crate::ui::{paint, style};
use crate::zero_downtime::{self, Phase, When};

use super::migration_file::script;

/// Options of `generate`.
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// The migration's name; derived from the changes when absent.
    pub name: Option<String>,
    /// Write a skeleton for a hand-written migration instead of a diff.
    pub empty: bool,
    /// Hazards approved here, on top of `allow_hazards` in stratum.yaml:
    /// a migration that destroys data is written only when `data-loss` is
    /// approved, and the approval is recorded in its header.
    pub allow: crate::hazard::Approvals,
    /// When breaking column changes are written as expand / backfill /
    /// contract migrations.
    pub zero_downtime: zero_downtime::When,
    /// The live database whose table sizes `When::Above` compares with
    /// (else the project's database URL).
    pub db: Option<String>,
    /// Prove on rows sampled from this database (as `rehearse` samples
    /// them) instead of generated ones.
    pub prove_with_sample: Option<String>,
    /// Say what the next migration would do (`--summary`), writing nothing.
    pub summary: bool,
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
             -- It runs in one transaction; a `{marker}` line starts another\n\
             -- batch, committed apart. Statements that destroy data (DROP TABLE,\n\
             -- DROP COLUMN, TRUNCATE, DELETE without WHERE) run only once approved:\n\
             -- a `{approval} data-loss` line here, or --allow-hazards on migrate.\n\
             -- `stratum check` still compares the schema that migrations/ builds\n\
             -- with schema/.\n\n",
            marker = file::MARKER,
            approval = file::APPROVAL
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
    let mut renames = renames;
    if options.summary {
        changes.extend(renames.changes.iter().cloned().map(Change::from));
        let mut report = summary(project, &built, &desired, changes)?;
        report.stderr.push_str(&warnings);
        return Ok(report);
    }
    let notes = backfill_notes(project, reached.as_ref().unwrap_or(&desired))?;
    let mut warnings = warnings;
    if options.zero_downtime == When::Never {
        for n in &notes {
            warnings.push_str(&format!(
                "warning: {}: -- {} is used by `generate --zero-downtime` only\n",
                n.at,
                zero_downtime::NOTE
            ));
        }
    }
    if options.zero_downtime != When::Never {
        let target = reached.as_ref().unwrap_or(&desired);
        let sizes = match options.zero_downtime {
            When::Above { .. } => {
                let url = project.database_url(options.db.as_deref()).context(
                    "zero_downtime in stratum.yaml applies to tables above a size, read from \
                     the live database",
                )?;
                Some(zero_downtime::Sizes::read(&url).await?)
            }
            _ => None,
        };
        let eligible = |t: &QualName| match (&options.zero_downtime, &sizes) {
            (When::Above { rows, bytes }, Some(sizes)) => sizes.above(t, *rows, *bytes),
            _ => true,
        };
        if let Some(sizes) = &sizes {
            warnings.push_str(&one_step(
                &built, &desired, target, &changes, &renames, &notes, sizes, options, &eligible,
            ));
        }
        let patterns = zero_downtime::patterns(
            &built,
            &desired,
            target,
            &mut changes,
            &mut renames,
            &notes,
            &eligible,
        )?;
        if !patterns.is_empty() {
            let sides = Sides {
                built,
                desired,
                reached,
            };
            let mut report = in_phases(
                project, options, existing, version, sides, changes, renames, patterns, kept,
            )
            .await?;
            report.stderr.push_str(&warnings);
            return Ok(report);
        }
    }
    let undo = renames.undoing();
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
    let Plans {
        up,
        down,
        allowed,
        document,
    } = match plans(project, options, built, &desired, changes, undo, &|_| false)? {
        Ok(plans) => plans,
        Err(refusal) => return Ok(refusal),
    };
    // Proved before it is written: the migrations replayed, rows seeded, the
    // new migration run.
    let target = reached.as_ref().unwrap_or(&desired);
    let steps: Vec<super::RunStep> = up.steps.iter().map(super::RunStep::from).collect();
    let sample = options.prove_with_sample.as_deref();
    let proved = prove(project, &existing, &steps, target, kept, sample).await?;
    let name = match &options.name {
        Some(n) => slug(n),
        None => describe(&up),
    };
    let label = format!("{version}_{name}");
    let up_text = script(&label, &up, project, false, &allowed);
    let down_text = script(&label, &down, project, true, &allowed);
    let files = write(
        &project.migrations,
        project.layout,
        &NewMigration {
            version: &version,
            name: &name,
            up: &up_text,
            down: &down_text,
            // Only when no batch is a transaction: the markers say the rest.
            no_transaction: !Script::of_plan(&up)
                .batches
                .iter()
                .any(|b| b.in_transaction),
        },
    )?;
    let mut report = written(project, version, name, files, &up, down.steps.len());
    report.document = document;
    report.stderr.push_str(&warnings);
    if let Some(p) = proved {
        let copy = format!("what {} builds", project.show(&project.migrations));
        report.stderr.push_str(&super::proved_line(&p, &copy));
    }
    Ok(report)
}

/// What to say of the breaking changes of tables under the size from
/// which `zero_downtime` writes them as patterns: they are one step.
#[allow(clippy::too_many_arguments)]
fn one_step(
    built: &Catalog,
    desired: &Catalog,
    target: &Catalog,
    changes: &[Change],
    renames: &crate::renames::Renames,
    notes: &[crate::renames::ColumnNote],
    sizes: &zero_downtime::Sizes,
    options: &GenerateOptions,
    eligible: &dyn Fn(&QualName) -> bool,
) -> String {
    // Every pattern there would be, were every table big enough.
    let all = zero_downtime::patterns(
        built,
        desired,
        target,
        &mut changes.to_vec(),
        &mut renames.clone(),
        notes,
        &|_| true,
    )
    .unwrap_or_default();
    all.iter()
        .filter(|p| !eligible(p.live_table()))
        .map(|p| {
            format!(
                "zero-downtime: {} in one step: table {} is small ({}; zero_downtime: {})\n",
                p.describe(),
                p.live_table().plain(),
                sizes.describe(p.live_table()),
                options.zero_downtime.limits()
            )
        })
        .collect()
}

/// The `-- stratum:backfill` notes on columns of the schema (`desired`
/// as loaded), when it is SQL files.
fn backfill_notes(project: &Project, desired: &Catalog) -> Result<Vec<crate::renames::ColumnNote>> {
    let crate::load::Source::Sql(path) = project.schema_source()? else {
        return Ok(Vec::new());
    };
    let source = crate::parse::read_source(&path)?;
    crate::renames::column_notes(&source, desired, zero_downtime::NOTE)
}

/// The plan from `built` to `desired` and the one back (renames undone
/// first by `undo`), without the changes back that `skip` takes for its
/// own, with the hazards approved; or the refusal of an up plan that
/// destroys data no one approved.
#[allow(clippy::type_complexity)]
fn plans(
    project: &Project,
    options: &GenerateOptions,
    built: Catalog,
    desired: &Catalog,
    changes: Vec<Change>,
    undo: Option<crate::kinds::rename::RenameChange>,
    skip: &dyn Fn(&Change) -> bool,
) -> Result<Result<Plans, Report>> {
    let up = plan::plan(&built, desired, changes)?;
    // The page or graph `--format html` / `dot` asks for, while `built`
    // is at hand.
    let from = project.show(&project.migrations);
    let document = render::document(&render::html::Page {
        title: format!(
            "stratum generate: {from} → {}",
            project.show(&project.schema)
        ),
        plan: &up,
        current: &built,
        desired,
        current_name: from,
        desired_name: project.show(&project.schema),
    })?;
    let allowed = project.allowed(&options.allow);
    if let Some(refusal) = refused(&up, &allowed) {
        return Ok(Err(refusal));
    }
    let mut before = built;
    project.filter.keep_history_schema(desired, &mut before);
    let mut down_changes: Vec<Change> = diff::diff(desired, &before)
        .into_iter()
        .filter(|c| !skip(c))
        .collect();
    down_changes.extend(undo.map(Change::from));
    let down = plan::plan(desired, &before, down_changes)?;
    // The proof reads a third catalog: the one no longer needed goes first
    // (at 10 000 tables, 70 MB).
    drop(before);
    Ok(Ok(Plans {
        up,
        down,
        allowed,
        document,
    }))
}

/// A migration's plans: up, down, the hazards approved, and the page or
/// graph of the up plan when the command line asked for one.
struct Plans {
    up: Plan,
    down: Plan,
    allowed: crate::hazard::Approvals,
    document: Option<String>,
}

/// Proves `steps` (unless the project says not to) on a copy of what
/// `existing` builds, rows seeded: they must reach `target`. `kept`, when
/// the proof may use it, is a scratch database holding that already.
async fn prove(
    project: &Project,
    existing: &[Migration],
    steps: &[super::RunStep],
    target: &Catalog,
    kept: &mut Option<Built>,
    sample: Option<&str>,
) -> Result<Option<crate::proof::Proven>> {
    if !project.proof {
        return Ok(None);
    }
    let build = Side::Migrations(existing.to_vec());
    let scratch = project.scratch();
    let major = (target.server_version / 10000) as u32;
    let copy = format!("what {} builds", project.show(&project.migrations));
    let proof = crate::proof::prove(
        &build,
        steps,
        Some(target),
        &target.reader_role,
        major,
        &project.filter,
        &scratch,
        kept.take(),
        &copy,
        sample.map(|url| crate::proof::Sample {
            url,
            sampling: &project.rehearse.sampling,
        }),
    );
    Ok(Some(proof.await?))
}

/// What a zero-downtime migration is planned from: what the migrations
/// build, the schema with its renames undone, and (when it has renames)
/// the schema itself.
struct Sides {
    built: Catalog,
    desired: Catalog,
    reached: Option<Catalog>,
}

/// `generate --zero-downtime` with breaking column changes: three
/// migrations (expand, backfill, contract), proved together on a copy.
#[allow(clippy::too_many_arguments)]
async fn in_phases(
    project: &Project,
    options: &GenerateOptions,
    existing: Vec<Migration>,
    version: String,
    sides: Sides,
    mut changes: Vec<Change>,
    renames: crate::renames::Renames,
    patterns: Vec<zero_downtime::Pattern>,
    kept: &mut Option<Built>,
) -> Result<Report> {
    let Sides {
        built,
        desired,
        reached,
    } = sides;
    let views = zero_downtime::views(&built, reached.as_ref().unwrap_or(&desired), &patterns)?;
    changes.retain(|c| !views.about(c));
    let undo = renames.undoing();
    changes.extend(renames.changes.into_iter().map(Change::from));
    // Back to what the migrations built, but for the patterns' columns
    // (their expand undoes itself) and the views they move.
    let theirs = |c: &Change| patterns.iter().any(|p| p.touches(c)) || views.about(c);
    let Plans {
        up, down, allowed, ..
    } = match plans(project, options, built, &desired, changes, undo, &theirs)? {
        Ok(plans) => plans,
        Err(refusal) => return Ok(refusal),
    };
    let phases = zero_downtime::phases(patterns, views, up, down);
    let target = reached.as_ref().unwrap_or(&desired);
    let all: Vec<super::RunStep> = [&phases.expand, &phases.backfill, &phases.contract]
        .iter()
        .flat_map(|p| p.steps.iter().map(super::RunStep::from))
        .collect();
    let sample = options.prove_with_sample.as_deref();
    let proved = prove(project, &existing, &all, target, kept, sample).await?;
    let name = match &options.name {
        Some(n) => slug(n),
        None => match phases.patterns.as_slice() {
            [one] => slug(&one.slug()),
            [first, rest @ ..] => slug(&format!("{}_and_{}_more", first.slug(), rest.len())),
            [] => "zero_downtime".to_string(),
        },
    };
    let about: Vec<String> = phases
        .patterns
        .iter()
        .map(|p| format!("--   {}\n", p.describe()))
        .collect();
    let empty = Plan::default();
    let mut files = Vec::new();
    let mut versions = Vec::new();
    let mut next = version;
    for (n, (phase, up, down)) in [
        (Phase::Expand, &phases.expand, &phases.expand_down),
        (Phase::Backfill, &phases.backfill, &empty),
        (Phase::Contract, &phases.contract, &phases.contract_down),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("{name}_{}", phase.as_str());
        let label = format!("{next}_{name}");
        let header = format!(
            "{} {} ({} of 3)\n-- A zero-downtime change:\n{}\
             -- 1 expand: the new shape beside the old, kept in step by triggers for\n\
             -- either version of the application; 2 backfill: existing rows copied in\n\
             -- batches; 3 contract: the old shape removed. `stratum migrate` runs 1 and 2\n\
             -- and stops before 3: deploy the application that uses the new shape, then\n\
             -- run `stratum migrate --contract`.\n",
            zero_downtime::PHASE,
            phase.as_str(),
            n + 1,
            about.concat()
        );
        let up_text = format!("{header}{}", script(&label, up, project, false, &allowed));
        let down_text = script(&label, down, project, true, &allowed);
        files.extend(write(
            &project.migrations,
            project.layout,
            &NewMigration {
                version: &next,
                name: &name,
                up: &up_text,
                down: &down_text,
                no_transaction: !Script::of_plan(up).batches.iter().any(|b| b.in_transaction),
            },
        )?);
        versions.push(next.clone());
        next = crate::migrations::version_after(&next);
    }
    let files: Vec<String> = files.iter().map(|p| project.show(p)).collect();
    let mut stderr: String = files
        .iter()
        .map(|f| format!("{} {f}\n", paint(style::GREEN, "wrote")))
        .collect();
    stderr.push_str(&format!(
        "Zero-downtime: {}. `stratum migrate` runs the expand and backfill phases and stops \
         before the contract ({}); run `stratum migrate --contract` once the application no \
         longer uses the old shape.\n",
        phases
            .patterns
            .iter()
            .map(|p| p.describe())
            .collect::<Vec<_>>()
            .join("; "),
        versions.last().map(String::as_str).unwrap_or_default()
    ));
    if let Some(p) = proved {
        let copy = format!("what {} builds", project.show(&project.migrations));
        stderr.push_str(&super::proved_line(&p, &copy));
    }
    let steps: Vec<plan::Step> = [phases.expand, phases.backfill, phases.contract]
        .into_iter()
        .flat_map(|p| p.steps)
        .collect();
    Ok(Report::new(
        OK,
        String::new(),
        stderr,
        Generated {
            version: versions.first().cloned(),
            name: Some(name),
            files,
            steps,
            down_steps: phases.expand_down.steps.len() + phases.contract_down.steps.len(),
        },
    ))
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
    let title = format!(
        "stratum generate: {}",
        files.first().map(String::as_str).unwrap_or("no file")
    );
    let mut report = Report::new(
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
    );
    report.markdown = Some(render::markdown(up, &title));
    report
}

/// `generate --summary`: what the next migration would do, written
/// nowhere: the summary, the SQL, and for `--format markdown` / `html` /
/// `dot` the pull request comment, the page or the graph.
fn summary(
    project: &Project,
    built: &Catalog,
    desired: &Catalog,
    changes: Vec<Change>,
) -> Result<Report> {
    let plan = plan::plan(built, desired, changes)?;
    let (from, to) = (
        project.show(&project.migrations),
        project.show(&project.schema),
    );
    let title = format!("stratum generate --summary: `{from}` → `{to}`");
    let mut stderr = render::summary(&plan, &[]);
    stderr.push_str(&format!(
        "Nothing written: `stratum generate` writes this as the next migration of {from}.\n"
    ));
    let mut report = Report::new(
        OK,
        render::sql(&plan),
        stderr,
        Generated {
            version: None,
            name: None,
            files: Vec::new(),
            steps: plan.steps.clone(),
            down_steps: 0,
        },
    );
    report.markdown = Some(render::markdown(&plan, &title));
    report.document = render::document(&render::html::Page {
        title: title.replace('`', ""),
        plan: &plan,
        current: built,
        desired,
        current_name: from,
        desired_name: to,
    })?;
    Ok(report)
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
        let name = match &step.change {
            crate::diff::Change::Enum(e) => match &**e {
                crate::kinds::enum_type::EnumChange::AddValue { value, .. } => {
                    format!("add_{value}_to_{noun}")
                }
                _ => format!("{verb}_{noun}"),
            },
            _ => format!("{verb}_{noun}"),
        };
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

/// A refusal when `plan` (the up migration) destroys data that `allowed`
/// does not approve: nothing is written.
fn refused(plan: &Plan, allowed: &crate::hazard::Approvals) -> Option<Report> {
    let refused: Vec<(&plan::Step, &Hazard)> = plan
        .steps
        .iter()
        .flat_map(|s| s.hazards.iter().map(move |h| (s, h)))
        .filter(|(s, h)| h.code == HazardCode::DataLoss && !allowed.allows(h.code, &s.object))
        .collect();
    let lines: Vec<String> = refused
        .iter()
        .map(|(s, h)| {
            format!(
                "{} {} ({}): hazard data-loss: {}\n",
                paint(style::RED, "refused"),
                s.object,
                s.kind,
                h.message
            )
        })
        .collect();
    if lines.is_empty() {
        return None;
    }
    let mut stderr = lines.concat();
    let objects: Vec<(HazardCode, String)> = refused
        .iter()
        .map(|(s, h)| (h.code, s.object.clone()))
        .collect();
    let (exact, _) = crate::hazard::flags_for(&objects);
    stderr.push_str(&format!(
        "Nothing was written. The migration would destroy data: to write it, with that \
         approval recorded in its header, pass {exact} (or --allow-hazards data-loss for all \
         of it; or list them under allow_hazards in stratum.yaml).\n"
    ));
    Some(Report::new(
        ATTENTION,
        render::sql(plan),
        stderr,
        serde_json::json!({ "refused": "data-loss", "steps": plan.steps }),
    ))
}
