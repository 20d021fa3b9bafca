//! A rollout's progress while it runs: on a terminal, one live line per
//! wave (done / running / failed / pending, with the time left); otherwise
//! one plain line per event, stamped with the time since the start, for CI
//! logs.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::targets::Target;
use super::wave::{Stop, Verdict, Wave};
use crate::ui::{self, paint, style};

/// The progress of one rollout.
pub struct Live<'a> {
    targets: &'a [Target],
    waves: &'a [Wave],
    started: Instant,
    /// Per wave: running, failed.
    counts: RefCell<Vec<(usize, usize)>>,
    /// On a terminal: the bars.
    bars: Option<(MultiProgress, Vec<ProgressBar>)>,
}

impl<'a> Live<'a> {
    /// The progress of `waves` over `targets`, live when stderr is a
    /// terminal.
    pub fn new(targets: &'a [Target], waves: &'a [Wave]) -> Live<'a> {
        let bars = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let style =
                ProgressStyle::with_template("{prefix:<18} [{bar:24}] {pos:>4}/{len:<4} {msg}")
                    .expect("valid template")
                    .progress_chars("=> ");
            let bars = waves
                .iter()
                .map(|w| {
                    let bar = multi.add(ProgressBar::new(w.members.len() as u64));
                    bar.set_style(style.clone());
                    bar.set_prefix(w.label.clone());
                    bar.set_message("pending");
                    bar
                })
                .collect();
            (multi, bars)
        });
        Live {
            targets,
            waves,
            started: Instant::now(),
            counts: RefCell::new(vec![(0, 0); waves.len()]),
            bars,
        }
    }

    fn line(&self, text: &str) {
        let at = self.started.elapsed().as_secs_f64();
        ui::print_err(&format!("[+{at:.1}s] {text}\n"));
    }

    fn redraw(&self, w: usize) {
        let Some((_, bars)) = &self.bars else { return };
        let (running, failed) = self.counts.borrow()[w];
        let bar = &bars[w];
        let done = bar.position();
        let pending = bar.length().unwrap_or(0) - done - running as u64;
        let failed = match failed {
            0 => String::new(),
            n => format!(", {}", paint(style::RED, &format!("{n} failed"))),
        };
        let msg = if running == 0 && pending == 0 {
            format!("finished{failed}")
        } else {
            let left = match bar.eta() {
                eta if done > 0 && !eta.is_zero() => format!(", about {} left", secs(eta)),
                _ => String::new(),
            };
            format!("{running} running, {pending} pending{failed}{left}")
        };
        bar.set_message(msg);
    }

    /// Wave `w` starts.
    pub fn wave_started(&self, w: usize) {
        let wave = &self.waves[w];
        match &self.bars {
            Some((_, bars)) => {
                bars[w].reset_elapsed();
                bars[w].enable_steady_tick(Duration::from_millis(200));
                self.redraw(w);
            }
            None => self.line(&format!(
                "{}: {}",
                wave.label,
                ui::count(wave.members.len(), super::noun(self.targets))
            )),
        }
    }

    /// Target `i` of wave `w` starts.
    pub fn target_started(&self, w: usize, _i: usize) {
        self.counts.borrow_mut()[w].0 += 1;
        self.redraw(w);
    }

    /// Target `i` of wave `w` ended.
    pub fn target_finished(
        &self,
        w: usize,
        i: usize,
        verdict: Verdict,
        detail: &str,
        took: Duration,
    ) {
        {
            let mut counts = self.counts.borrow_mut();
            counts[w].0 -= 1;
            if verdict == Verdict::Failed {
                counts[w].1 += 1;
            }
        }
        let word = match verdict {
            Verdict::Failed => paint(style::RED, verdict.word()),
            Verdict::Cancelled => paint(style::YELLOW, verdict.word()),
            _ => paint(style::GREEN, verdict.word()),
        };
        let detail = match detail {
            "" => String::new(),
            d => format!(" ({d})"),
        };
        let text = format!(
            "{}: {} {word}{detail} in {}",
            self.waves[w].label,
            self.targets[i].name,
            secs(took)
        );
        match &self.bars {
            Some((multi, bars)) => {
                bars[w].inc(1);
                if verdict == Verdict::Failed {
                    // Failures stay on the screen above the bars.
                    let _ = multi.println(ui::plain(&text));
                }
                self.redraw(w);
            }
            None => self.line(&text),
        }
    }

    /// Wave `w` ended.
    pub fn wave_finished(&self, w: usize) {
        if let Some((_, bars)) = &self.bars {
            bars[w].disable_steady_tick();
            self.redraw(w);
        }
    }

    /// The rollout ended (early for `stop`).
    pub fn finish(&self, stop: Option<&Stop>) {
        if let Some((multi, bars)) = &self.bars {
            for bar in bars {
                bar.abandon();
            }
            let _ = multi.clear();
        }
        if let Some(stop) = stop {
            self.line(&format!("stopped: {}", stop_reason(stop)));
        }
    }
}

/// Why a rollout stopped, as a sentence's end.
pub fn stop_reason(stop: &Stop) -> String {
    match stop {
        Stop::Canary => "the canary failed; no other database was started".into(),
        Stop::Shared => "a database's shared part failed; no tenant schema was started".into(),
        Stop::Failures { failed } => format!(
            "{} failed (--max-failures); no database was started after that",
            ui::count(*failed, "database")
        ),
        Stop::Interrupted => {
            "interrupted; running databases were cancelled, no other was started".into()
        }
    }
}

/// `1.2 s`, `3 min 4 s`.
pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.2} s")
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}
