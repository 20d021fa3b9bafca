//! `generate --zero-downtime` as users run it: a column rename, a retype
//! int -> bigint, a NOT NULL filled from a default and a column split in
//! two (one part NOT NULL, both filled by a `-- stratum:backfill`
//! expression), on a table of 1 000 000 rows, with a writer of the old shape running until the
//! contract and a writer of the new shape from the expand on (inserts and
//! updates, `lock_timeout = 200ms`): no statement of either fails, every
//! row ends as the one-step migration would have left it, and `check`
//! reports the database in the middle of the pattern as a known state,
//! then no drift.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{stratum_in, text, wait_for, TestServer};

const ROWS: i64 = 1_000_000;

const BEFORE: &str =
    "CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL DEFAULT 'anon', \
                      n int, flag boolean, email text NOT NULL DEFAULT '');\n";

const AFTER: &str = "CREATE TABLE users (\n  id bigint PRIMARY KEY,\n  \
                     full_name text NOT NULL DEFAULT 'anon', -- stratum:renamed-from name\n  \
                     n bigint,\n  flag boolean NOT NULL DEFAULT false,\n  \
                     email text NOT NULL DEFAULT '',\n  \
                     mailbox text NOT NULL, -- stratum:backfill split_part(email, '@', 1)\n  \
                     domain text -- stratum:backfill split_part(email, '@', 2)\n);\n";

/// The writer of the application version that uses the old shape: new
/// rows with `name` (and a NULL flag), and updates of its own rows.
const OLD_WRITES: &[&str] = &[
    "INSERT INTO users (id, name, n, email) VALUES ($1::bigint + 2000000, 'o' || $1::bigint, \
     $1::int, 'o' || $1::bigint || '@old.example')",
    "UPDATE users SET name = 'oo' || $1::bigint, n = n + 1 WHERE id = $1::bigint + 2000000",
    // Rows the backfill may not have reached yet, their values kept.
    "UPDATE users SET n = n WHERE id = ($1::bigint * 7919) % 1000000 + 1",
];

/// The writer of the version that uses the new shape: `full_name` and the
/// email's parts (`mailbox` is NOT NULL without a default once
/// contracted: this version writes it), and updates of the old writer's
/// rows too.
const NEW_WRITES: &[&str] = &[
    "INSERT INTO users (id, full_name, n, flag, email, mailbox, domain) VALUES \
     ($1::bigint + 3000000, 'w' || $1::bigint, $1::int, true, 'w' || $1::bigint || '@new.example', \
     'w' || $1::bigint, 'new.example')",
    "UPDATE users SET full_name = 'ww' || $1::bigint WHERE id = $1::bigint + 3000000",
    "UPDATE users SET full_name = 'x' || $1::bigint WHERE id = $1::bigint + 2000000",
    "UPDATE users SET flag = flag WHERE id = ($1::bigint * 104729) % 1000000 + 1",
];

fn project(dir: &std::path::Path, schema: &str) {
    std::fs::write(dir.join("schema/schema.sql"), schema).unwrap();
}

/// Runs stratum in `p`, which must exit 0: its stderr.
fn ok(p: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = stratum_in(p, args, env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    stderr
}

/// A running writer: its stop flag and its task.
type Running = (Arc<AtomicBool>, tokio::task::JoinHandle<(u64, Vec<String>)>);

/// Starts a writer of `statements` on database `db`, the `nth` one running.
async fn start(
    server: &TestServer,
    db: &str,
    statements: &'static [&'static str],
    nth: usize,
) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let writing = tokio::spawn(common::writer(server.url(db), stop.clone(), statements));
    let db = server.connect(db).await;
    let seen = "SELECT pid::text FROM pg_stat_activity WHERE application_name = 'writer'";
    wait_for("the writer", Duration::from_secs(20), || async {
        common::strings(&db, seen).await.len() == nth
    })
    .await;
    (stop, writing)
}

