//! Indexes on tables and materialized views that do not implement a
//! constraint (those belong to the constraint). A changed definition is drop
//! and create.

use tokio_postgres::Row;

use super::reader::{Class, Owner, printed, Reader};
use super::table::facts;
use super::{comment, Catalog, Change, Effects, Kind, ObjectId, QualName, Shown};
use crate::hazard::{Hazard, HazardCode};

/// An index that is not the implementation of a constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl Index {
    /// True when `self` (the current index) is the `desired` one.
    pub(crate) fn same_as(&self, desired: &Index) -> bool {
        self.valid && self.definition == desired.definition
    }
}

/// A change to an index.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexChange {
    /// CREATE INDEX on a table or materialized view; `new_table` when the
    /// relation is created in the same plan (nothing to block).
    Create {
        table: QualName,
        index: Index,
        new_table: bool,
    },
    /// DROP INDEX; `implicit` when its relation's drop takes it along;
    /// `after` is the link to a parent the index was attached to until the
    /// table leaves it.
    Drop {
        table: QualName,
        index: Index,
        implicit: bool,
        after: Option<ObjectId>,
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
        }
    }

    fn parts(&self) -> (&QualName, &Index) {
        match self {
            IndexChange::Create { table, index, .. } | IndexChange::Drop { table, index, .. } => {
                (table, index)
            }
        }
    }
}

impl Kind for IndexChange {
    fn id(&self) -> ObjectId {
        ObjectId::Index {
            name: self.parts().1.name.clone(),
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            IndexChange::Create { .. } => "create_index",
            IndexChange::Drop { .. } => "drop_index",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            IndexChange::Create { .. } => super::made(vec![self.id()]),
            IndexChange::Drop { after, .. } => Effects {
                needs: after.iter().cloned().collect(),
                ..super::gone(vec![self.id()])
            },
        }
    }

    fn sql(&self) -> Option<String> {
        match self {
            // An index on a partitioned table prints as ON ONLY; created
            // without ONLY it is built on every partition too.
            IndexChange::Create { index, .. } => Some(format!(
                "{};",
                index.definition.replacen(" ON ONLY ", " ON ", 1)
            )),
            IndexChange::Drop { implicit: true, .. } => None,
            IndexChange::Drop { index, .. } => Some(format!("DROP INDEX {};", index.name)),
        }
    }

    fn hazards(&self, current: &Catalog, _: &Catalog) -> Vec<Hazard> {
        match self {
            IndexChange::Create {
                table,
                index,
                new_table: false,
            } => vec![Hazard::new(
                HazardCode::IndexBuild,
                format!(
                    "builds index {} without CONCURRENTLY, blocking writes to {}{}",
                    index.name.plain(),
                    table.plain(),
                    facts(current, table)
                ),
            )],
            IndexChange::Drop {
                index,
                implicit: false,
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

    fn rank(&self) -> (u8, u8) {
        match self {
            IndexChange::Drop { .. } => (0, 3),
            IndexChange::Create { .. } => (1, 13),
        }
    }

    fn shown(&self) -> Shown {
        let (table, index) = self.parts();
        let detail = match self {
            IndexChange::Create {
                new_table: true, ..
            } => return Shown::WithOwner,
            IndexChange::Create { .. } => format!("+ index {}", index.name.name),
            IndexChange::Drop { .. } => format!("- index {}", index.name.name),
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

    // A partition's index that is attached to its parent's belongs to the
    // parent's, and is kept aside.
    fn query(_version: i32) -> Option<String> {
        Some(
            "SELECT i.indexrelid, i.indrelid, ic.relname::text, pg_catalog.pg_get_indexdef(i.indexrelid), \
               pg_catalog.obj_description(i.indexrelid, 'pg_class'), \
               NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = i.indexrelid), \
               i.indisvalid \
             FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
             WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint co WHERE co.conindid = i.indexrelid \
                               AND co.conrelid = i.indrelid AND co.contype IN ('p', 'u', 'x'))"
                .to_string(),
        )
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let own: bool = row.get(5);
            let (schema, indexes) = match reader.owners.get(&row.get::<_, u32>(1)) {
                Some(Owner::Table(name)) => match cat.tables.get_mut(name) {
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
                },
            );
        }
        Ok(())
    }

    /// Indexes of tables; a materialized view's indexes go with the view.
    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, table) in &desired.tables {
            let old = super::table::kept(current, desired, name);
            // Leaving its parent, a table keeps what it held for it.
            let left = old.and_then(|o| super::table::left_parent(o, table));
            let left = left.map(super::table::link);
            let held = |n: &String| left.as_ref().and(old?.parent_indexes.get(n));
            let drop = |i: &Index| -> Change {
                IndexChange::Drop {
                    table: name.clone(),
                    index: i.clone(),
                    implicit: false,
                    after: left.clone().filter(|_| held(&i.name.name).is_some()),
                }
                .into()
            };
            for index in table.indexes.values() {
                let was = old
                    .and_then(|t| t.indexes.get(&index.name.name))
                    .or_else(|| held(&index.name.name));
                let same = was.filter(|o| o.same_as(index));
                if same.is_none() {
                    if let Some(o) = was {
                        out.push(drop(o));
                    }
                    out.push(
                        IndexChange::Create {
                            table: name.clone(),
                            index: index.clone(),
                            new_table: old.is_none(),
                        }
                        .into(),
                    );
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
            let held_all = left.as_ref().and(old).map(|o| &o.parent_indexes);
            let own = old.iter().flat_map(|t| &t.indexes);
            for (iname, index) in own.chain(held_all.into_iter().flatten()) {
                if !table.indexes.contains_key(iname) {
                    out.push(drop(index));
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
            out.push(
                IndexChange::Create {
                    table,
                    index: new,
                    new_table: false,
                }
                .into(),
            );
        }
    }
}
