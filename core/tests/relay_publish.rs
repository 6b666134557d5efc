//! docs/protocol.md §1.1-§1.3: packet rules, auth, data, delay echo, stop, idle.

mod common;

use common::*;
use rtprelay_core::StopReason;
use rtprelay_core::packet::pt;
use rtprelay_core::{Command, CommandError, Config, Endpoint, Port, RelayEvent, Ssrc};
use std::time::Duration;

const PUB: u16 = 5000;

fn live(h: &mut Harness) -> u32 {
    h.add_credential("live1", "code1");
    h.auth(Port::Push, addr(PUB), "live1", "code1")
}

#[test]
fn auth_ok_carries_the_ssrc_and_the_live_id() {
    let mut h = Harness::new();
    h.add_credential("live1", "code1");
    let out = h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, false, 9, 0, 0, b"live1#code1"));
    assert_eq!(out.len(), 1);
    let ok = &out[0];
    assert_eq!((ok.pt(), ok.to, ok.port), (pt::AUTH_OK, addr(PUB), Port::Push));
    assert_eq!(ok.text(), "live1");
    let hd = ok.header();
    assert!(!hd.marker);
    assert_eq!((hd.sequence, hd.timestamp), (0, h.clock()));
    assert!(![0, u32::MAX, u32::MAX - 1].contains(&hd.ssrc));
    assert!(matches!(h.events[..], [RelayEvent::AuthAccepted { renewed: false, .. }, RelayEvent::StreamLive { .. }]));
}

#[test]
fn auth_with_a_wrong_code_or_unknown_id_is_refused_with_ssrc_0() {
    let mut h = Harness::new();
    h.add_credential("live1", "code1");
    for payload in [&b"live1#wrong"[..], b"nobody#code1"] {
        let out = h.send(Port::Pull, addr(PUB), packet(pt::AUTH_REQ, false, 0, 0, 0, payload));
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].pt(), out[0].header().ssrc, out[0].port), (pt::AUTH_REFUSED, 0, Port::Pull));
        let id = std::str::from_utf8(payload).unwrap().split('#').next().unwrap();
        assert_eq!(out[0].text(), id);
    }
    assert_eq!(h.counters().auth_refused, 2);
}

#[test]
fn malformed_auth_gets_no_answer_and_is_counted() {
    let mut h = Harness::new();
    h.add_credential("live1", "code1");
    for payload in [&b"live1code1"[..], b"#code1", b"live1#", b"", &[0xff, b'#', b'a']] {
        assert!(h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, false, 0, 0, 0, payload)).is_empty());
    }
    assert_eq!(h.counters().auth_malformed, 5);
}

#[test]
fn reauth_keeps_the_ssrc_and_moves_the_binding() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    h.subscriber(Port::Pull, addr(7000), &["live1"]);
    let moved = h.auth(Port::Push, addr(PUB + 1), "live1", "code1");
    assert_eq!(moved, ssrc);
    assert!(of(&h.ts_data(addr(PUB), ssrc, 1, b"old"), pt::TS_DATA).is_empty(), "the old address is unbound");
    assert_eq!(of(&h.ts_data(addr(PUB + 1), ssrc, 2, b"new"), pt::TS_DATA).len(), 1);
}

#[test]
fn one_ssrc_per_live_id_for_the_relays_life() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"live1"));
    assert_eq!(h.auth(Port::Push, addr(PUB + 5), "live1", "code1"), ssrc, "same SSRC after a stop");
    h.add_credential("live2", "code2");
    assert_ne!(h.auth(Port::Push, addr(PUB), "live2", "code2"), ssrc, "SSRCs are unique");
}

#[test]
fn ssrcs_and_client_ids_are_random_per_seed() {
    let ids = |seed: u8| {
        let mut h = Harness::with_seed(Config::default(), [seed; 32]);
        let ssrc = live(&mut h);
        (ssrc, h.client_id(Port::Pull, addr(7000)))
    };
    let (a, b) = (ids(1), ids(2));
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1);
    assert_eq!(ids(1), a, "a seed replays exactly");
}

#[test]
fn ts_data_is_forwarded_byte_for_byte_to_acked_subscribers_on_their_socket() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    let a = h.subscriber(Port::Pull, addr(7000), &["live1"]);
    h.subscriber(Port::Push, addr(7001), &["live1"]);
    assert_ne!(a, 0);
    let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect(); // not 188-aligned
    let data = packet(pt::TS_DATA, false, 42, 123_456, ssrc, &payload);
    let out = h.send(Port::Push, addr(PUB), data.clone());
    let mut got: Vec<_> = out.iter().map(|s| (s.to, s.port, s.data.clone())).collect();
    got.sort_by_key(|g| g.0);
    assert_eq!(got, [(addr(7000), Port::Pull, data.clone()), (addr(7001), Port::Push, data)]);
}

