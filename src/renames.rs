//! `-- stratum:renamed-from <old name>` in `schema/`: a rename instead of a
//! drop and a create.
//!
//! The comment sits on the line that declares the object: a CREATE
//! statement's first line (table, view, index, sequence, function, type,
//! domain, schema), a column or constraint line of CREATE TABLE / ALTER
//! TABLE ... ADD, or an enum value's line. Against the current database:
//! the old name there and the new one not is a rename; the new one there and
//! the old one not is a rename already done (nothing to do); both there is
//! an error; neither is an error when the object's parent exists there (a
//! typo or a stale annotation would otherwise become a drop and an add), and
//! a warning when the parent is new too or the object is top-level.

use std::collections::BTreeMap;

use anyhow::Result;
use pg_query::{NodeEnum, NodeRef};

use crate::kinds::rename::RenameChange;
use crate::kinds::{Catalog, ObjectId, QualName};
use crate::parse::SqlSource;
use crate::sql::{ident, literal};

/// What an annotation renames.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Schema(String),
    /// Tables, views, sequences, indexes, types and functions: a name in a
    /// schema.
    Named(Named, QualName),
    Column(QualName, String),
    Constraint(QualName, String),
    Index(QualName, String),
    EnumValue(QualName, String),
    DomainCheck(QualName, String),
}

/// The kind of a schema-qualified object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    Table,
    View { materialized: bool },
    Sequence,
    Type,
    Domain,
    Function,
}

/// One `-- stratum:renamed-from` comment and what it is on.
#[derive(Debug, Clone)]
struct Annotation {
    at: String,
    old: String,
    target: Target,
}

/// The renames to run, and what to say about the annotations.
#[derive(Debug, Default, Clone)]
pub struct Renames {
    /// Steps for the plan, run last.
    pub changes: Vec<RenameChange>,
    /// The same renames undone, for the desired side's scratch database.
    pub undo: Vec<String>,
    /// Annotations that did nothing, with why (`file:line: ...`).
    pub warnings: Vec<String>,
}

impl Renames {
    /// One step that undoes these renames, for the down migration.
    pub fn undoing(&self) -> Option<RenameChange> {
        let first = self.changes.first()?;
        Some(RenameChange {
            id: first.id.clone(),
            what: String::new(),
            from: String::new(),
            sql: self.undo.join("\n"),
            depth: 0,
            undo: true,
        })
    }
}

const MARK: &str = "stratum:renamed-from";

/// Whether any file of `source` holds an annotation (cheap: no parsing).
pub fn any(source: &SqlSource) -> bool {
    source.files.iter().any(|f| f.text.contains(MARK))
}

