//! `stratum plan` over a fleet: every database planned (read-only, a
//! bounded number at a time), then grouped by identical statements, so a
//! reviewer reads each distinct plan once ("183 databases: plan A;
//! 2 databases: plan B").

use anyhow::{bail, Result};
use futures_util::{stream, StreamExt};
use serde::Serialize;

use super::super::{plan, Report, ERROR, OK};
use crate::config::Project;
use crate::fleet::Target;
use crate::ui::{self, count, paint, style};

/// One distinct plan and the databases it is for.
#[derive(Debug, Serialize)]
struct Group {
    /// `A`, `B`, ... by size, largest first.
    label: String,
    /// Its databases, by name.
    databases: Vec<String>,
    /// Its statements.
    statements: Vec<String>,
    /// The first database's plan as `plan` prints it (its hazards carry
    /// that database's sizes).
    sql: String,
    /// The first database's plan as JSON.
    plan: serde_json::Value,
}

#[derive(Debug, Serialize)]
struct Failed {
    database: String,
    error: String,
}

/// Plans every target, groups them by their statements. Exit 0, or 2 when
/// a database could not be planned.
pub async fn plan_fleet(
    project: &Project,
    targets: &[Target],
    jobs: usize,
    out: Option<&std::path::Path>,
) -> Result<Report> {
    if out.is_some() {
        bail!(
            "--out saves the plan of one database (its schema's fingerprint); over a fleet, \
             plan each group's database with --db"
        );
    }
    let mut targets = super::expand(project, targets.to_vec()).await?;
    super::tenants::fill_desired(project, &mut targets, jobs).await?;
    let targets = &targets;
    super::warm(project, targets).await;
    let planned: Vec<Result<Report>> = stream::iter(targets)
        .map(|t| async move {
            let project = super::tenants::project_for(project, t);
            ui::captured(plan(&project, &t.url, None, false)).await.0
        })
        .buffered(jobs.max(1))
        .collect()
        .await;
    let mut groups: Vec<Group> = Vec::new();
    let mut failed = Vec::new();
    for (target, result) in targets.iter().zip(planned) {
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                failed.push(Failed {
                    database: target.name.clone(),
                    error: format!("{e:#}"),
                });
                continue;
            }
        };
        let statements: Vec<String> = report.json["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["sql"].as_str())
            .map(|sql| as_written(project, target, sql))
            .collect();
        match groups.iter_mut().find(|g| g.statements == statements) {
            Some(group) => group.databases.push(target.name.clone()),
            None => groups.push(Group {
                label: String::new(),
                databases: vec![target.name.clone()],
                statements,
                sql: report.stdout,
                plan: report.json,
            }),
        }
    }
    // Largest first; the order of first appearance breaks ties.
    groups.sort_by_key(|g| std::cmp::Reverse(g.databases.len()));
    let mut letters = b'A'..=b'Z';
    let mut stdout = String::new();
    let mut summary = Vec::new();
    for (i, group) in groups.iter_mut().enumerate() {
        if group.statements.is_empty() {
            group.label = "no changes".into();
        } else {
            group.label = match letters.next() {
                Some(letter) => format!("plan {}", letter as char),
                None => format!("plan {}", i + 1),
            };
        }
        let n = count(group.databases.len(), crate::fleet::noun(targets));
        summary.push(format!("{n}: {}", group.label));
        stdout.push_str(&paint(
            style::BOLD,
            &format!("-- {}: {n} ({})\n", group.label, names(&group.databases)),
        ));
        if group.statements.is_empty() {
            stdout.push('\n');
            continue;
        }
        stdout.push_str(&format!(
            "-- (as planned for {}: its names, its hazards' sizes)\n{}\n",
            group.databases[0], group.sql
        ));
    }
    let mut stderr = String::new();
    for f in &failed {
        stderr.push_str(&format!(
            "{} {}: {}\n",
            paint(style::RED, "error:"),
            f.database,
            f.error
        ));
    }
    if !failed.is_empty() {
        summary.push(format!(
            "{}: could not be planned",
            count(failed.len(), crate::fleet::noun(targets))
        ));
    }
    let distinct = groups.iter().filter(|g| !g.statements.is_empty()).count();
    stderr.push_str(&format!(
        "{}; {} to review.\n",
        summary.join("; "),
        count(distinct, "distinct plan")
    ));
    if distinct > 1 {
        stderr.push_str(
            "Databases with another plan than the largest group's have another schema now \
             (drifted, or at another migration).\n",
        );
    }
    let exit = if failed.is_empty() { OK } else { ERROR };
    Ok(Report::new(
        exit,
        stdout,
        stderr,
        serde_json::json!({ "plans": groups, "errors": failed }),
    ))
}

/// A statement as `schema/` would write it: a tenant schema's made the
/// placeholder's, so that tenants with the same plan group together.
fn as_written(project: &Project, target: &Target, sql: &str) -> String {
    match (&project.tenants, &target.part) {
        (Some(tenants), Some(crate::tenants::Part::Tenant(schema))) => {
            crate::tenants::rewrite(sql, schema, &tenants.placeholder)
        }
        _ => sql.to_string(),
    }
}

/// Up to five names, then how many more.
fn names(all: &[String]) -> String {
    let shown: Vec<&str> = all.iter().take(5).map(String::as_str).collect();
    match all.len().saturating_sub(5) {
        0 => shown.join(", "),
        more => format!("{}, and {more} more", shown.join(", ")),
    }
}