#[test]
fn ts_data_with_marker_padding_extension_or_csrc_is_dropped_and_counted() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    h.subscriber(Port::Pull, addr(7000), &["live1"]);
    let good = packet(pt::TS_DATA, false, 1, 0, ssrc, &[0x47; 20]);
    let mut bad = vec![packet(pt::TS_DATA, true, 1, 0, ssrc, &[0x47; 20]).to_vec()];
    for byte0 in [0xA0u8, 0x90, 0x81] {
        let mut v = good.to_vec();
        v[0] = byte0;
        v.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
        bad.push(v);
    }
    for b in bad {
        assert!(h.send(Port::Push, addr(PUB), b.into()).is_empty());
    }
    assert_eq!(h.counters().ts_data_bad_header, 4);
    assert_eq!(h.send(Port::Push, addr(PUB), good).len(), 1);
}

#[test]
fn data_is_accepted_only_from_the_bound_address_of_a_live_stream() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    h.subscriber(Port::Pull, addr(7000), &["live1"]);
    let foreign = h.ts_data(addr(6666), ssrc, 1, b"evil");
    assert!(of(&foreign, pt::TS_DATA).is_empty());
    let unknown = h.ts_data(addr(PUB), ssrc ^ 1, 2, b"test stream");
    assert!(of(&unknown, pt::TS_DATA).is_empty(), "no invented test stream for unknown SSRCs");
    let c = h.counters();
    assert_eq!((c.ts_data_wrong_source, c.ts_data_unknown_ssrc, c.ts_data_forwarded), (1, 1, 0));
}

#[test]
fn a_duplicate_sequence_number_is_not_forwarded_again() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    h.subscriber(Port::Pull, addr(7000), &["live1"]);
    let seqs = [10u16, 11, 10, 13, 12, 11, 13];
    let forwarded: Vec<u16> = seqs
        .iter()
        .flat_map(|&s| h.ts_data(addr(PUB), ssrc, s, b"x"))
        .filter(|s| s.pt() == pt::TS_DATA)
        .map(|s| s.header().sequence)
        .collect();
    assert_eq!(forwarded, [10, 11, 13, 12]);
    assert_eq!(h.counters().ts_data_duplicate, 3);
}

#[test]
fn delay_req_is_echoed_with_byte_1_changed_even_for_unknown_ids() {
    let mut h = Harness::new();
    for (port, marker) in [(Port::Push, false), (Port::Pull, true)] {
        let req = packet(pt::DELAY_REQ, marker, 77, 0xDEAD_BEEF, 5, b"liveIdTest-0");
        let out = h.send(port, addr(PUB), req.clone());
        assert_eq!(out.len(), 1);
        let mut expect = req.to_vec();
        expect[1] = 12;
        assert_eq!((&out[0].data[..], out[0].port), (&expect[..], port));
    }
}

#[test]
fn stop_push_stops_only_streams_bound_to_the_source_and_is_always_answered() {
    let mut h = Harness::new();
    live(&mut h);
    h.add_credential("live2", "code2");
    h.auth(Port::Push, addr(PUB + 1), "live2", "code2");
    h.subscriber(Port::Pull, addr(7000), &["live1", "live2"]);
    let out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"live1#live2#ghost"));
    let rsp = of(&out, pt::STOP_PUSH_RSP);
    assert_eq!(rsp.len(), 1);
    assert_eq!((rsp[0].to, rsp[0].header().ssrc, rsp[0].payload().len()), (addr(PUB), 0, 0));
    let stopped = of(&out, pt::STREAM_STOPPED);
    assert_eq!(stopped.len(), 1);
    assert_eq!((stopped[0].to, stopped[0].text()), (addr(7000), "live1".to_owned()));
    for payload in [&b""[..], b"#", b"nothing"] {
        let out = h.send(Port::Pull, addr(9999), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, payload));
        assert_eq!(out.len(), 1, "always answered, even for an empty list");
        assert_eq!(out[0].pt(), pt::STOP_PUSH_RSP);
    }
    let info = h.command(Command::ListStreams).unwrap();
    let rtprelay_core::Reply::Streams(streams) = info else { panic!() };
    assert_eq!(
        streams.iter().map(|s| (s.live_id.as_str(), s.live)).collect::<Vec<_>>(),
        [("live1", false), ("live2", true)]
    );
}

#[test]
fn stream_stopped_carries_the_last_sequence_number_forwarded() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    h.subscriber(Port::Pull, addr(7000), &["live1"]);
    h.ts_data(addr(PUB), ssrc, 500, b"a");
    h.ts_data(addr(PUB), ssrc, 501, b"b");
    let out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"live1"));
    assert_eq!(of(&out, pt::STREAM_STOPPED)[0].header().sequence, 501);
}

#[test]
fn idle_timeout_stops_a_stream_without_data_or_auth() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    h.subscriber(Port::Pull, addr(7000), &["live1"]);
    // Data and re-auth keep it alive.
    for i in 0..4 {
        h.advance(Duration::from_secs(20));
        h.heartbeat(Port::Pull, addr(7000), 0); // noise
        if i % 2 == 0 {
            h.ts_data(addr(PUB), ssrc, i, b"x");
        } else {
            h.auth(Port::Push, addr(PUB), "live1", "code1");
        }
    }
    h.events.clear();
    let out = h.advance(Duration::from_secs(29));
    assert!(of(&out, pt::STREAM_STOPPED).is_empty());
    let out = h.advance(Duration::from_millis(1_001));
    assert_eq!(of(&out, pt::STREAM_STOPPED).len(), 0, "the subscriber timed out first (no heartbeats)");
    assert!(
        h.events.contains(&RelayEvent::StreamStopped { live_id: stream_id("live1"), reason: StopReason::IdleTimeout })
    );
}

