//! Turns changes into an ordered plan of steps, each one SQL statement with
//! its hazards.
//!
//! Pure: no I/O. Ordering lives in [`order`]; each step's SQL, hazards and
//! tie-break rank come from its kind (`kinds::Kind`).

mod explain;
pub mod locks;
mod order;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use anyhow::Result;
use serde::Serialize;

use crate::diff::Change;
pub use crate::hazard::{Hazard, HazardCode};
use crate::kinds::{Catalog, ObjectId};
use crate::sql::QualName;
pub use explain::{explain, recreated, Recreated};
pub use locks::LockMode;

/// One statement of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What kind of change, e.g. `add_column`.
    pub kind: &'static str,
    /// The object it acts on, e.g. `column app.users.phone`.
    pub object: String,
    /// Its hazards, most severe first.
    pub hazards: Vec<Hazard>,
    /// The SQL statement; None when another step does the work implicitly.
    pub sql: Option<String>,
    /// False for statements that cannot run inside a transaction block on
    /// every supported server (ALTER TYPE ... ADD VALUE before PostgreSQL 12).
    pub transactional: bool,
    /// What a step without a hazard costs all the same, on a live database:
    /// a concurrent index build's read of its table, with an estimate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<String>,
    /// The change itself, for summaries.
    #[serde(skip)]
    pub change: Change,
}

/// The ordered steps that turn the current catalog into the desired one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// Steps in the order they must run.
    pub steps: Vec<Step>,
    /// What differs but is left as it is: stratum.yaml's `expected_drift`
    /// accepts it (the object or part, and why).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_alone: Vec<(String, String)>,
}

impl Plan {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Orders `changes` and attaches SQL and hazards to each.
pub fn plan(current: &Catalog, desired: &Catalog, changes: Vec<Change>) -> Result<Plan> {
    let order = order::order(current, desired, &changes)?;
    // Objects that hold no data and are created by this plan: dropping them
    // first loses nothing.
    let remade: HashSet<ObjectId> = changes
        .iter()
        .map(Change::action)
        .filter(|k| k.stateless())
        .flat_map(|k| k.effects().provides)
        .collect();
    let steps = in_order(order, changes)
        .map(|change| {
            let action = change.action();
            let mut hazards = action.hazards(current, desired);
            if action.stateless() && action.effects().frees.iter().any(|id| remade.contains(id)) {
                hazards.retain(|h| h.code != HazardCode::DataLoss);
            }
            hazards.sort_by_key(|h| h.code);
            let sql = action.sql();
            let existing = action.table().filter(|t| current.tables.contains_key(t));
            // A size not known (never counted, and not measured: see
            // `sized_tables`) is left out rather than guessed.
            let size = |table: &QualName| {
                current
                    .live
                    .then(|| current.table_size(table))
                    .filter(|(_, bytes)| *bytes >= 0)
            };
            // Parsed only for a step whose facts are stated: a plan from
            // nothing (42 000 steps at 10 000 tables) parsed every one.
            let concurrent = sql.as_deref().is_some_and(builds_concurrently);
            let lock = existing
                .as_ref()
                .filter(|_| !hazards.is_empty() || concurrent)
                .and_then(|_| sql.as_deref().and_then(locks::strongest));
            if let Some(table) = existing.as_ref().filter(|_| !hazards.is_empty()) {
                hazards = hazards
                    .into_iter()
                    .map(|h| h.with_facts(&table.plain(), size(table), lock, &current.rates))
                    .collect();
            }
            let estimate = existing.filter(|_| concurrent).and_then(|table| {
                let size = size(&table)?;
                let what = format!("building the index reads {}", table.plain());
                let read = Hazard::new(HazardCode::IndexBuild, what);
                Some(
                    read.with_facts(&table.plain(), Some(size), lock, &current.rates)
                        .message,
                )
            });
            Step {
                kind: action.verb(),
                object: action.label(),
                sql,
                transactional: action.transactional(),
                hazards,
                estimate,
                change,
            }
        })
        .collect();
    Ok(Plan {
        steps,
        left_alone: Vec::new(),
    })
}

/// True for CREATE [UNIQUE] INDEX CONCURRENTLY, which no hazard flags
/// (writes go on) but which reads the whole table all the same.
fn builds_concurrently(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(4)
        .map(str::to_ascii_uppercase)
        .collect();
    matches!(
        words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["CREATE", "INDEX", "CONCURRENTLY", ..] | ["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY"]
    )
}

/// The tables of `current` whose size a plan of `changes` reports: those a
/// change with hazards acts on, and their partitions (a partitioned
/// table's size is theirs).
pub fn sized_tables(current: &Catalog, desired: &Catalog, changes: &[Change]) -> Vec<QualName> {
    let mut tables: BTreeSet<QualName> = changes
        .iter()
        .map(Change::action)
        .filter_map(|k| {
            k.table()
                .filter(|_| !k.hazards(current, desired).is_empty())
        })
        .filter(|t| current.tables.contains_key(t))
        .collect();
    // Partitions, and theirs.
    let mut partitions: BTreeMap<&QualName, Vec<&QualName>> = BTreeMap::new();
    for t in current.tables.values() {
        if let Some(of) = &t.partition_of {
            partitions.entry(&of.parent).or_default().push(&t.name);
        }
    }
    let mut parents: Vec<QualName> = tables.iter().cloned().collect();
    while let Some(parent) = parents.pop() {
        for &partition in partitions.get(&parent).into_iter().flatten() {
            if tables.insert(partition.clone()) {
                parents.push(partition.clone());
            }
        }
    }
    tables.into_iter().collect()
}

/// The changes in the order a plan runs them, without building steps: for
/// callers that want only each change's SQL (canonical DDL of a whole
/// catalog), which skips every step's label and hazards.
pub fn ordered(current: &Catalog, desired: &Catalog, changes: Vec<Change>) -> Result<Vec<Change>> {
    let order = order::order(current, desired, &changes)?;
    Ok(in_order(order, changes).collect())
}

/// The pairs (before, after) of indexes of `changes` that must run in that
/// order (see [`order::must_precede`]).
pub fn must_precede(
    current: &Catalog,
    desired: &Catalog,
    changes: &[Change],
) -> Vec<(usize, usize)> {
    order::must_precede(current, desired, changes)
}

/// `changes` moved out in `order`.
fn in_order(order: Vec<usize>, changes: Vec<Change>) -> impl Iterator<Item = Change> {
    let mut slots: Vec<Option<Change>> = changes.into_iter().map(Some).collect();
    order.into_iter().filter_map(move |i| slots[i].take())
}
