//! Indexes on tables and materialized views that do not implement a
//! constraint (those belong to the constraint). A changed definition is drop
//! and create. Online (a plan for a live database, or a migration), an
//! existing table's index is built and dropped CONCURRENTLY, and a changed
//! one is built under a temporary name before the old one is dropped, then
//! renamed: queries keep an index all along.

use std::sync::Arc;
use crate::kinds::relation::{Index};
use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{in_user_schema, Class, Owner, printed, Reader, comment_sql};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId, QualName, Shown};
use crate::hazard::{Hazard, HazardCode};
use crate::sql::ident;

/// A change to an index.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum IndexChange {
    /// CREATE INDEX on a table or materialized view; `new_table` when the
    /// relation is created in the same plan (nothing to block);
    /// `concurrently` online; `build_as` the temporary name of a
    /// replacement built before the old index is dropped.
    Create {
        table: QualName,
        index: Index,
        new_table: bool,
        concurrently: bool,
        build_as: Option<QualName>,
        /// On a partitioned table, `ON ONLY`: its partitions' indexes are
        /// built (concurrently) and attached by steps of their own.
        only: bool,
        /// Objects that must exist first: the partitions of an index made
        /// ON ONLY, which would otherwise get an index of their own when
        /// created after it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        after: Vec<ObjectId>,
    },
    /// ALTER INDEX parent ATTACH PARTITION index: a partition's index,
    /// built on its own, joins its parent's.
    Attach {
        table: QualName,
        index: Index,
        parent: QualName,
    },
    /// DROP INDEX; `implicit` when its relation's drop takes it along;
    /// `after` is the link to a parent the index was attached to until the
    /// table leaves it.
    Drop {
        table: QualName,
        index: Index,
        implicit: bool,
        after: Option<ObjectId>,
        /// DROP INDEX CONCURRENTLY.
        concurrently: bool,
        /// The replacement built first, under this temporary name.
        replaced_by: Option<QualName>,
    },
    /// ALTER INDEX ... RENAME: the replacement takes the old one's name.
    Rename {
        table: QualName,
        from: QualName,
        index: Index,
    },
    /// ALTER INDEX ... RENAME: a table's own index that its new parent's
    /// index takes over when it is attached (PostgreSQL attaches the index
    /// it has), under the name the partition's index has in `schema/`.
    Adopt {
        table: QualName,
        from: QualName,
        index: Index,
    },
}

impl IndexChange {
    /// An explicit DROP INDEX of `index` on `table`.
    pub(crate) fn drop(table: &QualName, index: &Index) -> IndexChange {
        IndexChange::Drop {
            table: table.clone(),
            index: index.clone(),
            implicit: false,
            after: None,
            concurrently: false,
            replaced_by: None,
        }
    }

    /// CREATE INDEX CONCURRENTLY of `index` on the existing `table`.
    pub(crate) fn concurrent(table: &QualName, index: &Index) -> IndexChange {
        IndexChange::Create {
            table: table.clone(),
            index: index.clone(),
            new_table: false,
            concurrently: true,
            build_as: None,
            only: false,
            after: Vec::new(),
        }
    }

    /// A plain CREATE INDEX of `index` on `table`.
    pub(crate) fn create(table: &QualName, index: &Index, new_table: bool) -> IndexChange {
        IndexChange::Create {
            table: table.clone(),
            index: index.clone(),
            new_table,
            concurrently: false,
            build_as: None,
            only: false,
            after: Vec::new(),
        }
    }

    fn parts(&self) -> (&QualName, &Index) {
        match self {
            IndexChange::Create { table, index, .. }
            | IndexChange::Drop { table, index, .. }
            | IndexChange::Attach { table, index, .. }
            | IndexChange::Rename { table, index, .. }
            | IndexChange::Adopt { table, index, .. } => (table, index),
        }
    }
}

impl Action for IndexChange {
    fn id(&self) -> ObjectId {
        ObjectId::Index {
            name: self.parts().1.name.clone(),
        }
    }

    fn table(&self) -> Option<QualName> {
        Some(self.parts().0.clone())
    }

