//! `stratum check`: drift detection for CI. With a database: does it equal
//! `schema/`? Without: does replaying `migrations/` give `schema/`?

use anyhow::Result;
use serde::Serialize;
use similar::TextDiff;

use super::annotate::{self, Annotation, Level};
use super::{count, load, migrations, Report, ATTENTION, OK};
use crate::config::{ExpectedDrift, Project};
use crate::conninfo;
use crate::ddl;
use crate::diff;
use crate::kinds::Catalog;
use crate::load::{Side, Source};
use crate::plan;
use crate::render;
use crate::ui::{paint, style};

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
}

/// Objects whose DDL differs, by label. Takes the current catalog, which it
/// reorders: a copy would be a third catalog in memory at the peak.
pub fn drifted(mut current: Catalog, desired: &Catalog) -> Result<Vec<ObjectDrift>> {
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
        .map(|l| ObjectDrift {
            object: l.clone(),
            current: a.get(l).cloned(),
            desired: b.get(l).cloned(),
            expected: None,
        })
        .collect())
}

/// A coloured unified diff of one object's DDL.
fn unified(drift: &ObjectDrift, current_name: &str, desired_name: &str) -> String {
    let a = drift.current.clone().unwrap_or_default();
    let b = drift.desired.clone().unwrap_or_default();
    let text = TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(current_name, desired_name)
        .to_string();
    text.lines()
        .map(|line| {
            let painted = if line.starts_with("+++") || line.starts_with("---") {
                paint(style::BOLD, line)
            } else if line.starts_with('+') {
                paint(style::GREEN, line)
            } else if line.starts_with('-') {
                paint(style::RED, line)
            } else if line.starts_with("@@") {
                paint(style::CYAN, line)
            } else {
                line.to_string()
            };
            painted + "\n"
        })
        .collect()
}

#[derive(Serialize)]
struct CheckJson {
    drift: bool,
    current: String,
    desired: String,
    objects: Vec<ObjectDrift>,
    steps: Vec<plan::Step>,
}

/// When the database at `url` has applied the expand phase of a
/// zero-downtime change but not its contract: the migrations before the
/// contract, and the contract's label.
async fn mid_pattern(
    project: &Project,
    url: &str,
) -> Result<Option<(Vec<crate::migrations::Migration>, String)>> {
    use crate::zero_downtime::Phase;
    let files = migrations(project)?;
    if !files
        .iter()
        .any(|m| Phase::of(&m.up.text) == Some(Phase::Contract))
    {
        return Ok(None);
    }
    let client = conninfo::connect_url(url).await?;
    let history = crate::history::History::new(project.history_table.clone());
    let applied = history.applied(&client).await?;
    let done = |m: &crate::migrations::Migration| {
        applied
            .iter()
            .any(|a| a.version == m.version && a.failed.is_none())
    };
    let Some(i) = files
        .iter()
        .position(|m| Phase::of(&m.up.text) == Some(Phase::Contract) && !done(m))
    else {
        return Ok(None);
    };
    let expanded = files[..i]
        .iter()
        .rev()
        .find(|m| Phase::of(&m.up.text) == Some(Phase::Expand))
        .is_some_and(done);
    if !expanded || !files[..i].iter().all(done) {
        return Ok(None);
    }
    let label = files[i].label();
    let mut before = files;
    before.truncate(i);
    Ok(Some((before, label)))
}

