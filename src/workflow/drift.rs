//! What differs between a database (or what `migrations/` builds) and
//! `schema/`: object by object as `check` names them (`table app.users`),
//! and inside each object, the parts that differ (a column, an index, a
//! constraint, a grant), each accepted or not by stratum.yaml's
//! `expected_drift`.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::config::ExpectedDrift;
use crate::ddl;
use crate::diff::{self, Change};
use crate::expected::expected_for;
use crate::kinds::{Catalog, ObjectId};

/// One object whose canonical DDL differs between the two sides.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectDrift {
    /// E.g. `table app.users`.
    pub object: String,
    /// Its DDL on the current side (database or migrations), if present.
    pub current: Option<String>,
    /// Its DDL in the schema, if present.
    pub desired: Option<String>,
    /// Why this drift is accepted (`expected_drift` in stratum.yaml).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What differs inside it: its columns, indexes, constraints, grants.
    pub differences: Vec<Difference>,
}

/// How a part differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    /// The schema declares it; the current side lacks it.
    Missing,
    /// The current side has it; the schema does not declare it.
    Extra,
    /// Both have it, defined differently.
    Changed,
}

/// One part of an object that differs: a column, an index, a constraint,
/// a trigger, a grant, or the object itself.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// The part, e.g. `column app.users.email`.
    pub part: String,
    /// Missing, extra or changed.
    pub how: How,
    /// What converging it takes, e.g. `alter_column_type`.
    pub changes: Vec<&'static str>,
    /// The statements that converge it.
    pub sql: Vec<String>,
    /// Its definition on the current side, when one line of its object's
    /// DDL holds it (`email character varying(100) NOT NULL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub was: Option<String>,
    /// Its definition in the schema, likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wants: Option<String>,
    /// Why it is accepted (`expected_drift` in stratum.yaml).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Its identity, to find it in `schema/`.
    #[serde(skip)]
    pub id: ObjectId,
}

impl Difference {
    /// One sentence on it, naming the two sides.
    pub fn message(&self, current: &str, desired: &str) -> String {
        let mut text = match self.how {
            How::Missing => format!(
                "{} is declared in {desired} but missing from {current}",
                self.part
            ),
            How::Extra => format!(
                "{} exists in {current} but is not declared in {desired}",
                self.part
            ),
            How::Changed if self.was.is_some() && self.wants.is_some() => format!(
                "{} differs: `{}` in {current}, `{}` in {desired}",
                self.part,
                self.was.as_deref().unwrap_or_default(),
                self.wants.as_deref().unwrap_or_default()
            ),
            How::Changed => {
                let what: Vec<String> = self.changes.iter().map(|c| c.replace('_', " ")).collect();
                let sql = self.sql.first().map(|s| one_line(s)).unwrap_or_default();
                format!(
                    "{} differs in {current} from {desired}: {}{}",
                    self.part,
                    what.join(", "),
                    if sql.is_empty() {
                        String::new()
                    } else {
                        format!(" (to converge: {sql})")
                    }
                )
            }
        };
        if let Some(reason) = &self.expected {
            text.push_str(&format!(" (expected: {reason})"));
        }
        text
    }
}

/// The first line of a statement, cut at 160 characters.
fn one_line(sql: &str) -> String {
    let line = sql.lines().next().unwrap_or_default().trim();
    let cut: String = line.chars().take(160).collect();
    if cut.len() < line.len() || sql.lines().nth(1).is_some() {
        format!("{cut} ...")
    } else {
        cut
    }
}

/// Objects whose DDL differs, by label, each with the parts that differ.
/// Takes the current catalog, which it reorders: a copy would be a third
/// catalog in memory at the peak.
pub fn drifted(mut current: Catalog, desired: &Catalog) -> Result<Vec<ObjectDrift>> {
    let mut parts = differences(&current, desired);
    // Column order is not a difference stratum acts on (it would take a
    // table rebuild): show current columns in the schema's order.
    for (name, table) in current.tables.iter_mut() {
        let table = std::sync::Arc::make_mut(table);
        if let Some(want) = desired.tables.get(name) {
            let rank = |c: &crate::kinds::Column| {
                want.columns
                    .iter()
                    .position(|w| w.name == c.name)
                    .unwrap_or(usize::MAX)
            };
            table.columns.sort_by_key(rank);
        }
    }
    let a = ddl::by_object(&current)?;
    // Not held while the desired side's DDL is built: that is the peak.
    drop(current);
    let b = ddl::by_object(desired)?;
    let mut labels: Vec<&String> = a.keys().chain(b.keys()).collect();
    labels.sort();
    labels.dedup();
    Ok(labels
        .into_iter()
        .filter(|l| a.get(*l) != b.get(*l))
        .map(|l| {
            let mut differences = parts.remove(l).unwrap_or_default();
            for d in &mut differences {
                d.was = a.get(l).and_then(|ddl| part_line(ddl, &d.id));
                d.wants = b.get(l).and_then(|ddl| part_line(ddl, &d.id));
            }
            ObjectDrift {
                object: l.clone(),
                current: a.get(l).cloned(),
                desired: b.get(l).cloned(),
                expected: None,
                differences,
            }
        })
        .collect())
}

