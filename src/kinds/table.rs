//! Tables themselves: CREATE TABLE with its columns and inline constraints,
//! DROP TABLE, persistence. Columns, constraints, indexes and triggers have
//! modules of their own.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Row;

use super::reader::{not_extension_member, Class, Owner, Reader, USER_SCHEMA};
use super::{column, comment, constraint};
use super::{Catalog, Change, Column, Constraint, Effects, Index, Kind, ObjectId, QualName, Trigger};
use crate::hazard::{group_digits, human_size, Hazard, HazardCode};

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

/// Estimated rows and size of a table as ` (about 12 034 rows, 1.2 MB)`, when
/// the current side is a live database that has the table.
pub(crate) fn facts(current: &Catalog, table: &QualName) -> String {
    if !current.live {
        return String::new();
    }
    let Some(t) = current.tables.get(table) else {
        return String::new();
    };
    let rows = if t.rows < 0.0 {
        "rows not yet counted by ANALYZE".to_string()
    } else {
        format!("about {} rows", group_digits(t.rows.round() as u64))
    };
    format!(" ({rows}, {})", human_size(t.bytes))
}

/// A change to a table as a whole.
#[derive(Debug, Clone, PartialEq)]
pub enum TableChange {
    /// CREATE TABLE with columns and inline constraints.
    Create(Table),
    /// DROP TABLE.
    Drop(Table),
    /// ALTER TABLE ... SET LOGGED / SET UNLOGGED.
    SetLogged { table: QualName, unlogged: bool },
}

impl Kind for TableChange {
    fn id(&self) -> ObjectId {
        let name = match self {
            TableChange::Create(t) | TableChange::Drop(t) => &t.name,
            TableChange::SetLogged { table, .. } => table,
        };
        ObjectId::Table { name: name.clone() }
    }

    fn verb(&self) -> &'static str {
        match self {
            TableChange::Create(_) => "create_table",
            TableChange::Drop(_) => "drop_table",
            TableChange::SetLogged { .. } => "set_logged",
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
                super::gone(ids)
            }
            TableChange::SetLogged { .. } => super::needs(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            TableChange::Create(t) => create_table(t),
            TableChange::Drop(t) => format!("DROP TABLE {};", t.name),
            TableChange::SetLogged { table, unlogged } => format!(
                "ALTER TABLE {table} SET {};",
                if *unlogged { "UNLOGGED" } else { "LOGGED" }
            ),
        })
    }

    fn hazards(&self, current: &Catalog, _: &Catalog) -> Vec<Hazard> {
        match self {
            TableChange::Drop(t) => vec![Hazard::new(
                HazardCode::DataLoss,
                format!("drops table {}{}", t.name.plain(), facts(current, &t.name)),
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
                        "changing the persistence of {} rewrites it{}",
                        table.plain(),
                        facts(current, table)
                    ),
                ),
            ],
            TableChange::Create(_) => Vec::new(),
        }
    }

    fn rank(&self) -> (u8, u8) {
        match self {
            TableChange::Drop(_) => (0, 7),
            TableChange::Create(_) => (1, 5),
            TableChange::SetLogged { .. } => (1, 6),
        }
    }

    // Partitioned tables, partitions and inheritance are not managed yet;
    // they are reported as unmanaged and left out here.
    fn query(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT c.oid, c.reltype, n.nspname::text, c.relname::text, \
               pg_catalog.obj_description(c.oid, 'pg_class'), c.reltuples::float8, \
               pg_catalog.pg_total_relation_size(c.oid), c.relpersistence = 'u' \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND NOT c.relispartition AND {USER_SCHEMA} AND {} \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid)",
            not_extension_member("pg_class", "c.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let oid: u32 = row.get(0);
            let name = QualName::new(row.get::<_, String>(2), row.get::<_, String>(3));
            let id = ObjectId::Table { name: name.clone() };
            reader.insert(Class::Relation, oid, id.clone());
            reader.insert(Class::Type, row.get(1), id);
            reader.owners.insert(oid, Owner::Table(name.clone()));
            cat.tables.insert(
                name.clone(),
                Table {
                    name,
                    columns: Vec::new(),
                    constraints: BTreeMap::new(),
                    indexes: BTreeMap::new(),
                    triggers: BTreeMap::new(),
                    unlogged: row.get(7),
                    comment: row.get(4),
                    rows: row.get(5),
                    bytes: row.get(6),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, table) in &desired.tables {
            let old = current.tables.get(name);
            match old {
                None => out.push(TableChange::Create(table.clone()).into()),
                Some(old) if old.unlogged != table.unlogged => out.push(
                    TableChange::SetLogged {
                        table: name.clone(),
                        unlogged: table.unlogged,
                    }
                    .into(),
                ),
                Some(_) => {}
            }
            comment::changed(
                out,
                ObjectId::Table { name: name.clone() },
                format!("TABLE {name}"),
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
        // `depends` is ordered by dependent: the smallest id starts its run.
        let first = ObjectId::Schema {
            name: String::new(),
        };
        let to_dropped = current
            .depends
            .range((id.clone(), first)..)
            .take_while(|(a, _)| a == &id)
            .any(|(_, b)| {
                table_of(current, b).is_some_and(|other| *other != name && dropped.contains(other))
            });
        if to_dropped {
            out.push(constraint::ConstraintChange::Drop {
                table: name.clone(),
                constraint: c.clone(),
            }
            .into());
        }
        !to_dropped
    });
    out.push(TableChange::Drop(table).into());
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

fn create_table(table: &Table) -> String {
    let unlogged = if table.unlogged { "UNLOGGED " } else { "" };
    let mut lines: Vec<String> = table.columns.iter().map(column::definition).collect();
    lines.extend(
        table
            .constraints
            .values()
            .filter(|c| c.inline())
            .map(constraint::definition),
    );
    if lines.is_empty() {
        return format!("CREATE {unlogged}TABLE {} ();", table.name);
    }
    format!(
        "CREATE {unlogged}TABLE {} (\n    {}\n);",
        table.name,
        lines.join(",\n    ")
    )
}
