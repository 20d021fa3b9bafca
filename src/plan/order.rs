//! Orders changes through one dependency graph.
//!
//! Every change is a node. Edges come from named rules over each change's
//! [`Effects`](crate::kinds::Effects) and the two catalogs' dependencies. The
//! sort is Kahn's algorithm with ties broken by (phase, rank, object), so the
//! same inputs always give the same order.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use anyhow::{bail, Result};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

use crate::diff::Change;
use crate::kinds::{Catalog, ObjectId};

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

/// Returns the indexes of `changes` in the order they must run.
pub fn order(current: &Catalog, desired: &Catalog, changes: &[Change]) -> Result<Vec<usize>> {
    let mut graph: DiGraph<usize, Rule> = DiGraph::with_capacity(changes.len(), changes.len());
    let nodes: Vec<NodeIndex> = (0..changes.len()).map(|i| graph.add_node(i)).collect();

    let mut removers: HashMap<&ObjectId, Vec<usize>> = HashMap::new();
    let mut freers: HashMap<&ObjectId, Vec<usize>> = HashMap::new();
    let mut providers: HashMap<&ObjectId, Vec<usize>> = HashMap::new();
    let mut users: HashMap<&ObjectId, Vec<usize>> = HashMap::new();
    let effects: Vec<_> = changes.iter().map(|c| c.kind().effects()).collect();
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
/// (phase, rank, object, input position); phase and rank come from the
/// change's kind.
fn kahn(graph: &DiGraph<usize, Rule>, changes: &[Change]) -> Result<Vec<usize>> {
    let key = |n: NodeIndex| {
        let i = graph[n];
        let kind = changes[i].kind();
        let (phase, rank) = kind.rank();
        Reverse((phase, rank, kind.label(), i, n))
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
                let kind = changes[graph[n]].kind();
                format!("{} {}", kind.verb(), kind.label())
            })
            .collect();
        bail!(
            "the changes depend on each other in a cycle; involved: {}",
            stuck.join(", ")
        );
    }
    Ok(order)
}
