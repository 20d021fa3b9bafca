//! `migrate` and `down`: migrations against a live database, with the
//! history table and the advisory lock (`status` and `resolve` read and
//! mend the same history).

mod gate;

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde::Serialize;
use tokio_postgres::Client;

use super::pre_checks::Checked;
use super::{count, migrations, Report, OK};
use crate::config::Project;
use crate::conninfo;
use crate::execute::backfill::Position;
use crate::execute::{file, Ran, Record, Script};
use crate::hazard::{Hazard, HazardCode};
use crate::history::{Applied, History};
use crate::migrations::{compare_versions, Migration};
use crate::parse::SqlFile;
use crate::ui::{paint, style};
use crate::zero_downtime::Phase;
use gate::{dry_run, gate};

/// The state of one migration against a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Applied, and the file is unchanged.
    Applied,
    /// Not applied yet.
    Pending,
    /// Applied, but the file changed since.
    Changed,
    /// Applied, but no file has this version.
    Missing,
    /// Ran outside a transaction and stopped halfway: the statements before
    /// the failed one stay applied. `resolve` says what became of it.
    Failed,
}

/// One line of `status`.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Version.
    pub version: String,
    /// Name.
    pub name: String,
    /// State.
    pub state: State,
    /// When it was applied.
    pub applied_at: Option<String>,
    /// Where it stopped, when it failed.
    pub failed: Option<crate::history::Failure>,
}

pub(super) fn entries(files: &[Migration], applied: &[Applied]) -> Vec<Entry> {
    let by_version: BTreeMap<&str, &Applied> =
        applied.iter().map(|a| (a.version.as_str(), a)).collect();
    let mut out: Vec<Entry> = files
        .iter()
        .map(|m| {
            let row = by_version.get(m.version.as_str());
            Entry {
                version: m.version.clone(),
                name: m.name.clone(),
                state: match row {
                    None => State::Pending,
                    Some(a) if a.failed.is_some() => State::Failed,
                    Some(a) if a.checksum != m.checksum => State::Changed,
                    Some(_) => State::Applied,
                },
                applied_at: row.map(|a| a.applied_at.clone()),
                failed: row.and_then(|a| a.failed.clone()),
            }
        })
        .collect();
    for a in applied {
        if !files.iter().any(|m| m.version == a.version) {
            out.push(Entry {
                version: a.version.clone(),
                name: a.name.clone(),
                state: if a.failed.is_some() {
                    State::Failed
                } else {
                    State::Missing
                },
                applied_at: Some(a.applied_at.clone()),
                failed: a.failed.clone(),
            });
        }
    }
    out.sort_by(|a, b| compare_versions(&a.version, &b.version));
    out
}

/// A connection that holds the migration lock. The history table is made
/// with the first record. The lock goes with [`History::unlock`] or with
/// the connection.
pub(super) async fn locked(project: &Project, url: &str) -> Result<(Client, History)> {
    let client = conninfo::connect_url(url).await?;
    let history = History::new(project.history_table.clone());
    // Concurrent runs must not race to create the table.
    history
        .lock(&client, project.timeouts.migration_lock)
        .await?;
    Ok((client, history))
}

/// What `status` and the refusal of `migrate` say about a failed migration.
pub(super) fn failed_note(e: &Entry) -> String {
    let Some(f) = &e.failed else {
        return String::new();
    };
    if let Some(at) = &f.progress {
        let done = match at.batches {
            0 => "no batch of it committed yet".to_string(),
            n => format!(
                "{n} batches committed ({} rows, up to key {})",
                at.rows,
                at.after.join(", ")
            ),
        };
        return format!(
            "stopped in the backfill at statement {} ({}; {done}); `stratum migrate` resumes it there",
            f.statement, f.error
        );
    }
    let kept = match f.statement {
        1 => "no statement of it stays applied".to_string(),
        2 => "statement 1 stays applied".to_string(),
        n => format!("statements 1 to {} stay applied", n - 1),
    };
    format!(
        "stopped at statement {} ({}); {kept}: finish or undo it by hand, then `stratum resolve \
         --applied {v}` or `stratum resolve --rolled-back {v}`",
        f.statement,
        f.error,
        v = e.version
    )
}

