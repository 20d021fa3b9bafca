//! `stratum status` over a fleet: each database's migrations counted by
//! state in one table, a bounded number of databases at a time.

use anyhow::Result;
use futures_util::{stream, StreamExt};
use serde::Serialize;

use super::super::{status, Report, ATTENTION, ERROR, OK};
use crate::config::Project;
use crate::fleet::Target;
use crate::ui::{self, count, paint, style};

/// One database's migrations by state.
#[derive(Debug, Default, Serialize)]
struct Counts {
    applied: usize,
    pending: usize,
    changed: usize,
    missing: usize,
    failed: usize,
    /// The newest applied version.
    #[serde(skip_serializing_if = "Option::is_none")]
    latest: Option<String>,
}

#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    target: &'a Target,
    /// up-to-date, pending, attention (changed, missing or failed
    /// migrations) or error.
    state: &'static str,
    #[serde(flatten)]
    counts: Counts,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Every target's status. Exit 0 when all are up to date, 1 when any has
/// a pending, changed, missing or failed migration, 2 when any could not
/// be read.
pub async fn status_fleet(project: &Project, targets: &[Target], jobs: usize) -> Result<Report> {
    let targets = &super::expand(project, targets.to_vec()).await?;
    let rows: Vec<Row> = stream::iter(targets)
        .map(|target| async move {
            let project = super::tenants::project_for(project, target);
            let (result, _) = ui::captured(status(&project, &target.url)).await;
            match result {
                Ok(report) => {
                    let counts = counts(&report.json);
                    let state = if counts.changed + counts.missing + counts.failed > 0 {
                        "attention"
                    } else if counts.pending > 0 {
                        "pending"
                    } else {
                        "up-to-date"
                    };
                    Row {
                        target,
                        state,
                        counts,
                        error: None,
                    }
                }
                Err(e) => Row {
                    target,
                    state: "error",
                    counts: Counts::default(),
                    error: Some(format!("{e:#}")),
                },
            }
        })
        .buffered(jobs.max(1))
        .collect()
        .await;
    let width = rows
        .iter()
        .map(|r| r.target.name.chars().count())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut stdout = format!(
        "{:<width$}  {:<10}  {:>7}  {:>7}  other  latest\n",
        "database", "state", "applied", "pending"
    );
    for r in &rows {
        let colour = match r.state {
            "up-to-date" => style::GREEN,
            "pending" => style::YELLOW,
            _ => style::RED,
        };
        let c = &r.counts;
        let other = match (&r.error, c.changed + c.missing + c.failed) {
            (Some(e), _) => e.lines().next().unwrap_or_default().to_string(),
            (None, 0) => "0".to_string(),
            (None, _) => format!(
                "{} changed, {} missing, {} failed",
                c.changed, c.missing, c.failed
            ),
        };
        stdout.push_str(
            format!(
                "{:<width$}  {}  {:>7}  {:>7}  {other:<5}  {}",
                r.target.name,
                paint(colour, &format!("{:<10}", r.state.replace('-', " "))),
                c.applied,
                c.pending,
                c.latest.as_deref().unwrap_or("-")
            )
            .trim_end(),
        );
        stdout.push('\n');
    }
    let n = |state: &str| rows.iter().filter(|r| r.state == state).count();
    let (ok, pending, attention, errors) =
        (n("up-to-date"), n("pending"), n("attention"), n("error"));
    let stderr = format!(
        "{}: {ok} up to date, {pending} with pending migrations, {attention} with changed, \
         missing or failed ones, {errors} could not be read.\n",
        count(rows.len(), crate::fleet::noun(targets))
    );
    let exit = if errors > 0 {
        ERROR
    } else if pending + attention > 0 {
        ATTENTION
    } else {
        OK
    };
    Ok(Report::new(
        exit,
        stdout,
        stderr,
        serde_json::json!({
            "databases": rows,
            "up_to_date": ok,
            "pending": pending,
            "attention": attention,
            "errors": errors,
        }),
    ))
}

/// Counts `status`'s JSON report by state.
fn counts(json: &serde_json::Value) -> Counts {
    let mut counts = Counts::default();
    for m in json["migrations"].as_array().into_iter().flatten() {
        match m["state"].as_str() {
            Some("applied") => {
                counts.applied += 1;
                counts.latest = m["version"].as_str().map(str::to_string);
            }
            Some("pending") => counts.pending += 1,
            Some("changed") => counts.changed += 1,
            Some("missing") => counts.missing += 1,
            _ => counts.failed += 1,
        }
    }
    counts
}
