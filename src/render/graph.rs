//! The dependency graph that decided a plan's order, by object: a node per
//! object the plan changes (a table with its columns, indexes and
//! constraints is one), an edge where a step of one must run before a step
//! of the other, and the edges that forced a drop-and-recreate marked.
//! Written as DOT (`--format dot`) and drawn as SVG for the HTML page.

use std::collections::{BTreeMap, BTreeSet};

use crate::ddl;
use crate::hazard::HazardCode;
use crate::kinds::Catalog;
use crate::plan::Plan;

/// How a plan changes an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// Made.
    Create,
    /// Removed.
    Drop,
    /// Altered, or dropped and made again.
    Alter,
}

impl Op {
    /// `+`, `-` or `~`.
    pub fn sign(self) -> char {
        match self {
            Op::Create => '+',
            Op::Drop => '-',
            Op::Alter => '~',
        }
    }

    /// A CSS class and a word.
    pub fn word(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Drop => "drop",
            Op::Alter => "alter",
        }
    }
}

/// An object the plan changes.
#[derive(Debug, Clone)]
pub struct Node {
    /// As `check` names it: `table app.users`.
    pub object: String,
    /// Its schema, or `(database)` for what belongs to none.
    pub schema: String,
    /// Its steps, 1-based, in order.
    pub steps: Vec<usize>,
    /// What the plan does to it.
    pub op: Op,
    /// The hazards of its steps.
    pub hazards: BTreeSet<HazardCode>,
    /// Why it is dropped and made again, when it is.
    pub notes: Vec<String>,
}

/// `from` has a step that must run before one of `to`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    /// Index of a node.
    pub from: usize,
    /// Index of a node.
    pub to: usize,
    /// A step of `from` forced `to` to be dropped and made again.
    pub forced: bool,
}

/// A plan's graph.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// In the order of their first step.
    pub nodes: Vec<Node>,
    /// Sorted, without duplicates or self-loops.
    pub edges: Vec<Edge>,
}

/// The schema of an object label: the qualifier of its last word that has
/// one (`table app.users`, `function app.f(integer)`, `privileges of r on
/// table app.t`), or what a `schema` label names.
pub fn schema_of(label: &str) -> String {
    if let Some(name) = label.strip_prefix("schema ") {
        return name.to_string();
    }
    label
        .split(' ')
        .rev()
        .find_map(|w| {
            let w = w.split('(').next().unwrap_or(w);
            w.split_once('.')
                .map(|(s, _)| s.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "(database)".to_string())
}

/// The graph of `plan`, made from `current` for `desired`.
pub fn of_plan(plan: &Plan, current: &Catalog, desired: &Catalog) -> Graph {
    let mut nodes: Vec<Node> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut node_of_step: Vec<usize> = Vec::new();
    // What the steps on each object itself (not on its parts) do.
    let mut own: Vec<BTreeSet<Op>> = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let effects = step.change.action().effects();
        let id = step.change.action().id();
        let drops = effects.removes.contains(&id) && !effects.provides.contains(&id);
        let object = ddl::owner(&step.change, if drops { current } else { desired });
        let op = match step.kind {
            k if k.starts_with("create") || k.starts_with("add") => Op::Create,
            k if k.starts_with("drop") => Op::Drop,
            _ => Op::Alter,
        };
        let n = *index.entry(object.clone()).or_insert_with(|| {
            nodes.push(Node {
                schema: schema_of(&object),
                object,
                steps: Vec::new(),
                op,
                hazards: BTreeSet::new(),
                notes: Vec::new(),
            });
            own.push(BTreeSet::new());
            nodes.len() - 1
        });
        if step.change.action().owner() == id {
            own[n].insert(op);
        }
        let node = &mut nodes[n];
        node.steps.push(i + 1);
        // Made (then perhaps altered), dropped, or else altered: a table
        // whose columns are dropped is altered; dropped and made again too.
        node.op = match (own[n].contains(&Op::Create), own[n].contains(&Op::Drop)) {
            (true, false) => Op::Create,
            (false, true) => Op::Drop,
            _ => Op::Alter,
        };
        node.hazards.extend(step.hazards.iter().map(|h| h.code));
        node_of_step.push(n);
    }
    let changes: Vec<_> = plan.steps.iter().map(|s| s.change.clone()).collect();
    let mut edges: BTreeSet<Edge> = BTreeSet::new();
    for (a, b) in crate::plan::must_precede(current, desired, &changes) {
        let (from, to) = (node_of_step[a], node_of_step[b]);
        if from != to {
            edges.insert(Edge {
                from,
                to,
                forced: false,
            });
        }
    }
    for r in crate::plan::recreated(plan, current) {
        let to = node_of_step[r.dropped - 1];
        let note = match &r.cause {
            Some((referenced, j, retype)) => {
                let from = node_of_step[j - 1];
                if from != to {
                    edges.remove(&Edge {
                        from,
                        to,
                        forced: false,
                    });
                    edges.insert(Edge {
                        from,
                        to,
                        forced: true,
                    });
                }
                format!(
                    "{} is dropped at step {} and made again at step {}: it depends on {}, {} at step {j}",
                    r.id.label(),
                    r.dropped,
                    r.again,
                    referenced.label(),
                    if *retype { "whose type changes" } else { "which is dropped" },
                )
            }
            None => format!(
                "{} is dropped at step {} and made again at step {}: its definition changes in a way no ALTER can",
                r.id.label(),
                r.dropped,
                r.again
            ),
        };
        nodes[to].notes.push(note);
    }
    Graph {
        nodes,
        edges: edges.into_iter().collect(),
    }
}

/// A DOT string literal.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Fill colour by change.
fn fill(op: Op) -> &'static str {
    match op {
        Op::Create => "#d8f3dc",
        Op::Drop => "#ffd6d6",
        Op::Alter => "#fff1c1",
    }
}

