//! [`ObjectId`]: the identity of every managed object, used for
//! dependencies, ordering, grouping and filtering. Labels are made from it
//! for people and never parsed back.

use serde::Serialize;

use super::Unmanaged;
use crate::sql::QualName;

/// Identity of any managed object, used for dependencies and ordering.
///
/// Externally tagged in JSON (`{"table": {"name": ...}}`): a catalog from the
/// cache holds a few hundred thousand of them at 10 000 tables, and an
/// internally tagged enum is read through a buffer of each object's fields
/// (a sixth of the time a cached catalog took to read).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectId {
    /// A schema.
    Schema { name: String },
    /// An extension.
    Extension { name: String },
    /// A type: enum or domain.
    Type { name: QualName },
    /// A sequence.
    Sequence { name: QualName },
    /// The OWNED BY link of a sequence (made after its column exists).
    SequenceOwner { name: QualName },
    /// A table.
    Table { name: QualName },
    /// The link of a table's partitions and children to it: let go
    /// (DETACH, NO INHERIT) before the next one is made (ATTACH, INHERIT),
    /// and before what a child held for the parent changes.
    ParentLink { parent: QualName },
    /// A table column.
    Column { table: QualName, column: String },
    /// The default expression of a column.
    Default { table: QualName, column: String },
    /// A table constraint.
    Constraint { table: QualName, name: String },
    /// An index (its schema is its table's).
    Index { name: QualName },
    /// A view or materialized view.
    View { name: QualName },
    /// A function or procedure.
    Routine { id: RoutineId },
    /// A trigger.
    Trigger { table: QualName, name: String },
    /// A CHECK constraint of a domain.
    DomainConstraint { domain: QualName, name: String },
    /// A rule on a table or view.
    Rule { table: QualName, name: String },
    /// A row level security policy on a table.
    Policy { table: QualName, name: String },
    /// The row level security flags of a table.
    RowSecurity { table: QualName },
    /// The owner of an object.
    Owner { object: Box<ObjectId> },
    /// ALTER DEFAULT PRIVILEGES of a role (None: the one that applies
    /// plans), in a schema or globally, on `TABLES`, `FUNCTIONS`, ...
    DefaultPrivileges {
        role: Option<String>,
        schema: Option<String>,
        objects: String,
    },
    /// The privileges of one grantee on an object.
    Privilege {
        object: Box<ObjectId>,
        grantee: String,
    },
    /// A collation.
    Collation { name: QualName },
    /// An extended statistics object.
    Statistics { name: QualName },
    /// An event trigger.
    EventTrigger { name: String },
    /// A publication.
    Publication { name: String },
    /// A foreign data wrapper.
    ForeignDataWrapper { name: String },
    /// A foreign server.
    Server { name: String },
    /// A user mapping: the role as SQL names it (`PUBLIC`, `CURRENT_USER`
    /// or a quoted name) on a foreign server.
    UserMapping { user: String, server: String },
    /// A cast between two types.
    Cast { source: String, target: String },
    /// An operator with its argument types.
    Operator {
        name: QualName,
        left: String,
        right: String,
    },
    /// A text search dictionary.
    TsDictionary { name: QualName },
    /// A text search configuration.
    TsConfig { name: QualName },
    /// An object of a kind stratum does not manage: known only so that
    /// dependencies on it are seen.
    Unmanaged { object: Unmanaged },
}

impl ObjectId {
    /// The id of column `column` of `table`.
    pub fn column(table: &QualName, column: &str) -> ObjectId {
        ObjectId::Column {
            table: table.clone(),
            column: column.to_string(),
        }
    }

    /// The id of the default expression of `table`.`column`.
    pub fn default_of(table: &QualName, column: &str) -> ObjectId {
        ObjectId::Default {
            table: table.clone(),
            column: column.to_string(),
        }
    }

    /// The id of constraint `name` on `table`.
    pub fn constraint(table: &QualName, name: &str) -> ObjectId {
        ObjectId::Constraint {
            table: table.clone(),
            name: name.to_string(),
        }
    }

    /// The id of trigger `name` on `table`.
    pub fn trigger(table: &QualName, name: &str) -> ObjectId {
        ObjectId::Trigger {
            table: table.clone(),
            name: name.to_string(),
        }
    }

