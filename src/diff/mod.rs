//! Compares two catalogs into a list of typed [`Change`]s.
//!
//! Pure: no I/O. Each change says what differs and which objects it makes,
//! releases or invalidates ([`Effects`]); `plan` orders changes by those
//! effects and the catalogs' dependencies. Objects that depend on something a
//! change invalidates (a view over a retyped column, a trigger on a recreated
//! function) are recreated here, so that the change list is complete.

mod objects;
mod recreate;
mod tables;

use serde::Serialize;

use crate::catalog::{
    Catalog, Column, Constraint, EnumType, Extension, Function, Identity, Index, ObjectId,
    QualName, Schema, Sequence, SequenceOptions, Table, Trigger, View,
};

/// Where a new enum value goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnumPosition {
    /// At the end.
    End,
    /// BEFORE the named value.
    Before(String),
    /// AFTER the named value.
    After(String),
}

/// What a COMMENT ON statement targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentTarget {
    /// The object commented on.
    pub object: ObjectId,
    /// The SQL after `COMMENT ON`, e.g. `TABLE app.users`.
    pub sql: String,
}

/// One difference between the current and the desired catalog.
// Plans hold hundreds of changes, each moved once: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// CREATE SCHEMA.
    CreateSchema(Schema),
    /// DROP SCHEMA.
    DropSchema(Schema),
    /// CREATE EXTENSION.
    CreateExtension(Extension),
    /// DROP EXTENSION.
    DropExtension(Extension),
    /// ALTER EXTENSION ... UPDATE TO.
    UpdateExtension {
        name: String,
        from: String,
        to: String,
    },
    /// CREATE TYPE ... AS ENUM.
    CreateEnum(EnumType),
    /// DROP TYPE of an enum; `renamed_to` when it was renamed aside first.
    DropEnum {
        ty: EnumType,
        renamed_to: Option<String>,
    },
    /// ALTER TYPE ... ADD VALUE.
    AddEnumValue {
        ty: QualName,
        value: String,
        position: EnumPosition,
    },
    /// ALTER TYPE ... RENAME TO, to make room for a rebuilt enum.
    RenameEnum {
        ty: EnumType,
        to: String,
        removed: Vec<String>,
    },
    /// CREATE SEQUENCE.
    CreateSequence(Sequence),
    /// DROP SEQUENCE; `implicit` when a dropped table or column takes it along.
    DropSequence { sequence: Sequence, implicit: bool },
    /// ALTER SEQUENCE options.
    AlterSequence {
        name: QualName,
        from: SequenceOptions,
        to: SequenceOptions,
    },
    /// ALTER SEQUENCE ... OWNED BY.
    SetSequenceOwner {
        name: QualName,
        owner: Option<(QualName, String)>,
    },
    /// CREATE TABLE with columns and inline constraints.
    CreateTable(Table),
    /// DROP TABLE.
    DropTable(Table),
    /// ALTER TABLE ... SET LOGGED / SET UNLOGGED.
    SetLogged { table: QualName, unlogged: bool },
    /// ALTER TABLE ... ADD COLUMN.
    AddColumn {
        table: QualName,
        column: Column,
        table_rows: bool,
    },
    /// ALTER TABLE ... DROP COLUMN.
    DropColumn { table: QualName, column: Column },
    /// ALTER TABLE ... ALTER COLUMN ... TYPE.
    AlterColumnType {
        table: QualName,
        from: Column,
        to: Column,
        using: Option<String>,
    },
    /// ALTER COLUMN ... SET DEFAULT / DROP DEFAULT.
    SetDefault {
        table: QualName,
        column: String,
        from: Option<String>,
        to: Option<String>,
    },
    /// ALTER COLUMN ... SET NOT NULL / DROP NOT NULL.
    SetNotNull {
        table: QualName,
        column: String,
        not_null: bool,
    },
    /// Identity added, dropped or altered.
    AlterIdentity {
        table: QualName,
        column: String,
        from: Option<Identity>,
        to: Option<Identity>,
    },
    /// ALTER TABLE ... ADD CONSTRAINT.
    AddConstraint {
        table: QualName,
        constraint: Constraint,
        new_table: bool,
    },
    /// ALTER TABLE ... DROP CONSTRAINT.
    DropConstraint {
        table: QualName,
        constraint: Constraint,
    },
    /// ALTER TABLE ... VALIDATE CONSTRAINT.
    ValidateConstraint { table: QualName, name: String },
    /// CREATE INDEX on a table or materialized view.
    CreateIndex {
        table: QualName,
        index: Index,
        new_table: bool,
    },
    /// DROP INDEX; `implicit` when its relation's drop takes it along.
    DropIndex {
        table: QualName,
        index: Index,
        implicit: bool,
    },
    /// CREATE VIEW / CREATE MATERIALIZED VIEW.
    CreateView(View),
    /// DROP VIEW / DROP MATERIALIZED VIEW.
    DropView(View),
    /// CREATE FUNCTION / PROCEDURE.
    CreateFunction(Function),
    /// CREATE OR REPLACE with a new body or attributes.
    ReplaceFunction { from: Function, to: Function },
    /// DROP FUNCTION / PROCEDURE.
    DropFunction(Function),
    /// CREATE TRIGGER.
    CreateTrigger { table: QualName, trigger: Trigger },
    /// DROP TRIGGER.
    DropTrigger { table: QualName, trigger: Trigger },
    /// COMMENT ON ... IS.
    Comment {
        target: CommentTarget,
        from: Option<String>,
        to: Option<String>,
    },
}

