//! Foreign data wrappers the user creates (CREATE FOREIGN DATA WRAPPER);
//! those an extension brings (`postgres_fdw`, `file_fdw`) come with it.
//! Handler, validator and options change in place.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{not_extension_member, Class, Reader, comment_sql};
use super::lifecycle::{self, Compare, Lifecycle};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId};
use crate::sql::{ident, options_change, options_clause, sorted_options};

/// A foreign data wrapper.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ForeignDataWrapper {
    /// Name.
    pub name: String,
    /// HANDLER function, qualified.
    pub handler: Option<String>,
    /// VALIDATOR function, qualified.
    pub validator: Option<String>,
    /// Generic options, `key=value`.
    pub options: Vec<String>,
    /// COMMENT ON FOREIGN DATA WRAPPER.
    pub comment: Option<String>,
}

/// A change to a foreign data wrapper: ALTER changes its handler, validator
/// and options.
pub type FdwChange = Lifecycle<ForeignDataWrapper>;

fn function(clause: &str, f: &Option<String>) -> String {
    match f {
        Some(f) => format!(" {clause} {f}"),
        None => format!(" NO {clause}"),
    }
}

impl Action for FdwChange {
    fn id(&self) -> ObjectId {
        ObjectId::ForeignDataWrapper {
            name: self.object().name.clone(),
        }
    }

    fn verb(&self) -> &'static str {
        self.step_verb([
            "create_foreign_data_wrapper",
            "drop_foreign_data_wrapper",
            "alter_foreign_data_wrapper",
        ])
    }

    fn effects(&self) -> Effects {
        self.step_effects(self.id(), vec![])
    }

    fn sql(&self) -> Option<String> {
        let w = self.object();
        let name = ident(&w.name);
        Some(match self {
            FdwChange::Create(_) => {
                let mut sql = format!("CREATE FOREIGN DATA WRAPPER {name}");
                if w.handler.is_some() {
                    sql.push_str(&function("HANDLER", &w.handler));
                }
                if w.validator.is_some() {
                    sql.push_str(&function("VALIDATOR", &w.validator));
                }
                if !w.options.is_empty() {
                    sql.push(' ');
                    sql.push_str(&options_clause(&w.options));
                }
                sql + ";"
            }
            FdwChange::Drop(_) => format!("DROP FOREIGN DATA WRAPPER {name};"),
            FdwChange::Alter { from, to } => {
                let mut sql = format!("ALTER FOREIGN DATA WRAPPER {name}");
                if from.handler != to.handler {
                    sql.push_str(&function("HANDLER", &to.handler));
                }
                if from.validator != to.validator {
                    sql.push_str(&function("VALIDATOR", &to.validator));
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
            FdwChange::Drop(_) => rank::DROP_BASE,
            _ => rank::CREATE_FOREIGN_SERVER,
        }
    }

    fn stateless(&self) -> bool {
        true
    }
}

impl Kind for FdwChange {
    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::global("pg_foreign_data_wrapper", "FOREIGN DATA WRAPPER", "fdwowner"))
    }

    fn query(_version: i32) -> Option<String> {
        let function = |column: &str| {
            format!(
                "(SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname) \
                  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
                  WHERE p.oid = w.{column})"
            )
        };
        Some(format!(
            "SELECT w.oid, w.fdwname::text, {}, {}, coalesce(w.fdwoptions, '{{}}')::text[], \
               {comment} \
             FROM pg_catalog.pg_foreign_data_wrapper w WHERE {}",
            function("fdwhandler"),
            function("fdwvalidator"),
            not_extension_member("pg_foreign_data_wrapper", "w.oid"), comment = comment_sql("pg_foreign_data_wrapper", "w.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name: String = row.get(1);
            let id = ObjectId::ForeignDataWrapper { name: name.clone() };
            reader.insert(Class::ForeignDataWrapper, row.get(0), id);
            cat.foreign_data_wrappers.insert(
                name.clone(),
                ForeignDataWrapper {
                    name,
                    handler: row.get(2),
                    validator: row.get(3),
                    options: sorted_options(row.get(4)),
                    comment: row.get(5),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        let how = Compare {
            recreated: &|_| false,
            differs: &|o: &ForeignDataWrapper, n: &ForeignDataWrapper| {
                o.handler != n.handler || o.validator != n.validator || o.options != n.options
            },
            comment: &|out, old, new| {
                comment::changed(
                    out,
                    ObjectId::ForeignDataWrapper {
                        name: new.name.clone(),
                    },
                    format!("FOREIGN DATA WRAPPER {}", ident(&new.name)),
                    old.and_then(|o| o.comment.as_ref()),
                    new.comment.as_ref(),
                )
            },
        };
        lifecycle::diff(&current.foreign_data_wrappers, &desired.foreign_data_wrappers, how, out);
    }
}
