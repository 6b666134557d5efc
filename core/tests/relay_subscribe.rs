//! docs/protocol.md §1.4: client ids, chunked pull requests, responses, acks,
//! resends, going live later, heartbeats, stops.

mod common;

use common::*;
use rtprelay_core::packet::{pt, text};
use rtprelay_core::{Config, Endpoint, Port};
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

/// docs/protocol.md §1.1 and §2.3: a `PULL_RSP` carries the relay's clock
/// in its timestamp, like every relay datagram, and its challenge in the
/// SSRC field: a fresh one per packet, never a sentinel.
#[test]
fn a_pull_rsp_carries_the_relays_clock_and_its_challenge_in_the_ssrc_field() {
    let (mut h, _) = with_live(&["a"]);
    let id = h.client_id(Port::Pull, addr(SUB));
    h.advance(Duration::from_millis(7));
    let first = of(&h.pull(Port::Pull, addr(SUB), id, &["a"]), pt::PULL_RSP)[0].header();
    assert_eq!((first.sequence, first.timestamp), (0, h.clock()));
    let resent = h.advance(Duration::from_secs(1));
    let second = of(&resent, pt::PULL_RSP)[0].header();
    assert_eq!(second.timestamp, h.clock(), "a resend is stamped when it goes out");
    for challenge in [first.ssrc, second.ssrc] {
        assert!(pt::is_assignable_id(challenge), "{challenge:#x}");
    }
    assert_ne!(first.ssrc, second.ssrc, "a fresh challenge per packet");
}

/// The legacy clock rule (docs/protocol.md §1.1): a legacy client takes
/// its clock offset, `timestamp − local ms`, from the first datagram it
/// receives; −1 means "unset" to it, so it takes the next datagram's, and
/// so on.
struct LegacyClock {
    /// How far the client's clock is ahead of the relay's.
    ahead: Duration,
    offset: i32,
}

impl LegacyClock {
    const UNSET: i32 = -1;

    /// The client's own clock, epoch ms truncated to `u32` as on the wire.
    fn local_ms(&self, h: &Harness) -> u32 {
        let micros = EPOCH_MS * 1000 + (h.now.as_micros() - 1_000_000) + self.ahead.as_micros() as u64;
        (micros / 1000) as u32
    }

    /// A datagram arrives: returns the offset it gives, adopted if none is.
    fn receive(&mut self, h: &Harness, datagram: &Sent) -> i32 {
        let offset = datagram.header().timestamp.wrapping_sub(self.local_ms(h)) as i32;
        if self.offset == Self::UNSET {
            self.offset = offset;
        }
        offset
    }

    /// The client's idea of the relay's clock (what its player and its
    /// `SSRC_ACK` timestamp use).
    fn relay_ms(&self, h: &Harness) -> u32 {
        self.local_ms(h).wrapping_add(self.offset as u32)
    }
}