/// What a change does to objects, for ordering and for finding dependents.
#[derive(Debug, Default, Clone)]
pub struct Effects {
    /// Current objects it destroys or invalidates: whatever depends on them in
    /// the current catalog must be gone first.
    pub removes: Vec<ObjectId>,
    /// Names it releases: a create of the same object must come after.
    pub frees: Vec<ObjectId>,
    /// Desired objects it makes exist: what depends on them in the desired
    /// catalog comes after.
    pub provides: Vec<ObjectId>,
    /// Desired objects that must exist before it runs.
    pub needs: Vec<ObjectId>,
    /// True when the removal is a type change that PostgreSQL carries
    /// indexes and constraints through by itself.
    pub retype: bool,
}

/// The ids a table's CREATE (`created`) or DROP makes or removes.
fn table_parts(table: &Table, created: bool) -> Vec<ObjectId> {
    let name = &table.name;
    let mut ids = vec![ObjectId::Table { name: name.clone() }];
    for column in &table.columns {
        ids.push(column_id(name, &column.name));
        if column.default.is_some() {
            ids.push(default_id(name, &column.name));
        }
    }
    for constraint in table.constraints.values() {
        if created && !constraint.inline() {
            continue;
        }
        ids.push(ObjectId::Constraint {
            table: name.clone(),
            name: constraint.name.clone(),
        });
    }
    ids
}

fn column_id(table: &QualName, column: &str) -> ObjectId {
    ObjectId::Column {
        table: table.clone(),
        column: column.to_string(),
    }
}

fn default_id(table: &QualName, column: &str) -> ObjectId {
    ObjectId::Default {
        table: table.clone(),
        column: column.to_string(),
    }
}

fn gone(ids: Vec<ObjectId>) -> Effects {
    Effects {
        removes: ids.clone(),
        frees: ids,
        ..Effects::default()
    }
}

fn made(ids: Vec<ObjectId>) -> Effects {
    Effects {
        provides: ids,
        ..Effects::default()
    }
}

