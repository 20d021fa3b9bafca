//! Turns changes into an ordered plan of steps, each one SQL statement with
//! its hazards.
//!
//! Pure: no I/O. Ordering lives in [`order`], statement text in
//! [`statements`], hazards in [`hazards`].

pub mod hazards;
mod order;
mod statements;

use anyhow::Result;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::diff::Change;
pub use hazards::{Hazard, HazardCode};

/// One statement of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What kind of change, e.g. `add_column`.
    pub kind: &'static str,
    /// The object it acts on, e.g. `column app.users.phone`.
    pub object: String,
    /// Its hazards, most severe first.
    pub hazards: Vec<Hazard>,
    /// The SQL statement; None when another step does the work implicitly.
    pub sql: Option<String>,
    /// False for statements that cannot run inside a transaction block on
    /// every supported server (ALTER TYPE ... ADD VALUE before PostgreSQL 12).
    pub transactional: bool,
    /// The change itself, for summaries.
    #[serde(skip)]
    pub change: Change,
}

/// The ordered steps that turn the current catalog into the desired one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// Steps in the order they must run.
    pub steps: Vec<Step>,
}

impl Plan {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Orders `changes` and attaches SQL and hazards to each.
pub fn plan(current: &Catalog, desired: &Catalog, changes: Vec<Change>) -> Result<Plan> {
    let order = order::order(current, desired, &changes)?;
    let created: std::collections::HashSet<crate::catalog::ObjectId> = changes
        .iter()
        .filter(|c| matches!(c, Change::CreateFunction(_) | Change::CreateView(_)))
        .flat_map(|c| c.effects().provides)
        .collect();
    let mut slots: Vec<Option<Change>> = changes.into_iter().map(Some).collect();
    let steps = order
        .into_iter()
        .filter_map(|i| slots[i].take())
        .map(|change| {
            let mut hazards = hazards::hazards(&change, current, desired);
            if recreated(&change, &created) {
                // Dropped only to be created again from the desired schema.
                hazards.retain(|h| h.code != HazardCode::DataLoss);
            }
            hazards.sort_by_key(|h| h.code);
            Step {
                kind: kind(&change),
                object: object(&change),
                sql: statements::statement(&change),
                transactional: !matches!(change, Change::AddEnumValue { .. }),
                hazards,
                change,
            }
        })
        .collect();
    Ok(Plan { steps })
}

/// True for a drop of a routine or view that the plan creates again.
fn recreated(
    change: &Change,
    created: &std::collections::HashSet<crate::catalog::ObjectId>,
) -> bool {
    matches!(change, Change::DropFunction(_) | Change::DropView(_))
        && change.effects().frees.iter().any(|id| created.contains(id))
}

/// The snake_case name of a change's variant.
pub fn kind(change: &Change) -> &'static str {
    use Change::*;
    match change {
        CreateSchema(_) => "create_schema",
        DropSchema(_) => "drop_schema",
        CreateExtension(_) => "create_extension",
        DropExtension(_) => "drop_extension",
        UpdateExtension { .. } => "update_extension",
        CreateEnum(_) => "create_enum",
        DropEnum { .. } => "drop_enum",
        AddEnumValue { .. } => "add_enum_value",
        RenameEnum { .. } => "rename_enum",
        CreateSequence(_) => "create_sequence",
        DropSequence { .. } => "drop_sequence",
        AlterSequence { .. } => "alter_sequence",
        SetSequenceOwner { .. } => "set_sequence_owner",
        CreateTable(_) => "create_table",
        DropTable(_) => "drop_table",
        SetLogged { .. } => "set_logged",
        AddColumn { .. } => "add_column",
        DropColumn { .. } => "drop_column",
        AlterColumnType { .. } => "alter_column_type",
        SetDefault { .. } => "set_default",
        SetNotNull { .. } => "set_not_null",
        AlterIdentity { .. } => "alter_identity",
        AddConstraint { .. } => "add_constraint",
        DropConstraint { .. } => "drop_constraint",
        ValidateConstraint { .. } => "validate_constraint",
        CreateIndex { .. } => "create_index",
        DropIndex { .. } => "drop_index",
        CreateView(_) => "create_view",
        DropView(_) => "drop_view",
        CreateFunction(_) => "create_function",
        ReplaceFunction { .. } => "replace_function",
        DropFunction(_) => "drop_function",
        CreateTrigger { .. } => "create_trigger",
        DropTrigger { .. } => "drop_trigger",
        Comment { .. } => "comment",
    }
}

/// A label for the object a change acts on.
pub fn object(change: &Change) -> String {
    use Change::*;
    let column = |t: &crate::catalog::QualName, c: &str| format!("column {}.{c}", t.plain());
    match change {
        CreateSchema(s) | DropSchema(s) => format!("schema {}", s.name),
        CreateExtension(e) | DropExtension(e) => format!("extension {}", e.name),
        UpdateExtension { name, .. } => format!("extension {name}"),
        CreateEnum(t) | DropEnum { ty: t, .. } | RenameEnum { ty: t, .. } => {
            format!("type {}", t.name.plain())
        }
        AddEnumValue { ty, .. } => format!("type {}", ty.plain()),
        CreateSequence(s) | DropSequence { sequence: s, .. } => {
            format!("sequence {}", s.name.plain())
        }
        AlterSequence { name, .. } | SetSequenceOwner { name, .. } => {
            format!("sequence {}", name.plain())
        }
        CreateTable(t) | DropTable(t) => format!("table {}", t.name.plain()),
        SetLogged { table, .. } => format!("table {}", table.plain()),
        AddColumn {
            table, column: c, ..
        }
        | DropColumn { table, column: c } => column(table, &c.name),
        AlterColumnType { table, to, .. } => column(table, &to.name),
        SetDefault {
            table, column: c, ..
        }
        | SetNotNull {
            table, column: c, ..
        }
        | AlterIdentity {
            table, column: c, ..
        } => column(table, c),
        AddConstraint {
            table,
            constraint: c,
            ..
        }
        | DropConstraint {
            table,
            constraint: c,
        } => {
            format!("constraint {} on {}", c.name, table.plain())
        }
        ValidateConstraint { table, name } => format!("constraint {name} on {}", table.plain()),
        CreateIndex { index, .. } | DropIndex { index, .. } => {
            format!("index {}", index.name.plain())
        }
        CreateView(v) | DropView(v) => format!(
            "{} {}",
            if v.materialized {
                "materialized view"
            } else {
                "view"
            },
            v.name.plain()
        ),
        CreateFunction(f) | ReplaceFunction { to: f, .. } | DropFunction(f) => {
            format!(
                "{} {}",
                if f.is_procedure {
                    "procedure"
                } else {
                    "function"
                },
                f.id.plain()
            )
        }
        CreateTrigger { table, trigger } | DropTrigger { table, trigger } => {
            format!("trigger {} on {}", trigger.name, table.plain())
        }
        Comment { target, .. } => target.object.label(),
    }
}
