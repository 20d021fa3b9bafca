//! `migrate`, `status`, `down` and `resolve`: migrations against a live
//! database, with the history table and the advisory lock.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use serde::Serialize;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::{count, migrations, Report, Timeouts, ATTENTION, OK};
use crate::config::Project;
use crate::conninfo;
use crate::history::{Applied, History};
use crate::migrations::{compare_versions, Migration};
use crate::parse::{self, SqlFile, SqlSource};
use crate::ui::{paint, style, Progress};

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

fn entries(files: &[Migration], applied: &[Applied]) -> Vec<Entry> {
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
async fn locked(project: &Project, url: &str) -> Result<(Client, History)> {
    let client = conninfo::connect_url(url).await?;
    let history = History::new(project.history_table.clone());
    // Concurrent runs must not race to create the table.
    history.lock(&client).await?;
    Ok((client, history))
}

/// `stratum status`: every migration's state; exit 1 when anything is
/// pending, changed or missing.
pub async fn status(project: &Project, url: &str) -> Result<Report> {
    let files = migrations(project)?;
    let client = conninfo::connect_url(url).await?;
    let history = History::new(project.history_table.clone());
    let applied = history.applied(&client).await?;
    let entries = entries(&files, &applied);
    let mut stdout = String::new();
    for e in &entries {
        let (word, colour) = match e.state {
            State::Applied => ("applied", style::GREEN),
            State::Pending => ("pending", style::YELLOW),
            State::Changed => ("changed", style::RED),
            State::Missing => ("missing", style::RED),
            State::Failed => ("failed", style::RED),
        };
        let note = match e.state {
            State::Applied => e.applied_at.clone().unwrap_or_default(),
            State::Pending => String::new(),
            State::Changed => "the file changed after it was applied".to_string(),
            State::Missing => "applied, but no file has this version".to_string(),
            State::Failed => failed_note(e),
        };
        stdout.push_str(
            format!(
                "{}  {}_{}  {note}",
                paint(colour, &format!("{word:<7}")),
                e.version,
                e.name
            )
            .trim_end(),
        );
        stdout.push('\n');
    }
    let attention = entries.iter().filter(|e| e.state != State::Applied).count();
    let stderr = if entries.is_empty() {
        "No migrations.\n".to_string()
    } else if attention == 0 {
        format!("Up to date: {}.\n", count(entries.len(), "migration"))
    } else {
        let n = |s: State| entries.iter().filter(|e| e.state == s).count();
        let failed = match n(State::Failed) {
            0 => String::new(),
            n => format!(", {n} failed"),
        };
        format!(
            "{} applied, {} pending, {} changed, {} missing{failed}.\n",
            n(State::Applied),
            n(State::Pending),
            n(State::Changed),
            n(State::Missing)
        )
    };
    Ok(Report::new(
        if attention == 0 { OK } else { ATTENTION },
        stdout,
        stderr,
        serde_json::json!({ "migrations": entries }),
    ))
}

/// What `status` and the refusal of `migrate` say about a failed migration.
fn failed_note(e: &Entry) -> String {
    let Some(f) = &e.failed else {
        return String::new();
    };
    let kept = match f.statement {
        1 => "no statement of it stays applied".to_string(),
        2 => "statement 1 stays applied".to_string(),
        n => format!("statements 1 to {} stay applied", n - 1),
    };
    format!(
        "stopped at statement {} outside a transaction ({}); {kept}: finish or undo it by hand, \
         then `stratum resolve --applied {v}` or `stratum resolve --rolled-back {v}`",
        f.statement,
        f.error,
        v = e.version
    )
}

/// One migration run by `migrate` or `down`.
#[derive(Debug, Clone, Serialize)]
struct Ran {
    version: String,
    name: String,
    ms: i64,
    transactional: bool,
}

impl Ran {
    /// `applied 2026..._name (12 ms<note>)`.
    fn line(&self, verb: String, note: &str) -> String {
        format!(
            "{verb} {}_{} ({} ms{note})\n",
            self.version, self.name, self.ms
        )
    }
}

/// Why a script must run outside a transaction, if it must.
fn outside_transaction(source: &SqlSource, marker: bool) -> Option<&'static str> {
    if marker {
        return Some("marked transaction:false");
    }
    source
        .statements
        .iter()
        .find_map(|s| parse::outside_transaction(&s.sql))
}