/// The graph as Graphviz DOT: a cluster per schema, nodes labelled with
/// their change and steps, hazards in red, forcing edges bold and red.
pub fn dot(graph: &Graph) -> String {
    let mut out = String::from(
        "digraph plan {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n",
    );
    let mut schemas: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        schemas.entry(&n.schema).or_default().push(i);
    }
    for (k, (schema, members)) in schemas.iter().enumerate() {
        out.push_str(&format!(
            "  subgraph cluster_{k} {{\n    label={};\n",
            quoted(schema)
        ));
        for &i in members {
            let n = &graph.nodes[i];
            let steps: Vec<String> = n.steps.iter().map(|s| s.to_string()).collect();
            let mut label = format!("{} {}\\nsteps {}", n.op.sign(), n.object, steps.join(", "));
            if !n.hazards.is_empty() {
                let codes: Vec<&str> = n.hazards.iter().map(|h| h.as_str()).collect();
                label.push_str(&format!("\\n{}", codes.join(", ")));
            }
            let tooltip = n.notes.join("\n");
            out.push_str(&format!(
                "    n{i} [label={}, fillcolor=\"{}\", color=\"{}\", penwidth={}{}];\n",
                quoted(&label).replace("\\\\n", "\\n"),
                fill(n.op),
                if n.hazards.is_empty() {
                    "#555555"
                } else {
                    "#c0392b"
                },
                if n.hazards.is_empty() { 1 } else { 2 },
                if tooltip.is_empty() {
                    String::new()
                } else {
                    format!(", tooltip={}", quoted(&tooltip))
                }
            ));
        }
        out.push_str("  }\n");
    }
    for e in &graph.edges {
        out.push_str(&format!(
            "  n{} -> n{}{};\n",
            e.from,
            e.to,
            if e.forced {
                " [color=\"#c0392b\", penwidth=2, label=\"forces recreate\"]"
            } else {
                ""
            }
        ));
    }
    out.push_str("}\n");
    out
}

/// Most nodes one drawing holds: layout-rs's layout grows fast with the
/// graph (200 nodes took a second, 500 minutes).
pub const MOST_DRAWN: usize = 120;

