//! PROTOCOL.md 1.4: client ids, chunked pull requests, responses, acks,
//! resends, going live later, heartbeats, stops.

mod common;

use common::*;
use rtprelay_core::packet::{pt, text};
use rtprelay_core::{Config, Port};
use std::time::Duration;

const PUB: u16 = 5000;
const SUB: u16 = 7000;

fn with_live(ids: &[&str]) -> (Harness, Vec<u32>) {
    let mut h = Harness::new();
    let mut ssrcs = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        h.add_credential(id, "code");
        ssrcs.push(h.auth(Port::Push, addr(PUB + i as u16), id, "code"));
    }
    (h, ssrcs)
}

#[test]
fn client_id_is_stable_per_source_address_and_never_a_sentinel() {
    let mut h = Harness::new();
    let a = h.client_id(Port::Pull, addr(SUB));
    let out = h.send(Port::Pull, addr(SUB), packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
    let rsp = out[0].header();
    assert_eq!((rsp.ssrc, rsp.sequence, rsp.timestamp, out[0].payload().len()), (a, 0, h.clock(), 0));
    let b = h.client_id(Port::Pull, addr(SUB + 1));
    assert_ne!(a, b);
    for id in [a, b] {
        assert!(![0, u32::MAX, u32::MAX - 1].contains(&id));
    }
}

#[test]
fn replies_leave_from_the_socket_the_message_arrived_on() {
    let mut h = Harness::new();
    let out = h.send(Port::Push, addr(SUB), packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
    assert_eq!(out[0].port, Port::Push);
    let id = out[0].header().ssrc;
    let out = h.pull(Port::Pull, addr(SUB), id, &["x"]);
    assert_eq!(out[0].port, Port::Pull, "a client may switch sockets");
}

#[test]
fn a_chunked_pull_request_is_reassembled_in_any_order() {
    let (mut h, ssrcs) = with_live(&["live-0"]);
    let id = h.client_id(Port::Pull, addr(SUB));
    let mut ids: Vec<String> = (1..100).map(|i| format!("stream-number-{i:03}")).collect();
    ids.insert(50, "live-0".into());
    let list = ids.join("#");
    let chunks = text::chunk_pull_request(list.as_bytes());
    assert!(chunks.len() >= 3);
    let mut out = Vec::new();
    for c in chunks.iter().rev() {
        out.extend(h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, c.last, c.index, 0, id, c.payload)));
    }
    let entries: Vec<_> = of(&out, pt::PULL_RSP).iter().flat_map(|r| text::parse_pull_rsp(r.payload())).collect();
    assert_eq!(entries.len(), 100);
    assert_eq!(entries[50], ("live-0".to_owned(), Some(ssrcs[0])));
    assert!(entries.iter().enumerate().all(|(i, e)| e.0 == ids[i]));
}

#[test]
fn a_split_inside_a_utf8_character_is_reassembled_as_bytes() {
    let mut h = Harness::new();
    let id = h.client_id(Port::Pull, addr(SUB));
    let list = format!("{}é#b", "a".repeat(737)); // 'é' straddles the 738-byte boundary
    let mut out = Vec::new();
    for c in text::chunk_pull_request(list.as_bytes()) {
        out.extend(h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, c.last, c.index, 0, id, c.payload)));
    }
    let entries = text::parse_pull_rsp(of(&out, pt::PULL_RSP)[0].payload());
    assert_eq!(entries, [(format!("{}é", "a".repeat(737)), None), ("b".to_owned(), None)]);
}

#[test]
fn an_incomplete_pull_request_is_dropped_1s_after_its_latest_chunk_with_pull_req_lost() {
    let mut h = Harness::new();
    let id = h.client_id(Port::Pull, addr(SUB));
    h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, false, 0, 0, id, b"a"));
    h.advance(Duration::from_millis(900));
    h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, false, 1, 0, id, b"b"));
    assert!(h.advance(Duration::from_millis(999)).is_empty(), "the timer restarts with each chunk");
    let out = h.advance(Duration::from_millis(2));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].pt(), out[0].text(), out[0].to), (pt::PULL_REQ_LOST, "packetloss".to_owned(), addr(SUB)));
    // The set is gone: a later last chunk alone does not complete it.
    assert!(h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, true, 2, 0, id, b"c")).is_empty());
    assert_eq!(h.counters().pull_req_lost, 1);
}

