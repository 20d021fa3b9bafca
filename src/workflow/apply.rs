//! `stratum plan` and `stratum apply`: declarative mode, straight from
//! `schema/` to a database, with hazards refused unless allowed.

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use serde::Serialize;

use super::{count, load, Report, ATTENTION, OK};
use crate::config::Project;
use crate::conninfo;
use crate::diff;
use crate::introspect::introspect;
use crate::kinds::Catalog;
use crate::load::{Side, Source};
use crate::plan::{self, HazardCode, Plan, Step};
use crate::render;
use crate::ui::{self, paint, style, Progress};
use tokio_postgres::Client;

/// Options of `apply`.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Hazards allowed on top of the configured ones.
    pub allow: BTreeSet<HazardCode>,
    /// Apply without asking.
    pub yes: bool,
}

/// The database and the plan that turns it into `schema/`.
async fn planned(project: &Project, url: &str) -> Result<(Catalog, Catalog, Plan)> {
    let mut catalogs = load(
        project,
        &[
            Side::Source(Source::Url(url.to_string())),
            Side::Source(project.schema_source()?),
        ],
    )
    .await?;
    let mut desired = catalogs.pop().expect("two sides");
    let current = catalogs.pop().expect("two sides");
    project.filter.keep_history_schema(&current, &mut desired);
    let changes = diff::diff(&current, &desired);
    crate::coverage::check(&current, &desired, &changes, project.strict)?;
    crate::coverage::roles(&current, &desired, &project.assume_roles)?;
    let plan = plan::plan(&current, &desired, changes)?;
    Ok((current, desired, plan))
}

#[derive(Serialize)]
struct PlanJson<'a> {
    steps: &'a [Step],
    unmanaged: Vec<crate::kinds::Unmanaged>,
}

/// `stratum plan`: the SQL `apply` would run.
pub async fn plan(project: &Project, url: &str) -> Result<Report> {
    let (current, desired, plan) = planned(project, url).await?;
    let unmanaged = crate::coverage::unmanaged(&current, &desired);
    Ok(Report::new(
        OK,
        render::sql(&plan),
        render::summary(&plan, &unmanaged),
        PlanJson {
            steps: &plan.steps,
            unmanaged,
        },
    ))
}

/// A step refused for a hazard that is not allowed.
#[derive(Debug, Clone, Serialize)]
struct Refused {
    object: String,
    kind: &'static str,
    hazard: HazardCode,
    message: String,
}

#[derive(Serialize)]
struct ApplyJson<'a> {
    applied: bool,
    steps: &'a [Step],
    refused: Vec<Refused>,
    transactions: usize,
    ms: i64,
}

