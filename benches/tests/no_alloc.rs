//! Once its queues are warm, forwarding a packet to 100 acknowledged
//! subscribers and draining the transmits allocates nothing (the zero-copy
//! fan-out of docs/architecture.md). The global allocator counts every
//! allocation; this file holds one test so no other test thread allocates
//! during the measurement.

use rtprelay_benches::Fanout;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SUBSCRIBERS: usize = 100;
/// More than the stream history holds (2048 by default), so every ring and
/// queue has reached its steady size.
const WARM_UP: usize = 5_000;
const MEASURED: usize = 1_000;

#[test]
fn forwarding_to_100_acked_subscribers_allocates_nothing_once_warm() {
    let mut fanout = Fanout::new(SUBSCRIBERS);
    let mut source = fanout.packets();
    for _ in 0..WARM_UP {
        fanout.forward(source.next_shared());
    }

    let packets: Vec<_> = (0..MEASURED).map(|_| source.next_shared()).collect();
    let region = Region::new(GLOBAL);
    let mut copies = 0;
    for packet in packets {
        copies += fanout.forward(packet);
    }
    let stats = region.change();
    assert_eq!(copies, SUBSCRIBERS * MEASURED);
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "forwarding {MEASURED} packets to {SUBSCRIBERS} subscribers allocated: {stats:?}"
    );

    // The counter is live: a packet whose buffer is not shared yet costs
    // its refcount allocation on the relay's first clone.
    let packets: Vec<_> = (0..MEASURED).map(|_| source.next_vec_backed()).collect();
    let region = Region::new(GLOBAL);
    for packet in packets {
        fanout.forward(packet);
    }
    assert!(region.change().allocations >= MEASURED, "the allocation counter sees allocations");
}
