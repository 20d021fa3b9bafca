//! User mappings (CREATE USER MAPPING). Options change in place; a mapping
//! on a server that is created again is created again with it.
//!
//! The role stratum connects as is kept as `CURRENT_USER`, so that a schema
//! saying `FOR CURRENT_USER` matches the database whoever connects to the
//! scratch server. Options are read from `pg_user_mappings`, which hides
//! them from roles that may not see them: those are then not compared.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{Class, Reader};
use super::lifecycle::{self, Compare, Lifecycle};
use super::{server, Catalog, Change, Effects, Action, Kind, ObjectId};
use crate::sql::{ident, options_change, options_clause, sorted_options};

/// A user mapping.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserMapping {
    /// The role as SQL names it: `PUBLIC`, `CURRENT_USER` or a quoted name.
    pub user: String,
    /// The server.
    pub server: String,
    /// Generic options, `key=value`; None when this role may not read them.
    pub options: Option<Vec<String>>,
}

/// A change to a user mapping: ALTER changes its options.
pub type UserMappingChange = Lifecycle<UserMapping>;

impl Action for UserMappingChange {
    fn id(&self) -> ObjectId {
        let m = self.object();
        ObjectId::UserMapping {
            user: m.user.clone(),
            server: m.server.clone(),
        }
    }

    fn verb(&self) -> &'static str {
        self.step_verb([
            "create_user_mapping",
            "drop_user_mapping",
            "alter_user_mapping",
        ])
    }

    fn effects(&self) -> Effects {
        let server = ObjectId::Server {
            name: self.object().server.clone(),
        };
        self.step_effects(self.id(), vec![server])
    }

    fn sql(&self) -> Option<String> {
        let m = self.object();
        let target = format!("USER MAPPING FOR {} SERVER {}", m.user, ident(&m.server));
        let options = m.options.as_deref().unwrap_or_default();
        Some(match self {
            UserMappingChange::Create(_) if options.is_empty() => format!("CREATE {target};"),
            UserMappingChange::Create(_) => {
                format!("CREATE {target} {};", options_clause(options))
            }
            UserMappingChange::Drop(_) => format!("DROP {target};"),
            UserMappingChange::Alter { from, .. } => {
                let from = from.options.as_deref().unwrap_or_default();
                let change = options_change(from, options).unwrap_or_default();
                format!("ALTER {target} {change};")
            }
        })
    }

    fn rank(&self) -> Rank {
        match self {
            UserMappingChange::Drop(_) => rank::DROP_USER_MAPPING,
            _ => rank::CREATE_USER_MAPPING,
        }
    }

    fn stateless(&self) -> bool {
        true
    }
}

impl Kind for UserMappingChange {
    fn query(_version: i32) -> Option<String> {
        Some(
            "SELECT m.umid, CASE WHEN m.umuser = 0 THEN 'PUBLIC' \
                 WHEN m.usename = current_user THEN 'CURRENT_USER' \
                 ELSE pg_catalog.quote_ident(m.usename) END, \
               m.srvname::text, m.umoptions::text[], \
               NOT ((m.umuser <> 0 AND m.usename = current_user \
                      AND (pg_catalog.pg_has_role(s.srvowner, 'USAGE') \
                           OR pg_catalog.has_server_privilege(s.oid, 'USAGE'))) \
                    OR (m.umuser = 0 AND pg_catalog.pg_has_role(s.srvowner, 'USAGE')) \
                    OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)) \
             FROM pg_catalog.pg_user_mappings m \
             JOIN pg_catalog.pg_foreign_server s ON s.oid = m.srvid"
                .to_string(),
        )
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let (user, server): (String, String) = (row.get(1), row.get(2));
            let id = ObjectId::UserMapping {
                user: user.clone(),
                server: server.clone(),
            };
            reader.insert(Class::UserMapping, row.get(0), id);
            let hidden: bool = row.get(4);
            // The view shows NULL both for no options and for hidden ones.
            let options = match row.get::<_, Option<Vec<String>>>(3) {
                Some(options) => Some(sorted_options(options)),
                None if hidden => None,
                None => Some(Vec::new()),
            };
            cat.user_mappings.insert(
                (user.clone(), server.clone()),
                UserMapping {
                    user,
                    server,
                    options,
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        let how = Compare {
            recreated: &|m: &UserMapping| server::recreated(current, desired, &m.server),
            // Options the view hides from this role (None) are not compared.
            differs: &|o: &UserMapping, n: &UserMapping| {
                o.options.is_some() && n.options.is_some() && o.options != n.options
            },
            comment: &|_, _, _| {},
        };
        lifecycle::diff(&current.user_mappings, &desired.user_mappings, how, out);
    }
}
