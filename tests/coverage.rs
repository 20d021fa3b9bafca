//! What stratum does not manage never makes a plan that fails or silently
//! drops something: a desired object that needs an unmanaged one the target
//! lacks, or an unmanaged object in the way of a change, is an error naming
//! both; strict mode refuses any unmanaged object.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::TestServer;

fn stratum(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stratum"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running stratum")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// A window function written in C (here: PostgreSQL's own rank()).
const REMOTE: &str =
    "CREATE FUNCTION my_rank() RETURNS bigint LANGUAGE internal WINDOW IMMUTABLE AS 'window_rank';\n";
const USED: &str =
    "CREATE FUNCTION my_rank() RETURNS bigint LANGUAGE internal WINDOW IMMUTABLE AS 'window_rank';\n\
     CREATE VIEW remote_ids AS SELECT my_rank() OVER () AS id;\n";

#[tokio::test(flavor = "current_thread")]
async fn a_missing_unmanaged_dependency_is_an_error_naming_both() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let desired = dir.path().join("schema.sql");
    std::fs::write(&desired, USED).unwrap();
    let to = desired.to_str().unwrap();

    let out = stratum(dir.path(), &["diff", "--from", "empty", "--to", to]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "view public.remote_ids needs window function public.my_rank(), which stratum does not manage \
             and the target lacks"
        ),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "");

    // Where the target has it, the plan goes ahead and names it as unmanaged.
    let db = server.database("has_config").await;
    db.batch_execute(REMOTE).await.unwrap();
    let url = server.url("has_config");
    let out = stratum(dir.path(), &["diff", "--from", &url, "--to", to]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("CREATE VIEW public.remote_ids AS"));
    assert!(text(&out.stderr).contains("not managed yet: window function public.my_rank()"));

    // Strict mode refuses it, by flag and by stratum.yaml.
    let out = stratum(
        dir.path(),
        &["diff", "--from", &url, "--to", to, "--strict"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(
            "window function public.my_rank() is of a kind stratum does not manage (strict mode)"
        ),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(dir.path().join("stratum.yaml"), "strict: true\n").unwrap();
    let out = stratum(dir.path(), &["diff", "--from", &url, "--to", to]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    std::fs::create_dir(dir.path().join("schema")).unwrap();
    std::fs::create_dir(dir.path().join("migrations")).unwrap();
    std::fs::write(dir.path().join("schema/schema.sql"), USED).unwrap();
    let out = stratum(dir.path(), &["check", "--db", &url]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("(strict mode)"));

    // Without unmanaged objects strict mode changes nothing.
    let plain = dir.path().join("plain.sql");
    std::fs::write(&plain, "CREATE TABLE u (id int);\n").unwrap();
    let out = stratum(
        dir.path(),
        &["diff", "--from", "empty", "--to", plain.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "current_thread")]
async fn an_unmanaged_object_in_the_way_of_a_change_is_an_error() {
    let server = TestServer::start().await;
    let db = server.database("window_in_the_way").await;
    // A window function (unmanaged) over an enum that the plan rebuilds.
    let window = "CREATE FUNCTION my_rank(mood) RETURNS bigint LANGUAGE internal WINDOW IMMUTABLE AS 'window_rank';";
    db.batch_execute(&format!(
        "CREATE TYPE mood AS ENUM ('ok', 'meh');\n{window}\n"
    ))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let desired = dir.path().join("schema.sql");
    std::fs::write(
        &desired,
        format!("CREATE TYPE mood AS ENUM ('ok');\n{window}\n"),
    )
    .unwrap();
    let url = server.url("window_in_the_way");
    let out = stratum(
        dir.path(),
        &["diff", "--from", &url, "--to", desired.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "window function public.my_rank(public.mood) depends on type public.mood, which the plan drops or changes"
        ),
        "{}",
        text(&out.stderr)
    );
    // Without the rebuild, the plan goes ahead.
    std::fs::write(
        &desired,
        format!("CREATE TYPE mood AS ENUM ('ok', 'meh', 'great');\n{window}\n"),
    )
    .unwrap();
    let out = stratum(
        dir.path(),
        &["diff", "--from", &url, "--to", desired.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ADD VALUE 'great'"));
}

#[tokio::test(flavor = "current_thread")]
async fn owners_the_schema_sets_are_compared_and_the_rest_on_request() {
    let server = TestServer::start().await;
    let db = server.database("owned").await;
    db.batch_execute(
        "CREATE TABLE owned (id int, secret text);
         ALTER TABLE owned OWNER TO pg_monitor;
         GRANT SELECT (id) ON owned TO PUBLIC;",
    )
    .await
    .unwrap();
    let url = server.url("owned");
    let dir = tempfile::tempdir().unwrap();
    let out = stratum(dir.path(), &["diff", "--from", &url, "--to", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert!(
        !text(&out.stderr).contains("not managed"),
        "{}",
        text(&out.stderr)
    );

    // A schema that sets no owner leaves the owner alone by default.
    let desired = dir.path().join("schema.sql");
    std::fs::write(
        &desired,
        "CREATE TABLE owned (id int, secret text);\nGRANT SELECT (id) ON owned TO PUBLIC;\n",
    )
    .unwrap();
    let to = desired.to_str().unwrap();
    let out = stratum(dir.path(), &["diff", "--from", &url, "--to", to]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    // owners: manage gives it back to the role that applies the plan.
    let yaml = dir.path().join("stratum.yaml");
    std::fs::write(&yaml, "owners: manage\n").unwrap();
    let out = stratum(dir.path(), &["diff", "--from", &url, "--to", to]);
    assert!(
        text(&out.stdout).contains("ALTER TABLE public.owned OWNER TO CURRENT_USER;"),
        "{}",
        text(&out.stdout)
    );
    // An owner the schema sets is compared; with owners: ignore it is not.
    std::fs::write(
        &desired,
        "CREATE TABLE owned (id int, secret text);\nALTER TABLE owned OWNER TO pg_read_all_data;\n\
         GRANT SELECT (id) ON owned TO PUBLIC;\n",
    )
    .unwrap();
    std::fs::remove_file(&yaml).unwrap();
    let out = stratum(dir.path(), &["diff", "--from", &url, "--to", to]);
    assert!(
        text(&out.stdout).contains("ALTER TABLE public.owned OWNER TO pg_read_all_data;"),
        "{}",
        text(&out.stdout)
    );
    std::fs::write(&yaml, "owners: ignore\n").unwrap();
    let out = stratum(dir.path(), &["diff", "--from", &url, "--to", to]);
    assert_eq!(text(&out.stdout), "");
}

#[tokio::test(flavor = "current_thread")]
async fn a_policy_for_a_missing_role_is_refused_at_plan_time() {
    let server = TestServer::start().await;
    let db = server.database("no_anon").await;
    db.batch_execute("CREATE TABLE notes (id int, owner text);")
        .await
        .unwrap();
    let url = server.url("no_anon");
    let dir = tempfile::tempdir().unwrap();
    let desired = dir.path().join("schema.sql");
    std::fs::write(
        &desired,
        "CREATE TABLE notes (id int, owner text);\n\
         ALTER TABLE notes ENABLE ROW LEVEL SECURITY;\n\
         CREATE POLICY mine ON notes TO stratum_test_anon USING (owner = current_user);\n\
         CREATE POLICY readers ON notes FOR SELECT TO stratum_test_anon, pg_monitor USING (true);\n\
         GRANT SELECT ON notes TO stratum_test_anon;\n",
    )
    .unwrap();
    let to = desired.to_str().unwrap();
    let out = stratum(dir.path(), &["diff", "--from", &url, "--to", to]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "role stratum_test_anon does not exist on the target, and policy mine on public.notes, \
             policy readers on public.notes, a grant on table public.notes names it"
        ),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "");

    // Declared as existing where the plan runs, it plans.
    std::fs::write(
        dir.path().join("stratum.yaml"),
        "roles:\n  assume: [stratum_test_anon]\n",
    )
    .unwrap();
    let out = stratum(dir.path(), &["diff", "--from", &url, "--to", to]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("CREATE POLICY mine ON public.notes TO stratum_test_anon"));
}

#[tokio::test(flavor = "current_thread")]
async fn privileges_ignore_plans_and_reports_no_grants() {
    let server = TestServer::start().await;
    let db = server.database("granted").await;
    db.batch_execute("CREATE TABLE t (id int);\nGRANT SELECT ON t TO pg_monitor;")
        .await
        .unwrap();
    let url = server.url("granted");
    let dir = tempfile::tempdir().unwrap();
    let desired = dir.path().join("schema.sql");
    std::fs::write(&desired, "CREATE TABLE t (id int);\n").unwrap();
    let to = desired.to_str().unwrap();
    let out = stratum(dir.path(), &["diff", "--from", &url, "--to", to]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("REVOKE SELECT ON TABLE public.t FROM pg_monitor;"),
        "{}",
        text(&out.stdout)
    );
    std::fs::write(dir.path().join("stratum.yaml"), "privileges: ignore\n").unwrap();
    let out = stratum(dir.path(), &["diff", "--from", &url, "--to", to]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert!(
        !text(&out.stderr).contains("grants"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn stub_roles_are_dropped_from_a_dev_url_server() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let desired = dir.path().join("schema.sql");
    std::fs::write(
        &desired,
        "CREATE TABLE t (id int);\nGRANT SELECT ON t TO stratum_stub_reader;\n\
         ALTER TABLE t OWNER TO stratum_stub_owner;\n",
    )
    .unwrap();
    let dev = server.url("postgres");
    let to = desired.to_str().unwrap();
    let out = stratum(
        dir.path(),
        &["diff", "--from", "empty", "--to", to, "--dev-url", &dev],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sql = text(&out.stdout);
    assert!(
        sql.contains("ALTER TABLE public.t OWNER TO stratum_stub_owner;"),
        "{sql}"
    );
    assert!(
        sql.contains("GRANT SELECT ON TABLE public.t TO stratum_stub_reader;"),
        "{sql}"
    );
    let admin = server.connect("postgres").await;
    let left = "SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'stratum_stub_%'";
    assert!(common::strings(&admin, left).await.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn column_grants_on_a_view_are_reported() {
    let server = TestServer::start().await;
    let db = server.database("view_grants").await;
    db.batch_execute(
        "CREATE TABLE t (id int, secret text);
         CREATE VIEW v AS SELECT id, secret FROM t;
         GRANT SELECT (id) ON v TO pg_monitor;",
    )
    .await
    .unwrap();
    let url = server.url("view_grants");
    let dir = tempfile::tempdir().unwrap();
    let out = stratum(dir.path(), &["diff", "--from", &url, "--to", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not managed yet: column grants on a view view public.v"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_grant_to_the_targets_owner_is_no_change() {
    // The schema is loaded by another role than the one that owns the
    // table on the target: granting that owner what it holds plans nothing.
    let server = TestServer::start().await;
    let db = server.database("owner_grant").await;
    db.batch_execute("CREATE TABLE g (id int);\nALTER TABLE g OWNER TO pg_monitor;")
        .await
        .unwrap();
    let url = server.url("owner_grant");
    let dir = tempfile::tempdir().unwrap();
    let desired = dir.path().join("schema.sql");
    std::fs::write(
        &desired,
        "CREATE TABLE g (id int);\nGRANT INSERT, UPDATE ON g TO pg_monitor;\n",
    )
    .unwrap();
    let to = desired.to_str().unwrap();
    let out = stratum(dir.path(), &["diff", "--from", &url, "--to", to]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
}

/// Every table of `pg_catalog`, and what stratum does with the objects a
/// user can make in it: `managed` (a kind reads and plans them),
/// `reported` (listed as not managed, with the kind it is listed under,
/// made below), or why it holds none of a schema's objects.
const CATALOGS: &[(&str, &str)] = &[
    ("pg_aggregate", "managed"),
    ("pg_am", "reported: access method"),
    ("pg_amop", "reported: operator family (its members)"),
    ("pg_amproc", "reported: operator family (its members)"),
    ("pg_attrdef", "managed"),
    ("pg_attribute", "managed"),
    (
        "pg_auth_members",
        "roles: cluster-wide, outside a database's schema",
    ),
    (
        "pg_authid",
        "roles: cluster-wide, outside a database's schema",
    ),
    ("pg_cast", "managed"),
    ("pg_class", "managed"),
    ("pg_collation", "managed"),
    ("pg_constraint", "managed"),
    ("pg_conversion", "reported: conversion"),
    (
        "pg_database",
        "databases: cluster-wide, outside a database's schema",
    ),
    (
        "pg_db_role_setting",
        "ALTER DATABASE / ROLE ... SET: server configuration",
    ),
    ("pg_default_acl", "managed"),
    ("pg_depend", "dependencies: read to order plans"),
    ("pg_description", "managed (comments, with each kind)"),
    ("pg_enum", "managed"),
    ("pg_event_trigger", "managed"),
    ("pg_extension", "managed"),
    (
        "pg_foreign_data_wrapper",
        "managed; reported: grants on a foreign data wrapper",
    ),
    (
        "pg_foreign_server",
        "managed; reported: grants on a foreign server",
    ),
    ("pg_foreign_table", "managed"),
    ("pg_index", "managed"),
    ("pg_inherits", "managed"),
    (
        "pg_init_privs",
        "extensions' initial privileges: the extension's own",
    ),
    ("pg_language", "reported: procedural language"),
    ("pg_largeobject", "large objects: data"),
    ("pg_largeobject_metadata", "large objects: data"),
    ("pg_namespace", "managed"),
    ("pg_opclass", "reported: operator class"),
    ("pg_operator", "managed"),
    ("pg_opfamily", "reported: operator family"),
    (
        "pg_parameter_acl",
        "GRANT SET ON PARAMETER: server configuration",
    ),
    ("pg_partitioned_table", "managed"),
    ("pg_policy", "managed"),
    ("pg_proc", "managed"),
    ("pg_publication", "managed; reported: publication owner"),
    ("pg_publication_namespace", "managed"),
    ("pg_publication_rel", "managed"),
    ("pg_range", "managed"),
    ("pg_replication_origin", "replication state: cluster-wide"),
    ("pg_rewrite", "managed"),
    ("pg_seclabel", "reported: security label"),
    (
        "pg_sequence",
        "managed; reported: grants on an identity sequence",
    ),
    (
        "pg_shdepend",
        "dependencies on roles: read with owners and grants",
    ),
    (
        "pg_shdescription",
        "comments on roles, databases, tablespaces: cluster-wide",
    ),
    (
        "pg_shseclabel",
        "labels on roles, databases, tablespaces: cluster-wide",
    ),
    ("pg_statistic", "planner statistics: data"),
    ("pg_statistic_ext", "managed"),
    ("pg_statistic_ext_data", "planner statistics: data"),
    ("pg_subscription", "reported: subscription"),
    (
        "pg_subscription_rel",
        "reported: subscription (its tables' state)",
    ),
    (
        "pg_tablespace",
        "tablespaces: cluster-wide; reported: tablespace (of a relation)",
    ),
    (
        "pg_transform",
        "reported: transform (not made below: needs C functions)",
    ),
    ("pg_trigger", "managed"),
    ("pg_ts_config", "managed"),
    ("pg_ts_config_map", "managed"),
    ("pg_ts_dict", "managed"),
    ("pg_ts_parser", "reported: text search parser"),
    ("pg_ts_template", "reported: text search template"),
    ("pg_type", "managed"),
    ("pg_user_mapping", "managed"),
];

/// Every `pg_catalog` table is classified above (a new major's catalog
/// fails here until it is), and an object of each reported kind that SQL
/// alone can make is listed as not managed, with its name.
#[tokio::test(flavor = "current_thread")]
async fn every_catalog_is_managed_or_reported() {
    let server = TestServer::start().await;
    let db = server.database("catalogs").await;
    let tables = common::strings(
        &db,
        "SELECT relname::text FROM pg_catalog.pg_class \
         WHERE relnamespace = 'pg_catalog'::regnamespace AND relkind = 'r' ORDER BY 1",
    )
    .await;
    let known: Vec<&str> = CATALOGS.iter().map(|(t, _)| *t).collect();
    let unknown: Vec<&String> = tables
        .iter()
        .filter(|t| !known.contains(&t.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "catalogs this test does not classify (managed, reported, or holding no schema objects): {unknown:?}"
    );
    db.batch_execute(
        "CREATE OPERATOR FAMILY fam USING btree;
         CREATE OPERATOR CLASS myops FOR TYPE int4 USING btree AS OPERATOR 1 <, FUNCTION 1 btint4cmp(int4, int4);
         CREATE CONVERSION myconv FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8;
         CREATE LANGUAGE mylang HANDLER plpgsql_call_handler;
         CREATE ACCESS METHOD myam TYPE TABLE HANDLER heap_tableam_handler;
         CREATE TEXT SEARCH TEMPLATE mytmpl (LEXIZE = dsimple_lexize, INIT = dsimple_init);
         CREATE TEXT SEARCH PARSER myprs (START = prsd_start, GETTOKEN = prsd_nexttoken, END = prsd_end, LEXTYPES = prsd_lextype);
         CREATE FOREIGN DATA WRAPPER w;
         GRANT USAGE ON FOREIGN DATA WRAPPER w TO pg_monitor;
         CREATE SERVER s FOREIGN DATA WRAPPER w;
         GRANT USAGE ON FOREIGN SERVER s TO pg_monitor;
         CREATE TABLE it (id int GENERATED ALWAYS AS IDENTITY);
         GRANT USAGE ON SEQUENCE it_id_seq TO pg_monitor;
         DO $$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pubowner') THEN CREATE ROLE pubowner; END IF;
         END $$;
         GRANT CREATE ON DATABASE catalogs TO pubowner;
         CREATE PUBLICATION pub;
         ALTER PUBLICATION pub OWNER TO pubowner;",
    )
    .await
    .unwrap();
    let catalog = common::read(&db, false).await;
    let listed: Vec<String> = catalog
        .unmanaged
        .iter()
        .map(|u| format!("{} {}", u.kind, u.name))
        .collect();
    for expected in [
        "operator family public.fam using btree",
        "operator class public.myops using btree",
        "conversion public.myconv",
        "procedural language mylang",
        "access method myam",
        "text search template public.mytmpl",
        "text search parser public.myprs",
        "grants on a foreign data wrapper w",
        "grants on a foreign server s",
        "grants on an identity sequence public.it_id_seq",
        "publication owner pub owned by pubowner",
    ] {
        assert!(
            listed.iter().any(|l| l == expected),
            "{expected} not in {listed:?}"
        );
    }
}
