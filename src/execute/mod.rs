//! The one executor. Whatever runs on a user's database (a plan made now,
//! a saved plan, a migration file generated or written by hand, a down
//! file, the proof's copy) is first made a [`Script`]: ordered steps in
//! transaction batches, each step with its hazards. [`run`] executes a
//! script, and nothing else runs statements on a user's database: each
//! batch's timeouts, a batch that timed out waiting for a lock rolled back
//! and tried again with backoff, a cancel request to the server on a signal
//! ([`crate::interrupt`]), clean-up of what a failed or cancelled concurrent
//! build left behind, progress, the history record in the last batch's
//! transaction, and a report of exactly what stays applied.
//!
//! Commands build the script and present the result; this module knows
//! nothing of plans' origins, prompts or history files.

pub mod backfill;
pub mod file;
mod measure;
pub mod statement;
mod timeouts;
mod watch;

use std::collections::BTreeSet;
use std::ops::Range;
use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::hazard::{Hazard, HazardCode};
use crate::kinds::Cleanup;
use crate::parse::SqlSource;
use crate::plan::Step;
use crate::ui::{self, Progress};
use measure::measure;
pub use measure::{wal_position, Measure, Measured};
pub use timeouts::Timeouts;

/// One step as the executor runs it, and as a saved plan holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStep {
    /// What kind of change, e.g. `add_column`; `statement` in a file.
    pub kind: String,
    /// The object it acts on; in a file, where the statement is.
    pub object: String,
    /// Its hazards.
    pub hazards: Vec<Hazard>,
    /// The statement; None when another step does the work.
    pub sql: Option<String>,
    /// Whether it may run in a transaction with its neighbours.
    pub transactional: bool,
    /// What removes its leftovers when it fails outside a transaction.
    pub undo_on_failure: Option<Cleanup>,
    /// The table it works on (`schema.name`), for the proof's checks.
    #[serde(default)]
    pub table: Option<String>,
    /// Set when its statement is an `UPDATE` run in keyset batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<backfill::Backfill>,
}

impl From<&Step> for RunStep {
    fn from(step: &Step) -> RunStep {
        RunStep {
            kind: step.kind.to_string(),
            object: step.object.clone(),
            hazards: step.hazards.clone(),
            sql: step.sql.clone(),
            transactional: step.transactional,
            undo_on_failure: step.change.action().undo_on_failure(),
            table: step.change.action().table().map(|t| t.plain()),
            backfill: None,
        }
    }
}

/// Consecutive steps that run together: in one transaction, or (a step
/// PostgreSQL refuses in a transaction, or one that must not hold the lock
/// of the statement before it) alone, outside one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Its steps, by index.
    pub steps: Range<usize>,
    /// Whether BEGIN and COMMIT surround it.
    pub in_transaction: bool,
}

/// What runs on a database: steps in batches.
#[derive(Debug, Clone)]
pub struct Script {
    /// The steps, in order.
    pub steps: Vec<RunStep>,
    /// The batches, in order, covering every step once.
    pub batches: Vec<Batch>,
    /// The file the steps are the statements of, one step per statement:
    /// errors are located in it.
    pub source: Option<SqlSource>,
    /// What starts the run's session.
    pub setup: &'static str,
    /// True when the steps set `lock_timeout` or `statement_timeout`
    /// themselves: the run's own are set once, before the first batch.
    pub own_timeouts: bool,
    /// For a file's steps, the hazards its approval lines approve, by step
    /// (none for a plan: `apply` approves with `--allow-hazards`).
    pub approved: Vec<BTreeSet<HazardCode>>,
    /// Set by a rehearsal: each step's time and the WAL position after it
    /// are recorded here as it runs.
    pub measured: Option<Measured>,
}

/// What starts a plan's session: routine bodies may name objects later
/// steps create, as pg_dump's restores allow.
const PLAN_SETUP: &str = "SET check_function_bodies = false";

