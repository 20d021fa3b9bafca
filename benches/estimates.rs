//! Estimates benchmark: what `stratum rehearse --pending` estimates for a
//! migration from a sample of the table, beside what `stratum migrate` then
//! takes for it on the whole table (the executor's own time, recorded in
//! the history), in the same run: a rewrite, a concurrent index build, a
//! validation and a batched backfill.
//!
//! Run with `cargo bench --bench estimates` (1 000 000 and 10 000 000 rows),
//! or `cargo bench --bench estimates -- --rows 1000000`, with nothing else
//! running.

mod common;
use std::path::{Path, PathBuf};

use stratum::scratch::find_binaries;

/// The sizes to run: `--rows 1000000,10000000`, else both of those.
fn sizes() -> Vec<i64> {
    common::numbers("--rows", &[1_000_000, 10_000_000])
}

/// The cases: a name, the migration's statements, and the statement (by
/// its first words) whose estimate is compared.
const CASES: &[(&str, &str, &str)] = &[
    (
        "rewrite (ALTER COLUMN TYPE)",
        "ALTER TABLE t ALTER COLUMN a TYPE bigint;\n",
        "ALTER TABLE t ALTER COLUMN a",
    ),
    (
        "index build (CONCURRENTLY)",
        "CREATE INDEX CONCURRENTLY t_b ON t (b);\n",
        "CREATE INDEX",
    ),
    (
        "validation (CHECK)",
        "ALTER TABLE t ADD CONSTRAINT t_a CHECK (a >= 0) NOT VALID;\n\
         -- stratum:batch\n\
         ALTER TABLE t VALIDATE CONSTRAINT t_a;\n",
        "ALTER TABLE t VALIDATE",
    ),
    (
        "backfill (batched UPDATE)",
        "-- stratum:backfill\nUPDATE t SET c = a * 2 WHERE c IS NULL;\n",
        "UPDATE t",
    ),
];

/// Runs the release binary in `dir`: its stdout, and whether it succeeded.
async fn stratum(exe: &Path, dir: &Path, args: &[&str]) -> (String, bool) {
    let out = tokio::process::Command::new(exe)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("STRATUM_CACHE", "off")
        .output()
        .await
        .unwrap();
    if !out.status.success() && out.status.code() != Some(1) {
        panic!(
            "stratum {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.success(),
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let bins = find_binaries(None).expect("the benchmark needs PostgreSQL server binaries");
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_stratum"));
    println!(
        "stratum estimates benchmark, PostgreSQL {}: rehearse --pending (1 % sample, the \
         default) beside migrate\n",
        bins.version
    );
    println!(
        "| rows | case | copied rows | estimate (s) | real (s) | real / estimate |\n\
         |---|---|---|---|---|---|"
    );
    for rows in sizes() {
        let (_cluster, url, db) = common::bench_database(&bins).await;
        db.batch_execute(&format!(
            "CREATE TABLE t (id bigint PRIMARY KEY, a int NOT NULL, b int, c int, note text);
             INSERT INTO t (id, a, b, note) SELECT g, g % 1000, g % 7919, 'row ' || g \
             FROM generate_series(1, {rows}) g;"
        ))
        .await
        .unwrap();
        db.batch_execute("VACUUM ANALYZE t").await.unwrap();
        db.batch_execute("CHECKPOINT").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("migrations")).unwrap();
        std::fs::create_dir_all(dir.path().join("schema")).unwrap();
        for (n, (case, sql, statement)) in CASES.iter().enumerate() {
            let file = format!("migrations/2026010100000{n}_case.sql");
            std::fs::write(dir.path().join(&file), sql).unwrap();
            let (json, _) = stratum(
                &exe,
                dir.path(),
                &["rehearse", "--db", &url, "--pending", "--format", "json"],
            )
            .await;
            let rehearsal: serde_json::Value = serde_json::from_str(&json).unwrap();
            let step = rehearsal["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["statement"].as_str().unwrap().starts_with(statement))
                .unwrap_or_else(|| panic!("{case}: no step in {rehearsal:#}"));
            let estimate = step["estimate_ms"].as_f64().unwrap() / 1000.0;
            let copied = rehearsal["tables"][0]["copied"].as_u64().unwrap_or(0);
            let (_, ok) = stratum(&exe, dir.path(), &["migrate", "--db", &url]).await;
            assert!(ok, "{case}: migrate failed");
            db.batch_execute("CHECKPOINT").await.unwrap();
            let real: i64 = db
                .query_one(
                    &format!("SELECT execution_ms FROM stratum_migrations WHERE version = '2026010100000{n}'"),
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            let real = real as f64 / 1000.0;
            println!(
                "| {rows} | {case} | {copied} | {estimate:.2} | {real:.2} | {:.2} |",
                real / estimate
            );
        }
    }
}
