//! Table constraints: PRIMARY KEY, UNIQUE, CHECK, EXCLUDE and FOREIGN KEY.
//! Inline in CREATE TABLE where possible; foreign keys and NOT VALID ones are
//! separate steps, so reference cycles need nothing special.
//!
//! Online, a constraint added to an existing table takes its long work out
//! of the strong lock: a foreign key or CHECK is added NOT VALID and then
//! validated in a transaction of its own (writes go on), a PRIMARY KEY or
//! UNIQUE gets its index built CONCURRENTLY and is added USING INDEX.

use std::sync::Arc;
use crate::kinds::relation::{Constraint, ConstraintKind};
use tokio_postgres::Row;
use crate::kinds::rank::{self, Rank};

use super::reader::{in_user_schema, Class, Owner, printed, Reader, comment_sql};
use super::index::IndexChange;
use super::Index;
use super::{comment, Catalog, Change, Effects, Action, Kind, ObjectId, QualName, Shown, Table};
use crate::hazard::{Hazard, HazardCode};
use crate::sql::ident;

impl Constraint {
    /// True when CREATE TABLE can hold it: foreign keys (which may form
    /// cycles) and NOT VALID constraints are added by ALTER TABLE afterwards.
    pub fn inline(&self) -> bool {
        self.kind != ConstraintKind::ForeignKey && self.validated
    }

    /// `NOT ENFORCED` or `NOT VALID` where it applies (PostgreSQL takes no
    /// NOT VALID for a constraint that is not enforced: it never is valid).
    fn state(&self) -> &'static str {
        match (self.enforced, self.validated) {
            (false, _) => " NOT ENFORCED",
            (true, false) => " NOT VALID",
            (true, true) => "",
        }
    }
}

/// A PRIMARY KEY or UNIQUE definition with the storage parameters of its
/// index (`pg_get_constraintdef` prints them for EXCLUDE only), where the
/// grammar takes them: after the columns, before DEFERRABLE. Like an
/// index's, they are part of the definition: a change rebuilds it.
fn with_index_options(definition: &str, options: Option<Vec<String>>) -> String {
    let Some(options) = options.filter(|o| !o.is_empty()) else {
        return definition.to_string();
    };
    let with: Vec<String> = options
        .iter()
        .map(|o| match o.split_once('=') {
            Some((key, value)) => format!("{key}={}", crate::sql::literal(value)),
            None => o.clone(),
        })
        .collect();
    let with = format!(" WITH ({})", with.join(", "));
    match definition.find(" DEFERRABLE") {
        Some(at) => format!("{}{with}{}", &definition[..at], &definition[at..]),
        None => format!("{definition}{with}"),
    }
}

/// `CONSTRAINT name definition`, as CREATE TABLE and ADD write it.
pub(crate) fn definition(c: &Constraint) -> String {
    format!("CONSTRAINT {} {}", ident(&c.name), c.definition)
}

/// A change to a table constraint.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ConstraintChange {
    /// ALTER TABLE ... ADD CONSTRAINT; `new_table` when the table is created
    /// in the same plan.
    Add {
        table: QualName,
        constraint: Constraint,
        new_table: bool,
    },
    /// ALTER TABLE ... DROP CONSTRAINT; `after` is the link to a parent
    /// the constraint belonged to until the table leaves it.
    Drop {
        table: QualName,
        constraint: Constraint,
        after: Option<ObjectId>,
    },
    /// ALTER TABLE ... VALIDATE CONSTRAINT; `alone` in a transaction of
    /// its own, so that the lock of the ADD before it is not held meanwhile.
    Validate {
        table: QualName,
        name: String,
        alone: bool,
    },
    /// ALTER TABLE ... ADD CONSTRAINT ... USING INDEX, over the index built
    /// CONCURRENTLY for it under its name.
    AddUsingIndex {
        table: QualName,
        constraint: Constraint,
        /// ` DEFERRABLE ...` as the definition says, or empty.
        deferrable: String,
    },
    /// ALTER TABLE ... ALTER CONSTRAINT ... [NOT] ENFORCED: a foreign key
    /// on PostgreSQL 18, where enforcing it also validates it.
    Enforce {
        table: QualName,
        name: String,
        enforced: bool,
    },
    /// ALTER TABLE ... RENAME CONSTRAINT: a table's own key that its new
    /// parent's key takes over when it is attached (PostgreSQL attaches the
    /// index it has), under the name the partition's key has in `schema/`.
    Rename {
        table: QualName,
        from: String,
        to: String,
    },
}

