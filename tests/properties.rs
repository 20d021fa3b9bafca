//! Property tests: random pairs of schemas drawn from one small universe of
//! names (so that they overlap: the same table with other columns, the same
//! column with another type, an enum with other values, ...). For each pair,
//! the `before` schema is built in a real database with a few rows in every
//! table, the plan to `after` is applied, the database is read back, and
//! there must be no difference and an empty second plan; then the same from
//! `after` back to `before`. proptest shrinks a failure to a minimal pair.
//!
//! `STRATUM_PROPTEST_CASES=2000 cargo test --test properties` runs a long
//! campaign; the normal run tries a few dozen pairs.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write;

use common::{apply, load, read, TestServer};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use stratum::{diff, plan, render};

/// Column types that convert into each other for the values the rows hold.
const NUMERIC_TYPES: [&str; 5] = ["integer", "bigint", "numeric(10,2)", "text", "varchar(10)"];

/// One column: its name, its type (an index into `NUMERIC_TYPES`, or the
/// enum) and its constraints.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    ty: Option<usize>,
    not_null: bool,
    default: bool,
    unique: bool,
    comment: bool,
}

#[derive(Debug, Clone)]
struct Table {
    name: String,
    columns: Vec<Column>,
    check: bool,
    index: Option<usize>,
    references: Option<usize>,
    comment: bool,
}

#[derive(Debug, Clone)]
struct Schema {
    /// Values of the enum `mood` after 'a', which stays first.
    mood: Vec<&'static str>,
    tables: Vec<Table>,
    /// Per table: a view over it, and whether it lists all columns.
    views: Vec<Option<bool>>,
    sequence: Option<i64>,
}

/// Columns `c0` to `c2` take a type of `NUMERIC_TYPES`, `c3` is a `mood`:
/// the rows' values convert between the types a column may change to.
fn column(name: String) -> impl Strategy<Value = Column> {
    let enum_column = name == "c3";
    (
        (0..NUMERIC_TYPES.len()).prop_map(move |t| (!enum_column).then_some(t)),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
    )
        .prop_map(move |(ty, not_null, default, unique, comment)| {
            // Added to a table with rows, a UNIQUE column must not get one
            // default value in every row, and a NOT NULL column needs one.
            let unique = unique && ty.is_some();
            let default = default && !unique;
            Column {
                name: name.clone(),
                ty,
                not_null: not_null && default,
                default,
                unique,
                comment,
            }
        })
}

fn table(n: usize) -> impl Strategy<Value = Table> {
    let columns: Vec<_> = (0..4).map(|c| column(format!("c{c}"))).collect();
    (
        columns,
        prop::collection::vec(any::<bool>(), 4),
        any::<bool>(),
        prop::option::of(0..4usize),
        prop::option::of(0..n.max(1)),
        prop::bool::weighted(0.3),
    )
        .prop_map(move |(columns, keep, check, index, references, comment)| {
            let columns: Vec<Column> = columns
                .into_iter()
                .zip(keep)
                .filter(|(_, k)| *k)
                .map(|(c, _)| c)
                .collect();
            let index = index.filter(|i| *i < columns.len());
            Table {
                name: format!("t{n}"),
                check: check && columns.first().is_some_and(|c| c.ty.is_some()),
                index,
                // Only to tables made before this one: no cycles.
                references: references.filter(|r| *r < n),
                columns,
                comment,
            }
        })
}

fn schema() -> impl Strategy<Value = Schema> {
    (
        prop::collection::vec(any::<bool>(), 3),
        prop::option::weighted(0.9, table(0)),
        prop::option::weighted(0.8, table(1)),
        prop::option::weighted(0.7, table(2)),
        prop::collection::vec(prop::option::of(any::<bool>()), 3),
        prop::option::of(1..5i64),
    )
        .prop_map(|(mood, t0, t1, t2, views, sequence)| {
            let mood = ["b", "c", "d"]
                .into_iter()
                .zip(mood)
                .filter(|(_, k)| *k)
                .map(|(v, _)| v)
                .collect();
            let mut tables: Vec<Table> = t0.into_iter().collect();
            tables.extend(t1);
            tables.extend(t2);
            // A reference to a table that is not there is dropped.
            let names: BTreeSet<String> = tables.iter().map(|t| t.name.clone()).collect();
            for t in &mut tables {
                t.references = t.references.filter(|r| names.contains(&format!("t{r}")));
            }
            Schema {
                mood,
                tables,
                views,
                sequence,
            }
        })
}

fn type_name(ty: Option<usize>) -> &'static str {
    ty.map_or("mood", |t| NUMERIC_TYPES[t])
}

/// The value row `row` holds in a column of type `ty`.
fn value(ty: Option<usize>, row: usize) -> String {
    match ty {
        Some(_) => format!("'{}'", row + 1),
        None => "'a'".to_string(),
    }
}

