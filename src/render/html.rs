//! A plan as one self-contained HTML page (`--format html`): its counts
//! and hazards, the dependency graph that ordered it drawn as SVG, every
//! step in order, and per schema and object the steps with their SQL,
//! hazards and reasons beside the object's definition before and after.
//! No script, no network: a Content-Security-Policy forbids any request.

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::Result;
use similar::{ChangeTag, TextDiff};

use super::graph::{self, escape, Graph};
use crate::kinds::Catalog;
use crate::plan::Plan;

/// What a page shows.
pub struct Page<'a> {
    /// Its heading, e.g. `stratum plan: postgres://... → schema/`.
    pub title: String,
    /// The plan.
    pub plan: &'a Plan,
    /// What it was made from.
    pub current: &'a Catalog,
    /// What it leads to.
    pub desired: &'a Catalog,
    /// The two sides as the user names them.
    pub current_name: String,
    /// See `current_name`.
    pub desired_name: String,
}

const STYLE: &str = "
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0 auto; max-width: 1400px; padding: 1em 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.counts { font-weight: 600; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
pre { margin: 0; white-space: pre-wrap; font: 12px/1.4 ui-monospace, 'SFMono-Regular', Menlo, monospace; }
details { margin: 4px 0; } summary { cursor: pointer; }
details.schema > summary { font-weight: 600; font-size: 1.05em; }
details.object { margin-left: 1.2em; border-left: 3px solid #ccc; padding-left: .6em; }
details.object.create { border-color: #2e7d32; } details.object.drop { border-color: #c62828; } details.object.alter { border-color: #b7950b; }
.step { margin: .5em 0 .8em; } .step .n { display: inline-block; min-width: 2.5em; font-weight: 600; }
.sql { background: #f6f8fa; padding: 4px 8px; border-radius: 4px; }
.hazard { color: #fff; background: #c0392b; border-radius: 3px; padding: 0 5px; font-size: 12px; margin-right: 4px; }
.note { color: #555; font-style: italic; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 0; margin-top: .5em; }
.sides div.h { font-weight: 600; padding: 2px 6px; background: #eee; }
.sides pre { padding: 0 6px; min-height: 1.4em; } .sides pre.del { background: #ffe5e5; } .sides pre.ins { background: #e2f7e5; }
.sides pre.skip { color: #888; font-style: italic; }
.graph { overflow: auto; border: 1px solid #ddd; padding: .5em; }
.graph svg text { font-family: system-ui, sans-serif; pointer-events: none; }
.graph .node:hover rect { stroke-width: 4; }
.legend span { display: inline-block; padding: 0 6px; margin-right: 6px; border: 1px solid #888; border-radius: 4px; }
";

/// The page.
pub fn page(page: &Page) -> Result<String> {
    let plan = page.plan;
    let graph = graph::of_plan(plan, page.current, page.desired);
    let mut out = String::new();
    let title = escape(&page.title);
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>{title}</title>\n<style>{STYLE}</style></head>\n<body>\n<h1>{title}</h1>\n"
    )?;
    let hazards: usize = plan.steps.iter().map(|s| s.hazards.len()).sum();
    writeln!(
        out,
        "<p class=\"counts\">{} · {} · {}</p>",
        escape(&super::markdown::counts(plan)),
        crate::ui::count(plan.steps.len(), "step"),
        match hazards {
            0 => "no hazards".to_string(),
            n => crate::ui::count(n, "hazard"),
        }
    )?;
    for (object, reason) in &plan.left_alone {
        writeln!(
            out,
            "<p>{} is left as it is (expected drift: {})</p>",
            escape(object),
            escape(reason)
        )?;
    }
    if plan.steps.is_empty() {
        out.push_str("<p>No changes.</p>\n</body></html>\n");
        return Ok(out);
    }
    hazard_table(&mut out, plan)?;
    drawings(&mut out, &graph)?;
    in_order(&mut out, plan)?;
    by_object(&mut out, page, &graph)?;
    out.push_str("</body></html>\n");
    Ok(out)
}

/// Every hazard: its step, code and what it says.
fn hazard_table(out: &mut String, plan: &Plan) -> Result<()> {
    if plan.steps.iter().all(|s| s.hazards.is_empty()) {
        return Ok(());
    }
    out.push_str(
        "<h2>Hazards</h2>\n<table id=\"hazards\"><tr><th>step</th><th>hazard</th><th>object</th><th>what</th></tr>\n",
    );
    for (i, step) in plan.steps.iter().enumerate() {
        for h in &step.hazards {
            writeln!(
                out,
                "<tr><td><a href=\"#step-{n}\">{n}</a></td><td><span class=\"hazard\">{}</span></td><td>{}</td><td>{}</td></tr>",
                h.code.as_str(),
                escape(&step.object),
                escape(&h.message),
                n = i + 1
            )?;
        }
    }
    out.push_str("</table>\n");
    Ok(())
}

/// The graph: one drawing, or one per schema when it is too large for
/// one; a schema too large even alone is named, not drawn.
fn drawings(out: &mut String, graph: &Graph) -> Result<()> {
    out.push_str(
        "<h2>Dependency graph</h2>\n<p class=\"legend\">An arrow runs from an object whose step must come first. \
         <span style=\"background:#d8f3dc\">+ created</span><span style=\"background:#ffd6d6\">- dropped</span>\
         <span style=\"background:#fff1c1\">~ altered or recreated</span><span style=\"border:3px solid #c0392b\">has hazards</span>\
         a <b style=\"color:#c0392b\">red arrow</b> forced a drop and recreate. Hover a box for its steps and why.</p>\n",
    );
    let all: Vec<usize> = (0..graph.nodes.len()).collect();
    let mut parts: Vec<(String, Vec<usize>)> = Vec::new();
    if all.len() <= graph::MOST_DRAWN {
        parts.push((String::new(), all));
    } else {
        let mut by_schema: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, n) in graph.nodes.iter().enumerate() {
            by_schema.entry(&n.schema).or_default().push(i);
        }
        writeln!(
            out,
            "<p>{} objects: drawn schema by schema (arrows between schemas are in <code>--format dot</code>).</p>",
            graph.nodes.len()
        )?;
        parts.extend(by_schema.into_iter().map(|(s, m)| (s.to_string(), m)));
    }
    for (k, (schema, members)) in parts.iter().enumerate() {
        if !schema.is_empty() {
            writeln!(out, "<h3>schema {}</h3>", escape(schema))?;
        }
        match graph::svg(graph, members, &format!("g{k}-")) {
            Some(svg) => writeln!(out, "<div class=\"graph\">{svg}</div>")?,
            None => writeln!(
                out,
                "<p>{} objects, too many to draw here: <code>--format dot</code> writes the graph for Graphviz.</p>",
                members.len()
            )?,
        }
    }
    Ok(())
}

/// One step: its number, what it does, its hazards, its SQL.
fn step_html(out: &mut String, plan: &Plan, n: usize, anchor: bool) -> Result<()> {
    let step = &plan.steps[n - 1];
    let id = if anchor {
        format!(" id=\"step-{n}\"")
    } else {
        String::new()
    };
    write!(
        out,
        "<div class=\"step\"{id}><span class=\"n\">{n}</span>{} <b>{}</b> ",
        escape(step.kind),
        escape(&step.object)
    )?;
    for h in &step.hazards {
        write!(
            out,
            "<span class=\"hazard\" title=\"{}\">{}</span>",
            escape(&h.message),
            h.code.as_str()
        )?;
    }
    if let Some(estimate) = &step.estimate {
        write!(out, "<span class=\"note\">{}</span>", escape(estimate))?;
    }
    let sql = step.sql.as_deref().unwrap_or("-- done by another step");
    writeln!(out, "<pre class=\"sql\">{}</pre></div>", escape(sql))?;
    Ok(())
}

/// Every step in the order it runs; folded when there are many.
fn in_order(out: &mut String, plan: &Plan) -> Result<()> {
    let open = if plan.steps.len() <= 40 { " open" } else { "" };
    writeln!(
        out,
        "<h2>Steps in order</h2>\n<details{open}><summary>{} in the order they run</summary>",
        crate::ui::count(plan.steps.len(), "step")
    )?;
    for n in 1..=plan.steps.len() {
        step_html(out, plan, n, true)?;
    }
    out.push_str("</details>\n");
    Ok(())
}

/// Per schema and object: its steps, why it is recreated, and its
/// definition before and after side by side. Objects with hazards are
/// unfolded, the rest folded once there are many.
fn by_object(out: &mut String, page: &Page, graph: &Graph) -> Result<()> {
    let before = crate::ddl::by_object(page.current)?;
    let after = crate::ddl::by_object(page.desired)?;
    let mut schemas: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        schemas.entry(&n.schema).or_default().push(i);
    }
    out.push_str("<h2>By schema and object</h2>\n");
    let many = graph.nodes.len() > 30;
    for (schema, members) in schemas {
        let steps: usize = members.iter().map(|&i| graph.nodes[i].steps.len()).sum();
        writeln!(
            out,
            "<details class=\"schema\" open><summary>{} · {} · {}</summary>",
            escape(schema),
            crate::ui::count(members.len(), "object"),
            crate::ui::count(steps, "step")
        )?;
        for i in members {
            let n = &graph.nodes[i];
            let open = if !many || !n.hazards.is_empty() {
                " open"
            } else {
                ""
            };
            writeln!(
                out,
                "<details class=\"object {}\"{open} id=\"object-{i}\"><summary>{} {} · {}{}</summary>",
                n.op.word(),
                n.op.sign(),
                escape(&n.object),
                crate::ui::count(n.steps.len(), "step"),
                if n.hazards.is_empty() {
                    String::new()
                } else {
                    format!(
                        " · hazards: {}",
                        n.hazards
                            .iter()
                            .map(|h| h.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            )?;
            for note in &n.notes {
                writeln!(out, "<p class=\"note\">{}</p>", escape(note))?;
            }
            for &s in &n.steps {
                step_html(out, page.plan, s, false)?;
            }
            sides(
                out,
                before.get(&n.object).map(String::as_str).unwrap_or(""),
                after.get(&n.object).map(String::as_str).unwrap_or(""),
                page,
            )?;
            out.push_str("</details>\n");
        }
        out.push_str("</details>\n");
    }
    Ok(())
}

/// An object's definition before and after, side by side: changed lines
/// marked, runs of more than six unchanged lines folded to a count.
fn sides(out: &mut String, before: &str, after: &str, page: &Page) -> Result<()> {
    writeln!(
        out,
        "<div class=\"sides\"><div class=\"h\">before: {}</div><div class=\"h\">after: {}</div>",
        escape(&page.current_name),
        escape(&page.desired_name)
    )?;
    let diff = TextDiff::from_lines(before, after);
    let mut rows: Vec<Row> = Vec::new();
    // Deleted and inserted lines of one change are paired side by side.
    let (mut dels, mut ins, mut equal): (Vec<&str>, Vec<&str>, Vec<&str>) = Default::default();
    for change in diff.iter_all_changes() {
        let line = change.value().trim_end_matches('\n');
        match change.tag() {
            ChangeTag::Equal => {
                pair(&mut rows, &mut dels, &mut ins);
                equal.push(line);
            }
            ChangeTag::Delete => {
                fold(&mut rows, &mut equal);
                dels.push(line);
            }
            ChangeTag::Insert => {
                fold(&mut rows, &mut equal);
                ins.push(line);
            }
        }
    }
    pair(&mut rows, &mut dels, &mut ins);
    fold(&mut rows, &mut equal);
    for row in rows {
        match row {
            Row::Skip(n) => writeln!(
                out,
                "<pre class=\"skip\">… {n} unchanged lines</pre><pre class=\"skip\">… {n} unchanged lines</pre>"
            )?,
            Row::Lines(left, right) => {
                for (text, class) in [left, right] {
                    writeln!(out, "<pre class=\"{class}\">{}</pre>", escape(text))?;
                }
            }
        }
    }
    out.push_str("</div>\n");
    Ok(())
}

/// A row of the side-by-side view.
enum Row<'a> {
    /// The line before and the line after, each with its CSS class.
    Lines((&'a str, &'static str), (&'a str, &'static str)),
    /// So many unchanged lines, folded.
    Skip(usize),
}

/// Pairs the deleted and inserted lines of one change into rows.
fn pair<'a>(rows: &mut Vec<Row<'a>>, dels: &mut Vec<&'a str>, ins: &mut Vec<&'a str>) {
    for k in 0..dels.len().max(ins.len()) {
        let side = |lines: &Vec<&'a str>, class| lines.get(k).map_or(("", ""), |l| (*l, class));
        rows.push(Row::Lines(side(dels, "del"), side(ins, "ins")));
    }
    dels.clear();
    ins.clear();
}

/// Unchanged lines as rows, a run of more than six folded but for its
/// first and last two.
fn fold<'a>(rows: &mut Vec<Row<'a>>, equal: &mut Vec<&'a str>) {
    let same = |l: &'a str| Row::Lines((l, ""), (l, ""));
    if equal.len() > 6 {
        rows.extend(equal[..2].iter().map(|l| same(l)));
        rows.push(Row::Skip(equal.len() - 4));
        rows.extend(equal[equal.len() - 2..].iter().map(|l| same(l)));
    } else {
        rows.extend(equal.iter().map(|l| same(l)));
    }
    equal.clear();
}
