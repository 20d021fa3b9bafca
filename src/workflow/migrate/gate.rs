//! What `migrate` and `down` say of the files they are about to run: the
//! gate (hazards not approved, pre-checks that found rows in the way) and
//! the dry run.

use super::super::pre_checks::Checked;
use super::super::{count, Report, ATTENTION, OK};
use super::ToRun;
use crate::config::Project;
use crate::execute::file;
use crate::hazard::HazardCode;
use crate::ui::{paint, style};

/// What the files to run say before anything runs: each file's hazards,
/// and a refusal (exit 1) when some are not approved.
pub(super) fn gate(
    project: &Project,
    files: &[ToRun],
    allow: &crate::hazard::Approvals,
    verb: &str,
    checked: &Checked,
) -> Option<Report> {
    let mut refused: Vec<(HazardCode, String)> = Vec::new();
    let mut stderr = String::new();
    let mut unsaid = String::new();
    for (i, f) in files.iter().enumerate() {
        if f.refused(allow).next().is_none() {
            unsaid.push_str(&checked.lines_of(i));
            continue;
        }
        refused.extend(f.refused(allow).map(|(_, h)| (h.code, subject(&h.message))));
        stderr.push_str(&format!(
            "{} {}:\n{}{}",
            paint(style::RED, "refused"),
            f.migration.label(),
            f.hazard_lines(project, allow),
            checked.lines_of(i)
        ));
    }
    if refused.is_empty() {
        if !checked.refuses() {
            return None;
        }
        let stderr = checked.lines() + &crate::precheck::refusal(&checked.findings, verb);
        let json = serde_json::json!({ "refused": "pre-checks", "pre_checks": checked.findings });
        return Some(Report::new(ATTENTION, String::new(), stderr, json));
    }
    let (exact, all) = crate::hazard::flags_for(&refused);
    let codes = all.trim_start_matches("--allow-hazards ");
    stderr.push_str(&format!(
        "Nothing was {verb}. These statements destroy data and no one approved them: approve \
         them for this run with {exact} (or every such hazard: {all}), or in the file with a \
         `{} {codes}` line.\n",
        file::APPROVAL
    ));
    if checked.refuses() {
        stderr.push_str(&unsaid);
        stderr.push_str(
            "The pre-checks above also found rows a statement would fail on: approving the \
             hazards is not enough until those rows are fixed.\n",
        );
    }
    Some(Report::new(
        ATTENTION,
        String::new(),
        stderr,
        serde_json::json!({ "refused": codes }),
    ))
}

/// `--dry-run`: each file, its hazards and its batches, as they would run.
pub(super) fn dry_run(
    project: &Project,
    files: &[ToRun],
    allow: &crate::hazard::Approvals,
    verb: &str,
    checked: &Checked,
) -> Report {
    let mut stdout = String::new();
    for (i, f) in files.iter().enumerate() {
        let batches = f.script.batches.len();
        stdout.push_str(&format!(
            "-- {} ({}): {}, {}\n",
            f.migration.label(),
            project.show(&f.file.path),
            count(f.script.steps.len(), "statement"),
            if f.script.in_one_transaction() {
                "in one transaction".to_string()
            } else {
                format!("in {batches} batches")
            }
        ));
        let said = f.hazard_lines(project, allow) + &checked.lines_of(i);
        for line in crate::ui::plain(&said).lines() {
            stdout.push_str(&format!("--{line}\n"));
        }
        for (b, batch) in f.script.batches.iter().enumerate() {
            if batches > 1 {
                let fill = f.script.steps[batch.steps.start].backfill.as_ref();
                let how = match fill {
                    _ if batch.in_transaction => "in a transaction".to_string(),
                    Some(fill) => format!(
                        "a backfill, in transactions of {} rows each in the order of the \
                         table's key{}",
                        fill.batch_size
                            .unwrap_or(project.timeouts.backfill.batch_size),
                        match &fill.resume {
                            Some(at) => format!(", resumed after key {}", at.after.join(", ")),
                            None => String::new(),
                        }
                    ),
                    None => "outside a transaction".to_string(),
                };
                stdout.push_str(&format!("-- batch {} of {batches}: {how}\n", b + 1));
            }
            for step in &f.script.steps[batch.steps.clone()] {
                let sql = step.sql.as_deref().unwrap_or_default().trim();
                stdout.push_str(sql);
                stdout.push_str(if sql.ends_with(';') { "\n" } else { ";\n" });
            }
        }
        stdout.push('\n');
    }
    let mut stderr = match files.len() {
        0 => format!("Dry run: nothing would be {verb}.\n"),
        n => format!(
            "Dry run: {} would be {verb}; nothing was changed.\n",
            count(n, "migration")
        ),
    };
    if checked.refuses() {
        stderr.push_str(
            "The run would be refused: a pre-check found rows its statement would fail on \
             (see the pre-check lines above).\n",
        );
    }
    let json: Vec<_> = files
        .iter()
        .map(|f| {
            serde_json::json!({
                "version": f.migration.version,
                "name": f.migration.name,
                "statements": f.script.steps,
                "batches": f.script.batches.len(),
                "refused": f.refused(allow).map(|(_, h)| h).collect::<Vec<_>>(),
            })
        })
        .collect();
    Report::new(
        OK,
        stdout,
        stderr,
        serde_json::json!({ "dry_run": json, "pre_checks": checked.findings }),
    )
}

/// The object a statement's hazard names (`drops column public.t.c`:
/// `column public.t.c`), for the flag that approves it alone.
fn subject(message: &str) -> String {
    let words: Vec<&str> = message.split_whitespace().collect();
    match words.as_slice() {
        // drops table x, drops column x, truncates x, deletes every row of x
        [_, kind @ ("table" | "column" | "schema"), name, ..] => {
            format!("{kind} {}", name.trim_end_matches(','))
        }
        [.., last] => format!("table {}", last.trim_end_matches(',')),
        [] => String::new(),
    }
}