#[test]
fn idle_timeout_notifies_subscribers() {
    let mut h = Harness::with_config(Config { stream_idle_timeout_ms: 3_000, ..Config::default() });
    live(&mut h);
    h.subscriber(Port::Pull, addr(7000), &["live1"]);
    let out = h.advance(Duration::from_millis(2_999));
    assert!(of(&out, pt::STREAM_STOPPED).is_empty());
    let out = h.advance(Duration::from_millis(2));
    assert_eq!(of(&out, pt::STREAM_STOPPED).len(), 1);
    assert_eq!(h.counters().streams_idle_timeout, 1);
}

#[test]
fn operator_stop_and_revoke() {
    let mut h = Harness::new();
    live(&mut h);
    h.subscriber(Port::Pull, addr(7000), &["live1"]);
    h.command(Command::StopStream { live_id: stream_id("live1") }).unwrap();
    assert_eq!(of(&h.drain(), pt::STREAM_STOPPED).len(), 1);
    assert_eq!(h.command(Command::StopStream { live_id: stream_id("live1") }).unwrap_err(), CommandError::NotLive);
    assert_eq!(h.command(Command::StopStream { live_id: stream_id("ghost") }).unwrap_err(), CommandError::NotFound);
    h.auth(Port::Push, addr(PUB), "live1", "code1");
    h.command(Command::RevokeStream { live_id: stream_id("live1") }).unwrap();
    let out = h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, false, 0, 0, 0, b"live1#code1"));
    assert_eq!(out[0].pt(), pt::AUTH_REFUSED, "revoked credentials no longer authenticate");
    assert_eq!(h.command(Command::RevokeStream { live_id: stream_id("live1") }).unwrap_err(), CommandError::NotFound);
}

#[test]
fn legacy_messages_with_a_non_plain_header_are_dropped_and_counted() {
    let mut h = Harness::new();
    let mut req = packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b"").to_vec();
    req[0] = 0x81;
    req.extend_from_slice(&[0; 4]);
    assert!(h.send(Port::Pull, addr(7000), req.into()).is_empty());
    assert!(h.send(Port::Pull, addr(7000), bytes::Bytes::from_static(&[0x80, 114, 0])).is_empty());
    assert!(h.send(Port::Pull, addr(7000), packet(50, false, 0, 0, 0, b"")).is_empty());
    let c = h.counters();
    assert_eq!((c.bad_header, c.malformed, c.unknown_payload_type), (1, 1, 1));
}

#[test]
fn refused_auths_per_ip_are_limited_per_minute() {
    let mut h = Harness::with_config(Config { max_auth_failures_per_ip_per_minute: 3, ..Config::default() });
    h.add_credential("live1", "code1");
    let guess =
        |h: &mut Harness, port| h.send(Port::Push, addr(port), packet(pt::AUTH_REQ, false, 0, 0, 0, b"live1#guess"));
    for port in 0..3 {
        assert_eq!(guess(&mut h, 9000 + port)[0].pt(), pt::AUTH_REFUSED);
    }
    assert!(guess(&mut h, 9100).is_empty(), "the whole IP is held back");
    let right = h.send(Port::Push, addr(9100), packet(pt::AUTH_REQ, false, 0, 0, 0, b"live1#code1"));
    assert!(right.is_empty(), "even a right guess, until the minute is over");
    assert_eq!(h.counters().auth_rate_limited, 2);
    h.advance(Duration::from_secs(60));
    assert_eq!(h.auth(Port::Push, addr(9100), "live1", "code1"), h.auth(Port::Push, addr(9100), "live1", "code1"));
}

#[test]
fn duplicate_suppression_spans_a_reauth_from_the_same_address() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    h.subscriber(Port::Pull, addr(7000), &["live1"]);
    assert_eq!(of(&h.ts_data(addr(PUB), ssrc, 10, b"x"), pt::TS_DATA).len(), 1);
    h.auth(Port::Push, addr(PUB), "live1", "code1");
    assert!(of(&h.ts_data(addr(PUB), ssrc, 10, b"x"), pt::TS_DATA).is_empty(), "a late network duplicate");
    assert_eq!(of(&h.ts_data(addr(PUB), ssrc, 11, b"x"), pt::TS_DATA).len(), 1);
}

#[test]
fn a_reauth_from_a_new_address_restarts_sequence_tracking() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    h.subscriber(Port::Pull, addr(7000), &["live1"]);
    h.ts_data(addr(PUB), ssrc, 10, b"x");
    h.auth(Port::Push, addr(PUB + 1), "live1", "code1");
    assert_eq!(of(&h.ts_data(addr(PUB + 1), ssrc, 10, b"x"), pt::TS_DATA).len(), 1, "a new publisher's own 10");
}

