//! Proven plans: before a plan touches a database, it runs on a copy.
//!
//! The current schema is built in a scratch database, a few generated rows
//! go into every table (typed, within constraints, foreign keys pointing at
//! rows seeded before), and the plan runs there exactly as `apply` runs it.
//! The proof then requires:
//! - the copy to read back as the desired schema (no difference);
//! - every seeded row to be there still, unless a step on its table carries
//!   `data-loss`;
//! - every table whose storage was rewritten (`relfilenode` changed) to have
//!   a step that declared `table-rewrite`: the hazard list itself is checked.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use anyhow::{bail, Result};
use tokio_postgres::Client;

use crate::diff;
use crate::execute::{RunStep, Script};
use crate::filter::Filter;
use crate::kinds::{Catalog, QualName};
use crate::load::{self, Scratch, Side};
use crate::plan::HazardCode;

/// What a proof did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Proven {
    /// Rows seeded, in how many tables.
    pub rows: u64,
    /// Tables that took seeded rows.
    pub tables: usize,
    /// How long the proof took.
    pub ms: u128,
    /// Tables left without rows, each with why: no generated row was
    /// accepted, or their seeded rows broke a rule the plan adds (real rows
    /// may not).
    pub unseeded: Vec<String>,
    /// Where the rows came from when they were sampled from a database
    /// (`--prove-with-sample`), not generated.
    pub sampled_from: Option<String>,
}

/// Real rows for a proof: sampled from the database at `url` (as
/// `rehearse` samples them) instead of generated.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// The database to sample.
    pub url: &'a str,
    /// How.
    pub sampling: &'a crate::rehearse::copy::Sampling,
}

/// Rows tried per table.
const ROWS: i64 = 3;

/// Proves the plan `steps` from the state `build` makes to `desired`
/// (filtered with `filter`, as the plan's sides were); without `desired`
/// (a saved plan whose schema changed since), rows and rewrites only.
/// `built`, when given, is a scratch database that already holds that state
/// (the one the plan's current side was read from): the first try runs
/// there instead of building it again. `copy` says what the copy is of, in
/// messages (`the database`, `what migrations/ builds`). `applying` is the
/// role that read the plan's current side: the role that reads the copy
/// stands for it there, so that owners compare as on the target.
#[allow(clippy::too_many_arguments)]
pub async fn prove(
    build: &Side,
    steps: &[RunStep],
    desired: Option<&Catalog>,
    applying: &str,
    major: u32,
    filter: &Filter,
    scratch: &Scratch,
    mut built: Option<load::Built>,
    copy: &str,
    sample: Option<Sample<'_>>,
) -> Result<Proven> {
    let started = Instant::now();
    let mut unseeded: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let built = match built.take() {
            Some(built) => built,
            None => load::build(build, scratch, major).await?,
        };
        let seeds = Seeds {
            unseeded: &unseeded,
            sample,
        };
        let result = run(&built, steps, desired, applying, filter, &seeds, copy).await;
        built.finish().await;
        match result {
            Ok((rows, tables, empty)) => {
                return Ok(Proven {
                    rows,
                    tables,
                    ms: started.elapsed().as_millis(),
                    unseeded: unseeded
                        .iter()
                        .chain(&empty)
                        .map(|(t, why)| format!("{t}: {why}"))
                        .collect(),
                    sampled_from: sample.map(|s| crate::conninfo::redact(s.url)),
                })
            }
            Err(e) => {
                // Seeded rows that break a rule the plan adds say nothing
                // about the plan: that table is tried again without rows.
                // Real rows that break it are the proof's finding.
                let Some((table, why)) = data_error(&e, steps).filter(|_| sample.is_none()) else {
                    return Err(e);
                };
                if unseeded.insert(table, why).is_some() || unseeded.len() > 20 {
                    return Err(e);
                }
            }
        }
    }
}

