//! Everything stratum knows about each object kind, one module per kind: its
//! model, its catalog query, its comparison, its SQL (create / alter / drop),
//! its hazards and its tie-break rank. The shared machinery (`diff`'s
//! recreation of dependants, `plan`'s graph, `render`, `ddl`, `dump`) reaches
//! every change through the [`Action`] trait, reads and compares every kind
//! through the [`Kind`] trait (both implemented on the kind's change type),
//! and identifies objects by [`ObjectId`].
//!
//! Adding a kind is a new module here, one line in the [`kinds!`] registry
//! below (and its map in [`Catalog`]), and its fixtures.
//!
//! A `Catalog` is built only by `introspect`, for the current and the desired
//! side alike, so every text field holds PostgreSQL's canonical rendering
//! (`format_type`, `pg_get_expr`, `pg_get_indexdef`, ...). Maps are ordered so
//! that everything derived from a catalog is deterministic.

pub mod depends;
pub(crate) mod exact_vec;
mod id;
pub mod lifecycle;
pub mod name_map;
pub(crate) mod owner_rows;
pub(crate) mod pairs;
pub mod rank;
pub mod reader;
pub mod relation;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_postgres::Row;

use crate::hazard::Hazard;
pub use crate::sql::QualName;
pub use id::{ObjectId, RoutineId};
use reader::Reader;

pub use aggregate::Aggregate;
pub use cast::UserCast;
pub use collation::Collation;
pub use composite::{Attribute, Composite};
pub use domain::{Domain, DomainCheck};
pub use enum_type::EnumType;
pub use event_trigger::EventTrigger;
pub use extension::Extension;
pub use foreign_data_wrapper::ForeignDataWrapper;
pub use function::Function;
pub use operator::Operator;
pub use policy::Policy;
pub use privilege::{Grant, Grants};
pub use publication::Publication;
pub use range::Range;
pub use relation::{
    Column, ColumnOptions, Constraint, ConstraintKind, Identity, Index, SequenceOptions, Table,
    Trigger,
};
pub use row_security::RowSecurity;
pub use rule::Rule;
pub use schema::Schema;
pub use sequence::Sequence;
pub use server::Server;
pub use statistics::Statistics;
pub use ts_config::TsConfig;
pub use ts_dictionary::TsDictionary;
pub use user_mapping::UserMapping;
pub use view::View;

