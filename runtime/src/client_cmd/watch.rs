//! [`RelayWatch`]: whether the relay answers, as `push` or `pull` goes. A
//! relay silent for [`LOST_AFTER`] is lost: a warning, and a note on the
//! status line until it answers again, which is warned too.

use super::seconds;
use crate::client::RelaySilence;
use crate::status::StatusLine;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// A relay silent for this long is taken as lost: it answers a client's
/// probe every second while it runs.
pub const LOST_AFTER: Duration = Duration::from_secs(3);

/// The relay's state as a command saw it.
#[derive(Debug)]
pub(super) struct RelayWatch {
    relay: SocketAddr,
    /// What the command does meanwhile, for the warning.
    meanwhile: &'static str,
    /// When the current silence began, while the relay is lost.
    lost_since: Option<Instant>,
}

impl RelayWatch {
    /// Watches `relay`; `meanwhile` says what the command does while it is
    /// lost (`still sending`).
    pub(super) fn new(relay: SocketAddr, meanwhile: &'static str) -> Self {
        RelayWatch { relay, meanwhile, lost_since: None }
    }

    /// Takes the client's latest view of the relay (`None`: the client is
    /// gone); warns when the relay is lost and when it is back.
    pub(super) fn observe(&mut self, silence: Option<RelaySilence>, status: &StatusLine) {
        let Some(silence) = silence else { return };
        match (self.lost_since, silence.silent >= LOST_AFTER) {
            (None, true) => {
                self.lost_since = Instant::now().checked_sub(silence.silent);
                let (relay, silent, meanwhile) = (self.relay, seconds(silence.silent), self.meanwhile);
                status.warn(&format!("no answer from the relay at {relay} for {silent}: {meanwhile}"));
            }
            (Some(since), false) => {
                self.lost_since = None;
                status.warn(&format!("the relay at {} answers again after {}", self.relay, seconds(since.elapsed())));
            }
            _ => {}
        }
    }

    /// The status line's note while the relay is lost.
    pub(super) fn note(&self) -> Option<String> {
        self.lost_since.map(|since| format!("relay silent for {}", seconds(since.elapsed())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Progress;

    fn silent(ms: u64) -> Option<RelaySilence> {
        Some(RelaySilence { silent: Duration::from_millis(ms), heard_once: true })
    }

    #[test]
    fn a_relay_is_lost_after_three_silent_seconds_and_back_at_its_next_answer() {
        let status = StatusLine::new("push cam1", Progress::Off);
        let mut watch = RelayWatch::new("192.0.2.1:61040".parse().unwrap(), "still sending");
        watch.observe(silent(2_900), &status);
        assert_eq!(watch.note(), None);
        watch.observe(silent(3_000), &status);
        assert!(watch.note().is_some_and(|n| n.starts_with("relay silent for 3.")), "{:?}", watch.note());
        watch.observe(None, &status);
        assert!(watch.note().is_some(), "a gone client changes nothing");
        watch.observe(silent(100), &status);
        assert_eq!(watch.note(), None);
    }
}
