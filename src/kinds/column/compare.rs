//! The comparison of a table's columns on both sides: which to add, drop,
//! recreate or alter, and in which order their steps go.

use std::collections::BTreeMap;

use super::inherit::inherited_kept;
use super::retype::{conversion, moved_type, using_clause};
use super::{identity, not_null, Column, ColumnChange, ColumnOptions, NotNull};
use crate::kinds::{comment, Catalog, Change, Conversion, ObjectId, QualName, Table};
use crate::sql::ident;

/// Pushes the STORAGE / COMPRESSION / STATISTICS change from `from` to the
/// column's own settings, if they differ.
pub(super) fn set_options(table: &QualName, from: &ColumnOptions, column: &Column, out: &mut Vec<Change>) {
    if *from != column.options {
        out.push(
            ColumnChange::SetOptions {
                table: table.clone(),
                column: column.name.clone(),
                from: from.clone(),
                to: column.options.clone(),
                type_storage: column.type_storage,
            }
            .into(),
        );
    }
}

/// What follows a column's ADD COLUMN or CREATE TABLE: its storage
/// settings and a NOT VALID NOT NULL.
pub(super) fn added(table: &QualName, column: &Column, out: &mut Vec<Change>) {
    set_options(table, &ColumnOptions::default(), column, out);
    super::not_null::after_add(table, column, out);
}

pub(super) fn set_default(table: &QualName, column: &str, from: Option<String>, to: Option<String>) -> Change {
    ColumnChange::SetDefault {
        table: table.clone(),
        column: column.to_string(),
        from,
        to,
        parent: None,
    }
    .into()
}

pub(super) fn column_comment(out: &mut Vec<Change>, table: &QualName, old: Option<&Column>, new: &Column) {
    // Checked before the id and target are formatted: this runs for every
    // column of every table.
    if old.and_then(|c| c.comment.as_ref()) == new.comment.as_ref() {
        return;
    }
    comment::changed(
        out,
        ObjectId::column(table, &new.name),
        format!("COLUMN {table}.{}", ident(&new.name)),
        old.and_then(|c| c.comment.as_ref()),
        new.comment.as_ref(),
    );
}

/// A column cannot become or stop being generated, nor change between
/// stored and virtual, and before PostgreSQL 17 a generated column's
/// expression cannot be altered: drop and add. (`version` is the server's.)
fn needs_recreate(old: &Column, new: &Column, version: i32) -> bool {
    let expression_changed = old.generated != new.generated;
    old.generated.is_some() != new.generated.is_some()
        || old.virtual_generated != new.virtual_generated
        || (expression_changed && version < SET_EXPRESSION)
}

/// `server_version_num` of the first PostgreSQL with SET EXPRESSION AS.
const SET_EXPRESSION: i32 = 170000;

/// The column changes of a table on both sides.
pub(super) fn diff_table(
    current: &Catalog,
    desired: &Catalog,
    old: &Table,
    new: &Table,
    rebuilt_types: &BTreeMap<QualName, Conversion>,
    out: &mut Vec<Change>,
) {
    let name = &new.name;
    let add = |column: &Column| -> Change {
        ColumnChange::Add {
            table: name.clone(),
            column: column.clone(),
            table_rows: old.rows != 0.0,
        }
        .into()
    };
    let drop = |column: &Column| -> Change {
        // A child that keeps the column as its own.
        let kept = desired.tables.values().any(|child| {
            child.inherits.contains(name)
                && child.column(&column.name).is_some_and(|c| c.local)
                && current.tables.contains_key(&child.name)
        });
        ColumnChange::Drop {
            table: name.clone(),
            column: column.clone(),
            only: kept,
        }
        .into()
    };
    for column in &new.columns {
        let was = old.column(&column.name);
        if let (Some(was), true) = (was, column.inherited) {
            inherited_kept(current, desired, old, new, was, column, out);
            column_comment(out, name, Some(was), column);
            continue;
        }
        match was {
            None if column.inherited && !column.local => {}
            None => {
                out.push(add(column));
                added(name, column, out);
            }
            Some(was) if needs_recreate(was, column, current.server_version) => {
                out.push(drop(was));
                out.push(add(column));
                added(name, column, out);
            }
            Some(was) => {
                alter_column(current, name, was, column, rebuilt_types, out);
                set_options(name, &was.options, column, out);
            }
        }
        // A column that is dropped and added again starts without a comment.
        let before = was.filter(|c| !needs_recreate(c, column, current.server_version));
        column_comment(out, name, before, column);
    }
    for column in &old.columns {
        // A purely inherited column goes with its parent's.
        if new.column(&column.name).is_none() && column.local {
            out.push(drop(column));
        }
    }
}