/// The proof on the built copy: rows seeded, then (rows, tables seeded).
/// The table of the step that failed on data (SQLSTATE class 22 or 23),
/// and the server's word for it.
fn data_error(e: &anyhow::Error, steps: &[RunStep]) -> Option<(String, String)> {
    let failed = e.downcast_ref::<crate::execute::StepFailed>()?;
    let class = failed.code.as_ref()?.code().get(..2)?;
    if class != "22" && class != "23" {
        return None;
    }
    let table = steps.get(failed.step)?.table.clone()?;
    let why = failed.message.lines().next().unwrap_or_default();
    Some((table, format!("its seeded rows broke {why}")))
}

/// Where a proof's rows come from: generated (but not into the tables of
/// `unseeded`), or sampled.
struct Seeds<'a> {
    unseeded: &'a BTreeMap<String, String>,
    sample: Option<Sample<'a>>,
}

async fn run(
    built: &load::Built,
    steps: &[RunStep],
    desired: Option<&Catalog>,
    applying: &str,
    filter: &Filter,
    seeds: &Seeds<'_>,
    copy: &str,
) -> Result<(u64, usize, BTreeMap<String, String>)> {
    // The roles the plan names exist where it runs (the plan-time check
    // says so, or `roles.assume`), but not on the scratch server.
    let roles: BTreeSet<String> = steps
        .iter()
        .filter_map(|s| s.sql.as_deref())
        .flat_map(crate::execute::statement::roles)
        .collect();
    load::stub_roles(&built.client, &roles).await?;
    let empty = match seeds.sample {
        Some(sample) => {
            let target = crate::conninfo::connect_url(sample.url).await?;
            crate::rehearse::copy::rows(&target, &built.client, sample.sampling).await?;
            BTreeMap::new()
        }
        None => seed(&built.client, seeds.unseeded).await?,
    };
    let before = tables(&built.client).await?;
    // The steps run in a backend of their own. The seeding one keeps a
    // prepared plan per foreign key it checked, and PostgreSQL walks every
    // cached plan on each relation invalidation: there the steps took time
    // in tables x steps (17 s instead of 2 at 10 000 tables). A server
    // that takes no more connections (a dev server near max_connections)
    // runs them in the seeding one: slower, the same result.
    let fresh = built.connect().await.ok();
    let client = fresh.as_ref().unwrap_or(&built.client);
    let script = Script::of_steps(steps.to_vec());
    crate::execute::run(client, None, &script, &Default::default(), None)
        .await
        .map_err(|e| e.context(format!("the plan failed on a copy of {copy}, with rows")))?;
    let after = tables(client).await?;

    // Which tables' steps declared what.
    let mut declared: BTreeMap<&str, BTreeSet<HazardCode>> = BTreeMap::new();
    for step in steps {
        if let Some(table) = &step.table {
            declared
                .entry(table)
                .or_default()
                .extend(step.hazards.iter().map(|h| h.code));
        }
    }
    // A step on a parent reaches its partitions and children.
    let has = |oid: u32, code| {
        let mut todo = vec![oid];
        let mut seen = BTreeSet::new();
        while let Some(o) = todo.pop() {
            let Some(t) = before.get(&o).filter(|_| seen.insert(o)) else {
                continue;
            };
            if declared
                .get(t.name.plain().as_str())
                .is_some_and(|c| c.contains(&code))
            {
                return true;
            }
            todo.extend(&t.parents);
        }
        false
    };
    let mut failures = Vec::new();
    for (oid, was) in &before {
        let now = after.get(oid);
        if was.rows > 0 && !has(*oid, HazardCode::DataLoss) {
            match now {
                None => failures.push(format!(
                    "table {} and its {} seeded rows are gone, but no step on it declares data-loss",
                    was.name.plain(),
                    was.rows
                )),
                Some(now) if now.rows < was.rows => failures.push(format!(
                    "table {} lost {} of its {} seeded rows, but no step on it declares data-loss",
                    was.name.plain(),
                    was.rows - now.rows,
                    was.rows
                )),
                _ => {}
            }
        }
        if let Some(now) = now {
            if now.filenode != was.filenode && !has(*oid, HazardCode::TableRewrite) {
                failures.push(format!(
                    "table {} was rewritten (its storage changed), but no step on it declares table-rewrite",
                    was.name.plain()
                ));
            }
        }
    }
    if let Some(desired) = desired {
        let mut reached = crate::introspect::introspect(client, false).await?;
        reached.reader_role = applying.to_string();
        filter.apply(&mut reached);
        let left = diff::diff(&reached, desired);
        let expected = &filter.expected_drift;
        let (left, _) = crate::expected::leave(left, expected, &reached, desired);
        if !left.is_empty() {
            let rest = crate::plan::plan(&reached, desired, left)?;
            failures.push(format!(
                "after the plan, the copy still differs from the schema; what is left:\n{}",
                crate::render::sql(&rest)
            ));
        }
    }
    if !failures.is_empty() {
        bail!(
            "the plan failed its proof on a copy of {copy} (--no-proof skips it):\n- {}",
            failures.join("\n- ")
        );
    }
    let seeded: Vec<&Table> = before.values().filter(|t| t.rows > 0).collect();
    Ok((
        seeded.iter().map(|t| t.rows.unsigned_abs()).sum(),
        seeded.len(),
        empty,
    ))
}

