//! Terminal niceties: colours (only on a terminal, never with `NO_COLOR`,
//! through anstream), a progress bar that appears only when work takes
//! longer than a second, and the yes/no question of `apply`.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Styles used in reports.
pub mod style {
    use super::*;
    /// Additions, success.
    pub const GREEN: Style = AnsiColor::Green.on_default();
    /// Removals, errors, refusals.
    pub const RED: Style = AnsiColor::Red.on_default();
    /// Hazards and warnings.
    pub const YELLOW: Style = AnsiColor::Yellow.on_default();
    /// Diff hunk headers.
    pub const CYAN: Style = AnsiColor::Cyan.on_default();
    /// Headings.
    pub const BOLD: Style = Style::new().bold();
}

/// `text` in `style`. The escape codes are stripped by [`print_out`] and
/// [`print_err`] when the stream is not a terminal or `NO_COLOR` is set.
pub fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// Writes to stdout, colours as the terminal allows; a closed pipe is fine.
pub fn print_out(text: &str) -> std::io::Result<()> {
    let mut out = anstream::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

tokio::task_local! {
    /// Where [`print_err`] writes inside [`captured`].
    static CAPTURE: std::cell::RefCell<String>;
}

/// Runs `work` with what it says on stderr ([`print_err`]) kept instead of
/// printed, and its progress bars hidden: one target of a fleet, whose
/// lines would interleave with the others' and the fleet's own progress.
/// Returns the work's output and what it said.
pub async fn captured<F: std::future::Future>(work: F) -> (F::Output, String) {
    CAPTURE
        .scope(std::cell::RefCell::new(String::new()), async {
            let out = work.await;
            (out, CAPTURE.with(|said| said.take()))
        })
        .await
}

/// True inside [`captured`].
fn capturing() -> bool {
    CAPTURE.try_with(|_| ()).is_ok()
}

/// Writes to stderr, colours as the terminal allows (inside [`captured`],
/// to its buffer).
pub fn print_err(text: &str) {
    if CAPTURE
        .try_with(|said| said.borrow_mut().push_str(text))
        .is_ok()
    {
        return;
    }
    let mut err = anstream::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// `n thing` or `n things`.
pub fn count(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

/// Removes ANSI escape codes, for JSON and files.
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ ... final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A progress bar on stderr that shows itself only once the work has taken
/// more than a second, and only on a terminal.
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    shown: std::cell::Cell<bool>,
}

impl Progress {
    /// A bar for `len` units of work described by `message`.
    pub fn new(len: u64, message: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        bar.set_style(
            // The detail of the current unit last, cut to the terminal.
            ProgressStyle::with_template("{prefix} [{bar:20}] {pos}/{len} ({elapsed}) {wide_msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(message.to_string());
        Progress {
            bar,
            started: Instant::now(),
            shown: std::cell::Cell::new(false),
        }
    }

    /// A bar for rows of a table (`estimate` of them, 0 when unknown):
    /// rows done, rows per second and the time left.
    pub fn rows(estimate: u64, message: &str) -> Progress {
        let progress = Progress::new(estimate, message);
        progress.bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {human_pos}/{human_len} rows ({per_sec}, {eta} left)",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        progress
    }

    /// `n` units done in all.
    pub fn set_position(&self, n: u64) {
        let now = self.bar.position();
        if n > now {
            self.inc_by(n - now);
        }
    }

    /// True when the bar shows on a terminal (after its first second).
    pub fn on_terminal(&self) -> bool {
        std::io::stderr().is_terminal() && !capturing()
    }

    /// One unit done.
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// What the current unit is doing (`step 4 of 9 (...), 5.2 s: index
    /// build: ...`), after the work's name; None when it is done. Ticks
    /// while there is a detail, so that a long step's time goes on.
    pub fn detail(&self, detail: Option<&str>) {
        match detail {
            Some(detail) => {
                self.bar.set_message(detail.to_string());
                self.bar.enable_steady_tick(Duration::from_millis(500));
            }
            None => {
                self.bar.disable_steady_tick();
                self.bar.set_message("");
            }
        }
        self.inc_by(0);
    }

    /// `n` units done.
    pub fn inc_by(&self, n: u64) {
        self.bar.inc(n);
        if !self.shown.get()
            && !capturing()
            && self.started.elapsed() > Duration::from_secs(1)
            && std::io::stderr().is_terminal()
        {
            self.shown.set(true);
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Asks `question` on the terminal: `Some(true)` on `y` or `yes`, None
/// when `cancelled` (a signal) ends first. The answer is read on a thread
/// of its own, never on the runtime's, so that the wait ends at once.
pub async fn confirm(
    question: &str,
    cancelled: impl std::future::Future<Output = ()>,
) -> std::io::Result<Option<bool>> {
    print_err(&format!("{question} [y/N] "));
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let read = std::io::stdin().lock().read_line(&mut answer);
        let _ = tx.send(read.map(|_| answer));
    });
    tokio::select! {
        answer = rx => {
            let answer = answer.map_err(std::io::Error::other)??;
            Ok(Some(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")))
        }
        _ = cancelled => {
            print_err("\n");
            Ok(None)
        }
    }
}

/// True when stdin is a terminal a person can answer on.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}
