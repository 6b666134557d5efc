//! Fan-out cost: one accepted `TS_DATA` (1316-byte payload) to 1, 10, 100
//! and 1000 acknowledged subscribers, through `handle_datagram` and a full
//! drain of `poll_transmit`. Throughput is in subscriber copies.
//!
//! `cargo bench -p rtprelay-benches --bench forward -- --quick`

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rtprelay_benches::Fanout;
use std::hint::black_box;
use std::time::Duration;

fn forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward");
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for subscribers in [1, 10, 100, 1000] {
        let mut fanout = Fanout::new(subscribers);
        let mut source = fanout.packets();
        group.throughput(Throughput::Elements(subscribers as u64));
        group.bench_function(BenchmarkId::from_parameter(subscribers), |b| {
            b.iter_batched(|| source.next_shared(), |packet| black_box(fanout.forward(packet)), BatchSize::SmallInput);
        });
        assert_eq!(fanout.relay().counters().ts_data_duplicate, 0, "every measured packet was new");
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
