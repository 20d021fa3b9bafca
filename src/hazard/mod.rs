//! Hazards: what a step may do to data, locks and running traffic.
//!
//! Each hazard has a stable kebab-case code that users allow by name, and a
//! message that names the object and, when the current side is a live
//! database, its estimated rows and size. Which change has which hazard is
//! decided by its kind's module (`kinds`); this module holds the vocabulary.

mod approval;

pub use approval::{flags_for, Approval, Approvals};

use serde::Serialize;

/// A stable hazard code.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum HazardCode {
    /// Data is removed and cannot be recovered from the database.
    DataLoss,
    /// The table is rewritten: time and disk grow with its size.
    TableRewrite,
    /// Takes an ACCESS EXCLUSIVE lock for as long as the step runs.
    AccessExclusiveLock,
    /// Reads every row of the table while holding a lock.
    FullTableScan,
    /// Builds an index without CONCURRENTLY, blocking writes meanwhile.
    IndexBuild,
    /// Drops an index that queries may rely on.
    IndexDropped,
    /// Changes who may see or change which rows: row level security flags
    /// and policies.
    AuthzChange,
    /// Breaks the application version still running: it uses a name or a
    /// type the step changes under it.
    AppCompat,
}

impl HazardCode {
    /// The code written `text` (`data-loss`), if it is one.
    pub fn parse(text: &str) -> Option<HazardCode> {
        <HazardCode as clap::ValueEnum>::value_variants()
            .iter()
            .copied()
            .find(|c| c.as_str() == text)
    }

    /// The code as users write it, e.g. `data-loss`.
    pub fn as_str(self) -> &'static str {
        match self {
            HazardCode::DataLoss => "data-loss",
            HazardCode::TableRewrite => "table-rewrite",
            HazardCode::AccessExclusiveLock => "access-exclusive-lock",
            HazardCode::FullTableScan => "full-table-scan",
            HazardCode::IndexBuild => "index-build",
            HazardCode::IndexDropped => "index-dropped",
            HazardCode::AuthzChange => "authz-change",
            HazardCode::AppCompat => "app-compat",
        }
    }
}

/// One hazard of one step.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Hazard {
    /// Its code.
    pub code: HazardCode,
    /// What it means here (with the table's facts, when known).
    pub message: String,
    /// The lock the step takes on its table and, on a live database, the
    /// table's size and an estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableFacts>,
}

impl Hazard {
    /// A hazard with this code and message.
    pub fn new(code: HazardCode, message: impl Into<String>) -> Hazard {
        Hazard {
            code,
            message: message.into(),
            table: None,
        }
    }

    /// Adds what the step does to its table: the lock it takes, and on a
    /// live database the table's rows and size with an estimated duration
    /// (`size` as estimated rows, or negative before ANALYZE, and bytes).
    /// To the message as ` (about 12 034 rows, 1.2 MB; ACCESS EXCLUSIVE
    /// lock: reads and writes wait; about 40 s at 100 MB/s)`, and as fields.
    pub fn with_facts(
        mut self,
        table: &str,
        size: Option<(f64, i64)>,
        lock: Option<LockMode>,
        rates: &Rates,
    ) -> Hazard {
        let counted = size.and_then(|(rows, _)| (rows >= 0.0).then(|| rows.round() as u64));
        let mut parts = Vec::new();
        if let Some((_, bytes)) = size {
            parts.push(format!(
                "{}, {}",
                counted.map_or("rows not yet counted by ANALYZE".to_string(), |n| format!(
                    "about {} rows",
                    group_digits(n)
                )),
                human_size(bytes)
            ));
        }
        if let Some(lock) = lock {
            parts.push(format!("{} lock: {}", lock.name(), lock.blocks()));
        }
        // What the work reads or writes per second, stated with the
        // estimate: the rate a rehearsal measured on this server, or an
        // assumed one.
        let assumed = match self.code {
            HazardCode::TableRewrite | HazardCode::IndexBuild => Some(100.0),
            HazardCode::FullTableScan => Some(250.0),
            _ => None,
        };
        let rate = match (rates.of(self.code), assumed) {
            (Some(r), Some(_)) => Some((
                r.mb_per_s,
                format!(
                    "{:.1} MB/s, measured by a rehearsal on {}",
                    r.mb_per_s, r.on
                ),
            )),
            (None, Some(mb)) => Some((mb, format!("{mb} MB/s"))),
            _ => None,
        };
        let estimate = rate
            .zip(size)
            .map(|((mb, said), (_, bytes))| (bytes as f64 / (mb * 1_048_576.0), said));
        if let Some((seconds, said)) = &estimate {
            parts.push(format!("{} at {said}", duration(*seconds)));
        }
        if parts.is_empty() {
            return self;
        }
        self.message = format!("{} ({})", self.message, parts.join("; "));
        self.table = Some(TableFacts {
            table: table.to_string(),
            rows: counted,
            bytes: size.map(|(_, b)| b),
            lock: lock.map(|l| l.name().to_string()),
            estimate_seconds: estimate.as_ref().map(|(s, _)| (s * 10.0).round() / 10.0),
            assumption: estimate.map(|(_, said)| said),
        });
        self
    }
}