/// Reads the annotations of `source` and decides each against `current`
/// (the database) and `desired` (the schema, as loaded).
pub fn resolve(source: &SqlSource, current: &Catalog, desired: &Catalog) -> Result<Renames> {
    let annotations = annotations(source, desired)?;
    let mut out = Renames::default();
    let mut errors = Vec::new();
    // Parents renamed here: children are looked up under the old names.
    let mut schemas: BTreeMap<String, String> = BTreeMap::new();
    let mut relations: BTreeMap<QualName, QualName> = BTreeMap::new();
    let mut sorted = annotations;
    sorted.sort_by_key(|a| depth(&a.target));
    let written: Vec<Target> = sorted.iter().map(|a| a.target.clone()).collect();
    let mut queue: std::collections::VecDeque<Annotation> = sorted.into();
    while let Some(a) = queue.pop_front() {
        let old_schema = |s: &str| schemas.get(s).cloned().unwrap_or_else(|| s.to_string());
        let old_parent = |q: &QualName| {
            relations
                .get(q)
                .cloned()
                .unwrap_or_else(|| QualName::new(old_schema(&q.schema), q.name.clone()))
        };
        let (old_there, new_there, parent_there) = match &a.target {
            Target::Schema(new) => (
                current.schemas.contains_key(&a.old),
                current.schemas.contains_key(new),
                false,
            ),
            Target::Named(kind, new) => {
                let old = QualName::new(old_schema(&new.schema), a.old.clone());
                let moved = QualName::new(old_schema(&new.schema), new.name.clone());
                (
                    has_named(current, *kind, &old),
                    has_named(current, *kind, &moved),
                    false,
                )
            }
            Target::Column(table, new) => {
                let t = current.tables.get(&old_parent(table));
                (
                    t.is_some_and(|t| t.column(&a.old).is_some()),
                    t.is_some_and(|t| t.column(new).is_some()),
                    t.is_some(),
                )
            }
            Target::Constraint(table, new) => {
                let t = current.tables.get(&old_parent(table));
                (
                    t.is_some_and(|t| t.constraints.contains_key(&a.old)),
                    t.is_some_and(|t| t.constraints.contains_key(new)),
                    t.is_some(),
                )
            }
            Target::Index(table, new) => {
                let t = current.tables.get(&old_parent(table));
                (
                    t.is_some_and(|t| t.indexes.contains_key(&a.old)),
                    t.is_some_and(|t| t.indexes.contains_key(new)),
                    t.is_some(),
                )
            }
            Target::DomainCheck(domain, new) => {
                let d = current.domains.get(&old_parent(domain));
                (
                    d.is_some_and(|d| d.checks.contains_key(&a.old)),
                    d.is_some_and(|d| d.checks.contains_key(new)),
                    d.is_some(),
                )
            }
            Target::EnumValue(ty, new) => {
                let e = current.enums.get(&old_parent(ty));
                (
                    e.is_some_and(|e| e.values.contains(&a.old)),
                    e.is_some_and(|e| e.values.contains(new)),
                    e.is_some(),
                )
            }
        };
        let what = label(&a.target);
        match (old_there, new_there) {
            (true, false) => {
                match &a.target {
                    Target::Schema(new) => {
                        schemas.insert(new.clone(), a.old.clone());
                    }
                    Target::Named(kind, new) => {
                        let old = QualName::new(old_schema(&new.schema), a.old.clone());
                        let prefixes = (format!("{}_", a.old), format!("{}_", new.name));
                        let more = match kind {
                            Named::Table | Named::Domain => {
                                let domain = *kind == Named::Domain;
                                derived(&a, &prefixes, (&old, new), domain, current, desired)
                            }
                            _ => Vec::new(),
                        };
                        queue.extend(more.into_iter().filter(|d| !written.contains(&d.target)));
                        relations.insert(new.clone(), old);
                    }
                    Target::Column(table, new) => {
                        let old_table = old_parent(table);
                        let prefixes = (
                            format!("{}_{}_", old_table.name, a.old),
                            format!("{}_{new}_", table.name),
                        );
                        let more =
                            derived(&a, &prefixes, (&old_table, table), false, current, desired);
                        queue.extend(more.into_iter().filter(|d| !written.contains(&d.target)));
                    }
                    _ => {}
                }
                let (forward, undo) = statements(&a, current, desired);
                out.changes.push(RenameChange {
                    id: id(&a.target, desired),
                    what: what.clone(),
                    from: a.old.clone(),
                    sql: forward,
                    depth: depth(&a.target),
                    undo: false,
                });
                out.undo.push(undo);
            }
            (false, true) => {}
            (true, true) => errors.push(format!(
                "{}: renamed-from {}: the database has both {what} and the old name {}; \
                 drop one of them first, or remove the annotation",
                a.at, a.old, a.old
            )),
            (false, false) if parent_there => errors.push(format!(
                "{}: renamed-from {}: the database has neither {what} nor {}; \
                 a typo or a stale annotation? (remove it once the rename is applied everywhere)",
                a.at, a.old, a.old
            )),
            (false, false) => out.warnings.push(format!(
                "{}: renamed-from {}: the database has neither {what} nor {}: it is created",
                a.at, a.old, a.old
            )),
        }
    }
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join("\n"));
    }
    // Children are undone first: each statement names its parent as the
    // desired side has it.
    out.undo.reverse();
    Ok(out)
}

type Names = Vec<String>;

