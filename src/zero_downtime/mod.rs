//! `generate --zero-downtime`: a change that would break the application
//! version still running (a column renamed, retyped with a rewrite or a
//! cast that can fail, or made NOT NULL) written as expand / contract
//! instead of one step, in three migrations:
//!
//! - **expand**: the new shape beside the old (a column added, a default
//!   applied by a trigger, a NOT NULL enforced for new rows by a `CHECK ...
//!   NOT VALID`), and a trigger that keeps old and new in step for every
//!   write either version of the application makes;
//! - **backfill**: existing rows copied into the new shape by a batched
//!   backfill (`execute::backfill`);
//! - **contract**, once the application no longer uses the old shape: the
//!   check validated, the trigger and the old column dropped, the new one
//!   renamed into place, NOT NULL set through the valid check, in one short
//!   transaction.
//!
//! Each phase has a down file that returns to the phase before.
//!
//! The indexes and constraints over a renamed or retyped column move with
//! it: expand builds the schema's on the new column under temporary names
//! (indexes and keys' indexes CONCURRENTLY, checks and foreign keys NOT
//! VALID, validated before the swap), the old column's go with it at
//! contract, and the new ones take their names there (a key ADD ...
//! USING INDEX). A sequence the old column owns passes to the new one; an
//! identity moves to it in the contract's transaction, going on from the
//! old sequence's next value.
//! Other tables' foreign keys to the column are pointed at the new one in
//! the contract (NOT VALID and validated before the swap, named in it).
//! Views that read the column are made again over the new one in the
//! contract's transaction ([`Views`]). Other objects over the column (a
//! materialized view, a policy, an exclusion constraint) are refused for
//! now, naming them.

use std::collections::BTreeSet;

use anyhow::{bail, Result};

use crate::diff::Change;
use crate::hazard::HazardCode;
use crate::kinds::column::ColumnChange;
use crate::kinds::expand::ExpandChange;
use crate::kinds::relation::{Column, ConstraintKind};
use crate::kinds::{Catalog, ObjectId};
use crate::plan::{Plan, Step};
use crate::renames::{ColumnNote, Renames};
use crate::sql::QualName;
use writer::Writer;

mod moves;
mod threshold;
mod views;
mod writer;

use moves::carried;
pub use moves::{Carried, Carries};
pub use threshold::{Sizes, When};
use views::step_of;
pub use views::{views, Views};

/// The note on a column's line in `schema/` that says how to fill it:
/// `-- stratum:backfill full_name = first_name || ' ' || last_name`.
pub const NOTE: &str = "stratum:backfill";

/// The line of a migration's header that names its phase.
pub const PHASE: &str = "-- stratum:phase";

/// A phase of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The new shape beside the old.
    Expand,
    /// Existing rows copied into the new shape.
    Backfill,
    /// The old shape removed, once no application uses it.
    Contract,
}

impl Phase {
    /// The phase as its header line writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Expand => "expand",
            Phase::Backfill => "backfill",
            Phase::Contract => "contract",
        }
    }

    /// The phase a migration's text names in its header, if any.
    pub fn of(text: &str) -> Option<Phase> {
        let rest = text
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(PHASE))?;
        match rest.split_whitespace().next()? {
            "expand" => Some(Phase::Expand),
            "backfill" => Some(Phase::Backfill),
            "contract" => Some(Phase::Contract),
            _ => None,
        }
    }
}

/// One breaking change of a column, as a pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// `-- stratum:renamed-from`: a new column kept in step with the old.
    Rename {
        /// The table.
        table: QualName,
        /// The column as it is.
        from: Column,
        /// The column as the schema wants it.
        to: Column,
        /// The indexes, constraints and sequences that move with it.
        carries: Carries,
    },
    /// A type change that rewrites the table or whose cast can fail: a
    /// shadow column of the new type, swapped in at contract.
    Retype {
        /// The table.
        table: QualName,
        /// The column as it is.
        from: Column,
        /// The column as the schema wants it.
        to: Column,
        /// The indexes, constraints and sequences that move with it.
        carries: Carries,
    },
    /// `-- stratum:renamed-from` on a table: renamed as planned, with a
    /// view under the old name (simple, so writes go through it) until
    /// contract.
    RenameTable {
        /// The table under its new name.
        table: QualName,
        /// Its old name.
        old: QualName,
        /// The table's grants of what a view can take (SELECT, INSERT,
        /// UPDATE, DELETE), given on the view too: `GRANT ...;` lines.
        grants: String,
    },
    /// NOT NULL on a column that may hold NULLs, filled with its default
    /// or the expression of its `-- stratum:backfill` note.
    NotNull {
        /// The table.
        table: QualName,
        /// The column as it is.
        from: Column,
        /// The column as the schema wants it.
        to: Column,
        /// What fills its NULLs: an expression over the row's columns.
        fill: String,
    },
    /// A column added to a kept table and filled by the expression of its
    /// `-- stratum:backfill` note (a merge of other columns, or one part
    /// of a split), kept up to date by a trigger for the version that
    /// writes only the others.
    Compute {
        /// The table.
        table: QualName,
        /// The column as the schema wants it.
        to: Column,
        /// Its value from the row's other columns.
        fill: String,
    },
}

