//! Objects of kinds stratum does not manage yet. They are listed so that the
//! user is told, never left to believe a diff covered them, and registered
//! with the reader so that dependencies on them are known (a plan must not
//! rely on them).

use std::sync::LazyLock;

use tokio_postgres::Row;

use crate::kinds::reader::{not_extension_member, Class, Reader, USER_SCHEMA};
use crate::kinds::{Catalog, ObjectId, Unmanaged};

/// Objects of unmanaged kinds, and unmanaged properties of managed ones.
pub(super) static SQL: LazyLock<String> = LazyLock::new(|| {
    let qual = "pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident";
    let rel_member = not_extension_member("pg_class", "c.oid");
    let type_member = not_extension_member("pg_type", "t.oid");
    let proc_member = not_extension_member("pg_proc", "p.oid");
    // Each branch: kind, name, and the catalog and oid of the object when it
    // is one (NULL for properties of managed objects, such as a tablespace).
    format!(
        "SELECT kind, name, class, oid, schema FROM ( \
         SELECT 'base type' AS kind, {qual}(t.typname) AS name, 'pg_type' AS class, t.oid AS oid, n.nspname::text AS schema \
           FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
           WHERE {USER_SCHEMA} AND {type_member} AND t.typtype = 'b' AND t.typcategory <> 'A' \
         UNION ALL \
         SELECT 'tablespace', {qual}(c.relname) || ' in ' || pg_catalog.quote_ident(ts.spcname), NULL, NULL, n.nspname::text \
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace \
           WHERE {USER_SCHEMA} AND {rel_member} AND c.relkind IN ('r', 'p', 'm', 'i', 'I') \
         UNION ALL \
         SELECT 'table access method', {qual}(c.relname) || ' using ' || pg_catalog.quote_ident(am.amname), NULL, NULL, n.nspname::text \
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           JOIN pg_catalog.pg_am am ON am.oid = c.relam \
           WHERE {USER_SCHEMA} AND {rel_member} AND c.relkind IN ('r', 'm') AND am.amname <> 'heap' \
         UNION ALL \
         SELECT 'window function', \
                {qual}(p.proname) || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')', 'pg_proc', p.oid, n.nspname::text \
           FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
           WHERE {USER_SCHEMA} AND {proc_member} AND p.prokind = 'w' \
         ) u ORDER BY kind, name",
    )
});

/// Reads the rows of [`SQL`], registering each object with `reader`.
pub(super) fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) {
    for row in rows {
        let object = Unmanaged {
            kind: row.get(0),
            name: row.get(1),
            schema: row.get(4),
        };
        let class = row
            .get::<_, Option<&str>>(2)
            .and_then(Class::from_catalog_name);
        if let (Some(class), Some(oid)) = (class, row.get::<_, Option<u32>>(3)) {
            reader.insert(
                class,
                oid,
                ObjectId::Unmanaged {
                    object: object.clone(),
                },
            );
        }
        cat.unmanaged.push(object);
    }
}
