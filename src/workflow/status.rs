//! `stratum status`: every migration's state against a database, with a
//! zero-downtime change's phase and a backfill's progress.

use anyhow::Result;

use super::migrate::{entries, failed_note, State};
use super::{count, migrations, Report, ATTENTION, OK};
use crate::config::Project;
use crate::conninfo;
use crate::history::History;
use crate::ui::{paint, style};
use crate::zero_downtime::Phase;

/// `stratum status`: every migration's state; exit 1 when anything is
/// pending, changed or missing.
pub async fn status(project: &Project, url: &str) -> Result<Report> {
    let files = migrations(project)?;
    let client = conninfo::connect_url(url).await?;
    let history = History::new(project.history_table.clone());
    let applied = history.applied(&client).await?;
    let entries = entries(&files, &applied);
    // A backfill's progress row reads as stopped until its run ends.
    let running = history.running(&client).await;
    let mut stdout = String::new();
    for e in &entries {
        let backfilling = e.failed.as_ref().and_then(|f| f.progress.as_ref());
        if let (Some(holder), Some(at)) = (&running, backfilling) {
            stdout.push_str(&format!(
                "{}  {}_{}  in the backfill at statement {}: {} rows in {} batches so far \
                 (the migration lock is {holder})\n",
                paint(style::YELLOW, "running"),
                e.version,
                e.name,
                e.failed.as_ref().map_or(0, |f| f.statement),
                at.rows,
                at.batches
            ));
            continue;
        }
        let (word, colour) = match e.state {
            State::Applied => ("applied", style::GREEN),
            State::Pending => ("pending", style::YELLOW),
            State::Changed => ("changed", style::RED),
            State::Missing => ("missing", style::RED),
            State::Failed => ("failed", style::RED),
        };
        let note = match e.state {
            State::Applied => e.applied_at.clone().unwrap_or_default(),
            State::Pending => files
                .iter()
                .find(|m| m.version == e.version)
                .and_then(|m| Phase::of(&m.up.text))
                .map_or(String::new(), |phase| match phase {
                    Phase::Contract => "contract phase: run `stratum migrate --contract` once \
                                        the application no longer uses the old shape"
                        .to_string(),
                    phase => format!("{} phase", phase.as_str()),
                }),
            State::Changed => "the file changed after it was applied".to_string(),
            State::Missing => "applied, but no file has this version".to_string(),
            State::Failed => failed_note(e),
        };
        stdout.push_str(
            format!(
                "{}  {}_{}  {note}",
                paint(colour, &format!("{word:<7}")),
                e.version,
                e.name
            )
            .trim_end(),
        );
        stdout.push('\n');
    }
    let attention = entries.iter().filter(|e| e.state != State::Applied).count();
    let stderr = if entries.is_empty() {
        "No migrations.\n".to_string()
    } else if attention == 0 {
        format!("Up to date: {}.\n", count(entries.len(), "migration"))
    } else {
        let n = |s: State| entries.iter().filter(|e| e.state == s).count();
        let failed = match n(State::Failed) {
            0 => String::new(),
            n => format!(", {n} failed"),
        };
        format!(
            "{} applied, {} pending, {} changed, {} missing{failed}.\n",
            n(State::Applied),
            n(State::Pending),
            n(State::Changed),
            n(State::Missing)
        )
    };
    Ok(Report::new(
        if attention == 0 { OK } else { ATTENTION },
        stdout,
        stderr,
        serde_json::json!({ "migrations": entries }),
    ))
}
