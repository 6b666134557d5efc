//! A stream's recent packets, kept for retransmission (docs/protocol.md §2.1) and
//! for a joining subscriber (2.5), bounded by count and age. Slots are
//! indexed by sequence number, so a lookup is one array access and keeping
//! a packet is a refcount, never a copy. Packets too old to serve are
//! dropped from the oldest end as new ones arrive, so a slow stream holds
//! about `max_age` of packets, not `capacity` of them; and the slot array
//! starts small and doubles only when a packet would overwrite one still
//! young enough to serve, so it is sized by the stream's rate times
//! `max_age`, up to `capacity`.

use crate::Seq;
use crate::time::Instant;
use bytes::Bytes;
use std::time::Duration;

/// Slots the oldest end advances at most per insert: more than one, so
/// it catches up with the newest after a burst.
const EVICT_STEPS: usize = 4;
/// Slots a history starts with (at most its capacity).
const INITIAL_SLOTS: u16 = 64;

struct Entry {
    seq: Seq,
    at: Instant,
    data: Bytes,
}

/// The last `capacity` sequence numbers of a stream (rounded up to a power
/// of two), each kept for at most `max_age`.
pub(super) struct History {
    slots: Box<[Option<Entry>]>,
    /// The slot count less one (a power of two less one).
    mask: u16,
    /// The most slots it may grow to.
    capacity: u16,
    max_age: Duration,
    /// The newest number kept, and the oldest that may still hold a
    /// packet (where eviction goes on).
    span: Option<(Seq, Seq)>,
}

impl History {
    pub(super) fn new(capacity: usize, max_age: Duration) -> Self {
        let capacity: u16 = capacity.clamp(1, 1 << 15).next_power_of_two().try_into().unwrap_or(1 << 15);
        let slots = INITIAL_SLOTS.min(capacity);
        History { slots: (0..slots).map(|_| None).collect(), mask: slots - 1, capacity, max_age, span: None }
    }

    fn index(&self, seq: Seq) -> usize {
        usize::from(seq.get() & self.mask)
    }

    pub(super) fn insert(&mut self, seq: Seq, at: Instant, data: Bytes) {
        while self.slots.len() < usize::from(self.capacity) && self.young_other(seq, at) {
            self.grow();
        }
        let i = self.index(seq);
        self.slots[i] = Some(Entry { seq, at, data });
        self.evict(seq, at);
    }

    /// Whether `seq`'s slot holds another packet still young enough to
    /// serve at `now`.
    fn young_other(&self, seq: Seq, now: Instant) -> bool {
        matches!(&self.slots[self.index(seq)],
            Some(e) if e.seq != seq && now.saturating_duration_since(e.at) <= self.max_age)
    }

    /// Doubles the slot array, moving every packet to its new slot.
    fn grow(&mut self) {
        let len = self.slots.len() * 2;
        let mut slots: Box<[Option<Entry>]> = (0..len).map(|_| None).collect();
        let mask = u16::try_from(len - 1).unwrap_or(u16::MAX);
        for entry in self.slots.iter_mut().filter_map(Option::take) {
            let i = usize::from(entry.seq.get() & mask);
            slots[i] = Some(entry);
        }
        (self.slots, self.mask) = (slots, mask);
    }

    /// Drops packets older than `max_age` from the oldest end, a few slots
    /// per insert; stops at the first packet still young enough (the ones
    /// after it arrived later).
    fn evict(&mut self, inserted: Seq, now: Instant) {
        let (newest, oldest) = match self.span {
            None => (inserted, inserted),
            Some((newest, oldest)) if inserted.is_after(newest) => (inserted, oldest),
            Some(span) => span,
        };
        // Slots further back than the capacity were overwritten anyway.
        let mut oldest = newest.sub(newest.since(oldest).min(self.mask));
        for _ in 0..EVICT_STEPS {
            if oldest == newest {
                break;
            }
            let i = self.index(oldest);
            match &self.slots[i] {
                Some(e) if e.seq == oldest && now.saturating_duration_since(e.at) <= self.max_age => break,
                Some(e) if e.seq == oldest => self.slots[i] = None,
                _ => {}
            }
            oldest = oldest.next();
        }
        self.span = Some((newest, oldest));
    }

    pub(super) fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.span = None;
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

    fn held(h: &History) -> usize {
        h.slots.iter().filter(|s| s.is_some()).count()
    }

    #[test]
    fn a_slow_stream_holds_about_max_age_of_packets_not_capacity() {
        let mut h = History::new(1024, Duration::from_millis(100));
        for seq in 0..1000u16 {
            h.insert(Seq::new(seq), at(u64::from(seq) * 10), Bytes::from(vec![0; 8]));
            assert!(held(&h) <= 12, "after {seq}: {} packets held, 11 are young enough", held(&h));
        }
        assert_eq!(held(&h), 11, "989 (exactly 100 ms old) to 999");
        assert!(h.get(Seq::new(999), at(9_990)).is_some());
        assert!(h.get(Seq::new(989), at(9_990)).is_some(), "exactly max_age old is served");
    }

