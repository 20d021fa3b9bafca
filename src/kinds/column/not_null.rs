//! PostgreSQL 18 keeps a column's NOT NULL as a named constraint, which may
//! be NOT VALID or NO INHERIT. What of it differs from the plain form, and
//! the steps that change it in place.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::sync::Arc;
use crate::kinds::relation::{NotNull};

use super::{Column, ColumnChange};
use crate::kinds::{Catalog, Change, ObjectId, QualName, Table};
use crate::sql::ident;

impl NotNull {
    /// Reads the constraint's name and flags; `name` None when the column
    /// has no constraint of its own.
    pub(super) fn read(table: &QualName, column: &str, name: Option<String>, not_valid: bool, no_inherit: bool) -> Self {
        NotNull {
            name: name.filter(|n| *n != default_name(table, column)),
            not_valid,
            no_inherit,
        }
    }

    /// True for the form `ALTER COLUMN ... SET NOT NULL` makes.
    fn plain(&self) -> bool {
        *self == NotNull::default()
    }
}

/// What changes in place on a NOT NULL constraint kept on both sides.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum NotNullAction {
    /// RENAME CONSTRAINT.
    Rename { from: String, to: String },
    /// VALIDATE CONSTRAINT.
    Validate { name: String },
    /// ALTER CONSTRAINT ... [NO] INHERIT.
    Inherit { name: String, inherit: bool },
}

/// The name PostgreSQL gives a column's NOT NULL constraint (unless the
/// name is taken or too long, when it is read as an explicit one).
fn default_name(table: &QualName, column: &str) -> String {
    format!("{}_{column}_not_null", table.name)
}

/// The names PostgreSQL 18 gives NOT NULL constraints of tables a plan
/// creates: a default name that a constraint of another table of the
/// schema holds would come out as `..._not_null1`, so such constraints are
/// named explicitly (e.g. while the detached partitions of the table it
/// replaces hold its names).
pub(crate) struct NotNullNames<'a> {
    current: &'a Catalog,
    /// Every constraint name of the current tables, by (schema, name),
    /// with the tables holding it: read once, when first needed.
    taken: OnceCell<HashMap<(String, String), Vec<QualName>>>,
}

impl<'a> NotNullNames<'a> {
    /// The names as `current` holds them.
    pub(crate) fn new(current: &'a Catalog) -> Self {
        NotNullNames {
            current,
            taken: OnceCell::new(),
        }
    }

    /// `table` as CREATE TABLE makes it: its NOT NULL constraints whose
    /// default names another table of its schema holds named explicitly.
    pub(crate) fn for_create(&self, table: &Arc<Table>) -> Arc<Table> {
        if self.current.server_version < 180000 || self.current.tables.is_empty() {
            return table.clone();
        }
        let taken = self.taken.get_or_init(|| names_taken(self.current));
        let name = &table.name;
        let held = |default: &String| {
            taken
                .get(&(name.schema.clone(), default.clone()))
                .is_some_and(|owners| owners.iter().any(|o| o != name))
        };
        let clashes = |c: &Column| {
            c.not_null && c.not_null_constraint.name.is_none() && held(&default_name(name, &c.name))
        };
        if !table.columns.iter().any(clashes) {
            return table.clone();
        }
        let mut named = (**table).clone();
        for column in named.columns.iter_mut().filter(|c| clashes(c)) {
            column.not_null_constraint.name = Some(default_name(name, &column.name));
        }
        Arc::new(named)
    }
}

/// Every constraint name of `current`'s tables, with the tables that hold
/// it: PostgreSQL picks a default name that no constraint of the schema
/// holds.
fn names_taken(current: &Catalog) -> HashMap<(String, String), Vec<QualName>> {
    let mut taken: HashMap<(String, String), Vec<QualName>> = HashMap::new();
    for t in current.tables.values() {
        let keys = t.constraints.keys().chain(t.parent_constraints.keys()).cloned();
        let not_null = t
            .columns
            .iter()
            .filter(|c| c.not_null)
            .map(|c| name_of(&t.name, &c.name, &c.not_null_constraint));
        for name in keys.chain(not_null) {
            taken.entry((t.name.schema.clone(), name)).or_default().push(t.name.clone());
        }
    }
    taken
}