/// Everything stratum knows about one database.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Catalog {
    /// Schemas other than the system ones, by name.
    pub schemas: BTreeMap<String, Schema>,
    /// Installed extensions, by name.
    pub extensions: BTreeMap<String, Extension>,
    /// Enum types.
    #[serde(with = "crate::kinds::pairs")]
    pub enums: BTreeMap<QualName, EnumType>,
    /// Collations.
    #[serde(with = "crate::kinds::pairs")]
    pub collations: BTreeMap<QualName, Collation>,
    /// Composite types.
    #[serde(with = "crate::kinds::pairs")]
    pub composites: BTreeMap<QualName, Composite>,
    /// Range types.
    #[serde(with = "crate::kinds::pairs")]
    pub ranges: BTreeMap<QualName, Range>,
    /// Domains.
    #[serde(with = "crate::kinds::pairs")]
    pub domains: BTreeMap<QualName, Domain>,
    /// Free-standing sequences (identity sequences belong to their column).
    #[serde(with = "crate::kinds::pairs")]
    pub sequences: BTreeMap<QualName, Sequence>,
    /// Foreign data wrappers, by name.
    pub foreign_data_wrappers: BTreeMap<String, ForeignDataWrapper>,
    /// Foreign servers, by name.
    pub servers: BTreeMap<String, Server>,
    /// User mappings, by (role as SQL names it, server).
    #[serde(with = "crate::kinds::pairs")]
    pub user_mappings: BTreeMap<(String, String), UserMapping>,
    /// Ordinary, partitioned and foreign tables with their columns, constraints, indexes and triggers.
    /// Shared with the changes that create or drop them: a plan from
    /// nothing would otherwise copy every table (`Arc::make_mut` to edit).
    #[serde(with = "crate::kinds::pairs")]
    pub tables: BTreeMap<QualName, Arc<Table>>,
    /// Views and materialized views.
    #[serde(with = "crate::kinds::pairs")]
    pub views: BTreeMap<QualName, View>,
    /// Rules other than views' own, by relation and name.
    #[serde(with = "crate::kinds::pairs")]
    pub rules: BTreeMap<(QualName, String), Rule>,
    /// Row level security policies, by table and name.
    #[serde(with = "crate::kinds::pairs")]
    pub policies: BTreeMap<(QualName, String), Policy>,
    /// Row level security flags of the tables that have one set.
    #[serde(with = "crate::kinds::pairs")]
    pub row_security: BTreeMap<QualName, RowSecurity>,
    /// Grants other than owners' on every managed object that takes them.
    #[serde(with = "crate::kinds::pairs")]
    pub privileges: BTreeMap<ObjectId, privilege::Grants>,
    /// Owners of every managed object that has one.
    #[serde(with = "crate::kinds::pairs")]
    pub owners: BTreeMap<ObjectId, ownership::Owned>,
    /// `owners: manage`: objects whose owner the schema does not set go to
    /// the role that applies the plan (set on both sides by the filter).
    pub manage_unset_owners: bool,
    /// Functions and procedures, keyed by name and identity arguments.
    #[serde(with = "crate::kinds::pairs")]
    pub functions: BTreeMap<RoutineId, Function>,
    /// Aggregates, keyed by name and identity arguments.
    #[serde(with = "crate::kinds::pairs")]
    pub aggregates: BTreeMap<RoutineId, Aggregate>,
    /// Operators, by name and argument types.
    #[serde(with = "crate::kinds::pairs")]
    pub operators: BTreeMap<(QualName, String, String), Operator>,
    /// Casts the user created, by (source, target) type.
    #[serde(with = "crate::kinds::pairs")]
    pub user_casts: BTreeMap<(String, String), UserCast>,
    /// Text search dictionaries.
    #[serde(with = "crate::kinds::pairs")]
    pub ts_dictionaries: BTreeMap<QualName, TsDictionary>,
    /// Text search configurations.
    #[serde(with = "crate::kinds::pairs")]
    pub ts_configs: BTreeMap<QualName, TsConfig>,
    /// Extended statistics objects.
    #[serde(with = "crate::kinds::pairs")]
    pub statistics: BTreeMap<QualName, Statistics>,
    /// Event triggers, by name.
    pub event_triggers: BTreeMap<String, EventTrigger>,
    /// Publications, by name.
    pub publications: BTreeMap<String, Publication>,
    /// Dependencies between managed objects: (dependent, referenced).
    pub depends: depends::Depends,
    /// Every cast known to the server, used to judge type changes.
    #[serde(with = "crate::kinds::pairs")]
    pub casts: BTreeMap<(String, String), Cast>,
    /// Names of volatile functions (any schema).
    pub volatile_functions: BTreeSet<String>,
    /// Roles of the cluster, quoted as SQL names them.
    pub roles: BTreeSet<String>,
    /// The role that read this catalog, quoted (on a database: the one that
    /// applies plans).
    pub reader_role: String,
    /// Objects found that stratum does not manage yet; reported, never ignored.
    pub unmanaged: Vec<Unmanaged>,
    /// True when this catalog was read from a live database (not a scratch
    /// load), so row counts and sizes mean something.
    pub live: bool,
    /// Plan against this catalog online: indexes of existing tables built
    /// and dropped CONCURRENTLY (set on the current side by the project's
    /// `online` setting; see [`crate::filter::Filter`]).
    pub online: bool,
    /// `server_version_num` of the server the catalog was read from.
    pub server_version: i32,
    /// Rates a rehearsal measured on this database, for hazard estimates
    /// (never cached with the catalog: read each time it is planned from).
    #[serde(skip)]
    pub rates: crate::hazard::Rates,
}

