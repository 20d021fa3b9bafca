//! Runs one pre-check on the target: its table looked up in the catalog,
//! the query that finds the rows in the statement's way, in a READ ONLY
//! transaction with the check's statement and lock timeouts.

use std::time::Duration;

use anyhow::Result;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::{read, Check, Outcome, Sample, Settings, Table};
use crate::sql::{ident, literal};

/// What the catalog says of a table a check reads.
struct Relation {
    /// `p` for a partitioned table.
    kind: i8,
    /// Heap size, bytes.
    bytes: i64,
    /// Its columns.
    columns: Vec<String>,
    /// Its primary key's columns, in order.
    key: Vec<String>,
}

impl Relation {
    /// `ONLY` for a check of indexes and foreign keys, which a table's
    /// inheritance children do not share (a partitioned table's do).
    fn only_own(&self) -> bool {
        self.kind != b'p' as i8
    }

    fn has(&self, columns: &[String]) -> bool {
        columns.iter().all(|c| self.columns.contains(c))
    }

    /// How a row is named in an example: its primary key, or its ctid.
    fn row_example(&self) -> String {
        match self.key.is_empty() {
            true => example(&[("ctid".to_string(), "ctid".to_string())]),
            false => example(
                &self
                    .key
                    .iter()
                    .map(|k| (ident(k), ident(k)))
                    .collect::<Vec<_>>(),
            ),
        }
    }
}

/// `check` run on the database: what it was (a VALIDATE becomes the
/// check of the constraint it validates) and what it found; None when
/// there is nothing to say (its table or column is not in the database,
/// so the statement itself names what is missing, or the constraint is
/// valid already).
pub(super) async fn run(
    client: &Client,
    mut check: Check,
    settings: &Settings,
    lock_timeout: Option<Duration>,
) -> Result<(Check, Option<Outcome>)> {
    client.batch_execute("BEGIN READ ONLY").await?;
    let started = std::time::Instant::now();
    let set = format!(
        "SET LOCAL statement_timeout = {}; SET LOCAL lock_timeout = {}",
        millis(settings.timeout),
        millis(lock_timeout)
    );
    let result = match client.batch_execute(&set).await {
        Ok(()) => measure(client, &mut check, settings).await,
        Err(e) => Err(e),
    };
    client.batch_execute("ROLLBACK").await?;
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => Some(failed(&check, e, settings, started.elapsed())?),
    };
    Ok((check, outcome))
}

/// A check's query that failed after `elapsed`, as its outcome; a lost
/// connection is an error.
fn failed(
    check: &Check,
    e: tokio_postgres::Error,
    settings: &Settings,
    elapsed: Duration,
) -> Result<Outcome> {
    let Some(db) = e.as_db_error() else {
        return Err(e.into());
    };
    let code = db.code();
    // The statement timeout can fire between the messages of one query
    // (after its prepare): the query then meets a transaction already
    // aborted. Past the timeout, nothing else aborted it.
    let timed_out = *code == SqlState::IN_FAILED_SQL_TRANSACTION
        && settings.timeout.is_some_and(|t| elapsed >= t);
    Ok(if *code == SqlState::QUERY_CANCELED || timed_out {
        Outcome::NotRun {
            why: format!(
                "its query ran longer than {} (pre_checks.timeout)",
                settings
                    .timeout
                    .map(|t| format!("{} s", t.as_secs_f64()))
                    .unwrap_or_default()
            ),
        }
    } else if *code == SqlState::LOCK_NOT_AVAILABLE {
        Outcome::NotRun {
            why: "another session holds a lock on the table that blocks reads (timeouts.lock \
                  passed)"
                .to_string(),
        }
    } else if matches!(check, Check::Retype { .. }) && code.code().starts_with("22") {
        Outcome::Fails {
            message: db.message().to_string(),
        }
    } else {
        Outcome::NotRun {
            why: format!("its query failed: {}", db.message()),
        }
    })
}

/// `SET LOCAL` value of a timeout.
fn millis(timeout: Option<Duration>) -> String {
    format!("{}", timeout.map_or(0, |t| t.as_millis().max(1)))
}