impl ConstraintChange {
    fn table(&self) -> &QualName {
        match self {
            ConstraintChange::Add { table, .. }
            | ConstraintChange::AddUsingIndex { table, .. }
            | ConstraintChange::Drop { table, .. }
            | ConstraintChange::Validate { table, .. }
            | ConstraintChange::Enforce { table, .. }
            | ConstraintChange::Rename { table, .. } => table,
        }
    }

    fn name(&self) -> &str {
        match self {
            ConstraintChange::Add { constraint, .. }
            | ConstraintChange::AddUsingIndex { constraint, .. }
            | ConstraintChange::Drop { constraint, .. } => &constraint.name,
            ConstraintChange::Validate { name, .. } | ConstraintChange::Enforce { name, .. } => name,
            ConstraintChange::Rename { to, .. } => to,
        }
    }
}

impl Action for ConstraintChange {
    fn id(&self) -> ObjectId {
        ObjectId::constraint(self.table(), self.name())
    }

    fn verb(&self) -> &'static str {
        match self {
            ConstraintChange::Add { .. } | ConstraintChange::AddUsingIndex { .. } => "add_constraint",
            ConstraintChange::Drop { .. } => "drop_constraint",
            ConstraintChange::Validate { .. } => "validate_constraint",
            ConstraintChange::Enforce { .. } => "enforce_constraint",
            ConstraintChange::Rename { .. } => "rename_constraint",
        }
    }

    fn effects(&self) -> Effects {
        match self {
            ConstraintChange::Add { .. } => super::made(vec![self.id()]),
            ConstraintChange::AddUsingIndex { table, .. } => Effects {
                needs: vec![ObjectId::Index {
                    name: QualName::new(table.schema.clone(), self.name().to_string()),
                }],
                ..super::made(vec![self.id()])
            },
            ConstraintChange::Drop { after, .. } => Effects {
                needs: after.iter().cloned().collect(),
                ..super::gone(vec![self.id()])
            },
            ConstraintChange::Validate { .. } | ConstraintChange::Enforce { .. } => {
                super::needs(vec![self.id()])
            }
            ConstraintChange::Rename { table, from, .. } => Effects {
                frees: vec![ObjectId::constraint(table, from)],
                needs: vec![ObjectId::Table {
                    name: table.clone(),
                }],
                ..super::made(vec![self.id()])
            },
        }
    }

    fn sql(&self) -> Option<String> {
        let table = self.table();
        Some(match self {
            ConstraintChange::Add { constraint, .. } => format!(
                "ALTER TABLE {table} ADD {}{};",
                definition(constraint),
                constraint.state()
            ),
            ConstraintChange::Drop { constraint, .. } => format!(
                "ALTER TABLE {table} DROP CONSTRAINT {};",
                ident(&constraint.name)
            ),
            ConstraintChange::Validate { name, .. } => {
                format!("ALTER TABLE {table} VALIDATE CONSTRAINT {};", ident(name))
            }
            ConstraintChange::AddUsingIndex {
                constraint,
                deferrable,
                ..
            } => format!(
                "ALTER TABLE {table} ADD CONSTRAINT {name} {} USING INDEX {name}{deferrable};",
                if constraint.kind == ConstraintKind::PrimaryKey {
                    "PRIMARY KEY"
                } else {
                    "UNIQUE"
                },
                name = ident(&constraint.name),
            ),
            ConstraintChange::Enforce { name, enforced, .. } => format!(
                "ALTER TABLE {table} ALTER CONSTRAINT {} {};",
                ident(name),
                if *enforced { "ENFORCED" } else { "NOT ENFORCED" }
            ),
            ConstraintChange::Rename { from, to, .. } => format!(
                "ALTER TABLE {table} RENAME CONSTRAINT {} TO {};",
                ident(from),
                ident(to)
            ),
        })
    }

    fn transactional(&self) -> bool {
        !matches!(self, ConstraintChange::Validate { alone: true, .. })
    }

    fn hazards(&self, current: &Catalog, desired: &Catalog) -> Vec<Hazard> {
        let table = self.table();
        if current.tables.get(table).is_some_and(|t| t.foreign.is_some()) {
            // PostgreSQL trusts a foreign table's constraints: nothing is read.
            return Vec::new();
        }
        let name = self.name();
        match self {
            ConstraintChange::Add {
                constraint,
                new_table: false,
                ..
            } => match constraint.kind {
                ConstraintKind::ForeignKey | ConstraintKind::Check
                    if constraint.validated && constraint.enforced =>
                {
                    vec![Hazard::new(
                        HazardCode::FullTableScan,
                        format!("validating {name} reads every row of {}", table.plain()),
                    )]
                }
                ConstraintKind::PrimaryKey | ConstraintKind::Unique | ConstraintKind::Exclusion => {
                    vec![Hazard::new(
                        HazardCode::IndexBuild,
                        format!(
                            "{name} builds its index on {}",
                            table.plain()
                        ),
                    )]
                }
                _ => Vec::new(),
            },
            // Dropped for good (not rebuilt under its name): its index goes.
            ConstraintChange::Drop { constraint, .. }
                if matches!(
                    constraint.kind,
                    ConstraintKind::PrimaryKey | ConstraintKind::Unique | ConstraintKind::Exclusion
                ) && !desired
                    .tables
                    .get(table)
                    .is_some_and(|t| t.constraints.contains_key(name)) =>
            {
                vec![Hazard::new(
                    HazardCode::IndexDropped,
                    format!(
                        "drops {name} and its index on {}: queries that use it get slower",
                        table.plain()
                    ),
                )]
            }
            ConstraintChange::Validate { .. } => vec![Hazard::new(
                HazardCode::FullTableScan,
                format!(
                    "validating {name} reads every row of {}",
                    table.plain()
                ),
            )],
            // Its columns are NOT NULL by then: a SET NOT NULL step (with
            // its own hazard) comes first, as the desired columns say.
            ConstraintChange::Enforce { enforced: true, .. } => vec![Hazard::new(
                HazardCode::FullTableScan,
                format!(
                    "enforcing {name} validates every row of {}",
                    table.plain()
                ),
            )],
            _ => Vec::new(),
        }
    }

    fn rank(&self) -> Rank {
        let foreign = |c: &Constraint| c.kind == ConstraintKind::ForeignKey;
        match self {
            ConstraintChange::Drop { constraint, .. } if foreign(constraint) => rank::DROP_FOREIGN_KEY,
            ConstraintChange::Drop { .. } => rank::DROP_CONSTRAINT,
            ConstraintChange::Add { constraint, .. } if !foreign(constraint) => rank::ADD_CONSTRAINT,
            ConstraintChange::Validate { .. } | ConstraintChange::Enforce { .. } => rank::VALIDATE,
            ConstraintChange::AddUsingIndex { .. } => rank::ADD_FOREIGN_KEY,
            ConstraintChange::Add { .. } => rank::ADD_FOREIGN_KEY,
            ConstraintChange::Rename { .. } => rank::SET_NOT_NULL,
        }
    }

    fn shown(&self) -> Shown {
        let detail = match self {
            ConstraintChange::Add {
                new_table: true, ..
            } => return Shown::WithOwner,
            ConstraintChange::Add { constraint, .. } | ConstraintChange::AddUsingIndex { constraint, .. } => {
                format!("+ constraint {}", constraint.name)
            }
            ConstraintChange::Drop { constraint, .. } => {
                format!("- constraint {}", constraint.name)
            }
            ConstraintChange::Validate { name, .. } => format!("~ validate constraint {name}"),
            ConstraintChange::Enforce { name, enforced, .. } => format!(
                "~ constraint {name} {}",
                if *enforced { "enforced" } else { "not enforced" }
            ),
            ConstraintChange::Rename { from, to, .. } => {
                format!("~ constraint {from} renamed to {to}, for its new parent's")
            }
        };
        Shown::Part {
            table: self.table().clone(),
            detail,
        }
    }
}

