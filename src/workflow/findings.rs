//! The hazards of migration files found by running them, for `lint` and
//! `migrate --dry-run --rehearse`: each file rehearsed on a sampled copy of
//! the database (the locks its statements take and for how long, the tables
//! they rewrite, the rows they read) and pre-checked on the database itself
//! (what a drop loses, what would fail), a finding at its file and line with
//! squawk's rule for the same statement.

use anyhow::Result;
use pg_query::protobuf::{AlterTableType, ConstrType, ObjectType};
use pg_query::NodeEnum;
use serde::Serialize;

use crate::config::Project;
use crate::hazard::{group_digits, human_size, HazardCode};
use crate::precheck::{Finding, Outcome};
use crate::rehearse::{Part, Rehearsed};

/// One finding of `lint`.
#[derive(Debug, Clone, Serialize)]
pub struct Lint {
    /// `file:line`.
    pub at: String,
    /// A hazard code, or `fails` when the statement would fail on the
    /// database's rows.
    pub code: String,
    /// What it is.
    pub message: String,
    /// The squawk rule for the same statement, if any.
    pub squawk: Option<&'static str>,
}

impl Lint {
    /// `file:line: hazard code: message (squawk: rule)`.
    pub fn line(&self) -> String {
        format!(
            "{}: {} {}{}",
            self.at,
            match self.code.as_str() {
                "fails" => "fails:".to_string(),
                code => format!("hazard {code}:"),
            },
            self.message,
            self.squawk
                .map(|r| format!(" (squawk: {r})"))
                .unwrap_or_default()
        )
    }
}

/// The lints of `parts` on the database at `url`, in the order their
/// statements run, and how they were found (for the summary line);
/// `checked`: their pre-checks, when the caller ran them already.
pub(super) async fn findings(
    project: &Project,
    url: &str,
    parts: &[Part],
    checked: Option<Vec<Finding>>,
) -> Result<(Vec<Lint>, String)> {
    // The database's own rows: what drops lose, what would fail.
    let checked = match checked {
        Some(checked) => checked,
        None => pre_checks(project, url, parts).await?,
    };
    let current = super::apply::read_current(project, url).await?;
    let rehearsal = crate::rehearse::rehearse(
        url,
        &current,
        parts,
        &project.rehearse,
        &project.timeouts,
        &project.scratch(),
    )
    .await;
    let mut lints: Vec<(usize, Lint)> = Vec::new();
    for f in &checked {
        if let Some(lint) = of_finding(f) {
            lints.push((order(parts, &f.at), lint));
        }
    }
    let rehearsed = match rehearsal {
        Ok(rehearsal) => {
            crate::rehearse::rates::save(url, &crate::rehearse::rates::measured(&rehearsal));
            for r in &rehearsal.steps {
                let sql = sql_at(parts, r);
                let rows = rehearsal
                    .tables
                    .iter()
                    .find(|t| Some(&t.table) == r.table.as_ref());
                for lint in of_step(r, sql, rows) {
                    lints.push((order(parts, &r.at), lint));
                }
            }
            format!(
                "rehearsed on a copy with {} rows sampled from the database",
                group_digits(rehearsal.tables.iter().map(|t| t.copied).sum())
            )
        }
        // What a failure on the copy says is a finding too.
        Err(e) if checked.iter().any(Finding::refuses) => {
            format!("the rehearsal stopped where a pre-check said it would: {e:#}")
        }
        Err(e) => return Err(e),
    };
    lints.sort_by_key(|(order, _)| *order);
    Ok((lints.into_iter().map(|(_, l)| l).collect(), rehearsed))
}

/// The pre-checks of every part's statements on the database, as one run.
async fn pre_checks(project: &Project, url: &str, parts: &[Part]) -> Result<Vec<Finding>> {
    let settings = project.pre_checks.clone().unwrap_or_default();
    let mut statements = Vec::new();
    let mut labels = Vec::new();
    for part in parts {
        for step in &part.script.steps {
            statements.push(step.sql.as_deref().unwrap_or_default());
            labels.push(format!(
                "{}:{}",
                part.name,
                step.object.trim_start_matches("line ")
            ));
        }
    }
    let client = crate::conninfo::connect_url(url).await?;
    let label = |i: usize| labels[i].clone();
    crate::precheck::run(
        &client,
        Some(url),
        &statements,
        &label,
        &settings,
        project.timeouts.lock,
    )
    .await
}

/// Where `at` (`file:line`) comes in the run, for the order of findings.
fn order(parts: &[Part], at: &str) -> usize {
    let mut n = 0;
    for part in parts {
        for step in &part.script.steps {
            if at == format!("{}:{}", part.name, step.object.trim_start_matches("line ")) {
                return n;
            }
            n += 1;
        }
    }
    n
}

/// The statement a rehearsed step ran.
fn sql_at<'a>(parts: &'a [Part], r: &Rehearsed) -> &'a str {
    parts
        .iter()
        .find(|p| p.name == r.part)
        .and_then(|p| p.script.steps.get(r.step - 1))
        .and_then(|s| s.sql.as_deref())
        .unwrap_or_default()
}

