//! Rehearsals as users run them: `stratum rehearse` of a retype and an
//! index build on a sample of a 2 000 000-row table, then the real apply
//! beside the estimate; the target never written to; rows copied foreign
//! key consistent with masked columns that never leave the target.

mod common;

use common::{say, stratum_in, text, wait_for, TestServer};
use std::time::Duration;

/// Rows written to the user tables of the database `client` is on, and
/// the relfilenodes of its tables: what a rehearsal must leave alone.
async fn writes_and_storage(client: &tokio_postgres::Client) -> Vec<String> {
    common::strings(
        client,
        "SELECT (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::text \
                 FROM pg_stat_user_tables) \
         UNION ALL SELECT string_agg(relname || ':' || relfilenode, ',' ORDER BY relname) \
                 FROM pg_class WHERE relnamespace = 'public'::regnamespace",
    )
    .await
}

/// A digest of the database's schema as stratum reads it (its catalogs'
/// DDL), to show that nothing changed.
async fn fingerprint(url: &str) -> String {
    let scratch = stratum::load::Scratch::default();
    let side = stratum::load::Side::Source(stratum::load::Source::Url(url.to_string()));
    let mut catalogs = stratum::load::load_sides(&[side], &scratch).await.unwrap();
    stratum::ddl::fingerprint(&catalogs.pop().unwrap()).unwrap()
}

/// A connection to `db` once the setup's `rows` inserts are counted in its
/// statistics, and [`writes_and_storage`] then.
async fn settled(
    server: &TestServer,
    db: &str,
    rows: u64,
) -> (tokio_postgres::Client, Vec<String>) {
    let watcher = server.connect(db).await;
    let counted = format!("SELECT (sum(n_tup_ins) >= {rows})::text FROM pg_stat_user_tables");
    wait_for(
        "the setup's statistics",
        Duration::from_secs(30),
        || async { common::strings(&watcher, &counted).await == ["true"] },
    )
    .await;
    let before = writes_and_storage(&watcher).await;
    (watcher, before)
}

const BEFORE: &str = "CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL);\n\
     CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int REFERENCES customers, \
     total int, note text);\n";

const AFTER: &str = "CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL);\n\
     CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int REFERENCES customers, \
     total bigint, note text);\n\
     CREATE INDEX orders_customer ON orders (customer_id);\n";

