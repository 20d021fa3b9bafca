//! Checkpoints of replayed migrations, so that adding a migration replays
//! only that one.
//!
//! A checkpoint is the embedded cluster's data directory, copied after a
//! clean shutdown, holding a database where migrations 1..k were replayed.
//! It is keyed by a chained hash of the stratum build, the server binaries
//! and the text of migrations 1..k, so an edited, inserted or removed
//! migration, another server or another stratum makes other keys. A replay
//! starts its cluster from the checkpoint of the longest prefix of its
//! migrations that has one, and replays the rest.
//!
//! Checkpoints live beside the catalog cache (`checkpoints` in it when
//! `STRATUM_CACHE_DIR` is set), are written to a staging directory, synced
//! and renamed into place, so a run never starts from a half-written one,
//! and are kept under [`LIMIT`] bytes by removing the least recently used.
//! A removed checkpoint is renamed away first, and a copy of one must hold
//! the bytes it was saved with: a run copying one that is being removed
//! starts from a fresh cluster rather than from part of it. A replay is
//! saved only when a new session starts where it left off (see
//! [`super::run::resumable`]). A `--dev-url` server has none: its data
//! directory is not stratum's.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::catalog_cache::{cache_dir, Key};
use crate::parse::SqlSource;
use crate::scratch::{ScratchDb, ScratchServer};

/// Bytes the checkpoints may hold (one at 10 000 tables is about 420 MB).
pub const LIMIT: u64 = 2 << 30;

/// A replay shorter than this is not worth a checkpoint: saving one stops
/// and starts the cluster, and copies its data directory. A replay from a
/// checkpoint must also take as long as restoring and saving that one did
/// (see `fill` in the load module).
pub const WORTH: Duration = Duration::from_secs(1);

/// The file of a checkpoint naming the database it holds.
const DATABASE: &str = "database";
/// The file of a checkpoint holding its size in bytes.
const BYTES: &str = "bytes";
/// The file of a checkpoint holding how long saving it took, in
/// milliseconds: what saving the next one of about its size will cost.
const SAVED_IN: &str = "saved_in_ms";

/// The checkpoint directory.
pub struct Checkpoints {
    dir: PathBuf,
}

/// A checkpoint found for a replay.
pub struct Found {
    /// How many migrations it holds, replayed.
    pub migrations: usize,
    /// Its data directory.
    pub data: PathBuf,
    /// The bytes of the files in it: a copy that reads fewer was cut short.
    pub bytes: u64,
    /// The database holding them.
    pub database: String,
    /// How long saving it took (stopping the cluster, the copy, the sync
    /// and the start), when it says.
    pub saved_in: Option<Duration>,
    key: String,
}

/// The checkpoints of one replay.
pub struct Resume {
    /// Where they are.
    pub checkpoints: Checkpoints,
    /// The key of each prefix of its migrations (see [`Checkpoints::keys`]).
    pub keys: Vec<String>,
    /// The checkpoint of the longest prefix, if any.
    pub found: Option<Found>,
}

impl Resume {
    /// Saves database `db` of `server`, where every migration was
    /// replayed, as their checkpoint (see [`Checkpoints::save`]); an error
    /// means the cluster did not start again.
    pub async fn save(&self, server: &mut ScratchServer, db: &ScratchDb) -> Result<()> {
        match self.keys.last() {
            Some(key) => self.checkpoints.save(key, server, db).await,
            None => Ok(()),
        }
    }
}

impl Checkpoints {
    /// The checkpoints, unless the cache is off.
    pub fn open() -> Option<Checkpoints> {
        Some(Checkpoints {
            dir: cache_dir(Some("checkpoints"))?,
        })
    }

