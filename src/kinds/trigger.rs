//! Triggers on tables and views (INSTEAD OF). A changed definition is drop
//! and create; the firing state (ENABLE, DISABLE, ENABLE REPLICA / ALWAYS)
//! changes in place.

use std::sync::Arc;
use crate::kinds::relation::{Trigger};
use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{Class, Owner, printed, Reader, comment_sql};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId, QualName, Shown};
use crate::sql::ident;

/// The ALTER TABLE action that gives a trigger the firing state `enabled`.
fn enable_sql(enabled: char) -> &'static str {
    match enabled {
        'D' => "DISABLE",
        'R' => "ENABLE REPLICA",
        'A' => "ENABLE ALWAYS",
        _ => "ENABLE",
    }
}

/// A change to a trigger.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TriggerChange {
    /// CREATE TRIGGER.
    Create { table: QualName, trigger: Trigger },
    /// DROP TRIGGER.
    Drop { table: QualName, trigger: Trigger },
    /// ALTER TABLE ... ENABLE / DISABLE TRIGGER.
    SetEnabled { table: QualName, trigger: Trigger },
}

impl TriggerChange {
    fn parts(&self) -> (&QualName, &Trigger) {
        match self {
            TriggerChange::Create { table, trigger }
            | TriggerChange::Drop { table, trigger }
            | TriggerChange::SetEnabled { table, trigger } => (table, trigger),
        }
    }
}

impl Action for TriggerChange {
    fn id(&self) -> ObjectId {
        let (table, trigger) = self.parts();
        ObjectId::trigger(table, &trigger.name)
    }

    fn verb(&self) -> &'static str {
        match self {
            TriggerChange::Create { .. } => "create_trigger",
            TriggerChange::Drop { .. } => "drop_trigger",
            TriggerChange::SetEnabled { .. } => "enable_trigger",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            TriggerChange::Create { .. } => super::made(vec![self.id()]),
            TriggerChange::Drop { .. } => super::gone(vec![self.id()]),
            TriggerChange::SetEnabled { .. } => super::needs(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            TriggerChange::Create { trigger, .. } => format!("{};", trigger.definition),
            TriggerChange::Drop { table, trigger } => {
                format!("DROP TRIGGER {} ON {table};", ident(&trigger.name))
            }
            TriggerChange::SetEnabled { table, trigger } => format!(
                "ALTER TABLE {table} {} TRIGGER {};",
                enable_sql(trigger.enabled),
                ident(&trigger.name)
            ),
        })
    }

    fn rank(&self) -> Rank {
        match self {
            TriggerChange::Drop { .. } => rank::DROP_DEPENDANT,
            TriggerChange::Create { .. } => rank::CREATE_TRIGGER,
            TriggerChange::SetEnabled { .. } => rank::ENABLE_TRIGGER,
        }
    }

    fn shown(&self) -> Shown {
        let (table, trigger) = self.parts();
        let detail = match self {
            TriggerChange::Create { .. } => format!("+ trigger {}", trigger.name),
            TriggerChange::Drop { .. } => format!("- trigger {}", trigger.name),
            TriggerChange::SetEnabled { .. } => format!(
                "~ trigger {} {}",
                trigger.name,
                enable_sql(trigger.enabled).to_lowercase()
            ),
        };
        Shown::Part {
            table: table.clone(),
            detail,
        }
    }
}

impl Kind for TriggerChange {
    // Triggers cloned onto partitions belong to the parent's.
    fn query(_version: i32) -> Option<String> {
        Some(
            format!("SELECT t.oid, t.tgrelid, t.tgname::text, pg_catalog.pg_get_triggerdef(t.oid), \
               {comment}, t.tgenabled::text \
             FROM pg_catalog.pg_trigger t WHERE NOT t.tgisinternal AND t.tgparentid = 0", comment = comment_sql("pg_trigger", "t.oid")),
        )
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let (relation, triggers) = match reader.owners.get(&row.get::<_, u32>(1)) {
                Some(Owner::Table(name)) => match cat.tables.get_mut(name).map(Arc::make_mut) {
                    Some(table) => (name, &mut table.triggers),
                    None => continue,
                },
                Some(Owner::View(name)) => match cat.views.get_mut(name) {
                    Some(view) => (name, &mut view.triggers),
                    None => continue,
                },
                None => continue,
            };
            let name: String = row.get(2);
            reader.insert(Class::Trigger, row.get(0), ObjectId::trigger(relation, &name));
            let enabled: String = row.get(5);
            triggers.insert(
                name.clone(),
                Trigger {
                    name,
                    definition: printed(row, 3, &|| "a trigger".to_string())?,
                    enabled: enabled.chars().next().unwrap_or('O'),
                    comment: row.get(4),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        let tables = desired.tables.iter().map(|(name, t)| {
            let old = crate::kinds::relation::kept(current, desired, name).map(|o| &o.triggers);
            (name, old, &t.triggers)
        });
        let views = desired.views.iter().map(|(name, v)| {
            let old = current.views.get(name).map(|o| &o.triggers);
            (name, old, &v.triggers)
        });
        for (name, old, new) in tables.chain(views) {
            diff_triggers(name, old, new, out);
        }
    }

    fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, out: &mut Vec<Change>) {
        let ObjectId::Trigger { table, name } = id else {
            return;
        };
        let find = |cat: &Catalog| {
            cat.tables
                .get(table)
                .map(|t| &t.triggers)
                .or_else(|| cat.views.get(table).map(|v| &v.triggers))
                .and_then(|triggers| triggers.get(name))
                .cloned()
        };
        if let (Some(old), Some(new)) = (find(current), find(desired)) {
            out.push(drop(table, &old));
            create_with_state(table, &new, out);
            trigger_comment(out, table, None, &new);
        }
    }
}

/// The trigger changes of one table or view; `old` is None when the
/// relation is created by the plan.
fn diff_triggers(
    name: &QualName,
    old: Option<&super::name_map::NameMap<Trigger>>,
    new: &super::name_map::NameMap<Trigger>,
    out: &mut Vec<Change>,
) {
    for trigger in new.values() {
        let was = old.and_then(|t| t.get(&trigger.name));
        let same = was.filter(|o| o.definition == trigger.definition);
        match same {
            None => {
                if let Some(o) = was {
                    out.push(drop(name, o));
                }
                create_with_state(name, trigger, out);
            }
            Some(o) if o.enabled != trigger.enabled => out.push(
                TriggerChange::SetEnabled {
                    table: name.clone(),
                    trigger: trigger.clone(),
                }
                .into(),
            ),
            Some(_) => {}
        }
        trigger_comment(out, name, same, trigger);
    }
    for (tname, trigger) in old.into_iter().flatten() {
        if !new.contains_key(tname) {
            out.push(drop(name, trigger));
        }
    }
}

/// CREATE TRIGGER, then its firing state when it is not the default.
fn create_with_state(table: &QualName, trigger: &Trigger, out: &mut Vec<Change>) {
    out.push(create(table, trigger));
    if trigger.enabled != 'O' {
        out.push(
            TriggerChange::SetEnabled {
                table: table.clone(),
                trigger: trigger.clone(),
            }
            .into(),
        );
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