/// Runs one script and, with it, the history change `record`. In a
/// transaction unless the script cannot run in one; in a clean session (a
/// `SET` or `SET ROLE` of the file before does not carry over), with the
/// project's lock and statement timeouts. A file that timed out waiting for
/// a lock before anything of it stayed applied is tried again with backoff.
/// On failure the error names the file, the statement and the server's
/// message.
async fn run_script(
    client: &Client,
    url: &str,
    file: &SqlFile,
    no_transaction_marker: bool,
    timeouts: &Timeouts,
    record: &dyn Fn(i64) -> String,
    failed: &dyn Fn(usize, &str) -> String,
) -> Result<(i64, bool)> {
    let source = SqlSource {
        statements: parse::file_statements(file, 0)?,
        files: vec![file.clone()],
    };
    let outside = outside_transaction(&source, no_transaction_marker);
    let mut attempt = 0;
    loop {
        if crate::interrupt::requested() {
            bail!("interrupted before {}", file.path.display());
        }
        match run_once(client, url, &source, outside, timeouts, record, failed).await {
            Ok(done) => return Ok(done),
            Err(failed) => {
                let retry = failed.lock_timeout
                    && (outside.is_none() || failed.statement == 0)
                    && attempt < timeouts.retries
                    && !crate::interrupt::requested();
                if !retry {
                    return Err(failed.error);
                }
                attempt += 1;
                let wait = Timeouts::backoff(attempt);
                crate::ui::print_err(&format!(
                    "{}: timed out waiting for a lock; trying the file again in {:.1} s (try {} of {})\n",
                    file.path.display(),
                    wait.as_secs_f64(),
                    attempt + 1,
                    timeouts.retries + 1
                ));
                crate::interrupt::sleep(wait).await;
            }
        }
    }
}

/// Why one run of a script stopped.
struct ScriptFailed {
    error: anyhow::Error,
    statement: usize,
    lock_timeout: bool,
}

async fn run_once(
    client: &Client,
    url: &str,
    source: &SqlSource,
    outside: Option<&'static str>,
    timeouts: &Timeouts,
    record: &dyn Fn(i64) -> String,
    failed: &dyn Fn(usize, &str) -> String,
) -> Result<(i64, bool), ScriptFailed> {
    let setup = |e: tokio_postgres::Error| ScriptFailed {
        error: e.into(),
        statement: 0,
        lock_timeout: false,
    };
    client
        .batch_execute(&format!(
            "{}; {}",
            crate::load::CLEAN_SESSION,
            super::apply::timeout_sql(timeouts, outside.is_some())
        ))
        .await
        .map_err(setup)?;
    let started = Instant::now();
    if outside.is_none() {
        client.batch_execute("BEGIN").await.map_err(setup)?;
    }
    let total = source.statements.len();
    for (i, stmt) in source.statements.iter().enumerate() {
        let run = crate::interrupt::cancellable(client, Some(url), client.batch_execute(&stmt.sql));
        if let Err(e) = run.await {
            let state = if outside.is_none() {
                match client.batch_execute("ROLLBACK").await {
                    Ok(()) => "rolled back: the database is as it was before this file, and nothing was recorded"
                        .to_string(),
                    // Never instead of the statement's own error.
                    Err(r) => format!("ROLLBACK failed too ({r}); nothing was recorded"),
                }
            } else if i == 0 {
                format!(
                    "this file runs outside a transaction ({}); none of its statements was \
                     applied, and nothing was recorded",
                    outside.unwrap_or_default()
                )
            } else {
                // Neither applied nor pending: recorded as failed, so that
                // nothing runs on top of it until `resolve` says what it is.
                let message = e
                    .as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_string());
                let recorded = match client.batch_execute(&failed(i + 1, &message)).await {
                    Ok(()) => "it is recorded as failed: finish or undo it by hand, then \
                               `stratum resolve --applied` or `--rolled-back` it"
                        .to_string(),
                    Err(r) => format!("recording it as failed failed too ({r})"),
                };
                format!(
                    "this file runs outside a transaction ({}): statements 1 to {i} stay \
                     applied; {recorded}",
                    outside.unwrap_or_default()
                )
            };
            let lock_timeout = e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE);
            let located = crate::load::located(source, i, &e);
            return Err(ScriptFailed {
                error: anyhow!("{located}\nstatement {} of {total} failed; {state}", i + 1),
                statement: i,
                lock_timeout,
            });
        }
    }
    let ms = started.elapsed().as_millis() as i64;
    let finish = |e: tokio_postgres::Error| ScriptFailed {
        error: e.into(),
        statement: total,
        lock_timeout: false,
    };
    client.batch_execute(&record(ms)).await.map_err(finish)?;
    if outside.is_none() {
        client.batch_execute("COMMIT").await.map_err(finish)?;
    }
    Ok((ms, outside.is_none()))
}

