//! Pre-checks as users meet them: `apply` and `migrate` of statements that
//! fail on the rows a table holds (duplicates, NULLs, orphans, CHECK
//! violations, values that do not convert, a NOT NULL column without a
//! default) are refused before any of their locks is asked for, with the
//! count and an example; the same run passes once the rows are fixed.
//! Statements after an UPDATE are not pre-checked (and run), large tables
//! are sampled, slow checks stop at their timeout, drops are measured.

mod common;

use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{spawn_in, stratum_in, text, TestServer};

/// One statement that fails on rows: the database before (with the rows),
/// the schema wanted, what the refusal says, and what fixes the rows.
struct Case {
    name: &'static str,
    before: &'static str,
    after: &'static str,
    /// The table whose locks must not be asked for.
    table: &'static str,
    /// What the pre-check line says.
    says: &'static str,
    fix: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "unique",
        before: "CREATE TABLE users (id int PRIMARY KEY, email text);\n\
                 INSERT INTO users VALUES (1, 'a@b.c'), (2, 'a@b.c'), (3, 'x@y.z'), \
                 (4, 'x@y.z'), (5, 'x@y.z'), (6, 'q'), (7, NULL), (8, NULL);",
        after: "CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE);",
        table: "users",
        says: "UNIQUE INDEX users_email_key on public.users (email): 2 duplicate values, \
               e.g. email = 'x@y.z' (3 rows)",
        fix: "DELETE FROM users WHERE id IN (2, 4, 5)",
    },
    Case {
        name: "not_null",
        before: "CREATE TABLE users (id int PRIMARY KEY, name text);\n\
                 INSERT INTO users VALUES (1, 'a'), (2, NULL), (3, NULL);",
        after: "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);",
        table: "users",
        says: "NOT NULL on public.users.name: 2 rows hold NULL, e.g. the row id = '2'",
        fix: "UPDATE users SET name = 'n' WHERE name IS NULL",
    },
    Case {
        name: "foreign_key",
        before: "CREATE TABLE users (id int PRIMARY KEY);\n\
                 CREATE TABLE orders (id int PRIMARY KEY, user_id int);\n\
                 INSERT INTO users VALUES (1), (2);\n\
                 INSERT INTO orders VALUES (1, 1), (2, 99), (3, NULL), (4, 2);",
        after: "CREATE TABLE users (id int PRIMARY KEY);\n\
                CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users);",
        table: "orders",
        says: "FOREIGN KEY orders_user_id_fkey from public.orders (user_id) to public.users: \
               1 row references a missing row, e.g. user_id = '99'",
        fix: "DELETE FROM orders WHERE user_id = 99",
    },
    Case {
        name: "check",
        before: "CREATE TABLE orders (id int PRIMARY KEY, qty int);\n\
                 INSERT INTO orders VALUES (1, 5), (2, 0), (3, -1), (4, NULL);",
        after: "CREATE TABLE orders (id int PRIMARY KEY, qty int CHECK (qty > 0));",
        table: "orders",
        says: "CHECK orders_qty_check (qty > 0) on public.orders: 2 rows violate it, \
               e.g. the row id = '2'",
        fix: "UPDATE orders SET qty = 1 WHERE qty <= 0",
    },
    Case {
        name: "narrowing",
        before: "CREATE TABLE codes (id int PRIMARY KEY, code text);\n\
                 INSERT INTO codes VALUES (1, 'abc'), (2, 'abcd'), (3, 'ab  ');",
        after: "CREATE TABLE codes (id int PRIMARY KEY, code varchar(3));",
        table: "codes",
        says: "public.codes.code to varchar(3): 1 value does not fit, e.g. the row id = '2'",
        fix: "UPDATE codes SET code = 'abc' WHERE id = 2",
    },
    Case {
        name: "cast",
        before: "CREATE TABLE counts (id int PRIMARY KEY, n bigint);\n\
                 INSERT INTO counts VALUES (1, 3), (2, 3000000000);",
        after: "CREATE TABLE counts (id int PRIMARY KEY, n integer);",
        table: "counts",
        says: "public.counts.n to int: a value does not convert: integer out of range",
        fix: "UPDATE counts SET n = 3 WHERE id = 2",
    },
    Case {
        name: "domain",
        before: "CREATE DOMAIN posint AS int;\n\
                 CREATE TABLE items (id int PRIMARY KEY, qty posint);\n\
                 INSERT INTO items VALUES (1, 5), (2, -3), (3, NULL);",
        after: "CREATE DOMAIN posint AS int CONSTRAINT posint_check CHECK (VALUE > 0);\n\
                CREATE TABLE items (id int PRIMARY KEY, qty posint);",
        table: "items",
        says: "CHECK posint_check (value > 0) on domain public.posint: 1 row violates it, \
               e.g. the row public.items.qty (id = '2')",
        fix: "UPDATE items SET qty = 3 WHERE id = 2",
    },
];

