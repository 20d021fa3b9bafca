//! Views and materialized views. Any change to the query, options or columns
//! drops and creates the view; a materialized view's indexes and the
//! comments go with it.

use std::collections::BTreeMap;
use crate::kinds::rank::{self, Rank};

use tokio_postgres::Row;

use super::name_map::NameMap;
use super::index::IndexChange;
use super::reader::{not_extension_member, Class, Owner, printed, Reader, USER_SCHEMA, comment_sql};
use super::{comment, Catalog, Change, Effects, Index, Action, Kind, ObjectId, QualName, Shown, Trigger};
use crate::hazard::{Hazard, HazardCode};
use crate::sql::ident;

/// A view or materialized view.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct View {
    /// Qualified name.
    pub name: QualName,
    /// Materialized view rather than view.
    pub materialized: bool,
    /// `pg_get_viewdef`: the query, ending in `;`.
    pub query: String,
    /// WITH (...) options, e.g. `security_barrier=true`.
    pub options: Vec<String>,
    /// Column names in order (for column comments and CREATE OR REPLACE).
    pub columns: Vec<String>,
    /// The columns' types in order (`format_type`, with a COLLATE clause
    /// where the collation is not the type's): CREATE OR REPLACE keeps
    /// those it has and may only add more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub column_types: Vec<String>,
    /// Indexes (materialized views only).
    pub indexes: NameMap<Index>,
    /// Triggers (INSTEAD OF on views), by name.
    pub triggers: NameMap<Trigger>,
    /// COMMENT ON VIEW / MATERIALIZED VIEW.
    pub comment: Option<String>,
    /// Comments on the view's columns, by column name.
    pub column_comments: BTreeMap<String, String>,
    /// Defaults of the view's columns (ALTER VIEW ... ALTER COLUMN ... SET
    /// DEFAULT), by column name: what an INSERT through the view fills in.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub column_defaults: BTreeMap<String, String>,
    /// A view whose query reads the view itself: its columns as a query
    /// of NULLs (`NULL::integer AS a`), to create it under before its
    /// query can name it.
    #[serde(default, skip_serializing_if = "crate::kinds::is_default")]
    pub placeholder: Option<Vec<String>>,
}

impl View {
    /// `VIEW` or `MATERIALIZED VIEW`.
    fn keyword(&self) -> &'static str {
        if self.materialized {
            "MATERIALIZED VIEW"
        } else {
            "VIEW"
        }
    }
}

/// A change to a view.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ViewChange {
    /// CREATE VIEW / CREATE MATERIALIZED VIEW.
    Create(View),
    /// DROP VIEW / DROP MATERIALIZED VIEW.
    Drop(View),
    /// CREATE OR REPLACE VIEW: a new query that keeps the view's columns,
    /// their names and types, and may add columns after them. What reads
    /// the view stays.
    Replace {
        /// The view as it is.
        from: Box<View>,
        /// The view as it becomes.
        to: Box<View>,
    },
    /// ALTER VIEW ... ALTER COLUMN ... SET DEFAULT / DROP DEFAULT.
    SetDefault {
        view: Box<View>,
        column: String,
        default: Option<String>,
    },
}

impl ViewChange {
    fn view(&self) -> &View {
        match self {
            ViewChange::Create(v) | ViewChange::Drop(v) => v,
            ViewChange::SetDefault { view, .. } | ViewChange::Replace { to: view, .. } => view,
        }
    }
}

impl Action for ViewChange {
    fn id(&self) -> ObjectId {
        ObjectId::View {
            name: self.view().name.clone(),
        }
    }

    fn label(&self) -> String {
        let v = self.view();
        format!("{} {}", v.keyword().to_lowercase(), v.name.plain())
    }

