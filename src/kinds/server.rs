//! Foreign servers (CREATE SERVER). VERSION and options change in place; a
//! new wrapper or TYPE drops and creates the server, and with it the user
//! mappings and foreign tables on it (which hold no data of their own).

use tokio_postgres::Row;

use super::reader::{Class, Reader};
use super::{comment, Catalog, Change, Effects, Kind, ObjectId};
use crate::sql::{ident, literal, options_change, options_clause, sorted_options};

/// A foreign server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Name.
    pub name: String,
    /// The foreign data wrapper it uses.
    pub wrapper: String,
    /// TYPE.
    pub server_type: Option<String>,
    /// VERSION.
    pub version: Option<String>,
    /// Generic options, `key=value`.
    pub options: Vec<String>,
    /// COMMENT ON SERVER.
    pub comment: Option<String>,
}

/// A change to a foreign server.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerChange {
    /// CREATE SERVER.
    Create(Server),
    /// DROP SERVER.
    Drop(Server),
    /// ALTER SERVER: version and options.
    Alter {
        /// As it is.
        from: Server,
        /// As it should be.
        to: Server,
    },
}

impl ServerChange {
    fn server(&self) -> &Server {
        match self {
            ServerChange::Create(s) | ServerChange::Drop(s) | ServerChange::Alter { to: s, .. } => s,
        }
    }
}

/// True when the server `name` is on both sides but cannot change in place.
pub(crate) fn recreated(current: &Catalog, desired: &Catalog, name: &str) -> bool {
    match (current.servers.get(name), desired.servers.get(name)) {
        (Some(old), Some(new)) => old.wrapper != new.wrapper || old.server_type != new.server_type,
        _ => false,
    }
}

impl Kind for ServerChange {
    fn id(&self) -> ObjectId {
        ObjectId::Server {
            name: self.server().name.clone(),
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            ServerChange::Create(_) => "create_server",
            ServerChange::Drop(_) => "drop_server",
            ServerChange::Alter { .. } => "alter_server",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            ServerChange::Create(_) => super::made(vec![self.id()]),
            ServerChange::Drop(_) => super::gone(vec![self.id()]),
            ServerChange::Alter { .. } => super::needs(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        let s = self.server();
        let name = ident(&s.name);
        Some(match self {
            ServerChange::Create(_) => {
                let mut sql = format!("CREATE SERVER {name}");
                if let Some(t) = &s.server_type {
                    sql.push_str(&format!(" TYPE {}", literal(t)));
                }
                if let Some(v) = &s.version {
                    sql.push_str(&format!(" VERSION {}", literal(v)));
                }
                sql.push_str(&format!(" FOREIGN DATA WRAPPER {}", ident(&s.wrapper)));
                if !s.options.is_empty() {
                    sql.push(' ');
                    sql.push_str(&options_clause(&s.options));
                }
                sql + ";"
            }
            ServerChange::Drop(_) => format!("DROP SERVER {name};"),
            ServerChange::Alter { from, to } => {
                let mut sql = format!("ALTER SERVER {name}");
                if from.version != to.version {
                    let version = to.version.as_deref().map_or("NULL".into(), literal);
                    sql.push_str(&format!(" VERSION {version}"));
                }
                if let Some(options) = options_change(&from.options, &to.options) {
                    sql.push(' ');
                    sql.push_str(&options);
                }
                sql + ";"
            }
        })
    }

    fn rank(&self) -> (u8, u8) {
        match self {
            ServerChange::Drop(_) => (0, 11),
            _ => (1, 4),
        }
    }

    fn stateless(&self) -> bool {
        true
    }

    fn query(_version: i32) -> Option<String> {
        Some(
            "SELECT s.oid, s.srvname::text, w.fdwname::text, s.srvtype::text, s.srvversion::text, \
               coalesce(s.srvoptions, '{}')::text[], pg_catalog.obj_description(s.oid, 'pg_foreign_server') \
             FROM pg_catalog.pg_foreign_server s \
             JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw"
                .to_string(),
        )
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name: String = row.get(1);
            let id = ObjectId::Server { name: name.clone() };
            reader.insert(Class::ForeignServer, row.get(0), id);
            cat.servers.insert(
                name.clone(),
                Server {
                    name,
                    wrapper: row.get(2),
                    server_type: row.get(3),
                    version: row.get(4),
                    options: sorted_options(row.get(5)),
                    comment: row.get(6),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, server) in &desired.servers {
            let mut old = current.servers.get(name);
            if recreated(current, desired, name) {
                out.push(ServerChange::Drop(old.expect("on both sides").clone()).into());
                old = None;
            }
            match old {
                None => out.push(ServerChange::Create(server.clone()).into()),
                Some(o) if o.version != server.version || o.options != server.options => out
                    .push(
                        ServerChange::Alter {
                            from: o.clone(),
                            to: server.clone(),
                        }
                        .into(),
                    ),
                Some(_) => {}
            }
            comment::changed(
                out,
                ObjectId::Server { name: name.clone() },
                format!("SERVER {}", ident(name)),
                old.and_then(|o| o.comment.as_ref()),
                server.comment.as_ref(),
            );
        }
        for (name, server) in &current.servers {
            if !desired.servers.contains_key(name) {
                out.push(ServerChange::Drop(server.clone()).into());
            }
        }
    }
}