/// HTML-escaped text.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The nodes `members` of `graph` (and the edges among them) drawn as an
/// inline SVG by layout-rs: each node a box coloured by its change, a red
/// border when it has hazards, its notes as a tooltip; forcing edges red.
/// Ids inside the SVG are prefixed with `prefix`, so that several drawings
/// share a page. None for an empty or too large set.
pub fn svg(graph: &Graph, members: &[usize], prefix: &str) -> Option<String> {
    use layout::backends::svg::SVGWriter;
    use layout::core::base::Orientation;
    use layout::core::color::Color;
    use layout::core::geometry::Point;
    use layout::core::style::{LineStyleKind, StyleAttr};
    use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
    use layout::topo::layout::VisualGraph;

    if members.is_empty() || members.len() > MOST_DRAWN {
        return None;
    }
    // Ranks left to right: the many small components of a plan (a table
    // and its sequence) then stack down the page instead of across it.
    let orientation = Orientation::LeftToRight;
    let mut vg = VisualGraph::new(orientation);
    // Its check after each edge costs more than the layout.
    vg.dag.set_validate(false);
    let mut handles = BTreeMap::new();
    for &i in members {
        let n = &graph.nodes[i];
        let label = format!("{} {}", n.op.sign(), n.object);
        // layout-rs sizes a box at a font size's width per character,
        // twice what a sans-serif letter takes: sized here.
        let size = Point::new(label.chars().count() as f64 * 7.0 + 24.0, 26.0);
        let shape = ShapeKind::new_box(&label);
        let (line, width) = match n.hazards.is_empty() {
            true => ("#555555", 1),
            false => ("#c0392b", 3),
        };
        let look = StyleAttr::new(
            Color::fast(line),
            width,
            Some(Color::fast(fill(n.op))),
            6,
            12,
        );
        let mut tip = vec![format!(
            "{} {} (steps {})",
            n.op.word(),
            n.object,
            n.steps
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )];
        if !n.hazards.is_empty() {
            let codes: Vec<&str> = n.hazards.iter().map(|h| h.as_str()).collect();
            tip.push(format!("hazards: {}", codes.join(", ")));
        }
        tip.extend(n.notes.iter().cloned());
        // layout-rs writes properties inside the group's opening tag: the
        // title element rides in after it.
        let properties = format!(
            "id=\"{prefix}node-{i}\" class=\"node {}{}\" data-object=\"{}\"><title>{}</title",
            n.op.word(),
            if n.hazards.is_empty() { "" } else { " hazard" },
            escape(&n.object),
            escape(&tip.join("\n"))
        );
        let element = Element::create_with_properties(shape, look, orientation, size, properties);
        handles.insert(i, vg.add_node(element));
    }
    let edges = reduced(graph, members);
    // Objects no arrow touches would stand in one long row: stacked in
    // columns by invisible arrows instead.
    let linked: BTreeSet<usize> = edges.iter().flat_map(|e| [e.from, e.to]).collect();
    let alone: Vec<usize> = members
        .iter()
        .copied()
        .filter(|i| !linked.contains(i))
        .collect();
    let column = (alone.len() as f64).sqrt().ceil().max(1.0) as usize;
    for pair in alone.chunks(column).flat_map(|c| c.windows(2)) {
        vg.add_edge(Arrow::invisible(), handles[&pair[0]], handles[&pair[1]]);
    }
    for e in edges {
        let (Some(&from), Some(&to)) = (handles.get(&e.from), handles.get(&e.to)) else {
            continue;
        };
        let (color, width, class) = match e.forced {
            true => ("#c0392b", 3, "edge forced"),
            false => ("#888888", 1, "edge"),
        };
        let look = StyleAttr::new(Color::fast(color), width, None, 0, 10);
        let mut arrow = Arrow::new(
            LineEndKind::None,
            LineEndKind::Arrow,
            LineStyleKind::Normal,
            "",
            &look,
            &None,
            &None,
        );
        arrow.properties = Some(format!("class=\"{class}\""));
        vg.add_edge(arrow, from, to);
    }
    let mut writer = SVGWriter::new();
    vg.do_it(false, false, false, &mut writer);
    let svg = writer.finalize();
    // Inline in a page: no XML prolog, ids of its own.
    let svg = svg.split_once("?>").map_or(svg.as_str(), |(_, s)| s).trim();
    Some(
        svg.replace("id=\"arrow", &format!("id=\"{prefix}arrow"))
            .replace("href=\"#arrow", &format!("href=\"#{prefix}arrow"))
            .replace("startarrow", &format!("{prefix}startarrow"))
            .replace("endarrow", &format!("{prefix}endarrow")),
    )
}

