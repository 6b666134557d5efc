//! The run's fingerprint: a SHA-256 over every step (time, what happened,
//! every datagram's bytes and addresses). Two runs of one seed must end
//! with the same hash; that is the determinism self-test.

use sha2::{Digest, Sha256};

/// The running hash of a trace.
pub struct Trace {
    hasher: Sha256,
    records: u64,
}

impl Default for Trace {
    fn default() -> Self {
        Trace { hasher: Sha256::new(), records: 0 }
    }
}

impl Trace {
    /// Adds one record made of `parts` (each length-prefixed, so records
    /// cannot run into each other).
    pub fn record(&mut self, parts: &[&[u8]]) {
        self.records += 1;
        self.hasher.update((parts.len() as u32).to_le_bytes());
        for part in parts {
            self.hasher.update((part.len() as u64).to_le_bytes());
            self.hasher.update(part);
        }
    }

    /// Records so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The first 8 bytes of the hash so far, as 16 hex digits.
    pub fn hex(&self) -> String {
        self.hasher.clone().finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_length_prefixed() {
        let mut a = Trace::default();
        a.record(&[b"ab", b"c"]);
        let mut b = Trace::default();
        b.record(&[b"a", b"bc"]);
        assert_ne!(a.hex(), b.hex());
        assert_eq!(a.hex().len(), 16);
    }
}
