//! The scratch server that desired SQL is loaded into: a server given with
//! `--dev-url`, or a throwaway cluster stratum starts from local PostgreSQL
//! binaries.
//!
//! The embedded cluster lives in a temp dir (in memory where the machine
//! has `/dev/shm`; see [`cluster_dir`]), listens on a Unix socket only,
//! runs without fsync, and is stopped and removed when dropped (on success,
//! error or Ctrl-C). It starts from a copy of an initdb'ed template kept in
//! the user's cache dir, which is much faster than running initdb each time.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tokio_postgres::{Client, Config};

use crate::conninfo::{self, Target};

mod leftovers;

pub use leftovers::{clean_dev_server, STUB_ROLE_COMMENT};

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

/// Removes the cluster directories of dead runs where new clusters go. A
/// new cluster does that anyway; a run that needs none (its loads were
/// cached) calls this, so that a killed run's directory, in memory under
/// `/dev/shm`, does not wait for the next run that starts a server.
pub fn remove_dead_cluster_dirs() {
    match std::env::var_os("STRATUM_SCRATCH_DIR") {
        Some(parent) => leftovers::remove_dead_clusters(Path::new(&parent)),
        None => {
            leftovers::remove_dead_clusters(Path::new("/dev/shm"));
            leftovers::remove_dead_clusters(&std::env::temp_dir());
        }
    }
}

/// PostgreSQL server binaries found on this machine.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// Directory holding `initdb` and `postgres`.
    pub bindir: PathBuf,
    /// Full version, e.g. `15.18`.
    pub version: String,
    /// Major version, e.g. 15.
    pub major: u32,
}

const INSTALL_HINT: &str =
    "install PostgreSQL server binaries (Debian/Ubuntu: `apt-get install postgresql`; \
     macOS: `brew install postgresql`), point STRATUM_PG_BIN at their bin directory, \
     or pass --dev-url postgres://... for a server where stratum may create scratch databases";

/// The binaries in `bindir`, asked once per process: `postgres --version`
/// costs 50 ms or more, and a run asks for each scratch server it starts,
/// for each cache key and for each replay's checkpoints.
fn version_of(bindir: &Path) -> Option<Binaries> {
    static ASKED: std::sync::Mutex<Vec<(PathBuf, Option<Binaries>)>> =
        std::sync::Mutex::new(Vec::new());
    if let Some((_, found)) = ASKED
        .lock()
        .expect("binaries asked")
        .iter()
        .find(|(dir, _)| dir == bindir)
    {
        return found.clone();
    }
    let found = ask_version(bindir);
    ASKED
        .lock()
        .expect("binaries asked")
        .push((bindir.to_path_buf(), found.clone()));
    found
}

fn ask_version(bindir: &Path) -> Option<Binaries> {
    if !bindir.join("initdb").is_file() {
        return None;
    }
    let out = Command::new(bindir.join("postgres"))
        .arg("--version")
        .output()
        .ok()?;
    // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().nth(2)?.to_string();
    let major = version.split(['.', 'b', 'r']).next()?.parse().ok()?;
    Some(Binaries {
        bindir: bindir.to_path_buf(),
        version,
        major,
    })
}

/// Finds server binaries: `STRATUM_PG_BIN`, else `pg_config --bindir`, `PATH`
/// and `/usr/lib/postgresql/*/bin`, preferring `major` when given, else the
/// newest.
pub fn find_binaries(major: Option<u32>) -> Result<Binaries> {
    if let Some(dir) = std::env::var_os("STRATUM_PG_BIN") {
        let dir = PathBuf::from(dir);
        return version_of(&dir).ok_or_else(|| {
            anyhow!(
                "STRATUM_PG_BIN={} holds no initdb and postgres; {INSTALL_HINT}",
                dir.display()
            )
        });
    }
    let mut found = installed_binaries();
    found.sort_by_key(|b| (Some(b.major) == major, b.major));
    found.pop().ok_or_else(|| {
        anyhow!("no PostgreSQL server binaries (initdb, postgres) found; {INSTALL_HINT}")
    })
}

/// Every set of server binaries on `pg_config --bindir`, `PATH` and
/// `/usr/lib/postgresql/*/bin`, once each, newest major last.
pub fn installed_binaries() -> Vec<Binaries> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        dirs.extend(entries.flatten().map(|e| e.path().join("bin")));
    }
    // Ask each distinct directory once: `postgres --version` costs ~50 ms.
    let mut seen = std::collections::HashSet::new();
    let mut found: Vec<Binaries> = dirs
        .iter()
        .filter_map(|d| std::fs::canonicalize(d.join("postgres")).ok())
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .filter(|d| seen.insert(d.clone()))
        .filter_map(|d| version_of(&d))
        .collect();
    found.sort_by_key(|b| b.major);
    found
}

