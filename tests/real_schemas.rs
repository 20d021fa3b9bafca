//! Real schemas converge: the published schemas of public projects in
//! `../shared/real-schemas/` (read from there, never copied here) each go
//! from an empty database to converged through `stratum apply`, plan
//! nothing more, and `dump` round-trips them; and a schema in the form
//! `pg_dump --schema-only` writes, with its `OWNER TO` lines, converges
//! whichever role stratum connects as.

mod common;

use std::path::{Path, PathBuf};

use common::{stratum_in, strings, text, TestServer};

/// Every hazard, for applying a whole schema to an empty database.
const ALL_HAZARDS: &str =
    "data-loss,table-rewrite,access-exclusive-lock,full-table-scan,index-build,index-dropped,authz-change,app-compat";

/// The real-world schemas, sorted; fails when the directory is missing.
fn real_schemas() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/real-schemas");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "the real-world schemas are read from {} ({e}): check out the shared directory beside the project",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .sql files in {}", dir.display());
    files
}

/// Runs stratum in `dir`; returns (exit code, stdout, stderr).
fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = stratum_in(dir, args, &[]);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// Empty to `schema` by `apply`, then an empty plan, then a dump that
/// diffs to nothing against the database; the first failure, if any.
fn converge(dir: &Path, url: &str, schema: &Path) -> Result<(), String> {
    let schema = schema.to_str().unwrap();
    let (code, out, err) = run(
        dir,
        &[
            "apply",
            "--db",
            url,
            "--schema",
            schema,
            "--allow-hazards",
            ALL_HAZARDS,
            "--yes",
        ],
    );
    if code != 0 {
        return Err(format!("apply exited {code}:\n{out}\n{err}"));
    }
    let (code, out, err) = run(dir, &["plan", "--db", url, "--schema", schema]);
    if code != 0 || !out.contains("No changes") && !err.contains("No changes") {
        return Err(format!(
            "a second plan is not empty (exit {code}):\n{out}\n{err}"
        ));
    }
    let dump = dir.join("dump");
    let _ = std::fs::remove_dir_all(&dump);
    let (code, out, err) = run(dir, &["dump", "--db", url, "--out", dump.to_str().unwrap()]);
    if code != 0 {
        return Err(format!("dump exited {code}:\n{out}\n{err}"));
    }
    let (code, out, err) = run(
        dir,
        &["diff", "--from", url, "--to", dump.to_str().unwrap()],
    );
    if code != 0 || !out.contains("No changes") && !err.contains("No changes") {
        return Err(format!(
            "the dump differs from its database (exit {code}):\n{out}\n{err}"
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn real_world_schemas_converge_and_dump_round_trips() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut ran = 0;
    for (n, schema) in real_schemas().iter().enumerate() {
        let db = format!("real_{n}");
        let client = server.database(&db).await;
        let url = server.url(&db);
        match converge(work.path(), &url, schema) {
            Ok(()) => {
                // Converged on something: the schema's tables are there.
                let tables = strings(
                    &client,
                    "SELECT count(*)::text FROM pg_catalog.pg_class c \
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                     WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
                )
                .await;
                let count: usize = tables[0].parse().unwrap();
                assert!(count > 50, "{}: only {count} tables", schema.display());
                ran += 1;
            }
            Err(e) => failures.push(format!("{}: {e}", schema.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(ran >= 3, "only {ran} real-world schemas ran");
}

/// The shape of `pg_dump --schema-only` output, with owners: the role
/// that connects (`admin`), another (`app`), and the `public` schema's.
const PG_DUMP: &str = r#"
SET statement_timeout = 0;
SET lock_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET client_min_messages = warning;

ALTER SCHEMA public OWNER TO app;

CREATE SCHEMA shop;
ALTER SCHEMA shop OWNER TO admin;

SET default_tablespace = '';
SET default_table_access_method = heap;

CREATE TABLE public.t1 (
    id integer NOT NULL
);
ALTER TABLE public.t1 OWNER TO admin;

CREATE TABLE shop.orders (
    id bigint NOT NULL,
    kind character varying(20),
    CONSTRAINT orders_kind_check CHECK (((kind)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[])))
);
ALTER TABLE shop.orders OWNER TO app;

ALTER TABLE shop.orders ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME shop.orders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE VIEW shop.recent AS
 SELECT orders.id,
    orders.kind
   FROM shop.orders;
ALTER VIEW shop.recent OWNER TO admin;

ALTER TABLE ONLY public.t1
    ADD CONSTRAINT t1_pkey PRIMARY KEY (id);
ALTER TABLE ONLY shop.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
"#;

#[tokio::test(flavor = "current_thread")]
async fn pg_dump_output_with_owners_converges_whoever_connects() {
    let server = TestServer::start().await;
    let admin = server.database("dumped").await;
    admin
        .batch_execute(
            "DO $$ BEGIN \
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'admin') THEN \
                 CREATE ROLE admin SUPERUSER LOGIN; END IF; \
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app') THEN \
                 CREATE ROLE app; END IF; \
             END $$",
        )
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let schema = work.path().join("dump.sql");
    std::fs::write(&schema, PG_DUMP).unwrap();
    // Connected as admin, not as the role the test server was made with.
    let url = server.url("dumped").replacen("stratum@", "admin@", 1);
    assert!(url.contains("admin@"), "{url}");
    let s = schema.to_str().unwrap();
    let (code, out, err) = run(
        work.path(),
        &[
            "apply",
            "--db",
            &url,
            "--schema",
            s,
            "--allow-hazards",
            ALL_HAZARDS,
            "--yes",
        ],
    );
    assert_eq!(code, 0, "apply:\n{out}\n{err}");
    let (code, out, err) = run(work.path(), &["plan", "--db", &url, "--schema", s]);
    assert!(
        code == 0 && (out.contains("No changes") || err.contains("No changes")),
        "a second plan is not empty (exit {code}):\n{out}\n{err}"
    );
    // The owners the dump names, on the database.
    let owners = strings(
        &admin,
        "SELECT c.relname || ' ' || pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c \
         WHERE c.relname IN ('t1', 'orders', 'recent') \
         UNION ALL SELECT n.nspname || ' ' || pg_catalog.pg_get_userbyid(n.nspowner) \
         FROM pg_catalog.pg_namespace n WHERE n.nspname IN ('public', 'shop') ORDER BY 1",
    )
    .await;
    assert_eq!(
        owners,
        [
            "orders app",
            "public app",
            "recent admin",
            "shop admin",
            "t1 admin"
        ],
        "owners on the database"
    );
    // Connected as the role the objects are given to in the schema: an
    // explicit owner that is the applying role plans nothing either.
    let (code, out, err) = run(
        work.path(),
        &["plan", "--db", &server.url("dumped"), "--schema", s],
    );
    assert!(
        code == 0 && (out.contains("No changes") || err.contains("No changes")),
        "connected as stratum (exit {code}):\n{out}\n{err}"
    );
}

/// `dump --split schema`: one file per schema, loading in path order,
/// cross-schema references that run both ways in a last file; and what
/// the database changed in the `public` schema is written, its defaults
/// are not.
#[tokio::test(flavor = "current_thread")]
async fn dump_split_by_schema_loads_in_order_and_keeps_the_public_schemas_changes() {
    let server = TestServer::start().await;
    let source = server.database("split_src").await;
    source
        .batch_execute(
            "COMMENT ON SCHEMA public IS NULL;
             REVOKE USAGE ON SCHEMA public FROM PUBLIC;
             CREATE SCHEMA a; CREATE SCHEMA b;
             CREATE TABLE a.t1 (id int PRIMARY KEY, b_id int);
             CREATE TABLE b.t2 (id int PRIMARY KEY, a_id int REFERENCES a.t1);
             ALTER TABLE a.t1 ADD FOREIGN KEY (b_id) REFERENCES b.t2;
             CREATE VIEW a.v AS SELECT t2.id FROM b.t2;
             CREATE VIEW b.v AS SELECT v.id FROM a.v;
             CREATE TABLE public.p (id int);",
        )
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("dumped");
    let url = server.url("split_src");
    let (code, _, err) = run(
        work.path(),
        &[
            "dump",
            "--db",
            &url,
            "--out",
            out.to_str().unwrap(),
            "--split",
            "schema",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // One file per schema, whatever their foreign keys and views.
    for schema in ["a", "b", "public"] {
        let of = names
            .iter()
            .filter(|n| {
                n.split_once('_')
                    .is_some_and(|(_, rest)| rest == format!("{schema}.sql"))
            })
            .count();
        assert_eq!(of, 1, "files of schema {schema}: {names:?}");
    }
    let all: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(
        all.contains("REVOKE USAGE ON SCHEMA public FROM PUBLIC;"),
        "{all}"
    );
    assert!(all.contains("COMMENT ON SCHEMA public IS NULL;"), "{all}");
    assert!(
        !all.contains("GRANT USAGE ON SCHEMA public TO PUBLIC"),
        "{all}"
    );
    // Loaded file by file, in path order, as psql would.
    let target = server.database("split_dst").await;
    for file in &files {
        target
            .batch_execute(&std::fs::read_to_string(file).unwrap())
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", file.display()));
    }
    let (code, out, err) = run(
        work.path(),
        &["diff", "--from", &server.url("split_dst"), "--to", &url],
    );
    assert!(
        code == 0 && (out.contains("No changes") || err.contains("No changes")),
        "the dump does not rebuild its database (exit {code}):\n{out}\n{err}"
    );
    let grants = strings(
        &target,
        "SELECT coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = 'public'",
    )
    .await;
    assert!(!grants[0].contains("=U/"), "PUBLIC keeps USAGE: {grants:?}");
}