/// Throughput a rehearsal measured on a server, by kind of work, which
/// hazard estimates use instead of the assumed rates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Rates {
    /// Rewriting a table and its indexes.
    pub rewrite: Option<Rate>,
    /// Building an index.
    pub index_build: Option<Rate>,
    /// Reading a table (a validation, SET NOT NULL, a constraint added).
    pub scan: Option<Rate>,
}

/// One measured rate.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Rate {
    /// MiB of table (with its indexes and TOAST) per second.
    pub mb_per_s: f64,
    /// The day it was measured (`2026-12-07`).
    pub on: String,
}

impl Rates {
    /// The rate of the work a hazard of `code` stands for, if measured.
    pub fn of(&self, code: HazardCode) -> Option<&Rate> {
        match code {
            HazardCode::TableRewrite => self.rewrite.as_ref(),
            HazardCode::IndexBuild => self.index_build.as_ref(),
            HazardCode::FullTableScan => self.scan.as_ref(),
            _ => None,
        }
    }
}

/// What a step does to its table, under a hazard.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TableFacts {
    /// The table, `schema.name`.
    pub table: String,
    /// Estimated rows (`pg_class.reltuples`); None before the first ANALYZE
    /// or when the current side is not a live database.
    pub rows: Option<u64>,
    /// Table, indexes and TOAST, in bytes, on a live database.
    pub bytes: Option<i64>,
    /// The strongest lock the step takes on it, as PostgreSQL names it.
    pub lock: Option<String>,
    /// Estimated seconds of a rewrite, scan or index build.
    pub estimate_seconds: Option<f64>,
    /// The rate the estimate assumes, e.g. `100 MB/s`.
    pub assumption: Option<String>,
}

/// `under 1 s`, `about 40 s`, `about 12 min`, `about 3 h`.
pub(crate) fn duration(seconds: f64) -> String {
    if seconds < 1.0 {
        "under 1 s".to_string()
    } else if seconds < 90.0 {
        format!("about {} s", seconds.round())
    } else if seconds < 5400.0 {
        format!("about {} min", (seconds / 60.0).round())
    } else {
        format!("about {} h", (seconds / 3600.0).round())
    }
}

pub(crate) fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

pub(crate) fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// A table lock mode, weakest first (the ones schema changes take).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockMode {
    /// Blocks other schema changes and VACUUM; reads and writes go on.
    ShareUpdateExclusive,
    /// Blocks writes; reads go on.
    Share,
    /// Blocks writes and other schema changes; reads go on.
    ShareRowExclusive,
    /// Blocks everything, reads included.
    AccessExclusive,
}

impl LockMode {
    /// The mode as PostgreSQL's documentation names it.
    pub fn name(self) -> &'static str {
        match self {
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// What waits while it is held.
    pub fn blocks(self) -> &'static str {
        match self {
            LockMode::ShareUpdateExclusive => "reads and writes go on",
            LockMode::Share | LockMode::ShareRowExclusive => "writes wait",
            LockMode::AccessExclusive => "reads and writes wait",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_counts_and_sizes() {
        assert_eq!(group_digits(12034), "12 034");
        assert_eq!(group_digits(999), "999");
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(8192), "8.0 kB");
        assert_eq!(duration(0.2), "under 1 s");
        assert_eq!(duration(40.4), "about 40 s");
        assert_eq!(duration(700.0), "about 12 min");
    }

    #[test]
    fn facts_say_rows_size_lock_and_estimate() {
        let h = Hazard::new(HazardCode::TableRewrite, "rewrites t").with_facts(
            "public.t",
            Some((12034.0, 4 * 1_048_576_000)),
            Some(LockMode::AccessExclusive),
            &Rates::default(),
        );
        assert_eq!(
            h.message,
            "rewrites t (about 12 034 rows, 3.9 GB; ACCESS EXCLUSIVE lock: reads and writes wait; \
             about 40 s at 100 MB/s)"
        );
        let facts = h.table.unwrap();
        assert_eq!(facts.estimate_seconds, Some(40.0));
        assert_eq!(facts.assumption.as_deref(), Some("100 MB/s"));
    }

    #[test]
    fn a_measured_rate_replaces_the_assumed_one_and_says_so() {
        let rates = Rates {
            rewrite: Some(Rate {
                mb_per_s: 50.0,
                on: "2026-12-07".into(),
            }),
            ..Rates::default()
        };
        let h = Hazard::new(HazardCode::TableRewrite, "rewrites t").with_facts(
            "public.t",
            Some((12034.0, 4 * 1_048_576_000)),
            None,
            &rates,
        );
        assert_eq!(
            h.message,
            "rewrites t (about 12 034 rows, 3.9 GB; about 80 s at 50.0 MB/s, measured by a \
             rehearsal on 2026-12-07)"
        );
        // A scan has no measured rate here: the assumed one.
        let h = Hazard::new(HazardCode::FullTableScan, "reads t").with_facts(
            "public.t",
            Some((1.0, 250 * 1_048_576)),
            None,
            &rates,
        );
        assert!(
            h.message.ends_with("about 1 s at 250 MB/s)"),
            "{}",
            h.message
        );
    }
}
