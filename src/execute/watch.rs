//! What a long step is doing while it runs. Once a statement has run a
//! second, a second connection asks the server every second: the lock it
//! waits for and the sessions that hold it (`pg_blocking_pids`), and for
//! an index build or a CLUSTER their own progress
//! (`pg_stat_progress_create_index`, `pg_stat_progress_cluster`). On a
//! terminal it is the detail of the run's progress line; elsewhere a line
//! with the time since the run started, when what it says changes and at
//! least every five seconds.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::ui::{self, Progress};

/// Where a run's statements run and how it shows progress.
pub struct Watch<'a> {
    /// The database, for the observing connection.
    pub url: Option<&'a str>,
    /// The backend pid of the session that runs the statements.
    pub pid: Option<i32>,
    /// The run's progress line.
    pub progress: &'a Progress,
    /// When the run started.
    pub started: Instant,
}

/// What the session of a step is doing, as the server says it.
const STATE: &str = "
SELECT a.wait_event_type, a.wait_event,
       ci.phase AS index_phase, ci.blocks_done, ci.blocks_total, ci.tuples_done, ci.tuples_total,
       cl.phase AS cluster_phase, cl.heap_blks_scanned, cl.heap_blks_total,
       (SELECT pg_catalog.string_agg(pg_catalog.format('pid %s (%s%s, %s for %s s: %s)',
                 b.pid,
                 CASE WHEN b.application_name <> '' THEN pg_catalog.format('%L, ', b.application_name) ELSE '' END,
                 b.usename,
                 b.state,
                 pg_catalog.round(extract(epoch FROM pg_catalog.now() - coalesce(b.xact_start, b.query_start))::numeric, 1),
                 pg_catalog.left(pg_catalog.regexp_replace(b.query, '\\s+', ' ', 'g'), 60)), '; ' ORDER BY b.pid)
          FROM pg_catalog.pg_stat_activity b
         WHERE b.pid = ANY (pg_catalog.pg_blocking_pids(a.pid))
           -- A concurrent build waits out every older snapshot, this
           -- observer's own queries' too: not the holder worth naming.
           AND b.pid <> pg_catalog.pg_backend_pid()) AS blockers
  FROM pg_catalog.pg_stat_activity a
  LEFT JOIN pg_catalog.pg_stat_progress_create_index ci ON ci.pid = a.pid
  LEFT JOIN pg_catalog.pg_stat_progress_cluster cl ON cl.pid = a.pid
 WHERE a.pid = $1";

/// The state of session `pid` in a few words: what it waits for and who
/// holds it, or how far its index build or CLUSTER is.
async fn state(observer: &Client, pid: i32) -> Option<String> {
    let row = observer.query_opt(STATE, &[&pid]).await.ok()??;
    let text = |name: &str| row.get::<_, Option<String>>(name);
    let number = |name: &str| row.get::<_, Option<i64>>(name).unwrap_or(0);
    if let Some(blockers) = text("blockers") {
        return Some(format!("waiting for a lock held by {blockers}"));
    }
    let share = |done: i64, total: i64, unit: &str| {
        if total > 0 {
            format!(", {}% of {total} {unit}", done * 100 / total)
        } else {
            String::new()
        }
    };
    if let Some(phase) = text("index_phase") {
        let (blocks, tuples) = (number("blocks_total"), number("tuples_total"));
        let done = if blocks > 0 {
            share(number("blocks_done"), blocks, "blocks")
        } else {
            share(number("tuples_done"), tuples, "rows")
        };
        return Some(format!("{phase}{done}"));
    }
    if let Some(phase) = text("cluster_phase") {
        let done = share(
            number("heap_blks_scanned"),
            number("heap_blks_total"),
            "blocks",
        );
        return Some(format!("{phase}{done}"));
    }
    match (text("wait_event_type"), text("wait_event")) {
        (Some(kind), Some(event)) if kind != "Client" => Some(format!("waiting ({kind}: {event})")),
        _ => Some("running".to_string()),
    }
}

impl Watch<'_> {
    /// Runs `work`, the statement of `step` (e.g. `step 4 of 9 (index
    /// app.users_email)`), saying what it does once it has run a second.
    pub async fn run<F: Future>(&self, step: &str, work: F) -> F::Output {
        tokio::pin!(work);
        let at = Instant::now();
        tokio::select! {
            out = &mut work => return out,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let (Some(url), Some(pid)) = (self.url, self.pid) else {
            return work.await;
        };
        let observer = tokio::select! {
            out = &mut work => return out,
            observer = crate::conninfo::connect_url(url) => observer,
        };
        let Ok(observer) = observer else {
            return work.await;
        };
        let terminal = self.progress.on_terminal();
        let mut said: Option<(String, Instant)> = None;
        let out = loop {
            let state = tokio::select! {
                out = &mut work => break out,
                state = state(&observer, pid) => state.unwrap_or_else(|| "running".into()),
            };
            let secs = at.elapsed().as_secs_f64();
            if terminal {
                // What it does first: the line is cut to the terminal.
                self.progress
                    .detail(Some(&format!("{state} ({secs:.0} s) · {step}")));
            } else {
                let line = format!("{step}, {secs:.1} s: {state}");
                // A new line when what it says changes, not its numbers.
                let gist: String = state.chars().filter(|c| !c.is_ascii_digit()).collect();
                let due = match &said {
                    Some((last, when)) => *last != gist || when.elapsed() >= Duration::from_secs(5),
                    None => true,
                };
                if due {
                    ui::print_err(&format!(
                        "[+{:.1}s] {line}\n",
                        self.started.elapsed().as_secs_f64()
                    ));
                    said = Some((gist, Instant::now()));
                }
            }
            tokio::select! {
                out = &mut work => break out,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        };
        if terminal {
            self.progress.detail(None);
        }
        out
    }
}
