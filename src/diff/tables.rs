//! Tables and what hangs off them: columns, constraints, indexes, triggers.

use std::collections::BTreeSet;

use super::{comment, Change};
use crate::catalog::{Catalog, Column, ObjectId, QualName, Table};
use crate::sql::ident;

pub(super) fn tables(
    current: &Catalog,
    desired: &Catalog,
    rebuilt_enums: &BTreeSet<QualName>,
    changes: &mut Vec<Change>,
) {
    for (name, table) in &desired.tables {
        match current.tables.get(name) {
            None => create_table(table, changes),
            Some(old) => alter_table(current, old, table, rebuilt_enums, changes),
        }
    }
    let dropped: BTreeSet<&QualName> = current
        .tables
        .keys()
        .filter(|name| !desired.tables.contains_key(*name))
        .collect();
    for name in &dropped {
        drop_table(current, &current.tables[*name], &dropped, changes);
    }
}

/// DROP TABLE. Foreign keys to other dropped tables are dropped first on
/// their own, so that tables referencing each other can be dropped at all.
fn drop_table(
    current: &Catalog,
    table: &Table,
    dropped: &BTreeSet<&QualName>,
    changes: &mut Vec<Change>,
) {
    let mut table = table.clone();
    let name = table.name.clone();
    table.constraints.retain(|_, c| {
        let id = ObjectId::Constraint {
            table: name.clone(),
            name: c.name.clone(),
        };
        // `depends` is ordered by dependent: the smallest id starts its run.
        let first = ObjectId::Schema {
            name: String::new(),
        };
        let to_dropped = current
            .depends
            .range((id.clone(), first)..)
            .take_while(|(a, _)| a == &id)
            .any(|(_, b)| {
                table_of(current, b).is_some_and(|other| *other != name && dropped.contains(other))
            });
        if to_dropped {
            changes.push(Change::DropConstraint {
                table: name.clone(),
                constraint: c.clone(),
            });
        }
        !to_dropped
    });
    changes.push(Change::DropTable(table));
}

/// The table an object belongs to, if it belongs to one.
fn table_of<'a>(current: &'a Catalog, id: &'a ObjectId) -> Option<&'a QualName> {
    match id {
        ObjectId::Table { name } => Some(name),
        ObjectId::Column { table, .. }
        | ObjectId::Default { table, .. }
        | ObjectId::Constraint { table, .. }
        | ObjectId::Trigger { table, .. } => Some(table),
        ObjectId::Index { name } => current
            .tables
            .values()
            .find(|t| {
                t.name.schema == name.schema
                    && (t.indexes.contains_key(&name.name)
                        || t.constraints.contains_key(&name.name))
            })
            .map(|t| &t.name),
        _ => None,
    }
}

fn create_table(table: &Table, changes: &mut Vec<Change>) {
    let name = &table.name;
    changes.push(Change::CreateTable(table.clone()));
    for constraint in table.constraints.values().filter(|c| !c.inline()) {
        changes.push(Change::AddConstraint {
            table: name.clone(),
            constraint: constraint.clone(),
            new_table: true,
        });
    }
    for index in table.indexes.values() {
        changes.push(Change::CreateIndex {
            table: name.clone(),
            index: index.clone(),
            new_table: true,
        });
    }
    for trigger in table.triggers.values() {
        changes.push(Change::CreateTrigger {
            table: name.clone(),
            trigger: trigger.clone(),
        });
    }
    let empty = Table {
        columns: Vec::new(),
        constraints: Default::default(),
        indexes: Default::default(),
        triggers: Default::default(),
        comment: None,
        ..table.clone()
    };
    comments(&empty, table, changes);
}

