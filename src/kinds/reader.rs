//! What reading one database keeps between the kinds' catalog queries: the
//! map from catalog oids to [`ObjectId`]s (for `pg_depend`), the identity
//! sequences that belong to columns, and which relation oid is which table or
//! view. Also the filters every kind's query shares.
//!
//! The kinds fill a `Reader`; `introspect` owns the transaction and reads
//! dependencies through it at the end.

use std::collections::HashMap;

use tokio_postgres::Row;

use super::{ObjectId, QualName, SequenceOptions};

/// Schemas that belong to PostgreSQL itself; `n` is the pg_namespace alias.
pub(crate) const USER_SCHEMA: &str = "n.nspname !~ '^pg_' and n.nspname <> 'information_schema'";

/// The filter "namespace `oid` is a user schema", for the queries of kinds
/// that hang off a relation: without it they print every column, index and
/// constraint of the system catalogs too, most of their time on a small
/// database.
pub(crate) fn in_user_schema(oid: &str) -> String {
    format!("{oid} IN (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE {USER_SCHEMA})")
}

/// The comment on the object of system catalog `class` (`pg_type`) whose
/// oid is the expression `oid`, as a subquery on `pg_description`: the row
/// `obj_description` reads, without a function call per row.
pub(crate) fn comment_sql(class: &str, oid: &str) -> String {
    subobject_comment_sql(class, oid, "0")
}

/// The comment on part `subid` (a column's number) of the object of `class`
/// whose oid is `oid`, as [`comment_sql`].
pub(crate) fn subobject_comment_sql(class: &str, oid: &str, subid: &str) -> String {
    format!(
        "(SELECT dsc.description FROM pg_catalog.pg_description dsc WHERE dsc.objoid = {oid} \
         AND dsc.classoid = 'pg_catalog.{class}'::pg_catalog.regclass AND dsc.objsubid = {subid})"
    )
}

/// The "not a member of an extension" filter for rows of `class` whose oid
/// is `oid`.
pub(crate) fn not_extension_member(class: &str, oid: &str) -> String {
    format!(
        "not exists (select 1 from pg_catalog.pg_depend x where x.classid = '{class}'::pg_catalog.regclass \
         and x.objid = {oid} and x.deptype = 'e')"
    )
}

/// The name of collation `oid` (qualified unless in pg_catalog) when it is
/// not `default`, the collation the type has anyway; NULL otherwise.
pub(crate) fn collation_sql(oid: &str, default: &str) -> String {
    format!(
        "CASE WHEN {oid} <> 0 AND {oid} <> {default} THEN \
           (SELECT CASE WHEN cn.nspname = 'pg_catalog' THEN pg_catalog.quote_ident(co.collname) \
                   ELSE pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) END \
            FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
            WHERE co.oid = {oid}) END"
    )
}

/// Which system catalog an oid in `pg_depend` refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Class {
    Relation,
    Type,
    Routine,
    Constraint,
    Trigger,
    AttrDefault,
    Rewrite,
    Namespace,
    Extension,
    Collation,
    Operator,
    TsConfig,
    Statistic,
    EventTrigger,
    Policy,
    Cast,
    TsDict,
    ForeignDataWrapper,
    ForeignServer,
    UserMapping,
}

impl Class {
    /// The class of a `regclass` name as `pg_depend` rows print it.
    pub(crate) fn from_catalog_name(name: &str) -> Option<Class> {
        Some(match name {
            "pg_class" => Class::Relation,
            "pg_type" => Class::Type,
            "pg_proc" => Class::Routine,
            "pg_constraint" => Class::Constraint,
            "pg_trigger" => Class::Trigger,
            "pg_attrdef" => Class::AttrDefault,
            "pg_rewrite" => Class::Rewrite,
            "pg_namespace" => Class::Namespace,
            "pg_extension" => Class::Extension,
            "pg_collation" => Class::Collation,
            "pg_operator" => Class::Operator,
            "pg_ts_config" => Class::TsConfig,
            "pg_statistic_ext" => Class::Statistic,
            "pg_event_trigger" => Class::EventTrigger,
            "pg_policy" => Class::Policy,
            "pg_cast" => Class::Cast,
            "pg_ts_dict" => Class::TsDict,
            "pg_foreign_data_wrapper" => Class::ForeignDataWrapper,
            "pg_foreign_server" => Class::ForeignServer,
            "pg_user_mapping" => Class::UserMapping,
            _ => return None,
        })
    }
}