impl Pattern {
    fn table(&self) -> &QualName {
        match self {
            Pattern::Rename { table, .. }
            | Pattern::Retype { table, .. }
            | Pattern::RenameTable { table, .. }
            | Pattern::NotNull { table, .. }
            | Pattern::Compute { table, .. } => table,
        }
    }

    /// The table as the live database names it now.
    pub fn live_table(&self) -> &QualName {
        match self {
            Pattern::RenameTable { old, .. } => old,
            _ => self.table(),
        }
    }

    /// The column as it is and as it will be; None for a table's pattern.
    fn columns(&self) -> Option<(&Column, &Column)> {
        match self {
            Pattern::Rename { from, to, .. }
            | Pattern::Retype { from, to, .. }
            | Pattern::NotNull { from, to, .. } => Some((from, to)),
            // A new column: as it will be, from the start.
            Pattern::Compute { to, .. } => Some((to, to)),
            Pattern::RenameTable { .. } => None,
        }
    }

    /// True when `change` acts on the pattern's column (under either name).
    pub fn touches(&self, change: &Change) -> bool {
        let id = change.action().id();
        self.columns().is_some_and(|(from, to)| {
            id == ObjectId::column(self.table(), &from.name)
                || id == ObjectId::column(self.table(), &to.name)
        })
    }

    /// A name for its migrations: `rename_users_name`.
    pub fn slug(&self) -> String {
        let verb = match self {
            Pattern::Rename { .. } => "rename",
            Pattern::Retype { .. } => "retype",
            Pattern::NotNull { .. } => "not_null",
            Pattern::Compute { .. } => "add",
            Pattern::RenameTable { old, .. } => return format!("rename_{}", old.name),
        };
        let column = self.columns().map_or("", |(from, _)| from.name.as_str());
        format!("{verb}_{}_{column}", self.table().name)
    }

    /// The pattern for people: `rename of column app.users.name to full_name`.
    pub fn describe(&self) -> String {
        let Some((from, to)) = self.columns() else {
            let old = match self {
                Pattern::RenameTable { old, .. } => old.plain(),
                _ => String::new(),
            };
            return format!(
                "table {old} renamed to {}, a view under the old name until contract",
                self.table().name
            );
        };
        let column = format!("column {}.{}", self.table().plain(), from.name);
        match self {
            Pattern::RenameTable { .. } => String::new(),
            Pattern::Rename { .. } => format!("{column} renamed to {}", to.name),
            Pattern::Retype { .. } => {
                format!(
                    "{column} retyped from {} to {}",
                    from.data_type, to.data_type
                )
            }
            Pattern::NotNull { fill, .. } => {
                format!("{column} made NOT NULL, its NULLs filled with {fill}")
            }
            Pattern::Compute { fill, .. } => format!("{column} added, filled with {fill}"),
        }
    }
}

/// The migrations of the patterns: each phase's plan up and down.
#[derive(Debug, Default)]
pub struct Phases {
    /// The patterns, for the summary.
    pub patterns: Vec<Pattern>,
    /// Expand: the rest of the changes, then each pattern's new shape.
    pub expand: Plan,
    /// Back from expand.
    pub expand_down: Plan,
    /// The backfills.
    pub backfill: Plan,
    /// The swaps.
    pub contract: Plan,
    /// Back from contract to expanded.
    pub contract_down: Plan,
}