/// Every hazard code: the cases are about pre-checks, not approvals.
const ALL: &str = "data-loss,table-rewrite,access-exclusive-lock,full-table-scan,index-build,\
                   index-dropped,authz-change,app-compat";

/// Runs stratum in `dir` while a second connection holds an EXCLUSIVE lock
/// on `table` (reads go on, every DDL would wait) and a third watches
/// `pg_locks`: stratum's output, and whether any lock on the table was
/// ever asked for and not granted.
async fn beside_a_lock(
    server: &TestServer,
    db: &str,
    table: &str,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Output, bool) {
    let holder = server.connect(db).await;
    holder
        .batch_execute(&format!("BEGIN; LOCK TABLE {table} IN EXCLUSIVE MODE"))
        .await
        .unwrap();
    let watcher = server.connect(db).await;
    let child = spawn_in(dir, args, env);
    let done = Arc::new(AtomicBool::new(false));
    let running = tokio::task::spawn_blocking({
        let done = done.clone();
        move || {
            let out = child.wait_with_output().unwrap();
            done.store(true, Ordering::SeqCst);
            out
        }
    });
    let waiting = format!(
        "SELECT count(*)::text FROM pg_locks WHERE NOT granted AND relation = '{table}'::regclass"
    );
    let mut waited = false;
    while !done.load(Ordering::SeqCst) {
        waited |= common::strings(&watcher, &waiting).await != ["0"];
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    holder.batch_execute("ROLLBACK").await.unwrap();
    (running.await.unwrap(), waited)
}

/// The rows and definition of `table`, to show that nothing changed.
async fn state(client: &tokio_postgres::Client, table: &str) -> Vec<String> {
    let mut out = common::strings(
        client,
        &format!("SELECT string_agg(t::text, ';' ORDER BY t::text) FROM {table} t"),
    )
    .await;
    out.extend(
        common::strings(
            client,
            &format!(
                "SELECT format('%s %s %s', attname, format_type(atttypid, atttypmod), \
                 attnotnull) FROM pg_attribute WHERE attrelid = '{table}'::regclass \
                 AND attnum > 0 ORDER BY attnum"
            ),
        )
        .await,
    );
    out.extend(
        common::strings(
            client,
            &format!(
                "SELECT conname::text FROM pg_constraint WHERE conrelid = '{table}'::regclass \
                 UNION ALL SELECT relname::text FROM pg_class c JOIN pg_index i \
                 ON i.indexrelid = c.oid WHERE i.indrelid = '{table}'::regclass ORDER BY 1"
            ),
        )
        .await,
    );
    out
}

/// `plan` says what the pre-checks find; under `apply`, each case is
/// refused by its pre-check before any lock on its table is asked for (a
/// second connection holds one that every DDL statement would wait behind,
/// and nothing waits), the table as it was; with the rows fixed, the same
/// apply passes and the database matches the schema.
#[tokio::test(flavor = "current_thread")]
async fn apply_is_refused_before_any_lock_and_passes_once_the_rows_are_fixed() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    for case in CASES {
        let name = format!("apply_{}", case.name);
        let db = server.database(&name).await;
        db.batch_execute(case.before).await.unwrap();
        let url = server.url(&name);
        let dir = common::project_dir(case.after, &[]);
        let before = state(&db, case.table).await;
        // The reviewer's plan says it first.
        let out = stratum_in(dir.path(), &["plan", "--db", &url], &env);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{}: {stderr}", case.name);
        assert!(stderr.contains(case.says), "{}: {stderr}", case.name);
        assert!(
            stderr.contains("`stratum apply` would refuse this plan"),
            "{stderr}"
        );
        let args = [
            "apply",
            "--db",
            &url,
            "--yes",
            "--no-proof",
            "--allow-hazards",
            ALL,
        ];
        let (out, waited) =
            beside_a_lock(&server, &name, case.table, dir.path(), &args, &env).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", case.name);
        assert!(stderr.contains(case.says), "{}: {stderr}", case.name);
        assert!(
            stderr.contains(
                "Nothing was applied: a pre-check found rows its statement would fail on"
            ),
            "{}: {stderr}",
            case.name
        );
        assert!(
            !waited,
            "{}: a lock on {} was asked for",
            case.name, case.table
        );
        assert_eq!(state(&db, case.table).await, before, "{}", case.name);

        db.batch_execute(case.fix).await.unwrap();
        let out = stratum_in(dir.path(), &args, &env);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{}: {stderr}", case.name);
        assert!(stderr.contains("the database matches schema/"), "{stderr}");
        let out = stratum_in(dir.path(), &["check", "--db", &url], &env);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    }
}

