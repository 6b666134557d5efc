//! docs/protocol.md §1.4.10, §2.3 and §2.5: the trust rule, verified address
//! changes, anti-amplification, `legacy_trust`, and the `*_UNKNOWN` answers.

mod common;

use common::*;
use rtprelay_core::LeaveReason;
use rtprelay_core::packet::{pt, text};
use rtprelay_core::{Config, Port, RelayEvent};
use std::time::Duration;

const PUB: u16 = 5000;
const SUB: u16 = 7000;
const NEW: u16 = 7100;
const EVIL: u16 = 6666;

fn setup(config: Config) -> (Harness, u32, u32) {
    let mut h = Harness::with_config(config);
    h.add_credential("a", "code");
    let ssrc = h.auth(Port::Push, addr(PUB), "a", "code");
    let id = h.subscriber(Port::Pull, addr(SUB), &["a"]);
    (h, ssrc, id)
}

fn data_to(h: &mut Harness, ssrc: u32) -> Vec<std::net::SocketAddr> {
    let seq = h.counters().ts_data_accepted as u16 + 1;
    h.ts_data(addr(PUB), ssrc, seq, b"x").iter().map(|s| s.to).collect()
}

#[test]
fn messages_naming_a_client_id_count_only_from_its_bound_address() {
    let (mut h, ssrc, id) = setup(Config::default());
    let from_evil = [
        packet(pt::PULL_REQ, true, 0, 0, id, b"other"),
        packet(pt::SSRC_ACK, false, 0, 0, id, b"a"),
        packet(pt::STOP_PULL_REQ, false, 0, 0, id, b""),
    ];
    for p in from_evil {
        h.send(Port::Pull, addr(EVIL), p);
        h.advance(Duration::from_millis(1100));
    }
    assert_eq!(data_to(&mut h, ssrc), [addr(SUB)], "the subscription survived, data never went to the forger");
    assert_eq!(h.counters().client_untrusted, 3);
}

#[test]
fn unknown_client_ids_get_client_unknown_at_most_once_per_second() {
    let mut h = Harness::new();
    let hb = packet(pt::HEARTBEAT, false, 0, 0, 4242, b"");
    let out = h.send(Port::Pull, addr(SUB), hb.clone());
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].pt(), out[0].header().ssrc, out[0].payload().len(), out[0].port),
        (pt::CLIENT_UNKNOWN, 4242, 0, Port::Pull)
    );
    assert!(h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, true, 0, 0, 4242, b"a")).is_empty());
    h.advance(Duration::from_millis(999));
    assert!(h.send(Port::Pull, addr(SUB), packet(pt::SSRC_ACK, false, 0, 0, 4242, b"a")).is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(of(&h.send(Port::Pull, addr(SUB), hb), pt::CLIENT_UNKNOWN).len(), 1);
    assert_eq!(h.counters().unknown_reply_limited, 2);
}

#[test]
fn ts_data_not_bound_to_its_source_gets_stream_unknown_at_most_once_per_second() {
    let (mut h, ssrc, _) = setup(Config::default());
    let out = h.ts_data(addr(EVIL), ssrc, 1, b"x");
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].pt(), out[0].header().ssrc, out[0].to), (pt::STREAM_UNKNOWN, ssrc, addr(EVIL)));
    assert!(h.ts_data(addr(EVIL), ssrc, 2, b"x").is_empty());
    assert_eq!(of(&h.ts_data(addr(EVIL + 1), 99, 2, b"x"), pt::STREAM_UNKNOWN)[0].header().ssrc, 99);
}

#[test]
fn the_unknown_reply_limiter_is_bounded() {
    let mut h = Harness::with_config(Config { max_rate_limited_sources: 3, ..Config::default() });
    for port in 0..10 {
        h.heartbeat(Port::Pull, addr(10_000 + port), 1);
    }
    assert!(h.relay.state_sizes().rate_limited_sources <= 3);
    assert_eq!(h.counters().client_unknown_sent, 3);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.heartbeat(Port::Pull, addr(20_000), 1).len(), 1, "expired entries make room");
}

