//! The views over the columns that patterns rename or retype: dropped at
//! the start of the contract's swap and made again after it.

use anyhow::{bail, Result};

use super::Pattern;
use crate::diff::Change;
use crate::kinds::{Catalog, ObjectId};
use crate::plan::Step;
use crate::sql::QualName;

/// The views that read the patterns' columns (and the views over those):
/// PostgreSQL would not drop a column a view reads, and a renamed one
/// would keep reading it. The contract's transaction drops them before
/// its swaps and creates them again, as the schema defines them, after;
/// its down file does the same the other way.
#[derive(Debug, Default)]
pub struct Views {
    /// Their names, views read by others first.
    pub(super) names: Vec<QualName>,
    pub(super) drop: Vec<Step>,
    pub(super) create: Vec<Step>,
    pub(super) drop_down: Vec<Step>,
    pub(super) create_down: Vec<Step>,
}

impl Views {
    /// True when `change` is one of the views' own (the plan would make
    /// them again over the old column): the views move with the patterns.
    pub fn about(&self, change: &Change) -> bool {
        let id = change.action().id();
        let object = match &id {
            ObjectId::Privilege { object, .. } | ObjectId::Owner { object } => object,
            other => other,
        };
        match object {
            ObjectId::View { name } => self.names.contains(name),
            other => other.relation().is_some_and(|r| self.names.contains(r)),
        }
    }
}

/// The views `patterns` carry, with the steps that move them; an error
/// names what else depends on one of them.
pub fn views(current: &Catalog, reached: &Catalog, patterns: &[Pattern]) -> Result<Views> {
    let mut names: Vec<QualName> = Vec::new();
    for p in patterns {
        if let Pattern::Rename { carries, .. } | Pattern::Retype { carries, .. } = p {
            for v in &carries.views {
                if !names.contains(v) {
                    names.push(v.clone());
                }
            }
        }
    }
    // The views over those views, and nothing else over any of them.
    let mut i = 0;
    while i < names.len() {
        let id = ObjectId::View {
            name: names[i].clone(),
        };
        for (dependent, referenced) in current.depends.iter() {
            if *referenced != id || *dependent == id {
                continue;
            }
            match dependent {
                ObjectId::View { name }
                    if reached.views.get(name).is_some_and(|v| !v.materialized) =>
                {
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
                ObjectId::Column { table, .. } if *table == names[i] => {}
                other => bail!(
                    "--zero-downtime: {} reads a column that changes and {} depends on it; \
                     it cannot be made again at contract yet: generate without \
                     --zero-downtime",
                    id.label(),
                    other.label()
                ),
            }
        }
        i += 1;
    }
    if names.is_empty() {
        return Ok(Views::default());
    }
    // Views read by others first.
    let reads = |a: &QualName, b: &QualName| {
        let (a, b) = (
            ObjectId::View { name: a.clone() },
            ObjectId::View { name: b.clone() },
        );
        current.depends.iter().any(|(d, r)| *d == a && *r == b)
    };
    let mut ordered: Vec<QualName> = Vec::new();
    while ordered.len() < names.len() {
        let next = names
            .iter()
            .find(|n| {
                !ordered.contains(n)
                    && names
                        .iter()
                        .all(|m| m == *n || ordered.contains(m) || !reads(n, m))
            })
            .cloned();
        match next {
            Some(n) => ordered.push(n),
            None => bail!("--zero-downtime: the views over the changed columns read each other"),
        }
    }
    let (drop, create) = view_steps(current, reached, &ordered);
    let (drop_down, create_down) = view_steps(reached, current, &ordered);
    Ok(Views {
        names: ordered,
        drop,
        create,
        drop_down,
        create_down,
    })
}

/// The steps that take views `names` (read by others first) from `from`
/// to `to`: their drops, readers first, and their creation with their
/// comments, grants and owner.
fn view_steps(from: &Catalog, to: &Catalog, names: &[QualName]) -> (Vec<Step>, Vec<Step>) {
    use crate::kinds::Kind;
    let mut changes = Vec::new();
    for name in names {
        let id = ObjectId::View { name: name.clone() };
        crate::kinds::view::ViewChange::recreate(from, to, &id, &mut changes);
    }
    let mut all = changes.clone();
    crate::kinds::privilege::diff_after(from, to, &mut all);
    crate::kinds::ownership::diff_after(from, to, &mut all);
    let ours = Views {
        names: names.to_vec(),
        ..Views::default()
    };
    let after: Vec<Change> = all
        .into_iter()
        .skip(changes.len())
        .filter(|c| ours.about(c))
        .collect();
    let (drops, creates): (Vec<Change>, Vec<Change>) = changes
        .into_iter()
        .partition(|c| c.action().verb().starts_with("drop"));
    (
        drops.into_iter().rev().map(step_of).collect(),
        creates.into_iter().chain(after).map(step_of).collect(),
    )
}

/// `change` as a step of a pattern (its hazards are the pattern's to say).
pub(super) fn step_of(change: Change) -> Step {
    let action = change.action();
    Step {
        kind: action.verb(),
        object: action.label(),
        hazards: Vec::new(),
        sql: action.sql(),
        transactional: action.transactional(),
        estimate: None,
        change,
    }
}
