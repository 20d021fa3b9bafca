//! `rehearse`: the plan `apply` would run, run first on a copy of the
//! database with sampled rows, each step measured and extrapolated to the
//! real tables.

use anyhow::Result;

use super::{Report, ATTENTION, OK};
use crate::config::Project;
use crate::execute::Script;

/// `stratum rehearse`: the plan from the database at `url` to `schema/`,
/// rehearsed on a copy (exit 1 when a step is flagged for holding a lock
/// that blocks writes longer than `rehearse.max_lock`).
pub async fn rehearse(project: &Project, url: &str) -> Result<Report> {
    let planned = super::apply::planned(project, url).await?;
    let script = Script::of_plan(&planned.plan);
    if script.steps.is_empty() {
        let json = serde_json::json!({ "steps": [], "tables": [] });
        return Ok(Report::new(
            OK,
            String::new(),
            "No changes: nothing to rehearse.\n".into(),
            json,
        ));
    }
    let settings = &project.rehearse;
    let rehearsal = crate::rehearse::rehearse(
        url,
        &planned.current,
        &script,
        settings,
        &project.timeouts,
        &project.scratch(),
    )
    .await?;
    let flagged = rehearsal.steps.iter().filter(|s| s.flagged).count();
    let mut stderr = format!(
        "Rehearsed {} on the copy in {:.1} s; nothing was written to the database.\n",
        super::count(script.steps.len(), "step"),
        rehearsal.ms as f64 / 1000.0
    );
    if flagged > 0 {
        stderr.push_str(&format!(
            "{} estimated to hold a lock that blocks writes longer than rehearse.max_lock.\n",
            match flagged {
                1 => "1 step is".to_string(),
                n => format!("{n} steps are"),
            }
        ));
    }
    let code = if flagged > 0 { ATTENTION } else { OK };
    Ok(Report::new(
        code,
        crate::rehearse::table(&rehearsal, settings),
        stderr,
        serde_json::to_value(&rehearsal)?,
    ))
}
