//! The one executor, as users run it: `migrate` and `apply` of online
//! changes beside a writer on a table of 2 000 000 rows, signals during a
//! long rewrite and a concurrent build, tampered saved plans, approvals of
//! destructive steps, dry runs, the migration lock and history hygiene.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{spawn_in, stratum_in, text, wait_for, TestServer};

/// A project directory: `schema/schema.sql` and the given migrations.
fn project(schema: &str, migrations: &[(&str, &str)]) -> tempfile::TempDir {
    common::project_dir(schema, migrations)
}

/// The columns of table `t`, in order, comma-separated.
async fn columns_of_t(db: &tokio_postgres::Client) -> String {
    let columns = "SELECT string_agg(attname::text, ',' ORDER BY attnum) FROM pg_attribute \
                   WHERE attrelid = 't'::regclass AND attnum > 0 AND NOT attisdropped";
    common::strings(db, columns).await.concat()
}

/// A digest of the database's schema, to show that nothing changed.
async fn fingerprint(url: &str) -> String {
    let scratch = stratum::load::Scratch::default();
    let mut catalogs = stratum::load::load_sides(
        &[stratum::load::Side::Source(stratum::load::Source::Url(
            url.to_string(),
        ))],
        &scratch,
    )
    .await
    .unwrap();
    stratum::ddl::fingerprint(&catalogs.pop().unwrap()).unwrap()
}

const BASE: &str = "CREATE TABLE parent (id int PRIMARY KEY);\n\
                    CREATE TABLE child (id bigint PRIMARY KEY, parent_id int, note text);\n";

/// The online changes: a foreign key, a CHECK, SET NOT NULL and an index
/// on a table with rows.
const ONLINE: &str = "CREATE TABLE parent (id int PRIMARY KEY);\n\
     CREATE TABLE child (id bigint PRIMARY KEY CONSTRAINT child_id_positive CHECK (id > 0), \
       parent_id int CONSTRAINT child_parent_fkey REFERENCES parent, note text NOT NULL);\n\
     CREATE INDEX child_parent ON child (parent_id);\n";

/// What the writer beside an online change runs: inserts into and
/// selects from `child`.
const WRITES: &[&str] = &[
    "INSERT INTO child (id, parent_id, note) VALUES ($1::bigint + 3000000, 7, 'w')",
    "SELECT note FROM child WHERE id = $1::bigint + 2999999",
];

/// Runs `args` while the writer works on `db`: stratum's output and the
/// writer's tally.
async fn beside_a_writer(
    server: &TestServer,
    db: &str,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Output, u64, Vec<String>) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writing = tokio::spawn(common::writer(server.url(db), stop.clone(), WRITES));
    let watcher = server.connect(db).await;
    // The writer has started before stratum does.
    wait_for("the writer", Duration::from_secs(20), || async {
        !common::strings(
            &watcher,
            "SELECT pid::text FROM pg_stat_activity WHERE application_name = 'writer'",
        )
        .await
        .is_empty()
    })
    .await;
    let child = spawn_in(dir, args, env);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (done, errors) = writing.await.unwrap();
    (out, done, errors)
}

