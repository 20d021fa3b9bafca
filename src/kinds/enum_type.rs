//! Enum types. Values are added in place; removing or reordering values
//! renames the old type aside, creates the new one, moves the columns over
//! through text (see `column`) and drops the old type.

use std::collections::BTreeMap;
use crate::kinds::rank::{self, Rank};

use serde::Serialize;
use tokio_postgres::Row;

use super::comment;
use super::reader::{not_extension_member, Class, Reader, USER_SCHEMA, comment_sql};
use super::{Catalog, Change, Conversion, Effects, Action, Kind, ObjectId, QualName};
use crate::hazard::{Hazard, HazardCode};
use crate::sql::{ident, literal};

/// An enum type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnumType {
    /// Qualified name.
    pub name: QualName,
    /// Labels in sort order.
    pub values: Vec<String>,
    /// COMMENT ON TYPE.
    pub comment: Option<String>,
}

/// Where a new enum value goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnumPosition {
    /// At the end.
    End,
    /// BEFORE the named value.
    Before(String),
}

/// A change to an enum type.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum EnumChange {
    /// CREATE TYPE ... AS ENUM.
    Create(EnumType),
    /// DROP TYPE; `renamed_to` when it was renamed aside first.
    Drop {
        ty: EnumType,
        renamed_to: Option<String>,
    },
    /// ALTER TYPE ... ADD VALUE.
    AddValue {
        ty: QualName,
        value: String,
        position: EnumPosition,
    },
    /// ALTER TYPE ... RENAME TO, to make room for a rebuilt enum.
    Rename {
        ty: EnumType,
        to: String,
        removed: Vec<String>,
    },
}

impl Action for EnumChange {
    fn id(&self) -> ObjectId {
        let name = match self {
            EnumChange::Create(t) | EnumChange::Drop { ty: t, .. } | EnumChange::Rename { ty: t, .. } => {
                &t.name
            }
            EnumChange::AddValue { ty, .. } => ty,
        };
        ObjectId::Type { name: name.clone() }
    }

    fn shown(&self) -> super::Shown {
        match self {
            EnumChange::AddValue { value, .. } => {
                super::Shown::Detail(format!("+ value {}", crate::sql::literal(value)))
            }
            _ => super::Shown::Object,
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            EnumChange::Create(_) => "create_enum",
            EnumChange::Drop { .. } => "drop_enum",
            EnumChange::AddValue { .. } => "add_enum_value",
            EnumChange::Rename { .. } => "rename_enum",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            EnumChange::Create(_) | EnumChange::AddValue { .. } => super::made(vec![self.id()]),
            // The name was freed by the rename; only dependents matter.
            EnumChange::Drop {
                renamed_to: Some(_),
                ..
            } => Effects {
                removes: vec![self.id()],
                ..Effects::default()
            },
            EnumChange::Drop { .. } => super::gone(vec![self.id()]),
            EnumChange::Rename { .. } => Effects {
                frees: vec![self.id()],
                ..Effects::default()
            },
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            EnumChange::Create(t) => {
                let values: Vec<String> = t.values.iter().map(|v| literal(v)).collect();
                format!("CREATE TYPE {} AS ENUM ({});", t.name, values.join(", "))
            }
            EnumChange::Drop { ty, renamed_to } => match renamed_to {
                Some(aside) => format!(
                    "DROP TYPE {};",
                    QualName::new(ty.name.schema.clone(), aside.clone())
                ),
                None => format!("DROP TYPE {};", ty.name),
            },
            EnumChange::AddValue {
                ty,
                value,
                position,
            } => {
                let at = match position {
                    EnumPosition::End => String::new(),
                    EnumPosition::Before(v) => format!(" BEFORE {}", literal(v)),
                };
                format!("ALTER TYPE {ty} ADD VALUE {}{at};", literal(value))
            }
            EnumChange::Rename { ty, to, .. } => {
                format!("ALTER TYPE {} RENAME TO {};", ty.name, ident(to))
            }
        })
    }

    fn hazards(&self, _: &Catalog, _: &Catalog) -> Vec<Hazard> {
        match self {
            EnumChange::Rename { ty, removed, .. } if !removed.is_empty() => vec![Hazard::new(
                HazardCode::DataLoss,
                format!(
                    "removes value(s) {} from enum {}: rows holding them fail to convert",
                    removed.join(", "),
                    ty.name.plain()
                ),
            )],
            _ => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        match self {
            EnumChange::Rename { .. } => rank::RENAME_TYPE_ASIDE,
            EnumChange::Drop {
                renamed_to: None, ..
            } => rank::DROP_TYPE,
            EnumChange::Create(_) | EnumChange::AddValue { .. } => rank::CREATE_TYPE,
            EnumChange::Drop { .. } => rank::DROP_REPLACED_TYPE,
        }
    }

    fn transactional(&self) -> bool {
        !matches!(self, EnumChange::AddValue { .. })
    }
}

