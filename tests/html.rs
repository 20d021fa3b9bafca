//! `--format html` and `--format dot`: the page a reviewer opens, loaded in
//! a real headless browser (Debian's `chromium`), and the raw graph.

mod common;

use std::path::Path;
use std::process::Command;

use common::{project_dir, stratum_in, text, TestServer};

/// The headless browser, or a failure that says how to get one.
fn chromium() -> &'static str {
    let found = Command::new("chromium").arg("--version").output();
    match found {
        Ok(out) if out.status.success() => "chromium",
        _ => panic!(
            "this test opens the HTML page in a real browser: install Debian's chromium \
             (`sudo apt-get install -y chromium`; `./run test` installs it)"
        ),
    }
}

/// Loads `page` in headless chromium: (its DOM after loading, the console
/// lines it logged). A screenshot goes to `shot` when given.
fn open(page: &Path, shot: Option<&Path>) -> (String, Vec<String>) {
    let url = format!("file://{}", page.display());
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--enable-logging=stderr",
        "--v=0",
    ];
    let out = Command::new(chromium())
        .args(common)
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let console = text(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    if let Some(shot) = shot {
        let out = Command::new(chromium())
            .args(common)
            .args([
                "--hide-scrollbars",
                "--window-size=1300,1500",
                &format!("--screenshot={}", shot.display()),
                &url,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    (text(&out.stdout), console)
}

/// A plan with hazards, a view dropped and made again because the type of
/// a column it reads changes, and objects in two schemas, as one page: it
/// loads in chromium without a console message (its Content-Security-
/// Policy would log any request it tried), its graph has one node per
/// changed object (as many as `--format dot` has), each object shows its
/// definition before and after, and the forcing edge is marked. The
/// screenshot is kept in target/stratum-artifacts/plan.png.
#[tokio::test(flavor = "current_thread")]
async fn the_html_plan_opens_in_a_browser_with_its_graph() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let db = server.database("paged").await;
    db.batch_execute(
        "CREATE SCHEMA app; CREATE SCHEMA billing;\n\
         CREATE TABLE app.users (id bigint PRIMARY KEY, email varchar(80) NOT NULL, legacy int);\n\
         CREATE INDEX hotfix_1 ON app.users (legacy);\n\
         CREATE VIEW app.emails AS SELECT id, email FROM app.users;\n\
         CREATE TABLE billing.invoices (id bigint PRIMARY KEY, user_id bigint);\n\
         INSERT INTO app.users SELECT g, 'u' || g || '@x', g FROM generate_series(1, 500) g;",
    )
    .await
    .unwrap();
    let dir = project_dir(
        "CREATE SCHEMA app;\nCREATE SCHEMA billing;\n\
         CREATE TABLE app.users (id bigint PRIMARY KEY, email text NOT NULL);\n\
         CREATE VIEW app.emails AS SELECT id, email FROM app.users;\n\
         CREATE TABLE billing.invoices (id bigint PRIMARY KEY, user_id bigint REFERENCES app.users, \
           total numeric(12,2) NOT NULL DEFAULT 0);\n\
         CREATE TABLE billing.payments (id bigint PRIMARY KEY, invoice_id bigint REFERENCES billing.invoices);\n",
        &[],
    );
    let p = dir.path();
    let url = server.url("paged");
    let page = p.join("plan.html");
    let out = stratum_in(
        p,
        &[
            "plan",
            "--db",
            &url,
            "--format",
            "html",
            "--out",
            "plan.html",
        ],
        &env,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Wrote the page to plan.html."), "{stderr}");
    // `--out` wrote the page, not a saved plan.
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");

    let out = stratum_in(p, &["plan", "--db", &url, "--format", "dot"], &env);
    let dot = text(&out.stdout);
    assert!(dot.starts_with("digraph plan {"), "{dot}");
    let nodes = dot
        .lines()
        .filter(|l| l.trim_start().starts_with('n') && l.contains("[label="))
        .count();
    let objects = [
        "table app.users",
        "view app.emails",
        "table billing.invoices",
        "table billing.payments",
    ];
    assert_eq!(nodes, objects.len(), "{dot}");
    assert!(dot.contains("label=\"forces recreate\""), "{dot}");

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/stratum-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("plan.png");
    let _ = std::fs::remove_file(&shot);
    let (dom, console) = open(&page, Some(&shot));
    assert_eq!(
        console,
        Vec::<String>::new(),
        "the page logged to the console"
    );
    assert_eq!(dom.matches("<svg").count(), 1, "{dom}");
    assert_eq!(dom.matches("class=\"node ").count(), objects.len(), "{dom}");
    for object in objects {
        assert!(
            dom.contains(&format!("data-object=\"{object}\"")),
            "{object}"
        );
    }
    assert!(dom.contains("class=\"edge forced\""), "{dom}");
    // Coloured by what the plan does to the object itself: a table whose
    // columns are dropped is altered, not dropped.
    for (class, object) in [
        ("alter hazard", "table app.users"),
        ("alter", "view app.emails"),
        ("create", "table billing.payments"),
        ("alter hazard", "table billing.invoices"),
    ] {
        let node = format!("class=\"node {class}\" data-object=\"{object}\"");
        assert!(dom.contains(&node), "{node}\n{dom}");
    }
    // Hazards, before and after, the order.
    assert!(
        dom.contains("<span class=\"hazard\">data-loss</span>"),
        "{dom}"
    );
    assert!(
        dom.contains("<pre class=\"del\">    email character varying(80) NOT NULL,</pre>"),
        "{dom}"
    );
    assert!(
        dom.contains("<pre class=\"ins\">    email text NOT NULL,</pre>"),
        "{dom}"
    );
    assert!(dom.contains("id=\"step-1\""), "{dom}");
    // Nothing on the page can reach the network: no URL but SVG's namespace.
    let urls = html.matches("http://").count() + html.matches("https://").count();
    assert_eq!(
        urls,
        html.matches("http://www.w3.org/2000/svg").count(),
        "{html}"
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

/// A plan of 600 steps over four schemas stays readable: its graph is drawn
/// schema by schema, each drawing within the page's limit, objects folded,
/// and the page still loads without a console message.
#[tokio::test(flavor = "current_thread")]
async fn a_large_plan_is_drawn_schema_by_schema() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let mut schema = String::new();
    for s in 0..4 {
        schema.push_str(&format!("CREATE SCHEMA s{s};\n"));
        for t in 0..50 {
            schema.push_str(&format!(
                "CREATE TABLE s{s}.t{t} (id bigint PRIMARY KEY, parent bigint{});\n\
                 CREATE INDEX t{t}_parent ON s{s}.t{t} (parent);\n",
                if t > 0 {
                    format!(" REFERENCES s{s}.t{}", t - 1)
                } else {
                    String::new()
                }
            ));
        }
    }
    let dir = project_dir(&schema, &[]);
    let p = dir.path();
    let out = stratum_in(
        p,
        &[
            "diff", "--from", "empty", "--to", "schema/", "--format", "html",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = p.join("big.html");
    std::fs::write(&page, &out.stdout).unwrap();
    let (dom, console) = open(&page, None);
    assert_eq!(console, Vec::<String>::new());
    assert!(
        dom.contains("204 objects: drawn schema by schema"),
        "{}",
        &dom[..2000.min(dom.len())]
    );
    assert_eq!(dom.matches("<svg").count(), 4);
    // The 200 tables and the 4 schemas.
    assert_eq!(dom.matches("class=\"node ").count(), 204);
    assert!(
        dom.contains("<details class=\"object create\" id=\"object-"),
        "objects folded"
    );
}

/// `generate --summary` says what the next migration would do and writes
/// nothing: as a pull request comment with `--format markdown`, as the
/// page with `--format html` (which loads in the browser like a plan's).
#[tokio::test(flavor = "current_thread")]
async fn generate_summary_writes_nothing() {
    let server = TestServer::start().await;
    let dev = server.url("postgres");
    let env = [("STRATUM_DEV_URL", dev.as_str())];
    let dir = project_dir(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n\
         CREATE INDEX users_email ON users (email);\n",
        &[],
    );
    let p = dir.path();
    let out = stratum_in(p, &["generate", "--summary", "--format", "markdown"], &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let markdown = text(&out.stdout);
    assert!(
        markdown.starts_with(
            "<!-- stratum -->\n### stratum generate --summary: `migrations/` → `schema/`\n\n**+1 index, +1 table**"
        ),
        "{markdown}"
    );
    assert!(stderr.contains("Nothing written"), "{stderr}");
    let out = stratum_in(p, &["generate", "--summary", "--format", "html"], &env);
    assert_eq!(out.status.code(), Some(0));
    let page = p.join("summary.html");
    std::fs::write(&page, &out.stdout).unwrap();
    let (dom, console) = open(&page, None);
    assert_eq!(console, Vec::<String>::new());
    assert_eq!(dom.matches("class=\"node ").count(), 1, "{dom}");
    assert_eq!(std::fs::read_dir(p.join("migrations")).unwrap().count(), 0);
    // Without --summary it writes the migration, and the page is of it.
    let out = stratum_in(p, &["generate", "--format", "html"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let html = text(&out.stdout);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        html.contains("stratum generate: migrations/ → schema/"),
        "{html}"
    );
    assert_eq!(std::fs::read_dir(p.join("migrations")).unwrap().count(), 2);
}
