//! What `check` reports inside a drifting object (its columns, indexes,
//! constraints, grants) in every format, at the line of `schema/` that
//! declares each; errors in SQL files as annotations; `expected_drift` by
//! object and by part, which `plan` and `apply` leave as it is.

mod common;

use common::{project_dir, stratum_in, strings, text, TestServer};

/// `check --format github` points at the line that declares each
/// drifting part; `--format sarif` says the same for code scanning;
/// drift that stratum.yaml expects is reported with its reason and does
/// not fail the check.
#[tokio::test(flavor = "current_thread")]
async fn check_annotates_drift_and_accepts_expected_drift() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project_dir(
        "CREATE TABLE accounts (id int PRIMARY KEY);\n\n-- users\nCREATE TABLE users (\n    id int PRIMARY KEY,\n    email text\n);\n",
        &[],
    );
    let p = dir.path();
    std::fs::write(
        p.join("stratum.yaml"),
        "expected_drift:\n  - object: table public.platform_*\n    reason: the platform adds its audit tables\n",
    )
    .unwrap();
    let db = server.database("annotated").await;
    db.batch_execute(
        "CREATE TABLE accounts (id int PRIMARY KEY);\
         CREATE TABLE users (id int PRIMARY KEY, email varchar(20));\
         CREATE TABLE platform_audit (at timestamptz);",
    )
    .await
    .unwrap();
    let url = server.url("annotated");
    let out = stratum_in(p, &["check", "--db", &url, "--format", "github"], &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // At the line of the column that differs, not only its table's.
    assert!(
        stdout.contains(
            "::error file=schema/schema.sql,line=6,col=5,title=drift%3A column public.users.email::\
             column public.users.email differs: `email character varying(20)` in "
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("::warning title=drift%3A table public.platform_audit::table public.platform_audit exists in"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(expected: the platform adds its audit tables)"),
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("Drift: 1 object in"), "{stderr}");
    assert!(
        stderr.contains("table public.platform_audit: the platform adds its audit tables"),
        "{stderr}"
    );

    let out = stratum_in(p, &["check", "--db", &url, "--format", "sarif"], &env);
    assert_eq!(out.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{log:#}");
    let users = results.iter().find(|r| r["level"] == "error").unwrap();
    let place = &users["locations"][0]["physicalLocation"];
    assert_eq!(place["artifactLocation"]["uri"], "schema/schema.sql");
    assert_eq!(place["region"]["startLine"], 6);
    assert_eq!(place["region"]["startColumn"], 5);
    assert_eq!(users["ruleId"], "stratum/drift");

    // Only expected drift left: reported, exit 0.
    db.batch_execute("ALTER TABLE users ALTER COLUMN email TYPE text")
        .await
        .unwrap();
    let out = stratum_in(p, &["check", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("No unexpected drift: 1 object in"),
        "{}",
        text(&out.stderr)
    );
}

/// `expected_drift` by part of a table: a hand-added index and a legacy
/// column, each matched by its own pattern, make the table's drift
/// expected (exit 0); with one pattern that no longer matches, the drift
/// counts again and the pattern is named as matching nothing.
#[tokio::test(flavor = "current_thread")]
async fn expected_drift_matches_indexes_and_columns_and_says_when_a_pattern_matches_nothing() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("hotfixed").await;
    db.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, a text, legacy_x int);\n\
         CREATE INDEX hotfix_1 ON t (a);",
    )
    .await
    .unwrap();
    let url = server.url("hotfixed");
    let dir = project_dir("CREATE TABLE t (id int PRIMARY KEY, a text);\n", &[]);
    let p = dir.path();
    let config = |column: &str| {
        format!(
            "expected_drift:\n  - object: index public.hotfix_*\n    reason: ops hotfix\n  \
             - object: column public.t.{column}\n    reason: the old app\n"
        )
    };
    std::fs::write(p.join("stratum.yaml"), config("legacy_*")).unwrap();
    let out = stratum_in(p, &["check", "--db", &url], &env);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("table public.t: the old app; ops hotfix"),
        "{err}"
    );
    assert!(!err.contains("matches nothing"), "{err}");
    std::fs::write(p.join("stratum.yaml"), config("renamed_*")).unwrap();
    let out = stratum_in(p, &["check", "--db", &url], &env);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "warning: stratum.yaml expected_drift `column public.t.renamed_*` matches nothing"
        ),
        "{err}"
    );
}

/// The schema of [`each_part_that_differs_is_named_at_its_line`]: every
/// line number below is asserted.
const PARTS_SCHEMA: &str = "CREATE TABLE orgs (id bigint PRIMARY KEY);

CREATE TABLE users (
    id bigint PRIMARY KEY,
    email text NOT NULL,
    age int CHECK (age > 0),
    org bigint,
    CONSTRAINT users_org_fk FOREIGN KEY (org) REFERENCES orgs
);

