//! Composite types (`CREATE TYPE ... AS (...)`). Attributes are added,
//! dropped and retyped in place; when a column uses the type and an
//! attribute's type changes, or the attributes are reordered, the type is
//! rebuilt: renamed aside, created anew, columns moved over attribute by
//! attribute, the old type dropped.

use std::collections::BTreeMap;
use crate::kinds::rank::{self, Rank};

use tokio_postgres::Row;

use super::reader::{collation_sql, not_extension_member, Class, Reader, USER_SCHEMA, comment_sql, subobject_comment_sql};
use super::{comment, Catalog, Change, Conversion, Effects, Action, Kind, ObjectId, QualName};
use crate::hazard::{Hazard, HazardCode};
use crate::sql::ident;

/// A composite type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Composite {
    /// Qualified name.
    pub name: QualName,
    /// Attributes in order.
    pub attributes: Vec<Attribute>,
    /// COMMENT ON TYPE.
    pub comment: Option<String>,
}

/// An attribute of a composite type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attribute {
    /// Name.
    pub name: String,
    /// Type with typmod, as `format_type` prints it.
    pub data_type: String,
    /// Collation when it differs from the type's default.
    pub collation: Option<String>,
    /// COMMENT ON COLUMN type.attribute.
    pub comment: Option<String>,
}

impl Attribute {
    /// `name type [COLLATE c]`.
    fn definition(&self) -> String {
        let mut sql = format!("{} {}", ident(&self.name), self.data_type);
        if let Some(collation) = &self.collation {
            sql.push_str(&format!(" COLLATE {collation}"));
        }
        sql
    }
}

/// A change to a composite type.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum CompositeChange {
    /// CREATE TYPE ... AS (...).
    Create(Composite),
    /// DROP TYPE; `renamed_to` when it was renamed aside first.
    Drop {
        ty: Composite,
        renamed_to: Option<String>,
    },
    /// ALTER TYPE ... RENAME TO, to make room for a rebuilt type.
    Rename { ty: Composite, to: String },
    /// ALTER TYPE ... ADD ATTRIBUTE.
    AddAttribute {
        name: QualName,
        attribute: Attribute,
    },
    /// ALTER TYPE ... DROP ATTRIBUTE.
    DropAttribute {
        name: QualName,
        attribute: Attribute,
    },
    /// ALTER TYPE ... ALTER ATTRIBUTE ... TYPE (only while no column uses
    /// the type).
    AlterAttribute {
        name: QualName,
        attribute: Attribute,
    },
}

impl CompositeChange {
    fn name(&self) -> &QualName {
        match self {
            CompositeChange::Create(t)
            | CompositeChange::Drop { ty: t, .. }
            | CompositeChange::Rename { ty: t, .. } => &t.name,
            CompositeChange::AddAttribute { name, .. }
            | CompositeChange::DropAttribute { name, .. }
            | CompositeChange::AlterAttribute { name, .. } => name,
        }
    }
}