/// An entry of the full limiter expires exactly one interval after its
/// reply: a new source then takes its place, a microsecond earlier not.
#[test]
fn a_full_unknown_reply_limiter_frees_entries_exactly_one_interval_old() {
    let mut h = Harness::with_config(Config { max_rate_limited_sources: 2, ..Config::default() });
    h.heartbeat(Port::Pull, addr(10_000), 1);
    h.heartbeat(Port::Pull, addr(10_001), 1);
    h.advance(Duration::from_micros(999_999));
    assert!(h.heartbeat(Port::Pull, addr(10_002), 1).is_empty(), "full, nothing expired yet");
    h.advance(Duration::from_micros(1));
    assert_eq!(h.heartbeat(Port::Pull, addr(10_003), 1).len(), 1, "expired at exactly 1 s");
}

#[test]
fn a_heartbeat_from_a_new_address_moves_data_only_after_the_challenge_is_echoed() {
    let (mut h, ssrc, id) = setup(Config::default());
    let mut rsp = Vec::new();
    for _ in 0..5 {
        rsp.extend(h.heartbeat(Port::Push, addr(NEW), id));
        assert_eq!(data_to(&mut h, ssrc), [addr(SUB)], "data stays at the old address");
    }
    let rsp = of(&rsp, pt::PULL_RSP);
    assert_eq!(rsp.len(), 2, "a PULL_RSP each time the new address has sent enough bytes for one");
    assert!(rsp.iter().all(|r| (r.to, r.port) == (addr(NEW), Port::Push)));
    assert_eq!(text::parse_pull_rsp(rsp[0].payload()), [("a".to_owned(), Some(ssrc))]);
    // A wrong echo does nothing.
    let out = h.ack(Port::Push, addr(NEW), id, rsp[0].header().ssrc ^ 1, "a");
    assert_eq!(of(&out, pt::CLIENT_UNKNOWN).len(), 1);
    assert_eq!(data_to(&mut h, ssrc), [addr(SUB)]);
    h.ack(Port::Push, addr(NEW), id, rsp[0].header().ssrc, "a");
    assert_eq!(data_to(&mut h, ssrc), [addr(SUB)], "the old address was heard within move_quiet_ms");
    h.advance(Duration::from_millis(2_000));
    assert_eq!(data_to(&mut h, ssrc), [addr(NEW)], "quiet for 2 s: moved");
    assert!(h.events.contains(&RelayEvent::ClientMoved { from: addr(SUB), to: addr(NEW) }));
    let out = h.send(Port::Push, addr(NEW), packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
    assert_eq!(out[0].header().ssrc, id, "the new address owns the id");
}

#[test]
fn a_challenge_expires_after_5_s() {
    let (mut h, ssrc, id) = setup(Config::default());
    let rsp: Vec<_> = (0..5).flat_map(|_| h.heartbeat(Port::Pull, addr(NEW), id)).collect();
    let challenge = of(&rsp, pt::PULL_RSP)[0].header().ssrc;
    for _ in 0..5 {
        h.advance(Duration::from_millis(1_000));
        h.heartbeat(Port::Pull, addr(SUB), id);
    }
    h.advance(Duration::from_millis(1));
    h.ack(Port::Pull, addr(NEW), id, challenge, "a");
    assert_eq!(data_to(&mut h, ssrc), [addr(SUB)]);
}

#[test]
fn toward_an_unverified_address_the_relay_never_sends_more_than_it_received() {
    let mut h = Harness::new();
    let names: Vec<String> = (0..30).map(|i| format!("stream-with-a-long-name-{i:02}")).collect();
    let mut ssrc = 0;
    for n in &names {
        h.add_credential(n, "code");
        ssrc = h.auth(Port::Push, addr(PUB), n, "code");
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let id = h.subscriber(Port::Pull, addr(SUB), &refs);
    let (mut received, mut sent) = (0usize, 0usize);
    for _ in 0..40 {
        let hb = packet(pt::HEARTBEAT, false, 0, 0, id, b"");
        received += hb.len();
        sent +=
            h.send(Port::Pull, addr(NEW), hb).iter().filter(|s| s.to == addr(NEW)).map(|s| s.data.len()).sum::<usize>();
        assert!(sent <= received, "sent {sent} > received {received}");
        h.ts_data(addr(PUB), ssrc, received as u16, b"data");
    }
    assert!(sent > 0, "the address change still makes progress");
    assert!(h.counters().amplification_limited > 0);
}

#[test]
fn a_heartbeat_from_a_new_address_does_not_keep_the_client_alive() {
    let (mut h, _, id) = setup(Config::default());
    for _ in 0..11 {
        h.advance(Duration::from_secs(1));
        h.heartbeat(Port::Pull, addr(NEW), id);
    }
    assert_eq!(h.relay.state_sizes().clients, 0);
    assert!(h.events.contains(&RelayEvent::ClientLeft { address: addr(SUB), reason: LeaveReason::HeartbeatTimeout }));
}

#[test]
fn legacy_trust_moves_at_once_and_accepts_unissued_client_ids() {
    let (mut h, ssrc, id) = setup(Config { legacy_trust: true, ..Config::default() });
    assert!(h.heartbeat(Port::Pull, addr(NEW), id).is_empty());
    assert_eq!(data_to(&mut h, ssrc), [addr(NEW)]);
    // A client that kept its id across a relay restart.
    let out = h.pull(Port::Pull, addr(SUB + 5), 0x1234_5678, &["a"]);
    assert_eq!(text::parse_pull_rsp(of(&out, pt::PULL_RSP)[0].payload()), [("a".to_owned(), Some(ssrc))]);
    h.ack(Port::Pull, addr(SUB + 5), 0x1234_5678, 0, "a");
    let mut to = data_to(&mut h, ssrc);
    to.sort();
    assert_eq!(to, [addr(SUB + 5), addr(NEW)]);
    // Sentinel ids are never adopted.
    assert_eq!(of(&h.heartbeat(Port::Pull, addr(SUB + 6), u32::MAX), pt::CLIENT_UNKNOWN).len(), 1);
    assert_eq!(h.relay.state_sizes().clients, 2);
}

#[test]
fn without_legacy_trust_unissued_ids_are_refused() {
    let (mut h, ssrc, _) = setup(Config::default());
    let out = h.pull(Port::Pull, addr(SUB + 5), 0x1234_5678, &["a"]);
    assert_eq!(of(&out, pt::CLIENT_UNKNOWN).len(), 1);
    h.ack(Port::Pull, addr(SUB + 5), 0x1234_5678, 0, "a");
    assert_eq!(data_to(&mut h, ssrc), [addr(SUB)]);
}

#[test]
fn clients_per_ip_and_in_all_are_limited() {
    let mut h = Harness::with_config(Config { max_clients_per_ip: 2, max_clients: 3, ..Config::default() });
    for port in 0..3 {
        let out = h.send(Port::Pull, addr(SUB + port), packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
        assert_eq!(out.len(), usize::from(port < 2));
        if let Some(rsp) = out.first() {
            h.heartbeat(Port::Pull, addr(SUB + port), rsp.header().ssrc);
        }
    }
    let other_ip = std::net::SocketAddr::from(([127, 0, 0, 2], 1));
    let id = h.client_id(Port::Pull, other_ip);
    // Clients that heartbeat are never evicted to make room (see
    // relay_hardening.rs for those that do not).
    h.heartbeat(Port::Pull, other_ip, id);
    assert!(
        h.send(
            Port::Pull,
            std::net::SocketAddr::from(([127, 0, 0, 3], 1)),
            packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b"")
        )
        .is_empty()
    );
    let c = h.counters();
    assert_eq!((c.client_limit_per_ip, c.client_limit_global), (1, 1));
}

#[test]
fn pending_reassemblies_chunks_and_ids_per_request_are_limited() {
    let mut h = Harness::with_config(Config {
        max_pending_reassemblies: 1,
        max_pull_request_chunks: 4,
        max_ids_per_request: 3,
        ..Config::default()
    });
    let a = h.client_id(Port::Pull, addr(SUB));
    let b = h.client_id(Port::Pull, addr(SUB + 1));
    h.send(Port::Pull, addr(SUB), packet(pt::PULL_REQ, false, 0, 0, a, b"x"));
    h.send(Port::Pull, addr(SUB + 1), packet(pt::PULL_REQ, false, 0, 0, b, b"y"));
    assert_eq!(h.relay.state_sizes().pending_reassemblies, 1);
    h.send(Port::Pull, addr(SUB + 1), packet(pt::PULL_REQ, true, 4, 0, b, b"y"));
    assert_eq!(h.counters().pull_req_rejected, 2);
    let out = h.send(Port::Pull, addr(SUB + 1), packet(pt::PULL_REQ, true, 0, 0, b, b"1#2#3#4#5"));
    assert_eq!(of(&out, pt::PULL_RSP)[0].text(), "1#null;2#null;3#null");
    assert_eq!(h.counters().pull_req_ids_truncated, 2);
}

/// Config `challenge_validity_ms` = 5000: a challenge echoed 4.999 s after
/// it was sent still moves the client, at exactly 5 s it no longer does.
#[test]
fn a_challenge_is_valid_for_exactly_5_s() {
    let moved_after = |ms: u64| {
        // The old address keeps heartbeating: no quiet period here.
        let (mut h, ssrc, id) = setup(Config { move_quiet_ms: 0, ..Config::default() });
        let rsp: Vec<_> = (0..5).flat_map(|_| h.heartbeat(Port::Pull, addr(NEW), id)).collect();
        let challenge = of(&rsp, pt::PULL_RSP)[0].header().ssrc;
        for _ in 0..ms / 1_000 {
            h.advance(Duration::from_millis(1_000));
            h.heartbeat(Port::Pull, addr(SUB), id);
        }
        h.advance(Duration::from_millis(ms % 1_000));
        h.ack(Port::Pull, addr(NEW), id, challenge, "a");
        data_to(&mut h, ssrc) == [addr(NEW)]
    };
    assert!(moved_after(4_999));
    assert!(!moved_after(5_000));
}

/// README "Address changes": the `PULL_RSP` to a new address lists the
/// live streams first, at most 20, and as many as the bytes received from
/// that address allow (exactly: one more entry would not fit).
#[test]
fn a_pull_rsp_to_a_new_address_lists_live_streams_first_at_most_20_as_far_as_bytes_allow() {
    let mut h = Harness::new();
    let live: Vec<String> = (0..25).map(|i| format!("live{i:02}")).collect();
    let mut ssrcs = Vec::new();
    for n in &live {
        h.add_credential(n, "code");
        ssrcs.push(h.auth(Port::Push, addr(PUB), n, "code"));
    }
    let mut ids: Vec<String> = (0..5).map(|i| format!("off{i}")).collect();
    ids.extend(live.iter().cloned());
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let id = h.subscriber(Port::Pull, addr(SUB), &refs);
    let expected: Vec<(String, Option<u32>)> = live.iter().cloned().zip(ssrcs.iter().map(|&s| Some(s))).collect();
    // Exactly the bytes of a PULL_RSP with two entries: two entries.
    let two = 12 + text::encode_pull_rsp(&expected[..2])[0].len();
    let hb = packet(pt::HEARTBEAT, false, 0, 0, id, &vec![0; two - 12]);
    let out = h.send(Port::Pull, addr(NEW), hb);
    assert_eq!(out.len(), 1);
    assert_eq!(text::parse_pull_rsp(out[0].payload()), expected[..2]);
    // Plenty of bytes from another address: the first 20 live ones.
    let hb = packet(pt::HEARTBEAT, false, 0, 0, id, &[0; 2000]);
    let out = h.send(Port::Pull, addr(NEW + 1), hb);
    assert_eq!(out.len(), 1, "one PULL_RSP");
    assert_eq!(text::parse_pull_rsp(out[0].payload()), expected[..20]);
}

/// README "`legacy_trust`": any message naming a known id from another
/// address moves the client at once, not only a heartbeat.
#[test]
fn legacy_trust_moves_a_client_on_a_pull_request_or_an_ack_from_another_address() {
    let (mut h, ssrc, id) = setup(Config { legacy_trust: true, ..Config::default() });
    h.pull(Port::Pull, addr(NEW), id, &["a"]);
    assert_eq!(data_to(&mut h, ssrc), [addr(NEW)], "moved by a PULL_REQ");
    h.ack(Port::Pull, addr(NEW + 1), id, 0, "a");
    assert_eq!(data_to(&mut h, ssrc), [addr(NEW + 1)], "moved by an SSRC_ACK");
}

/// README "`legacy_trust`": an unknown id creates a client at the source
/// address, never a sentinel id, whichever message names it.
#[test]
fn legacy_trust_never_adopts_a_sentinel_id() {
    let mut h = Harness::with_config(Config { legacy_trust: true, ..Config::default() });
    let mut port = 8000;
    for id in [0, u32::MAX - 1, u32::MAX] {
        for p in [
            packet(pt::HEARTBEAT, false, 0, 0, id, b""),
            packet(pt::PULL_REQ, true, 0, 0, id, b"a"),
            packet(pt::SSRC_ACK, false, 0, 0, id, b"a"),
        ] {
            port += 1;
            assert_eq!(of(&h.send(Port::Pull, addr(port), p), pt::CLIENT_UNKNOWN).len(), 1, "{id:#x}");
        }
    }
    assert_eq!(h.relay.state_sizes().clients, 0);
    h.heartbeat(Port::Pull, addr(port + 1), 1);
    assert_eq!(h.relay.state_sizes().clients, 1, "an ordinary unknown id is adopted");
}

/// Config `max_clients_per_ip` = 64: the 65th client id for one IP is
/// refused; another IP is not affected.
#[test]
fn one_source_ip_may_hold_64_clients() {
    let mut h = Harness::new();
    for port in 0..64 {
        h.client_id(Port::Pull, addr(SUB + port));
    }
    assert!(h.send(Port::Pull, addr(SUB + 64), packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b"")).is_empty());
    assert_eq!(h.counters().client_limit_per_ip, 1);
    h.client_id(Port::Pull, std::net::SocketAddr::from(([127, 0, 0, 2], SUB)));
    assert_eq!(h.relay.state_sizes().clients, 65);
}

/// Config `max_rate_limited_sources` = 4096: the `*_UNKNOWN` limiter
/// remembers 4096 sources; a 4097th within the interval gets no answer.
#[test]
fn the_unknown_reply_limiter_remembers_4096_sources() {
    let mut h = Harness::new();
    let from = |i: u32| std::net::SocketAddr::from(([10, 3, (i / 256) as u8, (i % 256) as u8], 1));
    for i in 0..4096 {
        assert_eq!(h.send(Port::Pull, from(i), packet(pt::HEARTBEAT, false, 0, 0, 7, b"")).len(), 1);
    }
    // Enough for the unbound-id limiter (2.3) to refill and forget them.
    h.advance(Duration::from_millis(10));
    assert!(h.send(Port::Pull, from(4096), packet(pt::HEARTBEAT, false, 0, 0, 7, b"")).is_empty());
    assert_eq!((h.counters().client_unknown_sent, h.counters().unknown_reply_limited), (4096, 1));
}

/// Config `max_rate_limited_sources` = 4096 also bounds the failed-auth
/// limiter: 4096 IPs are remembered (and held back), a 4097th is not.
#[test]
fn the_failed_auth_limiter_remembers_4096_ips() {
    let mut h = Harness::with_config(Config { max_auth_failures_per_ip_per_minute: 1, ..Config::default() });
    h.add_credential("a", "code");
    let from = |i: u32| std::net::SocketAddr::from(([10, 4, (i / 256) as u8, (i % 256) as u8], 1));
    let guess =
        |h: &mut Harness, i| h.send(Port::Push, from(i), packet(pt::AUTH_REQ, false, 0, 0, 0, b"a#guess")).len();
    for i in 0..4097 {
        assert_eq!(guess(&mut h, i), 1);
    }
    assert_eq!(guess(&mut h, 4095), 0, "the 4096th IP is remembered");
    assert_eq!(guess(&mut h, 4096), 1, "the 4097th is not");
}

/// Config `max_clients_per_ip`: a client that leaves (stopped, timed out
/// or moved away) frees its place in its IP's count.
#[test]
fn a_client_leaving_frees_its_place_in_its_ips_limit() {
    let mut h = Harness::with_config(Config { max_clients_per_ip: 2, legacy_trust: true, ..Config::default() });
    let a = h.client_id(Port::Pull, addr(SUB));
    let b = h.client_id(Port::Pull, addr(SUB + 1));
    h.send(Port::Pull, addr(SUB), packet(pt::STOP_PULL_REQ, false, 0, 0, a, b""));
    let c = h.client_id(Port::Pull, addr(SUB + 2));
    // b moves to another IP: its old IP holds c alone.
    let elsewhere = std::net::SocketAddr::from(([127, 0, 0, 2], SUB));
    h.heartbeat(Port::Pull, elsewhere, b);
    h.client_id(Port::Pull, addr(SUB + 3));
    assert!(h.send(Port::Pull, addr(SUB + 4), packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b"")).is_empty());
    assert_eq!(h.counters().client_limit_per_ip, 1);
    // c stops: room again.
    h.send(Port::Pull, addr(SUB + 2), packet(pt::STOP_PULL_REQ, false, 0, 0, c, b""));
    h.client_id(Port::Pull, addr(SUB + 4));
    assert_eq!(h.relay.state_sizes().clients, 3);
}

