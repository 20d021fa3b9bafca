//! What stratum does not manage, across both sides of a plan: always listed
//! (never skipped silently), an error when a plan would rely on it, and in
//! strict mode an error whenever there is any.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

use crate::diff::Change;
use crate::kinds::{Catalog, ObjectId, Unmanaged};

/// Objects neither side's kinds cover yet, once each.
pub fn unmanaged(current: &Catalog, desired: &Catalog) -> Vec<Unmanaged> {
    let all: BTreeSet<&Unmanaged> = current.unmanaged.iter().chain(&desired.unmanaged).collect();
    all.into_iter().cloned().collect()
}

/// Fails, naming each role and the objects that need it, when the desired
/// state (policies, grants, owners) names roles that the live database read as `current` lacks (and
/// `assume` does not declare): the plan would fail at apply time. Only a
/// live current side knows its cluster's roles; scratch loads create the
/// roles they need as stubs.
pub fn roles(current: &Catalog, desired: &Catalog, assume: &BTreeSet<String>) -> Result<()> {
    if !current.live {
        return Ok(());
    }
    let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for policy in desired.policies.values() {
        for role in &policy.roles {
            if role != "PUBLIC" && !current.roles.contains(role) && !assume.contains(role) {
                missing.entry(role).or_default().push(format!(
                    "policy {} on {}",
                    policy.name,
                    policy.table.plain()
                ));
            }
        }
    }
    for (object, owned) in &desired.owners {
        if let Some(role) = &owned.owner {
            if !current.roles.contains(role) && !assume.contains(role) {
                let need = format!("the owner of {}", object.label());
                missing.entry(role).or_default().push(need);
            }
        }
    }
    for (object, grants) in &desired.privileges {
        if let ObjectId::DefaultPrivileges {
            role: Some(role), ..
        } = object
        {
            if !current.roles.contains(role) && !assume.contains(role) {
                missing.entry(role).or_default().push(object.label());
            }
        }
        for grant in grants {
            let role = &grant.grantee;
            if role != "PUBLIC" && !current.roles.contains(role) && !assume.contains(role) {
                let need = format!("a grant on {}", object.label());
                let needs = missing.entry(role).or_default();
                if !needs.contains(&need) {
                    needs.push(need);
                }
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing
        .iter()
        .map(|(role, needs)| {
            format!(
                "role {role} does not exist on the target, and {} names it: create the role there \
                 first, or declare it in stratum.yaml (roles: {{assume: [{role}]}}) if it exists \
                 where the plan will run",
                needs.join(", ")
            )
        })
        .collect();
    bail!("{}", list.join("\nerror: "))
}

/// Fails, naming both objects, when the plan from `current` to `desired`
/// would rely on something stratum does not manage:
/// - a desired object needs an unmanaged one that the current side lacks
///   (the plan would fail at its first use);
/// - an unmanaged object depends on something the plan drops or changes
///   (PostgreSQL would refuse, or silently take it along), unless it goes
///   with a table both it and the plan drop.
///
/// With `strict`, any unmanaged object on either side fails too.
pub fn check(current: &Catalog, desired: &Catalog, changes: &[Change], strict: bool) -> Result<()> {
    let mut problems = BTreeSet::new();
    let present: BTreeSet<&Unmanaged> = current.unmanaged.iter().collect();
    for (dependent, referenced) in &desired.depends {
        if let ObjectId::Unmanaged { object } = referenced {
            let managed = !matches!(dependent, ObjectId::Unmanaged { .. });
            if managed && !present.contains(object) {
                problems.insert(format!(
                    "{} needs {} {}, which stratum does not manage and the target lacks: \
                     create it there first",
                    dependent.label(),
                    object.kind,
                    object.name
                ));
            }
        }
    }
    let mut dropped = BTreeSet::new();
    let mut changed = BTreeSet::new();
    for change in changes {
        let effects = change.action().effects();
        let into = if effects.retype {
            &mut changed
        } else {
            &mut dropped
        };
        into.extend(effects.removes);
    }
    let kept: BTreeSet<&Unmanaged> = desired.unmanaged.iter().collect();
    for (dependent, referenced) in &current.depends {
        let ObjectId::Unmanaged { object } = dependent else {
            continue;
        };
        // PostgreSQL takes along what belongs to a dropped table (a policy,
        // a statistics object); anything else it refuses.
        let table = match referenced {
            ObjectId::Table { name } => Some(name),
            other => other.relation(),
        };
        let taken_along = !kept.contains(object)
            && table.is_some_and(|name| dropped.contains(&ObjectId::Table { name: name.clone() }));
        if (dropped.contains(referenced) || changed.contains(referenced)) && !taken_along {
            problems.insert(format!(
                "{} {} depends on {}, which the plan drops or changes, and stratum does not \
                 manage it: change it by hand first",
                object.kind,
                object.name,
                referenced.label()
            ));
        }
    }
    if strict {
        for u in unmanaged(current, desired) {
            problems.insert(format!(
                "{} {} is of a kind stratum does not manage (strict mode)",
                u.kind, u.name
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = problems.into_iter().collect();
    bail!("{}", list.join("\nerror: "))
}