/// Found by the simulator: a late packet forwarded just before the stop
/// lowered the number `STREAM_STOPPED` announced, so a client stopped
/// waiting before the real last packet arrived.
#[test]
fn stream_stopped_announces_the_highest_sequence_forwarded_not_the_latest() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    h.subscriber(Port::Pull, addr(7000), &["live1"]);
    for seq in [65534u16, 0, 65535] {
        h.ts_data(addr(PUB), ssrc, seq, b"x");
    }
    let out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"live1"));
    assert_eq!(of(&out, pt::STREAM_STOPPED)[0].header().sequence, 0, "0 follows 65535");
}

/// The sequence numbers forwarded to the subscriber at `SUB` for each of
/// `seqs` in turn.
fn forwarded(h: &mut Harness, ssrc: u32, seqs: &[u16]) -> Vec<u16> {
    seqs.iter()
        .flat_map(|&s| h.ts_data(addr(PUB), ssrc, s, b"x"))
        .filter(|s| s.pt() == pt::TS_DATA)
        .map(|s| s.header().sequence)
        .collect()
}

/// README "Sequence tracking": duplicates are suppressed as far back as a
/// number can be without being a restart, 3000 behind the highest. (The
/// 4096-number memory is larger than that, so 3000 is the observable edge:
/// 3001 back is a restart, not a duplicate.)
#[test]
fn a_duplicate_3000_behind_the_highest_is_still_suppressed() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    h.subscriber(Port::Pull, addr(7000), &["live1"]);
    // Wrapping: 1000 back from 0 is 64536.
    assert_eq!(forwarded(&mut h, ssrc, &[63536, 63537, 0, 1001]), [63536, 63537, 0, 1001]);
    assert_eq!(forwarded(&mut h, ssrc, &[63537]), [] as [u16; 0], "3000 behind 1001: a duplicate");
    assert_eq!(forwarded(&mut h, ssrc, &[63538, 63538]), [63538], "late but new, then a duplicate");
    assert_eq!(h.counters().ts_data_duplicate, 2);
}

/// README "Sequence tracking": a jump of more than 3000 either way is a
/// publisher restart (RFC 3550 A.1), which forgets the history.
#[test]
fn a_jump_of_more_than_3000_either_way_is_a_publisher_restart() {
    use rtprelay_core::packet::rtcp::Nack;
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    let sub = h.subscriber(Port::Pull, addr(7000), &["live1"]);
    let resent = |h: &mut Harness, seq: u16| {
        let out = h.send(Port::Pull, addr(7000), Nack::from_sequences(sub, ssrc, &[seq]).encode());
        out.iter().map(|s| s.header().sequence).collect::<Vec<u16>>()
    };
    // Backwards: 3001 behind the highest restarts even a number seen before.
    assert_eq!(forwarded(&mut h, ssrc, &[0, 1, 3000, 3001]), [0, 1, 3000, 3001]);
    assert_eq!(forwarded(&mut h, ssrc, &[1]), [] as [u16; 0], "3000 back: a duplicate");
    assert_eq!(resent(&mut h, 3001), [3001], "the history holds it");
    assert_eq!(forwarded(&mut h, ssrc, &[0]), [0], "3001 back: a restart, forwarded");
    assert_eq!(resent(&mut h, 3001), [] as [u16; 0], "the restart forgot the history");
    // Forwards: 3000 ahead is a gap, 3001 ahead a restart.
    assert_eq!(forwarded(&mut h, ssrc, &[3000]), [3000]);
    assert_eq!(resent(&mut h, 0), [0], "a gap of 2999 keeps the history");
    assert_eq!(forwarded(&mut h, ssrc, &[6001]), [6001]);
    assert_eq!(resent(&mut h, 3000), [] as [u16; 0], "3001 ahead: a restart forgot the history");
    assert_eq!(forwarded(&mut h, ssrc, &[3000]), [3000], "and a number 3001 back restarts again");
}

/// Config `stream_idle_timeout_ms` = 30000: a live stream with no data and
/// no auth for exactly 30 s is stopped, not a moment before.
#[test]
fn a_stream_without_data_or_auth_is_stopped_after_exactly_30_s() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    let sub = h.subscriber(Port::Pull, addr(7000), &["live1"]);
    let mut stopped = Vec::new();
    let mut run = |h: &mut Harness, ms: u64| {
        for _ in 0..ms / 500 {
            stopped.extend(of(&h.advance(Duration::from_millis(500)), pt::STREAM_STOPPED).into_iter().cloned());
            h.heartbeat(Port::Pull, addr(7000), sub);
        }
        let out = h.advance(Duration::from_millis(ms % 500));
        stopped.extend(of(&out, pt::STREAM_STOPPED).into_iter().cloned());
        stopped.len()
    };
    assert_eq!(run(&mut h, 20_000), 0);
    h.ts_data(addr(PUB), ssrc, 1, b"data restarts the clock");
    assert_eq!(run(&mut h, 29_999), 0, "29.999 s after the data");
    assert_eq!(run(&mut h, 1), 1, "30 s after the data");
    assert!(
        h.events.contains(&RelayEvent::StreamStopped { live_id: stream_id("live1"), reason: StopReason::IdleTimeout })
    );
}

/// Sends a refused auth from `ip:port`; returns the payload type answered
/// (None when ignored).
fn guess(h: &mut Harness, ip: [u8; 4], port: u16) -> Option<u8> {
    let from = std::net::SocketAddr::from((ip, port));
    h.send(Port::Push, from, packet(pt::AUTH_REQ, false, 0, 0, 0, b"live1#guess")).first().map(Sent::pt)
}

