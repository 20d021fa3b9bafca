//! What a table is made of: the model of tables and of their columns,
//! constraints, indexes and triggers, and the few facts about a table that
//! the kinds changing its parts ask of it (is it kept or created again,
//! which parent it leaves). Only data lives here: the kinds `table`,
//! `column`, `constraint`, `index`, `trigger` and `sequence` read and
//! change these and import them from here, never from each other's
//! modules in a circle.

use serde::Serialize;

use super::name_map::NameMap;
use super::{server, Catalog, ObjectId, QualName};
use crate::sql::ident;

/// An ordinary, partitioned or foreign table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Table {
    /// Qualified name.
    pub name: QualName,
    /// Columns in attribute order.
    #[serde(deserialize_with = "super::exact_vec::deserialize")]
    pub columns: Vec<Column>,
    /// Constraints by name.
    pub constraints: NameMap<Constraint>,
    /// Indexes that do not implement a constraint, by name.
    pub indexes: NameMap<Index>,
    /// Triggers by name.
    pub triggers: NameMap<Trigger>,
    /// Constraints this partition or child holds for its parent (cloned
    /// keys, inherited checks): its own once it leaves the parent.
    pub parent_constraints: NameMap<Constraint>,
    /// Indexes this partition holds attached to its parent's: its own once
    /// it leaves the parent.
    pub parent_indexes: NameMap<Index>,
    /// UNLOGGED.
    pub unlogged: bool,
    /// PARTITION BY key (`pg_get_partkeydef`), for a partitioned table.
    pub partition_by: Option<String>,
    /// The table this one is a partition of, with its bound.
    pub partition_of: Option<PartitionOf>,
    /// INHERITS parents, in order (not for partitions).
    pub inherits: Vec<QualName>,
    /// Storage parameters (`fillfactor=70`, `autovacuum_enabled=false`, ...).
    pub options: Vec<String>,
    /// REPLICA IDENTITY.
    pub replica_identity: ReplicaIdentity,
    /// CLUSTER ON: the index (or key constraint) CLUSTER orders it by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustered_on: Option<String>,
    /// SERVER and OPTIONS, for a foreign table.
    pub foreign: Option<ForeignTable>,
    /// COMMENT ON TABLE.
    pub comment: Option<String>,
    /// Estimated rows (`pg_class.reltuples`), negative when never analysed.
    pub rows: f64,
    /// Total size on disk in bytes, indexes and TOAST included; negative
    /// while not known (never vacuumed nor analyzed, and not measured: see
    /// `introspect::measure`).
    pub bytes: i64,
}

/// Which old row values logical replication writes for updates and deletes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ReplicaIdentity {
    /// The primary key (the default).
    Default,
    /// Nothing.
    Nothing,
    /// The whole row.
    Full,
    /// The columns of this unique index (or unique constraint's index).
    Index(String),
}

impl ReplicaIdentity {
    pub(crate) fn sql(&self) -> String {
        match self {
            ReplicaIdentity::Default => "DEFAULT".into(),
            ReplicaIdentity::Nothing => "NOTHING".into(),
            ReplicaIdentity::Full => "FULL".into(),
            ReplicaIdentity::Index(name) => format!("USING INDEX {}", ident(name)),
        }
    }
}

/// Where a foreign table's rows live.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ForeignTable {
    /// The foreign server.
    pub server: String,
    /// Generic options, `key=value`.
    pub options: Vec<String>,
}

/// Where a partition sits in its parent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionOf {
    /// The partitioned table.
    pub parent: QualName,
    /// `FOR VALUES ...` or `DEFAULT`, as `pg_get_expr` prints it.
    pub bound: String,
}

impl Table {
    /// The table this one inherits its columns from, if any: the partition's
    /// parent, else the first INHERITS parent.
    pub fn parent(&self) -> Option<&QualName> {
        match &self.partition_of {
            Some(p) => Some(&p.parent),
            None => self.inherits.first(),
        }
    }

