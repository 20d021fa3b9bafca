//! `stratum plan` and `stratum apply`: declarative mode, straight from
//! `schema/` to a database, with hazards refused unless allowed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{count, load, Report, ATTENTION, OK};
use crate::config::Project;
use crate::conninfo;
use crate::ddl;
use crate::diff;
use crate::hazard::Hazard;
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
    /// A plan saved by `plan --out`, applied instead of planning anew.
    pub saved: Option<PathBuf>,
}

/// What a saved plan file (`plan --out`) holds, as JSON.
const PLAN_FORMAT: &str = "stratum plan 1";

/// One step as `apply` runs it, and as a saved plan holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunStep {
    /// What kind of change, e.g. `add_column`.
    pub kind: String,
    /// The object it acts on.
    pub object: String,
    /// Its hazards.
    pub hazards: Vec<Hazard>,
    /// The statement; None when another step does the work.
    pub sql: Option<String>,
    /// Whether it may run in a transaction with its neighbours.
    pub transactional: bool,
    /// What removes its leftovers when it fails outside a transaction.
    pub undo_on_failure: Option<String>,
    /// The table it works on (`schema.name`), for the proof's checks.
    #[serde(default)]
    pub table: Option<String>,
}

impl From<&Step> for RunStep {
    fn from(step: &Step) -> RunStep {
        RunStep {
            kind: step.kind.to_string(),
            object: step.object.clone(),
            hazards: step.hazards.clone(),
            sql: step.sql.clone(),
            transactional: step.transactional,
            undo_on_failure: step.change.kind().undo_on_failure(),
            table: step.change.kind().table().map(|t| t.plain()),
        }
    }
}

/// A plan as `plan --out` saves it: applied only to a database whose schema
/// is still the one it was made for.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedPlan {
    format: String,
    /// The stratum version that made it.
    stratum: String,
    /// The database it was made against (password hidden); informative.
    database: String,
    /// [`ddl::fingerprint`] of that database's schema.
    fingerprint: String,
    /// Checksum of the schema files it leads to.
    schema_checksum: String,
    /// The script, as reviewed.
    sql: String,
    /// The steps.
    steps: Vec<RunStep>,
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
    let mut current = catalogs.pop().expect("two sides");
    project.filter.keep_history_schema(&current, &mut desired);
    // Planned against the schema with its renames undone; they run last.
    let (undone, renames) = super::renamed(project, &current, &desired).await?;
    let target = undone.as_ref().unwrap_or(&desired);
    let mut changes = diff::diff(&current, target);
    changes.extend(renames.changes.into_iter().map(crate::diff::Change::from));
    crate::coverage::check(&current, target, &changes, project.strict)?;
    crate::coverage::roles(&current, target, &project.assume_roles)?;
    super::measure_sizes(url, &mut current, target, &changes).await?;
    let plan = plan::plan(&current, target, changes)?;
    Ok((current, desired, plan))
}

/// The database's schema as `apply` plans from it.
async fn read_current(project: &Project, url: &str) -> Result<Catalog> {
    let side = Side::Source(Source::Url(url.to_string()));
    Ok(load(project, &[side]).await?.pop().expect("one side"))
}

/// [`read_current`] in full, never from the read cache: the check right
/// before a plan's first statement runs trusts nothing but the database.
async fn read_current_in_full(project: &Project, url: &str) -> Result<Catalog> {
    let target = conninfo::config(url)?;
    let connections = crate::introspect::connections();
    let mut catalog =
        crate::introspect::introspect_target(&target, true, connections, None).await?;
    project.filter.apply(&mut catalog);
    Ok(catalog)
}

/// Checksum of the statements of `schema/` (not of its comments or layout).
fn schema_checksum(project: &Project) -> Result<String> {
    let source = crate::parse::read_source(&project.schema)?;
    let text: Vec<&str> = source.statements.iter().map(|s| s.sql.as_str()).collect();
    Ok(crate::migrations::checksum(&text.join("\n;\n")))
}

#[derive(Serialize)]
struct PlanJson<'a> {
    steps: &'a [Step],
    unmanaged: Vec<crate::kinds::Unmanaged>,
    fingerprint: String,
    /// `--explain`: why each step is there, in step order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    explain: Vec<Vec<String>>,
}

