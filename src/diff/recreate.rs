//! Views with their indexes, and the recreation of objects that depend on
//! something a change drops or retypes.

use std::collections::{BTreeMap, BTreeSet};

use super::{comment, Change};
use crate::catalog::{Catalog, ObjectId, View};
use crate::sql::ident;

/// Creates `view` with its indexes and comments. `old` is the view as it is
/// now when only its parts change, None when it is (re)created.
pub(super) fn create_view(old: Option<&View>, view: &View, changes: &mut Vec<Change>) {
    if old.is_none() {
        changes.push(Change::CreateView(view.clone()));
    }
    let empty = View {
        indexes: BTreeMap::new(),
        comment: None,
        column_comments: BTreeMap::new(),
        ..view.clone()
    };
    view_parts(old.unwrap_or(&empty), view, changes);
}

/// Index and comment changes of a view that stays.
pub(super) fn view_parts(old: &View, view: &View, changes: &mut Vec<Change>) {
    let name = &view.name;
    let id = ObjectId::View { name: name.clone() };
    for index in view.indexes.values() {
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
                    new_table: true,
                });
            }
        }
        let before = old
            .indexes
            .get(&index.name.name)
            .filter(|o| o.definition == index.definition)
            .and_then(|o| o.comment.as_ref());
        comment(
            changes,
            ObjectId::Index {
                name: index.name.clone(),
            },
            format!("INDEX {}", index.name),
            before,
            index.comment.as_ref(),
        );
    }
    for (iname, index) in &old.indexes {
        if !view.indexes.contains_key(iname) {
            changes.push(Change::DropIndex {
                table: name.clone(),
                index: index.clone(),
                implicit: false,
            });
        }
    }
    let kind = if view.materialized {
        "MATERIALIZED VIEW"
    } else {
        "VIEW"
    };
    comment(
        changes,
        id.clone(),
        format!("{kind} {name}"),
        old.comment.as_ref(),
        view.comment.as_ref(),
    );
    for column in &view.columns {
        comment(
            changes,
            id.clone(),
            format!("COLUMN {name}.{}", ident(column)),
            old.column_comments.get(column),
            view.column_comments.get(column),
        );
    }
}

/// Adds drop-and-create changes for every object that depends, in the current
/// catalog, on something a change removes, and that the desired catalog still
/// has. Repeats until nothing new is invalidated, so a view over a view over a
/// retyped column is rebuilt too.
pub(super) fn dependents(current: &Catalog, desired: &Catalog, changes: &mut Vec<Change>) {
    loop {
        // Removed ids, with whether every removal is only a retype.
        let mut removed: BTreeMap<ObjectId, bool> = BTreeMap::new();
        for change in changes.iter() {
            let effects = change.effects();
            for id in effects.removes {
                let retype_only = removed.get(&id).copied().unwrap_or(true) && effects.retype;
                removed.insert(id, retype_only);
            }
        }
        let mut invalid = BTreeSet::new();
        for (dependent, referenced) in &current.depends {
            let Some(&retype) = removed.get(referenced) else {
                continue;
            };
            if removed.contains_key(dependent) {
                continue;
            }
            // PostgreSQL carries indexes, constraints and defaults through a
            // column type change itself; views, triggers and routines block it.
            let blocks_retype = matches!(
                dependent,
                ObjectId::View { .. } | ObjectId::Trigger { .. } | ObjectId::Routine { .. }
            );
            if !retype || blocks_retype {
                invalid.insert(dependent.clone());
            }
        }
        let before = changes.len();
        for id in invalid {
            recreate(current, desired, &id, changes);
        }
        if changes.len() == before {
            return;
        }
    }
}

/// Drops and creates one object that is unchanged but in the way.
fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, changes: &mut Vec<Change>) {
    match id {
        ObjectId::View { name } => {
            if let (Some(old), Some(new)) = (current.views.get(name), desired.views.get(name)) {
                changes.push(Change::DropView(old.clone()));
                create_view(None, new, changes);
            }
        }
        ObjectId::Trigger { table, name } => {
            let old = current.tables.get(table).and_then(|t| t.triggers.get(name));
            let new = desired.tables.get(table).and_then(|t| t.triggers.get(name));
            if let (Some(old), Some(new)) = (old, new) {
                changes.push(Change::DropTrigger {
                    table: table.clone(),
                    trigger: old.clone(),
                });
                changes.push(Change::CreateTrigger {
                    table: table.clone(),
                    trigger: new.clone(),
                });
                let target = format!("TRIGGER {} ON {table}", ident(name));
                comment(changes, id.clone(), target, None, new.comment.as_ref());
            }
        }
        ObjectId::Routine { id: rid } => {
            if let (Some(old), Some(new)) = (current.functions.get(rid), desired.functions.get(rid))
            {
                changes.push(Change::DropFunction(old.clone()));
                changes.push(Change::CreateFunction(new.clone()));
                let kind = if new.is_procedure {
                    "PROCEDURE"
                } else {
                    "FUNCTION"
                };
                let target = format!("{kind} {}", rid.sql());
                comment(changes, id.clone(), target, None, new.comment.as_ref());
            }
        }
        ObjectId::Index { name } => {
            let find = |cat: &Catalog| {
                cat.tables
                    .values()
                    .map(|t| (&t.name, &t.indexes))
                    .chain(cat.views.values().map(|v| (&v.name, &v.indexes)))
                    .find_map(|(table, idx)| {
                        idx.get(&name.name)
                            .filter(|i| &i.name == name)
                            .map(|i| (table.clone(), i.clone()))
                    })
            };
            if let (Some((table, old)), Some((_, new))) = (find(current), find(desired)) {
                changes.push(Change::DropIndex {
                    table: table.clone(),
                    index: old,
                    implicit: false,
                });
                changes.push(Change::CreateIndex {
                    table,
                    index: new,
                    new_table: false,
                });
            }
        }
        ObjectId::Constraint { table, name } => {
            let old = current
                .tables
                .get(table)
                .and_then(|t| t.constraints.get(name));
            let new = desired
                .tables
                .get(table)
                .and_then(|t| t.constraints.get(name));
            if let (Some(old), Some(new)) = (old, new) {
                changes.push(Change::DropConstraint {
                    table: table.clone(),
                    constraint: old.clone(),
                });
                changes.push(Change::AddConstraint {
                    table: table.clone(),
                    constraint: new.clone(),
                    new_table: false,
                });
            }
        }
        ObjectId::Default { table, column } => {
            let old = current.tables.get(table).and_then(|t| t.column(column));
            let new = desired.tables.get(table).and_then(|t| t.column(column));
            if let (Some(old), Some(new)) = (old, new) {
                // Two steps, so that the old default goes before what it
                // calls is dropped and the new one comes after it is made.
                changes.push(Change::SetDefault {
                    table: table.clone(),
                    column: column.clone(),
                    from: old.default.clone(),
                    to: None,
                });
                if new.default.is_some() {
                    changes.push(Change::SetDefault {
                        table: table.clone(),
                        column: column.clone(),
                        from: None,
                        to: new.default.clone(),
                    });
                }
            }
        }
        _ => {}
    }
}
