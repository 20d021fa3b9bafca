//! Scale benchmark: generates schemas of thousands of tables in a real
//! PostgreSQL and times what stratum does with them, beside yardsticks
//! measured in the same run on the same databases: `psql -f` of the same
//! SQL (loading a schema) and `pg_dump --schema-only` (reading one), so the
//! ratios hold across machines.
//!
//! - the commands, run as a user runs them (the release binary, its wall
//!   time and peak memory): `diff` database to database (identical, and
//!   with changes), `diff --from empty --to schema.sql` (a load into the
//!   scratch server), `dump`; the `diff` is run over one connection too,
//!   and with the read cache storing and then hitting, and its output must
//!   be byte-identical;
//! - the phases in process: introspection of one side, diff, plan, render.
//!
//! Run with `cargo bench --bench scale` (10 000 tables), or
//! `cargo bench --bench scale -- --tables 1000,10000,50000` to see how cost
//! grows, with nothing else running.

mod common;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stratum::scratch::{find_binaries, Binaries, Cluster};
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

/// What one run of a command cost.
struct Run {
    wall: Duration,
    /// Peak resident memory, in bytes.
    peak: u64,
    stdout: Vec<u8>,
}

/// Runs `command` to its end (it must exit 0), with its stdout kept, and
/// measures its wall time and peak memory: the process's own high-water
/// mark (`VmHWM`), read every few milliseconds while it runs. Not `wait4`'s
/// rusage: that takes the largest of the process and the descendants it
/// waited for, which for stratum includes the scratch server's backends (a
/// backend that touched 10 000 tables is larger than stratum).
fn measure(command: &mut Command) -> Run {
    measure_exit(command, 0)
}

/// [`measure`] of a command that must exit with `code`.
// The child is waited for with wait4, which std does not know.
#[allow(clippy::zombie_processes)]
fn measure_exit(command: &mut Command, code: i32) -> Run {
    let out = tempfile::tempfile().expect("a temp file");
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::from(out.try_clone().expect("a temp file")))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = {
        let (done, status) = (done.clone(), format!("/proc/{}/status", child.id()));
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let hwm = std::fs::read_to_string(&status).ok().and_then(|s| {
                    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?.to_string();
                    line.split_whitespace().nth(1)?.parse::<u64>().ok()
                });
                peak = peak.max(hwm.unwrap_or(0) * 1024);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            peak
        })
    };
    let mut stderr = child.stderr.take().expect("piped");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut err).ok();
    // SAFETY: the pid is our own child, waited for once, here.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let own = watch.join().expect("the memory watcher");
    assert!(pid > 0, "wait4 failed for {command:?}");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == code,
        "{command:?} failed ({status}):\n{err}"
    );
    let mut stdout = Vec::new();
    let mut out = out;
    std::io::Seek::rewind(&mut out).unwrap();
    std::io::Read::read_to_end(&mut out, &mut stdout).unwrap();
    Run {
        wall,
        // A run too short to be read: its rusage (no descendants then).
        peak: if own > 0 {
            own
        } else {
            usage.ru_maxrss as u64 * 1024
        },
        stdout,
    }
}

/// `measure`, `runs` times: the fastest wall time, the highest peak.
fn measure_best(runs: usize, command: &mut Command) -> Run {
    let mut best = measure(command);
    for _ in 1..runs {
        let run = measure(command);
        best.peak = best.peak.max(run.peak);
        if run.wall < best.wall {
            best.wall = run.wall;
        }
    }
    best
}

/// A table of results: phase, seconds, ratio to a yardstick, peak memory.
#[derive(Default)]
struct Report {
    lines: Vec<String>,
}

impl Report {
    fn row(
        &mut self,
        phase: &str,
        time: Duration,
        yardstick: Option<(&str, Duration)>,
        peak: Option<u64>,
    ) {
        let ratio = yardstick
            .map(|(name, y)| format!("{:.3} x {name}", secs(time) / secs(y)))
            .unwrap_or_default();
        let peak = peak
            .map(|p| format!("{:.0} MB", p as f64 / 1e6))
            .unwrap_or_default();
        self.lines.push(format!(
            "| {phase} | {:.3} | {ratio} | {peak} |",
            secs(time)
        ));
    }
}

