//! Tables themselves: CREATE TABLE with its columns and inline constraints,
//! DROP TABLE, persistence, partitioning (PARTITION BY, partitions with their
//! bounds, ATTACH / DETACH) and inheritance (INHERITS, INHERIT / NO
//! INHERIT) and foreign tables (SERVER, OPTIONS). Columns, constraints,
//! indexes and triggers have modules of their own; what a partition or
//! child inherits is its parent's and is changed there.

use std::sync::Arc;
use crate::kinds::relation::{kept, link, recreated, ForeignTable, PartitionOf, ReplicaIdentity, Table};
use std::collections::BTreeSet;
use crate::kinds::rank::{self, Rank};

use tokio_postgres::Row;

use super::name_map::NameMap;
use super::reader::{not_extension_member, Class, Owner, Reader, USER_SCHEMA, comment_sql};
use super::{column, comment, constraint};
use super::{Catalog, Change, ConstraintKind, Effects, Action, Kind, ObjectId};
use super::QualName;
use crate::hazard::{Hazard, HazardCode};
use crate::sql::{ident, options_change, options_clause, sorted_options, storage_parameters};

impl Table {
    /// The ids its CREATE (`created`) or DROP makes or removes.
    fn parts(&self, created: bool) -> Vec<ObjectId> {
        let name = &self.name;
        let mut ids = vec![ObjectId::Table { name: name.clone() }];
        for column in &self.columns {
            ids.push(ObjectId::column(name, &column.name));
            if column.default.is_some() {
                ids.push(ObjectId::default_of(name, &column.name));
            }
        }
        for constraint in self.constraints.values() {
            if created && !constraint.inline() {
                continue;
            }
            ids.push(ObjectId::constraint(name, &constraint.name));
        }
        ids
    }
}

/// A change to a table as a whole.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TableChange {
    /// CREATE TABLE with columns and inline constraints.
    Create(Arc<Table>),
    /// DROP TABLE.
    Drop(Arc<Table>),
    /// ALTER TABLE ... SET LOGGED / SET UNLOGGED.
    SetLogged { table: QualName, unlogged: bool },
    /// ALTER TABLE parent ATTACH PARTITION table FOR VALUES ...; `checks`
    /// are the parent's CHECK constraints, which the table must have first;
    /// `parent_indexes` the parent's indexes and keys, made first so that
    /// ATTACH builds (or adopts) the table's for them, as its hazard says.
    Attach {
        table: QualName,
        partition_of: PartitionOf,
        checks: Vec<ObjectId>,
        #[serde(default)]
        parent_indexes: Vec<ObjectId>,
    },
    /// ALTER TABLE parent DETACH PARTITION table.
    Detach {
        table: QualName,
        partition_of: PartitionOf,
    },
    /// ALTER TABLE ... INHERIT parent; `checks` as for `Attach`.
    Inherit {
        table: QualName,
        parent: QualName,
        checks: Vec<ObjectId>,
    },
    /// ALTER TABLE ... NO INHERIT parent.
    NoInherit { table: QualName, parent: QualName },
    /// ALTER TABLE ... SET (...), RESET (...): storage parameters.
    SetOptions {
        table: QualName,
        from: Vec<String>,
        to: Vec<String>,
    },
    /// ALTER TABLE ... REPLICA IDENTITY; `index` is the id of the index or
    /// constraint it names, which must exist first.
    SetReplicaIdentity {
        table: QualName,
        identity: ReplicaIdentity,
        index: Option<ObjectId>,
    },
    /// ALTER TABLE ... CLUSTER ON / SET WITHOUT CLUSTER; `index` is the id
    /// of the index or constraint it names, which must exist first.
    SetCluster {
        table: QualName,
        on: Option<String>,
        index: Option<ObjectId>,
    },
    /// ALTER FOREIGN TABLE ... OPTIONS (...).
    SetForeignOptions {
        table: QualName,
        from: Vec<String>,
        to: Vec<String>,
    },
}

