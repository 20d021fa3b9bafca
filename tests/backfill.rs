//! Batched backfills as users run them: a migration file's `UPDATE` marked
//! `-- stratum:backfill` runs under `migrate` in keyset batches beside a
//! writer, stops on a signal and on a kill, and resumes where its last
//! committed batch got, updating every row once; its marker is checked
//! before anything runs.

mod common;

use std::time::Duration;

use common::{spawn_in, stratum_in, text, wait_for, TestServer};

/// A project directory with the given migrations (and an empty schema).
fn project(migrations: &[(&str, &str)]) -> tempfile::TempDir {
    common::project_dir("", migrations)
}

/// A project with the init and fill migrations and `config` as its
/// stratum.yaml, the init migration applied to `url`.
fn initialised(url: &str, config: &str) -> tempfile::TempDir {
    let dir = project(&[
        ("20260101000001_init.sql", INIT),
        ("20260101000002_fill.sql", FILL),
    ]);
    let p = dir.path();
    std::fs::write(p.join("stratum.yaml"), config).unwrap();
    let out = stratum_in(p, &["migrate", "--db", url, "--to", "20260101000001"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    dir
}

/// What the writer beside the backfill runs: updates of rows it visits,
/// spread over the table, and new rows written in the new shape.
const WRITES: &[&str] = &[
    "UPDATE t SET note = 'w' WHERE id = ($1::bigint * 7919) % 300000 + 1",
    "INSERT INTO t (id, a, b) VALUES ($1::bigint + 300000, 1, 2)",
];

/// Rows of `t` before the backfill.
const ROWS: i64 = 300_000;

const INIT: &str = "CREATE TABLE t (id bigint PRIMARY KEY, a int NOT NULL, b int, \
                    copies int NOT NULL DEFAULT 0, note text);\n";

const FILL: &str = "ALTER TABLE t ADD COLUMN c text;\n\
                    -- stratum:backfill batch_size=2000 pause=10ms\n\
                    UPDATE t SET b = a * 2, copies = copies + 1 WHERE b IS NULL;\n\
                    ALTER TABLE t ADD CONSTRAINT t_b_set CHECK (b IS NOT NULL) NOT VALID;\n";

/// The backfill's progress in the history: (batches, rows, last key).
async fn progress(db: &tokio_postgres::Client) -> Option<(i64, i64, String)> {
    let row = db
        .query_opt(
            "SELECT (progress->>'batches')::bigint, (progress->>'rows')::bigint, \
                    progress->'after'->>0 \
             FROM stratum_migrations WHERE version = '20260101000002' AND progress IS NOT NULL",
            &[],
        )
        .await
        .ok()??;
    Some((row.get(0), row.get(1), row.get(2)))
}

/// Rows of the first `ROWS` the backfill updated, and those it updated
/// more than once.
async fn copies(db: &tokio_postgres::Client) -> (i64, i64) {
    let row = db
        .query_one(
            "SELECT count(*) FILTER (WHERE copies = 1), count(*) FILTER (WHERE copies > 1) \
             FROM t WHERE id <= $1",
            &[&ROWS],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// A backfill of 300 000 rows in batches of 2 000, with a writer updating
/// the rows it visits and inserting new ones (`lock_timeout = 200ms`)
/// throughout: stopped by SIGINT, then killed, then run to the end. Each
/// stop leaves the batches it committed and says how many; `status` says
/// where it stopped; the next `migrate` resumes after the last committed
/// batch. In the end every row was updated exactly once and the writer saw
/// no error.
#[tokio::test(flavor = "current_thread")]
async fn a_backfill_resumes_after_a_signal_and_a_kill_beside_a_writer() {
    let server = TestServer::start().await;
    let db = server.database("filled").await;
    let url = server.url("filled");
    let dir = project(&[
        ("20260101000001_init.sql", INIT),
        ("20260101000002_fill.sql", FILL),
    ]);
    let p = dir.path();
    let out = stratum_in(p, &["migrate", "--db", &url, "--to", "20260101000001"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    db.batch_execute(&format!(
        "INSERT INTO t (id, a) SELECT g, g % 1000 FROM generate_series(1, {ROWS}) g; ANALYZE t"
    ))
    .await
    .unwrap();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writing = tokio::spawn(common::writer(url.clone(), stop.clone(), WRITES));
    wait_for("the writer", Duration::from_secs(20), || async {
        !common::strings(
            &db,
            "SELECT pid::text FROM pg_stat_activity WHERE application_name = 'writer'",
        )
        .await
        .is_empty()
    })
    .await;

    // SIGINT after a few batches: the batch running is cancelled and
    // rolled back, the committed ones stay and are recorded.
    let run = spawn_in(p, &["migrate", "--db", &url], &[]);
    wait_for("five batches", Duration::from_secs(60), || async {
        progress(&db).await.is_some_and(|(b, _, _)| b >= 5)
    })
    .await;
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    let out = run.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("statement 2 of 3 (a backfill) was interrupted"),
        "{stderr}"
    );
    let (batches, rows, after) = progress(&db).await.expect("progress recorded");
    assert!(
        stderr.contains(&format!(
            "Its {batches} committed batches ({rows} rows, up to key {after}) stay; statement 1 \
             stays applied; it is recorded as stopped at statement 2: `stratum migrate` resumes \
             it there, after the last committed batch."
        )),
        "{stderr}"
    );
    assert_eq!(copies(&db).await, (rows, 0), "{stderr}");
    assert_eq!(rows, batches * 2000);
    let out = stratum_in(p, &["status", "--db", &url], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "stopped in the backfill at statement 2 (interrupted; {batches} batches committed \
             ({rows} rows, up to key {after})); `stratum migrate` resumes it there"
        )),
        "{stdout}"
    );

    // A kill gives no chance to say anything: the last batch's record,
    // committed with it, is where the next run starts.
    let run = spawn_in(p, &["migrate", "--db", &url], &[]);
    wait_for("five more batches", Duration::from_secs(60), || async {
        progress(&db)
            .await
            .is_some_and(|(b, _, _)| b >= batches + 5)
    })
    .await;
    let out = stratum_in(p, &["status", "--db", &url], &[]);
    assert!(
        text(&out.stdout).contains("running  20260101000002_fill  in the backfill at statement 2"),
        "{}",
        text(&out.stdout)
    );
    let mut run = run;
    run.kill().unwrap();
    run.wait().unwrap();
    // The killed session's last transaction ends on the server.
    wait_for("the killed session", Duration::from_secs(20), || async {
        common::strings(
            &db,
            "SELECT pid::text FROM pg_stat_activity WHERE datname = 'filled' \
             AND application_name NOT IN ('writer') AND pid <> pg_backend_pid() \
             AND backend_type = 'client backend'",
        )
        .await
        .is_empty()
    })
    .await;
    let (killed_batches, killed_rows, killed_after) = progress(&db).await.unwrap();
    assert!(killed_batches >= batches + 5);
    assert_eq!(copies(&db).await, (killed_rows, 0));

    let out = stratum_in(p, &["migrate", "--db", &url], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "backfill of t: resuming after {killed_batches} batches ({killed_rows} rows), after \
             key {killed_after}"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("backfilled t: {ROWS} rows in")),
        "{stderr}"
    );
    assert!(stderr.contains("resumed at statement 2"), "{stderr}");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (done, errors) = writing.await.unwrap();

    assert_eq!(copies(&db).await, (ROWS, 0));
    assert_eq!(
        common::strings(&db, "SELECT count(*)::text FROM t WHERE b IS NULL").await,
        ["0"]
    );
    assert_eq!(
        common::strings(
            &db,
            "SELECT status || coalesce(progress::text, '') FROM stratum_migrations ORDER BY version"
        )
        .await,
        ["applied", "applied"]
    );
    assert_eq!(
        common::strings(
            &db,
            "SELECT conname::text FROM pg_constraint WHERE conname = 't_b_set'"
        )
        .await,
        ["t_b_set"]
    );
    assert!(errors.is_empty(), "the writer failed: {errors:?}");
    assert!(done > 0);
}

/// A marker on a statement that is no UPDATE is an error at its place,
/// before anything runs; a table without a key to walk stops the file at
/// the backfill with what ran before it said, and the dry run says how the
/// backfill will run.
#[tokio::test(flavor = "current_thread")]
async fn backfill_markers_are_checked_before_they_run() {
    let server = TestServer::start().await;
    let db = server.database("marked").await;
    let url = server.url("marked");
    let dir = project(&[(
        "20260101000001_bad.sql",
        "CREATE TABLE a (id int PRIMARY KEY, x int);\n-- stratum:backfill\nDELETE FROM a;\n",
    )]);
    let out = stratum_in(dir.path(), &["migrate", "--db", &url], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .contains("migrations/20260101000001_bad.sql:3:1: -- stratum:backfill marks an UPDATE"),
        "{stderr}"
    );
    assert_eq!(
        common::strings(
            &db,
            "SELECT count(*)::text FROM pg_class WHERE relname IN ('a', 'stratum_migrations')"
        )
        .await,
        ["0"]
    );

    let dir = project(&[(
        "20260101000001_keyless.sql",
        "CREATE TABLE k (x int, y int);\nINSERT INTO k VALUES (1, NULL);\n\
         -- stratum:backfill batch_size=10\nUPDATE k SET y = x;\n",
    )]);
    let out = stratum_in(dir.path(), &["migrate", "--db", &url, "--dry-run"], &[]);
    assert!(
        text(&out.stdout).contains(
            "-- batch 3 of 3: a backfill, in transactions of 10 rows each in the order of the \
             table's key\nUPDATE k SET y = x;"
        ),
        "{}",
        text(&out.stdout)
    );
    let out = stratum_in(dir.path(), &["migrate", "--db", &url], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "statement 3 of 3 cannot run as a backfill: the backfill's table k has no primary \
             key (nor a unique index over NOT NULL columns) to walk in batches. None of its \
             batches was committed; statements 1 to 2 stay applied"
        ),
        "{stderr}"
    );
    assert_eq!(
        common::strings(&db, "SELECT coalesce(y, -1)::text FROM k").await,
        ["-1"]
    );
}

/// With a streaming standby (started by the test from a base backup) whose
/// replay is paused, the backfill's WAL piles up behind it: the backfill
/// pauses and says so, commits no batch while it waits, and goes on once
/// replay resumes.
#[tokio::test(flavor = "current_thread")]
async fn a_backfill_waits_while_a_standby_lags() {
    let server = TestServer::start().await;
    let db = server.database("lagging").await;
    let url = server.url("lagging");
    let standby = server
        .cluster
        .start_standby(5433)
        .await
        .unwrap_or_else(|e| {
            panic!("starting a standby of the test server: {e:#}");
        });
    let replica = stratum::conninfo::connect(&standby.config("postgres"))
        .await
        .unwrap();
    let dir = initialised(&url, "backfill:\n  max_replication_lag: 256kB\n");
    let p = dir.path();
    db.batch_execute(
        "INSERT INTO t (id, a) SELECT g, g % 1000 FROM generate_series(1, 100000) g; ANALYZE t",
    )
    .await
    .unwrap();
    let lag = "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), -1)::bigint::text \
               FROM pg_stat_replication";
    wait_for(
        "the standby to catch up",
        Duration::from_secs(60),
        || async { common::strings(&db, lag).await == ["0"] },
    )
    .await;
    replica
        .batch_execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();

    let mut run = Listened::start(p, &["migrate", "--db", &url]);
    let paused = run.until("paused, standby").await;
    assert!(
        paused.starts_with("backfill of t: paused, standby"),
        "{paused}"
    );
    assert!(paused.ends_with("behind (more than 256.0 kB)"), "{paused}");
    // Nothing is committed while it waits: the lag is still above the
    // limit, and the recorded position has not moved.
    let waiting_at = progress(&db).await;
    let behind: i64 = common::strings(&db, lag).await[0].parse().unwrap();
    assert!(behind > 256 * 1024, "{behind}");
    assert_eq!(progress(&db).await, waiting_at);
    assert!(run.child.try_wait().unwrap().is_none());

    replica
        .batch_execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    let (status, stderr) = run.end().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("standbys caught up after"), "{stderr}");
    assert!(stderr.contains("backfilled t: 100000 rows in"), "{stderr}");
    assert_eq!(
        common::strings(&db, "SELECT count(*)::text FROM t WHERE copies <> 1").await,
        ["0"]
    );
}

