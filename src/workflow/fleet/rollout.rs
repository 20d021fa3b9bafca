//! `migrate`, `down` and `apply` over a fleet: each target is the
//! single-database command (its own migration lock, history, pre-checks and
//! proof, through the one executor), run in the rollout's waves, with what
//! it says kept for the report instead of interleaved on stderr.

use anyhow::Result;
use serde::Serialize;

use super::super::{
    apply, down, migrate, ApplyOptions, DownOptions, MigrateOptions, Report, ATTENTION, OK,
};
use crate::config::Project;
use crate::fleet::progress::{secs, stop_reason};
use crate::fleet::{self, Ran, Rollout, Stop, Target, Verdict, Wave, Worked};
use crate::ui::{self, count, paint, style};

/// What runs on each target.
#[derive(Debug, Clone, Copy)]
pub enum FleetJob<'a> {
    /// `stratum migrate`.
    Migrate(&'a MigrateOptions),
    /// `stratum down`.
    Down(&'a DownOptions),
    /// `stratum apply` (asked once for the whole fleet).
    Apply(&'a ApplyOptions),
}

impl FleetJob<'_> {
    fn command(self) -> &'static str {
        match self {
            FleetJob::Migrate(_) => "migrate",
            FleetJob::Down(_) => "down",
            FleetJob::Apply(_) => "apply",
        }
    }

    /// True for a dry run (of migrate or down).
    fn dry(self) -> bool {
        matches!(
            self,
            FleetJob::Migrate(MigrateOptions { dry_run: true, .. })
                | FleetJob::Down(DownOptions { dry_run: true, .. })
        )
    }

    /// What a target's report says it did (or would do): a count and its
    /// noun.
    fn did(self, json: &serde_json::Value) -> (usize, &'static str) {
        if self.dry() {
            return (array_len(&json["dry_run"]), "migration");
        }
        match self {
            FleetJob::Migrate(_) => (array_len(&json["applied"]), "migration"),
            FleetJob::Down(_) => (array_len(&json["reverted"]), "migration"),
            FleetJob::Apply(_) => match json["applied"].as_bool() {
                Some(true) => (array_len(&json["steps"]), "step"),
                _ => (0, "step"),
            },
        }
    }
}

fn array_len(value: &serde_json::Value) -> usize {
    value.as_array().map_or(0, Vec::len)
}

/// One target's result in the report.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// Migrations (migrate, down) or steps (apply) it ran.
    pub ran: usize,
    /// Why it failed or was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the command said (its stderr), colours removed.
    pub output: String,
    /// The command's own JSON report.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub report: serde_json::Value,
}

#[derive(Serialize)]
struct TargetJson<'a> {
    #[serde(flatten)]
    target: &'a Target,
    wave: &'a str,
    /// done, up-to-date, failed, cancelled or not-started.
    status: &'static str,
    /// When it started, from the rollout's start.
    #[serde(skip_serializing_if = "Option::is_none")]
    started_ms: Option<u128>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ms: Option<u128>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    outcome: Option<&'a Outcome>,
}

#[derive(Serialize)]
struct FleetRunJson<'a> {
    command: &'static str,
    targets: Vec<TargetJson<'a>>,
    waves: &'a [Wave],
    done: usize,
    up_to_date: usize,
    /// Dry runs that found migrations to run.
    would_run: usize,
    failed: usize,
    cancelled: usize,
    not_started: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<&'a Stop>,
    /// When the rollout decided to stop: no target started after.
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped_ms: Option<u128>,
    ms: u128,
}

/// Runs `job` over `targets` as `rollout` says. Exit 0 when every target
/// is done or was up to date, 1 when any failed, was cancelled or was not
/// started.
pub async fn run_fleet(
    project: &Project,
    targets: &[Target],
    rollout: &Rollout,
    job: FleetJob<'_>,
) -> Result<Report> {
    let mut targets = super::expand(project, targets.to_vec()).await?;
    if let FleetJob::Apply(_) = job {
        super::tenants::fill_desired(project, &mut targets, rollout.jobs).await?;
    }
    let targets = &targets;
    let rollout = &Rollout {
        shared_last: matches!(job, FleetJob::Down(_)),
        ..rollout.clone()
    };
    let waves = fleet::waves(targets, rollout)?;
    if let FleetJob::Apply(options) = job {
        if let Some(report) = ask(project, targets.len(), options).await? {
            return Ok(report);
        }
        super::warm(project, targets).await;
    }
    let ran = fleet::run(targets, &waves, rollout, |target| one(project, target, job)).await;
    Ok(report(targets, &waves, &ran, job))
}