    /// `TABLE` or `FOREIGN TABLE`, as COMMENT ON and DROP name the kind.
    pub fn keyword(&self) -> &'static str {
        if self.foreign.is_some() {
            "FOREIGN TABLE"
        } else {
            "TABLE"
        }
    }

    /// The column with this name, if any.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// True when a table on both sides cannot change in place: it becomes
/// partitioned, stops being so or changes its partition key, becomes or
/// stops being a foreign table, moves to another server or its server is
/// created again. (Its partitions and children are not: they are detached
/// from it first and attached again after, in `table`.)
pub(crate) fn recreated(current: &Catalog, desired: &Catalog, name: &QualName) -> bool {
    let (Some(old), Some(new)) = (current.tables.get(name), desired.tables.get(name)) else {
        return false;
    };
    let server = |t: &Table| t.foreign.as_ref().map(|f| f.server.clone());
    old.partition_by != new.partition_by
        || server(old) != server(new)
        || server(old).is_some_and(|s| server::recreated(current, desired, &s))
}

/// The table `name` as it is now when the plan changes it in place; None
/// when the plan creates it (anew or again): its parts then come with it.
pub(crate) fn kept<'a>(
    current: &'a Catalog,
    desired: &Catalog,
    name: &QualName,
) -> Option<&'a Table> {
    let old = current.tables.get(name)?;
    (!recreated(current, desired, name)).then_some(old)
}

/// The parent a table that stays leaves (DETACH or NO INHERIT): for good
/// when it has no parent after, or for a while when the plan recreates
/// that parent ([`relinked`]). What it held for the parent becomes its own.
pub(crate) fn left_parent<'a>(
    current: &Catalog,
    desired: &Catalog,
    old: &'a Table,
    new: &Table,
) -> Option<&'a QualName> {
    old.parent()
        .filter(|_| new.parent().is_none() || relinked(current, desired, old, new))
}

/// True when a table that stays keeps its parent and the plan recreates
/// that parent: it leaves the old one and joins the new one, whose keys,
/// checks and indexes it takes as any table joining a parent does.
pub(crate) fn relinked(current: &Catalog, desired: &Catalog, old: &Table, new: &Table) -> bool {
    old.parent()
        .is_some_and(|p| new.parent() == Some(p) && recreated(current, desired, p))
}

/// The id standing for the link of `parent`'s partitions and children to
/// it, so that a DETACH or NO INHERIT comes before the next ATTACH or
/// INHERIT (and before changes to what the table held for that parent).
pub(crate) fn link(parent: &QualName) -> ObjectId {
    ObjectId::ParentLink {
        parent: parent.clone(),
    }
}

/// A table column. Fields at their defaults are left out of its JSON (in
/// the catalog cache): most columns have no collation, default, identity,
/// comment or options, and they were two thirds of a cached catalog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    /// Name.
    pub name: String,
    /// Type with typmod, as `format_type` prints it.
    pub data_type: String,
    /// Type without typmod, to look up casts.
    pub base_type: String,
    /// Collation when it differs from the type's default, quoted and qualified.
    #[serde(default, skip_serializing_if = "crate::kinds::is_default")]
    pub collation: Option<String>,
    /// Default expression (`pg_get_expr`), not for generated columns.
    #[serde(default, skip_serializing_if = "crate::kinds::is_default")]
    pub default: Option<String>,
    /// NOT NULL.
    pub not_null: bool,
    /// The NOT NULL constraint's name and flags (PostgreSQL 18).
    #[serde(default, skip_serializing_if = "crate::kinds::is_default")]
    pub not_null_constraint: NotNull,
    /// GENERATED ... AS IDENTITY.
    #[serde(default, skip_serializing_if = "crate::kinds::is_default")]
    pub identity: Option<Box<Identity>>,
    /// GENERATED ALWAYS AS (expr): its expression.
    #[serde(default, skip_serializing_if = "crate::kinds::is_default")]
    pub generated: Option<String>,
    /// VIRTUAL rather than STORED (PostgreSQL 18, where it is the default).
    #[serde(default, skip_serializing_if = "crate::kinds::is_default")]
    pub virtual_generated: bool,
    /// COMMENT ON COLUMN.
    #[serde(default, skip_serializing_if = "crate::kinds::is_default")]
    pub comment: Option<String>,
    /// Inherited from a parent table (a partition's columns all are).
    #[serde(default, skip_serializing_if = "crate::kinds::is_default")]
    pub inherited: bool,
    /// Declared by the table itself (false for purely inherited columns).
    pub local: bool,
    /// STORAGE, COMPRESSION and STATISTICS when not the defaults.
    #[serde(default, skip_serializing_if = "crate::kinds::is_default")]
    pub options: ColumnOptions,
    /// The storage mode of the column's type, to reset STORAGE to.
    pub type_storage: char,
}

