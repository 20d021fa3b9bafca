//! What a rollout is made of and how it ends: its waves, each target's
//! verdict, why it stopped early.

use serde::Serialize;

/// The label of the wave of the databases' shared parts, which goes
/// first, and stops the rollout when one fails.
pub const SHARED: &str = "shared parts";

/// One wave: a label and the targets (indexes into the fleet), in order.
#[derive(Debug, Clone, Serialize)]
pub struct Wave {
    /// `canary`, `wave 2 (10%)`, `group eu`.
    pub label: String,
    /// Indexes of its targets.
    pub members: Vec<usize>,
}

/// How one target's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// It changed the database.
    Done,
    /// There was nothing to do.
    UpToDate,
    /// A dry run found work it would do (and did not).
    WouldRun,
    /// It failed or was refused.
    Failed,
    /// It was interrupted (Ctrl-C): what was transactional rolled back.
    Cancelled,
}

impl Verdict {
    /// The word reports use.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Done => "done",
            Verdict::UpToDate => "up to date",
            Verdict::WouldRun => "would run",
            Verdict::Failed => "failed",
            Verdict::Cancelled => "cancelled",
        }
    }
}

/// Why a rollout stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "reason")]
pub enum Stop {
    /// A canary failed.
    Canary,
    /// A database's shared part failed (schema per tenant).
    Shared,
    /// `max_failures` targets failed.
    Failures {
        /// How many had.
        failed: usize,
    },
    /// Ctrl-C (or SIGTERM).
    Interrupted,
}