/// The sizes to run: `--tables 1000,10000`, else `STRATUM_BENCH_TABLES`,
/// else 10 000. (`cargo bench` adds `--bench`, which is ignored.)
fn sizes() -> Vec<usize> {
    let args: Vec<String> = std::env::args().collect();
    let given = args
        .iter()
        .position(|a| a == "--tables")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var("STRATUM_BENCH_TABLES").ok());
    match given {
        Some(list) => list
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("--tables takes numbers, e.g. 1000,10000")
            })
            .collect(),
        None => vec![10_000],
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let bins = find_binaries(None).expect("the benchmark needs PostgreSQL server binaries");
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_stratum"));
    let mut summary = Vec::new();
    for tables in sizes() {
        let lines = one_size(&bins, &exe, tables).await;
        println!(
            "\nstratum scale benchmark: {tables} tables, PostgreSQL {}",
            bins.version
        );
        println!("| phase | seconds | ratio | peak memory |\n|---|---|---|---|");
        for line in &lines.0 {
            println!("{line}");
        }
        summary.push((tables, lines.1));
    }
    if summary.len() > 1 {
        println!("\nhow cost grows (seconds per 1 000 tables):");
        for (tables, per) in &summary {
            println!("{tables:>7} tables: {per}");
        }
    }
}

