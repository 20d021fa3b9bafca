//! The migrations directory: reading and writing migration files in one of
//! four layouts, their versions, order and checksums.
//!
//! | layout | up | down |
//! |---|---|---|
//! | `stratum` | `<version>_<name>.sql` | `<version>_<name>.down.sql` |
//! | `flyway` | `V<version>__<name>.sql` | `U<version>__<name>.sql` |
//! | `golang-migrate` | `<version>_<name>.up.sql` | `<version>_<name>.down.sql` |
//! | `dbmate` | `<version>_<name>.sql`, `-- migrate:up` section | same file, `-- migrate:down` section |

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::parse::SqlFile;

/// How migration files are named and laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// `<version>_<name>.sql` and `<version>_<name>.down.sql`.
    #[default]
    Stratum,
    /// `V<version>__<name>.sql` and `U<version>__<name>.sql`.
    Flyway,
    /// `<version>_<name>.up.sql` and `<version>_<name>.down.sql`.
    GolangMigrate,
    /// One `<version>_<name>.sql` with `-- migrate:up` / `-- migrate:down`.
    Dbmate,
}

impl Layout {
    /// The name as written in `stratum.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Stratum => "stratum",
            Layout::Flyway => "flyway",
            Layout::GolangMigrate => "golang-migrate",
            Layout::Dbmate => "dbmate",
        }
    }

    /// What an up file's name looks like, for errors.
    fn pattern(self) -> &'static str {
        match self {
            Layout::Stratum | Layout::Dbmate => "<version>_<name>.sql",
            Layout::Flyway => "V<version>__<name>.sql",
            Layout::GolangMigrate => "<version>_<name>.up.sql",
        }
    }
}

/// One migration found on disk.
#[derive(Debug, Clone)]
pub struct Migration {
    /// Its version, e.g. `20261121093000`.
    pub version: String,
    /// Its name, e.g. `add_users_phone`.
    pub name: String,
    /// The up script. For dbmate, the whole file with the down section
    /// blanked, so that positions stay true.
    pub up: SqlFile,
    /// The down script, when there is one.
    pub down: Option<SqlFile>,
    /// sha256 of the up script, hex.
    pub checksum: String,
    /// dbmate's `-- migrate:up transaction:false`.
    pub no_transaction: bool,
}

impl Migration {
    /// `version_name`, as shown to people.
    pub fn label(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }
}

/// sha256 of `text`, hex.
pub fn checksum(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Orders versions by their numeric parts (`1.10` after `1.9`), then as text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| -> Vec<u128> {
        v.split(['.', '_'])
            .map(|p| p.parse::<u128>().unwrap_or(u128::MAX))
            .collect()
    };
    parts(a).cmp(&parts(b)).then_with(|| a.cmp(b))
}

/// What kind of file a name is, in a layout.
enum FileRole {
    Up,
    Down,
    /// dbmate: up and down in one.
    Both,
}

/// Splits a file name into (version, name, role), or None when the file is
/// not a migration of `layout`.
fn classify(layout: Layout, file_name: &str) -> Option<(String, String, FileRole)> {
    let stem = file_name.strip_suffix(".sql")?;
    let (version, name, role) = match layout {
        Layout::Stratum => {
            let (stem, role) = match stem.strip_suffix(".down") {
                Some(s) => (s, FileRole::Down),
                None => (stem, FileRole::Up),
            };
            let (v, n) = stem.split_once('_')?;
            (v, n, role)
        }
        Layout::GolangMigrate => {
            let (stem, role) = if let Some(s) = stem.strip_suffix(".up") {
                (s, FileRole::Up)
            } else {
                (stem.strip_suffix(".down")?, FileRole::Down)
            };
            let (v, n) = stem.split_once('_')?;
            (v, n, role)
        }
        Layout::Flyway => {
            let (role, rest) = if let Some(r) = stem.strip_prefix('V') {
                (FileRole::Up, r)
            } else {
                (FileRole::Down, stem.strip_prefix('U')?)
            };
            let (v, n) = rest.split_once("__")?;
            (v, n, role)
        }
        Layout::Dbmate => {
            let (v, n) = stem.split_once('_')?;
            (v, n, FileRole::Both)
        }
    };
    let valid = !version.is_empty()
        && version.chars().next().is_some_and(|c| c.is_ascii_digit())
        && version
            .chars()
            .all(|c| c.is_ascii_digit() || (layout == Layout::Flyway && matches!(c, '.' | '_')));
    valid.then(|| (version.to_string(), name.to_string(), role))
}

