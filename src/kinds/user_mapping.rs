//! User mappings (CREATE USER MAPPING). Options change in place; a mapping
//! on a server that is created again is created again with it.
//!
//! The role stratum connects as is kept as `CURRENT_USER`, so that a schema
//! saying `FOR CURRENT_USER` matches the database whoever connects to the
//! scratch server. Options are read from `pg_user_mappings`, which hides
//! them from roles that may not see them: those are then not compared.

use tokio_postgres::Row;

use super::reader::{Class, Reader};
use super::{server, Catalog, Change, Effects, Kind, ObjectId};
use crate::sql::{ident, options_change, options_clause, sorted_options};

/// A user mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMapping {
    /// The role as SQL names it: `PUBLIC`, `CURRENT_USER` or a quoted name.
    pub user: String,
    /// The server.
    pub server: String,
    /// Generic options, `key=value`; None when this role may not read them.
    pub options: Option<Vec<String>>,
}

/// A change to a user mapping.
#[derive(Debug, Clone, PartialEq)]
pub enum UserMappingChange {
    /// CREATE USER MAPPING.
    Create(UserMapping),
    /// DROP USER MAPPING.
    Drop(UserMapping),
    /// ALTER USER MAPPING ... OPTIONS.
    Alter {
        /// As it is.
        from: UserMapping,
        /// As it should be.
        to: UserMapping,
    },
}

impl UserMappingChange {
    fn mapping(&self) -> &UserMapping {
        match self {
            UserMappingChange::Create(m)
            | UserMappingChange::Drop(m)
            | UserMappingChange::Alter { to: m, .. } => m,
        }
    }
}

impl Kind for UserMappingChange {
    fn id(&self) -> ObjectId {
        let m = self.mapping();
        ObjectId::UserMapping {
            user: m.user.clone(),
            server: m.server.clone(),
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            UserMappingChange::Create(_) => "create_user_mapping",
            UserMappingChange::Drop(_) => "drop_user_mapping",
            UserMappingChange::Alter { .. } => "alter_user_mapping",
        }
    }

    fn effects(&self) -> Effects {
        let server = ObjectId::Server {
            name: self.mapping().server.clone(),
        };
        match self {
            UserMappingChange::Create(_) => Effects {
                provides: vec![self.id()],
                needs: vec![server],
                ..Effects::default()
            },
            UserMappingChange::Drop(_) => super::gone(vec![self.id()]),
            UserMappingChange::Alter { .. } => super::needs(vec![self.id(), server]),
        }
    }

    fn sql(&self) -> Option<String> {
        let m = self.mapping();
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

    fn rank(&self) -> (u8, u8) {
        match self {
            UserMappingChange::Drop(_) => (0, 10),
            _ => (1, 5),
        }
    }

    fn stateless(&self) -> bool {
        true
    }

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
        for (key, mapping) in &desired.user_mappings {
            let mut old = current.user_mappings.get(key);
            if server::recreated(current, desired, &mapping.server) {
                if let Some(o) = old {
                    out.push(UserMappingChange::Drop(o.clone()).into());
                }
                old = None;
            }
            match old {
                None => out.push(UserMappingChange::Create(mapping.clone()).into()),
                Some(o) => {
                    if let (Some(from), Some(to)) = (&o.options, &mapping.options) {
                        if from != to {
                            out.push(
                                UserMappingChange::Alter {
                                    from: o.clone(),
                                    to: mapping.clone(),
                                }
                                .into(),
                            );
                        }
                    }
                }
            }
        }
        for (key, mapping) in &current.user_mappings {
            if !desired.user_mappings.contains_key(key) {
                out.push(UserMappingChange::Drop(mapping.clone()).into());
            }
        }
    }
}
