//! Policy rules on the desired schema: each rule's positive and negative
//! fixture (fixtures/policy/RULE/bad.sql finds exactly what `expected`
//! lists, good.sql nothing of that rule), the silencing comment, the
//! severities per environment, the rules inside `check`, and bad
//! configuration named at its line.

mod common;

use std::path::Path;

use common::{project_dir, stratum_in, text, TestServer};

/// Naming patterns every case runs with (only `naming` reads them).
const NAMING: &str = "  naming:\n    table: '^[a-z][a-z0-9_]*$'\n    column: '^[a-z][a-z0-9_]*$'\n    index: '_idx$'\n";

/// `lint --schema --format json` in `dir`: the exit code and the findings
/// as (rule, severity, object).
fn lint(
    dir: &Path,
    env: &[(&str, &str)],
    extra: &[&str],
) -> (i32, Vec<(String, String, String)>, String) {
    let mut args = vec!["lint", "--schema", "--format", "json"];
    args.extend(extra);
    let out = stratum_in(dir, &args, env);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    let found = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (s("rule"), s("severity"), s("object"))
        })
        .collect();
    (out.status.code().unwrap(), found, text(&out.stderr))
}

#[tokio::test(flavor = "current_thread")]
async fn each_rule_finds_its_bad_fixture_and_passes_its_good_one() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/policy");
    let mut rules: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    rules.sort();
    // Every rule has its fixtures.
    let out = stratum_in(
        Path::new("."),
        &["lint", "--rules", "--format", "json"],
        &[],
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ids: Vec<String> = listed["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(rules, ids);
    let mut failures = Vec::new();
    for rule in &rules {
        let case = root.join(rule);
        let config = format!("lint:\n  rules:\n    {rule}: error\n{NAMING}");
        for (file, bad) in [("bad.sql", true), ("good.sql", false)] {
            let sql = std::fs::read_to_string(case.join(file)).unwrap();
            let dir = project_dir(&sql, &[]);
            std::fs::write(dir.path().join("stratum.yaml"), &config).unwrap();
            let (code, found, stderr) = lint(dir.path(), &env, &[]);
            let mine: Vec<String> = found
                .iter()
                .filter(|(r, _, _)| r == rule)
                .map(|(_, severity, object)| {
                    assert_eq!(severity, "error");
                    object.clone()
                })
                .collect();
            let want: Vec<String> = if bad {
                std::fs::read_to_string(case.join("expected"))
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect()
            } else {
                Vec::new()
            };
            let mut mine_sorted = mine.clone();
            mine_sorted.sort();
            if mine_sorted != want || code != if bad { 1 } else { 0 } {
                failures.push(format!(
                    "{rule}/{file}: exit {code}, found {mine:?}, expected {want:?}\n{stderr}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A rule is silenced on one object by a comment on its line or above it;
/// severities differ per environment (`--env`, `STRATUM_ENV`); the text
/// and GitHub formats point at the column's line; `check` runs the rules
/// when stratum.yaml has `lint:` and fails on an error; an unknown rule or
/// environment is named, with the file's line.
#[tokio::test(flavor = "current_thread")]
async fn silenced_objects_environments_check_and_bad_configuration() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let schema = "CREATE TABLE a (\n    id bigint PRIMARY KEY,\n    created timestamp,\n    \
                  -- stratum: allow timestamp-without-tz (written by a legacy job in UTC)\n    \
                  legacy timestamp\n);\n\n-- stratum: allow table-without-primary-key\nCREATE TABLE log (line text);\n\
                  CREATE TABLE other (line text);\n";
    let dir = project_dir(schema, &[]);
    let p = dir.path();
    std::fs::write(
        p.join("stratum.yaml"),
        "lint:\n  rules:\n    timestamp-without-tz: warn\n  environments:\n    production:\n      \
         timestamp-without-tz: error\n      table-without-comment: warn\n",
    )
    .unwrap();
    let (code, found, _) = lint(p, &env, &[]);
    assert_eq!(code, 0);
    let objects: Vec<&str> = found.iter().map(|(_, _, o)| o.as_str()).collect();
    assert_eq!(
        objects,
        ["column public.a.created", "table public.other"],
        "{found:?}"
    );
    // The production environment: an error, and comments are checked too.
    let (code, found, _) = lint(p, &env, &["--env", "production"]);
    assert_eq!(code, 1);
    assert!(
        found.contains(&(
            "timestamp-without-tz".into(),
            "error".into(),
            "column public.a.created".into()
        )),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(r, _, o)| r == "table-without-comment" && o == "table public.log"),
        "{found:?}"
    );
    let out = stratum_in(
        p,
        &["lint", "--schema", "--format", "github"],
        &[
            ("STRATUM_DEV_URL", dev.as_str()),
            ("STRATUM_ENV", "production"),
        ],
    );
    let github = text(&out.stdout);
    assert!(
        github.contains("::error file=schema/schema.sql,line=3,col=5,title=policy timestamp-without-tz%3A column public.a.created::"),
        "{github}"
    );
    let out = stratum_in(p, &["lint", "--schema"], &env);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("schema/schema.sql:3:5: warn timestamp-without-tz: public.a.created is timestamp without time zone"), "{stdout}");

    // In check: migrations/ builds nothing yet (drift), and the rules run.
    let out = stratum_in(
        p,
        &["check", "--env", "production", "--format", "json"],
        &env,
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(json["policy"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["severity"] == "error"));
    let out = stratum_in(p, &["generate", "--name", "init"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = stratum_in(p, &["check"], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Policy: 0 errors and 2 warnings"),
        "{stderr}"
    );
    let out = stratum_in(p, &["check", "--env", "production"], &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    // Bad configuration: named, at its line, with a suggestion.
    std::fs::write(
        p.join("stratum.yaml"),
        "lint:\n  rules:\n    fk-without-indx: error\n",
    )
    .unwrap();
    let out = stratum_in(p, &["lint", "--schema"], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("stratum.yaml:2: lint.rules: unknown rule `fk-without-indx` (did you mean `fk-without-index`?)"), "{stderr}");
    std::fs::write(
        p.join("stratum.yaml"),
        "lint:\n  rules:\n    naming: loud\n",
    )
    .unwrap();
    let out = stratum_in(p, &["lint", "--schema"], &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("loud"), "{}", text(&out.stderr));
    std::fs::write(p.join("stratum.yaml"), "lint: {}\n").unwrap();
    let out = stratum_in(p, &["lint", "--schema", "--env", "staging"], &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no environment `staging`"),
        "{}",
        text(&out.stderr)
    );
}
