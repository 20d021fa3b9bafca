//! `stratum check` over a fleet (`--db URL --db URL ...`, `--db-list FILE`,
//! `--fleet`): many databases (one per tenant, say) against one `schema/`,
//! a bounded number at a time, in one table. The schema is loaded once per
//! PostgreSQL major the databases run.

use std::collections::BTreeMap;

use anyhow::Result;
use futures_util::{stream, StreamExt};
use serde::Serialize;

use super::super::drift::{drifted, ObjectDrift};
use super::super::{count, Report, ATTENTION, ERROR, OK};
use crate::config::Project;
use crate::conninfo;
use crate::diff;
use crate::fleet::Target;
use crate::introspect::introspect;
use crate::kinds::Catalog;
use crate::load::load_for_major;
use crate::tenants::Part;
use crate::ui::{paint, style};

/// One database's result.
#[derive(Debug, Clone, Serialize)]
pub struct FleetRow {
    /// Its name (the URL, password hidden, unless named).
    pub name: String,
    /// The URL, password hidden.
    pub database: String,
    /// `ok`, `drift` or `error`.
    pub state: &'static str,
    /// Objects that differ from the schema and are not expected to.
    pub objects: Vec<String>,
    /// Objects whose drift stratum.yaml expects.
    pub expected: Vec<String>,
    /// Why it could not be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize)]
struct FleetJson {
    databases: Vec<FleetRow>,
    ok: usize,
    drifted: usize,
    errors: usize,
}

/// Checks every database in `urls` against `schema/`, `jobs` at a time
/// (one connection each). Exit 0 when all match, 1 when any drifted, 2
/// when any could not be checked.
pub async fn check_fleet(project: &Project, targets: &[Target], jobs: usize) -> Result<Report> {
    let jobs = jobs.max(1);
    let mut targets = super::expand(project, targets.to_vec()).await?;
    super::tenants::fill_desired(project, &mut targets, jobs).await?;
    let targets = &targets;
    // The major of each database (asked once per URL): the schema is read
    // by a server of the same one.
    let mut urls: Vec<&str> = targets.iter().map(|t| t.url.as_str()).collect();
    urls.sort_unstable();
    urls.dedup();
    let majors: BTreeMap<&str, Result<u32>> = stream::iter(&urls)
        .map(|url| async move { (*url, conninfo::server_major(url).await) })
        .buffered(jobs)
        .collect()
        .await;
    let mut desired: BTreeMap<u32, Desired> = BTreeMap::new();
    let schema = project.schema_source()?;
    for major in majors.values().flatten() {
        if desired.contains_key(major) {
            continue;
        }
        let loaded = match load_for_major(&schema, &project.scratch(), *major).await {
            Ok(mut catalog) => {
                project.filter.apply(&mut catalog);
                Ok(catalog)
            }
            Err(e) => Err(format!("{e:#}")),
        };
        desired.insert(*major, Desired { loaded });
    }
    // A database's targets (its shared part and tenants) share one read.
    let mut databases: Vec<&[Target]> = Vec::new();
    let mut rest = &targets[..];
    while let Some(first) = rest.first() {
        let n = rest.iter().take_while(|t| t.url == first.url).count();
        databases.push(&rest[..n]);
        rest = &rest[n..];
    }
    let rows: Vec<FleetRow> = stream::iter(databases)
        .map(|database| {
            let url = database[0].url.as_str();
            let (desired, majors) = (&desired, &majors);
            async move {
                let current = match &majors[url] {
                    Ok(major) => read(url).await.map(|c| (*major, c)),
                    Err(e) => Err(anyhow::anyhow!("{e:#}")),
                };
                let mut rows = Vec::new();
                for target in database {
                    let project = super::tenants::project_for(project, target);
                    let outcome = match &current {
                        Ok((major, current)) => match desired[major].of(target, &project.filter) {
                            Ok(catalog) => compare(&project, current.clone(), &catalog),
                            Err(e) => Err(anyhow::anyhow!(
                                "loading the schema for PostgreSQL {major}: {e}"
                            )),
                        },
                        Err(e) => Err(anyhow::anyhow!("{e:#}")),
                    };
                    rows.push(row(target, outcome));
                }
                rows
            }
        })
        .buffered(jobs)
        .flat_map(stream::iter)
        .collect()
        .await;
    Ok(report(rows, crate::fleet::noun(targets)))
}

/// What the databases of one major should hold.
struct Desired {
    /// `schema/`.
    loaded: Result<Catalog, String>,
}

impl Desired {
    /// What `target` should hold: a tenant's part, `schema/` in a shared
    /// part's scope (`filter`), or `schema/`.
    fn of<'a>(
        &'a self,
        target: &'a Target,
        filter: &crate::filter::Filter,
    ) -> Result<std::borrow::Cow<'a, Catalog>, String> {
        match &target.part {
            Some(Part::Tenant(schema)) => match &target.desired {
                Some(desired) => Ok(std::borrow::Cow::Borrowed(&**desired)),
                None => Err(format!("no schema was made for tenant {schema}")),
            },
            Some(Part::Shared) => {
                let mut catalog = self.loaded.clone()?;
                filter.apply(&mut catalog);
                Ok(std::borrow::Cow::Owned(catalog))
            }
            None => match &self.loaded {
                Ok(catalog) => Ok(std::borrow::Cow::Borrowed(catalog)),
                Err(e) => Err(e.clone()),
            },
        }
    }
}

