//! libpq's files: passwords from `~/.pgpass` (`PGPASSFILE`, `passfile`) and
//! connection services from `~/.pg_service.conf` (`PGSERVICEFILE`) and
//! `pg_service.conf` in `PGSYSCONFDIR`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// The settings of service `name`: the user's service file first, then the
/// system one, as libpq looks them up.
pub fn service(
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>> {
    let user = env("PGSERVICEFILE")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".pg_service.conf")));
    let system = env("PGSYSCONFDIR")
        .map(|d| Path::new(&d).join("pg_service.conf"))
        .unwrap_or_else(|| PathBuf::from("/etc/postgresql-common/pg_service.conf"));
    for file in user.iter().chain([&system]) {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        if let Some(settings) = section(&text, name, file)? {
            return Ok(settings);
        }
    }
    bail!(
        "definition of service \"{name}\" not found (looked in {}{})",
        user.map(|u| format!("{}, ", u.display()))
            .unwrap_or_default(),
        system.display()
    )
}

/// The `key=value` lines of `[name]` in a service file, if it has one.
fn section(text: &str, name: &str, file: &Path) -> Result<Option<BTreeMap<String, String>>> {
    let mut current: Option<BTreeMap<String, String>> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if current.is_some() {
                break;
            }
            if header == name {
                current = Some(BTreeMap::new());
            }
            continue;
        }
        if let Some(settings) = current.as_mut() {
            let Some((key, value)) = line.split_once('=') else {
                bail!("{}:{}: syntax error in service file", file.display(), n + 1);
            };
            settings.insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    Ok(current)
}

/// The password `~/.pgpass` (or `file`) holds for this connection, if any.
/// As libpq, a file others may read is ignored, with a warning.
pub fn password(
    file: Option<PathBuf>,
    host: &str,
    port: u16,
    db: &str,
    user: &str,
) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let file = file.or_else(|| dirs::home_dir().map(|h| h.join(".pgpass")))?;
    let meta = std::fs::metadata(&file).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "warning: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            file.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(&file).ok()?;
    let port = port.to_string();
    let wanted = [host, port.as_str(), db, user];
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = fields(line);
            let matches = fields.len() == 5
                && wanted
                    .iter()
                    .zip(&fields)
                    .all(|(want, field)| field == "*" || field == want);
            matches.then(|| fields[4].clone())
        })
}

/// The `:`-separated fields of a `.pgpass` line (`\:` and `\\` escaped).
fn fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().expect("one field").extend(chars.next()),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn pgpass_matches_with_wildcards_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:*:app:nope\nlocalhost:*:app\\:db:app:p\\:w\\\\d\n*:*:*:app:fallback\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let get = |host, db| password(Some(file.clone()), host, 5432, db, "app");
        assert_eq!(get("localhost", "app:db").as_deref(), Some("p:w\\d"));
        assert_eq!(get("db.example", "x").as_deref(), Some("fallback"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(get("localhost", "app:db"), None);
    }

    #[test]
    fn service_sections_are_found_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user.conf");
        std::fs::write(
            &user,
            "[dev]\nhost=localhost\n\n[prod]\n# c\nhost = db.example\nport=6432\n",
        )
        .unwrap();
        let env = |name: &str| match name {
            "PGSERVICEFILE" => Some(user.display().to_string()),
            "PGSYSCONFDIR" => Some(dir.path().display().to_string()),
            _ => None,
        };
        let prod = service("prod", &env).unwrap();
        assert_eq!(prod["host"], "db.example");
        assert_eq!(prod["port"], "6432");
        let err = service("nope", &env).unwrap_err().to_string();
        assert!(
            err.contains("definition of service \"nope\" not found"),
            "{err}"
        );
    }
}
