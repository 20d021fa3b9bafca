//! Schemas, extensions, enum types, sequences, routines and views.

use std::collections::BTreeSet;

use super::{comment, Change, EnumPosition};
use crate::catalog::{Catalog, EnumType, ObjectId, QualName, Sequence};
use crate::sql::ident;

pub(super) fn schemas(current: &Catalog, desired: &Catalog, changes: &mut Vec<Change>) {
    for (name, schema) in &desired.schemas {
        let old = current.schemas.get(name);
        if old.is_none() {
            changes.push(Change::CreateSchema(schema.clone()));
        }
        comment(
            changes,
            ObjectId::Schema { name: name.clone() },
            format!("SCHEMA {}", ident(name)),
            old.and_then(|s| s.comment.as_ref()),
            schema.comment.as_ref(),
        );
    }
    for (name, schema) in &current.schemas {
        if !desired.schemas.contains_key(name) {
            changes.push(Change::DropSchema(schema.clone()));
        }
    }
}

pub(super) fn extensions(current: &Catalog, desired: &Catalog, changes: &mut Vec<Change>) {
    for (name, ext) in &desired.extensions {
        match current.extensions.get(name) {
            None => changes.push(Change::CreateExtension(ext.clone())),
            Some(old) if old.schema != ext.schema => {
                changes.push(Change::DropExtension(old.clone()));
                changes.push(Change::CreateExtension(ext.clone()));
            }
            Some(old) if old.version != ext.version => changes.push(Change::UpdateExtension {
                name: name.clone(),
                from: old.version.clone(),
                to: ext.version.clone(),
            }),
            Some(old) => comment(
                changes,
                ObjectId::Extension { name: name.clone() },
                format!("EXTENSION {}", ident(name)),
                old.comment.as_ref(),
                ext.comment.as_ref(),
            ),
        }
    }
    for (name, ext) in &current.extensions {
        if !desired.extensions.contains_key(name) {
            changes.push(Change::DropExtension(ext.clone()));
        }
    }
}

/// The name an enum is renamed to while its replacement is built.
fn aside_name(name: &QualName) -> String {
    format!("{}__stratum_old", name.name)
}

/// Diffs enum types; returns the names of enums rebuilt from scratch, whose
/// columns `tables` moves over to the new type.
pub(super) fn enums(
    current: &Catalog,
    desired: &Catalog,
    changes: &mut Vec<Change>,
) -> BTreeSet<QualName> {
    let mut rebuilt = BTreeSet::new();
    for (name, ty) in &desired.enums {
        let id = ObjectId::Type { name: name.clone() };
        let target = format!("TYPE {name}");
        let Some(old) = current.enums.get(name) else {
            changes.push(Change::CreateEnum(ty.clone()));
            comment(changes, id, target, None, ty.comment.as_ref());
            continue;
        };
        match added_values(old, ty) {
            Some(added) => changes.extend(added),
            None => {
                // Values were removed or reordered: build the type anew and
                // move every column over to it through text.
                let removed = old
                    .values
                    .iter()
                    .filter(|v| !ty.values.contains(v))
                    .cloned()
                    .collect();
                let aside = aside_name(name);
                changes.push(Change::RenameEnum {
                    ty: old.clone(),
                    to: aside.clone(),
                    removed,
                });
                changes.push(Change::CreateEnum(ty.clone()));
                changes.push(Change::DropEnum {
                    ty: old.clone(),
                    renamed_to: Some(aside),
                });
                rebuilt.insert(name.clone());
                comment(changes, id, target, None, ty.comment.as_ref());
                continue;
            }
        }
        comment(
            changes,
            id,
            target,
            old.comment.as_ref(),
            ty.comment.as_ref(),
        );
    }
    for (name, ty) in &current.enums {
        if !desired.enums.contains_key(name) {
            changes.push(Change::DropEnum {
                ty: ty.clone(),
                renamed_to: None,
            });
        }
    }
    rebuilt
}

/// The ADD VALUE changes that turn `old` into `new`, or None when `new` is
/// not `old` with values inserted (a value was removed or moved).
fn added_values(old: &EnumType, new: &EnumType) -> Option<Vec<Change>> {
    let mut kept = new.values.iter().filter(|v| old.values.contains(v));
    if !old.values.iter().eq(kept.by_ref()) {
        return None;
    }
    let mut changes = Vec::new();
    for (i, value) in new.values.iter().enumerate() {
        if old.values.contains(value) {
            continue;
        }
        // Anchor on the next value that already exists, else the previous.
        let next = new.values[i + 1..].iter().find(|v| old.values.contains(v));
        let prev = new.values[..i]
            .iter()
            .rev()
            .find(|v| old.values.contains(v));
        let position = match (next, prev) {
            (Some(n), _) => EnumPosition::Before(n.clone()),
            (None, Some(p)) if i + 1 < new.values.len() => EnumPosition::After(p.clone()),
            _ => EnumPosition::End,
        };
        changes.push(Change::AddEnumValue {
            ty: new.name.clone(),
            value: value.clone(),
            position,
        });
    }
    Some(changes)
}

