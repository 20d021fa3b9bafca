//! Pre-checks: before `apply` or `migrate` runs a statement that can fail on
//! the rows a table already holds (a UNIQUE over duplicates, SET NOT NULL
//! over NULLs, a foreign key over orphans, a CHECK over violating rows, a
//! retype over values that do not convert, a NOT NULL column added without
//! a default to a table with rows), a read-only query on the target finds
//! those rows first, so that the run is refused with nothing run and the
//! rows named, instead of failing after its locks were taken. Drops are
//! measured too: how many rows or values they lose.
//!
//! `read` finds the checks in the statements' parse trees (so plans, saved
//! plans and migration files are checked alike); `query` runs them, each
//! in a READ ONLY transaction with a statement timeout, sampled on tables
//! above a size.

mod expr;
mod query;
mod read;
mod written;

use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use tokio_postgres::Client;

use crate::sql::ident;

/// How pre-checks run (`pre_checks:` in stratum.yaml).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// statement_timeout of each check's query; None: no limit.
    pub timeout: Option<Duration>,
    /// Tables larger than this (bytes, heap only) are read in a sample
    /// of about this size; None: always whole.
    pub sample_above: Option<u64>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            timeout: Some(Duration::from_secs(30)),
            sample_above: Some(1 << 30),
        }
    }
}

/// A table as a statement names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Its schema, when the statement names one.
    pub schema: Option<String>,
    /// Its name.
    pub name: String,
    /// `ONLY`: its inheritance children are left out.
    pub only: bool,
}

impl Table {
    fn of(r: &pg_query::protobuf::RangeVar) -> Table {
        Table {
            schema: (!r.schemaname.is_empty()).then(|| r.schemaname.clone()),
            name: r.relname.clone(),
            only: !r.inh,
        }
    }

    /// A table of a DROP's object list (`["app", "users"]`).
    fn of_list(node: Option<&pg_query::NodeEnum>) -> Option<Table> {
        let Some(pg_query::NodeEnum::List(list)) = node else {
            return None;
        };
        let parts: Vec<String> = list
            .items
            .iter()
            .filter_map(|n| match n.node.as_ref() {
                Some(pg_query::NodeEnum::String(s)) => Some(s.sval.clone()),
                _ => None,
            })
            .collect();
        match parts.as_slice() {
            [name] => Some(Table {
                schema: None,
                name: name.clone(),
                only: false,
            }),
            [.., schema, name] => Some(Table {
                schema: Some(schema.clone()),
                name: name.clone(),
                only: false,
            }),
            [] => None,
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{}.{}", ident(schema), ident(&self.name)),
            None => write!(f, "{}", ident(&self.name)),
        }
    }
}

/// A key of a unique index: a column or an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// As SQL: the quoted column, or the expression in parentheses.
    pub sql: String,
    /// As a reader sees it.
    pub label: String,
    /// The columns it reads.
    pub columns: Vec<String>,
}

impl Key {
    fn column(name: &str) -> Key {
        Key {
            sql: ident(name),
            label: ident(name),
            columns: vec![name.to_string()],
        }
    }
}

