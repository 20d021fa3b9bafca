//! The everyday workflow against a real PostgreSQL: generate -> migrate ->
//! check -> down for the example, the lock, failing and edited migrations,
//! every file layout. Every fixture pair's workflow and dump round trip is
//! a test of its own in `fixture_workflows.rs`.

mod common;

use std::path::Path;

use common::flow::{differences, generate, generate_migrate_check, project};
use common::{read, TestServer};
use stratum::config::Project;
use stratum::migrations::Layout;
use stratum::workflow::{self, GenerateOptions};

#[tokio::test(flavor = "current_thread")]
async fn example_generate_migrate_check_down() {
    let server = TestServer::start().await;
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let dir = tempfile::tempdir().unwrap();
    let project = project(&server, dir.path(), Layout::Stratum);
    copy_dir(&schema, &project.schema);
    generate(&project, "init").await;
    server.database("example").await;
    let url = server.url("example");
    workflow::migrate(&project, &url, &Default::default())
        .await
        .unwrap();
    let check = workflow::check(&project, Some(&url)).await.unwrap();
    assert_eq!(check.exit, 0, "{}", check.stdout);
    // Drift: a column added by hand is reported with a diff and a plan.
    let client = stratum::conninfo::connect_url(&url).await.unwrap();
    client
        .batch_execute("ALTER TABLE app.users ADD COLUMN nickname text")
        .await
        .unwrap();
    let drift = workflow::check(&project, Some(&url)).await.unwrap();
    assert_eq!(drift.exit, 1);
    let shown = stratum::ui::plain(&drift.stdout);
    assert!(shown.contains("-    nickname text"), "{shown}");
    assert!(
        shown.contains("ALTER TABLE app.users DROP COLUMN nickname;"),
        "{shown}"
    );
    // Down from the first migration empties the database.
    client
        .batch_execute("ALTER TABLE app.users DROP COLUMN nickname")
        .await
        .unwrap();
    workflow::down(&project, &url, &down_to("0")).await.unwrap();
    let left = differences(&server, "example", None).await;
    assert!(left.is_empty(), "{left}");
}

/// `down --to VERSION`.
fn down_to(version: &str) -> workflow::DownOptions {
    workflow::DownOptions {
        to: Some(version.into()),
        ..Default::default()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn every_layout_is_written_read_and_applied() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before.sql");
    let after = dir.path().join("after.sql");
    std::fs::write(&before, "CREATE TABLE t (id int PRIMARY KEY);\n").unwrap();
    std::fs::write(
        &after,
        "CREATE TYPE mood AS ENUM ('ok');\nCREATE TABLE t (id int PRIMARY KEY, phone text, m mood);\nCREATE INDEX t_phone ON t (phone);\n",
    )
    .unwrap();
    for (n, layout) in [
        Layout::Stratum,
        Layout::Flyway,
        Layout::GolangMigrate,
        Layout::Dbmate,
    ]
    .into_iter()
    .enumerate()
    {
        generate_migrate_check(&server, 1000 + n, Some(&before), &after, layout)
            .await
            .unwrap_or_else(|e| panic!("{layout:?}: {e:#}"));
    }
}

/// A project with hand-written migrations.
fn hand_written(server: &TestServer, migrations: &[(&str, &str)]) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().unwrap();
    let project = project(server, dir.path(), Layout::Stratum);
    std::fs::create_dir_all(&project.migrations).unwrap();
    for (file, sql) in migrations {
        std::fs::write(project.migrations.join(file), sql).unwrap();
    }
    (dir, project)
}

