//! The everyday workflow against a real PostgreSQL: generate -> migrate ->
//! check for the example and every fixture pair, down, the lock, failing and
//! edited migrations, every file layout, and dump round trips.

mod common;

use std::path::{Path, PathBuf};

use common::{cases, load, read, TestServer};
use stratum::config::{Overrides, Project};
use stratum::migrations::Layout;
use stratum::workflow::{self, DumpOptions, GenerateOptions, Split};
use stratum::{diff, plan, render};

/// A project in `dir` whose scratch databases live on the test server.
fn project(server: &TestServer, dir: &Path, layout: Layout) -> Project {
    Project::resolve(
        Overrides {
            dev_url: Some(server.url("postgres")),
            layout: Some(layout),
            // Every generated migration is proved on a copy, unless CI
            // turns that off for a major (`.ci/run`).
            no_proof: std::env::var("STRATUM_TEST_PROOFS").is_ok_and(|v| v == "off"),
            ..Overrides::default()
        },
        dir,
    )
    .unwrap()
}

/// Replaces the project's schema with the one file `sql`.
fn set_schema(project: &Project, sql: &Path) {
    let _ = std::fs::remove_dir_all(&project.schema);
    std::fs::create_dir_all(&project.schema).unwrap();
    std::fs::copy(sql, project.schema.join("schema.sql")).unwrap();
}

async fn generate(project: &Project, name: &str) -> workflow::Report {
    workflow::generate(
        project,
        &GenerateOptions {
            name: Some(name.into()),
            empty: false,
            // Every fixture pair is generated, some of them destroy data.
            allow: [stratum::plan::HazardCode::DataLoss].into(),
        },
    )
    .await
    .unwrap_or_else(|e| panic!("generate {name}: {e:#}"))
}