impl Catalog {
    /// Keeps the schemas for which `schema` holds and the objects whose
    /// qualified name `name` accepts. Every field of the catalog is named
    /// here without `..`, so a new one does not compile until it says how
    /// it is scoped.
    pub fn retain(&mut self, schema: &dyn Fn(&str) -> bool, name: &dyn Fn(&QualName) -> bool) {
        let scoped = |id: &ObjectId| match id {
            ObjectId::Schema { name: s } => schema(s),
            other => other.qualified().is_none_or(name),
        };
        let Catalog {
            schemas,
            collations,
            enums,
            composites,
            ranges,
            domains,
            sequences,
            tables,
            views,
            functions,
            aggregates,
            operators,
            ts_dictionaries,
            ts_configs,
            rules,
            policies,
            row_security,
            privileges,
            owners,
            statistics,
            // Outside schemas: kept whatever the scope.
            extensions: _,
            foreign_data_wrappers: _,
            servers: _,
            user_mappings: _,
            user_casts: _,
            event_triggers: _,
            publications: _,
            // Facts about the server and the reading, not objects.
            manage_unset_owners: _,
            depends: _,
            casts: _,
            volatile_functions: _,
            roles: _,
            reader_role: _,
            unmanaged: _,
            live: _,
            online: _,
            server_version: _,
            rates: _,
        } = self;
        schemas.retain(|s, _| schema(s));
        collations.retain(|n, _| name(n));
        enums.retain(|n, _| name(n));
        composites.retain(|n, _| name(n));
        ranges.retain(|n, _| name(n));
        domains.retain(|n, _| name(n));
        sequences.retain(|n, _| name(n));
        tables.retain(|n, _| name(n));
        views.retain(|n, _| name(n));
        functions.retain(|id, _| name(&id.name));
        aggregates.retain(|id, _| name(&id.name));
        operators.retain(|(n, _, _), _| name(n));
        ts_dictionaries.retain(|n, _| name(n));
        ts_configs.retain(|n, _| name(n));
        rules.retain(|(table, _), _| name(table));
        policies.retain(|(table, _), _| name(table));
        row_security.retain(|table, _| name(table));
        privileges.retain(|id, _| scoped(id));
        owners.retain(|id, _| scoped(id));
        statistics.retain(|n, _| name(n));
    }

    /// How many table columns use the type `ty`, directly or as an array
    /// (a column that partitions or children inherit counts once).
    pub fn columns_using(&self, ty: &QualName) -> usize {
        let (plain, array) = (ty.to_string(), format!("{ty}[]"));
        self.tables
            .values()
            .flat_map(|t| &t.columns)
            .filter(|c| !c.inherited && (c.base_type == plain || c.base_type == array))
            .count()
    }

    /// Estimated rows and bytes of a table, its partitions' included (a
    /// partitioned table holds none itself).
    pub fn table_size(&self, name: &QualName) -> (f64, i64) {
        let Some(table) = self.tables.get(name) else {
            return (0.0, 0);
        };
        if table.partition_by.is_none() {
            return (table.rows, table.bytes);
        }
        // Rows stay unknown (negative) until some partition has been
        // counted; bytes are unknown when some partition's are.
        self.tables
            .values()
            .filter(|t| t.partition_of.as_ref().is_some_and(|p| &p.parent == name))
            .map(|t| self.table_size(&t.name))
            .fold((-1.0, 0), |(r, b), (tr, tb)| {
                let bytes = if b < 0 || tb < 0 { -1 } else { b + tb };
                match (r < 0.0, tr < 0.0) {
                    (true, true) => (r, bytes),
                    (true, false) => (tr, bytes),
                    (false, true) => (r, bytes),
                    (false, false) => (r + tr, bytes),
                }
            })
    }
}

/// A cast between two types, as `pg_cast` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cast {
    /// `i` implicit, `a` assignment, `e` explicit only.
    pub context: char,
    /// `b` when the types are binary coercible (no rewrite needed).
    pub method: char,
}

/// An object of a kind stratum does not manage yet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub struct Unmanaged {
    /// Its kind, e.g. `domain` or `policy`.
    pub kind: String,
    /// Its name as a reader would write it.
    pub name: String,
    /// The schema it lives in (its table's, for a policy or a grant on a
    /// column), if any.
    pub schema: Option<String>,
}

/// How a column's values move over to a type that the plan builds anew (an
/// enum that loses a value, a domain with a new base type, ...): the old type
/// is renamed aside, the new one created, the column converted with USING.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Conversion {
    /// Through the values' text form (enums, domains, ranges).
    Text,
    /// Attribute by attribute (composite types): each new attribute, with
    /// its type, taken from the old attribute of the same name when there
    /// is one, else NULL.
    Attributes(Vec<(String, String, bool)>),
}

