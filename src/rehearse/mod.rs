//! Rehearsals: what `apply` would run, run first on a scratch copy of the
//! target (its schema, built from the DDL stratum reads there, and real
//! rows sampled from it by [`copy`]), through the same executor with the
//! same settings, each step measured: its wall time, the WAL it wrote,
//! whether it rewrote its table (`relfilenode`), the lock it takes and how
//! long it held it (to the end of its transaction). Each measure is then
//! extrapolated to the target's table: linear in its rows for a step that
//! reads or rewrites them, as measured for one that only changes the
//! catalog; the report says which. Nothing is written to the target: it is
//! read in one READ ONLY transaction.

pub mod copy;
pub mod rates;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use pg_query::protobuf::{AlterTableType, ConstrType};
use pg_query::NodeEnum;
use serde::Serialize;
use tokio_postgres::Client;

use crate::execute::{Measure, Script, Timeouts};
use crate::hazard::LockMode;
use crate::kinds::Catalog;
use crate::load::{self, Scratch, Side};

/// How rehearsals run (`rehearse:` in stratum.yaml).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// How rows are sampled into the copy.
    pub sampling: copy::Sampling,
    /// A step whose estimated hold of a lock that blocks writes is longer
    /// than this is flagged.
    pub max_lock: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            sampling: copy::Sampling::default(),
            max_lock: Duration::from_secs(1),
        }
    }
}

/// What a rehearsal found.
#[derive(Debug, Clone, Serialize)]
pub struct Rehearsal {
    /// The copy's tables, as sampled.
    pub tables: Vec<copy::Copied>,
    /// Each step, measured and extrapolated.
    pub steps: Vec<Rehearsed>,
    /// How long the run took on the copy, ms.
    pub ms: u128,
    /// The day it ran (the copy's server's `current_date`).
    pub on: String,
}

/// The kind of work a step does to its table's rows, by which it is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// Rewrites the table (its `relfilenode` changed).
    Rewrite = 0,
    /// Builds an index.
    IndexBuild = 1,
    /// Reads every row (a validation, SET NOT NULL, a constraint added).
    Scan = 2,
}

/// One step as rehearsed.
#[derive(Debug, Clone, Serialize)]
pub struct Rehearsed {
    /// Its number (from 1) in its part.
    pub step: usize,
    /// Its part: `the plan`, or a migration file.
    pub part: String,
    /// Where it is: `step 3`, or the file and line.
    pub at: String,
    /// What it acts on.
    pub object: String,
    /// Its statement's first line.
    pub statement: String,
    /// Its table, when it has one.
    pub table: Option<String>,
    /// The lock its statement takes on its table.
    pub lock: Option<&'static str>,
    /// Wall time on the copy, ms.
    pub ms: f64,
    /// How long its lock was held on the copy (to the end of its
    /// transaction), ms.
    pub held_ms: f64,
    /// By how much the measures were multiplied for the target's table
    /// (its rows over the copy's); None: as measured (catalog only).
    pub scaled_by: Option<f64>,
    /// Estimated wall time on the target, ms.
    pub estimate_ms: f64,
    /// Estimated hold of its lock on the target, ms.
    pub held_estimate_ms: f64,
    /// True when its table's storage was rewritten.
    pub rewrote: bool,
    /// What it does to its table's rows, when it reads or rewrites them.
    pub work: Option<Work>,
    /// WAL written on the copy, bytes.
    pub wal_bytes: i64,
    /// Estimated WAL on the target, bytes.
    pub wal_estimate: i64,
    /// True when its estimated hold of a lock that blocks writes is above
    /// the limit.
    pub flagged: bool,
}

/// The name of the part that is a plan.
pub const PLAN: &str = "the plan";

/// What a rehearsal runs: a plan, or one migration file, as a script.
#[derive(Debug, Clone)]
pub struct Part {
    /// `the plan`, or the file's path.
    pub name: String,
    /// Its script.
    pub script: Script,
}