/// Reads every migration of `dir` in version order. A missing directory
/// holds no migrations; a `.sql` file that does not follow the layout, or
/// two files with one version, is an error naming the file.
pub fn read_dir(dir: &Path, layout: Layout) -> Result<Vec<Migration>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    let mut ups: BTreeMap<String, (String, PathBuf)> = BTreeMap::new();
    let mut downs: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in names {
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !file_name.ends_with(".sql") || !path.is_file() {
            continue;
        }
        let Some((version, name, role)) = classify(layout, file_name) else {
            bail!(
                "{}: not a migration file of the {} layout (expected {})",
                path.display(),
                layout.as_str(),
                layout.pattern()
            );
        };
        let slot = match role {
            FileRole::Down => downs.insert(version.clone(), path.clone()),
            FileRole::Up | FileRole::Both => ups
                .insert(version.clone(), (name, path.clone()))
                .map(|(_, p)| p),
        };
        if let Some(other) = slot {
            bail!(
                "{} and {}: two migrations with version {version}",
                other.display(),
                path.display()
            );
        }
    }
    if let Some((version, path)) = downs.iter().find(|(v, _)| !ups.contains_key(*v)) {
        bail!(
            "{}: down migration {version} has no up migration",
            path.display()
        );
    }
    let mut migrations = Vec::new();
    for (version, (name, path)) in ups {
        let text = crate::parse::read_file(&path)?.text;
        let (up, down, no_transaction) = if layout == Layout::Dbmate {
            dbmate_sections(&path, &text)?
        } else {
            let down = match downs.get(&version) {
                Some(p) => Some(crate::parse::read_file(p)?),
                None => None,
            };
            (
                SqlFile {
                    path: path.clone(),
                    text,
                },
                down,
                false,
            )
        };
        migrations.push(Migration {
            // Blanks do not count: editing a dbmate down section is no change.
            checksum: checksum(up.text.trim()),
            version,
            name,
            up,
            down,
            no_transaction,
        });
    }
    migrations.sort_by(|a, b| compare_versions(&a.version, &b.version));
    Ok(migrations)
}

/// Splits a dbmate file into its up and down sections, each the whole file
/// with the other section blanked.
fn dbmate_sections(path: &Path, text: &str) -> Result<(SqlFile, Option<SqlFile>, bool)> {
    let mut up_at = None;
    let mut down_at = None;
    let mut no_transaction = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("-- migrate:up") {
            up_at = Some(offset);
            no_transaction = rest.contains("transaction:false");
        } else if trimmed.starts_with("-- migrate:down") {
            down_at = Some(offset);
        }
        offset += line.len();
    }
    let Some(up_at) = up_at else {
        bail!(
            "{}: no `-- migrate:up` line (dbmate layout)",
            path.display()
        );
    };
    let down_at = down_at.filter(|&d| d > up_at);
    let up_end = down_at.unwrap_or(text.len());
    let up = SqlFile {
        path: path.to_path_buf(),
        text: blank_outside(text, up_at, up_end),
    };
    let down = down_at.map(|d| SqlFile {
        path: path.to_path_buf(),
        text: blank_outside(text, d, text.len()),
    });
    Ok((up, down, no_transaction))
}