/// The path of the migration file whose name ends with `suffix`.
fn migration(dir: &Path, suffix: &str) -> String {
    std::fs::read_dir(dir.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|f| f.ends_with(suffix))
        .map(|f| format!("migrations/{f}"))
        .unwrap()
}

/// Under `migrate`, a hand-written file whose unique index meets
/// duplicates is refused before any lock on its table is asked for (and
/// before its first statement, which needs none of those rows, runs); the
/// dry run says so too; with the rows fixed it runs. A SET NOT NULL in a
/// file after another file's UPDATE is not pre-checked (the UPDATE fills
/// the NULLs it would find) and runs; `--no-pre-checks` lets a statement
/// fail on its own.
#[tokio::test(flavor = "current_thread")]
async fn migrate_is_refused_before_any_lock_and_checks_only_rows_it_can_know() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let base = "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n";
    let index = "ALTER TABLE users ADD COLUMN note text;\n\
                 CREATE UNIQUE INDEX CONCURRENTLY users_email ON users (email);\n";
    let dir = common::project_dir(
        "SELECT 1;",
        &[
            ("20260101000001_base.sql", base),
            ("20260101000002_email.sql", index),
        ],
    );
    let p = dir.path();
    let db = server.database("migrate_unique").await;
    let url = server.url("migrate_unique");
    let out = stratum_in(
        p,
        &["migrate", "--db", &url, "--to", "20260101000001"],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    db.batch_execute(
        "INSERT INTO users SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 200000) g;\n\
         UPDATE users SET email = 'dup@example.com' WHERE id IN (17, 150000);\n\
         ANALYZE users;",
    )
    .await
    .unwrap();
    let file = migration(p, "_email.sql");
    let says = format!(
        "pre-check {file}:2: UNIQUE INDEX users_email on users (email): 1 duplicate value, \
         e.g. email = 'dup@example.com' (2 rows)"
    );

    let out = stratum_in(p, &["migrate", "--db", &url, "--dry-run"], &env);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains(&format!("--  {says}")), "{stdout}");
    assert!(stderr.contains("The run would be refused"), "{stderr}");

    let before = state(&db, "users").await;
    let (out, waited) = beside_a_lock(
        &server,
        "migrate_unique",
        "users",
        p,
        &["migrate", "--db", &url],
        &env,
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&says), "{stderr}");
    assert!(
        stderr.contains("Nothing was applied: a pre-check found rows"),
        "{stderr}"
    );
    assert!(!waited, "a lock on users was asked for");
    assert_eq!(state(&db, "users").await, before);
    let recorded = "SELECT version FROM stratum_migrations ORDER BY 1";
    assert_eq!(common::strings(&db, recorded).await, ["20260101000001"]);

    db.batch_execute("UPDATE users SET email = 'u17@example.com' WHERE id = 17")
        .await
        .unwrap();
    std::fs::write(
        p.join("migrations/20260101000003_fill.sql"),
        "UPDATE users SET note = 'n' WHERE note IS NULL;\n",
    )
    .unwrap();
    std::fs::write(
        p.join("migrations/20260101000004_note.sql"),
        "ALTER TABLE users ALTER COLUMN note SET NOT NULL;\n",
    )
    .unwrap();
    let out = stratum_in(p, &["migrate", "--db", &url], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "pre-check {file}:2: UNIQUE INDEX users_email on users (email): no duplicate values"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "pre-check {}:1: NOT NULL on users.note: not checked: {}:1 before it writes \
             rows, so the rows it meets are not known",
            migration(p, "_note.sql"),
            migration(p, "_fill.sql")
        )),
        "{stderr}"
    );
    assert!(stderr.contains("Applied 3 migrations."), "{stderr}");
    let valid = "SELECT indisvalid::text FROM pg_index WHERE indexrelid = 'users_email'::regclass";
    assert_eq!(common::strings(&db, valid).await, ["true"]);
    let nulls = "SELECT attnotnull::text FROM pg_attribute \
                 WHERE attrelid = 'users'::regclass AND attname = 'note'";
    assert_eq!(common::strings(&db, nulls).await, ["true"]);

    // Without pre-checks the statement fails on its own, as it always did.
    std::fs::write(
        p.join("migrations/20260101000005_email.sql"),
        "UPDATE users SET email = NULL WHERE id = 3;\n",
    )
    .unwrap();
    std::fs::write(
        p.join("migrations/20260101000006_email.sql"),
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n",
    )
    .unwrap();
    let out = stratum_in(p, &["migrate", "--db", &url, "--no-pre-checks"], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("pre-check"), "{stderr}");
    assert!(stderr.contains("contains null values"), "{stderr}");
}