/// What a statement needs of the rows before it can succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// No two rows share a key (UNIQUE, PRIMARY KEY, a unique index).
    Unique {
        /// `UNIQUE users_email_key`, `UNIQUE INDEX i`.
        what: String,
        table: Table,
        keys: Vec<Key>,
        /// A partial index's WHERE.
        predicate: Option<String>,
        /// False for NULLS NOT DISTINCT.
        nulls_distinct: bool,
    },
    /// No row holds NULL in the column.
    NotNull { table: Table, column: String },
    /// No row makes the CHECK's expression false.
    Satisfies {
        table: Table,
        name: String,
        columns: Vec<String>,
        expr: String,
    },
    /// Every row's key is found in the referenced table.
    References {
        table: Table,
        name: String,
        columns: Vec<String>,
        references: Table,
        /// Empty: the referenced table's primary key.
        referenced: Vec<String>,
        /// MATCH FULL.
        full: bool,
    },
    /// A constraint of the database validated: its definition is read
    /// from the catalog when the check runs.
    Validate { table: Table, name: String },
    /// Every value converts to the new type.
    Retype {
        table: Table,
        column: String,
        /// The new type.
        to: String,
        /// `(value)::type`.
        cast: String,
        /// A length the new type limits values to, which an explicit cast
        /// would cut silently: (`char`, `bit` or `varbit`, the limit, the
        /// value as SQL).
        limit: Option<(&'static str, i64, String)>,
    },
    /// No value of a column of the domain (in any table) breaks its new
    /// CHECK (`expr`, over `VALUE`; empty: the definition of constraint
    /// `name` in the database, validated) or, without `expr`, is NULL.
    Domain {
        domain: Table,
        name: String,
        expr: Option<String>,
    },
    /// The table has no rows (a NOT NULL column without a default is
    /// added).
    Empty {
        table: Table,
        column: String,
        /// Its type as written: a domain's default fills it.
        ty: String,
    },
    /// How many rows (or values of `column`) a drop loses: measured, never
    /// a refusal.
    Loses {
        table: Table,
        column: Option<String>,
        /// `DROP TABLE` or `TRUNCATE` (a column's is DROP COLUMN).
        how: &'static str,
    },
}

impl Check {
    /// The tables it reads, with the columns it reads of each.
    fn reads(&self) -> Vec<(&Table, Vec<String>)> {
        match self {
            Check::Unique { table, keys, .. } => {
                vec![(table, keys.iter().flat_map(|k| k.columns.clone()).collect())]
            }
            Check::NotNull { table, column }
            | Check::Retype { table, column, .. }
            | Check::Loses {
                table,
                column: Some(column),
                ..
            } => vec![(table, vec![column.clone()])],
            Check::Satisfies { table, columns, .. } => vec![(table, columns.clone())],
            Check::References {
                table,
                columns,
                references,
                referenced,
                ..
            } => vec![(table, columns.clone()), (references, referenced.clone())],
            // Whichever tables use the domain: only a statement that
            // writes rows or runs code spoils it.
            Check::Domain { .. } => Vec::new(),
            Check::Validate { table, .. }
            | Check::Empty { table, .. }
            | Check::Loses {
                table,
                column: None,
                ..
            } => vec![(table, Vec::new())],
        }
    }

    /// What it is about, as a reader says it.
    pub fn describe(&self) -> String {
        let columns = |c: &[String]| c.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ");
        match self {
            Check::Unique {
                what, table, keys, ..
            } => {
                let keys: Vec<&str> = keys.iter().map(|k| k.label.as_str()).collect();
                format!("{what} on {table} ({})", keys.join(", "))
            }
            Check::NotNull { table, column } => format!("NOT NULL on {table}.{}", ident(column)),
            Check::Satisfies {
                table, name, expr, ..
            } => match name.is_empty() {
                true => format!("CHECK ({expr}) on {table}"),
                false => format!("CHECK {} ({expr}) on {table}", ident(name)),
            },
            Check::References {
                table,
                name,
                columns: own,
                references,
                ..
            } => format!(
                "FOREIGN KEY {}from {table} ({}) to {references}",
                match name.is_empty() {
                    true => String::new(),
                    false => format!("{} ", ident(name)),
                },
                columns(own)
            ),
            Check::Validate { table, name } => {
                format!("VALIDATE CONSTRAINT {} on {table}", ident(name))
            }
            Check::Retype {
                table, column, to, ..
            } => format!("{table}.{} to {to}", ident(column)),
            Check::Domain {
                domain,
                name,
                expr: Some(expr),
            } if !expr.is_empty() => match name.is_empty() {
                true => format!("CHECK ({expr}) on domain {domain}"),
                false => format!("CHECK {} ({expr}) on domain {domain}", ident(name)),
            },
            Check::Domain {
                domain,
                name,
                expr: Some(_),
            } => format!("VALIDATE CONSTRAINT {} on domain {domain}", ident(name)),
            Check::Domain {
                domain, expr: None, ..
            } => format!("NOT NULL on domain {domain}"),
            Check::Empty { table, column, .. } => format!(
                "ADD COLUMN {table}.{} NOT NULL without a default",
                ident(column)
            ),
            Check::Loses {
                table,
                column: Some(column),
                ..
            } => format!("DROP COLUMN {table}.{}", ident(column)),
            Check::Loses {
                table,
                column: None,
                how,
            } => format!("{how} {table}"),
        }
    }
}