/// The issue that moved the challenge: a legacy client on the relay's host,
/// its clock 0.5 ms ahead, receives `CLIENT_ID_RSP` when the two clocks
/// read 1 ms apart (offset −1, "unset") and so takes its clock from the
/// second datagram, the `PULL_RSP`. That must be the relay's clock (here
/// offset 0), not a random challenge; and its ack, stamped with that
/// clock, must not pass for an echoed challenge (an extension client would
/// get `STREAM_STOPPED` three times).
#[test]
fn a_legacy_client_whose_first_clock_offset_is_unset_takes_the_relays_clock_from_the_pull_rsp() {
    let (mut h, _) = with_live(&["a"]);
    let mut legacy = LegacyClock { ahead: Duration::from_micros(500), offset: LegacyClock::UNSET };
    h.advance(Duration::from_micros(600)); // the relay 0.6 ms into a millisecond, the client 0.1 ms into the next
    let out = h.send(Port::Pull, addr(SUB), packet(pt::CLIENT_ID_REQ, false, 0, legacy.local_ms(&h), 0, b""));
    assert_eq!(out.iter().map(Sent::pt).collect::<Vec<_>>(), [pt::CLIENT_ID_RSP]);
    assert_eq!(legacy.receive(&h, &out[0]), -1, "the first datagram gives the 'unset' offset");
    let id = out[0].header().ssrc;
    h.advance(Duration::from_micros(500)); // now both clocks read the same millisecond
    let out = h.pull(Port::Pull, addr(SUB), id, &["a"]);
    assert_eq!(out.iter().map(Sent::pt).collect::<Vec<_>>(), [pt::PULL_RSP], "the second datagram");
    assert_eq!(legacy.receive(&h, &out[0]), 0, "the relay's clock, not a challenge");
    assert_eq!(legacy.offset, 0, "adopted");
    assert_eq!(legacy.relay_ms(&h), h.clock(), "the client's player clock is the relay's");
    let ack = h.ack(Port::Pull, addr(SUB), id, legacy.relay_ms(&h), "a");
    assert!(ack.is_empty(), "a legacy ack is no challenge echo: {ack:?}");
    let out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"a"));
    let stopped = of(&out, pt::STREAM_STOPPED);
    assert_eq!(stopped.len(), 1);
    assert_eq!(legacy.receive(&h, stopped[0]), 0, "the relay's clock again");
    let later = h.advance(Duration::from_secs(1));
    assert!(of(&later, pt::STREAM_STOPPED).is_empty(), "a legacy client gets STREAM_STOPPED once");
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
    assert!(rsps.iter().all(|r| r.header().timestamp == h.clock() && r.header().sequence == 0 && !r.header().marker));
    // The SSRC field carries each packet's own challenge (§2.3).
    let challenges: std::collections::BTreeSet<u32> = rsps.iter().map(|r| r.header().ssrc).collect();
    assert_eq!(challenges.len(), 3);
    assert!(challenges.iter().all(|&c| pt::is_assignable_id(c)));
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
    h.ack(Port::Pull, addr(SUB), id, rsp[0].header().ssrc, "later");
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

/// Advances to `offset` after `start` in steps of at most 500 ms, the
/// client heartbeating between them; returns the `PULL_RSP`s sent.
fn run_to(h: &mut Harness, start: rtprelay_core::Instant, offset_ms: u64, id: u32) -> usize {
    let end = start + Duration::from_millis(offset_ms);
    let mut rsps = 0;
    while h.now < end {
        let step = (end - h.now).min(Duration::from_millis(500));
        rsps += of(&h.advance(step), pt::PULL_RSP).len();
        h.heartbeat(Port::Pull, addr(SUB), id);
    }
    rsps
}

/// README "Resend schedule" and Config `pull_rsp_resend_initial_ms` = 1000,
/// `pull_rsp_resends` = 3: resends at exactly +1 s, +3 s and +7 s, and
/// the give-up 8 s after the last, at exactly +15 s.
#[test]
fn an_unacked_pull_rsp_is_resent_at_exactly_1_3_7_s_and_given_up_at_15_s() {
    let (mut h, _) = with_live(&["a"]);
    let id = h.client_id(Port::Pull, addr(SUB));
    h.pull(Port::Pull, addr(SUB), id, &["a"]);
    let start = h.now;
    for (before, at) in [(999, 1_000), (2_999, 3_000), (6_999, 7_000)] {
        assert_eq!(run_to(&mut h, start, before, id), 0, "nothing before {at} ms");
        assert_eq!(run_to(&mut h, start, at, id), 1, "a resend at {at} ms");
    }
    assert_eq!(run_to(&mut h, start, 14_999, id), 0);
    assert_eq!(h.counters().pull_rsp_gave_up, 0, "not given up 7.999 s after the last resend");
    run_to(&mut h, start, 15_000, id);
    assert_eq!(h.counters().pull_rsp_gave_up, 1, "given up 8 s after the last resend");
    assert_eq!(run_to(&mut h, start, 40_000, id), 0, "and never resent again");
    assert_eq!(h.counters().pull_rsp_resent, 3);
}

/// README "Heartbeat timer" and Config `client_heartbeat_timeout_ms` =
/// 10000: the timer starts when the client id is issued, so a client that
/// never sends a heartbeat is dropped exactly 10 s later.
#[test]
fn the_heartbeat_timer_starts_when_the_client_id_is_issued() {
    let mut h = Harness::new();
    h.client_id(Port::Pull, addr(SUB));
    h.advance(Duration::from_millis(9_999));
    assert_eq!(h.relay.state_sizes().clients, 1);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.relay.state_sizes().clients, 0, "dropped 10 s after the id was issued");
    assert_eq!(h.counters().client_heartbeat_timeout, 1);
}