impl Script {
    /// A plan's steps: consecutive transactional steps in one transaction,
    /// each other step alone.
    pub fn of_steps(steps: Vec<RunStep>) -> Script {
        let starts = vec![false; steps.len()];
        let batches = batches(&steps, &starts);
        Script {
            steps,
            batches,
            source: None,
            setup: PLAN_SETUP,
            own_timeouts: false,
            approved: Vec::new(),
            measured: None,
        }
    }

    /// A plan's steps as [`Script::of_steps`] batches them.
    pub fn of_plan(plan: &crate::plan::Plan) -> Script {
        Script::of_steps(plan.steps.iter().map(RunStep::from).collect())
    }

    /// `statement` for the steps of a file, `step` for a plan's.
    pub fn noun(&self) -> &'static str {
        if self.source.is_some() {
            "statement"
        } else {
            "step"
        }
    }

    /// True when the whole script runs in one transaction.
    pub fn in_one_transaction(&self) -> bool {
        matches!(self.batches.as_slice(), [only] if only.in_transaction)
    }

    /// The hazards of every step, with the step's index.
    pub fn hazards(&self) -> impl Iterator<Item = (usize, &Hazard)> {
        self.steps
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.hazards.iter().map(move |h| (i, h)))
    }
}

/// Batches of `steps`: a new batch starts where `starts` says, at a step
/// that cannot run in a transaction (alone), and after one.
fn batches(steps: &[RunStep], starts: &[bool]) -> Vec<Batch> {
    let mut out: Vec<Batch> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        match out.last_mut() {
            Some(last) if !starts[i] && step.transactional && last.in_transaction => {
                last.steps.end = i + 1;
            }
            _ => out.push(Batch {
                steps: i..i + 1,
                in_transaction: step.transactional,
            }),
        }
    }
    out
}

/// What a run writes to the migration history with its work (`migrate`,
/// `down`); nothing for a plan.
pub struct Record<'a> {
    /// SQL that records the script as done, given how long it ran (ms): it
    /// runs in the last batch's transaction, or after the last batch.
    pub done: &'a dyn Fn(i64) -> String,
    /// SQL that records the script as stopped halfway, with the first
    /// statement that is not applied (1-based) and the server's message.
    pub stopped: &'a dyn Fn(usize, &str) -> String,
    /// SQL that records how far the backfill at a statement (1-based)
    /// got, run in each of its batches' transactions; None when a stopped
    /// backfill cannot be resumed (a down file).
    pub progress: Option<&'a ProgressSql<'a>>,
}

/// SQL that records how far the backfill at a statement (1-based) got.
pub type ProgressSql<'a> = dyn Fn(usize, &backfill::Position) -> String + 'a;

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ran {
    /// Batches run.
    pub batches: usize,
    /// True when they were one transaction.
    pub in_one_transaction: bool,
    /// How long it took, in milliseconds.
    pub ms: i64,
}

/// A step that failed while a script ran: which, its SQLSTATE, how many
/// steps stay applied, and the whole story (what was rolled back or
/// removed, what stays applied, what was recorded) as its message.
#[derive(Debug)]
pub struct StepFailed {
    /// Index of the step in the script.
    pub step: usize,
    /// The server's SQLSTATE, if the server refused it.
    pub code: Option<SqlState>,
    /// Steps (from the first) that stay applied.
    pub applied: usize,
    /// What happened.
    pub message: String,
}

impl std::fmt::Display for StepFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StepFailed {}

/// Why a batch stopped.
struct Failed {
    step: usize,
    error: tokio_postgres::Error,
    /// What happened to the batch's own work, as a sentence start.
    undone: String,
    /// False when removing what a step left behind failed: the batch is
    /// not tried again over it.
    clean: bool,
}

