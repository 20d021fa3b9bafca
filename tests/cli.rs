//! The `stratum` binary end to end: sources, output formats, errors and exit
//! codes, against a real PostgreSQL.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::TestServer;

fn stratum(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stratum"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running stratum")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn example_schema_from_empty_matches_bundled_migration() {
    let out = stratum(&["diff", "--from", "empty", "--to", "schema/"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sql = text(&out.stdout);
    assert!(sql.contains("CREATE TABLE app.users ("), "{sql}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let bundled = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(
        sql, bundled,
        "migrations/ is stale: regenerate it from schema/"
    );

    let again = stratum(&["diff", "--from", "migrations/", "--to", "schema/"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), "");
    assert!(text(&again.stderr).contains("No changes."));
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
         CREATE DOMAIN posint AS int CHECK (VALUE > 0);",
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
        summary.contains("not managed yet: domain public.posint"),
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
    assert_eq!(steps.len(), 2, "{json:#}");
    let drop = steps.iter().find(|s| s["kind"] == "drop_column").unwrap();
    assert_eq!(drop["hazards"][0]["code"], "data-loss");
    assert_eq!(drop["sql"], "ALTER TABLE public.users DROP COLUMN phone;");
    assert_eq!(json["unmanaged"][0]["kind"], "domain");

    // Database to database, and a database against itself.
    let out = stratum(&["diff", "--from", &url, "--to", &url]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "");
    assert!(text(&out.stderr).contains("No changes."));
}
