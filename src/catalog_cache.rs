//! A cache of catalogs: those that loads into the scratch server produce,
//! keyed by what was loaded, by which server read it (the embedded
//! cluster's binaries, or a `--dev-url` server's identity) and by which
//! stratum build: a second `check` or `generate` over an unchanged
//! `schema/` or `migrations/` skips that load, and the scratch server too
//! when every side it needed is cached. And those of live databases, keyed
//! by the state of their catalogs (`introspect::fingerprint`), so that an
//! unchanged database is not read again.
//!
//! Entries live under the user's cache directory (`STRATUM_CACHE_DIR`
//! overrides it; `STRATUM_CACHE=off` turns the cache off), one JSON file per
//! key. A new entry is written to a temp file and renamed into place, so a
//! run never reads another's half-written entry; an entry that does not
//! read back is a miss and is removed. The directory is kept under
//! [`LIMIT`] bytes by removing the entries used least recently.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::kinds::Catalog;

/// Bytes the cache directory may hold.
pub const LIMIT: u64 = 1 << 30;

/// The file in the cache directory holding the bytes of its entries, as
/// the last scan found them plus what was stored since.
const TOTAL: &str = "total";

/// The cache directory, or None when the cache is off.
#[derive(Debug, Clone)]
pub struct CatalogCache {
    dir: PathBuf,
}

/// What a cache key is made of, fed piece by piece.
#[derive(Clone)]
pub struct Key(Sha256);

impl Key {
    /// A key for catalogs read by this stratum build from binaries
    /// `server` (their directory and full version).
    pub fn new(server: &str) -> Key {
        let mut hash = Sha256::new();
        hash.update(b"stratum catalog cache 1\0");
        hash.update(build_identity().as_bytes());
        hash.update([0]);
        hash.update(server.as_bytes());
        hash.update([0]);
        Key(hash)
    }

    /// Adds one piece (its length first, so pieces cannot run together).
    pub fn add(&mut self, piece: &[u8]) {
        self.0.update((piece.len() as u64).to_le_bytes());
        self.0.update(piece);
    }

    /// The key's hex digest.
    pub fn finish(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The running executable's size and modification time: the catalog a
/// stratum build reads may differ from another build's.
fn build_identity() -> String {
    std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{} {} {modified}", env!("CARGO_PKG_VERSION"), m.len())
        })
        .unwrap_or_else(|_| env!("CARGO_PKG_VERSION").to_string())
}

/// Where the caches live, None when `STRATUM_CACHE=off`: the catalogs in
/// `STRATUM_CACHE_DIR` or the user's cache directory's `stratum/catalogs`,
/// and cache `sub` (the replay checkpoints) in a directory of that name
/// beside them or inside `STRATUM_CACHE_DIR`.
pub fn cache_dir(sub: Option<&str>) -> Option<PathBuf> {
    if std::env::var("STRATUM_CACHE").is_ok_and(|v| v == "off" || v == "0") {
        return None;
    }
    let base = match std::env::var_os("STRATUM_CACHE_DIR") {
        Some(dir) => {
            return Some(sub.map_or_else(|| dir.clone().into(), |s| Path::new(&dir).join(s)))
        }
        None => dirs::cache_dir()?.join("stratum"),
    };
    Some(base.join(sub.unwrap_or("catalogs")))
}

impl CatalogCache {
    /// The cache, unless `STRATUM_CACHE=off` or there is no cache
    /// directory.
    pub fn open() -> Option<CatalogCache> {
        let dir = cache_dir(None)?;
        std::fs::create_dir_all(&dir).ok()?;
        Some(CatalogCache { dir })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The catalog stored under `key`, if any.
    pub fn get(&self, key: Key) -> (String, Option<Catalog>) {
        let key = key.finish();
        let path = self.path(&key);
        let Ok(file) = std::fs::File::open(&path) else {
            return (key, None);
        };
        // Read as it is parsed: at 10 000 tables an entry is 55 MB, which
        // would be held beside the catalog it becomes.
        let reader = std::io::BufReader::with_capacity(1 << 20, file);
        match serde_json::from_reader::<_, Catalog>(reader) {
            Ok(catalog) => {
                // Marks it used, for the size bound.
                if let Ok(file) = std::fs::File::options().write(true).open(&path) {
                    let _ = file.set_modified(SystemTime::now());
                }
                (key, Some(catalog))
            }
            Err(_) => {
                let _ = std::fs::remove_file(&path);
                (key, None)
            }
        }
    }

    /// Stores `catalog` under `key` (from [`CatalogCache::get`]), then keeps
    /// the directory under [`LIMIT`]. Failures only mean no entry.
    pub fn put(&self, key: &str, catalog: &Catalog) {
        let Ok(mut file) = tempfile::NamedTempFile::new_in(&self.dir) else {
            return;
        };
        // Written as it is serialized, not built in memory first (55 MB at
        // 10 000 tables, while two sides may be stored at once).
        let mut writer = std::io::BufWriter::with_capacity(1 << 20, file.as_file_mut());
        if serde_json::to_writer(&mut writer, catalog).is_err() || writer.flush().is_err() {
            return;
        }
        drop(writer);
        let len = file.as_file().metadata().map_or(0, |m| m.len());
        if file.persist(self.path(key)).is_err() {
            return;
        }
        // The directory is scanned only when the running total says it may
        // be over: a scan stats every entry, 80 ms at 20 000 of them, and a
        // test suite stores thousands.
        let total = std::fs::read_to_string(self.dir.join(TOTAL))
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok());
        match total {
            Some(total) if total + len <= LIMIT => {
                let _ = std::fs::write(self.dir.join(TOTAL), (total + len).to_string());
            }
            _ => self.trim(),
        }
    }

    /// Removes the least recently used entries while the directory holds
    /// more than nine tenths of [`LIMIT`] bytes (when it holds more than
    /// [`LIMIT`]), and writes down what it then holds. Runs
    /// sharing the directory may add to the total at the same time and
    /// lose each other's additions: then it is scanned later than it
    /// should, never earlier.
    fn trim(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        files.sort();
        // Down to nine tenths, so that the next scan is some entries away.
        let target = if total > LIMIT { LIMIT / 10 * 9 } else { total };
        for (_, len, path) in files {
            if total <= target {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
        let _ = std::fs::write(self.dir.join(TOTAL), total.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(server: &str, pieces: &[&str]) -> String {
        let mut key = Key::new(server);
        for piece in pieces {
            key.add(piece.as_bytes());
        }
        key.finish()
    }

    #[test]
    fn keys_change_with_the_server_and_every_piece() {
        let base = key(
            "/usr/lib/postgresql/15/bin 15.18",
            &["schema/a.sql", "CREATE TABLE t ()"],
        );
        assert_eq!(
            base,
            key(
                "/usr/lib/postgresql/15/bin 15.18",
                &["schema/a.sql", "CREATE TABLE t ()"]
            )
        );
        for other in [
            key(
                "/usr/lib/postgresql/15/bin 15.19",
                &["schema/a.sql", "CREATE TABLE t ()"],
            ),
            key("/opt/pg/bin 15.18", &["schema/a.sql", "CREATE TABLE t ()"]),
            key(
                "/usr/lib/postgresql/15/bin 15.18",
                &["schema/a.sql", "CREATE TABLE u ()"],
            ),
            key(
                "/usr/lib/postgresql/15/bin 15.18",
                &["schema/a.sqlCREATE TABLE t ()"],
            ),
        ] {
            assert_ne!(base, other);
        }
    }
}