/// Takes the breaking column changes out of `changes` (and of `renames`)
/// as patterns, on the tables (as they are named now) `eligible` takes;
/// an error names a change that cannot be one yet. `current` is what the
/// migrations build, `desired` the schema with its renames undone,
/// `reached` the schema.
pub fn patterns(
    current: &Catalog,
    desired: &Catalog,
    reached: &Catalog,
    changes: &mut Vec<Change>,
    renames: &mut Renames,
    notes: &[ColumnNote],
    eligible: &dyn Fn(&QualName) -> bool,
) -> Result<Vec<Pattern>> {
    let note = |table: &QualName, column: &str| {
        notes
            .iter()
            .find(|n| &n.table == table && n.column == column)
            .map(|n| n.text.clone())
    };
    let mut found = Vec::new();
    // Renames of columns of kept tables.
    let mut kept = Vec::new();
    let mut undo: Vec<String> = renames.undo.iter().rev().cloned().collect();
    let mut kept_undo = Vec::new();
    for (change, undo) in renames.changes.drain(..).zip(undo.drain(..)) {
        let column = match &change.id {
            ObjectId::Column { table, column } if eligible(table) => current
                .tables
                .get(table)
                .and_then(|t| t.column(&change.from))
                .zip(reached.tables.get(table).and_then(|t| t.column(column)))
                .map(|(from, to)| (table.clone(), from.clone(), to.clone())),
            _ => None,
        };
        // A table's rename stays in the plan, where renames run; the view
        // under its old name is the pattern's.
        if let ObjectId::Table { name } = &change.id {
            let old = QualName::new(
                &name.schema,
                change
                    .from
                    .rsplit('.')
                    .next()
                    .unwrap_or(&change.from)
                    .trim_matches('"'),
            );
            if current.tables.contains_key(&old) && eligible(&old) {
                let grants = view_grants(current, &old);
                found.push(Pattern::RenameTable {
                    table: name.clone(),
                    old,
                    grants,
                });
            }
        }
        match column {
            Some((table, from, to)) => found.push(Pattern::Rename {
                table,
                from,
                to,
                carries: Carries::default(),
            }),
            None => {
                kept.push(change);
                kept_undo.push(undo);
            }
        }
    }
    for c in &kept {
        let table =
            c.id.relation()
                .filter(|_| matches!(c.id, ObjectId::Column { .. }));
        if let Some(t) = table.filter(|t| {
            found
                .iter()
                .any(|p| matches!(p, Pattern::RenameTable { table, .. } if table == *t))
        }) {
            bail!(
                "--zero-downtime: table {} is renamed and its {} too; rename the table in one \
                 migration and its columns in the next",
                t.plain(),
                c.what
            );
        }
    }
    // PostgreSQL 18 names a NOT NULL constraint after its column: the
    // contract's SET NOT NULL names the new one so.
    let derived = |c: &crate::kinds::rename::RenameChange| {
        found.iter().any(|p| {
            p.columns().is_some_and(|(from, _)| {
                c.id.relation() == Some(p.table())
                    && c.from == format!("{}_{}_not_null", p.table().name, from.name)
            })
        })
    };
    let (kept, kept_undo): (Vec<_>, Vec<_>) = kept
        .into_iter()
        .zip(kept_undo)
        .filter(|(c, _)| !derived(c))
        .unzip();
    renames.changes = kept;
    renames.undo = kept_undo.into_iter().rev().collect();

    let mut rest = Vec::new();
    for change in changes.drain(..) {
        let on_eligible = change.action().table().is_some_and(|t| eligible(&t));
        let pattern = match &change {
            _ if !on_eligible => None,
            Change::Column(c) => match &**c {
                ColumnChange::AlterType {
                    table, from, to, ..
                } if current.tables.contains_key(table) && breaks(&change, current, desired) => {
                    reached
                        .tables
                        .get(table)
                        .and_then(|t| t.column(&to.name))
                        .map(|to| Pattern::Retype {
                            table: table.clone(),
                            from: from.clone(),
                            to: to.clone(),
                            carries: Carries::default(),
                        })
                }
                ColumnChange::SetNotNull {
                    table,
                    column,
                    not_null: true,
                    ..
                } => current
                    .tables
                    .get(table)
                    .and_then(|t| t.column(column))
                    .zip(reached.tables.get(table).and_then(|t| t.column(column)))
                    .filter(|(from, _)| !from.not_null)
                    .and_then(|(from, to)| {
                        let fill = note(table, column).or_else(|| to.default.clone())?;
                        Some(Pattern::NotNull {
                            table: table.clone(),
                            from: from.clone(),
                            to: to.clone(),
                            fill,
                        })
                    }),
                ColumnChange::Add { table, column, .. } if current.tables.contains_key(table) => {
                    note(table, &column.name).map(|fill| Pattern::Compute {
                        table: table.clone(),
                        to: column.clone(),
                        fill,
                    })
                }
                _ => None,
            },
            _ => None,
        };
        match pattern {
            Some(p) => found.push(p),
            None => rest.push(change),
        }
    }
    // What the patterns do to their columns is theirs: their defaults and
    // comments go with them.
    let on_pattern = |change: &Change| found.iter().any(|p| p.touches(change));
    let (theirs, rest): (Vec<Change>, Vec<Change>) = rest.into_iter().partition(on_pattern);
    for change in &theirs {
        let covered = matches!(
            change,
            Change::Column(c) if matches!(
                **c,
                ColumnChange::SetDefault { .. }
                    | ColumnChange::AlterIdentity { .. }
                    | ColumnChange::NotNullCheck { .. }
                    | ColumnChange::AlterNotNull { .. }
                    | ColumnChange::SetNotNull { .. }
                    | ColumnChange::AlterType { .. }
            )
        );
        if !covered && !matches!(change, Change::Comment(_)) {
            bail!(
                "--zero-downtime: {} changes too ({}); change it in a migration of its own",
                change.action().label(),
                change.action().verb()
            );
        }
    }
    *changes = rest;
    let mut moved: BTreeSet<ObjectId> = BTreeSet::new();
    for p in &mut found {
        let found_carries = carried(current, reached, p)?;
        let table = p.table().clone();
        if let Pattern::Rename { carries, .. } | Pattern::Retype { carries, .. } = p {
            // What the plan would do to them, the pattern does.
            let ids: Vec<ObjectId> = found_carries
                .old
                .iter()
                .chain(&found_carries.new)
                .map(|c| c.id(&table))
                .chain(
                    found_carries
                        .incoming_old
                        .iter()
                        .chain(&found_carries.incoming_new)
                        .map(|(on, c)| ObjectId::constraint(on, &c.name)),
                )
                .collect();
            // A key or index renamed after the column (`orders_code_key`
            // to `orders_ref_key`) is named by the pattern at contract.
            let undo: Vec<String> = renames.undo.iter().rev().cloned().collect();
            let (kept, kept_undo): (Vec<_>, Vec<_>) = std::mem::take(&mut renames.changes)
                .into_iter()
                .zip(undo)
                .filter(|(r, _)| !ids.contains(&r.id))
                .unzip();
            renames.changes = kept;
            renames.undo = kept_undo.into_iter().rev().collect();
            if let Some(twice) = ids.iter().find(|id| moved.contains(id)) {
                bail!(
                    "--zero-downtime: {} is over two columns that change; change them in \
                     migrations of their own",
                    twice.label()
                );
            }
            changes.retain(|c| !ids.contains(&c.action().id()));
            moved.extend(ids);
            *carries = found_carries;
        }
    }
    for p in &found {
        let Some((from, to)) = p.columns() else {
            continue;
        };
        refuse_other_changes(p, changes)?;
        if key_of(current, p.table()).is_none() {
            bail!(
                "--zero-downtime: table {} has no primary key for its backfill to walk",
                p.table().plain()
            );
        }
        if from.generated.is_some() || to.generated.is_some() {
            bail!(
                "--zero-downtime: {} is a generated column; its pattern is not supported yet",
                p.describe()
            );
        }
        // An identity moves to the new column at contract, going on from
        // where the old one's sequence got; one added or dropped with the
        // change is a change of its own.
        let moves = matches!(p, Pattern::Rename { .. } | Pattern::Retype { .. });
        if from.identity.is_some() != to.identity.is_some() || (from.identity.is_some() && !moves) {
            bail!(
                "--zero-downtime: {} adds or drops an identity too; change the identity in a \
                 migration of its own",
                p.describe()
            );
        }
        if matches!(p, Pattern::Rename { .. })
            && (from.data_type != to.data_type || from.collation != to.collation)
        {
            bail!(
                "--zero-downtime: {} changes its type too; rename it in one migration and \
                 retype it in the next",
                p.describe()
            );
        }
    }
    Ok(found)
}

