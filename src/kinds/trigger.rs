//! Triggers on tables. A changed definition is drop and create.

use tokio_postgres::Row;

use super::reader::{Class, Owner, Reader};
use super::{comment, Catalog, Change, Effects, Kind, ObjectId, QualName, Shown};
use crate::sql::ident;

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

/// A change to a trigger.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerChange {
    /// CREATE TRIGGER.
    Create { table: QualName, trigger: Trigger },
    /// DROP TRIGGER.
    Drop { table: QualName, trigger: Trigger },
}

impl TriggerChange {
    fn parts(&self) -> (&QualName, &Trigger) {
        match self {
            TriggerChange::Create { table, trigger } | TriggerChange::Drop { table, trigger } => {
                (table, trigger)
            }
        }
    }
}

impl Kind for TriggerChange {
    fn id(&self) -> ObjectId {
        let (table, trigger) = self.parts();
        ObjectId::trigger(table, &trigger.name)
    }

    fn verb(&self) -> &'static str {
        match self {
            TriggerChange::Create { .. } => "create_trigger",
            TriggerChange::Drop { .. } => "drop_trigger",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            TriggerChange::Create { .. } => super::made(vec![self.id()]),
            TriggerChange::Drop { .. } => super::gone(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            TriggerChange::Create { trigger, .. } => format!("{};", trigger.definition),
            TriggerChange::Drop { table, trigger } => {
                format!("DROP TRIGGER {} ON {table};", ident(&trigger.name))
            }
        })
    }

    fn rank(&self) -> (u8, u8) {
        match self {
            TriggerChange::Drop { .. } => (0, 0),
            TriggerChange::Create { .. } => (1, 16),
        }
    }

    fn shown(&self) -> Shown {
        let (table, trigger) = self.parts();
        let sign = match self {
            TriggerChange::Create { .. } => '+',
            TriggerChange::Drop { .. } => '-',
        };
        Shown::Part {
            table: table.clone(),
            detail: format!("{sign} trigger {}", trigger.name),
        }
    }

    fn owner(&self) -> ObjectId {
        ObjectId::Table {
            name: self.parts().0.clone(),
        }
    }

    // Triggers cloned onto partitions belong to the parent's.
    fn query(_version: i32) -> Option<String> {
        Some(
            "SELECT t.oid, t.tgrelid, t.tgname::text, pg_catalog.pg_get_triggerdef(t.oid), \
               pg_catalog.obj_description(t.oid, 'pg_trigger') \
             FROM pg_catalog.pg_trigger t WHERE NOT t.tgisinternal AND t.tgparentid = 0"
                .to_string(),
        )
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let Some(Owner::Table(table_name)) = reader.owners.get(&row.get::<_, u32>(1)) else {
                continue;
            };
            let table_name = table_name.clone();
            let name: String = row.get(2);
            reader.insert(
                Class::Trigger,
                row.get(0),
                ObjectId::trigger(&table_name, &name),
            );
            if let Some(table) = cat.tables.get_mut(&table_name) {
                table.triggers.insert(
                    name.clone(),
                    Trigger {
                        name,
                        definition: row.get(3),
                        comment: row.get(4),
                    },
                );
            }
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, table) in &desired.tables {
            let old = super::table::kept(current, desired, name);
            for trigger in table.triggers.values() {
                let was = old.and_then(|t| t.triggers.get(&trigger.name));
                let same = was.filter(|o| o.definition == trigger.definition);
                if same.is_none() {
                    if let Some(o) = was {
                        out.push(drop(name, o));
                    }
                    out.push(create(name, trigger));
                }
                trigger_comment(out, name, same, trigger);
            }
            for (tname, trigger) in old.iter().flat_map(|t| &t.triggers) {
                if !table.triggers.contains_key(tname) {
                    out.push(drop(name, trigger));
                }
            }
        }
    }

    fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, out: &mut Vec<Change>) {
        let ObjectId::Trigger { table, name } = id else {
            return;
        };
        let find = |cat: &Catalog| cat.tables.get(table).and_then(|t| t.triggers.get(name)).cloned();
        if let (Some(old), Some(new)) = (find(current), find(desired)) {
            out.push(drop(table, &old));
            out.push(create(table, &new));
            trigger_comment(out, table, None, &new);
        }
    }
}

fn create(table: &QualName, trigger: &Trigger) -> Change {
    TriggerChange::Create {
        table: table.clone(),
        trigger: trigger.clone(),
    }
    .into()
}

fn drop(table: &QualName, trigger: &Trigger) -> Change {
    TriggerChange::Drop {
        table: table.clone(),
        trigger: trigger.clone(),
    }
    .into()
}

fn trigger_comment(out: &mut Vec<Change>, table: &QualName, old: Option<&Trigger>, new: &Trigger) {
    comment::changed(
        out,
        ObjectId::trigger(table, &new.name),
        format!("TRIGGER {} ON {table}", ident(&new.name)),
        old.and_then(|o| o.comment.as_ref()),
        new.comment.as_ref(),
    );
}
