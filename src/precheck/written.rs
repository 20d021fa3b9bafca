//! What the earlier statements of a run change (tables made, dropped or
//! renamed, columns changed, rows written or code run), so that a later
//! statement's pre-check is not run on rows it would not meet.

use std::collections::{BTreeMap, BTreeSet};

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::{Check, Table};

/// What earlier statements of the run change.
#[derive(Default)]
pub(super) struct Written {
    /// The statement after which nothing is known, with what it is.
    pub(super) everything: Option<(usize, &'static str)>,
    /// Tables (by name, whatever their schema) made, dropped or renamed,
    /// with the statement that did it.
    pub(super) tables: BTreeMap<String, usize>,
    /// Columns (table name, column) added, retyped, dropped or renamed.
    pub(super) columns: BTreeMap<(String, String), usize>,
    /// Tables made empty by CREATE TABLE in the run: checks of them say
    /// nothing (their rows come from the run's own statements).
    pub(super) created: BTreeSet<String>,
    /// Constraints added (NOT VALID) in the run, for a later VALIDATE.
    pub(super) added: BTreeMap<(String, String), Check>,
}

impl Written {
    /// Why `check` cannot be run after what the run did before it, if so.
    pub(super) fn spoils(&self, check: &Check, labels: &dyn Fn(usize) -> String) -> Option<String> {
        if let Some((at, what)) = self.everything {
            return Some(format!(
                "{} before it {what}, so the rows it meets are not known",
                labels(at)
            ));
        }
        for (table, columns) in check.reads() {
            if let Some(at) = self.tables.get(&table.name) {
                return Some(format!("{} before it changes {}", labels(*at), table));
            }
            // A constraint of the database validated reads columns its
            // definition names: any of the table's changed is too many.
            if let Check::Validate { .. } = check {
                let changed = self.columns.iter().find(|((t, _), _)| *t == table.name);
                if let Some(((_, column), at)) = changed {
                    return Some(format!(
                        "{} before it changes {}.{}",
                        labels(*at),
                        table,
                        crate::sql::ident(column)
                    ));
                }
            }
            for column in columns {
                if let Some(at) = self.columns.get(&(table.name.clone(), column.clone())) {
                    return Some(format!(
                        "{} before it changes {}.{}",
                        labels(*at),
                        table,
                        crate::sql::ident(&column)
                    ));
                }
            }
        }
        None
    }
}

/// Records what `node` changes for the checks of later statements.
pub(super) fn record(node: &NodeEnum, written: &mut Written, at: usize) {
    let mut table = |name: &str| {
        written.tables.entry(name.to_string()).or_insert(at);
    };
    let unknown = match node {
        NodeEnum::InsertStmt(_)
        | NodeEnum::UpdateStmt(_)
        | NodeEnum::DeleteStmt(_)
        | NodeEnum::MergeStmt(_) => Some("writes rows"),
        NodeEnum::CopyStmt(c) if c.is_from => Some("writes rows"),
        NodeEnum::DoStmt(_) | NodeEnum::CallStmt(_) | NodeEnum::ExecuteStmt(_) => Some("runs code"),
        NodeEnum::SelectStmt(_) if !harmless_select(node) => Some("runs code"),
        NodeEnum::CreateStmt(s) => {
            s.relation.iter().for_each(|r| table(&r.relname));
            if let Some(r) = &s.relation {
                written.created.insert(r.relname.clone());
            }
            None
        }
        NodeEnum::CreateTableAsStmt(s) => {
            if let Some(r) = s.into.as_ref().and_then(|i| i.rel.as_ref()) {
                table(&r.relname);
            }
            None
        }
        NodeEnum::DropStmt(s) if s.remove_type == ObjectType::ObjectTable as i32 => {
            for t in s
                .objects
                .iter()
                .filter_map(|o| Table::of_list(o.node.as_ref()))
            {
                table(&t.name);
            }
            None
        }
        NodeEnum::TruncateStmt(s) => {
            for r in &s.relations {
                if let Some(NodeEnum::RangeVar(r)) = r.node.as_ref() {
                    table(&r.relname);
                }
            }
            None
        }
        NodeEnum::RenameStmt(s) => {
            if let Some(r) = &s.relation {
                match ObjectType::try_from(s.rename_type) {
                    Ok(ObjectType::ObjectTable) => {
                        table(&r.relname);
                        table(&s.newname);
                    }
                    Ok(ObjectType::ObjectColumn) => {
                        for column in [&s.subname, &s.newname] {
                            written
                                .columns
                                .entry((r.relname.clone(), column.clone()))
                                .or_insert(at);
                        }
                    }
                    _ => {}
                }
            }
            None
        }
        _ => None,
    };
    if let Some(what) = unknown {
        written.everything.get_or_insert((at, what));
    }
}

/// True for a SELECT that only reads, or calls functions known to leave
/// rows alone (`setval`, `set_config`, ...), as plans and files do to
/// set a sequence or a setting.
fn harmless_select(node: &NodeEnum) -> bool {
    const KNOWN: &[&str] = &[
        "setval",
        "nextval",
        "currval",
        "set_config",
        "current_setting",
        "pg_advisory_lock",
        "pg_advisory_xact_lock",
        "pg_try_advisory_lock",
        "pg_try_advisory_xact_lock",
        "pg_advisory_unlock",
        "pg_sleep",
        "pg_notify",
        "count",
        "max",
        "min",
        "coalesce",
        "now",
    ];
    let Ok(tree) = serde_json::to_value(node) else {
        return false;
    };
    let mut todo = vec![&tree];
    while let Some(value) = todo.pop() {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    if ["InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]
                        .contains(&key.as_str())
                    {
                        return false;
                    }
                    if key == "FuncCall" {
                        let name = inner
                            .get("funcname")
                            .and_then(|n| n.as_array())
                            .and_then(|n| n.last())
                            .and_then(|n| {
                                n.pointer("/node/String/sval").or(n.pointer("/String/sval"))
                            })
                            .and_then(|s| s.as_str())
                            .unwrap_or_default();
                        if !KNOWN.contains(&name) {
                            return false;
                        }
                    }
                    todo.push(inner);
                }
            }
            serde_json::Value::Array(items) => todo.extend(items),
            _ => {}
        }
    }
    true
}