impl Schema {
    fn sql(&self) -> String {
        let mut sql = String::new();
        let values: Vec<String> = std::iter::once("a")
            .chain(self.mood.iter().copied())
            .map(|v| format!("'{v}'"))
            .collect();
        writeln!(sql, "CREATE TYPE mood AS ENUM ({});", values.join(", ")).unwrap();
        for t in &self.tables {
            let mut lines = vec!["id integer PRIMARY KEY".to_string()];
            for c in &t.columns {
                let mut line = format!("{} {}", c.name, type_name(c.ty));
                if c.default {
                    write!(line, " DEFAULT {}", value(c.ty, 0)).unwrap();
                }
                if c.not_null {
                    line.push_str(" NOT NULL");
                }
                if c.unique {
                    write!(line, " CONSTRAINT {}_{}_key UNIQUE", t.name, c.name).unwrap();
                }
                lines.push(line);
            }
            if let Some(r) = t.references {
                lines.push(format!("ref_t{r} integer REFERENCES t{r} (id)"));
            }
            if t.check {
                let c = &t.columns[0].name;
                lines.push(format!(
                    "CONSTRAINT {}_short CHECK (length({c}::text) < 100)",
                    t.name
                ));
            }
            writeln!(
                sql,
                "CREATE TABLE {} (\n    {}\n);",
                t.name,
                lines.join(",\n    ")
            )
            .unwrap();
            if let Some(i) = t.index {
                let c = &t.columns[i].name;
                writeln!(sql, "CREATE INDEX {}_{c}_idx ON {} ({c});", t.name, t.name).unwrap();
            }
            if t.comment {
                writeln!(sql, "COMMENT ON TABLE {} IS 'table {}';", t.name, t.name).unwrap();
            }
            for c in t.columns.iter().filter(|c| c.comment) {
                writeln!(
                    sql,
                    "COMMENT ON COLUMN {}.{} IS 'a column';",
                    t.name, c.name
                )
                .unwrap();
            }
        }
        for (t, all) in self.tables.iter().zip(&self.views) {
            let Some(all) = all else { continue };
            let columns: Vec<&str> = std::iter::once("id")
                .chain(
                    t.columns
                        .iter()
                        .take(if *all { 4 } else { 1 })
                        .map(|c| c.name.as_str()),
                )
                .collect();
            writeln!(
                sql,
                "CREATE VIEW {}_view AS SELECT {} FROM {};",
                t.name,
                columns.join(", "),
                t.name
            )
            .unwrap();
        }
        if let Some(increment) = self.sequence {
            writeln!(sql, "CREATE SEQUENCE counter INCREMENT BY {increment};").unwrap();
        }
        sql
    }

    /// Two rows in every table, referenced tables first.
    fn rows(&self) -> String {
        let mut sql = String::new();
        for t in &self.tables {
            let mut columns = vec!["id".to_string()];
            columns.extend(t.columns.iter().map(|c| c.name.clone()));
            if let Some(r) = t.references {
                columns.push(format!("ref_t{r}"));
            }
            let rows: Vec<String> = (0..2)
                .map(|row| {
                    let mut values = vec![(row + 1).to_string()];
                    values.extend(t.columns.iter().map(|c| value(c.ty, row)));
                    if t.references.is_some() {
                        values.push("1".into());
                    }
                    format!("({})", values.join(", "))
                })
                .collect();
            writeln!(
                sql,
                "INSERT INTO {} ({}) VALUES {};",
                t.name,
                columns.join(", "),
                rows.join(", ")
            )
            .unwrap();
        }
        sql
    }
}

/// Builds `from` with rows, plans to `to`, applies, and expects nothing
/// left to do.
async fn converges(
    server: &TestServer,
    n: usize,
    from: &Schema,
    to: &Schema,
) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let (before, after) = (dir.path().join("before.sql"), dir.path().join("after.sql"));
    std::fs::write(&before, from.sql()).unwrap();
    std::fs::write(&after, to.sql()).unwrap();
    let current = server.database(&format!("prop_{n}_current")).await;
    load(&current, &before)
        .await
        .map_err(|e| format!("before.sql does not load: {e:#}\n{}", from.sql()))?;
    current
        .batch_execute(&format!("{}ANALYZE;", from.rows()))
        .await
        .map_err(|e| format!("rows: {e}\n{}", from.rows()))?;
    let target = server.database(&format!("prop_{n}_desired")).await;
    load(&target, &after)
        .await
        .map_err(|e| format!("after.sql does not load: {e:#}\n{}", to.sql()))?;
    let desired = read(&target, false).await;
    let now = read(&current, true).await;
    let first =
        plan::plan(&now, &desired, diff::diff(&now, &desired)).map_err(|e| e.to_string())?;
    let shown = || {
        format!(
            "before:\n{}\nafter:\n{}\nplan:\n{}",
            from.sql(),
            to.sql(),
            render::sql(&first)
        )
    };
    apply(&current, &first)
        .await
        .map_err(|e| format!("the plan does not apply: {e:#}\n{}", shown()))?;
    let again = read(&current, true).await;
    let remaining = diff::diff(&again, &desired);
    if !remaining.is_empty() {
        let second = plan::plan(&again, &desired, remaining).map_err(|e| e.to_string())?;
        return Err(format!(
            "did not converge; second plan:\n{}\n{}",
            render::sql(&second),
            shown()
        ));
    }
    Ok(())
}

#[test]
fn random_schema_pairs_converge_both_ways() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(TestServer::start());
    let cases = std::env::var("STRATUM_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let n = std::cell::Cell::new(0);
    let result = runner.run(&(schema(), schema()), |(a, b)| {
        n.set(n.get() + 1);
        runtime
            .block_on(async {
                converges(&server, 0, &a, &b).await?;
                converges(&server, 1, &b, &a).await
            })
            .map_err(TestCaseError::fail)
    });
    eprintln!("{} schema pairs tried (both ways)", n.get());
    if let Err(e) = result {
        panic!("{e}");
    }
}