impl Kind for ConstraintChange {
    // NOT NULL constraints (contype 'n', PostgreSQL 18) are read from
    // attnotnull; constraint triggers ('t') are triggers. Constraints a
    // partition or child inherits belong to the parent, and are kept aside.
    fn query(_version: i32) -> Option<String> {
        Some(format!(
            "SELECT co.oid, co.conrelid, co.conname::text, co.contype::text, \
               pg_catalog.pg_get_constraintdef(co.oid), co.convalidated, co.conindid, \
               co.conkey, \
               {comment}, \
               co.conislocal AND co.coninhcount = 0 AND co.conparentid = 0, \
               CASE WHEN co.contype IN ('p', 'u') THEN \
                 (SELECT ic.reloptions FROM pg_catalog.pg_class ic WHERE ic.oid = co.conindid) END \
             FROM pg_catalog.pg_constraint co \
             WHERE co.conrelid <> 0 AND co.contype IN ('p', 'u', 'c', 'f', 'x') AND {}",
            in_user_schema("co.connamespace"), comment = comment_sql("pg_constraint", "co.oid")
        ))
    }

    fn reads_row_by_row() -> bool {
        true
    }

    fn read(rows: &[Row], cat: &mut Catalog, reader: &mut Reader) -> anyhow::Result<()> {
        for row in rows {
            let Some(Owner::Table(table_name)) = reader.owners.get(&row.get::<_, u32>(1)) else {
                continue;
            };
            let table_name = table_name.clone();
            let name: String = row.get(2);
            let kind = match row.get::<_, String>(3).as_str() {
                "p" => ConstraintKind::PrimaryKey,
                "u" => ConstraintKind::Unique,
                "c" => ConstraintKind::Check,
                "f" => ConstraintKind::ForeignKey,
                _ => ConstraintKind::Exclusion,
            };
            let own: bool = row.get(9);
            let id = ObjectId::constraint(&table_name, &name);
            if own {
                reader.insert(Class::Constraint, row.get(0), id.clone());
            }
            if own && kind != ConstraintKind::ForeignKey && kind != ConstraintKind::Check {
                // The index that implements the constraint stands for it.
                reader.insert(Class::Relation, row.get(6), id);
            }
            let definition = printed(row, 4, &|| format!("constraint {name} on {table_name}"))?;
            let definition = definition
                .strip_suffix(" NOT VALID")
                .unwrap_or(definition.as_str());
            let enforced = !definition.ends_with(" NOT ENFORCED");
            let definition = definition
                .strip_suffix(" NOT ENFORCED")
                .unwrap_or(definition);
            let definition = with_index_options(definition, row.get(10));
            if let Some(table) = cat.tables.get_mut(&table_name).map(Arc::make_mut) {
                let constraints = if own {
                    &mut table.constraints
                } else {
                    &mut table.parent_constraints
                };
                constraints.insert(
                    name.clone(),
                    Constraint {
                        name,
                        kind,
                        definition,
                        validated: row.get(5),
                        enforced,
                        // Named from the columns already read: a join
                        // to pg_attribute per constraint cost more than
                        // the rest of this query.
                        columns: row
                            .get::<_, Option<Vec<i16>>>(7)
                            .unwrap_or_default()
                            .into_iter()
                            .filter_map(|n| reader.column_name(row.get(1), n).map(str::to_string))
                            .collect(),
                        comment: row.get(8),
                    },
                );
            }
        }
        Ok(())
    }