impl Action for TableChange {
    fn id(&self) -> ObjectId {
        let name = match self {
            TableChange::Create(t) | TableChange::Drop(t) => &t.name,
            TableChange::SetLogged { table, .. }
            | TableChange::Attach { table, .. }
            | TableChange::Detach { table, .. }
            | TableChange::Inherit { table, .. }
            | TableChange::NoInherit { table, .. }
            | TableChange::SetOptions { table, .. }
            | TableChange::SetForeignOptions { table, .. }
            | TableChange::SetReplicaIdentity { table, .. }
            | TableChange::SetCluster { table, .. } => table,
        };
        ObjectId::Table { name: name.clone() }
    }

    fn verb(&self) -> &'static str {
        match self {
            TableChange::Create(_) => "create_table",
            TableChange::Drop(_) => "drop_table",
            TableChange::SetLogged { .. } => "set_logged",
            TableChange::Attach { .. } => "attach_partition",
            TableChange::Detach { .. } => "detach_partition",
            TableChange::Inherit { .. } => "inherit",
            TableChange::NoInherit { .. } => "no_inherit",
            TableChange::SetOptions { .. } => "set_storage_parameters",
            TableChange::SetReplicaIdentity { .. } => "set_replica_identity",
            TableChange::SetCluster { .. } => "set_cluster",
            TableChange::SetForeignOptions { .. } => "set_foreign_options",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            TableChange::Create(t) => super::made(t.parts(true)),
            TableChange::Drop(t) => {
                let mut ids = t.parts(false);
                ids.extend(t.indexes.values().map(|i| ObjectId::Index {
                    name: i.name.clone(),
                }));
                ids.extend(
                    t.triggers
                        .values()
                        .map(|tr| ObjectId::trigger(&t.name, &tr.name)),
                );
                // After its partitions and children that stay let go of it.
                Effects {
                    needs: vec![link(&t.name)],
                    ..super::gone(ids)
                }
            }
            TableChange::SetLogged { .. }
            | TableChange::SetOptions { .. }
            | TableChange::SetForeignOptions { .. } => super::needs(vec![self.id()]),
            TableChange::SetReplicaIdentity { index, .. } | TableChange::SetCluster { index, .. } => {
                super::needs(std::iter::once(self.id()).chain(index.clone()).collect())
            }
            // A link to a parent is let go before another one is made.
            TableChange::Detach { partition_of, .. } => Effects {
                frees: vec![link(&partition_of.parent)],
                ..Effects::default()
            },
            TableChange::NoInherit { parent, .. } => Effects {
                frees: vec![link(parent)],
                ..Effects::default()
            },
            TableChange::Attach {
                partition_of: PartitionOf { parent, .. },
                checks,
                parent_indexes,
                ..
            } => {
                let mut ids = vec![
                    self.id(),
                    ObjectId::Table {
                        name: parent.clone(),
                    },
                    link(parent),
                ];
                ids.extend(checks.iter().chain(parent_indexes).cloned());
                super::needs(ids)
            }
            TableChange::Inherit { parent, checks, .. } => {
                let mut ids = vec![
                    self.id(),
                    ObjectId::Table {
                        name: parent.clone(),
                    },
                    link(parent),
                ];
                ids.extend(checks.iter().cloned());
                super::needs(ids)
            }
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            TableChange::Create(t) => create_table(t),
            TableChange::Drop(t) => format!("DROP {} {};", t.keyword(), t.name),
            TableChange::SetLogged { table, unlogged } => format!(
                "ALTER TABLE {table} SET {};",
                if *unlogged { "UNLOGGED" } else { "LOGGED" }
            ),
            TableChange::Attach {
                table,
                partition_of: PartitionOf { parent, bound },
                ..
            } => format!("ALTER TABLE {parent} ATTACH PARTITION {table} {bound};"),
            TableChange::Detach {
                table,
                partition_of,
            } => format!(
                "ALTER TABLE {} DETACH PARTITION {table};",
                partition_of.parent
            ),
            TableChange::Inherit { table, parent, .. } => {
                format!("ALTER TABLE {table} INHERIT {parent};")
            }
            TableChange::NoInherit { table, parent } => {
                format!("ALTER TABLE {table} NO INHERIT {parent};")
            }
            TableChange::SetOptions { table, from, to } => {
                format!("ALTER TABLE {table} {};", storage_parameters(from, to).join(", "))
            }
            TableChange::SetReplicaIdentity {
                table, identity, ..
            } => format!("ALTER TABLE {table} REPLICA IDENTITY {};", identity.sql()),
            TableChange::SetCluster { table, on, .. } => match on {
                Some(index) => format!("ALTER TABLE {table} CLUSTER ON {};", ident(index)),
                None => format!("ALTER TABLE {table} SET WITHOUT CLUSTER;"),
            },
            TableChange::SetForeignOptions { table, from, to } => format!(
                "ALTER FOREIGN TABLE {table} {};",
                options_change(from, to).unwrap_or_default()
            ),
        })
    }

    fn hazards(&self, current: &Catalog, desired: &Catalog) -> Vec<Hazard> {
        match self {
            // A foreign table's rows stay where they are.
            TableChange::Drop(t) if t.foreign.is_some() => Vec::new(),
            TableChange::Attach {
                table,
                partition_of,
                ..
            } => {
                let mut out = vec![Hazard::new(
                    HazardCode::FullTableScan,
                    format!(
                        "attaching {} to {} reads every row to check the bound, and locks both",
                        table.plain(),
                        partition_of.parent.plain()
                    ),
                )];
                // The parent's indexes the table has none for (nor one it
                // can adopt) are built by ATTACH, under its lock.
                let now = current.tables.get(table);
                let index_built = |p: &super::Index| {
                    now.is_none_or(|t| {
                        // What it holds for a parent it leaves stays its own.
                        !t.indexes.values().chain(t.parent_indexes.values()).any(|i| i.renames_to(p))
                    })
                };
                let key_built = |p: &super::Constraint| {
                    now.is_none_or(|t| {
                        !t.constraints
                            .values()
                            .chain(t.parent_constraints.values())
                            .any(|c| c.kind == p.kind && c.definition == p.definition)
                    })
                };
                let new: Vec<&String> = desired
                    .tables
                    .get(table)
                    .map(|t| {
                        let indexes = t.parent_indexes.values().filter(|i| index_built(i));
                        let keys = t.parent_constraints.values().filter(|c| {
                            matches!(
                                c.kind,
                                super::ConstraintKind::PrimaryKey
                                    | super::ConstraintKind::Unique
                                    | super::ConstraintKind::Exclusion
                            ) && key_built(c)
                        });
                        indexes.map(|i| &i.name.name).chain(keys.map(|c| &c.name)).collect()
                    })
                    .unwrap_or_default();
                if !new.is_empty() {
                    let names: Vec<&str> = new.iter().map(|n| n.as_str()).collect();
                    out.push(Hazard::new(
                        HazardCode::IndexBuild,
                        format!(
                            "attaching {} builds its index{} {} for {}'s, while both are locked",
                            table.plain(),
                            if names.len() == 1 { "" } else { "es" },
                            names.join(", "),
                            partition_of.parent.plain()
                        ),
                    ));
                }
                out
            }
            // A partitioned table holds no rows of its own: its partitions
            // are dropped by steps of their own (with their hazards) or
            // detached first and kept.
            TableChange::Drop(t) if t.partition_by.is_some() => Vec::new(),
            TableChange::Drop(t) => vec![Hazard::new(
                HazardCode::DataLoss,
                format!("drops table {}", t.name.plain()),
            )],
            TableChange::SetLogged { table, unlogged } => vec![
                Hazard::new(
                    HazardCode::AccessExclusiveLock,
                    format!(
                        "SET {} locks {} while it runs",
                        if *unlogged { "UNLOGGED" } else { "LOGGED" },
                        table.plain()
                    ),
                ),
                Hazard::new(
                    HazardCode::TableRewrite,
                    format!(
                        "changing the persistence of {} rewrites it",
                        table.plain()
                    ),
                ),
            ],
            TableChange::Detach {
                table,
                partition_of,
            } => vec![Hazard::new(
                HazardCode::AccessExclusiveLock,
                format!(
                    "detaching {} from {} locks both; its rows leave {}",
                    table.plain(),
                    partition_of.parent.plain(),
                    partition_of.parent.plain()
                ),
            )],
            _ => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        match self {
            TableChange::Drop(_) => rank::DROP_TABLE,
            TableChange::Create(_) => rank::CREATE_TABLE,
            TableChange::Detach { .. } | TableChange::NoInherit { .. } => rank::DETACH,
            TableChange::SetLogged { .. } => rank::ADD_COLUMN,
            TableChange::Attach { .. } | TableChange::Inherit { .. } => rank::ATTACH,
            TableChange::SetOptions { .. } | TableChange::SetForeignOptions { .. } => rank::ADD_COLUMN,
            TableChange::SetReplicaIdentity { .. } | TableChange::SetCluster { .. } => rank::ADD_FOREIGN_KEY,
        }
    }
}