/// Fails when an applied file changed or disappeared.
fn verify(files: &[Migration], applied: &[Applied], project: &Project) -> Result<()> {
    for e in entries(files, applied) {
        match e.state {
            State::Changed => {
                let m = files.iter().find(|m| m.version == e.version).expect("file");
                bail!(
                    "{}: changed after it was applied (its checksum differs from the one \
                     recorded in {}); restore it, or write a new migration",
                    project.show(&m.up.path),
                    project.history_table
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

/// `stratum migrate`: applies pending migrations (up to `to`) in order,
/// under the advisory lock.
pub async fn migrate(project: &Project, url: &str, to: Option<&str>) -> Result<Report> {
    let files = migrations(project)?;
    if let Some(to) = to {
        if !files.iter().any(|m| m.version == to) {
            bail!("--to {to}: no migration has this version");
        }
    }
    let (client, history) = locked(project, url).await?;
    let _ctrl_c = crate::interrupt::handle();
    let result = async {
        // Read after the lock: a concurrent run may have applied them.
        let applied = history.applied(&client).await?;
        verify(&files, &applied, project)?;
        let pending: Vec<&Migration> = files
            .iter()
            .filter(|m| !applied.iter().any(|a| a.version == m.version))
            .filter(|m| to.is_none_or(|t| compare_versions(&m.version, t).is_le()))
            .collect();
        let progress = Progress::new(pending.len() as u64, "migrating");
        let mut ran = Vec::new();
        for m in pending {
            let record = |ms| history.record_sql(&m.version, &m.name, &m.checksum, ms);
            let failed = |statement, error: &str| {
                history.failed_sql(&m.version, &m.name, &m.checksum, statement, error)
            };
            let (ms, transactional) = run_script(
                &client,
                url,
                &m.up,
                m.no_transaction,
                &project.timeouts,
                &record,
                &failed,
            )
            .await
            .map_err(|e| e.context(format!("migration {} failed", project.show(&m.up.path))))?;
            ran.push(Ran {
                version: m.version.clone(),
                name: m.name.clone(),
                ms,
                transactional,
            });
            progress.inc();
        }
        Ok::<_, anyhow::Error>(ran)
    }
    .await;
    // The run's own error, if any, is the one reported.
    let unlocked = history.unlock(&client).await;
    let ran = result?;
    unlocked?;
    let mut stderr: String = ran
        .iter()
        .map(|r| {
            let note = if r.transactional {
                ""
            } else {
                ", outside a transaction"
            };
            r.line(paint(style::GREEN, "applied"), note)
        })
        .collect();
    stderr.push_str(&if ran.is_empty() {
        "Nothing to migrate: the database is up to date.\n".to_string()
    } else {
        format!("Applied {}.\n", count(ran.len(), "migration"))
    });
    Ok(Report::new(
        OK,
        String::new(),
        stderr,
        serde_json::json!({ "applied": ran }),
    ))
}

/// `stratum down`: runs down files in reverse order; the last applied
/// migration, or every one after `to`.
pub async fn down(project: &Project, url: &str, to: Option<&str>) -> Result<Report> {
    let files = migrations(project)?;
    let (client, history) = locked(project, url).await?;
    let _ctrl_c = crate::interrupt::handle();
    let result = async {
        let applied = history.applied(&client).await?;
        verify(&files, &applied, project)?;
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
        if let Some(m) = targets.iter().find(|m| m.down.is_none()) {
            bail!(
                "migration {} has no down file; nothing was reverted",
                m.label()
            );
        }
        let mut ran = Vec::new();
        for m in targets {
            let down = m.down.as_ref().expect("checked");
            let failed = |statement, error: &str| {
                let error = format!("down file: {error}");
                history.failed_sql(&m.version, &m.name, &m.checksum, statement, &error)
            };
            let (ms, transactional) = run_script(
                &client,
                url,
                down,
                false,
                &project.timeouts,
                &|_| history.remove_sql(&m.version),
                &failed,
            )
            .await
            .map_err(|e| {
                e.context(format!(
                    "down migration {} failed",
                    project.show(&down.path)
                ))
            })?;
            ran.push(Ran {
                version: m.version.clone(),
                name: m.name.clone(),
                ms,
                transactional,
            });
        }
        Ok::<_, anyhow::Error>(ran)
    }
    .await;
    // The run's own error, if any, is the one reported.
    let unlocked = history.unlock(&client).await;
    let ran = result?;
    unlocked?;
    let mut stderr: String = ran
        .iter()
        .map(|r| r.line(paint(style::YELLOW, "reverted"), ""))
        .collect();
    if ran.is_empty() {
        stderr.push_str("Nothing to revert.\n");
    }
    Ok(Report::new(
        OK,
        String::new(),
        stderr,
        serde_json::json!({ "reverted": ran }),
    ))
}

/// What `resolve` marks.
#[derive(Debug, Clone)]
pub enum Resolve {
    /// Record as applied without running it.
    Applied(String),
    /// Forget it without running its down file.
    RolledBack(String),
}

/// `stratum resolve`: changes the history without running anything.
pub async fn resolve(project: &Project, url: &str, what: &Resolve) -> Result<Report> {
    let files = migrations(project)?;
    let (client, history) = locked(project, url).await?;
    let result = async {
        let applied = history.applied(&client).await?;
        match what {
            Resolve::Applied(version) => {
                let Some(m) = files.iter().find(|m| &m.version == version) else {
                    bail!("--applied {version}: no migration has this version");
                };
                match applied.iter().find(|a| &a.version == version) {
                    Some(a) if a.failed.is_some() => {
                        client
                            .batch_execute(&history.resolved_sql(&m.version, &m.checksum))
                            .await?;
                        Ok(format!(
                            "Marked {} as applied (it had failed; you finished it by hand).\n",
                            m.label()
                        ))
                    }
                    Some(_) => bail!("migration {} is already recorded as applied", m.label()),
                    None => {
                        client
                            .batch_execute(&history.record_sql(&m.version, &m.name, &m.checksum, 0))
                            .await?;
                        Ok(format!("Marked {} as applied (not run).\n", m.label()))
                    }
                }
            }
            Resolve::RolledBack(version) => {
                let Some(a) = applied.iter().find(|a| &a.version == version) else {
                    bail!("--rolled-back {version}: not recorded as applied");
                };
                client.batch_execute(&history.remove_sql(version)).await?;
                Ok(format!(
                    "Marked {}_{} as rolled back (its down file was not run).\n",
                    a.version, a.name
                ))
            }
        }
    }
    .await;
    let unlocked = history.unlock(&client).await;
    let message = result?;
    unlocked?;
    let (version, state) = match what {
        Resolve::Applied(v) => (v, "applied"),
        Resolve::RolledBack(v) => (v, "rolled_back"),
    };
    Ok(Report::new(
        OK,
        String::new(),
        message,
        serde_json::json!({ "version": version, "marked": state }),
    ))
}