/// A retype (a rewrite under ACCESS EXCLUSIVE) and a concurrent index
/// build rehearsed on a 1 % sample of 2 000 000 rows: each step's lock,
/// time and WAL measured on the copy and scaled by the table's rows, the
/// rewrite seen, the target's rows and storage untouched; then applied for
/// real, the estimate said beside what it took.
#[tokio::test(flavor = "current_thread")]
async fn a_rehearsal_measures_on_a_sample_and_never_writes_to_the_target() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let cache = tempfile::tempdir().unwrap();
    let env = [
        ("STRATUM_DEV_URL", dev.as_str()),
        ("STRATUM_CACHE_DIR", cache.path().to_str().unwrap()),
    ];
    let db = server.database("rehearsed").await;
    db.batch_execute(BEFORE).await.unwrap();
    db.batch_execute(
        "INSERT INTO customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 1000) g;\n\
         INSERT INTO orders SELECT g, 1 + g % 1000, g % 500, 'note ' || g \
         FROM generate_series(1, 2000000) g;\n\
         ANALYZE customers; ANALYZE orders;",
    )
    .await
    .unwrap();
    drop(db);
    // The setup's own writes are counted before anything is compared.
    let (watcher, before) = settled(&server, "rehearsed", 2001000).await;
    let schema = fingerprint(&server.url("rehearsed")).await;
    let dir = common::project_dir(AFTER, &[]);
    std::fs::write(
        dir.path().join("stratum.yaml"),
        "rehearse:\n  sample: 1%\n  mask: [public.customers.email]\n  max_lock: 1h\n",
    )
    .unwrap();
    let url = server.url("rehearsed");
    let out = stratum_in(
        dir.path(),
        &["rehearse", "--db", &url, "--format", "json"],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        writes_and_storage(&watcher).await,
        before,
        "the target was written to"
    );

    let tables = json["tables"].as_array().unwrap();
    let orders = tables
        .iter()
        .find(|t| t["table"] == "public.orders")
        .unwrap();
    let customers = tables
        .iter()
        .find(|t| t["table"] == "public.customers")
        .unwrap();
    assert_eq!(customers["sampled"], false);
    assert_eq!(customers["copied"], 1000);
    assert_eq!(customers["masked"], serde_json::json!(["email"]));
    assert_eq!(orders["sampled"], true);
    let copied = orders["copied"].as_u64().unwrap();
    assert!((5_000..=60_000).contains(&copied), "{orders}");

    let steps = json["steps"].as_array().unwrap();
    let retype = steps
        .iter()
        .find(|s| s["object"].as_str().unwrap().contains("total"))
        .unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(retype["lock"], "ACCESS EXCLUSIVE", "{retype}");
    assert_eq!(retype["rewrote"], true, "{retype}");
    let factor = retype["scaled_by"].as_f64().unwrap();
    let expected = 2_000_000.0 / copied as f64;
    assert!((factor - expected).abs() < 0.01 * expected, "{retype}");
    assert!(retype["wal_bytes"].as_i64().unwrap() > 0, "{retype}");
    let build = steps
        .iter()
        .find(|s| s["object"].as_str().unwrap().contains("orders_customer"))
        .unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(build["lock"], "SHARE UPDATE EXCLUSIVE", "{build}");
    assert_eq!(build["rewrote"], false, "{build}");
    assert!(build["scaled_by"].as_f64().is_some(), "{build}");

    // The text table says the same.
    let out = stratum_in(dir.path(), &["rehearse", "--db", &url], &env);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Rehearsed on a copy: 2 tables, 1 sampled (public.orders ("),
        "{stdout}"
    );
    assert!(stdout.contains("ACCESS EXCLUSIVE"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("nothing was written to the database"),
        "{stderr}"
    );
    // For a pull request comment.
    let out = stratum_in(
        dir.path(),
        &["rehearse", "--db", &url, "--format", "markdown"],
        &env,
    );
    let markdown = text(&out.stdout);
    assert!(
        markdown.contains("| where | statement | lock |")
            && markdown.contains(
                "| step 1 | `ALTER TABLE public.orders ALTER COLUMN total TYPE bigint;` | ACCESS \
                 EXCLUSIVE |"
            ),
        "{markdown}"
    );
    assert_eq!(
        fingerprint(&url).await,
        schema,
        "the target's schema changed"
    );
    // What it measured, the plan's hazard estimates use from now on.
    assert!(
        stderr.contains("Measured on the copy: rewrites ")
            && stderr.contains("index builds ")
            && stderr.contains("plans against this database estimate with them from now on"),
        "{stderr}"
    );
    let out = stratum_in(dir.path(), &["plan", "--db", &url], &env);
    let planned = text(&out.stdout);
    assert!(
        planned.contains("-- hazard table-rewrite: ")
            && planned.contains("MB/s, measured by a rehearsal on "),
        "{planned}"
    );
    // The concurrent build has no hazard, and an estimate all the same.
    let build = planned
        .lines()
        .find(|l| l.starts_with("-- estimate: building the index reads public.orders"))
        .unwrap_or_else(|| panic!("{planned}"));
    assert!(
        build.contains("MB/s, measured by a rehearsal on "),
        "{build}"
    );

    // What `migrate` would run: a hand-written file, its statements at
    // their lines, the retype's and the plain index build's locks flagged
    // over a 10 ms limit.
    std::fs::write(
        dir.path().join("migrations/20260101000001_big.sql"),
        "ALTER TABLE orders ALTER COLUMN total TYPE bigint;\n\
         CREATE INDEX orders_note ON orders (note);\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("stratum.yaml"),
        "rehearse:\n  mask: [public.customers.email]\n  max_lock: 10ms\n",
    )
    .unwrap();
    let args = ["rehearse", "--db", &url, "--pending", "--format", "json"];
    let out = stratum_in(dir.path(), &args, &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let files: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = files["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{files:#}");
    assert_eq!(steps[0]["at"], "migrations/20260101000001_big.sql:1");
    assert_eq!(steps[0]["lock"], "ACCESS EXCLUSIVE");
    assert_eq!(steps[0]["table"], "public.orders");
    assert_eq!(steps[0]["rewrote"], true);
    assert_eq!(steps[0]["flagged"], true);
    assert_eq!(steps[1]["at"], "migrations/20260101000001_big.sql:2");
    assert_eq!(steps[1]["lock"], "SHARE");
    assert_eq!(steps[1]["flagged"], true, "{files:#}");
    assert!(steps[1]["scaled_by"].as_f64().is_some(), "{files:#}");
    assert_eq!(
        writes_and_storage(&watcher).await,
        before,
        "the target was written to"
    );
    let out = stratum_in(dir.path(), &args[..4], &env);
    assert!(
        text(&out.stdout).contains("-- migrations/20260101000001_big.sql\n"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("2 steps are estimated to hold a lock that blocks writes"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_file(dir.path().join("migrations/20260101000001_big.sql")).unwrap();

    // For real, the estimate beside what it took (said, not asserted: the
    // benchmark measures estimates).
    let estimate: f64 = steps
        .iter()
        .map(|s| s["estimate_ms"].as_f64().unwrap())
        .sum();
    let out = stratum_in(
        dir.path(),
        &[
            "apply",
            "--db",
            &url,
            "--yes",
            "--no-proof",
            "--allow-hazards",
            "table-rewrite,access-exclusive-lock,app-compat",
            "--format",
            "json",
        ],
        &env,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    let applied: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    say(format!(
        "rehearse: estimated {:.0} ms for the plan on 2 000 000 rows from {copied} copied; \
         apply took {} ms",
        estimate, applied["ms"]
    ));
}

/// The copy's rows, as `rehearse` makes them, with both tables sampled: no
/// row's foreign key points at a row the sample left out, and a masked
/// column holds none of the target's values.
#[tokio::test(flavor = "current_thread")]
async fn copied_rows_keep_their_foreign_keys_and_masked_values_stay_home() {
    let server = TestServer::start().await;
    let target = server.database("masked_target").await;
    target.batch_execute(BEFORE).await.unwrap();
    target
        .batch_execute(
            "INSERT INTO customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 20000) g;\n\
             INSERT INTO orders SELECT g, 1 + g % 20000, g, 'n' FROM generate_series(1, 100000) g;\n\
             ANALYZE;",
        )
        .await
        .unwrap();
    let copy = server.database("masked_copy").await;
    copy.batch_execute(BEFORE).await.unwrap();
    let sampling = stratum::rehearse::copy::Sampling {
        percent: 20.0,
        max_rows: 1_000_000,
        small_rows: 10,
        mask: vec!["public.customers.e*".into()],
    };
    let copied = stratum::rehearse::copy::rows(&target, &copy, &sampling)
        .await
        .unwrap();
    assert!(copied.iter().all(|t| t.sampled), "{copied:?}");
    let orphans = "SELECT count(*)::text FROM orders o WHERE NOT EXISTS \
                   (SELECT FROM customers c WHERE c.id = o.customer_id)";
    assert_eq!(common::strings(&copy, orphans).await, ["0"]);
    let kept = common::strings(&copy, "SELECT count(*)::text FROM orders").await;
    assert_ne!(kept, ["0"]);
    let emails = common::strings(&copy, "SELECT email FROM customers").await;
    assert!(!emails.is_empty());
    assert!(
        emails.iter().all(|e| !e.contains('@') && e.len() == 32),
        "{emails:?}"
    );
    let customers = copied
        .iter()
        .find(|t| t.table == "public.customers")
        .unwrap();
    assert_eq!(customers.masked, ["email"]);
    let counted = common::strings(&copy, "SELECT count(*)::text FROM customers").await;
    assert_eq!(counted, [customers.copied.to_string()]);
}

/// `lint` of hand-written files, rehearsed on a copy and pre-checked on the
/// database: a DROP COLUMN of values, an ACCESS EXCLUSIVE rewrite and an
/// index built without CONCURRENTLY on a table with rows, each at its
/// line with squawk's rule; nothing on a file of safe statements; GitHub
/// annotations at the same lines; the database not written to.
#[tokio::test(flavor = "current_thread")]
async fn lint_flags_hand_written_statements_at_their_lines_and_passes_safe_ones() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("linted").await;
    db.batch_execute(
        "CREATE TABLE events (id bigint PRIMARY KEY, kind int, note text, body text);\n\
         CREATE TABLE empty_t (id int);\n\
         INSERT INTO events SELECT g, g % 7, CASE WHEN g % 2 = 0 THEN 'n' END, 'b' || g \
         FROM generate_series(1, 200000) g;\n\
         ANALYZE;",
    )
    .await
    .unwrap();
    drop(db);
    let (watcher, before) = settled(&server, "linted", 200000).await;
    let dir = common::project_dir("SELECT 1;", &[]);
    let p = dir.path();
    std::fs::write(
        p.join("risky.sql"),
        "-- written by hand\n\
         ALTER TABLE events DROP COLUMN note;\n\
         ALTER TABLE events ALTER COLUMN kind TYPE bigint;\n\
         CREATE INDEX events_body ON events (body);\n",
    )
    .unwrap();
    std::fs::write(
        p.join("safe.sql"),
        "CREATE TABLE audit (id bigint PRIMARY KEY, at timestamptz);\n\
         ALTER TABLE events ADD COLUMN flag boolean;\n\
         CREATE INDEX CONCURRENTLY events_kind ON events (kind);\n\
         ALTER TABLE empty_t ALTER COLUMN id TYPE bigint;\n",
    )
    .unwrap();
    let url = server.url("linted");

    let out = stratum_in(p, &["lint", "--db", &url, "risky.sql"], &env);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].starts_with(
            "risky.sql:2: hazard data-loss: DROP COLUMN events.note: 100 000 rows hold a value"
        ) && lines[0].ends_with("(squawk: ban-drop-column)"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("risky.sql:3: hazard table-rewrite: rewrites public.events")
            && lines[1].ends_with("(squawk: changing-column-type)"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with(
            "risky.sql:3: hazard access-exclusive-lock: holds an ACCESS EXCLUSIVE lock on \
             public.events"
        ),
        "{stdout}"
    );
    assert!(
        lines[3].starts_with(
            "risky.sql:4: hazard index-build: builds an index on public.events without \
             CONCURRENTLY"
        ) && lines[3].ends_with("(squawk: require-concurrent-index-creation)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("4 findings in 3 statements of 1 file"),
        "{stderr}"
    );

    let out = stratum_in(
        p,
        &["lint", "--db", &url, "risky.sql", "--format", "github"],
        &env,
    );
    let annotations = text(&out.stdout);
    assert!(
        annotations.contains("::warning file=risky.sql,line=4,title=hazard index-build::"),
        "{annotations}"
    );

    let args = ["lint", "--db", &url, "risky.sql", "--format", "markdown"];
    let markdown = text(&stratum_in(p, &args, &env).stdout);
    assert!(
        markdown.contains("| `risky.sql:4` | `index-build` | builds an index on public.events"),
        "{markdown}"
    );

    // The same file pending: `migrate --dry-run --rehearse` says the same.
    std::fs::copy(
        p.join("risky.sql"),
        p.join("migrations/20260101000001_risky.sql"),
    )
    .unwrap();
    let args = ["migrate", "--db", &url, "--dry-run", "--rehearse"];
    let out = stratum_in(p, &args, &env);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(
            "-- migrations/20260101000001_risky.sql:4: hazard index-build: builds an index on \
             public.events without CONCURRENTLY"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("4 hazards found by rehearsing them (above)"),
        "{stderr}"
    );
    std::fs::remove_file(p.join("migrations/20260101000001_risky.sql")).unwrap();

    let out = stratum_in(p, &["lint", "--db", &url, "safe.sql"], &env);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("No hazards in 4 statements of 1 file"),
        "{stderr}"
    );
    assert_eq!(
        writes_and_storage(&watcher).await,
        before,
        "the database was written to"
    );
}

/// `apply --prove-with-sample` proves the plan on rows sampled from the
/// database instead of generated ones: real rows that a new CHECK rejects
/// fail the proof (the pre-checks left out to show it) with nothing
/// applied, and once they are fixed the proof says where its rows came
/// from; `generate --prove-with-sample URL` proves a migration the same way.
#[tokio::test(flavor = "current_thread")]
async fn proofs_on_sampled_rows_catch_what_real_rows_break() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("proved_sampled").await;
    db.batch_execute(
        "CREATE TABLE items (id int PRIMARY KEY, qty int);\n\
         INSERT INTO items SELECT g, CASE WHEN g = 7 THEN -1 ELSE g END \
         FROM generate_series(1, 5000) g;",
    )
    .await
    .unwrap();
    let wanted = "CREATE TABLE items (id int PRIMARY KEY, qty int CHECK (qty > 0));\n";
    let dir = common::project_dir(wanted, &[]);
    let p = dir.path();
    let url = server.url("proved_sampled");
    let apply = [
        "apply",
        "--db",
        &url,
        "--yes",
        "--allow-hazards",
        "full-table-scan",
        "--prove-with-sample",
    ];
    let args = [&apply[..], &["--no-pre-checks"]].concat();
    let out = stratum_in(p, &args, &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the plan failed on a copy of the database, with rows"),
        "{stderr}"
    );
    assert!(stderr.contains("is violated by some row"), "{stderr}");
    let checks = "SELECT count(*)::text FROM pg_constraint WHERE conrelid = 'items'::regclass \
                  AND contype = 'c'";
    assert_eq!(common::strings(&db, checks).await, ["0"]);

    db.batch_execute("UPDATE items SET qty = 7 WHERE id = 7")
        .await
        .unwrap();
    let out = stratum_in(p, &apply, &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Proved on a copy of the database: 5000 rows sampled from postgresql://"),
        "{stderr}"
    );
    assert_eq!(common::strings(&db, checks).await, ["1"]);

    // generate: the migration proved on the database's rows.
    let out = stratum_in(p, &["generate", "--name", "base"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::write(
        p.join("schema/schema.sql"),
        "CREATE TABLE items (id int PRIMARY KEY, qty int CHECK (qty > 0), note text);\n",
    )
    .unwrap();
    let args = ["generate", "--name", "note", "--prove-with-sample", &url];
    let out = stratum_in(p, &args, &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("rows sampled from postgresql://")
            && stderr.contains("Proved on a copy of what migrations"),
        "{stderr}"
    );
}
