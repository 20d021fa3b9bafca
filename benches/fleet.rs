//! Fleet benchmark: 500 small databases (one server) brought up to date by
//! `stratum migrate` over the fleet with `--jobs 1`, `4` and `16`, beside
//! the yardstick it replaces, a shell loop of one `stratum migrate` per
//! database, measured in the same run (the release binary): total wall
//! time, time per database and peak memory. Every database starts each
//! round empty and ends it with every migration applied (checked).
//!
//! Run with `cargo bench --bench fleet` (500 databases), or
//! `cargo bench --bench fleet -- --databases 100`, with nothing else
//! running.

mod common;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stratum::conninfo;
use stratum::scratch::{find_binaries, Cluster};

const MIGRATIONS: &[(&str, &str)] = &[
    (
        "20261201000000_accounts.sql",
        "CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
         name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());\n\
         CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
         account_id bigint NOT NULL REFERENCES accounts, email text NOT NULL UNIQUE);\n",
    ),
    (
        "20261202000000_projects.sql",
        "CREATE TABLE projects (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
         account_id bigint NOT NULL REFERENCES accounts, title text NOT NULL);\n\
         CREATE INDEX projects_account ON projects (account_id);\n",
    ),
    (
        "20261203000000_users_name.sql",
        "ALTER TABLE users ADD COLUMN name text;\n\
         CREATE VIEW account_users AS SELECT a.name AS account, u.email FROM accounts a \
         JOIN users u ON u.account_id = a.id;\n",
    ),
];

/// A run's wall time and peak resident memory (the largest of the process
/// and the descendants it waited for: for the loop, its largest stratum).
// The child is waited for with wait4, which std does not know.
#[allow(clippy::zombie_processes)]
fn measure(command: &mut Command) -> (Duration, u64) {
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut err = String::new();
    let mut stderr = child.stderr.take().expect("piped");
    std::io::Read::read_to_string(&mut stderr, &mut err).ok();
    // SAFETY: the pid is our own child, waited for once, here.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert!(pid > 0, "wait4 failed for {command:?}");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed ({status}):\n{err}"
    );
    (wall, usage.ru_maxrss as u64 * 1024)
}

/// Empties every database: what each round starts from.
async fn reset(cluster: &Cluster, names: &[String]) {
    for name in names {
        let db = conninfo::connect(&cluster.config(name)).await.unwrap();
        db.batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            .await
            .unwrap();
    }
}

/// Asserts that every database has every migration applied.
async fn check_applied(cluster: &Cluster, names: &[String]) {
    for name in names {
        let db = conninfo::connect(&cluster.config(name)).await.unwrap();
        let n: i64 = db
            .query_one("SELECT count(*) FROM public.stratum_migrations", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n as usize, MIGRATIONS.len(), "{name}");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_stratum"));
    let n = common::numbers("--databases", &[500])[0] as usize;
    let bins = find_binaries(None).expect("PostgreSQL server binaries");
    // Room for 16 runs at once and the benchmark's own connection.
    let cluster = Cluster::start_with(&bins, 5432, &[("max_connections", "100")], &|_| Ok(()))
        .await
        .expect("starting PostgreSQL");
    let admin = conninfo::connect(&cluster.config("postgres"))
        .await
        .unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("tenant_{i:04}")).collect();
    let made = Instant::now();
    for name in &names {
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
    }
    eprintln!(
        "{n} databases made in {:.1} s",
        made.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir(p.join("migrations")).unwrap();
    std::fs::create_dir(p.join("schema")).unwrap();
    for (file, sql) in MIGRATIONS {
        std::fs::write(p.join("migrations").join(file), sql).unwrap();
    }
    let urls: Vec<String> = names.iter().map(|db| common::url(&cluster, db)).collect();
    std::fs::write(p.join("fleet.txt"), urls.join("\n") + "\n").unwrap();

    let mut rows: Vec<(String, Duration, u64)> = Vec::new();
    // The yardstick: one stratum per database, one after another.
    reset(&cluster, &names).await;
    let mut command = Command::new("sh");
    command
        .args([
            "-c",
            "while read -r url; do \"$0\" migrate --db \"$url\" || exit 1; done < fleet.txt",
        ])
        .arg(&exe)
        .current_dir(p);
    let (wall, peak) = measure(&mut command);
    check_applied(&cluster, &names).await;
    rows.push(("shell loop of `stratum migrate`".into(), wall, peak));
    for jobs in [1, 4, 16] {
        reset(&cluster, &names).await;
        let mut command = Command::new(&exe);
        command
            .args([
                "migrate",
                "--db-list",
                "fleet.txt",
                "--jobs",
                &jobs.to_string(),
            ])
            .current_dir(p);
        let (wall, peak) = measure(&mut command);
        check_applied(&cluster, &names).await;
        rows.push((format!("migrate --db-list --jobs {jobs}"), wall, peak));
    }
    print(n, &bins.version, &rows);
}

fn print(n: usize, version: &str, rows: &[(String, Duration, u64)]) {
    let yardstick = rows[0].1.as_secs_f64();
    println!(
        "\n{n} databases, {} migrations each, PostgreSQL {version}, one server:\n",
        MIGRATIONS.len()
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>8}",
        "run", "seconds", "per db", "vs loop", "peak MB"
    );
    for (what, wall, peak) in rows {
        let s = wall.as_secs_f64();
        println!(
            "{what:<34} {s:>9.2} {:>6.1} ms {:>8.2}x {:>8.1}",
            s * 1000.0 / n as f64,
            s / yardstick,
            *peak as f64 / 1_048_576.0
        );
    }
}
