//! Extensions.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::comment;
use super::reader::{Class, Reader, comment_sql};
use super::{Catalog, Change, Effects, Action, Kind, ObjectId};
use crate::hazard::{Hazard, HazardCode};
use crate::sql::{ident, literal};

/// An installed extension.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Extension {
    /// Name.
    pub name: String,
    /// Schema its objects live in.
    pub schema: String,
    /// Installed version.
    pub version: String,
    /// COMMENT ON EXTENSION (normally the extension's own).
    pub comment: Option<String>,
}

/// A change to an extension.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ExtensionChange {
    /// CREATE EXTENSION.
    Create(Extension),
    /// DROP EXTENSION.
    Drop(Extension),
    /// ALTER EXTENSION ... UPDATE TO.
    Update {
        name: String,
        from: String,
        to: String,
    },
}

impl Action for ExtensionChange {
    fn id(&self) -> ObjectId {
        let name = match self {
            ExtensionChange::Create(e) | ExtensionChange::Drop(e) => &e.name,
            ExtensionChange::Update { name, .. } => name,
        };
        ObjectId::Extension { name: name.clone() }
    }

    fn verb(&self) -> &'static str {
        match self {
            ExtensionChange::Create(_) => "create_extension",
            ExtensionChange::Drop(_) => "drop_extension",
            ExtensionChange::Update { .. } => "update_extension",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            ExtensionChange::Drop(_) => super::gone(vec![self.id()]),
            _ => super::made(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            ExtensionChange::Create(e) => format!(
                "CREATE EXTENSION {} WITH SCHEMA {} VERSION {};",
                ident(&e.name),
                ident(&e.schema),
                literal(&e.version)
            ),
            ExtensionChange::Drop(e) => format!("DROP EXTENSION {};", ident(&e.name)),
            ExtensionChange::Update { name, to, .. } => {
                format!("ALTER EXTENSION {} UPDATE TO {};", ident(name), literal(to))
            }
        })
    }

    fn hazards(&self, _: &Catalog, _: &Catalog) -> Vec<Hazard> {
        match self {
            ExtensionChange::Drop(e) => vec![Hazard::new(
                HazardCode::DataLoss,
                format!("drops extension {} and every object it owns", e.name),
            )],
            _ => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        match self {
            ExtensionChange::Drop(_) => rank::DROP_BASE,
            _ => rank::CREATE_BASE,
        }
    }
}

impl Kind for ExtensionChange {
    fn query(_version: i32) -> Option<String> {
        Some(
            format!("SELECT e.oid, e.extname::text, n.nspname::text, e.extversion, \
             {comment} \
             FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace", comment = comment_sql("pg_extension", "e.oid")),
        )
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name: String = row.get(1);
            reader.insert(
                Class::Extension,
                row.get(0),
                ObjectId::Extension { name: name.clone() },
            );
            cat.extensions.insert(
                name.clone(),
                Extension {
                    name,
                    schema: row.get(2),
                    version: row.get(3),
                    comment: row.get(4),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, ext) in &desired.extensions {
            match current.extensions.get(name) {
                None => out.push(ExtensionChange::Create(ext.clone()).into()),
                Some(old) if old.schema != ext.schema => {
                    out.push(ExtensionChange::Drop(old.clone()).into());
                    out.push(ExtensionChange::Create(ext.clone()).into());
                }
                Some(old) if old.version != ext.version => out.push(
                    ExtensionChange::Update {
                        name: name.clone(),
                        from: old.version.clone(),
                        to: ext.version.clone(),
                    }
                    .into(),
                ),
                Some(old) => comment::changed(
                    out,
                    ObjectId::Extension { name: name.clone() },
                    format!("EXTENSION {}", ident(name)),
                    old.comment.as_ref(),
                    ext.comment.as_ref(),
                ),
            }
        }
        for (name, ext) in &current.extensions {
            if !desired.extensions.contains_key(name) {
                out.push(ExtensionChange::Drop(ext.clone()).into());
            }
        }
    }
}