/// Stops a writer: what it did, and its errors.
async fn stop(writer: Running) -> (u64, Vec<String>) {
    writer.0.store(true, Ordering::SeqCst);
    writer.1.await.unwrap()
}

/// The end of a pattern as users run it: the old version's writer
/// stopped (it is gone), `migrate --contract` beside the new one, then
/// `check`; neither writer saw an error, and the database matches the
/// schema.
async fn finish(p: &std::path::Path, url: &str, env: &[(&str, &str)], old: Running, new: Running) {
    let (old_done, old_errors) = stop(old).await;
    let stderr = ok(p, &["migrate", "--db", url, "--contract"], env);
    assert!(stderr.contains("Applied 1 migration."), "{stderr}");
    let (new_done, new_errors) = stop(new).await;
    assert!(
        old_errors.is_empty(),
        "the old writer failed: {old_errors:?}"
    );
    assert!(
        new_errors.is_empty(),
        "the new writer failed: {new_errors:?}"
    );
    assert!(old_done > 0 && new_done > 0);
    let stderr = ok(p, &["check", "--db", url], env);
    assert!(
        stderr.contains("No drift: the database matches schema/."),
        "{stderr}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn expand_backfill_and_contract_beside_writers_of_both_shapes() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("zd").await;
    let url = server.url("zd");
    let dir = common::project_dir(BEFORE, &[]);
    let p = dir.path();
    std::fs::write(p.join("stratum.yaml"), "backfill:\n  batch_size: 1000\n").unwrap();
    ok(p, &["generate", "--name", "init"], &env);
    ok(p, &["migrate", "--db", &url], &env);
    db.batch_execute(&format!(
        "INSERT INTO users (id, name, n, flag, email) SELECT g, 'u' || g, g, \
           CASE WHEN g % 3 = 0 THEN NULL ELSE g % 2 = 0 END, 'u' || g || '@d' || g % 7 \
         FROM generate_series(1, {ROWS}) g; ANALYZE users"
    ))
    .await
    .unwrap();

    project(p, AFTER);
    let stderr = ok(p, &["generate", "--zero-downtime"], &env);
    assert!(
        stderr.contains(
            "Zero-downtime: column public.users.name renamed to full_name; column \
             public.users.n retyped from integer to bigint; column public.users.flag made NOT \
             NULL, its NULLs filled with false; column public.users.mailbox added, filled with \
             split_part(email, '@', 1); column public.users.domain added, filled with \
             split_part(email, '@', 2)."
        ),
        "{stderr}"
    );
    let mut files: Vec<String> = std::fs::read_dir(p.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| !f.ends_with(".down.sql") && !f.contains("_init"))
        .collect();
    files.sort();
    let phases: Vec<&str> = files
        .iter()
        .map(|f| f.trim_end_matches(".sql").rsplit('_').next().unwrap())
        .collect();
    assert_eq!(phases, ["expand", "backfill", "contract"]);
    // The three columns are backfilled in one pass over the table.
    let backfill = std::fs::read_to_string(p.join("migrations").join(&files[1])).unwrap();
    assert_eq!(backfill.matches("\nUPDATE ").count(), 1, "{backfill}");
    ok(p, &["check"], &env);

    // The application of the old shape runs before, during and after the
    // expand and the backfill.
    let old = start(&server, "zd", OLD_WRITES, 1).await;
    let stderr = ok(p, &["migrate", "--db", &url], &env);
    assert!(stderr.contains("Applied 2 migrations."), "{stderr}");
    let contract = files[2].trim_end_matches(".sql");
    assert!(
        stderr.contains(&format!(
            "Stopped before {contract}, the contract phase of a zero-downtime change"
        )),
        "{stderr}"
    );
    assert_eq!(
        common::strings(
            &db,
            "SELECT attname::text FROM pg_attribute WHERE attrelid = 'users'::regclass \
             AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        )
        .await,
        [
            "id",
            "name",
            "n",
            "flag",
            "email",
            "full_name",
            "n_stratum_new",
            "mailbox",
            "domain"
        ]
    );
    // Deployed: the new shape's writer starts beside the old one.
    let new = start(&server, "zd", NEW_WRITES, 2).await;
    let stderr = ok(p, &["check", "--db", &url], &env);
    assert!(
        stderr.contains(&format!(
            "No drift: the database matches what migrations/ builds up to {} (a zero-downtime \
             change, expanded; its contract {contract} is pending).",
            files[1].trim_end_matches(".sql")
        )),
        "{stderr}"
    );
    // The old version is gone; then the contract, beside the new writer.
    finish(p, &url, &env, old, new).await;
    // Every row as one step would have left it.
    let wrong = format!(
        "SELECT count(*)::text FROM users WHERE id <= {ROWS} AND (full_name <> 'u' || id \
           OR n <> id OR flag IS DISTINCT FROM CASE WHEN id % 3 = 0 THEN false ELSE id % 2 = 0 END)"
    );
    assert_eq!(common::strings(&db, &wrong).await, ["0"]);
    // Every row's email split, the writers' too (the trigger computed the
    // parts of the old version's rows, the new version wrote its own).
    let unsplit = "SELECT count(*)::text FROM users WHERE mailbox <> split_part(email, '@', 1) \
                   OR domain IS DISTINCT FROM split_part(email, '@', 2)";
    assert_eq!(common::strings(&db, unsplit).await, ["0"]);
    // The writers' rows: the old one's with the name and n it last wrote
    // (or the new writer's later name), a false flag; the new one's as written.
    let written = "SELECT count(*)::text FROM users WHERE id > 2000000 AND id < 3000000 \
                   AND NOT (full_name IN ('o' || (id - 2000000), 'oo' || (id - 2000000), \
                   'x' || (id - 2000000)) AND flag = false)";
    assert_eq!(common::strings(&db, written).await, ["0"]);
    let written = "SELECT count(*)::text FROM users WHERE id > 3000000 \
                   AND NOT (full_name IN ('w' || (id - 3000000), 'ww' || (id - 3000000)) AND flag)";
    assert_eq!(common::strings(&db, written).await, ["0"]);
    assert_eq!(
        common::strings(
            &db,
            "SELECT format_type(atttypid, atttypmod) || attnotnull::text FROM pg_attribute \
             WHERE attrelid = 'users'::regclass \
               AND attname IN ('full_name', 'n', 'flag', 'mailbox', 'domain') \
             ORDER BY attname"
        )
        .await,
        [
            "textfalse",
            "booleantrue",
            "texttrue",
            "texttrue",
            "bigintfalse"
        ]
    );
}

/// A table renamed with `--zero-downtime`: renamed at expand with a view
/// under its old name, through which a writer of the old version goes on
/// inserting (the table's defaults apply) and updating, beside a writer of
/// the new name; the view goes at contract.
#[tokio::test(flavor = "current_thread")]
async fn a_renamed_table_keeps_its_old_name_as_a_view_until_contract() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("zt").await;
    let url = server.url("zt");
    db.batch_execute("CREATE ROLE app_reader NOLOGIN")
        .await
        .unwrap();
    let dir = common::project_dir(
        "CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL DEFAULT 'anon', \
         seen int NOT NULL DEFAULT 0);\nGRANT SELECT ON users TO app_reader;\n",
        &[],
    );
    let p = dir.path();
    ok(p, &["generate", "--name", "init"], &env);
    ok(p, &["migrate", "--db", &url], &env);
    db.batch_execute(
        "INSERT INTO users (id, name) SELECT g, 'u' || g FROM generate_series(1, 100000) g",
    )
    .await
    .unwrap();
    project(
        p,
        "CREATE TABLE members ( -- stratum:renamed-from users\n  id bigint PRIMARY KEY,\n  \
         name text NOT NULL DEFAULT 'anon',\n  seen int NOT NULL DEFAULT 0\n);\n\
         GRANT SELECT ON members TO app_reader;\n",
    );
    let stderr = ok(p, &["generate", "--zero-downtime"], &env);
    assert!(
        stderr.contains(
            "Zero-downtime: table public.users renamed to members, a view under the old name \
             until contract."
        ),
        "{stderr}"
    );
    const OLD: &[&str] = &[
        "INSERT INTO users (id) VALUES ($1::bigint + 2000000)",
        "UPDATE users SET seen = seen + 1 WHERE id = $1::bigint",
    ];
    const NEW: &[&str] = &[
        "INSERT INTO members (id, name) VALUES ($1::bigint + 3000000, 'n')",
        "UPDATE members SET seen = seen + 1 WHERE id = $1::bigint + 1000",
    ];
    let old = start(&server, "zt", OLD, 1).await;
    let stderr = ok(p, &["migrate", "--db", &url], &env);
    assert!(stderr.contains("Applied 2 migrations."), "{stderr}");
    assert_eq!(
        common::strings(
            &db,
            "SELECT relkind::text FROM pg_class WHERE relname IN ('users', 'members') ORDER BY relname"
        )
        .await,
        ["r", "v"]
    );
    // The running version's roles keep what they held on the table.
    assert_eq!(
        common::strings(
            &db,
            "SELECT has_table_privilege('app_reader', 'public.users', 'SELECT')::text"
        )
        .await,
        ["true"]
    );
    let new = start(&server, "zt", NEW, 2).await;
    ok(p, &["check", "--db", &url], &env);
    finish(p, &url, &env, old, new).await;
    // The old version's rows, inserted through the view, got the defaults.
    assert_eq!(
        common::strings(
            &db,
            "SELECT count(*)::text FROM members WHERE id > 2000000 AND id < 3000000 \
             AND (name <> 'anon' OR seen <> 0)"
        )
        .await,
        ["0"]
    );
    assert_eq!(
        common::strings(&db, "SELECT coalesce(to_regclass('users')::text, 'gone')").await,
        ["gone"]
    );
}

/// A column merged from two others (`-- stratum:backfill` on its line)
/// and a NOT NULL filled by an expression: the old version writes only
/// the parts (and NULL nicknames), the new one the whole; the merged
/// column follows the parts while the old version runs.
#[tokio::test(flavor = "current_thread")]
async fn a_merged_column_follows_its_parts_until_contract() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("zc").await;
    let url = server.url("zc");
    let dir = common::project_dir(
        "CREATE TABLE people (id bigint PRIMARY KEY, first_name text NOT NULL, \
         last_name text NOT NULL, nick text);\n",
        &[],
    );
    let p = dir.path();
    ok(p, &["generate", "--name", "init"], &env);
    ok(p, &["migrate", "--db", &url], &env);
    db.batch_execute(
        "INSERT INTO people SELECT g, 'F' || g, 'L' || g, CASE WHEN g % 2 = 0 THEN 'n' || g END \
         FROM generate_series(1, 100000) g",
    )
    .await
    .unwrap();
    project(
        p,
        "CREATE TABLE people (\n  id bigint PRIMARY KEY,\n  first_name text NOT NULL,\n  \
         last_name text NOT NULL,\n  \
         nick text NOT NULL, -- stratum:backfill nick = lower(first_name)\n  \
         full_name text NOT NULL -- stratum:backfill first_name || ' ' || last_name\n);\n",
    );
    let stderr = ok(p, &["generate", "--zero-downtime"], &env);
    assert!(
        stderr.contains(
            "Zero-downtime: column public.people.nick made NOT NULL, its NULLs filled with \
             lower(first_name); column public.people.full_name added, filled with first_name || \
             ' ' || last_name."
        ),
        "{stderr}"
    );
    const OLD: &[&str] = &[
        "INSERT INTO people (id, first_name, last_name) VALUES ($1::bigint + 2000000, 'A', 'B')",
        "UPDATE people SET last_name = 'M' || $1::bigint WHERE id = $1::bigint",
        "UPDATE people SET nick = NULL WHERE id = $1::bigint + 50000",
    ];
    const NEW: &[&str] = &[
        "INSERT INTO people (id, first_name, last_name, nick, full_name) \
         VALUES ($1::bigint + 3000000, 'C', 'D', 'c', 'given')",
        "UPDATE people SET full_name = 'set ' || $1::bigint WHERE id = $1::bigint + 3000000",
    ];
    let old = start(&server, "zc", OLD, 1).await;
    let stderr = ok(p, &["migrate", "--db", &url], &env);
    assert!(stderr.contains("Applied 2 migrations."), "{stderr}");
    let new = start(&server, "zc", NEW, 2).await;
    ok(p, &["check", "--db", &url], &env);
    finish(p, &url, &env, old, new).await;
    // The original rows and the old version's: the whole from the parts
    // as they are now; NULL nicknames filled.
    let wrong = "SELECT count(*)::text FROM people WHERE id < 3000000 \
                 AND (full_name <> first_name || ' ' || last_name \
                 OR NOT (nick = lower(first_name) \
                   OR (id % 2 = 0 AND id <= 100000 AND nick = 'n' || id)))";
    assert_eq!(common::strings(&db, wrong).await, ["0"]);
    // The new version's rows keep the whole it wrote.
    let wrong = "SELECT count(*)::text FROM people WHERE id > 3000000 \
                 AND full_name NOT IN ('given', 'set ' || (id - 3000000))";
    assert_eq!(common::strings(&db, wrong).await, ["0"]);
}

