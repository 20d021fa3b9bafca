//! Reads a [`Catalog`] from a database through `pg_catalog`.
//!
//! The same code reads the live database and the scratch database that holds
//! the desired SQL, so both sides carry PostgreSQL's own canonical text. It
//! runs a fixed number of set-based queries (one per kind, see `kinds`, then
//! casts, dependencies and unmanaged objects) in REPEATABLE READ, read-only
//! transactions with an empty `search_path`, so every name comes out
//! qualified and the cost does not grow with the number of round trips.
//!
//! The queries are spread over a few connections ([`connections`]) that
//! share one snapshot (`pg_export_snapshot` / `SET TRANSACTION SNAPSHOT`),
//! so the read is as consistent as one transaction's, and their rows are
//! read into the catalog in one fixed order as they arrive: the result does
//! not depend on how many connections there were.

mod depends;
mod fingerprint;
mod unmanaged;
mod waits;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use crate::catalog_cache::{CatalogCache, Key};
use crate::conninfo::{self, Target};
use crate::kinds::depends::DependsBuilder;
use crate::kinds::reader::{Class, Reader};
use crate::kinds::{self, Cast, Catalog};
use crate::sql::QualName;

/// Connections that the reads of one command share, those of both sides
/// together: `STRATUM_READ_CONNECTIONS`, else this machine's cores (at least
/// 2, at most 8). The catalog queries keep a server core busy each, so more
/// connections than cores only make them wait for each other (measured at
/// 10 000 tables on 2 cores: one database read in 4.1 s over 1 connection,
/// 3.2 s over 2, 3.3 s over 4; two at once in 4.8 s over 1 each, 5.3 s over
/// 2 each). 1 reads everything over one connection.
pub fn connections() -> usize {
    std::env::var("STRATUM_READ_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n >= 1)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(2, usize::from)
                .clamp(2, 8)
        })
}

/// Reads everything stratum manages from the database `target` names, over
/// up to `connections` connections. `live` says whether this is a user's
/// database (its row counts and sizes are worth reporting) or a scratch
/// load. With `cache`, a live database whose catalogs are as a read stored
/// there found them is not read again (see `fingerprint`); a full read is
/// stored there.
pub async fn introspect_target(
    target: &Target,
    live: bool,
    connections: usize,
    cache: Option<&CatalogCache>,
) -> Result<Catalog> {
    let main = conninfo::connect_target(target).await?;
    // Helpers that cannot connect (a server near max_connections) are
    // simply not used.
    let helpers: Vec<Client> =
        futures_util::future::join_all((1..connections).map(|_| conninfo::connect_target(target)))
            .await
            .into_iter()
            .filter_map(Result::ok)
            .collect();
    let work = read(&main, &helpers, live, cache.filter(|_| live));
    if !live {
        return work.await;
    }
    // A live database's read may wait behind another session's lock.
    let sessions: Vec<&Client> = std::iter::once(&main).chain(&helpers).collect();
    let pids = waits::pids(&sessions).await;
    waits::said(target, pids, work).await
}

/// Reads everything stratum manages over the one connection `client`.
pub async fn introspect(client: &Client, live: bool) -> Result<Catalog> {
    read(client, &[], live, None).await
}

/// Starts a read's transaction.
/// - JIT is off: its compilation took 100 to 300 ms per catalog query at
///   10 000 tables, several times what the queries themselves take.
/// - `work_mem` is raised so that sorting the columns does not spill to
///   disk (6 MB at 10 000 tables).
/// - The settings that change how constants print (in defaults, CHECKs,
///   partition bounds, view bodies) are fixed, so that two servers, or a
///   role with `ALTER ROLE ... SET DateStyle`, print the same constant the
///   same way: dates in ISO, timestamps with time zone in UTC, floats at
///   their shortest exact digits, money in the C locale.
const BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
                     SELECT pg_catalog.set_config('search_path', '', true), \
                            pg_catalog.set_config('jit', 'off', true), \
                            pg_catalog.set_config('work_mem', '64MB', true), \
                            pg_catalog.set_config('DateStyle', 'ISO, MDY', true), \
                            pg_catalog.set_config('IntervalStyle', 'postgres', true), \
                            pg_catalog.set_config('TimeZone', 'UTC', true), \
                            pg_catalog.set_config('extra_float_digits', '1', true), \
                            pg_catalog.set_config('bytea_output', 'hex', true), \
                            pg_catalog.set_config('lc_monetary', 'C', true), \
                            pg_catalog.set_config('quote_all_identifiers', 'off', true), \
                            pg_catalog.set_config('standard_conforming_strings', 'on', true)";

/// One catalog query and what its rows become.
enum Read {
    /// Query `i` of `kinds::queries`.
    Kind(usize),
    Casts,
    VolatileFunctions,
    Roles,
    Stats,
    Unmanaged,
    ExtensionMembers,
    Depends,
}

