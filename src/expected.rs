//! What stratum.yaml's `expected_drift` accepts: objects and their parts
//! (columns, indexes, constraints, grants) that may differ from `schema/`.
//! `check` reports them without failing; `plan` and `apply` leave them as
//! they are, and a proof or the check after an apply does not count them.

use crate::ddl;
use crate::diff::Change;
pub use crate::filter::ExpectedDrift;
use crate::kinds::{Catalog, ObjectId};

/// The names a pattern of `expected_drift` may match a part by: its label
/// (`column app.users.email`, `index app.hotfix_1`), and for the parts of
/// a table named by their table, a dotted form (`constraint
/// app.users.users_email_check`, `trigger app.users.audit`); a column's
/// default is its column; a grant is `grant table app.users to ROLE`.
pub fn part_names(id: &ObjectId) -> Vec<String> {
    let mut names = vec![id.label()];
    let dotted = |kind: &str, table: &crate::kinds::QualName, name: &str| {
        format!("{kind} {}.{name}", table.plain())
    };
    match id {
        ObjectId::Constraint { table, name } => names.push(dotted("constraint", table, name)),
        ObjectId::Trigger { table, name } => names.push(dotted("trigger", table, name)),
        ObjectId::Policy { table, name } => names.push(dotted("policy", table, name)),
        ObjectId::Rule { table, name } => names.push(dotted("rule", table, name)),
        ObjectId::Default { table, column } => names.push(dotted("column", table, column)),
        ObjectId::Privilege { object, grantee } => {
            names.push(format!("grant {} to {grantee}", object.label()))
        }
        _ => {}
    }
    names
}

/// The entry of `patterns` that accepts a difference of `id` (a part of
/// the object labelled `owner`), if any: one matching the object or the
/// part.
pub fn expected_for<'a>(
    patterns: &'a [ExpectedDrift],
    owner: &str,
    id: &ObjectId,
) -> Option<&'a ExpectedDrift> {
    ExpectedDrift::find(patterns, owner).or_else(|| {
        part_names(id)
            .iter()
            .find_map(|n| ExpectedDrift::find(patterns, n))
    })
}

/// Leaves out of `changes` those that act on what `patterns` expect to
/// differ: the objects and parts `check` accepts are not planned. Returns
/// the changes kept and the labels of what was left, each with its reason.
pub fn leave(
    changes: Vec<Change>,
    patterns: &[ExpectedDrift],
    current: &Catalog,
    desired: &Catalog,
) -> (Vec<Change>, Vec<(String, String)>) {
    if patterns.is_empty() {
        return (changes, Vec::new());
    }
    let mut left: Vec<(String, String)> = Vec::new();
    let kept = changes
        .into_iter()
        .filter(|change| {
            let id = change.action().id();
            let found = [desired, current]
                .iter()
                .find_map(|side| expected_for(patterns, &ddl::owner(change, side), &id));
            match found {
                Some(e) => {
                    let entry = (id.label(), e.reason.clone());
                    if !left.contains(&entry) {
                        left.push(entry);
                    }
                    false
                }
                None => true,
            }
        })
        .collect();
    (kept, left)
}
