//! Fleets as users run them: `migrate` rolled out over 200 databases on two
//! servers (the test starts both) with a canary, waves, `--jobs` and
//! `--max-failures`, one database made to fail, and the second run that
//! finishes the rest; `apply` over stratum.yaml's fleet groups; SIGINT
//! in the middle of a rollout under `migrate` and `apply`: running
//! databases cancelled and rolled back, none started after, the report
//! saying which finished.

mod common;

use std::time::Duration;

use common::{spawn_in, stratum_in, text, wait_for, TestServer};
use tokio_postgres::Client;

const SCHEMA: &str = "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n\
                      CREATE INDEX users_email ON users (email);\n";

const MIGRATIONS: &[(&str, &str)] = &[
    (
        "20261201000000_users.sql",
        "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n",
    ),
    (
        "20261202000000_email.sql",
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n\
         CREATE INDEX users_email ON users (email);\n",
    ),
];

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)))
}

/// The `status` of each target of a fleet report, by name.
fn statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn applied_versions(client: &Client) -> Vec<String> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('public.stratum_migrations') IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    if !exists {
        return Vec::new();
    }
    common::strings(
        client,
        "SELECT version FROM public.stratum_migrations WHERE failed_statement IS NULL ORDER BY 1",
    )
    .await
}

async fn has_table(client: &Client, name: &str) -> bool {
    client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .await
        .unwrap()
        .get(0)
}