/// Fails when an applied file changed or disappeared.
fn verify(files: &[Migration], applied: &[Applied], project: &Project, way: Way) -> Result<()> {
    for e in entries(files, applied) {
        // A backfill that stopped is resumed by `migrate`, unless its
        // file changed since.
        let stopped_in_backfill = e.failed.as_ref().is_some_and(|f| f.progress.is_some());
        if way == Way::Up && e.state == State::Failed && stopped_in_backfill {
            let m = files.iter().find(|m| m.version == e.version);
            let recorded = applied.iter().find(|a| a.version == e.version);
            match (m, recorded) {
                (Some(m), Some(a)) if m.checksum == a.checksum => continue,
                (Some(m), _) => bail!(
                    "{}: changed since its backfill stopped; restore it so that `stratum migrate`                      resumes it, or finish it by hand and `stratum resolve --applied {}`",
                    project.show(&m.up.path),
                    m.version
                ),
                _ => {}
            }
        }
        match e.state {
            State::Changed => {
                let m = files.iter().find(|m| m.version == e.version).expect("file");
                let recorded = applied.iter().find(|a| a.version == e.version);
                let how = match recorded.is_some_and(|a| line_endings_only(m, &a.checksum)) {
                    true => "only its line endings changed (CRLF and LF)",
                    false => "its checksum differs from the one recorded",
                };
                bail!(
                    "{}: changed after it was applied ({how} in {}); restore it, write a new \
                     migration, or accept the edit with `stratum resolve --checksum {} --reason \
                     TEXT`",
                    project.show(&m.up.path),
                    project.history_table,
                    m.version
                );
            }
            State::Failed => bail!(
                "migration {}_{} {}; nothing was run",
                e.version,
                e.name,
                failed_note(&e)
            ),
            State::Missing => bail!(
                "migration {}_{} is recorded as applied but no file has version {}; restore it, \
                 or `stratum resolve --rolled-back {}`",
                e.version,
                e.name,
                e.version,
                e.version
            ),
            _ => {}
        }
    }
    Ok(())
}

/// True when `m`'s up file differs from the one recorded with `recorded`
/// only in its line endings.
pub(super) fn line_endings_only(m: &Migration, recorded: &str) -> bool {
    let lf = m.up.text.replace("\r\n", "\n");
    let crlf = lf.replace('\n', "\r\n");
    [lf, crlf]
        .iter()
        .any(|t| crate::migrations::checksum(t.trim()) == recorded)
}

/// Options of `migrate`.
#[derive(Debug, Clone, Default)]
pub struct MigrateOptions {
    /// Stop after this version.
    pub to: Option<String>,
    /// Hazards approved for this run, on top of each file's own approval.
    pub allow: crate::hazard::Approvals,
    /// Print what would run, change nothing.
    pub dry_run: bool,
    /// Run a pending migration older than the newest applied one.
    pub allow_out_of_order: bool,
    /// Run contract phases too.
    pub contract: bool,
    /// With `dry_run`: rehearse the files on a sampled copy and say the
    /// hazards they showed, as `lint` does.
    pub rehearse: bool,
}

/// Options of `down`.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// Keep this version and revert everything after it (`0`: all); the
    /// last applied migration when absent.
    pub to: Option<String>,
    /// Hazards approved for this run, on top of each down file's own.
    pub allow: crate::hazard::Approvals,
    /// Print what would run, change nothing.
    pub dry_run: bool,
}

/// One migration file as it will run: its script and the hazards its
/// header approves.
struct ToRun<'a> {
    migration: &'a Migration,
    file: &'a SqlFile,
    script: Script,
    /// The statement (1-based) it resumes at: a backfill that stopped.
    resumed: Option<usize>,
}

