//! Batched backfills: an `UPDATE` that a migration file marks with a
//! `-- stratum:backfill` line runs as many short transactions, each over
//! the next rows in the order of the table's primary key (keyset batches:
//! `(key) > (last) AND (key) <= (bound)`), with the short `lock_timeout`
//! and its retries, a pause between batches, and a pause while a standby
//! lags or the server is busier than the user allows (more active
//! sessions than `backfill.max_active_sessions`, as gh-ost's `--max-load`
//! counts running threads). Each batch's transaction records how far it got (through
//! [`super::Record::progress`]), so an interrupted backfill, even a killed
//! one, resumes after its last committed batch and updates no row twice.
//!
//! The `UPDATE` keeps its meaning: its `WHERE` (if any) is ANDed with the
//! batch's key range in its parse tree, and the tree printed again. Rows
//! inserted behind the range already done are not visited; a backfill for
//! a live table relies on the application (or a trigger) writing new rows
//! in the new shape, as expand / contract does.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use pg_query::protobuf::{self, node::Node as N, BoolExprType};
use serde::{Deserialize, Serialize};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::Timeouts;
use crate::sql::{ident, literal, QualName};
use crate::ui;

/// The line that makes the next statement a batched backfill; options
/// follow it: `-- stratum:backfill batch_size=5000 pause=100ms`.
pub const MARKER: &str = "-- stratum:backfill";

/// How backfills pace themselves (`backfill:` in stratum.yaml), unless a
/// marker line says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pace {
    /// Rows per batch [5000].
    pub batch_size: u64,
    /// Pause after each batch [0].
    pub pause: Duration,
    /// Pause while a standby's replay is more than this many bytes of WAL
    /// behind the primary [64MB]; None: never.
    pub max_replication_lag: Option<u64>,
    /// Pause while more than this many other client sessions are active
    /// (running a statement, or waiting in one) [none].
    pub max_active_sessions: Option<u64>,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace {
            batch_size: 5000,
            pause: Duration::ZERO,
            max_replication_lag: Some(64 << 20),
            max_active_sessions: None,
        }
    }
}

impl Pace {
    /// Parses a size as `stratum.yaml` writes it: `512kB`, `64MB`, `1GB`,
    /// or `0` for no limit.
    pub fn parse_size(text: &str) -> Result<Option<u64>> {
        let text = text.trim();
        if text == "0" {
            return Ok(None);
        }
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| anyhow!("{text:?}: give a unit (kB, MB, GB), or 0 for no limit"))?;
        let (number, unit) = text.split_at(split);
        let n: u64 = number
            .parse()
            .map_err(|_| anyhow!("{text:?} is not a size (512kB, 64MB, 1GB, or 0)"))?;
        let shift = match unit {
            "B" => 0,
            "kB" | "KB" => 10,
            "MB" => 20,
            "GB" => 30,
            _ => bail!("{text:?}: the unit is one of B, kB, MB, GB"),
        };
        Ok(Some(n << shift).filter(|n| *n > 0))
    }
}

/// A backfill step: what its marker line set, and where it resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backfill {
    /// The table the `UPDATE` writes, as its statement names it.
    pub table: String,
    /// Rows per batch, when the marker line sets it.
    pub batch_size: Option<u64>,
    /// Pause after each batch in milliseconds, when the marker sets it.
    pub pause_ms: Option<u64>,
    /// How far an earlier run got; None to start at the beginning.
    #[serde(default)]
    pub resume: Option<Position>,
}

/// How far a backfill got: the key of the last row its committed batches
/// covered, and what they did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The last key covered, as text, one value per key column.
    pub after: Vec<String>,
    /// Rows updated so far.
    pub rows: u64,
    /// Batches committed so far.
    pub batches: u64,
}

impl Backfill {
    /// The backfill of `sql`, a statement after a marker line whose
    /// options are `options`; an error says what is wrong with either.
    pub fn new(sql: &str, options: &str) -> Result<Backfill, String> {
        let update = update_of(sql)?;
        let relation = update
            .relation
            .as_ref()
            .ok_or("an UPDATE names its table")?;
        let mut backfill = Backfill {
            table: relation_name(relation),
            batch_size: None,
            pause_ms: None,
            resume: None,
        };
        for option in options.split_whitespace() {
            let (key, value) = option.split_once('=').ok_or_else(|| {
                format!("{option:?}: options are batch_size=N and pause=DURATION")
            })?;
            match key {
                "batch_size" => {
                    let n: u64 = value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("batch_size={value}: give a number of rows"))?;
                    backfill.batch_size = Some(n);
                }
                "pause" => {
                    let pause = Timeouts::parse_duration(value)
                        .map_err(|e| format!("pause={value}: {e}"))?;
                    backfill.pause_ms = Some(pause.map_or(0, |d| d.as_millis() as u64));
                }
                _ => {
                    return Err(format!(
                        "{key:?} is not a backfill option (batch_size, pause)"
                    ))
                }
            }
        }
        Ok(backfill)
    }
}