/// A stratum run whose stderr is read line by line as it comes.
struct Listened {
    child: std::process::Child,
    said: tokio::sync::mpsc::UnboundedReceiver<String>,
    reader: std::thread::JoinHandle<()>,
    heard: Vec<String>,
}

impl Listened {
    fn start(p: &std::path::Path, args: &[&str]) -> Listened {
        let mut child = spawn_in(p, args, &[]);
        let (lines, said) = tokio::sync::mpsc::unbounded_channel::<String>();
        let stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        Listened {
            child,
            said,
            reader,
            heard: Vec::new(),
        }
    }

    /// The first line that contains `needle` (it fails when the run ends
    /// without one).
    async fn until(&mut self, needle: &str) -> String {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(120), self.said.recv())
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| {
                    panic!("no line with {needle:?}; stderr so far: {:?}", self.heard)
                });
            self.heard.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Waits for the run to end: its status and all it said.
    async fn end(mut self) -> (std::process::ExitStatus, String) {
        let mut child = self.child;
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        self.reader.join().unwrap();
        while let Ok(line) = self.said.try_recv() {
            self.heard.push(line);
        }
        (status, self.heard.join("\n"))
    }
}

/// `backfill.max_active_sessions`: while more client sessions than that
/// are active (here waiting on an advisory lock another session holds),
/// the backfill commits nothing and says why; it goes on once they end.
#[tokio::test(flavor = "current_thread")]
async fn a_backfill_waits_while_the_server_is_busy() {
    let server = TestServer::start().await;
    let db = server.database("busy").await;
    let url = server.url("busy");
    let dir = initialised(&url, "backfill:\n  max_active_sessions: 2\n");
    let p = dir.path();
    db.batch_execute("INSERT INTO t (id, a) SELECT g, g FROM generate_series(1, 20000) g")
        .await
        .unwrap();
    // Three sessions wait on a lock this one holds: active, in a statement.
    db.batch_execute("SELECT pg_advisory_lock(42)")
        .await
        .unwrap();
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let c = server.connect("busy").await;
        waiting.push(tokio::spawn(async move {
            c.batch_execute("SELECT pg_advisory_lock(42); SELECT pg_advisory_unlock(42)")
                .await
        }));
    }
    let active = "SELECT count(*)::text FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                  AND state = 'active' AND datname = 'busy'";
    wait_for(
        "three sessions waiting",
        Duration::from_secs(20),
        || async { common::strings(&db, active).await == ["3"] },
    )
    .await;

    let mut run = Listened::start(p, &["migrate", "--db", &url]);
    let paused = run.until("paused").await;
    assert_eq!(
        paused,
        "backfill of t: paused, 3 other sessions are active (more than \
         backfill.max_active_sessions, 2)"
    );
    assert_eq!(progress(&db).await, None);
    assert_eq!(
        common::strings(&db, "SELECT count(*)::text FROM t WHERE copies > 0").await,
        ["0"]
    );
    assert!(run.child.try_wait().unwrap().is_none());

    db.batch_execute("SELECT pg_advisory_unlock(42)")
        .await
        .unwrap();
    for w in waiting {
        w.await.unwrap().unwrap();
    }
    let (status, stderr) = run.end().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("backfill of t: active sessions within the limit after"),
        "{stderr}"
    );
    assert!(stderr.contains("backfilled t: 20000 rows in"), "{stderr}");
    assert_eq!(
        common::strings(&db, "SELECT count(*)::text FROM t WHERE copies <> 1").await,
        ["0"]
    );
}