/// What `stratum --version` says after the version: the server binaries
/// stratum would start scratch clusters from.
pub fn binaries_report() -> String {
    let mut lines = Vec::new();
    if let Some(dir) = std::env::var_os("STRATUM_PG_BIN") {
        let dir = PathBuf::from(dir);
        lines.push(match version_of(&dir) {
            Some(b) => format!(
                "PostgreSQL {} in {} (STRATUM_PG_BIN)",
                b.version,
                dir.display()
            ),
            None => format!(
                "STRATUM_PG_BIN={} holds no initdb and postgres",
                dir.display()
            ),
        });
    }
    for b in installed_binaries() {
        lines.push(format!(
            "PostgreSQL {} in {}",
            b.version,
            b.bindir.display()
        ));
    }
    if lines.is_empty() {
        lines.push(format!(
            "no PostgreSQL server binaries found: {INSTALL_HINT}"
        ));
    }
    format!("scratch servers: {}", lines.join("\n                 "))
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

/// The major version of the `--dev-url` server at `url`, and what stands
/// for it in the catalog cache's key: its address, its full version, when it
/// started and last read its configuration, the extensions it offers, and
/// the settings given to every role and to the connecting one. A restart, an
/// upgrade, a configuration reload, a newly installed extension or an
/// `ALTER ROLE ... SET` makes new keys, so a cached catalog is one this
/// server would print now. Which other roles exist is left out: a load makes
/// a stub for a role that is missing, and a catalog names roles only. None
/// when the server cannot be reached or asked.
pub async fn dev_identity(url: &str) -> Option<(u32, String)> {
    let client = conninfo::connect_target(&conninfo::config(url).ok()?)
        .await
        .ok()?;
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int, pg_catalog.version(), \
               pg_catalog.pg_postmaster_start_time()::text, pg_catalog.pg_conf_load_time()::text, \
               (SELECT pg_catalog.string_agg(name || ' ' || version, ',' ORDER BY name, version) \
                  FROM pg_catalog.pg_available_extension_versions), \
               (SELECT pg_catalog.string_agg(s.setrole || ' ' || s.setconfig::text, ',' ORDER BY s.setrole) \
                  FROM pg_catalog.pg_db_role_setting s WHERE s.setdatabase = 0 \
                   AND s.setrole IN (0, (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)))",
            &[],
        )
        .await
        .ok()?;
    let version: i32 = row.get(0);
    let key = format!(
        "dev {url}\0{}\0{}\0{}\0{}\0{}",
        row.get::<_, String>(1),
        row.get::<_, String>(2),
        row.get::<_, String>(3),
        row.get::<_, Option<String>>(4).unwrap_or_default(),
        row.get::<_, Option<String>>(5).unwrap_or_default()
    );
    Some(((version / 10000) as u32, key))
}

/// Where scratch databases are made.
pub enum ScratchServer {
    /// The embedded cluster.
    Embedded(Cluster),
    /// A user's server given with `--dev-url`.
    Dev(Box<Target>),
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A temporary database on the scratch server.
pub struct ScratchDb {
    /// Its name.
    pub name: String,
    /// Where to connect to it.
    pub config: Target,
    admin: Target,
}

impl ScratchServer {
    /// Starts the embedded cluster, or uses `dev_url` when given.
    ///
    /// Exactness needs both sides printed by the same PostgreSQL: when the
    /// target runs `major`, a scratch server of another major is an error
    /// unless `any_major` allows it.
    pub async fn start(
        dev_url: Option<&str>,
        major: Option<u32>,
        any_major: bool,
    ) -> Result<ScratchServer> {
        Ok(ScratchServer::start_from(dev_url, major, any_major, None)
            .await?
            .0)
    }

