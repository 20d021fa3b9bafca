//! How a change rolls out over a fleet: a canary alone first, then waves,
//! each a bounded number of targets at a time (and per server), stopping
//! after too many failures or on Ctrl-C.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::progress::Live;
use super::targets::{CanaryConfig, FleetConfig, Target, WaveSizeConfig, WavesConfig};
pub use super::wave::{Stop, Verdict, Wave, SHARED};

/// The rollout's settings: flags over `fleet:` in stratum.yaml over
/// defaults.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// What runs alone first.
    pub canary: Canary,
    /// The waves after it.
    pub waves: Waves,
    /// Targets at once.
    pub jobs: usize,
    /// Targets of one server at once.
    pub per_server: Option<usize>,
    /// Stop starting targets after this many failed.
    pub max_failures: Option<usize>,
    /// With tenants: the databases' shared parts after the tenants (for
    /// `down`), not before.
    pub shared_last: bool,
}

/// The canary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canary {
    /// None.
    None,
    /// The first N targets.
    First(usize),
    /// Targets with these names or tags.
    Named(Vec<String>),
}

/// The waves after the canary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waves {
    /// Sizes in order; what they leave is one more wave.
    Sizes(Vec<Size>),
    /// Each `fleet:` group a wave, in stratum.yaml's order.
    Groups,
}

/// One wave's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// This many targets.
    Count(usize),
    /// This percentage of the fleet (rounded up, at least one).
    Percent(u32),
    /// Every target left.
    Rest,
}

impl Size {
    fn parse(text: &str) -> Result<Size> {
        let text = text.trim();
        if text == "rest" {
            return Ok(Size::Rest);
        }
        if let Some(p) = text.strip_suffix('%') {
            let p: u32 = p
                .trim()
                .parse()
                .ok()
                .filter(|p| (1..=100).contains(p))
                .with_context(|| format!("{text:?} is no percentage from 1% to 100%"))?;
            return Ok(Size::Percent(p));
        }
        match text.parse() {
            Ok(0) | Err(_) => bail!("{text:?} is no wave size (a count, a percentage or `rest`)"),
            Ok(n) => Ok(Size::Count(n)),
        }
    }

    fn label(self) -> String {
        match self {
            Size::Count(n) => n.to_string(),
            Size::Percent(p) => format!("{p}%"),
            Size::Rest => "rest".into(),
        }
    }
}

impl Waves {
    /// `--waves`: `groups`, or sizes separated by commas (`1,10%,rest`).
    pub fn parse(text: &str) -> Result<Waves> {
        if text.trim() == "groups" {
            return Ok(Waves::Groups);
        }
        let sizes = text
            .split(',')
            .map(Size::parse)
            .collect::<Result<Vec<_>>>()
            .context("--waves")?;
        Ok(Waves::Sizes(sizes))
    }

    fn from_config(config: &WavesConfig) -> Result<Waves> {
        match config {
            WavesConfig::Text(text) => Waves::parse(text),
            WavesConfig::Sizes(sizes) => Ok(Waves::Sizes(
                sizes
                    .iter()
                    .map(|s| match s {
                        WaveSizeConfig::Count(0) => bail!("fleet.waves: 0 is no wave size"),
                        WaveSizeConfig::Count(n) => Ok(Size::Count(*n)),
                        WaveSizeConfig::Text(t) => Size::parse(t).context("fleet.waves"),
                    })
                    .collect::<Result<_>>()?,
            )),
        }
    }
}

impl Canary {
    /// `--canary`: a count, or names and tags separated by commas.
    pub fn parse(text: &str) -> Canary {
        match text.trim().parse::<usize>() {
            Ok(0) => Canary::None,
            Ok(n) => Canary::First(n),
            Err(_) => Canary::Named(text.split(',').map(|s| s.trim().to_string()).collect()),
        }
    }
}

/// The flags that override `fleet:`.
#[derive(Debug, Default, Clone)]
pub struct RolloutFlags {
    /// `--canary`.
    pub canary: Option<String>,
    /// `--waves`.
    pub waves: Option<String>,
    /// `--jobs`.
    pub jobs: Option<usize>,
    /// `--per-server`.
    pub per_server: Option<usize>,
    /// `--max-failures`.
    pub max_failures: Option<usize>,
}

