//! Range types with their multirange. Nothing about a range can be altered
//! in place: a changed range is dropped and created again, or, when a
//! column uses it, rebuilt (the old range, its multirange and their
//! constructor functions renamed aside, the new range created, the columns
//! moved over through text, the old one dropped).

use std::collections::BTreeMap;
use crate::kinds::rank::{self, Rank};

use tokio_postgres::Row;

use super::reader::{collation_sql, not_extension_member, Class, Reader, USER_SCHEMA, comment_sql};
use super::{aside_name as aside, comment, Catalog, Change, Conversion, Effects, Action, Kind, ObjectId, QualName};
use crate::hazard::Hazard;
use crate::sql::ident;

/// A range type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Range {
    /// Qualified name.
    pub name: QualName,
    /// SUBTYPE, as `format_type` prints it.
    pub subtype: String,
    /// SUBTYPE_OPCLASS when it is not the subtype's default.
    pub opclass: Option<String>,
    /// COLLATION when it differs from the subtype's.
    pub collation: Option<String>,
    /// CANONICAL function.
    pub canonical: Option<String>,
    /// SUBTYPE_DIFF function.
    pub subtype_diff: Option<String>,
    /// MULTIRANGE_TYPE_NAME.
    pub multirange: QualName,
    /// COMMENT ON TYPE.
    pub comment: Option<String>,
}

/// A change to a range type.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RangeChange {
    /// CREATE TYPE ... AS RANGE.
    Create(Range),
    /// DROP TYPE; `renamed_to` when it was renamed aside first.
    Drop {
        range: Range,
        renamed_to: Option<String>,
    },
    /// Renames the range, its multirange and their constructors aside.
    Rename { range: Range },
}

impl Action for RangeChange {
    fn id(&self) -> ObjectId {
        let (RangeChange::Create(r) | RangeChange::Drop { range: r, .. } | RangeChange::Rename { range: r }) =
            self;
        ObjectId::Type {
            name: r.name.clone(),
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            RangeChange::Create(_) => "create_range",
            RangeChange::Drop { .. } => "drop_range",
            RangeChange::Rename { .. } => "rename_range",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            RangeChange::Create(_) => super::made(vec![self.id()]),
            RangeChange::Drop {
                renamed_to: Some(_),
                ..
            } => Effects {
                removes: vec![self.id()],
                ..Effects::default()
            },
            RangeChange::Drop { .. } => super::gone(vec![self.id()]),
            RangeChange::Rename { .. } => Effects {
                frees: vec![self.id()],
                ..Effects::default()
            },
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            RangeChange::Create(r) => create_range(r),
            RangeChange::Drop {
                range,
                renamed_to: Some(to),
            } => format!(
                "DROP TYPE {};",
                QualName::new(range.name.schema.clone(), to.clone())
            ),
            RangeChange::Drop { range, .. } => format!("DROP TYPE {};", range.name),
            RangeChange::Rename { range } => rename_aside(range),
        })
    }

    // A range built anew: the hazards are on each column converted to it.
    fn hazards(&self, _: &Catalog, _: &Catalog) -> Vec<Hazard> {
        Vec::new()
    }

    fn rank(&self) -> Rank {
        match self {
            RangeChange::Rename { .. } => rank::RENAME_TYPE_ASIDE,
            RangeChange::Drop {
                renamed_to: None, ..
            } => rank::DROP_TYPE,
            RangeChange::Create(_) => rank::CREATE_TYPE,
            RangeChange::Drop { .. } => rank::DROP_REPLACED_TYPE,
        }
    }
}

