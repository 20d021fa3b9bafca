//! Real rows for a rehearsal: each table of the copy (built from the
//! target's schema) filled with rows of the same table on the target: all
//! of a small table, a `TABLESAMPLE SYSTEM` sample of a large one up to a
//! row budget, read in one REPEATABLE READ READ ONLY snapshot, masked
//! columns replaced on the target's side of the COPY so that their values
//! never leave it. Rows whose foreign keys point at rows the sample left
//! out are then removed from the copy until every foreign key holds.

use std::pin::pin;

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_postgres::Client;

use crate::sql::ident;

/// How rows are sampled into a rehearsal's copy (`rehearse:` in
/// stratum.yaml).
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// Percent of a large table's rows to copy.
    pub percent: f64,
    /// Rows copied of one table, at most.
    pub max_rows: u64,
    /// Tables with at most this many rows are copied whole.
    pub small_rows: u64,
    /// Columns (`schema.table.column`, `*` and `?` allowed) whose values are
    /// replaced on the way in.
    pub mask: Vec<String>,
}

impl Default for Sampling {
    fn default() -> Sampling {
        Sampling {
            percent: 1.0,
            max_rows: 100_000,
            small_rows: 10_000,
            mask: Vec::new(),
        }
    }
}

/// One table as copied.
#[derive(Debug, Clone, Serialize)]
pub struct Copied {
    /// `schema.name`.
    pub table: String,
    /// Its rows on the target (exact for a table copied whole, else the
    /// planner's estimate).
    pub rows: u64,
    /// Its size on the target, bytes (heap).
    pub bytes: i64,
    /// Rows copied, after foreign keys removed the ones without theirs.
    pub copied: u64,
    /// The copy's size, with its indexes and TOAST, bytes.
    pub copy_bytes: i64,
    /// True when the table was sampled, not copied whole.
    pub sampled: bool,
    /// Its masked columns.
    pub masked: Vec<String>,
}

impl Copied {
    /// How many times more rows the target's table has than the copy's.
    pub fn factor(&self) -> f64 {
        match self.copied {
            0 => 1.0,
            n => (self.rows as f64 / n as f64).max(1.0),
        }
    }
}

/// A column of a table to copy.
struct Column {
    name: String,
    /// `format_type`.
    ty: String,
    /// Its category (`S` for strings).
    category: String,
    not_null: bool,
}

/// Copies rows of every ordinary table of `copy` from the same table of
/// `target`, as `sampling` says; foreign keys then hold in the copy.
pub async fn rows(target: &Client, copy: &Client, sampling: &Sampling) -> Result<Vec<Copied>> {
    let tables = copy
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2",
            &[],
        )
        .await?;
    target
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    // Triggers and foreign keys wait until every table is in.
    copy.batch_execute("SET session_replication_role = replica")
        .await?;
    let mut out = Vec::new();
    let result = async {
        for row in &tables {
            let (schema, name): (String, String) = (row.get(0), row.get(1));
            if let Some(copied) = table(target, copy, &schema, &name, sampling).await? {
                out.push(copied);
            }
        }
        anyhow::Ok(())
    }
    .await;
    let _ = target.batch_execute("ROLLBACK").await;
    copy.batch_execute("RESET session_replication_role").await?;
    result?;
    let removed = orphans(copy).await?;
    for copied in &mut out {
        if let Some(n) = removed.get(&copied.table) {
            copied.copied = copied.copied.saturating_sub(*n);
        }
    }
    copy.batch_execute("ANALYZE").await?;
    for copied in &mut out {
        let (schema, name) = copied.table.split_once('.').unwrap_or_default();
        let qualified = format!("{}.{}", ident(schema), ident(name));
        copied.copy_bytes = copy
            .query_one(
                "SELECT pg_total_relation_size(to_regclass($1))",
                &[&qualified],
            )
            .await?
            .get::<_, Option<i64>>(0)
            .unwrap_or_default();
    }
    Ok(out)
}