/// The constraints and indexes PostgreSQL named after a renamed table or
/// column (`users_pkey`, `users_email_key`, `posts_author_fkey`), and a
/// renamed domain's checks (`positive_check`): renamed with it when the
/// desired side has the same one under the new name (`prefixes`: the old
/// and the new start of such names; `domain`: `old` and `new` name a domain).
fn derived(
    a: &Annotation,
    prefixes: &(String, String),
    (old, new): (&QualName, &QualName),
    domain: bool,
    current: &Catalog,
    desired: &Catalog,
) -> Vec<Annotation> {
    // (names on the current side, on the desired side, what they name)
    let lists: Vec<(Option<Names>, Option<Names>, u8)> = if domain {
        let checks = |c: &Catalog, q: &QualName| {
            c.domains.get(q).map(|d| d.checks.keys().cloned().collect())
        };
        vec![(checks(current, old), checks(desired, new), 2)]
    } else {
        let table = |c: &Catalog, q: &QualName, index: bool| {
            c.tables.get(q).map(|t| {
                if index {
                    t.indexes.keys().cloned().collect()
                } else {
                    t.constraints.keys().cloned().collect()
                }
            })
        };
        vec![
            (table(current, old, false), table(desired, new, false), 0),
            (table(current, old, true), table(desired, new, true), 1),
        ]
    };
    let mut out = Vec::new();
    for (have, want, what) in lists {
        let (Some(have), Some(want)) = (have, want) else {
            continue;
        };
        for (old_name, new_name) in follow(&have, &want, prefixes) {
            let target = match what {
                0 => Target::Constraint(new.clone(), new_name),
                1 => Target::Index(new.clone(), new_name),
                _ => Target::DomainCheck(new.clone(), new_name),
            };
            out.push(Annotation {
                at: a.at.clone(),
                old: old_name,
                target,
            });
        }
    }
    out
}

/// Names in `have` that start with the old prefix and whose counterpart
/// with the new prefix is in `want` (and not the other way round).
fn follow(
    have: &[String],
    want: &[String],
    (old, new): &(String, String),
) -> Vec<(String, String)> {
    have.iter()
        .filter_map(|name| {
            let renamed = format!("{new}{}", name.strip_prefix(old.as_str())?);
            (want.contains(&renamed) && !want.contains(name) && !have.contains(&renamed))
                .then(|| (name.clone(), renamed))
        })
        .collect()
}

fn has_named(catalog: &Catalog, kind: Named, name: &QualName) -> bool {
    match kind {
        Named::Table => catalog.tables.contains_key(name),
        Named::View { .. } => catalog.views.contains_key(name),
        Named::Sequence => catalog.sequences.contains_key(name),
        Named::Type => {
            catalog.enums.contains_key(name)
                || catalog.composites.contains_key(name)
                || catalog.ranges.contains_key(name)
        }
        Named::Domain => catalog.domains.contains_key(name),
        Named::Function => catalog.functions.keys().any(|r| &r.name == name),
    }
}

/// Schemas first, then what they hold, then parts of tables and types.
fn depth(target: &Target) -> u8 {
    match target {
        Target::Schema(_) => 0,
        Target::Named(..) => 1,
        _ => 2,
    }
}

fn label(target: &Target) -> String {
    match target {
        Target::Schema(s) => format!("schema {s}"),
        Target::Named(kind, name) => format!(
            "{} {}",
            match kind {
                Named::Table => "table",
                Named::View {
                    materialized: false,
                } => "view",
                Named::View { materialized: true } => "materialized view",
                Named::Sequence => "sequence",
                Named::Type => "type",
                Named::Domain => "domain",
                Named::Function => "function",
            },
            name.plain()
        ),
        Target::Column(t, c) => format!("column {}.{c}", t.plain()),
        Target::Constraint(t, c) => format!("constraint {c} on {}", t.plain()),
        Target::Index(t, i) => format!("index {}.{i}", t.schema),
        Target::EnumValue(t, v) => format!("value '{v}' of enum {}", t.plain()),
        Target::DomainCheck(d, c) => format!("constraint {c} on domain {}", d.plain()),
    }
}

fn id(target: &Target, desired: &Catalog) -> ObjectId {
    match target {
        Target::Schema(name) => ObjectId::Schema { name: name.clone() },
        Target::Named(Named::Table, name) => ObjectId::Table { name: name.clone() },
        Target::Named(Named::View { .. }, name) => ObjectId::View { name: name.clone() },
        Target::Named(Named::Sequence, name) => ObjectId::Sequence { name: name.clone() },
        Target::Named(Named::Type | Named::Domain, name) => ObjectId::Type { name: name.clone() },
        Target::Named(Named::Function, name) => desired
            .functions
            .keys()
            .find(|r| &r.name == name)
            .map(|r| ObjectId::Routine { id: r.clone() })
            .unwrap_or(ObjectId::Type { name: name.clone() }),
        Target::Column(t, c) => ObjectId::column(t, c),
        Target::Constraint(t, c) => ObjectId::Constraint {
            table: t.clone(),
            name: c.clone(),
        },
        Target::Index(t, i) => ObjectId::Index {
            name: QualName::new(t.schema.clone(), i.clone()),
        },
        // An enum value and a domain's check are parts of their type.
        Target::EnumValue(t, _) | Target::DomainCheck(t, _) => ObjectId::Type { name: t.clone() },
    }
}

