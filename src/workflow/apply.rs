//! `stratum plan` and `stratum apply`: declarative mode, straight from
//! `schema/` to a database, with hazards refused unless allowed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

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
use tokio_postgres::error::SqlState;
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
    let transactions = execute(project, url, &plan).await?;
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
        format!("in {transactions} batches")
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
/// others on their own, holding the advisory lock `migrate` takes, so that
/// neither runs beside the other. Returns how many batches ran.
async fn execute(project: &Project, url: &str, plan: &Plan) -> Result<usize> {
    let client = conninfo::connect_url(url).await?;
    let history = crate::history::History::new(project.history_table.clone());
    history.lock(&client).await?;
    let _ctrl_c = crate::interrupt::handle();
    let result = run_steps(&client, Some(url), plan, &project.timeouts).await;
    // The plan's own error, if any, is the one reported.
    let unlocked = history.unlock(&client).await;
    let batches = result?;
    unlocked?;
    Ok(batches)
}

/// How long each step may wait for its lock and run, and how often a batch
/// that gave up waiting for a lock is tried again (`timeouts:` in
/// stratum.yaml, `--lock-timeout`, `--retries`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// `lock_timeout` of every step: short, so that a step waiting behind a
    /// long query does not stall every query queued behind it; None for none.
    pub lock: Option<Duration>,
    /// `statement_timeout` of steps run in a transaction; None for none.
    pub statement: Option<Duration>,
    /// `statement_timeout` of steps run on their own (concurrent index
    /// builds, validations), which may take long by design; None for none.
    pub long_statement: Option<Duration>,
    /// Tries after the first, with exponential backoff and jitter.
    pub retries: u32,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            lock: Some(Duration::from_secs(3)),
            statement: None,
            long_statement: None,
            retries: 5,
        }
    }
}

impl Timeouts {
    /// Parses a duration as `stratum.yaml` and the flags write it: `500ms`,
    /// `3s`, `10m`, `1h`, or `0` for no limit.
    pub fn parse_duration(text: &str) -> Result<Option<Duration>> {
        let text = text.trim();
        if text == "0" {
            return Ok(None);
        }
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| {
            anyhow!("{text:?}: give a unit (500ms, 3s, 10m, 1h), or 0 for no limit")
        })?;
        let (number, unit) = text.split_at(split);
        let n: u64 = number
            .parse()
            .map_err(|_| anyhow!("{text:?} is not a duration (500ms, 3s, 10m, 1h, or 0)"))?;
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => bail!("{text:?}: the unit is one of ms, s, m, h"),
        };
        Ok(Some(d).filter(|d| !d.is_zero()))
    }

    /// The wait before try `attempt` (1-based): 0.5 s doubled each time, at
    /// most 30 s, plus up to half of it again at random.
    pub(super) fn backoff(attempt: u32) -> Duration {
        let base = Duration::from_millis(500).saturating_mul(1 << attempt.min(6).saturating_sub(1));
        let base = base.min(Duration::from_secs(30));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        base + base.mul_f64(f64::from(nanos % 1000) / 2000.0)
    }
}

/// `SET` of the timeouts for one batch.
pub(super) fn timeout_sql(timeouts: &Timeouts, long: bool) -> String {
    let ms = |d: Option<Duration>| d.map_or(0, |d| d.as_millis().max(1));
    let statement = if long {
        timeouts.long_statement
    } else {
        timeouts.statement
    };
    format!(
        "SET lock_timeout = {}; SET statement_timeout = {}",
        ms(timeouts.lock),
        ms(statement)
    )
}

/// Why a batch stopped.
struct Failed {
    step: usize,
    error: tokio_postgres::Error,
    /// What happened to the batch's own work.
    undone: String,
}

/// [`execute`] on an open connection; the test suites apply plans through
/// it, exactly as `apply` does.
pub async fn execute_on(client: &Client, plan: &Plan, timeouts: &Timeouts) -> Result<usize> {
    run_steps(client, None, plan, timeouts).await
}

/// Where a run stopped: which steps stay applied.
fn stopped_state(first_of_batch: usize, total: usize) -> String {
    match first_of_batch {
        0 => "the database is unchanged".to_string(),
        1 => format!("step 1 of {total} stays applied; the others did not run"),
        n => format!("steps 1 to {n} of {total} stay applied; the others did not run"),
    }
}