/// Under `migrate` and under `apply`, a foreign key, a CHECK, SET NOT NULL
/// and an index are added to a table of 2 000 000 rows while another
/// connection inserts and selects with `lock_timeout = 200ms`: no statement
/// of it fails, the long validations run apart from the statements that
/// took strong locks, and the database reaches the schema.
#[tokio::test(flavor = "current_thread")]
async fn online_changes_let_a_writer_go_on_under_migrate_and_apply() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project(ONLINE, &[("20260101000001_base.sql", BASE)]);
    let p = dir.path();
    let base = server.database("online_base").await;
    let base_url = server.url("online_base");
    let out = stratum_in(p, &["migrate", "--db", &base_url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    base.batch_execute(
        "INSERT INTO parent SELECT generate_series(1, 1000);\n\
         INSERT INTO child SELECT g, 1 + g % 1000, 'n' FROM generate_series(1, 2000000) g;\n\
         ANALYZE parent; ANALYZE child;",
    )
    .await
    .unwrap();
    drop(base);
    let admin = server.connect("postgres").await;
    for copy in ["online_migrate", "online_apply", "online_unmarked"] {
        admin
            .batch_execute(&format!("CREATE DATABASE {copy} TEMPLATE online_base"))
            .await
            .unwrap();
    }
    let out = stratum_in(p, &["generate", "--name", "online"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let file = std::fs::read_dir(p.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.to_string_lossy().ends_with("_online.sql"))
        .unwrap();
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("-- stratum:batch 2 of"), "{written}");
    assert!(written.contains("VALIDATE CONSTRAINT"), "{written}");

    let url = server.url("online_migrate");
    let (out, done, errors) = beside_a_writer(
        &server,
        "online_migrate",
        p,
        &["migrate", "--db", &url],
        &env,
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("_online ("), "{stderr}");
    assert_eq!(
        errors,
        Vec::<String>::new(),
        "the writer failed under migrate"
    );
    assert!(done > 0);
    // The history records how long the whole file took, its validations too.
    let took = "SELECT (execution_ms > 100)::text FROM stratum_migrations WHERE name = 'online'";
    let migrated = server.connect("online_migrate").await;
    assert_eq!(common::strings(&migrated, took).await, ["true"]);
    let out = stratum_in(p, &["check", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    let url = server.url("online_apply");
    let args = [
        "apply",
        "--db",
        &url,
        "--yes",
        "--allow-hazards",
        "full-table-scan,access-exclusive-lock,index-build",
    ];
    let (out, done, errors) = beside_a_writer(&server, "online_apply", p, &args, &env).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("batches"), "{stderr}");
    assert!(stderr.contains("the database matches schema/"), "{stderr}");
    assert_eq!(
        errors,
        Vec::<String>::new(),
        "the writer failed under apply"
    );
    assert!(done > 0);
    let out = stratum_in(p, &["check", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    // The same file without its batch markers (and its concurrent build,
    // which cannot run in a transaction) is one transaction, as every such
    // file was before: the writer waits behind the validations' lock, which
    // is what this test is there to see.
    let unmarked: String = written
        .lines()
        .filter(|l| !l.starts_with("-- stratum:batch") && !l.contains("CONCURRENTLY"))
        .map(|l| format!("{l}\n"))
        .collect();
    let other = project(ONLINE, &[("20260101000001_base.sql", BASE)]);
    std::fs::write(
        other
            .path()
            .join("migrations")
            .join(file.file_name().unwrap()),
        unmarked,
    )
    .unwrap();
    let url = server.url("online_unmarked");
    let args = ["migrate", "--db", &url];
    let (out, _, errors) =
        beside_a_writer(&server, "online_unmarked", other.path(), &args, &env).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        errors.iter().any(|e| e.contains("lock timeout")),
        "one transaction did not make the writer wait: {errors:?}"
    );
}

/// A function that sleeps for each row it is called on.
const SLOW: &str = "CREATE FUNCTION slow(x int) RETURNS int LANGUAGE sql IMMUTABLE \
                    AS $$ SELECT x + (pg_sleep(0.01) IS NULL)::int $$;\n";

/// SIGINT, SIGTERM and SIGHUP during `migrate` and `apply` of a long rewrite and of
/// a concurrent index build: the statement is gone from the server within
/// 2 s, no INVALID index stays, the exit code and message say what stays
/// applied, and the next `migrate` succeeds.
#[tokio::test(flavor = "current_thread")]
async fn signals_cancel_rewrites_and_concurrent_builds_on_the_server() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let base = format!("{SLOW}CREATE TABLE t (x int);\n");
    // A rewrite: to bigint through a domain whose check calls slow().
    let rewrite = format!(
        "{SLOW}CREATE DOMAIN slow_big AS bigint CHECK (slow(VALUE::int) IS NOT NULL);\n\
         CREATE TABLE t (x slow_big);\n"
    );
    let build = format!("{SLOW}CREATE TABLE t (x int);\nCREATE INDEX t_slow ON t (slow(x));\n");
    let mut n = 0;
    for (change, schema, statement) in [
        ("rewrite", &rewrite, "%ALTER COLUMN x TYPE%"),
        ("build", &build, "CREATE INDEX CONCURRENTLY%"),
    ] {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            for command in ["migrate", "apply"] {
                n += 1;
                let case = format!("{command} of a {change}, signal {signal}");

                let db_name = format!("signalled_{n}");
                let dir = project(schema, &[("20260101000001_base.sql", &base)]);
                let p = dir.path();
                let db = server.database(&db_name).await;
                let url = server.url(&db_name);
                let out = stratum_in(p, &["migrate", "--db", &url], &env);
                assert_eq!(out.status.code(), Some(0), "{case}: {}", text(&out.stderr));
                db.batch_execute("INSERT INTO t SELECT generate_series(1, 20000)")
                    .await
                    .unwrap();
                let args: Vec<&str> = if command == "migrate" {
                    // int to a domain over bigint reads as narrowing.
                    let generate = [
                        "generate",
                        "--name",
                        "change",
                        "--allow-hazards",
                        "data-loss",
                    ];
                    let out = stratum_in(p, &generate, &env);
                    assert_eq!(out.status.code(), Some(0), "{case}: {}", text(&out.stderr));
                    vec!["migrate", "--db", &url]
                } else {
                    vec![
                        "apply",
                        "--db",
                        &url,
                        "--yes",
                        "--allow-hazards",
                        "table-rewrite,access-exclusive-lock,full-table-scan,index-build,data-loss,app-compat",
                    ]
                };
                let run = spawn_in(p, &args, &env);
                let running = format!(
                    "SELECT pid::text FROM pg_stat_activity WHERE datname = '{db_name}' \
                     AND query LIKE '{statement}' AND pid <> pg_backend_pid()"
                );
                wait_for(
                    &format!("{case}: the statement"),
                    Duration::from_secs(60),
                    || async { !common::strings(&db, &running).await.is_empty() },
                )
                .await;
                if change == "build" {
                    // The build's first transaction has committed its
                    // INVALID index: what the clean-up must remove. (A
                    // signal before it leaves nothing to remove.)
                    let invalid = "SELECT indexrelid::regclass::text FROM pg_index \
                                   WHERE NOT indisvalid";
                    wait_for(
                        &format!("{case}: the build's INVALID index"),
                        Duration::from_secs(60),
                        || async { !common::strings(&db, invalid).await.is_empty() },
                    )
                    .await;
                }
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(run.id() as i32, signal) };
                wait_for(
                    &format!("{case}: the statement to end on the server"),
                    Duration::from_secs(2),
                    || async { common::strings(&db, &running).await.is_empty() },
                )
                .await;
                let out = run.wait_with_output().unwrap();
                let stderr = text(&out.stderr);
                assert_eq!(out.status.code(), Some(2), "{case}: {stderr}");
                assert!(
                    stderr.contains("was cancelled on the server (interrupted)"),
                    "{case}: {stderr}"
                );
                let said = if command == "migrate" {
                    "nothing of it stays applied, and nothing was recorded."
                } else {
                    "the database is unchanged."
                };
                assert!(stderr.contains(said), "{case}: {stderr}");
                let invalid =
                    "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid";
                assert_eq!(
                    common::strings(&db, invalid).await,
                    Vec::<String>::new(),
                    "{case}: {stderr}"
                );
                if change == "build" {
                    assert!(
                        stderr.contains("What it left behind was removed"),
                        "{case}: {stderr}"
                    );
                }
                // Without the rows that make it slow, the next run succeeds.
                db.batch_execute("TRUNCATE t").await.unwrap();
                if command == "migrate" {
                    let out = stratum_in(p, &["migrate", "--db", &url], &env);
                    assert_eq!(out.status.code(), Some(0), "{case}: {}", text(&out.stderr));
                } else {
                    let out = stratum_in(p, &args, &env);
                    assert_eq!(out.status.code(), Some(0), "{case}: {}", text(&out.stderr));
                }
            }
        }
    }
}

/// An edit of a saved plan's JSON.
type Edit = fn(&mut serde_json::Value);

/// A saved plan whose steps or hazards were edited after `plan --out` is
/// refused with nothing run; so is one whose shown script is not the one
/// its steps make.
#[tokio::test(flavor = "current_thread")]
async fn tampered_saved_plans_are_refused() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project("CREATE TABLE t (id int);\n", &[]);
    let p = dir.path();
    let db = server.database("tampered").await;
    db.batch_execute("CREATE TABLE t (id int, phone text); INSERT INTO t VALUES (1, 'x')")
        .await
        .unwrap();
    let url = server.url("tampered");
    let out = stratum_in(p, &["plan", "--db", &url, "--out", "plan.json"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("plan.json")).unwrap()).unwrap();
    assert_eq!(saved["steps"][0]["hazards"][0]["code"], "data-loss");
    let before = fingerprint(&url).await;
    let edits: [(&str, Edit); 3] = [
        ("an extra statement in a step", |plan| {
            plan["steps"][0]["sql"] =
                "ALTER TABLE public.t DROP COLUMN phone; ALTER TABLE public.t ADD COLUMN evil int;"
                    .into();
        }),
        ("its hazards removed", |plan| {
            plan["steps"][0]["hazards"] = serde_json::json!([]);
        }),
        ("its shown script", |plan| {
            plan["sql"] = "-- nothing to see\n".into();
        }),
    ];
    for (what, edit) in edits {
        let mut plan = saved.clone();
        edit(&mut plan);
        std::fs::write(p.join("edited.json"), plan.to_string()).unwrap();
        let args = [
            "apply",
            "edited.json",
            "--db",
            &url,
            "--yes",
            "--allow-hazards",
            "data-loss",
        ];
        let out = stratum_in(p, &args, &env);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr
                .contains("it was edited after `stratum plan --out` saved it. Nothing was applied"),
            "{what}: {stderr}"
        );
        assert_eq!(fingerprint(&url).await, before, "{what}");
    }
    // Untouched, its hazards still hold it back until allowed.
    let out = stratum_in(p, &["apply", "plan.json", "--db", &url, "--yes"], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("hazard data-loss: drops column public.t.phone"),
        "{stderr}"
    );
    assert_eq!(fingerprint(&url).await, before);
    let args = [
        "apply",
        "plan.json",
        "--db",
        &url,
        "--yes",
        "--allow-hazards",
        "data-loss",
    ];
    let out = stratum_in(p, &args, &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(columns_of_t(&db).await, "id");
}