impl Kind for TableChange {
    fn grants(_version: i32) -> Option<String> {
        Some(super::privilege::in_schema("pg_class", "relacl", "relowner", "relnamespace", 'r', "o.relkind IN ('r', 'p', 'f')"))
    }

    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::in_schema(
            "pg_class",
            "CASE o.relkind WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END",
            "relowner",
            "relnamespace",
            "o.relkind IN ('r', 'p', 'f')",
        ))
    }

    fn query(_version: i32) -> Option<String> {
        let parents = |what: &str| {
            format!(
                "ARRAY(SELECT {what} FROM pg_catalog.pg_inherits i \
                 JOIN pg_catalog.pg_class p ON p.oid = i.inhparent \
                 JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace \
                 WHERE i.inhrelid = c.oid ORDER BY i.inhseqno)"
            )
        };
        Some(format!(
            "SELECT c.oid, c.reltype, n.nspname::text, c.relname::text, \
               {comment}, c.reltuples::float8, \
               c.relpersistence = 'u', \
               CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END, \
               CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, 0) END, \
               {}, {}, coalesce(c.reloptions, '{{}}')::text[] || ARRAY(SELECT 'toast.' || o \
                 FROM pg_catalog.pg_class t, pg_catalog.unnest(t.reloptions) o WHERE t.oid = c.reltoastrelid), \
               c.relreplident::text, \
               (SELECT ic.relname::text FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
                WHERE i.indrelid = c.oid AND i.indisreplident), \
               fs.srvname::text, coalesce(ft.ftoptions, '{{}}')::text[], c.relnatts, \
               (SELECT ic.relname::text FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
                WHERE i.indrelid = c.oid AND i.indisclustered) \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_catalog.pg_foreign_table ft ON ft.ftrelid = c.oid \
             LEFT JOIN pg_catalog.pg_foreign_server fs ON fs.oid = ft.ftserver \
             WHERE c.relkind IN ('r', 'p', 'f') AND {USER_SCHEMA} AND {}",
            parents("pn.nspname::text"),
            parents("p.relname::text"),
            not_extension_member("pg_class", "c.oid"), comment = comment_sql("pg_class", "c.oid")
        ))
    }

    fn reads_row_by_row() -> bool {
        true
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let oid: u32 = row.get(0);
            let name = QualName::new(row.get::<_, String>(2), row.get::<_, String>(3));
            let id = ObjectId::Table { name: name.clone() };
            reader.insert(Class::Relation, oid, id.clone());
            reader.insert(Class::Type, row.get(1), id);
            reader.owners.insert(oid, Owner::Table(name.clone()));
            let parent_schemas: Vec<String> = row.get(9);
            let parent_names: Vec<String> = row.get(10);
            let mut parents: Vec<QualName> = parent_schemas
                .into_iter()
                .zip(parent_names)
                .map(|(s, n)| QualName::new(s, n))
                .collect();
            let partition_of = row.get::<_, Option<String>>(8).map(|bound| PartitionOf {
                parent: parents.remove(0),
                bound,
            });
            cat.tables.insert(
                name.clone(),
                Arc::new(Table {
                    name,
                    // Sized ahead (dropped columns count too): a vector
                    // doubling as columns arrive held an eighth more.
                    columns: Vec::with_capacity(row.get::<_, i16>(16).max(0) as usize),
                    constraints: NameMap::new(),
                    indexes: NameMap::new(),
                    triggers: NameMap::new(),
                    parent_constraints: NameMap::new(),
                    parent_indexes: NameMap::new(),
                    unlogged: row.get(6),
                    partition_by: row.get(7),
                    partition_of,
                    inherits: parents,
                    options: sorted_options(row.get(11)),
                    // A foreign table has none ('n'); there is nothing to change.
                    replica_identity: match (row.get::<_, String>(12).as_str(), row.get(13)) {
                        _ if row.get::<_, Option<String>>(14).is_some() => ReplicaIdentity::Default,
                        ("n", _) => ReplicaIdentity::Nothing,
                        ("f", _) => ReplicaIdentity::Full,
                        ("i", Some(index)) => ReplicaIdentity::Index(index),
                        _ => ReplicaIdentity::Default,
                    },
                    clustered_on: row.get(17),
                    foreign: row.get::<_, Option<String>>(14).map(|server| ForeignTable {
                        server,
                        options: sorted_options(row.get(15)),
                    }),
                    comment: row.get(4),
                    rows: row.get(5),
                    // Read apart, and only from a live database.
                    bytes: 0,
                }),
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        let names = column::NotNullNames::new(current);
        for (name, table) in &desired.tables {
            let old = current.tables.get(name);
            match old {
                Some(old) if recreated(current, desired, name) => {
                    out.push(TableChange::Drop(old.clone()).into());
                    out.push(TableChange::Create(names.for_create(table)).into());
                }
                Some(old) => alter(current, desired, old, table, out),
                None => out.push(TableChange::Create(names.for_create(table)).into()),
            }
            let old = kept(current, desired, name);
            let identity_now = old.map_or(&ReplicaIdentity::Default, |o| &o.replica_identity);
            if *identity_now != table.replica_identity {
                let index = match &table.replica_identity {
                    ReplicaIdentity::Index(i) if table.constraints.contains_key(i) => {
                        Some(ObjectId::constraint(name, i))
                    }
                    ReplicaIdentity::Index(i) => Some(ObjectId::Index {
                        name: QualName::new(name.schema.clone(), i.clone()),
                    }),
                    _ => None,
                };
                out.push(
                    TableChange::SetReplicaIdentity {
                        table: name.clone(),
                        identity: table.replica_identity.clone(),
                        index,
                    }
                    .into(),
                );
            }
            cluster(old, table, out);
            comment::changed(
                out,
                ObjectId::Table { name: name.clone() },
                format!("{} {name}", table.keyword()),
                old.and_then(|t| t.comment.as_ref()),
                table.comment.as_ref(),
            );
        }
        let dropped: BTreeSet<&QualName> = current
            .tables
            .keys()
            .filter(|name| !desired.tables.contains_key(*name))
            .collect();
        for name in &dropped {
            drop_table(current, &current.tables[*name], &dropped, out);
        }
    }
}

