//! A real PostgreSQL for tests: a throwaway cluster from the local `initdb`
//! and `postgres` binaries, on a Unix socket in a temp dir (stratum's own
//! embedded cluster). Tests fail, never skip, when no binaries are found.

#![allow(dead_code)]

pub mod flow;
pub mod harness;

use std::path::{Path, PathBuf};

use stratum::kinds::Catalog;
use stratum::scratch::{find_binaries, Cluster};
use tokio_postgres::Client;

/// A running test cluster.
pub struct TestServer {
    pub cluster: Cluster,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let bins = find_binaries(None).unwrap_or_else(|e| {
            panic!("tests need a PostgreSQL server: {e:#}");
        });
        let cluster = Cluster::start(&bins)
            .await
            .unwrap_or_else(|e| panic!("starting the test PostgreSQL cluster: {e:#}"));
        TestServer { cluster }
    }

    /// Creates database `name` (from template0) and connects to it.
    pub async fn database(&self, name: &str) -> Client {
        let admin = stratum::conninfo::connect(&self.cluster.config("postgres"))
            .await
            .unwrap();
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .await
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
            .await
            .unwrap();
        stratum::conninfo::connect(&self.cluster.config(name))
            .await
            .unwrap()
    }

    /// Another connection to the existing database `name`.
    pub async fn connect(&self, name: &str) -> Client {
        stratum::conninfo::connect(&self.cluster.config(name))
            .await
            .unwrap()
    }

    /// [`TestServer::connect`] as a future that owns the name.
    pub async fn connect_owned(&self, name: String) -> Client {
        self.connect(&name).await
    }

    /// A postgres:// URL for database `name`.
    pub fn url(&self, name: &str) -> String {
        let config = self.cluster.config(name);
        let host = match &config.get_hosts()[0] {
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            other => panic!("unexpected host {other:?}"),
        };
        format!("postgresql://stratum@/{name}?host={host}&port=5432")
    }
}

/// The first column of every row `sql` returns, as text.
pub async fn strings(client: &Client, sql: &str) -> Vec<String> {
    let rows = client.query(sql, &[]).await.expect(sql);
    rows.iter().map(|r| r.get(0)).collect()
}

/// Loads the SQL file or directory at `path` with stratum's own loader,
/// settled as a scratch load is.
pub async fn load(client: &Client, path: &Path) -> anyhow::Result<()> {
    let source = stratum::parse::read_source(path)?;
    stratum::load::load_sql(client, &source).await?;
    stratum::load::settle(client).await
}

/// Reads a catalog.
pub async fn read(client: &Client, live: bool) -> Catalog {
    stratum::introspect::introspect(client, live).await.unwrap()
}

/// Applies a plan through the code `stratum apply` runs it with:
/// consecutive transactional steps in one transaction, the others alone.
pub async fn apply(client: &Client, plan: &stratum::plan::Plan) -> anyhow::Result<()> {
    stratum::execute::run_plan(client, plan, &stratum::execute::Timeouts::default())
        .await
        .map(|_| ())
}

/// Every fixture case directory (one holding `after.sql`), sorted.
pub fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut cases = Vec::new();
    for kind in std::fs::read_dir(&root).unwrap() {
        let kind = kind.unwrap().path();
        if !kind.is_dir() {
            continue;
        }
        for case in std::fs::read_dir(&kind).unwrap() {
            let case = case.unwrap().path();
            if case.join("after.sql").is_file() {
                cases.push(case);
            }
        }
    }
    // STRATUM_FIXTURES=foreign runs only the cases whose path holds it.
    if let Ok(only) = std::env::var("STRATUM_FIXTURES") {
        cases.retain(|c| c.to_string_lossy().contains(&only));
    }
    cases.sort();
    cases
}

/// What the test server offers, for the `-- needs:` lines of fixtures.
pub struct Features {
    /// Its major version.
    pub major: i32,
    /// Built with lz4 (column COMPRESSION lz4).
    pub lz4: bool,
}

impl Features {
    /// Asks the server.
    pub async fn of(server: &TestServer) -> Features {
        let probe = server.database("probe").await;
        let major: i32 = probe
            .query_one(
                "SELECT current_setting('server_version_num')::int / 10000",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let lz4 = probe
            .batch_execute("SET default_toast_compression = lz4")
            .await
            .is_ok();
        Features { major, lz4 }
    }

    /// The first need of `case` (from `-- needs: postgresql 15` or
    /// `-- needs: lz4` lines in its `after.sql`) this server does not meet.
    pub fn unmet(&self, case: &Path) -> Option<String> {
        let text = std::fs::read_to_string(case.join("after.sql")).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.strip_prefix("-- needs:"))
            .map(str::trim)
            .find(|need| match need.split_once(' ') {
                Some(("postgresql", min)) => min.parse::<i32>().map_or(true, |m| self.major < m),
                _ if *need == "lz4" => !self.lz4,
                _ => true,
            })
            .map(str::to_string)
    }
}

/// Writes a line to the real stderr, past the test harness's capture: what
/// a suite could not do is said even when it passes.
pub fn say(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs the stratum binary in `dir` with extra environment variables,
/// stdin closed (and no `DATABASE_URL` or `STRATUM_DEV_URL` but `env`'s).
pub fn stratum_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    spawn_in(dir, args, env)
        .wait_with_output()
        .expect("running stratum")
}

/// Starts stratum in `dir` without waiting: stdin closed, output piped.
pub fn spawn_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_stratum"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("STRATUM_DEV_URL")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running stratum")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits until `ready` holds (an event seen in the database: a lock, a
/// row), at most `limit`.
pub async fn wait_for<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: std::time::Duration,
    ready: impl Fn() -> F,
) {
    let deadline = std::time::Instant::now() + limit;
    while !ready().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A project directory: `schema/schema.sql` and the given migrations.
pub fn project_dir(schema: &str, migrations: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("schema")).unwrap();
    std::fs::write(dir.path().join("schema/schema.sql"), schema).unwrap();
    std::fs::create_dir(dir.path().join("migrations")).unwrap();
    for (name, sql) in migrations {
        std::fs::write(dir.path().join("migrations").join(name), sql).unwrap();
    }
    dir
}

/// Runs `statements` in turn on database `url`, as application `writer`
/// with `lock_timeout = 200ms`, until `stop` is set; each takes the turn's
/// number (from 1) as its bigint `$1`. Returns the statements that
/// succeeded and the errors.
pub async fn writer(
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    statements: &[&str],
) -> (u64, Vec<String>) {
    let client = stratum::conninfo::connect_url(&url).await.unwrap();
    client
        .batch_execute("SET lock_timeout = '200ms'; SET application_name = 'writer'")
        .await
        .unwrap();
    let (mut done, mut errors) = (0u64, Vec::new());
    let mut n: i64 = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        n += 1;
        for sql in statements {
            match client.execute(*sql, &[&n]).await {
                Ok(_) => done += 1,
                Err(e) => errors.push(format!("{e}: {:?}", e.as_db_error().map(|d| d.message()))),
            }
        }
    }
    (done, errors)
}