/// Runs `check`'s query; a VALIDATE is first replaced by the check of its
/// constraint.
async fn measure(
    client: &Client,
    check: &mut Check,
    settings: &Settings,
) -> Result<Option<Outcome>, tokio_postgres::Error> {
    if let Check::Validate { table, name } = check {
        match validated(client, table, name).await? {
            Some(resolved) => *check = resolved,
            None => return Ok(None),
        }
    }
    if let Check::Domain { domain, name, expr } = check {
        if expr.as_deref() == Some("") {
            // A constraint of the database, validated: its definition.
            let row = client
                .query_opt(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
                     WHERE contypid = to_regtype($1) AND conname = $2 AND NOT convalidated",
                    &[&domain.to_string(), &*name],
                )
                .await?;
            let Some(row) = row else { return Ok(None) };
            let definition: String = row.get(0);
            let definition = definition.trim_end_matches(" NOT VALID");
            *expr = Some(definition.trim_start_matches("CHECK ").to_string());
        }
        return domain_values(client, domain, expr.as_deref(), settings).await;
    }
    let table = match check {
        Check::Unique { table, .. }
        | Check::NotNull { table, .. }
        | Check::Satisfies { table, .. }
        | Check::References { table, .. }
        | Check::Validate { table, .. }
        | Check::Retype { table, .. }
        | Check::Empty { table, .. }
        | Check::Loses { table, .. } => table.clone(),
        Check::Domain { domain, .. } => domain.clone(),
    };
    let Some(rel) = relation(client, &table).await? else {
        return Ok(None);
    };
    let sample = sample(&rel, settings);
    let from = |only: bool| {
        let only = if only { "ONLY " } else { "" };
        let sampled = sample
            .map(|s| format!(" TABLESAMPLE SYSTEM ({})", s.percent))
            .unwrap_or_default();
        format!("{only}{table}{sampled}")
    };
    let count_and_example = |sql: String| async move {
        let row = client.query_one(&sql, &[]).await?;
        let count: i64 = row.get(0);
        Ok::<_, tokio_postgres::Error>(match count {
            0 => Outcome::Clear { sample },
            n => Outcome::Violations {
                count: n as u64,
                example: row.get(1),
                rows: None,
                sample,
            },
        })
    };
    let outcome = match &*check {
        Check::Unique {
            keys,
            predicate,
            nulls_distinct,
            ..
        } => {
            let columns: Vec<String> = keys.iter().flat_map(|k| k.columns.clone()).collect();
            if !rel.has(&columns) {
                return Ok(None);
            }
            let mut conditions: Vec<String> = Vec::new();
            if *nulls_distinct {
                conditions.extend(keys.iter().map(|k| format!("{} IS NOT NULL", k.sql)));
            }
            conditions.extend(predicate.iter().map(|p| format!("({p})")));
            let keyed: Vec<(String, String)> = keys
                .iter()
                .map(|k| (k.label.clone(), k.sql.clone()))
                .collect();
            let group: Vec<&str> = keys.iter().map(|k| k.sql.as_str()).collect();
            let sql = format!(
                "WITH d AS (SELECT {} AS example, count(*) AS n FROM {} WHERE {} GROUP BY {} \
                 HAVING count(*) > 1) \
                 SELECT (SELECT count(*) FROM d), e.example, e.n \
                 FROM (SELECT 1) one LEFT JOIN \
                 (SELECT example, n FROM d ORDER BY n DESC, example LIMIT 1) e ON true",
                example(&keyed),
                from(rel.only_own()),
                all(&conditions),
                group.join(", ")
            );
            let row = client.query_one(&sql, &[]).await?;
            match row.get::<_, i64>(0) {
                0 => Outcome::Clear { sample },
                n => Outcome::Violations {
                    count: n as u64,
                    example: row.get(1),
                    rows: row.get::<_, Option<i64>>(2).map(|r| r as u64),
                    sample,
                },
            }
        }
        Check::NotNull { column, .. } => {
            if !rel.has(std::slice::from_ref(column)) {
                return Ok(None);
            }
            count_and_example(format!(
                "SELECT count(*), min({}) FROM {} WHERE {} IS NULL",
                rel.row_example(),
                from(table.only),
                ident(column)
            ))
            .await?
        }
        Check::Satisfies { columns, expr, .. } => {
            if !rel.has(columns) {
                return Ok(None);
            }
            count_and_example(format!(
                "SELECT count(*), min({}) FROM {} WHERE NOT ({expr})",
                rel.row_example(),
                from(table.only)
            ))
            .await?
        }
        Check::References {
            columns,
            references,
            referenced,
            full,
            ..
        } => {
            let Some(parent) = relation(client, references).await? else {
                return Ok(None);
            };
            let referenced = match referenced.is_empty() {
                true => parent.key.clone(),
                false => referenced.clone(),
            };
            if !rel.has(columns) || !parent.has(&referenced) || referenced.len() != columns.len() {
                return Ok(None);
            }
            let own = |c: &String| format!("stratum_child.{}", ident(c));
            let set: Vec<String> = columns
                .iter()
                .map(|c| format!("{} IS NOT NULL", own(c)))
                .collect();
            let matched: Vec<String> = columns
                .iter()
                .zip(&referenced)
                .map(|(c, r)| format!("stratum_parent.{} = {}", ident(r), own(c)))
                .collect();
            let missing = format!(
                "{} AND NOT EXISTS (SELECT FROM {}{} AS stratum_parent WHERE {})",
                all(&set),
                if parent.only_own() { "ONLY " } else { "" },
                references,
                all(&matched)
            );
            let violates = match full {
                true => format!(
                    "({missing}) OR (NOT ({}) AND ({}))",
                    all(&set),
                    columns
                        .iter()
                        .map(|c| format!("{} IS NOT NULL", own(c)))
                        .collect::<Vec<_>>()
                        .join(" OR ")
                ),
                false => missing,
            };
            let keyed: Vec<(String, String)> = columns.iter().map(|c| (ident(c), own(c))).collect();
            count_and_example(format!(
                "SELECT count(*), min({}) FROM {} AS stratum_child WHERE {violates}",
                example(&keyed),
                from(rel.only_own())
            ))
            .await?
        }
        Check::Retype {
            column,
            cast,
            limit,
            ..
        } => {
            if !rel.has(std::slice::from_ref(column)) {
                return Ok(None);
            }
            let bad = match limit {
                Some(("char", n, value)) => {
                    format!("char_length(rtrim(({value})::text, ' ')) > {n}")
                }
                Some(("bit", n, value)) => format!("length(({value})::varbit) <> {n}"),
                Some((_, n, value)) => format!("length(({value})::varbit) > {n}"),
                None => "false".to_string(),
            };
            // count() of the cast makes the server convert every value.
            count_and_example(format!(
                "SELECT count(*) FILTER (WHERE {bad}), min({}) FILTER (WHERE {bad}), \
                 count({cast}) FROM {}",
                rel.row_example(),
                from(table.only)
            ))
            .await?
        }
        Check::Empty { ty, .. } => {
            // A domain with a default gives the new column its value.
            let filled = client
                .query_opt(
                    "SELECT t.typdefaultbin IS NOT NULL FROM pg_type t WHERE t.oid = to_regtype($1)",
                    &[ty],
                )
                .await?
                .is_some_and(|r| r.get::<_, bool>(0));
            if filled {
                return Ok(None);
            }
            let row = client
                .query_one(
                    &format!(
                        "SELECT count(*) FROM (SELECT FROM {} LIMIT 1) d",
                        from(table.only)
                    ),
                    &[],
                )
                .await?;
            match row.get::<_, i64>(0) {
                0 => Outcome::Clear { sample },
                _ => Outcome::Violations {
                    count: 1,
                    example: None,
                    rows: None,
                    sample,
                },
            }
        }
        Check::Loses { column, .. } => {
            let counted = match column {
                Some(c) if !rel.has(std::slice::from_ref(c)) => return Ok(None),
                Some(c) => ident(c),
                None => "*".to_string(),
            };
            let row = client
                .query_one(
                    &format!("SELECT count({counted}) FROM {}", from(false)),
                    &[],
                )
                .await?;
            let count = row.get::<_, i64>(0) as f64;
            let scaled = sample.map_or(count, |s| count * 100.0 / s.percent);
            Outcome::Holds {
                count: scaled.round() as u64,
                sample,
            }
        }
        Check::Validate { .. } | Check::Domain { .. } => return Ok(None),
    };
    Ok(Some(outcome))
}

