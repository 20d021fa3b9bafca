//! `stratum plan` and `stratum apply`: declarative mode, straight from
//! `schema/` to a database, with hazards refused unless allowed.
//!
//! `apply` is a pipeline, each stage a function: where the plan comes from
//! ([`from_schema`] or [`from_saved`]), the gate ([`gate`]: nothing to do,
//! refused hazards), the proof on a copy ([`prove`]), the question
//! ([`ask`]), the lock, the re-check and the run through the one executor
//! ([`execute`]), the check that the database reached the schema
//! ([`verify`]), and the report.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::Serialize;

use super::saved::SavedPlan;
use super::{count, load, Report, ATTENTION, OK};
use crate::config::Project;
use crate::conninfo;
use crate::ddl;
use crate::diff;
use crate::execute::{Ran, RunStep, Script};
use crate::kinds::rename::RenameChange;
use crate::kinds::Catalog;
use crate::load::{Side, Source};
use crate::plan::{self, HazardCode, Plan, Step};
use crate::precheck::Finding;
use crate::render;
use crate::ui::{self, paint, style};

/// Options of `apply`.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Hazards allowed on top of the configured ones.
    pub allow: crate::hazard::Approvals,
    /// Apply without asking.
    pub yes: bool,
    /// A plan saved by `plan --out`, applied instead of planning anew.
    pub saved: Option<PathBuf>,
    /// Prove on rows sampled from the database (as `rehearse` samples
    /// them) instead of generated ones.
    pub prove_with_sample: bool,
}

/// A plan with the catalogs it was made from and for.
pub(super) struct Planned {
    /// The database's schema.
    pub current: Catalog,
    /// The state the plan reaches.
    desired: Catalog,
    /// What it was planned against, when renames make it differ from
    /// `desired`: the schema with its renames undone.
    target: Option<Catalog>,
    /// The renames, which run last.
    renames: Vec<RenameChange>,
    /// The plan.
    pub plan: Plan,
}

/// The plan from `current` (the database at `url`) to `target`, with
/// `renames` run last; sizes of the tables its hazards name are measured.
async fn plan_to(
    project: &Project,
    url: &str,
    current: &mut Catalog,
    target: &Catalog,
    renames: &[RenameChange],
) -> Result<Plan> {
    let changes = diff::diff(current, target);
    // What stratum.yaml expects to differ is left as it is.
    let (mut changes, left_alone) =
        crate::expected::leave(changes, &project.filter.expected_drift, current, target);
    changes.extend(renames.iter().cloned().map(crate::diff::Change::from));
    crate::coverage::check(current, target, &changes, project.strict)?;
    crate::coverage::roles(current, target, &project.assume_roles)?;
    super::measure_sizes(url, current, target, &changes).await?;
    current.rates = crate::rehearse::rates::load(url);
    let mut plan = plan::plan(current, target, changes)?;
    plan.left_alone = left_alone;
    Ok(plan)
}

/// The database and the plan that turns it into `schema/`.
pub(super) async fn planned(project: &Project, url: &str) -> Result<Planned> {
    // A tenant schema's run brings what the schema should hold, made from
    // `schema/`'s placeholder (renames are not applied to tenants).
    if let Some(desired) = project.tenant.as_ref().and_then(|t| t.desired.clone()) {
        let mut current = read_current(project, url).await?;
        let desired = (*desired).clone();
        let plan = plan_to(project, url, &mut current, &desired, &[]).await?;
        return Ok(Planned {
            current,
            desired,
            target: None,
            renames: Vec::new(),
            plan,
        });
    }
    let mut catalogs = load(
        project,
        &[
            Side::Source(Source::Url(url.to_string())),
            Side::Source(project.schema_source()?),
        ],
    )
    .await?;
    let mut desired = catalogs.pop().expect("two sides");
    let mut current = catalogs.pop().expect("two sides");
    project.filter.keep_history_schema(&current, &mut desired);
    // Planned against the schema with its renames undone; they run last.
    let (target, renames) = super::renamed(project, &current, &desired).await?;
    let renames = renames.changes;
    let plan = plan_to(
        project,
        url,
        &mut current,
        target.as_ref().unwrap_or(&desired),
        &renames,
    )
    .await?;
    Ok(Planned {
        current,
        desired,
        target,
        renames,
        plan,
    })
}

