//! Source allowlists (`push_allow`, `pull_allow`): who may publish and who
//! may watch. A source outside a socket's list gets nothing back, whatever
//! it sends, and is counted.

mod common;

use common::*;
use rtprelay_core::packet::pt;
use rtprelay_core::{AllowList, Cidr, Config, Port};
use std::net::SocketAddr;

fn list(entries: &[&str]) -> AllowList {
    entries.iter().map(|e| e.parse::<Cidr>().unwrap()).collect()
}

fn at(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

/// Every message a peer could send on `port`, as an outsider would try
/// them: none may be answered.
fn every_message(ssrc: u32, client: u32) -> Vec<bytes::Bytes> {
    vec![
        packet(pt::AUTH_REQ, false, 0, 0, 0, b"a#code"),
        packet(pt::TS_DATA, false, 1, 0, ssrc, b"x"),
        packet(pt::DELAY_REQ, false, 0, 0, 0, b""),
        packet(pt::STOP_PUSH_REQ, false, 0, 0, ssrc, b"a"),
        packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""),
        packet(pt::PULL_REQ, true, 0, 0, client, b"a"),
        packet(pt::HEARTBEAT, false, 0, 0, client, b""),
        packet(pt::STOP_PULL_REQ, false, 0, 0, client, b""),
        bytes::Bytes::from_static(b"not rtp"),
    ]
}

#[test]
fn a_publisher_outside_push_allow_cannot_auth_and_hears_nothing() {
    let mut h = Harness::with_config(Config { push_allow: list(&["10.0.0.0/8"]), ..Config::default() });
    h.add_credential("a", "code");
    let outsider = at("192.0.2.1", 5000);
    for data in every_message(1, 1) {
        assert!(h.send(Port::Push, outsider, data).is_empty());
    }
    let c = h.counters();
    assert_eq!((c.push_source_refused, c.pull_source_refused), (9, 0));
    assert_eq!((c.auth_refused, c.auth_accepted, c.malformed, c.stream_unknown_sent), (0, 0, 0, 0));
    assert!(h.events.is_empty(), "{:?}", h.events);

    // Inside the list, and as an IPv4-mapped IPv6 source, publishing works.
    let ssrc = h.auth(Port::Push, at("10.1.2.3", 5000), "a", "code");
    assert_eq!(h.auth(Port::Push, at("::ffff:10.1.2.3", 5000), "a", "code"), ssrc);
    // The pull socket has its own (empty) list: the outsider may watch.
    h.subscriber(Port::Pull, outsider, &["a"]);
    let out = h.ts_data(at("::ffff:10.1.2.3", 5000), ssrc, 1, b"x");
    assert_eq!(out.iter().map(|s| (s.to, s.pt())).collect::<Vec<_>>(), [(outsider, pt::TS_DATA)]);
    assert_eq!(h.counters().push_source_refused, 9);
}

#[test]
fn a_subscriber_outside_pull_allow_gets_nothing() {
    let mut h =
        Harness::with_config(Config { pull_allow: list(&["127.0.0.2/32", "2001:db8::/32"]), ..Config::default() });
    h.add_credential("a", "code");
    let ssrc = h.auth(Port::Push, addr(5000), "a", "code");

    let inside = at("127.0.0.2", 7000);
    let inside6 = at("2001:db8::7", 7000);
    let id = h.subscriber(Port::Pull, inside, &["a"]);
    h.subscriber(Port::Pull, inside6, &["a"]);

    // The outsider knows the stream id and even the insider's client id.
    let outsider = at("127.0.0.3", 7000);
    for data in every_message(ssrc, id) {
        assert!(h.send(Port::Pull, outsider, data).is_empty());
    }
    assert_eq!(h.counters().pull_source_refused, 9);
    assert_eq!(h.counters().client_ids_issued, 2, "the outsider got no client id");

    let mut to: Vec<SocketAddr> = h.ts_data(addr(5000), ssrc, 1, b"x").iter().map(|s| s.to).collect();
    to.sort();
    assert_eq!(to, [inside, inside6], "the data goes to the listed subscribers only");
    let c = h.counters();
    assert_eq!((c.push_source_refused, c.address_change_started), (0, 0));
}