/// A table of the copy: its name, storage and rows.
#[derive(Debug)]
struct Table {
    name: QualName,
    filenode: u32,
    rows: i64,
    /// Parents (partitioned or by inheritance), whose changes reach it.
    parents: Vec<u32>,
}

/// Every ordinary table and materialized view, by oid.
async fn tables(client: &Client) -> Result<BTreeMap<u32, Table>> {
    let rows = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text, c.relfilenode, \
               ARRAY(SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg\\_%'",
            &[],
        )
        .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        let name = QualName::new(row.get::<_, String>(1), row.get::<_, String>(2));
        out.insert(
            row.get::<_, u32>(0),
            Table {
                name,
                filenode: row.get(3),
                rows: 0,
                parents: row.get(4),
            },
        );
    }
    // Counted a thousand tables per query, not one round trip each.
    let oids: Vec<u32> = out.keys().copied().collect();
    for chunk in oids.chunks(1000) {
        let sql = chunk
            .iter()
            .map(|oid| format!("SELECT {oid}::oid, count(*) FROM ONLY {}", out[oid].name))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        for row in client.query(&sql, &[]).await? {
            if let Some(table) = out.get_mut(&row.get::<_, u32>(0)) {
                table.rows = row.get(1);
            }
        }
    }
    Ok(out)
}