    /// A short human-readable label, e.g. `column app.users.email`.
    pub fn label(&self) -> String {
        match self {
            ObjectId::Schema { name } => format!("schema {name}"),
            ObjectId::Extension { name } => format!("extension {name}"),
            ObjectId::Type { name } => format!("type {}", name.plain()),
            ObjectId::Sequence { name } => format!("sequence {}", name.plain()),
            ObjectId::SequenceOwner { name } => format!("owner of sequence {}", name.plain()),
            ObjectId::Table { name } => format!("table {}", name.plain()),
            ObjectId::ParentLink { parent } => {
                format!("partitions and children of {}", parent.plain())
            }
            ObjectId::Column { table, column } => format!("column {}.{column}", table.plain()),
            ObjectId::Default { table, column } => {
                format!("default of {}.{column}", table.plain())
            }
            ObjectId::Constraint { table, name } => {
                format!("constraint {name} on {}", table.plain())
            }
            ObjectId::Index { name } => format!("index {}", name.plain()),
            ObjectId::View { name } => format!("view {}", name.plain()),
            ObjectId::Routine { id } => format!("function {}", id.plain()),
            ObjectId::Trigger { table, name } => format!("trigger {name} on {}", table.plain()),
            ObjectId::DomainConstraint { domain, name } => {
                format!("constraint {name} on domain {}", domain.plain())
            }
            ObjectId::Rule { table, name } => format!("rule {name} on {}", table.plain()),
            ObjectId::Policy { table, name } => format!("policy {name} on {}", table.plain()),
            ObjectId::RowSecurity { table } => {
                format!("row level security of {}", table.plain())
            }
            ObjectId::Owner { object } => format!("owner of {}", object.label()),
            ObjectId::DefaultPrivileges {
                role,
                schema,
                objects,
            } => format!(
                "default privileges of {} on {}{}",
                role.as_deref().unwrap_or("the applying role"),
                objects.to_lowercase(),
                schema
                    .as_ref()
                    .map(|s| format!(" in schema {s}"))
                    .unwrap_or_default()
            ),
            ObjectId::Privilege { object, grantee } => {
                format!("privileges of {grantee} on {}", object.label())
            }
            ObjectId::Collation { name } => format!("collation {}", name.plain()),
            ObjectId::Statistics { name } => format!("statistics {}", name.plain()),
            ObjectId::EventTrigger { name } => format!("event trigger {name}"),
            ObjectId::Publication { name } => format!("publication {name}"),
            ObjectId::ForeignDataWrapper { name } => format!("foreign data wrapper {name}"),
            ObjectId::Server { name } => format!("server {name}"),
            ObjectId::UserMapping { user, server } => {
                format!("user mapping for {user} on server {server}")
            }
            ObjectId::Cast { source, target } => format!("cast from {source} to {target}"),
            ObjectId::Operator { name, left, right } => {
                format!("operator {} ({left}, {right})", name.plain())
            }
            ObjectId::TsDictionary { name } => {
                format!("text search dictionary {}", name.plain())
            }
            ObjectId::TsConfig { name } => format!("text search configuration {}", name.plain()),
            ObjectId::Unmanaged { object } => format!("{} {}", object.kind, object.name),
        }
    }

    /// The schema the object lives in; None for extensions, which span
    /// schemas.
    pub fn schema(&self) -> Option<&str> {
        match self {
            ObjectId::Privilege { object, .. } | ObjectId::Owner { object } => object.schema(),
            ObjectId::DefaultPrivileges { schema, .. } => schema.as_deref(),
            ObjectId::Schema { name } => Some(name),
            ObjectId::Extension { .. }
            | ObjectId::EventTrigger { .. }
            | ObjectId::Publication { .. }
            | ObjectId::ForeignDataWrapper { .. }
            | ObjectId::Server { .. }
            | ObjectId::UserMapping { .. }
            | ObjectId::Cast { .. }
            | ObjectId::Unmanaged { .. } => None,
            ObjectId::Collation { name }
            | ObjectId::Statistics { name }
            | ObjectId::TsDictionary { name }
            | ObjectId::TsConfig { name }
            | ObjectId::Operator { name, .. } => Some(&name.schema),
            ObjectId::Routine { id } => Some(&id.name.schema),
            ObjectId::Type { name }
            | ObjectId::Sequence { name }
            | ObjectId::SequenceOwner { name }
            | ObjectId::Table { name }
            | ObjectId::Index { name }
            | ObjectId::View { name } => Some(&name.schema),
            ObjectId::Column { table, .. }
            | ObjectId::Default { table, .. }
            | ObjectId::Constraint { table, .. }
            | ObjectId::Trigger { table, .. }
            | ObjectId::Rule { table, .. }
            | ObjectId::Policy { table, .. }
            | ObjectId::RowSecurity { table } => Some(&table.schema),
            ObjectId::ParentLink { parent } => Some(&parent.schema),
            ObjectId::DomainConstraint { domain, .. } => Some(&domain.schema),
        }
    }

