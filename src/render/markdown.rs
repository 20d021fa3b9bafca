//! A plan as a pull request comment (`--format markdown`): what it does at
//! a glance (`+3 tables, ~2 columns, -1 index`), its hazards as a table
//! with the tables' facts, and the SQL in a collapsible block.

use std::collections::BTreeMap;

use crate::hazard::{duration, group_digits, human_size};
use crate::plan::Plan;

/// `plan` as markdown under the heading `title`.
pub fn markdown(plan: &Plan, title: &str) -> String {
    // The marker a CI job finds its earlier comment by, to update it.
    let mut out = format!("<!-- stratum -->\n### {title}\n\n");
    for (object, reason) in &plan.left_alone {
        out.push_str(&format!(
            "- `{object}` is left as it is (expected drift: {})\n",
            reason.replace('|', "\\|")
        ));
    }
    if !plan.left_alone.is_empty() {
        out.push('\n');
    }
    if plan.steps.is_empty() {
        out.push_str("No changes.\n");
        return out;
    }
    let hazards: usize = plan.steps.iter().map(|s| s.hazards.len()).sum();
    out.push_str(&format!(
        "**{}** · {} · {}\n\n",
        counts(plan),
        crate::ui::count(plan.steps.len(), "step"),
        match hazards {
            0 => "no hazards".to_string(),
            n => crate::ui::count(n, "hazard"),
        }
    ));
    if hazards > 0 {
        out.push_str("| step | hazard | table | what | rows | size | lock | estimate |\n");
        out.push_str("|---|---|---|---|---|---|---|---|\n");
        for (i, step) in plan.steps.iter().enumerate() {
            for h in &step.hazards {
                let facts = h.table.as_ref();
                // The message without the facts the other columns give.
                let message = match facts {
                    Some(_) => h.message.rsplit_once(" (").map_or(&*h.message, |(m, _)| m),
                    None => &h.message,
                };
                out.push_str(&format!(
                    "| {} | `{}` | {} | {} | {} | {} | {} | {} |\n",
                    i + 1,
                    h.code.as_str(),
                    facts.map_or(String::new(), |f| format!("`{}`", f.table)),
                    cell(message),
                    facts
                        .and_then(|f| f.rows)
                        .map_or(String::new(), group_digits),
                    facts
                        .and_then(|f| f.bytes)
                        .map_or(String::new(), human_size),
                    facts.and_then(|f| f.lock.clone()).unwrap_or_default(),
                    facts
                        .and_then(|f| f.estimate_seconds)
                        .map_or(String::new(), duration),
                ));
            }
        }
        out.push('\n');
    }
    let sql = super::sql(plan);
    out.push_str(&format!(
        "<details><summary>SQL ({})</summary>\n\n```sql\n{}\n```\n\n</details>\n",
        crate::ui::count(
            plan.steps.iter().filter(|s| s.sql.is_some()).count(),
            "statement"
        ),
        sql.trim_end()
    ));
    out
}

/// `+3 tables, ~2 columns, -1 index`: the steps by what they do (created,
/// changed, dropped) and the kind of object, in that order.
pub(super) fn counts(plan: &Plan) -> String {
    let mut by: BTreeMap<(u8, &str), usize> = BTreeMap::new();
    for step in &plan.steps {
        let op = match step.kind {
            k if k.starts_with("create") || k.starts_with("add") => 0,
            k if k.starts_with("drop") => 2,
            _ => 1,
        };
        let noun = match step.change {
            crate::diff::Change::Comment(_) => "comment",
            _ => noun(&step.object),
        };
        *by.entry((op, noun)).or_default() += 1;
    }
    by.iter()
        .map(|((op, noun), n)| {
            let sign = ["+", "~", "-"][*op as usize];
            format!("{sign}{n} {}", plural(noun, *n))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The kind an object's label names: its first word (`table`, `column`),
/// or the words before `of` (`row level security of t`, `owner of x`).
fn noun(label: &str) -> &str {
    const PHRASES: [&str; 6] = [
        "row level security",
        "default privileges",
        "privileges",
        "partitions and children",
        "owner",
        "default",
    ];
    PHRASES
        .into_iter()
        .find(|p| label.starts_with(&format!("{p} of ")))
        .unwrap_or_else(|| label.split(' ').next().unwrap_or("object"))
}

fn plural(noun: &str, n: usize) -> String {
    match n {
        1 => noun.to_string(),
        _ if noun.ends_with("security") || noun.ends_with("privileges") => noun.to_string(),
        _ if noun.ends_with("children") => noun.to_string(),
        _ if noun.ends_with('x') || noun.ends_with('s') => format!("{noun}es"),
        _ if noun.ends_with('y') && !noun.ends_with("ey") => {
            format!("{}ies", &noun[..noun.len() - 1])
        }
        _ => format!("{noun}s"),
    }
}

/// Text in a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
