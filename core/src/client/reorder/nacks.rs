//! The numbers a reorder buffer waits for, and when each is NACKed
//! (docs/protocol.md §2.1, 2.4): first after the reorder delay (the
//! configured `nack_delay`, or longer once packets were seen to arrive
//! that far out of order), then again every retry interval (1.25 × the
//! round trip to the relay, `nack_interval` before one is known) for as
//! long as an answer can still arrive inside the latency window, at most
//! `max_nacks` times.

use super::ReorderConfig;
use crate::time::Instant;
use std::collections::BTreeMap;
use std::time::Duration;

/// The shortest retry interval, whatever the round trip.
const MIN_RETRY: Duration = Duration::from_millis(5);

/// A sequence number the buffer is waiting for.
#[derive(Clone, Copy, Debug)]
struct Missing {
    /// When its gap appeared: it is declared lost one window later.
    since: Instant,
    nacks: u32,
    /// When it was last NACKed.
    last_nack: Instant,
    nack_at: Option<Instant>,
}

/// The missing numbers of one buffer (extended), with their NACK timers.
#[derive(Debug)]
pub(super) struct Nacks {
    delay: Duration,
    interval: Duration,
    window: Duration,
    max: u32,
    /// The round trip to the relay, once known.
    rtt: Option<Duration>,
    /// How late reordered packets arrived after their gap appeared
    /// (a slowly decaying maximum).
    reorder: Duration,
    missing: BTreeMap<u64, Missing>,
}

impl Nacks {
    pub(super) fn new(config: &ReorderConfig) -> Self {
        Nacks {
            delay: Duration::from_millis(config.nack_delay_ms),
            interval: Duration::from_millis(config.nack_interval_ms.max(1)),
            window: Duration::from_millis(config.window_ms),
            max: config.max_nacks,
            rtt: None,
            reorder: Duration::ZERO,
            missing: BTreeMap::new(),
        }
    }

    /// The wait before a new gap's first NACK: longer than packets were
    /// seen to arrive out of order, so reordering costs no retransmission.
    fn first_delay(&self) -> Duration {
        self.delay.max(self.reorder * 5 / 4)
    }

    /// The wait between two NACKs of one number: a little over the round
    /// trip, so an answer on its way is not asked for again.
    fn retry(&self) -> Duration {
        self.rtt.map_or(self.interval, |rtt| (rtt * 5 / 4).max(MIN_RETRY))
    }