#[test]
fn a_chunk_index_the_pending_set_holds_starts_a_new_set() {
    let mut h = Harness::new();
    let id = h.client_id(Port::Pull, addr(SUB));
    h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, false, 0, 0, id, b"old-a#"));
    h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, false, 0, 0, id, b"new-a#"));
    let out = h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, true, 1, 0, id, b"new-b"));
    let entries = text::parse_pull_rsp(of(&out, pt::PULL_RSP)[0].payload());
    assert_eq!(entries, [("new-a".to_owned(), None), ("new-b".to_owned(), None)]);
}

#[test]
fn pull_rsp_writes_signed_ssrcs_null_and_at_most_20_ids_per_packet() {
    let (mut h, ssrcs) = with_live(&["s0"]);
    let id = h.client_id(Port::Pull, addr(SUB));
    let mut ids = vec!["s0".to_owned()];
    ids.extend((1..45).map(|i| format!("s{i}")));
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let out = h.pull(Port::Pull, addr(SUB), id, &refs);
    let rsps = of(&out, pt::PULL_RSP);
    assert_eq!(rsps.len(), 3);
    let first = rsps[0].text();
    assert!(first.starts_with(&format!("s0#{};s1#null;", ssrcs[0] as i32)), "{first}");
    assert_eq!(first.split(';').count(), 20);
    assert!(rsps.iter().all(|r| r.header().ssrc == 0 && r.header().sequence == 0 && !r.header().marker));
}

#[test]
fn an_empty_pull_request_is_answered_hash_null() {
    let mut h = Harness::new();
    let id = h.client_id(Port::Pull, addr(SUB));
    let out = h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, true, 0, 0, id, b""));
    assert_eq!(of(&out, pt::PULL_RSP)[0].text(), "#null");
    let out = h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, true, 0, 0, id, b"#;#"));
    assert_eq!(of(&out, pt::PULL_RSP)[0].text(), "#null", "empty entries are ignored");
}

#[test]
fn a_new_pull_request_replaces_the_list_and_keeps_existing_acks() {
    let (mut h, ssrcs) = with_live(&["a", "b", "c"]);
    let id = h.subscriber(Port::Pull, addr(SUB), &["a", "b"]);
    let out = h.pull(Port::Pull, addr(SUB), id, &["b", "c", "b"]);
    let entries = text::parse_pull_rsp(of(&out, pt::PULL_RSP)[0].payload());
    assert_eq!(entries, [("b".to_owned(), Some(ssrcs[1])), ("c".to_owned(), Some(ssrcs[2]))], "duplicates once");
    let delivered = |h: &mut Harness, seq: u16| {
        let mut got = Vec::new();
        for (i, ssrc) in ssrcs.iter().enumerate() {
            got.extend(h.ts_data(addr(PUB + i as u16), *ssrc, seq, b"x"));
        }
        got.iter().map(|s| s.header().ssrc).collect::<Vec<_>>()
    };
    assert_eq!(delivered(&mut h, 1), [ssrcs[1]], "a dropped, b kept its ack, c waits for its ack");
    let joined = h.ack(Port::Pull, addr(SUB), id, 0, "c");
    assert_eq!(joined.iter().map(|s| s.header().ssrc).collect::<Vec<_>>(), [ssrcs[2]], "c joins with what it missed");
    assert_eq!(delivered(&mut h, 2), [ssrcs[1], ssrcs[2]]);
}