    /// [`ScratchServer::start`], the embedded cluster from a copy of data
    /// directory `data` holding that many bytes (see
    /// [`Cluster::start_from`]) when given; says whether it did. One that
    /// does not start is left for a fresh cluster.
    pub async fn start_from(
        dev_url: Option<&str>,
        major: Option<u32>,
        any_major: bool,
        data: Option<(&Path, u64)>,
    ) -> Result<(ScratchServer, bool)> {
        let mut resumed = false;
        let (server, found_major, found) = match dev_url {
            Some(url) => {
                let config = conninfo::config(url)?;
                let client = conninfo::connect_target(&config).await?;
                clean_dev_server(&client).await;
                let version: i32 = client
                    .query_one("SELECT current_setting('server_version_num')::int", &[])
                    .await?
                    .get(0);
                let found = format!("the --dev-url server runs PostgreSQL {}", version / 10000);
                (
                    ScratchServer::Dev(Box::new(config)),
                    (version / 10000) as u32,
                    found,
                )
            }
            None => {
                let bins = find_binaries(major)?;
                let found = format!(
                    "the server binaries found ({}) are PostgreSQL {}",
                    bins.bindir.display(),
                    bins.major
                );
                let copy = match data {
                    Some((data, bytes)) => Cluster::start_from(&bins, data, bytes).await.ok(),
                    None => None,
                };
                resumed = copy.is_some();
                let cluster = match copy {
                    Some(cluster) => cluster,
                    None => Cluster::start(&bins).await?,
                };
                (ScratchServer::Embedded(cluster), bins.major, found)
            }
        };
        if let Some(target) = major.filter(|m| *m != found_major && !any_major) {
            bail!(
                "the target database runs PostgreSQL {target}, but {found}: both sides must be \
                 printed by the same major version for an exact diff. Point STRATUM_PG_BIN at \
                 PostgreSQL {target}'s bin directory, pass --dev-url for a PostgreSQL {target} \
                 server, or accept the difference with --allow-major-mismatch \
                 (allow_major_mismatch: true in stratum.yaml)"
            );
        }
        Ok((server, resumed))
    }

    /// The embedded cluster, None for a `--dev-url` server.
    pub fn cluster_mut(&mut self) -> Option<&mut Cluster> {
        match self {
            ScratchServer::Embedded(cluster) => Some(cluster),
            ScratchServer::Dev(_) => None,
        }
    }

    /// A connection to the server's maintenance database.
    pub async fn admin(&self) -> Result<Client> {
        conninfo::connect_target(&self.admin_config()).await
    }

    fn admin_config(&self) -> Target {
        match self {
            ScratchServer::Embedded(c) => c.config("postgres").into(),
            ScratchServer::Dev(target) => (**target).clone(),
        }
    }

    /// Takes database `existing` of the embedded cluster (one its data
    /// directory was copied with) as a scratch database, under a name of
    /// this run.
    pub async fn adopt_db(&self, existing: &str) -> Result<ScratchDb> {
        let admin = self.admin_config();
        let name = leftovers::database_name(COUNTER.fetch_add(1, Ordering::Relaxed));
        let client = conninfo::connect_target(&admin).await?;
        client
            .batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {name}",
                crate::sql::ident(existing)
            ))
            .await
            .with_context(|| format!("taking database {existing} as a scratch database"))?;
        let config = admin.with_dbname(&name);
        Ok(ScratchDb {
            name,
            config,
            admin,
        })
    }

    /// Creates an empty database (from template0).
    pub async fn create_db(&self) -> Result<ScratchDb> {
        let admin = self.admin_config();
        let name = leftovers::database_name(COUNTER.fetch_add(1, Ordering::Relaxed));
        let client = conninfo::connect_target(&admin).await?;
        let version: i32 = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await?
            .get(0);
        // FILE_COPY (PostgreSQL 15+) copies the template's files instead of
        // writing every block through the WAL: much faster for a small one.
        let strategy = if version >= 150000 {
            " STRATEGY = FILE_COPY"
        } else {
            ""
        };
        client
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'{strategy}"
            ))
            .await
            .with_context(|| format!("creating scratch database {name}"))?;
        let config = admin.with_dbname(&name);
        if let ScratchServer::Dev(_) = self {
            LIVE_ON_DEV
                .lock()
                .expect("scratch database list")
                .push((admin.clone(), name.clone()));
        }
        Ok(ScratchDb {
            name,
            config,
            admin,
        })
    }
}

impl ScratchDb {
    /// Connects to the database.
    pub async fn connect(&self) -> Result<Client> {
        conninfo::connect_target(&self.config).await
    }

    /// Drops the database.
    pub async fn drop_db(self) -> Result<()> {
        let client = conninfo::connect_target(&self.admin).await?;
        client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .with_context(|| format!("dropping scratch database {}", self.name))?;
        LIVE_ON_DEV
            .lock()
            .expect("scratch database list")
            .retain(|(_, name)| *name != self.name);
        Ok(())
    }
}

/// Scratch databases this process made on `--dev-url` servers and has not
/// dropped yet, for [`clean_up_interrupted`].
static LIVE_ON_DEV: std::sync::Mutex<Vec<(Target, String)>> = std::sync::Mutex::new(Vec::new());

/// After Ctrl-C stopped the work (an embedded cluster goes with it): drops
/// the scratch databases left on `--dev-url` servers, and their stub roles.
pub async fn clean_up_interrupted() {
    let live = std::mem::take(&mut *LIVE_ON_DEV.lock().expect("scratch database list"));
    for (admin, name) in live {
        if let Ok(client) = conninfo::connect_target(&admin).await {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            leftovers::drop_orphan_stub_roles(&client).await;
        }
    }
}