/// The `UPDATE` of `sql`, refused when a batched run would change its
/// meaning or cannot say how far it got.
fn update_of(sql: &str) -> Result<protobuf::UpdateStmt, String> {
    let Some(N::UpdateStmt(update)) = crate::parse::first_statement(sql) else {
        return Err(format!(
            "{MARKER} marks an UPDATE (of one table, by its primary key)"
        ));
    };
    if update.returning_clause.is_some() {
        return Err("a backfill's UPDATE has no RETURNING: its batches return nothing".into());
    }
    if update.with_clause.is_some() {
        return Err(
            "a backfill's UPDATE has no WITH: each batch would run it again over its range".into(),
        );
    }
    Ok(*update)
}

/// The table a RangeVar names, as SQL text.
fn relation_name(r: &protobuf::RangeVar) -> String {
    if r.schemaname.is_empty() {
        ident(&r.relname)
    } else {
        QualName::new(&r.schemaname, &r.relname).to_string()
    }
}

/// The key a backfill walks: the table's primary key, or else its
/// smallest unique index over NOT NULL columns without expressions or
/// predicate; each column with its type.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    columns: Vec<(String, String)>,
}

impl Key {
    /// Reads the key of `table`.
    async fn of(client: &Client, table: &str) -> Result<Key> {
        let rows = client
            .query(
                "WITH i AS (
                   SELECT i.indexrelid, i.indkey FROM pg_catalog.pg_index i
                   WHERE i.indrelid = pg_catalog.to_regclass($1) AND i.indisunique AND i.indisvalid
                     AND i.indpred IS NULL AND NOT 0 = ANY (i.indkey::int2[])
                     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                       WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
                         AND NOT a.attnotnull)
                   ORDER BY i.indisprimary DESC, pg_catalog.array_length(i.indkey::int2[], 1),
                            i.indexrelid
                   LIMIT 1)
                 SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod)
                 FROM i, pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_catalog.pg_attribute a
                   ON a.attrelid = pg_catalog.to_regclass($1) AND a.attnum = k.attnum
                 ORDER BY k.n",
                &[&table],
            )
            .await?;
        if rows.is_empty() {
            let exists: bool = client
                .query_one("SELECT pg_catalog.to_regclass($1) IS NOT NULL", &[&table])
                .await?
                .get(0);
            if !exists {
                bail!("the backfill's table {table} does not exist");
            }
            bail!(
                "the backfill's table {table} has no primary key (nor a unique index over NOT \
                 NULL columns) to walk in batches"
            );
        }
        Ok(Key {
            columns: rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
        })
    }

    /// The key columns, qualified by `by` when given.
    fn names(&self, by: Option<&str>) -> String {
        let names: Vec<String> = self
            .columns
            .iter()
            .map(|(c, _)| match by {
                Some(q) => format!("{q}.{}", ident(c)),
                None => ident(c),
            })
            .collect();
        match names.as_slice() {
            [one] => one.clone(),
            _ => format!("ROW({})", names.join(", ")),
        }
    }

    /// `values` (as text) as a key to compare with.
    fn value(&self, values: &[String]) -> String {
        let values: Vec<String> = self
            .columns
            .iter()
            .zip(values)
            .map(|((_, ty), v)| format!("{}::{ty}", literal(v)))
            .collect();
        match values.as_slice() {
            [one] => one.clone(),
            _ => format!("ROW({})", values.join(", ")),
        }
    }

    /// The query for the key of the last row of the batch after `after`
    /// (none when fewer rows are left).
    fn bound(&self, table: &str, after: &[String], size: u64) -> String {
        let text: Vec<String> = self
            .columns
            .iter()
            .enumerate()
            // Named apart: ORDER BY a name of the output would sort text.
            .map(|(i, (c, _))| format!("{}::text AS stratum_key_{i}", ident(c)))
            .collect();
        let order: Vec<String> = self.columns.iter().map(|(c, _)| ident(c)).collect();
        format!(
            "SELECT {} FROM {table} WHERE {} ORDER BY {} LIMIT 1 OFFSET {}",
            text.join(", "),
            self.range(None, after, None),
            order.join(", "),
            size.saturating_sub(1)
        )
    }

    /// The condition that keeps a batch's rows: after `after`, up to
    /// `upto`, on columns qualified by `by`.
    fn range(&self, by: Option<&str>, after: &[String], upto: Option<&[String]>) -> String {
        let key = self.names(by);
        let mut parts = Vec::new();
        if !after.is_empty() {
            parts.push(format!("{key} > {}", self.value(after)));
        }
        if let Some(upto) = upto {
            parts.push(format!("{key} <= {}", self.value(upto)));
        }
        match parts.is_empty() {
            true => "true".to_string(),
            false => parts.join(" AND "),
        }
    }
}