/// Config `client_heartbeat_timeout_ms` = 10000: dropped exactly 10 s after
/// the last heartbeat from the bound address.
#[test]
fn a_client_is_dropped_exactly_10_s_after_its_last_heartbeat() {
    let mut h = Harness::new();
    let id = h.client_id(Port::Pull, addr(SUB));
    h.advance(Duration::from_millis(4_000));
    h.heartbeat(Port::Pull, addr(SUB), id);
    h.advance(Duration::from_millis(9_999));
    assert_eq!(h.relay.state_sizes().clients, 1);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.relay.state_sizes().clients, 0);
}

/// Config `pull_reassembly_timeout_ms` = 1000: an incomplete pull request
/// is dropped exactly 1 s after its latest chunk.
#[test]
fn an_incomplete_pull_request_is_dropped_exactly_1_s_after_its_latest_chunk() {
    let mut h = Harness::new();
    let id = h.client_id(Port::Pull, addr(SUB));
    h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, false, 0, 0, id, b"a"));
    assert!(h.advance(Duration::from_millis(999)).is_empty());
    assert_eq!(of(&h.advance(Duration::from_millis(1)), pt::PULL_REQ_LOST).len(), 1);
}

/// `n` client ids issued from distinct addresses, at most 64 per IP.
fn many_clients(h: &mut Harness, n: usize) -> Vec<(std::net::SocketAddr, u32)> {
    (0..n)
        .map(|i| {
            let from = std::net::SocketAddr::from((
                [10, 1, (i / 64 / 256) as u8, (i / 64 % 256) as u8],
                1000 + (i % 64) as u16,
            ));
            (from, h.client_id(Port::Pull, from))
        })
        .collect()
}

/// Config `max_subscribers_per_stream` = 2000: the 2001st ack is refused
/// and counted; data goes to exactly 2000 subscribers.
#[test]
fn a_stream_has_at_most_2000_acknowledged_subscribers() {
    let (mut h, ssrcs) = with_live(&["a"]);
    for (from, id) in many_clients(&mut h, 2001) {
        h.pull(Port::Pull, from, id, &["a"]);
        h.ack(Port::Pull, from, id, 0, "a");
    }
    assert_eq!(h.counters().subscriber_limit, 1);
    assert_eq!(of(&h.ts_data(addr(PUB), ssrcs[0], 1, b"x"), pt::TS_DATA).len(), 2000);
}

/// Config `max_pending_reassemblies` = 1024: the 1025th incomplete pull
/// request at once is refused.
#[test]
fn at_most_1024_chunked_pull_requests_are_reassembled_at_once() {
    let mut h = Harness::new();
    for (from, id) in many_clients(&mut h, 1025) {
        h.send(Port::Pull, from, packet(pt::PULL_REQ, false, 0, 0, id, b"a"));
    }
    assert_eq!(h.relay.state_sizes().pending_reassemblies, 1024);
    assert_eq!(h.counters().pull_req_rejected, 1);
}

/// Config `max_clients` = 10000: with 10000 clients that proved
/// liveness (a heartbeat), the 10001st client id is refused.
#[test]
fn the_relay_tracks_at_most_10000_clients() {
    let mut h = Harness::new();
    for (from, id) in many_clients(&mut h, 10_000) {
        h.heartbeat(Port::Pull, from, id);
    }
    let from = std::net::SocketAddr::from(([10, 2, 0, 1], 1));
    assert!(h.send(Port::Pull, from, packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b"")).is_empty());
    assert_eq!(h.relay.state_sizes().clients, 10_000);
    assert_eq!((h.counters().client_limit_global, h.counters().client_limit_per_ip), (1, 0));
}

/// Config `max_pull_request_chunks` = 64: chunk indexes 0..=63 make a
/// request, index 64 is refused.
#[test]
fn a_pull_request_may_have_64_chunks() {
    let mut h = Harness::new();
    let id = h.client_id(Port::Pull, addr(SUB));
    let mut out = Vec::new();
    for index in 0..64u16 {
        out.extend(h.send(
            Port::Pull,
            addr(SUB),
            packet(pt::PULL_REQ, index == 63, index, 0, id, format!("s{index}#").as_bytes()),
        ));
    }
    let entries: Vec<_> = of(&out, pt::PULL_RSP).iter().flat_map(|r| text::parse_pull_rsp(r.payload())).collect();
    assert_eq!(entries.len(), 64, "64 chunks are reassembled");
    h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, false, 64, 0, id, b"x"));
    assert_eq!(h.counters().pull_req_rejected, 1, "a 65th chunk is refused");
    assert_eq!(h.relay.state_sizes().pending_reassemblies, 0);
}