/// The one line of an object's canonical DDL that defines part `id`: a
/// column's line in its CREATE TABLE, a constraint's, an index's
/// statement; without the trailing comma or semicolon.
fn part_line(ddl: &str, id: &ObjectId) -> Option<String> {
    use crate::sql::ident;
    let found = |matches: &dyn Fn(&str) -> bool| {
        let lines: Vec<&str> = ddl.lines().map(str::trim).filter(|l| matches(l)).collect();
        match lines.as_slice() {
            [one] => Some(one.trim_end_matches([',', ';']).to_string()),
            _ => None,
        }
    };
    match id {
        ObjectId::Column { column, .. } => {
            let start = format!("{} ", ident(column));
            found(&|l| {
                l.starts_with(&start) && !l.starts_with("CREATE ") && !l.starts_with("ALTER ")
            })
        }
        ObjectId::Constraint { name, .. } => {
            let named = format!("CONSTRAINT {} ", ident(name));
            found(&|l| l.contains(&named))
        }
        ObjectId::Policy { name, .. } => {
            let named = format!("CREATE POLICY {} ON ", ident(name));
            found(&|l| l.starts_with(&named))
        }
        ObjectId::Trigger { name, .. } => {
            let named = format!(" TRIGGER {} ", ident(name));
            found(&|l| l.starts_with("CREATE ") && l.contains(&named))
        }
        ObjectId::Index { name } => {
            let named = format!(" INDEX {} ON ", ident(&name.name));
            found(&|l| l.starts_with("CREATE ") && l.contains(&named))
        }
        _ => None,
    }
}

/// The parts that differ, by the object `check` reports them under: what
/// each kind's comparison finds, without the objects a plan drops and
/// creates again only because they depend on a changed one.
fn differences(current: &Catalog, desired: &Catalog) -> BTreeMap<String, Vec<Difference>> {
    let mut by_part: BTreeMap<ObjectId, (String, Vec<Change>)> = BTreeMap::new();
    for change in diff::direct(current, desired) {
        let action = change.action();
        let id = action.id();
        // A drop is told under the object as the current side has it (a
        // dropped materialized view is not a table of the schema).
        let removes_only =
            action.effects().removes.contains(&id) && !action.effects().provides.contains(&id);
        let owner = ddl::owner(&change, if removes_only { current } else { desired });
        by_part
            .entry(id)
            .or_insert_with(|| (owner, Vec::new()))
            .1
            .push(change);
    }
    let mut out: BTreeMap<String, Vec<Difference>> = BTreeMap::new();
    for (id, (owner, changes)) in by_part {
        let effects: Vec<_> = changes.iter().map(|c| c.action().effects()).collect();
        let removes = effects.iter().any(|e| e.removes.contains(&id));
        let provides = effects.iter().any(|e| e.provides.contains(&id));
        let mut verbs: Vec<&'static str> = changes.iter().map(|c| c.action().verb()).collect();
        // Made or dropped outright; an ALTER (which some kinds say provides
        // the object) is a change of one both sides have.
        let all = |prefixes: &[&str]| {
            verbs
                .iter()
                .all(|v| prefixes.iter().any(|p| v.starts_with(p)))
        };
        let how = match (removes, provides) {
            (false, true) if all(&["create", "add", "validate"]) => How::Missing,
            (true, false) if all(&["drop"]) => How::Extra,
            _ => How::Changed,
        };
        verbs.dedup();
        out.entry(owner).or_default().push(Difference {
            part: id.label(),
            how,
            changes: verbs,
            sql: changes.iter().filter_map(|c| c.action().sql()).collect(),
            was: None,
            wants: None,
            expected: None,
            id,
        });
    }
    out
}

/// Marks what `patterns` accept: an object matched by name, or every part
/// of it that differs matched. Returns the patterns that matched nothing.
pub fn expect<'a>(
    patterns: &'a [ExpectedDrift],
    objects: &mut [ObjectDrift],
) -> Vec<&'a ExpectedDrift> {
    let mut used = vec![false; patterns.len()];
    let mut mark = |found: Option<&'a ExpectedDrift>| {
        let found = found?;
        if let Some(i) = patterns.iter().position(|p| std::ptr::eq(p, found)) {
            used[i] = true;
        }
        Some(found.reason.clone())
    };
    for o in objects.iter_mut() {
        for d in &mut o.differences {
            d.expected = mark(expected_for(patterns, &o.object, &d.id));
        }
        let whole = mark(ExpectedDrift::find(patterns, &o.object));
        let every_part =
            !o.differences.is_empty() && o.differences.iter().all(|d| d.expected.is_some());
        // Expected part by part: the reasons of its parts.
        o.expected = whole.or_else(|| {
            let mut reasons: Vec<&str> = Vec::new();
            for d in &o.differences {
                let reason = d.expected.as_deref().unwrap_or_default();
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
            }
            every_part.then(|| reasons.join("; "))
        });
    }
    patterns
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|(p, _)| p)
        .collect()
}