/// Grants to a role named only in `schema/`, only in `roles.assume`, or
/// only on the target: `generate` and `apply` prove their plan on a copy
/// that has the role as a stub.
#[tokio::test(flavor = "current_thread")]
async fn the_proof_makes_the_roles_a_plan_names() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let on_dev = [("STRATUM_DEV_URL", dev.as_str())];
    // Only in schema/: the first generate of a project, and the proof.
    let dir = project(
        "CREATE TABLE t (a int);\nGRANT SELECT ON t TO reporting;\n\
         CREATE POLICY p ON t TO analyst USING (a > 0);\n",
        &[],
    );
    let out = stratum_in(dir.path(), &["generate", "--name", "init"], &on_dev);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Proved on a copy of what migrations/ builds:"),
        "{stderr}"
    );
    // Only in roles.assume.
    std::fs::write(
        dir.path().join("stratum.yaml"),
        "roles:\n  assume: [auditor]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("schema/schema.sql"),
        "CREATE TABLE t (a int);\nGRANT SELECT ON t TO reporting;\n\
         CREATE POLICY p ON t TO analyst USING (a > 0);\nGRANT INSERT ON t TO auditor;\n",
    )
    .unwrap();
    let out = stratum_in(dir.path(), &["generate", "--name", "audit"], &on_dev);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stubs =
        "SELECT rolname::text FROM pg_roles WHERE rolname IN ('reporting', 'analyst', 'auditor')";
    let admin = server.connect("postgres").await;
    assert_eq!(common::strings(&admin, stubs).await, Vec::<String>::new());

    // Only on the target, whose scratch copy is a cluster of its own.
    admin
        .batch_execute("CREATE ROLE owner_only NOLOGIN")
        .await
        .unwrap();
    let target = project(
        "CREATE TABLE t (a int);\nGRANT SELECT ON t TO owner_only;\nALTER TABLE t OWNER TO owner_only;\n",
        &[],
    );
    let db = server.database("roles_target").await;
    db.batch_execute("CREATE TABLE t (a int)").await.unwrap();
    let url = server.url("roles_target");
    let args = [
        "apply",
        "--db",
        &url,
        "--yes",
        "--allow-hazards",
        "authz-change",
    ];
    let out = stratum_in(target.path(), &args, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Proved on a copy of the database:"),
        "{stderr}"
    );
    let granted = "SELECT pg_get_userbyid(relowner)::text || ' ' || \
                   has_table_privilege('owner_only', 't', 'SELECT')::text \
                   FROM pg_class WHERE relname = 't'";
    assert_eq!(common::strings(&db, granted).await, ["owner_only true"]);
}