/// Runs the steps in batches on `client`; `url` (for its TLS settings)
/// lets Ctrl-C cancel the running statement on the server.
async fn run_steps(
    client: &Client,
    url: Option<&str>,
    plan: &Plan,
    timeouts: &Timeouts,
) -> Result<usize> {
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
    for batch in &batches {
        let first = batch[0].0;
        if crate::interrupt::requested() {
            bail!(
                "interrupted before step {} of {}; {}.",
                first + 1,
                plan.steps.len(),
                stopped_state(first, plan.steps.len())
            );
        }
        let mut attempt = 0;
        let failed = loop {
            let Err(failed) = run_batch(client, url, batch, timeouts, &progress).await else {
                break None;
            };
            let lock = failed.error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE);
            if !lock || attempt >= timeouts.retries || crate::interrupt::requested() {
                break Some(failed);
            }
            attempt += 1;
            let wait = Timeouts::backoff(attempt);
            ui::print_err(&format!(
                "step {} of {} ({}) timed out waiting for a lock; {}trying again in {:.1} s (try {} of {})\n",
                failed.step + 1,
                plan.steps.len(),
                plan.steps[failed.step].object,
                match failed.undone.trim_end_matches("; ") {
                    "" => String::new(),
                    undone => format!("{}; ", undone.to_lowercase()),
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
            let step = &plan.steps[failed.step];
            let e = &failed.error;
            let message = e
                .as_db_error()
                .map_or(e.to_string(), |d| d.message().to_string());
            let tries = match attempt {
                0 => String::new(),
                n => format!(" (after {} tries)", n + 1),
            };
            let state = stopped_state(first, plan.steps.len());
            let what = if failed.error.code() == Some(&SqlState::QUERY_CANCELED)
                && crate::interrupt::requested()
            {
                "was cancelled on the server (interrupted)".to_string()
            } else {
                format!("failed{tries}: {message}")
            };
            return Err(anyhow!(
                "step {} of {} ({}) {what}\n{}\n{}{state}.",
                failed.step + 1,
                plan.steps.len(),
                step.object,
                step.sql.as_deref().unwrap_or_default(),
                failed.undone
            ));
        }
    }
    Ok(batches.len())
}

/// Runs one batch: in a transaction when its steps take one. On failure
/// the transaction is rolled back, or what a step outside one left behind
/// removed; the original error is kept whatever that clean-up does.
async fn run_batch(
    client: &Client,
    url: Option<&str>,
    batch: &[(usize, &Step)],
    timeouts: &Timeouts,
    progress: &Progress,
) -> Result<(), Failed> {
    let in_tx = batch[0].1.transactional;
    let fail = |step: usize, error: tokio_postgres::Error| Failed {
        step,
        error,
        undone: String::new(),
    };
    client
        .batch_execute(&timeout_sql(timeouts, !in_tx))
        .await
        .map_err(|e| fail(batch[0].0, e))?;
    if in_tx {
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| fail(batch[0].0, e))?;
    }
    let mut done = 0u64;
    for (i, step) in batch {
        let Some(sql) = &step.sql else {
            done += 1;
            continue;
        };
        let run = crate::interrupt::cancellable(client, url, client.batch_execute(sql));
        if let Err(error) = run.await {
            let undone = if in_tx {
                match client.batch_execute("ROLLBACK").await {
                    Ok(()) => "Rolled back; ".to_string(),
                    Err(e) => format!("ROLLBACK failed too ({e}); "),
                }
            } else {
                match step.change.kind().undo_on_failure() {
                    Some(cleanup) => match client.batch_execute(&cleanup).await {
                        Ok(()) => format!("What it left behind was removed ({cleanup}); "),
                        Err(e) => format!("Removing what it left behind failed ({cleanup}: {e}); "),
                    },
                    None => String::new(),
                }
            };
            return Err(Failed {
                step: *i,
                error,
                undone,
            });
        }
        done += 1;
    }
    if in_tx {
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| fail(batch[batch.len() - 1].0, e))?;
    }
    progress.inc_by(done);
    Ok(())
}
