//! What a long step says while it runs, under `apply` and `migrate`: on a
//! terminal the run's progress line carries the step's state; through a
//! pipe, lines with the time since the run started and no control
//! characters; a step waiting for a lock names the session that holds it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;

use common::{project_dir, spawn_in, stratum_in, strings, text, TestServer};

/// A function that sleeps 50 ms a row: an index over it on 60 rows takes
/// three seconds whatever the machine.
const SLOW: &str = "CREATE FUNCTION slowf(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE \
                    AS $$BEGIN PERFORM pg_sleep(0.05); RETURN x; END$$;\n\
                    CREATE TABLE big (id int PRIMARY KEY, x int);\n";

const INDEX: &str = "CREATE INDEX big_slow ON big ((slowf(x)));\n";

/// `command` in `dir` under a pseudo-terminal (util-linux's script(1)):
/// everything it wrote, and whether it succeeded.
fn on_a_terminal(dir: &Path, command: &str, env: &[(&str, &str)]) -> (String, bool) {
    let out = std::process::Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script(1) from util-linux runs the command under a pseudo-terminal");
    (text(&out.stdout), out.status.success())
}

async fn index_is_valid(db: &tokio_postgres::Client) -> bool {
    strings(
        db,
        "SELECT indisvalid::text FROM pg_index WHERE indexrelid = to_regclass('big_slow')",
    )
    .await
        == ["true"]
}

/// A three-second concurrent index build, through `apply` and `migrate`:
/// through a pipe, timestamped lines with the build's own phase from
/// pg_stat_progress_create_index and no escape code; on a terminal, the
/// progress line with that phase. Each run builds the index.
#[tokio::test(flavor = "current_thread")]
async fn a_long_index_build_says_how_far_it_is() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("slow").await;
    db.batch_execute(&format!(
        "{SLOW}INSERT INTO big SELECT g, g FROM generate_series(1, 60) g;"
    ))
    .await
    .unwrap();
    let url = server.url("slow");
    let dir = project_dir(&format!("{SLOW}{INDEX}"), &[]);
    let p = dir.path();
    let apply = ["apply", "--db", &url, "--yes", "--no-proof"];

    // apply, through a pipe.
    let out = stratum_in(p, &apply, &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("[+") && l.contains("step 1 of 1 (index public.big_slow)"))
        .collect();
    assert!(!lines.is_empty(), "{stderr}");
    assert!(
        lines.iter().any(|l| l.contains("building index")),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    assert!(index_is_valid(&db).await);

    // apply, on a terminal.
    db.batch_execute("DROP INDEX big_slow").await.unwrap();
    let command =
        format!("{} {}", env!("CARGO_BIN_EXE_stratum"), apply.join(" ")).replace('&', "\\&");
    let (seen, ok) = on_a_terminal(p, &command.replace("?", "\\?"), &env);
    assert!(ok, "{seen}");
    assert!(seen.contains("applying ["), "{seen}");
    assert!(seen.contains("building index"), "{seen}");
    assert!(seen.contains("\u{1b}["), "{seen}");
    assert!(index_is_valid(&db).await);

    // migrate, a file that builds it, through a pipe.
    db.batch_execute("DROP INDEX big_slow").await.unwrap();
    std::fs::write(
        p.join("migrations/20260101000000_slow_index.sql"),
        "-- stratum: no-transaction\nCREATE INDEX CONCURRENTLY big_slow ON big ((slowf(x)));\n",
    )
    .unwrap();
    let out = stratum_in(p, &["migrate", "--db", &url], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("[+") && l.contains("building index")),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    assert!(index_is_valid(&db).await);
}

/// Runs stratum with `args` while another session holds a lock its step
/// needs: once stratum names that session (pid and application) as the
/// holder, the session commits, and the run finishes. Returns its stderr.
async fn waits_for(server: &TestServer, p: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let hold = "SELECT count(*) FROM t";
    let want = |pid: i32| format!("waiting for a lock held by pid {pid} ('blocker', ");
    held_up(server, p, args, env, hold, &want).await
}