#[test]
fn an_ack_split_across_datagrams_is_handled_datagram_by_datagram() {
    let (mut h, ssrcs) = with_live(&["alpha", "beta", "gamma"]);
    let id = h.client_id(Port::Pull, addr(SUB));
    h.pull(Port::Pull, addr(SUB), id, &["alpha", "beta", "gamma"]);
    h.ack(Port::Pull, addr(SUB), id, 0, "alpha;be");
    h.ack(Port::Pull, addr(SUB), id, 0, "ta;gamma");
    let got: Vec<u32> =
        (0..3).flat_map(|i| h.ts_data(addr(PUB + i), ssrcs[i as usize], 1, b"x")).map(|s| s.header().ssrc).collect();
    assert_eq!(got, [ssrcs[0], ssrcs[2]], "the split id is not acked");
    assert_eq!(h.counters().ack_unmatched, 2);
}

#[test]
fn no_data_before_the_ack() {
    let (mut h, ssrcs) = with_live(&["a"]);
    let id = h.client_id(Port::Pull, addr(SUB));
    h.pull(Port::Pull, addr(SUB), id, &["a"]);
    assert!(h.ts_data(addr(PUB), ssrcs[0], 1, b"x").is_empty());
    h.ack(Port::Pull, addr(SUB), id, 0, "a");
    assert_eq!(h.ts_data(addr(PUB), ssrcs[0], 2, b"x").len(), 1);
}

#[test]
fn an_unacked_pull_rsp_is_resent_after_1_2_and_4_s_then_given_up() {
    let (mut h, ssrcs) = with_live(&["a"]);
    let id = h.client_id(Port::Pull, addr(SUB));
    h.pull(Port::Pull, addr(SUB), id, &["a", "offline"]);
    let start = h.now;
    let mut resends = Vec::new();
    for _ in 0..200 {
        for s in h.advance(Duration::from_millis(100)) {
            assert_eq!(s.text(), format!("a#{}", ssrcs[0] as i32), "only unacked live ids are resent");
            resends.push((h.now - start).as_millis());
        }
        if h.now - start > Duration::from_secs(5) && h.now - start < Duration::from_secs(6) {
            h.heartbeat(Port::Pull, addr(SUB), id);
        }
        h.heartbeat(Port::Pull, addr(SUB), id);
    }
    assert_eq!(resends, [1000, 3000, 7000]);
    assert_eq!(h.counters().pull_rsp_gave_up, 1);
}

#[test]
fn an_ack_stops_the_resends() {
    let (mut h, _) = with_live(&["a"]);
    let id = h.client_id(Port::Pull, addr(SUB));
    h.pull(Port::Pull, addr(SUB), id, &["a"]);
    assert_eq!(h.advance(Duration::from_millis(1500)).len(), 1);
    h.ack(Port::Pull, addr(SUB), id, 0, "a");
    assert!(h.advance(Duration::from_secs(9)).is_empty());
}

#[test]
fn a_stream_going_live_later_gets_an_unprompted_pull_rsp() {
    let mut h = Harness::new();
    h.add_credential("later", "code");
    let id = h.client_id(Port::Pull, addr(SUB));
    let out = h.pull(Port::Pull, addr(SUB), id, &["later"]);
    assert_eq!(of(&out, pt::PULL_RSP)[0].text(), "later#null");
    h.heartbeat(Port::Pull, addr(SUB), id);
    let out = h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, false, 0, 0, 0, b"later#code"));
    let ssrc = of(&out, pt::AUTH_OK)[0].header().ssrc;
    let rsp = of(&out, pt::PULL_RSP);
    assert_eq!((rsp.len(), rsp[0].to, rsp[0].text()), (1, addr(SUB), format!("later#{}", ssrc as i32)));
    h.ack(Port::Pull, addr(SUB), id, rsp[0].header().timestamp, "later");
    assert_eq!(h.ts_data(addr(PUB), ssrc, 1, b"x").len(), 1);
}