/// Runs `script` on `client`, batch by batch, with `timeouts`; `url` (for
/// its TLS settings) lets a signal cancel the running statement on the
/// server. `record` goes with the last batch. Errors are [`StepFailed`]
/// (or a failure to set the session up, before anything ran).
pub async fn run(
    client: &Client,
    url: Option<&str>,
    script: &Script,
    timeouts: &Timeouts,
    record: Option<&Record<'_>>,
) -> Result<Ran> {
    let started = Instant::now();
    client.batch_execute(script.setup).await?;
    let progress = Progress::new(script.steps.len() as u64, "applying");
    let pid = client
        .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
        .await
        .ok()
        .map(|row| row.get::<_, i32>(0));
    let watch = watch::Watch {
        url,
        pid,
        progress: &progress,
        started,
    };
    // The timeouts are set when a batch's kind differs from the one before,
    // so that a file's own `SET lock_timeout` holds over its batches.
    let mut long: Option<bool> = None;
    let last = script.batches.len().saturating_sub(1);
    for (b, batch) in script.batches.iter().enumerate() {
        let first = batch.steps.start;
        if crate::interrupt::requested() {
            let message = format!(
                "interrupted before {} {} of {}; {}.",
                script.noun(),
                first + 1,
                script.steps.len(),
                stopped_state(script, first, record.map(|r| (r, "interrupted")), client).await
            );
            return Err(StepFailed {
                step: first,
                code: None,
                applied: first,
                message,
            }
            .into());
        }
        // A file that sets its own timeouts keeps them after its first batch.
        let set = long.is_none() || (!script.own_timeouts && long != Some(!batch.in_transaction));
        if set {
            client
                .batch_execute(&timeouts.sql(!batch.in_transaction))
                .await?;
            long = Some(!batch.in_transaction);
        }
        // The history record goes with the last batch, timed when its
        // statements are done: in its transaction, or after it (never in
        // the retried part: a statement outside a transaction that ran
        // must not run again because the record failed).
        let record_last = (b == last).then_some(record).flatten();
        let done = record_last.filter(|_| batch.in_transaction).map(|r| Done {
            sql: r.done,
            started,
        });
        let mut attempt = 0;
        let backfill = backfill_batch(script, batch);
        let failed = loop {
            // A backfill retries each of its batches itself.
            if let Some(i) = backfill {
                let at = Instant::now();
                run_backfill(client, url, script, i, timeouts, record).await?;
                measure(client, script, i, at).await;
                progress.inc();
                break None;
            }
            let Err(failed) = run_batch(client, url, script, batch, done.as_ref(), &watch).await
            else {
                break None;
            };
            let lock = failed.error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE);
            // Not again over what a failed clean-up left.
            if !lock
                || !failed.clean
                || attempt >= timeouts.retries
                || crate::interrupt::requested()
            {
                break Some(failed);
            }
            attempt += 1;
            let wait = Timeouts::backoff(attempt);
            ui::print_err(&format!(
                "{} {} of {} ({}) timed out waiting for a lock; {}trying again in {:.1} s (try {} of {})\n",
                script.noun(),
                failed.step + 1,
                script.steps.len(),
                script.steps[failed.step].object,
                match failed.undone.trim_end_matches("; ") {
                    "" => String::new(),
                    undone => format!("{}; ", lower_first(undone)),
                },
                wait.as_secs_f64(),
                attempt + 1,
                timeouts.retries + 1
            ));
            crate::interrupt::sleep(wait).await;
            if crate::interrupt::requested() {
                break Some(failed);
            }
        };
        if let Some(failed) = failed {
            return Err(failure(client, script, batch, failed, attempt, record)
                .await
                .into());
        }
        if let Some(record) = record_last.filter(|_| !batch.in_transaction) {
            let ms = started.elapsed().as_millis() as i64;
            if let Err(e) = client.batch_execute(&(record.done)(ms)).await {
                let total = script.steps.len();
                return Err(StepFailed {
                    step: total - 1,
                    code: e.code().cloned(),
                    applied: total,
                    message: format!(
                        "every {} of it ran ({total}), but recording that in the history \
                         failed: {e}; record it with `stratum resolve --applied`",
                        script.noun()
                    ),
                }
                .into());
            }
        }
    }
    if script.batches.is_empty() {
        // A file of comments only: recorded all the same.
        if let Some(record) = record {
            client.batch_execute(&(record.done)(0)).await?;
        }
    }
    progress.finish();
    Ok(Ran {
        batches: script.batches.len(),
        in_one_transaction: script.in_one_transaction(),
        ms: started.elapsed().as_millis() as i64,
    })
}