    fn verb(&self) -> &'static str {
        match self {
            IndexChange::Create { .. } => "create_index",
            IndexChange::Drop { .. } => "drop_index",
            IndexChange::Rename { .. } | IndexChange::Adopt { .. } => "rename_index",
            IndexChange::Attach { .. } => "attach_index",
        }
    }

    fn effects(&self) -> Effects {
        let temporary = |name: &QualName| ObjectId::Index { name: name.clone() };
        match self {
            IndexChange::Create {
                build_as: Some(tmp),
                ..
            } => super::made(vec![temporary(tmp)]),
            IndexChange::Create { after, .. } => Effects {
                needs: after.clone(),
                ..super::made(vec![self.id()])
            },
            IndexChange::Drop {
                after, replaced_by, ..
            } => Effects {
                needs: after.iter().chain(&replaced_by.as_ref().map(temporary)).cloned().collect(),
                ..super::gone(vec![self.id()])
            },
            IndexChange::Attach { parent, .. } => {
                super::needs(vec![self.id(), ObjectId::Index { name: parent.clone() }])
            }
            // After the old index's name is freed.
            IndexChange::Rename { from, .. } => Effects {
                needs: vec![temporary(from)],
                ..super::made(vec![self.id()])
            },
            IndexChange::Adopt { table, from, .. } => Effects {
                frees: vec![temporary(from)],
                needs: vec![ObjectId::Table {
                    name: table.clone(),
                }],
                ..super::made(vec![self.id()])
            },
        }
    }

    fn undo_on_failure(&self) -> Option<super::Cleanup> {
        match self {
            IndexChange::Create {
                concurrently: true,
                build_as,
                index,
                ..
            } => Some(super::Cleanup::InvalidIndex(
                build_as.as_ref().unwrap_or(&index.name).to_string(),
            )),
            _ => None,
        }
    }

    fn transactional(&self) -> bool {
        !matches!(
            self,
            IndexChange::Create {
                concurrently: true,
                ..
            } | IndexChange::Drop {
                concurrently: true,
                ..
            }
        )
    }

    fn sql(&self) -> Option<String> {
        match self {
            // An index on a partitioned table prints as ON ONLY; created
            // without ONLY it is built on every partition too.
            IndexChange::Create {
                index,
                concurrently,
                build_as,
                only,
                ..
            } => {
                let mut sql = if *only {
                    index.definition.clone()
                } else {
                    index.definition.replacen(" ON ONLY ", " ON ", 1)
                };
                if let Some(tmp) = build_as {
                    let name = format!(" INDEX {} ON ", ident(&index.name.name));
                    sql = sql.replacen(&name, &format!(" INDEX {} ON ", ident(&tmp.name)), 1);
                }
                if *concurrently {
                    sql = sql.replacen(" INDEX ", " INDEX CONCURRENTLY ", 1);
                }
                Some(format!("{sql};"))
            }
            IndexChange::Drop { implicit: true, .. } => None,
            IndexChange::Drop {
                index,
                concurrently,
                ..
            } => Some(format!(
                "DROP INDEX {}{};",
                if *concurrently { "CONCURRENTLY " } else { "" },
                index.name
            )),
            IndexChange::Rename { from, index, .. } | IndexChange::Adopt { from, index, .. } => Some(format!(
                "ALTER INDEX {from} RENAME TO {};",
                ident(&index.name.name)
            )),
            IndexChange::Attach { index, parent, .. } => Some(format!(
                "ALTER INDEX {parent} ATTACH PARTITION {};",
                index.name
            )),
        }
    }

    fn hazards(&self, _: &Catalog, _: &Catalog) -> Vec<Hazard> {
        match self {
            IndexChange::Create {
                table,
                index,
                new_table: false,
                concurrently: false,
                only: false,
                ..
            } => vec![Hazard::new(
                HazardCode::IndexBuild,
                format!(
                    "builds index {} on {} without CONCURRENTLY",
                    index.name.plain(),
                    table.plain()
                ),
            )],
            IndexChange::Drop {
                index,
                implicit: false,
                replaced_by: None,
                ..
            } if index.valid => vec![Hazard::new(
                HazardCode::IndexDropped,
                format!(
                    "drops index {}: queries that use it get slower",
                    index.name.plain()
                ),
            )],
            _ => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        match self {
            IndexChange::Drop { .. } => rank::DROP_INDEX,
            IndexChange::Create { .. } | IndexChange::Rename { .. } | IndexChange::Attach { .. } => {
                rank::CREATE_INDEX
            }
            IndexChange::Adopt { .. } => rank::SET_NOT_NULL,
        }
    }

    fn shown(&self) -> Shown {
        let (table, index) = self.parts();
        let detail = match self {
            IndexChange::Create {
                new_table: true, ..
            } => return Shown::WithOwner,
            IndexChange::Create {
                build_as: Some(_), ..
            } => format!("~ index {} (built anew beside it)", index.name.name),
            IndexChange::Create { .. } => format!("+ index {}", index.name.name),
            IndexChange::Drop {
                replaced_by: Some(_),
                ..
            } => format!("~ index {} (old one dropped)", index.name.name),
            IndexChange::Drop { .. } => format!("- index {}", index.name.name),
            IndexChange::Rename { .. } => format!("~ index {} (new one renamed)", index.name.name),
            IndexChange::Adopt { from, .. } => format!(
                "~ index {} renamed to {}, for its new parent's",
                from.name, index.name.name
            ),
            IndexChange::Attach { parent, .. } => {
                format!("~ index {} attached to {}", index.name.name, parent.name)
            }
        };
        Shown::Part {
            table: table.clone(),
            detail,
        }
    }

    fn owner(&self) -> ObjectId {
        ObjectId::Table {
            name: self.parts().0.clone(),
        }
    }
}