/// What a change does to objects, for ordering and for finding dependents.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
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
    /// Current objects it keeps but whose references it replaces (CREATE
    /// OR REPLACE VIEW): it runs before whatever removes what they no
    /// longer reference, and they need no recreation for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<ObjectId>,
    /// True when the removal is a type change that PostgreSQL carries
    /// indexes and constraints through by itself.
    pub retype: bool,
}

/// True for a value at its type's default: such fields are left out of a
/// catalog's JSON (`skip_serializing_if`) and read back as the default.
pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// The name a type gets while the plan builds its replacement.
pub(crate) fn aside_name(name: &str) -> String {
    format!("{name}__stratum_old")
}

/// Effects of a change that removes the objects `ids` and frees their names.
pub(crate) fn gone(ids: Vec<ObjectId>) -> Effects {
    Effects {
        removes: ids.clone(),
        frees: ids,
        ..Effects::default()
    }
}

/// Effects of a change that makes the objects `ids`.
pub(crate) fn made(ids: Vec<ObjectId>) -> Effects {
    Effects {
        provides: ids,
        ..Effects::default()
    }
}

/// Effects of a change that alters objects that must exist first.
pub(crate) fn needs(ids: Vec<ObjectId>) -> Effects {
    Effects {
        needs: ids,
        ..Effects::default()
    }
}

/// How a step shows in the human summary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Shown {
    /// On a line of its own: `+ label`, `- label` or `~ label`.
    Object,
    /// As a detail of its table's line, e.g. `+ column phone`.
    Part {
        /// The table it changes.
        table: QualName,
        /// What it does there.
        detail: String,
    },
    /// As a detail of its object's line, e.g. `~ type app.mood: + value 'x'`.
    Detail(String),
    /// Not at all: it completes an object created in the same plan.
    WithOwner,
    /// In the count of comments.
    Comment,
}

/// What removes the leftovers of a step that failed or was cancelled
/// outside a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cleanup {
    /// The index a failed concurrent build left behind (its SQL name):
    /// dropped concurrently, and only while it exists and is INVALID, so a
    /// valid index of the same name (the reason a build failed) is kept.
    InvalidIndex(String),
    /// A statement that removes what the step left.
    Sql(String),
}

/// What one change does, the interface between a kind's changes and the
/// shared machinery (ordering, rendering, hazards, execution, dumps).
/// Implemented by each kind's change type; reached through
/// [`Change::action`].
pub trait Action: Debug {
    /// The object the step acts on.
    fn id(&self) -> ObjectId;

    /// That object as people read it, e.g. `materialized view app.v`.
    fn label(&self) -> String {
        self.id().label()
    }

    /// What the step does, in snake_case, e.g. `add_column`.
    fn verb(&self) -> &'static str;

    /// The objects it makes, releases or invalidates.
    fn effects(&self) -> Effects;

    /// Its statement without a trailing newline, or None when another step
    /// does the work (an index dropped with its table).
    fn sql(&self) -> Option<String>;

    /// Its hazards, judged against the current catalog.
    fn hazards(&self, _current: &Catalog, _desired: &Catalog) -> Vec<Hazard> {
        Vec::new()
    }

    /// Tie-break key among steps the graph leaves unordered: one of the
    /// names in [`rank`], the one table of them.
    fn rank(&self) -> rank::Rank;

    /// False for statements that cannot run inside a transaction block.
    fn transactional(&self) -> bool {
        true
    }

    /// What removes the leftovers of this step when it fails outside a
    /// transaction (the INVALID index of a failed concurrent build).
    fn undo_on_failure(&self) -> Option<Cleanup> {
        None
    }

    /// True when the object holds no data, so that dropping it to create it
    /// again in the same plan loses nothing (views, routines).
    fn stateless(&self) -> bool {
        false
    }

    /// How the step shows in the summary.
    fn shown(&self) -> Shown {
        Shown::Object
    }

    /// The table the step works on, whose size, lock and estimated
    /// duration its hazards state on a live database.
    fn table(&self) -> Option<QualName> {
        match self.id() {
            ObjectId::Table { name } => Some(name),
            id => id.relation().cloned(),
        }
    }