fn name_of(table: &QualName, column: &str, nn: &NotNull) -> String {
    nn.name.clone().unwrap_or_else(|| default_name(table, column))
}

/// ` NOT NULL` as a column definition in CREATE TABLE or ADD COLUMN writes
/// it; empty when there is none or when it is NOT VALID, which only ALTER
/// TABLE can add ([`after_add`]).
pub(super) fn in_definition(column: &Column) -> String {
    let nn = &column.not_null_constraint;
    if !column.not_null || nn.not_valid {
        return String::new();
    }
    let name = nn
        .name
        .as_ref()
        .map(|n| format!(" CONSTRAINT {}", ident(n)))
        .unwrap_or_default();
    let inherit = if nn.no_inherit { " NO INHERIT" } else { "" };
    format!("{name} NOT NULL{inherit}")
}

/// The step that adds a NOT VALID NOT NULL to a column just added.
pub(super) fn after_add(table: &QualName, column: &Column, out: &mut Vec<Change>) {
    if column.not_null && column.not_null_constraint.not_valid {
        out.push(set(table, column, false));
    }
}

/// SET NOT NULL as the column wants it; `replace` drops the current one
/// first (a valid constraint that must become NOT VALID).
pub(super) fn set(table: &QualName, column: &Column, replace: bool) -> Change {
    ColumnChange::SetNotNull {
        table: table.clone(),
        column: column.name.clone(),
        not_null: true,
        constraint: column.not_null_constraint.clone(),
        replace,
        checked: false,
    }
    .into()
}

/// SET NOT NULL online: a helper check added NOT VALID, validated on its
/// own, SET NOT NULL (which the valid check spares a scan), the check
/// dropped.
pub(super) fn set_checked(table: &QualName, column: &Column, out: &mut Vec<Change>) {
    let stage = |stage| {
        ColumnChange::NotNullCheck {
            table: table.clone(),
            column: column.name.clone(),
            stage,
        }
        .into()
    };
    out.push(stage(CheckStage::Add));
    out.push(stage(CheckStage::Validate));
    out.push(
        ColumnChange::SetNotNull {
            table: table.clone(),
            column: column.name.clone(),
            not_null: true,
            constraint: column.not_null_constraint.clone(),
            replace: false,
            checked: true,
        }
        .into(),
    );
    out.push(stage(CheckStage::Drop));
}

/// The SQL of a SetNotNull step that sets one.
pub(super) fn set_sql(table: &QualName, column: &str, nn: &NotNull, replace: bool) -> String {
    let col = ident(column);
    if nn.plain() && !replace {
        return format!("ALTER TABLE {table} ALTER COLUMN {col} SET NOT NULL;");
    }
    let drop = if replace {
        format!("ALTER COLUMN {col} DROP NOT NULL, ")
    } else {
        String::new()
    };
    let name = nn
        .name
        .as_ref()
        .map(|n| format!("CONSTRAINT {} ", ident(n)))
        .unwrap_or_default();
    let inherit = if nn.no_inherit { " NO INHERIT" } else { "" };
    let valid = if nn.not_valid { " NOT VALID" } else { "" };
    format!("ALTER TABLE {table} {drop}ADD {name}NOT NULL {col}{inherit}{valid};")
}