impl Rollout {
    /// The settings of a run: `flags` over `config` over defaults (no
    /// canary, one wave, 8 at a time, no failure limit).
    pub fn resolve(flags: &RolloutFlags, config: &FleetConfig) -> Result<Rollout> {
        let canary = match (&flags.canary, &config.canary) {
            (Some(text), _) => Canary::parse(text),
            (None, Some(CanaryConfig::First(0))) | (None, None) => Canary::None,
            (None, Some(CanaryConfig::First(n))) => Canary::First(*n),
            (None, Some(CanaryConfig::Named(names))) => Canary::Named(names.clone()),
        };
        let waves = match (&flags.waves, &config.waves) {
            (Some(text), _) => Waves::parse(text)?,
            (None, Some(waves)) => Waves::from_config(waves)?,
            (None, None) => Waves::Sizes(Vec::new()),
        };
        let jobs = flags.jobs.or(config.jobs).unwrap_or(8);
        if jobs == 0 {
            bail!("--jobs must be at least 1");
        }
        Ok(Rollout {
            canary,
            waves,
            jobs,
            per_server: flags.per_server.or(config.per_server).filter(|n| *n > 0),
            max_failures: flags.max_failures.or(config.max_failures),
            shared_last: false,
        })
    }
}

/// The waves `rollout` makes of `targets`: the canary, then the sizes (or
/// groups) in order; empty ones left out.
pub fn waves(targets: &[Target], rollout: &Rollout) -> Result<Vec<Wave>> {
    let mut left: Vec<usize> = (0..targets.len()).collect();
    let mut out = Vec::new();
    // With tenants, each database's shared part goes before any tenant
    // (after them all when reverting: tenants refer to shared objects).
    let shared: Vec<usize> = left
        .iter()
        .copied()
        .filter(|i| targets[*i].part == Some(crate::tenants::Part::Shared))
        .collect();
    left.retain(|i| !shared.contains(i));
    let shared = (!shared.is_empty()).then(|| Wave {
        label: SHARED.into(),
        members: shared,
    });
    if !rollout.shared_last {
        out.extend(shared.clone());
    }
    let canary: Vec<usize> = match &rollout.canary {
        Canary::None => Vec::new(),
        Canary::First(n) => left.iter().copied().take(*n).collect(),
        Canary::Named(words) => {
            for word in words {
                if !targets.iter().any(|t| t.is(word)) {
                    bail!("--canary {word}: no database has this name or tag");
                }
            }
            left.iter()
                .copied()
                .filter(|i| words.iter().any(|w| targets[*i].is(w)))
                .collect()
        }
    };
    left.retain(|i| !canary.contains(i));
    if !canary.is_empty() {
        out.push(Wave {
            label: "canary".into(),
            members: canary,
        });
    }
    match &rollout.waves {
        Waves::Groups => {
            let mut groups: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
            for i in left {
                let group = targets[i].group.as_deref();
                match groups.iter_mut().find(|(g, _)| *g == group) {
                    Some((_, members)) => members.push(i),
                    None => groups.push((group, vec![i])),
                }
            }
            for (group, members) in groups {
                out.push(Wave {
                    label: match group {
                        Some(g) => format!("group {g}"),
                        None => "no group".into(),
                    },
                    members,
                });
            }
        }
        Waves::Sizes(sizes) => {
            let mut left: VecDeque<usize> = left.into();
            let mut n = 0;
            let mut push = |label: String, members: Vec<usize>| {
                if !members.is_empty() {
                    n += 1;
                    out.push(Wave {
                        label: format!("wave {n} ({label})"),
                        members,
                    });
                }
            };
            for size in sizes {
                let take = match size {
                    Size::Count(n) => *n,
                    Size::Percent(p) => (targets.len() * *p as usize).div_ceil(100).max(1),
                    Size::Rest => left.len(),
                };
                let members: Vec<usize> = left.drain(..take.min(left.len())).collect();
                push(size.label(), members);
            }
            push("rest".into(), left.into_iter().collect());
        }
    }
    if rollout.shared_last {
        out.extend(shared);
    }
    Ok(out)
}

/// What one target's work returns: its verdict, a one-line detail for the
/// progress and the report, and the command's own result.
pub struct Worked<T> {
    /// How it ended.
    pub verdict: Verdict,
    /// `2 migrations`, the first line of an error.
    pub detail: String,
    /// The rest, for the report.
    pub value: T,
}

/// A finished target.
pub struct Finished<T> {
    /// Its wave's index.
    pub wave: usize,
    /// When it started, from the rollout's start.
    pub started: Duration,
    /// How long it ran.
    pub elapsed: Duration,
    /// What it returned.
    pub worked: Worked<T>,
}

/// A rollout's results: per target (in fleet order) what it finished with,
/// None for those never started; and why it stopped early, if it did.
pub struct Ran<T> {
    /// Per target.
    pub finished: Vec<Option<Finished<T>>>,
    /// Why it stopped early.
    pub stop: Option<Stop>,
    /// When it decided to stop, from its start: no target started after.
    pub stopped_at: Option<Duration>,
    /// How long it all took.
    pub elapsed: Duration,
}