impl Kind for IndexChange {
    // A partition's index that is attached to its parent's belongs to the
    // parent's, and is kept aside.
    fn query(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT i.indexrelid, i.indrelid, ic.relname::text, pg_catalog.pg_get_indexdef(i.indexrelid), \
               {comment}, \
               NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = i.indexrelid), \
               i.indisvalid, \
               (SELECT pc.relname::text FROM pg_catalog.pg_inherits h \
                  JOIN pg_catalog.pg_class pc ON pc.oid = h.inhparent WHERE h.inhrelid = i.indexrelid) \
             FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
             WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint co WHERE co.conindid = i.indexrelid \
                               AND co.conrelid = i.indrelid AND co.contype IN ('p', 'u', 'x')) \
               AND {}",
            in_user_schema("ic.relnamespace"), comment = comment_sql("pg_class", "i.indexrelid")
        ))
    }

    fn reads_row_by_row() -> bool {
        true
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let own: bool = row.get(5);
            let (schema, indexes) = match reader.owners.get(&row.get::<_, u32>(1)) {
                Some(Owner::Table(name)) => match cat.tables.get_mut(name).map(Arc::make_mut) {
                    Some(table) if !own => (&name.schema, &mut table.parent_indexes),
                    Some(table) => (&name.schema, &mut table.indexes),
                    None => continue,
                },
                Some(Owner::View(name)) => match cat.views.get_mut(name) {
                    Some(view) => (&name.schema, &mut view.indexes),
                    None => continue,
                },
                None => continue,
            };
            let name = QualName::new(schema.clone(), row.get::<_, String>(2));
            let definition = printed(row, 3, &|| format!("index {}", name.plain()))?;
            if own {
                reader.insert(
                    Class::Relation,
                    row.get(0),
                    ObjectId::Index { name: name.clone() },
                );
            }
            indexes.insert(
                name.name.clone(),
                Index {
                    name,
                    definition,
                    comment: row.get(4),
                    valid: row.get(6),
                    attached_to: row.get(7),
                },
            );
        }
        Ok(())
    }

    /// Indexes of tables; a materialized view's indexes go with the view.
    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, table) in &desired.tables {
            let old = crate::kinds::relation::kept(current, desired, name);
            // Leaving its parent, a table keeps what it held for it.
            let left = old.and_then(|o| crate::kinds::relation::left_parent(current, desired, o, table));
            let left = left.map(crate::kinds::relation::link);
            let held = |n: &String| left.as_ref().and(old?.parent_indexes.get(n));
            // PostgreSQL builds no index CONCURRENTLY on a partitioned table.
            let online = current.online && old.is_some() && table.partition_by.is_none();
            // Columns whose type changes: ALTER COLUMN TYPE rebuilds the
            // indexes on them anyway, under its own lock.
            let retyped: Vec<&str> = table
                .columns
                .iter()
                .filter(|c| {
                    old.and_then(|o| o.columns.iter().find(|w| w.name == c.name))
                        .is_some_and(|w| w.data_type != c.data_type || w.collation != c.collation)
                })
                .map(|c| c.name.as_str())
                .collect();
            let on_retyped = |i: &Index| {
                !retyped.is_empty() && {
                    let names = crate::sql::identifiers(&i.definition);
                    retyped.iter().any(|c| names.contains(*c))
                }
            };
            let drop = |i: &Index, replaced_by: Option<QualName>| -> Change {
                IndexChange::Drop {
                    table: name.clone(),
                    index: i.clone(),
                    implicit: false,
                    after: left.clone().filter(|_| held(&i.name.name).is_some()),
                    concurrently: online,
                    replaced_by,
                }
                .into()
            };
            for index in table.indexes.values() {
                let was = old
                    .and_then(|t| t.indexes.get(&index.name.name))
                    .or_else(|| held(&index.name.name));
                let same = was.filter(|o| o.same_as(index));
                let create = |build_as| -> Change {
                    IndexChange::Create {
                        table: name.clone(),
                        index: index.clone(),
                        new_table: old.is_none(),
                        concurrently: online,
                        build_as,
                        only: false,
                        after: Vec::new(),
                    }
                    .into()
                };
                match (same, was) {
                    (Some(_), _) => {}
                    // A partitioned index left INVALID (made ON ONLY, not
                    // every partition's attached yet): completed in place.
                    (None, Some(o))
                        if !o.valid && o.definition == index.definition && table.partition_by.is_some() =>
                    {
                        complete_partitioned(current, desired, name, index, out);
                    }
                    // Online, the replacement is built first: queries keep
                    // an index all along.
                    (None, Some(o)) if online && o.valid && !on_retyped(o) => {
                        let tmp = QualName::new(name.schema.clone(), temporary_name(&index.name.name));
                        out.push(create(Some(tmp.clone())));
                        out.push(drop(o, Some(tmp.clone())));
                        out.push(
                            IndexChange::Rename {
                                table: name.clone(),
                                from: tmp,
                                index: index.clone(),
                            }
                            .into(),
                        );
                    }
                    (None, Some(o)) => {
                        out.push(drop(o, None));
                        out.push(create(None));
                    }
                    // INVALID on the desired side (a dump of a database
                    // holding one): ON ONLY, with the partitions' indexes
                    // that are attached to it built and attached.
                    (None, None) if !index.valid && table.partition_by.is_some() => {
                        out.push(
                            IndexChange::Create {
                                table: name.clone(),
                                index: index.clone(),
                                new_table: old.is_none(),
                                concurrently: false,
                                build_as: None,
                                only: true,
                                after: desired
                                    .tables
                                    .values()
                                    .filter(|t| t.partition_of.as_ref().is_some_and(|p| &p.parent == name))
                                    .map(|t| ObjectId::Table { name: t.name.clone() })
                                    .collect(),
                            }
                            .into(),
                        );
                        for partition in desired.tables.values() {
                            if partition.partition_of.as_ref().is_none_or(|p| &p.parent != name) {
                                continue;
                            }
                            let attached = partition
                                .parent_indexes
                                .values()
                                .filter(|i| i.attached_to.as_deref() == Some(index.name.name.as_str()));
                            for part in attached {
                                let fresh = !current.tables.contains_key(&partition.name);
                                let create = IndexChange::create(&partition.name, part, fresh);
                                build_and_attach(create, &partition.name, part, &index.name, out);
                            }
                        }
                    }
                    (None, None) => match partitions_online(current, desired, table, index) {
                        Some(parts) => {
                            out.push(
                                IndexChange::Create {
                                    table: name.clone(),
                                    index: index.clone(),
                                    new_table: false,
                                    concurrently: false,
                                    build_as: None,
                                    only: true,
                                    after: Vec::new(),
                                }
                                .into(),
                            );
                            for (partition, part) in parts {
                                out.push(IndexChange::concurrent(&partition, &part).into());
                                out.push(
                                    IndexChange::Attach {
                                        table: partition,
                                        index: part,
                                        parent: index.name.clone(),
                                    }
                                    .into(),
                                );
                            }
                        }
                        None => out.push(create(None)),
                    },
                }
                comment::changed(
                    out,
                    ObjectId::Index {
                        name: index.name.clone(),
                    },
                    format!("INDEX {}", index.name),
                    same.and_then(|o| o.comment.as_ref()),
                    index.comment.as_ref(),
                );
            }
            // Joining a parent, an index of its own that the parent's index
            // can take over is kept, under the partition's name for it:
            // ATTACH adopts it instead of building another.
            let joins = table.partition_of.is_some()
                && old.is_some_and(|o| {
                    o.partition_of.as_ref().map(|p| &p.parent) != table.partition_of.as_ref().map(|p| &p.parent)
                        || crate::kinds::relation::relinked(current, desired, o, table)
                });
            let mut taken: Vec<&String> = Vec::new();
            let mut adopted = |i: &Index| -> Option<Index> {
                let found = table.parent_indexes.values().find(|p| {
                    !taken.contains(&&p.name.name)
                        && !old.is_some_and(|o| o.indexes.contains_key(&p.name.name))
                        && i.valid
                        && i.renames_to(p)
                })?;
                taken.push(&found.name.name);
                Some(found.clone())
            };
            let held_all = left.as_ref().and(old).map(|o| &o.parent_indexes);
            let own = old.iter().flat_map(|t| &t.indexes);
            for (iname, index) in own.chain(held_all.into_iter().flatten()) {
                if table.indexes.contains_key(iname) {
                    continue;
                }
                let adopt = if joins { adopted(index) } else { None };
                let adopt = adopt.or_else(|| unattached(current, table, index));
                match adopt {
                    Some(p) => {
                        if p.name.name != *iname {
                            out.push(
                                IndexChange::Adopt {
                                    table: name.clone(),
                                    from: index.name.clone(),
                                    index: p.clone(),
                                }
                                .into(),
                            );
                        }
                        // Already a partition: its index joins the
                        // parent's by ATTACH PARTITION of the index.
                        if !joins {
                            let parent = table.partition_of.as_ref().map(|p| &p.parent);
                            let on = parent.and_then(|t| desired.tables.get(t));
                            let target = p.attached_to.as_ref().and_then(|n| on?.indexes.get(n));
                            if let Some(target) = target {
                                out.push(
                                    IndexChange::Attach {
                                        table: name.clone(),
                                        index: p,
                                        parent: target.name.clone(),
                                    }
                                    .into(),
                                );
                            }
                        }
                    }
                    None => out.push(drop(index, None)),
                }
            }
        }
    }

    fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, out: &mut Vec<Change>) {
        let ObjectId::Index { name } = id else {
            return;
        };
        let find = |cat: &Catalog| {
            cat.tables
                .values()
                .map(|t| (&t.name, &t.indexes))
                .chain(cat.views.values().map(|v| (&v.name, &v.indexes)))
                .find_map(|(table, idx)| {
                    idx.get(&name.name)
                        .filter(|i| &i.name == name)
                        .map(|i| (table.clone(), i.clone()))
                })
        };
        if let (Some((table, old)), Some((_, new))) = (find(current), find(desired)) {
            out.push(IndexChange::drop(&table, &old).into());
            comment::changed(
                out,
                id.clone(),
                format!("INDEX {}", new.name),
                None,
                new.comment.as_ref(),
            );
            out.push(IndexChange::create(&table, &new, false).into());
        }
    }
}