/// Compares the database at `url` (or what `migrations/` builds) with
/// `schema/`. Exit 0 when equal, 1 with a report when not.
pub async fn check(project: &Project, url: Option<&str>) -> Result<Report> {
    let mut schema_side = Side::Source(project.schema_source()?);
    let mut schema_name = project.show(&project.schema);
    // A database in the middle of a zero-downtime change is compared with
    // what the migrations build up to its contract: a known state.
    if let Some(url) = url {
        if let Some((before, contract)) = mid_pattern(project, url).await? {
            schema_name = format!(
                "what {} builds up to {} (a zero-downtime change, expanded; its contract {} \
                 is pending)",
                project.show(&project.migrations),
                before.last().map_or(String::new(), |m| m.label()),
                contract
            );
            schema_side = Side::Migrations(before);
        }
    }
    let (current_side, current_name) = match url {
        Some(url) => (
            Side::Source(Source::Url(url.to_string())),
            conninfo::redact(url),
        ),
        None => (
            Side::Migrations(migrations(project)?),
            project.show(&project.migrations),
        ),
    };
    let mut catalogs = load(project, &[current_side, schema_side]).await?;
    let mut desired = catalogs.pop().expect("two sides");
    let mut current = catalogs.pop().expect("two sides");
    project.filter.keep_history_schema(&current, &mut desired);
    let warnings = render::not_managed(
        &crate::coverage::unmanaged(&current, &desired),
        " (not compared)",
    );
    let changes = diff::diff(&current, &desired);
    // Drift is reported whatever a plan would rely on; strict mode still
    // refuses unmanaged objects.
    if project.strict {
        crate::coverage::check(&current, &desired, &[], true)?;
    }
    if changes.is_empty() {
        let stderr = warnings
            + &match url {
                Some(_) => format!("No drift: the database matches {schema_name}.\n"),
                None => format!("No drift: {current_name} builds {schema_name}.\n"),
            };
        let markdown = format!(
            "<!-- stratum -->\n### stratum check: `{current_name}` vs `{schema_name}`\n\nNo drift.\n"
        );
        let mut report = Report::new(
            OK,
            String::new(),
            stderr,
            CheckJson {
                drift: false,
                current: current_name,
                desired: schema_name,
                objects: Vec::new(),
                steps: Vec::new(),
            },
        );
        report.markdown = Some(markdown);
        return Ok(report);
    }
    if let Some(url) = url {
        super::measure_sizes(url, &mut current, &desired, &changes).await?;
    }
    let plan = plan::plan(&current, &desired, changes)?;
    let invalid = invalid_indexes(&current, &current_name);
    // What each step changes, and the object check names it under (a
    // column, an index, a constraint: their table).
    let parts = parts_by_object(&plan, &current, &desired);
    let mut objects = drifted(current, &desired)?;
    let patterns = &project.expected_drift;
    for o in &mut objects {
        o.expected = ExpectedDrift::find(patterns, &o.object)
            .or_else(|| {
                // Expected part by part: every part that differs matches.
                let parts = parts.get(&o.object)?;
                let found: Vec<&ExpectedDrift> = parts
                    .iter()
                    .map(|p| ExpectedDrift::find(patterns, p))
                    .collect::<Option<_>>()?;
                found.first().copied()
            })
            .map(|e| e.reason.clone());
    }
    let unused: String = patterns
        .iter()
        .filter(|e| {
            let matches = |label: &String| crate::filter::glob(&e.object, label);
            !objects.iter().any(|o| matches(&o.object)) && !parts.values().flatten().any(matches)
        })
        .map(|e| {
            format!(
                "warning: stratum.yaml expected_drift `{}` matches nothing that differs here \
                 (objects as check names them: `table app.t`, `index app.i`, `column app.t.c`)\n",
                e.object
            )
        })
        .collect();
    // Only drift stratum.yaml expects: reported, and not a failure.
    let accepted = !objects.is_empty() && objects.iter().all(|o| o.expected.is_some());
    let mut stdout = String::new();
    for o in &objects {
        stdout.push_str(&unified(
            o,
            &format!("{} ({current_name})", o.object),
            &format!("{} ({schema_name})", o.object),
        ));
        stdout.push('\n');
    }
    stdout.push_str(&paint(
        style::BOLD,
        &format!("-- The plan that makes {current_name} match {schema_name}:\n"),
    ));
    stdout.push_str(&render::sql(&plan));
    let hint = match url {
        Some(_) => "run `stratum migrate` if migrations are pending, or `stratum plan` to see how to converge",
        None => "run `stratum generate` to write the missing migration",
    };
    let expected: String = objects
        .iter()
        .filter_map(|o| Some(format!("  {}: {}\n", o.object, o.expected.as_ref()?)))
        .collect();
    let unexpected = objects.iter().filter(|o| o.expected.is_none()).count();
    let stderr = warnings
        + &unused
        + &invalid
        + &if accepted {
            format!(
                "No unexpected drift: {} in {current_name} {} from {schema_name} as expected (stratum.yaml expected_drift):\n{expected}",
                count(objects.len(), "object"),
                if objects.len() == 1 { "differs" } else { "differ" },
            )
        } else {
            let also = if expected.is_empty() {
                String::new()
            } else {
                format!("Expected (stratum.yaml expected_drift), not counted:\n{expected}")
            };
            format!(
                "{} {} in {current_name} {} from {schema_name} ({} to converge).\n{also}{hint}\n",
                paint(style::RED, "Drift:"),
                count(unexpected.max(1), "object"),
                if unexpected <= 1 { "differs" } else { "differ" },
                count(plan.steps.len(), "step"),
            )
        };
    let annotations = annotations(project, &objects, &current_name);
    let markdown = markdown(&objects, &plan, &current_name, &schema_name);
    let mut report = Report::new(
        if accepted { OK } else { ATTENTION },
        stdout,
        stderr,
        CheckJson {
            drift: !accepted,
            current: current_name,
            desired: schema_name,
            objects,
            steps: plan.steps,
        },
    );
    report.annotations = annotations;
    report.markdown = Some(markdown);
    Ok(report)
}