/// The values of every column of `domain` (in ordinary tables and
/// partitions) against its CHECK `expr` (over `VALUE`), or against NULL
/// without one: the rows in the way, summed, with an example naming its
/// table and column.
async fn domain_values(
    client: &Client,
    domain: &Table,
    expr: Option<&str>,
    settings: &Settings,
) -> Result<Option<Outcome>, tokio_postgres::Error> {
    let columns = client
        .query(
            "SELECT n.nspname::text, c.relname::text, a.attname::text FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE a.atttypid = to_regtype($1) AND a.attnum > 0 AND NOT a.attisdropped \
             AND c.relkind = 'r' ORDER BY 1, 2, 3",
            &[&domain.to_string()],
        )
        .await?;
    let (mut count, mut example, mut sampled) = (0u64, None, None);
    for row in &columns {
        let table = Table {
            schema: Some(row.get(0)),
            name: row.get(1),
            only: true,
        };
        let column: String = row.get(2);
        let Some(rel) = relation(client, &table).await? else {
            continue;
        };
        let violates = match expr {
            Some(expr) => match crate::sql::rename_column(expr, "value", &column) {
                Some(own) => format!("NOT ({own})"),
                None => continue,
            },
            None => format!("{} IS NULL", ident(&column)),
        };
        let sample = sample(&rel, settings);
        sampled = sampled.or(sample);
        let sampled_from = sample
            .map(|s| format!(" TABLESAMPLE SYSTEM ({})", s.percent))
            .unwrap_or_default();
        let found = client
            .query_one(
                &format!(
                    "SELECT count(*), min({}) FROM ONLY {table}{sampled_from} WHERE {violates}",
                    rel.row_example()
                ),
                &[],
            )
            .await?;
        let n = found.get::<_, i64>(0) as u64;
        if n > 0 && example.is_none() {
            let row: Option<String> = found.get(1);
            example = Some(format!(
                "{table}.{} ({})",
                ident(&column),
                row.unwrap_or_default()
            ));
        }
        count += n;
    }
    Ok(Some(match count {
        0 => Outcome::Clear { sample: sampled },
        n => Outcome::Violations {
            count: n,
            example,
            rows: None,
            sample: sampled,
        },
    }))
}

