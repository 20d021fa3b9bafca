//! Why each step is in a plan (`plan --explain`): the change it makes, and
//! for an object dropped only to be created again, the dependency that
//! forced it.

use std::collections::BTreeMap;

use super::Plan;
use crate::kinds::{Catalog, ObjectId};

/// An object a plan drops only to create it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recreated {
    /// It.
    pub id: ObjectId,
    /// The step (1-based) that drops it.
    pub dropped: usize,
    /// The step that creates it again.
    pub again: usize,
    /// What forced it: the object it depends on, the step (1-based) that
    /// removes that, and whether that step changes its type rather than
    /// dropping it. None when its own definition changes in a way no
    /// ALTER can.
    pub cause: Option<(ObjectId, usize, bool)>,
}

/// Which step removes and which provides each object (1-based).
struct Steps<'a> {
    removed_by: BTreeMap<&'a ObjectId, (usize, bool)>,
    provided_by: BTreeMap<&'a ObjectId, usize>,
}

impl<'a> Steps<'a> {
    fn of(effects: &'a [crate::kinds::Effects]) -> Steps<'a> {
        let mut removed_by = BTreeMap::new();
        let mut provided_by = BTreeMap::new();
        for (i, e) in effects.iter().enumerate() {
            for id in &e.removes {
                removed_by.entry(id).or_insert((i + 1, e.retype));
            }
            for id in &e.provides {
                provided_by.entry(id).or_insert(i + 1);
            }
        }
        Steps {
            removed_by,
            provided_by,
        }
    }

    /// The objects step `n` (1-based, with effects `e`) drops to create
    /// again later, each with what forced it.
    fn recreated(&self, n: usize, e: &crate::kinds::Effects, current: &Catalog) -> Vec<Recreated> {
        let mut out = Vec::new();
        for id in &e.removes {
            let Some(&again) = self.provided_by.get(id).filter(|&&m| m > n) else {
                continue;
            };
            // The first thing it depends on that an earlier decision
            // removes is the reason it must go.
            let cause = current.depends.of(id).find_map(|r| {
                let &(j, retype) = self.removed_by.get(r).filter(|(j, _)| *j != n)?;
                Some((r.clone(), j, retype))
            });
            out.push(Recreated {
                id: id.clone(),
                dropped: n,
                again,
                cause,
            });
        }
        out
    }
}

/// What each step of `plan` does to the objects, in step order.
fn effects(plan: &Plan) -> Vec<crate::kinds::Effects> {
    plan.steps
        .iter()
        .map(|s| s.change.action().effects())
        .collect()
}

/// Every object `plan` drops only to create it again, and why.
pub fn recreated(plan: &Plan, current: &Catalog) -> Vec<Recreated> {
    let effects = effects(plan);
    let steps = Steps::of(&effects);
    effects
        .iter()
        .enumerate()
        .flat_map(|(i, e)| steps.recreated(i + 1, e, current))
        .collect()
}

/// One note per step (each a few lines, without `-- `), in step order.
pub fn explain(plan: &Plan, current: &Catalog) -> Vec<Vec<String>> {
    let effects = effects(plan);
    let steps = Steps::of(&effects);
    plan.steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let n = i + 1;
            let mut lines = vec![format!("step {n}: {} {}", step.kind, step.object)];
            let e = &effects[i];
            for r in steps.recreated(n, e, current) {
                lines.push(match &r.cause {
                    Some((referenced, j, retype)) => format!(
                        "dropped because {} depends on {}, {} at step {j}; created again at step {}",
                        r.id.label(),
                        referenced.label(),
                        if *retype { "whose type changes" } else { "which is dropped" },
                        r.again
                    ),
                    None => format!(
                        "{} is dropped and created again at step {}: its definition changes in a way no ALTER can",
                        r.id.label(),
                        r.again
                    ),
                });
            }
            for id in &e.provides {
                if let Some(&(j, false)) = steps.removed_by.get(id).filter(|(j, _)| *j < n) {
                    lines.push(format!("{} created again, after its drop at step {j}", id.label()));
                }
            }
            lines
        })
        .collect()
}