/// A NOT NULL constraint's details; the default is the plain form (the
/// name PostgreSQL chooses, valid, inherited by children). Before
/// PostgreSQL 18 always the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NotNull {
    /// Its name, when not `<table>_<column>_not_null`.
    pub name: Option<String>,
    /// Added NOT VALID and not validated since.
    pub not_valid: bool,
    /// NO INHERIT.
    pub no_inherit: bool,
}

/// An identity column's kind and sequence options.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// ALWAYS (true) or BY DEFAULT (false).
    pub always: bool,
    /// The options of its internal sequence.
    pub options: SequenceOptions,
}

/// A column's storage settings, each None when it is the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ColumnOptions {
    /// `pg_attribute.attstorage` when it differs from the type's default.
    pub storage: Option<char>,
    /// `pg_attribute.attcompression` (`p` pglz, `l` lz4) when set.
    pub compression: Option<char>,
    /// `pg_attribute.attstattarget` when set.
    pub statistics: Option<i16>,
    /// Generic options of a foreign table's column (`column_name=id`).
    pub fdw: Vec<String>,
    /// Attribute options (`n_distinct=-0.02`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
}

/// Options shared by sequences and identity columns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// What kind of constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Constraint {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: ConstraintKind,
    /// `pg_get_constraintdef` without a trailing `NOT VALID` or `NOT ENFORCED`.
    pub definition: String,
    /// False for a constraint added NOT VALID and not validated since (and
    /// for every NOT ENFORCED one).
    pub validated: bool,
    /// False for NOT ENFORCED (PostgreSQL 18).
    pub enforced: bool,
    /// Columns of the table the constraint covers.
    pub columns: Vec<String>,
    /// COMMENT ON CONSTRAINT.
    pub comment: Option<String>,
}

/// An index that is not the implementation of a constraint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Index {
    /// Qualified name (schema is the table's).
    pub name: QualName,
    /// `pg_get_indexdef`, a complete CREATE INDEX statement.
    pub definition: String,
    /// COMMENT ON INDEX.
    pub comment: Option<String>,
    /// False for an index that a failed CREATE INDEX CONCURRENTLY left
    /// behind: it serves no query and is built again.
    pub valid: bool,
    /// A partition's index: the name of its parent's index it is attached
    /// to.
    pub attached_to: Option<String>,
}

impl Index {
    /// True when `self` is `other` but for its name: renamed, it would be
    /// the same index (a partition's own index its parent's can adopt).
    pub(crate) fn renames_to(&self, other: &Index) -> bool {
        let named = |n: &str| format!(" {} ON ", ident(n));
        self.definition
            .replacen(&named(&self.name.name), &named(&other.name.name), 1)
            == other.definition
    }

    /// True when `self` (the current index) is the `desired` one.
    pub(crate) fn same_as(&self, desired: &Index) -> bool {
        self.valid && self.definition == desired.definition
    }
}

/// A trigger on a table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trigger {
    /// Name.
    pub name: String,
    /// `pg_get_triggerdef`, a complete CREATE TRIGGER statement.
    pub definition: String,
    /// Firing state, `pg_trigger.tgenabled`: `O` enabled (the default),
    /// `D` disabled, `R` replica only, `A` always.
    pub enabled: char,
    /// COMMENT ON TRIGGER.
    pub comment: Option<String>,
}
