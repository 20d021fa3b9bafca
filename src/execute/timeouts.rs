//! How long the executor's statements may wait and run, how often a
//! batch that gave up waiting for a lock is tried again, and how
//! backfills pace themselves.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};

/// How long each step may wait for its lock and run, how often a batch
/// that gave up waiting for a lock is tried again, and how long a run waits
/// for the migration lock (`timeouts:` in stratum.yaml, `--lock-timeout`,
/// `--retries`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// `lock_timeout` of every step: short, so that a step waiting behind a
    /// long query does not stall every query queued behind it; None for none.
    pub lock: Option<Duration>,
    /// `statement_timeout` of steps run in a transaction; None for none.
    pub statement: Option<Duration>,
    /// `statement_timeout` of steps run on their own (concurrent index
    /// builds, validations), which may take long by design; None for none.
    pub long_statement: Option<Duration>,
    /// Tries after the first, with exponential backoff and jitter.
    pub retries: u32,
    /// How long a run waits for another run's migration lock before it
    /// gives up; None to wait for ever.
    pub migration_lock: Option<Duration>,
    /// How batched backfills pace themselves: batch size, the pause
    /// between batches, the replication lag they wait out.
    pub backfill: super::backfill::Pace,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            lock: Some(Duration::from_secs(3)),
            statement: None,
            long_statement: None,
            retries: 5,
            migration_lock: Some(Duration::from_secs(600)),
            backfill: super::backfill::Pace::default(),
        }
    }
}

impl Timeouts {
    /// Parses a duration as `stratum.yaml` and the flags write it: `500ms`,
    /// `3s`, `10m`, `1h`, or `0` for no limit.
    pub fn parse_duration(text: &str) -> Result<Option<Duration>> {
        let text = text.trim();
        if text == "0" {
            return Ok(None);
        }
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| {
            anyhow!("{text:?}: give a unit (500ms, 3s, 10m, 1h), or 0 for no limit")
        })?;
        let (number, unit) = text.split_at(split);
        let n: u64 = number
            .parse()
            .map_err(|_| anyhow!("{text:?} is not a duration (500ms, 3s, 10m, 1h, or 0)"))?;
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => bail!("{text:?}: the unit is one of ms, s, m, h"),
        };
        Ok(Some(d).filter(|d| !d.is_zero()))
    }

    /// The wait before try `attempt` (1-based): 0.5 s doubled each time, at
    /// most 30 s, plus up to half of it again at random.
    pub fn backoff(attempt: u32) -> Duration {
        let base = Duration::from_millis(500).saturating_mul(1 << attempt.min(6).saturating_sub(1));
        let base = base.min(Duration::from_secs(30));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        base + base.mul_f64(f64::from(nanos % 1000) / 2000.0)
    }

    /// `SET` of the timeouts for a batch: `long` for one that runs outside
    /// a transaction.
    pub fn sql(&self, long: bool) -> String {
        let ms = |d: Option<Duration>| d.map_or(0, |d| d.as_millis().max(1));
        let statement = if long {
            self.long_statement
        } else {
            self.statement
        };
        format!(
            "SET lock_timeout = {}; SET statement_timeout = {}",
            ms(self.lock),
            ms(statement)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_unit() {
        assert_eq!(
            Timeouts::parse_duration("500ms").unwrap(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            Timeouts::parse_duration("10m").unwrap(),
            Some(Duration::from_secs(600))
        );
        assert_eq!(Timeouts::parse_duration("0").unwrap(), None);
        assert!(Timeouts::parse_duration("3").is_err());
        assert!(Timeouts::parse_duration("3d").is_err());
    }

    #[test]
    fn backoff_doubles_and_stops_growing() {
        let first = Timeouts::backoff(1);
        assert!(first >= Duration::from_millis(500) && first < Duration::from_millis(750));
        let late = Timeouts::backoff(20);
        assert!(late >= Duration::from_secs(16) && late < Duration::from_secs(24));
    }
}