/// The backfill's statement, restricted to the rows of one batch.
fn batch_sql(sql: &str, key: &Key, after: &[String], upto: Option<&[String]>) -> Result<String> {
    update_of(sql).map_err(|e| anyhow!(e))?;
    let mut tree = pg_query::parse(sql, 0)?.protobuf;
    let Some(N::UpdateStmt(update)) = tree
        .stmts
        .first_mut()
        .and_then(|s| s.stmt.as_mut())
        .and_then(|s| s.node.as_mut())
    else {
        bail!("not an UPDATE");
    };
    let relation = update
        .relation
        .as_ref()
        .ok_or_else(|| anyhow!("an UPDATE names its table"))?;
    // Columns are qualified by the name the statement gives its table, so
    // that a FROM list's columns of the same name do not shadow them.
    let by = match &relation.alias {
        Some(alias) => ident(&alias.aliasname),
        None => ident(&relation.relname),
    };
    let range = key.range(Some(&by), after, upto);
    let Some(N::SelectStmt(select)) =
        crate::parse::first_statement(&format!("SELECT WHERE {range}"))
    else {
        bail!("the batch condition {range} did not parse");
    };
    let range = select
        .where_clause
        .ok_or_else(|| anyhow!("the batch condition {range} did not parse"))?;
    update.where_clause = Some(Box::new(match update.where_clause.take() {
        None => *range,
        Some(own) => protobuf::Node {
            node: Some(N::BoolExpr(Box::new(protobuf::BoolExpr {
                xpr: None,
                boolop: BoolExprType::AndExpr as i32,
                args: vec![*own, *range],
                location: -1,
            }))),
        },
    }));
    tree.stmts.truncate(1);
    Ok(pg_query::deparse(&tree, Default::default())?)
}

/// SQL that records a backfill's position in the history.
pub type PositionSql<'a> = dyn Fn(&Position) -> String + 'a;

/// Why a backfill stopped.
pub enum Stopped {
    /// The server refused a batch (after the retries a lock timeout gets).
    Failed {
        /// The server's error.
        error: tokio_postgres::Error,
        /// How far it got.
        at: Position,
        /// Tries of the last batch after the first.
        retries: u32,
    },
    /// A signal came between two batches, or cancelled one.
    Interrupted {
        /// How far it got.
        at: Position,
    },
    /// It could not start: the table or its key is missing, or its
    /// statement cannot be restricted to a batch.
    Refused(anyhow::Error),
}

