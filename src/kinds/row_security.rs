//! Row level security flags of tables, partitioned tables, partitions and
//! foreign tables: ENABLE / DISABLE and FORCE / NO FORCE ROW LEVEL SECURITY.
//! Each relation has its own flags (a partition does not take its parent's),
//! so each is compared on its own. Every step is an `authz-change`.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{not_extension_member, Reader, USER_SCHEMA};
use super::{Catalog, Change, Effects, Action, Kind, ObjectId, QualName, Shown};
use crate::hazard::{Hazard, HazardCode};

/// The row level security flags of a table; kept only when one is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowSecurity {
    /// ENABLE ROW LEVEL SECURITY.
    pub enabled: bool,
    /// FORCE ROW LEVEL SECURITY (the owner is subject to policies too).
    pub forced: bool,
}

/// A change of a table's row level security flags.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RowSecurityChange {
    /// The table.
    pub table: QualName,
    /// As it is (all false for a new table).
    pub from: RowSecurity,
    /// As it should be.
    pub to: RowSecurity,
}

impl Action for RowSecurityChange {
    fn id(&self) -> ObjectId {
        ObjectId::RowSecurity {
            table: self.table.clone(),
        }
    }

    fn verb(&self) -> &'static str {
        "set_row_security"
    }

    fn effects(&self) -> Effects {
        let table = ObjectId::Table {
            name: self.table.clone(),
        };
        super::needs(vec![table])
    }

    fn sql(&self) -> Option<String> {
        let mut actions = Vec::new();
        if self.from.enabled != self.to.enabled {
            let verb = if self.to.enabled { "ENABLE" } else { "DISABLE" };
            actions.push(format!("{verb} ROW LEVEL SECURITY"));
        }
        if self.from.forced != self.to.forced {
            let verb = if self.to.forced { "FORCE" } else { "NO FORCE" };
            actions.push(format!("{verb} ROW LEVEL SECURITY"));
        }
        Some(format!("ALTER TABLE {} {};", self.table, actions.join(", ")))
    }

    fn hazards(&self, _current: &Catalog, desired: &Catalog) -> Vec<Hazard> {
        let table = self.table.plain();
        let policies = desired
            .policies
            .values()
            .filter(|p| p.table == self.table)
            .count();
        let mut out = Vec::new();
        if self.from.enabled != self.to.enabled {
            let message = if self.to.enabled && policies == 0 {
                format!(
                    "enables row level security on {table} with no policy: its rows become \
                     invisible to every role but the owner (and roles with BYPASSRLS)"
                )
            } else if self.to.enabled {
                let policies = match policies {
                    1 => "its policy allows".to_string(),
                    n => format!("its {n} policies allow"),
                };
                format!(
                    "enables row level security on {table}: roles other than the owner reach \
                     only the rows {policies}"
                )
            } else {
                format!(
                    "disables row level security on {table}: its policies stop applying, and \
                     every role with privileges on it reaches every row"
                )
            };
            out.push(Hazard::new(HazardCode::AuthzChange, message));
        }
        if self.from.forced != self.to.forced {
            let message = if self.to.forced {
                format!("forces row level security on {table}: its owner is bound by the policies too")
            } else {
                format!("stops forcing row level security on {table}: its owner bypasses the policies again")
            };
            out.push(Hazard::new(HazardCode::AuthzChange, message));
        }
        out
    }

    fn rank(&self) -> Rank {
        rank::CREATE_POLICY
    }

    fn stateless(&self) -> bool {
        true
    }

    fn shown(&self) -> Shown {
        Shown::Part {
            table: self.table.clone(),
            detail: format!(
                "~ row level security {}{}",
                if self.to.enabled { "enabled" } else { "disabled" },
                if self.to.forced { ", forced" } else { "" }
            ),
        }
    }
}

impl Kind for RowSecurityChange {
    fn query(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT n.nspname::text, c.relname::text, c.relrowsecurity, c.relforcerowsecurity \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'f') AND (c.relrowsecurity OR c.relforcerowsecurity) \
               AND {USER_SCHEMA} AND {}",
            not_extension_member("pg_class", "c.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, _reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let table = QualName::new(row.get::<_, String>(0), row.get::<_, String>(1));
            let flags = RowSecurity {
                enabled: row.get(2),
                forced: row.get(3),
            };
            cat.row_security.insert(table, flags);
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        let tables = desired.tables.keys().filter(|t| {
            desired.row_security.contains_key(*t) || current.row_security.contains_key(*t)
        });
        for table in tables {
            // A table the plan creates, or drops and creates again, starts
            // with both flags off.
            let from = match crate::kinds::relation::recreated(current, desired, table) {
                true => RowSecurity::default(),
                false => current.row_security.get(table).copied().unwrap_or_default(),
            };
            let to = desired.row_security.get(table).copied().unwrap_or_default();
            if from != to {
                out.push(
                    RowSecurityChange {
                        table: table.clone(),
                        from,
                        to,
                    }
                    .into(),
                );
            }
        }
    }
}
