//! The typed model of one side of a diff: everything stratum manages in a
//! database, as PostgreSQL itself prints it.
//!
//! A `Catalog` is built only by `introspect`, for the current and the desired
//! side alike, so every text field holds PostgreSQL's canonical rendering
//! (`format_type`, `pg_get_expr`, `pg_get_indexdef`, ...). Maps are ordered so
//! that everything derived from a catalog is deterministic.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use crate::sql::QualName;

/// Everything stratum knows about one database.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    /// Schemas other than the system ones, by name.
    pub schemas: BTreeMap<String, Schema>,
    /// Installed extensions, by name.
    pub extensions: BTreeMap<String, Extension>,
    /// Enum types.
    pub enums: BTreeMap<QualName, EnumType>,
    /// Free-standing sequences (identity sequences belong to their column).
    pub sequences: BTreeMap<QualName, Sequence>,
    /// Ordinary tables with their columns, constraints, indexes and triggers.
    pub tables: BTreeMap<QualName, Table>,
    /// Views and materialized views.
    pub views: BTreeMap<QualName, View>,
    /// Functions and procedures, keyed by name and identity arguments.
    pub functions: BTreeMap<RoutineId, Function>,
    /// Dependencies between managed objects: (dependent, referenced).
    pub depends: BTreeSet<(ObjectId, ObjectId)>,
    /// Casts known to the server, used to judge type changes.
    pub casts: BTreeMap<(String, String), Cast>,
    /// Names of volatile functions (any schema).
    pub volatile_functions: BTreeSet<String>,
    /// Objects found that stratum does not manage yet; reported, never ignored.
    pub unmanaged: Vec<Unmanaged>,
    /// True when this catalog was read from a live database (not a scratch
    /// load), so row counts and sizes mean something.
    pub live: bool,
    /// `server_version_num` of the server the catalog was read from.
    pub server_version: i32,
}

/// Identity of any managed object, used for dependencies and ordering.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ObjectId {
    /// A schema.
    Schema { name: String },
    /// An extension.
    Extension { name: String },
    /// An enum type.
    Type { name: QualName },
    /// A sequence.
    Sequence { name: QualName },
    /// The OWNED BY link of a sequence (made after its column exists).
    SequenceOwner { name: QualName },
    /// A table.
    Table { name: QualName },
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
}

impl ObjectId {
    /// A short human-readable label, e.g. `column app.users.email`.
    pub fn label(&self) -> String {
        match self {
            ObjectId::Schema { name } => format!("schema {name}"),
            ObjectId::Extension { name } => format!("extension {name}"),
            ObjectId::Type { name } => format!("type {}", name.plain()),
            ObjectId::Sequence { name } => format!("sequence {}", name.plain()),
            ObjectId::SequenceOwner { name } => format!("owner of sequence {}", name.plain()),
            ObjectId::Table { name } => format!("table {}", name.plain()),
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
        }
    }
}

/// A function's identity: its name and its identity argument types, as
/// `pg_get_function_identity_arguments` prints them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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

/// A schema (namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// Name.
    pub name: String,
    /// COMMENT ON SCHEMA.
    pub comment: Option<String>,
}

/// An installed extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Name.
    pub name: String,
    /// Schema its objects live in.
    pub schema: String,
    /// Installed version.
    pub version: String,
    /// COMMENT ON EXTENSION (normally the extension's own).
    pub comment: Option<String>,
}

/// An enum type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumType {
    /// Qualified name.
    pub name: QualName,
    /// Labels in sort order.
    pub values: Vec<String>,
    /// COMMENT ON TYPE.
    pub comment: Option<String>,
}

/// Options shared by sequences and identity columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceOptions {
    /// Data type (`smallint`, `integer` or `bigint`).
    pub data_type: String,
    /// START WITH.
    pub start: i64,
    /// INCREMENT BY.
    pub increment: i64,
    /// MINVALUE.
    pub min: i64,
    /// MAXVALUE.
    pub max: i64,
    /// CACHE.
    pub cache: i64,
    /// CYCLE.
    pub cycle: bool,
}

/// A free-standing sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// Qualified name.
    pub name: QualName,
    /// Its options.
    pub options: SequenceOptions,
    /// OWNED BY table and column.
    pub owned_by: Option<(QualName, String)>,
    /// COMMENT ON SEQUENCE.
    pub comment: Option<String>,
}

