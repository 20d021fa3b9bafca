//! A key for what a live database's catalogs hold, so that a read of a
//! database whose catalogs have not changed since the last read comes from
//! the catalog cache.
//!
//! Every row version in PostgreSQL has a place (`ctid`) and the transaction
//! that wrote it (`xmin`); DDL, GRANT, COMMENT and the like insert, update
//! or delete catalog rows, and each of those gives a row a new `ctid` and
//! `xmin` or takes one away. The key hashes, per system catalog, the count
//! of its rows and the XOR of a hash of each row's (`ctid`, `xmin`), read in
//! the snapshot of the read itself. It is read from the rows' headers, not
//! their contents: at 10 000 tables, about 100 ms of the server's time
//! against 3 s for a full read.
//!
//! What the key does not see, and why that is safe:
//! - Fields that PostgreSQL updates in place (row estimates, page counts,
//!   frozen transaction ids): stratum reads the estimates and sizes again
//!   on every read ([`super::STATS`]); `pg_index`'s state flags, which
//!   some versions set in place, are hashed with the row.
//! - Catalogs written by ANALYZE, holding data or about subscriptions
//!   (`pg_statistic`, large objects, `pg_subscription`): stratum reads
//!   none of them.
//! - Catalogs the reader may not read: `pg_authid` and `pg_user_mapping`
//!   are hashed through the views stratum reads them by (`pg_roles`,
//!   `pg_user_mappings`); any other one makes the read uncached, as
//!   PostgreSQL's own functions read it whatever the reader may.
//! - Settings that change how constants print are fixed by the read's
//!   transaction; the server's version, when it last loaded its
//!   configuration, and the reading role are part of the key.
//!
//! A row version's (`ctid`, `xmin`) names it only within one server's
//! history: two clusters copied from one data directory can give the same
//! transaction ids and row places to different DDL. So the key holds the
//! server's start time as well (with the database's name): a restarted
//! server is read afresh once.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::catalog_cache::Key;
use crate::sql::{ident, literal};

/// Catalogs left out of the key: written by ANALYZE, holding data, or
/// about logical replication subscriptions (which ordinary roles may not
/// read); stratum reads none of them, and no function it calls prints
/// from them.
const LEFT_OUT: &[&str] = &[
    "pg_statistic",
    "pg_statistic_ext_data",
    "pg_largeobject",
    "pg_largeobject_metadata",
    "pg_subscription",
    "pg_subscription_rel",
    "pg_replication_origin",
];

/// Views through which stratum reads catalogs that ordinary roles may not
/// read: for such a reader, the view's rows stand for the catalog's.
const VIEWS: &[(&str, &str)] = &[
    ("pg_authid", "pg_roles"),
    ("pg_user_mapping", "pg_user_mappings"),
];

/// The part of the read's first query that lists the system catalogs, as
/// three arrays: names, readability and oids, in name order.
pub(super) const CATALOGS: &str = "\
    ARRAY(SELECT c.relname::text FROM pg_catalog.pg_class c \
          WHERE c.relnamespace = 'pg_catalog'::pg_catalog.regnamespace AND c.relkind = 'r' \
          ORDER BY c.relname), \
    ARRAY(SELECT pg_catalog.has_table_privilege(c.oid, 'SELECT') FROM pg_catalog.pg_class c \
          WHERE c.relnamespace = 'pg_catalog'::pg_catalog.regnamespace AND c.relkind = 'r' \
          ORDER BY c.relname), \
    ARRAY(SELECT c.oid FROM pg_catalog.pg_class c \
          WHERE c.relnamespace = 'pg_catalog'::pg_catalog.regnamespace AND c.relkind = 'r' \
          ORDER BY c.relname)";

/// How catalog `name` (which the reader may read, or not) enters the key.
enum Hash {
    /// Left out ([`LEFT_OUT`]).
    LeftOut,
    /// By this query.
    By(String),
    /// It cannot be: the reader may not read it, and it has no view in
    /// [`VIEWS`]. PostgreSQL's own functions (`pg_get_functiondef`,
    /// `format_type`) read every catalog whatever the reader may, so such
    /// a read is not cached.
    Unknown,
}