/// The schema of the database at `url`, read live.
async fn read(url: &str) -> Result<Catalog> {
    let client = conninfo::connect_url(url).await?;
    introspect(&client, true).await
}

/// The objects of `current` (a database's schema, scoped here by the
/// project's filter) that differ from `desired`: (unexpected, expected).
fn compare(
    project: &Project,
    mut current: Catalog,
    desired: &Catalog,
) -> Result<(Vec<String>, Vec<String>)> {
    project.filter.apply(&mut current);
    // Only a database whose history schema the schema lacks needs a copy.
    let mut desired = std::borrow::Cow::Borrowed(desired);
    if project
        .filter
        .history_schema_missing(&current, &desired)
        .is_some()
    {
        project
            .filter
            .keep_history_schema(&current, desired.to_mut());
    }
    let desired = desired.as_ref();
    if diff::diff(&current, desired).is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut objects = drifted(current, desired)?;
    super::super::drift::expect(&project.expected_drift, &mut objects);
    if objects.is_empty() {
        // A difference no object's DDL shows (it still fails the check).
        return Ok((vec!["(settings)".to_string()], Vec::new()));
    }
    let (expected, unexpected): (Vec<_>, Vec<_>) =
        objects.into_iter().partition(|o| o.expected.is_some());
    let labels = |objects: Vec<ObjectDrift>| objects.into_iter().map(|o| o.object).collect();
    Ok((labels(unexpected), labels(expected)))
}

fn row(target: &Target, outcome: Result<(Vec<String>, Vec<String>)>) -> FleetRow {
    let (name, database) = (target.name.clone(), target.database.clone());
    match outcome {
        Ok((objects, expected)) => FleetRow {
            name,
            database,
            state: if objects.is_empty() { "ok" } else { "drift" },
            objects,
            expected,
            error: None,
        },
        Err(e) => FleetRow {
            name,
            database,
            state: "error",
            objects: Vec::new(),
            expected: Vec::new(),
            error: Some(format!("{e:#}")),
        },
    }
}

fn report(rows: Vec<FleetRow>, noun: &str) -> Report {
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut stdout = format!("{:<width$}  {:<5}  drifting\n", "database", "state");
    for r in &rows {
        let state = match r.state {
            "ok" => paint(style::GREEN, "ok   "),
            "drift" => paint(style::RED, "drift"),
            _ => paint(style::RED, "error"),
        };
        let detail = match (&r.error, r.objects.is_empty()) {
            (Some(e), _) => e.lines().next().unwrap_or_default().to_string(),
            (None, true) => "0".to_string(),
            (None, false) => format!("{} ({})", r.objects.len(), r.objects.join(", ")),
        };
        let expected = match r.expected.len() {
            0 => String::new(),
            n => format!("; {n} expected"),
        };
        stdout.push_str(&format!(
            "{:<width$}  {state}  {detail}{expected}\n",
            r.name
        ));
    }
    let ok = rows.iter().filter(|r| r.state == "ok").count();
    let drifted = rows.iter().filter(|r| r.state == "drift").count();
    let errors = rows.iter().filter(|r| r.state == "error").count();
    let stderr = format!(
        "{}: {ok} match the schema, {drifted} drifted, {errors} could not be checked.\n",
        count(rows.len(), noun)
    );
    let exit = if errors > 0 {
        ERROR
    } else if drifted > 0 {
        ATTENTION
    } else {
        OK
    };
    Report::new(
        exit,
        stdout,
        stderr,
        FleetJson {
            databases: rows,
            ok,
            drifted,
            errors,
        },
    )
}