impl ToRun<'_> {
    /// `file` of `migration` as a script.
    fn new<'a>(
        migration: &'a Migration,
        file: &'a SqlFile,
        no_transaction: bool,
    ) -> Result<ToRun<'a>> {
        Ok(ToRun {
            migration,
            file,
            script: file::script(file, no_transaction)?,
            resumed: None,
        })
    }

    /// The rest of a migration whose backfill at `statement` (1-based)
    /// stopped at `at`: that backfill, resumed there, and what follows.
    fn resume(mut self, statement: usize, at: &Position) -> Result<Self> {
        let i = statement - 1;
        let Some(fill) = self
            .script
            .steps
            .get_mut(i)
            .and_then(|s| s.backfill.as_mut())
        else {
            bail!(
                "migration {} stopped at statement {statement}, which is no backfill; finish or                  undo it by hand, then `stratum resolve`",
                self.migration.label()
            );
        };
        fill.resume = (at.batches > 0).then(|| at.clone());
        // What ran before stays; its hazards were approved then.
        self.script.batches.retain(|b| b.steps.start >= i);
        for step in &mut self.script.steps[..i] {
            step.hazards.clear();
        }
        self.resumed = Some(statement);
        Ok(self)
    }

    /// Hazards neither the file nor `allow` approves.
    fn refused<'s>(
        &'s self,
        allow: &'s crate::hazard::Approvals,
    ) -> impl Iterator<Item = (usize, &'s Hazard)> {
        self.script
            .hazards()
            .filter(move |(i, h)| !self.approves(*i, h.code) && !allow.allows(h.code, &h.message))
    }

    /// Its hazards, a line each, saying who approved them.
    fn hazard_lines(&self, project: &Project, allow: &crate::hazard::Approvals) -> String {
        self.script
            .hazards()
            .map(|(i, h)| {
                let who = if self.approves(i, h.code) {
                    paint(style::YELLOW, "approved in the file")
                } else if allow.allows(h.code, &h.message) {
                    paint(style::YELLOW, "approved by --allow-hazards")
                } else {
                    paint(style::RED, "not approved")
                };
                format!(
                    "  hazard {}: {} ({}:{}): {who}\n",
                    h.code.as_str(),
                    h.message,
                    project.show(&self.file.path),
                    self.script.steps[i].object.trim_start_matches("line ")
                )
            })
            .collect()
    }

    /// True when the file approves `code` for its statement `i`.
    fn approves(&self, i: usize, code: HazardCode) -> bool {
        self.script
            .approved
            .get(i)
            .is_some_and(|a| a.contains(&code))
    }

    /// How it ran, for the line that says it did.
    fn how(&self, ran: &Ran) -> String {
        let how = if ran.in_one_transaction {
            ""
        } else if self.script.batches.iter().all(|b| !b.in_transaction) {
            ", outside a transaction"
        } else {
            ", in batches"
        };
        match self.resumed {
            Some(n) => format!("{how}, resumed at statement {n}"),
            None => how.to_string(),
        }
    }
}

/// The pending migrations up to `to`; refuses one older than the newest
/// applied, unless allowed.
fn pending<'a>(
    files: &'a [Migration],
    applied: &[Applied],
    to: Option<&str>,
    out_of_order: bool,
) -> Result<Vec<&'a Migration>> {
    let newest = applied
        .iter()
        .map(|a| a.version.as_str())
        .max_by(|a, b| compare_versions(a, b));
    let pending: Vec<&Migration> = files
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .filter(|m| to.is_none_or(|t| compare_versions(&m.version, t).is_le()))
        .collect();
    if let (Some(newest), false) = (newest, out_of_order) {
        if let Some(old) = pending
            .iter()
            .find(|m| compare_versions(&m.version, newest).is_lt())
        {
            bail!(
                "migration {} is pending but older than {newest}, the newest applied one; \
                 nothing was run. Give it a newer version, or run it out of order with \
                 --allow-out-of-order (stratum.yaml: out_of_order: allow)",
                old.label()
            );
        }
    }
    Ok(pending)
}

/// What a run of a migration writes to the history, as SQL for the
/// executor's [`Record`] of each file.
struct HistorySql<'a> {
    /// Done, given how long it ran (ms).
    record: &'a dyn Fn(&Migration, i64) -> String,
    /// Stopped at a statement (1-based), with the server's message.
    stopped: &'a dyn Fn(&Migration, usize, &str) -> String,
    /// How far a backfill at a statement got; None: not resumable.
    progress: Option<&'a BackfillSql<'a>>,
}

/// The SQL recording a backfill's position in a migration.
type BackfillSql<'a> = dyn Fn(&Migration, usize, &Position) -> String + 'a;

