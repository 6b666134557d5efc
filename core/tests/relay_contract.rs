//! The relay's call contract (debug-asserted) and its wall clock: the
//! driver's side of the sans-IO interface.

mod common;

use common::{Harness, addr, packet, stream_id};
use rtprelay_core::packet::pt;
use rtprelay_core::{Endpoint, Port, WallClock};
use std::time::Duration;

#[test]
#[should_panic(expected = "call contract: now must not go backwards")]
#[cfg(debug_assertions)]
fn time_going_backwards_breaks_the_call_contract() {
    let mut h = Harness::new();
    h.send(Port::Push, addr(5000), packet(pt::DELAY_REQ, false, 0, 1, 0, b"x"));
    h.relay.handle_timeout(h.now - Duration::from_millis(1));
}

#[test]
#[should_panic(expected = "call contract: drain poll_event after every handle_* call")]
#[cfg(debug_assertions)]
fn undrained_events_break_the_call_contract() {
    let mut h = Harness::new();
    h.add_credential("cam", "code");
    // AUTH_OK makes the stream live: an event the caller must drain.
    h.relay.handle_datagram(h.now, Port::Push, addr(5000), packet(pt::AUTH_REQ, false, 0, 0, 0, b"cam#code"));
    h.relay.handle_datagram(h.now, Port::Push, addr(5000), packet(pt::DELAY_REQ, false, 0, 1, 0, b"x"));
}

/// A driver that follows an NTP step re-synchronises the relay's clock: the
/// next relay-stamped datagram carries the new time.
#[test]
fn a_new_wall_clock_stamps_the_next_datagram() {
    let mut h = Harness::new();
    let id = h.client_id(Port::Pull, addr(6000));
    h.relay.set_wall_clock(WallClock::new(h.now, 5_000_000_000_777));
    let out = h.send(Port::Pull, addr(6000), packet(pt::STOP_PULL_REQ, false, 0, 0, id, b""));
    let rsp = out.iter().find(|s| s.pt() == pt::STOP_PULL_RSP).expect("STOP_PULL_RSP");
    assert_eq!(rsp.header().timestamp, 5_000_000_000_777u64 as u32);
    assert_ne!(h.clock(), 5_000_000_000_777u64 as u32, "the harness clock differs, so the test can fail");
}

/// `rx_*` count every datagram and byte handed in, `tx_*` every datagram
/// and byte handed out, whatever the relay made of them.
#[test]
fn rx_and_tx_counters_match_what_crossed_the_interface() {
    let mut h = Harness::new();
    h.add_credential("cam", "code");
    let (mut rx, mut rx_bytes, mut tx, mut tx_bytes) = (0, 0, 0, 0);
    let publisher = addr(5000);
    let mut send = |h: &mut Harness, port, from, data: bytes::Bytes| {
        rx += 1;
        rx_bytes += data.len() as u64;
        let out = h.send(port, from, data);
        tx += out.len() as u64;
        tx_bytes += out.iter().map(|s| s.data.len() as u64).sum::<u64>();
    };
    send(&mut h, Port::Push, publisher, packet(pt::AUTH_REQ, false, 0, 0, 0, b"cam#code"));
    send(&mut h, Port::Pull, addr(6000), packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
    send(&mut h, Port::Push, addr(7000), vec![0u8; 3].into());
    send(&mut h, Port::Push, publisher, packet(pt::DELAY_REQ, false, 0, 9, 0, b"cam"));
    let c = h.counters();
    assert_eq!((c.rx_datagrams, c.rx_bytes), (rx, rx_bytes));
    assert_eq!((c.tx_datagrams, c.tx_bytes), (tx, tx_bytes));
    assert_eq!(tx, 3, "AUTH_OK, CLIENT_ID_RSP and DELAY_RSP");
}

/// `rate_limited_sources` counts both limiters' tables, and every
/// `*_UNKNOWN` sent or held back is counted by its kind.
#[test]
fn both_limiters_count_in_the_state_sizes_and_unknown_replies_by_kind() {
    let mut h = Harness::new();
    h.add_credential("cam", "code");
    let out = h.send(Port::Push, addr(5000), packet(pt::AUTH_REQ, false, 0, 0, 0, b"cam#wrong"));
    assert_eq!(out.len(), 1, "AUTH_REFUSED");
    for _ in 0..2 {
        h.send(Port::Push, addr(5001), packet(pt::TS_DATA, false, 1, 0, 1234, b"x"));
    }
    h.send(Port::Pull, addr(5002), packet(pt::HEARTBEAT, false, 0, 0, 1234, b""));
    let c = h.counters();
    assert_eq!((c.stream_unknown_sent, c.client_unknown_sent, c.unknown_reply_limited), (1, 1, 1));
    assert_eq!(h.relay.state_sizes().rate_limited_sources, 3, "one failed-auth IP, two unknown-reply sources");
}

/// `poll_timeout` names the earliest deadline still wanted, and
/// `state_sizes().timers` counts the scheduled ones: a stream going live
/// schedules its idle check (docs/protocol.md §1.3), a client id its
/// heartbeat check (§1.4); stopping the stream withdraws its idle check at
/// once, so the driver is not woken for it.
#[test]
fn a_withdrawn_deadline_is_neither_polled_nor_counted() {
    let mut h = Harness::new();
    assert_eq!((h.relay.poll_timeout(), h.relay.state_sizes().timers), (None, 0));
    h.add_credential("cam", "code");
    h.auth(Port::Push, addr(5000), "cam", "code");
    let idle_at = h.now + Duration::from_secs(30);
    assert_eq!((h.relay.poll_timeout(), h.relay.state_sizes().timers), (Some(idle_at), 1));
    h.advance(Duration::from_secs(1));
    h.client_id(Port::Pull, addr(6000));
    assert_eq!((h.relay.poll_timeout(), h.relay.state_sizes().timers), (Some(h.now + Duration::from_secs(10)), 2));
    h.command(rtprelay_core::Command::StopStream { live_id: stream_id("cam") }).unwrap();
    h.drain();
    assert_eq!((h.relay.poll_timeout(), h.relay.state_sizes().timers), (Some(h.now + Duration::from_secs(10)), 1));
    h.advance(Duration::from_secs(10));
    assert_eq!((h.relay.poll_timeout(), h.relay.state_sizes().timers), (None, 0), "the client timed out");
}