/// `apply` over a fleet asks once, before the first target.
async fn ask(project: &Project, n: usize, options: &ApplyOptions) -> Result<Option<Report>> {
    if options.yes {
        return Ok(None);
    }
    let refused = |why: &str| {
        Some(Report::new(
            ATTENTION,
            String::new(),
            format!("{why}\n"),
            serde_json::json!({ "applied": false, "reason": why }),
        ))
    };
    if !ui::interactive() {
        return Ok(refused(
            "Not applied: stdin is not a terminal, so there is no one to ask; review the plans \
             (`stratum plan` over the fleet) and pass --yes.",
        ));
    }
    let question = format!(
        "Apply {} to {}, each its own plan (hazards refused unless allowed)?",
        project.show(&project.schema),
        count(n, "database")
    );
    let _signals = crate::interrupt::handle();
    Ok(
        match ui::confirm(&question, crate::interrupt::wait()).await? {
            Some(true) => None,
            Some(false) | None => refused("Not applied."),
        },
    )
}

/// `job` on the one database at `url`: the command itself.
pub async fn run_job(project: &Project, url: &str, job: FleetJob<'_>) -> Result<Report> {
    match job {
        FleetJob::Migrate(options) => migrate(project, url, options).await,
        FleetJob::Down(options) => down(project, url, options).await,
        FleetJob::Apply(options) => apply(project, url, options).await,
    }
}

/// One target: the single-database command, what it says kept. `apply`
/// was asked for the whole fleet.
async fn one(project: &Project, target: &Target, job: FleetJob<'_>) -> Worked<Outcome> {
    let confirmed;
    let job = match job {
        FleetJob::Apply(options) => {
            confirmed = ApplyOptions {
                yes: true,
                ..options.clone()
            };
            FleetJob::Apply(&confirmed)
        }
        job => job,
    };
    let project = super::tenants::project_for(project, target);
    let (result, said) = ui::captured(run_job(&project, &target.url, job)).await;
    let said = ui::plain(&said);
    match result {
        Ok(report) => {
            let output = said + &ui::plain(&report.stderr);
            let (ran, noun) = job.did(&report.json);
            let (verdict, error) = match (report.exit, ran) {
                (OK, 0) => (Verdict::UpToDate, None),
                (OK, _) if job.dry() => (Verdict::WouldRun, None),
                (OK, _) => (Verdict::Done, None),
                _ => (Verdict::Failed, Some(refusal(&output))),
            };
            Worked {
                detail: match &error {
                    Some(e) => first_line(e),
                    None if ran == 0 => String::new(),
                    None => count(ran, noun),
                },
                verdict,
                value: Outcome {
                    ran,
                    error,
                    output,
                    report: report.json,
                },
            }
        }
        Err(e) => {
            let error = format!("{e:#}");
            let verdict = match crate::interrupt::requested() {
                true => Verdict::Cancelled,
                false => Verdict::Failed,
            };
            Worked {
                verdict,
                detail: first_line(&error),
                value: Outcome {
                    ran: 0,
                    error: Some(error),
                    output: said,
                    report: serde_json::Value::Null,
                },
            }
        }
    }
}

