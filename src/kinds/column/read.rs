//! Reading columns from `pg_attribute`.

use std::sync::Arc;
use tokio_postgres::Row;

use super::*;

/// The columns of every table and view.
pub(super) fn query(version: i32) -> Option<String> {
    // PostgreSQL 18 names a NOT NULL constraint. One a column inherits
    // has its parent's name, and keeps it when the table leaves the
    // parent; it is compared only on a column that is not inherited.
    let (not_null, join) = if version >= 180000 {
        (
            "nn.conname::text, coalesce(NOT nn.convalidated, false), coalesce(nn.connoinherit, false)",
            "LEFT JOIN pg_catalog.pg_constraint nn ON nn.conrelid = a.attrelid AND nn.contype = 'n' \
               AND nn.conkey[1] = a.attnum ",
        )
    } else {
        ("NULL::text, false, false", "")
    };
    // A default cannot refer to columns, so it is printed without its
    // table (relid 0): that spares opening every table, which took as
    // long as the rest of this query at 10 000 tables.
    Some(format!(
        "SELECT a.attrelid, a.attnum, a.attname::text, \
           pg_catalog.format_type(a.atttypid, a.atttypmod), pg_catalog.format_type(a.atttypid, NULL), \
           {}, \
           CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, 0) \
                ELSE pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END, ad.oid, a.attnotnull, a.attidentity::text, \
           a.attgenerated::text, {comment}, \
           a.attinhcount > 0, a.attislocal, \
           CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END, \
           NULLIF(a.attcompression::text, ''), \
           CASE WHEN a.attstattarget >= 0 THEN a.attstattarget::int2 END, t.typstorage::text, \
           coalesce(a.attfdwoptions, '{{}}')::text[], {not_null}, coalesce(a.attoptions, '{{}}')::text[] \
         FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
         JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
         {join}WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped \
           AND {} \
         ORDER BY a.attrelid, a.attnum",
        collation_sql("a.attcollation", "t.typcollation"),
        in_user_schema("c.relnamespace"), comment = subobject_comment_sql("pg_class", "a.attrelid", "a.attnum")
    ))
}

/// Columns of tables; a view's columns are read for its comments and
/// stand for the view in dependencies.
/// Reads the rows of [`query`] into the tables and views of `cat`.
pub(super) fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
    for row in rows {
        let relid: u32 = row.get(0);
        let attnum: i16 = row.get(1);
        let name: String = row.get(2);
        match reader.owners.get(&relid).cloned() {
            Some(Owner::Table(table_name)) => {
                reader.insert_column(relid, attnum, ObjectId::column(&table_name, &name));
                if let Some(default_oid) = row.get::<_, Option<u32>>(7) {
                    let id = ObjectId::default_of(&table_name, &name);
                    reader.insert(Class::AttrDefault, default_oid, id);
                }
                let expr: Option<String> = row.get(6);
                // 's' stored, 'v' virtual (PostgreSQL 18).
                let kind = row.get::<_, String>(10);
                let generated = kind == "s" || kind == "v";
                let identity = identity::of(
                    &row.get::<_, String>(9),
                    reader.identities.get(&(relid, attnum)),
                );
                let not_null_constraint =
                    NotNull::read(&table_name, &name, row.get(19), row.get(20), row.get(21));
                let column = Column {
                    name,
                    data_type: row.get(3),
                    base_type: row.get(4),
                    collation: row.get(5),
                    default: if generated { None } else { expr.clone() },
                    not_null: row.get(8),
                    not_null_constraint,
                    identity,
                    generated: if generated { expr } else { None },
                    virtual_generated: kind == "v",
                    comment: row.get(11),
                    inherited: row.get(12),
                    local: row.get(13),
                    options: ColumnOptions {
                        storage: first_char(row.get(14)),
                        compression: first_char(row.get(15)),
                        statistics: row.get(16),
                        fdw: sorted_options(row.get(18)),
                        attributes: sorted_options(row.get(22)),
                    },
                    type_storage: first_char(row.get(17)).unwrap_or('x'),
                };
                if let Some(table) = cat.tables.get_mut(&table_name).map(Arc::make_mut) {
                    table.columns.push(column);
                }
            }
            Some(Owner::View(view_name)) => {
                let id = ObjectId::View {
                    name: view_name.clone(),
                };
                reader.insert_column(relid, attnum, id);
                if let Some(view) = cat.views.get_mut(&view_name) {
                    if let Some(comment) = row.get::<_, Option<String>>(11) {
                        view.column_comments.insert(name.clone(), comment);
                    }
                    if let Some(default) = row.get::<_, Option<String>>(6) {
                        view.column_defaults.insert(name.clone(), default);
                    }
                    view.columns.push(name);
                    let data_type: String = row.get(3);
                    view.column_types.push(match row.get::<_, Option<String>>(5) {
                        Some(collation) => format!("{data_type} COLLATE {collation}"),
                        None => data_type,
                    });
                }
            }
            None => {}
        }
    }
    Ok(())
}
