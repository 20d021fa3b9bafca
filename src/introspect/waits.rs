//! A read of a live database that waits for a lock says so: catalog
//! functions such as `pg_get_indexdef` take a table's ACCESS SHARE lock,
//! which an ACCESS EXCLUSIVE holder (a migration, a `LOCK TABLE`) blocks.
//! After two seconds, and each two seconds after, a connection of its own
//! asks which of the read's sessions wait, for which relation, and which
//! sessions hold it; a line says so when that changes.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::conninfo::{self, Target};

/// The relation each of `pids` waits for and who holds it, a phrase each.
const WAITS: &str = "
SELECT pg_catalog.format('waiting for a lock on %s held by %s',
         coalesce((SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
                     FROM pg_catalog.pg_locks l
                     JOIN pg_catalog.pg_class c ON c.oid = l.relation
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                    WHERE l.pid = w.pid AND NOT l.granted LIMIT 1),
                  'an object'),
         (SELECT pg_catalog.string_agg(pg_catalog.format('pid %s (%s%s, %s for %s s: %s)',
                   b.pid,
                   CASE WHEN b.application_name <> '' THEN pg_catalog.format('%L, ', b.application_name) ELSE '' END,
                   b.usename, b.state,
                   pg_catalog.round(extract(epoch FROM pg_catalog.now() - coalesce(b.xact_start, b.query_start))::numeric, 1),
                   pg_catalog.left(pg_catalog.regexp_replace(b.query, '\\s+', ' ', 'g'), 60)), '; ' ORDER BY b.pid)
            FROM pg_catalog.pg_stat_activity b
           WHERE b.pid = ANY (pg_catalog.pg_blocking_pids(w.pid))))
  FROM pg_catalog.pg_stat_activity w
 WHERE w.pid = ANY ($1) AND cardinality(pg_catalog.pg_blocking_pids(w.pid)) > 0
 ORDER BY w.pid
 LIMIT 1";

/// The backend pids of `clients`.
pub async fn pids(clients: &[&Client]) -> Vec<i32> {
    let mut out = Vec::new();
    for c in clients {
        if let Ok(row) = c.query_one("SELECT pg_catalog.pg_backend_pid()", &[]).await {
            out.push(row.get(0));
        }
    }
    out
}

/// Runs `work` (a read over the sessions `pids` of `target`), saying when
/// one of them waits for a lock and who holds it.
pub async fn said<F: Future>(target: &Target, pids: Vec<i32>, work: F) -> F::Output {
    tokio::pin!(work);
    let every = Duration::from_secs(2);
    tokio::select! {
        out = &mut work => return out,
        _ = tokio::time::sleep(every) => {}
    }
    let observer = tokio::select! {
        out = &mut work => return out,
        observer = conninfo::connect_target(target) => observer,
    };
    let Ok(observer) = observer else {
        return work.await;
    };
    let started = Instant::now();
    let mut last: Option<String> = None;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&pids];
    loop {
        let wait = tokio::select! {
            out = &mut work => return out,
            row = observer.query_opt(WAITS, &params) => {
                row.ok().flatten().map(|r| r.get::<_, String>(0))
            }
        };
        if let Some(wait) = wait {
            // A new line when what it waits for changes, not its numbers.
            let gist: String = wait.chars().filter(|c| !c.is_ascii_digit()).collect();
            if last.as_deref() != Some(gist.as_str()) {
                crate::ui::print_err(&format!(
                    "reading the database's schema, {:.0} s: {wait}\n",
                    (started.elapsed() + every).as_secs_f64()
                ));
                last = Some(gist);
            }
        }
        tokio::select! {
            out = &mut work => return out,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