/// `text` with everything outside `from..to` replaced by spaces (newlines
/// kept), so that offsets, lines and columns stay those of the file.
fn blank_outside(text: &str, from: usize, to: usize) -> String {
    text.char_indices()
        .map(|(i, c)| {
            if (i < from || i >= to) && c != '\n' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The text of a new migration in `layout`: one or two files.
pub struct NewMigration<'a> {
    /// Version (UTC timestamp).
    pub version: &'a str,
    /// Name.
    pub name: &'a str,
    /// Up script.
    pub up: &'a str,
    /// Down script.
    pub down: &'a str,
    /// True when the up script must run outside a transaction.
    pub no_transaction: bool,
}

/// Writes a new migration into `dir` (created if missing). Returns the paths
/// written. Refuses to overwrite.
pub fn write(dir: &Path, layout: Layout, m: &NewMigration) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (v, n) = (m.version, m.name);
    let files: Vec<(String, String)> = match layout {
        Layout::Stratum => vec![
            (format!("{v}_{n}.sql"), m.up.to_string()),
            (format!("{v}_{n}.down.sql"), m.down.to_string()),
        ],
        Layout::GolangMigrate => vec![
            (format!("{v}_{n}.up.sql"), m.up.to_string()),
            (format!("{v}_{n}.down.sql"), m.down.to_string()),
        ],
        Layout::Flyway => vec![
            (format!("V{v}__{n}.sql"), m.up.to_string()),
            (format!("U{v}__{n}.sql"), m.down.to_string()),
        ],
        Layout::Dbmate => vec![(
            format!("{v}_{n}.sql"),
            format!(
                "-- migrate:up{}\n{}\n-- migrate:down\n{}",
                if m.no_transaction {
                    " transaction:false"
                } else {
                    ""
                },
                m.up,
                m.down
            ),
        )],
    };
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        if path.exists() {
            bail!("{} already exists", path.display());
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// The current UTC time as `YYYYMMDDHHMMSS`.
pub fn utc_version_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc_version(secs)
}

/// `secs` since the epoch as `YYYYMMDDHHMMSS` (UTC).
pub fn utc_version(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A version for a new migration: now, or one second after the newest
/// existing one when the clock is behind it (versions must increase).
pub fn next_version(existing: &[Migration]) -> String {
    let now = utc_version_now();
    match existing.last() {
        Some(last) if compare_versions(&now, &last.version) != Ordering::Greater => {
            match last.version.parse::<u64>() {
                Ok(n) if last.version.len() == 14 => bump_timestamp(n),
                Ok(n) => (n + 1).to_string(),
                Err(_) => now,
            }
        }
        _ => now,
    }
}

/// The version right after `version`: a timestamp one second later, a
/// number plus one (the phases of a zero-downtime change).
pub fn version_after(version: &str) -> String {
    match version.parse::<u64>() {
        Ok(n) if version.len() == 14 => bump_timestamp(n),
        Ok(n) => (n + 1).to_string(),
        Err(_) => format!("{version}1"),
    }
}

/// `YYYYMMDDHHMMSS` plus one second.
fn bump_timestamp(n: u64) -> String {
    let s = n.to_string();
    let field = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap_or(0);
    let (y, mo, d, h, mi, se) = (
        field(0, 4),
        field(4, 6),
        field(6, 8),
        field(8, 10),
        field(10, 12),
        field(12, 14),
    );
    // Days from civil (inverse of the above).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if mo > 2 { mo - 3 } else { mo + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se + 1;
    utc_version(secs.max(0) as u64)
}

/// Turns free text into a file-name-safe slug: `add users.phone` ->
/// `add_users_phone`, at most 60 characters.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let mut out = out.trim_end_matches('_').to_string();
    // Cut at a word's end: the last `_` within 60 characters (or at 60
    // when the first word alone is longer).
    if out.len() > 60 {
        let cut = out[..=60].rfind('_').filter(|&i| i > 0).unwrap_or(60);
        out.truncate(cut);
        out = out.trim_end_matches('_').to_string();
    }
    if out.is_empty() {
        "migration".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_numerically() {
        assert_eq!(compare_versions("1.9", "1.10"), Ordering::Less);
        assert_eq!(compare_versions("2", "10"), Ordering::Less);
        assert_eq!(
            compare_versions("20261121000000", "20261121000001"),
            Ordering::Less
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(utc_version(0), "19700101000000");
        assert_eq!(utc_version(1_795_219_200), "20261121000000");
        assert_eq!(bump_timestamp(20261231235959), "20270101000000");
        assert_eq!(bump_timestamp(20240228235959), "20240229000000");
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Add users.phone!"), "add_users_phone");
        assert_eq!(slug("--"), "migration");
        let long = slug("create_organization_memberships_and_create_organization_invitations");
        assert_eq!(
            long,
            "create_organization_memberships_and_create_organization"
        );
        assert_eq!(slug(&"x".repeat(70)).len(), 60);
    }

    #[test]
    fn every_layout_round_trips() {
        for layout in [
            Layout::Stratum,
            Layout::Flyway,
            Layout::GolangMigrate,
            Layout::Dbmate,
        ] {
            let dir = tempfile::tempdir().unwrap();
            for (v, up, down) in [
                ("20260101000000", "CREATE TABLE a ();\n", "DROP TABLE a;\n"),
                ("20260102000000", "CREATE TABLE b ();\n", "DROP TABLE b;\n"),
            ] {
                write(
                    dir.path(),
                    layout,
                    &NewMigration {
                        version: v,
                        name: "step",
                        up,
                        down,
                        no_transaction: false,
                    },
                )
                .unwrap();
            }
            let read = read_dir(dir.path(), layout).unwrap();
            assert_eq!(read.len(), 2, "{layout:?}");
            assert_eq!(read[0].version, "20260101000000");
            assert_eq!(read[1].name, "step");
            let up = read[1].up.text.trim().trim_start_matches("-- migrate:up");
            assert_eq!(up.trim(), "CREATE TABLE b ();", "{layout:?}");
            let down = read[1].down.as_ref().unwrap().text.trim();
            let down = down.trim_start_matches("-- migrate:down");
            assert_eq!(down.trim(), "DROP TABLE b;", "{layout:?}");
            // Positions stay those of the file (dbmate blanks, not cuts).
            let file = std::fs::read_to_string(&read[1].up.path).unwrap();
            assert_eq!(read[1].up.text.len(), file.len());
            // A foreign file is an error that names it.
            std::fs::write(dir.path().join("notes.sql"), "").unwrap();
            let err = read_dir(dir.path(), layout).unwrap_err().to_string();
            assert!(err.contains("notes.sql"), "{err}");
        }
    }
}