    #[test]
    fn eviction_stops_at_a_young_packet_and_catches_up_after_a_pause() {
        let mut h = History::new(64, Duration::from_millis(100));
        for seq in 0..10u16 {
            h.insert(Seq::new(seq), at(0), Bytes::from(vec![0; 8]));
        }
        assert_eq!(held(&h), 10, "all young");
        // After a pause, each insert drops up to four aged packets.
        h.insert(Seq::new(10), at(1_000), Bytes::from(vec![0; 8]));
        assert_eq!(held(&h), 7);
        h.insert(Seq::new(11), at(1_000), Bytes::from(vec![0; 8]));
        h.insert(Seq::new(12), at(1_000), Bytes::from(vec![0; 8]));
        assert_eq!(held(&h), 3, "10, 11 and 12");
        // A late, older packet is kept and served while young.
        h.insert(Seq::new(5), at(1_000), Bytes::from(vec![5]));
        assert_eq!(h.get(Seq::new(5), at(1_050)).unwrap()[..], [5]);
        // It does not move the oldest end back: 10 to 12 go at the next insert.
        h.insert(Seq::new(13), at(1_200), Bytes::from(vec![0; 8]));
        assert_eq!(held(&h), 2, "5 (behind the oldest end, left to be overwritten) and 13");
        h.clear();
        assert_eq!(held(&h), 0);
        h.insert(Seq::new(40_000), at(2_000), Bytes::from(vec![0; 8]));
        h.insert(Seq::new(40_001), at(2_200), Bytes::from(vec![0; 8]));
        assert_eq!(held(&h), 1, "a restart starts the span afresh: 40000 aged out at once");
    }

    #[test]
    fn eviction_never_drops_a_packet_of_another_number() {
        // 8 slots: after the gap 2..=9 the slots of 8 and 9 still hold 0 and
        // 1, young, which the oldest end walks past.
        let mut h = History::new(8, Duration::from_millis(100));
        h.insert(Seq::new(0), at(0), Bytes::from(vec![0]));
        h.insert(Seq::new(1), at(0), Bytes::from(vec![1]));
        h.insert(Seq::new(10), at(50), Bytes::from(vec![10]));
        h.insert(Seq::new(11), at(60), Bytes::from(vec![11]));
        assert_eq!(h.get(Seq::new(0), at(60)).unwrap()[..], [0]);
        assert_eq!(h.get(Seq::new(1), at(60)).unwrap()[..], [1]);
    }

    #[test]
    fn eviction_runs_across_wraparound_and_after_a_jump() {
        let mut h = History::new(8, Duration::from_millis(10));
        for (i, seq) in (65_530u16..=65_535).chain(0..20).enumerate() {
            h.insert(Seq::new(seq), at(i as u64 * 10), Bytes::from(vec![0; 8]));
            assert!(held(&h) <= 3, "{} held after {seq}", held(&h));
        }
        // A jump far ahead: the old span is overwritten or evicted, never walked.
        h.insert(Seq::new(30_000), at(1_000), Bytes::from(vec![0; 8]));
        h.insert(Seq::new(30_001), at(1_000), Bytes::from(vec![0; 8]));
        assert!(held(&h) <= 4);
    }

    #[test]
    fn the_slot_array_grows_only_for_young_packets_and_never_past_capacity() {
        let mut h = History::new(1024, Duration::from_millis(100));
        assert_eq!(h.slots.len(), 64, "it starts small");
        for seq in 0..200u16 {
            h.insert(Seq::new(seq), at(0), Bytes::from(seq.to_be_bytes().to_vec()));
        }
        assert_eq!(h.slots.len(), 256, "200 young packets need 256 slots");
        assert!((0..200u16).all(|s| h.get(Seq::new(s), at(50)).is_some_and(|b| b[..] == s.to_be_bytes())));
        assert_eq!(h.since(Seq::new(199), at(0), at(50)).count(), 200);
        // Aged packets are overwritten, not grown around.
        let mut slow = History::new(1024, Duration::from_millis(100));
        for seq in 0..1000u16 {
            slow.insert(Seq::new(seq), at(u64::from(seq) * 20), Bytes::from(vec![0; 8]));
        }
        assert_eq!(slow.slots.len(), 64, "6 young packets at a time fit");
        // And never more than the capacity: the oldest young ones go.
        let mut full = History::new(128, Duration::from_secs(10));
        for seq in 0..300u16 {
            full.insert(Seq::new(seq), at(0), Bytes::from(vec![0; 8]));
        }
        assert_eq!(full.slots.len(), 128);
        assert!(full.get(Seq::new(171), at(0)).is_none() && full.get(Seq::new(172), at(0)).is_some());
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