/// Inserts up to [`ROWS`] rows into every ordinary table: all of them in
/// one statement, else a row at a time, where a row a constraint refuses
/// is skipped (one a CHECK refuses is tried with the values the check
/// names). Tables are tried again while rows keep going in, so that a
/// foreign key finds the rows of the table it references. Returns the
/// tables left without rows, each with why.
async fn seed(
    client: &Client,
    unseeded: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let columns = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text, a.attname::text, \
               pg_catalog.format_type(a.atttypid, a.atttypmod), \
               coalesce(bt.typcategory, t.typcategory)::text, t.typtype::text, \
               (SELECT format('(SELECT %I FROM %I.%I ORDER BY 1 OFFSET $i LIMIT 1)', ra.attname, rn.nspname, rc.relname) \
                  FROM pg_catalog.pg_constraint f \
                  JOIN pg_catalog.pg_class rc ON rc.oid = f.confrelid \
                  JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace \
                  JOIN pg_catalog.pg_attribute ra ON ra.attrelid = f.confrelid AND ra.attnum = f.confkey[1] \
                 WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.conkey[1] = a.attnum LIMIT 1) \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype \
             WHERE c.relkind = 'r' AND NOT c.relispartition \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' \
               AND a.attidentity <> 'a' AND a.attgenerated = '' \
             ORDER BY c.oid, a.attnum",
            &[],
        )
        .await?;
    // Per table: its name and (column, value template) pairs.
    let mut tables: BTreeMap<u32, (QualName, Vec<(String, String)>)> = BTreeMap::new();
    for row in &columns {
        let entry = tables.entry(row.get(0)).or_insert_with(|| {
            (
                QualName::new(row.get::<_, String>(1), row.get::<_, String>(2)),
                Vec::new(),
            )
        });
        let ty: String = row.get(4);
        let value = match row.get::<_, Option<String>>(7) {
            Some(reference) => reference,
            None => value(&ty, &row.get::<_, String>(5), &row.get::<_, String>(6)),
        };
        entry.1.push((row.get(3), value));
    }
    let insert = |name: &QualName, columns: &[(String, String)], rows: std::ops::Range<i64>| {
        if columns.is_empty() {
            return format!("INSERT INTO {name} DEFAULT VALUES");
        }
        let names: Vec<String> = columns.iter().map(|(c, _)| crate::sql::ident(c)).collect();
        let rows: Vec<String> = rows
            .map(|i| {
                let values: Vec<String> = columns
                    .iter()
                    .map(|(_, v)| {
                        v.replace("$i", &i.to_string())
                            .replace("$n", &(i + 1).to_string())
                    })
                    .collect();
                format!("({})", values.join(", "))
            })
            .collect();
        format!(
            "INSERT INTO {name} ({}) VALUES {}",
            names.join(", "),
            rows.join(", ")
        )
    };
    let mut seeded: BTreeMap<u32, i64> = BTreeMap::new();
    // First all rows of a table in one statement, the statements sent
    // without waiting for each (in order, each in its own transaction).
    let whole: Vec<_> = tables
        .iter()
        .filter(|(_, (name, columns))| !columns.is_empty() && !unseeded.contains_key(&name.plain()))
        .collect();
    for chunk in whole.chunks(256) {
        let statements: Vec<String> = chunk
            .iter()
            .map(|(_, (name, columns))| insert(name, columns, 0..ROWS))
            .collect();
        let sent = statements.iter().map(|sql| client.batch_execute(sql));
        let results = futures_util::future::join_all(sent).await;
        for ((oid, _), result) in chunk.iter().zip(results) {
            if result.is_ok() {
                seeded.insert(**oid, ROWS);
            }
        }
    }
    // Then a row at a time where that failed (a constraint refuses a row, a
    // foreign key's table had no rows yet), again while rows keep going in;
    // a row a CHECK refuses is tried with the values its checks name.
    let candidates = check_candidates(client).await?;
    let mut refused: BTreeMap<u32, String> = BTreeMap::new();
    loop {
        let mut progress = false;
        for (oid, (name, columns)) in &tables {
            if unseeded.contains_key(&name.plain()) {
                continue;
            }
            let done = seeded.get(oid).copied().unwrap_or(0);
            for i in done..ROWS {
                let mut tries = vec![columns.clone()];
                if let Some(values) = candidates.get(oid) {
                    tries.extend((0..8).map(|k| with_candidates(columns, values, i as usize + k)));
                }
                let mut inserted = None;
                for columns in &tries {
                    // Autocommit: a row a constraint refuses is simply not there.
                    match client.batch_execute(&insert(name, columns, i..i + 1)).await {
                        Ok(()) => {
                            inserted = Some(());
                            break;
                        }
                        Err(e) => {
                            let message = e
                                .as_db_error()
                                .map_or(e.to_string(), |d| d.message().to_string());
                            refused.insert(*oid, message);
                        }
                    }
                }
                if inserted.is_none() {
                    break;
                }
                *seeded.entry(*oid).or_insert(0) += 1;
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    // The tables left without rows, and the server's last word on why.
    Ok(tables
        .iter()
        .filter(|(oid, (name, _))| {
            !seeded.contains_key(oid) && !unseeded.contains_key(&name.plain())
        })
        .map(|(oid, (name, _))| {
            let why = refused.get(oid).cloned().unwrap_or_default();
            (
                name.plain(),
                format!("no generated row was accepted ({why})"),
            )
        })
        .collect())
}

/// `columns` with the values CHECK constraints name (`values`, by column)
/// instead of the generated ones, the `k`th of each.
fn with_candidates(
    columns: &[(String, String)],
    values: &BTreeMap<String, Vec<String>>,
    k: usize,
) -> Vec<(String, String)> {
    columns
        .iter()
        .map(|(column, value)| match values.get(column) {
            Some(list) if !list.is_empty() => (column.clone(), list[k % list.len()].clone()),
            _ => (column.clone(), value.clone()),
        })
        .collect()
}

/// Values to try for the columns of CHECK constraints, by table oid and
/// column: each string the constraint names, and each number with its
/// neighbours, cast to the column's type (`e IN ('a', 'b')`, `n > 0`).
async fn check_candidates(client: &Client) -> Result<BTreeMap<u32, BTreeMap<String, Vec<String>>>> {
    let rows = client
        .query(
            "SELECT c.conrelid, a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
               pg_catalog.pg_get_constraintdef(c.oid) \
             FROM pg_catalog.pg_constraint c \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace \
             WHERE c.contype = 'c' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg\\_%'",
            &[],
        )
        .await?;
    let mut out: BTreeMap<u32, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for row in rows {
        let ty: String = row.get(2);
        let values = out
            .entry(row.get(0))
            .or_default()
            .entry(row.get(1))
            .or_default();
        for literal in literals(&row.get::<_, String>(3)) {
            let value = format!("{}::{ty}", crate::sql::literal(&literal));
            if !values.contains(&value) {
                values.push(value);
            }
        }
    }
    Ok(out)
}

/// The string literals of `definition`, and its numbers with their
/// neighbours (one more, one less).
fn literals(definition: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = definition.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let mut text = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' && chars.get(i + 1) == Some(&'\'') {
                    text.push('\'');
                    i += 2;
                } else if chars[i] == '\'' {
                    break;
                } else {
                    text.push(chars[i]);
                    i += 1;
                }
            }
            out.push(text);
        } else if c.is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
        {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let number: String = chars[start..i].iter().collect();
            if let Ok(n) = number.parse::<f64>() {
                for m in [n, n + 1.0, n - 1.0] {
                    out.push(m.to_string());
                }
            }
            continue;
        }
        i += 1;
    }
    out
}