/// Rehearses `parts` in order (what `apply` or `migrate` would run on the
/// database at `url`, whose schema is `current`) on a copy with sampled
/// rows.
pub async fn rehearse(
    url: &str,
    current: &Catalog,
    parts: &[Part],
    settings: &Settings,
    timeouts: &Timeouts,
    scratch: &Scratch,
) -> Result<Rehearsal> {
    let started = Instant::now();
    let build = crate::plan::Plan {
        steps: crate::ddl::build_steps(current)?,
        left_alone: Vec::new(),
    };
    let side = Side::Text("the database's schema".into(), crate::render::sql(&build));
    let major = (current.server_version / 10000) as u32;
    let built = load::build(&side, scratch, major).await?;
    let result = async {
        let target = crate::conninfo::connect_url(url).await?;
        let tables = copy::rows(&target, &built.client, &settings.sampling).await?;
        drop(target);
        let roles = parts
            .iter()
            .flat_map(|p| &p.script.steps)
            .filter_map(|s| s.sql.as_deref())
            .flat_map(crate::execute::statement::roles)
            .collect();
        load::stub_roles(&built.client, &roles).await?;
        let client = built.connect().await?;
        let mut steps = Vec::new();
        for part in parts {
            let mut script = part.script.clone();
            if script.source.is_some() {
                // A file's statements name their tables as written.
                for step in &mut script.steps {
                    step.table = relation(&client, step.sql.as_deref().unwrap_or_default()).await?;
                }
            }
            let before = filenodes(&client).await?;
            let measured = crate::execute::Measured::default();
            script.measured = Some(measured.clone());
            let start = crate::execute::wal_position(&client).await?;
            crate::execute::run(&client, None, &script, timeouts, None)
                .await
                .map_err(|e| {
                    e.context(format!("the rehearsal of {} on the copy failed", part.name))
                })?;
            let measures = measured.lock().map(|m| m.clone()).unwrap_or_default();
            let mut done = report(&script, &tables, &measures, start, before, settings);
            for r in &mut done {
                r.part = part.name.clone();
                if script.source.is_some() {
                    r.at = format!("{}:{}", part.name, r.object.trim_start_matches("line "));
                }
            }
            steps.extend(done);
        }
        let on: String = client
            .query_one("SELECT current_date::text", &[])
            .await?
            .get(0);
        anyhow::Ok(Rehearsal {
            tables,
            steps,
            ms: started.elapsed().as_millis(),
            on,
        })
    }
    .await;
    built.finish().await;
    result
}

