//! The `stratum` binary end to end: sources, output formats, errors and exit
//! codes, against a real PostgreSQL.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{spawn_in, stratum_in, text, TestServer};

fn stratum(args: &[&str]) -> Output {
    stratum_in(Path::new(env!("CARGO_MANIFEST_DIR")), args, &[])
}

/// `apply --db URL --yes --allow-hazards HAZARDS`.
fn apply_yes<'a>(url: &'a str, hazards: &'a str) -> [&'a str; 6] {
    ["apply", "--db", url, "--yes", "--allow-hazards", hazards]
}

#[test]
fn bundled_example_migrations_build_the_schema() {
    // The README's first command.
    let out = stratum(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "No drift: migrations/ builds schema/.\n");
    let out = stratum(&["diff", "--from", "empty", "--to", "schema/"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("CREATE TABLE app.users ("));
    // The migrations directory as a source: its up files replayed.
    let out = stratum(&["diff", "--from", "migrations/", "--to", "schema/"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("No changes."),
        "{}",
        text(&out.stderr)
    );
    let out = stratum(&["diff", "--from", "empty", "--to", "migrations:migrations"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("CREATE TABLE app.users ("));
}

#[test]
fn syntax_error_is_located_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.sql");
    std::fs::write(
        &file,
        "CREATE TABLE a (id int);\nCREATE TABLE b (\n    x int NOT NOT NULL\n);\n",
    )
    .unwrap();
    let out = stratum(&["diff", "--from", "empty", "--to", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    let expected = format!(
        "error: {}:3:15: syntax error at or near \"NOT\"\n  |\n3 |     x int NOT NOT NULL\n  |               ^\n",
        file.display()
    );
    assert_eq!(err, expected);
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn load_error_names_the_statement_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schema.sql");
    std::fs::write(
        &file,
        "CREATE TABLE a (id int);\nCREATE VIEW v AS SELECT nope FROM a;\n",
    )
    .unwrap();
    let out = stratum(&["diff", "--from", "empty", "--to", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: {}:2:25: column \"nope\" does not exist",
            file.display()
        )),
        "{err}"
    );
}

#[test]
fn unknown_source_is_an_error() {
    let out = stratum(&["diff", "--from", "empty", "--to", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no/such/dir: no such file or directory"));
}

#[test]
fn out_of_order_files_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.sql"),
        "CREATE VIEW s.v AS SELECT id FROM s.t;\nCREATE TRIGGER trg BEFORE INSERT ON s.t FOR EACH ROW EXECUTE FUNCTION s.f();\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.sql"),
        "CREATE TABLE s.t (id int, st s.mood REFERENCES s.u);\nCREATE FUNCTION s.f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n\
         ALTER TABLE s.t OWNER TO some_owner;\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("c.sql"),
        "CREATE TABLE s.u (m s.mood PRIMARY KEY);\nCREATE TYPE s.mood AS ENUM ('ok');\nCREATE SCHEMA s;\n",
    )
    .unwrap();
    let out = stratum(&[
        "diff",
        "--from",
        "empty",
        "--to",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sql = text(&out.stdout);
    for needle in [
        "CREATE SCHEMA s;",
        "CREATE TYPE s.mood",
        "CREATE VIEW s.v",
        "CREATE TRIGGER trg",
    ] {
        assert!(sql.contains(needle), "{needle} missing from\n{sql}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn live_database_source_with_hazards_json_and_unmanaged() {
    let server = TestServer::start().await;
    let db = server.database("live").await;
    db.batch_execute(
        "CREATE TABLE users (id int PRIMARY KEY, email text, phone text);
         INSERT INTO users SELECT g, 'u' || g, NULL FROM generate_series(1, 1000) g;
         ANALYZE users;
         CREATE FUNCTION my_rank() RETURNS bigint LANGUAGE internal WINDOW IMMUTABLE AS 'window_rank';",
    )
    .await
    .unwrap();
    let url = server.url("live");
    let dir = tempfile::tempdir().unwrap();
    let desired = dir.path().join("schema.sql");
    std::fs::write(
        &desired,
        "CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL);\n",
    )
    .unwrap();

    let out = stratum(&["diff", "--from", &url, "--to", desired.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sql = text(&out.stdout);
    assert!(
        sql.contains("-- hazard data-loss: drops column public.users.phone (about 1 000 rows, ")
            && sql.contains("ALTER TABLE public.users DROP COLUMN phone;"),
        "{sql}"
    );
    let summary = text(&out.stderr);
    assert!(summary.contains("~ table public.users: "), "{summary}");
    assert!(
        summary.contains("not managed yet: window function public.my_rank()"),
        "{summary}"
    );

    let out = stratum(&[
        "diff",
        "--from",
        &url,
        "--to",
        desired.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = json["steps"].as_array().unwrap();
    // The drop, and SET NOT NULL online: a check added, validated, used
    // and dropped.
    let kinds: Vec<&str> = steps.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "drop_column",
            "add_not_null_check",
            "validate_not_null_check",
            "set_not_null",
            "drop_not_null_check"
        ],
        "{json:#}"
    );
    let drop = steps.iter().find(|s| s["kind"] == "drop_column").unwrap();
    assert_eq!(drop["hazards"][0]["code"], "data-loss");
    let facts = &drop["hazards"][0]["table"];
    assert_eq!(facts["table"], "public.users", "{json:#}");
    assert_eq!(facts["rows"], 1000, "{json:#}");
    assert!(facts["bytes"].as_i64().unwrap() > 0, "{json:#}");
    assert_eq!(facts["lock"], "ACCESS EXCLUSIVE", "{json:#}");
    assert_eq!(drop["sql"], "ALTER TABLE public.users DROP COLUMN phone;");
    assert_eq!(json["unmanaged"][0]["kind"], "window function");

    // Database to database, and a database against itself.
    let out = stratum(&["diff", "--from", &url, "--to", &url]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "");
    assert!(text(&out.stderr).contains("No changes."));
}

/// A table never vacuumed nor analyzed has no size in the statistics: it is
/// measured on disk, but only when a hazard reports it.
#[tokio::test(flavor = "current_thread")]
async fn never_analyzed_tables_are_measured_when_a_hazard_names_them() {
    let server = TestServer::start().await;
    let db = server.database("unanalyzed").await;
    db.batch_execute(
        "CREATE TABLE logs (id int, body text);
         INSERT INTO logs SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g;
         CREATE TABLE other (id int);
         INSERT INTO other SELECT generate_series(1, 100);",
    )
    .await
    .unwrap();
    let bytes: i64 = db
        .query_one("SELECT pg_total_relation_size('logs')", &[])
        .await
        .unwrap()
        .get(0);
    let dir = tempfile::tempdir().unwrap();
    let desired = dir.path().join("schema.sql");
    std::fs::write(
        &desired,
        "CREATE TABLE logs (id int);\nCREATE TABLE other (id int);\n",
    )
    .unwrap();
    let url = server.url("unanalyzed");
    let to = desired.to_str().unwrap();

    let out = stratum(&["diff", "--from", &url, "--to", to]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sql = text(&out.stdout);
    assert!(
        sql.contains("drops column public.logs.body (rows not yet counted by ANALYZE, "),
        "{sql}"
    );
    let out = stratum(&["diff", "--from", &url, "--to", to, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let facts = &json["steps"][0]["hazards"][0]["table"];
    assert_eq!(facts["table"], "public.logs", "{json:#}");
    assert_eq!(facts["rows"], serde_json::Value::Null, "{json:#}");
    assert_eq!(facts["bytes"], bytes, "{json:#}");
}

#[tokio::test(flavor = "current_thread")]
async fn apply_refuses_authz_changes_and_keeps_rows_and_policies() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("guarded").await;
    let policy = "CREATE POLICY only_x ON t USING (a = 'x');";
    db.batch_execute(&format!(
        "CREATE TABLE t (id int, a varchar(10));\nALTER TABLE t ENABLE ROW LEVEL SECURITY;\n\
         {policy}\nINSERT INTO t VALUES (1, 'x'), (2, 'y');"
    ))
    .await
    .unwrap();
    let url = server.url("guarded");
    // The column is retyped under the policy, which must be rebuilt around it.
    let dir = project_with(&format!(
        "CREATE TABLE t (id int, a text);\nALTER TABLE t ENABLE ROW LEVEL SECURITY;\n{policy}\n"
    ));
    let p = dir.path();
    let out = stratum_in(p, &["plan", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sql = text(&out.stdout);
    let order: Vec<usize> = [
        "DROP POLICY only_x ON public.t;",
        "ALTER TABLE public.t ALTER COLUMN a TYPE text;",
        "CREATE POLICY only_x ON public.t USING",
    ]
    .iter()
    .map(|needle| {
        sql.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing from\n{sql}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{sql}");

    // The lock allowed, the policy steps are still refused.
    let lock = [
        "apply",
        "--db",
        &url,
        "--allow-hazards",
        "access-exclusive-lock",
        "--yes",
    ];
    let out = stratum_in(p, &lock, &env);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("refused policy only_x on public.t (drop_policy): hazard authz-change"),
        "{err}"
    );
    // The exact approval of what was refused, object by object, and the
    // approval of the whole kind.
    assert!(
        err.contains(
            "To accept these hazards: --allow-hazards 'authz-change:policy only_x on public.t"
        ),
        "{err}"
    );
    assert!(
        err.contains("(or every hazard of these kinds: --allow-hazards authz-change)"),
        "{err}"
    );
    let intact = "SELECT (SELECT count(*) FROM t) || ' ' || (SELECT count(*) FROM pg_policy) \
                  || ' ' || (SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
                             WHERE attrelid = 't'::regclass AND attname = 'a')";
    assert_eq!(
        common::strings(&db, intact).await,
        ["2 1 character varying(10)"]
    );

    // Approved object by object, with the flag the refusal printed.
    let exact = err
        .split("To accept these hazards: --allow-hazards '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the exact flag")
        .to_string();
    let allow = [
        "apply",
        "--db",
        &url,
        "--allow-hazards",
        "access-exclusive-lock",
        "--allow-hazards",
        &exact,
        "--yes",
    ];
    let out = stratum_in(p, &allow, &env);
    assert_eq!(out.status.code(), Some(0), "{exact}: {}", text(&out.stderr));
    assert_eq!(common::strings(&db, intact).await, ["2 1 text"]);
    let out = stratum_in(p, &["plan", "--db", &url], &env);
    assert_eq!(text(&out.stdout), "");
}

/// A project directory with `schema/schema.sql` = `sql`.
fn project_with(sql: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("schema")).unwrap();
    std::fs::write(dir.path().join("schema/schema.sql"), sql).unwrap();
    dir
}

#[tokio::test(flavor = "current_thread")]
async fn check_exits_0_1_2_and_migrate_status_follow() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project_with("CREATE TABLE users (id int PRIMARY KEY, email text);\n");
    let p = dir.path();

    let out = stratum_in(p, &["generate"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("wrote migrations/") && err.contains("_create_users.sql"),
        "{err}"
    );
    assert_eq!(stratum_in(p, &["check"], &env).status.code(), Some(0));
    // A hand-written migration skeleton changes nothing check can see.
    let out = stratum_in(
        p,
        &["generate", "--empty", "--name", "Backfill emails"],
        &env,
    );
    assert!(
        text(&out.stderr).contains("_backfill_emails.down.sql"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(stratum_in(p, &["check"], &env).status.code(), Some(0));
    let out = stratum_in(p, &["generate"], &env);
    assert_eq!(
        text(&out.stderr),
        "No changes: migrations/ builds schema/.\n"
    );

    // schema/ edited without generating: exit 1, a diff and the fix.
    std::fs::write(
        p.join("schema/schema.sql"),
        "CREATE TABLE users (id int PRIMARY KEY, email text, phone text);\n",
    )
    .unwrap();
    let out = stratum_in(p, &["check"], &env);
    assert_eq!(out.status.code(), Some(1));
    let shown = text(&out.stdout);
    assert!(shown.contains("+    phone text"), "{shown}");
    assert!(
        shown.contains("ALTER TABLE public.users ADD COLUMN phone text;"),
        "{shown}"
    );
    assert!(text(&out.stderr).contains("stratum generate"));

    // A syntax error: exit 2, located.
    std::fs::write(
        p.join("schema/schema.sql"),
        "CREATE TABLE users (id int,);\n",
    )
    .unwrap();
    let out = stratum_in(p, &["check"], &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("error: schema/schema.sql:1:28: syntax error"),
        "{}",
        text(&out.stderr)
    );

    // Against a database, through DATABASE_URL: pending, migrated, clean.
    std::fs::write(
        p.join("schema/schema.sql"),
        "CREATE TABLE users (id int PRIMARY KEY, email text, phone text);\n",
    )
    .unwrap();
    let out = stratum_in(p, &["generate"], &env);
    assert!(
        text(&out.stderr).contains("_add_users_phone.sql"),
        "{}",
        text(&out.stderr)
    );
    server.database("cli_flow").await;
    let url = server.url("cli_flow");
    let db_env = [
        ("STRATUM_DEV_URL", dev.as_str()),
        ("DATABASE_URL", url.as_str()),
    ];
    let out = stratum_in(p, &["status"], &db_env);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout).matches("pending").count(),
        3,
        "{}",
        text(&out.stdout)
    );
    let out = stratum_in(p, &["check", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(1));
    let out = stratum_in(p, &["migrate"], &db_env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Applied 3 migrations."));
    let out = stratum_in(p, &["status", "--format", "json"], &db_env);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["migrations"][2]["state"], "applied");
    let out = stratum_in(p, &["check", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[tokio::test(flavor = "current_thread")]
async fn apply_refuses_data_loss_and_keeps_every_row() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("declarative").await;
    db.batch_execute(
        "CREATE TABLE users (id int PRIMARY KEY, phone text);
         INSERT INTO users SELECT g, 'p' || g FROM generate_series(1, 50) g;",
    )
    .await
    .unwrap();
    let url = server.url("declarative");
    let dir = project_with("CREATE TABLE users (id int PRIMARY KEY);\n");
    let p = dir.path();

    let out = stratum_in(p, &["plan", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("ALTER TABLE public.users DROP COLUMN phone;"));

    let out = stratum_in(p, &["apply", "--db", &url, "--yes"], &env);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("refused column public.users.phone (drop_column): hazard data-loss"),
        "{err}"
    );
    assert!(err.contains("--allow-hazards data-loss"), "{err}");
    let rows: i64 = db
        .query_one("SELECT count(phone) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 50);

    // No terminal and no --yes: never applies.
    let out = stratum_in(
        p,
        &["apply", "--db", &url, "--allow-hazards", "data-loss"],
        &env,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a terminal"));

    let out = stratum_in(
        p,
        &[
            "apply",
            "--db",
            &url,
            "--allow-hazards",
            "data-loss",
            "--yes",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("in one transaction"),
        "{}",
        text(&out.stderr)
    );
    let rows: i64 = db
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 50);
    let out = stratum_in(p, &["plan", "--db", &url], &env);
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn config_errors_name_file_line_and_key() {
    let dir = project_with("CREATE TABLE t ();\n");
    std::fs::write(
        dir.path().join("stratum.yaml"),
        "schema: schema/\nlayout: liquibase\n",
    )
    .unwrap();
    let out = stratum_in(dir.path(), &["check"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: stratum.yaml:2:9: layout: unknown variant `liquibase`"),
        "{err}"
    );
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = stratum(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0));
        let script = text(&out.stdout);
        assert!(
            script.contains("generate") && script.contains("migrate"),
            "{shell}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn schema_files_load_as_written_each_in_its_own_session() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema");
    std::fs::create_dir(&schema).unwrap();
    // a.sql's search_path and role end with it; b.sql refers to a type that
    // c.sql makes (retried), and grants to a role the server lacks (a stub).
    std::fs::write(
        schema.join("a.sql"),
        "CREATE SCHEMA app;\nSET search_path = app;\nCREATE TABLE t (id int);\n",
    )
    .unwrap();
    std::fs::write(
        schema.join("b.sql"),
        "CREATE TABLE u (m mood);\nGRANT SELECT ON u TO stratum_reader_stub;\n",
    )
    .unwrap();
    std::fs::write(schema.join("c.sql"), "CREATE TYPE mood AS ENUM ('ok');\n").unwrap();
    let db = server.database("loaded").await;
    common::load(&db, &schema).await.unwrap();
    let tables = common::strings(
        &db,
        "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relname IN ('t', 'u') ORDER BY 1",
    )
    .await;
    assert_eq!(tables, ["app.t", "u"]);
    // The stub role exists; the type's name never became one.
    let roles = common::strings(
        &db,
        "SELECT rolname::text FROM pg_roles WHERE rolname IN ('stratum_reader_stub', 'mood')",
    )
    .await;
    assert_eq!(roles, ["stratum_reader_stub"]);
    // The session is back to its own settings afterwards.
    let path: String = db.query_one("SHOW search_path", &[]).await.unwrap().get(0);
    assert_eq!(path, "\"$user\", public");
}

#[tokio::test(flavor = "current_thread")]
async fn an_object_dropped_while_reading_is_an_error_not_a_panic() {
    use stratum::kinds::{function::FunctionChange, reader::Reader, Catalog, Kind};
    let server = TestServer::start().await;
    let mut reading = server.database("dropped_meanwhile").await;
    reading
        .batch_execute("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$")
        .await
        .unwrap();
    let other = server.connect("dropped_meanwhile").await;
    let tx = reading
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await
        .unwrap();
    tx.batch_execute("SELECT 1").await.unwrap(); // takes the snapshot
    other.batch_execute("DROP FUNCTION f()").await.unwrap();
    // The snapshot still lists the function; pg_get_functiondef no longer
    // finds it and prints NULL.
    let rows = tx
        .query(&FunctionChange::query(150000).unwrap(), &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let err = FunctionChange::read(&rows, &mut Catalog::default(), &mut Reader::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("function public.f was changed or dropped while stratum read the catalog"),
        "{err}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn history_table_in_its_own_schema() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    // The schema stratum keeps its history in: declared by schema/ too, or not.
    for (n, sql) in [
        "CREATE TABLE users (id int PRIMARY KEY);\n",
        "CREATE SCHEMA ops;\nCREATE TABLE ops.jobs (id int);\nCREATE TABLE users (id int PRIMARY KEY);\n",
    ]
    .into_iter()
    .enumerate()
    {
        let dir = project_with(sql);
        let p = dir.path();
        std::fs::write(
            p.join("stratum.yaml"),
            "history_table: ops.stratum_migrations\n",
        )
        .unwrap();
        let out = stratum_in(p, &["generate"], &env);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let db = format!("history_ops_{n}");
        server.database(&db).await;
        let url = server.url(&db);
        let out = stratum_in(p, &["migrate", "--db", &url], &env);
        assert_eq!(out.status.code(), Some(0), "{sql}{}", text(&out.stderr));
        let out = stratum_in(p, &["check", "--db", &url], &env);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{sql}{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let out = stratum_in(p, &["status", "--db", &url], &env);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
        // Going down keeps the schema that holds the history.
        let out = stratum_in(
            p,
            &["down", "--db", &url, "--allow-hazards", "data-loss"],
            &env,
        );
        assert_eq!(out.status.code(), Some(0), "{sql}{}", text(&out.stderr));
        let out = stratum_in(p, &["status", "--db", &url], &env);
        assert!(text(&out.stdout).contains("pending"), "{}", text(&out.stdout));
    }
}

/// A password never reaches any output: each command runs with URLs that
/// carry a marker password (as `user:password@`, with `@`, `:` and `%`
/// encoded in it, and as `?password=`), against a database that exists
/// and one that does not, in text and JSON; the marker appears nowhere.
#[tokio::test(flavor = "current_thread")]
async fn passwords_never_reach_any_output() {
    const MARKER: &str = "Zq7";
    let server = TestServer::start().await;
    let dir = project_with("CREATE TABLE users (id int PRIMARY KEY, email text);\n");
    let p = dir.path();
    server.database("secret_db").await;
    // The test server trusts local connections, so any password logs in.
    let urls = |db: &str| {
        let plain = server.url(db);
        let (head, tail) = plain.split_once('@').unwrap();
        [
            format!("{head}:{MARKER}secret{MARKER}@{tail}"),
            format!("{head}:{MARKER}se%40cr%3Aet%25{MARKER}@{tail}"),
            format!("{plain}&password={MARKER}secret"),
            // Not encoded, as users type them.
            format!("{head}:{MARKER}s@c:r%t{MARKER}@{tail}"),
        ]
    };
    let dev = urls("postgres")[0].clone();
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let out = stratum_in(p, &["generate"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut runs = 0;
    for db in ["secret_db", "no_such_db"] {
        for url in urls(db) {
            let commands: Vec<Vec<&str>> = vec![
                vec!["diff", "--from", &url, "--to", "schema/"],
                vec!["plan", "--db", &url],
                vec!["check", "--db", &url],
                vec!["apply", "--db", &url, "--yes"],
                vec!["migrate", "--db", &url],
                vec!["status", "--db", &url],
                vec!["check", "--db", &url],
                vec!["dump", "--db", &url, "--out", "-"],
                vec!["down", "--db", &url],
                vec!["resolve", "--db", &url, "--rolled-back", "1"],
            ];
            for args in commands {
                for format in [None, Some("json")] {
                    let mut args = args.clone();
                    if let Some(f) = format {
                        args.extend(["--format", f]);
                    }
                    let out = stratum_in(p, &args, &env);
                    runs += 1;
                    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
                        let shown = text(bytes);
                        assert!(
                            !shown.contains(MARKER),
                            "`stratum {}` showed the password on {stream}:\n{shown}",
                            args.join(" ")
                        );
                    }
                }
            }
        }
    }
    // DATABASE_URL and a dev server that refuses: the same.
    let bad_dev = urls("no_such_db")[0].clone();
    for env in [
        vec![
            ("DATABASE_URL", urls("secret_db")[1].as_str()),
            ("STRATUM_DEV_URL", dev.as_str()),
        ],
        vec![("STRATUM_DEV_URL", bad_dev.as_str())],
    ] {
        for args in [vec!["status"], vec!["check"], vec!["generate"]] {
            let out = stratum_in(p, &args, &env);
            runs += 1;
            let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
            assert!(
                !shown.contains(MARKER),
                "`stratum {}`:\n{shown}",
                args.join(" ")
            );
        }
    }
    assert!(runs > 100);
}

/// Rows of `sql` on the test server's `postgres` database, as text.
async fn texts(server: &TestServer, sql: &str) -> Vec<String> {
    let client = server.connect("postgres").await;
    common::strings(&client, sql).await
}

/// Waits (up to 20 s) until `ready` holds.
async fn wait_for<F: std::future::Future<Output = bool>>(what: &str, ready: impl Fn() -> F) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ready().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Killed (SIGKILL) or interrupted (SIGINT) in the middle of a load, with
/// the embedded server and with --dev-url: once the run is over (SIGINT)
/// or the next run has started (SIGKILL), nothing stratum made is left:
/// no cluster directory, no server process, no scratch database, no stub
/// role.
#[tokio::test(flavor = "current_thread")]
async fn killed_and_interrupted_runs_leave_nothing_behind() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let dir = project_with(
        "CREATE TABLE t (a int);\nGRANT SELECT ON t TO stub_reader;\nSELECT pg_sleep(4);\n",
    );
    let scratch = tempfile::tempdir().unwrap();
    let scratch_dir = scratch.path().display().to_string();
    let clusters = || {
        std::fs::read_dir(scratch.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("stratum-pg-")
            })
            .collect::<Vec<_>>()
    };
    // A server process whose command line names the scratch directory.
    let servers = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .filter(|c| String::from_utf8_lossy(c).contains(&scratch_dir))
            .count()
    };
    let scratch_dbs = "SELECT datname::text FROM pg_database WHERE datname LIKE 'stratum_scratch%'";
    let sleeping = "SELECT datname::text FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'";
    for signal in [libc::SIGKILL, libc::SIGINT] {
        for on_dev in [false, true] {
            let case = format!("signal {signal}, dev server {on_dev}");
            let mut env = vec![("STRATUM_SCRATCH_DIR", scratch_dir.as_str())];
            if on_dev {
                env.push(("STRATUM_DEV_URL", dev.as_str()));
            }
            let spawn = |args: &[&str]| {
                Command::new(env!("CARGO_BIN_EXE_stratum"))
                    .args(args)
                    .current_dir(dir.path())
                    .env_remove("DATABASE_URL")
                    .env_remove("STRATUM_DEV_URL")
                    .envs(env.iter().copied())
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            };
            let mut run = spawn(&["diff", "--from", "empty", "--to", "schema/"]);
            // Wait until the load is in its pg_sleep.
            if on_dev {
                wait_for("the load", || async {
                    !texts(&server, sleeping).await.is_empty()
                })
                .await;
            } else {
                wait_for("the load", || async {
                    let Some(cluster) = clusters().into_iter().next() else {
                        return false;
                    };
                    let mut config = tokio_postgres::Config::new();
                    config
                        .host_path(&cluster)
                        .port(5432)
                        .user("stratum")
                        .dbname("postgres");
                    match stratum::conninfo::connect(&config).await {
                        Ok(c) => !common::strings(&c, sleeping).await.is_empty(),
                        Err(_) => false,
                    }
                })
                .await;
            }
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(run.id() as i32, signal) };
            let status = run.wait().unwrap();
            if signal == libc::SIGINT {
                assert_eq!(status.code(), Some(2), "{case}");
            } else {
                // What the kernel does not clean up stays until the next run,
                // which removes what a dead run left once no session uses it.
                wait_for("the sleeping session to end", || async {
                    texts(&server, sleeping).await.is_empty()
                })
                .await;
                wait_for("the killed server to stop", || async { servers() == 0 }).await;
                let out = spawn(&["diff", "--from", "empty", "--to", "empty"])
                    .wait_with_output()
                    .unwrap();
                assert_eq!(out.status.code(), Some(0), "{case}: {}", text(&out.stderr));
            }
            wait_for("the servers to stop", || async { servers() == 0 }).await;
            assert_eq!(clusters(), Vec::<std::path::PathBuf>::new(), "{case}");
            assert_eq!(
                texts(&server, scratch_dbs).await,
                Vec::<String>::new(),
                "{case}"
            );
            let roles = texts(
                &server,
                "SELECT rolname::text FROM pg_roles WHERE rolname = 'stub_reader'",
            );
            assert_eq!(roles.await, Vec::<String>::new(), "{case}");
        }
    }
}

/// A hazard approved on one object (`--allow-hazards data-loss:t.b`, and
/// in stratum.yaml): the other drop is still refused, the refusal names
/// the exact flag, and with it the file runs; nothing ran before.
#[tokio::test(flavor = "current_thread")]
async fn a_hazard_is_approved_object_by_object() {
    let server = TestServer::start().await;
    let db = server.database("approvals").await;
    let url = server.url("approvals");
    let dir = project_with("CREATE TABLE t (id int);\nCREATE TABLE u (id int);\n");
    let p = dir.path();
    std::fs::create_dir(p.join("migrations")).unwrap();
    std::fs::write(
        p.join("migrations/20260101000000_t.sql"),
        "CREATE TABLE t (id int, a text, b text);\n",
    )
    .unwrap();
    std::fs::write(
        p.join("migrations/20260102000000_drop.sql"),
        "ALTER TABLE t DROP COLUMN a;\nALTER TABLE t DROP COLUMN b;\n",
    )
    .unwrap();
    let out = stratum_in(p, &["migrate", "--db", &url, "--to", "20260101000000"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = [
        "migrate",
        "--db",
        &url,
        "--allow-hazards",
        "data-loss:public.t.a",
    ];
    let out = stratum_in(p, &first, &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("drops column t.a (migrations/20260102000000_drop.sql:1): approved"),
        "{err}"
    );
    assert!(
        err.contains("approve them for this run with --allow-hazards data-loss:t.b (or every"),
        "{err}"
    );
    let columns = "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute \
                   WHERE attrelid = 't'::regclass AND attnum > 0 AND NOT attisdropped";
    assert_eq!(common::strings(&db, columns).await, ["id,a,b"]);
    let out = stratum_in(
        p,
        &[
            "migrate",
            "--db",
            &url,
            "--allow-hazards",
            "data-loss:public.t.a,data-loss:t.b",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(common::strings(&db, columns).await, ["id"]);

    // In stratum.yaml, for apply: the one column it names.
    db.batch_execute("CREATE TABLE u (id int, x text, y text)")
        .await
        .unwrap();
    std::fs::write(
        p.join("stratum.yaml"),
        "allow_hazards: [\"data-loss:public.u.x\"]\n",
    )
    .unwrap();
    let out = stratum_in(p, &["apply", "--db", &url, "--yes"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--allow-hazards data-loss:public.u.y (or"));
    std::fs::write(
        p.join("stratum.yaml"),
        "allow_hazards: [\"data-loss:public.u.x\", \"data-loss:public.u.y\"]\n",
    )
    .unwrap();
    let out = stratum_in(p, &["apply", "--db", &url, "--yes"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let columns = "SELECT count(*)::text FROM pg_attribute WHERE attrelid = 'u'::regclass \
                   AND attnum > 0 AND NOT attisdropped";
    assert_eq!(common::strings(&db, columns).await, ["1"]);
}

/// `plan --format markdown`, the pull request comment: counts by kind and
/// change, a hazard table with the table's facts (every hazard a live plan
/// can carry, online and plain), the SQL folded; and `diff`'s and
/// `generate`'s.
#[tokio::test(flavor = "current_thread")]
async fn plans_as_markdown_for_a_pull_request() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("reviewed").await;
    db.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, a int, b text, c text);\n\
         CREATE INDEX t_a ON t (a);\n\
         INSERT INTO t SELECT g, g, 'x' || g, 'y' FROM generate_series(1, 1000) g;\n\
         ANALYZE t;",
    )
    .await
    .unwrap();
    let dir = project_with(
        "CREATE TABLE t (id bigint PRIMARY KEY, a int NOT NULL, b text);\n\
         CREATE INDEX t_b ON t (b);\n\
         ALTER TABLE t ENABLE ROW LEVEL SECURITY;\n",
    );
    let p = dir.path();
    let url = server.url("reviewed");
    for (name, online) in [
        ("plan_markdown_online", true),
        ("plan_markdown_plain", false),
    ] {
        let mut args = vec!["plan", "--db", &url, "--format", "markdown"];
        if !online {
            args.push("--no-online");
        }
        let out = stratum_in(p, &args, &env);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let markdown = text(&out.stdout).replace(&url, "URL");
        insta::assert_snapshot!(name, markdown);
    }
    // check's: the drifted object, its DDL's diff, the plan.
    let out = stratum_in(p, &["check", "--db", &url, "--format", "markdown"], &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    insta::assert_snapshot!("check_markdown", text(&out.stdout).replace(&url, "URL"));
    let out = stratum_in(
        p,
        &[
            "diff", "--from", "empty", "--to", "schema/", "--format", "markdown",
        ],
        &env,
    );
    let markdown = text(&out.stdout);
    assert!(
        markdown.starts_with(
            "<!-- stratum -->\n### stratum diff: `empty` → `schema/`\n\n**+1 index, +1 table, \
             ~1 row level security** · 3 steps · 1 hazard\n"
        ),
        "{markdown}"
    );
    assert!(markdown.contains("<details><summary>SQL (3 statements)</summary>"));
    let out = stratum_in(p, &["generate", "--format", "markdown"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("### stratum generate: migrations/"),
        "{}",
        text(&out.stdout)
    );
}

/// `check` over a fleet: 50 databases on the test server against one
/// schema/, several drifted, four at a time: one table, exit 1; a database
/// that cannot be reached makes it exit 2 and says why on its row.
#[tokio::test(flavor = "current_thread")]
async fn check_over_a_fleet_of_fifty_databases() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let schema = "CREATE TABLE users (id int PRIMARY KEY, email text);\n";
    let dir = project_with(schema);
    let p = dir.path();
    let drifted = [7, 23, 41];
    let mut list = String::from("# tenants\n");
    for n in 0..50 {
        let name = format!("tenant_{n:02}");
        let db = server.database(&name).await;
        db.batch_execute(schema).await.unwrap();
        if drifted.contains(&n) {
            db.batch_execute("ALTER TABLE users ADD COLUMN nickname text")
                .await
                .unwrap();
        }
        list.push_str(&server.url(&name));
        list.push('\n');
    }
    std::fs::write(p.join("tenants.txt"), &list).unwrap();
    let out = stratum_in(
        p,
        &["check", "--db-list", "tenants.txt", "--jobs", "4"],
        &env,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 50, "{stdout}");
    for (n, row) in rows.iter().enumerate() {
        assert!(row.contains(&format!("/tenant_{n:02}?")), "{row}");
        let want = if drifted.contains(&n) {
            "drift  1 (table public.users)"
        } else {
            "ok     0"
        };
        assert!(row.contains(want), "{row}");
    }
    assert_eq!(
        text(&out.stderr),
        "50 databases: 47 match the schema, 3 drifted, 0 could not be checked.\n"
    );
    // JSON for programs; a missing database is an error row and exit 2.
    let missing = server.url("no_such_tenant");
    let first = server.url("tenant_00");
    let out = stratum_in(
        p,
        &[
            "check", "--db", &first, "--db", &missing, "--format", "json",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], 1);
    assert_eq!(json["errors"], 1);
    assert_eq!(json["databases"][1]["state"], "error");
    let error = json["databases"][1]["error"].as_str().unwrap();
    assert!(error.contains("no_such_tenant"), "{error}");
}

/// Online by default: `plan` builds an existing table's index CONCURRENTLY
/// (`--no-online` does not), and when `apply`'s concurrent build fails (a
/// UNIQUE index over duplicates) the INVALID index it leaves is dropped and
/// the error says so.
#[tokio::test(flavor = "current_thread")]
async fn online_index_builds_and_their_failure_clean_up() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project_with(
        "CREATE TABLE users (id int, email text);\nCREATE UNIQUE INDEX users_email ON users (email);\n",
    );
    let p = dir.path();
    let db = server.database("online").await;
    db.batch_execute(
        "CREATE TABLE users (id int, email text); INSERT INTO users VALUES (1, 'a'), (2, 'a');",
    )
    .await
    .unwrap();
    let url = server.url("online");
    let out = stratum_in(p, &["plan", "--db", &url], &env);
    assert!(
        text(&out.stdout).contains("CREATE UNIQUE INDEX CONCURRENTLY users_email ON public.users"),
        "{}",
        text(&out.stdout)
    );
    let out = stratum_in(p, &["plan", "--db", &url, "--no-online"], &env);
    assert!(
        text(&out.stdout).contains("CREATE UNIQUE INDEX users_email ON public.users"),
        "{}",
        text(&out.stdout)
    );
    // The pre-check would refuse it first (tests/pre_checks.rs); this is
    // the executor's own clean-up when a build fails all the same.
    let out = stratum_in(p, &["apply", "--db", &url, "--yes"], &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("1 duplicate value, e.g. email = 'a' (2 rows)"));
    let out = stratum_in(
        p,
        &["apply", "--db", &url, "--yes", "--no-pre-checks"],
        &env,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("could not create unique index"), "{stderr}");
    assert!(
        stderr.contains("What it left behind was removed (DROP INDEX CONCURRENTLY IF EXISTS public.users_email;)"),
        "{stderr}"
    );
    let left = common::strings(
        &db,
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'users'::regclass",
    )
    .await;
    assert_eq!(left, Vec::<String>::new());
}

/// A step that cannot get its lock in time gives up quickly (lock_timeout),
/// is tried again with backoff (the output says each try), and succeeds
/// once the lock is released; a lock that is never released stops `apply`
/// cleanly, with nothing applied.
#[tokio::test(flavor = "current_thread")]
async fn lock_timeouts_are_retried_then_stop_cleanly() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project_with("CREATE TABLE t (id int, note text);\n");
    let p = dir.path();
    let db = server.database("locked").await;
    db.batch_execute("CREATE TABLE t (id int)").await.unwrap();
    let url = server.url("locked");
    let holder = server.connect("locked").await;
    let apply = |retries: &str| {
        let args = [
            "apply",
            "--db",
            &url,
            "--yes",
            "--lock-timeout",
            "200ms",
            "--retries",
            retries,
        ];
        spawn_in(p, &args, &env)
    };
    // Released after a while: retried, then applied.
    holder
        .batch_execute("BEGIN; LOCK TABLE t IN ACCESS SHARE MODE")
        .await
        .unwrap();
    let run = apply("10");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    holder.batch_execute("COMMIT").await.unwrap();
    let out = run.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("step 1 of 1 (column public.t.note) timed out waiting for a lock; rolled back; trying again in"),
        "{stderr}"
    );
    assert!(stderr.contains("Applied 1 step"), "{stderr}");
    // Never released: stops after its tries, nothing applied.
    std::fs::write(
        p.join("schema/schema.sql"),
        "CREATE TABLE t (id int, note text, extra text);\n",
    )
    .unwrap();
    holder
        .batch_execute("BEGIN; LOCK TABLE t IN ACCESS SHARE MODE")
        .await
        .unwrap();
    let out = apply("2").wait_with_output().unwrap();
    holder.batch_execute("COMMIT").await.unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("failed (after 3 tries): canceling statement due to lock timeout"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Rolled back; the database is unchanged."),
        "{stderr}"
    );
    let columns = common::strings(
        &db,
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0",
    )
    .await;
    assert_eq!(columns, ["id", "note"]);
}

/// A drop and a create of the same shape in one plan get a hint, never a
/// rename on a guess.
#[test]
fn drops_and_creates_of_the_same_shape_hint_at_a_rename() {
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before.sql");
    let after = dir.path().join("after.sql");
    std::fs::write(
        &before,
        "CREATE TABLE users (id int, name text, age int);\nCREATE TABLE logs (id int, line text);\n",
    )
    .unwrap();
    std::fs::write(
        &after,
        "CREATE TABLE users (id int, full_name text, age int);\nCREATE TABLE events (id int, line text);\n",
    )
    .unwrap();
    let out = stratum(&[
        "diff",
        "--from",
        before.to_str().unwrap(),
        "--to",
        after.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("hint: possible rename: column public.users.name -> public.users.full_name: planned as drop and add, which loses its data; to keep it, add -- stratum:renamed-from name on the line of full_name"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: possible rename: table public.logs -> public.events"),
        "{stderr}"
    );
    // The plan itself is unchanged: drop and add.
    assert!(text(&out.stdout).contains("DROP COLUMN name"));
}

/// Each migration file runs in a clean session: a `SET search_path` or
/// `SET ROLE` in one does not reach the next.
#[tokio::test(flavor = "current_thread")]
async fn each_migration_file_starts_in_a_clean_session() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project_with(
        "CREATE SCHEMA other;\nCREATE TABLE other.a (id int);\nCREATE TABLE b (id int);\n",
    );
    let p = dir.path();
    std::fs::create_dir(p.join("migrations")).unwrap();
    std::fs::write(
        p.join("migrations/20260101000000_first.sql"),
        "CREATE SCHEMA other;\nSET search_path = other;\nCREATE TABLE a (id int);\n",
    )
    .unwrap();
    std::fs::write(
        p.join("migrations/20260101000001_second.sql"),
        "CREATE TABLE b (id int);\n",
    )
    .unwrap();
    let db = server.database("sessions").await;
    let url = server.url("sessions");
    let out = stratum_in(p, &["migrate", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let tables = common::strings(
        &db,
        "SELECT schemaname || '.' || tablename FROM pg_tables WHERE tablename IN ('a', 'b') ORDER BY 1",
    )
    .await;
    assert_eq!(tables, ["other.a", "public.b"]);
    let out = stratum_in(p, &["check", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// `migrate` waits at most --lock-timeout for a lock, and tries the file
/// again once it is released.
#[tokio::test(flavor = "current_thread")]
async fn migrate_retries_a_file_that_timed_out_on_a_lock() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project_with("CREATE TABLE t (id int, x int);\n");
    let p = dir.path();
    std::fs::create_dir(p.join("migrations")).unwrap();
    std::fs::write(
        p.join("migrations/20260101000001_x.sql"),
        "ALTER TABLE t ADD COLUMN x int;\n",
    )
    .unwrap();
    let db = server.database("migrate_locked").await;
    db.batch_execute("CREATE TABLE t (id int)").await.unwrap();
    let url = server.url("migrate_locked");
    let holder = server.connect("migrate_locked").await;
    holder
        .batch_execute("BEGIN; LOCK TABLE t IN ACCESS SHARE MODE")
        .await
        .unwrap();
    let args = [
        "migrate",
        "--db",
        &url,
        "--lock-timeout",
        "200ms",
        "--retries",
        "10",
    ];
    let mut run = spawn_in(p, &args, &env);
    // The lock is released once stratum has said that it timed out on it.
    let (lines, said) = std::sync::mpsc::channel();
    let stderr = run.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let _ = lines.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let first = tokio::task::spawn_blocking(move || said.recv().unwrap())
        .await
        .unwrap();
    holder.batch_execute("COMMIT").await.unwrap();
    let status = run.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        first.starts_with(
            "statement 1 of 1 (line 1) timed out waiting for a lock; rolled back; trying again in"
        ),
        "{stderr}"
    );
    let columns = common::strings(
        &db,
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0",
    )
    .await;
    assert_eq!(columns, ["id", "x"]);
}

/// Ctrl-C (SIGINT) while `apply` validates a constraint: the statement is
/// cancelled on the server (not left running behind a dropped connection),
/// and the output says which steps stayed applied.
#[tokio::test(flavor = "current_thread")]
async fn interrupted_apply_cancels_the_statement_on_the_server() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let slow = "CREATE FUNCTION slow(x int) RETURNS boolean LANGUAGE sql IMMUTABLE \
                AS $$ SELECT pg_sleep(0.2) IS NOT NULL $$;\n\
                CREATE TABLE t (x int);\n";
    let dir = project_with(&format!(
        "{slow}ALTER TABLE t ADD CONSTRAINT t_slow CHECK (slow(x));\n"
    ));
    let p = dir.path();
    let db = server.database("interrupted").await;
    db.batch_execute(&format!(
        "{slow}INSERT INTO t SELECT generate_series(1, 1000);"
    ))
    .await
    .unwrap();
    let url = server.url("interrupted");
    // The pre-check's own query would spend its 30 s on pg_sleep first.
    let args = [
        &apply_yes(&url, "full-table-scan")[..],
        &["--no-pre-checks"],
    ]
    .concat();
    let run = spawn_in(p, &args, &env);
    // On this database: the proof runs the same statement on a copy first.
    let validating = "SELECT query FROM pg_stat_activity WHERE query LIKE '%VALIDATE CONSTRAINT%' \
                      AND pid <> pg_backend_pid() AND datname = 'interrupted'";
    wait_for("the validation", || async {
        !common::strings(&db, validating).await.is_empty()
    })
    .await;
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    let out = run.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "step 2 of 2 (constraint t_slow on public.t) was cancelled on the server (interrupted)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("step 1 of 2 stays applied; the others did not run."),
        "{stderr}"
    );
    // Gone from the server at once, not after 200 s of pg_sleep.
    wait_for("the statement to end", || async {
        common::strings(&db, validating).await.is_empty()
    })
    .await;
    let state = "SELECT convalidated::text FROM pg_constraint WHERE conname = 't_slow'";
    assert_eq!(common::strings(&db, state).await, ["false"]);
}

/// A migration that runs outside a transaction and fails halfway is
/// recorded as failed: `status` shows where it stopped, `migrate` and
/// `down` refuse to run over it, and `resolve` says what became of it.
#[tokio::test(flavor = "current_thread")]
async fn a_migration_that_fails_halfway_outside_a_transaction_is_recorded_failed() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project_with(
        "CREATE TABLE t (a int, b int);\nCREATE INDEX t_a ON t (a);\nCREATE INDEX t_b ON t (b);\n",
    );
    let p = dir.path();
    std::fs::create_dir(p.join("migrations")).unwrap();
    std::fs::write(
        p.join("migrations/20260101000001_t.sql"),
        "CREATE TABLE t (a int, b int);\n",
    )
    .unwrap();
    let second = p.join("migrations/20260101000002_indexes.sql");
    std::fs::write(
        &second,
        "CREATE INDEX CONCURRENTLY t_a ON t (a);\nCREATE INDEX CONCURRENTLY t_c ON t (c);\n",
    )
    .unwrap();
    let db = server.database("halfway").await;
    let url = server.url("halfway");
    let run = |args: &[&str]| stratum_in(p, args, &env);
    let out = run(&["migrate", "--db", &url]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "statement 2 of 2 failed. Statement 1 of 2 stays applied; it is recorded as failed"
        ),
        "{stderr}"
    );
    let out = run(&["status", "--db", &url]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("failed   20260101000002_indexes  stopped at statement 2 (column \"c\" does not exist); statement 1 stays applied"),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("1 applied, 0 pending, 0 changed, 0 missing, 1 failed."));
    let out = run(&["status", "--db", &url, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["migrations"][1]["state"], "failed");
    assert_eq!(json["migrations"][1]["failed"]["statement"], 2);
    for refused in [["migrate", "--db", &url], ["down", "--db", &url]] {
        let out = run(&refused);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("stopped at statement 2"), "{stderr}");
        assert!(stderr.contains("nothing was run"), "{stderr}");
    }
    // Undone by hand: resolve --rolled-back, and it is pending again.
    db.batch_execute("DROP INDEX t_a").await.unwrap();
    let out = run(&["resolve", "--db", &url, "--rolled-back", "20260101000002"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["status", "--db", &url]);
    assert!(text(&out.stdout).contains("pending  20260101000002_indexes"));
    let out = run(&["migrate", "--db", &url]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // Finished by hand, and the file fixed: resolve --applied.
    db.batch_execute("CREATE INDEX t_b ON t (b)").await.unwrap();
    std::fs::write(
        &second,
        "CREATE INDEX CONCURRENTLY t_a ON t (a);\nCREATE INDEX CONCURRENTLY t_b ON t (b);\n",
    )
    .unwrap();
    let out = run(&["resolve", "--db", &url, "--applied", "20260101000002"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("it had failed; you finished it by hand"));
    let out = run(&["status", "--db", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = run(&["check", "--db", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// `plan --out` saves a plan; `apply FILE` runs exactly it, and only while
/// the database's schema is the one it was made for.
#[tokio::test(flavor = "current_thread")]
async fn saved_plans_apply_only_to_the_schema_they_were_made_for() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project_with("CREATE TABLE t (id int, note text);\n");
    let p = dir.path();
    let db = server.database("saved").await;
    db.batch_execute("CREATE TABLE t (id int)").await.unwrap();
    let url = server.url("saved");
    let run = |args: &[&str]| stratum_in(p, args, &env);
    let out = run(&["plan", "--db", &url, "--out", "plan.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ALTER TABLE public.t ADD COLUMN note text;"));
    assert!(text(&out.stderr).contains("Saved to plan.json"));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("plan.json")).unwrap()).unwrap();
    assert_eq!(saved["format"], "stratum plan 2");
    assert!(saved["fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let columns = "SELECT string_agg(attname::text, ',' ORDER BY attnum) FROM pg_attribute \
                   WHERE attrelid = 't'::regclass AND attnum > 0 AND NOT attisdropped";
    // The schema changed since: refused, nothing applied.
    db.batch_execute("ALTER TABLE t ADD COLUMN x int")
        .await
        .unwrap();
    let out = run(&["apply", "plan.json", "--db", &url, "--yes"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("plan.json was made for another state of this database's schema; since then:\n  ~ table public.t\n"),
        "{stderr}"
    );
    assert!(stderr.contains("Nothing was applied"), "{stderr}");
    assert_eq!(common::strings(&db, columns).await, ["id,x"]);
    // Back as it was: applied, and checked against schema/.
    db.batch_execute("ALTER TABLE t DROP COLUMN x")
        .await
        .unwrap();
    let out = run(&["apply", "plan.json", "--db", &url, "--yes"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Applied 1 step in one transaction"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the database matches the schema plan.json was made for."),
        "{stderr}"
    );
    assert!(
        stderr.contains("Proved on a copy of the database:"),
        "{stderr}"
    );
    assert_eq!(common::strings(&db, columns).await, ["id,note"]);
    // Once applied, the plan no longer fits.
    let out = run(&["apply", "plan.json", "--db", &url, "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // schema/ edited after the plan was saved: applied as saved, and
    // compared with the state it was made for.
    std::fs::write(
        p.join("schema/schema.sql"),
        "CREATE TABLE t (id int, note text, extra int);\n",
    )
    .unwrap();
    let out = run(&["plan", "--db", &url, "--out", "plan.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::write(
        p.join("schema/schema.sql"),
        "CREATE TABLE t (id int, note text, extra bigint);\n",
    )
    .unwrap();
    let out = run(&["apply", "plan.json", "--db", &url, "--yes"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("the database matches the schema plan.json was made for."),
        "{stderr}"
    );
    assert_eq!(common::strings(&db, columns).await, ["id,note,extra"]);
    // Not a plan.
    std::fs::write(p.join("other.json"), "{}").unwrap();
    let out = run(&["apply", "other.json", "--db", &url, "--yes"]);
    assert!(text(&out.stderr).contains("other.json: not a plan saved by `stratum plan --out`"));
}

/// The fingerprint is read again under the migration lock, right before the
/// first statement: a change made while `apply` waited is not run over.
#[tokio::test(flavor = "current_thread")]
async fn apply_checks_the_schema_again_right_before_the_first_statement() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project_with("CREATE TABLE t (id int, note text);\n");
    let db = server.database("raced").await;
    db.batch_execute("CREATE TABLE t (id int)").await.unwrap();
    let url = server.url("raced");
    let holder = server.connect("raced").await;
    let key =
        "SELECT pg_advisory_lock(hashtext('stratum migrate public.stratum_migrations')::bigint)";
    holder.batch_execute(key).await.unwrap();
    let run = spawn_in(dir.path(), &["apply", "--db", &url, "--yes"], &env);
    // It asks for the lock again and again while another run holds it.
    let waiting = "SELECT pid::text FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
                   AND query LIKE '%pg_try_advisory_lock%'";
    wait_for("apply to wait for the lock", || async {
        !common::strings(&db, waiting).await.is_empty()
    })
    .await;
    db.batch_execute("ALTER TABLE t ADD COLUMN x int")
        .await
        .unwrap();
    holder
        .batch_execute("SELECT pg_advisory_unlock_all()")
        .await
        .unwrap();
    let out = run.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the database's schema changed while the plan was being made or reviewed"),
        "{stderr}"
    );
    let columns = "SELECT string_agg(attname::text, ',' ORDER BY attnum) FROM pg_attribute \
                   WHERE attrelid = 't'::regclass AND attnum > 0";
    assert_eq!(common::strings(&db, columns).await, ["id,x"]);
}

/// A column that becomes an identity on a table with rows: its sequence is
/// moved past them, so the next insert does not collide.
#[tokio::test(flavor = "current_thread")]
async fn an_identity_added_to_a_table_with_rows_starts_after_them() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project_with(
        "CREATE TABLE tags (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, label text);\n\
         CREATE TABLE empty (id integer GENERATED ALWAYS AS IDENTITY (START WITH 100) PRIMARY KEY);\n",
    );
    let db = server.database("identity").await;
    db.batch_execute(
        "CREATE TABLE tags (id integer NOT NULL PRIMARY KEY, label text);\n\
         INSERT INTO tags VALUES (1, 'a'), (7, 'b');\n\
         CREATE TABLE empty (id integer NOT NULL PRIMARY KEY);",
    )
    .await
    .unwrap();
    let url = server.url("identity");
    let args = apply_yes(&url, "access-exclusive-lock");
    let out = stratum_in(dir.path(), &args, &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let next = "INSERT INTO tags (label) VALUES ('c') RETURNING id::text";
    assert_eq!(common::strings(&db, next).await, ["8"]);
    let next = "INSERT INTO empty DEFAULT VALUES RETURNING id::text";
    assert_eq!(common::strings(&db, next).await, ["100"]);
}

/// The lock stratum names under each hazard is the one PostgreSQL takes:
/// each statement shape its plans use, run in a transaction that is rolled
/// back, against the strongest mode `pg_locks` shows on the table.
#[tokio::test(flavor = "current_thread")]
async fn lock_modes_match_what_the_server_takes() {
    use stratum::plan::locks::strongest;
    let server = TestServer::start().await;
    let db = server.database("locks").await;
    db.batch_execute(
        "CREATE TABLE p (id int PRIMARY KEY);
         CREATE TABLE t (id int, a int, b text, p int);
         CREATE INDEX t_a ON t (a);
         CREATE UNIQUE INDEX t_id ON t (id);
         ALTER TABLE t ADD CONSTRAINT c1 CHECK (a > 0) NOT VALID;
         ALTER TABLE t ADD CONSTRAINT f1 FOREIGN KEY (p) REFERENCES p NOT VALID;
         CREATE TABLE parent (a int) PARTITION BY RANGE (a);
         CREATE TABLE t2 (a int);",
    )
    .await
    .unwrap();
    let statements = [
        "ALTER TABLE t ADD COLUMN x int",
        "ALTER TABLE t ALTER COLUMN a SET DEFAULT 1",
        "ALTER TABLE t ALTER COLUMN a SET NOT NULL",
        "ALTER TABLE t ALTER COLUMN a TYPE bigint",
        "ALTER TABLE t ALTER COLUMN a SET STATISTICS 100",
        "ALTER TABLE t ALTER COLUMN a SET (n_distinct = 5)",
        "ALTER TABLE t ALTER COLUMN b SET STORAGE EXTERNAL",
        "ALTER TABLE t ADD CONSTRAINT c2 CHECK (a > 1)",
        "ALTER TABLE t ADD CONSTRAINT c3 CHECK (a > 1) NOT VALID",
        "ALTER TABLE t ADD CONSTRAINT f2 FOREIGN KEY (p) REFERENCES p",
        "ALTER TABLE t ADD CONSTRAINT u1 UNIQUE (b)",
        "ALTER TABLE t ADD CONSTRAINT u2 UNIQUE USING INDEX t_id",
        "ALTER TABLE t VALIDATE CONSTRAINT c1",
        "ALTER TABLE t VALIDATE CONSTRAINT f1",
        "ALTER TABLE t DROP CONSTRAINT c1",
        "ALTER TABLE t SET (fillfactor = 50)",
        "ALTER TABLE t SET UNLOGGED",
        "ALTER TABLE t REPLICA IDENTITY FULL",
        "ALTER TABLE t ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE t DISABLE TRIGGER ALL",
        "ALTER TABLE t DROP COLUMN b",
        "ALTER TABLE t RENAME COLUMN b TO bb",
        "ALTER TABLE t RENAME CONSTRAINT c1 TO c9",
        "ALTER TABLE t ALTER COLUMN a SET STATISTICS 5, ALTER COLUMN b SET DEFAULT 'x'",
        "ALTER TABLE parent ATTACH PARTITION t2 FOR VALUES FROM (1) TO (2)",
        "CREATE INDEX t_b ON t (b)",
        "DROP INDEX t_a",
        "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW \
         EXECUTE FUNCTION suppress_redundant_updates_trigger()",
        "CREATE POLICY pol ON t USING (true)",
        "CREATE RULE r AS ON INSERT TO t DO ALSO NOTHING",
        "COMMENT ON TABLE t IS 'x'",
    ];
    let modes = "SELECT l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                 WHERE l.pid = pg_backend_pid() AND l.granted AND c.relname = ";
    // Weakest first, as PostgreSQL names them in its documentation.
    let order = [
        ("ShareUpdateExclusiveLock", "SHARE UPDATE EXCLUSIVE"),
        ("ShareLock", "SHARE"),
        ("ShareRowExclusiveLock", "SHARE ROW EXCLUSIVE"),
        ("AccessExclusiveLock", "ACCESS EXCLUSIVE"),
    ];
    for sql in statements {
        // The table the statement works on: the partition, for ATTACH.
        let table = if sql.contains("t2") { "'t2'" } else { "'t'" };
        db.batch_execute("BEGIN").await.unwrap();
        db.batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let taken = common::strings(&db, &format!("{modes}{table}")).await;
        db.batch_execute("ROLLBACK").await.unwrap();
        let server = order
            .iter()
            .rev()
            .find(|(mode, _)| taken.iter().any(|t| t == mode))
            .map(|(_, name)| *name);
        assert_eq!(strongest(sql).map(|m| m.name()), server, "{sql}");
    }
}

/// `--explain` says under each statement what it changes and, for an
/// object dropped and created again, which dependency forced it.
#[test]
fn explain_names_the_dependency_that_forced_a_drop() {
    let case =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/views/view_over_retyped_column");
    let (before, after) = (case.join("before.sql"), case.join("after.sql"));
    let args = [
        "diff",
        "--from",
        before.to_str().unwrap(),
        "--to",
        after.to_str().unwrap(),
        "--explain",
    ];
    let out = stratum(&args);
    let sql = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        sql.contains(
            "-- step 1: drop_view view public.large_payments\n\
             -- dropped because view public.large_payments depends on column \
             public.payments.amount, whose type changes at step 2; created again at step 3\n\
             DROP VIEW public.large_payments;"
        ),
        "{sql}"
    );
    assert!(
        sql.contains("-- view public.large_payments created again, after its drop at step 1"),
        "{sql}"
    );
    // Without the flag, no notes.
    let out = stratum(&args[..5]);
    assert!(!text(&out.stdout).contains("-- step 1"));
}

/// Online SET NOT NULL over a NULL: the helper check fails to validate, is
/// dropped again, and the column is as it was.
#[tokio::test(flavor = "current_thread")]
async fn online_set_not_null_over_a_null_leaves_nothing_behind() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project_with("CREATE TABLE t (id int NOT NULL);\n");
    let db = server.database("nulls").await;
    db.batch_execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (NULL);")
        .await
        .unwrap();
    let url = server.url("nulls");
    // Past the pre-check that would refuse it (tests/pre_checks.rs): the
    // executor's own clean-up when the validation fails all the same.
    let args = [
        &apply_yes(&url, "full-table-scan")[..],
        &["--no-pre-checks"],
    ]
    .concat();
    let out = stratum_in(dir.path(), &args, &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("step 2 of 4 (column public.t.id) failed: check constraint \"id_stratum_not_null\" of relation \"t\" is violated by some row"),
        "{stderr}"
    );
    assert!(
        stderr.contains("What it left behind was removed (ALTER TABLE public.t DROP CONSTRAINT IF EXISTS id_stratum_not_null;)"),
        "{stderr}"
    );
    assert!(stderr.contains("step 1 of 4 stays applied"), "{stderr}");
    let left = "SELECT conname::text FROM pg_constraint WHERE conrelid = 't'::regclass";
    assert_eq!(common::strings(&db, left).await, Vec::<String>::new());
}

/// `-- stratum:renamed-from` turns drop + create into renames that keep the
/// rows: apply once, then nothing left to do; generate writes them (and
/// their undoing in the down file); stale and conflicting annotations are
/// errors naming the file and line.
#[tokio::test(flavor = "current_thread")]
async fn renamed_from_annotations_rename_and_keep_rows() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let before = "CREATE SCHEMA app;
CREATE TABLE app.users (id int PRIMARY KEY, name text NOT NULL, CONSTRAINT name_len CHECK (length(name) > 0));
CREATE INDEX users_name ON app.users (name);
CREATE VIEW app.names AS SELECT name FROM app.users;
CREATE TYPE app.mood AS ENUM ('happy', 'sad');
CREATE FUNCTION app.greet(n text) RETURNS text LANGUAGE sql AS $$ SELECT 'hi ' || n $$;
CREATE SEQUENCE app.counter;
";
    let after = "CREATE SCHEMA app;
CREATE TABLE app.members ( -- stratum:renamed-from users
    id int PRIMARY KEY,
    full_name text NOT NULL, -- stratum:renamed-from name
    feel app.feeling,
    CONSTRAINT full_name_len CHECK (length(full_name) > 0) -- stratum:renamed-from name_len
);
CREATE INDEX members_full_name ON app.members (full_name); -- stratum:renamed-from users_name
CREATE VIEW app.member_names AS SELECT full_name FROM app.members; -- stratum:renamed-from names
CREATE TYPE app.feeling AS ENUM ( -- stratum:renamed-from mood
    'glad', -- stratum:renamed-from happy
    'sad'
);
CREATE FUNCTION app.hello(n text) RETURNS text LANGUAGE sql AS $$ SELECT 'hi ' || n $$; -- stratum:renamed-from greet
CREATE SEQUENCE app.ticker; -- stratum:renamed-from counter
";
    let dir = project_with(after);
    let p = dir.path();
    let db = server.database("renames").await;
    db.batch_execute(&format!(
        "{before}INSERT INTO app.users VALUES (1, 'ada'), (2, 'grace');"
    ))
    .await
    .unwrap();
    let url = server.url("renames");
    let run = |args: &[&str]| stratum_in(p, args, &env);
    let out = run(&["plan", "--db", &url]);
    let sql = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for rename in [
        "ALTER SEQUENCE app.counter RENAME TO ticker;",
        "ALTER TABLE app.users RENAME TO members;",
        "ALTER TABLE app.members RENAME COLUMN name TO full_name;",
        "ALTER TABLE app.members RENAME CONSTRAINT name_len TO full_name_len;",
        "ALTER TABLE app.members RENAME CONSTRAINT users_pkey TO members_pkey;",
        "ALTER INDEX app.users_name RENAME TO members_full_name;",
        "ALTER TYPE app.feeling RENAME VALUE 'happy' TO 'glad';",
        "ALTER ROUTINE app.greet(n text) RENAME TO hello;",
    ] {
        assert!(sql.contains(rename), "{rename}\n{sql}");
    }
    assert!(
        !sql.contains("DROP TABLE") && !sql.contains("DROP COLUMN"),
        "{sql}"
    );
    // A table renamed in one step breaks the application still running:
    // refused until approved, with nothing run.
    let out = run(&["apply", "--db", &url, "--yes"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "hazard app-compat: the application version still running breaks: it uses table \
             app.members under its old name users"
        ),
        "{stderr}"
    );
    assert_eq!(
        common::strings(&db, "SELECT to_regclass('app.users')::text").await,
        ["app.users"]
    );
    let out = run(&[
        "apply",
        "--db",
        &url,
        "--yes",
        "--allow-hazards",
        "app-compat",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rows = "SELECT string_agg(id || ':' || full_name, ',' ORDER BY id) FROM app.members";
    assert_eq!(common::strings(&db, rows).await, ["1:ada,2:grace"]);
    // Done: the annotations now find the new names and ask for nothing.
    let out = run(&["plan", "--db", &url]);
    assert_eq!(text(&out.stdout), "", "{}", text(&out.stderr));

    // generate: the renames in the up file, undone in the down file.
    std::fs::create_dir(p.join("migrations")).unwrap();
    std::fs::write(p.join("migrations/20260101000001_init.sql"), before).unwrap();
    let out = run(&["generate", "--name", "renames"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let fresh = server.database("renames_migrated").await;
    fresh.batch_execute("SELECT 1").await.unwrap();
    let fresh_url = server.url("renames_migrated");
    let out = run(&["migrate", "--db", &fresh_url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["check", "--db", &fresh_url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["down", "--db", &fresh_url, "--allow-hazards", "data-loss"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let tables = "SELECT string_agg(tablename::text, ',') FROM pg_tables WHERE schemaname = 'app'";
    assert_eq!(common::strings(&fresh, tables).await, ["users"]);

    // A stale annotation, where the table exists: an error at its line.
    std::fs::write(
        p.join("schema/schema.sql"),
        after.replace(
            "-- stratum:renamed-from name\n",
            "-- stratum:renamed-from nmae\n",
        ),
    )
    .unwrap();
    let other = server.database("renames_stale").await;
    other.batch_execute(before).await.unwrap();
    let out = run(&["plan", "--db", &server.url("renames_stale")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("schema/schema.sql:4: renamed-from nmae: the database has neither column app.members.full_name nor nmae"),
        "{stderr}"
    );
    // Both names there: an error.
    other
        .batch_execute("ALTER TABLE app.users ADD COLUMN full_name text")
        .await
        .unwrap();
    std::fs::write(p.join("schema/schema.sql"), after).unwrap();
    let out = run(&["plan", "--db", &server.url("renames_stale")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("schema/schema.sql:4: renamed-from name: the database has both column app.members.full_name and the old name name"),
        "{stderr}"
    );
}

/// The proof catches a plan whose hazards understate it: seeded rows lost
/// without `data-loss`, a table rewritten without `table-rewrite`; with the
/// hazards the planner gives, the same plans prove.
#[tokio::test(flavor = "current_thread")]
async fn the_proof_checks_rows_and_declared_rewrites() {
    use stratum::load::{Scratch, Side};
    use stratum::workflow::RunStep;
    let server = TestServer::start().await;
    let scratch = Scratch {
        dev_url: Some(server.url("postgres")),
        any_major: false,
    };
    let before = "CREATE TABLE kept (id int PRIMARY KEY, note text);
                  CREATE TABLE widened (id int, n int);
                  CREATE TABLE dropped (id int);";
    let after = "CREATE TABLE kept (id int PRIMARY KEY, note text, extra text);
                 CREATE TABLE widened (id int, n bigint);";
    for (name, sql) in [("proof_before", before), ("proof_after", after)] {
        server
            .database(name)
            .await
            .batch_execute(sql)
            .await
            .unwrap();
    }
    let current_db = server.connect("proof_before").await;
    let desired_db = server.connect("proof_after").await;
    let current = stratum::introspect::introspect(&current_db, false)
        .await
        .unwrap();
    let desired = stratum::introspect::introspect(&desired_db, false)
        .await
        .unwrap();
    let plan =
        stratum::plan::plan(&current, &desired, stratum::diff::diff(&current, &desired)).unwrap();
    let steps: Vec<RunStep> = plan.steps.iter().map(RunStep::from).collect();
    let build = Side::Text("before".into(), before.into());
    let filter = stratum::filter::Filter::default();
    let major = (desired.server_version / 10000) as u32;
    let prove = |steps: Vec<RunStep>| {
        let (build, desired, filter, scratch) = (&build, &desired, &filter, &scratch);
        async move {
            stratum::proof::prove(
                build,
                &steps,
                Some(desired),
                &desired.reader_role,
                major,
                filter,
                scratch,
                None,
                "the database",
                None,
            )
            .await
        }
    };
    let proven = prove(steps.clone()).await.unwrap();
    assert_eq!((proven.rows, proven.tables), (9, 3), "{proven:?}");
    // The same plan with its hazards taken away.
    let mut understated = steps;
    for step in &mut understated {
        step.hazards.clear();
    }
    let error = prove(understated).await.unwrap_err().to_string();
    assert!(
        error.contains("table public.dropped and its 3 seeded rows are gone, but no step on it declares data-loss"),
        "{error}"
    );
    assert!(
        error.contains("table public.widened was rewritten (its storage changed), but no step on it declares table-rewrite"),
        "{error}"
    );
    assert!(!error.contains("public.kept"), "{error}");
}

/// The catalogs in cache directory `dir`.
fn cache_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count()
}

#[test]
fn the_catalog_cache_skips_unchanged_loads_and_reloads_changed_ones() {
    let dir = project_with("CREATE TABLE users (id int PRIMARY KEY);\n");
    let p = dir.path();
    let cache = tempfile::tempdir().unwrap();
    let cached = [("STRATUM_CACHE_DIR", cache.path().to_str().unwrap())];
    // A scratch dir that cannot be made: a run that needs a server fails.
    let file = p.join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let no_server = [cached[0], ("STRATUM_SCRATCH_DIR", file.to_str().unwrap())];
    let entries = || cache_entries(cache.path());

    let out = stratum_in(p, &["generate"], &cached);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = stratum_in(p, &["check"], &cached);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stored = entries();
    assert!(stored >= 2, "{stored} entries");

    // Unchanged: both sides come from the cache, with no server at all,
    // and the output is the same byte for byte as without the cache.
    let hit = stratum_in(p, &["check"], &no_server);
    assert_eq!(hit.status.code(), Some(0), "{}", text(&hit.stderr));
    let off = stratum_in(p, &["check"], &[("STRATUM_CACHE", "off")]);
    assert_eq!((hit.stdout, hit.stderr), (off.stdout, off.stderr));
    assert_eq!(entries(), stored);

    // An edited schema file is loaded again.
    std::fs::write(
        p.join("schema/schema.sql"),
        "CREATE TABLE users (id int PRIMARY KEY, email text);\n",
    )
    .unwrap();
    let out = stratum_in(p, &["check"], &no_server);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = stratum_in(p, &["check"], &cached);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(entries(), stored + 1);

    // So is an edited migration.
    let migration = std::fs::read_dir(p.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|path| !path.to_string_lossy().ends_with(".down.sql"))
        .unwrap();
    let mut sql = std::fs::read_to_string(&migration).unwrap();
    sql.push_str("\n-- edited\n");
    std::fs::write(&migration, sql).unwrap();
    let out = stratum_in(p, &["check"], &no_server);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// The replay checkpoints saved under cache directory `cache`, in name
/// order (staging and removed ones, whose names start with a dot, left out).
fn checkpoints_in(cache: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(cache.join("checkpoints")) else {
        return Vec::new();
    };
    let mut found: Vec<std::path::PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    found.sort();
    found
}

/// A replay that started from a checkpoint becomes a new one only when it
/// took as long as saving the checkpoint it started from did: a newest
/// migration edited and checked again and again does not copy the whole
/// cluster each time.
#[test]
fn a_replay_shorter_than_saving_its_checkpoint_is_not_saved() {
    let dir = project_with("CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n");
    let p = dir.path();
    std::fs::create_dir(p.join("migrations")).unwrap();
    std::fs::write(
        p.join("migrations/20260101000000_a.sql"),
        "SELECT pg_sleep(1.2);\nCREATE TABLE a (id int);\n",
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let env = [("STRATUM_CACHE_DIR", cache.path().to_str().unwrap())];
    let saved = || checkpoints_in(cache.path());
    // Only the first migration: replayed in full and saved, with how long
    // saving it took.
    let out = stratum_in(p, &["check", "--schema", "migrations"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = saved();
    assert_eq!(first.len(), 1);
    let record = first[0].join("saved_in_ms");
    let ms: u64 = std::fs::read_to_string(&record).unwrap().parse().unwrap();
    assert!(ms > 0);

    // As if saving it had taken a minute (a large schema): a second
    // migration that replays in 1.2 s is not worth a new checkpoint.
    std::fs::write(&record, "60000").unwrap();
    let second = p.join("migrations/20260102000000_b.sql");
    std::fs::write(&second, "SELECT pg_sleep(1.2);\nCREATE TABLE b (id int);\n").unwrap();
    let out = stratum_in(p, &["check"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(saved(), first);

    // Saving it cheap by its record: the same replay (the migration
    // edited, so that the load is not cached) is saved.
    std::fs::write(&record, "100").unwrap();
    std::fs::write(
        &second,
        "SELECT pg_sleep(1.2);\nCREATE TABLE b (id int); -- edited\n",
    )
    .unwrap();
    let out = stratum_in(p, &["check"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(saved().len(), 2);
}

/// A replay starts from the checkpoint of the longest prefix of
/// `migrations/` that has one: an added migration replays alone (in
/// `check`, and in `generate`'s proof), an edited one replays again with
/// all after it, and the output is that of a full replay. The first
/// migration fails whenever it is really replayed with
/// STRATUM_TEST_FAIL_REPLAY set (the scratch server inherits stratum's
/// environment), and is slow enough to be worth a checkpoint.
#[test]
fn replays_start_from_the_checkpoint_of_their_longest_unchanged_prefix() {
    let dir = project_with("CREATE TABLE users (id int PRIMARY KEY);\n");
    let p = dir.path();
    std::fs::create_dir(p.join("migrations")).unwrap();
    let first = p.join("migrations/20260101000000_first.sql");
    std::fs::write(
        &first,
        "SELECT pg_sleep(1.2);\n\
         CREATE TABLE replayed (line text);\n\
         COPY replayed FROM PROGRAM 'exit ${STRATUM_TEST_FAIL_REPLAY:-0}';\n\
         DROP TABLE replayed;\n\
         CREATE TABLE users (id int PRIMARY KEY);\n\
         SELECT pg_catalog.set_config('search_path', '', false);\n",
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cached = [("STRATUM_CACHE_DIR", cache.path().to_str().unwrap())];
    let failing = [cached[0], ("STRATUM_TEST_FAIL_REPLAY", "1")];
    let checkpoints = || checkpoints_in(cache.path()).len();
    let replay_failed = |out: &Output| {
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("migration migrations/20260101000000_first.sql does not replay"),
            "{err}"
        );
    };

    replay_failed(&stratum_in(p, &["check"], &failing));
    assert_eq!(checkpoints(), 0);
    let out = stratum_in(p, &["check"], &cached);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(checkpoints(), 1);

    // A migration added.
    std::fs::write(
        p.join("schema/schema.sql"),
        "CREATE TABLE users (id int PRIMARY KEY, email text);\n",
    )
    .unwrap();
    let out = stratum_in(p, &["generate", "--name", "email"], &failing);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("Proved on a copy"),
        "{}",
        text(&out.stderr)
    );
    // And one by hand that counts on a clean session, as `migrate` runs
    // each file in: the first one emptied search_path.
    std::fs::write(
        p.join("migrations/20270101000000_by_hand.sql"),
        "CREATE TABLE notes (id int);\n",
    )
    .unwrap();
    std::fs::write(
        p.join("schema/schema.sql"),
        "CREATE TABLE users (id int PRIMARY KEY, email text);\nCREATE TABLE notes (id int);\n",
    )
    .unwrap();
    let resumed = stratum_in(p, &["check"], &failing);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    let off = stratum_in(p, &["check"], &[("STRATUM_CACHE", "off")]);
    assert_eq!((resumed.stdout, resumed.stderr), (off.stdout, off.stderr));

    // The first migration edited: nothing of the old prefix is used.
    let mut sql = std::fs::read_to_string(&first).unwrap();
    sql.push_str("-- edited\n");
    std::fs::write(&first, sql).unwrap();
    replay_failed(&stratum_in(p, &["check"], &failing));
    let out = stratum_in(p, &["check"], &cached);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(checkpoints(), 2);

    // A replay after which a new session would not start where it left
    // off (here a role's setting, which the replay's session lacked) is
    // not saved.
    std::fs::write(
        &first,
        "SELECT pg_sleep(1.2);\nALTER ROLE CURRENT_USER SET work_mem = '8MB';\n\
         CREATE TABLE users (id int PRIMARY KEY);\n",
    )
    .unwrap();
    for entry in std::fs::read_dir(p.join("migrations")).unwrap() {
        let path = entry.unwrap().path();
        if path != first {
            std::fs::remove_file(path).unwrap();
        }
    }
    std::fs::write(
        p.join("schema/schema.sql"),
        "CREATE TABLE users (id int PRIMARY KEY);\n",
    )
    .unwrap();
    let out = stratum_in(p, &["check"], &cached);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(checkpoints(), 2);
}

/// `--dev-url` loads are cached too, keyed by the server's state: an
/// unchanged run loads nothing (no transaction on the server, so no scratch
/// database), while a role setting or a configuration reload makes the next
/// run load afresh, with the same output.
#[tokio::test(flavor = "current_thread")]
async fn dev_server_loads_are_cached_until_the_server_changes() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let dir = project_with("CREATE TABLE users (id int PRIMARY KEY);\n");
    let cache = tempfile::tempdir().unwrap();
    let env = [
        ("STRATUM_CACHE_DIR", cache.path().to_str().unwrap()),
        ("STRATUM_DEV_URL", dev.as_str()),
    ];
    let entries = || cache_entries(cache.path());
    // Transactions the server has begun since: this query's own is 1.
    let xid = || async {
        let now = texts(&server, "SELECT txid_current()::text").await;
        now[0].parse::<i64>().unwrap()
    };
    let diff = || {
        stratum_in(
            dir.path(),
            &["diff", "--from", "empty", "--to", "schema/"],
            &env,
        )
    };

    let first = diff();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert!(text(&first.stdout).contains("CREATE TABLE public.users"));
    let stored = entries();
    assert_eq!(stored, 2, "the empty side and the schema");

    let before = xid().await;
    let again = diff();
    assert_eq!(
        xid().await - before,
        1,
        "the unchanged run loaded something"
    );
    assert_eq!(
        (&again.stdout, &again.stderr),
        (&first.stdout, &first.stderr)
    );
    assert_eq!(entries(), stored);

    let client = server.connect("postgres").await;
    client
        .batch_execute("ALTER ROLE stratum SET work_mem = '8MB'")
        .await
        .unwrap();
    let before = xid().await;
    let after_setting = diff();
    assert!(
        xid().await - before > 1,
        "a role setting did not load afresh"
    );
    assert_eq!(after_setting.stdout, first.stdout);
    assert_eq!(entries(), stored + 2);

    let loaded = texts(&server, "SELECT pg_conf_load_time()::text").await;
    client
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();
    wait_for("the reload", || async {
        texts(&server, "SELECT pg_conf_load_time()::text").await != loaded
    })
    .await;
    let before = xid().await;
    let after_reload = diff();
    assert!(xid().await - before > 1, "a reload did not load afresh");
    assert_eq!(after_reload.stdout, first.stdout);
    assert_eq!(entries(), stored + 4);
}

/// A live database is read from the catalog cache while its catalogs are
/// unchanged: the second read stores nothing and prints what a read without
/// the cache prints, an entry edited by hand shows through (so it was read),
/// row estimates that ANALYZE updates in place are read anew, and DDL or a
/// new role reads the database afresh. The same holds for a role that may
/// not read `pg_authid`; one that may not read another catalog reads
/// without the cache.
#[tokio::test(flavor = "current_thread")]
async fn live_reads_are_cached_until_the_catalogs_change() {
    let server = TestServer::start().await;
    let db = server.database("cached").await;
    db.batch_execute(
        "CREATE TABLE users (id int PRIMARY KEY, phone text);
         INSERT INTO users SELECT g, NULL FROM generate_series(1, 1000) g;
         ANALYZE users;
         CREATE ROLE reader LOGIN;",
    )
    .await
    .unwrap();
    let dir = project_with("CREATE TABLE users (id int PRIMARY KEY);\n");
    let cache = tempfile::tempdir().unwrap();
    let cached = [("STRATUM_CACHE_DIR", cache.path().to_str().unwrap())];
    let entries = || cache_entries(cache.path());
    let url = server.url("cached");
    let diff = |url: &str, env: &[(&str, &str)]| {
        let out = stratum_in(dir.path(), &["diff", "--from", url, "--to", "schema/"], env);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        out
    };

    let first = diff(&url, &cached);
    let sql = text(&first.stdout);
    assert!(
        sql.contains("drops column public.users.phone (about 1 000 rows")
            && sql.contains("DROP COLUMN phone;"),
        "{sql}"
    );
    let stored = entries();
    assert_eq!(stored, 2, "the database and the schema");
    let again = diff(&url, &cached);
    assert_eq!(entries(), stored, "the unchanged database was stored again");
    assert_eq!(
        (&again.stdout, &again.stderr),
        (&first.stdout, &first.stderr)
    );
    let off = diff(&url, &[("STRATUM_CACHE", "off")]);
    assert_eq!((&again.stdout, &again.stderr), (&off.stdout, &off.stderr));

    // The entry of the database, edited: the next read shows the edit.
    let live_entry = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|path| {
            path.extension().is_some_and(|x| x == "json")
                && std::fs::read_to_string(path)
                    .unwrap()
                    .contains("\"live\":true")
        })
        .expect("an entry for the live database");
    let json = std::fs::read_to_string(&live_entry).unwrap();
    std::fs::write(&live_entry, json.replace("\"phone\"", "\"mobile\"")).unwrap();
    let tampered = diff(&url, &cached);
    assert!(
        text(&tampered.stdout).contains("DROP COLUMN mobile;"),
        "{}",
        text(&tampered.stdout)
    );

    // ANALYZE updates the estimate in place: still the entry, with the
    // estimate of now.
    db.batch_execute(
        "INSERT INTO users SELECT g, NULL FROM generate_series(1001, 3000) g; ANALYZE users;",
    )
    .await
    .unwrap();
    let analyzed = text(&diff(&url, &cached).stdout);
    assert!(
        analyzed.contains("drops column public.users.mobile (about 3 000 rows"),
        "{analyzed}"
    );
    assert_eq!(entries(), stored);

    // DDL: read afresh.
    db.batch_execute("COMMENT ON COLUMN users.phone IS 'cell'")
        .await
        .unwrap();
    let commented = text(&diff(&url, &cached).stdout);
    assert!(commented.contains("DROP COLUMN phone;"), "{commented}");
    assert_eq!(entries(), stored + 1);

    // A role that may not read pg_authid: its roles come through pg_roles,
    // so a new role reads afresh too, with the same output.
    let reader = url.replacen("stratum@", "reader@", 1);
    let as_reader = diff(&reader, &cached);
    assert_eq!(entries(), stored + 2);
    let again = diff(&reader, &cached);
    assert_eq!(
        entries(),
        stored + 2,
        "the unchanged database was stored again"
    );
    assert_eq!(again.stdout, as_reader.stdout);
    db.batch_execute("CREATE ROLE someone_else").await.unwrap();
    let after_role = diff(&reader, &cached);
    assert_eq!(entries(), stored + 3, "a new role did not read afresh");
    assert_eq!(after_role.stdout, as_reader.stdout);

    // A catalog the reader may not read, with no view to stand for it:
    // PostgreSQL's functions still read it, so the read is not cached.
    db.batch_execute("REVOKE SELECT ON pg_catalog.pg_amop FROM PUBLIC")
        .await
        .unwrap();
    for _ in 0..2 {
        let uncached = diff(&reader, &cached);
        assert_eq!(
            entries(),
            stored + 3,
            "a read that cannot be keyed was stored"
        );
        assert_eq!(uncached.stdout, as_reader.stdout);
    }
}

/// Constants print the same whatever the reading session's settings: a
/// role whose `DateStyle` and `TimeZone` differ from the scratch server's
/// sees no change between a database and the schema it was made from.
#[tokio::test(flavor = "current_thread")]
async fn constants_print_the_same_whatever_the_readers_settings() {
    let server = TestServer::start().await;
    let db = server.database("settings").await;
    let sql = "CREATE TABLE events (id int PRIMARY KEY, \
               day date DEFAULT '2020-01-02', \
               at timestamptz DEFAULT '2020-01-02 03:04:05+00', \
               span interval DEFAULT '1 day 2 hours', \
               ratio float8 DEFAULT 0.1);\n";
    db.batch_execute(sql).await.unwrap();
    db.batch_execute(
        "CREATE ROLE odd LOGIN; \
         ALTER ROLE odd SET DateStyle = 'SQL, DMY'; \
         ALTER ROLE odd SET TimeZone = 'Asia/Tokyo'; \
         ALTER ROLE odd SET IntervalStyle = 'iso_8601'; \
         ALTER ROLE odd SET extra_float_digits = -3;",
    )
    .await
    .unwrap();
    let dir = project_with(sql);
    let odd = server.url("settings").replacen("stratum@", "odd@", 1);
    let out = stratum_in(
        dir.path(),
        &["diff", "--from", &odd, "--to", "schema/"],
        &[("STRATUM_CACHE", "off")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("ALTER"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("No changes"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_database_reads_the_same_over_one_connection_or_several() {
    let server = TestServer::start().await;
    let _db = server.database("example").await;
    let url = server.url("example");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut args = apply_yes(&url, "access-exclusive-lock").to_vec();
    args.push("--no-proof");
    let out = stratum_in(root, &args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for command in [
        vec!["dump", "--db", url.as_str(), "--out", "-"],
        vec!["diff", "--from", "empty", "--to", url.as_str()],
    ] {
        let one = stratum_in(root, &command, &[("STRATUM_READ_CONNECTIONS", "1")]);
        let four = stratum_in(root, &command, &[("STRATUM_READ_CONNECTIONS", "4")]);
        assert_eq!(one.status.code(), Some(0), "{}", text(&one.stderr));
        assert!(text(&one.stdout).contains("CREATE TABLE app.users"));
        assert_eq!((one.stdout, one.stderr), (four.stdout, four.stderr));
    }
}