/// Online, a new index on an existing partitioned table: its index on each
/// partition, as the desired side names it, to build concurrently and
/// attach. None (built plainly) unless every partition exists already, is
/// a plain table, and has its index attached in the desired catalog.
fn partitions_online(
    current: &Catalog,
    desired: &Catalog,
    table: &super::Table,
    index: &Index,
) -> Option<Vec<(QualName, Index)>> {
    // A table the plan creates again has no partitions attached yet.
    if !current.online
        || table.partition_by.is_none()
        || crate::kinds::relation::kept(current, desired, &table.name).is_none()
    {
        return None;
    }
    let mut out = Vec::new();
    for partition in desired.tables.values() {
        if partition.partition_of.as_ref().is_none_or(|p| p.parent != table.name) {
            continue;
        }
        let existing = current.tables.get(&partition.name)?;
        if partition.partition_by.is_some() || existing.partition_of.is_none() {
            return None;
        }
        let part = partition
            .parent_indexes
            .values()
            .find(|i| i.attached_to.as_deref() == Some(index.name.name.as_str()))?;
        if existing.parent_indexes.contains_key(&part.name.name)
            || existing.indexes.contains_key(&part.name.name)
        {
            return None;
        }
        out.push((partition.name.clone(), part.clone()));
    }
    Some(out)
}