/// A value of type `ty` (category `category`, type kind `kind`) for row `$n`.
fn value(ty: &str, category: &str, kind: &str) -> String {
    let cast = |v: &str| format!("{v}::{ty}");
    match (category, kind) {
        (_, "e") => format!("(pg_catalog.enum_range(NULL::{ty}))[1]"),
        ("N", _) => cast("'$n'"),
        ("B", _) => cast("true"),
        ("D", _) => cast("(timestamptz '2020-01-01' + interval '$n day')"),
        ("T", _) => cast("interval '$n minutes'"),
        ("S", _) => cast("'$n'"),
        ("A", _) => cast("'{}'"),
        ("U", _) if ty == "uuid" => cast("pg_catalog.md5('$n')"),
        ("U", _) if ty.starts_with("json") => cast("'{}'"),
        ("I", _) => cast("'10.0.0.$n'"),
        _ => "DEFAULT".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_of_checks_are_their_strings_and_numbers_with_neighbours() {
        assert_eq!(
            literals("CHECK ((e = ANY (ARRAY['area'::text, 'it''s'::text])))"),
            ["area", "it's"]
        );
        assert_eq!(literals("CHECK ((n > 100))"), ["100", "101", "99"]);
        assert_eq!(literals("CHECK ((col2 >= 1.5))"), ["1.5", "2.5", "0.5"]);
    }
}
