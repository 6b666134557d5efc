//! A stream's recent packets, kept for retransmission (docs/protocol.md §2.1) and
//! for a joining subscriber (2.5), bounded by count and age. Slots are
//! indexed by sequence number, so a lookup is one array access and keeping
//! a packet is a refcount, never a copy.

use crate::Seq;
use crate::time::Instant;
use bytes::Bytes;
use std::time::Duration;

struct Entry {
    seq: Seq,
    at: Instant,
    data: Bytes,
}

/// The last `capacity` sequence numbers of a stream (rounded up to a power
/// of two), each kept for at most `max_age`.
pub(super) struct History {
    slots: Box<[Option<Entry>]>,
    max_age: Duration,
}

impl History {
    pub(super) fn new(capacity: usize, max_age: Duration) -> Self {
        let capacity = capacity.clamp(1, 1 << 15).next_power_of_two();
        History { slots: (0..capacity).map(|_| None).collect(), max_age }
    }

    fn index(&self, seq: Seq) -> usize {
        usize::from(seq.get()) & (self.slots.len() - 1)
    }

    pub(super) fn insert(&mut self, seq: Seq, at: Instant, data: Bytes) {
        let i = self.index(seq);
        self.slots[i] = Some(Entry { seq, at, data });
    }

    pub(super) fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
    }

    /// The packet `seq`, if kept and not older than `max_age`.
    pub(super) fn get(&self, seq: Seq, now: Instant) -> Option<&Bytes> {
        match &self.slots[self.index(seq)] {
            Some(e) if e.seq == seq && now.saturating_duration_since(e.at) <= self.max_age => Some(&e.data),
            _ => None,
        }
    }

    /// Kept packets that arrived at or after `since`, with their numbers,
    /// in sequence order up to `highest`.
    pub(super) fn since(&self, highest: Seq, since: Instant, now: Instant) -> impl Iterator<Item = (Seq, &Bytes)> + '_ {
        let n = self.slots.len() as u16;
        (0..n).rev().filter_map(move |back| {
            let seq = highest.sub(back);
            match &self.slots[self.index(seq)] {
                Some(e) if e.seq == seq && e.at >= since && now.saturating_duration_since(e.at) <= self.max_age => {
                    Some((seq, &e.data))
                }
                _ => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn bounded_by_count_and_age() {
        let mut h = History::new(4, Duration::from_millis(100));
        for seq in 0..6u16 {
            h.insert(Seq::new(seq), at(u64::from(seq) * 10), Bytes::from(vec![seq as u8]));
        }
        assert!(h.get(Seq::new(1), at(60)).is_none(), "overwritten by 5");
        assert_eq!(h.get(Seq::new(5), at(60)).unwrap()[..], [5]);
        assert!(h.get(Seq::new(2), at(121)).is_none(), "too old");
        let since: Vec<(u16, u8)> = h.since(Seq::new(5), at(30), at(60)).map(|(s, b)| (s.get(), b[0])).collect();
        assert_eq!(since, [(3, 3), (4, 4), (5, 5)]);
    }

    #[test]
    fn since_runs_across_wraparound_in_sequence_order() {
        let mut h = History::new(8, Duration::from_secs(1));
        for (i, seq) in [65534u16, 65535, 0, 1].into_iter().enumerate() {
            h.insert(Seq::new(seq), at(i as u64), Bytes::from(vec![i as u8]));
        }
        assert_eq!(h.since(Seq::new(1), at(0), at(5)).map(|(_, b)| b[0]).collect::<Vec<_>>(), [0, 1, 2, 3]);
    }
}
