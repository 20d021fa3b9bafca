//! Publications for logical replication: FOR ALL TABLES, or tables (with
//! column lists and row filters, PostgreSQL 15+) and schemas, and what they
//! publish. Members and options change in place; FOR ALL TABLES cannot.

use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{Reader, comment_sql};
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId, QualName};
use crate::sql::{ident, literal};

/// A publication.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Publication {
    /// Name.
    pub name: String,
    /// FOR ALL TABLES.
    pub all_tables: bool,
    /// Published tables with their column list and row filter, sorted.
    pub tables: Vec<PublishedTable>,
    /// FOR TABLES IN SCHEMA, sorted.
    pub schemas: Vec<String>,
    /// The `publish` option: `insert, update, delete, truncate` or a subset.
    pub publish: String,
    /// `publish_via_partition_root`.
    pub via_root: bool,
    /// COMMENT ON PUBLICATION.
    pub comment: Option<String>,
}

/// One table of a publication.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct PublishedTable {
    /// The table.
    pub table: QualName,
    /// ` (a, b)` and ` WHERE (...)` as PostgreSQL prints them, or empty.
    pub detail: String,
}

/// A change to a publication.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum PublicationChange {
    /// CREATE PUBLICATION.
    Create(Publication),
    /// DROP PUBLICATION.
    Drop(Publication),
    /// ALTER PUBLICATION ... SET TABLE / TABLES IN SCHEMA, or DROP them all.
    SetMembers { from: Publication, to: Publication },
    /// ALTER PUBLICATION ... SET (publish = ..., publish_via_partition_root = ...).
    SetOptions(Publication),
}

impl PublicationChange {
    fn publication(&self) -> &Publication {
        match self {
            PublicationChange::Create(p)
            | PublicationChange::Drop(p)
            | PublicationChange::SetMembers { to: p, .. }
            | PublicationChange::SetOptions(p) => p,
        }
    }
}

/// `FOR ...` of a publication, empty when it has no members.
fn members(p: &Publication) -> String {
    if p.all_tables {
        return " FOR ALL TABLES".into();
    }
    let tables = p.tables.iter().map(|t| format!("{}{}", t.table, t.detail));
    let parts = member_list(tables, &p.schemas);
    if parts.is_empty() {
        String::new()
    } else {
        format!(" FOR {parts}")
    }
}

/// `TABLE a, b, TABLES IN SCHEMA s, t`: each keyword written once, which
/// PostgreSQL 14 needs (15 also takes it before every member).
fn member_list(tables: impl Iterator<Item = String>, schemas: &[String]) -> String {
    let tables: Vec<String> = tables.collect();
    let mut parts = Vec::new();
    if !tables.is_empty() {
        parts.push(format!("TABLE {}", tables.join(", ")));
    }
    if !schemas.is_empty() {
        let schemas: Vec<String> = schemas.iter().map(|s| ident(s)).collect();
        parts.push(format!("TABLES IN SCHEMA {}", schemas.join(", ")));
    }
    parts.join(", ")
}

fn options(p: &Publication) -> String {
    format!(
        "publish = {}, publish_via_partition_root = {}",
        literal(&p.publish),
        p.via_root
    )
}

impl Action for PublicationChange {
    fn id(&self) -> ObjectId {
        ObjectId::Publication {
            name: self.publication().name.clone(),
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            PublicationChange::Create(_) => "create_publication",
            PublicationChange::Drop(_) => "drop_publication",
            PublicationChange::SetMembers { .. } => "set_publication_tables",
            PublicationChange::SetOptions(_) => "set_publication_options",
        }
    }

    fn effects(&self) -> Effects {
        let p = self.publication();
        let members = || {
            p.tables
                .iter()
                .map(|t| ObjectId::Table {
                    name: t.table.clone(),
                })
                .chain(p.schemas.iter().map(|s| ObjectId::Schema { name: s.clone() }))
        };
        match self {
            PublicationChange::Create(_) => Effects {
                provides: vec![self.id()],
                needs: members().collect(),
                ..Effects::default()
            },
            PublicationChange::Drop(_) => super::gone(vec![self.id()]),
            PublicationChange::SetMembers { .. } | PublicationChange::SetOptions(_) => {
                super::needs(std::iter::once(self.id()).chain(members()).collect())
            }
        }
    }