    /// The object whose DDL this step belongs to in dumps and drift reports:
    /// the table of a part of one (a column, its comment, a constraint, a
    /// trigger, a rule), else the object itself.
    fn owner(&self) -> ObjectId {
        let id = self.id();
        match id.relation() {
            Some(table) => ObjectId::Table {
                name: table.clone(),
            },
            None => id,
        }
    }
}

/// A kind as a whole: how it is read from the catalogs and compared. The
/// registry ([`kinds!`]) calls these for each kind in turn; implemented on
/// the kind's change type, whose [`Action`] says what each change does.
pub trait Kind: Action + Sized {
    /// The kind's catalog query for a server of this `server_version_num`;
    /// None when the kind is read by another kind's query.
    fn query(_version: i32) -> Option<String> {
        None
    }

    /// True when [`Kind::read`] reads each row on its own, so that it may
    /// be given the rows in batches as they arrive: the kinds with a row
    /// per column, constraint or index, whose rows would otherwise be held
    /// all at once (tens of megabytes at 10 000 tables).
    fn reads_row_by_row() -> bool {
        false
    }

    /// Reads the rows of [`Kind::query`] into the catalog.
    fn read(_rows: &[Row], _cat: &mut Catalog, _reader: &mut Reader) -> Result<()> {
        Ok(())
    }

    /// Rows `(cls, oid, keyword, owner)` of this kind's objects for the
    /// owners query ([`ownership`]): the catalog, the object's oid, its
    /// ALTER keyword and its owner's oid; None for a kind whose objects
    /// have no owner of their own.
    fn owners(_version: i32) -> Option<String> {
        None
    }

    /// Rows `(cls, oid, sub, grantee, privilege, grantable, NULL, NULL,
    /// NULL)` of the grants on this kind's objects for the privileges
    /// query ([`privilege`]), one with a NULL grantee for an object with
    /// none; None for a kind that takes no privileges.
    fn grants(_version: i32) -> Option<String> {
        None
    }

    /// Pushes every change of this kind that turns `current` into `desired`.
    fn diff(_current: &Catalog, _desired: &Catalog, _out: &mut Vec<Change>) {}

    /// When `id` is an object of this kind that exists on both sides, pushes
    /// the changes that drop and create it again (it is in the way of
    /// another change).
    fn recreate(_current: &Catalog, _desired: &Catalog, _id: &ObjectId, _out: &mut Vec<Change>) {}
}

