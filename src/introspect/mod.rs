//! Reads a [`Catalog`] from a database through `pg_catalog`.
//!
//! The same code reads the live database and the scratch database that holds
//! the desired SQL, so both sides carry PostgreSQL's own canonical text. It
//! runs a fixed number of set-based queries (one per kind, see `kinds`, then
//! casts, dependencies and unmanaged objects) in one REPEATABLE READ,
//! read-only transaction with an empty `search_path`, so every name comes out
//! qualified and the cost does not grow with the number of round trips.

mod depends;
mod unmanaged;

use anyhow::{Context, Result};
use tokio_postgres::{Client, Transaction};

use crate::kinds::reader::Reader;
use crate::kinds::{self, Cast, Catalog};

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
    let mut reader = Reader::default();
    kinds::read_all(&tx, &mut catalog, &mut reader).await?;
    casts(&tx, &mut catalog).await?;
    volatile_functions(&tx, &mut catalog).await?;
    catalog.reader_role = tx
        .query_one("SELECT pg_catalog.quote_ident(current_user)", &[])
        .await?
        .get(0);
    let roles = "SELECT pg_catalog.quote_ident(rolname) FROM pg_catalog.pg_roles";
    for row in tx.query(roles, &[]).await.context("reading roles")? {
        catalog.roles.insert(row.get(0));
    }
    // Unmanaged objects first, so that dependencies on them are read too.
    unmanaged::unmanaged(&tx, &mut catalog, &mut reader).await?;
    depends::depends(&tx, &mut catalog, &mut reader).await?;
    tx.commit().await?;
    Ok(catalog)
}

/// Casts between types, to judge what a column type change costs.
async fn casts(tx: &Transaction<'_>, cat: &mut Catalog) -> Result<()> {
    let sql = "SELECT pg_catalog.format_type(castsource, NULL), pg_catalog.format_type(casttarget, NULL), \
               castcontext::text, castmethod::text FROM pg_catalog.pg_cast";
    for row in tx.query(sql, &[]).await.context("reading casts")? {
        let context: String = row.get(2);
        let method: String = row.get(3);
        cat.casts.insert(
            (row.get(0), row.get(1)),
            Cast {
                context: context.chars().next().unwrap_or('e'),
                method: method.chars().next().unwrap_or('f'),
            },
        );
    }
    Ok(())
}

/// Names of volatile functions, to tell whether a column default forces a
/// table rewrite when the column is added.
async fn volatile_functions(tx: &Transaction<'_>, cat: &mut Catalog) -> Result<()> {
    let sql = "SELECT DISTINCT proname::text FROM pg_catalog.pg_proc WHERE provolatile = 'v'";
    for row in tx
        .query(sql, &[])
        .await
        .context("reading function volatility")?
    {
        cat.volatile_functions.insert(row.get(0));
    }
    Ok(())
}