/// True when the sequence's owner column disappears with a dropped table or
/// column, which drops the sequence too.
fn owner_dropped(seq: &Sequence, desired: &Catalog) -> bool {
    seq.owned_by.as_ref().is_some_and(|(table, column)| {
        desired
            .tables
            .get(table)
            .is_none_or(|t| t.column(column).is_none())
    })
}

pub(super) fn sequences(current: &Catalog, desired: &Catalog, changes: &mut Vec<Change>) {
    for (name, seq) in &desired.sequences {
        let id = ObjectId::Sequence { name: name.clone() };
        let target = format!("SEQUENCE {name}");
        match current.sequences.get(name) {
            None => {
                changes.push(Change::CreateSequence(seq.clone()));
                if seq.owned_by.is_some() {
                    changes.push(Change::SetSequenceOwner {
                        name: name.clone(),
                        owner: seq.owned_by.clone(),
                    });
                }
                comment(changes, id, target, None, seq.comment.as_ref());
            }
            Some(old) => {
                if old.options != seq.options {
                    changes.push(Change::AlterSequence {
                        name: name.clone(),
                        from: old.options.clone(),
                        to: seq.options.clone(),
                    });
                }
                if old.owned_by != seq.owned_by {
                    changes.push(Change::SetSequenceOwner {
                        name: name.clone(),
                        owner: seq.owned_by.clone(),
                    });
                }
                comment(
                    changes,
                    id,
                    target,
                    old.comment.as_ref(),
                    seq.comment.as_ref(),
                );
            }
        }
    }
    for (name, seq) in &current.sequences {
        if !desired.sequences.contains_key(name) {
            changes.push(Change::DropSequence {
                sequence: seq.clone(),
                implicit: owner_dropped(seq, desired),
            });
        }
    }
}

pub(super) fn functions(current: &Catalog, desired: &Catalog, changes: &mut Vec<Change>) {
    for (id, func) in &desired.functions {
        let oid = ObjectId::Routine { id: id.clone() };
        let kind = if func.is_procedure {
            "PROCEDURE"
        } else {
            "FUNCTION"
        };
        let target = format!("{kind} {}", id.sql());
        match current.functions.get(id) {
            None => {
                changes.push(Change::CreateFunction(func.clone()));
                comment(changes, oid, target, None, func.comment.as_ref());
            }
            Some(old) if old.definition == func.definition => {
                comment(
                    changes,
                    oid,
                    target,
                    old.comment.as_ref(),
                    func.comment.as_ref(),
                );
            }
            Some(old)
                if old.is_procedure == func.is_procedure
                    && old.result == func.result
                    && old.arguments == func.arguments =>
            {
                changes.push(Change::ReplaceFunction {
                    from: old.clone(),
                    to: func.clone(),
                });
                comment(
                    changes,
                    oid,
                    target,
                    old.comment.as_ref(),
                    func.comment.as_ref(),
                );
            }
            Some(old) => {
                // CREATE OR REPLACE cannot change the result type, argument
                // names or defaults: drop and create.
                changes.push(Change::DropFunction(old.clone()));
                changes.push(Change::CreateFunction(func.clone()));
                comment(changes, oid, target, None, func.comment.as_ref());
            }
        }
    }
    for (id, func) in &current.functions {
        if !desired.functions.contains_key(id) {
            changes.push(Change::DropFunction(func.clone()));
        }
    }
}

pub(super) fn views(current: &Catalog, desired: &Catalog, changes: &mut Vec<Change>) {
    for (name, view) in &desired.views {
        match current.views.get(name) {
            None => super::recreate::create_view(None, view, changes),
            Some(old)
                if old.query != view.query
                    || old.options != view.options
                    || old.materialized != view.materialized
                    || old.columns != view.columns =>
            {
                changes.push(Change::DropView(old.clone()));
                super::recreate::create_view(None, view, changes);
            }
            Some(old) => super::recreate::view_parts(old, view, changes),
        }
    }
    for (name, view) in &current.views {
        if !desired.views.contains_key(name) {
            changes.push(Change::DropView(view.clone()));
        }
    }
}