    /// The round trip to the relay is `rtt`.
    pub(super) fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = Some(rtt);
    }

    /// `ext` went missing at `now` (no change if it already was).
    pub(super) fn add(&mut self, now: Instant, ext: u64) {
        let nack_at = (self.max > 0).then(|| now + self.first_delay());
        self.missing.entry(ext).or_insert(Missing { since: now, nacks: 0, last_nack: now, nack_at });
    }

    /// `ext` arrived at `now`: whether it was missing and NACKed (a
    /// recovery). A packet never NACKed, or one arriving less than half a
    /// round trip after its NACK (too soon to be the answer), was
    /// reordered: how late it came lengthens the first delay.
    pub(super) fn arrived(&mut self, now: Instant, ext: u64) -> bool {
        let Some(m) = self.missing.remove(&ext) else { return false };
        let since_nack = now.saturating_duration_since(m.last_nack);
        let answer = m.nacks > 0 && self.rtt.is_none_or(|rtt| since_nack * 2 > rtt);
        if !answer {
            let lag = now.saturating_duration_since(m.since).min(self.window / 4);
            self.reorder = lag.max(self.reorder - self.reorder / 64);
        }
        m.nacks > 0
    }

    /// `ext` is no longer waited for (declared lost).
    pub(super) fn forget(&mut self, ext: u64) {
        self.missing.remove(&ext);
    }

    /// Numbers below `ext` are no longer waited for (nor counted).
    pub(super) fn forget_below(&mut self, ext: u64) {
        self.missing = self.missing.split_off(&ext);
    }

    /// The highest missing number.
    pub(super) fn last(&self) -> Option<u64> {
        self.missing.last_key_value().map(|(&k, _)| k)
    }

    /// When the next NACK is due.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.missing.values().filter_map(|m| m.nack_at).min()
    }

    /// The numbers due for a NACK at `now`, in order; each one's next NACK
    /// is scheduled, unless it was the last try or its answer could no
    /// longer arrive before the number is declared lost.
    pub(super) fn poll(&mut self, now: Instant) -> Vec<u64> {
        let (retry, answer) = (self.retry(), self.rtt.unwrap_or(self.delay));
        let mut due = Vec::new();
        for (&ext, m) in &mut self.missing {
            if m.nack_at.is_some_and(|at| at <= now) {
                m.nacks += 1;
                m.last_nack = now;
                let next = now + retry;
                m.nack_at = (m.nacks < self.max && next + answer <= m.since + self.window).then_some(next);
                due.push(ext);
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn config(max_nacks: u32) -> ReorderConfig {
        ReorderConfig {
            window_ms: 1000,
            nack_delay_ms: 10,
            nack_interval_ms: 50,
            nack_copies: 1,
            head_nacks: 0,
            max_nacks,
        }
    }

    #[test]
    fn each_missing_number_is_nacked_after_the_delay_then_every_interval_up_to_the_limit() {
        let mut n = Nacks::new(&config(2));
        n.add(ms(0), 7);
        n.add(ms(5), 9);
        n.add(ms(5), 7);
        assert_eq!((n.deadline(), n.last()), (Some(ms(10)), Some(9)), "7 keeps its first timer");
        assert_eq!(n.poll(ms(10)), [7]);
        assert_eq!(n.poll(ms(60)), [7, 9]);
        assert_eq!(n.poll(ms(110)), [9], "7 had its two tries");
        assert_eq!(n.deadline(), None);
        assert!(n.arrived(ms(120), 7), "NACKed, then arrived: recovered");
        n.forget(9);
        assert_eq!(n.last(), None);
    }

    #[test]
    fn retries_last_as_long_as_an_answer_fits_in_the_window() {
        let mut n = Nacks::new(&ReorderConfig { window_ms: 200, ..config(100) });
        n.add(ms(0), 1);
        let sent: Vec<u64> = (0..=200).filter(|&t| !n.poll(ms(t)).is_empty()).collect();
        // 10 ms, then every 50 ms while the next try plus an answer (the
        // delay, before any round trip is known) fits before 200 ms.
        assert_eq!(sent, [10, 60, 110, 160]);
    }

    #[test]
    fn retries_follow_the_round_trip() {
        let mut n = Nacks::new(&ReorderConfig { window_ms: 200, ..config(100) });
        n.set_rtt(Duration::from_millis(32));
        n.add(ms(0), 1);
        let sent: Vec<u64> = (0..=200).filter(|&t| !n.poll(ms(t)).is_empty()).collect();
        // Every 1.25 × 32 ms while the next try and its answer (32 ms) fit.
        assert_eq!(sent, [10, 50, 90, 130]);
    }

    #[test]
    fn reordered_packets_lengthen_the_first_delay() {
        let mut n = Nacks::new(&config(100));
        n.add(ms(0), 1);
        assert!(!n.arrived(ms(8), 1), "reordered by 8 ms, never NACKed");
        n.add(ms(100), 2);
        assert_eq!(n.deadline(), Some(ms(110)), "within the configured 10 ms");
        n.set_rtt(Duration::from_millis(30));
        assert_eq!(n.poll(ms(110)), [2]);
        assert!(n.arrived(ms(140), 2), "the answer, a round trip later");
        // NACKed, then here 2 ms later: reordered, not the answer.
        n.add(ms(200), 3);
        assert_eq!(n.poll(ms(210)), [3]);
        assert!(n.arrived(ms(212), 3), "NACKed, so counted recovered");
        n.add(ms(400), 5);
        assert_eq!(n.deadline(), Some(ms(415)), "1.25 × the 12 ms it came late");
    }

    #[test]
    fn reorder_is_learnt_from_unnacked_packets_and_from_answers_too_soon() {
        let mut n = Nacks::new(&config(100));
        n.add(ms(0), 1);
        assert!(!n.arrived(ms(12), 1), "never NACKed, no round trip known: reordered by 12 ms");
        n.add(ms(100), 2);
        assert_eq!(n.deadline(), Some(ms(115)));
        n.forget(2);
        n.set_rtt(Duration::from_millis(40));
        n.add(ms(200), 3);
        assert_eq!(n.poll(ms(215)), [3]);
        // Half a round trip after its NACK is still too soon for the answer.
        assert!(n.arrived(ms(235), 3));
        n.add(ms(300), 4);
        assert_eq!(n.deadline(), Some(ms(300) + Duration::from_micros(43_750)), "1.25 × 35 ms");
    }

    #[test]
    fn the_reorder_delay_is_capped_at_a_quarter_window_and_decays() {
        let mut n = Nacks::new(&config(100));
        n.add(ms(0), 1);
        n.arrived(ms(400), 1);
        n.add(ms(1_000), 2);
        assert_eq!(n.deadline(), Some(ms(1_000) + Duration::from_micros(312_500)), "1.25 × 250 ms, not 400");
        n.forget(2);
        n.add(ms(2_000), 3);
        n.arrived(ms(2_000), 3);
        n.add(ms(3_000), 4);
        // 250 less a 64th (246.09375 ms) by the in-order sample, × 1.25.
        assert_eq!(n.deadline(), Some(ms(3_000) + Duration::from_nanos(307_617_187)));
    }

    #[test]
    fn no_nacks_when_turned_off() {
        let mut n = Nacks::new(&ReorderConfig { max_nacks: 0, ..ReorderConfig::default() });
        n.add(ms(0), 1);
        assert_eq!(n.deadline(), None);
        assert!(!n.arrived(ms(1), 1), "waited for, never NACKed");
    }
}
