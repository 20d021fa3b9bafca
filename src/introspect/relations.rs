//! Tables, views and materialized views with their columns, constraints,
//! indexes and triggers.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use tokio_postgres::Transaction;

use super::objects::{identity, Identities};
use super::{not_extension_member, Class, OidMap, USER_SCHEMA};
use crate::catalog::{
    Catalog, Column, Constraint, ConstraintKind, Index, ObjectId, QualName, Table, Trigger, View,
};

/// Where a relation oid landed in the catalog.
enum Owner {
    Table(QualName),
    View(QualName),
}

pub(super) async fn relations(
    tx: &Transaction<'_>,
    cat: &mut Catalog,
    oids: &mut OidMap,
    identities: &Identities,
) -> Result<()> {
    let owners = tables_and_views(tx, cat, oids).await?;
    columns(tx, cat, oids, &owners, identities).await?;
    constraints(tx, cat, oids, &owners).await?;
    indexes(tx, cat, oids, &owners).await?;
    triggers(tx, cat, oids, &owners).await
}

async fn tables_and_views(
    tx: &Transaction<'_>,
    cat: &mut Catalog,
    oids: &mut OidMap,
) -> Result<HashMap<u32, Owner>> {
    // Partitioned tables, partitions and inheritance are not managed yet; they
    // are reported by `unmanaged` and left out here.
    let sql = format!(
        "SELECT c.oid, c.reltype, n.nspname::text, c.relname::text, c.relkind::text, \
           pg_catalog.obj_description(c.oid, 'pg_class'), c.reltuples::float8, \
           pg_catalog.pg_total_relation_size(c.oid), \
           CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END, \
           coalesce(c.reloptions, '{{}}')::text[], \
           (SELECT r.oid FROM pg_catalog.pg_rewrite r WHERE r.ev_class = c.oid AND r.rulename = '_RETURN'), \
           c.relpersistence = 'u' \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'v', 'm') AND NOT c.relispartition AND {USER_SCHEMA} AND {} \
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid)",
        not_extension_member("pg_class", "c.oid")
    );
    let mut owners = HashMap::new();
    for row in tx
        .query(&sql, &[])
        .await
        .context("reading tables and views")?
    {
        let oid: u32 = row.get(0);
        let name = QualName::new(row.get::<_, String>(2), row.get::<_, String>(3));
        let kind: String = row.get(4);
        if kind == "r" {
            let id = ObjectId::Table { name: name.clone() };
            oids.insert(Class::Relation, oid, id.clone());
            oids.insert(Class::Type, row.get(1), id);
            owners.insert(oid, Owner::Table(name.clone()));
            cat.tables.insert(
                name.clone(),
                Table {
                    name,
                    columns: Vec::new(),
                    constraints: BTreeMap::new(),
                    indexes: BTreeMap::new(),
                    triggers: BTreeMap::new(),
                    unlogged: row.get(11),
                    comment: row.get(5),
                    rows: row.get(6),
                    bytes: row.get(7),
                },
            );
        } else {
            let id = ObjectId::View { name: name.clone() };
            oids.insert(Class::Relation, oid, id.clone());
            oids.insert(Class::Type, row.get(1), id.clone());
            if let Some(rule) = row.get::<_, Option<u32>>(10) {
                oids.insert(Class::Rewrite, rule, id);
            }
            owners.insert(oid, Owner::View(name.clone()));
            cat.views.insert(
                name.clone(),
                View {
                    name,
                    materialized: kind == "m",
                    query: row.get(8),
                    options: row.get(9),
                    columns: Vec::new(),
                    indexes: BTreeMap::new(),
                    comment: row.get(5),
                    column_comments: BTreeMap::new(),
                },
            );
        }
    }
    Ok(owners)
}

async fn columns(
    tx: &Transaction<'_>,
    cat: &mut Catalog,
    oids: &mut OidMap,
    owners: &HashMap<u32, Owner>,
    identities: &Identities,
) -> Result<()> {
    let sql = "SELECT a.attrelid, a.attnum, a.attname::text, \
           pg_catalog.format_type(a.atttypid, a.atttypmod), pg_catalog.format_type(a.atttypid, NULL), \
           CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN \
             (SELECT CASE WHEN cn.nspname = 'pg_catalog' THEN pg_catalog.quote_ident(co.collname) \
                     ELSE pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) END \
              FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
              WHERE co.oid = a.attcollation) END, \
           pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), ad.oid, a.attnotnull, a.attidentity::text, \
           a.attgenerated::text, pg_catalog.col_description(a.attrelid, a.attnum) \
         FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
         JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
         WHERE c.relkind IN ('r', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attrelid, a.attnum";
    for row in tx.query(sql, &[]).await.context("reading columns")? {
        let relid: u32 = row.get(0);
        let attnum: i16 = row.get(1);
        let name: String = row.get(2);
        match owners.get(&relid) {
            Some(Owner::Table(table_name)) => {
                let column_id = ObjectId::Column {
                    table: table_name.clone(),
                    column: name.clone(),
                };
                oids.columns.insert((relid, attnum), column_id);
                let expr: Option<String> = row.get(6);
                if let Some(default_oid) = row.get::<_, Option<u32>>(7) {
                    let default_id = ObjectId::Default {
                        table: table_name.clone(),
                        column: name.clone(),
                    };
                    oids.insert(Class::AttrDefault, default_oid, default_id);
                }
                let generated = row.get::<_, String>(10) == "s";
                let column = Column {
                    name,
                    data_type: row.get(3),
                    base_type: row.get(4),
                    collation: row.get(5),
                    default: if generated { None } else { expr.clone() },
                    not_null: row.get(8),
                    identity: identity(&row.get::<_, String>(9), identities.get(&(relid, attnum))),
                    generated: if generated { expr } else { None },
                    comment: row.get(11),
                };
                if let Some(table) = cat.tables.get_mut(table_name) {
                    table.columns.push(column);
                }
            }
            Some(Owner::View(view_name)) => {
                let view_id = ObjectId::View {
                    name: view_name.clone(),
                };
                oids.columns.insert((relid, attnum), view_id);
                if let Some(view) = cat.views.get_mut(view_name) {
                    if let Some(comment) = row.get::<_, Option<String>>(11) {
                        view.column_comments.insert(name.clone(), comment);
                    }
                    view.columns.push(name);
                }
            }
            None => {}
        }
    }
    Ok(())
}