/// Runs `files` one after the other, each through the executor with its
/// history change, which `sql` makes.
async fn run_files(
    project: &Project,
    client: &Client,
    url: &str,
    files: &[ToRun<'_>],
    allow: &crate::hazard::Approvals,
    sql: &HistorySql<'_>,
    checked: &Checked,
) -> Result<Vec<RanFile>> {
    let mut ran = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let m = f.migration;
        crate::ui::print_err(&(f.hazard_lines(project, allow) + &checked.lines_of(i)));
        let done = |ms| (sql.record)(m, ms);
        let failed = |statement, error: &str| (sql.stopped)(m, statement, error);
        let went = sql
            .progress
            .map(|p| move |statement, at: &Position| p(m, statement, at));
        let history = Record {
            done: &done,
            stopped: &failed,
            progress: went.as_ref().map(|p| p as &crate::execute::ProgressSql),
        };
        let result = crate::execute::run(
            client,
            Some(url),
            &f.script,
            &project.timeouts,
            Some(&history),
        );
        let outcome = result
            .await
            .map_err(|e| e.context(format!("{} failed", project.show(&f.file.path))))?;
        ran.push(RanFile {
            version: m.version.clone(),
            name: m.name.clone(),
            ms: outcome.ms,
            transactional: outcome.in_one_transaction,
            how: f.how(&outcome),
        });
    }
    Ok(ran)
}

/// One migration run by `migrate` or `down`.
#[derive(Debug, Clone, Serialize)]
struct RanFile {
    version: String,
    name: String,
    ms: i64,
    transactional: bool,
    #[serde(skip)]
    how: String,
}

impl RanFile {
    /// `applied 2026..._name (12 ms, outside a transaction)`.
    fn line(&self, verb: String) -> String {
        format!(
            "{verb} {}_{} ({} ms{})\n",
            self.version, self.name, self.ms, self.how
        )
    }
}

/// Whether `migrate` and `down` run, or only say what they would run
/// (and with a rehearsal, what it showed).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dry {
    No,
    Run,
    Rehearsed,
}

impl Dry {
    fn of(dry_run: bool, rehearse: bool) -> Dry {
        match (dry_run, rehearse) {
            (false, _) => Dry::No,
            (true, false) => Dry::Run,
            (true, true) => Dry::Rehearsed,
        }
    }
}

/// Which way `migrate` and `down` go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    Up,
    Down,
}

impl Way {
    /// The participle reports use: `applied`, `reverted`.
    fn done(self) -> &'static str {
        match self {
            Way::Up => "applied",
            Way::Down => "reverted",
        }
    }
}

/// The files to run, picked from the files on disk and the history.
type Pick<'a> = dyn Fn(&[Applied]) -> Result<Vec<ToRun<'a>>> + 'a;

