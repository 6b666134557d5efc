//! An idle subscriber (acknowledged, not sent anything yet) costs the
//! relay's core at most 2 KiB of heap: the README's "Performance" target
//! for RSS per idle subscriber, measured here on the core alone, where
//! nothing but the relay allocates. The global allocator counts every
//! byte; this file holds one test so no other test thread allocates
//! during the measurement.

use rtprelay_benches::Fanout;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Enough subscribers that the tables' growth is averaged in.
const SUBSCRIBERS: usize = 10_000;
/// The target, bytes of heap per subscriber.
const MAX_PER_SUBSCRIBER: usize = 2_048;

/// Heap bytes still held after building a relay with `n` subscribers.
fn held(n: usize) -> (Fanout, usize) {
    let region = Region::new(GLOBAL);
    let fanout = Fanout::new(n);
    let stats = region.change();
    (fanout, stats.bytes_allocated + stats.bytes_reallocated.max(0) as usize - stats.bytes_deallocated)
}

#[test]
fn an_idle_subscriber_costs_the_core_at_most_2_kib() {
    let (empty, base) = held(0);
    drop(empty);
    let (full, total) = held(SUBSCRIBERS);
    assert_eq!(full.subscribers(), SUBSCRIBERS);
    let per = (total - base) / SUBSCRIBERS;
    println!("heap per idle subscriber: {per} bytes ({total} bytes for {SUBSCRIBERS}, {base} without any)");
    assert!(per <= MAX_PER_SUBSCRIBER, "an idle subscriber holds {per} bytes of heap (at most {MAX_PER_SUBSCRIBER})");
    // The count is live: the set-up itself allocates per subscriber.
    assert!(per >= 100, "the allocator counted {per} bytes per subscriber: is it counting?");
}