/// Runs `work` on every target, wave after wave: within a wave up to
/// `jobs` at once (`per_server` of one server), in order. After a canary's
/// failure, `max_failures` failures, or Ctrl-C, no target starts; those
/// running finish (on Ctrl-C their statements are cancelled by the
/// executor and roll back). The progress shows live on a terminal, as
/// lines otherwise.
pub async fn run<'a, T, F, Fut>(
    targets: &'a [Target],
    waves: &[Wave],
    rollout: &Rollout,
    work: F,
) -> Ran<T>
where
    F: Fn(&'a Target) -> Fut,
    Fut: Future<Output = Worked<T>>,
{
    // Ctrl-C is a flag for the whole rollout, also between targets, so
    // that it is never the plain quit that would lose the report.
    let _signals = crate::interrupt::handle();
    let started = Instant::now();
    let live = Live::new(targets, waves);
    let mut finished: Vec<Option<Finished<T>>> = (0..targets.len()).map(|_| None).collect();
    let mut failures = 0;
    let mut stop = None;
    let mut stopped_at = None;
    for (w, wave) in waves.iter().enumerate() {
        live.wave_started(w);
        let mut queue: VecDeque<usize> = wave.members.iter().copied().collect();
        let mut on_server: BTreeMap<&str, usize> = BTreeMap::new();
        let mut running = FuturesUnordered::new();
        loop {
            if stop.is_none() && crate::interrupt::requested() {
                stop = Some(Stop::Interrupted);
                stopped_at = Some(started.elapsed());
            }
            while stop.is_none() && running.len() < rollout.jobs {
                let free = |i: &usize| {
                    rollout.per_server.is_none_or(|limit| {
                        on_server
                            .get(targets[*i].server.as_str())
                            .copied()
                            .unwrap_or(0)
                            < limit
                    })
                };
                let Some(at) = queue.iter().position(free) else {
                    break;
                };
                let i = queue.remove(at).expect("position is in the queue");
                *on_server.entry(targets[i].server.as_str()).or_default() += 1;
                live.target_started(w, i);
                let fut = work(&targets[i]);
                let at = started.elapsed();
                running.push(async move {
                    let t = Instant::now();
                    let worked = fut.await;
                    (i, at, t.elapsed(), worked)
                });
            }
            let Some((i, at, elapsed, worked)) = running.next().await else {
                break;
            };
            if let Some(n) = on_server.get_mut(targets[i].server.as_str()) {
                *n -= 1;
            }
            live.target_finished(w, i, worked.verdict, &worked.detail, elapsed);
            if worked.verdict == Verdict::Failed {
                failures += 1;
                if stop.is_none() {
                    if wave.label == "canary" {
                        stop = Some(Stop::Canary);
                    } else if wave.label == SHARED {
                        stop = Some(Stop::Shared);
                    } else if rollout.max_failures.is_some_and(|k| failures >= k) {
                        stop = Some(Stop::Failures { failed: failures });
                    }
                }
            }
            if stop.is_some() && stopped_at.is_none() {
                stopped_at = Some(started.elapsed());
            }
            finished[i] = Some(Finished {
                wave: w,
                started: at,
                elapsed,
                worked,
            });
        }
        live.wave_finished(w);
        if stop.is_some() {
            break;
        }
    }
    live.finish(stop.as_ref());
    Ran {
        finished,
        stop,
        stopped_at,
        elapsed: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(n: usize) -> Vec<Target> {
        (0..n)
            .map(|i| {
                let mut t = Target::new(&format!("postgres://h/db{i}"), None, Vec::new());
                if i == 7 {
                    t.tags.push("pilot".into());
                }
                t.group = Some(if i % 2 == 0 { "even" } else { "odd" }.into());
                t
            })
            .collect()
    }

    fn rollout(canary: &str, waves: &str) -> Rollout {
        Rollout::resolve(
            &RolloutFlags {
                canary: Some(canary.into()),
                waves: Some(waves.into()),
                ..RolloutFlags::default()
            },
            &FleetConfig::default(),
        )
        .unwrap()
    }

    fn sizes(waves: &[Wave]) -> Vec<(String, usize)> {
        waves
            .iter()
            .map(|w| (w.label.clone(), w.members.len()))
            .collect()
    }

    #[test]
    fn canary_then_counts_percentages_and_the_rest() {
        let targets = fleet(200);
        let waves = waves(&targets, &rollout("1", "1,10%,rest")).unwrap();
        assert_eq!(
            sizes(&waves),
            [
                ("canary".to_string(), 1),
                ("wave 1 (1)".to_string(), 1),
                ("wave 2 (10%)".to_string(), 20),
                ("wave 3 (rest)".to_string(), 178),
            ]
        );
        assert_eq!(waves[0].members, [0]);
        assert_eq!(waves[1].members, [1]);
        let all: usize = waves.iter().map(|w| w.members.len()).sum();
        assert_eq!(all, 200);
    }

    #[test]
    fn sizes_that_leave_targets_get_a_last_wave_and_named_canaries_are_found_by_tag() {
        let targets = fleet(10);
        let waves = waves(&targets, &rollout("pilot", "2")).unwrap();
        assert_eq!(waves[0].members, [7]);
        assert_eq!(
            sizes(&waves)[1..],
            [
                ("wave 1 (2)".to_string(), 2),
                ("wave 2 (rest)".to_string(), 7)
            ]
        );
        let e = super::waves(&targets, &rollout("nobody", "rest")).unwrap_err();
        assert!(e.to_string().contains("nobody"), "{e}");
    }

    #[test]
    fn waves_by_group_keep_the_groups_order() {
        let targets = fleet(5);
        let waves = waves(&targets, &rollout("0", "groups")).unwrap();
        assert_eq!(
            sizes(&waves),
            [("group even".to_string(), 3), ("group odd".to_string(), 2)]
        );
    }

    /// Work that records how many targets of each server run at once.
    #[tokio::test(flavor = "current_thread")]
    async fn no_more_than_jobs_run_at_once_nor_per_server_of_one_server() {
        use std::cell::RefCell;
        use std::collections::BTreeMap;
        let mut targets = fleet(40);
        for (i, t) in targets.iter_mut().enumerate() {
            t.server = format!("host{}:5432", i % 3);
        }
        let mut r = rollout("0", "rest");
        r.jobs = 8;
        r.per_server = Some(2);
        let now: RefCell<BTreeMap<String, usize>> = RefCell::default();
        let most: RefCell<BTreeMap<String, usize>> = RefCell::default();
        let all = RefCell::new((0usize, 0usize));
        let waves = waves(&targets, &r).unwrap();
        let ran = run(&targets, &waves, &r, |t| {
            let (now, most, all) = (&now, &most, &all);
            async move {
                let n = {
                    let mut now = now.borrow_mut();
                    let n = now.entry(t.server.clone()).or_default();
                    *n += 1;
                    *n
                };
                {
                    let mut most = most.borrow_mut();
                    let m = most.entry(t.server.clone()).or_default();
                    *m = (*m).max(n);
                }
                {
                    let mut all = all.borrow_mut();
                    all.0 += 1;
                    all.1 = all.1.max(all.0);
                }
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                *now.borrow_mut().get_mut(&t.server).unwrap() -= 1;
                all.borrow_mut().0 -= 1;
                Worked {
                    verdict: Verdict::Done,
                    detail: String::new(),
                    value: (),
                }
            }
        })
        .await;
        assert!(ran.finished.iter().all(Option::is_some));
        assert!(
            most.borrow().values().all(|m| *m == 2),
            "{:?}",
            most.borrow()
        );
        // Three servers of two each: six at once, under the eight allowed.
        assert_eq!(all.borrow().1, 6);
    }

    /// After `max_failures`, nothing starts; those running finish.
    #[tokio::test(flavor = "current_thread")]
    async fn max_failures_stops_starting_targets() {
        let targets = fleet(30);
        let mut r = rollout("1", "10,rest");
        r.jobs = 1;
        r.max_failures = Some(2);
        let waves = waves(&targets, &r).unwrap();
        let ran = run(&targets, &waves, &r, |t| {
            let fails = t.name.ends_with("/db3") || t.name.ends_with("/db5");
            async move {
                Worked {
                    verdict: if fails {
                        Verdict::Failed
                    } else {
                        Verdict::Done
                    },
                    detail: String::new(),
                    value: (),
                }
            }
        })
        .await;
        let started: Vec<bool> = ran.finished.iter().map(Option::is_some).collect();
        // One at a time: db0 (canary) .. db5, then nothing.
        assert_eq!(started.iter().filter(|s| **s).count(), 6);
        assert!(started[..6].iter().all(|s| *s));
        assert_eq!(ran.stop, Some(Stop::Failures { failed: 2 }));
    }

    /// A canary's failure stops everything after it.
    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_canary_stops_the_rollout() {
        let targets = fleet(5);
        let r = rollout("1", "rest");
        let waves = waves(&targets, &r).unwrap();
        let ran = run(&targets, &waves, &r, |_| async {
            Worked {
                verdict: Verdict::Failed,
                detail: String::new(),
                value: (),
            }
        })
        .await;
        assert_eq!(ran.stop, Some(Stop::Canary));
        assert_eq!(ran.finished.iter().filter(|f| f.is_some()).count(), 1);
    }

    #[test]
    fn bad_sizes_are_refused() {
        for bad in ["0", "110%", "ten", "1,,rest"] {
            assert!(Waves::parse(bad).is_err(), "{bad}");
        }
    }
}