/// The database's schema as `apply` plans from it.
pub(super) async fn read_current(project: &Project, url: &str) -> Result<Catalog> {
    let side = Side::Source(Source::Url(url.to_string()));
    Ok(load(project, &[side]).await?.pop().expect("one side"))
}

/// [`read_current`] in full, never from the read cache: the check right
/// before a plan's first statement runs trusts nothing but the database.
async fn read_current_in_full(project: &Project, url: &str) -> Result<Catalog> {
    let target = conninfo::config(url)?;
    let connections = crate::introspect::connections();
    let mut catalog =
        crate::introspect::introspect_target(&target, true, connections, None).await?;
    project.filter.apply(&mut catalog);
    Ok(catalog)
}

#[derive(Serialize)]
struct PlanJson<'a> {
    steps: &'a [Step],
    /// What differs but stratum.yaml expects: (object, reason).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    left_alone: &'a [(String, String)],
    unmanaged: Vec<crate::kinds::Unmanaged>,
    fingerprint: String,
    /// `--explain`: why each step is there, in step order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    explain: Vec<Vec<String>>,
    /// What the pre-checks found in the database's rows.
    pre_checks: Vec<Finding>,
}

/// `stratum plan`: the SQL `apply` would run; saved to `out` for a later
/// `apply` when given.
pub async fn plan(
    project: &Project,
    url: &str,
    out: Option<&Path>,
    explain: bool,
) -> Result<Report> {
    let planned = planned(project, url).await?;
    let (current, desired, plan) = (&planned.current, &planned.desired, &planned.plan);
    let unmanaged = crate::coverage::unmanaged(current, desired);
    let fingerprint = ddl::fingerprint(current)?;
    let notes = if explain {
        plan::explain(plan, current)
    } else {
        Vec::new()
    };
    let mut stderr = render::summary(plan, &unmanaged);
    // What `apply` would find in the rows, for the reviewer.
    let script = Script::of_plan(plan);
    let checked = pre_checks(project, url, &script).await?;
    stderr.push_str(&crate::precheck::lines(&checked));
    if checked.iter().any(Finding::refuses) {
        stderr.push_str(
            "`stratum apply` would refuse this plan until those rows are fixed: a pre-check \
             found rows its step would fail on.\n",
        );
    }
    if let Some(out) = out {
        let target = planned.target.as_ref().unwrap_or(desired);
        let database = conninfo::redact(url);
        SavedPlan::new(database, current, target, desired, &planned.renames, plan)?.write(out)?;
        stderr.push_str(&format!(
            "Saved to {}: `stratum apply {}` runs exactly these statements, and only while the \
             database's schema is still {fingerprint}.\n",
            out.display(),
            out.display()
        ));
    }
    let title = format!(
        "stratum plan: `{}` → `{}`",
        conninfo::redact(url),
        project.show(&project.schema)
    );
    let mut report = Report::new(
        OK,
        render::sql_explained(plan, &notes),
        stderr,
        PlanJson {
            steps: &plan.steps,
            left_alone: &plan.left_alone,
            unmanaged,
            fingerprint,
            explain: notes,
            pre_checks: checked,
        },
    );
    report.markdown = Some(render::markdown(plan, &title));
    report.document = render::document(&render::html::Page {
        title: title.replace('`', ""),
        plan,
        current,
        desired: planned.target.as_ref().unwrap_or(desired),
        current_name: conninfo::redact(url),
        desired_name: project.show(&project.schema),
    })?;
    Ok(report)
}

/// A step refused for a hazard that is not allowed.
#[derive(Debug, Clone, Serialize)]
struct Refused {
    object: String,
    kind: String,
    hazard: HazardCode,
    message: String,
}

#[derive(Serialize)]
struct ApplyJson<'a> {
    applied: bool,
    steps: &'a [RunStep],
    refused: Vec<Refused>,
    pre_checks: &'a [Finding],
    transactions: usize,
    ms: i64,
}

