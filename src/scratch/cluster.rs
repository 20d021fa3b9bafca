//! The embedded cluster: a throwaway PostgreSQL started from a copy of an
//! initdb'ed template (or of a replay checkpoint's data directory) in a temp
//! dir, run as an unprivileged user when stratum runs as root, stopped and
//! removed on drop; and a clean shutdown that copies its data directory.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio_postgres::Config;

use super::{leftovers, Binaries};
use crate::conninfo;

/// A new temp dir for a cluster: under `STRATUM_SCRATCH_DIR` when set, else
/// in memory (`/dev/shm`) where the machine has it, else the temp dir. A
/// throwaway cluster gains nothing from a disk, and creating a database
/// writes hundreds of small files: on ext4 that alone took two thirds of
/// the test suites' time.
/// Directories of dead runs found there are removed first; the new one is
/// marked with this process as its owner.
fn cluster_dir() -> Result<tempfile::TempDir> {
    let make = |parent: &Path| {
        leftovers::remove_dead_clusters(parent);
        let dir = tempfile::Builder::new()
            .prefix("stratum-pg-")
            .tempdir_in(parent)?;
        std::fs::write(
            dir.path().join(leftovers::OWNER_FILE),
            leftovers::owner_mark(),
        )?;
        Ok::<_, std::io::Error>(dir)
    };
    if let Some(parent) = std::env::var_os("STRATUM_SCRATCH_DIR") {
        let parent = PathBuf::from(parent);
        return make(&parent).with_context(|| {
            format!(
                "creating a cluster dir in STRATUM_SCRATCH_DIR={}",
                parent.display()
            )
        });
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = make(shm) {
            return Ok(dir);
        }
    }
    Ok(make(&std::env::temp_dir())?)
}

/// The uid and gid to run the server as when stratum runs as root, which
/// PostgreSQL refuses: the `postgres` user, else `nobody`.
fn unprivileged_user() -> Result<Option<(u32, u32)>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for wanted in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 3 && fields[0] == wanted {
                if let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse()) {
                    return Ok(Some((uid, gid)));
                }
            }
        }
    }
    bail!("running as root, and PostgreSQL refuses to run as root: create a `postgres` user or pass --dev-url")
}

fn chown_tree(path: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    let Some((uid, gid)) = owner else {
        return Ok(());
    };
    std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), owner)?;
        }
    }
    Ok(())
}

/// Copies directory `from` to `to`; returns the bytes copied.
fn copy_tree(from: &Path, to: &Path) -> Result<u64> {
    let mut bytes = 0;
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            bytes += copy_tree(&entry.path(), &target)?;
        } else {
            bytes += std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(bytes)
}

/// Copies the data directory of a running cluster for a base backup:
/// without its WAL (streamed from the slot instead), its pid file and
/// options, and files that vanish while it copies (WAL replay makes up
/// for what changed).
fn copy_live(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let target = to.join(&name);
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if name == "pg_wal" {
            std::fs::create_dir_all(target.join("archive_status"))?;
        } else if name == "postmaster.pid" || name == "postmaster.opts" {
            continue;
        } else if kind.is_dir() {
            copy_live(&entry.path(), &target)?;
        } else {
            match std::fs::copy(entry.path(), &target) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

fn run_as(command: &mut Command, owner: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
    command
}

/// The initdb'ed template for these binaries, made on first use.
fn template(bins: &Binaries, owner: Option<(u32, u32)>) -> Result<PathBuf> {
    let cache = dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("stratum")
        .join(format!("template-v2-{}", bins.version));
    if cache.join("PG_VERSION").is_file() {
        return Ok(cache);
    }
    let work = tempfile::Builder::new()
        .prefix("stratum-initdb-")
        .tempdir()?;
    chown_tree(work.path(), owner)?;
    let data = work.path().join("data");
    let out = run_as(&mut Command::new(bins.bindir.join("initdb")), owner)
        // 1 MB WAL segments instead of 16: less to copy at every start.
        .args([
            "--no-sync",
            "--wal-segsize=1",
            "-E",
            "UTF8",
            "--locale=C",
            "-U",
            "stratum",
            "-A",
            "trust",
            "-D",
        ])
        .arg(&data)
        .stdin(Stdio::null())
        .output()
        .context("running initdb")?;
    if !out.status.success() {
        bail!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // Copy next to the cache entry and rename, so a half-written template is
    // never seen by a concurrent run.
    let parent = cache.parent().expect("cache path has a parent");
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".template-")
        .tempdir_in(parent)?;
    copy_tree(&data, staging.path())?;
    let staged = staging.keep();
    if std::fs::rename(&staged, &cache).is_err() {
        // Another run won the race; use its template.
        let _ = std::fs::remove_dir_all(&staged);
    }
    Ok(cache)
}

/// Starts `postgres` on data directory `data`, listening on a socket in
/// `socket_dir` only, its output appended to `server.log` there.
fn spawn(
    bins: &Binaries,
    data: &Path,
    socket_dir: &Path,
    port: u16,
    settings: &[String],
    owner: Option<(u32, u32)>,
) -> Result<Child> {
    let log_path = socket_dir.join("server.log");
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(&log_path)?;
    chown_tree(&log_path, owner)?;
    let mut command = Command::new(bins.bindir.join("postgres"));
    run_as(&mut command, owner)
        .arg("-D")
        .arg(data)
        .arg("-k")
        .arg(socket_dir)
        .args(["-p", &port.to_string(), "-F", "-c", "listen_addresses="])
        .args(["-c", "full_page_writes=off", "-c", "synchronous_commit=off"])
        .args(["-c", "max_connections=20", "-c", "autovacuum=off"])
        // Room to lock every table of a large schema in one transaction
        // (a load, or pg_dump in the benchmark): 4096 x 20 slots.
        .args(["-c", "max_locks_per_transaction=4096"])
        .args(settings)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group, so a terminal's Ctrl-C reaches only
        // stratum, which then stops the server itself.
        .process_group(0);
    // SAFETY: prctl is async-signal-safe; it asks the kernel to stop the
    // server if stratum dies without running its destructors.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT);
            Ok(())
        });
    }
    command.spawn().context("starting postgres")
}