/// The SQL of an AlterNotNull step.
pub(super) fn action_sql(table: &QualName, action: &NotNullAction) -> String {
    match action {
        NotNullAction::Rename { from, to } => format!(
            "ALTER TABLE {table} RENAME CONSTRAINT {} TO {};",
            ident(from),
            ident(to)
        ),
        NotNullAction::Validate { name } => {
            format!("ALTER TABLE {table} VALIDATE CONSTRAINT {};", ident(name))
        }
        NotNullAction::Inherit { name, inherit } => format!(
            "ALTER TABLE {table} ALTER CONSTRAINT {} {}INHERIT;",
            ident(name),
            if *inherit { "" } else { "NO " }
        ),
    }
}

/// The steps between two NOT NULL constraints of a column that is NOT NULL
/// on both sides.
pub(super) fn diff(table: &QualName, was: &Column, column: &Column, out: &mut Vec<Change>) {
    let (old, new) = (&was.not_null_constraint, &column.not_null_constraint);
    if !old.not_valid && new.not_valid {
        // Nothing makes a valid constraint NOT VALID again.
        out.push(set(table, column, true));
        return;
    }
    let to = name_of(table, &column.name, new);
    rename(table, was, column, out);
    let mut act = |action| out.push(alter(table, column, action));
    if old.not_valid && !new.not_valid {
        act(NotNullAction::Validate { name: to.clone() });
    }
    if old.no_inherit != new.no_inherit {
        act(NotNullAction::Inherit {
            name: to,
            inherit: !new.no_inherit,
        });
    }
}

/// RENAME CONSTRAINT when the names differ; also for a table that joins a
/// parent, whose NOT NULL keeps its own name (it must have the name the
/// parent gives before it joins: an inherited constraint cannot be renamed).
pub(super) fn rename(table: &QualName, was: &Column, column: &Column, out: &mut Vec<Change>) {
    let from = name_of(table, &was.name, &was.not_null_constraint);
    let to = name_of(table, &column.name, &column.not_null_constraint);
    if was.not_null && column.not_null && from != to {
        out.push(alter(table, column, NotNullAction::Rename { from, to }));
    }
}

fn alter(table: &QualName, column: &Column, action: NotNullAction) -> Change {
    ColumnChange::AlterNotNull {
        table: table.clone(),
        column: column.name.clone(),
        action,
    }
    .into()
}

/// Where an online SET NOT NULL's helper check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CheckStage {
    /// ADD CONSTRAINT ... CHECK (c IS NOT NULL) NOT VALID.
    Add,
    /// VALIDATE CONSTRAINT, in a transaction of its own.
    Validate,
    /// DROP CONSTRAINT, after SET NOT NULL.
    Drop,
}

/// The helper check's name: `<column>_stratum_not_null`, within 63 bytes.
pub(super) fn check_name(column: &str) -> String {
    let suffix = "_stratum_not_null";
    let mut end = column.len().min(63 - suffix.len());
    while !column.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &column[..end])
}

/// Order of an online SET NOT NULL's steps, through ids only they use:
/// the helper check (added), the helper validated, NOT NULL set.
pub(super) fn check_ids(table: &QualName, column: &str) -> [ObjectId; 3] {
    let name = check_name(column);
    [
        ObjectId::Constraint {
            table: table.clone(),
            name: name.clone(),
        },
        ObjectId::Constraint {
            table: table.clone(),
            name: format!("{name} (validated)"),
        },
        ObjectId::Constraint {
            table: table.clone(),
            name: format!("{name} (used)"),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_left_out() {
        let t = QualName::new("app", "users");
        let nn = NotNull::read(&t, "email", Some("users_email_not_null".into()), false, false);
        assert_eq!(nn, NotNull::default());
        let nn = NotNull::read(&t, "email", Some("email_required".into()), true, false);
        assert_eq!(nn.name.as_deref(), Some("email_required"));
        assert_eq!(
            set_sql(&t, "email", &nn, false),
            "ALTER TABLE app.users ADD CONSTRAINT email_required NOT NULL email NOT VALID;"
        );
        assert_eq!(
            set_sql(&t, "email", &NotNull::default(), false),
            "ALTER TABLE app.users ALTER COLUMN email SET NOT NULL;"
        );
    }
}