/// The step of `batch` when it is a backfill (alone in its batch).
fn backfill_batch(script: &Script, batch: &Batch) -> Option<usize> {
    let i = batch.steps.start;
    (batch.steps.len() == 1 && script.steps[i].backfill.is_some()).then_some(i)
}

/// Runs backfill step `i` of `script`, its progress recorded with
/// `record`; when it stops, the whole story: the batches it committed stay,
/// and with a record, where `migrate` resumes it.
async fn run_backfill(
    client: &Client,
    url: Option<&str>,
    script: &Script,
    i: usize,
    timeouts: &Timeouts,
    record: Option<&Record<'_>>,
) -> Result<(), StepFailed> {
    let step = &script.steps[i];
    let (Some(sql), Some(fill)) = (&step.sql, &step.backfill) else {
        return Ok(());
    };
    let progress = record.and_then(|r| r.progress);
    let at_statement = progress.map(|p| move |at: &backfill::Position| p(i + 1, at));
    let as_dyn = at_statement.as_ref().map(|f| f as &backfill::PositionSql);
    let stopped = match backfill::run(client, url, sql, fill, timeouts, as_dyn).await {
        Ok(_) => return Ok(()),
        Err(stopped) => stopped,
    };
    let (n, total, noun) = (i + 1, script.steps.len(), script.noun());
    let (what, at, code, why) = match &stopped {
        backfill::Stopped::Failed { error, at, retries } => {
            let message = error
                .as_db_error()
                .map_or(error.to_string(), |d| d.message().to_string());
            let tries = match retries {
                0 => String::new(),
                n => format!(" (after {} tries)", n + 1),
            };
            let what = match &script.source {
                Some(source) => {
                    // At the statement: the server's position is in the
                    // batch's statement, not in the file's.
                    let mut located = crate::load::located(source, i, error);
                    let stmt = &source.statements[i];
                    located.location = crate::parse::Location::at(
                        &source.files[stmt.file],
                        stmt.offset + crate::parse::code_start(&stmt.sql),
                    );
                    format!("{located}\n{noun} {n} of {total} (a backfill) failed{tries}")
                }
                None => format!("{noun} {n} of {total} (a backfill) failed{tries}: {message}"),
            };
            (what, Some(at), error.code().cloned(), message)
        }
        backfill::Stopped::Interrupted { at } => (
            format!("{noun} {n} of {total} (a backfill) was interrupted"),
            Some(at),
            Some(SqlState::QUERY_CANCELED),
            "interrupted".to_string(),
        ),
        backfill::Stopped::Refused(e) => (
            format!("{noun} {n} of {total} cannot run as a backfill: {e:#}"),
            None,
            None,
            format!("{e:#}"),
        ),
    };
    let done = match at {
        Some(at) if at.batches > 0 => format!(
            "its {} committed batches ({} rows, up to key {}) stay",
            at.batches,
            at.rows,
            at.after.join(", ")
        ),
        _ => "none of its batches was committed".to_string(),
    };
    let before = match i {
        0 => String::new(),
        1 => format!("; {noun} 1 stays applied"),
        i => format!("; {noun}s 1 to {i} stay applied"),
    };
    // One that could not start is no backfill to resume.
    let recorded = match (record, progress.filter(|_| at.is_some())) {
        (Some(record), Some(progress)) => {
            let position = at.cloned().unwrap_or_default();
            let sql = format!("{};\n{}", progress(n, &position), (record.stopped)(n, &why));
            match client.batch_execute(&sql).await {
                Ok(()) => format!(
                    "; it is recorded as stopped at {noun} {n}: `stratum migrate` resumes it there{}",
                    if position.batches > 0 {
                        ", after the last committed batch"
                    } else {
                        ""
                    }
                ),
                Err(e) => format!("; recording where it stopped failed ({e})"),
            }
        }
        (Some(record), None) => match client.batch_execute(&(record.stopped)(n, &why)).await {
            Ok(()) => "; it is recorded as failed: finish or undo it by hand, then `stratum                        resolve --applied` or `--rolled-back` it"
                .to_string(),
            Err(e) => format!("; recording it as failed failed too ({e})"),
        },
        (None, _) => "; the steps after it did not run".to_string(),
    };
    Err(StepFailed {
        step: i,
        code,
        applied: i,
        message: format!("{what}. {}{before}{recorded}.", sentence(&done)),
    })
}

