//! `rehearse`: what `apply` (the plan) or `migrate` (the pending files)
//! would run, run first on a copy of the database with sampled rows, each
//! step measured and extrapolated to the real tables.

use anyhow::Result;

use super::{Report, ATTENTION, OK};
use crate::config::Project;
use crate::execute::Script;
use crate::rehearse::{Part, PLAN};

/// Options of `rehearse`.
#[derive(Debug, Clone, Default)]
pub struct RehearseOptions {
    /// The pending migration files, as `migrate` would run them, instead
    /// of the plan to `schema/`.
    pub migrations: bool,
    /// With `migrations`: the contract phase of a zero-downtime change too.
    pub contract: bool,
}

/// `stratum rehearse`: the plan from the database at `url` to `schema/`, or
/// its pending migrations, rehearsed on a copy (exit 1 when a step is
/// flagged for holding a lock that blocks writes longer than
/// `rehearse.max_lock`).
pub async fn rehearse(project: &Project, url: &str, options: &RehearseOptions) -> Result<Report> {
    let (current, parts) = if options.migrations {
        let parts = super::migrate::pending_scripts(project, url, options.contract)
            .await?
            .into_iter()
            .map(|(name, script)| Part { name, script })
            .collect();
        (super::apply::read_current(project, url).await?, parts)
    } else {
        // The database as planned from is the copy's schema.
        let planned = super::apply::planned(project, url).await?;
        let part = Part {
            name: PLAN.to_string(),
            script: Script::of_plan(&planned.plan),
        };
        (planned.current, vec![part])
    };
    let steps: usize = parts.iter().map(|p| p.script.steps.len()).sum();
    if steps == 0 {
        let json = serde_json::json!({ "steps": [], "tables": [] });
        let what = match options.migrations {
            true => "No pending migrations: nothing to rehearse.",
            false => "No changes: nothing to rehearse.",
        };
        return Ok(Report::new(OK, String::new(), format!("{what}\n"), json));
    }
    let settings = &project.rehearse;
    let rehearsal = crate::rehearse::rehearse(
        url,
        &current,
        &parts,
        settings,
        &project.timeouts,
        &project.scratch(),
    )
    .await?;
    let flagged = rehearsal.steps.iter().filter(|s| s.flagged).count();
    let what = match options.migrations {
        true => super::count(parts.len(), "pending migration"),
        false => super::count(steps, "step"),
    };
    let mut stderr = format!(
        "Rehearsed {what} on the copy in {:.1} s; nothing was written to the database.\n",
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
    let rates = crate::rehearse::rates::measured(&rehearsal);
    if crate::rehearse::rates::save(url, &rates).is_some() {
        stderr.push_str(&crate::rehearse::rates::said(&rates).unwrap_or_default());
    }
    let code = if flagged > 0 { ATTENTION } else { OK };
    let mut report = Report::new(
        code,
        crate::rehearse::table(&rehearsal, settings),
        stderr,
        serde_json::to_value(&rehearsal)?,
    );
    report.markdown = Some(crate::rehearse::markdown(&rehearsal, settings));
    Ok(report)
}
