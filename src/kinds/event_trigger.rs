//! Event triggers (CREATE EVENT TRIGGER). A changed event, filter or
//! function is drop and create; the firing state changes in place.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{Class, Reader, comment_sql};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId};
use crate::sql::{ident, literal};

/// An event trigger.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventTrigger {
    /// Name.
    pub name: String,
    /// The event: `ddl_command_start`, `sql_drop`, ...
    pub event: String,
    /// WHEN TAG IN (...), empty for every tag.
    pub tags: Vec<String>,
    /// The function it runs, qualified.
    pub function: String,
    /// `O` enabled, `D` disabled, `R` replica, `A` always.
    pub enabled: char,
    /// COMMENT ON EVENT TRIGGER.
    pub comment: Option<String>,
}

/// A change to an event trigger.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum EventTriggerChange {
    /// CREATE EVENT TRIGGER.
    Create(EventTrigger),
    /// DROP EVENT TRIGGER.
    Drop(EventTrigger),
    /// ALTER EVENT TRIGGER ... ENABLE / DISABLE.
    SetEnabled(EventTrigger),
}

impl EventTriggerChange {
    fn trigger(&self) -> &EventTrigger {
        match self {
            EventTriggerChange::Create(t)
            | EventTriggerChange::Drop(t)
            | EventTriggerChange::SetEnabled(t) => t,
        }
    }
}

impl Action for EventTriggerChange {
    fn id(&self) -> ObjectId {
        ObjectId::EventTrigger {
            name: self.trigger().name.clone(),
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            EventTriggerChange::Create(_) => "create_event_trigger",
            EventTriggerChange::Drop(_) => "drop_event_trigger",
            EventTriggerChange::SetEnabled(_) => "enable_event_trigger",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            EventTriggerChange::Create(_) => super::made(vec![self.id()]),
            EventTriggerChange::Drop(_) => super::gone(vec![self.id()]),
            EventTriggerChange::SetEnabled(_) => super::needs(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        let t = self.trigger();
        let name = ident(&t.name);
        Some(match self {
            EventTriggerChange::Create(_) => {
                let when = if t.tags.is_empty() {
                    String::new()
                } else {
                    let tags: Vec<String> = t.tags.iter().map(|s| literal(s)).collect();
                    format!("\n    WHEN TAG IN ({})", tags.join(", "))
                };
                format!(
                    "CREATE EVENT TRIGGER {name} ON {}{when}\n    EXECUTE FUNCTION {}();",
                    ident(&t.event),
                    t.function
                )
            }
            EventTriggerChange::Drop(_) => format!("DROP EVENT TRIGGER {name};"),
            EventTriggerChange::SetEnabled(_) => {
                let state = match t.enabled {
                    'D' => "DISABLE",
                    'R' => "ENABLE REPLICA",
                    'A' => "ENABLE ALWAYS",
                    _ => "ENABLE",
                };
                format!("ALTER EVENT TRIGGER {name} {state};")
            }
        })
    }

    fn rank(&self) -> Rank {
        match self {
            EventTriggerChange::Drop(_) => rank::DROP_DEPENDANT,
            EventTriggerChange::Create(_) => rank::CREATE_TRIGGER,
            EventTriggerChange::SetEnabled(_) => rank::ENABLE_TRIGGER,
        }
    }

    fn stateless(&self) -> bool {
        true
    }
}

impl Kind for EventTriggerChange {
    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::global("pg_event_trigger", "EVENT TRIGGER", "evtowner"))
    }

    fn query(_version: i32) -> Option<String> {
        Some(
            format!("SELECT e.oid, e.evtname::text, e.evtevent::text, coalesce(e.evttags, '{{}}'), \
               pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname), \
               e.evtenabled::text, {comment} \
             FROM pg_catalog.pg_event_trigger e JOIN pg_catalog.pg_proc p ON p.oid = e.evtfoid \
             JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
             WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x \
               WHERE x.classid = 'pg_catalog.pg_event_trigger'::pg_catalog.regclass \
               AND x.objid = e.oid AND x.deptype = 'e')", comment = comment_sql("pg_event_trigger", "e.oid")),
        )
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name: String = row.get(1);
            reader.insert(
                Class::EventTrigger,
                row.get(0),
                ObjectId::EventTrigger { name: name.clone() },
            );
            let enabled: String = row.get(5);
            cat.event_triggers.insert(
                name.clone(),
                EventTrigger {
                    name,
                    event: row.get(2),
                    tags: row.get(3),
                    function: row.get(4),
                    enabled: enabled.chars().next().unwrap_or('O'),
                    comment: row.get(6),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, trigger) in &desired.event_triggers {
            let old = current.event_triggers.get(name);
            let same = old.filter(|o| {
                o.event == trigger.event && o.tags == trigger.tags && o.function == trigger.function
            });
            match same {
                None => {
                    if let Some(o) = old {
                        out.push(EventTriggerChange::Drop(o.clone()).into());
                    }
                    create(trigger, out);
                }
                Some(o) if o.enabled != trigger.enabled => {
                    out.push(EventTriggerChange::SetEnabled(trigger.clone()).into())
                }
                Some(_) => {}
            }
            event_comment(out, same, trigger);
        }
        for (name, trigger) in &current.event_triggers {
            if !desired.event_triggers.contains_key(name) {
                out.push(EventTriggerChange::Drop(trigger.clone()).into());
            }
        }
    }

    fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, out: &mut Vec<Change>) {
        let ObjectId::EventTrigger { name } = id else {
            return;
        };
        let (Some(old), Some(new)) = (
            current.event_triggers.get(name),
            desired.event_triggers.get(name),
        ) else {
            return;
        };
        out.push(EventTriggerChange::Drop(old.clone()).into());
        create(new, out);
        event_comment(out, None, new);
    }
}

fn create(trigger: &EventTrigger, out: &mut Vec<Change>) {
    out.push(EventTriggerChange::Create(trigger.clone()).into());
    if trigger.enabled != 'O' {
        out.push(EventTriggerChange::SetEnabled(trigger.clone()).into());
    }
}

fn event_comment(out: &mut Vec<Change>, old: Option<&EventTrigger>, new: &EventTrigger) {
    comment::changed(
        out,
        ObjectId::EventTrigger {
            name: new.name.clone(),
        },
        format!("EVENT TRIGGER {}", ident(&new.name)),
        old.and_then(|o| o.comment.as_ref()),
        new.comment.as_ref(),
    );
}