fn files(report: &workflow::Report) -> Vec<String> {
    report.json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

/// Diff between a database and a SQL source; empty when they match.
async fn differences(server: &TestServer, db: &str, sql: Option<&Path>) -> String {
    let desired = match sql {
        Some(p) => stratum::load::Source::Sql(p.to_path_buf()),
        None => stratum::load::Source::Empty,
    };
    let (mut current, mut desired) = stratum::load::load_pair(
        &stratum::load::Source::Url(server.url(db)),
        &desired,
        &stratum::load::Scratch {
            dev_url: Some(server.url("postgres")),
            any_major: false,
        },
    )
    .await
    .unwrap();
    let filter = stratum::filter::Filter {
        history_table: Some(stratum::sql::QualName {
            schema: "public".into(),
            name: "stratum_migrations".into(),
        }),
        ..Default::default()
    };
    filter.apply(&mut current);
    filter.apply(&mut desired);
    let changes = diff::diff(&current, &desired);
    render::sql(&plan::plan(&current, &desired, changes).unwrap())
}

/// generate (before) -> generate (after) -> migrate -> check (db and
/// migrations) -> generate again is empty -> down -> the database is
/// `before` again.
async fn generate_migrate_check(
    server: &TestServer,
    n: usize,
    before: Option<&Path>,
    after: &Path,
    layout: Layout,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let project = project(server, dir.path(), layout);
    // The roles the schemas name exist where the plans run, as they must
    // (stratum never creates roles; its scratch stubs are dropped again).
    for (k, sql) in before.into_iter().chain([after]).enumerate() {
        let roles = server.database(&format!("roles_{n}_{k}")).await;
        common::load(&roles, sql).await?;
    }
    let db = format!("flow_{n}");
    server.database(&db).await;
    let url = server.url(&db);
    let mut generated = 0;
    if let Some(before) = before {
        set_schema(&project, before);
        // Empty when `before` holds no objects.
        generated += usize::from(!files(&generate(&project, "before").await).is_empty());
    }
    set_schema(&project, after);
    let report = generate(&project, "after").await;
    anyhow::ensure!(!files(&report).is_empty(), "the after migration is empty");
    generated += 1;

    let migrated = workflow::migrate(&project, &url, &Default::default()).await?;
    let applied = migrated.json["applied"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("migrate: {}", migrated.stderr))?
        .len();
    anyhow::ensure!(applied == generated, "applied {applied} of {generated}");
    let check_db = workflow::check(&project, Some(&url)).await?;
    anyhow::ensure!(
        check_db.exit == 0,
        "check --db: {}{}",
        check_db.stderr,
        check_db.stdout
    );
    let check_files = workflow::check(&project, None).await?;
    anyhow::ensure!(check_files.exit == 0, "check: {}", check_files.stdout);
    let again = generate(&project, "again").await;
    anyhow::ensure!(files(&again).is_empty(), "second generate wrote files");
    let status = workflow::status(&project, &url).await?;
    anyhow::ensure!(status.exit == 0, "status: {}", status.stdout);

    // down restores the previous schema exactly.
    let down = workflow::down(&project, &url, &Default::default()).await?;
    anyhow::ensure!(down.exit == 0, "down: {}", down.stderr);
    let left = differences(server, &db, before).await;
    anyhow::ensure!(left.is_empty(), "after down, the database differs:\n{left}");
    Ok(())
}

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
async fn every_fixture_pair_generates_migrates_checks_and_goes_down() {
    let server = TestServer::start().await;
    let cases = cases();
    let features = &common::Features::of(&server).await;
    // Two workers: while one waits on the server, the other runs.
    let worker = |k: usize| {
        let (server, cases) = (&server, &cases);
        async move {
            let mut failures = Vec::new();
            for (n, case) in cases.iter().enumerate().filter(|(n, _)| n % 2 == k) {
                // A `before.sql` that edits the catalog (a state no schema
                // can express) has no migration to generate.
                if case.join("workflow.skip").is_file() {
                    continue;
                }
                if let Some(need) = features.unmet(case) {
                    common::say(format!("not run: {} (needs {need})", case.display()));
                    continue;
                }
                let before = case.join("before.sql");
                let before = before.is_file().then_some(before.as_path());
                let after = case.join("after.sql");
                if let Err(e) =
                    generate_migrate_check(server, n, before, &after, Layout::Stratum).await
                {
                    failures.push(format!("{}: {e:#}", case.display()));
                }
            }
            failures
        }
    };
    let (mut failures, more) = tokio::join!(worker(0), worker(1));
    failures.extend(more);
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    // Every scratch database was dropped, the ones generate kept for its
    // proof included.
    let admin = server.connect("postgres").await;
    let left = common::strings(
        &admin,
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'stratum\\_scratch%'",
    )
    .await;
    assert!(left.is_empty(), "scratch databases left: {left:?}");
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

/// Loads every `.sql` file of `dir` in path order, each as a whole, the way
/// `psql -f` would: no reordering, no retries.
async fn load_in_file_order(client: &tokio_postgres::Client, dir: &Path) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?.map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in files {
        let sql = std::fs::read_to_string(&file)?;
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e:?}", file.display()))?;
    }
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn dump_round_trips_every_fixture() {
    let server = TestServer::start().await;
    let cases = cases();
    let features = common::Features::of(&server).await;
    let mut failures = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        if let Some(need) = features.unmet(case) {
            common::say(format!("not run: {} (needs {need})", case.display()));
            continue;
        }
        let split = [Split::None, Split::Schema, Split::Object][n % 3];
        let result = async {
            let source = server.database(&format!("dump_src_{n}")).await;
            load(&source, &case.join("after.sql")).await?;
            let dir = tempfile::tempdir()?;
            let project = project(&server, dir.path(), Layout::Stratum);
            let out = dir.path().join("dumped");
            workflow::dump(
                &project,
                &server.url(&format!("dump_src_{n}")),
                &DumpOptions {
                    out: out.clone(),
                    split,
                    force: false,
                },
            )
            .await?;
            let target = server.database(&format!("dump_dst_{n}")).await;
            load_in_file_order(&target, &out).await?;
            let left = differences(
                &server,
                &format!("dump_dst_{n}"),
                Some(&case.join("after.sql")),
            )
            .await;
            anyhow::ensure!(
                left.is_empty(),
                "the dump does not rebuild the database:\n{left}"
            );
            Ok::<_, anyhow::Error>(())
        }
        .await;
        if let Err(e) = result {
            failures.push(format!("{} ({split:?}): {e:#}", case.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
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