/// An ordinary table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Qualified name.
    pub name: QualName,
    /// Columns in attribute order.
    pub columns: Vec<Column>,
    /// Constraints by name.
    pub constraints: BTreeMap<String, Constraint>,
    /// Indexes that do not implement a constraint, by name.
    pub indexes: BTreeMap<String, Index>,
    /// Triggers by name.
    pub triggers: BTreeMap<String, Trigger>,
    /// UNLOGGED.
    pub unlogged: bool,
    /// COMMENT ON TABLE.
    pub comment: Option<String>,
    /// Estimated rows (`pg_class.reltuples`), negative when never analysed.
    pub rows: f64,
    /// Total size on disk in bytes, indexes and TOAST included.
    pub bytes: i64,
}

impl Table {
    /// The column with this name, if any.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A table column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Name.
    pub name: String,
    /// Type with typmod, as `format_type` prints it.
    pub data_type: String,
    /// Type without typmod, to look up casts.
    pub base_type: String,
    /// Collation when it differs from the type's default, quoted and qualified.
    pub collation: Option<String>,
    /// Default expression (`pg_get_expr`), not for generated columns.
    pub default: Option<String>,
    /// NOT NULL.
    pub not_null: bool,
    /// GENERATED ... AS IDENTITY.
    pub identity: Option<Identity>,
    /// GENERATED ALWAYS AS (expr) STORED.
    pub generated: Option<String>,
    /// COMMENT ON COLUMN.
    pub comment: Option<String>,
}

/// An identity column's kind and sequence options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// ALWAYS (true) or BY DEFAULT (false).
    pub always: bool,
    /// The options of its internal sequence.
    pub options: SequenceOptions,
}

/// What kind of constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    /// PRIMARY KEY.
    PrimaryKey,
    /// UNIQUE.
    Unique,
    /// CHECK.
    Check,
    /// EXCLUDE.
    Exclusion,
    /// FOREIGN KEY.
    ForeignKey,
}

/// A table constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: ConstraintKind,
    /// `pg_get_constraintdef` without a trailing `NOT VALID`.
    pub definition: String,
    /// False for a constraint added NOT VALID and not validated since.
    pub validated: bool,
    /// Columns of the table the constraint covers.
    pub columns: Vec<String>,
    /// COMMENT ON CONSTRAINT.
    pub comment: Option<String>,
}

impl Constraint {
    /// True when CREATE TABLE can hold it: foreign keys (which may form
    /// cycles) and NOT VALID constraints are added by ALTER TABLE afterwards.
    pub fn inline(&self) -> bool {
        self.kind != ConstraintKind::ForeignKey && self.validated
    }
}

/// An index that is not the implementation of a constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// Qualified name (schema is the table's).
    pub name: QualName,
    /// `pg_get_indexdef`, a complete CREATE INDEX statement.
    pub definition: String,
    /// COMMENT ON INDEX.
    pub comment: Option<String>,
}

/// A trigger on a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// Name.
    pub name: String,
    /// `pg_get_triggerdef`, a complete CREATE TRIGGER statement.
    pub definition: String,
    /// COMMENT ON TRIGGER.
    pub comment: Option<String>,
}

/// A view or materialized view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Qualified name.
    pub name: QualName,
    /// Materialized view rather than view.
    pub materialized: bool,
    /// `pg_get_viewdef`: the query, ending in `;`.
    pub query: String,
    /// WITH (...) options, e.g. `security_barrier=true`.
    pub options: Vec<String>,
    /// Column names in order (for column comments and CREATE OR REPLACE).
    pub columns: Vec<String>,
    /// Indexes (materialized views only).
    pub indexes: BTreeMap<String, Index>,
    /// COMMENT ON VIEW / MATERIALIZED VIEW.
    pub comment: Option<String>,
    /// Comments on the view's columns, by column name.
    pub column_comments: BTreeMap<String, String>,
}

/// A function or procedure in any language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Name and identity arguments.
    pub id: RoutineId,
    /// Procedure rather than function.
    pub is_procedure: bool,
    /// Full argument list with names and defaults.
    pub arguments: String,
    /// Result type (`pg_get_function_result`), empty for procedures.
    pub result: String,
    /// `pg_get_functiondef`, a complete CREATE OR REPLACE statement.
    pub definition: String,
    /// COMMENT ON FUNCTION.
    pub comment: Option<String>,
}

/// A cast between two types, as `pg_cast` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cast {
    /// `i` implicit, `a` assignment, `e` explicit only.
    pub context: char,
    /// `b` when the types are binary coercible (no rewrite needed).
    pub method: char,
}

/// An object of a kind stratum does not manage yet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Unmanaged {
    /// Its kind, e.g. `domain` or `policy`.
    pub kind: String,
    /// Its name as a reader would write it.
    pub name: String,
}
