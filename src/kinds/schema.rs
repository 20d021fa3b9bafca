//! Schemas (namespaces).

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::comment;
use super::reader::{not_extension_member, Class, Reader, USER_SCHEMA, comment_sql};
use super::{Catalog, Change, Effects, Action, Kind, ObjectId};
use crate::hazard::{Hazard, HazardCode};
use crate::sql::ident;

/// A schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Schema {
    /// Name.
    pub name: String,
    /// COMMENT ON SCHEMA.
    pub comment: Option<String>,
}

/// A change to a schema.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SchemaChange {
    /// CREATE SCHEMA.
    Create(Schema),
    /// DROP SCHEMA.
    Drop(Schema),
}

impl SchemaChange {
    fn schema(&self) -> &Schema {
        match self {
            SchemaChange::Create(s) | SchemaChange::Drop(s) => s,
        }
    }
}

impl Action for SchemaChange {
    fn id(&self) -> ObjectId {
        ObjectId::Schema {
            name: self.schema().name.clone(),
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            SchemaChange::Create(_) => "create_schema",
            SchemaChange::Drop(_) => "drop_schema",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            SchemaChange::Create(_) => super::made(vec![self.id()]),
            SchemaChange::Drop(_) => super::gone(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            SchemaChange::Create(s) => format!("CREATE SCHEMA {};", ident(&s.name)),
            SchemaChange::Drop(s) => format!("DROP SCHEMA {};", ident(&s.name)),
        })
    }

    fn hazards(&self, _: &Catalog, _: &Catalog) -> Vec<Hazard> {
        match self {
            SchemaChange::Drop(s) => vec![Hazard::new(
                HazardCode::DataLoss,
                format!("drops schema {}", s.name),
            )],
            SchemaChange::Create(_) => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        match self {
            SchemaChange::Drop(_) => rank::DROP_SCHEMA,
            SchemaChange::Create(_) => rank::CREATE_SCHEMA,
        }
    }
}

impl Kind for SchemaChange {
    fn grants(_version: i32) -> Option<String> {
        Some(super::privilege::on_schemas())
    }

    fn owners(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT 'pg_namespace' AS cls, n.oid, 'SCHEMA' AS keyword, n.nspowner AS owner \
             FROM pg_catalog.pg_namespace n WHERE {USER_SCHEMA}"
        ))
    }

    fn query(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT n.oid, n.nspname::text, {comment} \
             FROM pg_catalog.pg_namespace n WHERE {USER_SCHEMA} AND {}",
            not_extension_member("pg_namespace", "n.oid"), comment = comment_sql("pg_namespace", "n.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name: String = row.get(1);
            reader.insert(
                Class::Namespace,
                row.get(0),
                ObjectId::Schema { name: name.clone() },
            );
            let comment = row.get(2);
            cat.schemas.insert(name.clone(), Schema { name, comment });
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, schema) in &desired.schemas {
            let old = current.schemas.get(name);
            if old.is_none() {
                out.push(SchemaChange::Create(schema.clone()).into());
            }
            comment::changed(
                out,
                ObjectId::Schema { name: name.clone() },
                format!("SCHEMA {}", ident(name)),
                old.and_then(|s| s.comment.as_ref()),
                schema.comment.as_ref(),
            );
        }
        for (name, schema) in &current.schemas {
            if !desired.schemas.contains_key(name) {
                out.push(SchemaChange::Drop(schema.clone()).into());
            }
        }
    }
}
