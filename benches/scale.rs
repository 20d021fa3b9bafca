//! Scale benchmark: generates schemas of thousands of tables in a real
//! PostgreSQL and times introspection, diff, plan and render. The baseline,
//! measured in the same run on the same database, is `pg_dump --schema-only`
//! (the standard way to read a schema), so the ratios hold across machines.
//!
//! Run with `cargo bench --bench scale` (10 000 tables; `STRATUM_BENCH_TABLES=N`
//! to resize), with nothing else running.

use std::fmt::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use stratum::scratch::{find_binaries, Cluster};
use stratum::{conninfo, diff, introspect, plan, render};

/// A schema of `tables` tables in 10 schemas: columns of several types,
/// defaults, checks, foreign keys to the previous table, an index and a
/// comment each, a view over every tenth table, an enum and a trigger
/// function. `variant` changes a few percent of the tables.
fn schema(tables: usize, variant: bool) -> String {
    let mut sql = String::new();
    for s in 0..10 {
        writeln!(sql, "CREATE SCHEMA s{s};").unwrap();
    }
    sql.push_str("CREATE TYPE s0.status AS ENUM ('new', 'active', 'closed');\n");
    sql.push_str(
        "CREATE FUNCTION s0.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;\n",
    );
    for t in 0..tables {
        let s = t % 10;
        let changed = variant && t % 37 == 0;
        let name_type = if changed { "text" } else { "varchar(200)" };
        write!(
            sql,
            "CREATE TABLE s{s}.t{t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
             name {name_type} NOT NULL, status s0.status NOT NULL DEFAULT 'new', \
             amount numeric(12,2) CHECK (amount >= 0), \
             created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz"
        )
        .unwrap();
        if t > 0 {
            write!(
                sql,
                ", parent_id bigint REFERENCES s{}.t{} ON DELETE CASCADE",
                (t - 1) % 10,
                t - 1
            )
            .unwrap();
        }
        if variant && t % 53 == 0 {
            sql.push_str(", extra jsonb");
        }
        sql.push_str(");\n");
        writeln!(
            sql,
            "CREATE INDEX t{t}_name_idx ON s{s}.t{t} (lower(name)) WHERE status <> 'closed';"
        )
        .unwrap();
        writeln!(sql, "COMMENT ON TABLE s{s}.t{t} IS 'table {t}';").unwrap();
        if t % 10 == 0 {
            writeln!(
                sql,
                "CREATE VIEW s{s}.v{t} AS SELECT id, name FROM s{s}.t{t} WHERE status = 'active';"
            )
            .unwrap();
            writeln!(
                sql,
                "CREATE TRIGGER t{t}_touch BEFORE UPDATE ON s{s}.t{t} FOR EACH ROW EXECUTE FUNCTION s0.touch();"
            )
            .unwrap();
        }
    }
    sql
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Runs `f` `runs` times and returns the fastest time and the last result.
async fn best<T, F, Fut>(runs: usize, mut f: F) -> (Duration, T)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut fastest = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let value = f().await;
        fastest = fastest.min(start.elapsed());
        last = Some(value);
    }
    (fastest, last.expect("at least one run"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let tables: usize = std::env::var("STRATUM_BENCH_TABLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let bins = find_binaries(None).expect("the benchmark needs PostgreSQL server binaries");
    let cluster = Cluster::start(&bins).await.expect("starting PostgreSQL");
    let admin = conninfo::connect(&cluster.config("postgres"))
        .await
        .unwrap();
    for (db, variant) in [("current", false), ("desired", true)] {
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .await
            .unwrap();
        let client = conninfo::connect(&cluster.config(db)).await.unwrap();
        let start = Instant::now();
        // In chunks: one transaction over thousands of tables runs out of
        // lock slots.
        let text = schema(tables, variant);
        let lines: Vec<&str> = text.lines().collect();
        for chunk in lines.chunks(500) {
            client.batch_execute(&chunk.join("\n")).await.unwrap();
        }
        eprintln!(
            "loaded {db}: {tables} tables in {:.2} s",
            secs(start.elapsed())
        );
    }
    let mut current = conninfo::connect(&cluster.config("current")).await.unwrap();
    let mut desired = conninfo::connect(&cluster.config("desired")).await.unwrap();

    // Baseline: pg_dump --schema-only of the same database.
    let config = cluster.config("current");
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Unix(p) => p.clone(),
        other => panic!("unexpected host {other:?}"),
    };
    let (dump, _) = best(3, || async {
        let out = Command::new(bins.bindir.join("pg_dump"))
            .args(["--schema-only", "-U", "stratum", "-p", "5432", "-h"])
            .arg(&host)
            .arg("current")
            .output()
            .expect("running pg_dump");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await;

    let mut read_current = Duration::MAX;
    let mut cur = None;
    for _ in 0..3 {
        let start = Instant::now();
        cur = Some(introspect::introspect(&mut current, true).await.unwrap());
        read_current = read_current.min(start.elapsed());
    }
    let cur = cur.expect("introspected");
    let des = introspect::introspect(&mut desired, false).await.unwrap();
    let (diff_time, changes) = best(5, || async { diff::diff(&cur, &des) }).await;
    let n_changes = changes.len();
    let (plan_time, planned) = best(5, || async {
        plan::plan(&cur, &des, diff::diff(&cur, &des)).unwrap()
    })
    .await;
    let plan_only = plan_time.saturating_sub(diff_time);
    let (render_time, sql) = best(5, || async { render::sql(&planned) }).await;
    let (same_time, same) = best(5, || async { diff::diff(&cur, &cur) }).await;
    assert!(same.is_empty(), "a catalog differs from itself");

    let ratio = |d: Duration| secs(d) / secs(dump);
    println!(
        "stratum scale benchmark: {tables} tables, {} dependencies, PostgreSQL {}",
        cur.depends.len(),
        bins.version
    );
    println!("{:<34} {:>9} {:>14}", "phase", "seconds", "x pg_dump -s");
    println!(
        "{:<34} {:>9.3} {:>14.2}",
        "baseline: pg_dump --schema-only",
        secs(dump),
        1.0
    );
    println!(
        "{:<34} {:>9.3} {:>14.2}",
        "introspect (one side)",
        secs(read_current),
        ratio(read_current)
    );
    println!(
        "{:<34} {:>9.3} {:>14.3}",
        format!("diff ({n_changes} changes)"),
        secs(diff_time),
        ratio(diff_time)
    );
    println!(
        "{:<34} {:>9.3} {:>14.3}",
        "diff of identical catalogs",
        secs(same_time),
        ratio(same_time)
    );
    println!(
        "{:<34} {:>9.3} {:>14.3}",
        format!("plan ({} steps)", planned.steps.len()),
        secs(plan_only),
        ratio(plan_only)
    );
    println!(
        "{:<34} {:>9.3} {:>14.3}",
        format!("render ({} bytes)", sql.len()),
        secs(render_time),
        ratio(render_time)
    );
}