/// The indexes of `orders` once expanded (with whether each is valid):
/// the old columns' and the new ones' beside them.
const EXPANDED: [&str; 6] = [
    "orders_code_key:true",
    "orders_customer_idx:true",
    "orders_pkey:true",
    "stratum_zd_orders_customer_idx:true",
    "stratum_zd_orders_pkey:true",
    "stratum_zd_orders_ref_key:true",
];

/// Keys, a foreign key, a check and a partial index move with the columns
/// they cover: a serial primary key retyped to bigint, a foreign key
/// column retyped, a UNIQUE NOT NULL column renamed (its constraint named
/// anew by the schema), and an identity primary key retyped (its sequence
/// goes on where the old one was); another table's foreign key to the
/// retyped key is pointed at the new column; views over the columns (and a view over
/// those) are made again over the new ones, with their grant. Expand builds them on the new columns
/// CONCURRENTLY or NOT VALID, the contract swaps them in under their
/// names; its down file brings the old ones back, and the contract runs
/// again. Writers of both versions run throughout.
#[tokio::test(flavor = "current_thread")]
async fn indexes_and_constraints_move_with_their_columns() {
    const ROWS: i64 = 200_000;
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("zk").await;
    let url = server.url("zk");
    db.batch_execute("CREATE ROLE reporting NOLOGIN")
        .await
        .unwrap();
    let dir = common::project_dir(
        "CREATE TABLE customers (id bigint PRIMARY KEY);\n\
         CREATE TABLE orders (\n  id serial PRIMARY KEY CHECK (id > 0),\n  \
         code text NOT NULL UNIQUE,\n  customer_id int REFERENCES customers (id),\n  \
         amount int NOT NULL DEFAULT 0\n);\n\
         CREATE INDEX orders_customer_idx ON orders (customer_id, amount) \
         WHERE customer_id IS NOT NULL;\n\
         COMMENT ON INDEX orders_customer_idx IS 'by customer';\n\
         CREATE TABLE events (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text);\n\
         CREATE TABLE order_items (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, \
         order_id int NOT NULL REFERENCES orders (id) ON DELETE CASCADE);\n\
         CREATE VIEW order_codes AS SELECT id, code FROM orders WHERE customer_id IS NOT NULL;\n\
         CREATE VIEW recent_codes AS SELECT code FROM order_codes WHERE id > 10;\n\
         GRANT SELECT ON order_codes TO reporting;\n",
        &[],
    );
    let p = dir.path();
    std::fs::write(p.join("stratum.yaml"), "backfill:\n  batch_size: 2000\n").unwrap();
    ok(p, &["generate", "--name", "init"], &env);
    ok(p, &["migrate", "--db", &url], &env);
    db.batch_execute(&format!(
        "INSERT INTO customers SELECT generate_series(1, 100);\
         INSERT INTO orders (code, customer_id, amount) \
           SELECT 'c' || g, CASE WHEN g % 5 <> 0 THEN g % 100 + 1 END, g \
           FROM generate_series(1, {ROWS}) g; ANALYZE orders;\
         INSERT INTO events (note) SELECT 'e' || g FROM generate_series(1, 50000) g;\
         INSERT INTO order_items (order_id) SELECT g * 2 FROM generate_series(1, 50000) g"
    ))
    .await
    .unwrap();
    project(
        p,
        "CREATE TABLE customers (id bigint PRIMARY KEY);\n\
         CREATE TABLE orders (\n  id bigserial PRIMARY KEY CHECK (id > 0),\n  \
         ref text NOT NULL UNIQUE, -- stratum:renamed-from code\n  \
         customer_id bigint REFERENCES customers (id),\n  \
         amount int NOT NULL DEFAULT 0\n);\n\
         CREATE INDEX orders_customer_idx ON orders (customer_id, amount) \
         WHERE customer_id IS NOT NULL;\n\
         COMMENT ON INDEX orders_customer_idx IS 'by customer';\n\
         CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text);\n\
         CREATE TABLE order_items (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, \
         order_id int NOT NULL REFERENCES orders (id) ON DELETE CASCADE);\n\
         CREATE VIEW order_codes AS SELECT id, ref FROM orders WHERE customer_id IS NOT NULL;\n\
         COMMENT ON VIEW order_codes IS 'the codes';\n\
         CREATE VIEW recent_codes AS SELECT ref FROM order_codes WHERE id > 10;\n\
         GRANT SELECT ON order_codes TO reporting;\n",
    );
    let stderr = ok(p, &["generate", "--zero-downtime"], &env);
    assert!(
        stderr.contains(
            "Zero-downtime: column public.orders.code renamed to ref; column public.events.id \
             retyped from integer to bigint; column public.orders.id retyped from integer to \
             bigint; column public.orders.customer_id retyped from integer to bigint."
        ),
        "{stderr}"
    );
    // The old version inserts with the sequence's ids and its column
    // names; the new one with its own.
    const OLD: &[&str] = &[
        "INSERT INTO orders (code, customer_id, amount) VALUES ('o' || $1::bigint, \
         $1::int % 100 + 1, 1)",
        "UPDATE orders SET amount = amount + 1, customer_id = NULL WHERE code = 'o' || $1::bigint",
        "UPDATE orders SET amount = amount WHERE id = ($1::bigint * 7919) % 200000 + 1",
        "INSERT INTO events (note) VALUES ('o' || $1::bigint)",
        "INSERT INTO order_items (order_id) VALUES (($1::bigint * 7919) % 200000 + 1)",
    ];
    const NEW: &[&str] = &[
        "INSERT INTO orders (ref, customer_id) VALUES ('n' || $1::bigint, 7)",
        "UPDATE orders SET ref = 'nn' || $1::bigint WHERE ref = 'n' || $1::bigint",
        "UPDATE orders SET customer_id = 3 WHERE id = ($1::bigint * 104729) % 200000 + 1 \
         AND customer_id IS NOT NULL",
        "INSERT INTO events (note) VALUES ('n' || $1::bigint)",
        "INSERT INTO order_items (order_id) VALUES (($1::bigint * 104729) % 200000 + 1)",
    ];
    let old = start(&server, "zk", OLD, 1).await;
    let stderr = ok(p, &["migrate", "--db", &url], &env);
    assert!(stderr.contains("Applied 2 migrations."), "{stderr}");
    // Expanded: the new columns carry their own key, index and
    // constraints, built beside the old ones and valid (or NOT VALID).
    let carried = "SELECT c.relname::text || ':' || i.indisvalid::text FROM pg_index i \
                   JOIN pg_class c ON c.oid = i.indexrelid \
                   WHERE i.indrelid = 'orders'::regclass ORDER BY 1";
    assert_eq!(common::strings(&db, carried).await, EXPANDED);
    let new = start(&server, "zk", NEW, 2).await;
    ok(p, &["check", "--db", &url], &env);
    finish(p, &url, &env, old, new).await;

    let shape = "SELECT conname::text || ' ' || pg_get_constraintdef(oid) || ' ' || \
                 convalidated::text FROM pg_constraint WHERE conrelid = 'orders'::regclass \
                 AND contype <> 'n' ORDER BY 1";
    let contracted = [
        "orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers(id) true",
        "orders_id_check CHECK ((id > 0)) true",
        "orders_pkey PRIMARY KEY (id) true",
        "orders_ref_key UNIQUE (ref) true",
    ];
    assert_eq!(common::strings(&db, shape).await, contracted);
    let types =
        "SELECT attname::text || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute \
                 WHERE attrelid = 'orders'::regclass AND attnum > 0 AND NOT attisdropped \
                 ORDER BY attname";
    assert_eq!(
        common::strings(&db, types).await,
        [
            "amount integer",
            "customer_id bigint",
            "id bigint",
            "ref text"
        ]
    );
    // Every original row as one step would have left it.
    let wrong = format!(
        "SELECT count(*)::text FROM orders WHERE id <= {ROWS} AND (ref <> 'c' || id \
           OR customer_id IS DISTINCT FROM CASE WHEN id % 5 <> 0 THEN id % 100 + 1 END \
             AND customer_id <> 3)"
    );
    assert_eq!(common::strings(&db, &wrong).await, ["0"]);
    // The sequence passed to the new column: it goes on from where it was.
    assert_eq!(
        common::strings(
            &db,
            "SELECT pg_get_serial_sequence('orders', 'id') || ' ' || \
             (nextval('orders_id_seq') > (SELECT max(id) FROM orders))::text"
        )
        .await,
        ["public.orders_id_seq true"]
    );

    // The identity moved to the new column and goes on past every row.
    let identity = "SELECT format_type(atttypid, atttypmod) || ' ' || attidentity::text || ' ' || \
                    (nextval(pg_get_serial_sequence('events', 'id')) > \
                     (SELECT max(id) FROM events))::text \
                    FROM pg_attribute WHERE attrelid = 'events'::regclass AND attname = 'id'";
    assert_eq!(common::strings(&db, identity).await, ["bigint a true"]);
    // Another table's foreign key points at the new column, valid.
    let items = "SELECT pg_get_constraintdef(oid) || ' ' || convalidated::text FROM pg_constraint \
                 WHERE conrelid = 'order_items'::regclass AND contype = 'f'";
    let pointed = ["FOREIGN KEY (order_id) REFERENCES orders(id) ON DELETE CASCADE true"];
    assert_eq!(common::strings(&db, items).await, pointed);
    // The views read the new columns, with their grant and comment.
    let views =
        "SELECT format_type(atttypid, atttypmod) || ' ' || attname::text FROM pg_attribute \
                 WHERE attrelid IN ('order_codes'::regclass, 'recent_codes'::regclass) \
                 AND has_table_privilege('reporting', 'order_codes', 'SELECT') ORDER BY 1";
    assert_eq!(
        common::strings(&db, views).await,
        ["bigint id", "text ref", "text ref"]
    );

    // The contract's down file: the old columns and their constraints
    // back beside the new ones, as expand left them; then the contract
    // again, and no drift.
    ok(p, &["down", "--db", &url], &env);
    assert_eq!(common::strings(&db, carried).await, EXPANDED);
    assert_eq!(common::strings(&db, identity).await, ["integer a true"]);
    assert_eq!(
        common::strings(&db, views).await,
        ["integer id", "text code", "text code"]
    );
    let stderr = ok(p, &["check", "--db", &url], &env);
    assert!(
        stderr.contains("a zero-downtime change, expanded"),
        "{stderr}"
    );
    let stderr = ok(p, &["migrate", "--db", &url, "--contract"], &env);
    assert!(stderr.contains("Applied 1 migration."), "{stderr}");
    assert_eq!(common::strings(&db, shape).await, contracted);
    assert_eq!(common::strings(&db, identity).await, ["bigint a true"]);
    assert_eq!(common::strings(&db, items).await, pointed);
    let stderr = ok(p, &["check", "--db", &url], &env);
    assert!(
        stderr.contains("No drift: the database matches schema/."),
        "{stderr}"
    );
}

