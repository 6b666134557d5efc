//! Delay probes (docs/protocol.md §1.3.5, `DELAY_REQ`), each with the
//! next probe sequence number; an echo matching an outstanding probe gives
//! a round trip sample. The publisher sends one every interval while it
//! has a stream; the subscriber one with each heartbeat, to pace its NACKs
//! (§2.3).

use crate::client::rtt::RttEstimator;
use crate::ids::Seq;
use crate::time::Instant;
use std::collections::VecDeque;
use std::time::Duration;

/// Delay probes whose answer is still awaited (older ones are forgotten).
const OUTSTANDING: usize = 8;

/// A `DELAY_REQ` awaiting its echo.
#[derive(Clone, Copy, Debug)]
struct Probe {
    seq: Seq,
    timestamp: u32,
    sent: Instant,
}

/// The probe timer, the probes awaiting their echo, and the smoothed RTT.
#[derive(Debug)]
pub(crate) struct Prober {
    interval: Duration,
    /// When the next probe is due; `None` until the first one.
    at: Option<Instant>,
    next_seq: Seq,
    outstanding: VecDeque<Probe>,
    rtt: RttEstimator,
}

impl Prober {
    pub(crate) fn new(interval: Duration) -> Self {
        Prober { interval, at: None, next_seq: Seq::new(0), outstanding: VecDeque::new(), rtt: RttEstimator::default() }
    }

    /// When the next probe is due, once probing started.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.at
    }

    /// Whether a probe is due at `now`.
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.at.is_some_and(|at| at <= now)
    }

    /// A probe is (or would have been) sent at `now`: the next one is due an
    /// interval later.
    pub(crate) fn schedule(&mut self, now: Instant) {
        self.at = Some(now + self.interval);
    }

    /// No more probes (the client closed).
    pub(crate) fn stop(&mut self) {
        self.at = None;
    }

    /// Records a probe stamped `timestamp` sent at `now`: its sequence number.
    pub(crate) fn sent(&mut self, now: Instant, timestamp: u32) -> Seq {
        let seq = self.next_seq;
        self.next_seq = seq.next();
        if self.outstanding.len() >= OUTSTANDING {
            self.outstanding.pop_front();
        }
        self.outstanding.push_back(Probe { seq, timestamp, sent: now });
        seq
    }

    /// An echo (`DELAY_RSP`) with `seq` and `timestamp` arrived at `now`:
    /// whether it answered an outstanding probe (then it and older probes
    /// are done, and the round trip is sampled).
    pub(crate) fn echoed(&mut self, now: Instant, seq: Seq, timestamp: u32) -> bool {
        let found = self.outstanding.iter().position(|p| p.seq == seq && p.timestamp == timestamp);
        let Some(i) = found else { return false };
        let probe = self.outstanding[i];
        self.outstanding.drain(..=i);
        self.rtt.sample(now - probe.sent);
        true
    }

    /// The smoothed round trip, once a probe was answered.
    pub(crate) fn smoothed(&self) -> Option<Duration> {
        self.rtt.smoothed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn an_echo_answers_its_probe_and_the_older_ones() {
        let mut p = Prober::new(Duration::from_secs(1));
        assert_eq!((p.deadline(), p.is_due(ms(5_000))), (None, false), "not started");
        p.schedule(ms(0));
        assert_eq!(p.deadline(), Some(ms(1_000)));
        let (a, b) = (p.sent(ms(0), 10), p.sent(ms(100), 20));
        assert_eq!((a, b), (Seq::new(0), Seq::new(1)));
        assert!(!p.echoed(ms(150), b, 21), "the timestamp must match");
        assert!(p.echoed(ms(150), b, 20));
        assert_eq!(p.smoothed(), Some(Duration::from_millis(50)));
        assert!(!p.echoed(ms(160), a, 10), "older than an answered probe: forgotten");
    }

    /// Stopping cancels a scheduled probe: none is due afterwards, however
    /// late.
    #[test]
    fn a_stopped_prober_has_no_probe_due() {
        let mut p = Prober::new(Duration::from_secs(1));
        p.schedule(ms(0));
        assert!(p.is_due(ms(1_000)));
        p.stop();
        assert_eq!(p.deadline(), None);
        assert!(!p.is_due(ms(60_000)));
    }

    #[test]
    fn only_the_last_eight_probes_are_awaited() {
        let mut p = Prober::new(Duration::from_secs(1));
        let first = p.sent(ms(0), 0);
        for _ in 0..OUTSTANDING {
            p.sent(ms(0), 0);
        }
        assert!(!p.echoed(ms(1), first, 0));
        p.stop();
        assert_eq!(p.deadline(), None);
    }
}