/// The GRANT statements that give a view over table `old` what its
/// grantees hold on the table and a view can take.
fn view_grants(current: &Catalog, old: &QualName) -> String {
    let table = ObjectId::Table { name: old.clone() };
    let mut by: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for g in current.privileges.get(&table).into_iter().flatten() {
        if matches!(
            g.privilege.as_str(),
            "SELECT" | "INSERT" | "UPDATE" | "DELETE"
        ) {
            by.entry(g.grantee.as_str())
                .or_default()
                .push(g.privilege.as_str());
        }
    }
    by.into_iter()
        .map(|(grantee, privileges)| {
            format!("\nGRANT {} ON {old} TO {grantee};", privileges.join(", "))
        })
        .collect()
}

/// True when a retype rewrites the table or may fail on existing values.
fn breaks(change: &Change, current: &Catalog, desired: &Catalog) -> bool {
    change
        .action()
        .hazards(current, desired)
        .iter()
        .any(|h| matches!(h.code, HazardCode::TableRewrite | HazardCode::DataLoss))
}

/// Refuses other changes to a pattern's table, which its phases would
/// have to place.
fn refuse_other_changes(p: &Pattern, changes: &[Change]) -> Result<()> {
    for change in changes {
        let action = change.action();
        let on_table = action.table().as_ref() == Some(p.table());
        let other_column_added = matches!(
            change,
            Change::Column(c) if matches!(**c, ColumnChange::Add { .. })
        );
        if on_table && !other_column_added && !matches!(change, Change::Comment(_)) {
            bail!(
                "--zero-downtime: {} changes in the same migration as {}; generate them apart",
                action.label(),
                p.describe()
            );
        }
    }
    Ok(())
}