/// Runs backfill `backfill` of statement `sql` on `client` (outside a
/// transaction), batch by batch; `record` gives the SQL that records a
/// position in the history, run in each batch's transaction. Says on
/// stderr how it goes: a bar on a terminal, a line a minute elsewhere.
pub async fn run(
    client: &Client,
    url: Option<&str>,
    sql: &str,
    backfill: &Backfill,
    timeouts: &Timeouts,
    record: Option<&PositionSql<'_>>,
) -> Result<Position, Stopped> {
    let pace = &timeouts.backfill;
    let batch_size = backfill.batch_size.unwrap_or(pace.batch_size);
    let pause = backfill.pause_ms.map_or(pace.pause, Duration::from_millis);
    let key = Key::of(client, &backfill.table)
        .await
        .map_err(Stopped::Refused)?;
    // Checked once before any batch runs: the statement must take a range.
    batch_sql(sql, &key, &[], None).map_err(Stopped::Refused)?;
    let mut at = backfill.resume.clone().unwrap_or_default();
    let estimate = estimate(client, &backfill.table).await;
    let mut report = Report::new(&backfill.table, estimate, &at);
    let local = timeouts.sql(false).replace("SET ", "SET LOCAL ");
    let mut throttle = Throttle::new(pace);
    loop {
        if crate::interrupt::requested() {
            return Err(Stopped::Interrupted { at });
        }
        throttle.wait(client, &backfill.table).await;
        if crate::interrupt::requested() {
            return Err(Stopped::Interrupted { at });
        }
        let mut retries = 0;
        let (upto, rows) = loop {
            let bound = key.bound(&backfill.table, &at.after, batch_size);
            let batch = one_batch(client, url, sql, &key, &local, &bound, &at, record).await;
            match batch {
                Ok(done) => break done,
                Err(e)
                    if e.code() == Some(&SqlState::QUERY_CANCELED)
                        && crate::interrupt::requested() =>
                {
                    return Err(Stopped::Interrupted { at })
                }
                Err(error) => {
                    let lock = error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE);
                    if !lock || retries >= timeouts.retries || crate::interrupt::requested() {
                        return Err(Stopped::Failed { error, at, retries });
                    }
                    retries += 1;
                    let wait = Timeouts::backoff(retries);
                    ui::print_err(&format!(
                        "backfill of {}: a batch timed out waiting for a lock; rolled back, \
                         trying again in {:.1} s (try {} of {})\n",
                        backfill.table,
                        wait.as_secs_f64(),
                        retries + 1,
                        timeouts.retries + 1
                    ));
                    crate::interrupt::sleep(wait).await;
                    if crate::interrupt::requested() {
                        return Err(Stopped::Interrupted { at });
                    }
                }
            }
        };
        at.rows += rows;
        at.batches += 1;
        let last = upto.is_none();
        if let Some(upto) = upto {
            at.after = upto;
        }
        report.batch(&at);
        if last {
            report.finish(&at);
            return Ok(at);
        }
        if !pause.is_zero() {
            crate::interrupt::sleep(pause).await;
        }
    }
}