    fn diff(current: &Catalog, desired: &Catalog, out: &mut Vec<Change>) {
        for (name, table) in &desired.tables {
            let Some(old) = crate::kinds::relation::kept(current, desired, name) else {
                // CREATE TABLE holds the inline ones.
                for c in table.constraints.values() {
                    if !c.inline() {
                        out.push(add(name, c, true));
                    }
                    constraint_comment(out, name, None, c);
                }
                continue;
            };
            // Leaving its parent, a table keeps what it held for it.
            let left = crate::kinds::relation::left_parent(current, desired, old, table)
                .map(crate::kinds::relation::link);
            let held = |n: &String| left.as_ref().and(old.parent_constraints.get(n));
            let drop = |c: &Constraint| -> Change {
                let after = left.clone().filter(|_| held(&c.name).is_some());
                ConstraintChange::Drop {
                    table: name.clone(),
                    constraint: c.clone(),
                    after,
                }
                .into()
            };
            for c in table.constraints.values() {
                let was = old.constraints.get(&c.name).or_else(|| held(&c.name));
                let same = was.filter(|o| kept_in_place(o, c));
                match same {
                    Some(o) if o.enforced != c.enforced => out.push(
                        ConstraintChange::Enforce {
                            table: name.clone(),
                            name: c.name.clone(),
                            enforced: c.enforced,
                        }
                        .into(),
                    ),
                    Some(o) if !o.validated && c.validated => out.push(
                        ConstraintChange::Validate {
                            table: name.clone(),
                            name: c.name.clone(),
                            alone: false,
                        }
                        .into(),
                    ),
                    Some(_) => {}
                    None => {
                        if let Some(o) = was {
                            out.push(drop(o));
                        }
                        add_online(current, table, c, out);
                    }
                }
                constraint_comment(out, name, same, c);
            }
            // Joining a parent, a table must have its CHECK constraints
            // first; one of its own that matches merges into the parent's.
            let joins = table.parent().is_some()
                && (old.parent() != table.parent() || crate::kinds::relation::relinked(current, desired, old, table));
            let joined = |c: &Constraint| {
                joins
                    && table
                        .parent_constraints
                        .get(&c.name)
                        .is_some_and(|p| p.kind == c.kind && p.definition == c.definition)
            };
            // A key of its own that the new parent's key can take over is
            // kept, under the partition's name for it: ATTACH adopts the
            // index instead of building another.
            let adopted = |c: &Constraint| {
                let key = matches!(c.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique);
                let takes = |p: &&Constraint| {
                    p.kind == c.kind
                        && p.definition == c.definition
                        && !old.constraints.contains_key(&p.name)
                        && !table.constraints.contains_key(&p.name)
                };
                let parent = table.partition_of.is_some();
                (joins && key && parent && !table.constraints.contains_key(&c.name))
                    .then(|| table.parent_constraints.values().find(takes))
                    .flatten()
            };
            let held_all = left.as_ref().map(|_| &old.parent_constraints);
            for (cname, c) in old.constraints.iter().chain(held_all.into_iter().flatten()) {
                if table.constraints.contains_key(cname) || joined(c) {
                    continue;
                }
                match adopted(c) {
                    Some(p) if p.name == c.name => {}
                    Some(p) => out.push(
                        ConstraintChange::Rename {
                            table: name.clone(),
                            from: c.name.clone(),
                            to: p.name.clone(),
                        }
                        .into(),
                    ),
                    None => out.push(drop(c)),
                }
            }
            for c in table.parent_constraints.values().filter(|_| joins) {
                let merges = old.constraints.get(&c.name).is_some_and(joined);
                // Held for the parent as it was, it stays as it is (a
                // recreated parent's changed check is added anew).
                let held = left.is_none() && old.parent_constraints.contains_key(&c.name)
                    || old
                        .parent_constraints
                        .get(&c.name)
                        .is_some_and(|o| o.kind == c.kind && o.definition == c.definition);
                if c.kind == ConstraintKind::Check && !merges && !held {
                    out.push(add(name, c, false));
                }
            }
        }
    }

