//! Why each step is in a plan (`plan --explain`): the change it makes, and
//! for an object dropped only to be created again, the dependency that
//! forced it.

use std::collections::BTreeMap;

use super::Plan;
use crate::kinds::{Catalog, ObjectId};

/// One note per step (each a few lines, without `-- `), in step order.
pub fn explain(plan: &Plan, current: &Catalog) -> Vec<Vec<String>> {
    // Which step removes and which provides each object (1-based).
    let mut removed_by: BTreeMap<&ObjectId, (usize, bool)> = BTreeMap::new();
    let mut provided_by: BTreeMap<ObjectId, usize> = BTreeMap::new();
    let effects: Vec<_> = plan
        .steps
        .iter()
        .map(|s| s.change.action().effects())
        .collect();
    for (i, e) in effects.iter().enumerate() {
        for id in &e.removes {
            removed_by.entry(id).or_insert((i + 1, e.retype));
        }
        for id in &e.provides {
            provided_by.entry(id.clone()).or_insert(i + 1);
        }
    }
    plan.steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let n = i + 1;
            let mut lines = vec![format!("step {n}: {} {}", step.kind, step.object)];
            let e = &effects[i];
            for id in &e.removes {
                let Some(&again) = provided_by.get(id).filter(|&&m| m > n) else {
                    continue;
                };
                // The first thing it depends on that an earlier decision
                // removes is the reason it must go.
                let cause = current
                    .depends
                    .of(id)
                    .find_map(|r| removed_by.get(r).filter(|(j, _)| *j != n).map(|w| (r, w)));
                lines.push(match cause {
                    Some((referenced, &(j, retype))) => format!(
                        "dropped because {} depends on {}, {} at step {j}; created again at step {again}",
                        id.label(),
                        referenced.label(),
                        if retype { "whose type changes" } else { "which is dropped" }
                    ),
                    None => format!(
                        "{} is dropped and created again at step {again}: its definition changes in a way no ALTER can",
                        id.label()
                    ),
                });
            }
            for id in &e.provides {
                if let Some(&(j, false)) = removed_by.get(id).filter(|(j, _)| *j < n) {
                    lines.push(format!("{} created again, after its drop at step {j}", id.label()));
                }
            }
            lines
        })
        .collect()
}
