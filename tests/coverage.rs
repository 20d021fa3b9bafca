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