/// The edges among `members` without those another path implies (a
/// schema before each of its tables when the tables form a chain): the
/// same order, fewer arrows to read, and a layout that does not explore
/// every path. Forcing edges stay.
fn reduced<'a>(graph: &'a Graph, members: &[usize]) -> Vec<&'a Edge> {
    let inside: BTreeSet<usize> = members.iter().copied().collect();
    let mut kept: Vec<&Edge> = graph
        .edges
        .iter()
        .filter(|e| inside.contains(&e.from) && inside.contains(&e.to))
        .collect();
    let mut i = 0;
    while i < kept.len() {
        let edge = kept[i];
        // Is `to` reachable from `from` without this edge?
        let mut seen = BTreeSet::from([edge.from]);
        let mut todo = vec![edge.from];
        let mut implied = false;
        while let Some(at) = todo.pop() {
            for (k, e) in kept.iter().enumerate() {
                if k == i || e.from != at || !seen.insert(e.to) {
                    continue;
                }
                if e.to == edge.to {
                    implied = true;
                    break;
                }
                todo.push(e.to);
            }
            if implied {
                break;
            }
        }
        if implied && !edge.forced {
            kept.remove(i);
        } else {
            i += 1;
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implied_edges_are_not_drawn_but_forcing_ones_are() {
        let edge = |from, to, forced| Edge { from, to, forced };
        let graph = Graph {
            nodes: Vec::new(),
            edges: vec![
                edge(0, 1, false),
                edge(0, 2, false),
                edge(0, 3, true),
                edge(1, 2, false),
                edge(2, 3, false),
                edge(3, 1, false),
            ],
        };
        let kept: Vec<(usize, usize)> = reduced(&graph, &[0, 1, 2, 3])
            .into_iter()
            .map(|e| (e.from, e.to))
            .collect();
        // 0 -> 2 follows from 0 -> 1 -> 2; 0 -> 1 then from 0 -> 3 -> 1.
        assert_eq!(kept, [(0, 3), (1, 2), (2, 3), (3, 1)]);
        let kept = reduced(&graph, &[0, 1]);
        assert_eq!(kept.len(), 1);
    }

    #[test]
    fn schemas_of_labels() {
        assert_eq!(schema_of("table app.users"), "app");
        assert_eq!(schema_of("schema app"), "app");
        assert_eq!(schema_of("function app.f(integer)"), "app");
        assert_eq!(schema_of("privileges of r on table app.t"), "app");
        assert_eq!(schema_of("extension pgcrypto"), "(database)");
    }

    #[test]
    fn drawings_are_inline_svg_with_ids_of_their_own() {
        let node = |object: &str, op| Node {
            object: object.to_string(),
            schema: "app".into(),
            steps: vec![1],
            op,
            hazards: BTreeSet::new(),
            notes: vec!["a <note>".into()],
        };
        let graph = Graph {
            nodes: vec![
                node("table app.a", Op::Create),
                node("view app.v", Op::Alter),
            ],
            edges: vec![Edge {
                from: 0,
                to: 1,
                forced: true,
            }],
        };
        let svg = svg(&graph, &[0, 1], "g1-").unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(
            svg.contains("id=\"g1-node-0\" class=\"node create\""),
            "{svg}"
        );
        assert!(
            svg.contains("<title>alter view app.v (steps 1)\na &lt;note&gt;</title>"),
            "{svg}"
        );
        assert!(svg.contains("class=\"edge forced\""), "{svg}");
        assert!(svg.contains("url(#g1-endarrow)"), "{svg}");
        assert!(!svg.contains("\"arrow0\""), "{svg}");
        assert_eq!(super::svg(&graph, &[], "x"), None);
        let dot = dot(&graph);
        assert!(dot.contains("n0 -> n1 [color=\"#c0392b\""), "{dot}");
        assert!(
            dot.contains("subgraph cluster_0 {\n    label=\"app\";"),
            "{dot}"
        );
    }
}