    fn recreate(current: &Catalog, desired: &Catalog, id: &ObjectId, out: &mut Vec<Change>) {
        let ObjectId::Constraint { table, name } = id else {
            return;
        };
        let find = |cat: &Catalog| {
            cat.tables
                .get(table)
                .and_then(|t| t.constraints.get(name))
                .cloned()
        };
        if let (Some(old), Some(new)) = (find(current), find(desired)) {
            out.push(drop(table, &old));
            out.push(add(table, &new, false));
            constraint_comment(out, table, None, &new);
        }
    }
}

/// True when `old` becomes `new` without being dropped. A constraint cannot
/// be made NOT VALID again in place: a valid one that the schema wants NOT
/// VALID is dropped and added back NOT VALID (no scan, one transaction).
/// Only a foreign key's enforcement changes in place (which validates it).
fn kept_in_place(old: &Constraint, new: &Constraint) -> bool {
    let same = old.kind == new.kind && old.definition == new.definition;
    let enforcement = match (old.enforced, new.enforced) {
        (true, true) => new.validated || !old.validated,
        (false, false) => true,
        (false, true) => new.kind == ConstraintKind::ForeignKey && new.validated,
        (true, false) => new.kind == ConstraintKind::ForeignKey,
    };
    same && enforcement
}