impl Change {
    /// The objects this change makes, releases or invalidates.
    pub fn effects(&self) -> Effects {
        use Change::*;
        match self {
            CreateSchema(s) => made(vec![ObjectId::Schema {
                name: s.name.clone(),
            }]),
            DropSchema(s) => gone(vec![ObjectId::Schema {
                name: s.name.clone(),
            }]),
            CreateExtension(e) => made(vec![ObjectId::Extension {
                name: e.name.clone(),
            }]),
            DropExtension(e) => gone(vec![ObjectId::Extension {
                name: e.name.clone(),
            }]),
            UpdateExtension { name, .. } => made(vec![ObjectId::Extension { name: name.clone() }]),
            CreateEnum(t) => made(vec![ObjectId::Type {
                name: t.name.clone(),
            }]),
            DropEnum { ty, renamed_to } => {
                let id = ObjectId::Type {
                    name: ty.name.clone(),
                };
                if renamed_to.is_some() {
                    // The name was freed by the rename; only dependents matter.
                    Effects {
                        removes: vec![id],
                        ..Effects::default()
                    }
                } else {
                    gone(vec![id])
                }
            }
            AddEnumValue { ty, .. } => made(vec![ObjectId::Type { name: ty.clone() }]),
            RenameEnum { ty, .. } => Effects {
                frees: vec![ObjectId::Type {
                    name: ty.name.clone(),
                }],
                ..Effects::default()
            },
            CreateSequence(s) => made(vec![ObjectId::Sequence {
                name: s.name.clone(),
            }]),
            // Not its OWNED BY link: an owned sequence goes after (or with)
            // the column that owns it, never before.
            DropSequence { sequence, .. } => gone(vec![ObjectId::Sequence {
                name: sequence.name.clone(),
            }]),
            AlterSequence { name, .. } => made(vec![ObjectId::Sequence { name: name.clone() }]),
            SetSequenceOwner { name, .. } => {
                made(vec![ObjectId::SequenceOwner { name: name.clone() }])
            }
            CreateTable(t) => made(table_parts(t, true)),
            DropTable(t) => {
                let mut ids = table_parts(t, false);
                ids.extend(t.indexes.values().map(|i| ObjectId::Index {
                    name: i.name.clone(),
                }));
                ids.extend(t.triggers.values().map(|tr| ObjectId::Trigger {
                    table: t.name.clone(),
                    name: tr.name.clone(),
                }));
                gone(ids)
            }
            AddColumn { table, column, .. } => {
                let mut ids = vec![column_id(table, &column.name)];
                if column.default.is_some() {
                    ids.push(default_id(table, &column.name));
                }
                made(ids)
            }
            DropColumn { table, column } => gone(vec![
                column_id(table, &column.name),
                default_id(table, &column.name),
            ]),
            AlterColumnType { table, to, .. } => Effects {
                removes: vec![column_id(table, &to.name)],
                provides: vec![column_id(table, &to.name)],
                retype: true,
                ..Effects::default()
            },
            SetDefault {
                table,
                column,
                from,
                to,
            } => Effects {
                removes: from.iter().map(|_| default_id(table, column)).collect(),
                frees: from.iter().map(|_| default_id(table, column)).collect(),
                provides: to.iter().map(|_| default_id(table, column)).collect(),
                // Only a new default needs the column as desired; dropping
                // the old one comes before any change to the column.
                needs: to.iter().map(|_| column_id(table, column)).collect(),
                ..Effects::default()
            },
            SetLogged { table, .. } => Effects {
                needs: vec![ObjectId::Table {
                    name: table.clone(),
                }],
                ..Effects::default()
            },
            SetNotNull { table, column, .. } | AlterIdentity { table, column, .. } => Effects {
                needs: vec![column_id(table, column)],
                ..Effects::default()
            },
            AddConstraint {
                table, constraint, ..
            } => made(vec![ObjectId::Constraint {
                table: table.clone(),
                name: constraint.name.clone(),
            }]),
            DropConstraint { table, constraint } => gone(vec![ObjectId::Constraint {
                table: table.clone(),
                name: constraint.name.clone(),
            }]),
            ValidateConstraint { table, name } => Effects {
                needs: vec![ObjectId::Constraint {
                    table: table.clone(),
                    name: name.clone(),
                }],
                ..Effects::default()
            },
            CreateIndex { index, .. } => made(vec![ObjectId::Index {
                name: index.name.clone(),
            }]),
            DropIndex { index, .. } => gone(vec![ObjectId::Index {
                name: index.name.clone(),
            }]),
            CreateView(v) => made(vec![ObjectId::View {
                name: v.name.clone(),
            }]),
            DropView(v) => {
                let mut ids = vec![ObjectId::View {
                    name: v.name.clone(),
                }];
                ids.extend(v.indexes.values().map(|i| ObjectId::Index {
                    name: i.name.clone(),
                }));
                gone(ids)
            }
            CreateFunction(f) | ReplaceFunction { to: f, .. } => {
                made(vec![ObjectId::Routine { id: f.id.clone() }])
            }
            DropFunction(f) => gone(vec![ObjectId::Routine { id: f.id.clone() }]),
            CreateTrigger { table, trigger } => made(vec![ObjectId::Trigger {
                table: table.clone(),
                name: trigger.name.clone(),
            }]),
            DropTrigger { table, trigger } => gone(vec![ObjectId::Trigger {
                table: table.clone(),
                name: trigger.name.clone(),
            }]),
            Comment { target, .. } => Effects {
                needs: vec![target.object.clone()],
                ..Effects::default()
            },
        }
    }
}

/// Computes every change that turns `current` into `desired`.
pub fn diff(current: &Catalog, desired: &Catalog) -> Vec<Change> {
    let mut changes = Vec::new();
    objects::schemas(current, desired, &mut changes);
    objects::extensions(current, desired, &mut changes);
    let rebuilt = objects::enums(current, desired, &mut changes);
    objects::sequences(current, desired, &mut changes);
    objects::functions(current, desired, &mut changes);
    tables::tables(current, desired, &rebuilt, &mut changes);
    objects::views(current, desired, &mut changes);
    recreate::dependents(current, desired, &mut changes);
    changes
}

/// Pushes a comment change when the two comments differ.
pub(crate) fn comment(
    changes: &mut Vec<Change>,
    object: ObjectId,
    sql: String,
    from: Option<&String>,
    to: Option<&String>,
) {
    if from != to {
        changes.push(Change::Comment {
            target: CommentTarget { object, sql },
            from: from.cloned(),
            to: to.cloned(),
        });
    }
}
