//! What `push` and `pull` say on standard error while they run
//! (docs/protocol.md §4): a live status line redrawn in place on a
//! terminal, periodic plain lines with `--progress plain`, nothing but
//! warnings otherwise, and in every case a one-line summary at exit.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::VecDeque;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often `--progress plain` prints a line.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(2);
/// The bitrate shown is the average over this window: a paced push comes
/// in bursts, which a shorter one would show as 0 between them.
const RATE_WINDOW: Duration = Duration::from_secs(2);

/// How the live status is shown (`--progress`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// A line redrawn in place when standard error is a terminal; else
    /// only warnings and the summary.
    #[default]
    Auto,
    /// A plain line every two seconds (for logs and shared terminals).
    Plain,
    /// Only warnings and the summary.
    Off,
}

/// Totals shown on the status line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// MPEG-TS bytes so far.
    pub bytes: u64,
    /// Datagrams so far.
    pub packets: u64,
    /// Sequence numbers given up (pull).
    pub lost: u64,
    /// Packets that came after their slot (pull).
    pub late: u64,
    /// Packets recovered by retransmission (pull) or resent (push).
    pub recovered: u64,
}

impl Totals {
    /// `packets, lost, late, recovered` as the status and summary lines
    /// write them.
    fn counts(&self) -> String {
        format!("{} packets, {} lost, {} late, {} recovered", self.packets, self.lost, self.late, self.recovered)
    }
}

/// Where the status goes.
#[derive(Debug)]
enum Sink {
    /// Redrawn in place on the terminal.
    Bar(ProgressBar),
    /// A plain line every [`PLAIN_INTERVAL`], the last one printed then.
    Plain(Instant),
    /// Nowhere.
    Off,
}

/// The live status of one command (`push cam1`, `pull cam1,cam2`).
#[derive(Debug)]
pub struct StatusLine {
    /// `rtprelay push cam1`, the start of every line.
    name: String,
    sink: Sink,
    started: Instant,
    /// Recent refreshes and the bytes then, for the bitrate: the oldest
    /// at most [`RATE_WINDOW`] old (one older, to span it).
    samples: VecDeque<(Instant, u64)>,
    totals: Totals,
    /// What the command waits for, or what is wrong, shown instead of the
    /// bitrate (`waiting for cam1`, `no answer from the relay for 4 s`).
    note: Option<String>,
}

impl StatusLine {
    /// A status line for `name` (e.g. `push cam1`), shown as `progress` asks.
    pub fn new(name: &str, progress: Progress) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let sink = match progress {
            Progress::Auto if terminal => {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                // `wide_msg` is cut at the terminal's width: a line that
                // wrapped would no longer be redrawn in place.
                bar.set_style(ProgressStyle::with_template("{spinner} {prefix} {wide_msg}").expect("a valid template"));
                bar.set_prefix(name.to_owned());
                bar.enable_steady_tick(Duration::from_millis(250));
                Sink::Bar(bar)
            }
            Progress::Plain => Sink::Plain(Instant::now()),
            Progress::Auto | Progress::Off => Sink::Off,
        };
        let now = Instant::now();
        StatusLine {
            name: format!("rtprelay {name}"),
            sink,
            started: now,
            samples: VecDeque::from([(now, 0)]),
            totals: Totals::default(),
            note: None,
        }
    }

    /// Shows `note` instead of the bitrate until it is cleared with `None`.
    pub fn note(&mut self, note: Option<String>) {
        if self.note != note {
            let shown = note.is_some();
            self.note = note;
            self.redraw(0.0, shown);
        }
    }

    /// Shows `totals`.
    pub fn update(&mut self, totals: Totals) {
        let now = Instant::now();
        self.samples.push_back((now, totals.bytes));
        while self.samples.len() > 2 && self.samples.get(1).is_some_and(|(at, _)| now - *at >= RATE_WINDOW) {
            self.samples.pop_front();
        }
        let (since, bytes) = self.samples.front().copied().unwrap_or((now, 0));
        // At least half a second, so the first refresh shows no spike.
        let secs = now.duration_since(since).as_secs_f64().max(0.5);
        let kbps = totals.bytes.saturating_sub(bytes) as f64 * 8.0 / secs / 1000.0;
        self.totals = totals;
        self.redraw(kbps, false);
    }

    fn line(&self, kbps: f64) -> String {
        match &self.note {
            Some(note) => format!("{note}; {}", self.totals.counts()),
            None => format!("{kbps:.0} kbit/s, {}", self.totals.counts()),
        }
    }

    /// Shows the line; a plain line only every [`PLAIN_INTERVAL`], unless
    /// `now` (a new note).
    fn redraw(&mut self, kbps: f64, now: bool) {
        let line = self.line(kbps);
        match &mut self.sink {
            Sink::Bar(bar) => bar.set_message(line),
            Sink::Plain(printed) if now || printed.elapsed() >= PLAIN_INTERVAL => {
                *printed = Instant::now();
                eprintln!("{}: {line}", self.name);
            }
            Sink::Plain(_) | Sink::Off => {}
        }
    }

    /// Prints a warning on its own line (above the status line on a
    /// terminal), whatever the progress mode.
    pub fn warn(&self, message: &str) {
        let line = format!("{}: warning: {message}", self.name);
        match &self.sink {
            Sink::Bar(bar) => bar.suspend(|| eprintln!("{line}")),
            _ => eprintln!("{line}"),
        }
    }

    /// Clears the live line and prints the one-line summary: duration,
    /// packets, average bitrate, lost, late, recovered.
    pub fn finish(self) {
        if let Sink::Bar(bar) = &self.sink {
            bar.finish_and_clear();
        }
        eprintln!("{}", self.summary(self.started.elapsed()));
    }

    /// The summary of a command named `name` (`push cam1`) that ended
    /// before it moved any data: the line every exit prints.
    pub fn nothing_moved(name: &str) -> String {
        StatusLine::new(name, Progress::Off).summary(Duration::ZERO)
    }

    /// The summary line after `elapsed`.
    fn summary(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64();
        let kbps = if secs > 0.0 { self.totals.bytes as f64 * 8.0 / secs / 1000.0 } else { 0.0 };
        let t = &self.totals;
        format!(
            "{}: done in {secs:.1} s: {} packets, {kbps:.0} kbit/s, {} lost, {} late, {} recovered",
            self.name, t.packets, t.lost, t.late, t.recovered
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_has_every_figure() {
        let mut s = StatusLine::new("push cam1", Progress::Off);
        s.update(Totals { bytes: 250_000, packets: 190, lost: 1, late: 2, recovered: 3 });
        assert_eq!(
            s.summary(Duration::from_secs(2)),
            "rtprelay push cam1: done in 2.0 s: 190 packets, 1000 kbit/s, 1 lost, 2 late, 3 recovered"
        );
        assert!(s.summary(Duration::ZERO).contains("0 kbit/s"), "no division by zero");
        assert_eq!(
            StatusLine::nothing_moved("pull cam1"),
            "rtprelay pull cam1: done in 0.0 s: 0 packets, 0 kbit/s, 0 lost, 0 late, 0 recovered"
        );
    }

    #[test]
    fn a_note_replaces_the_bitrate() {
        let mut s = StatusLine::new("pull cam1", Progress::Off);
        assert!(s.line(12.0).starts_with("12 kbit/s, 0 packets"));
        s.note(Some("waiting for cam1".into()));
        assert_eq!(s.line(12.0), "waiting for cam1; 0 packets, 0 lost, 0 late, 0 recovered");
    }
}