/// The table `sql` acts on, as `schema.name`, when the copy has it now.
async fn relation(client: &Client, sql: &str) -> Result<Option<String>> {
    let Some(node) = crate::parse::first_statement(sql) else {
        return Ok(None);
    };
    let named = match &node {
        NodeEnum::AlterTableStmt(s) => s.relation.as_ref(),
        NodeEnum::IndexStmt(s) => s.relation.as_ref(),
        NodeEnum::UpdateStmt(s) => s.relation.as_ref(),
        NodeEnum::DeleteStmt(s) => s.relation.as_ref(),
        NodeEnum::InsertStmt(s) => s.relation.as_ref(),
        NodeEnum::TruncateStmt(s) => s.relations.iter().find_map(|r| match r.node.as_ref() {
            Some(NodeEnum::RangeVar(r)) => Some(r),
            _ => None,
        }),
        _ => None,
    };
    let Some(r) = named else { return Ok(None) };
    let name = match r.schemaname.is_empty() {
        true => crate::sql::ident(&r.relname),
        false => format!(
            "{}.{}",
            crate::sql::ident(&r.schemaname),
            crate::sql::ident(&r.relname)
        ),
    };
    let row = client
        .query_opt(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
            &[&name],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Each table's storage, by `schema.name`.
async fn filenodes(client: &Client) -> Result<BTreeMap<String, u32>> {
    let rows = client
        .query(
            "SELECT n.nspname || '.' || c.relname, c.relfilenode FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm')",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The rehearsed steps from the run's measures.
fn report(
    script: &Script,
    tables: &[copy::Copied],
    measures: &[Measure],
    start: i64,
    mut filenode: BTreeMap<String, u32>,
    settings: &Settings,
) -> Vec<Rehearsed> {
    let by_table: BTreeMap<&str, &copy::Copied> =
        tables.iter().map(|t| (t.table.as_str(), t)).collect();
    // The last measure of each step (a retried batch measures again).
    let mut of_step: BTreeMap<usize, &Measure> = BTreeMap::new();
    for m in measures {
        of_step.insert(m.step, m);
    }
    let mut wal_before = start;
    let mut out: Vec<Rehearsed> = Vec::new();
    for (i, step) in script.steps.iter().enumerate() {
        let Some(m) = of_step.get(&i) else { continue };
        let sql = step.sql.as_deref().unwrap_or_default();
        let table = step.table.clone();
        // Rewritten by this step: its table's storage changed since the
        // step before.
        let rewrote = match (table.as_ref(), m.filenode_after) {
            (Some(t), Some(now)) => filenode
                .insert(t.clone(), now)
                .is_some_and(|was| was != now),
            _ => false,
        };
        let copied = table.as_deref().and_then(|t| by_table.get(t));
        let scaled_by = copied
            .map(|c| c.factor())
            .filter(|f| *f > 1.0 && (rewrote || reads_rows(sql)));
        let ms = m.elapsed.as_secs_f64() * 1000.0;
        let wal = (m.wal_after - wal_before).max(0);
        wal_before = m.wal_after;
        let factor = scaled_by.unwrap_or(1.0);
        out.push(Rehearsed {
            step: i + 1,
            part: String::new(),
            at: format!("step {}", i + 1),
            object: step.object.clone(),
            statement: first_line(sql),
            table,
            lock: crate::plan::locks::strongest(sql).map(LockMode::name),
            ms,
            held_ms: 0.0,
            scaled_by,
            estimate_ms: ms * factor,
            held_estimate_ms: 0.0,
            rewrote,
            work: work(sql, rewrote),
            wal_bytes: wal,
            wal_estimate: (wal as f64 * factor) as i64,
            flagged: false,
        });
    }
    // A lock taken in a transaction is held to its end.
    for batch in &script.batches {
        let in_batch: Vec<usize> = out
            .iter()
            .enumerate()
            .filter(|(_, r)| batch.steps.contains(&(r.step - 1)))
            .map(|(k, _)| k)
            .collect();
        for (n, &k) in in_batch.iter().enumerate() {
            let rest = if batch.in_transaction {
                &in_batch[n..]
            } else {
                &in_batch[n..=n]
            };
            out[k].held_ms = rest.iter().map(|&j| out[j].ms).sum();
            out[k].held_estimate_ms = rest.iter().map(|&j| out[j].estimate_ms).sum();
        }
    }
    let limit = settings.max_lock.as_secs_f64() * 1000.0;
    for r in &mut out {
        let blocks_writes = !matches!(r.lock, None | Some("SHARE UPDATE EXCLUSIVE"));
        r.flagged = blocks_writes && r.held_estimate_ms > limit;
    }
    out
}

/// The work `sql` does to its table's rows, by which its time grows; an
/// UPDATE or DELETE is no kind of work rates are kept for.
fn work(sql: &str, rewrote: bool) -> Option<Work> {
    if rewrote {
        return Some(Work::Rewrite);
    }
    match crate::parse::first_statement(sql) {
        Some(NodeEnum::IndexStmt(_)) => Some(Work::IndexBuild),
        Some(NodeEnum::AlterTableStmt(_)) if reads_rows(sql) => Some(Work::Scan),
        _ => None,
    }
}

/// True when `sql` reads or writes its table's rows (so its time grows
/// with them): an index build, a validation, SET NOT NULL, a constraint
/// added valid, a retype, an UPDATE, DELETE or INSERT ... SELECT.
pub fn reads_rows(sql: &str) -> bool {
    let Ok(parsed) = pg_query::parse(sql, 0) else {
        return false;
    };
    parsed
        .protobuf
        .stmts
        .iter()
        .any(|s| match s.stmt.as_ref().and_then(|s| s.node.as_ref()) {
            Some(NodeEnum::IndexStmt(_))
            | Some(NodeEnum::UpdateStmt(_))
            | Some(NodeEnum::DeleteStmt(_))
            | Some(NodeEnum::InsertStmt(_))
            | Some(NodeEnum::MergeStmt(_)) => true,
            Some(NodeEnum::AlterTableStmt(a)) => a.cmds.iter().any(|c| {
                let Some(NodeEnum::AlterTableCmd(cmd)) = c.node.as_ref() else {
                    return false;
                };
                match AlterTableType::try_from(cmd.subtype) {
                    Ok(
                        AlterTableType::AtAlterColumnType
                        | AlterTableType::AtSetNotNull
                        | AlterTableType::AtValidateConstraint,
                    ) => true,
                    Ok(AlterTableType::AtAddConstraint) => {
                        match cmd.def.as_deref().and_then(|d| d.node.as_ref()) {
                            Some(NodeEnum::Constraint(k)) => {
                                !k.skip_validation
                                    && k.indexname.is_empty()
                                    && [
                                        ConstrType::ConstrCheck,
                                        ConstrType::ConstrForeign,
                                        ConstrType::ConstrUnique,
                                        ConstrType::ConstrPrimary,
                                        ConstrType::ConstrNotnull,
                                    ]
                                    .iter()
                                    .any(|t| k.contype == *t as i32)
                            }
                            _ => false,
                        }
                    }
                    _ => false,
                }
            }),
            _ => false,
        })
}

/// The rehearsal as a table for people.
pub fn table(rehearsal: &Rehearsal, settings: &Settings) -> String {
    use crate::hazard::human_size;
    let mut out = String::new();
    let sampled: Vec<String> = rehearsal
        .tables
        .iter()
        .filter(|t| t.sampled)
        .map(|t| {
            format!(
                "{} ({} of about {} rows)",
                t.table,
                crate::hazard::group_digits(t.copied),
                crate::hazard::group_digits(t.rows)
            )
        })
        .collect();
    out.push_str(&format!(
        "Rehearsed on a copy: {} tables, {} sampled{}; {} rows copied in all.\n",
        rehearsal.tables.len(),
        sampled.len(),
        match sampled.is_empty() {
            true => String::new(),
            false => format!(" ({})", sampled.join(", ")),
        },
        crate::hazard::group_digits(rehearsal.tables.iter().map(|t| t.copied).sum())
    ));
    out.push_str(
        "step  statement                                           lock                     \
         held (copy)  held (est.)  took (copy)  took (est.)  rewrite  WAL (est.)  scaled\n",
    );
    let mut part = "";
    for r in &rehearsal.steps {
        if r.part != part {
            part = &r.part;
            if !part.is_empty() && part != PLAN {
                out.push_str(&format!("-- {part}\n"));
            }
        }
        out.push_str(&format!(
            "{:>4}  {:<50}  {:<23}  {:>11}  {:>11}  {:>11}  {:>11}  {:<7}  {:>10}  {}{}\n",
            r.step,
            clip(&r.statement, 50),
            r.lock.unwrap_or("-"),
            ms(r.held_ms),
            ms(r.held_estimate_ms),
            ms(r.ms),
            ms(r.estimate_ms),
            if r.rewrote { "yes" } else { "no" },
            human_size(r.wal_estimate),
            match r.scaled_by {
                Some(f) => format!("x{f:.1} by rows"),
                None => "as measured (catalog only)".to_string(),
            },
            if r.flagged {
                format!(
                    "  <- holds {} longer than rehearse.max_lock ({})",
                    r.lock.unwrap_or_default(),
                    ms(settings.max_lock.as_secs_f64() * 1000.0)
                )
            } else {
                String::new()
            }
        ));
    }
    out
}

/// The rehearsal as a Markdown table, for a pull request comment.
pub fn markdown(rehearsal: &Rehearsal, settings: &Settings) -> String {
    let cell = |text: &str| text.replace('|', "\\|");
    let mut out = String::from("### Rehearsal on a copy with sampled rows\n\n");
    for t in &rehearsal.tables {
        if t.sampled {
            out.push_str(&format!(
                "- `{}`: {} of about {} rows copied\n",
                t.table,
                crate::hazard::group_digits(t.copied),
                crate::hazard::group_digits(t.rows)
            ));
        }
    }
    out.push_str(
        "\n| where | statement | lock | held (copy) | held (est.) | took (copy) | took (est.) \
         | rewrite | WAL (est.) | scaled |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rehearsal.steps {
        let held = match r.flagged {
            true => format!(
                "**{}** (over rehearse.max_lock, {})",
                ms(r.held_estimate_ms),
                ms(settings.max_lock.as_secs_f64() * 1000.0)
            ),
            false => ms(r.held_estimate_ms),
        };
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {held} | {} | {} | {} | {} | {} |\n",
            cell(&r.at),
            cell(&clip(&r.statement, 80)),
            r.lock.unwrap_or("-"),
            ms(r.held_ms),
            ms(r.ms),
            ms(r.estimate_ms),
            if r.rewrote { "yes" } else { "no" },
            crate::hazard::human_size(r.wal_estimate),
            match r.scaled_by {
                Some(f) => format!("x{f:.1} by rows"),
                None => "as measured".to_string(),
            }
        ));
    }
    out
}

/// The first line of `sql`'s code (after its comments).
fn first_line(sql: &str) -> String {
    let code = &sql[crate::parse::code_start(sql)..];
    code.lines().next().unwrap_or_default().trim().to_string()
}

/// A duration in ms as people read it.
pub fn ms(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// `text`, cut to `n` characters.
fn clip(text: &str, n: usize) -> String {
    match text.chars().count() > n {
        true => format!("{}…", text.chars().take(n - 1).collect::<String>()),
        false => text.to_string(),
    }
}
