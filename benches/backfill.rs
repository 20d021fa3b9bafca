//! Backfill benchmark: a batched backfill (`-- stratum:backfill`, run by
//! `stratum migrate`, the release binary) beside the yardstick it replaces,
//! one `UPDATE` of the same rows, measured in the same run on two
//! identical tables; for each, a writer updating random rows of its table
//! the whole time, and the longest any of its statements waited.
//!
//! Run with `cargo bench --bench backfill` (1 000 000 and 10 000 000 rows),
//! or `cargo bench --bench backfill -- --rows 1000000`, with nothing else
//! running.

mod common;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stratum::conninfo;
use stratum::scratch::find_binaries;

/// The sizes to run: `--rows 1000000,10000000`, else both of those.
fn sizes() -> Vec<i64> {
    common::numbers("--rows", &[1_000_000, 10_000_000])
}

/// Updates random rows of `table` (of `rows`) until `stop`: statements
/// run, and the longest one took (its wait for row locks, mostly).
async fn writer(
    url: String,
    table: &'static str,
    rows: i64,
    stop: Arc<AtomicBool>,
) -> (u64, Duration) {
    let client = conninfo::connect_url(&url).await.unwrap();
    let sql = format!("UPDATE {table} SET note = note + 1 WHERE id = $1");
    let statement = client.prepare(&sql).await.unwrap();
    let (mut n, mut longest) = (0u64, Duration::ZERO);
    let mut id: i64 = 1;
    while !stop.load(Ordering::SeqCst) {
        id = (id * 7919 + 13) % rows + 1;
        let start = Instant::now();
        client.execute(&statement, &[&id]).await.unwrap();
        longest = longest.max(start.elapsed());
        n += 1;
    }
    (n, longest)
}

/// Runs `work` beside a writer on `table`: its time, the writer's
/// statements and its longest wait.
async fn beside_writer<F: std::future::Future<Output = ()>>(
    url: &str,
    table: &'static str,
    rows: i64,
    work: F,
) -> (Duration, u64, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let writing = tokio::spawn(writer(url.to_string(), table, rows, stop.clone()));
    let start = Instant::now();
    work.await;
    let took = start.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (n, longest) = writing.await.unwrap();
    (took, n, longest)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let bins = find_binaries(None).expect("the benchmark needs PostgreSQL server binaries");
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_stratum"));
    println!(
        "stratum backfill benchmark, PostgreSQL {}: batches of 5000 rows (the default)\n",
        bins.version
    );
    println!(
        "| rows | one UPDATE (s) | rows/s | writer's longest wait | backfill (s) | rows/s | \
         writer's longest wait | ratio |\n|---|---|---|---|---|---|---|---|"
    );
    for rows in sizes() {
        let (_cluster, url, db) = common::bench_database(&bins).await;
        for table in ["single", "batched"] {
            db.batch_execute(&format!(
                "CREATE TABLE {table} (id bigint PRIMARY KEY, a int NOT NULL, b int, \
                   note int NOT NULL DEFAULT 0);
                 INSERT INTO {table} (id, a) SELECT g, g % 1000 FROM generate_series(1, {rows}) g;"
            ))
            .await
            .unwrap();
            db.batch_execute(&format!("VACUUM ANALYZE {table}"))
                .await
                .unwrap();
        }
        db.batch_execute("CHECKPOINT").await.unwrap();

        let update = db.batch_execute("UPDATE single SET b = a * 2 WHERE b IS NULL");
        let (single, _, single_wait) = beside_writer(&url, "single", rows, async {
            update.await.unwrap();
        })
        .await;
        db.batch_execute("CHECKPOINT").await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("migrations")).unwrap();
        std::fs::create_dir_all(dir.path().join("schema")).unwrap();
        std::fs::write(
            dir.path().join("migrations/20260101000000_fill.sql"),
            "-- stratum:backfill\nUPDATE batched SET b = a * 2 WHERE b IS NULL;\n",
        )
        .unwrap();
        let mut migrate = tokio::process::Command::new(&exe);
        migrate
            .args(["migrate", "--db", &url])
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let (batched, _, batched_wait) = beside_writer(&url, "batched", rows, async {
            let out = migrate.output().await.unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        })
        .await;
        let left: i64 = db
            .query_one("SELECT count(*) FROM batched WHERE b IS NULL", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(left, 0, "the backfill left rows");
        let rate = |d: Duration| rows as f64 / d.as_secs_f64();
        println!(
            "| {rows} | {:.1} | {:.0} | {:.3} s | {:.1} | {:.0} | {:.3} s | {:.2} x |",
            single.as_secs_f64(),
            rate(single),
            single_wait.as_secs_f64(),
            batched.as_secs_f64(),
            rate(batched),
            batched_wait.as_secs_f64(),
            batched.as_secs_f64() / single.as_secs_f64()
        );
    }
}
