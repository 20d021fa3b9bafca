//! Hazards: what a step may do to data, locks and running traffic.
//!
//! Each hazard has a stable kebab-case code that users allow by name, and a
//! message that names the object and, when the current side is a live
//! database, its estimated rows and size. Which change has which hazard is
//! decided by its kind's module (`kinds`); this module holds the vocabulary.

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
}

impl HazardCode {
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
        }
    }
}

/// One hazard of one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Hazard {
    /// Its code.
    pub code: HazardCode,
    /// What it means here.
    pub message: String,
}

impl Hazard {
    /// A hazard with this code and message.
    pub fn new(code: HazardCode, message: impl Into<String>) -> Hazard {
        Hazard {
            code,
            message: message.into(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_counts_and_sizes() {
        assert_eq!(group_digits(12034), "12 034");
        assert_eq!(group_digits(999), "999");
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(8192), "8.0 kB");
    }
}