/// A pre-check's finding as a lint: a statement that would fail, or a drop
/// that loses rows.
fn of_finding(f: &Finding) -> Option<Lint> {
    let squawk = None;
    match &f.outcome {
        _ if f.refuses() => Some(Lint {
            at: f.at.clone(),
            code: "fails".into(),
            message: format!("{}: {}", f.check, f.result()),
            squawk,
        }),
        Outcome::Holds { count, .. } if *count > 0 => Some(Lint {
            at: f.at.clone(),
            code: HazardCode::DataLoss.as_str().into(),
            message: format!("{}: {}", f.check, f.result()),
            squawk: if f.check.starts_with("DROP COLUMN") {
                Some("ban-drop-column")
            } else {
                Some("ban-drop-table")
            },
        }),
        _ => None,
    }
}

/// The hazards a rehearsed step showed: a rewrite, a lock that blocks
/// reads and writes while it reads rows, an index built without
/// CONCURRENTLY, a scan; on a table with rows only.
fn of_step(r: &Rehearsed, sql: &str, table: Option<&crate::rehearse::copy::Copied>) -> Vec<Lint> {
    let Some(table) = table.filter(|t| t.rows > 0) else {
        return Vec::new();
    };
    let node = crate::parse::first_statement(sql);
    let squawk = node.as_ref().and_then(squawk_rule);
    let index = match &node {
        Some(NodeEnum::IndexStmt(i)) => Some(i.concurrent),
        _ => None,
    };
    let dml = matches!(
        node,
        Some(NodeEnum::UpdateStmt(_) | NodeEnum::DeleteStmt(_) | NodeEnum::InsertStmt(_))
    );
    let reads = crate::rehearse::reads_rows(sql);
    let facts = format!(
        "about {} rows, {}; {} on the copy of {} rows, about {} on the real table",
        group_digits(table.rows),
        human_size(table.bytes),
        crate::rehearse::ms(r.ms),
        group_digits(table.copied),
        crate::rehearse::ms(r.estimate_ms)
    );
    let mut out = Vec::new();
    let mut add = |code: HazardCode, message: String| {
        out.push(Lint {
            at: r.at.clone(),
            code: code.as_str().into(),
            message,
            squawk,
        })
    };
    if r.rewrote {
        add(
            HazardCode::TableRewrite,
            format!("rewrites {} and its indexes ({facts})", table.table),
        );
    }
    let lock = r.lock.unwrap_or_default();
    if lock == "ACCESS EXCLUSIVE" && (r.rewrote || reads) {
        add(
            HazardCode::AccessExclusiveLock,
            format!(
                "holds an ACCESS EXCLUSIVE lock on {} (reads and writes wait) for about {} on \
                 the real table",
                table.table,
                crate::rehearse::ms(r.held_estimate_ms)
            ),
        );
    }
    match index {
        Some(false) => add(
            HazardCode::IndexBuild,
            format!(
                "builds an index on {} without CONCURRENTLY: writes wait ({facts})",
                table.table
            ),
        ),
        Some(true) => {}
        None if reads && !r.rewrote && !dml => add(
            HazardCode::FullTableScan,
            format!(
                "reads every row of {} while it holds its {lock} lock ({facts})",
                table.table
            ),
        ),
        None => {}
    }
    out
}

/// The squawk rule that covers a statement of this shape, if any.
fn squawk_rule(node: &NodeEnum) -> Option<&'static str> {
    match node {
        NodeEnum::IndexStmt(i) if !i.concurrent => Some("require-concurrent-index-creation"),
        NodeEnum::DropStmt(d) if d.remove_type == ObjectType::ObjectTable as i32 => {
            Some("ban-drop-table")
        }
        NodeEnum::AlterTableStmt(a) => a.cmds.iter().find_map(|c| {
            let Some(NodeEnum::AlterTableCmd(cmd)) = c.node.as_ref() else {
                return None;
            };
            match AlterTableType::try_from(cmd.subtype).ok()? {
                AlterTableType::AtDropColumn => Some("ban-drop-column"),
                AlterTableType::AtAlterColumnType => Some("changing-column-type"),
                AlterTableType::AtSetNotNull => Some("adding-not-nullable-field"),
                AlterTableType::AtAddColumn => Some("adding-field-with-default"),
                AlterTableType::AtAddConstraint => {
                    let Some(NodeEnum::Constraint(k)) =
                        cmd.def.as_deref().and_then(|d| d.node.as_ref())
                    else {
                        return None;
                    };
                    match ConstrType::try_from(k.contype).ok()? {
                        ConstrType::ConstrForeign if !k.skip_validation => {
                            Some("adding-foreign-key-constraint")
                        }
                        ConstrType::ConstrCheck if !k.skip_validation => {
                            Some("constraint-missing-not-valid")
                        }
                        ConstrType::ConstrUnique if k.indexname.is_empty() => {
                            Some("disallowed-unique-constraint")
                        }
                        _ => None,
                    }
                }
                _ => None,
            }
        }),
        _ => None,
    }
}
