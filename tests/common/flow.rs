//! The workflow as users run it, shared by the workflow suites: a project
//! on the test server, generate -> migrate -> check -> down for a pair of
//! schemas, and loading a dump the way `psql -f` would.

use std::path::{Path, PathBuf};

use stratum::config::{Overrides, Project};
use stratum::migrations::Layout;
use stratum::workflow::{self, GenerateOptions};
use stratum::{diff, plan, render};

use super::TestServer;

/// A project in `dir` whose scratch databases live on the test server.
pub fn project(server: &TestServer, dir: &Path, layout: Layout) -> Project {
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
pub fn set_schema(project: &Project, sql: &Path) {
    let _ = std::fs::remove_dir_all(&project.schema);
    std::fs::create_dir_all(&project.schema).unwrap();
    std::fs::copy(sql, project.schema.join("schema.sql")).unwrap();
}

pub async fn generate(project: &Project, name: &str) -> workflow::Report {
    workflow::generate(
        project,
        &GenerateOptions {
            name: Some(name.into()),
            empty: false,
            // Every fixture pair is generated, some of them destroy data.
            allow: [stratum::plan::HazardCode::DataLoss].into(),
            zero_downtime: stratum::zero_downtime::When::Never,
            db: None,
            prove_with_sample: None,
            summary: false,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("generate {name}: {e:#}"))
}

pub fn files(report: &workflow::Report) -> Vec<String> {
    report.json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

/// Diff between a database and a SQL source; empty when they match.
pub async fn differences(server: &TestServer, db: &str, sql: Option<&Path>) -> String {
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
pub async fn generate_migrate_check(
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
        super::load(&roles, sql).await?;
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

/// Loads every `.sql` file of `dir` in path order, each as a whole, the way
/// `psql -f` would: no reordering, no retries.
pub async fn load_in_file_order(client: &tokio_postgres::Client, dir: &Path) -> anyhow::Result<()> {
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