/// CLUSTER ON as `table` wants it, where `old` (the table kept, if any)
/// differs, or where the plan builds the index again (which forgets it).
fn cluster(old: Option<&Table>, table: &Table, out: &mut Vec<Change>) {
    let name = &table.name;
    let index = table.clustered_on.as_ref().map(|i| match table.constraints.get(i) {
        Some(_) => ObjectId::constraint(name, i),
        None => ObjectId::Index {
            name: QualName::new(name.schema.clone(), i.clone()),
        },
    });
    let kept = |i: &String| {
        old.is_some_and(|o| match (o.constraints.get(i), table.constraints.get(i)) {
            (Some(a), Some(b)) => a.definition == b.definition,
            _ => matches!((o.indexes.get(i), table.indexes.get(i)), (Some(a), Some(b)) if a.same_as(b)),
        })
    };
    let now = old.and_then(|o| o.clustered_on.as_ref());
    let same = now == table.clustered_on.as_ref() && table.clustered_on.as_ref().is_none_or(kept);
    // A table that never was clustered, or whose index goes, needs nothing
    // to forget it.
    if same || (table.clustered_on.is_none() && now.is_none_or(|i| !kept(i))) {
        return;
    }
    out.push(
        TableChange::SetCluster {
            table: name.clone(),
            on: table.clustered_on.clone(),
            index,
        }
        .into(),
    );
}