/// README "Auth guessing" and Config `max_auth_failures_per_ip_per_minute`
/// = 30: after 30 refused auths from one IP its auth requests are ignored
/// until the minute since the first refusal is over; other IPs are not
/// affected.
#[test]
fn thirty_refused_auths_per_ip_then_ignored_until_the_minute_is_over() {
    let mut h = Harness::new();
    h.add_credential("live1", "code1");
    let ip = [127, 0, 0, 1];
    assert_eq!(guess(&mut h, ip, 1), Some(pt::AUTH_REFUSED));
    h.advance(Duration::from_secs(30));
    for port in 2..=30 {
        assert_eq!(guess(&mut h, ip, port), Some(pt::AUTH_REFUSED), "refusal {port} is answered");
    }
    assert_eq!(guess(&mut h, ip, 31), None, "the 31st is ignored");
    assert_eq!(guess(&mut h, [127, 0, 0, 2], 31), Some(pt::AUTH_REFUSED), "another IP is not held back");
    h.advance(Duration::from_millis(29_999));
    assert_eq!(guess(&mut h, ip, 32), None, "59.999 s after the first refusal");
    h.advance(Duration::from_millis(1));
    assert_eq!(guess(&mut h, ip, 33), Some(pt::AUTH_REFUSED), "the minute is over");
    assert_eq!(h.counters().auth_rate_limited, 2);
}

/// README "Auth guessing": honest re-auths never fail, so never count.
#[test]
fn accepted_auths_do_not_count_toward_the_failure_limit() {
    let mut h = Harness::new();
    h.add_credential("live1", "code1");
    let ip = [127, 0, 0, 1];
    for port in 1..30 {
        assert_eq!(guess(&mut h, ip, port), Some(pt::AUTH_REFUSED));
    }
    for _ in 0..50 {
        h.auth(Port::Push, addr(PUB), "live1", "code1");
    }
    assert_eq!(guess(&mut h, ip, 30), Some(pt::AUTH_REFUSED), "the 30th refusal is still answered");
    assert_eq!(guess(&mut h, ip, 31), None);
}

/// A datagram of each legacy payload type that the relay answers when its
/// byte 0 is `0x80`, sent from a fresh address.
fn answered_legacy_messages(ssrc: u32, client: u32) -> Vec<(u8, bytes::Bytes)> {
    vec![
        (pt::AUTH_REQ, packet(pt::AUTH_REQ, false, 0, 0, 0, b"live1#code1")),
        (pt::DELAY_REQ, packet(pt::DELAY_REQ, false, 0, 0, 0, b"probe-probe-")),
        (pt::STOP_PUSH_REQ, packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"nothing")),
        (pt::CLIENT_ID_REQ, packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b"")),
        (pt::PULL_REQ, packet(pt::PULL_REQ, true, 0, 0, client, b"live1")),
        (pt::SSRC_ACK, packet(pt::SSRC_ACK, false, 0, 0, client, b"live1")),
        (pt::HEARTBEAT, packet(pt::HEARTBEAT, false, 0, 0, client, b"")),
        (pt::STOP_PULL_REQ, packet(pt::STOP_PULL_REQ, false, 0, 0, client, b"")),
        (pt::TS_DATA, packet(pt::TS_DATA, false, 1, 0, ssrc, &[0x47; 188])),
    ]
}

/// README "Header strictness": every legacy message must have byte 0 =
/// `0x80`; any other version-2 byte 0 (padding, extension or CSRC count
/// set) drops it and counts `bad_header` (`ts_data_bad_header` for
/// `TS_DATA`), although with `0x80` each of them is answered.
#[test]
fn every_legacy_message_needs_byte_0_0x80() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    let mut port = 20_000;
    for (kind, plain) in answered_legacy_messages(ssrc, 0x1234_5678) {
        port += 1;
        assert!(!h.send(Port::Pull, addr(port), plain.clone()).is_empty(), "pt {kind} with 0x80 is answered");
        for byte0 in 0x81..=0xBFu8 {
            port += 1;
            let before = h.counters();
            let mut bad = plain.to_vec();
            bad[0] = byte0;
            bad.extend_from_slice(&[1; 64]); // room for CSRCs, an extension, padding
            assert!(h.send(Port::Pull, addr(port), bad.into()).is_empty(), "pt {kind}, byte 0 {byte0:#x}");
            let after = h.counters();
            let counted = if kind == pt::TS_DATA {
                after.ts_data_bad_header - before.ts_data_bad_header
            } else {
                after.bad_header - before.bad_header
            };
            assert_eq!(counted, 1, "pt {kind}, byte 0 {byte0:#x} counted");
        }
    }
}

/// README "Credentials": codes are stored as `SHA-256(salt ‖ code)`, and
/// only the code with that salt verifies.
#[test]
fn codes_are_stored_as_sha256_of_salt_then_code() {
    use sha2::{Digest, Sha256};
    let salt: [u8; 16] = core::array::from_fn(|i| i as u8);
    let c = rtprelay_core::Credential::new(stream_id("live1"), "code1", salt);
    let expected: [u8; 32] = Sha256::new().chain_update(salt).chain_update(b"code1").finalize().into();
    assert_eq!((c.salt, c.hash), (salt, expected));
    assert!(c.verify(b"code1") && !c.verify(b"code2"));
}