/// Adds `c` to the existing `table`: online where it can, else plainly.
fn add_online(current: &Catalog, table: &Table, c: &Constraint, out: &mut Vec<Change>) {
    let name = &table.name;
    // NOT VALID foreign keys and concurrent builds are refused on a
    // partitioned table; a foreign table's constraints read nothing.
    let online = current.online && table.partition_by.is_none() && table.foreign.is_none();
    match c.kind {
        ConstraintKind::ForeignKey | ConstraintKind::Check if online && c.validated && c.enforced => {
            let not_valid = Constraint {
                validated: false,
                ..c.clone()
            };
            out.push(add(name, &not_valid, false));
            out.push(
                ConstraintChange::Validate {
                    table: name.clone(),
                    name: c.name.clone(),
                    alone: true,
                }
                .into(),
            );
        }
        ConstraintKind::PrimaryKey | ConstraintKind::Unique if online => match unique_index(name, c) {
            Some((index, deferrable)) => {
                out.push(IndexChange::concurrent(name, &index).into());
                out.push(
                    ConstraintChange::AddUsingIndex {
                        table: name.clone(),
                        constraint: c.clone(),
                        deferrable,
                    }
                    .into(),
                );
            }
            None => out.push(add(name, c, false)),
        },
        _ => out.push(add(name, c, false)),
    }
}

/// The unique index a PRIMARY KEY or UNIQUE constraint can be added over,
/// and its ` DEFERRABLE ...` clause; None for a definition with more than
/// columns (INCLUDE, WITH, a tablespace, WITHOUT OVERLAPS), added plainly.
pub(crate) fn unique_index(table: &QualName, c: &Constraint) -> Option<(Index, String)> {
    let rest = c
        .definition
        .strip_prefix("UNIQUE ")
        .or_else(|| c.definition.strip_prefix("PRIMARY KEY "))?;
    let (nulls, rest) = match rest.strip_prefix("NULLS NOT DISTINCT ") {
        Some(rest) => (" NULLS NOT DISTINCT", rest),
        None => ("", rest),
    };
    let columns = rest.strip_prefix('(')?;
    let mut depth = 1;
    let close = columns.char_indices().find_map(|(i, ch)| {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        (depth == 0).then_some(i)
    })?;
    let (columns, tail) = (&columns[..close], &columns[close + 1..]);
    if columns.contains(" WITHOUT OVERLAPS") {
        return None;
    }
    if !(tail.is_empty() || tail.starts_with(" DEFERRABLE")) {
        return None;
    }
    let index = Index {
        name: QualName::new(table.schema.clone(), c.name.clone()),
        definition: format!(
            "CREATE UNIQUE INDEX {} ON {table} USING btree ({columns}){nulls}",
            ident(&c.name)
        ),
        comment: None,
        valid: true,
        attached_to: None,
    };
    Some((index, tail.to_string()))
}

fn add(table: &QualName, constraint: &Constraint, new_table: bool) -> Change {
    ConstraintChange::Add {
        table: table.clone(),
        constraint: constraint.clone(),
        new_table,
    }
    .into()
}

fn drop(table: &QualName, constraint: &Constraint) -> Change {
    ConstraintChange::Drop {
        table: table.clone(),
        constraint: constraint.clone(),
        after: None,
    }
    .into()
}

fn constraint_comment(
    out: &mut Vec<Change>,
    table: &QualName,
    old: Option<&Constraint>,
    new: &Constraint,
) {
    comment::changed(
        out,
        ObjectId::constraint(table, &new.name),
        format!("CONSTRAINT {} ON {table}", ident(&new.name)),
        old.and_then(|o| o.comment.as_ref()),
        new.comment.as_ref(),
    );
}
