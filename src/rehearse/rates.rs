//! The rates a rehearsal measured, kept per database beside the read
//! cache (`rates/`, one JSON file named by a digest of the database's URL
//! with its password left out), so that the hazard estimates of later plans
//! against the same database use them instead of the assumed ones.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::{Rehearsal, Work};
use crate::hazard::{Rate, Rates};

/// Work below this size on the copy says more about fixed costs than about
/// throughput: it measures nothing.
const MIN_BYTES: i64 = 256 * 1024;

/// The throughput `rehearsal` observed, by kind of work: the bytes of the
/// tables (with their indexes) over the seconds the steps took, for steps
/// on tables large enough on the copy; measured on day `on`.
pub fn measured(rehearsal: &Rehearsal) -> Rates {
    let mut sums: [(f64, f64); 3] = [(0.0, 0.0); 3];
    for step in &rehearsal.steps {
        let Some(work) = step.work else { continue };
        let Some(table) = rehearsal
            .tables
            .iter()
            .find(|t| Some(&t.table) == step.table.as_ref())
        else {
            continue;
        };
        if table.copy_bytes < MIN_BYTES || step.ms <= 0.0 {
            continue;
        }
        let slot = &mut sums[work as usize];
        slot.0 += table.copy_bytes as f64;
        slot.1 += step.ms / 1000.0;
    }
    let rate = |(bytes, seconds): (f64, f64)| {
        (seconds > 0.0).then(|| Rate {
            mb_per_s: ((bytes / seconds / 1_048_576.0) * 10.0).round() / 10.0,
            on: rehearsal.on.clone(),
        })
    };
    Rates {
        rewrite: rate(sums[Work::Rewrite as usize]),
        index_build: rate(sums[Work::IndexBuild as usize]),
        scan: rate(sums[Work::Scan as usize]),
    }
}

/// Where the rates of the database at `url` are kept; None when the cache
/// is off.
fn path(url: &str) -> Option<PathBuf> {
    let dir = crate::catalog_cache::cache_dir(Some("rates"))?;
    let key = Sha256::digest(crate::conninfo::redact(url).as_bytes());
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    Some(dir.join(format!("{hex}.json")))
}

/// The rates last measured on the database at `url` (none when never, or
/// when the cache is off or unreadable).
pub fn load(url: &str) -> Rates {
    path(url)
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Keeps `new` for the database at `url`: each kind measured now replaces
/// the one measured before, the others stay. Written by rename; a cache
/// that cannot be written is no error (estimates then stay assumed).
pub fn save(url: &str, new: &Rates) -> Option<PathBuf> {
    let path = path(url)?;
    let old = load(url);
    let merged = Rates {
        rewrite: new.rewrite.clone().or(old.rewrite),
        index_build: new.index_build.clone().or(old.index_build),
        scan: new.scan.clone().or(old.scan),
    };
    std::fs::create_dir_all(path.parent()?).ok()?;
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temp, serde_json::to_vec_pretty(&merged).ok()?).ok()?;
    std::fs::rename(&temp, &path).ok()?;
    Some(path)
}

/// What a rehearsal says of the rates it measured.
pub fn said(rates: &Rates) -> Option<String> {
    let parts: Vec<String> = [
        ("rewrites", &rates.rewrite),
        ("index builds", &rates.index_build),
        ("scans", &rates.scan),
    ]
    .iter()
    .filter_map(|(what, rate)| {
        rate.as_ref()
            .map(|r| format!("{what} {:.1} MB/s", r.mb_per_s))
    })
    .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "Measured on the copy: {}; plans against this database estimate with them from \
             now on.\n",
            parts.join(", ")
        )
    })
}