/// What `apply` runs, wherever the plan came from.
struct ToApply {
    /// The database's schema, as planned from.
    current: Catalog,
    /// The state the plan reaches.
    desired: Catalog,
    /// The script, its hazards as the catalog makes them now.
    script: Script,
    /// The script as a reviewer reads it.
    sql: String,
    /// What it changes, in a few lines.
    summary: String,
    /// [`ddl::fingerprint`] of `current`.
    fingerprint: String,
    /// What it leads to, for the report: `schema/`, or the saved plan's
    /// state.
    leads_to: String,
    /// What the pre-checks found, once they ran.
    checked: Vec<Finding>,
    /// What differs but stratum.yaml expects, left as it is.
    left_alone: Vec<(String, String)>,
}

impl ToApply {
    /// What the pre-checks found, a line each.
    fn checked_lines(&self) -> String {
        crate::precheck::lines(&self.checked)
    }

    /// What the plan leaves as it is, a line each.
    fn left_lines(&self) -> String {
        render::left_alone(&self.left_alone)
    }

    /// What the database matches once the plan ran.
    fn matches(&self) -> String {
        match self.left_alone.len() {
            0 => format!("the database matches {}", self.leads_to),
            n => format!(
                "the database matches {} but for {} stratum.yaml expects, left as {}",
                self.leads_to,
                count(n, "difference"),
                if n == 1 { "it is" } else { "they are" }
            ),
        }
    }

    fn json(&self, applied: bool, refused: Vec<Refused>, ran: Option<&Ran>) -> ApplyJson<'_> {
        ApplyJson {
            applied,
            steps: &self.script.steps,
            refused,
            pre_checks: &self.checked,
            transactions: ran.map_or(0, |r| r.batches),
            ms: ran.map_or(0, |r| r.ms),
        }
    }
}

/// Origin: the plan from the database to `schema/`, made now.
async fn from_schema(project: &Project, url: &str) -> Result<ToApply> {
    let planned = planned(project, url).await?;
    Ok(ToApply {
        fingerprint: ddl::fingerprint(&planned.current)?,
        script: Script::of_plan(&planned.plan),
        sql: render::sql(&planned.plan),
        summary: render::summary(&planned.plan, &[]),
        current: planned.current,
        desired: planned.desired,
        leads_to: project.show(&project.schema),
        checked: Vec::new(),
        left_alone: planned.plan.left_alone,
    })
}

/// Origin: a plan saved by `plan --out`. Refused unless its checksum and
/// script hold, the database's schema is the one it was made from (else
/// the objects that differ are named), and planning again from the
/// database to the state it was made for gives exactly its statements;
/// the hazards are the new plan's.
async fn from_saved(project: &Project, url: &str, path: &Path) -> Result<ToApply> {
    let saved = SavedPlan::read(path)?;
    let mut current = read_current(project, url).await?;
    let fingerprint = ddl::fingerprint(&current)?;
    if fingerprint != saved.fingerprint {
        let changed = saved.changed_objects(&current)?;
        let shown: Vec<String> = changed.iter().take(20).map(|l| format!("  {l}")).collect();
        let more = match changed.len().saturating_sub(20) {
            0 => String::new(),
            n => format!("\n  ... and {n} more"),
        };
        bail!(
            "{} was made for another state of this database's schema; since then:\n{}{more}\n\
             Nothing was applied: make a new plan (or this is another database)",
            path.display(),
            shown.join("\n")
        );
    }
    let what = |label: &str, sql: &String| {
        Side::Text(format!("{} ({label})", path.display()), sql.clone())
    };
    let mut sides = vec![what("the state it was planned against", &saved.target)];
    if let Some(desired) = &saved.desired {
        sides.push(what("the state it reaches", desired));
    }
    let mut catalogs = load(project, &sides).await?;
    for catalog in &mut catalogs {
        project.filter.keep_history_schema(&current, catalog);
    }
    let target = catalogs.remove(0);
    let plan = plan_to(project, url, &mut current, &target, &saved.renames).await?;
    let script = Script::of_plan(&plan);
    saved.check_steps(path, &script.steps)?;
    Ok(ToApply {
        fingerprint,
        sql: render::sql(&plan),
        summary: format!(
            "{} from {}.\n",
            count(plan.steps.len(), "step"),
            path.display()
        ),
        script,
        current,
        desired: catalogs.pop().unwrap_or(target),
        leads_to: format!("the schema {} was made for", path.display()),
        checked: Vec::new(),
        left_alone: plan.left_alone,
    })
}

