//! What runs that died left behind, and how to recognise it: an embedded
//! cluster's directory after a SIGKILL (the kernel stops its server, but
//! the directory stays), and scratch databases and stub roles on a
//! `--dev-url` server. Each carries its owner's mark (host, pid and the
//! pid's start time, so a reused pid is not taken for the owner); the next
//! run removes what belongs to a process of this machine that is gone, and
//! never what a live run uses.

use std::path::Path;

use tokio_postgres::Client;

/// The file in a cluster directory that holds its owner's mark.
pub const OWNER_FILE: &str = "stratum.owner";

/// The comment that marks a stub role, followed by its database's name.
pub const STUB_ROLE_COMMENT: &str = "stratum stub role for scratch database ";

/// This process's mark: `<host>_<pid>_<start time>`.
pub fn owner_mark() -> String {
    let pid = std::process::id();
    format!("{}_{pid}_{}", host_id(), start_time(pid).unwrap_or(0))
}

/// A short id of this machine (a hash of its hostname), to tell its own
/// runs' databases on a shared server from other machines'.
fn host_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    // FNV-1a: stable across runs and Rust versions, unlike DefaultHasher.
    let hash = name.trim().bytes().fold(0x811c9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}")
}

/// A process's start time in clock ticks since boot (`/proc/<pid>/stat`).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `mark` is a process of this machine that has died. A mark of
/// another machine, or one that cannot be read, is never dead.
fn dead(mark: &str) -> bool {
    let mut parts = mark.trim().split('_');
    let (Some(host), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    host == host_id() && start_time(pid) != Some(start)
}

/// Removes the cluster directories in `parent` whose owner has died and
/// whose server is no longer running.
pub fn remove_dead_clusters(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry
            .file_name()
            .to_string_lossy()
            .starts_with("stratum-pg-");
        let Ok(mark) = std::fs::read_to_string(path.join(OWNER_FILE)) else {
            continue;
        };
        if ours && dead(&mark) && !server_running(&path.join("data")) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Whether the postmaster of `data` still runs.
fn server_running(data: &Path) -> bool {
    let Ok(pidfile) = std::fs::read_to_string(data.join("postmaster.pid")) else {
        return false;
    };
    let Some(pid) = pidfile
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<i32>().ok())
    else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// The name of scratch database `n` of this run.
pub fn database_name(n: u32) -> String {
    format!("stratum_scratch_{}_{n}", owner_mark())
}

/// Drops, on a `--dev-url` server, the scratch databases of dead runs of
/// this machine that no session uses, then the stub roles whose database is
/// gone. Errors are ignored: a database someone connects to meanwhile stays.
pub async fn clean_dev_server(client: &Client) {
    let leftovers = client
        .query(
            "SELECT d.datname::text FROM pg_catalog.pg_database d \
             WHERE d.datname LIKE 'stratum\\_scratch\\_%' AND NOT EXISTS \
               (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.datname = d.datname)",
            &[],
        )
        .await
        .unwrap_or_default();
    for row in leftovers {
        let name: String = row.get(0);
        let mark = name.trim_start_matches("stratum_scratch_");
        if dead(mark.rsplit_once('_').map_or("", |(m, _)| m)) {
            let _ = client
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {}",
                    crate::sql::ident(&name)
                ))
                .await;
        }
    }
    drop_orphan_stub_roles(client).await;
}

/// Drops the stub roles whose scratch database no longer exists.
pub async fn drop_orphan_stub_roles(client: &Client) {
    let roles = client
        .query(
            "SELECT r.rolname::text FROM pg_catalog.pg_roles r \
             JOIN pg_catalog.pg_shdescription c \
               ON c.objoid = r.oid AND c.classoid = 'pg_catalog.pg_authid'::regclass \
             WHERE starts_with(c.description, $1) AND NOT EXISTS \
               (SELECT 1 FROM pg_catalog.pg_database d \
                WHERE d.datname = substr(c.description, length($1) + 1))",
            &[&STUB_ROLE_COMMENT],
        )
        .await
        .unwrap_or_default();
    for row in roles {
        let role: String = row.get(0);
        let _ = client
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", crate::sql::ident(&role)))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_dead() {
        assert!(!dead(&owner_mark()));
        let gone = format!("{}_{}_{}", host_id(), u32::MAX - 1, 1);
        assert!(dead(&gone));
        // Another machine's runs are never judged here.
        assert!(!dead(&format!("00000000_{}_1", u32::MAX - 1)));
        assert!(!dead("garbage"));
        assert!(database_name(7).len() < 64);
    }
}