/// The in-place changes of a table on both sides.
fn alter(current: &Catalog, desired: &Catalog, old: &Table, new: &Table, out: &mut Vec<Change>) {
    // A parent the plan drops and creates again lets its partitions and
    // children go first and takes them back after, so that their rows stay.
    let relinked = |parent: &QualName| recreated(current, desired, parent);
    let name = &new.name;
    if old.unlogged != new.unlogged {
        out.push(
            TableChange::SetLogged {
                table: name.clone(),
                unlogged: new.unlogged,
            }
            .into(),
        );
    }
    if old.options != new.options {
        out.push(
            TableChange::SetOptions {
                table: name.clone(),
                from: old.options.clone(),
                to: new.options.clone(),
            }
            .into(),
        );
    }
    if let (Some(from), Some(to)) = (&old.foreign, &new.foreign) {
        if from.options != to.options {
            out.push(
                TableChange::SetForeignOptions {
                    table: name.clone(),
                    from: from.options.clone(),
                    to: to.options.clone(),
                }
                .into(),
            );
        }
    }
    let parent_remade = old.partition_of.as_ref().is_some_and(|p| relinked(&p.parent));
    if old.partition_of != new.partition_of || parent_remade {
        if let Some(p) = &old.partition_of {
            out.push(
                TableChange::Detach {
                    table: name.clone(),
                    partition_of: p.clone(),
                }
                .into(),
            );
        }
        if let Some(p) = &new.partition_of {
            out.push(
                TableChange::Attach {
                    table: name.clone(),
                    partition_of: p.clone(),
                    checks: checks(new),
                    parent_indexes: desired.tables.get(&p.parent).map(keys).unwrap_or_default(),
                }
                .into(),
            );
        }
    }
    for parent in &old.inherits {
        if !new.inherits.contains(parent) || relinked(parent) {
            out.push(
                TableChange::NoInherit {
                    table: name.clone(),
                    parent: parent.clone(),
                }
                .into(),
            );
        }
    }
    for parent in &new.inherits {
        if !old.inherits.contains(parent) || relinked(parent) {
            out.push(
                TableChange::Inherit {
                    table: name.clone(),
                    parent: parent.clone(),
                    checks: checks(new),
                }
                .into(),
            );
        }
    }
}