/// The rename, as the plan runs it (parents already renamed: named by their
/// new names, the object by its old one), and undone on the desired side
/// (named as the desired side has them).
fn statements(a: &Annotation, current: &Catalog, desired: &Catalog) -> (String, String) {
    let old = &a.old;
    let rename = |what: &str, parent: &str, from: &str, to: &str| {
        format!(
            "ALTER {what} {parent}{} RENAME TO {};",
            ident(from),
            ident(to)
        )
    };
    match &a.target {
        Target::Schema(new) => (
            format!("ALTER SCHEMA {} RENAME TO {};", ident(old), ident(new)),
            format!("ALTER SCHEMA {} RENAME TO {};", ident(new), ident(old)),
        ),
        Target::Named(kind, new) => {
            let schema = format!("{}.", ident(&new.schema));
            let what = match kind {
                Named::Table => "TABLE",
                Named::View {
                    materialized: false,
                } => "VIEW",
                Named::View { materialized: true } => "MATERIALIZED VIEW",
                Named::Sequence => "SEQUENCE",
                Named::Type => "TYPE",
                Named::Domain => "DOMAIN",
                Named::Function => "ROUTINE",
            };
            if *kind == Named::Function {
                let args = desired
                    .functions
                    .keys()
                    .find(|r| &r.name == new)
                    .map(|r| r.args.clone())
                    .unwrap_or_default();
                return (
                    format!(
                        "ALTER ROUTINE {schema}{}({args}) RENAME TO {};",
                        ident(old),
                        ident(&new.name)
                    ),
                    format!(
                        "ALTER ROUTINE {schema}{}({args}) RENAME TO {};",
                        ident(&new.name),
                        ident(old)
                    ),
                );
            }
            let (mut forward, mut undo) = (
                rename(what, &schema, old, &new.name),
                rename(what, &schema, &new.name, old),
            );
            // A range's multirange type, named after it, follows it.
            let was = current
                .ranges
                .values()
                .find(|r| r.name.name == *old && r.multirange.name == format!("{old}_multirange"));
            let is = desired.ranges.get(new).map(|r| &r.multirange);
            if let (Some(_), Some(multirange)) = (was, is) {
                if multirange.name == format!("{}_multirange", new.name) {
                    let old_multi = format!("{old}_multirange");
                    forward.push_str(&format!(
                        "\n{}",
                        rename("TYPE", &schema, &old_multi, &multirange.name)
                    ));
                    undo = format!(
                        "{}\n{undo}",
                        rename("TYPE", &schema, &multirange.name, &old_multi)
                    );
                }
            }
            (forward, undo)
        }
        Target::Column(table, new) => (
            format!(
                "ALTER TABLE {table} RENAME COLUMN {} TO {};",
                ident(old),
                ident(new)
            ),
            format!(
                "ALTER TABLE {table} RENAME COLUMN {} TO {};",
                ident(new),
                ident(old)
            ),
        ),
        Target::Constraint(table, new) => (
            format!(
                "ALTER TABLE {table} RENAME CONSTRAINT {} TO {};",
                ident(old),
                ident(new)
            ),
            format!(
                "ALTER TABLE {table} RENAME CONSTRAINT {} TO {};",
                ident(new),
                ident(old)
            ),
        ),
        Target::Index(table, new) => {
            let schema = format!("{}.", ident(&table.schema));
            (
                rename("INDEX", &schema, old, new),
                rename("INDEX", &schema, new, old),
            )
        }
        Target::DomainCheck(domain, new) => (
            format!(
                "ALTER DOMAIN {domain} RENAME CONSTRAINT {} TO {};",
                ident(old),
                ident(new)
            ),
            format!(
                "ALTER DOMAIN {domain} RENAME CONSTRAINT {} TO {};",
                ident(new),
                ident(old)
            ),
        ),
        Target::EnumValue(ty, new) => (
            format!(
                "ALTER TYPE {ty} RENAME VALUE {} TO {};",
                literal(old),
                literal(new)
            ),
            format!(
                "ALTER TYPE {ty} RENAME VALUE {} TO {};",
                literal(new),
                literal(old)
            ),
        ),
    }
}