    fn verb(&self) -> &'static str {
        match self {
            ViewChange::Create(_) => "create_view",
            ViewChange::Drop(_) => "drop_view",
            ViewChange::Replace { .. } => "replace_view",
            ViewChange::SetDefault { .. } => "set_view_column_default",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            ViewChange::Create(_) => super::made(vec![self.id()]),
            ViewChange::Replace { .. } => Effects {
                releases: vec![self.id()],
                ..super::made(vec![self.id()])
            },
            ViewChange::SetDefault { .. } => super::needs(vec![self.id()]),
            ViewChange::Drop(v) => {
                let mut ids = vec![self.id()];
                ids.extend(v.indexes.values().map(|i| ObjectId::Index {
                    name: i.name.clone(),
                }));
                super::gone(ids)
            }
        }
    }

    fn sql(&self) -> Option<String> {
        Some(match self {
            // The options are replaced too (with none when it has none).
            ViewChange::Replace { to: v, .. } => format!(
                "CREATE OR REPLACE VIEW {}{} AS\n{};",
                v.name,
                options(v),
                v.query.trim_end().trim_end_matches(';')
            ),
            ViewChange::Create(v) => {
                let query = v.query.trim_end().trim_end_matches(';');
                let options = options(v);
                match &v.placeholder {
                    Some(columns) if !v.materialized => format!(
                        "CREATE VIEW {}{options} AS SELECT {};\nCREATE OR REPLACE VIEW {}{options} AS\n{query};",
                        v.name,
                        columns.join(", "),
                        v.name
                    ),
                    _ => format!("CREATE {} {}{options} AS\n{query};", v.keyword(), v.name),
                }
            }
            ViewChange::Drop(v) => format!("DROP {} {};", v.keyword(), v.name),
            ViewChange::SetDefault {
                view,
                column,
                default,
            } => {
                let prefix = format!("ALTER VIEW {} ALTER COLUMN {}", view.name, ident(column));
                match default {
                    Some(expr) => format!("{prefix} SET DEFAULT {expr};"),
                    None => format!("{prefix} DROP DEFAULT;"),
                }
            }
        })
    }

    fn hazards(&self, _: &Catalog, desired: &Catalog) -> Vec<Hazard> {
        match self {
            // Dropped and built again in one transaction: the DROP's lock is
            // held while the query runs again and the indexes are built.
            ViewChange::Drop(v)
                if v.materialized && desired.views.get(&v.name).is_some_and(|d| d.materialized) =>
            {
                vec![Hazard::new(
                    HazardCode::AccessExclusiveLock,
                    format!(
                        "materialized view {} is built again: readers wait until its query has run \
                         and its indexes are built",
                        v.name.plain()
                    ),
                )]
            }
            _ => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        match self {
            ViewChange::Drop(_) => rank::DROP_VIEW,
            ViewChange::Create(_) | ViewChange::Replace { .. } => rank::CREATE_VIEW,
            ViewChange::SetDefault { .. } => rank::CREATE_TRIGGER,
        }
    }

    fn stateless(&self) -> bool {
        true
    }

    fn shown(&self) -> Shown {
        match self {
            ViewChange::Replace { from, to } => {
                let added = &to.columns[from.columns.len().min(to.columns.len())..];
                let mut detail = Vec::new();
                if from.query != to.query {
                    detail.push("new query".to_string());
                }
                if from.options != to.options {
                    detail.push("new options".to_string());
                }
                detail.extend(added.iter().map(|c| format!("+ column {}", ident(c))));
                Shown::Detail(detail.join(", "))
            }
            _ => Shown::Object,
        }
    }
}

impl Kind for ViewChange {
    fn grants(_version: i32) -> Option<String> {
        Some(super::privilege::in_schema("pg_class", "relacl", "relowner", "relnamespace", 'r', "o.relkind IN ('v', 'm')"))
    }

    fn owners(_version: i32) -> Option<String> {
        Some(super::owner_rows::in_schema(
            "pg_class",
            "CASE o.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END",
            "relowner",
            "relnamespace",
            "o.relkind IN ('v', 'm')",
        ))
    }

    fn query(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT c.oid, c.reltype, n.nspname::text, c.relname::text, c.relkind = 'm', \
               {comment}, pg_catalog.pg_get_viewdef(c.oid), \
               coalesce(c.reloptions, '{{}}')::text[], \
               (SELECT r.oid FROM pg_catalog.pg_rewrite r WHERE r.ev_class = c.oid AND r.rulename = '_RETURN'), \
               CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r \
                   ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid \
                 WHERE r.ev_class = c.oid AND r.rulename = '_RETURN' AND d.refobjid = c.oid AND d.refobjsubid > 0 AND d.deptype = 'n') \
               THEN ARRAY(SELECT 'NULL::' || pg_catalog.format_type(a.atttypid, a.atttypmod) \
                   || CASE WHEN a.attcollation <> t.typcollation THEN ' COLLATE ' || \
                        (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) \
                         FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
                         WHERE co.oid = a.attcollation) ELSE '' END \
                   || ' AS ' || pg_catalog.quote_ident(a.attname) \
                 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) END \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('v', 'm') AND {USER_SCHEMA} AND {}",
            not_extension_member("pg_class", "c.oid"), comment = comment_sql("pg_class", "c.oid")
        ))
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let oid: u32 = row.get(0);
            let name = QualName::new(row.get::<_, String>(2), row.get::<_, String>(3));
            let id = ObjectId::View { name: name.clone() };
            reader.insert(Class::Relation, oid, id.clone());
            reader.insert(Class::Type, row.get(1), id.clone());
            if let Some(rule) = row.get::<_, Option<u32>>(8) {
                reader.insert(Class::Rewrite, rule, id);
            }
            reader.owners.insert(oid, Owner::View(name.clone()));
            let query = printed(row, 6, &|| format!("view {}", name.plain()))?;
            cat.views.insert(
                name.clone(),
                View {
                    name,
                    materialized: row.get(4),
                    query,
                    options: row.get(7),
                    columns: Vec::new(),
                    column_types: Vec::new(),
                    indexes: NameMap::new(),
                    triggers: NameMap::new(),
                    comment: row.get(5),
                    column_comments: BTreeMap::new(),
                    column_defaults: BTreeMap::new(),
                    placeholder: row.get(9),
                },
            );
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, view) in &desired.views {
            match current.views.get(name) {
                None => create_view(view, out),
                Some(old) if replaceable(old, view) => {
                    out.push(
                        ViewChange::Replace {
                            from: Box::new(old.clone()),
                            to: Box::new(view.clone()),
                        }
                        .into(),
                    );
                    view_parts(old, view, out);
                }
                Some(old)
                    if old.query != view.query
                        || old.options != view.options
                        || old.materialized != view.materialized
                        || old.columns != view.columns =>
                {
                    out.push(ViewChange::Drop(old.clone()).into());
                    create_view(view, out);
                }
                Some(old) => view_parts(old, view, out),
            }
        }
        for (name, view) in &current.views {
            if !desired.views.contains_key(name) {
                out.push(ViewChange::Drop(view.clone()).into());
            }
        }
    }

    fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, out: &mut Vec<Change>) {
        let ObjectId::View { name } = id else {
            return;
        };
        if let (Some(old), Some(new)) = (current.views.get(name), desired.views.get(name)) {
            // Something it reads goes: it cannot be replaced in place.
            out.retain(|c| !matches!(c, Change::View(v) if matches!(&**v, ViewChange::Replace { to, .. } if to.name == *name)));
            out.push(ViewChange::Drop(old.clone()).into());
            create_view(new, out);
        }
    }
}