/// docs/protocol.md §3.1 (`GET /api/streams/{liveId}`, `GET /api/clients`):
/// a stream's snapshot counts its accepted packets and whole-datagram
/// bytes, its 1 s / 3 s / 10 s bitrates and, per subscriber, what was sent
/// and resent; a client's snapshot sums its streams.
#[test]
fn snapshots_count_packets_bytes_bitrates_and_what_each_subscriber_got() {
    use rtprelay_core::Reply;
    use rtprelay_core::packet::rtcp::Nack;
    use rtprelay_core::{StreamInfo, SubscriberInfo};
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    h.add_credential("live2", "code2");
    let ssrc2 = h.auth(Port::Push, addr(PUB + 1), "live2", "code2");
    let x = h.subscriber(Port::Pull, addr(7000), &["live1", "live2"]);
    for seq in 1..=3 {
        h.ts_data(addr(PUB), ssrc, seq, &[0x47; 188]); // 200-byte datagrams
    }
    h.ts_data(addr(PUB + 1), ssrc2, 1, &[0x47; 88]); // 100 bytes
    let resent = h.send(Port::Pull, addr(7000), Nack::from_sequences(x, ssrc, &[2]).encode());
    assert_eq!(resent.len(), 1);
    let Ok(Reply::Stream(info)) = h.command(Command::GetStream { live_id: stream_id("live1") }) else { panic!() };
    let expected = StreamInfo {
        live_id: stream_id("live1"),
        live: true,
        ssrc: Some(Ssrc::new(ssrc)),
        publisher: Some(addr(PUB)),
        bitrate_bps: [4_800, 1_600, 480],
        packets_in: 3,
        bytes_in: 600,
        lost: 0,
        recovered: 0,
        rtt_ms: None,
        reported_delay_ms: None,
        subscribers: 1,
        subscriber_list: vec![SubscriberInfo {
            address: addr(7000),
            packets_sent: 3,
            bytes_sent: 600,
            retransmitted: 1,
        }],
    };
    assert_eq!(info, expected);
    let Ok(Reply::Clients(clients)) = h.command(Command::ListClients) else { panic!() };
    assert_eq!(clients.len(), 1);
    let c = &clients[0];
    assert_eq!((c.address, c.verified), (addr(7000), true));
    assert_eq!((c.packets_sent, c.bytes_sent, c.retransmitted), (4, 700, 1), "both streams, resends included");
    assert_eq!(
        c.subscriptions.iter().map(|s| (s.live_id.as_str(), s.acked)).collect::<Vec<_>>(),
        [("live1", true), ("live2", true)]
    );
    // 1.5 s later the data has left the 1 s window only.
    h.advance(Duration::from_millis(1_500));
    let Ok(Reply::Streams(list)) = h.command(Command::ListStreams) else { panic!() };
    assert_eq!(
        list.iter().map(|s| (s.live_id.as_str(), s.bitrate_bps)).collect::<Vec<_>>(),
        [("live1", [0, 1_600, 480]), ("live2", [0, 800 / 3, 80])]
    );
    assert!(list.iter().all(|s| s.subscriber_list.is_empty()), "only GetStream lists the subscribers");
}

/// docs/protocol.md §3.1: a stream with credentials is known whether live
/// or not (a stopped one keeps its SSRC and loses its publisher); one
/// without is 404.
#[test]
fn get_stream_knows_every_credentialed_stream_and_no_other() {
    use rtprelay_core::Reply;
    use rtprelay_core::StreamInfo;
    let mut h = Harness::new();
    h.add_credential("never", "code");
    let Ok(Reply::Stream(info)) = h.command(Command::GetStream { live_id: stream_id("never") }) else { panic!() };
    let idle = StreamInfo {
        live_id: stream_id("never"),
        live: false,
        ssrc: None,
        publisher: None,
        bitrate_bps: [0; 3],
        packets_in: 0,
        bytes_in: 0,
        lost: 0,
        recovered: 0,
        rtt_ms: None,
        reported_delay_ms: None,
        subscribers: 0,
        subscriber_list: Vec::new(),
    };
    assert_eq!(info, idle);
    let ssrc = live(&mut h);
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    h.command(Command::StopStream { live_id: stream_id("live1") }).unwrap();
    let Ok(Reply::Stream(info)) = h.command(Command::GetStream { live_id: stream_id("live1") }) else { panic!() };
    assert_eq!((info.live, info.ssrc, info.publisher, info.packets_in), (false, Some(Ssrc::new(ssrc)), None, 1));
    let err = h.command(Command::GetStream { live_id: stream_id("ghost") }).unwrap_err();
    assert_eq!(err, CommandError::NotFound);
}

