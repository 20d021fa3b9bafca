//! Every fixture converges: build `before.sql` in a real database, plan to
//! `after.sql`, apply, read the database back, and expect no differences and
//! an empty second plan. Then the rendered SQL is compared with the snapshot
//! stored next to the case (`plan.snap`). No fixture may hold an object of a
//! kind stratum does not manage. A case that says its rows survive holds a
//! `kept.sql`: a query over the migrated database that must return true.
//!
//! Each case is a test of its own, named by its folder under `fixtures/`:
//! `cargo test --test convergence -- columns/add_column` runs one, and a
//! case the server cannot run (`-- needs: ...`) is listed as ignored. The
//! cases share one test server.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{apply, load, read, TestServer};
use libtest_mimic::{Arguments, Trial};
use stratum::{diff, plan, render};

/// The snapshot to compare with. PostgreSQL's canonical text changes at one
/// major and then stays, so a major uses its own `plan@pg<major>` or else the
/// newest `plan@pg<m>` of a major between 16 and its own; `plan` is
/// PostgreSQL 15's and holds for any major whose plan matches it. A major
/// whose plan matches none of those gets a snapshot of its own.
fn snapshot_name(case: &Path, sql: &str, major: i32) -> String {
    let own = format!("plan@pg{major}");
    if major == 15 {
        return "plan".into();
    }
    let exists = |name: &str| case.join(format!("{name}.snap")).is_file();
    if exists(&own) {
        return own;
    }
    if let Some(older) = (16..major)
        .rev()
        .map(|m| format!("plan@pg{m}"))
        .find(|n| exists(n))
    {
        return older;
    }
    let stored = std::fs::read_to_string(case.join("plan.snap")).unwrap_or_default();
    // After insta's header (`---`, metadata, `---`).
    let body = stored.splitn(3, "---\n").nth(2).unwrap_or_default();
    if body.trim_end() == sql.trim_end() {
        "plan".into()
    } else {
        own
    }
}

/// Runs one case; returns the rendered first plan.
async fn run_case(server: &TestServer, n: usize, case: &Path) -> anyhow::Result<String> {
    let current = server.database(&format!("case_{n}_current")).await;
    let before = case.join("before.sql");
    if before.is_file() {
        current
            .batch_execute(&std::fs::read_to_string(&before)?)
            .await?;
    }
    let target = server.database(&format!("case_{n}_desired")).await;
    load(&target, &case.join("after.sql")).await?;
    let desired = read(&target, false).await;

    let mut before_cat = read(&current, true).await;
    // Cases under fixtures/online/ are planned as for a live database.
    before_cat.online = case.components().any(|c| c.as_os_str() == "online");
    // The catalog cache stores catalogs as JSON: every kind must read back
    // exactly.
    for catalog in [&before_cat, &desired] {
        let back: stratum::kinds::Catalog = serde_json::from_slice(&serde_json::to_vec(catalog)?)?;
        anyhow::ensure!(
            format!("{back:?}") == format!("{catalog:?}"),
            "the catalog does not read back the same from the catalog cache's JSON"
        );
    }
    // A fixture of a kind stratum does not manage would pass by being ignored.
    for (side, catalog) in [("before", &before_cat), ("after", &desired)] {
        if let Some(u) = catalog.unmanaged.first() {
            anyhow::bail!("{side}.sql holds an unmanaged {} {}", u.kind, u.name);
        }
    }
    // `-- stratum:renamed-from`: planned against the schema with its renames
    // undone, the renames last, as the workflow does.
    let source = stratum::parse::read_source(&case.join("after.sql"))?;
    let renames = stratum::renames::resolve(&source, &before_cat, &desired)?;
    let target_cat = if renames.changes.is_empty() {
        None
    } else {
        for sql in &renames.undo {
            target.batch_execute(sql).await?;
        }
        Some(read(&target, false).await)
    };
    let planned_against = target_cat.as_ref().unwrap_or(&desired);
    let mut changes = diff::diff(&before_cat, planned_against);
    changes.extend(renames.changes.into_iter().map(diff::Change::from));
    // As the workflow does: sizes the statistics do not give, measured for
    // the tables the plan's hazards name.
    let sized = plan::sized_tables(&before_cat, planned_against, &changes);
    stratum::introspect::measure(&current, &mut before_cat, &sized).await?;
    let first = plan::plan(&before_cat, planned_against, changes)?;
    apply(&current, &first).await?;

    let after_cat = read(&current, true).await;
    let remaining = diff::diff(&after_cat, &desired);
    if !remaining.is_empty() {
        let second = plan::plan(&after_cat, &desired, remaining)?;
        anyhow::bail!(
            "did not converge; first plan:\n{}\nsecond plan:\n{}",
            render::sql(&first),
            render::sql(&second)
        );
    }
    if first.is_empty() {
        anyhow::bail!("the case holds no change: its plan is empty");
    }
    let kept = case.join("kept.sql");
    if kept.is_file() {
        let query = std::fs::read_to_string(&kept)?;
        let holds: bool = current.query_one(query.as_str(), &[]).await?.get(0);
        anyhow::ensure!(holds, "kept.sql does not hold after the plan:\n{query}");
    }
    Ok(render::sql(&first))
}

/// Compares `sql` with the case's stored snapshot for this major.
fn compare_snapshot(case: &Path, sql: &str, major: i32) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(case);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    let name = snapshot_name(case, sql, major);
    settings.bind(|| insta::assert_snapshot!(name, sql));
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    // The server lives as long as this runtime, which outlives every case;
    // each case runs on a runtime of its own, on the harness's threads.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let server = Arc::new(runtime.block_on(TestServer::start()));
    let features = Arc::new(runtime.block_on(common::Features::of(&server)));
    let trials: Vec<Trial> = common::harness::fixture_cases(&features)
        .into_iter()
        .map(|case| {
            let (server, major) = (server.clone(), features.major);
            let ignored = case.unmet.is_some();
            Trial::test(case.name, move || {
                let sql = common::harness::run(major, run_case(&server, case.n, &case.path))?;
                compare_snapshot(&case.path, &sql, major);
                Ok(())
            })
            .with_ignored_flag(ignored)
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(server);
    conclusion.exit_code()
}