/// One batch in its own transaction: its upper bound (None when it is
/// the last), the rows it updated, and the history record of where it
/// got. Rolled back on failure.
#[allow(clippy::too_many_arguments)]
async fn one_batch(
    client: &Client,
    url: Option<&str>,
    sql: &str,
    key: &Key,
    local: &str,
    bound: &str,
    at: &Position,
    record: Option<&PositionSql<'_>>,
) -> Result<(Option<Vec<String>>, u64), tokio_postgres::Error> {
    client.batch_execute("BEGIN").await?;
    let work = async {
        client.batch_execute(local).await?;
        let upto: Option<Vec<String>> = client.query_opt(bound, &[]).await?.map(|r| {
            (0..key.columns.len())
                .map(|i| r.get::<_, String>(i))
                .collect()
        });
        let update = batch_sql(sql, key, &at.after, upto.as_deref())
            .expect("checked before the first batch");
        let rows = client.execute(update.as_str(), &[]).await?;
        if let Some(record) = record {
            let next = Position {
                after: upto.clone().unwrap_or_else(|| at.after.clone()),
                rows: at.rows + rows,
                batches: at.batches + 1,
            };
            client.batch_execute(&record(&next)).await?;
        }
        client.batch_execute("COMMIT").await?;
        Ok((upto, rows))
    };
    let outcome = crate::interrupt::cancellable(client, url, work).await;
    if outcome.is_err() {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    outcome
}

/// The table's row estimate (`reltuples`), for progress; None when it
/// was never analysed.
async fn estimate(client: &Client, table: &str) -> Option<u64> {
    client
        .query_one(
            "SELECT c.reltuples::float8 FROM pg_catalog.pg_class c \
             WHERE c.oid = pg_catalog.to_regclass($1)",
            &[&table],
        )
        .await
        .ok()
        .map(|r| r.get::<_, f64>(0))
        .filter(|n| *n >= 0.0)
        .map(|n| n as u64)
}

/// Pauses while a standby replays too far behind the primary, or while
/// the server has more active sessions than allowed.
struct Throttle {
    lag_limit: Option<u64>,
    sessions_limit: Option<u64>,
    /// Said once that a standby's lag cannot be read.
    blind_lag: bool,
    /// Said once that other roles' sessions cannot be seen.
    blind_sessions: bool,
}

impl Throttle {
    fn new(pace: &Pace) -> Throttle {
        Throttle {
            lag_limit: pace.max_replication_lag,
            sessions_limit: pace.max_active_sessions,
            blind_lag: false,
            blind_sessions: false,
        }
    }

    /// The standby furthest behind (its name and bytes of WAL it has not
    /// replayed), when one is above the limit; None otherwise. A standby
    /// whose position the role may not read is said once.
    async fn behind(&mut self, client: &Client, limit: u64) -> Option<(String, u64)> {
        let rows = client
            .query(
                "SELECT coalesce(nullif(application_name, ''), client_addr::text, pid::text),
                        pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), replay_lsn)::float8
                 FROM pg_catalog.pg_stat_replication",
                &[],
            )
            .await
            .ok()?;
        let mut worst: Option<(String, u64)> = None;
        for row in rows {
            let name: String = row.get(0);
            match row.get::<_, Option<f64>>(1) {
                None => {
                    if !self.blind_lag {
                        self.blind_lag = true;
                        ui::print_err(&format!(
                            "backfill: cannot read how far standby {name} lags (its replay \
                             position is hidden from this role; grant it pg_monitor), so the \
                             backfill does not wait for it\n"
                        ));
                    }
                }
                Some(bytes) if bytes as u64 > limit => {
                    if worst.as_ref().is_none_or(|(_, w)| *w < bytes as u64) {
                        worst = Some((name, bytes as u64));
                    }
                }
                Some(_) => {}
            }
        }
        worst
    }

    /// The client sessions other than this one running a statement (or
    /// waiting in one), when more than the limit; None otherwise. Sessions
    /// of other roles whose state the role may not see are said once.
    async fn busy(&mut self, client: &Client, limit: u64) -> Option<u64> {
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE state = 'active')::int8, \
                        count(*) FILTER (WHERE state IS NULL)::int8 \
                 FROM pg_catalog.pg_stat_activity \
                 WHERE backend_type = 'client backend' AND pid <> pg_catalog.pg_backend_pid()",
                &[],
            )
            .await
            .ok()?;
        let (active, hidden): (i64, i64) = (row.get(0), row.get(1));
        if hidden > 0 && !self.blind_sessions {
            self.blind_sessions = true;
            ui::print_err(&format!(
                "backfill: cannot see whether {hidden} sessions of other roles are active \
                 (grant this role pg_monitor); they are not counted against \
                 backfill.max_active_sessions\n"
            ));
        }
        (active as u64 > limit).then_some(active as u64)
    }

    /// Why the backfill should wait now, if it should: which limit, and
    /// what is over it.
    async fn reason(&mut self, client: &Client) -> Option<(Limit, String)> {
        if let Some(limit) = self.lag_limit {
            if let Some((standby, bytes)) = self.behind(client, limit).await {
                let why = format!(
                    "standby {standby} is {} behind (more than {})",
                    crate::hazard::human_size(bytes as i64),
                    crate::hazard::human_size(limit as i64)
                );
                return Some((Limit::Lag, why));
            }
        }
        if let Some(limit) = self.sessions_limit {
            if let Some(active) = self.busy(client, limit).await {
                let why = format!(
                    "{active} other sessions are active (more than \
                     backfill.max_active_sessions, {limit})"
                );
                return Some((Limit::Sessions, why));
            }
        }
        None
    }

    /// Waits (saying so, and when it goes on) while a standby lags or the
    /// server is busy.
    async fn wait(&mut self, client: &Client, table: &str) {
        let Some((mut limit, why)) = self.reason(client).await else {
            return;
        };
        let started = Instant::now();
        ui::print_err(&format!("backfill of {table}: paused, {why}\n"));
        loop {
            crate::interrupt::sleep(Duration::from_millis(500)).await;
            if crate::interrupt::requested() {
                return;
            }
            match self.reason(client).await {
                None => break,
                // Said again only when the other limit holds it now.
                Some((other, why)) if other != limit => {
                    ui::print_err(&format!("backfill of {table}: still paused, {why}\n"));
                    limit = other;
                }
                Some(_) => {}
            }
        }
        let what = match limit {
            Limit::Lag => "standbys caught up",
            Limit::Sessions => "active sessions within the limit",
        };
        ui::print_err(&format!(
            "backfill of {table}: {what} after {:.1} s; going on\n",
            started.elapsed().as_secs_f64()
        ));
    }
}

