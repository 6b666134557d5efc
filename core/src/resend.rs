//! `ResendGuard`: the sequence numbers resent lately, with when, so that
//! a NACK sent more than once against loss on its way (docs/protocol.md
//! §2.1, 2.2) is answered once. Both the relay (to each subscriber) and
//! the publisher (to the relay) keep one.

use crate::ids::Seq;
use crate::time::Instant;
use std::time::Duration;

/// Numbers remembered (by their low bits): more than are ever resent
/// within one guard interval.
const SLOTS: usize = 256;

/// A slot: the number last resent in it, and when.
type Slot = Option<(Seq, Instant)>;

/// The last resend of each recent sequence number.
#[derive(Default)]
pub(crate) struct ResendGuard {
    /// Allocated at the first resend: most subscribers never ask for one,
    /// and an idle subscriber should cost bytes, not a 6 KiB table.
    slots: Option<Box<[Slot]>>,
}

impl ResendGuard {
    /// Whether `seq` may be resent at `now`: not resent within `guard`
    /// (then it counts as resent now).
    pub(crate) fn allow(&mut self, now: Instant, seq: Seq, guard: Duration) -> bool {
        let slots = self.slots.get_or_insert_with(|| vec![None; SLOTS].into_boxed_slice());
        let slot = &mut slots[usize::from(seq.get()) % SLOTS];
        if slot.is_some_and(|(s, at)| s == seq && now.saturating_duration_since(at) < guard) {
            return false;
        }
        *slot = Some((seq, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_is_resent_once_per_guard_interval() {
        let mut g = ResendGuard::default();
        assert!(g.slots.is_none(), "no table before the first resend");
        let (guard, ms) = (Duration::from_millis(20), Instant::from_millis);
        assert!(g.allow(ms(100), Seq::new(7), guard));
        assert!(!g.allow(ms(119), Seq::new(7), guard), "a copy of the same NACK");
        assert!(g.allow(ms(119), Seq::new(8), guard), "another number");
        assert!(g.allow(ms(120), Seq::new(7), guard), "the next try");
        assert!(g.allow(ms(121), Seq::new(7 + SLOTS as u16), guard), "another number in the same slot");
        assert!(g.allow(ms(122), Seq::new(7), guard), "forgotten when its slot was reused");
    }
}
