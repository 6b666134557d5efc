//! A pull client that leaves (PROTOCOL §1.4.7 heartbeat timeout, §1.4.8
//! stop, §2.3 address change, or replaced by another id at its address)
//! leaves no per-client state behind: once the relay's queues are drained,
//! its [`StateSizes`] are back to those of a relay that never had it. And
//! [`Relay::client_bindings`], the read-only view invariant checkers use.
//!
//! [`StateSizes`]: rtprelay_core::StateSizes
//! [`Relay::client_bindings`]: rtprelay_core::Relay::client_bindings

mod common;

use common::*;
use rtprelay_core::ClientId;
use rtprelay_core::Endpoint;
use rtprelay_core::Port;
use rtprelay_core::packet::pt;
use rtprelay_core::{ClientBinding, StateSizes};
use std::net::SocketAddr;
use std::time::Duration;

const PUB: u16 = 5000;
const SUB: u16 = 7000;
const NEW: u16 = 7100;

/// A live stream "a" and nothing else, drained: the baseline sizes.
fn live() -> (Harness, u32, StateSizes) {
    let mut h = Harness::new();
    h.add_credential("a", "code");
    let ssrc = h.auth(Port::Push, addr(PUB), "a", "code");
    h.drain();
    let base = h.relay.state_sizes();
    assert_eq!((base.clients, base.destinations, base.queued_datagrams), (0, 0, 0), "{base:?}");
    (h, ssrc, base)
}

/// A subscriber of "a" at `from`, acked, with data queued for it and not
/// sent yet, and a chunked pull request half received.
fn busy_subscriber(h: &mut Harness, ssrc: u32, from: SocketAddr) -> u32 {
    let id = h.subscriber(Port::Pull, from, &["a"]);
    for seq in 1..=5 {
        h.relay.handle_datagram(h.now, Port::Push, addr(PUB), packet(pt::TS_DATA, false, seq, 0, ssrc, &[0x47; 188]));
    }
    let first_chunk = packet(pt::PULL_REQ, false, 0, 0, id, &[b'x'; 738]);
    h.relay.handle_datagram(h.now, Port::Pull, from, first_chunk);
    let sizes = h.relay.state_sizes();
    assert_eq!((sizes.clients, sizes.pending_reassemblies), (1, 1), "{sizes:?}");
    assert!(sizes.queued_datagrams >= 5 && sizes.destinations == 1, "{sizes:?}");
    id
}

/// After draining, and again once every deadline of the client has
/// passed, the sizes are the baseline's (timers: at most the baseline's).
fn assert_nothing_left(h: &mut Harness, base: StateSizes) {
    h.drain();
    let sizes = h.relay.state_sizes();
    let per_client = |s: StateSizes| (s.clients, s.pending_reassemblies, s.queued_datagrams, s.destinations);
    assert_eq!(per_client(sizes), per_client(base), "right after leaving: {sizes:?}");
    assert!(h.relay.client_bindings().is_empty());
    // The stream would idle out; keep it live while stale deadlines pop.
    for _ in 0..12 {
        h.advance(Duration::from_secs(1));
        h.auth(Port::Push, addr(PUB), "a", "code");
    }
    let sizes = h.relay.state_sizes();
    assert_eq!(per_client(sizes), per_client(base), "later: {sizes:?}");
    assert!(sizes.timers <= base.timers, "stale client deadlines are gone: {sizes:?} vs {base:?}");
}

#[test]
fn a_stopped_client_leaves_no_state() {
    let (mut h, ssrc, base) = live();
    let id = busy_subscriber(&mut h, ssrc, addr(SUB));
    h.relay.handle_datagram(h.now, Port::Pull, addr(SUB), packet(pt::STOP_PULL_REQ, false, 0, 0, id, b""));
    assert_nothing_left(&mut h, base);
}