CREATE INDEX users_email ON users (email);

GRANT SELECT ON users TO drift_reader;

CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_own ON users USING (id > 0);
";

/// Each kind of part that differs (a column's type, a changed unnamed
/// CHECK, a missing foreign key, a missing and an extra index, a missing
/// grant) is named in the text, JSON, GitHub, SARIF and markdown reports,
/// and annotated at the line (and column) that declares it; an extra part
/// at its table's statement.
#[tokio::test(flavor = "current_thread")]
async fn each_part_that_differs_is_named_at_its_line() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("parts").await;
    db.batch_execute(
        "DO $$ BEGIN CREATE ROLE drift_reader NOLOGIN; EXCEPTION WHEN duplicate_object THEN END $$;\n\
         CREATE TABLE orgs (id bigint PRIMARY KEY);\n\
         CREATE TABLE users (id bigint PRIMARY KEY, email varchar(50) NOT NULL, \
             age int CHECK (age > 1), org bigint);\n\
         CREATE INDEX hotfix_1 ON users (age);\n\
         CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;\n\
         ALTER TABLE users ENABLE ROW LEVEL SECURITY;\n\
         CREATE POLICY users_own ON users USING (id > 1);",
    )
    .await
    .unwrap();
    let url = server.url("parts");
    let dir = project_dir(PARTS_SCHEMA, &[]);
    let p = dir.path();

    let out = stratum_in(p, &["check", "--db", &url, "--format", "github"], &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let at = |place: &str, part: &str| {
        let line = format!(
            "::error file=schema/schema.sql,{place},title=drift%3A {}::",
            part.replace(':', "%3A")
        );
        assert!(stdout.contains(&line), "{line}\n{stdout}");
    };
    at("line=5,col=5", "column public.users.email");
    at(
        "line=6,col=13",
        "constraint users_age_check on public.users",
    );
    at("line=8,col=5", "constraint users_org_fk on public.users");
    at("line=11,col=1", "index public.users_email");
    at("line=3,col=1", "index public.hotfix_1");
    at(
        "line=13,col=1",
        "privileges of drift_reader on table public.users",
    );
    at("line=16,col=1", "trigger users_touch on public.users");
    at("line=18,col=1", "policy users_own on public.users");
    assert!(
        stdout.contains(&format!(
            "column public.users.email differs: `email character varying(50) NOT NULL` in {url}, \
             `email text NOT NULL` in schema/"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "constraint users_age_check on public.users differs: `CONSTRAINT users_age_check \
             CHECK ((age > 1))` in"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "index public.hotfix_1 exists in {url} but is not declared in schema/"
        )),
        "{stdout}"
    );

    let out = stratum_in(p, &["check", "--db", &url, "--format", "sarif"], &env);
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let lines: Vec<(u64, u64)> = results
        .iter()
        .map(|r| {
            let region = &r["locations"][0]["physicalLocation"]["region"];
            (
                region["startLine"].as_u64().unwrap(),
                region["startColumn"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            (3, 1),
            (5, 5),
            (6, 13),
            (8, 5),
            (11, 1),
            (13, 1),
            (16, 1),
            (18, 1)
        ],
        "{log:#}"
    );

    // Text: each part under its object, marked missing (+), extra (-) or
    // changed (~).
    let out = stratum_in(p, &["check", "--db", &url], &env);
    let stdout = text(&out.stdout);
    for line in [
        "table public.users:\n",
        "  ~ column public.users.email differs: ",
        "  + constraint users_org_fk on public.users is declared in schema/ but missing from ",
        "  - index public.hotfix_1 exists in ",
        "  + index public.users_email is declared in schema/ but missing from ",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }

    // JSON: the parts of each object, with how each differs.
    let out = stratum_in(p, &["check", "--db", &url, "--format", "json"], &env);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let users = json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["object"] == "table public.users")
        .unwrap();
    let parts: Vec<(String, String)> = users["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["part"].as_str().unwrap().into(),
                d["how"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [
        ("column public.users.email", "changed"),
        ("constraint users_age_check on public.users", "changed"),
        ("constraint users_org_fk on public.users", "missing"),
        ("index public.hotfix_1", "extra"),
        ("index public.users_email", "missing"),
        ("policy users_own on public.users", "changed"),
        ("trigger users_touch on public.users", "missing"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let mut parts = parts;
    parts.sort();
    assert_eq!(parts, want);
    let email = users["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["part"] == "column public.users.email")
        .unwrap();
    assert_eq!(email["was"], "email character varying(50) NOT NULL");
    assert_eq!(email["wants"], "email text NOT NULL");
    assert_eq!(email["changes"][0], "alter_column_type");

    let out = stratum_in(p, &["check", "--db", &url, "--format", "markdown"], &env);
    insta::assert_snapshot!(
        "check_markdown_parts",
        text(&out.stdout).replace(&url, "URL")
    );
}

/// A syntax error and a statement the scratch database refuses are
/// annotations at their file, line and column under `--format github` and
/// `--format sarif`, beside the usual message; exit 2.
#[tokio::test(flavor = "current_thread")]
async fn errors_in_the_schema_are_annotations_too() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project_dir(
        "CREATE TABLE a (id int);\n\nCREATE TABLE b (id int,, x int);\n",
        &[],
    );
    let p = dir.path();
    let out = stratum_in(p, &["check", "--format", "github"], &env);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stdout),
        "::error file=schema/schema.sql,line=3,col=24,title=stratum%3A error in SQL::syntax error at or near \",\"\n"
    );
    assert!(
        text(&out.stderr).contains("schema/schema.sql:3:24: syntax error"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(
        p.join("schema/schema.sql"),
        "CREATE TABLE a (id int);\n\nCREATE TABLE b (id nosuchtype);\n",
    )
    .unwrap();
    let out = stratum_in(p, &["check", "--format", "sarif"], &env);
    assert_eq!(out.status.code(), Some(2));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let result = &log["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "stratum/error");
    assert_eq!(
        result["message"]["text"],
        "stratum: error in SQL: type \"nosuchtype\" does not exist"
    );
    let place = &result["locations"][0]["physicalLocation"];
    assert_eq!(place["artifactLocation"]["uri"], "schema/schema.sql");
    assert_eq!(place["region"]["startLine"], 3);
    assert_eq!(place["region"]["startColumn"], 20);
}

/// What stratum.yaml expects to differ (a hand-made index, a legacy column)
/// is left as it is by `plan` and `apply`, which say so; apply changes the
/// rest, its closing sentence says what the database matches, the index and
/// the column (with its values) are still there, and planning again gives
/// no changes; `check` passes with the expected drift reported.
#[tokio::test(flavor = "current_thread")]
async fn plan_and_apply_leave_expected_drift_as_it_is() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("leftalone").await;
    db.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, a text, legacy_x int);\n\
         CREATE INDEX hotfix_1 ON t (a);\n\
         INSERT INTO t SELECT g, 'a' || g, g FROM generate_series(1, 100) g;",
    )
    .await
    .unwrap();
    let url = server.url("leftalone");
    let dir = project_dir("CREATE TABLE t (id int PRIMARY KEY, a text, b int);\n", &[]);
    let p = dir.path();
    std::fs::write(
        p.join("stratum.yaml"),
        "expected_drift:\n  - object: index public.hotfix_*\n    reason: ops hotfix\n  \
         - object: column public.t.legacy_*\n    reason: the old app\n",
    )
    .unwrap();
    let out = stratum_in(p, &["plan", "--db", &url], &env);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "= index public.hotfix_1: left as it is (stratum.yaml expected_drift: ops hotfix)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "= column public.t.legacy_x: left as it is (stratum.yaml expected_drift: the old app)"
        ),
        "{stderr}"
    );
    assert!(stdout.contains("ADD COLUMN b integer"), "{stdout}");
    assert!(!stdout.contains("DROP"), "{stdout}");
    let out = stratum_in(p, &["plan", "--db", &url, "--format", "json"], &env);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["left_alone"][0][0], "column public.t.legacy_x");

    // A broad approval of data loss still drops nothing expected.
    let out = stratum_in(
        p,
        &[
            "apply",
            "--db",
            &url,
            "--yes",
            "--allow-hazards",
            "data-loss,index-dropped",
        ],
        &env,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "the database matches schema/ but for 2 differences stratum.yaml expects, left as they are."
        ),
        "{stderr}"
    );
    let columns = strings(
        &db,
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0 \
         AND NOT attisdropped ORDER BY attnum",
    )
    .await;
    assert_eq!(columns, ["id", "a", "legacy_x", "b"]);
    let kept = strings(&db, "SELECT count(legacy_x)::text FROM t").await;
    assert_eq!(kept, ["100"]);
    let index = strings(&db, "SELECT to_regclass('hotfix_1')::text").await;
    assert_eq!(index, ["hotfix_1"]);

    // Converged: nothing more to plan, and check accepts what is left.
    let out = stratum_in(p, &["plan", "--db", &url], &env);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("No changes."), "{stderr}");
    assert_eq!(text(&out.stdout).trim(), "", "{stderr}");
    let out = stratum_in(p, &["apply", "--db", &url, "--yes"], &env);
    assert!(
        text(&out.stderr).contains("No changes."),
        "{}",
        text(&out.stderr)
    );
    let out = stratum_in(p, &["check", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("No unexpected drift: 1 object"),
        "{}",
        text(&out.stderr)
    );
}
