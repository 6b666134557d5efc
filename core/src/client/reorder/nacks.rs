//! The numbers a reorder buffer waits for, and when each is NACKed: first
//! `nack_delay` after its gap appeared, then every `nack_interval`, at most
//! `max_nacks` times (docs/protocol.md §2.1, 2.4).

use super::ReorderConfig;
use crate::time::Instant;
use std::collections::BTreeMap;
use std::time::Duration;

/// A sequence number the buffer is waiting for.
#[derive(Clone, Copy, Debug)]
struct Missing {
    nacks: u32,
    nack_at: Option<Instant>,
}

/// The missing numbers of one buffer (extended), with their NACK timers.
#[derive(Debug)]
pub(super) struct Nacks {
    delay: Duration,
    interval: Duration,
    max: u32,
    missing: BTreeMap<u64, Missing>,
}

impl Nacks {
    pub(super) fn new(config: &ReorderConfig) -> Self {
        Nacks {
            delay: Duration::from_millis(config.nack_delay_ms),
            interval: Duration::from_millis(config.nack_interval_ms.max(1)),
            max: config.max_nacks,
            missing: BTreeMap::new(),
        }
    }

    /// `ext` went missing at `now` (no change if it already was).
    pub(super) fn add(&mut self, now: Instant, ext: u64) {
        let nack_at = (self.max > 0).then(|| now + self.delay);
        self.missing.entry(ext).or_insert(Missing { nacks: 0, nack_at });
    }

    /// `ext` arrived: whether it was missing and NACKed (a recovery).
    pub(super) fn arrived(&mut self, ext: u64) -> bool {
        self.missing.remove(&ext).is_some_and(|m| m.nacks > 0)
    }

    /// `ext` is no longer waited for (declared lost).
    pub(super) fn forget(&mut self, ext: u64) {
        self.missing.remove(&ext);
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
    /// is scheduled (or none after the last try).
    pub(super) fn poll(&mut self, now: Instant) -> Vec<u64> {
        let mut due = Vec::new();
        for (&ext, m) in &mut self.missing {
            if m.nack_at.is_some_and(|at| at <= now) {
                m.nacks += 1;
                m.nack_at = (m.nacks < self.max).then(|| now + self.interval);
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

    #[test]
    fn each_missing_number_is_nacked_after_the_delay_then_every_interval_up_to_the_limit() {
        let config =
            ReorderConfig { nack_delay_ms: 10, nack_interval_ms: 50, max_nacks: 2, ..ReorderConfig::default() };
        let mut n = Nacks::new(&config);
        n.add(ms(0), 7);
        n.add(ms(5), 9);
        n.add(ms(5), 7);
        assert_eq!((n.deadline(), n.last()), (Some(ms(10)), Some(9)), "7 keeps its first timer");
        assert_eq!(n.poll(ms(10)), [7]);
        assert_eq!(n.poll(ms(60)), [7, 9]);
        assert_eq!(n.poll(ms(110)), [9], "7 had its two tries");
        assert_eq!(n.deadline(), None);
        assert!(n.arrived(7), "NACKed, then arrived: recovered");
        n.forget(9);
        assert_eq!(n.last(), None);
    }

    #[test]
    fn no_nacks_when_turned_off() {
        let mut n = Nacks::new(&ReorderConfig { max_nacks: 0, ..ReorderConfig::default() });
        n.add(ms(0), 1);
        assert_eq!(n.deadline(), None);
        assert!(!n.arrived(1), "waited for, never NACKed");
    }
}