/// The drift as a pull request comment: each object that differs (with
/// the reason when stratum.yaml expects it) and its DDL's diff folded,
/// then the plan that converges.
fn markdown(
    objects: &[ObjectDrift],
    plan: &crate::plan::Plan,
    current: &str,
    desired: &str,
) -> String {
    let unexpected = objects.iter().filter(|o| o.expected.is_none()).count();
    let mut out = format!(
        "<!-- stratum -->\n### stratum check: `{current}` vs `{desired}`\n\n**{}** · {} \
         expected · the plan to converge: {}\n\n| object | differs | expected |\n|---|---|---|\n",
        match unexpected {
            0 => "No unexpected drift".to_string(),
            n => format!("Drift: {}", count(n, "object")),
        },
        objects.len() - unexpected,
        count(plan.steps.len(), "step"),
    );
    for o in objects {
        let how = match (&o.current, &o.desired) {
            (Some(_), None) => format!("only in {current}"),
            (None, Some(_)) => format!("missing from {current}"),
            _ => "changed".to_string(),
        };
        out.push_str(&format!(
            "| `{}` | {how} | {} |\n",
            o.object,
            o.expected.as_deref().unwrap_or("").replace('|', "\\|")
        ));
    }
    for o in objects {
        let diff = crate::ui::plain(&unified(
            o,
            &format!("{} ({current})", o.object),
            &format!("{} ({desired})", o.object),
        ));
        out.push_str(&format!(
            "\n<details><summary>{}</summary>\n\n```diff\n{}\n```\n\n</details>\n",
            o.object,
            diff.trim_end()
        ));
    }
    out.push_str(&format!(
        "\n<details><summary>The plan ({})</summary>\n\n```sql\n{}\n```\n\n</details>\n",
        count(plan.steps.len(), "step"),
        render::sql(plan).trim_end()
    ));
    out
}

/// The labels of what each step of `plan` changes, by the object `check`
/// reports them under: a column, constraint, trigger, policy or index by
/// its table (`table app.users`: [`index app.hotfix_1`, ...]), anything
/// else by itself.
fn parts_by_object(
    plan: &crate::plan::Plan,
    current: &crate::kinds::Catalog,
    desired: &crate::kinds::Catalog,
) -> std::collections::BTreeMap<String, Vec<String>> {
    use crate::kinds::ObjectId;
    let mut index_table = std::collections::BTreeMap::new();
    for table in current.tables.values().chain(desired.tables.values()) {
        for index in table.indexes.values() {
            index_table.insert(index.name.clone(), table.name.clone());
        }
    }
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for step in &plan.steps {
        let id = step.change.action().id();
        let owner = match &id {
            ObjectId::Index { name } => index_table.get(name),
            _ => id.relation(),
        };
        let object = match owner {
            Some(table) => format!("table {}", table.plain()),
            None => id.label(),
        };
        out.entry(object).or_default().push(id.label());
    }
    out
}

/// A line per INVALID index of `current` (what a failed or cancelled
/// concurrent build leaves), saying why the plan drops and builds it.
fn invalid_indexes(current: &crate::kinds::Catalog, current_name: &str) -> String {
    current
        .tables
        .values()
        .flat_map(|t| t.indexes.values())
        .filter(|i| !i.valid)
        .map(|i| {
            format!(
                "index {} is INVALID in {current_name}: a concurrent build failed or was \
                 cancelled there and left it; it serves no query, so the plan drops it and \
                 builds it again\n",
                i.name.plain()
            )
        })
        .collect()
}

/// One finding per drifting object, at the statement of `schema/` that
/// declares it (none for an object only the current side has).
fn annotations(project: &Project, objects: &[ObjectDrift], current_name: &str) -> Vec<Annotation> {
    let source = crate::parse::read_source(&project.schema).unwrap_or_default();
    let locator = annotate::Locator::new(&source, objects.iter().map(|o| o.object.as_str()));
    let show = |p: &std::path::Path| project.show(p);
    objects
        .iter()
        .map(|o| {
            let place = o
                .desired
                .as_ref()
                .and_then(|_| locator.locate(&o.object, &show));
            let mut message = match (&o.current, &o.desired) {
                (None, _) => format!(
                    "{} is declared here but missing from {current_name}",
                    o.object
                ),
                (_, None) => format!(
                    "{} exists in {current_name} but not in the schema",
                    o.object
                ),
                _ => format!(
                    "{} in {current_name} differs from its declaration here",
                    o.object
                ),
            };
            if let Some(reason) = &o.expected {
                message.push_str(&format!(" (expected: {reason})"));
            }
            Annotation {
                level: match o.expected {
                    Some(_) => Level::Warning,
                    None => Level::Error,
                },
                file: place.as_ref().map(|(f, _)| f.clone()),
                line: place.map(|(_, l)| l),
                title: format!("drift: {}", o.object),
                message,
            }
        })
        .collect()
}