/// `stratum plan`: the SQL `apply` would run; saved to `out` for a later
/// `apply` when given.
pub async fn plan(
    project: &Project,
    url: &str,
    out: Option<&Path>,
    explain: bool,
) -> Result<Report> {
    let (current, desired, plan) = planned(project, url).await?;
    let unmanaged = crate::coverage::unmanaged(&current, &desired);
    let fingerprint = ddl::fingerprint(&current)?;
    let sql = render::sql(&plan);
    let notes = if explain {
        plan::explain(&plan, &current)
    } else {
        Vec::new()
    };
    let mut stderr = render::summary(&plan, &unmanaged);
    if let Some(out) = out {
        let saved = SavedPlan {
            format: PLAN_FORMAT.to_string(),
            stratum: env!("CARGO_PKG_VERSION").to_string(),
            database: conninfo::redact(url),
            fingerprint: fingerprint.clone(),
            schema_checksum: schema_checksum(project)?,
            sql: sql.clone(),
            steps: plan.steps.iter().map(RunStep::from).collect(),
        };
        let mut text = serde_json::to_string_pretty(&saved).expect("plans serialise");
        text.push('\n');
        std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
        stderr.push_str(&format!(
            "Saved to {}: `stratum apply {}` runs exactly this, and only while the database's \
             schema is still {fingerprint}.\n",
            out.display(),
            out.display()
        ));
    }
    Ok(Report::new(
        OK,
        render::sql_explained(&plan, &notes),
        stderr,
        PlanJson {
            steps: &plan.steps,
            unmanaged,
            fingerprint,
            explain: notes,
        },
    ))
}

/// A step refused for a hazard that is not allowed.
#[derive(Debug, Clone, Serialize)]
struct Refused {
    object: String,
    kind: String,
    hazard: HazardCode,
    message: String,
}

#[derive(Serialize)]
struct ApplyJson<'a> {
    applied: bool,
    steps: &'a [RunStep],
    refused: Vec<Refused>,
    transactions: usize,
    ms: i64,
}

/// What `apply` runs: planned now, or read from a saved plan.
struct ToApply {
    steps: Vec<RunStep>,
    sql: String,
    summary: String,
    fingerprint: String,
    /// The desired catalog, when planned now (a saved plan re-reads
    /// `schema/` to check the result, if it is unchanged).
    desired: Option<Catalog>,
    saved: Option<SavedPlan>,
    /// The database's schema when planned now: for the proof.
    current: Option<Catalog>,
}