/// 200 databases, alternately on two servers: a canary, a wave of one, a
/// wave of 10 %, the rest; 8 at a time, at most 4 per server. The 11th
/// database already has a `users` table, so its first migration fails: the
/// rollout starts nothing after it (`--max-failures 1`), the report names
/// it and the databases never started are untouched. Once it is fixed, the
/// same command finishes the rest and skips the done ones by their
/// history; `status` and `check` over the fleet agree.
#[tokio::test(flavor = "current_thread")]
async fn a_rollout_over_two_hundred_databases_on_two_servers_stops_and_resumes() {
    let servers = [TestServer::start().await, TestServer::start().await];
    let dir = common::project_dir(SCHEMA, MIGRATIONS);
    let p = dir.path();
    let dev = servers[0].url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let failing = 10;
    let mut list = String::from("# tenant databases: URL name=... tags=...\n");
    // Connections are opened when needed: 100 at once would exceed a
    // server's max_connections.
    let connect = |n: usize| servers[n % 2].connect_owned(format!("tenant_{n:03}"));
    for n in 0..200 {
        let name = format!("tenant_{n:03}");
        let server = &servers[n % 2];
        let client = server.database(&name).await;
        if n == failing {
            client
                .batch_execute("CREATE TABLE users (id int)")
                .await
                .unwrap();
        }
        list.push_str(&format!(
            "{} name={name} tags=server{}\n",
            server.url(&name),
            n % 2
        ));
    }
    std::fs::write(p.join("tenants.txt"), &list).unwrap();
    let args = [
        "migrate",
        "--db-list",
        "tenants.txt",
        "--canary",
        "1",
        "--waves",
        "1,10%,rest",
        "--jobs",
        "8",
        "--per-server",
        "4",
        "--max-failures",
        "1",
        "--format",
        "json",
    ];
    let out = stratum_in(p, &args, &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let report = json(&out);
    let waves: Vec<(String, usize)> = report["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["label"].as_str().unwrap().to_string(),
                w["members"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        waves,
        [
            ("canary".to_string(), 1),
            ("wave 1 (1)".to_string(), 1),
            ("wave 2 (10%)".to_string(), 20),
            ("wave 3 (rest)".to_string(), 178),
        ]
    );
    let first = statuses(&report);
    assert_eq!(first[0], ("tenant_000".into(), "done".into()));
    assert_eq!(first[1], ("tenant_001".into(), "done".into()));
    assert_eq!(first[failing], ("tenant_010".into(), "failed".into()));
    let failed = &report["targets"][failing];
    assert!(
        failed["error"].as_str().unwrap().contains("already exists"),
        "{failed}"
    );
    assert_eq!(report["failed"], 1);
    assert_eq!(report["stopped"]["reason"], "failures");
    // Nothing of wave 3 started; of wave 2, what had started before the
    // failure finished (at most `jobs` after it), the rest did not start.
    for (n, (name, status)) in first.iter().enumerate().skip(22) {
        assert_eq!(status, "not-started", "{name}");
        let client = connect(n).await;
        assert!(applied_versions(&client).await.is_empty(), "{name}");
        assert!(!has_table(&client, "users").await, "{name}");
    }
    let mut done_first = Vec::new();
    for (n, (name, status)) in first.iter().enumerate() {
        let versions = applied_versions(&connect(n).await).await;
        match status.as_str() {
            "done" => {
                assert_eq!(versions.len(), 2, "{name}");
                done_first.push(name.clone());
            }
            "failed" | "not-started" => assert!(versions.is_empty(), "{name}: {versions:?}"),
            other => panic!("{name}: {other}"),
        }
    }
    // Nothing started once the rollout saw the failure and stopped.
    let stopped = report["stopped_ms"].as_u64().expect("when it stopped");
    for t in report["targets"].as_array().unwrap() {
        if let Some(at) = t["started_ms"].as_u64() {
            assert!(
                at <= stopped,
                "{} started at {at} ms, after {stopped} ms",
                t["name"]
            );
        }
    }
    assert!(stderr.contains("tenant_010 failed ("), "{stderr}");
    assert!(
        stderr.contains("stopped: 1 database failed (--max-failures)"),
        "{stderr}"
    );
    // The failed database's first migration rolled back: only its own table.
    let broken = connect(failing).await;
    assert!(applied_versions(&broken).await.is_empty());

    // Fixed, the same command goes on: the done ones are up to date.
    broken.batch_execute("DROP TABLE users").await.unwrap();
    let out = stratum_in(p, &args, &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let second = statuses(&json(&out));
    for (name, status) in &second {
        let want = if done_first.contains(name) {
            "up-to-date"
        } else {
            "done"
        };
        assert_eq!(status, want, "{name}");
    }
    for n in 0..200 {
        let versions = applied_versions(&connect(n).await).await;
        assert_eq!(versions.len(), 2, "tenant_{n:03}");
    }
    // The list from stdin.
    let mut status = std::process::Command::new(env!("CARGO_BIN_EXE_stratum"))
        .args(["status", "--db-list", "-"])
        .current_dir(p)
        .envs(env)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    status
        .stdin
        .take()
        .unwrap()
        .write_all(list.as_bytes())
        .unwrap();
    let out = status.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("200 databases: 200 up to date"),
        "{}",
        text(&out.stderr)
    );
    let out = stratum_in(p, &["check", "--db-list", "tenants.txt"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// `apply` over stratum.yaml's fleet groups (one from a list file, one
/// from environment variables), a wave per group, asked nothing with
/// --yes; `check --fleet` then agrees, and a second apply finds every
/// database up to date. A group variable that is not set is named.
#[tokio::test(flavor = "current_thread")]
async fn apply_over_the_groups_of_stratum_yaml() {
    let server = TestServer::start().await;
    let dir = common::project_dir(SCHEMA, &[]);
    let p = dir.path();
    let dev = server.url("postgres");
    let mut list = String::new();
    for n in 0..3 {
        let name = format!("eu_{n}");
        server.database(&name).await;
        list.push_str(&format!("{} name={name}\n", server.url(&name)));
    }
    std::fs::write(p.join("eu.txt"), list).unwrap();
    let mut env = vec![("STRATUM_DEV_URL".to_string(), dev.clone())];
    for n in 0..2 {
        let name = format!("us_{n}");
        let client = server.database(&name).await;
        if n == 1 {
            // Half way there: its plan is another one.
            client
                .batch_execute("CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)")
                .await
                .unwrap();
        }
        env.push((format!("STRATUM_TEST_US_{n}"), server.url(&name)));
    }
    std::fs::write(
        p.join("stratum.yaml"),
        "fleet:\n  jobs: 2\n  waves: groups\n  groups:\n    - name: eu\n      list: eu.txt\n    \
         - name: us\n      tags: [us]\n      databases:\n        - {name: us_0, url_env: STRATUM_TEST_US_0}\n        \
         - {name: us_1, url_env: STRATUM_TEST_US_1}\n",
    )
    .unwrap();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // The review: each distinct plan once, with its databases.
    let out = stratum_in(p, &["plan", "--fleet", "--format", "json"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plans = json(&out)["plans"].clone();
    let grouped: Vec<(&str, Vec<&str>, usize)> = plans
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["label"].as_str().unwrap(),
                g["databases"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap())
                    .collect(),
                g["statements"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        grouped,
        [
            ("plan A", vec!["eu_0", "eu_1", "eu_2", "us_0"], 2),
            ("plan B", vec!["us_1"], 1)
        ]
    );
    let out = stratum_in(p, &["plan", "--fleet"], &env);
    assert!(
        text(&out.stderr).contains("4 databases: plan A; 1 database: plan B; 2 distinct plans"),
        "{}",
        text(&out.stderr)
    );
    let out = stratum_in(p, &["apply", "--fleet"], &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("pass --yes"),
        "{}",
        text(&out.stderr)
    );
    let out = stratum_in(p, &["apply", "--fleet", "--yes", "--format", "json"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    let waves: Vec<&str> = report["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["label"].as_str().unwrap())
        .collect();
    assert_eq!(waves, ["group eu", "group us"]);
    for (name, status) in statuses(&report) {
        assert_eq!(status, "done", "{name}");
    }
    assert_eq!(report["targets"][3]["group"], "us");
    assert_eq!(report["targets"][3]["ran"], 2);
    assert_eq!(report["targets"][4]["ran"], 1);
    for n in 0..3 {
        let client = server.connect(&format!("eu_{n}")).await;
        assert!(has_table(&client, "users").await);
    }
    let out = stratum_in(p, &["check", "--fleet"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = stratum_in(
        p,
        &["apply", "--fleet", "us", "--yes", "--format", "json"],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    assert_eq!(
        statuses(&report),
        [
            ("us_0".to_string(), "up-to-date".to_string()),
            ("us_1".to_string(), "up-to-date".to_string())
        ]
    );
    let missing = [("STRATUM_DEV_URL", dev.as_str())];
    let out = stratum_in(p, &["status", "--fleet"], &missing);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("STRATUM_TEST_US_0 is not set"),
        "{}",
        text(&out.stderr)
    );
}

/// A migration and a schema whose statement sleeps in databases named
/// `slow_*` only.
const SLEEPS: &str = "CREATE FUNCTION nap() RETURNS boolean LANGUAGE sql AS \
    $$ SELECT current_database() NOT LIKE 'slow%' OR (SELECT true FROM pg_sleep(600)) $$;\n";

/// SIGINT while a rollout runs, under `migrate` and `apply`: fast
/// databases first (done), then two that sleep in their statement (running
/// when the signal comes), then more. The sleeping ones are cancelled on
/// the server and roll back, none starts after the signal, and the report
/// says which finished; exit 1.
#[tokio::test(flavor = "current_thread")]
async fn sigint_mid_rollout_cancels_the_running_databases_under_migrate_and_apply() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let names = [
        "fast_0", "fast_1", "fast_2", "slow_0", "slow_1", "fast_3", "fast_4",
    ];
    let migration = format!("{SLEEPS}CREATE TABLE users (id bigint PRIMARY KEY);\nSELECT nap();\n");
    let schema = format!(
        "{SLEEPS}CREATE TABLE users (id bigint PRIMARY KEY, CONSTRAINT awake CHECK (nap()));\n"
    );
    for command in ["migrate", "apply"] {
        let dir = common::project_dir(&schema, &[("20261201000000_users.sql", migration.as_str())]);
        let p = dir.path();
        let mut list = String::new();
        let mut clients = Vec::new();
        for name in names {
            let client = server.database(name).await;
            if command == "apply" {
                // apply adds the CHECK to a table with a row: it calls nap().
                client
                    .batch_execute(&format!(
                        "{SLEEPS}CREATE TABLE users (id bigint PRIMARY KEY);\n\
                         INSERT INTO users VALUES (1);"
                    ))
                    .await
                    .unwrap();
            }
            list.push_str(&format!("{} name={name}\n", server.url(name)));
            clients.push(client);
        }
        std::fs::write(p.join("fleet.txt"), list).unwrap();
        let mut args = vec![
            command,
            "--db-list",
            "fleet.txt",
            "--jobs",
            "2",
            "--format",
            "json",
        ];
        if command == "apply" {
            args.extend([
                "--yes",
                "--allow-hazards",
                "full-table-scan",
                "--no-pre-checks",
                "--no-proof",
            ]);
        }
        let run = spawn_in(p, &args, &env);
        let watcher = server.connect("postgres").await;
        wait_for(
            "both slow databases asleep",
            Duration::from_secs(120),
            || async {
                let rows = watcher
                    .query(
                        "SELECT 1 FROM pg_stat_activity WHERE datname LIKE 'slow%' \
                         AND wait_event = 'PgSleep'",
                        &[],
                    )
                    .await
                    .unwrap();
                rows.len() == 2
            },
        )
        .await;
        unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
        let out = run.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        let report = json(&out);
        assert_eq!(
            statuses(&report),
            [
                ("fast_0".to_string(), "done".to_string()),
                ("fast_1".to_string(), "done".to_string()),
                ("fast_2".to_string(), "done".to_string()),
                ("slow_0".to_string(), "cancelled".to_string()),
                ("slow_1".to_string(), "cancelled".to_string()),
                ("fast_3".to_string(), "not-started".to_string()),
                ("fast_4".to_string(), "not-started".to_string()),
            ],
            "{command}: {stderr}"
        );
        assert_eq!(report["stopped"]["reason"], "interrupted", "{command}");
        assert!(
            stderr.contains("stopped: interrupted"),
            "{command}: {stderr}"
        );
        // Nothing sleeps on: the cancel reached the server.
        let asleep = watcher
            .query(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'",
                &[],
            )
            .await
            .unwrap();
        assert!(asleep.is_empty(), "{command}");
        for (name, client) in names.iter().zip(&clients) {
            // apply's CHECK is added NOT VALID and validated in a step of
            // its own: the validation is what a signal cancels.
            let validated: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_constraint WHERE conname = 'awake' AND convalidated",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            let changed = match command {
                "migrate" => has_table(client, "users").await,
                _ => validated == 1,
            };
            let finished = ["fast_0", "fast_1", "fast_2"].contains(name);
            assert_eq!(changed, finished, "{command} {name}");
            if command == "migrate" {
                let versions = applied_versions(client).await;
                assert_eq!(versions.len(), usize::from(changed), "{name}");
            }
        }
    }
}

/// Schema per tenant: 100 tenant schemas in one database, `schema/` holding
/// a tenant's objects once in the placeholder schema `tenant` beside a
/// shared table. `generate` writes the migration once; `migrate` runs the
/// shared part once and the tenant part into each tenant schema (each with
/// its own history), in waves; `check` reads every tenant and names the
/// one that drifted; `plan` groups the tenants by their plan; `apply`
/// puts the drifted one back; a second generate + migrate of a new column
/// reaches every tenant; the tenants may also come from a query.
#[tokio::test(flavor = "current_thread")]
async fn schema_per_tenant_in_one_database() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let schema = "CREATE TABLE public.plans (id int PRIMARY KEY, name text NOT NULL);\n\
                  CREATE SCHEMA tenant;\n\
                  CREATE TABLE tenant.users (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    \
                  email text NOT NULL,\n    plan int REFERENCES public.plans\n);\n\
                  CREATE INDEX users_email ON tenant.users (email);\n\
                  CREATE VIEW tenant.paying AS SELECT id, email FROM tenant.users WHERE plan IS NOT NULL;\n";
    let dir = common::project_dir(schema, &[]);
    let p = dir.path();
    std::fs::write(
        p.join("stratum.yaml"),
        "tenants:\n  placeholder: tenant\n  schemas: tenant_*\n",
    )
    .unwrap();
    let out = stratum_in(p, &["generate", "--name", "init"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let db = server.database("saas").await;
    let url = server.url("saas");
    let mut create = String::new();
    for n in 1..=100 {
        create.push_str(&format!("CREATE SCHEMA tenant_{n:03};\n"));
    }
    db.batch_execute(&create).await.unwrap();

    let args = [
        "migrate", "--db", &url, "--canary", "1", "--waves", "10%,rest", "--jobs", "8", "--format",
        "json",
    ];
    let out = stratum_in(p, &args, &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    let all = statuses(&report);
    assert_eq!(all.len(), 101);
    assert_eq!(all[0], ("shared".to_string(), "done".to_string()));
    assert!(all.iter().all(|(_, s)| s == "done"), "{all:?}");
    assert_eq!(report["waves"][0]["label"], "shared parts");
    assert_eq!(report["waves"][1]["label"], "canary");
    assert_eq!(report["targets"][1]["part"]["tenant"], "tenant_001");
    let count = |sql: &'static str| {
        let db = &db;
        async move { db.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(
        count("SELECT count(*) FROM pg_tables WHERE tablename = 'users' AND schemaname LIKE 'tenant\\_%'").await,
        100
    );
    assert_eq!(
        count("SELECT count(*) FROM pg_tables WHERE tablename = 'plans'").await,
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM pg_tables WHERE tablename = 'stratum_migrations'").await,
        101
    );
    // Each tenant's key refers to the shared table, its view to its table.
    db.batch_execute(
        "INSERT INTO public.plans VALUES (1, 'pro');\n\
         INSERT INTO tenant_007.users (email, plan) VALUES ('a@b.c', 1);",
    )
    .await
    .unwrap();
    assert_eq!(count("SELECT count(*) FROM tenant_007.paying").await, 1);
    assert_eq!(count("SELECT count(*) FROM tenant_008.paying").await, 0);

    let out = stratum_in(p, &["check", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("101 targets: 101 match the schema"),
        "{}",
        text(&out.stderr)
    );
    db.batch_execute("ALTER TABLE tenant_042.users ADD COLUMN legacy text")
        .await
        .unwrap();
    let out = stratum_in(p, &["check", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let drifted: Vec<&str> = stdout.lines().filter(|l| l.contains("drift ")).collect();
    assert_eq!(drifted.len(), 1, "{stdout}");
    assert!(
        drifted[0].starts_with("tenant_042") && drifted[0].contains("table tenant_042.users"),
        "{stdout}"
    );

    // The review: one group for the 100 in place, one plan for the drifted.
    let out = stratum_in(p, &["plan", "--db", &url, "--format", "json"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plans = json(&out)["plans"].clone();
    assert_eq!(plans[0]["label"], "no changes");
    assert_eq!(plans[0]["databases"].as_array().unwrap().len(), 100);
    assert_eq!(plans[1]["databases"], serde_json::json!(["tenant_042"]));
    assert_eq!(
        plans[1]["statements"],
        serde_json::json!(["ALTER TABLE tenant.users DROP COLUMN legacy;"])
    );
    let out = stratum_in(
        p,
        &[
            "apply",
            "--db",
            &url,
            "--yes",
            "--allow-hazards",
            "data-loss",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = stratum_in(p, &["check", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    // A new column: generated once, migrated into every tenant.
    let schema = schema.replace(
        "email text NOT NULL,",
        "email text NOT NULL,\n    phone text,",
    );
    std::fs::write(p.join("schema/schema.sql"), schema).unwrap();
    let out = stratum_in(p, &["generate", "--name", "phone"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let phones = "SELECT count(*) FROM information_schema.columns WHERE column_name = 'phone'";
    let dry = ["migrate", "--db", &url, "--dry-run", "--format", "json"];
    let out = stratum_in(p, &dry, &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out)["would_run"], 101);
    assert_eq!(count(phones).await, 0);
    let out = stratum_in(p, &["migrate", "--db", &url, "--jobs", "8"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(count(phones).await, 100);
    let out = stratum_in(p, &["check", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = stratum_in(p, &["status", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // One tenant's history is marked on its own (--tenant).
    let mut versions: Vec<String> = std::fs::read_dir(p.join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".down.sql"))
        .map(|n| n.split('_').next().unwrap().to_string())
        .collect();
    versions.sort();
    let latest = versions.last().unwrap().as_str();
    let out = stratum_in(p, &["resolve", "--db", &url, "--rolled-back", latest], &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--tenant SCHEMA"),
        "{}",
        text(&out.stderr)
    );
    let mark = |how: &'static str| {
        [
            "resolve",
            "--db",
            url.as_str(),
            how,
            latest,
            "--tenant",
            "tenant_005",
        ]
    };
    let out = stratum_in(p, &mark("--rolled-back"), &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = stratum_in(p, &["status", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(1));
    let pending: Vec<String> = text(&out.stdout)
        .lines()
        .skip(1)
        .filter(|l| l.contains("pending "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(pending, ["tenant_005"]);
    let out = stratum_in(p, &mark("--applied"), &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Down reverts it in every tenant, the drop approved for the run.
    let args = [
        "down",
        "--db",
        &url,
        "--jobs",
        "8",
        "--allow-hazards",
        "data-loss",
    ];
    let out = stratum_in(p, &args, &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(count(phones).await, 0);
    assert_eq!(
        count("SELECT count(*) FROM tenant_100.stratum_migrations").await,
        1
    );
    let out = stratum_in(p, &["migrate", "--db", &url], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Tenants from a query: the first 99 only.
    std::fs::write(
        p.join("stratum.yaml"),
        "tenants:\n  placeholder: tenant\n  query: SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant_0%'\n",
    )
    .unwrap();
    let out = stratum_in(p, &["status", "--db", &url, "--format", "json"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out)["databases"].as_array().unwrap().len(), 100);
}

/// On a terminal the rollout is a live table, a line per wave; through a
/// pipe it is plain lines (the other tests), with no control characters.
#[tokio::test(flavor = "current_thread")]
async fn on_a_terminal_each_wave_is_a_live_line() {
    let server = TestServer::start().await;
    let dir = common::project_dir(SCHEMA, MIGRATIONS);
    let p = dir.path();
    let mut list = String::new();
    for n in 0..4 {
        let name = format!("live_{n}");
        server.database(&name).await;
        list.push_str(&format!("{} name={name}\n", server.url(&name)));
    }
    std::fs::write(p.join("live.txt"), list).unwrap();
    let command = format!(
        "{} migrate --db-list live.txt --canary 1 --jobs 2",
        env!("CARGO_BIN_EXE_stratum")
    );
    // util-linux's script(1) runs it under a pseudo-terminal.
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(p)
        .env_remove("DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script(1) from util-linux runs the command under a pseudo-terminal");
    let seen = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{seen}");
    assert!(
        seen.contains("canary") && seen.contains("wave 1 (rest)"),
        "{seen}"
    );
    assert!(seen.contains("1/1") && seen.contains("3/3"), "{seen}");
    assert!(seen.contains("finished"), "{seen}");
    assert!(seen.contains("\u{1b}["), "no control characters: {seen}");
    assert!(seen.contains("migrate 4 databases: 4 done"), "{seen}");
    // Through a pipe: lines, no escape codes.
    let out = stratum_in(p, &["migrate", "--db-list", "live.txt"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let piped = text(&out.stderr);
    assert!(piped.contains("[+") && !piped.contains('\u{1b}'), "{piped}");
}