async fn read(
    main: &Client,
    helpers: &[Client],
    live: bool,
    cache: Option<&CatalogCache>,
) -> Result<Catalog> {
    main.batch_execute(BEGIN)
        .await
        .context("starting the introspection transaction")?;
    let head = format!(
        "SELECT pg_catalog.current_setting('server_version_num')::int, \
                pg_catalog.quote_ident(current_user), pg_catalog.version(), \
                pg_catalog.current_database()::text || ' ' \
                  || pg_catalog.pg_postmaster_start_time()::text || ' ' \
                  || pg_catalog.pg_conf_load_time()::text, {}",
        fingerprint::CATALOGS
    );
    let row = main.query_one(&head, &[]).await?;
    let mut catalog = Catalog {
        live,
        server_version: row.get(0),
        reader_role: row.get(1),
        ..Catalog::default()
    };
    let names: Vec<String> = row.get(4);
    let readable: Vec<bool> = row.get(5);
    let helpers = share_snapshot(main, helpers).await;
    let mut connections = vec![main];
    connections.extend(helpers.iter());

    // A live database whose catalogs are as a stored read found them.
    let mut store = None;
    let keyed = match cache {
        Some(cache) => {
            let mut key = Key::new(&format!("live read\0{}", row.get::<_, String>(2)));
            key.add(catalog.reader_role.as_bytes());
            key.add(row.get::<_, String>(3).as_bytes());
            fingerprint::add_state(&mut key, &connections, &names, &readable)
                .await?
                .then_some((cache, key))
        }
        None => None,
    };
    if let Some((cache, key)) = keyed {
        let lookup = cache.clone();
        let (key, hit) = tokio::task::spawn_blocking(move || lookup.get(key)).await?;
        if let Some(mut stored) = hit {
            let stats = main.query(STATS, &[]).await;
            end_reads(&connections).await?;
            read_stats(&stats.context("reading table statistics")?, &mut stored);
            return Ok(stored);
        }
        store = Some((cache.clone(), key));
    }
    let classes: depends::Classes = names
        .iter()
        .zip(row.get::<_, Vec<u32>>(6))
        .filter_map(|(name, oid)| Some((oid, Class::from_catalog_name(name)?)))
        .collect();

    let mut reads: Vec<(Read, &'static str, String)> = Vec::new();
    for (i, (what, sql)) in kinds::queries(catalog.server_version)
        .into_iter()
        .enumerate()
    {
        if let Some(sql) = sql {
            reads.push((Read::Kind(i), what, sql));
        }
    }
    let casts = "SELECT pg_catalog.format_type(castsource, NULL), pg_catalog.format_type(casttarget, NULL), \
                 castcontext::text, castmethod::text FROM pg_catalog.pg_cast";
    let volatile = "SELECT DISTINCT proname::text FROM pg_catalog.pg_proc WHERE provolatile = 'v'";
    let roles = "SELECT pg_catalog.quote_ident(rolname) FROM pg_catalog.pg_roles";
    reads.push((Read::Casts, "casts", casts.into()));
    reads.push((
        Read::VolatileFunctions,
        "function volatility",
        volatile.into(),
    ));
    reads.push((Read::Roles, "roles", roles.into()));
    if live {
        reads.push((Read::Stats, "table statistics", STATS.into()));
    }
    // Unmanaged objects before dependencies, so that dependencies on them
    // are known.
    reads.push((Read::Unmanaged, "unmanaged objects", unmanaged::SQL.clone()));
    reads.push((
        Read::ExtensionMembers,
        "extension members",
        depends::MEMBERS.into(),
    ));
    reads.push((Read::Depends, "dependencies", depends::DEPENDS.into()));

    let mut reader = Reader::default();
    let mut depends = DependsBuilder::default();
    let streamed = |i: usize| matches!(reads[i].0, Read::Depends);
    let batched = |i: usize| matches!(reads[i].0, Read::Kind(k) if kinds::reads_row_by_row(k));
    let fetched = fetch_in_order(&connections, &reads, streamed, batched, |i, rows| {
        let rows = match rows {
            Rows::All(rows) => rows,
            Rows::One(row) => {
                depends::read_row(&row, &classes, &mut depends, &reader);
                return Ok(());
            }
            Rows::Done => {
                // The last read: the reader's objects move into the catalog.
                let read = std::mem::take(&mut reader).into_ids();
                catalog.depends = std::mem::take(&mut depends).finish(read);
                return Ok(());
            }
        };
        let (read, _, _) = &reads[i];
        match read {
            Read::Kind(k) => kinds::read_kind(*k, &rows, &mut catalog, &mut reader),
            Read::Casts => {
                read_casts(&rows, &mut catalog);
                Ok(())
            }
            Read::VolatileFunctions => {
                for row in &rows {
                    catalog.volatile_functions.insert(row.get(0));
                }
                Ok(())
            }
            Read::Roles => {
                for row in &rows {
                    catalog.roles.insert(row.get(0));
                }
                Ok(())
            }
            Read::Stats => {
                read_stats(&rows, &mut catalog);
                Ok(())
            }
            Read::Unmanaged => {
                unmanaged::read(&rows, &mut catalog, &mut reader);
                Ok(())
            }
            Read::ExtensionMembers => {
                depends::read_members(&rows, &classes, &mut reader);
                Ok(())
            }
            // Streamed: read above.
            Read::Depends => Ok(()),
        }
    })
    .await;
    end_reads(&connections).await?;
    fetched?;
    if let Some((cache, key)) = store {
        // Off the async runtime: 55 MB of JSON at 10 000 tables.
        catalog = tokio::task::spawn_blocking(move || {
            cache.put(&key, &catalog);
            catalog
        })
        .await?;
    }
    Ok(catalog)
}

/// Ends the read's transactions. Read-only: COMMIT and ROLLBACK end them
/// alike, and ROLLBACK also ends an aborted one, leaving the connections
/// ready for their callers.
async fn end_reads(connections: &[&Client]) -> Result<()> {
    for client in connections {
        client.batch_execute("ROLLBACK").await?;
    }
    Ok(())
}

/// Row estimates and sizes on disk of the tables, read on every read of a
/// live database, cached or not: VACUUM and ANALYZE update them in place,
/// which the catalogs' state (`fingerprint`) does not show.
///
/// Sizes include indexes and TOAST and are estimated as the row counts
/// are: from the pages VACUUM, ANALYZE and CREATE INDEX count
/// (`relpages`). A table never vacuumed nor analyzed has no such count:
/// its size is left unknown (NULL) here and measured on disk by
/// [`measure`] only if a plan's hazard names it, as `pg_total_relation_size`
/// takes a dozen file system calls per table (at 10 000 such tables, 0.7 s
/// of the server's time for each side).
const STATS: &str = "SELECT n.nspname::text, c.relname::text, c.reltuples::float8, \
      CASE WHEN c.reltuples >= 0 \
           THEN (c.relpages::int8 + coalesce(tc.relpages, 0) \
                 + coalesce((SELECT sum(ic.relpages) FROM pg_catalog.pg_index i \
                             JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
                             WHERE i.indrelid = c.oid), 0)) \
                * pg_catalog.current_setting('block_size')::int8 END \
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
    LEFT JOIN pg_catalog.pg_class tc ON tc.oid = c.reltoastrelid \
    WHERE c.relkind IN ('r', 'p', 'f')";