    /// The qualified name that decides whether the object is in scope: its
    /// own, or that of the table, domain or routine it belongs to; None for
    /// objects outside schemas (extensions, event triggers, publications,
    /// casts) and for schemas themselves.
    pub fn qualified(&self) -> Option<&QualName> {
        match self {
            ObjectId::Privilege { object, .. } | ObjectId::Owner { object } => object.qualified(),
            ObjectId::DefaultPrivileges { .. } => None,
            ObjectId::Schema { .. }
            | ObjectId::Extension { .. }
            | ObjectId::EventTrigger { .. }
            | ObjectId::Publication { .. }
            | ObjectId::ForeignDataWrapper { .. }
            | ObjectId::Server { .. }
            | ObjectId::UserMapping { .. }
            | ObjectId::Cast { .. }
            | ObjectId::Unmanaged { .. } => None,
            ObjectId::Routine { id } => Some(&id.name),
            ObjectId::DomainConstraint { domain, .. } => Some(domain),
            ObjectId::ParentLink { parent } => Some(parent),
            ObjectId::Type { name }
            | ObjectId::Sequence { name }
            | ObjectId::SequenceOwner { name }
            | ObjectId::Table { name }
            | ObjectId::Index { name }
            | ObjectId::View { name }
            | ObjectId::Collation { name }
            | ObjectId::Statistics { name }
            | ObjectId::TsDictionary { name }
            | ObjectId::TsConfig { name }
            | ObjectId::Operator { name, .. } => Some(name),
            ObjectId::Column { table, .. }
            | ObjectId::Default { table, .. }
            | ObjectId::Constraint { table, .. }
            | ObjectId::Trigger { table, .. }
            | ObjectId::Rule { table, .. }
            | ObjectId::Policy { table, .. }
            | ObjectId::RowSecurity { table } => Some(table),
        }
    }

    /// The table (or view) this object is a part of, if it is one.
    pub fn relation(&self) -> Option<&QualName> {
        match self {
            ObjectId::Column { table, .. }
            | ObjectId::Default { table, .. }
            | ObjectId::Constraint { table, .. }
            | ObjectId::Trigger { table, .. }
            | ObjectId::Rule { table, .. }
            | ObjectId::Policy { table, .. }
            | ObjectId::RowSecurity { table } => Some(table),
            ObjectId::Schema { .. }
            | ObjectId::Extension { .. }
            | ObjectId::Type { .. }
            | ObjectId::Sequence { .. }
            | ObjectId::SequenceOwner { .. }
            | ObjectId::Table { .. }
            | ObjectId::ParentLink { .. }
            | ObjectId::Index { .. }
            | ObjectId::View { .. }
            | ObjectId::Routine { .. }
            | ObjectId::DomainConstraint { .. }
            | ObjectId::Owner { .. }
            | ObjectId::DefaultPrivileges { .. }
            | ObjectId::Privilege { .. }
            | ObjectId::Collation { .. }
            | ObjectId::Statistics { .. }
            | ObjectId::EventTrigger { .. }
            | ObjectId::Publication { .. }
            | ObjectId::ForeignDataWrapper { .. }
            | ObjectId::Server { .. }
            | ObjectId::UserMapping { .. }
            | ObjectId::Cast { .. }
            | ObjectId::Operator { .. }
            | ObjectId::TsDictionary { .. }
            | ObjectId::TsConfig { .. }
            | ObjectId::Unmanaged { .. } => None,
        }
    }
}

/// A function's identity: its name and its identity argument types, as
/// `pg_get_function_identity_arguments` prints them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub struct RoutineId {
    /// Qualified name.
    pub name: QualName,
    /// Identity arguments, e.g. `integer, text`.
    pub args: String,
}

impl RoutineId {
    /// `schema.name(args)` unquoted, for summaries.
    pub fn plain(&self) -> String {
        format!("{}({})", self.name.plain(), self.args)
    }

    /// `schema.name(args)` quoted, for SQL.
    pub fn sql(&self) -> String {
        format!("{}({})", self.name, self.args)
    }
}