/// `down` of a migration that added a column, which now holds rows, is
/// refused without approval and says why; `--dry-run` of `migrate` and
/// `down` shows each file's statements and hazards and changes nothing.
#[tokio::test(flavor = "current_thread")]
async fn destructive_steps_run_only_once_approved_and_dry_runs_change_nothing() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project(
        "CREATE TABLE t (id int, phone text);\n",
        &[("20260101000001_t.sql", "CREATE TABLE t (id int);\n")],
    );
    let p = dir.path();
    let out = stratum_in(p, &["generate", "--name", "phone"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let down_file = std::fs::read_dir(p.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.to_string_lossy().ends_with("_phone.down.sql"))
        .unwrap();
    let down_text = std::fs::read_to_string(&down_file).unwrap();
    assert!(
        down_text.contains("--   data-loss: drops column public.t.phone"),
        "{down_text}"
    );
    let db = server.database("approvals").await;
    let url = server.url("approvals");
    let dry = stratum_in(p, &["migrate", "--db", &url, "--dry-run"], &env);
    let stdout = text(&dry.stdout);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    assert!(stdout.contains("-- 20260101000001_t ("), "{stdout}");
    assert!(
        stdout.contains("ALTER TABLE public.t ADD COLUMN phone text;"),
        "{stdout}"
    );
    assert!(
        text(&dry.stderr).contains("Dry run: 2 migrations would be applied; nothing was changed.")
    );
    let tables = "SELECT count(*)::text FROM pg_class WHERE relname IN ('t', 'stratum_migrations')";
    assert_eq!(common::strings(&db, tables).await, ["0"]);

    let out = stratum_in(p, &["migrate", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    db.batch_execute("INSERT INTO t SELECT g, 'p' FROM generate_series(1, 99) g")
        .await
        .unwrap();
    let before = fingerprint(&url).await;
    let dry = stratum_in(p, &["down", "--db", &url, "--dry-run"], &env);
    let stdout = text(&dry.stdout);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    assert!(
        stdout.contains("ALTER TABLE public.t DROP COLUMN phone;"),
        "{stdout}"
    );
    assert!(
        stdout.contains("hazard data-loss: drops column public.t.phone")
            && stdout.contains("not approved"),
        "{stdout}"
    );
    assert_eq!(fingerprint(&url).await, before);

    let out = stratum_in(p, &["down", "--db", &url], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Nothing was reverted."), "{stderr}");
    assert!(stderr.contains("--allow-hazards data-loss"), "{stderr}");
    assert_eq!(fingerprint(&url).await, before);
    let rows = "SELECT count(phone)::text FROM t";
    assert_eq!(common::strings(&db, rows).await, ["99"]);

    let out = stratum_in(
        p,
        &["down", "--db", &url, "--allow-hazards", "data-loss"],
        &env,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("approved by --allow-hazards"), "{stderr}");
    assert!(stderr.contains("reverted "), "{stderr}");
    assert_eq!(columns_of_t(&db).await, "id");

    // generate refuses a migration that destroys data unless approved, and
    // records the approval in its header.
    std::fs::write(p.join("schema/schema.sql"), "CREATE TABLE t (x int);\n").unwrap();
    let out = stratum_in(p, &["generate", "--name", "drop_id"], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Nothing was written."), "{stderr}");
    let count = || std::fs::read_dir(p.join("migrations")).unwrap().count();
    assert_eq!(count(), 3);
    let out = stratum_in(
        p,
        &[
            "generate",
            "--name",
            "drop_id",
            "--allow-hazards",
            "data-loss",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(count(), 5);
    let up = std::fs::read_dir(p.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.to_string_lossy().ends_with("_drop_id.sql"))
        .unwrap();
    let up = std::fs::read_to_string(up).unwrap();
    assert!(
        up.contains("-- stratum:allow-hazards data-loss (approved when it was generated)"),
        "{up}"
    );
    let out = stratum_in(p, &["migrate", "--db", &url], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("approved in the file"), "{stderr}");
}

/// A run waiting for another's migration lock says who holds it after a
/// second, and gives up after `timeouts.migration_lock`.
#[tokio::test(flavor = "current_thread")]
async fn waiting_for_the_migration_lock_names_its_holder_and_gives_up() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project(
        "CREATE TABLE t (id int);\n",
        &[("20260101000001_t.sql", "CREATE TABLE t (id int);\n")],
    );
    std::fs::write(
        dir.path().join("stratum.yaml"),
        "timeouts:\n  migration_lock: 2s\n",
    )
    .unwrap();
    let db = server.database("lock_wait").await;
    let holder = server.connect("lock_wait").await;
    holder
        .batch_execute(
            "SET application_name = 'deploy-7'; \
             SELECT pg_advisory_lock(hashtext('stratum migrate public.stratum_migrations')::bigint)",
        )
        .await
        .unwrap();
    let pid = common::strings(&holder, "SELECT pg_backend_pid()::text").await;
    let url = server.url("lock_wait");
    let out = stratum_in(dir.path(), &["migrate", "--db", &url], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let held = format!(
        "held by pid {} (application_name deploy-7), state idle",
        pid[0]
    );
    assert!(
        stderr.contains(&format!(
            "waiting for the migration lock of public.stratum_migrations: {held}"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("gave up waiting for the migration lock after 2.0 s"),
        "{stderr}"
    );
    let tables = "SELECT count(*)::text FROM pg_class WHERE relname = 't'";
    assert_eq!(common::strings(&db, tables).await, ["0"]);
}

/// `resolve --checksum` accepts an applied file's edit with a reason, kept
/// in the history; a CRLF-only edit is called so; a pending migration older
/// than the newest applied one is refused unless allowed.
#[tokio::test(flavor = "current_thread")]
async fn edited_and_out_of_order_migrations() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project(
        "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n",
        &[
            ("20260101000001_a.sql", "CREATE TABLE a (\n  id int\n);\n"),
            ("20260101000003_b.sql", "CREATE TABLE b (id int);\n"),
        ],
    );
    let p = dir.path();
    let db = server.database("hygiene").await;
    let url = server.url("hygiene");
    let out = stratum_in(p, &["migrate", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Line endings only.
    let first = p.join("migrations/20260101000001_a.sql");
    std::fs::write(&first, "CREATE TABLE a (\r\n  id int\r\n);\r\n").unwrap();
    let out = stratum_in(p, &["migrate", "--db", &url], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("only its line endings changed (CRLF and LF)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stratum resolve --checksum 20260101000001"),
        "{stderr}"
    );
    let args = [
        "resolve",
        "--db",
        &url,
        "--checksum",
        "20260101000001",
        "--reason",
        "editor",
    ];
    let out = stratum_in(p, &args, &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("(only its line endings changed)"),
        "{stderr}"
    );
    let repairs =
        "SELECT (repairs -> 0 ->> 'reason') || ' ' || (repairs -> 0 ->> 'from' <> checksum)::text \
                   FROM stratum_migrations WHERE version = '20260101000001'";
    assert_eq!(common::strings(&db, repairs).await, ["editor true"]);
    // An older migration arrives after a newer one was applied.
    std::fs::write(
        p.join("migrations/20260101000002_c.sql"),
        "CREATE TABLE c (id int);\n",
    )
    .unwrap();
    let out = stratum_in(p, &["migrate", "--db", &url], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("migration 20260101000002_c is pending but older than 20260101000003"),
        "{stderr}"
    );
    let tables = "SELECT count(*)::text FROM pg_class WHERE relname = 'c'";
    assert_eq!(common::strings(&db, tables).await, ["0"]);
    let out = stratum_in(p, &["migrate", "--db", &url, "--allow-out-of-order"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(common::strings(&db, tables).await, ["1"]);
}

/// Ctrl-C at `apply`'s question ends the run at once (no Enter needed)
/// with "Not applied.", and nothing is applied. The question needs a
/// terminal: Python's `pty` gives stratum one.
#[tokio::test(flavor = "current_thread")]
async fn a_signal_at_the_question_ends_the_run_at_once() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let dir = project("CREATE TABLE t (id int, note text);\n", &[]);
    let db = server.database("asked").await;
    db.batch_execute("CREATE TABLE t (id int)").await.unwrap();
    let url = server.url("asked");
    let bin = env!("CARGO_BIN_EXE_stratum");
    let spawn = "import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)";
    let mut python = std::process::Command::new("python3")
        .args(["-c", spawn, bin, "apply", "--db", &url])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env("STRATUM_DEV_URL", &dev)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs stratum on a terminal");
    // What the terminal shows, as it comes.
    let (shown, screen) = std::sync::mpsc::channel();
    let mut out = python.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut all = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(n) = out.read(&mut buffer) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buffer[..n]);
            let _ = shown.send(String::from_utf8_lossy(&all).into_owned());
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let asked = tokio::task::spawn_blocking(move || screen.iter().any(|s| s.contains("[y/N]")));
    assert!(asked.await.unwrap(), "apply never asked");
    // stratum itself, not Python, gets the signal, as from a terminal.
    let pid = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            (args.first() == Some(&bin.as_bytes()) && args.contains(&url.as_bytes()))
                .then(|| e.file_name().to_string_lossy().parse::<i32>().ok())
                .flatten()
        })
        .expect("the stratum process");
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let status = python.wait().unwrap();
    let screen = reader.join().unwrap();
    assert_eq!(status.code(), Some(1), "{screen}");
    assert!(screen.contains("Not applied."), "{screen}");
    assert_eq!(columns_of_t(&db).await, "id");
}

/// The proof seeds a table whose CHECK constraints refuse the generated
/// values with the values the checks name, and names a table it could not
/// seed, with why.
#[tokio::test(flavor = "current_thread")]
async fn the_proof_seeds_rows_that_satisfy_checks_and_names_the_tables_it_cannot() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let tables = "CREATE TABLE ct (e text CONSTRAINT allowed CHECK (e IN ('area', 'artist')), \
                    n int CONSTRAINT big CHECK (n > 100));\n\
                  CREATE TABLE stubborn (x int CONSTRAINT never CHECK (x > 0 AND x < 0));\n";
    let dir = project(
        &format!("{tables}ALTER TABLE ct ADD COLUMN note text;\n"),
        &[],
    );
    let db = server.database("checked").await;
    db.batch_execute(tables).await.unwrap();
    let url = server.url("checked");
    let out = stratum_in(dir.path(), &["apply", "--db", &url, "--yes"], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Proved on a copy of the database: 3 rows seeded in 1 table kept"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "proved without rows in public.stubborn: no generated row was accepted (new row for \
             relation \"stubborn\" violates check constraint \"never\")"
        ),
        "{stderr}"
    );
}

/// `check --db` names an INVALID index (what a failed concurrent build
/// leaves) instead of showing only its drop and build.
#[tokio::test(flavor = "current_thread")]
async fn check_names_an_invalid_index() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project(
        "CREATE TABLE t (x int);\nCREATE UNIQUE INDEX t_x ON t (x);\n",
        &[],
    );
    let db = server.database("invalid").await;
    db.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (1)")
        .await
        .unwrap();
    let failed = db
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY t_x ON t (x)")
        .await;
    assert!(failed.is_err());
    let url = server.url("invalid");
    let out = stratum_in(dir.path(), &["check", "--db", &url], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("index public.t_x is INVALID in postgresql://"),
        "{stderr}"
    );
    assert!(
        text(&out.stdout).contains("DROP INDEX"),
        "{}",
        text(&out.stdout)
    );
}