/// Operator stops (`StopStream`, `RevokeStream` of a live stream,
/// `StopAll`) each count one `streams_stopped_by_operator` per stream
/// stopped; `StopAll` stops only the live ones, with reason `Operator`.
#[test]
fn operator_stops_are_counted_per_stream_stopped() {
    let mut h = Harness::new();
    live(&mut h);
    for (id, port) in [("b", 1), ("c", 2), ("d", 3)] {
        h.add_credential(id, "code");
        h.auth(Port::Push, addr(PUB + port), id, "code");
    }
    h.add_credential("off", "code");
    h.command(Command::StopStream { live_id: stream_id("live1") }).unwrap();
    assert_eq!(h.counters().streams_stopped_by_operator, 1);
    h.command(Command::RevokeStream { live_id: stream_id("b") }).unwrap();
    h.command(Command::RevokeStream { live_id: stream_id("off") }).unwrap();
    assert_eq!(h.counters().streams_stopped_by_operator, 2, "revoking a stream that is not live stops nothing");
    h.events.clear();
    h.command(Command::StopAll).unwrap();
    assert_eq!(h.counters().streams_stopped_by_operator, 4);
    let mut stopped: Vec<_> = h
        .events
        .iter()
        .map(|e| match e {
            RelayEvent::StreamStopped { live_id, reason } => (live_id.as_str().to_owned(), *reason),
            e => panic!("{e:?}"),
        })
        .collect();
    stopped.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(stopped, [("c".to_owned(), StopReason::Operator), ("d".to_owned(), StopReason::Operator)]);
    h.command(Command::StopAll).unwrap();
    assert_eq!(h.counters().streams_stopped_by_operator, 4, "nothing left live");
    let err = h
        .command(Command::AddCredential(rtprelay_core::Credential::new(stream_id("c"), "other", [2; 16])))
        .unwrap_err();
    assert_eq!(err, CommandError::AlreadyExists);
}

/// The operator's error messages (shown by the CLI and the HTTP API).
#[test]
fn command_errors_say_what_went_wrong() {
    assert_eq!(CommandError::AlreadyExists.to_string(), "stream already exists");
    assert_eq!(CommandError::NotFound.to_string(), "no such stream");
    assert_eq!(CommandError::NotLive.to_string(), "stream is not live");
}

/// docs/protocol.md §1.3.1: a stream keeps its SSRC for the relay's life,
/// so the relay keeps every stream ever authenticated, live or stopped.
#[test]
fn the_state_counts_every_stream_ever_authenticated() {
    let mut h = Harness::new();
    assert_eq!(h.relay.state_sizes().streams, 0);
    live(&mut h);
    assert_eq!(h.relay.state_sizes().streams, 1);
    h.add_credential("live2", "code2");
    h.auth(Port::Push, addr(PUB + 1), "live2", "code2");
    h.auth(Port::Push, addr(PUB + 1), "live2", "code2");
    assert_eq!(h.relay.state_sizes().streams, 2, "a re-auth is the same stream");
    h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"live1"));
    assert_eq!(h.relay.state_sizes().streams, 2, "a stopped stream keeps its SSRC");
}

/// docs/protocol.md §3.1 (operator stop): stopping all stops every live
/// stream, and each of its subscribers hears of it.
#[test]
fn stop_all_stops_every_live_stream() {
    let mut h = Harness::new();
    live(&mut h);
    h.add_credential("live2", "code2");
    h.auth(Port::Push, addr(PUB + 1), "live2", "code2");
    h.add_credential("never", "code3");
    h.subscriber(Port::Pull, addr(7000), &["live1", "live2"]);
    h.events.clear();
    assert!(matches!(h.command(Command::StopAll), Ok(rtprelay_core::Reply::Done)));
    let out = h.drain();
    let mut stopped: Vec<String> = of(&out, pt::STREAM_STOPPED).iter().map(|s| s.text()).collect();
    stopped.sort();
    assert_eq!(stopped, ["live1", "live2"]);
    assert_eq!(h.counters().streams_stopped_by_operator, 2);
    assert_eq!(
        h.events,
        [
            RelayEvent::StreamStopped { live_id: stream_id("live1"), reason: StopReason::Operator },
            RelayEvent::StreamStopped { live_id: stream_id("live2"), reason: StopReason::Operator },
        ]
    );
}

/// docs/protocol.md §1.2: a control packet the relay originates carries
/// the relay's timestamp; `STREAM_STOPPED` too.
#[test]
fn stream_stopped_carries_the_relays_timestamp() {
    let mut h = Harness::new();
    live(&mut h);
    h.subscriber(Port::Pull, addr(7000), &["live1"]);
    h.advance(Duration::from_millis(1_234));
    let out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"live1"));
    let stopped = of(&out, pt::STREAM_STOPPED)[0].header();
    assert_eq!((stopped.timestamp, stopped.ssrc), (h.clock(), 0));
}

/// docs/protocol.md §1.3.1: every accepted auth is counted, re-auths
/// included, and only those.
#[test]
fn each_accepted_auth_is_counted() {
    let mut h = Harness::new();
    live(&mut h);
    h.auth(Port::Push, addr(PUB), "live1", "code1");
    h.auth(Port::Push, addr(PUB + 1), "live1", "code1");
    h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, false, 0, 0, 0, b"live1#wrong"));
    let c = h.counters();
    assert_eq!((c.auth_accepted, c.auth_refused), (3, 1));
}

