//! Incoming sequence-number tracking per stream (RFC 3550 A.1): duplicate
//! suppression over the last 4096 numbers, restart on a jump of more than
//! 3000, and a count of numbers skipped and never filled.

use crate::Seq;

/// A jump larger than this (either way) is a publisher restart, not a gap.
pub(crate) const MAX_JUMP: i32 = 3000;
const WINDOW: usize = 4096;

/// What to do with an incoming sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not seen recently: forward it.
    New,
    /// Seen recently: drop it.
    Duplicate,
    /// A jump of more than 3000: the publisher restarted; forward it and
    /// forget what came before.
    Restart,
}

/// Tracks the highest sequence number and which recent ones were seen.
pub(crate) struct SeqTracker {
    highest: Option<Seq>,
    seen: Box<[u64; WINDOW / 64]>,
    /// Numbers skipped over that have not arrived (yet).
    missing: u64,
}

impl SeqTracker {
    pub(crate) fn new() -> Self {
        SeqTracker { highest: None, seen: Box::new([0; WINDOW / 64]), missing: 0 }
    }

    /// Forgets the history (on re-auth or restart); keeps the loss count.
    pub(crate) fn reset(&mut self) {
        self.highest = None;
        self.seen.fill(0);
    }

    fn bit(seq: Seq) -> (usize, u64) {
        let i = usize::from(seq.get()) % WINDOW;
        (i / 64, 1 << (i % 64))
    }

    fn mark(&mut self, seq: Seq) -> bool {
        let (w, b) = Self::bit(seq);
        let fresh = self.seen[w] & b == 0;
        self.seen[w] |= b;
        fresh
    }

    fn clear(&mut self, seq: Seq) {
        let (w, b) = Self::bit(seq);
        self.seen[w] &= !b;
    }

    /// Numbers skipped over that have not arrived (yet).
    pub(crate) fn missing(&self) -> u64 {
        self.missing
    }

    pub(crate) fn highest(&self) -> Option<Seq> {
        self.highest
    }

    pub(crate) fn observe(&mut self, seq: Seq) -> Verdict {
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            self.mark(seq);
            return Verdict::New;
        };
        let delta = i32::from(seq.delta(highest));
        if delta.abs() > MAX_JUMP {
            self.reset();
            self.highest = Some(seq);
            self.mark(seq);
            return Verdict::Restart;
        }
        if delta > 0 {
            for k in 1..=delta as u16 {
                self.clear(highest.add(k));
            }
            self.missing += (delta - 1) as u64;
            self.highest = Some(seq);
            self.mark(seq);
            return Verdict::New;
        }
        if self.mark(seq) {
            self.missing = self.missing.saturating_sub(1);
            Verdict::New
        } else {
            Verdict::Duplicate
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn duplicates_reorders_gaps_and_wraparound() {
        let mut t = SeqTracker::new();
        assert_eq!(t.observe(Seq::new(65535)), Verdict::New);
        assert_eq!(t.observe(Seq::new(2)), Verdict::New);
        assert_eq!(t.missing, 2, "0 and 1 were skipped");
        assert_eq!(t.observe(Seq::new(0)), Verdict::New, "a late packet is new");
        assert_eq!(t.missing, 1);
        assert_eq!(t.observe(Seq::new(0)), Verdict::Duplicate);
        assert_eq!(t.observe(Seq::new(2)), Verdict::Duplicate);
        assert_eq!(t.observe(Seq::new(65535)), Verdict::Duplicate);
    }

    #[test]
    fn a_jump_over_3000_is_a_restart() {
        let mut t = SeqTracker::new();
        t.observe(Seq::new(100));
        assert_eq!(t.observe(Seq::new(5000)), Verdict::Restart);
        assert_eq!(t.missing, 0, "a restart is not a gap");
        assert_eq!(t.observe(Seq::new(4999)), Verdict::New);
        assert_eq!(t.observe(Seq::new(100)), Verdict::Restart, "jumping back that far restarts too");
        assert_eq!(t.observe(Seq::new(4999)), Verdict::Restart, "the old numbers are forgotten");
    }

    proptest! {
        /// Against a model: any number within 3000 of the highest that was
        /// already seen (since the last restart) is a duplicate, else new.
        /// Small steps mostly, and jumps across the whole ±3000 range and
        /// just past it, so the window's far edge is reached too.
        #[test]
        fn matches_a_set_model(steps in proptest::collection::vec(prop_oneof![4 => -40i32..60, 1 => -3100i32..3100], 1..400)) {
            let mut t = SeqTracker::new();
            let mut seen = std::collections::BTreeSet::new();
            let mut cur: i64 = 1_000_000;
            let mut highest: i64 = cur + i64::from(steps[0]);
            for s in steps {
                cur += i64::from(s);
                if (highest - cur).abs() > 3000 {
                    seen.clear();
                    highest = cur;
                }
                let seq = Seq::new(cur.rem_euclid(65536) as u16);
                prop_assert_eq!(t.observe(seq) == Verdict::Duplicate, seen.contains(&cur));
                seen.insert(cur);
                highest = highest.max(cur);
            }
        }
    }
}