/// `stratum apply`: runs the plan, in one transaction where PostgreSQL
/// allows it. Refuses (exit 1) steps whose hazards are not allowed, and asks
/// on a terminal unless `yes`.
pub async fn apply(project: &Project, url: &str, options: &ApplyOptions) -> Result<Report> {
    let (_, desired, plan) = planned(project, url).await?;
    let json = |applied, refused, transactions, ms| ApplyJson {
        applied,
        steps: &plan.steps,
        refused,
        transactions,
        ms,
    };
    if plan.is_empty() {
        return Ok(Report::new(
            OK,
            String::new(),
            "No changes.\n".into(),
            json(false, vec![], 0, 0),
        ));
    }
    let allowed: BTreeSet<HazardCode> = project
        .allow_hazards
        .iter()
        .chain(&options.allow)
        .copied()
        .collect();
    let refused: Vec<Refused> = plan
        .steps
        .iter()
        .flat_map(|s| {
            s.hazards
                .iter()
                .filter(|h| !allowed.contains(&h.code))
                .map(|h| Refused {
                    object: s.object.clone(),
                    kind: s.kind,
                    hazard: h.code,
                    message: h.message.clone(),
                })
        })
        .collect();
    let sql = render::sql(&plan);
    if !refused.is_empty() {
        let mut stderr = String::new();
        for r in &refused {
            stderr.push_str(&format!(
                "{} {} ({}): hazard {}: {}\n",
                paint(style::RED, "refused"),
                r.object,
                r.kind,
                r.hazard.as_str(),
                r.message
            ));
        }
        let codes: BTreeSet<&str> = refused.iter().map(|r| r.hazard.as_str()).collect();
        stderr.push_str(&format!(
            "Nothing was applied. To accept these hazards: --allow-hazards {}\n",
            codes.into_iter().collect::<Vec<_>>().join(",")
        ));
        return Ok(Report::new(
            ATTENTION,
            sql,
            stderr,
            json(false, refused, 0, 0),
        ));
    }
    if !options.yes {
        if !ui::interactive() {
            return Ok(Report::new(
                ATTENTION,
                sql,
                "Not applied: stdin is not a terminal, so there is no one to ask; \
                 review the plan above and pass --yes.\n"
                    .into(),
                json(false, vec![], 0, 0),
            ));
        }
        ui::print_err(&sql);
        ui::print_err(&render::summary(&plan, &[]));
        let target = conninfo::redact(url);
        if !ui::confirm(&format!(
            "Apply {} to {target}?",
            count(plan.steps.len(), "step")
        ))? {
            return Ok(Report::new(
                ATTENTION,
                String::new(),
                "Not applied.\n".into(),
                json(false, vec![], 0, 0),
            ));
        }
    }
    let started = Instant::now();
    let transactions = execute(url, &plan).await?;
    let ms = started.elapsed().as_millis() as i64;
    // Convergence: the database must now read back as the schema.
    let mut client = conninfo::connect_url(url).await?;
    let mut after = introspect(&mut client, true).await?;
    project.filter.apply(&mut after);
    let left = diff::diff(&after, &desired);
    if !left.is_empty() {
        bail!(
            "applied, but the database still differs from {} in {}; please report this",
            project.show(&project.schema),
            count(left.len(), "change")
        );
    }
    let how = if transactions == 1 {
        "in one transaction".to_string()
    } else {
        format!("in {}", count(transactions, "batch"))
    };
    Ok(Report::new(
        OK,
        String::new(),
        format!(
            "{} {} {how} ({ms} ms); the database matches {}.\n",
            paint(style::GREEN, "Applied"),
            count(plan.steps.len(), "step"),
            project.show(&project.schema)
        ),
        json(true, vec![], transactions, ms),
    ))
}

/// Runs the steps: consecutive transactional steps in one transaction,
/// others on their own. Returns how many batches ran.
async fn execute(url: &str, plan: &Plan) -> Result<usize> {
    let client = conninfo::connect_url(url).await?;
    execute_on(&client, plan).await
}

/// [`execute`] on an open connection; the test suites apply plans through
/// it, exactly as `apply` does.
pub async fn execute_on(client: &Client, plan: &Plan) -> Result<usize> {
    client
        .batch_execute("SET check_function_bodies = false")
        .await?;
    let mut batches: Vec<Vec<(usize, &Step)>> = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let joins = step.transactional
            && batches
                .last()
                .is_some_and(|b| b.last().is_some_and(|(_, s)| s.transactional));
        if joins {
            batches.last_mut().expect("checked").push((i, step));
        } else {
            batches.push(vec![(i, step)]);
        }
    }
    let progress = Progress::new(plan.steps.len() as u64, "applying");
    let mut committed = 0;
    for batch in &batches {
        let in_tx = batch[0].1.transactional;
        if in_tx {
            client.batch_execute("BEGIN").await?;
        }
        for (i, step) in batch {
            let Some(sql) = &step.sql else {
                progress.inc();
                continue;
            };
            if let Err(e) = client.batch_execute(sql).await {
                if in_tx {
                    client.batch_execute("ROLLBACK").await?;
                }
                let message = e
                    .as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_string());
                let state = if committed == 0 {
                    "the database is unchanged".to_string()
                } else {
                    format!(
                        "{} committed before this one stay applied",
                        count(committed, "batch")
                    )
                };
                let mut undo = if in_tx { "Rolled back; " } else { "" }.to_string();
                // The original error is reported whatever the clean-up does.
                if let Some(cleanup) = step.change.kind().undo_on_failure().filter(|_| !in_tx) {
                    undo = match client.batch_execute(&cleanup).await {
                        Ok(()) => format!("What it left behind was removed ({cleanup}); "),
                        Err(e) => format!("Removing what it left behind failed ({cleanup}: {e}); "),
                    };
                }
                return Err(anyhow!(
                    "step {} of {} ({}) failed: {message}\n{sql}\n{undo}{state}.",
                    i + 1,
                    plan.steps.len(),
                    step.object
                ));
            }
            progress.inc();
        }
        if in_tx {
            client.batch_execute("COMMIT").await?;
        }
        committed += 1;
    }
    Ok(batches.len())
}