/// Copies the data directory `from` of a cluster shut down cleanly to `to`,
/// with only the two oldest WAL segments: a shutdown removes the segments
/// before its checkpoint (a replication slot would keep them; a replay that
/// leaves one is not saved), and those after the segment its record ends in
/// are recycled ones, not needed. Returns the bytes copied.
fn copy_data(from: &Path, to: &Path) -> Result<u64> {
    let mut bytes = 0;
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let target = to.join(&name);
        if name == "pg_wal" {
            std::fs::create_dir_all(target.join("archive_status"))?;
            let (mut segments, others): (Vec<PathBuf>, Vec<PathBuf>) =
                std::fs::read_dir(entry.path())?
                    .filter_map(|e| Some(e.ok()?.path()))
                    .filter(|p| p.is_file())
                    .partition(|p| {
                        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                            n.len() == 24 && n.bytes().all(|b| b.is_ascii_hexdigit())
                        })
                    });
            segments.sort();
            segments.truncate(2);
            for file in segments.iter().chain(&others) {
                bytes += std::fs::copy(file, target.join(file.file_name().expect("a file")))?;
            }
        } else if entry.file_type()?.is_dir() {
            bytes += copy_tree(&entry.path(), &target)?;
        } else if name != "postmaster.opts" {
            bytes += std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(bytes)
}

/// A throwaway PostgreSQL cluster, stopped and removed on drop.
pub struct Cluster {
    child: Child,
    socket_dir: PathBuf,
    port: u16,
    /// Its data directory.
    data: PathBuf,
    /// The `-c` settings beyond the fixed ones, to start it again.
    settings: Vec<String>,
    owner: Option<(u32, u32)>,
    /// Kept for its Drop, which removes the directory.
    _dir: tempfile::TempDir,
    /// The binaries it runs.
    pub binaries: Binaries,
}

impl Cluster {
    /// Starts a cluster from the cached template.
    pub async fn start(bins: &Binaries) -> Result<Cluster> {
        Cluster::start_with(bins, 5432, &[], &|_| Ok(())).await
    }

    /// Starts a cluster on `port` with more `-c` settings, after `prepare`
    /// has written what they need into its data directory (certificates,
    /// `pg_hba.conf`): the TLS tests' server.
    pub async fn start_with(
        bins: &Binaries,
        port: u16,
        settings: &[(&str, &str)],
        prepare: &dyn Fn(&Path) -> Result<()>,
    ) -> Result<Cluster> {
        let owner = unprivileged_user()?;
        let template = template(bins, owner)?;
        Cluster::start_copy(bins, &template, None, port, settings, prepare).await
    }

    /// Starts a cluster from a copy of `data`, the data directory of a
    /// cluster of `bins` that was shut down cleanly (see
    /// [`Cluster::save_data`]), whose files hold `bytes`: a copy that reads
    /// fewer (the directory was being removed) is an error.
    pub async fn start_from(bins: &Binaries, data: &Path, bytes: u64) -> Result<Cluster> {
        Cluster::start_copy(bins, data, Some(bytes), 5432, &[], &|_| Ok(())).await
    }