/// The primary key columns of `table`.
fn key_of(current: &Catalog, table: &QualName) -> Option<Vec<String>> {
    current
        .tables
        .get(table)?
        .constraints
        .values()
        .find(|c| c.kind == ConstraintKind::PrimaryKey)
        .map(|c| c.columns.clone())
}

/// The steps of the patterns, phase by phase; `expand` and `expand_down`
/// hold the rest of the migration's changes already (run before, and after
/// the patterns' own undoing).
pub fn phases(patterns: Vec<Pattern>, views: Views, expand: Plan, expand_down: Plan) -> Phases {
    let mut phases = Phases {
        expand,
        ..Phases::default()
    };
    let mut undo_expand = Vec::new();
    // The indexes the patterns build CONCURRENTLY come last, one after
    // the other, once the transactional steps are done.
    let mut builds = Vec::new();
    let mut writers = Vec::new();
    let mut contract_swaps = Vec::new();
    for p in &patterns {
        if let Pattern::RenameTable { table, old, grants } = p {
            // The rename in the plan breaks nothing now.
            for step in &mut phases.expand.steps {
                let renames_it = matches!(&step.change, Change::Rename(r)
                    if r.id == ObjectId::Table { name: table.clone() });
                if renames_it {
                    step.hazards.retain(|h| h.code != HazardCode::AppCompat);
                }
            }
            let view = |verb: &str, sql: String| {
                let change = Change::from(ExpandChange {
                    table: table.clone(),
                    column: String::new(),
                    verb: verb.to_string(),
                    detail: format!("view {} over it", old.plain()),
                    sql,
                    transactional: true,
                    hazards: Vec::new(),
                });
                step_of(change)
            };
            let create = format!("CREATE VIEW {old} AS SELECT * FROM {table};{grants}");
            let drop = format!("DROP VIEW {old};");
            phases
                .expand
                .steps
                .push(view("create_view", create.clone()));
            undo_expand.push(view("drop_view", drop.clone()));
            contract_swaps.push(view("drop_view", drop));
            phases.contract_down.steps.push(view("create_view", create));
            continue;
        }
        let w = Writer::new(p);
        let (built, steps): (Vec<Step>, Vec<Step>) = w
            .expand()
            .into_iter()
            .partition(|s| s.kind == "create_index");
        phases.expand.steps.extend(steps);
        builds.extend(built);
        undo_expand.extend(w.expand_down());
        let (before, swaps) = w.contract();
        phases.contract.steps.extend(before);
        contract_swaps.extend(swaps);
        phases.contract_down.steps.extend(w.contract_down());
        writers.push(w);
    }
    // One pass over each table for all of its patterns' backfills.
    while !writers.is_empty() {
        let table = writers[0].table().clone();
        let (same, rest): (Vec<Writer>, Vec<Writer>) =
            writers.into_iter().partition(|w| *w.table() == table);
        writers = rest;
        if let Some((first, others)) = same.split_first() {
            phases.backfill.steps.push(first.backfill(others));
        }
    }
    phases.expand.steps.extend(builds);
    // Every check validated first, each on its own (and other tables'
    // foreign keys pointed at the new columns); then the swaps in one
    // short transaction, the views over the columns dropped before them
    // and made again after.
    phases.contract.steps.extend(views.drop);
    phases.contract.steps.extend(contract_swaps);
    phases.contract.steps.extend(views.create);
    let mut down = views.drop_down;
    down.append(&mut phases.contract_down.steps);
    down.extend(views.create_down);
    phases.contract_down.steps = down;
    undo_expand.extend(expand_down.steps);
    phases.expand_down.steps = undo_expand;
    phases.patterns = patterns;
    phases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_read_from_the_header() {
        assert_eq!(
            Phase::of("-- Migration x\n-- stratum:phase contract (3 of 3)\nALTER TABLE t DROP COLUMN a;\n"),
            Some(Phase::Contract)
        );
        assert_eq!(Phase::of("ALTER TABLE t ADD COLUMN a int;\n"), None);
    }
}