/// docs/protocol.md §2.3: address changes started (once per new address)
/// and completed are counted.
#[test]
fn address_changes_started_and_completed_are_counted() {
    let (mut h, _, id) = setup(Config::default());
    let rsp: Vec<_> = (0..5).flat_map(|_| h.heartbeat(Port::Pull, addr(NEW), id)).collect();
    let challenge = of(&rsp, pt::PULL_RSP)[0].header().ssrc;
    assert_eq!((h.counters().address_change_started, h.counters().address_change_completed), (1, 0));
    h.ack(Port::Pull, addr(NEW), id, challenge, "a");
    assert_eq!((h.counters().address_change_waiting, h.counters().address_change_completed), (1, 0));
    h.advance(Duration::from_millis(2_000));
    assert_eq!((h.counters().address_change_started, h.counters().address_change_completed), (1, 1));
}

/// docs/protocol.md "Address changes": until one entry fits the bytes the
/// new address sent, nothing is sent there, not even an empty `PULL_RSP`.
#[test]
fn a_new_address_gets_no_pull_rsp_until_one_entry_fits() {
    let mut h = Harness::new();
    h.add_credential("stream-with-a-long-name", "code");
    let ssrc = h.auth(Port::Push, addr(PUB), "stream-with-a-long-name", "code");
    let id = h.subscriber(Port::Pull, addr(SUB), &["stream-with-a-long-name"]);
    let entry = format!("stream-with-a-long-name#{}", ssrc as i32);
    let needed = (12 + entry.len()).div_ceil(12);
    for _ in 1..needed {
        assert!(h.heartbeat(Port::Pull, addr(NEW), id).is_empty());
    }
    let out = h.heartbeat(Port::Pull, addr(NEW), id);
    assert_eq!(of(&out, pt::PULL_RSP).iter().map(|s| s.text()).collect::<Vec<_>>(), [entry]);
    assert_eq!(h.counters().amplification_limited, needed as u64 - 1);
}

/// docs/protocol.md "Address changes": an echo that waits for the old
/// address to fall quiet keeps the new address's byte account, so the
/// credit it earned still lets the next challenge out.
#[test]
fn an_echo_that_waits_keeps_the_new_addresss_byte_credit() {
    let (mut h, _, id) = setup(Config::default());
    let padded = packet(pt::HEARTBEAT, false, 0, 0, id, &[0; 88]);
    let out = h.send(Port::Pull, addr(NEW), padded);
    let rsp = of(&out, pt::PULL_RSP);
    assert!(rsp[0].data.len() * 2 < 100 - 12, "credit left for one more after the next heartbeat");
    h.ack(Port::Pull, addr(NEW), id, rsp[0].header().ssrc, "a");
    assert_eq!(h.counters().address_change_waiting, 1, "the old address was heard just now");
    assert_eq!(of(&h.heartbeat(Port::Pull, addr(NEW), id), pt::PULL_RSP).len(), 1);
    assert_eq!(h.counters().amplification_limited, 0);
}