    async fn start_copy(
        bins: &Binaries,
        from: &Path,
        bytes: Option<u64>,
        port: u16,
        settings: &[(&str, &str)],
        prepare: &dyn Fn(&Path) -> Result<()>,
    ) -> Result<Cluster> {
        let owner = unprivileged_user()?;
        let dir = cluster_dir()?;
        let data = dir.path().join("data");
        let copied = copy_tree(from, &data)?;
        if bytes.is_some_and(|b| b != copied) {
            bail!("{} was cut short while it was copied", from.display());
        }
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))?;
        prepare(&data)?;
        chown_tree(dir.path(), owner)?;
        let settings: Vec<String> = settings
            .iter()
            .flat_map(|(k, v)| ["-c".to_string(), format!("{k}={v}")])
            .collect();
        let child = spawn(bins, &data, dir.path(), port, &settings, owner)?;
        let mut cluster = Cluster {
            child,
            socket_dir: dir.path().to_path_buf(),
            port,
            data,
            settings,
            owner,
            _dir: dir,
            binaries: bins.clone(),
        };
        cluster.wait_ready().await?;
        Ok(cluster)
    }

    /// Shuts the cluster down cleanly, copies its data directory to `to`
    /// (which must not exist), and starts it again; returns the bytes
    /// copied, None when the copy failed. Every connection to it is ended.
    /// Once shut down the files hold everything, so the copy starts as the
    /// cluster was; of the WAL only the oldest segments are copied, which
    /// hold the shutdown checkpoint (see [`copy_data`]). An error means it
    /// did not start again.
    pub async fn save_data(&mut self, to: &Path) -> Result<Option<u64>> {
        // SIGINT is a fast shutdown: sessions end, then a checkpoint.
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                bail!("the scratch PostgreSQL server did not shut down within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let copied = if status.success() {
            let (from, to) = (self.data.clone(), to.to_path_buf());
            // Off the runtime: at 10 000 tables this is 420 MB.
            tokio::task::spawn_blocking(move || copy_data(&from, &to).ok())
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        self.child = spawn(
            &self.binaries,
            &self.data,
            &self.socket_dir,
            self.port,
            &self.settings,
            self.owner,
        )?;
        self.wait_ready().await?;
        Ok(copied)
    }

    /// Starts a streaming standby of this cluster on `port` (the
    /// replication tests' standby): a base backup taken through SQL (a
    /// non-exclusive backup, the data directory copied while it runs, its
    /// label written into the copy), a physical replication slot that keeps
    /// the WAL the standby needs, then a server on the copy that streams
    /// from this one. No `pg_basebackup` binary is needed.
    pub async fn start_standby(&self, port: u16) -> Result<Cluster> {
        let client = conninfo::connect(&self.config("postgres")).await?;
        let major = client
            .query_one(
                "SELECT current_setting('server_version_num')::int / 10000",
                &[],
            )
            .await?
            .get::<_, i32>(0);
        let slot = format!("stratum_standby_{port}");
        client
            .query(
                "SELECT pg_create_physical_replication_slot($1, true)",
                &[&slot],
            )
            .await
            .context("creating the standby's replication slot")?;
        let (start, stop) = match major {
            ..=14 => (
                "SELECT pg_start_backup('stratum standby', true, false)",
                "SELECT labelfile FROM pg_stop_backup(false, false)",
            ),
            _ => (
                "SELECT pg_backup_start('stratum standby', true)",
                "SELECT labelfile FROM pg_backup_stop(false)",
            ),
        };
        client.batch_execute(start).await?;
        let dir = cluster_dir()?;
        let data = dir.path().join("data");
        let copied = copy_live(&self.data, &data);
        let label: String = client.query_one(stop, &[]).await?.get(0);
        copied?;
        std::fs::write(data.join("backup_label"), label)?;
        std::fs::write(data.join("standby.signal"), "")?;
        let auto = data.join("postgresql.auto.conf");
        let mut conf = std::fs::read_to_string(&auto).unwrap_or_default();
        conf.push_str(&format!(
            "primary_conninfo = 'host={} port={} user=stratum application_name=standby_{port}'\n\
             primary_slot_name = '{slot}'\n",
            self.socket_dir.display(),
            self.port
        ));
        std::fs::write(&auto, conf)?;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))?;
        chown_tree(dir.path(), self.owner)?;
        let child = spawn(
            &self.binaries,
            &data,
            dir.path(),
            port,
            &self.settings,
            self.owner,
        )?;
        let mut standby = Cluster {
            child,
            socket_dir: dir.path().to_path_buf(),
            port,
            data,
            settings: self.settings.clone(),
            owner: self.owner,
            _dir: dir,
            binaries: self.binaries.clone(),
        };
        standby.wait_ready().await?;
        Ok(standby)
    }

    /// A config for database `dbname` on this cluster.
    pub fn config(&self, dbname: &str) -> Config {
        let mut config = Config::new();
        config
            .host_path(&self.socket_dir)
            .port(self.port)
            .user("stratum")
            .dbname(dbname)
            .application_name("stratum");
        config
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                let log =
                    std::fs::read_to_string(self.socket_dir.join("server.log")).unwrap_or_default();
                bail!(
                    "the scratch PostgreSQL server exited ({status}):\n{}",
                    log.trim()
                );
            }
            if self
                .socket_dir
                .join(format!(".s.PGSQL.{}", self.port))
                .exists()
                && conninfo::connect(&self.config("postgres")).await.is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the scratch PostgreSQL server did not start within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // One that already exited (a restart that failed) is not signalled:
        // its pid may be another process's by now.
        if matches!(self.child.try_wait(), Ok(None)) {
            // SIGQUIT is an immediate shutdown: nothing here is worth
            // keeping.
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, libc::SIGQUIT);
            }
        }
        let _ = self.child.wait();
    }
}