/// Reads the rows of [`STATS`] into the tables of `catalog`.
fn read_stats(rows: &[Row], catalog: &mut Catalog) {
    for row in rows {
        let name = QualName::new(row.get::<_, String>(0), row.get::<_, String>(1));
        if let Some(table) = catalog.tables.get_mut(&name).map(Arc::make_mut) {
            table.rows = row.get(2);
            table.bytes = row.get::<_, Option<i64>>(3).unwrap_or(-1);
        }
    }
}

/// Measures on disk the tables of `tables` whose size `catalog` (read over
/// `client`) does not know: [`STATS`] leaves it unknown for a table never
/// vacuumed nor analyzed.
pub async fn measure(client: &Client, catalog: &mut Catalog, tables: &[QualName]) -> Result<()> {
    let unknown: Vec<&QualName> = tables
        .iter()
        .filter(|t| catalog.tables.get(*t).is_some_and(|t| t.bytes < 0))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = unknown.iter().map(|t| t.to_string()).collect();
    let rows = client
        .query(
            "SELECT i::int4, pg_catalog.pg_total_relation_size(pg_catalog.to_regclass(n)) \
             FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS u (n, i)",
            &[&names],
        )
        .await
        .context("measuring table sizes")?;
    for row in rows {
        let Some(name) = usize::try_from(row.get::<_, i32>(0) - 1)
            .ok()
            .and_then(|i| unknown.get(i))
        else {
            continue;
        };
        if let Some(table) = catalog.tables.get_mut(*name).map(Arc::make_mut) {
            // NULL: dropped since it was read.
            table.bytes = row.get::<_, Option<i64>>(1).unwrap_or(0);
        }
    }
    Ok(())
}