/// The indexes and key constraints of a partitioned table, which its
/// partitions get on ATTACH.
fn keys(table: &Arc<Table>) -> Vec<ObjectId> {
    let indexes = table.indexes.values().map(|i| ObjectId::Index {
        name: i.name.clone(),
    });
    let keys = table
        .constraints
        .values()
        .filter(|c| {
            matches!(
                c.kind,
                ConstraintKind::PrimaryKey | ConstraintKind::Unique | ConstraintKind::Exclusion
            )
        })
        .map(|c| ObjectId::constraint(&table.name, &c.name));
    indexes.chain(keys).collect()
}

/// The CHECK constraints `table` holds for its parents: a table joins a
/// parent only once it has them.
fn checks(table: &Table) -> Vec<ObjectId> {
    table
        .parent_constraints
        .values()
        .filter(|c| c.kind == ConstraintKind::Check)
        .map(|c| ObjectId::constraint(&table.name, &c.name))
        .collect()
}

/// DROP TABLE. Foreign keys to other dropped tables are dropped first on
/// their own, so that tables referencing each other can be dropped at all.
fn drop_table(
    current: &Catalog,
    table: &Table,
    dropped: &BTreeSet<&QualName>,
    out: &mut Vec<Change>,
) {
    let mut table = table.clone();
    let name = table.name.clone();
    table.constraints.retain(|_, c| {
        let id = ObjectId::constraint(&name, &c.name);
        let to_dropped = current
            .depends
            .of(&id)
            .any(|b| {
                table_of(current, b).is_some_and(|other| *other != name && dropped.contains(other))
            });
        if to_dropped {
            out.push(constraint::ConstraintChange::Drop {
                table: name.clone(),
                constraint: c.clone(),
                after: None,
            }
            .into());
        }
        !to_dropped
    });
    out.push(TableChange::Drop(Arc::new(table)).into());
}