/// docs/protocol.md §1.3.7: going live arms the idle check 30 s on, and
/// nothing sooner: the relay asks to be woken exactly then.
#[test]
fn a_stream_going_live_asks_to_be_woken_30_s_later() {
    let mut h = Harness::new();
    h.now = h.now + Duration::from_secs(60);
    live(&mut h);
    assert_eq!(h.relay.poll_timeout(), Some(h.now + Duration::from_secs(30)));
}

/// docs/protocol.md "Auth guessing" with `max_rate_limited_sources`: a full
/// failed-auth limiter frees the entries exactly one minute old, so a new
/// IP then counts (and is held back); a microsecond earlier it is not.
#[test]
fn a_full_failed_auth_limiter_frees_entries_exactly_one_minute_old() {
    let config = Config { max_rate_limited_sources: 2, max_auth_failures_per_ip_per_minute: 1, ..Config::default() };
    let mut h = Harness::with_config(config);
    h.add_credential("live1", "code1");
    assert_eq!(guess(&mut h, [10, 0, 0, 1], 1), Some(pt::AUTH_REFUSED));
    assert_eq!(guess(&mut h, [10, 0, 0, 2], 1), Some(pt::AUTH_REFUSED));
    h.advance(Duration::from_micros(59_999_999));
    assert_eq!(guess(&mut h, [10, 0, 0, 3], 1), Some(pt::AUTH_REFUSED));
    assert_eq!(guess(&mut h, [10, 0, 0, 3], 2), Some(pt::AUTH_REFUSED), "full: not remembered");
    h.advance(Duration::from_micros(1));
    assert_eq!(guess(&mut h, [10, 0, 0, 4], 1), Some(pt::AUTH_REFUSED));
    assert_eq!(guess(&mut h, [10, 0, 0, 4], 2), None, "room made at exactly one minute: remembered");
    assert_eq!(h.relay.state_sizes().rate_limited_sources, 1);
}

/// docs/protocol.md §1.3.3: after a stream stops, its publisher's data is
/// no longer accepted (the stream is not live), and is answered
/// `STREAM_UNKNOWN` (§2.5) so a new publisher authenticates again.
#[test]
fn data_for_a_stopped_stream_is_refused_even_from_its_publisher() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    h.ts_data(addr(PUB), ssrc, 1, b"a");
    h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"live1"));
    let out = h.ts_data(addr(PUB), ssrc, 2, b"b");
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].pt(), out[0].header().ssrc, out[0].to), (pt::STREAM_UNKNOWN, ssrc, addr(PUB)));
    let c = h.counters();
    assert_eq!((c.ts_data_accepted, c.ts_data_wrong_source), (1, 1));
}

/// docs/protocol.md §1.3.4 and §3.1: accepted data is counted per stream
/// (packets and bytes in), per subscriber (packets and bytes sent) and in
/// all (accepted, forwarded copies); refused data nowhere.
#[test]
fn accepted_data_is_counted_per_stream_per_subscriber_and_in_all() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    h.subscriber(Port::Pull, addr(7000), &["live1"]);
    h.ts_data(addr(PUB), ssrc, 1, &[1; 100]);
    h.advance(Duration::from_millis(10)); // the second joins after packet 1
    h.subscriber(Port::Pull, addr(7001), &["live1"]);
    h.ts_data(addr(PUB), ssrc, 2, &[2; 50]);
    h.ts_data(addr(PUB), ssrc, 2, &[2; 50]); // a duplicate
    h.ts_data(addr(6666), ssrc, 3, &[3; 70]); // a foreign source
    let Ok(rtprelay_core::Reply::Stream(info)) = h.command(Command::GetStream { live_id: stream_id("live1") }) else {
        panic!()
    };
    assert_eq!((info.packets_in, info.bytes_in), (2, 112 + 62));
    let sent: Vec<_> = info.subscriber_list.iter().map(|s| (s.address, s.packets_sent, s.bytes_sent)).collect();
    assert_eq!(sent, [(addr(7000), 2, 112 + 62), (addr(7001), 1, 62)]);
    let c = h.counters();
    assert_eq!((c.ts_data_accepted, c.ts_data_forwarded), (2, 3));
}

/// docs/protocol.md §1.3.5: each delay probe echoed is counted.
#[test]
fn each_delay_probe_echoed_is_counted() {
    let mut h = Harness::new();
    for port in [PUB, 7000, 7000] {
        h.send(Port::Push, addr(port), packet(pt::DELAY_REQ, false, 0, 0, 0, b"liveIdTest-0"));
    }
    assert_eq!(h.counters().delay_echoed, 3);
}

/// docs/protocol.md §1.3.6: every stop request is counted, answered or not
/// effective, and so is each stream it stops.
#[test]
fn stop_requests_and_the_streams_they_stop_are_counted() {
    let mut h = Harness::new();
    live(&mut h);
    h.add_credential("live2", "code2");
    h.auth(Port::Push, addr(PUB), "live2", "code2");
    h.send(Port::Push, addr(6666), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"live1"));
    h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b""));
    assert_eq!(h.counters().streams_stopped_by_publisher, 0, "a foreign source or an empty list stops nothing");
    h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"live1#live2"));
    let c = h.counters();
    assert_eq!((c.stop_push_requests, c.streams_stopped_by_publisher), (3, 2));
}