fn hash(name: &str, readable: bool) -> Hash {
    if LEFT_OUT.contains(&name) {
        return Hash::LeftOut;
    }
    let hashed = |row: &str, from: &str| {
        Hash::By(format!(
            "SELECT {}, count(*), \
               coalesce(pg_catalog.bit_xor(pg_catalog.hashtextextended({row}, 0)), 0) \
             FROM pg_catalog.{} x",
            literal(name),
            ident(from)
        ))
    };
    if readable {
        let row = match name {
            // Flags that some versions set in place while an index is built.
            "pg_index" => "ctid::text || xmin::text || indisvalid || indisready || indislive",
            _ => "ctid::text || xmin::text",
        };
        return hashed(row, name);
    }
    match VIEWS.iter().find(|(catalog, _)| *catalog == name) {
        Some((_, view)) => hashed("x::text", view),
        None => Hash::Unknown,
    }
}

/// Adds to `key` the state of the system catalogs `names` (which the
/// reader may read where `readable` says so, as [`CATALOGS`] lists them),
/// read over `connections` (which share one snapshot): each reads a share
/// of the catalogs. False, with nothing read, when the state cannot be
/// known (see [`Hash::Unknown`]).
pub(super) async fn add_state(
    key: &mut Key,
    connections: &[&Client],
    names: &[String],
    readable: &[bool],
) -> Result<bool> {
    let mut queries: Vec<String> = Vec::new();
    for (name, readable) in names.iter().zip(readable) {
        match hash(name, *readable) {
            Hash::LeftOut => {}
            Hash::By(sql) => queries.push(sql),
            Hash::Unknown => return Ok(false),
        }
    }
    let share = queries.len().div_ceil(connections.len().max(1)).max(1);
    let unions: Vec<String> = queries
        .chunks(share)
        .map(|c| c.join(" UNION ALL "))
        .collect();
    let rows = futures_util::future::try_join_all(
        unions
            .iter()
            .zip(connections)
            .map(|(sql, client)| client.query(sql.as_str(), &[])),
    )
    .await
    .context("reading the state of the catalogs, for the read cache (STRATUM_CACHE=off reads without it)")?;
    let mut states: Vec<(String, i64, i64)> = rows
        .into_iter()
        .flatten()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    states.sort();
    for (name, count, hash) in states {
        key.add(name.as_bytes());
        key.add(&count.to_le_bytes());
        key.add(&hash.to_le_bytes());
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(name: &str, readable: bool) -> String {
        match hash(name, readable) {
            Hash::By(sql) => sql,
            Hash::LeftOut => panic!("{name} left out"),
            Hash::Unknown => panic!("{name} unknown"),
        }
    }

    #[test]
    fn catalogs_are_hashed_by_row_version_through_a_view_or_not_at_all() {
        assert!(matches!(hash("pg_statistic", true), Hash::LeftOut));
        assert!(matches!(hash("pg_subscription", false), Hash::LeftOut));
        let class = sql("pg_class", true);
        assert!(
            class.contains("hashtextextended(ctid::text || xmin::text, 0)")
                && class.contains("FROM pg_catalog.pg_class x"),
            "{class}"
        );
        // Flags some versions set in place are hashed with their row.
        assert!(sql("pg_index", true).contains("indisvalid"));
        // A reader without pg_authid hashes the rows pg_roles shows.
        let roles = sql("pg_authid", false);
        assert!(
            roles.contains("FROM pg_catalog.pg_roles x") && roles.contains("(x::text, 0)"),
            "{roles}"
        );
        assert!(matches!(hash("pg_language", false), Hash::Unknown));
        // Names are quoted, whatever a catalog is called.
        let odd = sql("Odd\"name", true);
        assert!(
            odd.contains("SELECT 'Odd\"name'") && odd.contains("FROM pg_catalog.\"Odd\"\"name\" x"),
            "{odd}"
        );
    }
}