/// True when CREATE OR REPLACE VIEW turns `old` into `new`: plain views
/// on both sides whose query or options differ, the new one with the old
/// one's columns (names and types) first. A view that reads itself is
/// created again.
fn replaceable(old: &View, new: &View) -> bool {
    fn kept(v: &View, n: usize) -> Vec<(&String, &String)> {
        v.columns.iter().zip(&v.column_types).take(n).collect()
    }
    !old.materialized
        && !new.materialized
        && old.placeholder.is_none()
        && new.placeholder.is_none()
        && (old.query != new.query || old.options != new.options || old.columns != new.columns)
        && old.column_types.len() == old.columns.len()
        && new.column_types.len() == new.columns.len()
        && new.columns.len() >= old.columns.len()
        && kept(new, old.columns.len()) == kept(old, old.columns.len())
}

/// ` WITH (options)`, or nothing.
fn options(v: &View) -> String {
    if v.options.is_empty() {
        String::new()
    } else {
        format!(" WITH ({})", v.options.join(", "))
    }
}

/// Creates `view` with its indexes and comments.
fn create_view(view: &View, out: &mut Vec<Change>) {
    out.push(ViewChange::Create(view.clone()).into());
    let empty = View {
        indexes: NameMap::new(),
        triggers: NameMap::new(),
        comment: None,
        column_comments: BTreeMap::new(),
        column_defaults: BTreeMap::new(),
        ..view.clone()
    };
    view_parts(&empty, view, out);
}

/// Index and comment changes of a view that stays.
fn view_parts(old: &View, view: &View, out: &mut Vec<Change>) {
    let name = &view.name;
    let id = ObjectId::View { name: name.clone() };
    for index in view.indexes.values() {
        let same = old
            .indexes
            .get(&index.name.name)
            .filter(|o| o.same_as(index));
        if same.is_none() {
            if let Some(o) = old.indexes.get(&index.name.name) {
                out.push(IndexChange::drop(name, o).into());
            }
            out.push(IndexChange::create(name, index, true).into());
        }
        comment::changed(
            out,
            ObjectId::Index {
                name: index.name.clone(),
            },
            format!("INDEX {}", index.name),
            same.and_then(|o| o.comment.as_ref()),
            index.comment.as_ref(),
        );
    }
    for (iname, index) in &old.indexes {
        if !view.indexes.contains_key(iname) {
            out.push(IndexChange::drop(name, index).into());
        }
    }
    comment::changed(
        out,
        id.clone(),
        format!("{} {name}", view.keyword()),
        old.comment.as_ref(),
        view.comment.as_ref(),
    );
    for column in &view.columns {
        let (was, now) = (old.column_defaults.get(column), view.column_defaults.get(column));
        if was != now && !view.materialized {
            out.push(
                ViewChange::SetDefault {
                    view: Box::new(view.clone()),
                    column: column.clone(),
                    default: now.cloned(),
                }
                .into(),
            );
        }
        comment::changed(
            out,
            id.clone(),
            format!("COLUMN {name}.{}", ident(column)),
            old.column_comments.get(column),
            view.column_comments.get(column),
        );
    }
}