    fn sql(&self) -> Option<String> {
        let p = self.publication();
        let name = ident(&p.name);
        Some(match self {
            PublicationChange::Create(_) => format!(
                "CREATE PUBLICATION {name}{} WITH ({});",
                members(p),
                options(p)
            ),
            PublicationChange::Drop(_) => format!("DROP PUBLICATION {name};"),
            PublicationChange::SetOptions(_) => {
                format!("ALTER PUBLICATION {name} SET ({});", options(p))
            }
            PublicationChange::SetMembers { from, to } => match members(to) {
                set if !set.is_empty() => {
                    format!("ALTER PUBLICATION {name} SET{};", &set[" FOR".len()..])
                }
                _ => {
                    let tables = from.tables.iter().map(|t| t.table.to_string());
                    let gone = member_list(tables, &from.schemas);
                    format!("ALTER PUBLICATION {name} DROP {gone};")
                }
            },
        })
    }

    fn rank(&self) -> Rank {
        match self {
            PublicationChange::Drop(_) => rank::DROP_DEPENDANT,
            _ => rank::PUBLISH,
        }
    }

    fn stateless(&self) -> bool {
        true
    }
}

impl Kind for PublicationChange {
    fn query(version: i32) -> Option<String> {
        let (detail, schemas) = if version >= 150000 {
            (
                "coalesce(' (' || (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.i) \
                   FROM pg_catalog.unnest(pr.prattrs) WITH ORDINALITY k(n, i) \
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = pr.prrelid AND a.attnum = k.n) || ')', '') \
                 || coalesce(' WHERE (' || pg_catalog.pg_get_expr(pr.prqual, pr.prrelid) || ')', '')",
                "ARRAY(SELECT n.nspname::text FROM pg_catalog.pg_publication_namespace pn \
                   JOIN pg_catalog.pg_namespace n ON n.oid = pn.pnnspid WHERE pn.pnpubid = p.oid ORDER BY 1)",
            )
        } else {
            ("''", "'{}'::text[]")
        };
        let tables = |what: &str| {
            format!(
                "ARRAY(SELECT {what} FROM pg_catalog.pg_publication_rel pr \
                 JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE pr.prpubid = p.oid ORDER BY n.nspname, c.relname)"
            )
        };
        Some(format!(
            "SELECT p.pubname::text, p.puballtables, \
               pg_catalog.concat_ws(', ', CASE WHEN p.pubinsert THEN 'insert' END, \
                 CASE WHEN p.pubupdate THEN 'update' END, CASE WHEN p.pubdelete THEN 'delete' END, \
                 CASE WHEN p.pubtruncate THEN 'truncate' END), \
               p.pubviaroot, {}, {}, {}, {schemas}, \
               {comment} \
             FROM pg_catalog.pg_publication p",
            tables("n.nspname::text"),
            tables("c.relname::text"),
            tables(detail), comment = comment_sql("pg_publication", "p.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, _reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let name: String = row.get(0);
            let schemas: Vec<String> = row.get(4);
            let names: Vec<String> = row.get(5);
            let details: Vec<String> = row.get(6);
            let tables = schemas
                .into_iter()
                .zip(names)
                .zip(details)
                .map(|((schema, table), detail)| PublishedTable {
                    table: QualName::new(schema, table),
                    detail,
                })
                .collect();
            cat.publications.insert(
                name.clone(),
                Publication {
                    name,
                    all_tables: row.get(1),
                    publish: row.get(2),
                    via_root: row.get(3),
                    tables,
                    schemas: row.get(7),
                    comment: row.get(8),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, publication) in &desired.publications {
            let old = current.publications.get(name);
            let kept = old.filter(|o| o.all_tables == publication.all_tables);
            match kept {
                None => {
                    if let Some(o) = old {
                        out.push(PublicationChange::Drop(o.clone()).into());
                    }
                    out.push(PublicationChange::Create(publication.clone()).into());
                }
                Some(o) => {
                    if (&o.tables, &o.schemas) != (&publication.tables, &publication.schemas) {
                        out.push(
                            PublicationChange::SetMembers {
                                from: o.clone(),
                                to: publication.clone(),
                            }
                            .into(),
                        );
                    }
                    if (&o.publish, o.via_root) != (&publication.publish, publication.via_root) {
                        out.push(PublicationChange::SetOptions(publication.clone()).into());
                    }
                }
            }
            comment::changed(
                out,
                ObjectId::Publication { name: name.clone() },
                format!("PUBLICATION {}", ident(name)),
                kept.and_then(|o| o.comment.as_ref()),
                publication.comment.as_ref(),
            );
        }
        for (name, publication) in &current.publications {
            if !desired.publications.contains_key(name) {
                out.push(PublicationChange::Drop(publication.clone()).into());
            }
        }
    }
}