/// Pre-checks on a table above `pre_checks.sample_above` read a sample and
/// say so; one that runs past `pre_checks.timeout` is not run, says so,
/// and lets the statement run; a dropped column's values are counted, and
/// the count is the table's.
#[tokio::test(flavor = "current_thread")]
async fn large_tables_are_sampled_slow_checks_stop_and_drops_are_measured() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let rows = "CREATE TABLE events (id int PRIMARY KEY, kind text, body text);\n\
                INSERT INTO events SELECT g, CASE WHEN g % 1000 = 0 THEN NULL ELSE 'k' END, \
                repeat('x', 60) FROM generate_series(1, 200000) g;\n\
                ANALYZE events;";
    let wanted = "CREATE TABLE events (id int PRIMARY KEY, kind text NOT NULL, body text);";
    let all = ["apply", "--yes", "--no-proof", "--allow-hazards", ALL];

    let db = server.database("sampled").await;
    db.batch_execute(rows).await.unwrap();
    let size = "SELECT (pg_relation_size('events') > 4 * 1024 * 1024)::text";
    assert_eq!(common::strings(&db, size).await, ["true"]);
    let dir = common::project_dir(wanted, &[]);
    std::fs::write(
        dir.path().join("stratum.yaml"),
        "pre_checks:\n  sample_above: 2MB\n",
    )
    .unwrap();
    let url = server.url("sampled");
    let out = stratum_in(dir.path(), &[&all[..], &["--db", &url]].concat(), &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("NOT NULL on public.events.kind: ")
            && stderr.contains("rows hold NULL, e.g. the row id = '")
            && stderr.contains("% sample of ")
            && stderr.contains("as pre_checks.sample_above says"),
        "{stderr}"
    );
    let nulls = "SELECT count(*)::text FROM events WHERE kind IS NULL";
    assert_eq!(common::strings(&db, nulls).await, ["200"]);

    db.batch_execute("UPDATE events SET kind = 'k' WHERE kind IS NULL")
        .await
        .unwrap();
    std::fs::write(
        dir.path().join("stratum.yaml"),
        "pre_checks:\n  timeout: 1ms\n",
    )
    .unwrap();
    let out = stratum_in(dir.path(), &[&all[..], &["--db", &url]].concat(), &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "NOT NULL on public.events.kind: not checked: its query ran longer than \
                         0.001 s (pre_checks.timeout)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("the database matches schema/"), "{stderr}");

    // The drop's count is the table's.
    let values = "SELECT count(body)::text FROM events";
    let held = common::strings(&db, values).await.concat();
    let dropped = "CREATE TABLE events (id int PRIMARY KEY, kind text NOT NULL);";
    std::fs::write(dir.path().join("schema/schema.sql"), dropped).unwrap();
    std::fs::remove_file(dir.path().join("stratum.yaml")).unwrap();
    let out = stratum_in(dir.path(), &[&all[..], &["--db", &url]].concat(), &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let held = held.parse::<u64>().unwrap();
    assert_eq!(held, 200000);
    assert!(
        stderr.contains("DROP COLUMN public.events.body: 200 000 rows hold a value"),
        "{stderr}"
    );
    let column = "SELECT count(*)::text FROM pg_attribute \
                  WHERE attrelid = 'events'::regclass AND attname = 'body' AND NOT attisdropped";
    assert_eq!(common::strings(&db, column).await, ["0"]);
}

/// Ctrl-C during a slow pre-check cancels its query on the server (it is
/// gone long before its 30 s timeout) and ends the run with nothing run.
#[tokio::test(flavor = "current_thread")]
async fn an_interrupted_pre_check_is_cancelled_on_the_server() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let slow = "CREATE FUNCTION slow(x int) RETURNS boolean LANGUAGE sql IMMUTABLE \
                AS $$ SELECT pg_sleep(0.2) IS NOT NULL $$;\n\
                CREATE TABLE t (x int);\n";
    let db = server.database("interrupted_check").await;
    db.batch_execute(&format!(
        "{slow}INSERT INTO t SELECT generate_series(1, 1000);"
    ))
    .await
    .unwrap();
    let dir = common::project_dir(
        &format!("{slow}ALTER TABLE t ADD CONSTRAINT t_slow CHECK (slow(x));\n"),
        &[],
    );
    let url = server.url("interrupted_check");
    let args = [
        "apply",
        "--db",
        &url,
        "--yes",
        "--no-proof",
        "--allow-hazards",
        ALL,
    ];
    let run = spawn_in(dir.path(), &args, &env);
    let checking = "SELECT count(*)::text FROM pg_stat_activity \
                    WHERE query LIKE '%WHERE NOT (public.slow(x))%' AND pid <> pg_backend_pid()";
    common::wait_for("the pre-check's query", Duration::from_secs(30), || async {
        common::strings(&db, checking).await != ["0"]
    })
    .await;
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    let out = run.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "interrupted during the pre-checks (their query was cancelled on the \
                         server); nothing was run"
        ),
        "{stderr}"
    );
    common::wait_for("the query to end", Duration::from_secs(10), || async {
        common::strings(&db, checking).await == ["0"]
    })
    .await;
    let added = "SELECT count(*)::text FROM pg_constraint WHERE conname = 't_slow'";
    assert_eq!(common::strings(&db, added).await, ["0"]);
}

