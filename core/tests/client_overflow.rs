//! A client whose driver does not drain it drops the oldest datagrams
//! beyond `max_queued_datagrams` and counts each one (`tx_overflow`).

use rtprelay_core::{Endpoint, Instant, PushClient, PushConfig, WallClock};
use std::net::SocketAddr;

fn publisher(max_queued_datagrams: usize) -> PushClient {
    let relay: SocketAddr = "127.0.0.1:61040".parse().unwrap();
    let config = PushConfig { max_queued_datagrams, ..PushConfig::default() };
    PushClient::new(config, relay, [4; 32], WallClock::new(Instant::ZERO, 1_700_000_000_000))
}

/// Three streams' auths, nothing drained.
fn three_auths(client: &mut PushClient) {
    for id in ["a", "b", "c"] {
        client.auth(Instant::ZERO, id, "code").unwrap();
    }
}

#[test]
fn every_dropped_datagram_is_counted_and_none_while_there_is_room() {
    let mut roomy = publisher(4_096);
    three_auths(&mut roomy);
    let queued: usize = std::iter::from_fn(|| roomy.poll_transmit(64)).map(|t| t.segments.len()).sum();
    assert!(queued >= 3, "an auth each");
    assert_eq!(roomy.counters().tx_overflow, 0);

    let mut tight = publisher(1);
    three_auths(&mut tight);
    assert_eq!(tight.counters().tx_overflow, queued as u64 - 1, "all but the newest dropped");
    let kept: usize = std::iter::from_fn(|| tight.poll_transmit(64)).map(|t| t.segments.len()).sum();
    assert_eq!(kept, 1);
}