/// The check of the constraint `name` of `table` that a VALIDATE would
/// check; None when it is not there or valid already.
async fn validated(
    client: &Client,
    table: &Table,
    name: &str,
) -> Result<Option<Check>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = to_regclass($1) AND conname = $2 AND NOT convalidated",
            &[&table.to_string(), &name],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let definition: String = row.get(0);
    let definition = definition.trim_end_matches(" NOT VALID");
    let sql = format!(
        "ALTER TABLE {table} ADD CONSTRAINT {} {definition}",
        ident(name)
    );
    let Some(pg_query::NodeEnum::AlterTableStmt(alter)) = crate::parse::first_statement(&sql)
    else {
        return Ok(None);
    };
    let constraint = alter.cmds.iter().find_map(|c| match c.node.as_ref() {
        Some(pg_query::NodeEnum::AlterTableCmd(cmd)) => match cmd.def.as_deref()?.node.as_ref() {
            Some(pg_query::NodeEnum::Constraint(c)) => Some(c.clone()),
            _ => None,
        },
        _ => None,
    });
    Ok(constraint.and_then(|c| read::constraint(table, &c).into_iter().next()))
}

/// The catalog's facts of `table`; None when there is no such table.
async fn relation(
    client: &Client,
    table: &Table,
) -> Result<Option<Relation>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT c.relkind::\"char\", pg_relation_size(c.oid), \
               ARRAY(SELECT attname::text FROM pg_attribute \
                     WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped), \
               ARRAY(SELECT a.attname::text FROM pg_index i \
                     CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n) \
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                     WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.n) \
             FROM pg_class c WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')",
            &[&table.to_string()],
        )
        .await?;
    Ok(row.map(|row| Relation {
        kind: row.get(0),
        bytes: row.get(1),
        columns: row.get(2),
        key: row.get(3),
    }))
}

/// The sample of `rel` to read, when it is larger than the settings'
/// limit.
fn sample(rel: &Relation, settings: &Settings) -> Option<Sample> {
    let limit = settings.sample_above?;
    if rel.bytes as u64 <= limit {
        return None;
    }
    let percent = (limit as f64 * 100.0 / rel.bytes as f64).clamp(0.01, 100.0);
    // Two digits are enough, and print as written.
    let percent = (percent * 100.0).floor() / 100.0;
    Some(Sample {
        percent: percent.max(0.01),
        bytes: rel.bytes,
    })
}

/// SQL of a text naming values: `email = 'a@b.c', id = '3'`.
fn example(columns: &[(String, String)]) -> String {
    let parts: Vec<String> = columns
        .iter()
        .map(|(label, sql)| {
            format!(
                "{} || quote_nullable(({sql})::text)",
                literal(&format!("{label} = "))
            )
        })
        .collect();
    format!("concat_ws(', ', {})", parts.join(", "))
}

/// `conditions` joined by AND (`true` for none).
fn all(conditions: &[String]) -> String {
    match conditions.is_empty() {
        true => "true".to_string(),
        false => conditions.join(" AND "),
    }
}