/// Config `max_ids_per_request` = 512: the rest are ignored and counted.
#[test]
fn a_pull_request_may_list_512_ids() {
    let mut h = Harness::new();
    let id = h.client_id(Port::Pull, addr(SUB));
    let ids: Vec<String> = (0..513).map(|i| format!("s{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let out = h.pull(Port::Pull, addr(SUB), id, &refs);
    let entries: Vec<_> = of(&out, pt::PULL_RSP).iter().flat_map(|r| text::parse_pull_rsp(r.payload())).collect();
    assert_eq!(entries.len(), 512);
    assert_eq!(entries.last().unwrap().0, "s511");
    assert_eq!(h.counters().pull_req_ids_truncated, 1);
}

/// Config `max_queued_per_destination` = 1024: when a destination's queue
/// is full the oldest packet goes.
#[test]
fn a_destination_queues_at_most_1024_packets() {
    let (mut h, ssrcs) = with_live(&["a"]);
    h.subscriber(Port::Pull, addr(SUB), &["a"]);
    for seq in 0..1030u16 {
        h.relay.handle_datagram(h.now, Port::Push, addr(PUB), packet(pt::TS_DATA, false, seq, 0, ssrcs[0], b"x"));
    }
    let seqs: Vec<u16> = h.drain().iter().map(|s| s.header().sequence).collect();
    assert_eq!(seqs, (6..1030).collect::<Vec<u16>>());
    assert_eq!(h.counters().tx_queue_overflow, 6);
}

/// Sends one `PULL_REQ` chunk; returns the entries of any `PULL_RSP`.
fn chunk(h: &mut Harness, id: u32, index: u16, last: bool, payload: &[u8]) -> Vec<(String, Option<u32>)> {
    let out = h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, last, index, 0, id, payload));
    of(&out, pt::PULL_RSP).iter().flat_map(|r| text::parse_pull_rsp(r.payload())).collect()
}

/// docs/protocol.md §1.4.2: a chunk past the one marked last cannot belong
/// to that request (a client that restarted with a longer list): it
/// starts a new set, which then completes on its own.
#[test]
fn a_chunk_past_the_marked_last_one_starts_a_new_set() {
    let mut h = Harness::new();
    let id = h.client_id(Port::Pull, addr(SUB));
    assert!(chunk(&mut h, id, 1, true, b"old-b").is_empty());
    assert!(chunk(&mut h, id, 2, false, b"c#").is_empty());
    assert!(chunk(&mut h, id, 3, true, b"d").is_empty());
    assert!(chunk(&mut h, id, 0, false, b"a#").is_empty());
    let entries = chunk(&mut h, id, 1, false, b"b#");
    let names: Vec<&str> = entries.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d"]);
    assert_eq!(h.relay.state_sizes().pending_reassemblies, 0);
}

/// docs/protocol.md §1.4.2: a chunk marked last below a chunk already held
/// cannot belong to that request: it starts a new set.
#[test]
fn a_last_chunk_below_a_chunk_already_held_starts_a_new_set() {
    let mut h = Harness::new();
    let id = h.client_id(Port::Pull, addr(SUB));
    assert!(chunk(&mut h, id, 2, false, b"old-c").is_empty());
    assert!(chunk(&mut h, id, 1, true, b"b").is_empty());
    let entries = chunk(&mut h, id, 0, false, b"a#");
    assert_eq!(entries, [("a".to_owned(), None), ("b".to_owned(), None)]);
    assert_eq!(h.relay.state_sizes().pending_reassemblies, 0);
}

