//! The migration history table in the user's database, and the advisory
//! lock that serialises concurrent `migrate` runs.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tokio_postgres::Client;

use crate::sql::{ident, literal, QualName};

/// One row of the history table.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// Migration version.
    pub version: String,
    /// Migration name.
    pub name: String,
    /// sha256 of the up script when it was applied.
    pub checksum: String,
    /// When, UTC, `YYYY-MM-DD HH:MM:SS`.
    pub applied_at: String,
    /// How long it ran, in milliseconds.
    pub execution_ms: i64,
    /// Set when the migration ran outside a transaction and stopped
    /// halfway: it is neither applied nor pending until `resolve` says.
    pub failed: Option<Failure>,
}

/// Where a migration that ran outside a transaction stopped.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The statement that failed, 1-based: those before it stay applied.
    pub statement: i32,
    /// The server's message.
    pub error: String,
    /// When that statement is a batched backfill: how far its committed
    /// batches got (`migrate` resumes it there).
    pub progress: Option<crate::execute::backfill::Position>,
}

/// The history table of one project.
#[derive(Debug, Clone)]
pub struct History {
    table: QualName,
}

impl History {
    /// The history kept in `table`.
    pub fn new(table: QualName) -> History {
        History { table }
    }

    /// SQL that creates the table (and its schema) when missing, and adds
    /// the columns later versions added (only then: ALTER TABLE takes an
    /// ACCESS EXCLUSIVE lock that a `status` reading the table would hold
    /// up). It runs with each record, after that migration's own
    /// statements, so a migration may create the history table's schema
    /// itself.
    fn ensure_sql(&self) -> String {
        let schema = if self.table.schema == "public" {
            String::new()
        } else {
            format!(
                "CREATE SCHEMA IF NOT EXISTS {};\n",
                ident(&self.table.schema)
            )
        };
        format!(
            "{schema}CREATE TABLE IF NOT EXISTS {} (
                version text PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                execution_ms bigint NOT NULL,
                status text NOT NULL DEFAULT 'applied',
                failed_statement integer,
                error text,
                repairs jsonb NOT NULL DEFAULT '[]',
                progress jsonb
            );
            DO $stratum$ BEGIN
              IF (SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = {1}::regclass
                    AND attname IN ('status', 'failed_statement', 'error', 'repairs', 'progress')
                    AND NOT attisdropped) < 5 THEN
                ALTER TABLE {0} ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'applied',
                  ADD COLUMN IF NOT EXISTS failed_statement integer,
                  ADD COLUMN IF NOT EXISTS error text,
                  ADD COLUMN IF NOT EXISTS repairs jsonb NOT NULL DEFAULT '[]',
                  ADD COLUMN IF NOT EXISTS progress jsonb;
              END IF;
            END $stratum$;\n",
            self.table,
            literal(&self.table.to_string())
        )
    }

    /// Takes the session-level advisory lock of this history table, waiting
    /// while another run holds it: after a second it says who holds it
    /// (pid, application, state, since when), and after `wait` (None: no
    /// limit) it gives up. Released by [`History::unlock`] or when the
    /// connection closes.
    pub async fn lock(&self, client: &Client, wait: Option<Duration>) -> Result<()> {
        let started = Instant::now();
        let mut said = false;
        loop {
            let got: bool = client
                .query_one(
                    "SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext($1)::bigint)",
                    &[&self.lock_key()],
                )
                .await
                .context("taking the migration lock")?
                .get(0);
            if got {
                return Ok(());
            }
            let waited = started.elapsed();
            if crate::interrupt::requested() {
                bail!("interrupted while waiting for the migration lock; nothing was run");
            }
            if let Some(limit) = wait.filter(|l| waited >= *l) {
                bail!(
                    "gave up waiting for the migration lock after {:.1} s ({}); nothing was run \
                     (timeouts.migration_lock in stratum.yaml sets how long to wait)",
                    limit.as_secs_f64(),
                    self.holder(client).await
                );
            }
            if !said && waited >= Duration::from_secs(1) {
                said = true;
                crate::ui::print_err(&format!(
                    "waiting for the migration lock of {}: {}\n",
                    self.table,
                    self.holder(client).await
                ));
            }
            crate::interrupt::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Who holds the migration lock now, when a run holds it (as
    /// [`History::lock`] names it); None when no run does.
    pub async fn running(&self, client: &Client) -> Option<String> {
        let held: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.locktype = 'advisory' \
                   AND l.granted AND l.objsubid = 1 \
                   AND ((l.classid::bigint << 32) | l.objid::bigint) = pg_catalog.hashtext($1)::bigint)",
                &[&self.lock_key()],
            )
            .await
            .ok()?
            .get(0);
        match held {
            true => Some(self.holder(client).await),
            false => None,
        }
    }

    /// Who holds the migration lock, as a sentence part.
    async fn holder(&self, client: &Client) -> String {
        // An advisory lock on a bigint key shows its high half as classid
        // and its low half as objid.
        let rows = client
            .query(
                "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''), \
                   coalesce(pg_catalog.to_char(a.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '') \
                 FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
                   AND ((l.classid::bigint << 32) | l.objid::bigint) = pg_catalog.hashtext($1)::bigint",
                &[&self.lock_key()],
            )
            .await;
        match rows.as_deref() {
            Ok([row, ..]) => format!(
                "held by pid {} ({}), {}, its query started {} UTC",
                row.get::<_, i32>(0),
                match row.get::<_, String>(1) {
                    a if a.is_empty() => "no application_name".to_string(),
                    a => format!("application_name {a}"),
                },
                match row.get::<_, String>(2) {
                    s if s.is_empty() => "state unknown".to_string(),
                    s => format!("state {s}"),
                },
                row.get::<_, String>(3)
            ),
            Ok([]) => "held by a session this role may not see".to_string(),
            Err(e) => format!("its holder could not be read: {e}"),
        }
    }

    /// Releases the advisory lock.
    pub async fn unlock(&self, client: &Client) -> Result<()> {
        client
            .execute(
                "SELECT pg_catalog.pg_advisory_unlock(pg_catalog.hashtext($1)::bigint)",
                &[&self.lock_key()],
            )
            .await
            .context("releasing the migration lock")?;
        Ok(())
    }

    fn lock_key(&self) -> String {
        format!("stratum migrate {}", self.table)
    }

    /// The applied migrations, oldest first; none when the table is missing.
    pub async fn applied(&self, client: &Client) -> Result<Vec<Applied>> {
        let exists: bool = client
            .query_one(
                "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
                &[&self.table.to_string()],
            )
            .await?
            .get(0);
        if !exists {
            return Ok(Vec::new());
        }
        // Through to_jsonb, so that a table made before the status columns
        // existed reads too.
        let rows = client
            .query(
                &format!(
                    "SELECT version, name, checksum,
                            pg_catalog.to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                            execution_ms,
                            (pg_catalog.to_jsonb(h) ->> 'failed_statement')::integer,
                            pg_catalog.to_jsonb(h) ->> 'error',
                            pg_catalog.to_jsonb(h) ->> 'progress'
                     FROM {} h ORDER BY applied_at, version",
                    self.table
                ),
                &[],
            )
            .await
            .with_context(|| format!("reading the history table {}", self.table))?;
        Ok(rows
            .iter()
            .map(|r| Applied {
                version: r.get(0),
                name: r.get(1),
                checksum: r.get(2),
                applied_at: r.get(3),
                execution_ms: r.get(4),
                failed: r.get::<_, Option<i32>>(5).map(|statement| Failure {
                    statement,
                    error: r.get::<_, Option<String>>(6).unwrap_or_default(),
                    progress: r
                        .get::<_, Option<String>>(7)
                        .and_then(|p| serde_json::from_str(&p).ok()),
                }),
            })
            .collect())
    }

    /// SQL that records a migration as applied (creating the table first
    /// when it is missing); one recorded as stopped in a backfill that
    /// `migrate` resumed becomes applied, with both runs' time.
    pub fn record_sql(&self, version: &str, name: &str, checksum: &str, ms: i64) -> String {
        format!(
            "{}INSERT INTO {} AS h (version, name, checksum, execution_ms) VALUES ({}, {}, {}, {ms})
             ON CONFLICT (version) DO UPDATE SET status = 'applied', applied_at = now(),
                execution_ms = h.execution_ms + excluded.execution_ms, failed_statement = NULL,
                error = NULL, progress = NULL WHERE h.status = 'failed'",
            self.ensure_sql(),
            self.table,
            literal(version),
            literal(name),
            literal(checksum)
        )
    }

    /// SQL that records a migration (or its down file) as failed at
    /// `statement` (1-based), outside a transaction, with what it ran.
    pub fn failed_sql(
        &self,
        version: &str,
        name: &str,
        checksum: &str,
        statement: usize,
        error: &str,
    ) -> String {
        format!(
            "{}INSERT INTO {} AS h (version, name, checksum, execution_ms, status, failed_statement, error) \
             VALUES ({}, {}, {}, 0, 'failed', {statement}, {})
             ON CONFLICT (version) DO UPDATE SET status = 'failed', applied_at = now(),
                progress = CASE WHEN h.failed_statement = excluded.failed_statement
                           THEN h.progress END,
                failed_statement = excluded.failed_statement, error = excluded.error",
            self.ensure_sql(),
            self.table,
            literal(version),
            literal(name),
            literal(checksum),
            literal(error)
        )
    }

    /// SQL that records how far the backfill at `statement` (1-based) of
    /// a migration got: in each batch's transaction, so that the row says
    /// where a killed run stopped. Until the migration ends it reads as
    /// stopped there, which `migrate` resumes.
    pub fn progress_sql(
        &self,
        version: &str,
        name: &str,
        checksum: &str,
        statement: usize,
        at: &crate::execute::backfill::Position,
    ) -> String {
        let progress = serde_json::to_string(at).expect("a position is JSON");
        // The table is made (or given its new columns) with the first
        // batch; a resumed backfill's first batch is not the first.
        let ensure = match at.batches {
            0 | 1 => self.ensure_sql(),
            _ => String::new(),
        };
        format!(
            "{ensure}INSERT INTO {} AS h (version, name, checksum, execution_ms, status, failed_statement, error, progress) \
             VALUES ({}, {}, {}, 0, 'failed', {statement}, 'its run ended during the backfill', {}::jsonb)
             ON CONFLICT (version) DO UPDATE SET status = 'failed', applied_at = now(),
                failed_statement = excluded.failed_statement, error = excluded.error,
                progress = excluded.progress",
            self.table,
            literal(version),
            literal(name),
            literal(checksum),
            literal(&progress)
        )
    }

    /// SQL that marks a failed migration as applied, with the file's
    /// checksum now.
    pub fn resolved_sql(&self, version: &str, checksum: &str) -> String {
        format!(
            "UPDATE {} SET status = 'applied', failed_statement = NULL, error = NULL, progress = NULL, checksum = {} \
             WHERE version = {}",
            self.table,
            literal(checksum),
            literal(version)
        )
    }

    /// SQL that accepts an applied file edited afterwards: its checksum
    /// becomes `new`, and the change (when, the old and the new checksum,
    /// `reason`) is added to the row's `repairs`.
    pub fn repaired_sql(&self, version: &str, old: &str, new: &str, reason: &str) -> String {
        format!(
            "{}UPDATE {} SET checksum = {new}, repairs = repairs || pg_catalog.jsonb_build_object(\
               'at', pg_catalog.to_char(pg_catalog.now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), \
               'from', {old}::text, 'to', {new}::text, 'reason', {reason}::text) \
             WHERE version = {}",
            self.ensure_sql(),
            self.table,
            literal(version),
            new = literal(new),
            old = literal(old),
            reason = literal(reason)
        )
    }

    /// SQL that forgets a migration.
    pub fn remove_sql(&self, version: &str) -> String {
        format!(
            "DELETE FROM {} WHERE version = {}",
            self.table,
            literal(version)
        )
    }
}