/// Gate: a report instead of a run when there is nothing to do, when a
/// step has a hazard `allowed` does not hold, or when a pre-check found
/// rows a step would fail on (exit 1, nothing run; the pre-checks' lines
/// beside the hazards' refusal).
fn gate(todo: &ToApply, allowed: &crate::hazard::Approvals) -> Option<Report> {
    if todo.script.steps.is_empty() {
        let json = todo.json(false, vec![], None);
        let stderr = todo.left_lines() + "No changes.\n";
        return Some(Report::new(OK, String::new(), stderr, json));
    }
    let refused: Vec<Refused> = todo
        .script
        .steps
        .iter()
        .flat_map(|s| {
            s.hazards
                .iter()
                .filter(|h| !allowed.allows(h.code, &s.object))
                .map(|h| Refused {
                    object: s.object.clone(),
                    kind: s.kind.clone(),
                    hazard: h.code,
                    message: h.message.clone(),
                })
        })
        .collect();
    let failed = todo.checked.iter().any(Finding::refuses);
    if refused.is_empty() && !failed {
        return None;
    }
    let mut stderr = todo.checked_lines();
    if refused.is_empty() {
        stderr.push_str(&crate::precheck::refusal(&todo.checked, "applied"));
        let json = todo.json(false, refused, None);
        return Some(Report::new(ATTENTION, todo.sql.clone(), stderr, json));
    }
    for r in &refused {
        stderr.push_str(&format!(
            "{} {} ({}): hazard {}: {}\n",
            paint(style::RED, "refused"),
            r.object,
            r.kind,
            r.hazard.as_str(),
            r.message
        ));
    }
    let objects: Vec<(HazardCode, String)> = refused
        .iter()
        .map(|r| (r.hazard, r.object.clone()))
        .collect();
    let (exact, all) = crate::hazard::flags_for(&objects);
    stderr.push_str(&format!(
        "Nothing was applied. To accept these hazards: {exact} (or every hazard of these \
         kinds: {all})\n"
    ));
    if failed {
        stderr.push_str(
            "The pre-checks above also found rows a step would fail on: approving the hazards \
             is not enough until those rows are fixed.\n",
        );
    }
    let json = todo.json(false, refused, None);
    Some(Report::new(ATTENTION, todo.sql.clone(), stderr, json))
}

/// Ask: unless `yes`, the script is shown and the person at the terminal
/// asked; a report instead of a run when no one can answer, the answer is
/// no, or a signal came first.
async fn ask(todo: &ToApply, url: &str, yes: bool) -> Result<Option<Report>> {
    if yes {
        return Ok(None);
    }
    let not_applied = |why: &str| {
        let json = todo.json(false, vec![], None);
        Report::new(ATTENTION, String::new(), format!("{why}\n"), json)
    };
    if !ui::interactive() {
        return Ok(Some(Report {
            stdout: todo.sql.clone(),
            ..not_applied(
                "Not applied: stdin is not a terminal, so there is no one to ask; review the \
                 plan above and pass --yes.",
            )
        }));
    }
    ui::print_err(&todo.sql);
    ui::print_err(&todo.summary);
    ui::print_err(&todo.checked_lines());
    let question = format!(
        "Apply {} to {}?",
        count(todo.script.steps.len(), "step"),
        conninfo::redact(url)
    );
    // A signal ends the question at once.
    let _signals = crate::interrupt::handle();
    Ok(
        match ui::confirm(&question, crate::interrupt::wait()).await? {
            Some(true) => None,
            Some(false) | None => Some(not_applied("Not applied.")),
        },
    )
}