/// Whether SET NOT NULL on this existing column goes online (a helper
/// check validated first): on a live database's plain table, unless the
/// column is retyped (rewritten) anyway or the constraint stays NOT VALID.
fn online_not_null(current: &Catalog, table: &QualName, column: &Column, retyped: bool) -> bool {
    current.online
        && !retyped
        && !column.not_null_constraint.not_valid
        && current
            .tables
            .get(table)
            .is_some_and(|t| t.partition_by.is_none() && t.foreign.is_none())
}

fn alter_column(
    current: &Catalog,
    table: &QualName,
    was: &Column,
    column: &Column,
    rebuilt_types: &BTreeMap<QualName, Conversion>,
    out: &mut Vec<Change>,
) {
    let col = &column.name;
    let moved = moved_type(was, rebuilt_types).filter(|_| was.data_type == column.data_type);
    let retyped = was.data_type != column.data_type
        || was.collation != column.collation
        || moved.is_some();
    let default_changed = was.default != column.default;
    // Around a type change the old default is dropped first and the new one
    // set after, so neither has to survive the conversion.
    let reset = was.default.is_some() && retyped && (moved.is_some() || default_changed);
    if was.default.is_some() && (reset || (default_changed && column.default.is_none())) {
        out.push(set_default(table, col, was.default.clone(), None));
    }
    if retyped {
        let using = match moved {
            Some((ty, how)) => Some(conversion(column, ty, how)),
            None => using_clause(current, was, column),
        };
        out.push(
            ColumnChange::AlterType {
                table: table.clone(),
                from: was.clone(),
                to: column.clone(),
                using,
            }
            .into(),
        );
    }
    if column.default.is_some() && (default_changed || reset) {
        let from = if reset { None } else { was.default.clone() };
        out.push(set_default(table, col, from, column.default.clone()));
    }
    if was.not_null != column.not_null && !(column.identity.is_some() && was.identity.is_some()) {
        if column.not_null && online_not_null(current, table, column, retyped) {
            not_null::set_checked(table, column, out);
        } else if column.not_null {
            out.push(not_null::set(table, column, false));
        } else {
            out.push(
                ColumnChange::SetNotNull {
                    table: table.clone(),
                    column: col.clone(),
                    not_null: false,
                    constraint: NotNull::default(),
                    replace: false,
                    checked: false,
                }
                .into(),
            );
        }
    } else if was.not_null && column.not_null {
        not_null::diff(table, was, column, out);
    }
    if was.generated != column.generated {
        // needs_recreate() leaves only what SET EXPRESSION can do.
        out.push(
            ColumnChange::SetExpression {
                table: table.clone(),
                column: column.clone(),
            }
            .into(),
        );
    }
    // ALTER COLUMN TYPE retypes an identity's sequence itself.
    let was_identity = match (&was.identity, retyped) {
        (Some(id), true) => Some(Box::new(identity::retyped(id, &column.data_type))),
        (id, _) => id.clone(),
    };
    if was_identity != column.identity {
        out.push(
            ColumnChange::AlterIdentity {
                table: table.clone(),
                column: col.clone(),
                from: was_identity,
                to: column.identity.clone(),
            }
            .into(),
        );
    }
}

