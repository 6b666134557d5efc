//! The seeded randomness of a state machine (ids, SSRCs, challenges, hash
//! keys) and the keyed hash maps built from it.

use crate::packet::pt::is_assignable_id;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A hash map keyed by a hasher seeded from the state machine's RNG, so
/// values the network controls cannot be chosen to collide (hash flooding)
/// and a seed replays exactly.
pub(crate) type Map<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;

/// The state machine's only source of randomness.
pub(crate) struct Rng(ChaCha8Rng);

impl Rng {
    pub(crate) fn from_seed(seed: [u8; 32]) -> Self {
        Rng(ChaCha8Rng::from_seed(seed))
    }

    pub(crate) fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// An empty map with a fresh hash key.
    pub(crate) fn map<K, V>(&mut self) -> Map<K, V> {
        Map::with_hasher(foldhash::fast::FixedState::with_seed(self.0.next_u64()))
    }

    /// An empty map whose hash key comes from another stream of the same
    /// seed: the main sequence (ids, SSRCs, challenges, the other maps'
    /// keys) stays what it was, so state added later does not change what
    /// a seed gives the rest.
    pub(crate) fn map_aside<K, V>(&mut self, stream: u64) -> Map<K, V> {
        let mut side = self.0.clone();
        side.set_stream(stream);
        Map::with_hasher(foldhash::fast::FixedState::with_seed(side.next_u64()))
    }

    /// A random id that is no sentinel and for which `taken` is false.
    pub(crate) fn assignable_id(&mut self, taken: impl Fn(u32) -> bool) -> u32 {
        loop {
            let id = self.0.next_u32();
            if is_assignable_id(id) && !taken(id) {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignable_ids_skip_sentinels_and_taken_ids() {
        let mut rng = Rng::from_seed([1; 32]);
        let first = rng.assignable_id(|_| false);
        let mut rng = Rng::from_seed([1; 32]);
        let second = rng.assignable_id(|id| id == first);
        assert_ne!(first, second);
        assert!(is_assignable_id(first) && is_assignable_id(second));
    }

    /// Challenges and ids drawn one after another are not predictable from
    /// each other (a constant generator would make challenges guessable).
    #[test]
    fn draws_differ() {
        let mut rng = Rng::from_seed([1; 32]);
        let draws: std::collections::BTreeSet<u32> = (0..64).map(|_| rng.next_u32()).collect();
        assert_eq!(draws.len(), 64);
    }

    /// What a map's hash key makes of a few keys.
    fn hashes(m: &Map<u32, ()>) -> Vec<u64> {
        use std::hash::BuildHasher;
        (0..8u32).map(|k| m.hasher().hash_one(k)).collect()
    }

    /// Each map gets its own hash key from the generator, so the network
    /// cannot precompute colliding keys (a default, fixed key could be).
    #[test]
    fn maps_are_keyed_by_the_generator() {
        let mut rng = Rng::from_seed([1; 32]);
        let (a, b) = (rng.map::<u32, ()>(), rng.map::<u32, ()>());
        let fixed = Map::<u32, ()>::default();
        assert_ne!(hashes(&a), hashes(&b));
        assert_ne!(hashes(&a), hashes(&fixed));
    }

    /// A side map is keyed from the generator too (not the fixed default
    /// key), by its own stream, and drawing it leaves the main sequence as
    /// it was.
    #[test]
    fn side_maps_are_keyed_without_moving_the_main_sequence() {
        let mut rng = Rng::from_seed([1; 32]);
        let side = rng.map_aside::<u32, ()>(1);
        assert_ne!(hashes(&side), hashes(&Map::default()));
        assert_ne!(hashes(&side), hashes(&rng.map_aside(2)));
        assert_eq!(rng.next_u32(), Rng::from_seed([1; 32]).next_u32());
    }
}