#[test]
fn a_client_without_heartbeats_for_10_s_is_dropped_with_its_subscriptions() {
    let (mut h, ssrcs) = with_live(&["a"]);
    let id = h.subscriber(Port::Pull, addr(SUB), &["a"]);
    for _ in 0..15 {
        h.advance(Duration::from_secs(1));
        h.heartbeat(Port::Pull, addr(SUB), id);
        h.auth(Port::Push, addr(PUB), "a", "code");
    }
    assert_eq!(h.ts_data(addr(PUB), ssrcs[0], 1, b"x").len(), 1, "heartbeats keep it");
    h.advance(Duration::from_millis(9_999));
    assert_eq!(h.ts_data(addr(PUB), ssrcs[0], 2, b"x").len(), 1);
    h.advance(Duration::from_millis(2));
    assert!(h.ts_data(addr(PUB), ssrcs[0], 3, b"x").is_empty());
    assert_eq!(h.counters().client_heartbeat_timeout, 1);
    assert_eq!(h.relay.state_sizes().clients, 0);
}

#[test]
fn stop_pull_forgets_the_client_and_is_always_answered() {
    let (mut h, ssrcs) = with_live(&["a"]);
    let id = h.subscriber(Port::Pull, addr(SUB), &["a"]);
    let out = h.send(Port::Push, addr(SUB), packet(pt::STOP_PULL_REQ, false, 0, 0, id, b""));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].pt(), out[0].header().ssrc, out[0].port), (pt::STOP_PULL_RSP, 0, Port::Push));
    assert!(h.ts_data(addr(PUB), ssrcs[0], 1, b"x").is_empty());
    let out = h.send(Port::Pull, addr(SUB), packet(pt::STOP_PULL_REQ, false, 0, 0, 12345, b""));
    assert_eq!(of(&out, pt::STOP_PULL_RSP).len(), 1, "answered even for an unknown id");
    assert_eq!(h.relay.state_sizes().clients, 0);
}

#[test]
fn a_stopped_stream_leaves_every_list_and_must_be_asked_for_again() {
    let (mut h, ssrcs) = with_live(&["a"]);
    let id = h.subscriber(Port::Pull, addr(SUB), &["a"]);
    let unacked = h.client_id(Port::Pull, addr(SUB + 1));
    h.pull(Port::Pull, addr(SUB + 1), unacked, &["a"]);
    let out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"a"));
    let mut to: Vec<_> = of(&out, pt::STREAM_STOPPED).iter().map(|s| (s.to, s.text())).collect();
    to.sort();
    assert_eq!(to, [(addr(SUB), "a".to_owned()), (addr(SUB + 1), "a".to_owned())]);
    // Restarted: no unprompted PULL_RSP, no data, until asked again.
    let out = h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, false, 0, 0, 0, b"a#code"));
    assert!(of(&out, pt::PULL_RSP).is_empty());
    assert!(h.ts_data(addr(PUB), ssrcs[0], 1, b"x").is_empty());
    h.pull(Port::Pull, addr(SUB), id, &["a"]);
    h.ack(Port::Pull, addr(SUB), id, 0, "a");
    assert_eq!(h.ts_data(addr(PUB), ssrcs[0], 2, b"x").len(), 1);
}

#[test]
fn a_slow_subscriber_never_delays_the_others() {
    let mut h = Harness::with_config(Config { max_queued_per_destination: 4, ..Config::default() });
    h.add_credential("a", "code");
    let ssrc = h.auth(Port::Push, addr(PUB), "a", "code");
    h.subscriber(Port::Pull, addr(SUB), &["a"]);
    h.subscriber(Port::Pull, addr(SUB + 1), &["a"]);
    // Nobody drains for 10 packets: each queue keeps its newest 4.
    for seq in 0..10u16 {
        h.relay.handle_datagram(h.now, Port::Push, addr(PUB), packet(pt::TS_DATA, false, seq, 0, ssrc, b"x"));
    }
    let out = h.drain();
    for sub in [SUB, SUB + 1] {
        let seqs: Vec<u16> = out.iter().filter(|s| s.to == addr(sub)).map(|s| s.header().sequence).collect();
        assert_eq!(seqs, [6, 7, 8, 9]);
    }
    assert_eq!(h.counters().tx_queue_overflow, 12);
}