/// `stratum apply`: runs the plan (made now, or saved by `plan --out`), in
/// one transaction where PostgreSQL allows it, only while the database's
/// schema is the one planned from. Refuses (exit 1) steps whose hazards are
/// not allowed, proves the plan on a copy, and asks on a terminal unless
/// `yes`.
pub async fn apply(project: &Project, url: &str, options: &ApplyOptions) -> Result<Report> {
    let todo = match options.saved.as_deref() {
        Some(path) => from_saved(project, url, path).await?,
        None => from_schema(project, url).await?,
    };
    let allowed = project.allowed(&options.allow);
    let mut todo = todo;
    pre_check(project, url, &mut todo).await?;
    if let Some(report) = gate(&todo, &allowed) {
        return Ok(report);
    }
    let proved = if project.proof {
        let sample = options.prove_with_sample.then_some(crate::proof::Sample {
            url,
            sampling: &project.rehearse.sampling,
        });
        Some(prove(project, url, &todo, sample).await?)
    } else {
        None
    };
    if let Some(report) = ask(&todo, url, options.yes).await? {
        return Ok(report);
    }
    let ran = execute(project, url, &todo.script, &todo.fingerprint).await?;
    verify(project, url, &todo).await?;
    let how = if ran.in_one_transaction {
        "in one transaction".to_string()
    } else if todo.script.batches.iter().all(|b| !b.in_transaction) {
        "outside a transaction".to_string()
    } else {
        format!("in {} batches", ran.batches)
    };
    let stderr = format!(
        "{}{}{}{} {} {how} ({} ms); {}.\n",
        todo.left_lines(),
        todo.checked_lines(),
        proved
            .map(|p| super::proved_line(&p, "the database"))
            .unwrap_or_default(),
        paint(style::GREEN, "Applied"),
        count(todo.script.steps.len(), "step"),
        ran.ms,
        todo.matches()
    );
    let json = todo.json(true, vec![], Some(&ran));
    Ok(Report::new(OK, String::new(), stderr, json))
}

/// Pre-check: the rows the steps can fail on, looked for on the database
/// with read-only queries before anything runs there, for the gate.
async fn pre_check(project: &Project, url: &str, todo: &mut ToApply) -> Result<()> {
    todo.checked = pre_checks(project, url, &todo.script).await?;
    Ok(())
}

/// What the pre-checks of `script`'s steps find on the database at `url`;
/// nothing when they are off or there are no steps.
async fn pre_checks(project: &Project, url: &str, script: &Script) -> Result<Vec<Finding>> {
    let Some(settings) = &project.pre_checks else {
        return Ok(Vec::new());
    };
    if script.steps.is_empty() {
        return Ok(Vec::new());
    }
    let client = conninfo::connect_url(url).await?;
    let statements: Vec<&str> = script
        .steps
        .iter()
        .map(|s| s.sql.as_deref().unwrap_or_default())
        .collect();
    let label = |i: usize| format!("step {}", i + 1);
    let lock = project.timeouts.lock;
    crate::precheck::run(&client, Some(url), &statements, &label, settings, lock).await
}

/// Prove: the steps run on a copy of the database's schema (its DDL, built
/// in a scratch database, with rows) before they run on the database.
async fn prove(
    project: &Project,
    url: &str,
    todo: &ToApply,
    sample: Option<crate::proof::Sample<'_>>,
) -> Result<crate::proof::Proven> {
    let base = proof_base(project, url, todo).await?;
    let build = Plan {
        steps: ddl::build_steps(&base)?,
        left_alone: Vec::new(),
    };
    let side = Side::Text("the database's schema".into(), render::sql(&build));
    let major = (todo.current.server_version / 10000) as u32;
    let (filter, scratch) = (&project.filter, &project.scratch());
    let steps = &todo.script.steps;
    let copy = "the database";
    crate::proof::prove(
        &side,
        steps,
        Some(&todo.desired),
        &todo.current.reader_role,
        major,
        filter,
        scratch,
        None,
        copy,
        sample,
    )
    .await
}

/// The schema the proof builds its copy from: the database's as planned,
/// or for a tenant schema, with the rest of its database but the other
/// tenants (the shared objects its own refer to).
async fn proof_base<'a>(
    project: &Project,
    url: &str,
    todo: &'a ToApply,
) -> Result<std::borrow::Cow<'a, Catalog>> {
    use crate::tenants::{Part, TenantRun};
    let Some(TenantRun {
        part: Part::Tenant(schema),
        placeholder,
        tenant_schemas,
        ..
    }) = &project.tenant
    else {
        return Ok(std::borrow::Cow::Borrowed(&todo.current));
    };
    let mut wider = project.clone();
    wider.filter.include_schemas.clear();
    wider.filter.exclude_schemas.push(placeholder.clone());
    let others = tenant_schemas.iter().filter(|s| *s != schema);
    wider.filter.exclude_schemas.extend(others.cloned());
    Ok(std::borrow::Cow::Owned(read_current(&wider, url).await?))
}