/// [`waits_for`] with the statement the other session holds its lock with
/// (`hold`, in a transaction left open) and the line that names it.
async fn held_up(
    server: &TestServer,
    p: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    hold: &str,
    want: &dyn Fn(i32) -> String,
) -> String {
    let blocker = server.connect("locked").await;
    blocker
        .batch_execute(&format!("SET application_name = 'blocker'; BEGIN; {hold};"))
        .await
        .unwrap();
    let pid: i32 = blocker
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let mut child = spawn_in(p, args, env);
    let stderr = child.stderr.take().unwrap();
    let want = want(pid);
    let reader = std::thread::spawn(move || {
        let mut seen = String::new();
        let mut lines = BufReader::new(stderr).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(&want) {
                return (true, seen, lines);
            }
        }
        (false, seen, lines)
    });
    // The event: stratum said who holds the lock (or ended without it).
    let (found, mut seen, lines) = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    blocker.batch_execute("COMMIT").await.unwrap();
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(found, "{seen}");
    assert!(status.success(), "{seen}");
    seen
}

/// A step waiting for a lock says which session holds it (pg_blocking_pids,
/// with its application, user, state and query), under `apply` and
/// `migrate`; once that session commits, the step runs.
#[tokio::test(flavor = "current_thread")]
async fn a_step_waiting_for_a_lock_names_the_session_that_holds_it() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("locked").await;
    db.batch_execute("CREATE TABLE t (id int PRIMARY KEY)")
        .await
        .unwrap();
    let url = server.url("locked");
    let dir = project_dir("CREATE TABLE t (id int PRIMARY KEY, note text);\n", &[]);
    let p = dir.path();
    let apply = [
        "apply",
        "--db",
        &url,
        "--yes",
        "--no-proof",
        "--lock-timeout",
        "60s",
    ];
    let seen = waits_for(&server, p, &apply, &env).await;
    assert!(
        seen.contains("step 1 of 1 (column public.t.note)"),
        "{seen}"
    );
    assert!(seen.contains("idle in transaction"), "{seen}");
    let columns = strings(
        &db,
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0 ORDER BY attnum",
    )
    .await;
    assert_eq!(columns, ["id", "note"]);

    std::fs::write(
        p.join("migrations/20260101000000_more.sql"),
        "ALTER TABLE t ADD COLUMN more text;\n",
    )
    .unwrap();
    let migrate = ["migrate", "--db", &url, "--lock-timeout", "60s"];
    let seen = waits_for(&server, p, &migrate, &env).await;
    assert!(seen.contains("statement 1 of 1"), "{seen}");
    let columns = strings(
        &db,
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0 ORDER BY attnum",
    )
    .await;
    assert_eq!(columns, ["id", "note", "more"]);
}

/// Reading the database's schema behind another session's ACCESS
/// EXCLUSIVE lock (printing an expression index opens its table under
/// ACCESS SHARE) says which table and which session, under `plan`; once
/// that session commits, the plan is made.
#[tokio::test(flavor = "current_thread")]
async fn a_read_waiting_for_a_lock_names_the_table_and_the_session() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("locked").await;
    db.batch_execute("CREATE TABLE t (id int PRIMARY KEY); CREATE INDEX t_next ON t ((id + 1));")
        .await
        .unwrap();
    let url = server.url("locked");
    let dir = project_dir(
        "CREATE TABLE t (id int PRIMARY KEY, note text);\nCREATE INDEX t_next ON t ((id + 1));\n",
        &[],
    );
    let want = |pid: i32| {
        format!("reading the database's schema, 2 s: waiting for a lock on public.t held by pid {pid} ('blocker', ")
    };
    let seen = held_up(
        &server,
        dir.path(),
        &["plan", "--db", &url],
        &env,
        "LOCK TABLE t",
        &want,
    )
    .await;
    assert!(seen.contains("idle in transaction"), "{seen}");
    assert!(seen.contains("1 step; hazards: none"), "{seen}");
}