/// What a backfill waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// A standby's replay lag.
    Lag,
    /// The server's active sessions.
    Sessions,
}

/// What a backfill says while it runs: a bar (rows, rows/s, time left) on
/// a terminal, a line a minute elsewhere, and a last line when it ends.
struct Report {
    table: String,
    bar: ui::Progress,
    started: Instant,
    last_line: Instant,
    rows_at_start: u64,
    estimate: Option<u64>,
}

impl Report {
    fn new(table: &str, estimate: Option<u64>, at: &Position) -> Report {
        let bar = ui::Progress::rows(estimate.unwrap_or(0), &format!("backfill {table}"));
        bar.inc_by(at.rows);
        if at.batches > 0 {
            ui::print_err(&format!(
                "backfill of {table}: resuming after {} batches ({} rows), after key {}\n",
                at.batches,
                at.rows,
                at.after.join(", ")
            ));
        }
        Report {
            table: table.to_string(),
            bar,
            started: Instant::now(),
            last_line: Instant::now(),
            rows_at_start: at.rows,
            estimate,
        }
    }

    fn batch(&mut self, at: &Position) {
        self.bar.set_position(at.rows);
        if !self.bar.on_terminal() && self.last_line.elapsed() >= Duration::from_secs(60) {
            self.last_line = Instant::now();
            let rate = self.rate(at);
            let of = match self.estimate {
                Some(n) if n > at.rows => {
                    let left = (n - at.rows) as f64 / rate.max(1.0);
                    format!(" of about {n} (about {left:.0} s left)")
                }
                _ => String::new(),
            };
            ui::print_err(&format!(
                "backfill of {}: {} rows{of}, {rate:.0} rows/s\n",
                self.table, at.rows
            ));
        }
    }

    fn rate(&self, at: &Position) -> f64 {
        (at.rows - self.rows_at_start) as f64 / self.started.elapsed().as_secs_f64().max(0.001)
    }

    fn finish(&self, at: &Position) {
        self.bar.finish();
        ui::print_err(&format!(
            "backfilled {}: {} rows in {} batches ({:.1} s, {:.0} rows/s)\n",
            self.table,
            at.rows,
            at.batches,
            self.started.elapsed().as_secs_f64(),
            self.rate(at)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(columns: &[(&str, &str)]) -> Key {
        Key {
            columns: columns
                .iter()
                .map(|(c, t)| (c.to_string(), t.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_batch_keeps_the_statements_own_condition() {
        let k = key(&[("id", "bigint")]);
        let sql = "UPDATE app.users SET b = a WHERE b IS NULL OR b <> a";
        assert_eq!(
            batch_sql(sql, &k, &["10".into()], Some(&["20".into()])).unwrap(),
            "UPDATE app.users SET b = a WHERE (b IS NULL OR b <> a) AND (users.id > '10'::bigint \
             AND users.id <= '20'::bigint)"
        );
        assert_eq!(
            batch_sql("UPDATE t AS x SET b = 1", &k, &[], Some(&["5".into()])).unwrap(),
            "UPDATE t x SET b = 1 WHERE x.id <= '5'::bigint"
        );
    }

    #[test]
    fn a_composite_key_compares_rows() {
        let k = key(&[("tenant", "integer"), ("Id", "uuid")]);
        assert_eq!(
            k.range(None, &["1".into(), "a".into()], None),
            "ROW(tenant, \"Id\") > ROW('1'::integer, 'a'::uuid)"
        );
    }

    #[test]
    fn markers_take_known_options_and_an_update() {
        let b = Backfill::new("UPDATE app.t SET x = 1", "batch_size=100 pause=50ms").unwrap();
        assert_eq!(
            (b.table.as_str(), b.batch_size, b.pause_ms),
            ("app.t", Some(100), Some(50))
        );
        assert!(Backfill::new("DELETE FROM t", "").is_err());
        assert!(Backfill::new("UPDATE t SET x = 1 RETURNING x", "").is_err());
        assert!(Backfill::new("UPDATE t SET x = 1", "size=3").is_err());
        assert!(Backfill::new("UPDATE t SET x = 1", "batch_size=0").is_err());
    }

    #[test]
    fn sizes_parse_with_their_unit() {
        assert_eq!(Pace::parse_size("64MB").unwrap(), Some(64 << 20));
        assert_eq!(Pace::parse_size("0").unwrap(), None);
        assert!(Pace::parse_size("12").is_err());
    }
}