/// Makes the helpers read the snapshot of `main`'s transaction, and returns
/// those that do. A server (or a proxy in front of one) that refuses to
/// export snapshots is read over `main` alone.
async fn share_snapshot<'a>(main: &Client, helpers: &'a [Client]) -> Vec<&'a Client> {
    if helpers.is_empty() {
        return Vec::new();
    }
    // A failed export aborts the transaction, which then starts again.
    let snapshot: Option<String> = match main
        .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
        .await
    {
        Ok(row) => Some(row.get(0)),
        Err(_) => None,
    };
    let Some(snapshot) = snapshot else {
        let _ = main.batch_execute(&format!("ROLLBACK; {BEGIN}")).await;
        return Vec::new();
    };
    let import = BEGIN.replacen(
        "READ ONLY;",
        &format!(
            "READ ONLY; SET TRANSACTION SNAPSHOT {};",
            crate::sql::literal(&snapshot)
        ),
        1,
    );
    let imported =
        futures_util::future::join_all(helpers.iter().map(|h| h.batch_execute(&import))).await;
    helpers
        .iter()
        .zip(imported)
        .filter_map(|(h, r)| r.is_ok().then_some(h))
        .collect()
}

/// The rows a query that reads row by row is given at a time.
const BATCH: usize = 1000;

/// Rows of one query, as [`fetch_in_order`] hands them over.
enum Rows {
    /// All of them, for a query whose rows are read together; or the next
    /// batch of them, for a query `batched` names.
    All(Vec<Row>),
    /// One, for a query whose rows are read one at a time as they arrive.
    One(Row),
    /// The end of such a query.
    Done,
}

/// Runs `reads` over `connections` (each takes the next query not yet
/// taken), and hands each query's rows to `take` in the order of `reads`,
/// as soon as they and all before them have arrived: all at once, or, for
/// the queries `streamed` names, a row at a time, and for those `batched`
/// names, in batches of [`BATCH`] rows, so that they are never held all
/// together (the dependencies: a few hundred thousand rows at
/// 10 000 tables). An error stops the read: the first in `reads` order is
/// returned, named after its query.
async fn fetch_in_order(
    connections: &[&Client],
    reads: &[(Read, &'static str, String)],
    streamed: impl Fn(usize) -> bool,
    batched: impl Fn(usize) -> bool,
    mut take: impl FnMut(usize, Rows) -> Result<()>,
) -> Result<()> {
    // A row or an error, then None at the end of the query.
    type Sent = Option<std::result::Result<Row, tokio_postgres::Error>>;
    // Bounded: a server sends rows faster than they are read, and rows
    // waiting in an unbounded channel were a third of the peak memory at
    // 10 000 tables. A connection whose query's turn has not come waits
    // once its channel is full; the query whose turn it is always has a
    // connection free to fetch it (queries are taken in order), so the
    // read cannot stall.
    let (senders, receivers): (Vec<_>, Vec<_>) = reads
        .iter()
        .map(|_| mpsc::channel::<Sent>(2 * BATCH))
        .unzip();
    let next = AtomicUsize::new(0);
    let workers = connections.iter().map(|client| {
        let (senders, next) = (&senders, &next);
        async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((_, _, sql)) = reads.get(i) else {
                    return Ok::<(), anyhow::Error>(());
                };
                let sender = &senders[i];
                let failed = match client
                    .query_raw(sql.as_str(), std::iter::empty::<&(dyn ToSql + Sync)>())
                    .await
                {
                    Ok(stream) => {
                        let mut stream = std::pin::pin!(stream);
                        let mut failed = false;
                        while let Some(row) = stream.next().await {
                            failed = row.is_err();
                            let _ = sender.send(Some(row)).await;
                            if failed {
                                break;
                            }
                        }
                        failed
                    }
                    Err(e) => {
                        let _ = sender.send(Some(Err(e))).await;
                        true
                    }
                };
                let _ = sender.send(None).await;
                if failed {
                    // The transaction is aborted: this connection is done.
                    return Ok(());
                }
            }
        }
    });
    let consume = async {
        for (i, mut receiver) in receivers.into_iter().enumerate() {
            let what = reads[i].1;
            let mut all = Vec::new();
            loop {
                let row = match receiver.recv().await {
                    Some(Some(row)) => row.with_context(|| format!("reading {what}"))?,
                    Some(None) => break,
                    None => bail!("reading {what}: the connection failed"),
                };
                if streamed(i) {
                    take(i, Rows::One(row))?;
                } else {
                    all.push(row);
                    if all.len() == BATCH && batched(i) {
                        take(i, Rows::All(std::mem::take(&mut all)))?;
                    }
                }
            }
            take(
                i,
                if streamed(i) {
                    Rows::Done
                } else {
                    Rows::All(all)
                },
            )?;
        }
        Ok::<(), anyhow::Error>(())
    };
    let workers = futures_util::future::try_join_all(workers);
    tokio::try_join!(workers, consume)?;
    Ok(())
}

/// Casts between types, to judge what a column type change costs.
fn read_casts(rows: &[Row], cat: &mut Catalog) {
    for row in rows {
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
}
