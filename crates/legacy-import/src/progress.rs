//! The copy's progress: an indicatif bar (rows, rate, ETA) on a terminal, and a log line every
//! few seconds otherwise (CI logs, `nohup`), so a long import never looks hung.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const LOG_EVERY: Duration = Duration::from_secs(5);

/// Progress of one copy phase.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    label: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    last_log: Instant,
    terminal: bool,
}

impl Progress {
    /// A bar for `total` rows of `label`.
    pub fn new(label: &'static str, total: u64) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = if terminal {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{msg:>8} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} rows  {rate}  ETA {eta}",
            ) {
                bar.set_style(style.with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0} rows/s", state.per_sec());
                    },
                ));
            }
            bar.set_message(label);
            bar
        } else {
            ProgressBar::hidden()
        };
        let now = Instant::now();
        Self {
            bar,
            label,
            total,
            done: 0,
            started: now,
            last_log: now,
            terminal,
        }
    }

    /// `rows` more were committed.
    pub fn advance(&mut self, rows: u64) {
        self.done += rows;
        self.bar.inc(rows);
        if !self.terminal && self.last_log.elapsed() >= LOG_EVERY {
            self.last_log = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(1e-9);
            let rate = self.done as f64 / secs;
            let eta = if rate > 0.0 {
                self.total.saturating_sub(self.done) as f64 / rate
            } else {
                0.0
            };
            tracing::info!(
                phase = self.label,
                rows = self.done,
                total = self.total,
                rate = format!("{rate:.0} rows/s"),
                eta = format!("{eta:.0} s"),
                "copying"
            );
        }
    }

    /// The phase is over.
    pub fn finish(self) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar.finish_and_clear();
        tracing::info!(
            phase = self.label,
            rows = self.done,
            seconds = format!("{secs:.1}"),
            rate = format!("{:.0} rows/s", self.done as f64 / secs),
            "copied"
        );
    }
}
