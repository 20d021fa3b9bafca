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
//! Each phase has a down file that returns to the phase before. A column
//! that other objects depend on (an index, a constraint, a view, a
//! sequence it owns) is refused for now, naming them: its pattern would
//! have to move them too.

use std::collections::BTreeSet;

use anyhow::{bail, Result};

use crate::diff::Change;
use crate::hazard::{Hazard, HazardCode};
use crate::kinds::column::ColumnChange;
use crate::kinds::expand::ExpandChange;
use crate::kinds::relation::{Column, ConstraintKind};
use crate::kinds::{Catalog, ObjectId};
use crate::plan::{Plan, Step};
use crate::renames::{ColumnNote, Renames};
use crate::sql::{ident, literal, QualName};

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
/// as patterns; an error names a change that cannot be one yet. `current`
/// is what the migrations build, `desired` the schema with its renames
/// undone, `reached` the schema.
pub fn patterns(
    current: &Catalog,
    desired: &Catalog,
    reached: &Catalog,
    changes: &mut Vec<Change>,
    renames: &mut Renames,
    notes: &[ColumnNote],
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
            ObjectId::Column { table, column } => current
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
            if current.tables.contains_key(&old) {
                let grants = view_grants(current, &old);
                found.push(Pattern::RenameTable {
                    table: name.clone(),
                    old,
                    grants,
                });
            }
        }
        match column {
            Some((table, from, to)) => found.push(Pattern::Rename { table, from, to }),
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
        let pattern = match &change {
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
    for p in &found {
        let Some((from, to)) = p.columns() else {
            continue;
        };
        refuse_dependants(current, p)?;
        refuse_other_changes(p, changes)?;
        if key_of(current, p.table()).is_none() {
            bail!(
                "--zero-downtime: table {} has no primary key for its backfill to walk",
                p.table().plain()
            );
        }
        if from.identity.is_some() || from.generated.is_some() || to.generated.is_some() {
            bail!(
                "--zero-downtime: {} is an identity or generated column; its pattern is not \
                 supported yet",
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

/// Refuses a rename or retype of a column other objects depend on.
fn refuse_dependants(current: &Catalog, p: &Pattern) -> Result<()> {
    let (Pattern::Rename { from, .. } | Pattern::Retype { from, .. }) = p else {
        return Ok(());
    };
    let column = ObjectId::column(p.table(), &from.name);
    // Its own default moves with it.
    let default = ObjectId::Default {
        table: p.table().clone(),
        column: from.name.clone(),
    };
    let mut on: BTreeSet<String> = current
        .depends
        .iter()
        .filter(|(dependent, referenced)| {
            **referenced == column && **dependent != column && **dependent != default
        })
        .map(|(dependent, _)| dependent.label())
        .collect();
    if let Some(table) = current.tables.get(p.table()) {
        for c in table.constraints.values() {
            if c.columns.contains(&from.name) {
                on.insert(format!("constraint {}", c.name));
            }
        }
    }
    if on.is_empty() {
        return Ok(());
    }
    bail!(
        "--zero-downtime: {} is not supported yet: {} depend on it (its pattern would have to \
         move them); generate it without --zero-downtime",
        p.describe(),
        on.into_iter().collect::<Vec<_>>().join(", ")
    )
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
pub fn phases(patterns: Vec<Pattern>, expand: Plan, expand_down: Plan) -> Phases {
    let mut phases = Phases {
        expand,
        ..Phases::default()
    };
    let mut undo_expand = Vec::new();
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
                let action = change.action();
                Step {
                    kind: action.verb(),
                    object: action.label(),
                    hazards: Vec::new(),
                    sql: action.sql(),
                    transactional: true,
                    change,
                }
            };
            let create = format!("CREATE VIEW {old} AS SELECT * FROM {table};{grants}");
            let drop = format!("DROP VIEW {old};");
            phases
                .expand
                .steps
                .push(view("create_view", create.clone()));
            undo_expand.push(view("drop_view", drop.clone()));
            phases.contract.steps.push(view("drop_view", drop));
            phases.contract_down.steps.push(view("create_view", create));
            continue;
        }
        let w = Writer::new(p);
        phases.expand.steps.extend(w.expand());
        undo_expand.extend(w.expand_down());
        phases.backfill.steps.extend(w.backfill());
        phases.contract.steps.extend(w.contract());
        phases.contract_down.steps.extend(w.contract_down());
    }
    // Every check validated first, each on its own; then the swaps in one
    // short transaction.
    let (mut contract, swaps): (Vec<Step>, Vec<Step>) = std::mem::take(&mut phases.contract.steps)
        .into_iter()
        .partition(|s| s.kind == "validate_constraint");
    contract.extend(swaps);
    phases.contract.steps = contract;
    undo_expand.extend(expand_down.steps);
    phases.expand_down.steps = undo_expand;
    phases.patterns = patterns;
    phases
}

/// What a column's pattern does, for its writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Rename,
    Retype,
    NotNull,
    Compute,
}

/// Writes one pattern's statements.
struct Writer<'a> {
    shape: Shape,
    table: &'a QualName,
    from: &'a Column,
    to: &'a Column,
    /// The column the new shape lives in until contract.
    new: String,
    function: QualName,
    trigger: String,
    check: String,
    /// What fills the column: an expression over the row's columns.
    fill: String,
}

impl<'a> Writer<'a> {
    fn new(p: &'a Pattern) -> Writer<'a> {
        let table = p.table();
        let (from, to) = p.columns().expect("a column's pattern");
        let shape = match p {
            Pattern::Rename { .. } => Shape::Rename,
            Pattern::Retype { .. } => Shape::Retype,
            Pattern::NotNull { .. } => Shape::NotNull,
            Pattern::Compute { .. } => Shape::Compute,
            Pattern::RenameTable { .. } => unreachable!("a table's pattern is written in `phases`"),
        };
        let fill = match p {
            Pattern::NotNull { fill, .. } | Pattern::Compute { fill, .. } => fill.clone(),
            _ => String::new(),
        };
        let new = match shape {
            Shape::Rename => to.name.clone(),
            Shape::Retype => short(format!("{}_stratum_new", from.name)),
            Shape::NotNull | Shape::Compute => from.name.clone(),
        };
        Writer {
            shape,
            table,
            from,
            to,
            function: QualName::new(
                &table.schema,
                short(format!("stratum_zd_{}_{}", table.name, from.name)),
            ),
            trigger: short(format!("stratum_zd_{}", from.name)),
            check: short(format!("stratum_zd_{new}_not_null")),
            fill,
            new,
        }
    }

    fn step(&self, verb: &str, detail: &str, sql: String, transactional: bool) -> Step {
        self.step_with(verb, detail, sql, transactional, Vec::new())
    }

    fn step_with(
        &self,
        verb: &str,
        detail: &str,
        sql: String,
        transactional: bool,
        hazards: Vec<Hazard>,
    ) -> Step {
        let change = ExpandChange {
            table: self.table.clone(),
            column: self.from.name.clone(),
            verb: verb.to_string(),
            detail: detail.to_string(),
            sql,
            transactional,
            hazards: hazards.clone(),
        };
        let change = Change::from(change);
        let action = change.action();
        Step {
            kind: action.verb(),
            object: action.label(),
            hazards,
            sql: action.sql(),
            transactional,
            change,
        }
    }

    fn alter(&self, rest: &str) -> String {
        format!("ALTER TABLE {} {rest};", self.table)
    }

    fn column_type(&self, c: &Column) -> String {
        match &c.collation {
            Some(collation) => format!("{} COLLATE {collation}", c.data_type),
            None => c.data_type.clone(),
        }
    }

    /// The trigger function and the trigger that keep old and new in step.
    fn sync(&self) -> Vec<Step> {
        let (old, new) = (ident(&self.from.name), ident(&self.new));
        let body = match self.shape {
            Shape::Rename => {
                let fill = match &self.to.default {
                    Some(default) => format!(
                        "    IF NEW.{new} IS NULL AND NEW.{old} IS NULL THEN\n      \
                         NEW.{new} := {default};\n      NEW.{old} := NEW.{new};\n    ELS"
                    ),
                    None => "    ".to_string(),
                };
                format!(
                    "  IF TG_OP = 'INSERT' THEN\n{fill}IF NEW.{new} IS NULL THEN\n      \
                     NEW.{new} := NEW.{old};\n    ELSIF NEW.{old} IS NULL THEN\n      \
                     NEW.{old} := NEW.{new};\n    END IF;\n  \
                     ELSIF NEW.{old} IS DISTINCT FROM OLD.{old} AND NEW.{new} IS NOT DISTINCT FROM OLD.{new} THEN\n    \
                     NEW.{new} := NEW.{old};\n  \
                     ELSIF NEW.{new} IS DISTINCT FROM OLD.{new} AND NEW.{old} IS NOT DISTINCT FROM OLD.{old} THEN\n    \
                     NEW.{old} := NEW.{new};\n  \
                     ELSIF NEW.{new} IS NULL THEN\n    NEW.{new} := NEW.{old};\n  \
                     ELSIF NEW.{old} IS NULL THEN\n    NEW.{old} := NEW.{new};\n  END IF;\n"
                )
            }
            Shape::Retype => format!(
                "  IF TG_OP = 'INSERT' OR NEW.{old} IS DISTINCT FROM OLD.{old} OR NEW.{new} IS NULL THEN\n    \
                 NEW.{new} := NEW.{old}::{};\n  END IF;\n",
                self.to.data_type
            ),
            Shape::NotNull => format!(
                "  IF NEW.{old} IS NULL THEN\n    NEW.{old} := {};\n  END IF;\n",
                self.of_row("NEW")
            ),
            // Computed when a write leaves it out, and again when what it
            // is computed from changes under a write that leaves it as it
            // was (a version that writes only the other columns).
            Shape::Compute => format!(
                "  IF TG_OP = 'INSERT' THEN\n    IF NEW.{new} IS NULL THEN\n      \
                 NEW.{new} := {now};\n    END IF;\n  \
                 ELSIF NEW.{new} IS NULL OR (NEW.{new} IS NOT DISTINCT FROM OLD.{new} AND {now} IS DISTINCT FROM {before}) THEN\n    \
                 NEW.{new} := {now};\n  END IF;\n",
                now = self.of_row("NEW"),
                before = self.of_row("OLD")
            ),
        };
        let function = format!(
            "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $stratum$\nBEGIN\n{body}  \
             RETURN NEW;\nEND\n$stratum$;",
            self.function
        );
        let trigger = format!(
            "CREATE TRIGGER {} BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}();",
            ident(&self.trigger),
            self.table,
            self.function
        );
        let what = match self.shape {
            Shape::Rename => format!("keeps {} and {} in step", self.from.name, self.new),
            Shape::Retype => format!("copies {} into {}", self.from.name, self.new),
            Shape::NotNull => format!("fills NULLs of {}", self.from.name),
            Shape::Compute => format!("computes {}", self.new),
        };
        vec![
            self.step(
                "sync_trigger",
                &format!("trigger function {what}"),
                function,
                true,
            ),
            self.step("sync_trigger", &format!("trigger {what}"), trigger, true),
        ]
    }

    /// The fill expression over the row `row` of a trigger (`NEW`, `OLD`).
    fn of_row(&self, row: &str) -> String {
        format!(
            "(SELECT {} FROM (SELECT {row}.*) AS stratum_row)",
            self.fill
        )
    }

    fn drop_sync(&self) -> Vec<Step> {
        vec![
            self.step(
                "drop_sync_trigger",
                "- trigger",
                format!("DROP TRIGGER {} ON {};", ident(&self.trigger), self.table),
                true,
            ),
            self.step(
                "drop_sync_trigger",
                "- trigger function",
                format!("DROP FUNCTION {}();", self.function),
                true,
            ),
        ]
    }

    fn add_check(&self, column: &str, name: &str) -> Step {
        self.step(
            "add_constraint",
            &format!("NOT NULL of {column} for new rows (CHECK NOT VALID)"),
            self.alter(&format!(
                "ADD CONSTRAINT {} CHECK ({} IS NOT NULL) NOT VALID",
                ident(name),
                ident(column)
            )),
            true,
        )
    }

    fn validate(&self, name: &str) -> Step {
        self.step(
            "validate_constraint",
            "the NOT NULL check validated",
            self.alter(&format!("VALIDATE CONSTRAINT {}", ident(name))),
            false,
        )
    }

    /// SET NOT NULL through a valid check, which spares it a scan.
    fn set_not_null(&self, column: &str, check: &str) -> Vec<Step> {
        vec![
            self.step(
                "alter_column",
                &format!("~ column {column}: NOT NULL"),
                self.alter(&format!("ALTER COLUMN {} SET NOT NULL", ident(column))),
                true,
            ),
            self.step(
                "alter_column",
                "- the NOT NULL check",
                self.alter(&format!("DROP CONSTRAINT {}", ident(check))),
                true,
            ),
        ]
    }

    fn set_default(&self, column: &str, default: Option<&str>) -> Step {
        let sql = match default {
            Some(d) => format!("ALTER COLUMN {} SET DEFAULT {d}", ident(column)),
            None => format!("ALTER COLUMN {} DROP DEFAULT", ident(column)),
        };
        self.step(
            "alter_column",
            &format!("~ column {column}: default"),
            self.alter(&sql),
            true,
        )
    }

    fn comment(&self, column: &str, comment: Option<&str>) -> Step {
        self.step(
            "alter_column",
            &format!("~ column {column}: comment"),
            format!(
                "COMMENT ON COLUMN {}.{} IS {};",
                self.table,
                ident(column),
                comment.map_or("NULL".to_string(), literal)
            ),
            true,
        )
    }

    fn backfill_step(&self, set: &str, column: &str, whose: &str) -> Step {
        self.step(
            "backfill",
            &format!("{column} filled in batches"),
            format!(
                "{}\nUPDATE {} SET {set} WHERE {whose};",
                crate::execute::backfill::MARKER,
                self.table
            ),
            false,
        )
    }

    fn expand(&self) -> Vec<Step> {
        let mut out = Vec::new();
        let (old, new) = (&self.from.name, &self.new);
        match self.shape {
            Shape::Rename | Shape::Retype => {
                let beside = match self.shape {
                    Shape::Rename => format!("+ column {new} beside {old}"),
                    _ => format!("+ column {new}, {old} as {}", self.to.data_type),
                };
                out.push(self.step(
                    "add_column",
                    &beside,
                    self.alter(&format!(
                        "ADD COLUMN {} {}",
                        ident(new),
                        self.column_type(self.to)
                    )),
                    true,
                ));
                // Both columns get the default from the trigger: each
                // version of the application writes only its own.
                if matches!(self.shape, Shape::Rename) && self.from.default.is_some() {
                    out.push(self.set_default(old, None));
                }
            }
            Shape::NotNull => {
                if self.from.default != self.to.default {
                    out.push(self.set_default(old, self.to.default.as_deref()));
                }
            }
            // Without its default yet: the trigger computes what a write
            // leaves out.
            Shape::Compute => out.push(self.step(
                "add_column",
                &format!("+ column {new}, computed by a trigger"),
                self.alter(&format!(
                    "ADD COLUMN {} {}",
                    ident(new),
                    self.column_type(self.to)
                )),
                true,
            )),
        }
        out.extend(self.sync());
        if self.to.not_null {
            out.push(self.add_check(new, &self.check));
        }
        out
    }

    fn expand_down(&self) -> Vec<Step> {
        let mut out = self.drop_sync();
        let (old, new) = (&self.from.name, &self.new);
        match self.shape {
            Shape::Rename | Shape::Retype | Shape::Compute => {
                out.push(self.step(
                    "drop_column",
                    &format!("- column {new}"),
                    self.alter(&format!("DROP COLUMN {}", ident(new))),
                    true,
                ));
                if matches!(self.shape, Shape::Rename) && self.from.default.is_some() {
                    out.push(self.set_default(old, self.from.default.as_deref()));
                }
            }
            Shape::NotNull => {
                out.push(self.step(
                    "alter_column",
                    "- the NOT NULL check",
                    self.alter(&format!("DROP CONSTRAINT {}", ident(&self.check))),
                    true,
                ));
                if self.from.default != self.to.default {
                    out.push(self.set_default(old, self.from.default.as_deref()));
                }
            }
        }
        out
    }

    fn backfill(&self) -> Vec<Step> {
        let (old, new) = (ident(&self.from.name), ident(&self.new));
        vec![match self.shape {
            Shape::Rename => self.backfill_step(
                &format!("{new} = {old}"),
                &self.new,
                &format!("{new} IS DISTINCT FROM {old}"),
            ),
            Shape::Retype => self.backfill_step(
                &format!("{new} = {old}::{}", self.to.data_type),
                &self.new,
                &format!("{new} IS NULL AND {old} IS NOT NULL"),
            ),
            Shape::NotNull => self.backfill_step(
                &format!("{old} = {}", self.fill),
                &self.from.name,
                &format!("{old} IS NULL"),
            ),
            Shape::Compute => self.backfill_step(
                &format!("{new} = ({})", self.fill),
                &self.new,
                &format!("{new} IS NULL"),
            ),
        }]
    }

    fn contract(&self) -> Vec<Step> {
        let mut out = Vec::new();
        if self.to.not_null {
            out.push(self.validate(&self.check));
        }
        out.extend(self.drop_sync());
        let (old, new) = (&self.from.name, &self.new);
        let swap = Hazard::new(
            HazardCode::AccessExclusiveLock,
            format!(
                "briefly, to swap the columns of {} (no rewrite, no scan)",
                self.table.plain()
            ),
        );
        if matches!(self.shape, Shape::Rename | Shape::Retype) {
            out.push(self.step_with(
                "drop_column",
                &format!("- column {old} (its values live on in {new})"),
                self.alter(&format!("DROP COLUMN {}", ident(old))),
                true,
                vec![swap],
            ));
        }
        if matches!(self.shape, Shape::Retype) {
            out.push(self.step(
                "swap_column",
                &format!("~ column {new} renamed {}", self.to.name),
                self.alter(&format!(
                    "RENAME COLUMN {} TO {}",
                    ident(new),
                    ident(&self.to.name)
                )),
                true,
            ));
        }
        if self.to.not_null {
            out.extend(self.set_not_null(&self.to.name, &self.check));
        }
        if !matches!(self.shape, Shape::NotNull) {
            if self.to.default.is_some() {
                out.push(self.set_default(&self.to.name, self.to.default.as_deref()));
            }
            if self.to.comment.is_some() {
                out.push(self.comment(&self.to.name, self.to.comment.as_deref()));
            }
        }
        out
    }

    /// NULL allowed in `column` again, NOT NULL enforced for new rows by
    /// the check (as expand left it).
    fn allow_null(&self, column: &str) -> Vec<Step> {
        vec![
            self.step(
                "alter_column",
                &format!("~ column {column}: NULL allowed"),
                self.alter(&format!("ALTER COLUMN {} DROP NOT NULL", ident(column))),
                true,
            ),
            self.add_check(column, &self.check),
        ]
    }

    /// The new column as expand left it: no default, no comment, NOT NULL
    /// only for new rows.
    fn as_expanded(&self) -> Vec<Step> {
        let new = &self.new;
        let mut out = Vec::new();
        if self.to.default.is_some() {
            out.push(self.set_default(new, None));
        }
        if self.to.comment.is_some() {
            out.push(self.comment(new, None));
        }
        if self.to.not_null {
            out.extend(self.allow_null(new));
        }
        out
    }

    fn contract_down(&self) -> Vec<Step> {
        let mut out = Vec::new();
        let (old, new) = (&self.from.name, &self.new);
        match self.shape {
            Shape::NotNull => {
                out.extend(self.allow_null(old));
                out.extend(self.sync());
                return out;
            }
            Shape::Compute => {
                out.extend(self.as_expanded());
                out.extend(self.sync());
                return out;
            }
            Shape::Retype => out.push(self.step(
                "swap_column",
                &format!("~ column {} renamed {new}", self.to.name),
                self.alter(&format!(
                    "RENAME COLUMN {} TO {}",
                    ident(&self.to.name),
                    ident(new)
                )),
                true,
            )),
            Shape::Rename => {}
        }
        out.extend(self.as_expanded());
        out.push(self.step(
            "add_column",
            &format!("+ column {old}"),
            self.alter(&format!(
                "ADD COLUMN {} {}",
                ident(old),
                self.column_type(self.from)
            )),
            true,
        ));
        if matches!(self.shape, Shape::Retype) && self.from.default.is_some() {
            out.push(self.set_default(old, self.from.default.as_deref()));
        }
        if self.from.comment.is_some() {
            out.push(self.comment(old, self.from.comment.as_deref()));
        }
        out.extend(self.sync());
        let (o, n) = (ident(old), ident(new));
        out.push(match self.shape {
            Shape::Retype => self.backfill_step(
                &format!("{o} = {n}::{}", self.from.data_type),
                old,
                &format!("{o} IS NULL AND {n} IS NOT NULL"),
            ),
            _ => self.backfill_step(
                &format!("{o} = {n}"),
                old,
                &format!("{o} IS DISTINCT FROM {n}"),
            ),
        });
        if self.from.not_null {
            let check = short(format!("stratum_zd_{old}_not_null"));
            out.push(self.add_check(old, &check));
            out.push(self.validate(&check));
            out.extend(self.set_not_null(old, &check));
        }
        out
    }
}

/// `name` cut to PostgreSQL's 63 bytes, a hash of the whole keeping names
/// apart.
fn short(name: String) -> String {
    if name.len() <= 63 {
        return name;
    }
    use sha2::Digest;
    let hash = sha2::Sha256::digest(name.as_bytes());
    let mut cut = 54;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}_{:02x}{:02x}{:02x}{:02x}",
        &name[..cut],
        hash[0],
        hash[1],
        hash[2],
        hash[3]
    )
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

    #[test]
    fn long_names_are_cut_with_a_hash() {
        let long = "x".repeat(80);
        let cut = short(long.clone());
        assert_eq!(cut.len(), 63);
        assert_ne!(cut, short(format!("{long}y")));
        assert_eq!(short("short".into()), "short");
    }
}