impl Action for CompositeChange {
    fn id(&self) -> ObjectId {
        ObjectId::Type {
            name: self.name().clone(),
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            CompositeChange::Create(_) => "create_type",
            CompositeChange::Drop { .. } => "drop_type",
            CompositeChange::Rename { .. } => "rename_type",
            CompositeChange::AddAttribute { .. } => "add_attribute",
            CompositeChange::DropAttribute { .. } => "drop_attribute",
            CompositeChange::AlterAttribute { .. } => "alter_attribute",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            CompositeChange::Create(_) => super::made(vec![self.id()]),
            CompositeChange::Drop {
                renamed_to: Some(_),
                ..
            } => Effects {
                removes: vec![self.id()],
                ..Effects::default()
            },
            CompositeChange::Drop { .. } => super::gone(vec![self.id()]),
            CompositeChange::Rename { .. } => Effects {
                frees: vec![self.id()],
                ..Effects::default()
            },
            _ => super::needs(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        let name = self.name();
        Some(match self {
            CompositeChange::Create(t) => {
                let attributes: Vec<String> =
                    t.attributes.iter().map(Attribute::definition).collect();
                if attributes.is_empty() {
                    format!("CREATE TYPE {name} AS ();")
                } else {
                    format!(
                        "CREATE TYPE {name} AS (\n    {}\n);",
                        attributes.join(",\n    ")
                    )
                }
            }
            CompositeChange::Drop {
                renamed_to: Some(aside),
                ..
            } => format!(
                "DROP TYPE {};",
                QualName::new(name.schema.clone(), aside.clone())
            ),
            CompositeChange::Drop { .. } => format!("DROP TYPE {name};"),
            CompositeChange::Rename { to, .. } => {
                format!("ALTER TYPE {name} RENAME TO {};", ident(to))
            }
            CompositeChange::AddAttribute { attribute, .. } => {
                format!("ALTER TYPE {name} ADD ATTRIBUTE {};", attribute.definition())
            }
            CompositeChange::DropAttribute { attribute, .. } => format!(
                "ALTER TYPE {name} DROP ATTRIBUTE {};",
                ident(&attribute.name)
            ),
            CompositeChange::AlterAttribute { attribute, .. } => {
                let collate = attribute
                    .collation
                    .as_ref()
                    .map(|c| format!(" COLLATE {c}"))
                    .unwrap_or_default();
                format!(
                    "ALTER TYPE {name} ALTER ATTRIBUTE {} TYPE {}{collate};",
                    ident(&attribute.name),
                    attribute.data_type
                )
            }
        })
    }

    fn hazards(&self, current: &Catalog, _: &Catalog) -> Vec<Hazard> {
        let name = self.name();
        let users = current.columns_using(name);
        if users == 0 {
            return Vec::new();
        }
        match self {
            // Built anew: the hazards are on each column converted to it.
            CompositeChange::Rename { .. } => Vec::new(),
            CompositeChange::DropAttribute { attribute, .. } => vec![Hazard::new(
                HazardCode::DataLoss,
                format!(
                    "drops attribute {} of type {}: its values in {users} column(s) are lost",
                    attribute.name,
                    name.plain()
                ),
            )],
            _ => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        match self {
            CompositeChange::DropAttribute { .. } => rank::DROP_CONSTRAINT,
            CompositeChange::Rename { .. } => rank::RENAME_TYPE_ASIDE,
            CompositeChange::Drop {
                renamed_to: None, ..
            } => rank::DROP_TYPE,
            CompositeChange::Drop { .. } => rank::DROP_REPLACED_TYPE,
            _ => rank::CREATE_TYPE,
        }
    }
}

impl Kind for CompositeChange {
    fn grants(_version: i32) -> Option<String> {
        Some(super::privilege::in_schema(
            "pg_type",
            "typacl",
            "typowner",
            "typnamespace",
            'T',
            &format!("o.typtype = 'c' AND {}", super::owner_rows::STANDALONE_TYPE),
        ))
    }

    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::in_schema(
            "pg_type",
            "'TYPE'",
            "typowner",
            "typnamespace",
            &format!("o.typtype = 'c' AND {}", super::owner_rows::STANDALONE_TYPE),
        ))
    }

    fn query(_version: i32) -> Option<String> {
        let attributes = |what: &str| {
            format!(
                "ARRAY(SELECT {what} FROM pg_catalog.pg_attribute a \
                 JOIN pg_catalog.pg_type at ON at.oid = a.atttypid \
                 WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)"
            )
        };
        let collation = collation_sql("a.attcollation", "at.typcollation");
        Some(format!(
            "SELECT t.oid, t.typarray, t.typrelid, n.nspname::text, t.typname::text, \
               {comment}, {}, {}, {}, {} \
             FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             JOIN pg_catalog.pg_class c ON c.oid = t.typrelid \
             WHERE t.typtype = 'c' AND c.relkind = 'c' AND {USER_SCHEMA} AND {}",
            attributes("a.attname::text"),
            attributes("pg_catalog.format_type(a.atttypid, a.atttypmod)"),
            attributes(&collation),
            attributes(&subobject_comment_sql("pg_class", "a.attrelid", "a.attnum")),
            not_extension_member("pg_type", "t.oid"), comment = comment_sql("pg_type", "t.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name = QualName::new(row.get::<_, String>(3), row.get::<_, String>(4));
            let id = ObjectId::Type { name: name.clone() };
            reader.insert(Class::Type, row.get(0), id.clone());
            reader.insert(Class::Type, row.get(1), id.clone());
            reader.insert(Class::Relation, row.get(2), id);
            let names: Vec<String> = row.get(6);
            let types: Vec<String> = row.get(7);
            let collations: Vec<Option<String>> = row.get(8);
            let comments: Vec<Option<String>> = row.get(9);
            let attributes = names
                .into_iter()
                .zip(types)
                .zip(collations.into_iter().zip(comments))
                .map(|((name, data_type), (collation, comment))| Attribute {
                    name,
                    data_type,
                    collation,
                    comment,
                })
                .collect();
            cat.composites.insert(
                name.clone(),
                Composite {
                    name,
                    attributes,
                    comment: row.get(5),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, ty) in &desired.composites {
            match current.composites.get(name) {
                None => {
                    out.push(CompositeChange::Create(ty.clone()).into());
                    comments(None, ty, out);
                }
                Some(old) if needs_rebuild(current, old, ty) => {
                    rebuild(old, ty, out);
                    comments(None, ty, out);
                }
                Some(old) => {
                    alter(old, ty, out);
                    comments(Some(old), ty, out);
                }
            }
        }
        for (name, ty) in &current.composites {
            if !desired.composites.contains_key(name) {
                out.push(
                    CompositeChange::Drop {
                        ty: ty.clone(),
                        renamed_to: None,
                    }
                    .into(),
                );
            }
        }
    }
}

/// True when in-place changes cannot reach `new`: the attributes would end
/// up in another order, or an attribute changes type while a column uses
/// the type (PostgreSQL refuses ALTER ATTRIBUTE TYPE then).
fn needs_rebuild(current: &Catalog, old: &Composite, new: &Composite) -> bool {
    let has = |t: &Composite, n: &str| t.attributes.iter().any(|a| a.name == n);
    let in_place: Vec<&str> = old
        .attributes
        .iter()
        .filter(|a| has(new, &a.name))
        .chain(new.attributes.iter().filter(|a| !has(old, &a.name)))
        .map(|a| a.name.as_str())
        .collect();
    let order: Vec<&str> = new.attributes.iter().map(|a| a.name.as_str()).collect();
    let retyped = new.attributes.iter().any(|a| {
        old.attributes
            .iter()
            .any(|o| o.name == a.name && (o.data_type != a.data_type || o.collation != a.collation))
    });
    in_place != order || (retyped && current.columns_using(&old.name) > 0)
}

/// Names of the composite types that `diff` rebuilds, with how columns move
/// over.
pub(crate) fn rebuilt(current: &Catalog, desired: &Catalog) -> BTreeMap<QualName, Conversion> {
    let mut out = BTreeMap::new();
    for (name, new) in &desired.composites {
        let Some(old) = current.composites.get(name) else {
            continue;
        };
        if needs_rebuild(current, old, new) {
            let attributes = new
                .attributes
                .iter()
                .map(|a| {
                    let kept = old.attributes.iter().any(|o| o.name == a.name);
                    (a.name.clone(), a.data_type.clone(), kept)
                })
                .collect();
            out.insert(name.clone(), Conversion::Attributes(attributes));
        }
    }
    out
}

fn rebuild(old: &Composite, new: &Composite, out: &mut Vec<Change>) {
    let aside = super::aside_name(&old.name.name);
    out.push(
        CompositeChange::Rename {
            ty: old.clone(),
            to: aside.clone(),
        }
        .into(),
    );
    out.push(CompositeChange::Create(new.clone()).into());
    out.push(
        CompositeChange::Drop {
            ty: old.clone(),
            renamed_to: Some(aside),
        }
        .into(),
    );
}

/// DROP, ADD and ALTER ATTRIBUTE of a type that stays.
fn alter(old: &Composite, new: &Composite, out: &mut Vec<Change>) {
    let name = &new.name;
    for attribute in &old.attributes {
        if !new.attributes.iter().any(|a| a.name == attribute.name) {
            out.push(
                CompositeChange::DropAttribute {
                    name: name.clone(),
                    attribute: attribute.clone(),
                }
                .into(),
            );
        }
    }
    for attribute in &new.attributes {
        match old.attributes.iter().find(|a| a.name == attribute.name) {
            None => out.push(
                CompositeChange::AddAttribute {
                    name: name.clone(),
                    attribute: attribute.clone(),
                }
                .into(),
            ),
            Some(o) if o.data_type != attribute.data_type || o.collation != attribute.collation => {
                out.push(
                    CompositeChange::AlterAttribute {
                        name: name.clone(),
                        attribute: attribute.clone(),
                    }
                    .into(),
                )
            }
            Some(_) => {}
        }
    }
}

/// Comments on the type and its attributes; `old` is None when the type is
/// (re)created.
fn comments(old: Option<&Composite>, new: &Composite, out: &mut Vec<Change>) {
    let name = &new.name;
    let id = ObjectId::Type { name: name.clone() };
    comment::changed(
        out,
        id.clone(),
        format!("TYPE {name}"),
        old.and_then(|o| o.comment.as_ref()),
        new.comment.as_ref(),
    );
    for attribute in &new.attributes {
        let before = old
            .and_then(|o| o.attributes.iter().find(|a| a.name == attribute.name))
            .and_then(|a| a.comment.as_ref());
        comment::changed(
            out,
            id.clone(),
            format!("COLUMN {name}.{}", ident(&attribute.name)),
            before,
            attribute.comment.as_ref(),
        );
    }
}
