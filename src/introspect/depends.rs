//! Dependencies between managed objects, from `pg_depend`.

use std::collections::HashMap;

use tokio_postgres::Row;

use crate::kinds::depends::DependsBuilder;
use crate::kinds::reader::{Class, Reader};
use crate::kinds::ObjectId;

/// Objects that belong to an extension: they stand for the extension, so
/// that a column of type citext orders after CREATE EXTENSION citext.
pub(super) const MEMBERS: &str = "SELECT d.classid, d.objid, e.extname::text \
    FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid \
    WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'";

/// Dependencies between objects. Oids below FirstNormalObjectId (16384)
/// belong to the system, which stratum never creates or drops, so those
/// rows cannot order anything. Catalogs come as oids, named by the reader
/// ([`Classes`]): printing `regclass` for each of a few hundred thousand
/// rows took a third of the query's time.
pub(super) const DEPENDS: &str = "SELECT classid, objid, objsubid, \
    refclassid, refobjid, refobjsubid, deptype::text \
    FROM pg_catalog.pg_depend \
    WHERE deptype IN ('n', 'a', 'i') AND objid >= 16384 AND refobjid >= 16384";

/// The classes of the system catalogs, by the catalogs' oids.
pub(super) type Classes = HashMap<u32, Class>;

/// Reads the rows of [`MEMBERS`].
pub(super) fn read_members(rows: &[Row], classes: &Classes, oids: &mut Reader) {
    for row in rows {
        if let Some(&class) = classes.get(&row.get(0)) {
            let name: String = row.get(2);
            oids.insert(class, row.get(1), ObjectId::Extension { name });
        }
    }
}

/// Reads a row of [`DEPENDS`] into `depends` when it is between objects
/// `oids` knows.
pub(super) fn read_row(row: &Row, classes: &Classes, depends: &mut DependsBuilder, oids: &Reader) {
    let (Some(&class), Some(&ref_class)) = (
        classes.get(&row.get::<_, u32>(0)),
        classes.get(&row.get::<_, u32>(3)),
    ) else {
        return;
    };
    let (Some(dependent), Some(referenced)) = (
        oids.resolve_index(class, row.get(1), row.get(2)),
        oids.resolve_index(ref_class, row.get(4), row.get(5)),
    ) else {
        return;
    };
    let (dependent_id, referenced_id) = (oids.id(dependent), oids.id(referenced));
    if dependent_id == referenced_id {
        return;
    }
    let dependent = match (dependent_id, referenced_id, row.get::<_, &str>(6)) {
        // OWNED BY is its own step, made once the column exists.
        (ObjectId::Sequence { name }, ObjectId::Column { .. }, "a") => {
            depends.own(&ObjectId::SequenceOwner { name: name.clone() })
        }
        // PostgreSQL 14 records what a generated column's expression
        // uses as AUTO dependencies of the column itself (so dropping a
        // function silently drops the column); 15 and later record them
        // on the expression (pg_attrdef), which reads as the default.
        (ObjectId::Column { table, column }, _, "a") => depends.own(&ObjectId::Default {
            table: table.clone(),
            column: column.clone(),
        }),
        _ => dependent,
    };
    depends.insert_indexes(dependent, referenced);
}
