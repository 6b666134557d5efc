//! The one-line live status of `push` and `pull` on standard error, shown
//! only when it is a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Totals shown on the status line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// MPEG-TS bytes so far.
    pub bytes: u64,
    /// Datagrams so far.
    pub packets: u64,
    /// Sequence numbers given up (pull) .
    pub lost: u64,
    /// Packets that came after their slot (pull).
    pub late: u64,
    /// Packets recovered by retransmission (pull) or resent (push).
    pub recovered: u64,
}

/// A status line refreshed from [`Totals`], with the bitrate since the
/// previous refresh. Hidden when standard error is not a terminal.
#[derive(Debug)]
pub struct StatusLine {
    bar: ProgressBar,
    last: (Instant, u64),
}

impl StatusLine {
    /// A status line with `prefix` (e.g. `push cam1`).
    pub fn new(prefix: &str) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(ProgressStyle::with_template("{spinner} {prefix} {msg}").expect("a valid template"));
        bar.set_prefix(prefix.to_owned());
        bar.enable_steady_tick(Duration::from_millis(250));
        StatusLine { bar, last: (Instant::now(), 0) }
    }

    /// Shows `totals`.
    pub fn update(&mut self, totals: Totals) {
        let now = Instant::now();
        let secs = now.duration_since(self.last.0).as_secs_f64().max(1e-3);
        let kbps = totals.bytes.saturating_sub(self.last.1) as f64 * 8.0 / secs / 1000.0;
        self.last = (now, totals.bytes);
        self.bar.set_message(format!(
            "{kbps:.0} kbit/s, {} packets, {} lost, {} late, {} recovered",
            totals.packets, totals.lost, totals.late, totals.recovered
        ));
    }

    /// Clears the line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