/// A NOT NULL column added without a default to a table with rows is
/// refused before it runs; one whose domain has a default is not (the
/// default fills it) and runs.
#[tokio::test(flavor = "current_thread")]
async fn a_not_null_column_without_a_default_is_refused_on_a_table_with_rows() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("added_columns").await;
    db.batch_execute(
        "CREATE DOMAIN filled AS int DEFAULT 7;\n\
         CREATE TABLE t (id int);\n\
         INSERT INTO t VALUES (1), (2), (3);",
    )
    .await
    .unwrap();
    let url = server.url("added_columns");
    let dir = common::project_dir(
        "SELECT 1;",
        &[(
            "20260101000001_a.sql",
            "ALTER TABLE t ADD COLUMN a int NOT NULL;\n",
        )],
    );
    let p = dir.path();
    let out = stratum_in(p, &["migrate", "--db", &url], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "pre-check migrations/20260101000001_a.sql:1: ADD COLUMN t.a NOT NULL without a \
             default: the table has rows"
        ),
        "{stderr}"
    );
    std::fs::write(
        p.join("migrations/20260101000001_a.sql"),
        "ALTER TABLE t ADD COLUMN b filled NOT NULL;\n",
    )
    .unwrap();
    let out = stratum_in(p, &["migrate", "--db", &url], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("pre-check"), "{stderr}");
    let filled = "SELECT string_agg(b::text, ',') FROM t";
    assert_eq!(common::strings(&db, filled).await, ["7,7,7"]);
}

/// A CHECK ... NO INHERIT binds the parent's own rows only: a child's row
/// that breaks it does not refuse the run, which then passes; without NO
/// INHERIT the same row refuses it.
#[tokio::test(flavor = "current_thread")]
async fn a_no_inherit_check_reads_the_parents_own_rows_only() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("no_inherit").await;
    db.batch_execute(
        "CREATE TABLE parent (x int);\n\
         CREATE TABLE child () INHERITS (parent);\n\
         INSERT INTO parent VALUES (1);\n\
         INSERT INTO child VALUES (-1);",
    )
    .await
    .unwrap();
    let url = server.url("no_inherit");
    let inherited = "ALTER TABLE parent ADD CONSTRAINT pos CHECK (x > 0);\n";
    let dir = common::project_dir("SELECT 1;", &[("20260101000001_pos.sql", inherited)]);
    let p = dir.path();
    let out = stratum_in(p, &["migrate", "--db", &url, "--dry-run"], &env);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("CHECK pos (x > 0) on parent: 1 row violates it"),
        "{stdout}"
    );
    std::fs::write(
        p.join("migrations/20260101000001_pos.sql"),
        "ALTER TABLE parent ADD CONSTRAINT pos CHECK (x > 0) NO INHERIT;\n",
    )
    .unwrap();
    let out = stratum_in(p, &["migrate", "--db", &url], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("CHECK pos (x > 0) on parent: no row violates it"),
        "{stderr}"
    );
    let added = "SELECT connoinherit::text FROM pg_constraint WHERE conname = 'pos'";
    assert_eq!(common::strings(&db, added).await, ["true"]);
}