/// Execute: runs the script through the executor, holding the advisory
/// lock `migrate` takes, so that neither runs beside the other, and only
/// while the database's schema is still `fingerprint` (read again under
/// the lock, right before the first statement).
async fn execute(project: &Project, url: &str, script: &Script, fingerprint: &str) -> Result<Ran> {
    let client = conninfo::connect_url(url).await?;
    let history = crate::history::History::new(project.history_table.clone());
    history
        .lock(&client, project.timeouts.migration_lock)
        .await?;
    let _signals = crate::interrupt::handle();
    let result = async {
        let now = read_current_in_full(project, url).await?;
        if ddl::fingerprint(&now)? != fingerprint {
            bail!(
                "the database's schema changed while the plan was being made or reviewed \
                 ({fingerprint}, now {}); nothing was applied: plan again",
                ddl::fingerprint(&now)?
            );
        }
        crate::execute::run(&client, Some(url), script, &project.timeouts, None).await
    }
    .await;
    // The plan's own error, if any, is the one reported.
    let unlocked = history.unlock(&client).await;
    let ran = result?;
    unlocked?;
    Ok(ran)
}

/// Verify: the database must now read back as the state the plan reaches.
async fn verify(project: &Project, url: &str, todo: &ToApply) -> Result<()> {
    let after = read_current(project, url).await?;
    let left = diff::diff(&after, &todo.desired);
    let expected = &project.filter.expected_drift;
    let (left, _) = crate::expected::leave(left, expected, &after, &todo.desired);
    if !left.is_empty() {
        bail!(
            "applied, but the database still differs from {} in {}; please report this",
            todo.leads_to,
            count(left.len(), "change")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hazard::Hazard;

    fn todo(steps: Vec<RunStep>) -> ToApply {
        ToApply {
            current: Catalog::default(),
            desired: Catalog::default(),
            sql: render::run_steps(&steps),
            script: Script::of_steps(steps),
            summary: String::new(),
            fingerprint: String::new(),
            leads_to: "schema/".into(),
            checked: Vec::new(),
            left_alone: Vec::new(),
        }
    }

    fn step(sql: &str, hazards: Vec<Hazard>) -> RunStep {
        RunStep {
            kind: "drop_column".into(),
            object: "column public.t.phone".into(),
            hazards,
            sql: Some(sql.into()),
            transactional: true,
            undo_on_failure: None,
            table: Some("public.t".into()),
            backfill: None,
        }
    }

    #[test]
    fn the_gate_passes_nothing_to_do_and_refuses_hazards_not_allowed() {
        use crate::hazard::Approvals;
        let empty = gate(&todo(vec![]), &Approvals::default()).expect("a report");
        assert_eq!((empty.exit, empty.stderr.as_str()), (OK, "No changes.\n"));

        let loss = Hazard::new(HazardCode::DataLoss, "drops column public.t.phone");
        let plan = todo(vec![step(
            "ALTER TABLE public.t DROP COLUMN phone;",
            vec![loss],
        )]);
        let refused = gate(&plan, &Approvals::default()).expect("a refusal");
        assert_eq!(refused.exit, ATTENTION);
        assert!(
            ui::plain(&refused.stderr).contains(
                "refused column public.t.phone (drop_column): hazard data-loss: drops column \
                 public.t.phone\nNothing was applied. To accept these hazards: --allow-hazards \
                 data-loss:public.t.phone (or every hazard of these kinds: --allow-hazards \
                 data-loss)"
            ),
            "{}",
            refused.stderr
        );
        assert_eq!(refused.json["refused"][0]["hazard"], "data-loss");
        assert!(gate(&plan, &Approvals::of_codes([HazardCode::DataLoss])).is_none());
        // The approval of that one object, as the refusal says it.
        let one: Approvals = ["data-loss:public.t.phone".parse().unwrap()]
            .into_iter()
            .collect();
        assert!(gate(&plan, &one).is_none());
        let other: Approvals = ["data-loss:public.t.email".parse().unwrap()]
            .into_iter()
            .collect();
        assert!(gate(&plan, &other).is_some());
    }
}