/// Why a command that returned a report refused: its last non-empty line
/// (`Refused: ...`, `Not applied ...`), or all of it.
fn refusal(output: &str) -> String {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    let at = lines.iter().rposition(|l| {
        let l = l.trim_start();
        l.starts_with("Refused") || l.starts_with("Not ") || l.starts_with("refused")
    });
    match at {
        // `refused 2026..._x:` heads the lines that say why: the first.
        Some(i) if lines[i].ends_with(':') && i + 1 < lines.len() => {
            format!("{} {}", lines[i].trim(), lines[i + 1].trim())
        }
        Some(i) => lines[i].trim().to_string(),
        None => lines
            .last()
            .map_or("refused".into(), |l| l.trim().to_string()),
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

fn status_of(finished: Option<&fleet::rollout::Finished<Outcome>>) -> &'static str {
    match finished.map(|f| f.worked.verdict) {
        None => "not-started",
        Some(Verdict::Done) => "done",
        Some(Verdict::UpToDate) => "up-to-date",
        Some(Verdict::WouldRun) => "would-run",
        Some(Verdict::Failed) => "failed",
        Some(Verdict::Cancelled) => "cancelled",
    }
}

fn report(targets: &[Target], waves: &[Wave], ran: &Ran<Outcome>, job: FleetJob<'_>) -> Report {
    let mut wave_of = vec![""; targets.len()];
    for wave in waves {
        for &i in &wave.members {
            wave_of[i] = wave.label.as_str();
        }
    }
    let rows: Vec<TargetJson> = targets
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let finished = ran.finished[i].as_ref();
            TargetJson {
                target,
                wave: wave_of[i],
                status: status_of(finished),
                started_ms: finished.map(|f| f.started.as_millis()),
                ms: finished.map(|f| f.elapsed.as_millis()),
                outcome: finished.map(|f| &f.worked.value),
            }
        })
        .collect();
    let n = |status: &str| rows.iter().filter(|r| r.status == status).count();
    let (done, up_to_date, failed, cancelled, not_started) = (
        n("done"),
        n("up-to-date"),
        n("failed"),
        n("cancelled"),
        n("not-started"),
    );
    let name_width = rows
        .iter()
        .map(|r| r.target.name.chars().count())
        .max()
        .unwrap_or(8)
        .max(8);
    let wave_width = rows
        .iter()
        .map(|r| r.wave.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut stdout = format!(
        "{:<name_width$}  {:<wave_width$}  {:<11}  {:>8}  detail\n",
        "database", "wave", "status", "took"
    );
    for (i, row) in rows.iter().enumerate() {
        let finished = ran.finished[i].as_ref();
        let colour = match row.status {
            "done" | "up-to-date" | "would-run" => style::GREEN,
            "failed" => style::RED,
            _ => style::YELLOW,
        };
        let took = finished.map_or(String::new(), |f| secs(f.elapsed));
        let detail = finished.map_or(String::new(), |f| f.worked.detail.clone());
        stdout.push_str(
            format!(
                "{:<name_width$}  {:<wave_width$}  {}  {took:>8}  {detail}",
                row.target.name,
                row.wave,
                paint(colour, &format!("{:<11}", row.status.replace('-', " ")))
            )
            .trim_end(),
        );
        stdout.push('\n');
    }
    let mut stderr = String::new();
    for (i, row) in rows.iter().enumerate() {
        if let (Some(f), "failed" | "cancelled") = (ran.finished[i].as_ref(), row.status) {
            stderr.push_str(&format!(
                "{} {}: {}\n",
                paint(style::RED, &format!("{}:", row.status)),
                row.target.name,
                f.worked.value.error.as_deref().unwrap_or("failed")
            ));
        }
    }
    let would_run = n("would-run");
    let mut parts = match job.dry() {
        true => vec![
            format!("{would_run} would run migrations"),
            format!("{up_to_date} up to date"),
        ],
        false => vec![format!("{done} done"), format!("{up_to_date} up to date")],
    };
    for (k, word) in [
        (failed, "failed"),
        (cancelled, "cancelled"),
        (not_started, "not started"),
    ] {
        if k > 0 {
            parts.push(format!("{k} {word}"));
        }
    }
    stderr.push_str(&format!(
        "{}{} {}: {} in {}.\n",
        job.command(),
        if job.dry() { " --dry-run" } else { "" },
        count(targets.len(), fleet::noun(targets)),
        parts.join(", "),
        secs(ran.elapsed)
    ));
    if let Some(stop) = &ran.stop {
        stderr.push_str(&format!("Stopped: {}.\n", stop_reason(stop)));
        if not_started + failed + cancelled > 0 {
            stderr.push_str(&format!(
                "Run the same command again to go on: databases already done are skipped by \
                 their own {}.\n",
                match job {
                    FleetJob::Apply(_) => "plan (nothing to do)",
                    _ => "migration history",
                }
            ));
        }
    }
    let exit = if failed + cancelled + not_started > 0 {
        ATTENTION
    } else {
        OK
    };
    let json = FleetRunJson {
        command: job.command(),
        targets: rows,
        waves,
        done,
        up_to_date,
        would_run,
        failed,
        cancelled,
        not_started,
        stopped: ran.stop.as_ref(),
        stopped_ms: ran.stopped_at.map(|d| d.as_millis()),
        ms: ran.elapsed.as_millis(),
    };
    Report::new(exit, stdout, stderr, json)
}
