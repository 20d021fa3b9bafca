//! Columns a partition or child inherits: type, identity and generation
//! come from the parent, whose changes recurse; default and NOT NULL get a
//! change of their own only where the column is to differ from what the
//! parent leaves.

use super::{Column, ColumnChange};
use crate::kinds::{Catalog, Change, Table};

/// The desired column of `table`'s parent that `column` inherits.
pub(super) fn parent_column<'a>(desired: &'a Catalog, table: &Table, column: &Column) -> Option<&'a Column> {
    let parent = desired.tables.get(table.parent()?)?;
    parent.column(&column.name)
}

/// How an inherited column gets its parent's default and NOT NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) enum Inherit {
    /// The table is created by the plan and copies them.
    Created,
    /// The parent changes its default in the plan, which recurses.
    ParentMoves,
    /// The parent keeps them.
    Kept,
}

/// Default and NOT NULL of an inherited column: the parent's changes recurse
/// to it (and a new partition copies them), so only where the column is to
/// differ from what that gives does it get a change of its own. `expected`
/// is the column as the parent leaves it.
pub(super) fn inherited(
    table: &Table,
    expected: Option<&Column>,
    column: &Column,
    how: Inherit,
    out: &mut Vec<Change>,
) {
    let Some(expected) = expected else {
        return;
    };
    if expected.default != column.default {
        out.push(
            ColumnChange::SetDefault {
                table: table.name.clone(),
                column: column.name.clone(),
                // A new table's default comes with its CREATE: nothing to
                // free before.
                from: expected.default.clone().filter(|_| how != Inherit::Created),
                to: column.default.clone(),
                parent: table.parent().filter(|_| how != Inherit::Kept).cloned(),
            }
            .into(),
        );
    }
    if expected.not_null != column.not_null {
        out.push(
            ColumnChange::SetNotNull {
                table: table.name.clone(),
                column: column.name.clone(),
                not_null: column.not_null,
                constraint: column.not_null_constraint.clone(),
                replace: false,
                checked: false,
            }
            .into(),
        );
    }
}

/// Default and NOT NULL of a column that `new` inherits on both sides:
/// what its parent's changes leave, then its own where it differs.
pub(super) fn inherited_kept(
    current: &Catalog,
    desired: &Catalog,
    old: &Table,
    new: &Table,
    was: &Column,
    column: &Column,
    out: &mut Vec<Change>,
) {
    // Type, identity and generation come from the parent.
    // Only a parent the table stays linked to hands a changed default down
    // (SET DEFAULT recurses); ATTACH and INHERIT bring none.
    let linked = old.parent() == new.parent() && old.partition_of == new.partition_of;
    let parent_now = old
        .parent()
        .filter(|_| linked)
        .and_then(|p| crate::kinds::relation::kept(current, desired, p));
    let parent_then = parent_column(desired, new, column);
    let parent_was = parent_now.and_then(|p| p.column(&column.name));
    let moved = |f: fn(&Column) -> (Option<&String>, bool)| {
        parent_was.is_some() && parent_then.is_some() && parent_was.map(f) != parent_then.map(f)
    };
    let default_moves = moved(|c| (c.default.as_ref(), false));
    let not_null_moves = moved(|c| (None, c.not_null));
    let expected = Column {
        default: match parent_then {
            Some(p) if default_moves => p.default.clone(),
            _ => was.default.clone(),
        },
        not_null: match parent_then {
            Some(p) if not_null_moves => p.not_null,
            _ => was.not_null,
        },
        ..was.clone()
    };
    let how = match default_moves {
        true => Inherit::ParentMoves,
        false => Inherit::Kept,
    };
    inherited(new, Some(&expected), column, how, out);
    if !was.inherited {
        super::not_null::rename(&new.name, was, column, out);
    }
}

