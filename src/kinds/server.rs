//! Foreign servers (CREATE SERVER). VERSION and options change in place; a
//! new wrapper or TYPE drops and creates the server, and with it the user
//! mappings and foreign tables on it (which hold no data of their own).

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{Class, Reader, comment_sql};
use super::lifecycle::{self, Compare, Lifecycle};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId};
use crate::sql::{ident, literal, options_change, options_clause, sorted_options};

/// A foreign server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// A change to a foreign server: ALTER changes its version and options.
pub type ServerChange = Lifecycle<Server>;

/// True when the server `name` is on both sides but cannot change in place.
pub(crate) fn recreated(current: &Catalog, desired: &Catalog, name: &str) -> bool {
    match (current.servers.get(name), desired.servers.get(name)) {
        (Some(old), Some(new)) => old.wrapper != new.wrapper || old.server_type != new.server_type,
        _ => false,
    }
}

impl Action for ServerChange {
    fn id(&self) -> ObjectId {
        ObjectId::Server {
            name: self.object().name.clone(),
        }
    }

    fn verb(&self) -> &'static str {
        self.step_verb(["create_server", "drop_server", "alter_server"])
    }

    fn effects(&self) -> Effects {
        self.step_effects(self.id(), vec![])
    }

    fn sql(&self) -> Option<String> {
        let s = self.object();
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

    fn rank(&self) -> Rank {
        match self {
            ServerChange::Drop(_) => rank::DROP_SERVER,
            _ => rank::CREATE_FOREIGN_SERVER,
        }
    }

    fn stateless(&self) -> bool {
        true
    }
}

impl Kind for ServerChange {
    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::global("pg_foreign_server", "SERVER", "srvowner"))
    }

    fn query(_version: i32) -> Option<String> {
        Some(
            format!("SELECT s.oid, s.srvname::text, w.fdwname::text, s.srvtype::text, s.srvversion::text, \
               coalesce(s.srvoptions, '{{}}')::text[], {comment} \
             FROM pg_catalog.pg_foreign_server s \
             JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw", comment = comment_sql("pg_foreign_server", "s.oid")),
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
        let how = Compare {
            recreated: &|s: &Server| recreated(current, desired, &s.name),
            differs: &|o: &Server, n: &Server| o.version != n.version || o.options != n.options,
            comment: &|out, old, new| {
                comment::changed(
                    out,
                    ObjectId::Server {
                        name: new.name.clone(),
                    },
                    format!("SERVER {}", ident(&new.name)),
                    old.and_then(|o| o.comment.as_ref()),
                    new.comment.as_ref(),
                )
            },
        };
        lifecycle::diff(&current.servers, &desired.servers, how, out);
    }
}