/// `migrate` and `down`: the history read (under the migration lock,
/// unless a dry run), the files `pick` chooses gated on their hazards,
/// then run one after the other with their history change. A report of
/// what ran, or of why nothing did.
async fn run_migrations<'a>(
    project: &Project,
    url: &str,
    files: &'a [Migration],
    pick: &Pick<'a>,
    allow: &crate::hazard::Approvals,
    dry: Dry,
    way: Way,
) -> Result<Report> {
    if dry != Dry::No {
        // Read without the lock: a dry run changes nothing.
        let client = conninfo::connect_url(url).await?;
        let history = History::new(project.history_table.clone());
        let applied = history.applied(&client).await?;
        verify(files, &applied, project, way)?;
        let todo = pick(&applied)?;
        let checked = Checked::run(project, &client, url, &scripts_of(&todo)).await?;
        let mut report = dry_run(project, &todo, allow, way.done(), &checked);
        if dry == Dry::Rehearsed && !todo.is_empty() {
            let parts: Vec<crate::rehearse::Part> = todo
                .iter()
                .map(|f| crate::rehearse::Part {
                    name: project.show(&f.file.path),
                    script: f.script.clone(),
                })
                .collect();
            // Its pre-checks ran above, when they are on.
            let ran = project
                .pre_checks
                .is_some()
                .then(|| checked.findings.clone());
            let (lints, rehearsed) = super::findings::findings(project, url, &parts, ran).await?;
            for l in &lints {
                report.stdout.push_str(&format!("-- {}\n", l.line()));
            }
            report.stderr.push_str(&format!(
                "{}; {rehearsed}.\n",
                match lints.len() {
                    0 => "No hazards found by rehearsing them".to_string(),
                    n => format!("{} found by rehearsing them (above)", count(n, "hazard")),
                }
            ));
            report.json["lints"] = serde_json::to_value(&lints)?;
        }
        return Ok(report);
    }
    let (client, history) = locked(project, url).await?;
    let _signals = crate::interrupt::handle();
    let result = async {
        // Read after the lock: a concurrent run may have run them.
        let applied = history.applied(&client).await?;
        verify(files, &applied, project, way)?;
        let todo = pick(&applied)?;
        // Before any statement runs: the rows they would fail on.
        let checked = Checked::run(project, &client, url, &scripts_of(&todo)).await?;
        if let Some(refused) = gate(project, &todo, allow, way.done(), &checked) {
            return Ok(Err(refused));
        }
        let record = |m: &Migration, ms| match way {
            Way::Up => history.record_sql(&m.version, &m.name, &m.checksum, ms),
            Way::Down => history.remove_sql(&m.version),
        };
        let stopped = |m: &Migration, statement, error: &str| {
            let error = match way {
                Way::Up => error.to_string(),
                Way::Down => format!("down file: {error}"),
            };
            history.failed_sql(&m.version, &m.name, &m.checksum, statement, &error)
        };
        // A backfill's batches record how far they got, for `migrate` to
        // resume; a down file's start over.
        let progress = |m: &Migration, statement, at: &Position| {
            history.progress_sql(&m.version, &m.name, &m.checksum, statement, at)
        };
        let sql = HistorySql {
            record: &record,
            stopped: &stopped,
            progress: (way == Way::Up).then_some(&progress as &BackfillSql),
        };
        let ran = run_files(project, &client, url, &todo, allow, &sql, &checked);
        anyhow::Ok(Ok((ran.await?, checked.findings)))
    }
    .await;
    // The run's own error, if any, is the one reported.
    let unlocked = history.unlock(&client).await;
    let (ran, findings) = match result? {
        Ok(ran) => ran,
        Err(refused) => return Ok(refused),
    };
    unlocked?;
    let colour = match way {
        Way::Up => style::GREEN,
        Way::Down => style::YELLOW,
    };
    let mut stderr: String = ran
        .iter()
        .map(|r| r.line(paint(colour, way.done())))
        .collect();
    stderr.push_str(&match (way, ran.len()) {
        (Way::Up, 0) => "Nothing to migrate: the database is up to date.\n".to_string(),
        (Way::Up, n) => format!("Applied {}.\n", count(n, "migration")),
        (Way::Down, 0) => "Nothing to revert.\n".to_string(),
        (Way::Down, _) => String::new(),
    });
    Ok(Report::new(
        OK,
        String::new(),
        stderr,
        serde_json::json!({ way.done(): ran, "pre_checks": findings }),
    ))
}

/// Each file with its script, as the pre-checks read them.
fn scripts_of<'a>(files: &'a [ToRun<'a>]) -> Vec<(&'a SqlFile, &'a Script)> {
    files.iter().map(|f| (f.file, &f.script)).collect()
}

/// `stratum migrate`: applies pending migrations (up to `to`) in order,
/// under the advisory lock, each file's hazards said before it runs and
/// refused unless approved.
pub async fn migrate(project: &Project, url: &str, options: &MigrateOptions) -> Result<Report> {
    let files = migrations(project)?;
    let to = options.to.as_deref();
    if let Some(to) = to {
        if !files.iter().any(|m| m.version == to) {
            bail!("--to {to}: no migration has this version");
        }
    }
    let out_of_order = options.allow_out_of_order || project.out_of_order;
    // The contract phase of a zero-downtime change waits for the word:
    // --contract, or --to it or a later version.
    let held = std::cell::RefCell::new(None);
    let pick = |applied: &[Applied]| {
        let mut todo = resumed(&files, applied)?;
        let mut pending = pending(&files, applied, to, out_of_order)?;
        let contract = pending
            .iter()
            .position(|m| Phase::of(&m.up.text) == Some(Phase::Contract));
        if let Some(i) = contract.filter(|_| !options.contract && to.is_none()) {
            *held.borrow_mut() = Some(pending[i].label());
            pending.truncate(i);
        }
        todo.extend(scripts(pending)?);
        Ok(todo)
    };
    let (allow, dry) = (&options.allow, Dry::of(options.dry_run, options.rehearse));
    let mut report = run_migrations(project, url, &files, &pick, allow, dry, Way::Up).await?;
    if let Some(label) = held.into_inner() {
        report.stderr.push_str(&format!(
            "Stopped before {label}, the contract phase of a zero-downtime change: deploy the \
             application that uses the new shape, then run `stratum migrate --contract`.\n"
        ));
    }
    Ok(report)
}