/// Where a relation oid landed in the catalog.
#[derive(Debug, Clone)]
pub(crate) enum Owner {
    /// An ordinary table.
    Table(QualName),
    /// A view or materialized view.
    View(QualName),
}

/// State shared by the kinds while one catalog is read (opaque outside the
/// crate).
///
/// Every object recorded is kept once, in `ids`; the oid maps hold indexes
/// into it. At 10 000 tables a side records about 200 000 objects, and maps
/// holding an [`ObjectId`] per oid were a fifth of the peak memory.
#[derive(Default)]
pub struct Reader {
    ids: Ids,
    objects: HashMap<(Class, u32), u32>,
    /// Columns of managed tables: (table oid, attnum) -> column id.
    columns: HashMap<(u32, i16), u32>,
    /// Options of identity sequences by the (table oid, attnum) they serve.
    pub(crate) identities: HashMap<(u32, i16), SequenceOptions>,
    /// Managed tables and views by relation oid.
    pub(crate) owners: HashMap<u32, Owner>,
}

impl Reader {
    /// Records that the row `oid` of `class` is the managed object `id`.
    pub(crate) fn insert(&mut self, class: Class, oid: u32, id: ObjectId) {
        let i = self.ids.push(id);
        self.objects.insert((class, oid), i);
    }

    /// Records a column (or a view's column, standing for its view).
    pub(crate) fn insert_column(&mut self, relid: u32, attnum: i16, id: ObjectId) {
        let i = self.ids.push(id);
        self.columns.insert((relid, attnum), i);
    }

    /// The name of column `attnum` of the managed table `relid`.
    pub(crate) fn column_name(&self, relid: u32, attnum: i16) -> Option<&str> {
        match self.id(*self.columns.get(&(relid, attnum))?) {
            ObjectId::Column { column, .. } => Some(column),
            _ => None,
        }
    }

    /// The managed object a `pg_depend` reference names, if any, as an
    /// index for [`Reader::id`].
    pub(crate) fn resolve_index(&self, class: Class, oid: u32, sub: i32) -> Option<u32> {
        if class == Class::Relation && sub > 0 {
            if let Some(&column) = self.columns.get(&(oid, sub as i16)) {
                return Some(column);
            }
        }
        self.objects.get(&(class, oid)).copied()
    }

    /// The managed object a `pg_depend` reference names, if any.
    pub(crate) fn resolve(&self, class: Class, oid: u32, sub: i32) -> Option<&ObjectId> {
        Some(self.id(self.resolve_index(class, oid, sub)?))
    }

    /// The object recorded at index `i`.
    pub(crate) fn id(&self, i: u32) -> &ObjectId {
        self.ids.get(i)
    }

    /// Every object recorded, by index (one object may be recorded at
    /// several: a view stands for each of its columns).
    pub(crate) fn into_ids(self) -> Ids {
        self.ids
    }
}

/// Objects by index, stored in chunks of a fixed size: a vector that
/// doubles as it grows would hold up to twice the 20 MB they take at
/// 10 000 tables.
#[derive(Default)]
pub struct Ids {
    chunks: Vec<Vec<ObjectId>>,
    len: u32,
}

impl Ids {
    const CHUNK: u32 = 4096;

    fn push(&mut self, id: ObjectId) -> u32 {
        if self.len.is_multiple_of(Self::CHUNK) {
            self.chunks.push(Vec::with_capacity(Self::CHUNK as usize));
        }
        self.chunks.last_mut().expect("a chunk").push(id);
        self.len += 1;
        self.len - 1
    }

    fn get(&self, i: u32) -> &ObjectId {
        &self.chunks[(i / Self::CHUNK) as usize][(i % Self::CHUNK) as usize]
    }

    /// How many there are.
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The objects in index order, each chunk freed once it is passed.
    pub(crate) fn into_objects(self) -> impl Iterator<Item = ObjectId> {
        self.chunks.into_iter().flatten()
    }
}

/// Column `i` of `row`: text that a `pg_get_*` function printed. Those read
/// the latest catalog rather than the transaction's snapshot, and print NULL
/// for an object dropped since: that is an error naming the object (`what`),
/// never a panic.
pub(crate) fn printed(row: &Row, i: usize, what: &dyn Fn() -> String) -> anyhow::Result<String> {
    row.get::<_, Option<String>>(i)
        .ok_or_else(|| changed_meanwhile(&what()))
}

/// The error for an object that changed while the catalog was read.
pub(crate) fn changed_meanwhile(what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} was changed or dropped while stratum read the catalog (another session's DDL); \
         run stratum again"
    )
}