/// Part of a table read instead of the whole.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// `TABLESAMPLE SYSTEM` percentage.
    pub percent: f64,
    /// The table's size (heap), bytes.
    pub bytes: i64,
}

impl Sample {
    fn describe(&self) -> String {
        format!(
            "in a {:.2}% sample of {}, as pre_checks.sample_above says",
            self.percent,
            crate::hazard::human_size(self.bytes)
        )
    }
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing in the way.
    Clear { sample: Option<Sample> },
    /// Rows in the way: the statement would fail. `rows`: how many rows
    /// share the example's key (duplicates).
    Violations {
        count: u64,
        example: Option<String>,
        rows: Option<u64>,
        sample: Option<Sample>,
    },
    /// A value does not convert (the server's message): the statement
    /// would fail.
    Fails { message: String },
    /// A drop's loss: rows, or values of the column.
    Holds { count: u64, sample: Option<Sample> },
    /// Not run, and why.
    NotRun { why: String },
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The statement's index in the run.
    #[serde(skip)]
    pub statement: usize,
    /// Where the statement is: `step 3`, `migrations/x.sql:12`.
    pub at: String,
    /// What was checked.
    pub check: String,
    /// What it found.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// How a finding is worded (the check's kind).
    #[serde(skip)]
    words: Words,
}

/// How a kind of check words what it found.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Words {
    Unique,
    NotNull,
    Satisfies,
    References,
    Retype,
    Empty,
    LosesRows,
    LosesValues,
}

impl Finding {
    /// True when it refuses the run: the statement would fail.
    pub fn refuses(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::Violations { .. } | Outcome::Fails { .. }
        )
    }

    /// What it found, in words.
    pub fn result(&self) -> String {
        let sampled = |s: &Option<Sample>| match s {
            Some(s) => format!(" ({})", s.describe()),
            None => String::new(),
        };
        let n = |count: u64, one: &str, many: &str| match count {
            1 => format!("1 {one}"),
            n => format!("{} {many}", crate::hazard::group_digits(n)),
        };
        match &self.outcome {
            Outcome::Clear { sample } => {
                let none = match self.words {
                    Words::Unique => "no duplicate values",
                    Words::NotNull => "no NULL",
                    Words::Satisfies => "no row violates it",
                    Words::References => "every row's key is there",
                    Words::Retype => "every value converts",
                    Words::Empty => "the table is empty",
                    Words::LosesRows => "no rows",
                    Words::LosesValues => "no row holds a value",
                };
                format!("{none}{}", sampled(sample))
            }
            Outcome::Violations {
                count,
                example,
                rows,
                sample,
            } => {
                let what = match self.words {
                    Words::Unique => n(*count, "duplicate value", "duplicate values"),
                    Words::NotNull => n(*count, "row holds NULL", "rows hold NULL"),
                    Words::Satisfies => n(*count, "row violates it", "rows violate it"),
                    Words::References => n(
                        *count,
                        "row references a missing row",
                        "rows reference missing rows",
                    ),
                    Words::Retype => n(*count, "value does not fit", "values do not fit"),
                    Words::Empty => "the table has rows".to_string(),
                    Words::LosesRows | Words::LosesValues => n(*count, "row", "rows"),
                };
                let example = match (example, rows) {
                    (Some(e), Some(r)) => format!(", e.g. {e} ({} rows)", r),
                    (Some(e), None) if self.words == Words::Unique => format!(", e.g. {e}"),
                    (Some(e), None) if self.words == Words::References => format!(", e.g. {e}"),
                    (Some(e), None) => format!(", e.g. the row {e}"),
                    (None, _) => String::new(),
                };
                format!("{what}{example}{}", sampled(sample))
            }
            Outcome::Fails { message } => format!("a value does not convert: {message}"),
            Outcome::Holds { count, sample } => {
                let about = if sample.is_some() { "about " } else { "" };
                let what = match (self.words, count) {
                    (Words::LosesValues, 0) => "no row holds a value".to_string(),
                    (Words::LosesValues, _) => n(*count, "row holds a value", "rows hold a value"),
                    (_, 0) => "no rows".to_string(),
                    _ => n(*count, "row", "rows"),
                };
                format!("{about}{what}{}", sampled(sample))
            }
            Outcome::NotRun { why } => format!("not checked: {why}"),
        }
    }
}

