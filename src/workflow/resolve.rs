//! `stratum resolve`: what became of a migration, said to the history
//! without running anything (applied, rolled back, or an edit accepted).

use anyhow::{anyhow, bail, Result};

use super::migrate::{line_endings_only, locked};
use super::{migrations, Report, OK};
use crate::config::Project;

/// What `resolve` marks.
#[derive(Debug, Clone)]
pub enum Resolve {
    /// Record as applied without running it.
    Applied(String),
    /// Forget it without running its down file.
    RolledBack(String),
    /// Accept an applied file's edit: record its checksum now, with why.
    Checksum {
        /// The migration's version.
        version: String,
        /// Why the edit is accepted; kept in the history.
        reason: String,
    },
}

/// `stratum resolve`: changes the history without running anything.
pub async fn resolve(project: &Project, url: &str, what: &Resolve) -> Result<Report> {
    let files = migrations(project)?;
    let (client, history) = locked(project, url).await?;
    let result = async {
        let applied = history.applied(&client).await?;
        let file = |version: &str, flag: &str| {
            files
                .iter()
                .find(|m| m.version == version)
                .ok_or_else(|| anyhow!("{flag} {version}: no migration has this version"))
        };
        match what {
            Resolve::Applied(version) => {
                let m = file(version, "--applied")?;
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
            Resolve::Checksum { version, reason } => {
                let m = file(version, "--checksum")?;
                let Some(a) = applied.iter().find(|a| &a.version == version) else {
                    bail!("--checksum {version}: not recorded as applied, so there is nothing to accept");
                };
                if a.checksum == m.checksum {
                    bail!("--checksum {version}: the file is unchanged since it was applied");
                }
                if reason.trim().is_empty() {
                    bail!("--checksum {version}: say why the edit is accepted with --reason TEXT");
                }
                client
                    .batch_execute(&history.repaired_sql(version, &a.checksum, &m.checksum, reason))
                    .await?;
                let crlf = if line_endings_only(m, &a.checksum) {
                    " (only its line endings changed)"
                } else {
                    ""
                };
                Ok(format!(
                    "Accepted the edit of {}{crlf}: its checksum is now {} (was {}); nothing was run.\n",
                    m.label(),
                    &m.checksum[..12],
                    a.checksum.get(..12).unwrap_or(&a.checksum)
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
        Resolve::Checksum { version, .. } => (version, "checksum"),
    };
    Ok(Report::new(
        OK,
        String::new(),
        message,
        serde_json::json!({ "version": version, "marked": state }),
    ))
}