/// docs/protocol.md §1.4.6 then §1.4.5 and §2.5: the unprompted `PULL_RSP`
/// of a stream going live later is resent after exactly 1 s like any
/// other, for that stream only, and the ack replays the data since it.
#[test]
fn a_stream_going_live_later_is_resent_until_acked_and_replayed_from_then() {
    let mut h = Harness::new();
    h.add_credential("later", "code");
    let id = h.client_id(Port::Pull, addr(SUB));
    h.pull(Port::Pull, addr(SUB), id, &["never", "later"]);
    h.advance(Duration::from_millis(500));
    let ssrc = h.auth(Port::Push, addr(PUB), "later", "code");
    h.ts_data(addr(PUB), ssrc, 1, b"one");
    assert!(of(&h.advance(Duration::from_millis(999)), pt::PULL_RSP).is_empty());
    let resent = h.advance(Duration::from_millis(1));
    let resent = of(&resent, pt::PULL_RSP);
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0].text(), format!("later#{}", ssrc as i32));
    let joined = h.ack(Port::Pull, addr(SUB), id, 0, "later");
    assert_eq!(joined.iter().map(|s| s.text()).collect::<Vec<_>>(), ["one"]);
}

/// docs/protocol.md §1.4.3 and §1.4.6: a stream dropped from a client's
/// list is no longer its concern: going live, it sends that client nothing.
#[test]
fn a_client_that_no_longer_lists_a_stream_hears_nothing_when_it_goes_live() {
    let mut h = Harness::new();
    h.add_credential("later", "code");
    let id = h.client_id(Port::Pull, addr(SUB));
    h.pull(Port::Pull, addr(SUB), id, &["later"]);
    h.pull(Port::Pull, addr(SUB), id, &["other"]);
    let out = h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, false, 0, 0, 0, b"later#code"));
    assert_eq!(out.iter().map(|s| (s.pt(), s.to)).collect::<Vec<_>>(), [(pt::AUTH_OK, addr(PUB))]);
}

/// docs/protocol.md §1.4.7: issuing a client id arms its heartbeat check
/// 10 s on, and nothing sooner: the relay asks to be woken exactly then.
#[test]
fn a_new_client_asks_to_be_woken_10_s_later() {
    let mut h = Harness::new();
    h.now = h.now + Duration::from_secs(60);
    h.client_id(Port::Pull, addr(SUB));
    assert_eq!(h.relay.poll_timeout(), Some(h.now + Duration::from_secs(10)));
}

/// docs/protocol.md §1.4.1, §1.4.3 and §1.4.8: client ids issued (not a
/// repeated answer), complete pull requests applied (not chunks, not
/// invalid UTF-8) and clients stopped are each counted.
#[test]
fn issued_ids_applied_requests_and_stopped_clients_are_counted() {
    let mut h = Harness::new();
    let id = h.client_id(Port::Pull, addr(SUB));
    h.client_id(Port::Pull, addr(SUB));
    let other = h.client_id(Port::Pull, addr(SUB + 1));
    h.pull(Port::Pull, addr(SUB), id, &["a"]);
    h.pull(Port::Pull, addr(SUB), id, &["a", "b"]);
    h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, false, 0, 0, id, b"c#"));
    h.send(Port::Pull, addr(SUB + 1), packet(pt::PULL_REQ, true, 0, 0, other, b"\xff\xfe"));
    h.send(Port::Pull, addr(SUB), packet(pt::STOP_PULL_REQ, false, 0, 0, id, b""));
    h.send(Port::Pull, addr(SUB + 2), packet(pt::STOP_PULL_REQ, false, 0, 0, other, b""));
    let c = h.counters();
    assert_eq!((c.client_ids_issued, c.pull_req_applied, c.pull_req_not_utf8), (2, 2, 1));
    assert_eq!((c.client_stopped, c.client_untrusted), (1, 1));
}

/// Config `max_pull_request_chunks`: a refused chunk index also drops the
/// client's pending request, which no longer counts and cannot complete.
#[test]
fn a_refused_chunk_drops_the_pending_request() {
    let mut h = Harness::new();
    let id = h.client_id(Port::Pull, addr(SUB));
    assert!(chunk(&mut h, id, 0, false, b"a#").is_empty());
    assert_eq!(h.relay.state_sizes().pending_reassemblies, 1);
    assert!(chunk(&mut h, id, 64, false, b"x").is_empty());
    assert_eq!(h.relay.state_sizes().pending_reassemblies, 0);
    assert_eq!(h.counters().pull_req_rejected, 1);
    assert!(chunk(&mut h, id, 1, true, b"b").is_empty(), "chunk 0 is gone");
    assert_eq!(h.relay.state_sizes().pending_reassemblies, 1);
}
