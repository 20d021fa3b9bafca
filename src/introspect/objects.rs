//! Schemas, extensions, enum types, sequences, routines and casts.

use std::collections::HashMap;

use anyhow::{Context, Result};
use tokio_postgres::Transaction;

use super::{not_extension_member, Class, OidMap, USER_SCHEMA};
use crate::catalog::{
    Cast, Catalog, EnumType, Extension, Function, Identity, ObjectId, QualName, RoutineId, Schema,
    Sequence, SequenceOptions,
};

/// Identity sequences by the (table oid, attnum) of the column they serve.
pub(super) type Identities = HashMap<(u32, i16), SequenceOptions>;

pub(super) async fn schemas(
    tx: &Transaction<'_>,
    cat: &mut Catalog,
    oids: &mut OidMap,
) -> Result<()> {
    let sql = format!(
        "SELECT n.oid, n.nspname::text, pg_catalog.obj_description(n.oid, 'pg_namespace') \
         FROM pg_catalog.pg_namespace n WHERE {USER_SCHEMA} AND {}",
        not_extension_member("pg_namespace", "n.oid")
    );
    for row in tx.query(&sql, &[]).await.context("reading schemas")? {
        let name: String = row.get(1);
        oids.insert(
            Class::Namespace,
            row.get(0),
            ObjectId::Schema { name: name.clone() },
        );
        let comment = row.get(2);
        cat.schemas.insert(name.clone(), Schema { name, comment });
    }
    Ok(())
}

pub(super) async fn extensions(
    tx: &Transaction<'_>,
    cat: &mut Catalog,
    oids: &mut OidMap,
) -> Result<()> {
    let sql = "SELECT e.oid, e.extname::text, n.nspname::text, e.extversion, \
               pg_catalog.obj_description(e.oid, 'pg_extension') \
               FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace";
    for row in tx.query(sql, &[]).await.context("reading extensions")? {
        let name: String = row.get(1);
        oids.insert(
            Class::Extension,
            row.get(0),
            ObjectId::Extension { name: name.clone() },
        );
        cat.extensions.insert(
            name.clone(),
            Extension {
                name,
                schema: row.get(2),
                version: row.get(3),
                comment: row.get(4),
            },
        );
    }
    Ok(())
}

pub(super) async fn enums(
    tx: &Transaction<'_>,
    cat: &mut Catalog,
    oids: &mut OidMap,
) -> Result<()> {
    let sql = format!(
        "SELECT t.oid, t.typarray, n.nspname::text, t.typname::text, \
           ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder), \
           pg_catalog.obj_description(t.oid, 'pg_type') \
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         WHERE t.typtype = 'e' AND {USER_SCHEMA} AND {}",
        not_extension_member("pg_type", "t.oid")
    );
    for row in tx.query(&sql, &[]).await.context("reading enum types")? {
        let name = QualName::new(row.get::<_, String>(2), row.get::<_, String>(3));
        let id = ObjectId::Type { name: name.clone() };
        oids.insert(Class::Type, row.get(0), id.clone());
        oids.insert(Class::Type, row.get(1), id);
        cat.enums.insert(
            name.clone(),
            EnumType {
                name,
                values: row.get(4),
                comment: row.get(5),
            },
        );
    }
    Ok(())
}

/// Reads free-standing sequences into the catalog and returns the options of
/// identity sequences, which belong to their columns.
pub(super) async fn sequences(
    tx: &Transaction<'_>,
    cat: &mut Catalog,
    oids: &mut OidMap,
) -> Result<Identities> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, pg_catalog.format_type(s.seqtypid, NULL), \
           s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle, \
           pg_catalog.obj_description(c.oid, 'pg_class'), \
           own.deptype::text, own.refobjid, own.refobjsubid::int2, \
           tn.nspname::text, tc.relname::text, a.attname::text \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid \
         LEFT JOIN pg_catalog.pg_depend own ON own.classid = 'pg_class'::pg_catalog.regclass \
           AND own.objid = c.oid AND own.refclassid = 'pg_class'::pg_catalog.regclass \
           AND own.deptype IN ('a', 'i') \
         LEFT JOIN pg_catalog.pg_class tc ON tc.oid = own.refobjid \
         LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace \
         LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = own.refobjid AND a.attnum = own.refobjsubid \
         WHERE c.relkind = 'S' AND {USER_SCHEMA} AND {}",
        not_extension_member("pg_class", "c.oid")
    );
    let mut identities = Identities::new();
    for row in tx.query(&sql, &[]).await.context("reading sequences")? {
        let options = SequenceOptions {
            data_type: row.get(3),
            start: row.get(4),
            increment: row.get(5),
            min: row.get(6),
            max: row.get(7),
            cache: row.get(8),
            cycle: row.get(9),
        };
        let deptype: Option<String> = row.get(11);
        if deptype.as_deref() == Some("i") {
            identities.insert((row.get(12), row.get(13)), options);
            continue;
        }
        let name = QualName::new(row.get::<_, String>(1), row.get::<_, String>(2));
        oids.insert(
            Class::Relation,
            row.get(0),
            ObjectId::Sequence { name: name.clone() },
        );
        let owned_by = match (
            row.get::<_, Option<String>>(14),
            row.get::<_, Option<String>>(15),
            row.get::<_, Option<String>>(16),
        ) {
            (Some(schema), Some(table), Some(column)) => {
                Some((QualName::new(schema, table), column))
            }
            _ => None,
        };
        cat.sequences.insert(
            name.clone(),
            Sequence {
                name,
                options,
                owned_by,
                comment: row.get(10),
            },
        );
    }
    Ok(identities)
}

pub(super) async fn functions(
    tx: &Transaction<'_>,
    cat: &mut Catalog,
    oids: &mut OidMap,
) -> Result<()> {
    let sql = format!(
        "SELECT p.oid, n.nspname::text, p.proname::text, pg_catalog.pg_get_function_identity_arguments(p.oid), \
           p.prokind = 'p', pg_catalog.pg_get_function_arguments(p.oid), \
           coalesce(pg_catalog.pg_get_function_result(p.oid), ''), pg_catalog.pg_get_functiondef(p.oid), \
           pg_catalog.obj_description(p.oid, 'pg_proc') \
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
         WHERE p.prokind IN ('f', 'p') AND {USER_SCHEMA} AND {}",
        not_extension_member("pg_proc", "p.oid")
    );
    for row in tx.query(&sql, &[]).await.context("reading functions")? {
        let id = RoutineId {
            name: QualName::new(row.get::<_, String>(1), row.get::<_, String>(2)),
            args: row.get(3),
        };
        oids.insert(
            Class::Routine,
            row.get(0),
            ObjectId::Routine { id: id.clone() },
        );
        cat.functions.insert(
            id.clone(),
            Function {
                id,
                is_procedure: row.get(4),
                arguments: row.get(5),
                result: row.get(6),
                definition: row.get(7),
                comment: row.get(8),
            },
        );
    }
    Ok(())
}

pub(super) async fn casts(tx: &Transaction<'_>, cat: &mut Catalog) -> Result<()> {
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

/// Builds an identity from `pg_attribute.attidentity` and its sequence.
pub(super) fn identity(kind: &str, options: Option<&SequenceOptions>) -> Option<Identity> {
    let always = match kind {
        "a" => true,
        "d" => false,
        _ => return None,
    };
    Some(Identity {
        always,
        options: options.cloned()?,
    })
}

/// Names of volatile functions, to tell whether a column default forces a
/// table rewrite when the column is added.
pub(super) async fn volatile_functions(tx: &Transaction<'_>, cat: &mut Catalog) -> Result<()> {
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
