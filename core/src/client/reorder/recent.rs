//! What became of the numbers just behind a reorder buffer's head:
//! emitted, or declared lost, so a packet arriving behind the head is told
//! a duplicate from a late one (docs/protocol.md §2.4).

/// How many numbers behind the head are remembered.
const RECENT: u64 = 1024;

/// One bit per number modulo [`RECENT`]: set, emitted; clear, declared lost.
#[derive(Clone, Debug)]
pub(super) struct Recent {
    bits: [u64; (RECENT / 64) as usize],
}

impl Default for Recent {
    fn default() -> Self {
        Recent { bits: [0; (RECENT / 64) as usize] }
    }
}

impl Recent {
    /// `ext` was emitted (`true`) or declared lost.
    pub(super) fn mark(&mut self, ext: u64, emitted: bool) {
        let i = (ext % RECENT) as usize;
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        if emitted {
            self.bits[word] |= bit;
        } else {
            self.bits[word] &= !bit;
        }
    }

    /// Whether `ext`, behind the head `next`, was emitted (within memory).
    pub(super) fn was_emitted(&self, next: u64, ext: u64) -> bool {
        let i = (ext % RECENT) as usize;
        next - ext <= RECENT && self.bits[i / 64] & (1 << (i % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_1024_numbers() {
        let mut r = Recent::default();
        r.mark(5, true);
        r.mark(6, false);
        assert!(r.was_emitted(10, 5));
        assert!(!r.was_emitted(10, 6), "declared lost");
        assert!(!r.was_emitted(5 + RECENT + 1, 5), "too far behind");
        r.mark(5 + RECENT, false);
        assert!(!r.was_emitted(5 + RECENT + 1, 5 + RECENT), "the slot was reused");
    }
}