async fn to_apply(project: &Project, url: &str, saved: Option<&Path>) -> Result<ToApply> {
    let Some(path) = saved else {
        let (current, desired, plan) = planned(project, url).await?;
        return Ok(ToApply {
            steps: plan.steps.iter().map(RunStep::from).collect(),
            sql: render::sql(&plan),
            summary: render::summary(&plan, &[]),
            fingerprint: ddl::fingerprint(&current)?,
            desired: Some(desired),
            saved: None,
            current: Some(current),
        });
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let saved: SavedPlan = serde_json::from_str(&text)
        .ok()
        .filter(|p: &SavedPlan| p.format == PLAN_FORMAT)
        .ok_or_else(|| {
            anyhow!(
                "{}: not a plan saved by `stratum plan --out` ({PLAN_FORMAT})",
                path.display()
            )
        })?;
    let now = ddl::fingerprint(&read_current(project, url).await?)?;
    if now != saved.fingerprint {
        bail!(
            "{} was made for a database whose schema was {}; this one's is {now}. Nothing was \
             applied: the schema changed since (or this is another database), so make a new plan",
            path.display(),
            saved.fingerprint
        );
    }
    Ok(ToApply {
        steps: saved.steps.clone(),
        sql: saved.sql.clone(),
        summary: format!(
            "{} from {}.\n",
            count(saved.steps.len(), "step"),
            path.display()
        ),
        fingerprint: now,
        desired: None,
        saved: Some(saved),
        current: None,
    })
}

/// `stratum apply`: runs the plan (made now, or saved by `plan --out`), in
/// one transaction where PostgreSQL allows it, only while the database's
/// schema is the one planned from. Refuses (exit 1) steps whose hazards are
/// not allowed, and asks on a terminal unless `yes`.
pub async fn apply(project: &Project, url: &str, options: &ApplyOptions) -> Result<Report> {
    let todo = to_apply(project, url, options.saved.as_deref()).await?;
    let json = |applied, refused, transactions, ms| ApplyJson {
        applied,
        steps: &todo.steps,
        refused,
        transactions,
        ms,
    };
    if todo.steps.is_empty() {
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
    let refused: Vec<Refused> = todo
        .steps
        .iter()
        .flat_map(|s| {
            s.hazards
                .iter()
                .filter(|h| !allowed.contains(&h.code))
                .map(|h| Refused {
                    object: s.object.clone(),
                    kind: s.kind.clone(),
                    hazard: h.code,
                    message: h.message.clone(),
                })
        })
        .collect();
    let sql = todo.sql.clone();
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
        ui::print_err(&todo.summary);
        let target = conninfo::redact(url);
        if !ui::confirm(&format!(
            "Apply {} to {target}?",
            count(todo.steps.len(), "step")
        ))? {
            return Ok(Report::new(
                ATTENTION,
                String::new(),
                "Not applied.\n".into(),
                json(false, vec![], 0, 0),
            ));
        }
    }
    let proved = if project.proof {
        Some(prove(project, url, &todo).await?)
    } else {
        None
    };
    let started = Instant::now();
    let transactions = execute(project, url, &todo.steps, &todo.fingerprint).await?;
    let ms = started.elapsed().as_millis() as i64;
    let how = if transactions == 1 {
        "in one transaction".to_string()
    } else {
        format!("in {transactions} batches")
    };
    let applied = format!(
        "{}{} {} {how} ({ms} ms)",
        proved.map(|p| super::proved_line(&p)).unwrap_or_default(),
        paint(style::GREEN, "Applied"),
        count(todo.steps.len(), "step")
    );
    // Convergence: the database must now read back as the schema.
    let desired = match (todo.desired, &todo.saved) {
        (Some(desired), _) => desired,
        (None, Some(saved))
            if schema_checksum(project).ok() == Some(saved.schema_checksum.clone()) =>
        {
            let mut desired = load(project, &[Side::Source(project.schema_source()?)])
                .await?
                .pop()
                .expect("one side");
            let current = read_current(project, url).await?;
            project.filter.keep_history_schema(&current, &mut desired);
            desired
        }
        _ => {
            return Ok(Report::new(
                OK,
                String::new(),
                format!(
                    "{applied}; {} changed since the plan was made, so the result was not \
                     compared with it.\n",
                    project.show(&project.schema)
                ),
                json(true, vec![], transactions, ms),
            ))
        }
    };
    let after = read_current(project, url).await?;
    let left = diff::diff(&after, &desired);
    if !left.is_empty() {
        bail!(
            "applied, but the database still differs from {} in {}; please report this",
            project.show(&project.schema),
            count(left.len(), "change")
        );
    }
    Ok(Report::new(
        OK,
        String::new(),
        format!(
            "{applied}; the database matches {}.\n",
            project.show(&project.schema)
        ),
        json(true, vec![], transactions, ms),
    ))
}

/// Proves the steps on a copy of the database's schema (its DDL, built in a
/// scratch database) before they run on the database. A saved plan is
/// proved against `schema/` when it is unchanged since the plan was made,
/// else for rows and rewrites only.
async fn prove(project: &Project, url: &str, todo: &ToApply) -> Result<crate::proof::Proven> {
    let loaded;
    let (current, desired) = match (&todo.current, &todo.desired, &todo.saved) {
        (Some(current), Some(desired), _) => (current, Some(desired)),
        (_, _, Some(saved)) => {
            let current = read_current(project, url).await?;
            let desired = if schema_checksum(project).ok().as_ref() == Some(&saved.schema_checksum)
            {
                let side = Side::Source(project.schema_source()?);
                let mut desired = load(project, &[side]).await?.pop().expect("one side");
                project.filter.keep_history_schema(&current, &mut desired);
                Some(desired)
            } else {
                None
            };
            loaded = (current, desired);
            (&loaded.0, loaded.1.as_ref())
        }
        _ => bail!("nothing to prove"),
    };
    let build = Plan {
        steps: ddl::build_steps(current)?,
    };
    let side = Side::Text("the database's schema".into(), render::sql(&build));
    let major = (current.server_version / 10000) as u32;
    let (filter, scratch) = (&project.filter, &project.scratch());
    crate::proof::prove(&side, &todo.steps, desired, major, filter, scratch, None).await
}

/// Runs the steps: consecutive transactional steps in one transaction,
/// others on their own, holding the advisory lock `migrate` takes, so that
/// neither runs beside the other, and only while the database's schema is
/// still `fingerprint` (read again under the lock, right before the first
/// statement). Returns how many batches ran.
async fn execute(
    project: &Project,
    url: &str,
    steps: &[RunStep],
    fingerprint: &str,
) -> Result<usize> {
    let client = conninfo::connect_url(url).await?;
    let history = crate::history::History::new(project.history_table.clone());
    history.lock(&client).await?;
    let _ctrl_c = crate::interrupt::handle();
    let result = async {
        let now = ddl::fingerprint(&read_current_in_full(project, url).await?)?;
        if now != fingerprint {
            bail!(
                "the database's schema changed while the plan was being made or reviewed \
                 ({fingerprint}, now {now}); nothing was applied: plan again"
            );
        }
        run_steps(&client, Some(url), steps, &project.timeouts).await
    }
    .await;
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

/// A step that failed while a plan ran: which, its SQLSTATE, and the whole
/// story (what was rolled back, what stays applied) as its message.
#[derive(Debug)]
pub struct StepFailed {
    /// Index of the step in the plan.
    pub step: usize,
    /// The server's SQLSTATE, if the server refused it.
    pub code: Option<SqlState>,
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
    /// What happened to the batch's own work.
    undone: String,
}

/// [`execute`] on an open connection; the test suites apply plans through
/// it, exactly as `apply` does.
pub async fn execute_on(client: &Client, plan: &Plan, timeouts: &Timeouts) -> Result<usize> {
    let steps: Vec<RunStep> = plan.steps.iter().map(RunStep::from).collect();
    run_steps(client, None, &steps, timeouts).await
}

/// Runs `steps` as `apply` does, on a scratch copy (the proof): default
/// timeouts, no cancel request.
pub async fn execute_steps(client: &Client, steps: &[RunStep]) -> Result<usize> {
    run_steps(client, None, steps, &Timeouts::default()).await
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
    steps: &[RunStep],
    timeouts: &Timeouts,
) -> Result<usize> {
    client
        .batch_execute("SET check_function_bodies = false")
        .await?;
    let mut batches: Vec<Vec<(usize, &RunStep)>> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
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
    let progress = Progress::new(steps.len() as u64, "applying");
    for batch in &batches {
        let first = batch[0].0;
        if crate::interrupt::requested() {
            bail!(
                "interrupted before step {} of {}; {}.",
                first + 1,
                steps.len(),
                stopped_state(first, steps.len())
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
                steps.len(),
                steps[failed.step].object,
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
            let step = &steps[failed.step];
            let e = &failed.error;
            let message = e
                .as_db_error()
                .map_or(e.to_string(), |d| d.message().to_string());
            let tries = match attempt {
                0 => String::new(),
                n => format!(" (after {} tries)", n + 1),
            };
            let state = stopped_state(first, steps.len());
            let what = if failed.error.code() == Some(&SqlState::QUERY_CANCELED)
                && crate::interrupt::requested()
            {
                "was cancelled on the server (interrupted)".to_string()
            } else {
                format!("failed{tries}: {message}")
            };
            return Err(StepFailed {
                step: failed.step,
                code: failed.error.code().cloned(),
                message: format!(
                    "step {} of {} ({}) {what}\n{}\n{}{state}.",
                    failed.step + 1,
                    steps.len(),
                    step.object,
                    step.sql.as_deref().unwrap_or_default(),
                    failed.undone
                ),
            }
            .into());
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
    batch: &[(usize, &RunStep)],
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
                match &step.undo_on_failure {
                    Some(cleanup) => match client.batch_execute(cleanup).await {
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