/// Where each line of a file starts, to find the line of an offset fast.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines(starts.collect())
    }

    /// 1-based line of byte `offset`.
    fn of(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

/// Every line of `source` with a `-- <mark>` comment: its place
/// (`file:line`), the text after the mark, and what the line declares.
fn marked(
    source: &SqlSource,
    desired: &Catalog,
    mark: &str,
) -> Vec<(String, String, Option<Target>)> {
    let mut out = Vec::new();
    for (f, file) in source.files.iter().enumerate() {
        if !file.text.contains(mark) {
            continue;
        }
        let lines = Lines::new(&file.text);
        for (i, text) in file.text.lines().enumerate() {
            let Some(at) = text.find(mark) else {
                continue;
            };
            if !text[..at].contains("--") {
                continue;
            }
            let line = i + 1;
            // The statement on this line: the last one that starts on it or
            // before and ends on it or after.
            let statement = source.statements.iter().rfind(|s| {
                s.file == f
                    && lines.of(s.offset) <= line
                    && lines.of(s.offset + s.sql.len()) >= line
            });
            let target = statement.and_then(|s| target(s, &lines, line, text, desired));
            out.push((
                format!("{}:{line}", file.path.display()),
                text[at + mark.len()..].trim().to_string(),
                target,
            ));
        }
    }
    out
}

/// Every annotation in `source`, with the object it is on.
fn annotations(source: &SqlSource, desired: &Catalog) -> Result<Vec<Annotation>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (place, rest, target) in marked(source, desired, MARK) {
        let Some(old) = rest.split_whitespace().next() else {
            errors.push(format!("{place}: {MARK} needs the old name"));
            continue;
        };
        let old = old.trim_matches('"').to_string();
        match target {
            Some(target) => out.push(Annotation {
                at: place,
                old,
                target,
            }),
            None => errors.push(format!(
                "{place}: {MARK} is on no line that declares a table, column, constraint, \
                 index, view, sequence, function, type, domain, enum value or schema"
            )),
        }
    }
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join("\n"));
    }
    Ok(out)
}

/// A note on the line that declares a column in `schema/`, such as
/// `-- stratum:backfill first_name || ' ' || last_name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnNote {
    /// `file:line`.
    pub at: String,
    /// The column's table.
    pub table: QualName,
    /// The column.
    pub column: String,
    /// The text after the mark, without a leading `column =`.
    pub text: String,
}

/// The `-- <mark>` notes of `source` on the columns they are on; an
/// error names a note on a line that declares no column, or with no text.
pub fn column_notes(source: &SqlSource, desired: &Catalog, mark: &str) -> Result<Vec<ColumnNote>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (at, text, target) in marked(source, desired, mark) {
        let Some(Target::Column(table, column)) = target else {
            errors.push(format!("{at}: {mark} is on no line that declares a column"));
            continue;
        };
        // `full_name = expression` or the expression alone.
        let text = match text.split_once('=') {
            Some((name, rest))
                if name.trim().trim_matches('"') == column && !rest.starts_with('=') =>
            {
                rest.trim().to_string()
            }
            _ => text,
        };
        if text.is_empty() {
            errors.push(format!(
                "{at}: {mark} needs the expression that fills {column}"
            ));
            continue;
        }
        out.push(ColumnNote {
            at,
            table,
            column,
            text,
        });
    }
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join("\n"));
    }
    Ok(out)
}