#[test]
fn a_client_timed_out_leaves_no_state() {
    let (mut h, ssrc, base) = live();
    busy_subscriber(&mut h, ssrc, addr(SUB));
    for _ in 0..11 {
        h.advance(Duration::from_secs(1));
        h.auth(Port::Push, addr(PUB), "a", "code");
    }
    assert_eq!(h.counters().client_heartbeat_timeout, 1);
    assert_nothing_left(&mut h, base);
}

#[test]
fn a_moved_client_leaves_nothing_at_its_old_address_and_nothing_once_stopped() {
    let (mut h, ssrc, base) = live();
    let id = busy_subscriber(&mut h, ssrc, addr(SUB));
    let mut challenge = None;
    while challenge.is_none() {
        let out = h.heartbeat(Port::Pull, addr(NEW), id);
        challenge = of(&out, pt::PULL_RSP).first().map(|r| r.header().ssrc);
    }
    h.ack(Port::Pull, addr(NEW), id, challenge.expect("a PULL_RSP"), "a");
    h.advance(Duration::from_millis(2_000));
    let bound = h.relay.client_bindings();
    assert_eq!(bound.iter().map(|b| (b.id.get(), b.address)).collect::<Vec<_>>(), [(id, addr(NEW))]);
    let sizes = h.relay.state_sizes();
    assert_eq!((sizes.clients, sizes.destinations, sizes.queued_datagrams), (1, 1, 0), "old slot freed: {sizes:?}");
    h.send(Port::Pull, addr(NEW), packet(pt::STOP_PULL_REQ, false, 0, 0, id, b""));
    assert_nothing_left(&mut h, base);
}

#[test]
fn a_client_replaced_at_its_address_leaves_no_state() {
    let (mut h, ssrc, base) = live();
    let first = busy_subscriber(&mut h, ssrc, addr(SUB));
    h.drain();
    // Another client moves onto the first one's address: the first goes.
    let second = h.subscriber(Port::Pull, addr(NEW), &["a"]);
    let mut challenge = None;
    while challenge.is_none() {
        let out = h.heartbeat(Port::Pull, addr(SUB), second);
        challenge = of(&out, pt::PULL_RSP).first().map(|r| r.header().ssrc);
    }
    h.ack(Port::Pull, addr(SUB), second, challenge.expect("a PULL_RSP"), "a");
    h.advance(Duration::from_millis(2_000));
    let bound: Vec<u32> = h.relay.client_bindings().iter().map(|b| b.id.get()).collect();
    assert_eq!(bound, [second], "{first} replaced");
    h.send(Port::Pull, addr(SUB), packet(pt::STOP_PULL_REQ, false, 0, 0, second, b""));
    assert_nothing_left(&mut h, base);
}

#[test]
fn client_bindings_name_each_client_its_address_and_acked_streams() {
    let (mut h, ssrc, _) = live();
    h.add_credential("b", "code");
    h.auth(Port::Push, addr(PUB + 1), "b", "code");
    let first = h.subscriber(Port::Pull, addr(SUB), &["a", "b", "off"]);
    let second = h.client_id(Port::Push, addr(NEW));
    let mut expected = vec![
        ClientBinding {
            id: ClientId::new(first),
            port: Port::Pull,
            address: addr(SUB),
            verified: true,
            acked: vec![stream_id("a"), stream_id("b")],
        },
        ClientBinding {
            id: ClientId::new(second),
            port: Port::Push,
            address: addr(NEW),
            verified: false,
            acked: Vec::new(),
        },
    ];
    expected.sort_by_key(|b| b.id);
    assert_eq!(h.relay.client_bindings(), expected);
    // Listed but not acked: not in `acked`; the view changes nothing.
    h.pull(Port::Push, addr(NEW), second, &["a"]);
    let before = (h.relay.state_sizes(), h.counters());
    let view = h.relay.client_bindings();
    assert!(view.iter().any(|b| b.id.get() == second && b.verified && b.acked.is_empty()), "{view:?}");
    assert_eq!((h.relay.state_sizes(), h.counters()), before);
    assert_eq!(h.ts_data(addr(PUB), ssrc, 1, b"x").iter().map(|s| s.to).collect::<Vec<_>>(), [addr(SUB)]);
}