/// The table an object belongs to, if it belongs to one.
fn table_of<'a>(current: &'a Catalog, id: &'a ObjectId) -> Option<&'a QualName> {
    match id {
        ObjectId::Table { name } => Some(name),
        ObjectId::Index { name } => current
            .tables
            .values()
            .find(|t| {
                t.name.schema == name.schema
                    && (t.indexes.contains_key(&name.name)
                        || t.constraints.contains_key(&name.name))
            })
            .map(|t| &t.name),
        _ => id.relation(),
    }
}

/// CREATE TABLE: columns (a partition's and inherited ones come from the
/// parent), inline constraints, then PARTITION OF / INHERITS / PARTITION BY.
fn create_table(table: &Table) -> String {
    let unlogged = if table.unlogged { "UNLOGGED " } else { "" };
    let mut lines: Vec<String> = table
        .columns
        .iter()
        .filter(|c| table.partition_of.is_none() && c.local)
        .map(column::definition)
        .collect();
    lines.extend(
        table
            .constraints
            .values()
            .filter(|c| c.inline())
            .map(constraint::definition),
    );
    let body = if lines.is_empty() {
        String::new()
    } else {
        format!("(\n    {}\n)", lines.join(",\n    "))
    };
    let foreign = if table.foreign.is_some() { "FOREIGN " } else { "" };
    let mut sql = format!("CREATE {unlogged}{foreign}TABLE {}", table.name);
    match &table.partition_of {
        Some(p) => {
            sql.push_str(&format!(" PARTITION OF {}", p.parent));
            if !body.is_empty() {
                sql.push(' ');
                sql.push_str(&body);
            }
            sql.push_str(&format!(" {}", p.bound));
        }
        None => {
            sql.push(' ');
            sql.push_str(if body.is_empty() { "()" } else { &body });
            if !table.inherits.is_empty() {
                let parents: Vec<String> = table.inherits.iter().map(|p| p.to_string()).collect();
                sql.push_str(&format!(" INHERITS ({})", parents.join(", ")));
            }
        }
    }
    if let Some(key) = &table.partition_by {
        sql.push_str(&format!(" PARTITION BY {key}"));
    }
    if !table.options.is_empty() {
        sql.push_str(&format!(" WITH ({})", table.options.join(", ")));
    }
    if let Some(f) = &table.foreign {
        sql.push_str(&format!(" SERVER {}", ident(&f.server)));
        if !f.options.is_empty() {
            sql.push(' ');
            sql.push_str(&options_clause(&f.options));
        }
    }
    sql.push(';');
    sql
}