async fn history(server: &TestServer, db: &str) -> Vec<String> {
    let client = stratum::conninfo::connect(&server.cluster.config(db))
        .await
        .unwrap();
    common::strings(
        &client,
        "SELECT version FROM public.stratum_migrations ORDER BY version",
    )
    .await
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_migrate_runs_wait_for_the_lock() {
    let server = TestServer::start().await;
    let (_dir, project) = hand_written(
        &server,
        &[(
            "1_slow.sql",
            "SELECT pg_sleep(1);\nCREATE TABLE slow (id int);\n",
        )],
    );
    server.database("locked").await;
    let url = server.url("locked");
    // The first run creates the history table; both then race for the lock.
    let options = workflow::MigrateOptions::default();
    let (a, b) = tokio::join!(
        workflow::migrate(&project, &url, &options),
        workflow::migrate(&project, &url, &options)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let counts = [
        a.json["applied"].as_array().unwrap().len(),
        b.json["applied"].as_array().unwrap().len(),
    ];
    assert_eq!(counts.iter().sum::<usize>(), 1, "{counts:?}");
    let second = if counts[0] == 0 { &a } else { &b };
    assert!(
        second.stderr.contains("Nothing to migrate"),
        "{}",
        second.stderr
    );
    assert_eq!(history(&server, "locked").await, vec!["1"]);
}

#[tokio::test(flavor = "current_thread")]
async fn failing_statement_leaves_database_and_history_unchanged() {
    let server = TestServer::start().await;
    let (_dir, project) = hand_written(
        &server,
        &[
            ("1_first.sql", "CREATE TABLE first (id int);\n"),
            (
                "2_second.sql",
                "CREATE TABLE second (id int);\nINSERT INTO second VALUES (1);\nALTER TABLE nope ADD COLUMN x int;\n",
            ),
        ],
    );
    let client = server.database("failing").await;
    let url = server.url("failing");
    let err = workflow::migrate(&project, &url, &Default::default())
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("2_second.sql:3:1: relation \"nope\" does not exist"),
        "{text}"
    );
    assert!(text.contains("statement 3 of 3 failed"), "{text}");
    assert!(
        text.contains("Rolled back; nothing of it stays applied, and nothing was recorded."),
        "{text}"
    );
    assert_eq!(history(&server, "failing").await, vec!["1"]);
    let catalog = read(&client, true).await;
    let names: Vec<String> = catalog.tables.keys().map(|q| q.name.clone()).collect();
    assert_eq!(names, vec!["first", "stratum_migrations"]);
}

#[tokio::test(flavor = "current_thread")]
async fn edited_applied_migration_is_detected() {
    let server = TestServer::start().await;
    let (_dir, project) = hand_written(&server, &[("1_a.sql", "CREATE TABLE a (id int);\n")]);
    server.database("edited").await;
    let url = server.url("edited");
    workflow::migrate(&project, &url, &Default::default())
        .await
        .unwrap();
    std::fs::write(
        project.migrations.join("1_a.sql"),
        "CREATE TABLE a (id bigint);\n",
    )
    .unwrap();
    let status = workflow::status(&project, &url).await.unwrap();
    assert_eq!(status.exit, 1);
    assert!(status.stdout.contains("changed"), "{}", status.stdout);
    let err = workflow::migrate(&project, &url, &Default::default())
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("1_a.sql: changed after it was applied"),
        "{text}"
    );
    // A pending one shows as pending, exit 1; resolve marks it without running.
    std::fs::write(
        project.migrations.join("1_a.sql"),
        "CREATE TABLE a (id int);\n",
    )
    .unwrap();
    std::fs::write(project.migrations.join("2_b.sql"), "CREATE TABLE b ();\n").unwrap();
    let status = workflow::status(&project, &url).await.unwrap();
    assert_eq!(status.exit, 1);
    assert!(status.stdout.contains("2_b"), "{}", status.stdout);
    workflow::resolve(&project, &url, &workflow::Resolve::Applied("2".into()))
        .await
        .unwrap();
    let status = workflow::status(&project, &url).await.unwrap();
    assert_eq!(status.exit, 0, "{}", status.stdout);
    assert_eq!(history(&server, "edited").await, vec!["1", "2"]);
}

#[tokio::test(flavor = "current_thread")]
async fn generate_reports_a_migration_that_does_not_replay() {
    let server = TestServer::start().await;
    let (_dir, project) = hand_written(
        &server,
        &[(
            "1_a.sql",
            "CREATE TABLE a (id int);\nCREATE TABLE b (a_id int REFERENCES nope (id));\n",
        )],
    );
    std::fs::create_dir_all(&project.schema).unwrap();
    std::fs::write(project.schema.join("s.sql"), "CREATE TABLE a (id int);\n").unwrap();
    let err = workflow::generate(&project, &GenerateOptions::default())
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("does not replay"), "{text}");
    assert!(text.contains("1_a.sql:2:"), "{text}");
    assert!(text.contains("relation \"nope\" does not exist"), "{text}");
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_index_migration_runs_outside_a_transaction() {
    let server = TestServer::start().await;
    let (_dir, project) = hand_written(
        &server,
        &[
            ("1_t.sql", "CREATE TABLE t (id int, email text);\n"),
            (
                "2_idx.sql",
                "-- Runs outside a transaction: CREATE INDEX CONCURRENTLY.\nCREATE INDEX CONCURRENTLY t_email ON t (email);\n",
            ),
        ],
    );
    let client = server.database("concurrent_idx").await;
    let url = server.url("concurrent_idx");
    let report = workflow::migrate(&project, &url, &Default::default())
        .await
        .unwrap();
    assert!(
        report.stderr.contains("2_idx (") && report.stderr.contains("outside a transaction"),
        "{}",
        report.stderr
    );
    let catalog = read(&client, true).await;
    let t = &catalog.tables[&stratum::sql::QualName {
        schema: "public".into(),
        name: "t".into(),
    }];
    assert!(t.indexes.contains_key("t_email"));
    assert_eq!(history(&server, "concurrent_idx").await, vec!["1", "2"]);
}