/// The error of a batch that stopped, with the whole story.
async fn failure(
    client: &Client,
    script: &Script,
    batch: &Batch,
    failed: Failed,
    attempt: u32,
    record: Option<&Record<'_>>,
) -> StepFailed {
    let e = &failed.error;
    let message = e
        .as_db_error()
        .map_or(e.to_string(), |d| d.message().to_string());
    // A step outside a transaction fails alone; a transaction's are undone.
    let applied = if batch.in_transaction {
        batch.steps.start
    } else {
        failed.step
    };
    let cancelled = e.code() == Some(&SqlState::QUERY_CANCELED) && crate::interrupt::requested();
    let what = if cancelled {
        "was cancelled on the server (interrupted)".to_string()
    } else {
        let tries = match attempt {
            0 => String::new(),
            n => format!(" (after {} tries)", n + 1),
        };
        format!("failed{tries}")
    };
    let state = stopped_state(
        script,
        applied,
        record.map(|r| (r, message.as_str())),
        client,
    )
    .await;
    let (n, total, noun) = (failed.step + 1, script.steps.len(), script.noun());
    // Not "unchanged" while what the step left behind may still be there.
    let state = match failed.clean {
        true => state,
        false => format!(
            "{}; what {noun} {n} left behind may still be there",
            state.replace(
                "the database is unchanged",
                &format!("no {noun} stays applied")
            )
        ),
    };
    let message = match &script.source {
        Some(source) => format!(
            "{}\n{noun} {n} of {total} {what}. {}.",
            crate::load::located(source, failed.step, e),
            sentence(&format!("{}{state}", failed.undone))
        ),
        None => {
            let step = &script.steps[failed.step];
            let what = if cancelled {
                what
            } else {
                format!("{what}: {message}")
            };
            format!(
                "{noun} {n} of {total} ({}) {what}\n{}\n{}{state}.",
                step.object,
                step.sql.as_deref().unwrap_or_default(),
                failed.undone
            )
        }
    };
    StepFailed {
        step: failed.step,
        code: e.code().cloned(),
        applied,
        message,
    }
}

/// `text` with its first letter in lower case.
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// `text` with its first letter in upper case.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// What stays applied once `applied` steps of `script` did, and (with a
/// record and the reason) what the history says of it now.
async fn stopped_state(
    script: &Script,
    applied: usize,
    record: Option<(&Record<'_>, &str)>,
    client: &Client,
) -> String {
    let (noun, total) = (script.noun(), script.steps.len());
    let kept = match applied {
        0 if script.source.is_some() => "nothing of it stays applied".to_string(),
        0 => "the database is unchanged".to_string(),
        1 => format!("{noun} 1 of {total} stays applied"),
        n => format!("{noun}s 1 to {n} of {total} stay applied"),
    };
    let Some((record, why)) = record else {
        return if applied == 0 {
            kept
        } else {
            format!("{kept}; the others did not run")
        };
    };
    if applied == 0 {
        return format!("{kept}, and nothing was recorded");
    }
    // Neither applied nor pending: recorded as stopped, so that nothing
    // runs on top of it until `resolve` says what became of it.
    let recorded = match client
        .batch_execute(&(record.stopped)(applied + 1, why))
        .await
    {
        Ok(()) => "it is recorded as failed: finish or undo it by hand, then `stratum resolve \
                   --applied` or `--rolled-back` it"
            .to_string(),
        Err(e) => format!("recording it as failed failed too ({e})"),
    };
    format!("{kept}; {recorded}")
}

/// The history record a batch ends with: its SQL, given how long the run
/// took since `started`.
struct Done<'a> {
    sql: &'a dyn Fn(i64) -> String,
    started: Instant,
}