impl Kind for EnumChange {
    fn grants(_version: i32) -> Option<String> {
        Some(super::privilege::in_schema("pg_type", "typacl", "typowner", "typnamespace", 'T', "o.typtype = 'e'"))
    }

    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::in_schema("pg_type", "'TYPE'", "typowner", "typnamespace", "o.typtype = 'e'"))
    }

    fn query(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT t.oid, t.typarray, n.nspname::text, t.typname::text, \
               ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder), \
               {comment} \
             FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             WHERE t.typtype = 'e' AND {USER_SCHEMA} AND {}",
            not_extension_member("pg_type", "t.oid"), comment = comment_sql("pg_type", "t.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name = QualName::new(row.get::<_, String>(2), row.get::<_, String>(3));
            let id = ObjectId::Type { name: name.clone() };
            reader.insert(Class::Type, row.get(0), id.clone());
            reader.insert(Class::Type, row.get(1), id);
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

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, ty) in &desired.enums {
            let id = ObjectId::Type { name: name.clone() };
            let target = format!("TYPE {name}");
            let Some(old) = current.enums.get(name) else {
                out.push(EnumChange::Create(ty.clone()).into());
                comment::changed(out, id, target, None, ty.comment.as_ref());
                continue;
            };
            match added_values(old, ty) {
                Some(added) => out.extend(added),
                None => {
                    rebuild(old, ty, out);
                    comment::changed(out, id, target, None, ty.comment.as_ref());
                    continue;
                }
            }
            comment::changed(out, id, target, old.comment.as_ref(), ty.comment.as_ref());
        }
        for (name, ty) in &current.enums {
            if !desired.enums.contains_key(name) {
                out.push(
                    EnumChange::Drop {
                        ty: ty.clone(),
                        renamed_to: None,
                    }
                    .into(),
                );
            }
        }
    }
}

/// Values were removed or reordered: build the type anew (columns move over
/// to it through text).
fn rebuild(old: &EnumType, new: &EnumType, out: &mut Vec<Change>) {
    let removed = old
        .values
        .iter()
        .filter(|v| !new.values.contains(v))
        .cloned()
        .collect();
    let aside = super::aside_name(&old.name.name);
    out.push(
        EnumChange::Rename {
            ty: old.clone(),
            to: aside.clone(),
            removed,
        }
        .into(),
    );
    out.push(EnumChange::Create(new.clone()).into());
    out.push(
        EnumChange::Drop {
            ty: old.clone(),
            renamed_to: Some(aside),
        }
        .into(),
    );
}

/// Names of the enums that `diff` rebuilds from scratch, whose columns move
/// over to the new type.
pub(crate) fn rebuilt(current: &Catalog, desired: &Catalog) -> BTreeMap<QualName, Conversion> {
    desired
        .enums
        .iter()
        .filter(|(name, ty)| {
            current
                .enums
                .get(*name)
                .is_some_and(|old| added_values(old, ty).is_none())
        })
        .map(|(name, _)| (name.clone(), Conversion::Text))
        .collect()
}

/// The ADD VALUE changes that turn `old` into `new`, or None when `new` is
/// not `old` with values inserted (a value was removed or moved).
fn added_values(old: &EnumType, new: &EnumType) -> Option<Vec<Change>> {
    let mut kept = new.values.iter().filter(|v| old.values.contains(v));
    if !old.values.iter().eq(kept.by_ref()) {
        return None;
    }
    let mut changes = Vec::new();
    for (i, value) in new.values.iter().enumerate() {
        if old.values.contains(value) {
            continue;
        }
        // Anchor on the next value that already exists; past the last one,
        // append: values are added in order, so each lands after the one
        // added before it (anchoring them all AFTER the last old value
        // would reverse them).
        let next = new.values[i + 1..].iter().find(|v| old.values.contains(v));
        let position = match next {
            Some(n) => EnumPosition::Before(n.clone()),
            None => EnumPosition::End,
        };
        changes.push(
            EnumChange::AddValue {
                ty: new.name.clone(),
                value: value.clone(),
                position,
            }
            .into(),
        );
    }
    Some(changes)
}
