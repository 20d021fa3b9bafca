//! What a rehearsal asks of the executor: each step's wall time, the WAL
//! position after it and its table's storage, recorded as the script runs.

use std::time::Instant;

use tokio_postgres::Client;

use super::Script;

/// Where a rehearsed run records each step's measurements.
pub type Measured = std::sync::Arc<std::sync::Mutex<Vec<Measure>>>;

/// What one step took, as a rehearsal measures it.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    /// The step.
    pub step: usize,
    /// Its statement's wall time.
    pub elapsed: std::time::Duration,
    /// The server's WAL insert position after it (bytes).
    pub wal_after: i64,
    /// Its table's `relfilenode` after it, when it has a table.
    pub filenode_after: Option<u32>,
}

/// The server's WAL insert position, in bytes.
pub async fn wal_position(client: &Client) -> Result<i64, tokio_postgres::Error> {
    let row = client
        .query_one("SELECT (pg_current_wal_insert_lsn() - '0/0')::int8", &[])
        .await?;
    Ok(row.get(0))
}

/// Records step `i`'s measurement when `script` is rehearsed.
pub(super) async fn measure(client: &Client, script: &Script, i: usize, started: Instant) {
    let Some(measured) = &script.measured else {
        return;
    };
    let elapsed = started.elapsed();
    let table = script.steps[i].table.as_deref();
    let row = client
        .query_one(
            "SELECT (pg_current_wal_insert_lsn() - '0/0')::int8, \
             (SELECT c.relfilenode FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE n.nspname || '.' || c.relname = $1::text)",
            &[&table],
        )
        .await;
    // A failure here fails the next statement too, which says why.
    let Ok(row) = row else { return };
    if let Ok(mut all) = measured.lock() {
        all.push(Measure {
            step: i,
            elapsed,
            wal_after: row.get(0),
            filenode_after: row.get(1),
        });
    }
}