/// Copies one table; None when the target has no table of that name.
async fn table(
    target: &Client,
    copy: &Client,
    schema: &str,
    name: &str,
    sampling: &Sampling,
) -> Result<Option<Copied>> {
    let qualified = format!("{}.{}", ident(schema), ident(name));
    let facts = target
        .query_opt(
            "SELECT c.reltuples::float8, pg_relation_size(c.oid) FROM pg_class c \
             WHERE c.oid = to_regclass($1)",
            &[&qualified],
        )
        .await?;
    let Some(facts) = facts else { return Ok(None) };
    let (estimate, bytes): (f64, i64) = (facts.get(0), facts.get(1));
    let columns: Vec<Column> = copy
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), t.typcategory::text, \
             a.attnotnull FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             AND a.attgenerated = '' ORDER BY a.attnum",
            &[&qualified],
        )
        .await?
        .iter()
        .map(|r| Column {
            name: r.get(0),
            ty: r.get(1),
            category: r.get(2),
            not_null: r.get(3),
        })
        .collect();
    // An estimate of -1 (never analyzed) or a small one: count.
    let rows = if estimate < 0.0 || estimate <= sampling.small_rows as f64 * 2.0 {
        let counted = target
            .query_one(&format!("SELECT count(*) FROM ONLY {qualified}"), &[])
            .await?;
        counted.get::<_, i64>(0) as u64
    } else {
        estimate as u64
    };
    let sampled = rows > sampling.small_rows;
    let mut masked = Vec::new();
    let mut selected = Vec::new();
    for c in &columns {
        let path = format!("{schema}.{name}.{}", c.name);
        if sampling.mask.iter().any(|m| crate::filter::glob(m, &path)) {
            masked.push(c.name.clone());
            selected.push(mask(c)?);
        } else {
            selected.push(ident(&c.name));
        }
    }
    let from = match sampled {
        true => format!(
            "ONLY {qualified} TABLESAMPLE SYSTEM ({}) LIMIT {}",
            sampling.percent, sampling.max_rows
        ),
        false => format!("ONLY {qualified}"),
    };
    let names: Vec<String> = columns.iter().map(|c| ident(&c.name)).collect();
    let out_sql = format!(
        "COPY (SELECT {} FROM {from}) TO STDOUT",
        if selected.is_empty() {
            String::new()
        } else {
            selected.join(", ")
        }
    );
    let in_sql = format!("COPY {qualified} ({}) FROM STDIN", names.join(", "));
    let copied = if names.is_empty() {
        0
    } else {
        let reader = target
            .copy_out(&out_sql)
            .await
            .with_context(|| format!("reading rows of {qualified} from the database"))?;
        let writer = copy.copy_in(&in_sql).await?;
        let mut reader = pin!(reader);
        let mut writer = pin!(writer);
        while let Some(chunk) = reader.next().await {
            writer.send(chunk?).await?;
        }
        writer.finish().await?
    };
    Ok(Some(Copied {
        table: format!("{schema}.{name}"),
        rows: rows.max(copied),
        bytes,
        copied,
        copy_bytes: 0,
        sampled,
        masked,
    }))
}

/// The target-side expression that stands for a masked column: a digest of
/// a string (cut to a `varchar(n)`'s length), NULL for other types, so the
/// value never leaves the target.
fn mask(c: &Column) -> Result<String> {
    let name = ident(&c.name);
    if c.category == "S" {
        let limit =
            c.ty.split_once('(')
                .and_then(|(_, n)| n.trim_end_matches(')').parse::<usize>().ok());
        let digest = format!("md5({name}::text)");
        let cut = match limit {
            Some(n) => format!("left({digest}, {n})"),
            None => digest,
        };
        return Ok(format!("CASE WHEN {name} IS NULL THEN NULL ELSE {cut} END"));
    }
    if c.not_null {
        anyhow::bail!(
            "rehearse.mask: column {} ({}) is NOT NULL and not a string, so it cannot be \
             masked as NULL; leave it out of rehearse.mask",
            c.name,
            c.ty
        );
    }
    Ok(format!("NULL::{} AS {name}", c.ty))
}

/// Removes rows of the copy whose foreign keys find no row (the sample
/// left it out), again until none is left; how many went, by table.
async fn orphans(copy: &Client) -> Result<std::collections::BTreeMap<String, u64>> {
    let keys = copy
        .query(
            "SELECT format('%I.%I', cn.nspname, c.relname), format('%I.%I', pn.nspname, p.relname), \
               ARRAY(SELECT quote_ident(attname) FROM unnest(k.conkey) WITH ORDINALITY u(n, o) \
                     JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.o), \
               ARRAY(SELECT quote_ident(attname) FROM unnest(k.confkey) WITH ORDINALITY u(n, o) \
                     JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.o), \
               cn.nspname || '.' || c.relname \
             FROM pg_constraint k \
             JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace \
             JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace \
             WHERE k.contype = 'f' AND c.relkind = 'r'",
            &[],
        )
        .await?;
    let mut removed = std::collections::BTreeMap::new();
    loop {
        let mut any = false;
        for key in &keys {
            let (child, parent): (String, String) = (key.get(0), key.get(1));
            let (own, theirs): (Vec<String>, Vec<String>) = (key.get(2), key.get(3));
            let set: Vec<String> = own.iter().map(|c| format!("c.{c} IS NOT NULL")).collect();
            let matched: Vec<String> = own
                .iter()
                .zip(&theirs)
                .map(|(c, p)| format!("p.{p} = c.{c}"))
                .collect();
            let sql = format!(
                "DELETE FROM ONLY {child} c WHERE {} AND NOT EXISTS (SELECT FROM {parent} p WHERE {})",
                set.join(" AND "),
                matched.join(" AND ")
            );
            let n = copy.execute(&sql, &[]).await?;
            if n > 0 {
                any = true;
                *removed.entry(key.get::<_, String>(4)).or_default() += n;
            }
        }
        if !any {
            return Ok(removed);
        }
    }
}
