//! Reads a [`Catalog`] from a database through `pg_catalog`.
//!
//! The same code reads the live database and the scratch database that holds
//! the desired SQL, so both sides carry PostgreSQL's own canonical text. It
//! runs a fixed number of set-based queries in one REPEATABLE READ, read-only
//! transaction with an empty `search_path`, so every name comes out qualified
//! and the cost does not grow with the number of round trips.

mod depends;
mod objects;
mod relations;
mod unmanaged;

use std::collections::HashMap;

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::catalog::{Catalog, ObjectId};

/// Schemas that belong to PostgreSQL itself; `n` is the pg_namespace alias.
const USER_SCHEMA: &str = "n.nspname !~ '^pg_' and n.nspname <> 'information_schema'";

/// Builds the "not a member of an extension" filter for rows of `class` whose
/// oid is `oid`.
fn not_extension_member(class: &str, oid: &str) -> String {
    format!(
        "not exists (select 1 from pg_catalog.pg_depend x where x.classid = '{class}'::pg_catalog.regclass \
         and x.objid = {oid} and x.deptype = 'e')"
    )
}

/// Which system catalog an oid in `pg_depend` refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Class {
    Relation,
    Type,
    Routine,
    Constraint,
    Trigger,
    AttrDefault,
    Rewrite,
    Namespace,
    Extension,
}

impl Class {
    fn from_catalog_name(name: &str) -> Option<Class> {
        Some(match name {
            "pg_class" => Class::Relation,
            "pg_type" => Class::Type,
            "pg_proc" => Class::Routine,
            "pg_constraint" => Class::Constraint,
            "pg_trigger" => Class::Trigger,
            "pg_attrdef" => Class::AttrDefault,
            "pg_rewrite" => Class::Rewrite,
            "pg_namespace" => Class::Namespace,
            "pg_extension" => Class::Extension,
            _ => return None,
        })
    }
}

/// Maps catalog oids (and column numbers) to the managed objects they are,
/// so that `pg_depend` rows can be turned into [`ObjectId`] pairs.
#[derive(Default)]
struct OidMap {
    objects: HashMap<(Class, u32), ObjectId>,
    /// Columns of managed tables: (table oid, attnum) -> column id.
    columns: HashMap<(u32, i16), ObjectId>,
}

impl OidMap {
    fn insert(&mut self, class: Class, oid: u32, id: ObjectId) {
        self.objects.insert((class, oid), id);
    }

    fn resolve(&self, class: Class, oid: u32, sub: i32) -> Option<&ObjectId> {
        if class == Class::Relation && sub > 0 {
            if let Some(column) = self.columns.get(&(oid, sub as i16)) {
                return Some(column);
            }
        }
        self.objects.get(&(class, oid))
    }
}

/// Reads everything stratum manages from the database `client` is connected
/// to. `live` says whether this is a user's database (its row counts and
/// sizes are worth reporting) or a scratch load.
pub async fn introspect(client: &mut Client, live: bool) -> Result<Catalog> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .context("starting the introspection transaction")?;
    tx.batch_execute("SELECT pg_catalog.set_config('search_path', '', true)")
        .await?;
    let version: i32 = tx
        .query_one(
            "SELECT pg_catalog.current_setting('server_version_num')::int",
            &[],
        )
        .await?
        .get(0);

    let mut catalog = Catalog {
        live,
        server_version: version,
        ..Catalog::default()
    };
    let mut oids = OidMap::default();
    objects::schemas(&tx, &mut catalog, &mut oids).await?;
    objects::extensions(&tx, &mut catalog, &mut oids).await?;
    objects::enums(&tx, &mut catalog, &mut oids).await?;
    let identities = objects::sequences(&tx, &mut catalog, &mut oids).await?;
    objects::functions(&tx, &mut catalog, &mut oids).await?;
    objects::casts(&tx, &mut catalog).await?;
    objects::volatile_functions(&tx, &mut catalog).await?;
    relations::relations(&tx, &mut catalog, &mut oids, &identities).await?;
    depends::depends(&tx, &mut catalog, &mut oids).await?;
    unmanaged::unmanaged(&tx, &mut catalog).await?;
    tx.commit().await?;
    Ok(catalog)
}