async fn constraints(
    tx: &Transaction<'_>,
    cat: &mut Catalog,
    oids: &mut OidMap,
    owners: &HashMap<u32, Owner>,
) -> Result<()> {
    // NOT NULL constraints (contype 'n', PostgreSQL 18) are read from
    // attnotnull; constraint triggers ('t') are triggers.
    let sql = "SELECT co.oid, co.conrelid, co.conname::text, co.contype::text, \
           pg_catalog.pg_get_constraintdef(co.oid), co.convalidated, co.conindid, \
           ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(co.conkey) k(n) \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.n), \
           pg_catalog.obj_description(co.oid, 'pg_constraint') \
         FROM pg_catalog.pg_constraint co \
         WHERE co.conrelid <> 0 AND co.contype IN ('p', 'u', 'c', 'f', 'x')";
    for row in tx.query(sql, &[]).await.context("reading constraints")? {
        let Some(Owner::Table(table_name)) = owners.get(&row.get::<_, u32>(1)) else {
            continue;
        };
        let name: String = row.get(2);
        let kind = match row.get::<_, String>(3).as_str() {
            "p" => ConstraintKind::PrimaryKey,
            "u" => ConstraintKind::Unique,
            "c" => ConstraintKind::Check,
            "f" => ConstraintKind::ForeignKey,
            _ => ConstraintKind::Exclusion,
        };
        let id = ObjectId::Constraint {
            table: table_name.clone(),
            name: name.clone(),
        };
        oids.insert(Class::Constraint, row.get(0), id.clone());
        if kind != ConstraintKind::ForeignKey && kind != ConstraintKind::Check {
            // The index that implements the constraint stands for it.
            oids.insert(Class::Relation, row.get(6), id);
        }
        let definition: String = row.get(4);
        let definition = definition
            .strip_suffix(" NOT VALID")
            .map(str::to_string)
            .unwrap_or(definition);
        if let Some(table) = cat.tables.get_mut(table_name) {
            table.constraints.insert(
                name.clone(),
                Constraint {
                    name,
                    kind,
                    definition,
                    validated: row.get(5),
                    columns: row.get(7),
                    comment: row.get(8),
                },
            );
        }
    }
    Ok(())
}

async fn indexes(
    tx: &Transaction<'_>,
    cat: &mut Catalog,
    oids: &mut OidMap,
    owners: &HashMap<u32, Owner>,
) -> Result<()> {
    let sql = "SELECT i.indexrelid, i.indrelid, ic.relname::text, pg_catalog.pg_get_indexdef(i.indexrelid), \
           pg_catalog.obj_description(i.indexrelid, 'pg_class') \
         FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint co WHERE co.conindid = i.indexrelid \
                           AND co.conrelid = i.indrelid AND co.contype IN ('p', 'u', 'x'))";
    for row in tx.query(sql, &[]).await.context("reading indexes")? {
        let (schema, indexes) = match owners.get(&row.get::<_, u32>(1)) {
            Some(Owner::Table(name)) => match cat.tables.get_mut(name) {
                Some(table) => (&name.schema, &mut table.indexes),
                None => continue,
            },
            Some(Owner::View(name)) => match cat.views.get_mut(name) {
                Some(view) => (&name.schema, &mut view.indexes),
                None => continue,
            },
            None => continue,
        };
        let name = QualName::new(schema.clone(), row.get::<_, String>(2));
        oids.insert(
            Class::Relation,
            row.get(0),
            ObjectId::Index { name: name.clone() },
        );
        indexes.insert(
            name.name.clone(),
            Index {
                name,
                definition: row.get(3),
                comment: row.get(4),
            },
        );
    }
    Ok(())
}

async fn triggers(
    tx: &Transaction<'_>,
    cat: &mut Catalog,
    oids: &mut OidMap,
    owners: &HashMap<u32, Owner>,
) -> Result<()> {
    let sql = "SELECT t.oid, t.tgrelid, t.tgname::text, pg_catalog.pg_get_triggerdef(t.oid), \
           pg_catalog.obj_description(t.oid, 'pg_trigger') \
         FROM pg_catalog.pg_trigger t WHERE NOT t.tgisinternal";
    for row in tx.query(sql, &[]).await.context("reading triggers")? {
        let Some(Owner::Table(table_name)) = owners.get(&row.get::<_, u32>(1)) else {
            continue;
        };
        let name: String = row.get(2);
        oids.insert(
            Class::Trigger,
            row.get(0),
            ObjectId::Trigger {
                table: table_name.clone(),
                name: name.clone(),
            },
        );
        if let Some(table) = cat.tables.get_mut(table_name) {
            table.triggers.insert(
                name.clone(),
                Trigger {
                    name,
                    definition: row.get(3),
                    comment: row.get(4),
                },
            );
        }
    }
    Ok(())
}
