//! Migration files as scripts: each statement a step, in the batches the
//! file's `-- stratum:batch` lines mark.
//!
//! `generate` writes a marker line before each batch of a migration that
//! runs in more than one (a concurrent index build on its own, a VALIDATE
//! apart from the statement that took a stronger lock), and hand-written
//! files may use them too. Each batch runs in one transaction, unless one of
//! its statements cannot run in one: then each of its statements runs on
//! its own. A file without markers keeps its meaning: one transaction, or
//! (when a statement cannot run in one, or dbmate's `transaction:false`
//! says so) each statement on its own.
//!
//! An `UPDATE` after a `-- stratum:backfill` line runs in keyset batches
//! ([`super::backfill`]), outside a transaction like a concurrent build.

use std::collections::BTreeSet;

use anyhow::Result;

use super::backfill::Backfill;
use super::{batches, RunStep, Script};
use crate::hazard::HazardCode;
use crate::kinds::Cleanup;
use crate::parse::{self, Location, SqlError, SqlFile, SqlSource};
use crate::sql::{ident, QualName};

/// The line that starts a batch; the rest of the line is for people.
pub const MARKER: &str = "-- stratum:batch";

/// The line of a file's header that approves hazards of its statements:
/// `-- stratum:allow-hazards data-loss`. `generate` writes it when the
/// change was approved there; a reviewer may write it by hand.
pub const APPROVAL: &str = "-- stratum:allow-hazards";

/// The hazards the approval lines of `text` approve.
pub fn approved(text: &str) -> BTreeSet<HazardCode> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix(APPROVAL))
        .flat_map(|rest| {
            rest.split([',', ' '])
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map_while(HazardCode::parse)
        })
        .collect()
}

/// `file` as a script: `no_transaction` is dbmate's `transaction:false`.
pub fn script(file: &SqlFile, no_transaction: bool) -> Result<Script> {
    let statements = parse::file_statements(file, 0)?;
    let mut starts = Vec::with_capacity(statements.len());
    let mut steps = Vec::with_capacity(statements.len());
    let mut previous_end = 0;
    let mut own_timeouts = false;
    // Approval lines before the first statement (the header) cover every
    // statement; one right above a statement covers that statement.
    let mut approvals: Vec<BTreeSet<HazardCode>> = Vec::with_capacity(statements.len());
    let mut validates = Vec::with_capacity(statements.len());
    for stmt in &statements {
        let code = stmt.offset + parse::code_start(&stmt.sql);
        let before = &file.text[previous_end.min(code)..code];
        starts.push(has_marker(before));
        approvals.push(approved(before));
        previous_end = stmt.offset + stmt.sql.len();
        let line = file.text[..code].matches('\n').count() + 1;
        let node = parse::first_statement(&stmt.sql);
        own_timeouts |= matches!(&node, Some(pg_query::NodeEnum::VariableSetStmt(v))
            if v.name == "lock_timeout" || v.name == "statement_timeout");
        validates.push(node.as_ref().is_some_and(super::statement::validates));
        let backfill = backfill_marker(before)
            .map(|options| {
                Backfill::new(&stmt.sql, options).map_err(|message| SqlError {
                    location: Location::at(file, code),
                    message,
                })
            })
            .transpose()?;
        steps.push(RunStep {
            kind: match backfill {
                Some(_) => "backfill",
                None => "statement",
            }
            .to_string(),
            object: format!("line {line}"),
            hazards: super::statement::hazards(node.as_ref()),
            sql: Some(stmt.sql.clone()),
            // A backfill commits batch by batch, outside a transaction.
            transactional: !no_transaction
                && backfill.is_none()
                && node
                    .as_ref()
                    .and_then(parse::outside_transaction_of)
                    .is_none(),
            undo_on_failure: node.as_ref().and_then(concurrent_build),
            table: None,
            backfill,
        });
    }
    if starts.iter().skip(1).any(|s| *s) {
        // A VALIDATE in a marked file runs on its own, with the timeouts of
        // long statements, as the plan it came from ran it.
        for (step, validates) in steps.iter_mut().zip(&validates) {
            step.transactional &= !validates;
        }
        // A marked batch with a statement that cannot run in a transaction
        // runs each of its statements on its own.
        let mut start = 0;
        for i in 1..=steps.len() {
            if i == steps.len() || starts[i] {
                if steps[start..i].iter().any(|s| !s.transactional) {
                    for step in &mut steps[start..i] {
                        step.transactional = false;
                    }
                }
                start = i;
            }
        }
    } else if steps.iter().any(|s| !s.transactional) {
        // Such a file without markers keeps its meaning: every statement
        // on its own.
        for step in &mut steps {
            step.transactional = false;
        }
    }
    let batches = batches(&steps, &starts);
    let header = approvals.first().cloned().unwrap_or_default();
    for approval in &mut approvals {
        approval.extend(&header);
    }
    Ok(Script {
        steps,
        batches,
        source: Some(SqlSource {
            statements,
            files: vec![file.clone()],
        }),
        setup: crate::load::CLEAN_SESSION,
        own_timeouts,
        approved: approvals,
        measured: None,
    })
}

