//! Every fixture pair through the workflow as users run it, each case two
//! tests of its own, named by its folder under `fixtures/`:
//!
//! - `generate/<kind>/<case>`: generate (before) -> generate (after) ->
//!   migrate -> check (database and migrations) -> generate again is empty
//!   -> down restores `before` exactly;
//! - `dump/<kind>/<case>`: a database built from `after.sql` is dumped
//!   (one of `--split none|schema|object`, chosen from the case's name so
//!   that a new case moves no other), the files are loaded in file order as
//!   `psql -f` would, and the result matches `after.sql`.
//!
//! `cargo test --test fixture_workflows -- dump/views` runs some. The cases
//! share one test server; once they ran, no scratch database may be left.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::flow::{differences, generate_migrate_check, load_in_file_order, project};
use common::{load, TestServer};
use libtest_mimic::{Arguments, Trial};
use stratum::migrations::Layout;
use stratum::workflow::{self, DumpOptions, Split};

/// The dump layout a case is tried with: fixed by its name.
fn split_of(name: &str) -> Split {
    let sum: usize = name.bytes().map(usize::from).sum();
    [Split::None, Split::Schema, Split::Object][sum % 3]
}

/// The whole workflow for one fixture pair.
async fn workflow_case(server: &TestServer, n: usize, case: &Path) -> anyhow::Result<()> {
    let before = case.join("before.sql");
    let before = before.is_file().then_some(before.as_path());
    generate_migrate_check(server, n, before, &case.join("after.sql"), Layout::Stratum).await
}

/// A dump of `after.sql` rebuilds it.
async fn dump_case(server: &TestServer, n: usize, case: &Path, split: Split) -> anyhow::Result<()> {
    let source = server.database(&format!("dump_src_{n}")).await;
    load(&source, &case.join("after.sql")).await?;
    let dir = tempfile::tempdir()?;
    let project = project(server, dir.path(), Layout::Stratum);
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
        server,
        &format!("dump_dst_{n}"),
        Some(&case.join("after.sql")),
    )
    .await;
    anyhow::ensure!(
        left.is_empty(),
        "the dump does not rebuild the database:\n{left}"
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let server = Arc::new(runtime.block_on(TestServer::start()));
    let features = Arc::new(runtime.block_on(common::Features::of(&server)));
    let mut trials = Vec::new();
    for case in common::harness::fixture_cases(&features) {
        let split = split_of(&case.name);
        let major = features.major;
        let (server1, server2) = (server.clone(), server.clone());
        let (n, path1, path2) = (case.n, case.path.clone(), case.path.clone());
        // A `before.sql` that edits the catalog (a state no schema can
        // express) has no migration to generate.
        let skip = case.path.join("workflow.skip").is_file();
        trials.push(
            Trial::test(format!("generate/{}", case.name), move || {
                common::harness::run(major, workflow_case(&server1, n, &path1))
            })
            .with_ignored_flag(case.unmet.is_some() || skip),
        );
        trials.push(
            Trial::test(
                format!("dump/{} ({split:?})", case.name).to_lowercase(),
                move || common::harness::run(major, dump_case(&server2, n, &path2, split)),
            )
            .with_ignored_flag(case.unmet.is_some()),
        );
    }
    let conclusion = libtest_mimic::run(&args, trials);
    // Every scratch database was dropped, the ones generate kept for its
    // proof included.
    let left = runtime.block_on(async {
        let admin = server.connect("postgres").await;
        common::strings(
            &admin,
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'stratum\\_scratch%'",
        )
        .await
    });
    drop(server);
    if !left.is_empty() {
        eprintln!("scratch databases left: {left:?}");
        return std::process::ExitCode::FAILURE;
    }
    conclusion.exit_code()
}