/// What the statement `s` declares on `line` (whose text is `text`).
fn target(
    s: &crate::parse::Statement,
    lines: &Lines,
    line: usize,
    text: &str,
    desired: &Catalog,
) -> Option<Target> {
    let node = crate::parse::first_statement(&s.sql)?;
    let on_line =
        |location: i32| usize::try_from(location).is_ok_and(|l| lines.of(s.offset + l) == line);
    let first_line = lines.of(s.offset) == line;
    let relation = |r: &pg_query::protobuf::RangeVar| relation_name(r, desired);
    let named = |names: &[pg_query::Node]| -> Option<QualName> {
        let parts: Vec<&str> = names
            .iter()
            .filter_map(|n| match n.node.as_ref() {
                Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                _ => None,
            })
            .collect();
        match parts.as_slice() {
            [name] => Some(QualName::new("public", *name)),
            [schema, name] => Some(QualName::new(*schema, *name)),
            _ => None,
        }
    };
    // A column or constraint of a table, declared on this line.
    let part = |table: QualName, element: &NodeEnum| match element {
        NodeEnum::ColumnDef(c) if on_line(c.location) => {
            Some(Target::Column(table, c.colname.clone()))
        }
        NodeEnum::Constraint(c) if on_line(c.location) && !c.conname.is_empty() => {
            Some(Target::Constraint(table, c.conname.clone()))
        }
        _ => None,
    };
    match node.to_ref() {
        NodeRef::CreateStmt(c) => {
            let table = relation(c.relation.as_ref()?);
            // On the first line, the table itself, unless the line goes on
            // after its opening parenthesis with a column the note follows
            // (`CREATE TABLE t (id int, title text -- ...`): that column's.
            if first_line {
                let code = text.split("--").next().unwrap_or("").trim_end();
                let after_column = !code.ends_with(['(', ')', ';']);
                let last_column = c
                    .table_elts
                    .iter()
                    .rev()
                    .filter_map(|e| e.node.as_ref())
                    .find_map(|e| part(table.clone(), e));
                return match last_column {
                    Some(column) if after_column => Some(column),
                    _ => Some(Target::Named(Named::Table, table)),
                };
            }
            c.table_elts
                .iter()
                .filter_map(|e| e.node.as_ref())
                .find_map(|e| part(table.clone(), e))
        }
        NodeRef::AlterTableStmt(a) => {
            let table = relation(a.relation.as_ref()?);
            a.cmds.iter().find_map(|c| match c.node.as_ref()? {
                NodeEnum::AlterTableCmd(cmd) => {
                    part(table.clone(), cmd.def.as_ref()?.node.as_ref()?)
                }
                _ => None,
            })
        }
        NodeRef::IndexStmt(i) => {
            let table = relation(i.relation.as_ref()?);
            Some(Target::Index(table, i.idxname.clone()))
        }
        NodeRef::ViewStmt(v) => Some(Target::Named(
            Named::View {
                materialized: false,
            },
            relation(v.view.as_ref()?),
        )),
        NodeRef::CreateTableAsStmt(c) => Some(Target::Named(
            Named::View { materialized: true },
            relation(c.into.as_ref()?.rel.as_ref()?),
        )),
        NodeRef::CreateSeqStmt(q) => Some(Target::Named(
            Named::Sequence,
            relation(q.sequence.as_ref()?),
        )),
        NodeRef::CreateFunctionStmt(f) => Some(Target::Named(Named::Function, named(&f.funcname)?)),
        NodeRef::CreateEnumStmt(e) => {
            let ty = named(&e.type_name)?;
            let value = e.vals.iter().find_map(|v| match v.node.as_ref() {
                Some(NodeEnum::String(v)) if text.contains(&literal(&v.sval)) => {
                    Some(v.sval.clone())
                }
                _ => None,
            });
            Some(match value {
                Some(v) if !first_line || e.vals.len() == 1 => Target::EnumValue(ty, v),
                _ => Target::Named(Named::Type, ty),
            })
        }
        NodeRef::CompositeTypeStmt(c) => {
            Some(Target::Named(Named::Type, relation(c.typevar.as_ref()?)))
        }
        NodeRef::CreateRangeStmt(r) => Some(Target::Named(Named::Type, named(&r.type_name)?)),
        NodeRef::CreateDomainStmt(d) => Some(Target::Named(Named::Domain, named(&d.domainname)?)),
        NodeRef::CreateSchemaStmt(c) => Some(Target::Schema(c.schemaname.clone())),
        _ => None,
    }
}

/// A relation's name: its schema as written, else the one schema of the
/// desired side that has it, else `public`.
fn relation_name(r: &pg_query::protobuf::RangeVar, desired: &Catalog) -> QualName {
    if !r.schemaname.is_empty() {
        return QualName::new(r.schemaname.clone(), r.relname.clone());
    }
    let mut schemas = desired
        .tables
        .keys()
        .chain(desired.views.keys())
        .chain(desired.sequences.keys())
        .chain(desired.composites.keys())
        .filter(|q| q.name == r.relname)
        .map(|q| q.schema.clone());
    match (schemas.next(), schemas.next()) {
        (Some(schema), None) => QualName::new(schema, r.relname.clone()),
        _ => QualName::new("public", r.relname.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_of_an_offset() {
        let lines = Lines::new("a\nbc\n\nd");
        assert_eq!([0, 1, 2, 4, 5, 6].map(|o| lines.of(o)), [1, 1, 2, 2, 3, 4]);
    }
}