/// Runs one batch: in a transaction when it is one, with `done` (the
/// history record) at its end. On failure the transaction is rolled back,
/// or what a step outside one left behind removed; the original error is
/// kept whatever that clean-up does.
async fn run_batch(
    client: &Client,
    url: Option<&str>,
    script: &Script,
    batch: &Batch,
    done: Option<&Done<'_>>,
    watch: &watch::Watch<'_>,
) -> Result<(), Failed> {
    let in_tx = batch.in_transaction;
    let last = batch.steps.end - 1;
    let fail = |step: usize, error: tokio_postgres::Error| Failed {
        step,
        error,
        undone: String::new(),
        clean: true,
    };
    if in_tx {
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| fail(batch.steps.start, e))?;
    }
    for i in batch.steps.clone() {
        let step = &script.steps[i];
        let Some(sql) = &step.sql else {
            continue;
        };
        let at = Instant::now();
        let run = crate::interrupt::cancellable(client, url, client.batch_execute(sql));
        let label = format!(
            "{} {} of {} ({})",
            script.noun(),
            i + 1,
            script.steps.len(),
            step.object
        );
        let result = watch.run(&label, run).await;
        if result.is_ok() {
            measure(client, script, i, at).await;
        }
        if let Err(error) = result {
            let (undone, clean) = if in_tx {
                match client.batch_execute("ROLLBACK").await {
                    Ok(()) => ("Rolled back; ".to_string(), true),
                    Err(e) => (format!("ROLLBACK failed too ({e}); "), false),
                }
            } else {
                match &step.undo_on_failure {
                    Some(cleanup) => clean_up(client, cleanup).await,
                    None => (String::new(), true),
                }
            };
            return Err(Failed {
                step: i,
                error,
                undone,
                clean,
            });
        }
    }
    if let Some(done) = done {
        let sql = (done.sql)(done.started.elapsed().as_millis() as i64);
        if let Err(e) = client.batch_execute(&sql).await {
            if in_tx {
                let _ = client.batch_execute("ROLLBACK").await;
            }
            return Err(Failed {
                step: last,
                error: e,
                undone: if in_tx { "Rolled back; " } else { "" }.to_string(),
                clean: true,
            });
        }
    }
    if in_tx {
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| fail(last, e))?;
    }
    watch.progress.inc_by(batch.steps.len() as u64);
    Ok(())
}

/// Removes what a step that failed outside a transaction left behind; says
/// what it did, as a sentence start, and whether nothing is left.
async fn clean_up(client: &Client, cleanup: &Cleanup) -> (String, bool) {
    let sql = match cleanup {
        Cleanup::Sql(sql) => sql.clone(),
        Cleanup::InvalidIndex(name) => {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [name];
            let look = || {
                client.query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index \
                       WHERE indexrelid = pg_catalog.to_regclass($1) AND NOT indisvalid)",
                    &params,
                )
            };
            // A cancel request the server took late (after the statement
            // it was for had ended) cancels this query instead: once more.
            let mut invalid = look().await;
            if invalid
                .as_ref()
                .is_err_and(|e| e.code() == Some(&SqlState::QUERY_CANCELED))
            {
                invalid = look().await;
            }
            match invalid {
                Ok(row) if row.get::<_, bool>(0) => {
                    format!("DROP INDEX CONCURRENTLY IF EXISTS {name};")
                }
                Ok(_) => return (String::new(), true),
                Err(e) => {
                    return (
                        format!(
                            "Looking for what it left behind failed ({}); ",
                            e.as_db_error()
                                .map_or_else(|| e.to_string(), |d| d.message().to_string())
                        ),
                        false,
                    )
                }
            }
        }
    };
    match client.batch_execute(&sql).await {
        Ok(()) => (format!("What it left behind was removed ({sql}); "), true),
        Err(e) => (
            format!("Removing what it left behind failed ({sql}: {e}); "),
            false,
        ),
    }
}

/// Runs a plan on an open connection exactly as `apply` runs it (no cancel
/// request, no history): the test suites and the proof apply plans so.
pub async fn run_plan(
    client: &Client,
    plan: &crate::plan::Plan,
    timeouts: &Timeouts,
) -> Result<Ran> {
    run(client, None, &Script::of_plan(plan), timeouts, None).await
}