    /// The key of each prefix of `migrations` replayed by the server that
    /// `server` stands for: entry k-1 is that of migrations 1..k.
    pub fn keys(server: &str, migrations: &[SqlSource]) -> Vec<String> {
        let mut key = Key::new(server);
        key.add(b"replay checkpoint");
        migrations
            .iter()
            .map(|migration| {
                key.add(b"migration");
                for file in &migration.files {
                    key.add(file.text.as_bytes());
                }
                key.clone().finish()
            })
            .collect()
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// The checkpoint of the longest prefix whose key is in `keys` (see
    /// [`Checkpoints::keys`]), marked as used.
    pub fn find(&self, keys: &[String]) -> Option<Found> {
        keys.iter().enumerate().rev().find_map(|(i, key)| {
            let path = self.path(key);
            let database = std::fs::read_to_string(path.join(DATABASE)).ok()?;
            let bytes = std::fs::read_to_string(path.join(BYTES))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            // Marks it used, for the size bound.
            if let Ok(file) = std::fs::File::options()
                .write(true)
                .open(path.join(DATABASE))
            {
                let _ = file.set_modified(SystemTime::now());
            }
            let saved_in = std::fs::read_to_string(path.join(SAVED_IN))
                .ok()
                .and_then(|ms| ms.trim().parse().ok())
                .map(Duration::from_millis);
            Some(Found {
                migrations: i + 1,
                data: path.join("data"),
                bytes,
                database,
                saved_in,
                key: key.clone(),
            })
        })
    }

    /// Removes checkpoint `found`, which did not start or lacked its
    /// database, so that no later run tries it again.
    pub fn forget(&self, found: &Found) {
        remove(&self.dir, &self.path(&found.key));
    }

    /// Saves database `db` of `server`'s embedded cluster as the checkpoint
    /// `key`, then keeps the directory under [`LIMIT`]. The cluster is
    /// stopped and started again: nothing may be connected to it. A failure
    /// only means no checkpoint; an error means the cluster did not start
    /// again.
    pub async fn save(&self, key: &str, server: &mut ScratchServer, db: &ScratchDb) -> Result<()> {
        let Some(cluster) = server.cluster_mut() else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let path = self.path(key);
        if path.join(DATABASE).is_file() {
            return Ok(());
        }
        let Ok(staging) = std::fs::create_dir_all(&self.dir).and_then(|()| {
            tempfile::Builder::new()
                .prefix(".staging-")
                .tempdir_in(&self.dir)
        }) else {
            return Ok(());
        };
        let Some(bytes) = cluster.save_data(&staging.path().join("data")).await? else {
            return Ok(());
        };
        let written = std::fs::write(staging.path().join(BYTES), bytes.to_string())
            .and_then(|()| std::fs::write(staging.path().join(DATABASE), &db.name));
        let staged = staging.path().to_path_buf();
        // Off the runtime: with a build writing to the same disk, this can
        // take seconds.
        let synced = tokio::task::spawn_blocking(move || sync_fs(&staged))
            .await
            .is_ok_and(|synced| synced);
        if written.is_err() || !synced {
            return Ok(());
        }
        let staged = staging.keep();
        if std::fs::rename(&staged, &path).is_err() {
            // Another run saved the same one meanwhile.
            let _ = std::fs::remove_dir_all(&staged);
        } else {
            // Written after the sync: it only advises, and a checkpoint
            // without it is whole.
            let ms = started.elapsed().as_millis().to_string();
            let _ = std::fs::write(path.join(SAVED_IN), ms);
        }
        trim(&self.dir, LIMIT, key);
        Ok(())
    }
}

/// Writes what the file system holding `path` has in memory to its disk, so
/// that a checkpoint renamed into place is whole after a power loss.
fn sync_fs(path: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(dir) = std::fs::File::open(path) else {
        return false;
    };
    // SAFETY: syncfs takes an open descriptor, which `dir` holds.
    unsafe { libc::syncfs(dir.as_raw_fd()) == 0 }
}

/// Removes checkpoint directory `path` of `dir`, renamed away first, so
/// that a run copying it fails rather than copy part of it.
fn remove(dir: &Path, path: &Path) -> bool {
    let Ok(trash) = tempfile::Builder::new().prefix(".trash-").tempdir_in(dir) else {
        return false;
    };
    let trash = trash.keep();
    let removed = std::fs::rename(path, trash.join("checkpoint")).is_ok();
    let _ = std::fs::remove_dir_all(&trash);
    removed
}

/// Removes the least recently used checkpoints of `dir` other than `keep`
/// while they hold more than `limit` bytes, and staging directories left by
/// runs that died (an hour old).
fn trim(dir: &Path, limit: u64, keep: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let mut kept: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            let modified = entry.metadata().and_then(|m| m.modified());
            if name.starts_with(".trash-") || modified.is_ok_and(|m| m < hour_ago) {
                let _ = std::fs::remove_dir_all(&path);
            }
            continue;
        }
        let Ok(used) = std::fs::metadata(path.join(DATABASE)).and_then(|m| m.modified()) else {
            continue;
        };
        let bytes = std::fs::read_to_string(path.join(BYTES))
            .ok()
            .and_then(|b| b.trim().parse().ok())
            .unwrap_or(0);
        if name != keep {
            kept.push((used, bytes, path));
        } else {
            kept.push((SystemTime::now(), bytes, path));
        }
    }
    let mut total: u64 = kept.iter().map(|k| k.1).sum();
    kept.sort();
    for (_, bytes, path) in kept {
        if total <= limit || path.ends_with(keep) {
            continue;
        }
        if remove(dir, &path) {
            total -= bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> SqlSource {
        SqlSource {
            files: vec![crate::parse::SqlFile {
                path: PathBuf::from("m.sql"),
                text: text.to_string(),
            }],
            statements: Vec::new(),
        }
    }

    #[test]
    fn a_prefix_keeps_its_key_and_any_edit_changes_the_rest() {
        let server = "/usr/lib/postgresql/15/bin 15.18";
        let three = [source("CREATE TABLE a ()"), source("B"), source("C")];
        let keys = Checkpoints::keys(server, &three);
        assert_eq!(keys.len(), 3);
        assert_eq!(Checkpoints::keys(server, &three[..2]), keys[..2]);
        let edited = [source("CREATE TABLE a ( )"), source("B"), source("C")];
        let other = Checkpoints::keys(server, &edited);
        assert!(keys.iter().zip(&other).all(|(a, b)| a != b));
        let swapped = [source("CREATE TABLE a ()"), source("C"), source("B")];
        assert_eq!(Checkpoints::keys(server, &swapped)[0], keys[0]);
        assert_ne!(Checkpoints::keys(server, &swapped)[1..], keys[1..]);
        let elsewhere = Checkpoints::keys("/usr/lib/postgresql/15/bin 15.19", &three);
        assert!(keys.iter().zip(&elsewhere).all(|(a, b)| a != b));
    }

    #[test]
    fn the_longest_prefix_is_found_and_the_least_used_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints {
            dir: dir.path().to_path_buf(),
        };
        let save = |key: &str, bytes: u64, age: u64| {
            let path = dir.path().join(key);
            std::fs::create_dir_all(path.join("data")).unwrap();
            std::fs::write(path.join(BYTES), bytes.to_string()).unwrap();
            std::fs::write(path.join(DATABASE), format!("db_{key}")).unwrap();
            let file = std::fs::File::options()
                .write(true)
                .open(path.join(DATABASE))
                .unwrap();
            file.set_modified(SystemTime::now() - Duration::from_secs(age))
                .unwrap();
        };
        save("k1", 100, 30);
        save("k3", 100, 20);
        let keys = ["k1", "k2", "k3", "k4"].map(String::from);
        let found = checkpoints.find(&keys).unwrap();
        assert_eq!((found.migrations, found.database.as_str()), (3, "db_k3"));
        assert_eq!((found.data, found.bytes), (dir.path().join("k3/data"), 100));
        assert_eq!(checkpoints.find(&keys[..2]).unwrap().migrations, 1);
        assert!(checkpoints.find(&keys[1..2]).is_none());
        let found = checkpoints.find(&keys).unwrap();
        checkpoints.forget(&found);
        assert_eq!(checkpoints.find(&keys).unwrap().migrations, 1);

        // k1 was used longest ago; k5, the oldest, is the one being saved.
        save("k1", 100, 30);
        save("k2", 100, 10);
        save("k3", 100, 5);
        save("k5", 100, 40);
        std::fs::create_dir_all(dir.path().join(".staging-dead")).unwrap();
        trim(dir.path(), 250, "k5");
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        // A fresh staging directory may be another run's: it stays.
        assert_eq!(left, [".staging-dead", "k3", "k5"]);
    }
}