/// Runs every measurement at one size; returns the report's lines and a
/// one-line growth summary.
async fn one_size(bins: &Binaries, exe: &Path, tables: usize) -> (Vec<String>, String) {
    let cluster = Cluster::start(bins).await.expect("starting PostgreSQL");
    let admin = conninfo::connect(&cluster.config("postgres"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut report = Report::default();

    // Yardstick: psql -f of each schema into a database of its own.
    let mut psql_time = Duration::ZERO;
    for (db, variant) in [("current", false), ("desired", true)] {
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .await
            .unwrap();
        let file = dir.path().join(format!("{db}.sql"));
        std::fs::write(&file, schema(tables, variant)).unwrap();
        let run = measure(
            Command::new(bins.bindir.join("psql"))
                .args([
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    &common::url(&cluster, db),
                    "-f",
                ])
                .arg(&file),
        );
        if db == "desired" {
            psql_time = run.wall;
        }
        eprintln!("loaded {db}: {tables} tables in {:.2} s", secs(run.wall));
    }
    let runs = if tables <= 10_000 { 3 } else { 1 };
    let dump = measure_best(
        runs,
        Command::new(bins.bindir.join("pg_dump")).args([
            "--schema-only",
            "-d",
            &common::url(&cluster, "current"),
        ]),
    );
    let pg_dump = ("pg_dump -s", dump.wall);
    let psql = ("psql -f", psql_time);
    report.row(
        "yardstick: pg_dump --schema-only",
        dump.wall,
        None,
        Some(dump.peak),
    );
    report.row("yardstick: psql -f desired.sql", psql_time, None, None);

    // The commands, as a user runs them.
    let stratum = |args: &[&str], connections: usize| {
        let mut command = Command::new(exe);
        command
            .current_dir(dir.path())
            .env("STRATUM_PG_BIN", &bins.bindir)
            .env("STRATUM_READ_CONNECTIONS", connections.to_string())
            .env("STRATUM_CACHE_DIR", dir.path().join("cache"))
            .args(args);
        command
    };
    let (current, desired) = (
        common::url(&cluster, "current"),
        common::url(&cluster, "desired"),
    );
    let cores = introspect::connections();
    // Read in full: the read cache off (the other commands keep it on).
    let same = measure_best(
        runs,
        stratum(&["diff", "--from", &current, "--to", &current], cores).env("STRATUM_CACHE", "off"),
    );
    report.row(
        "stratum diff DB -> same DB (empty plan)",
        same.wall,
        Some(pg_dump),
        Some(same.peak),
    );
    let serial = measure_best(
        runs,
        stratum(&["diff", "--from", &current, "--to", &current], 1).env("STRATUM_CACHE", "off"),
    );
    report.row(
        "  the same over one connection",
        serial.wall,
        Some(pg_dump),
        Some(serial.peak),
    );
    let changed = measure_best(
        runs,
        stratum(&["diff", "--from", &current, "--to", &desired], cores).env("STRATUM_CACHE", "off"),
    );
    report.row(
        "stratum diff DB -> DB (with changes)",
        changed.wall,
        Some(pg_dump),
        Some(changed.peak),
    );
    let serial_changed = measure(
        stratum(&["diff", "--from", &current, "--to", &desired], 1).env("STRATUM_CACHE", "off"),
    );
    assert!(
        serial_changed.stdout == changed.stdout && serial.stdout == same.stdout,
        "the output over one connection differs from the output over {cores}"
    );
    // The read cache: a first read stores both databases' catalogs, later
    // reads of unchanged catalogs come from there.
    let storing = measure(&mut stratum(
        &["diff", "--from", &current, "--to", &desired],
        cores,
    ));
    report.row(
        "  the same, first read with the cache on (stores both)",
        storing.wall,
        Some(pg_dump),
        Some(storing.peak),
    );
    let unchanged = measure_best(
        runs,
        &mut stratum(&["diff", "--from", &current, "--to", &desired], cores),
    );
    assert!(
        storing.stdout == changed.stdout && unchanged.stdout == changed.stdout,
        "the output with the read cache differs from the output without"
    );
    report.row(
        "  the same again, catalogs unchanged (from the cache)",
        unchanged.wall,
        Some(pg_dump),
        Some(unchanged.peak),
    );
    // The review page of the same changes (`--format html`): what writing
    // it adds to the cached diff above.
    let page = measure_best(
        runs,
        &mut stratum(
            &[
                "diff", "--from", &current, "--to", &desired, "--format", "html",
            ],
            cores,
        ),
    );
    assert!(
        page.stdout.starts_with(b"<!DOCTYPE html>"),
        "the HTML page of the diff"
    );
    report.row(
        &format!(
            "  the same as an HTML page ({:.1} MB, from the cache)",
            page.stdout.len() as f64 / 1e6
        ),
        page.wall,
        Some(pg_dump),
        Some(page.peak),
    );
    let dumped = measure_best(
        runs,
        stratum(&["dump", "--db", &current, "--out", "-"], cores).env("STRATUM_CACHE", "off"),
    );
    report.row(
        "stratum dump",
        dumped.wall,
        Some(pg_dump),
        Some(dumped.peak),
    );
    let load = measure(&mut stratum(
        &["diff", "--from", "empty", "--to", "desired.sql"],
        cores,
    ));
    report.row(
        "stratum diff --from empty --to desired.sql",
        load.wall,
        Some(psql),
        Some(load.peak),
    );
    let cached = measure(&mut stratum(
        &["diff", "--from", "empty", "--to", "desired.sql"],
        cores,
    ));
    assert!(
        cached.stdout == load.stdout,
        "the cached load's output differs"
    );
    report.row(
        "  the same again (catalog cache)",
        cached.wall,
        Some(psql),
        Some(cached.peak),
    );

    // check: migrations/ replayed against schema/, with the current schema
    // as 1 migration or as 500, then again after schema/ alone changed.
    let current_sql = schema(tables, false);
    let lines: Vec<&str> = current_sql.lines().collect();
    for (count, folder) in [(1, "migrations_1"), (500, "migrations_500")] {
        let folder = dir.path().join(folder);
        std::fs::create_dir(&folder).unwrap();
        for (i, chunk) in lines.chunks(lines.len().div_ceil(count)).enumerate() {
            let file = folder.join(format!("{}_part_{i}.sql", 20260101000000u64 + i as u64));
            std::fs::write(file, chunk.join("\n")).unwrap();
        }
    }
    // An edit per run, so that neither finds the other's load cached (the
    // cache keys files by their text).
    for count in [1, 500] {
        let edited = format!(
            "{}COMMENT ON TABLE s0.t0 IS 'edited for {count}';\n",
            schema(tables, true)
        );
        std::fs::write(dir.path().join(format!("edited_{count}.sql")), edited).unwrap();
    }
    let check = |migrations: &str, schema: &str| {
        let run = measure_exit(
            &mut stratum(
                &["check", "--migrations", migrations, "--schema", schema],
                cores,
            ),
            1,
        );
        (run.wall, run.peak)
    };
    for count in [1, 500] {
        let folder = format!("migrations_{count}");
        let (wall, peak) = check(&folder, "desired.sql");
        report.row(
            &format!("stratum check, {count} migrations"),
            wall,
            Some(psql),
            Some(peak),
        );
        let (wall, peak) = check(&folder, &format!("edited_{count}.sql"));
        report.row(
            &format!("  again with schema/ edited ({count} migrations cached)"),
            wall,
            Some(psql),
            Some(peak),
        );
    }
    // generate from there: both sides cached, the proof starts from the
    // checkpoint of the 500 migrations and runs the new one on seeded rows.
    let generated = measure(&mut stratum(
        &[
            "generate",
            "--migrations",
            "migrations_500",
            "--schema",
            "edited_500.sql",
            "--name",
            "edited",
        ],
        cores,
    ));
    report.row(
        "stratum generate, 500 migrations, schema/ edited (both cached), with its proof",
        generated.wall,
        Some(psql),
        Some(generated.peak),
    );
    // check with the migration generate wrote: the 500 from their
    // checkpoint, the new one replayed.
    let added = measure_exit(
        &mut stratum(
            &[
                "check",
                "--migrations",
                "migrations_500",
                "--schema",
                "edited_500.sql",
            ],
            cores,
        ),
        0,
    );
    report.row(
        "stratum check, 501 migrations (500 from their checkpoint), schema/ cached",
        added.wall,
        Some(psql),
        Some(added.peak),
    );

    // The phases, in process.
    let current_target = conninfo::config(&current).unwrap();
    let desired_client = conninfo::connect(&cluster.config("desired")).await.unwrap();
    let mut read_current = Duration::MAX;
    let mut cur = None;
    for _ in 0..runs {
        let start = Instant::now();
        cur = Some(
            introspect::introspect_target(&current_target, true, cores, None)
                .await
                .unwrap(),
        );
        read_current = read_current.min(start.elapsed());
    }
    let cur = cur.expect("introspected");
    let des = introspect::introspect(&desired_client, false)
        .await
        .unwrap();
    let (diff_time, changes) = best(5, || async { diff::diff(&cur, &des) }).await;
    // Planning alone: each run takes a copy of the changes made beforehand
    // (a difference of two noisy timings came out as zero).
    let mut inputs: Vec<Vec<diff::Change>> = (0..5).map(|_| changes.clone()).collect();
    let (cur_ref, des_ref) = (&cur, &des);
    let (plan_only, planned) = best(5, || {
        let input = inputs.pop().expect("an input per run");
        async move { plan::plan(cur_ref, des_ref, input).unwrap() }
    })
    .await;
    let (render_time, sql) = best(5, || async { render::sql(&planned) }).await;
    let (same_time, same) = best(5, || async { diff::diff(&cur, &cur) }).await;
    assert!(same.is_empty(), "a catalog differs from itself");
    report.row(
        &format!("introspect one side ({} dependencies)", cur.depends.len()),
        read_current,
        Some(pg_dump),
        None,
    );
    report.row(
        &format!("diff ({} changes)", changes.len()),
        diff_time,
        Some(pg_dump),
        None,
    );
    report.row("diff of identical catalogs", same_time, Some(pg_dump), None);
    report.row(
        &format!("plan ({} steps)", planned.steps.len()),
        plan_only,
        Some(pg_dump),
        None,
    );
    report.row(
        &format!("render ({} bytes)", sql.len()),
        render_time,
        Some(pg_dump),
        None,
    );
    // Everything created: the first migration of a schema.
    let empty = stratum::kinds::Catalog {
        server_version: des.server_version,
        ..Default::default()
    };
    let (all_time, (steps, bytes)) = best(3, || async {
        let planned = plan::plan(&empty, &des, diff::diff(&empty, &des)).unwrap();
        (planned.steps.len(), render::sql(&planned).len())
    })
    .await;
    report.row(
        &format!("diff + plan + render from empty ({steps} steps, {bytes} bytes)"),
        all_time,
        Some(pg_dump),
        None,
    );
    let per = |d: Duration| secs(d) * 1000.0 / tables as f64;
    let growth = format!(
        "pg_dump -s {:.3}, diff DB -> DB {:.3}, load {:.3} (psql -f {:.3}), introspect {:.3}, diff+plan {:.4}, from empty {:.4}",
        per(dump.wall),
        per(changed.wall),
        per(load.wall),
        per(psql_time),
        per(read_current),
        per(diff_time + plan_only),
        per(all_time),
    );
    (report.lines, growth)
}