/// `zero_downtime: {above_rows: N}` in stratum.yaml: the rename of a
/// live table above the limit is written as a pattern; the same change
/// on a small table is one step in the expand migration, and generate
/// says so with its size. Without a database to read sizes from,
/// generate says what to give it. (The small table's note follows its
/// column on the CREATE TABLE line: it is the column's.)
#[tokio::test(flavor = "current_thread")]
async fn only_tables_above_the_threshold_get_the_pattern() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("zs").await;
    let url = server.url("zs");
    let dir = common::project_dir(
        "CREATE TABLE big (id bigint PRIMARY KEY, name text);\n\
         CREATE TABLE small (id bigint PRIMARY KEY, name text);\n",
        &[],
    );
    let p = dir.path();
    ok(p, &["generate", "--name", "init"], &env);
    ok(p, &["migrate", "--db", &url], &env);
    db.batch_execute(
        "INSERT INTO big SELECT g, 'b' || g FROM generate_series(1, 5000) g; \
         INSERT INTO small SELECT g, 's' || g FROM generate_series(1, 10) g; ANALYZE",
    )
    .await
    .unwrap();
    std::fs::write(
        p.join("stratum.yaml"),
        "zero_downtime:\n  above_rows: 1000\n",
    )
    .unwrap();
    project(
        p,
        "CREATE TABLE big (\n  id bigint PRIMARY KEY,\n  title text -- stratum:renamed-from name\n);\n\
         CREATE TABLE small (id bigint PRIMARY KEY, title text -- stratum:renamed-from name\n);\n",
    );
    let out = stratum_in(p, &["generate"], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "zero_downtime in stratum.yaml applies to tables above a size, read from the live \
             database: no database given: pass --db postgres://... or set DATABASE_URL"
        ),
        "{stderr}"
    );
    let stderr = ok(p, &["generate", "--db", &url], &env);
    assert!(
        stderr.contains("Zero-downtime: column public.big.name renamed to title."),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "zero-downtime: column public.small.name renamed to title in one step: table \
             public.small is small (about 10 rows, "
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("; zero_downtime: above_rows 1000)"),
        "{stderr}"
    );
    ok(p, &["migrate", "--db", &url], &env);
    let columns = "SELECT attrelid::regclass::text || '.' || attname::text FROM pg_attribute \
                   WHERE attrelid IN ('big'::regclass, 'small'::regclass) AND attnum > 1 \
                   AND NOT attisdropped ORDER BY 1";
    assert_eq!(
        common::strings(&db, columns).await,
        ["big.name", "big.title", "small.title"]
    );
}