/// The pre-checks of `statements` (the SQL of each step that will run, in
/// order) run on the database `client` is connected to; `labels` names a
/// statement for the reasons a check is not run. Read-only; `lock_timeout`
/// bounds each check's wait for its ACCESS SHARE lock. Ctrl-C cancels the
/// running check's query on the server (through `url`'s TLS settings) and
/// ends the run with an error: nothing else ran.
pub async fn run(
    client: &Client,
    url: Option<&str>,
    statements: &[&str],
    labels: &dyn Fn(usize) -> String,
    settings: &Settings,
    lock_timeout: Option<Duration>,
) -> Result<Vec<Finding>> {
    let _signals = crate::interrupt::handle();
    let mut out = Vec::new();
    for planned in read::plan(statements, labels) {
        let (check, outcome) = match planned.skip {
            Some(why) => (planned.check, Some(Outcome::NotRun { why })),
            None => {
                let checking = query::run(client, planned.check, settings, lock_timeout);
                crate::interrupt::cancellable(client, url, checking).await?
            }
        };
        if crate::interrupt::requested() {
            anyhow::bail!(
                "interrupted during the pre-checks (their query was cancelled on the server); \
                 nothing was run"
            );
        }
        let Some(outcome) = outcome else { continue };
        out.push(Finding {
            statement: planned.statement,
            at: labels(planned.statement),
            check: check.describe(),
            words: words(&check),
            outcome,
        });
    }
    Ok(out)
}

/// `findings` a line each, as `apply` and `migrate` print them.
pub fn lines(findings: &[Finding]) -> String {
    use crate::ui::{paint, style};
    findings
        .iter()
        .map(|f| {
            let colour = match &f.outcome {
                _ if f.refuses() => style::RED,
                Outcome::Clear { .. } => style::GREEN,
                _ => style::YELLOW,
            };
            format!(
                "  pre-check {}: {}: {}\n",
                f.at,
                f.check,
                paint(colour, &f.result())
            )
        })
        .collect()
}

/// What a run refused by `findings` says after their lines: how many
/// failed, that nothing ran, and what to do.
pub fn refusal(findings: &[Finding], verb: &str) -> String {
    let failed = findings.iter().filter(|f| f.refuses()).count();
    format!(
        "Nothing was {verb}: {} found rows {} would fail on. Fix those rows (or the \
         statements), then run again; --no-pre-checks runs without these checks and lets \
         the statements fail on their own.\n",
        match failed {
            1 => "a pre-check".to_string(),
            n => format!("{n} pre-checks"),
        },
        match failed {
            1 => "its statement",
            _ => "their statements",
        }
    )
}

/// How `check`'s findings are worded.
fn words(check: &Check) -> Words {
    match check {
        Check::Unique { .. } => Words::Unique,
        Check::NotNull { .. } => Words::NotNull,
        Check::Satisfies { .. } | Check::Validate { .. } => Words::Satisfies,
        Check::Domain { expr: None, .. } => Words::NotNull,
        Check::Domain { .. } => Words::Satisfies,
        Check::References { .. } => Words::References,
        Check::Retype { .. } => Words::Retype,
        Check::Empty { .. } => Words::Empty,
        Check::Loses { column: None, .. } => Words::LosesRows,
        Check::Loses { .. } => Words::LosesValues,
    }
}