/// Comment changes on a table and its parts that exist on both sides or are
/// new (a new part's current comment is none).
fn comments(old: &Table, new: &Table, changes: &mut Vec<Change>) {
    let name = &new.name;
    comment(
        changes,
        ObjectId::Table { name: name.clone() },
        format!("TABLE {name}"),
        old.comment.as_ref(),
        new.comment.as_ref(),
    );
    for column in &new.columns {
        // A column that is dropped and added again starts without a comment.
        let before = old
            .column(&column.name)
            .filter(|c| !needs_recreate(c, column))
            .and_then(|c| c.comment.as_ref());
        comment(
            changes,
            ObjectId::Column {
                table: name.clone(),
                column: column.name.clone(),
            },
            format!("COLUMN {name}.{}", ident(&column.name)),
            before,
            column.comment.as_ref(),
        );
    }
    for c in new.constraints.values() {
        let before = old
            .constraints
            .get(&c.name)
            .filter(|o| o.kind == c.kind && o.definition == c.definition);
        comment(
            changes,
            ObjectId::Constraint {
                table: name.clone(),
                name: c.name.clone(),
            },
            format!("CONSTRAINT {} ON {name}", ident(&c.name)),
            before.and_then(|o| o.comment.as_ref()),
            c.comment.as_ref(),
        );
    }
    for index in new.indexes.values() {
        let before = old
            .indexes
            .get(&index.name.name)
            .filter(|o| o.definition == index.definition);
        comment(
            changes,
            ObjectId::Index {
                name: index.name.clone(),
            },
            format!("INDEX {}", index.name),
            before.and_then(|o| o.comment.as_ref()),
            index.comment.as_ref(),
        );
    }
    for trigger in new.triggers.values() {
        let before = old
            .triggers
            .get(&trigger.name)
            .filter(|o| o.definition == trigger.definition);
        comment(
            changes,
            ObjectId::Trigger {
                table: name.clone(),
                name: trigger.name.clone(),
            },
            format!("TRIGGER {} ON {name}", ident(&trigger.name)),
            before.and_then(|o| o.comment.as_ref()),
            trigger.comment.as_ref(),
        );
    }
}

/// A generated column's expression cannot be altered before PostgreSQL 17,
/// and a column cannot become or stop being generated: drop and add.
fn needs_recreate(old: &Column, new: &Column) -> bool {
    old.generated != new.generated
}

fn alter_table(
    current: &Catalog,
    old: &Table,
    new: &Table,
    rebuilt_enums: &BTreeSet<QualName>,
    changes: &mut Vec<Change>,
) {
    let name = &new.name;
    if old.unlogged != new.unlogged {
        changes.push(Change::SetLogged {
            table: name.clone(),
            unlogged: new.unlogged,
        });
    }
    for column in &new.columns {
        match old.column(&column.name) {
            None => changes.push(Change::AddColumn {
                table: name.clone(),
                column: column.clone(),
                table_rows: old.rows != 0.0,
            }),
            Some(was) if needs_recreate(was, column) => {
                changes.push(Change::DropColumn {
                    table: name.clone(),
                    column: was.clone(),
                });
                changes.push(Change::AddColumn {
                    table: name.clone(),
                    column: column.clone(),
                    table_rows: old.rows != 0.0,
                });
            }
            Some(was) => alter_column(current, name, was, column, rebuilt_enums, changes),
        }
    }
    for column in &old.columns {
        if new.column(&column.name).is_none() {
            changes.push(Change::DropColumn {
                table: name.clone(),
                column: column.clone(),
            });
        }
    }

    for c in new.constraints.values() {
        match old.constraints.get(&c.name) {
            Some(o) if o.kind == c.kind && o.definition == c.definition => {
                // A constraint cannot be made NOT VALID again; a validated
                // one satisfies a desired NOT VALID one.
                if !o.validated && c.validated {
                    changes.push(Change::ValidateConstraint {
                        table: name.clone(),
                        name: c.name.clone(),
                    });
                }
            }
            other => {
                if let Some(o) = other {
                    changes.push(Change::DropConstraint {
                        table: name.clone(),
                        constraint: o.clone(),
                    });
                }
                changes.push(Change::AddConstraint {
                    table: name.clone(),
                    constraint: c.clone(),
                    new_table: false,
                });
            }
        }
    }
    for (cname, c) in &old.constraints {
        if !new.constraints.contains_key(cname) {
            changes.push(Change::DropConstraint {
                table: name.clone(),
                constraint: c.clone(),
            });
        }
    }

    for index in new.indexes.values() {
        match old.indexes.get(&index.name.name) {
            Some(o) if o.definition == index.definition => {}
            other => {
                if let Some(o) = other {
                    changes.push(Change::DropIndex {
                        table: name.clone(),
                        index: o.clone(),
                        implicit: false,
                    });
                }
                changes.push(Change::CreateIndex {
                    table: name.clone(),
                    index: index.clone(),
                    new_table: false,
                });
            }
        }
    }
    for (iname, index) in &old.indexes {
        if !new.indexes.contains_key(iname) {
            changes.push(Change::DropIndex {
                table: name.clone(),
                index: index.clone(),
                implicit: false,
            });
        }
    }

    for trigger in new.triggers.values() {
        match old.triggers.get(&trigger.name) {
            Some(o) if o.definition == trigger.definition => {}
            other => {
                if let Some(o) = other {
                    changes.push(Change::DropTrigger {
                        table: name.clone(),
                        trigger: o.clone(),
                    });
                }
                changes.push(Change::CreateTrigger {
                    table: name.clone(),
                    trigger: trigger.clone(),
                });
            }
        }
    }
    for (tname, trigger) in &old.triggers {
        if !new.triggers.contains_key(tname) {
            changes.push(Change::DropTrigger {
                table: name.clone(),
                trigger: trigger.clone(),
            });
        }
    }
    comments(old, new, changes);
}