impl Kind for RangeChange {
    fn grants(_version: i32) -> Option<String> {
        Some(super::privilege::in_schema("pg_type", "typacl", "typowner", "typnamespace", 'T', "o.typtype = 'r'"))
    }

    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::in_schema("pg_type", "'TYPE'", "typowner", "typnamespace", "o.typtype = 'r'"))
    }

    fn query(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT t.oid, t.typarray, r.rngmultitypid, m.typarray, n.nspname::text, t.typname::text, \
               pg_catalog.format_type(r.rngsubtype, NULL), \
               CASE WHEN NOT opc.opcdefault THEN pg_catalog.quote_ident(opn.nspname) || '.' || pg_catalog.quote_ident(opc.opcname) END, \
               {collation}, \
               CASE WHEN r.rngcanonical <> 0 THEN r.rngcanonical::pg_catalog.regproc::text END, \
               CASE WHEN r.rngsubdiff <> 0 THEN r.rngsubdiff::pg_catalog.regproc::text END, \
               mn.nspname::text, m.typname::text, {comment} \
             FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid \
             JOIN pg_catalog.pg_type st ON st.oid = r.rngsubtype \
             JOIN pg_catalog.pg_type m ON m.oid = r.rngmultitypid \
             JOIN pg_catalog.pg_namespace mn ON mn.oid = m.typnamespace \
             JOIN pg_catalog.pg_opclass opc ON opc.oid = r.rngsubopc \
             JOIN pg_catalog.pg_namespace opn ON opn.oid = opc.opcnamespace \
             WHERE t.typtype = 'r' AND {USER_SCHEMA} AND {}",
            not_extension_member("pg_type", "t.oid"),
            collation = collation_sql("r.rngcollation", "st.typcollation"), comment = comment_sql("pg_type", "t.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name = QualName::new(row.get::<_, String>(4), row.get::<_, String>(5));
            let id = ObjectId::Type { name: name.clone() };
            // The multirange and both array types stand for the range.
            for i in 0..4 {
                reader.insert(Class::Type, row.get(i), id.clone());
            }
            cat.ranges.insert(
                name.clone(),
                Range {
                    name,
                    subtype: row.get(6),
                    opclass: row.get(7),
                    collation: row.get(8),
                    canonical: row.get(9),
                    subtype_diff: row.get(10),
                    multirange: QualName::new(row.get::<_, String>(11), row.get::<_, String>(12)),
                    comment: row.get(13),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, range) in &desired.ranges {
            let id = ObjectId::Type { name: name.clone() };
            let target = format!("TYPE {name}");
            let before = match current.ranges.get(name) {
                None => {
                    out.push(RangeChange::Create(range.clone()).into());
                    None
                }
                Some(old) if changed(old, range) && current.columns_using(name) > 0 => {
                    out.push(RangeChange::Rename { range: old.clone() }.into());
                    out.push(RangeChange::Create(range.clone()).into());
                    out.push(
                        RangeChange::Drop {
                            range: old.clone(),
                            renamed_to: Some(aside(&old.name.name)),
                        }
                        .into(),
                    );
                    None
                }
                Some(old) if changed(old, range) => {
                    out.push(
                        RangeChange::Drop {
                            range: old.clone(),
                            renamed_to: None,
                        }
                        .into(),
                    );
                    out.push(RangeChange::Create(range.clone()).into());
                    None
                }
                Some(old) => old.comment.as_ref(),
            };
            comment::changed(out, id, target, before, range.comment.as_ref());
        }
        for (name, range) in &current.ranges {
            if !desired.ranges.contains_key(name) {
                out.push(
                    RangeChange::Drop {
                        range: range.clone(),
                        renamed_to: None,
                    }
                    .into(),
                );
            }
        }
    }
}

/// True when anything but the comment differs.
fn changed(old: &Range, new: &Range) -> bool {
    Range {
        comment: None,
        ..old.clone()
    } != Range {
        comment: None,
        ..new.clone()
    }
}

/// Names of the ranges that `diff` rebuilds; their columns move over
/// through text.
pub(crate) fn rebuilt(current: &Catalog, desired: &Catalog) -> BTreeMap<QualName, Conversion> {
    desired
        .ranges
        .iter()
        .filter(|(name, new)| {
            current
                .ranges
                .get(*name)
                .is_some_and(|old| changed(old, new) && current.columns_using(name) > 0)
        })
        .map(|(name, _)| (name.clone(), Conversion::Text))
        .collect()
}

fn create_range(r: &Range) -> String {
    let mut options = vec![format!("SUBTYPE = {}", r.subtype)];
    let mut option = |key: &str, value: &Option<String>| {
        if let Some(v) = value {
            options.push(format!("{key} = {v}"));
        }
    };
    option("SUBTYPE_OPCLASS", &r.opclass);
    option("COLLATION", &r.collation);
    option("CANONICAL", &r.canonical);
    option("SUBTYPE_DIFF", &r.subtype_diff);
    options.push(format!("MULTIRANGE_TYPE_NAME = {}", r.multirange));
    format!(
        "CREATE TYPE {} AS RANGE (\n    {}\n);",
        r.name,
        options.join(",\n    ")
    )
}

/// The statements that free a range's names: its constructors keep their
/// names through a type rename, so they are renamed too.
fn rename_aside(r: &Range) -> String {
    let (name, multi) = (&r.name, &r.multirange);
    let sub = &r.subtype;
    let function = |fname: &QualName, args: String| {
        format!(
            "ALTER FUNCTION {fname}({args}) RENAME TO {};",
            ident(&aside(&fname.name))
        )
    };
    [
        function(name, format!("{sub}, {sub}")),
        function(name, format!("{sub}, {sub}, text")),
        function(multi, String::new()),
        function(multi, name.to_string()),
        function(multi, format!("VARIADIC {name}[]")),
        format!("ALTER TYPE {name} RENAME TO {};", ident(&aside(&name.name))),
        format!("ALTER TYPE {multi} RENAME TO {};", ident(&aside(&multi.name))),
    ]
    .join("\n")
}
