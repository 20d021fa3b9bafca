//! What the fixture suites that run one test per case share
//! (`convergence.rs`, `fixture_workflows.rs`): the cases with their names
//! and what the server lacks for them, and a runtime per case.

use std::path::{Path, PathBuf};

use libtest_mimic::Failed;

use super::{cases, say, Features};

/// One fixture case as a harness runs it.
pub struct Case {
    /// Its number, for the names of its databases.
    pub n: usize,
    /// Its folder.
    pub path: PathBuf,
    /// Its folder under `fixtures/`, e.g. `columns/add_column`.
    pub name: String,
    /// What the server lacks for it (`-- needs: ...`), said on stderr.
    pub unmet: Option<String>,
}

/// Every fixture case (those `STRATUM_FIXTURES` names), each a case the
/// server cannot run said on stderr, never silent.
pub fn fixture_cases(features: &Features) -> Vec<Case> {
    let cases = cases();
    assert!(
        cases.len() > 20 || std::env::var_os("STRATUM_FIXTURES").is_some(),
        "fixtures not found"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    cases
        .into_iter()
        .enumerate()
        .map(|(n, path)| {
            let name = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string();
            let unmet = features.unmet(&path);
            if let Some(need) = &unmet {
                say(format!(
                    "not run on PostgreSQL {}: {name} (needs {need})",
                    features.major
                ));
            }
            Case {
                n,
                path,
                name,
                unmet,
            }
        })
        .collect()
}

/// Runs one case's future on a runtime of its own (the harness runs cases
/// on its threads), its error said with the server's major.
pub fn run<T>(
    major: i32,
    case: impl std::future::Future<Output = anyhow::Result<T>>,
) -> Result<T, Failed> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(case)
        .map_err(|e| Failed::from(format!("on PostgreSQL {major}: {e:#}")))
}