/// The registry: one line per kind, in the order kinds are read and diffed
/// (a kind is read after the kinds its rows refer to).
macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident => $module:ident::$ty:ident,)*) => {
        $(pub mod $module;)*

        /// One difference between the current and the desired catalog, as a
        /// change of one kind. Boxed: the kinds' changes differ in size by
        /// tens of times (a created table holds all its columns), and a plan
        /// from nothing holds four changes per table, twice over while it
        /// is ordered.
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub enum Change {
            $($(#[$doc])* $variant(Box<$module::$ty>),)*
        }

        impl Change {
            /// What the change does, as its kind's [`Action`].
            pub fn action(&self) -> &dyn Action {
                match self {
                    $(Change::$variant(c) => &**c,)*
                }
            }
        }

        $(impl From<$module::$ty> for Change {
            fn from(change: $module::$ty) -> Change {
                Change::$variant(Box::new(change))
            }
        })*

        /// Every kind's catalog query for a server of `version`, in
        /// registry order, each named for error messages (None for a kind
        /// another kind's query reads).
        pub(crate) fn queries(version: i32) -> Vec<(&'static str, Option<String>)> {
            vec![$((stringify!($module), <$module::$ty as Kind>::query(version)),)*]
        }

        /// Every kind's rows for the owners query ([`Kind::owners`]).
        pub(crate) fn owner_queries(version: i32) -> Vec<String> {
            [$(<$module::$ty as Kind>::owners(version),)*].into_iter().flatten().collect()
        }

        /// Every kind's rows for the privileges query ([`Kind::grants`]).
        pub(crate) fn grant_queries(version: i32) -> Vec<String> {
            [$(<$module::$ty as Kind>::grants(version),)*].into_iter().flatten().collect()
        }

        /// True when query `index` of [`queries`] may be read in batches
        /// ([`Kind::reads_row_by_row`]).
        pub(crate) fn reads_row_by_row(index: usize) -> bool {
            let kinds = [$(<$module::$ty as Kind>::reads_row_by_row,)*];
            kinds.get(index).is_some_and(|f| f())
        }

        /// Reads the rows of query `index` of [`queries`] into `cat`. The
        /// queries' rows must be read in order: a kind's rows refer to
        /// objects of the kinds before it.
        pub(crate) fn read_kind(
            index: usize,
            rows: &[Row],
            cat: &mut Catalog,
            reader: &mut Reader,
        ) -> Result<()> {
            let mut i = 0;
            $(
                if i == index {
                    return <$module::$ty as Kind>::read(rows, cat, reader)
                        .context(concat!("reading ", stringify!($module), " objects"));
                }
                i += 1;
            )*
            anyhow::bail!("no kind query {index} (of {i})")
        }

        /// Every kind's changes from `current` to `desired`.
        pub(crate) fn diff_all(current: &Catalog, desired: &Catalog) -> Vec<Change> {
            let mut out = Vec::new();
            $(<$module::$ty as Kind>::diff(current, desired, &mut out);)*
            out
        }

        /// Drops and creates `id` again, whatever its kind.
        pub(crate) fn recreate(
            current: &Catalog,
            desired: &Catalog,
            id: &ObjectId,
            out: &mut Vec<Change>,
        ) {
            $(<$module::$ty as Kind>::recreate(current, desired, id, out);)*
        }
    };
}

kinds! {
    /// Schemas.
    Schema => schema::SchemaChange,
    /// Extensions.
    Extension => extension::ExtensionChange,
    /// Collations.
    Collation => collation::CollationChange,
    /// Enum types.
    Enum => enum_type::EnumChange,
    /// Composite types.
    Composite => composite::CompositeChange,
    /// Range types.
    Range => range::RangeChange,
    /// Domains.
    Domain => domain::DomainChange,
    /// Free-standing sequences.
    Sequence => sequence::SequenceChange,
    /// Functions and procedures.
    Function => function::FunctionChange,
    /// Text search dictionaries.
    TsDictionary => ts_dictionary::TsDictionaryChange,
    /// Text search configurations (after their dictionaries).
    TsConfig => ts_config::TsConfigChange,
    /// Aggregates (after the functions they call).
    Aggregate => aggregate::AggregateChange,
    /// Operators (after the functions they call).
    Operator => operator::OperatorChange,
    /// Casts.
    Cast => cast::CastChange,
    /// Foreign data wrappers.
    ForeignDataWrapper => foreign_data_wrapper::FdwChange,
    /// Foreign servers (after their wrappers).
    Server => server::ServerChange,
    /// User mappings (after their servers).
    UserMapping => user_mapping::UserMappingChange,
    /// Tables.
    Table => table::TableChange,
    /// Views and materialized views.
    View => view::ViewChange,
    /// Columns of tables.
    Column => column::ColumnChange,
    /// Table constraints.
    Constraint => constraint::ConstraintChange,
    /// Indexes on tables and materialized views.
    Index => index::IndexChange,
    /// Triggers on tables and views.
    Trigger => trigger::TriggerChange,
    /// Rules on tables and views.
    Rule => rule::RuleChange,
    /// Row level security flags (after their tables).
    RowSecurity => row_security::RowSecurityChange,
    /// Row level security policies (after their tables and functions).
    Policy => policy::PolicyChange,
    /// Extended statistics objects.
    Statistics => statistics::StatisticsChange,
    /// Event triggers.
    EventTrigger => event_trigger::EventTriggerChange,
    /// Publications.
    Publication => publication::PublicationChange,
    /// Owners (read after every object they are on; compared in
    /// `ownership::diff_after`, once the other changes are known).
    Ownership => ownership::OwnerChange,
    /// Privileges (read after every object they are on; compared in
    /// `privilege::diff_after`, once the other changes are known).
    Privilege => privilege::PrivilegeChange,
    /// Comments on any object.
    Comment => comment::CommentChange,
    /// Renames that `-- stratum:renamed-from` asks for (run last).
    Rename => rename::RenameChange,
    /// The steps of an expand / contract pattern (`generate
    /// --zero-downtime`), written in the order they run.
    Expand => expand::ExpandChange,
}