/// The enum a column's type names, element type for arrays.
fn enum_of(column: &Column, enums: &BTreeSet<QualName>) -> Option<QualName> {
    let base = column
        .data_type
        .strip_suffix("[]")
        .unwrap_or(&column.data_type);
    enums.iter().find(|e| e.to_string() == base).cloned()
}

fn alter_column(
    current: &Catalog,
    table: &QualName,
    was: &Column,
    column: &Column,
    rebuilt_enums: &BTreeSet<QualName>,
    changes: &mut Vec<Change>,
) {
    let col = &column.name;
    let moved_enum = enum_of(was, rebuilt_enums).filter(|_| was.data_type == column.data_type);
    let retyped = was.data_type != column.data_type
        || was.collation != column.collation
        || moved_enum.is_some();
    let default_changed = was.default != column.default;
    // Around a type change the old default is dropped first and the new one
    // set after, so neither has to survive the conversion.
    let reset = was.default.is_some() && retyped && (moved_enum.is_some() || default_changed);
    if was.default.is_some() && (reset || (default_changed && column.default.is_none())) {
        changes.push(Change::SetDefault {
            table: table.clone(),
            column: col.clone(),
            from: was.default.clone(),
            to: None,
        });
    }
    if retyped {
        let using = if let Some(ty) = &moved_enum {
            let array = if column.data_type.ends_with("[]") {
                "[]"
            } else {
                ""
            };
            Some(format!("{}::text{array}::{ty}{array}", ident(col)))
        } else {
            using_clause(current, was, column)
        };
        changes.push(Change::AlterColumnType {
            table: table.clone(),
            from: was.clone(),
            to: column.clone(),
            using,
        });
    }
    if column.default.is_some() && (default_changed || reset) {
        changes.push(Change::SetDefault {
            table: table.clone(),
            column: col.clone(),
            from: if reset { None } else { was.default.clone() },
            to: column.default.clone(),
        });
    }
    if was.not_null != column.not_null && !(column.identity.is_some() && was.identity.is_some()) {
        changes.push(Change::SetNotNull {
            table: table.clone(),
            column: col.clone(),
            not_null: column.not_null,
        });
    }
    if was.identity != column.identity {
        changes.push(Change::AlterIdentity {
            table: table.clone(),
            column: col.clone(),
            from: was.identity.clone(),
            to: column.identity.clone(),
        });
    }
}

/// `USING col::type` when PostgreSQL has no implicit or assignment cast
/// between the two base types.
fn using_clause(current: &Catalog, was: &Column, column: &Column) -> Option<String> {
    if was.base_type == column.base_type {
        return None;
    }
    let cast = current
        .casts
        .get(&(was.base_type.clone(), column.base_type.clone()));
    let direct = Some(format!("{}::{}", ident(&column.name), column.data_type));
    match cast {
        Some(c) if c.context == 'i' || c.context == 'a' => None,
        Some(_) => direct,
        None if was.base_type == "text" => direct,
        // No cast at all (enum to enum, uuid to integer, ...): through text.
        None => Some(format!(
            "{}::text::{}",
            ident(&column.name),
            column.data_type
        )),
    }
}