/// The migration files `migrate` would run on the database at `url`, in
/// order (up to the contract phase of a zero-downtime change, unless
/// `contract`), each with its path as shown and its script. Read without
/// the migration lock: nothing runs on the database.
pub(super) async fn pending_scripts(
    project: &Project,
    url: &str,
    contract: bool,
) -> Result<Vec<(String, Script)>> {
    let files = migrations(project)?;
    let client = conninfo::connect_url(url).await?;
    let history = History::new(project.history_table.clone());
    let applied = history.applied(&client).await?;
    verify(&files, &applied, project, Way::Up)?;
    let mut pending = pending(&files, &applied, None, project.out_of_order)?;
    let contracts = pending
        .iter()
        .position(|m| Phase::of(&m.up.text) == Some(Phase::Contract));
    if let Some(i) = contracts.filter(|_| !contract) {
        pending.truncate(i);
    }
    pending
        .into_iter()
        .map(|m| {
            Ok((
                project.show(&m.up.path),
                file::script(&m.up, m.no_transaction)?,
            ))
        })
        .collect()
}

/// The migrations whose backfill stopped, as they resume (`verify`
/// refused the changed ones).
fn resumed<'a>(files: &'a [Migration], applied: &[Applied]) -> Result<Vec<ToRun<'a>>> {
    let mut out = Vec::new();
    for a in applied {
        let Some(failed) = &a.failed else { continue };
        let Some(at) = &failed.progress else { continue };
        let Some(m) = files.iter().find(|m| m.version == a.version) else {
            continue;
        };
        let statement = usize::try_from(failed.statement).unwrap_or(1).max(1);
        out.push(ToRun::new(m, &m.up, m.no_transaction)?.resume(statement, at)?);
    }
    Ok(out)
}

/// The up files of `pending`, as they will run.
fn scripts(pending: Vec<&Migration>) -> Result<Vec<ToRun<'_>>> {
    pending
        .into_iter()
        .map(|m| ToRun::new(m, &m.up, m.no_transaction))
        .collect()
}

/// The migrations `down` reverts, newest first.
fn to_revert<'a>(
    files: &'a [Migration],
    applied: &[Applied],
    to: Option<&str>,
) -> Result<Vec<ToRun<'a>>> {
    let mut targets: Vec<&Migration> = files
        .iter()
        .filter(|m| applied.iter().any(|a| a.version == m.version))
        .collect();
    targets.reverse();
    match to {
        Some(to) => {
            if to != "0" && !files.iter().any(|m| m.version == to) {
                bail!("--to {to}: no migration has this version (0 reverts all)");
            }
            targets.retain(|m| compare_versions(&m.version, to).is_gt());
        }
        None => targets.truncate(1),
    }
    targets
        .into_iter()
        .map(|m| match &m.down {
            Some(down) => ToRun::new(m, down, false),
            None => bail!(
                "migration {} has no down file; nothing was reverted",
                m.label()
            ),
        })
        .collect()
}

/// `stratum down`: runs down files in reverse order; the last applied
/// migration, or every one after `to`. A down file's destructive
/// statements are refused unless its header or `--allow-hazards` approves
/// them.
pub async fn down(project: &Project, url: &str, options: &DownOptions) -> Result<Report> {
    let files = migrations(project)?;
    let to = options.to.as_deref();
    let pick = |applied: &[Applied]| to_revert(&files, applied, to);
    let (allow, dry) = (&options.allow, Dry::of(options.dry_run, false));
    run_migrations(project, url, &files, &pick, allow, dry, Way::Down).await
}
