//! Orders changes through one dependency graph.
//!
//! Every change is a node. Edges come from named rules over each change's
//! [`Effects`](crate::diff::Effects) and the two catalogs' dependencies. The
//! sort is Kahn's algorithm with ties broken by (phase, rank, object), so the
//! same inputs always give the same order.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use anyhow::{bail, Result};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

use crate::catalog::{Catalog, ConstraintKind, ObjectId};
use crate::diff::Change;

/// Why one change must run before another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// An object must be dropped (or retyped away) only after whatever
    /// depends on it in the current database is gone: a view before the
    /// column type it reads changes, a foreign key before the key it uses.
    DependentsDroppedFirst,
    /// An object is created only after what it depends on in the desired
    /// schema exists: a column after its enum type, a trigger after its
    /// function.
    DependenciesCreatedFirst,
    /// A name is freed before it is taken again: the old index is dropped
    /// before the new one of the same name is created.
    DropBeforeCreate,
}

/// The tie-break key of a change: drops first (dependants before what they
/// use), then creates and alters in the usual dependency order.
fn sort_key(change: &Change) -> (u8, u8) {
    use Change::*;
    match change {
        DropTrigger { .. } => (0, 0),
        DropView(_) => (0, 1),
        DropConstraint { constraint, .. } if constraint.kind == ConstraintKind::ForeignKey => {
            (0, 2)
        }
        DropIndex { .. } => (0, 3),
        DropConstraint { .. } => (0, 4),
        SetDefault { to: None, .. } | AlterIdentity { to: None, .. } => (0, 5),
        DropColumn { .. } => (0, 6),
        DropTable(_) => (0, 7),
        DropSequence { .. } => (0, 8),
        DropFunction(_) => (0, 9),
        RenameEnum { .. } => (0, 10),
        DropEnum {
            renamed_to: None, ..
        } => (0, 11),
        DropExtension(_) => (0, 12),
        DropSchema(_) => (0, 13),
        CreateSchema(_) => (1, 0),
        CreateExtension(_) | UpdateExtension { .. } => (1, 1),
        CreateEnum(_) | AddEnumValue { .. } => (1, 2),
        CreateFunction(_) | ReplaceFunction { .. } => (1, 3),
        CreateSequence(_) | AlterSequence { .. } => (1, 4),
        CreateTable(_) => (1, 5),
        AddColumn { .. } | SetLogged { .. } => (1, 6),
        AlterColumnType { .. } => (1, 7),
        SetDefault { .. } => (1, 8),
        SetNotNull { .. } => (1, 9),
        AlterIdentity { .. } => (1, 10),
        AddConstraint { constraint, .. } if constraint.kind != ConstraintKind::ForeignKey => {
            (1, 11)
        }
        ValidateConstraint { .. } => (1, 12),
        CreateIndex { .. } => (1, 13),
        AddConstraint { .. } => (1, 14),
        CreateView(_) => (1, 15),
        CreateTrigger { .. } => (1, 16),
        SetSequenceOwner { .. } => (1, 17),
        DropEnum { .. } => (1, 18),
        Comment { .. } => (1, 19),
    }
}

/// Returns the indexes of `changes` in the order they must run.
pub fn order(current: &Catalog, desired: &Catalog, changes: &[Change]) -> Result<Vec<usize>> {
    let mut graph: DiGraph<usize, Rule> = DiGraph::with_capacity(changes.len(), changes.len());
    let nodes: Vec<NodeIndex> = (0..changes.len()).map(|i| graph.add_node(i)).collect();

    let mut removers: HashMap<&ObjectId, Vec<usize>> = HashMap::new();
    let mut freers: HashMap<&ObjectId, Vec<usize>> = HashMap::new();
    let mut providers: HashMap<&ObjectId, Vec<usize>> = HashMap::new();
    let mut users: HashMap<&ObjectId, Vec<usize>> = HashMap::new();
    let effects: Vec<_> = changes.iter().map(Change::effects).collect();
    for (i, e) in effects.iter().enumerate() {
        for id in &e.removes {
            removers.entry(id).or_default().push(i);
        }
        for id in &e.frees {
            freers.entry(id).or_default().push(i);
        }
        for id in &e.provides {
            providers.entry(id).or_default().push(i);
            users.entry(id).or_default().push(i);
        }
        for id in &e.needs {
            users.entry(id).or_default().push(i);
        }
    }

    let mut edges: BTreeSet<(usize, usize, u8)> = BTreeSet::new();
    let mut add = |before: usize, after: usize, rule: Rule| {
        if before != after {
            edges.insert((before, after, rule as u8));
        }
    };
    for (dependent, referenced) in &current.depends {
        if let (Some(deps), Some(refs)) = (removers.get(dependent), removers.get(referenced)) {
            for &d in deps {
                for &r in refs {
                    add(d, r, Rule::DependentsDroppedFirst);
                }
            }
        }
    }
    for (dependent, referenced) in &desired.depends {
        if let (Some(deps), Some(refs)) = (users.get(dependent), providers.get(referenced)) {
            for &d in deps {
                for &r in refs {
                    add(r, d, Rule::DependenciesCreatedFirst);
                }
            }
        }
    }
    for (id, users) in &users {
        // A step that needs or makes an object runs after the step that
        // makes that object, and after any step that frees its name.
        for &u in users {
            for &p in providers.get(id).into_iter().flatten() {
                if !effects[u].provides.contains(id) {
                    add(p, u, Rule::DependenciesCreatedFirst);
                }
            }
            for &f in freers.get(id).into_iter().flatten() {
                add(f, u, Rule::DropBeforeCreate);
            }
        }
    }
    for (before, after, rule) in edges {
        let rule = [
            Rule::DependentsDroppedFirst,
            Rule::DependenciesCreatedFirst,
            Rule::DropBeforeCreate,
        ][rule as usize];
        graph.add_edge(nodes[before], nodes[after], rule);
    }
    kahn(&graph, changes)
}

/// Kahn's algorithm, always taking the ready change with the smallest
/// (phase, rank, object, input position).
fn kahn(graph: &DiGraph<usize, Rule>, changes: &[Change]) -> Result<Vec<usize>> {
    let key = |n: NodeIndex| {
        let i = graph[n];
        let (phase, rank) = sort_key(&changes[i]);
        Reverse((phase, rank, super::object(&changes[i]), i, n))
    };
    let mut indegree: Vec<usize> = graph
        .node_indices()
        .map(|n| graph.neighbors_directed(n, Direction::Incoming).count())
        .collect();
    let mut ready: BinaryHeap<_> = graph
        .node_indices()
        .filter(|n| indegree[n.index()] == 0)
        .map(key)
        .collect();
    let mut order = Vec::with_capacity(changes.len());
    while let Some(Reverse((_, _, _, i, n))) = ready.pop() {
        order.push(i);
        for next in graph.neighbors_directed(n, Direction::Outgoing) {
            indegree[next.index()] -= 1;
            if indegree[next.index()] == 0 {
                ready.push(key(next));
            }
        }
    }
    if order.len() < changes.len() {
        let stuck: Vec<String> = graph
            .node_indices()
            .filter(|n| indegree[n.index()] > 0)
            .map(|n| {
                let i = graph[n];
                format!(
                    "{} {}",
                    super::kind(&changes[i]),
                    super::object(&changes[i])
                )
            })
            .collect();
        bail!(
            "the changes depend on each other in a cycle; involved: {}",
            stuck.join(", ")
        );
    }
    Ok(order)
}
