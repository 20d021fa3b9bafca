//! Fuzzing the front end with arbitrary input: the SQL splitter and the
//! statement classifier, the located error reporter, and `stratum.yaml`
//! reading must answer every input with a value or an error, never a panic
//! (nor a crash in the C parser).
//!
//! `STRATUM_FUZZ_SECONDS=600 cargo test --release --test front_end_fuzz`
//! runs a campaign of ten minutes per target (batches of
//! `STRATUM_FUZZ_CASES`, each with a fresh random seed); inputs that once
//! broke something stay below as regression cases.

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use stratum::config::ConfigFile;
use stratum::parse;

fn cases() -> u32 {
    std::env::var("STRATUM_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000)
}

/// Runs `batch` once, or again and again until `STRATUM_FUZZ_SECONDS`
/// have passed, and says how many inputs it tried.
fn campaign(target: &str, mut batch: impl FnMut()) {
    let budget = std::env::var("STRATUM_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs);
    let started = Instant::now();
    let mut batches = 0u64;
    loop {
        batch();
        batches += 1;
        if budget.is_none_or(|b| started.elapsed() >= b) {
            break;
        }
    }
    eprintln!(
        "{target}: {} inputs in {:.0?}, no panic",
        batches * u64::from(cases()),
        started.elapsed()
    );
}

/// SQL-shaped noise: fragments that stress quoting, dollar quotes,
/// comments, psql meta-commands and multi-byte text, in any order.
fn sql_noise() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("CREATE TABLE t (a int);".to_string()),
        Just("'".to_string()),
        Just("''".to_string()),
        Just("E'\\''".to_string()),
        Just("\"".to_string()),
        Just("$$".to_string()),
        Just("$tag$".to_string()),
        Just("/*".to_string()),
        Just("*/".to_string()),
        Just("--".to_string()),
        Just("\n".to_string()),
        Just(";".to_string()),
        Just("\\restrict x\n".to_string()),
        Just("SET search_path = app;".to_string()),
        Just("SELECT pg_catalog.set_config('a', 'b', false);".to_string()),
        Just("CREATE INDEX CONCURRENTLY i ON t (a);".to_string()),
        Just("é€😀".to_string()),
        Just("\u{0}".to_string()),
        "\\PC{0,12}",
        any::<String>(),
    ];
    prop::collection::vec(fragment, 0..24).prop_map(|parts| parts.concat())
}

/// Splits, classifies and reports `text` as a schema file would be.
fn front_end(dir: &Path, text: &str) {
    let path = dir.join("schema.sql");
    std::fs::write(&path, text).unwrap();
    match parse::read_source(&path) {
        Ok(source) => {
            for stmt in &source.statements {
                let _ = parse::outside_transaction(&stmt.sql);
                let _ = parse::char_to_byte(&stmt.sql, stmt.sql.chars().count() + 3);
            }
        }
        Err(e) => {
            let _ = format!("{e:#}");
        }
    }
    let file = parse::read_file(&path).unwrap();
    // Every offset, on a character boundary or not, locates.
    for offset in [0, 1, text.len() / 2, text.len(), text.len() + 5] {
        let error = parse::SqlError {
            location: parse::Location::at(&file, offset),
            message: "m".into(),
        };
        let _ = error.to_string();
    }
}

#[test]
fn sql_front_end_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    campaign("sql front end", || {
        runner()
            .run(&sql_noise(), |text| {
                front_end(dir.path(), &text);
                Ok(())
            })
            .unwrap()
    });
}

/// A runner with a fresh random seed.
fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// YAML-shaped noise around stratum.yaml's keys.
fn yaml_noise() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("schema"),
        Just("migrations"),
        Just("layout"),
        Just("dev_url"),
        Just("include_schemas"),
        Just("exclude_objects"),
        Just("allow_hazards"),
        Just("history_table"),
        Just("strict"),
        Just("allow_major_mismatch"),
        Just("unknown"),
    ];
    let value = prop_oneof![
        Just("x".to_string()),
        Just("[a, b]".to_string()),
        Just("{a: 1}".to_string()),
        Just("true".to_string()),
        Just("- 1\n  - 2".to_string()),
        Just("&a x".to_string()),
        Just("*a".to_string()),
        Just("!!binary aGk=".to_string()),
        Just("\"\\u00e9\"".to_string()),
        "\\PC{0,10}",
    ];
    prop::collection::vec((key, value, "[ \t]{0,3}"), 0..8).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(k, v, pad)| format!("{pad}{k}: {v}\n"))
            .collect()
    })
}

#[test]
fn stratum_yaml_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stratum.yaml");
    campaign("stratum.yaml", || {
        runner()
            .run(&prop_oneof![yaml_noise(), any::<String>()], |text| {
                std::fs::write(&path, &text).unwrap();
                if let Err(e) = ConfigFile::read(&path) {
                    let _ = format!("{e:#}");
                }
                Ok(())
            })
            .unwrap()
    });
}

/// Inputs kept from campaigns: each once reached an edge of the front end.
#[test]
fn regression_inputs() {
    let dir = tempfile::tempdir().unwrap();
    for text in [
        "",
        ";",
        "$$",
        "'",
        "/*",
        "\\restrict",
        "CREATE TABLE é (a int",
        "SELECT 1; $a$ unterminated",
        "\u{0}",
        "--\n;\n--",
    ] {
        front_end(dir.path(), text);
    }
}
