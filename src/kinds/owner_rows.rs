//! The owner rows each kind gives the owners query ([`super::Kind::owners`]):
//! SQL fragments over a catalog's owner column, apart from `ownership`
//! (which compares owners, and knows which tables a plan keeps) so that the
//! kinds that use them depend on nothing else of it.

use super::reader::USER_SCHEMA;

/// The owners of the rows of `catalog` (aliased `o`) in user schemas, for
/// [`super::Kind::owners`]: `keyword` is the SQL expression of their ALTER
/// keyword, `owner` and `namespace` their columns, `filter` more of the
/// WHERE clause (or nothing).
pub(crate) fn in_schema(
    catalog: &str,
    keyword: &str,
    owner: &str,
    namespace: &str,
    filter: &str,
) -> String {
    let and = if filter.is_empty() {
        String::new()
    } else {
        format!(" AND {filter}")
    };
    format!(
        "SELECT '{catalog}' AS cls, o.oid, {keyword} AS keyword, o.{owner} AS owner \
         FROM pg_catalog.{catalog} o JOIN pg_catalog.pg_namespace n ON n.oid = o.{namespace} \
         WHERE {USER_SCHEMA}{and}"
    )
}

/// The owners of every row of `catalog`, which lives outside schemas.
pub(crate) fn global(catalog: &str, keyword: &str, owner: &str) -> String {
    format!("SELECT '{catalog}' AS cls, o.oid, '{keyword}' AS keyword, o.{owner} AS owner FROM pg_catalog.{catalog} o")
}

/// Only composite types made by CREATE TYPE, not the row types of tables.
pub(crate) const STANDALONE_TYPE: &str =
    "(o.typrelid = 0 OR (SELECT relkind FROM pg_catalog.pg_class WHERE oid = o.typrelid) = 'c')";