/// True when `text` (what lies between two statements) holds a marker line.
fn has_marker(text: &str) -> bool {
    text.lines().any(|l| l.trim_start().starts_with(MARKER))
}

/// The options of the backfill marker line in `text` (what lies between
/// two statements), if it holds one.
fn backfill_marker(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(super::backfill::MARKER))
        .filter(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
        .map(str::trim)
}

/// The clean-up of a concurrent index build: its INVALID index, when the
/// statement names it.
fn concurrent_build(node: &pg_query::NodeEnum) -> Option<Cleanup> {
    let pg_query::NodeEnum::IndexStmt(s) = node else {
        return None;
    };
    if !s.concurrent || s.idxname.is_empty() {
        return None;
    }
    let schema = s.relation.as_ref().map_or("", |r| r.schemaname.as_str());
    let name = if schema.is_empty() {
        ident(&s.idxname)
    } else {
        QualName::new(schema, s.idxname.as_str()).to_string()
    };
    Some(Cleanup::InvalidIndex(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn of(text: &str) -> Script {
        let file = SqlFile {
            path: PathBuf::from("m.sql"),
            text: text.to_string(),
        };
        script(&file, false).unwrap()
    }

    fn shape(script: &Script) -> Vec<(Vec<usize>, bool)> {
        script
            .batches
            .iter()
            .map(|b| (b.steps.clone().collect(), b.in_transaction))
            .collect()
    }

    #[test]
    fn a_file_without_markers_is_one_transaction() {
        let s = of("CREATE TABLE a (x int);\nCREATE TABLE b (x int);\n");
        assert_eq!(shape(&s), [(vec![0, 1], true)]);
        assert!(s.in_one_transaction());
        assert_eq!(s.steps[1].object, "line 2");
    }

    #[test]
    fn a_file_without_markers_that_cannot_be_one_transaction_runs_statement_by_statement() {
        let s = of("CREATE TABLE a (x int);\nCREATE INDEX CONCURRENTLY a_x ON a (x);\nCREATE TABLE b (x int);\n");
        assert_eq!(
            shape(&s),
            [(vec![0], false), (vec![1], false), (vec![2], false)]
        );
        assert_eq!(
            s.steps[1].undo_on_failure,
            Some(Cleanup::InvalidIndex("a_x".into()))
        );
    }

    #[test]
    fn markers_start_batches() {
        let s = of("-- stratum:batch 1 of 3\nALTER TABLE a ADD CONSTRAINT c CHECK (x > 0) NOT VALID;\n\
                    CREATE TABLE b (x int);\n\
                    -- stratum:batch 2 of 3: outside a transaction\n\
                    CREATE INDEX CONCURRENTLY b_x ON app.b (x);\n\
                    -- a comment\n-- stratum:batch 3 of 3\n/* and another */ ALTER TABLE a VALIDATE CONSTRAINT c;\n");
        assert_eq!(
            shape(&s),
            [(vec![0, 1], true), (vec![2], false), (vec![3], false)]
        );
        assert_eq!(
            s.steps[2].undo_on_failure,
            Some(Cleanup::InvalidIndex("app.b_x".into()))
        );
        assert_eq!(s.steps[3].object, "line 8");
    }

    #[test]
    fn a_marked_batch_with_a_statement_that_cannot_be_in_a_transaction_runs_it_alone() {
        let s = of(
            "CREATE TABLE a (x int);\n-- stratum:batch\nCREATE TABLE b (x int);\n\
                    CREATE INDEX CONCURRENTLY b_x ON b (x);\n",
        );
        assert_eq!(
            shape(&s),
            [(vec![0], true), (vec![1], false), (vec![2], false)]
        );
    }

    #[test]
    fn the_header_approves_every_statement_and_a_line_above_one_that_one() {
        let s = of("-- stratum:allow-hazards table-rewrite\nCREATE TABLE a (x int);\n\
                    -- stratum:allow-hazards data-loss\nDROP TABLE b;\nDROP TABLE c;\n\
                    CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$\n-- stratum:allow-hazards data-loss\nSELECT 1 $$;\n");
        let codes = |i: usize| s.approved[i].iter().map(|c| c.as_str()).collect::<Vec<_>>();
        assert_eq!(codes(0), ["table-rewrite"]);
        assert_eq!(codes(1), ["data-loss", "table-rewrite"]);
        assert_eq!(codes(2), ["table-rewrite"]);
        assert_eq!(codes(3), ["table-rewrite"]);
    }

    #[test]
    fn approval_lines_list_codes() {
        let text = "-- Migration x\n-- stratum:allow-hazards data-loss, table-rewrite (approved when generated)\nDROP TABLE t;\n";
        assert_eq!(
            approved(text).into_iter().collect::<Vec<_>>(),
            [HazardCode::DataLoss, HazardCode::TableRewrite]
        );
        assert!(approved("-- stratum:allow-hazards\n").is_empty());
    }

    #[test]
    fn a_marker_inside_a_statement_is_not_one() {
        let s = of("CREATE TABLE a (x int);\nCREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$\n-- stratum:batch\nSELECT 1 $$;\n");
        assert_eq!(shape(&s), [(vec![0, 1], true)]);
    }
}
