//! One `u64` seed, one universe: SplitMix64 expands the run's seed into the
//! independent seeds of the relay, the network and the scenario, and
//! [`SimRng`] is the simulator's own random stream (never the relay's).

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::time::Duration;

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator whose outputs are
/// well mixed even for adjacent seeds, used only to derive other seeds.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next output.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 32 bytes from four outputs (a ChaCha seed).
    pub fn next_seed32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        out
    }
}

/// The seeds of one run, all derived from its `u64` seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeds {
    /// The relay's own RNG seed (SSRCs, client ids, challenges, hash keys).
    pub relay: [u8; 32],
    /// The network model's RNG seed (loss, delay, duplication, reordering).
    pub network: [u8; 32],
    /// The scenario generator's RNG seed (start times, sizes, credentials).
    pub scenario: [u8; 32],
}

impl Seeds {
    /// Derives the three seeds, in a fixed order, from `seed`.
    pub fn derive(seed: u64) -> Self {
        let mut sm = SplitMix64::new(seed);
        Seeds { relay: sm.next_seed32(), network: sm.next_seed32(), scenario: sm.next_seed32() }
    }
}

/// A random stream of the simulator (network or scenario), with the few
/// distributions the simulation needs.
pub struct SimRng(ChaCha8Rng);

impl SimRng {
    /// A stream from a 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        SimRng(ChaCha8Rng::from_seed(seed))
    }

    /// A uniform `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniform number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.0.next_u64() % n }
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`; draws nothing when `p` is 0, so adding a
    /// zero-probability feature does not shift the stream.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// A uniform duration in `[0, max]`, in whole microseconds.
    pub fn duration_up_to(&mut self, max: Duration) -> Duration {
        let micros = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(self.below(micros.saturating_add(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_outputs() {
        // First outputs for seed 1234567 of the reference C implementation.
        let mut sm = SplitMix64::new(1_234_567);
        assert_eq!(sm.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(sm.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn derived_seeds_are_distinct_and_reproducible() {
        let a = Seeds::derive(7);
        assert_eq!(a, Seeds::derive(7));
        assert_ne!(a.relay, a.network);
        assert_ne!(a.network, a.scenario);
        assert_ne!(a.relay, Seeds::derive(8).relay);
    }

    #[test]
    fn zero_probability_draws_nothing() {
        let mut a = SimRng::from_seed([3; 32]);
        let mut b = SimRng::from_seed([3; 32]);
        assert!(!a.chance(0.0));
        assert_eq!(a.next_u64(), b.next_u64());
    }
}
