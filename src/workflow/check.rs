//! `stratum check`: drift detection for CI. With a database: does it equal
//! `schema/`? Without: does replaying `migrations/` give `schema/`?

use anyhow::Result;
use serde::Serialize;
use similar::TextDiff;

use super::annotate::{self, Annotation, Level, Rule};
use super::drift::{self, How, ObjectDrift};
use super::{count, load, migrations, Report, ATTENTION, OK};
use crate::config::Project;
use crate::conninfo;
use crate::diff;
use crate::load::{Side, Source};
use crate::plan;
use crate::render;
use crate::ui::{paint, style};

/// The parts of `o` that differ, a line each, under the object's name:
/// what a reviewer reads before the DDL's diff.
fn what_differs(o: &ObjectDrift, current: &str, desired: &str) -> String {
    let mut out = paint(style::BOLD, &format!("{}:\n", o.object));
    if o.differences.is_empty() || o.current.is_none() || o.desired.is_none() {
        let whole = match (&o.current, &o.desired) {
            (None, _) => format!("declared in {desired}, missing from {current}"),
            (_, None) => format!("in {current}, not declared in {desired}"),
            _ => format!("its definition differs from {desired}"),
        };
        out.push_str(&format!("  {whole}\n"));
        return out;
    }
    for d in &o.differences {
        let mark = match d.how {
            How::Missing => paint(style::GREEN, "+"),
            How::Extra => paint(style::RED, "-"),
            How::Changed => paint(style::CYAN, "~"),
        };
        out.push_str(&format!("  {mark} {}\n", d.message(current, desired)));
    }
    out
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
struct CheckJson<'a> {
    drift: bool,
    current: String,
    desired: String,
    objects: Vec<ObjectDrift>,
    steps: Vec<plan::Step>,
    /// The policy rules' findings on the schema.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    policy: &'a [crate::policy::Finding],
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
    // The policy rules, when stratum.yaml configures them.
    let policy = match &project.policy {
        Some(_) => super::policy::findings(project, &desired)?,
        None => Vec::new(),
    };
    let refused = policy
        .iter()
        .any(|f| f.severity == crate::policy::Severity::Error);
    let policy_text = super::policy::lines(&policy)
        + &super::policy::summary(&policy)
            .map(|s| s + "\n")
            .unwrap_or_default();
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
            + &policy_text
            + &match url {
                Some(_) => format!("No drift: the database matches {schema_name}.\n"),
                None => format!("No drift: {current_name} builds {schema_name}.\n"),
            };
        let markdown = format!(
            "<!-- stratum -->\n### stratum check: `{current_name}` vs `{schema_name}`\n\nNo drift.\n"
        );
        let mut report = Report::new(
            if refused { ATTENTION } else { OK },
            String::new(),
            stderr,
            CheckJson {
                drift: false,
                current: current_name,
                desired: schema_name,
                objects: Vec::new(),
                steps: Vec::new(),
                policy: &policy,
            },
        );
        report.annotations = super::policy::annotations(&policy);
        report.markdown = Some(markdown);
        return Ok(report);
    }
    if let Some(url) = url {
        super::measure_sizes(url, &mut current, &desired, &changes).await?;
    }
    let plan = plan::plan(&current, &desired, changes)?;
    let invalid = invalid_indexes(&current, &current_name);
    let mut objects = drift::drifted(current, &desired)?;
    let unused: String = drift::expect(&project.expected_drift, &mut objects)
        .into_iter()
        .map(|e| {
            format!(
                "warning: stratum.yaml expected_drift `{}` matches nothing that differs here \
                 (objects and parts as check names them: `table app.t`, `index app.i`, \
                 `column app.t.c`, `constraint app.t.c`, `grant table app.t to role`)\n",
                e.object
            )
        })
        .collect();
    // Only drift stratum.yaml expects: reported, and not a failure.
    let accepted = !objects.is_empty() && objects.iter().all(|o| o.expected.is_some());
    let mut stdout = String::new();
    for o in &objects {
        stdout.push_str(&what_differs(o, &current_name, &schema_name));
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
        + &policy_text
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
    let annotations = annotations(project, &objects, &current_name, &schema_name);
    let markdown = markdown(&objects, &plan, &current_name, &schema_name);
    let mut report = Report::new(
        if accepted && !refused { OK } else { ATTENTION },
        stdout,
        stderr,
        CheckJson {
            drift: !accepted,
            current: current_name,
            desired: schema_name,
            objects,
            steps: plan.steps,
            policy: &policy,
        },
    );
    report.annotations = annotations;
    report
        .annotations
        .extend(super::policy::annotations(&policy));
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
            _ if o.differences.is_empty() => "changed".to_string(),
            _ => o
                .differences
                .iter()
                .map(|d| {
                    let how = match d.how {
                        How::Missing => "missing",
                        How::Extra => "extra",
                        How::Changed => "changed",
                    };
                    let expected = if d.expected.is_some() {
                        " (expected)"
                    } else {
                        ""
                    };
                    format!("`{}` {how}{expected}", d.part)
                })
                .collect::<Vec<_>>()
                .join("<br>"),
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

/// One finding per part that differs (per drifting object when its
/// parts are not known), at the line of `schema/` that declares it: a
/// column's, a constraint's, an index's; for a part the schema lacks, its
/// object's statement, the place that should declare it. An object only
/// the current side has gets a finding without a place.
fn annotations(
    project: &Project,
    objects: &[ObjectDrift],
    current_name: &str,
    schema_name: &str,
) -> Vec<Annotation> {
    let source = crate::parse::read_source(&project.schema).unwrap_or_default();
    let schema = |o: &ObjectDrift| format!("schema {}", crate::render::graph::schema_of(&o.object));
    let names = objects.iter().flat_map(|o| {
        [o.object.clone(), schema(o)]
            .into_iter()
            .chain(o.differences.iter().map(|d| d.part.clone()))
    });
    let names: Vec<String> = names.collect();
    let locator = annotate::Locator::new(&source, names.iter().map(String::as_str));
    let show = |p: &std::path::Path| project.show(p);
    let level = |expected: &Option<String>| match expected {
        Some(_) => Level::Warning,
        None => Level::Error,
    };
    let mut out = Vec::new();
    for o in objects {
        let whole = o.desired.is_none() || o.current.is_none() || o.differences.is_empty();
        if whole {
            // An object that is one part (a grant) is where that part is;
            // one the schema lacks, where its schema is declared (the file
            // that should hold it).
            let place = match &o.desired {
                Some(_) => o
                    .differences
                    .first()
                    .and_then(|d| locator.locate_part(&o.object, &d.id, &d.part, &show))
                    .or_else(|| locator.locate(&o.object, &show)),
                None => locator.locate(&schema(o), &show),
            };
            let mut message = match (&o.current, &o.desired) {
                (None, _) => format!(
                    "{} is declared here but missing from {current_name}",
                    o.object
                ),
                (_, None) if place.is_some() => format!(
                    "{} exists in {current_name} but not in the schema (its schema, {}, is \
                     declared here)",
                    o.object,
                    crate::render::graph::schema_of(&o.object)
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
            let title = format!("drift: {}", o.object);
            out.push(Annotation::at(
                Rule::Drift,
                level(&o.expected),
                place,
                title,
                message,
            ));
            continue;
        }
        for d in &o.differences {
            // A part the schema lacks goes where its object is declared.
            let place = match d.how {
                How::Extra => None,
                _ => locator.locate_part(&o.object, &d.id, &d.part, &show),
            }
            .or_else(|| locator.locate(&o.object, &show));
            let (title, message) = (
                format!("drift: {}", d.part),
                d.message(current_name, schema_name),
            );
            out.push(Annotation::at(
                Rule::Drift,
                level(&d.expected),
                place,
                title,
                message,
            ));
        }
    }
    out
}