/// For an index `index` of its own that a partition `table` (staying a
/// partition of the same parent) holds unattached: the index the partition
/// has for its parent's in the desired catalog, when `index` can be it (the
/// same definition but for the name) and the parent's index exists and is
/// not complete yet, so that ATTACH PARTITION of the index completes it.
fn unattached(current: &Catalog, table: &super::Table, index: &Index) -> Option<Index> {
    let parent = &table.partition_of.as_ref()?.parent;
    let now = current.tables.get(&table.name)?;
    if now.partition_of.as_ref().map(|p| &p.parent) != Some(parent) || !index.valid {
        return None;
    }
    table
        .parent_indexes
        .values()
        .find(|p| {
            let open = p.attached_to.as_ref().is_some_and(|a| {
                current
                    .tables
                    .get(parent)
                    .and_then(|t| t.indexes.get(a))
                    .is_some_and(|i| !i.valid)
            });
            open && !now.parent_indexes.contains_key(&p.name.name)
                && index.renames_to(p)
        })
        .cloned()
}

/// The partitioned index `index` of `table`, INVALID on the current side
/// with the same definition: each existing partition that has no index for
/// it (attached, or of its own to attach: see [`unattached`]) gets one
/// built (concurrently online) and attached; PostgreSQL marks the parent's
/// valid once every partition's is.
fn complete_partitioned(
    current: &Catalog,
    desired: &Catalog,
    name: &QualName,
    index: &Index,
    out: &mut Vec<Change>,
) {
    for partition in desired.tables.values() {
        if partition.partition_of.as_ref().is_none_or(|p| &p.parent != name) {
            continue;
        }
        let Some(now) = current.tables.get(&partition.name) else {
            continue;
        };
        if now.partition_of.as_ref().map(|p| &p.parent) != Some(name) {
            continue;
        }
        let Some(part) = partition
            .parent_indexes
            .values()
            .find(|i| i.attached_to.as_deref() == Some(index.name.name.as_str()))
        else {
            continue;
        };
        let attached = now.parent_indexes.contains_key(&part.name.name);
        let own = now.indexes.values().any(|i| {
            i.valid && i.renames_to(part)
        });
        if attached || own {
            continue;
        }
        let create = match current.online && partition.partition_by.is_none() {
            true => IndexChange::concurrent(&partition.name, part),
            false => IndexChange::create(&partition.name, part, false),
        };
        build_and_attach(create, &partition.name, part, &index.name, out);
    }
}

/// `create` (the index `part` of `partition`), then its ATTACH to the
/// partitioned index `parent`.
fn build_and_attach(create: IndexChange, partition: &QualName, part: &Index, parent: &QualName, out: &mut Vec<Change>) {
    out.push(create.into());
    out.push(
        IndexChange::Attach {
            table: partition.clone(),
            index: part.clone(),
            parent: parent.clone(),
        }
        .into(),
    );
}

/// The name a replacement index is built under: the index's own with a
/// suffix, cut to PostgreSQL's 63 bytes.
fn temporary_name(name: &str) -> String {
    const SUFFIX: &str = "_stratum_new";
    let mut keep = name.len().min(63 - SUFFIX.len());
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{SUFFIX}", &name[..keep])
}
