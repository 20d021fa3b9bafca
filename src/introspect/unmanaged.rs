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
    let opclass_member = not_extension_member("pg_opclass", "o.oid");
    let opfamily_member = not_extension_member("pg_opfamily", "f.oid");
    let conversion_member = not_extension_member("pg_conversion", "v.oid");
    let language_member = not_extension_member("pg_language", "l.oid");
    let transform_member = not_extension_member("pg_transform", "t.oid");
    let am_member = not_extension_member("pg_am", "am.oid");
    let fdw_member = not_extension_member("pg_foreign_data_wrapper", "w.oid");
    let server_member = not_extension_member("pg_foreign_server", "s.oid");
    let parser_member = not_extension_member("pg_ts_parser", "tp.oid");
    let template_member = not_extension_member("pg_ts_template", "tt.oid");
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
         UNION ALL \
         SELECT 'operator class', {qual}(o.opcname) || ' using ' || pg_catalog.quote_ident(am.amname), 'pg_opclass', o.oid, n.nspname::text \
           FROM pg_catalog.pg_opclass o JOIN pg_catalog.pg_namespace n ON n.oid = o.opcnamespace \
           JOIN pg_catalog.pg_am am ON am.oid = o.opcmethod \
           WHERE {USER_SCHEMA} AND {opclass_member} \
         UNION ALL \
         SELECT 'operator family', {qual}(f.opfname) || ' using ' || pg_catalog.quote_ident(am.amname), 'pg_opfamily', f.oid, n.nspname::text \
           FROM pg_catalog.pg_opfamily f JOIN pg_catalog.pg_namespace n ON n.oid = f.opfnamespace \
           JOIN pg_catalog.pg_am am ON am.oid = f.opfmethod \
           WHERE {USER_SCHEMA} AND {opfamily_member} \
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_opclass o WHERE o.opcfamily = f.oid \
                             AND o.opcname = f.opfname AND o.opcnamespace = f.opfnamespace) \
         UNION ALL \
         SELECT 'conversion', {qual}(v.conname), 'pg_conversion', v.oid, n.nspname::text \
           FROM pg_catalog.pg_conversion v JOIN pg_catalog.pg_namespace n ON n.oid = v.connamespace \
           WHERE {USER_SCHEMA} AND {conversion_member} \
         UNION ALL \
         SELECT 'procedural language', pg_catalog.quote_ident(l.lanname), 'pg_language', l.oid, NULL \
           FROM pg_catalog.pg_language l WHERE l.lanispl AND {language_member} \
         UNION ALL \
         SELECT 'transform', pg_catalog.format_type(t.trftype, NULL) || ' for ' || pg_catalog.quote_ident(l.lanname), \
                'pg_transform', t.oid, NULL \
           FROM pg_catalog.pg_transform t JOIN pg_catalog.pg_language l ON l.oid = t.trflang \
           WHERE {transform_member} \
         UNION ALL \
         SELECT 'access method', pg_catalog.quote_ident(am.amname), 'pg_am', am.oid, NULL \
           FROM pg_catalog.pg_am am WHERE am.oid >= 16384 AND {am_member} \
         UNION ALL \
         SELECT 'publication owner', pg_catalog.quote_ident(p.pubname) || ' owned by ' || \
                pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(p.pubowner)), NULL, NULL, NULL \
           FROM pg_catalog.pg_publication p WHERE p.pubowner <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user) \
         UNION ALL \
         SELECT 'grants on a foreign data wrapper', pg_catalog.quote_ident(w.fdwname), NULL, NULL, NULL \
           FROM pg_catalog.pg_foreign_data_wrapper w WHERE w.fdwacl IS NOT NULL AND {fdw_member} \
         UNION ALL \
         SELECT 'grants on a foreign server', pg_catalog.quote_ident(s.srvname), NULL, NULL, NULL \
           FROM pg_catalog.pg_foreign_server s WHERE s.srvacl IS NOT NULL AND {server_member} \
         UNION ALL \
         SELECT 'grants on an identity sequence', {qual}(c.relname), NULL, NULL, n.nspname::text \
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           WHERE {USER_SCHEMA} AND c.relkind = 'S' AND c.relacl IS NOT NULL \
             AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                         AND d.objid = c.oid AND d.deptype = 'i') \
         UNION ALL \
         SELECT 'text search parser', {qual}(tp.prsname), NULL, NULL, n.nspname::text \
           FROM pg_catalog.pg_ts_parser tp JOIN pg_catalog.pg_namespace n ON n.oid = tp.prsnamespace \
           WHERE {USER_SCHEMA} AND {parser_member} \
         UNION ALL \
         SELECT 'text search template', {qual}(tt.tmplname), NULL, NULL, n.nspname::text \
           FROM pg_catalog.pg_ts_template tt JOIN pg_catalog.pg_namespace n ON n.oid = tt.tmplnamespace \
           WHERE {USER_SCHEMA} AND {template_member} \
         UNION ALL \
         SELECT 'security label', sl.provider || ': ' || sl.label, NULL, NULL, NULL FROM pg_catalog.pg_seclabel sl \
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
