//! Collations (CREATE COLLATION) with the libc or ICU provider. Nothing of a
//! collation can be altered: a changed one is dropped and created (which
//! PostgreSQL refuses while a column uses it; the plan then fails whole).

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{not_extension_member, Class, Reader, USER_SCHEMA, comment_sql};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId, QualName};
use crate::sql::literal;

/// A collation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Collation {
    /// Qualified name.
    pub name: QualName,
    /// `c` libc, `i` ICU, `b` builtin (PostgreSQL 17+).
    pub provider: char,
    /// LC_COLLATE (libc).
    pub collate: Option<String>,
    /// LC_CTYPE (libc).
    pub ctype: Option<String>,
    /// LOCALE (ICU and builtin).
    pub locale: Option<String>,
    /// ICU tailoring RULES (PostgreSQL 16+).
    pub rules: Option<String>,
    /// DETERMINISTIC.
    pub deterministic: bool,
    /// COMMENT ON COLLATION.
    pub comment: Option<String>,
}

/// A change to a collation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum CollationChange {
    /// CREATE COLLATION.
    Create(Collation),
    /// DROP COLLATION.
    Drop(Collation),
}

impl CollationChange {
    fn collation(&self) -> &Collation {
        match self {
            CollationChange::Create(c) | CollationChange::Drop(c) => c,
        }
    }
}

impl Action for CollationChange {
    fn id(&self) -> ObjectId {
        ObjectId::Collation {
            name: self.collation().name.clone(),
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            CollationChange::Create(_) => "create_collation",
            CollationChange::Drop(_) => "drop_collation",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            CollationChange::Create(_) => super::made(vec![self.id()]),
            CollationChange::Drop(_) => super::gone(vec![self.id()]),
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            CollationChange::Create(c) => create_collation(c),
            CollationChange::Drop(c) => format!("DROP COLLATION {};", c.name),
        })
    }

    fn rank(&self) -> Rank {
        match self {
            CollationChange::Drop(_) => rank::DROP_BASE,
            CollationChange::Create(_) => rank::CREATE_BASE,
        }
    }
}

impl Kind for CollationChange {
    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::in_schema("pg_collation", "'COLLATION'", "collowner", "collnamespace", ""))
    }

    fn query(version: i32) -> Option<String> {
        // Where each field lives moved between majors.
        let (locale, rules) = match version {
            v if v >= 170000 => ("co.colllocale", "co.collicurules"),
            v if v >= 160000 => ("co.colliculocale", "co.collicurules"),
            v if v >= 150000 => ("co.colliculocale", "NULL::text"),
            _ => (
                "CASE WHEN co.collprovider = 'i' THEN co.collcollate END",
                "NULL::text",
            ),
        };
        Some(format!(
            "SELECT co.oid, n.nspname::text, co.collname::text, co.collprovider::text, \
               CASE WHEN co.collprovider = 'c' THEN co.collcollate END, \
               CASE WHEN co.collprovider = 'c' THEN co.collctype END, \
               {locale}, {rules}, co.collisdeterministic, \
               {comment} \
             FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace n ON n.oid = co.collnamespace \
             WHERE {USER_SCHEMA} AND {}",
            not_extension_member("pg_collation", "co.oid"), comment = comment_sql("pg_collation", "co.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name = QualName::new(row.get::<_, String>(1), row.get::<_, String>(2));
            reader.insert(
                Class::Collation,
                row.get(0),
                ObjectId::Collation { name: name.clone() },
            );
            let provider: String = row.get(3);
            cat.collations.insert(
                name.clone(),
                Collation {
                    name,
                    provider: provider.chars().next().unwrap_or('c'),
                    collate: row.get(4),
                    ctype: row.get(5),
                    locale: row.get(6),
                    rules: row.get(7),
                    deterministic: row.get(8),
                    comment: row.get(9),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, collation) in &desired.collations {
            let old = current.collations.get(name);
            let same = old.filter(|o| {
                Collation {
                    comment: None,
                    ..(*o).clone()
                } == Collation {
                    comment: None,
                    ..collation.clone()
                }
            });
            if same.is_none() {
                if let Some(o) = old {
                    out.push(CollationChange::Drop(o.clone()).into());
                }
                out.push(CollationChange::Create(collation.clone()).into());
            }
            comment::changed(
                out,
                ObjectId::Collation { name: name.clone() },
                format!("COLLATION {name}"),
                same.and_then(|o| o.comment.as_ref()),
                collation.comment.as_ref(),
            );
        }
        for (name, collation) in &current.collations {
            if !desired.collations.contains_key(name) {
                out.push(CollationChange::Drop(collation.clone()).into());
            }
        }
    }
}

fn create_collation(c: &Collation) -> String {
    let mut options = Vec::new();
    let provider = match c.provider {
        'i' => "icu",
        'b' => "builtin",
        _ => "libc",
    };
    options.push(format!("provider = {provider}"));
    match (&c.collate, &c.ctype) {
        (Some(a), Some(b)) if a == b => options.push(format!("locale = {}", literal(a))),
        (a, b) => {
            if let Some(a) = a {
                options.push(format!("lc_collate = {}", literal(a)));
            }
            if let Some(b) = b {
                options.push(format!("lc_ctype = {}", literal(b)));
            }
        }
    }
    if let Some(locale) = &c.locale {
        options.push(format!("locale = {}", literal(locale)));
    }
    if let Some(rules) = &c.rules {
        options.push(format!("rules = {}", literal(rules)));
    }
    if !c.deterministic {
        options.push("deterministic = false".to_string());
    }
    format!("CREATE COLLATION {} ({});", c.name, options.join(", "))
}
