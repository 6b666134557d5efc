//! PROTOCOL.md 2.1, 2.3 (receiver reports) and 2.5 (join, tail): loss
//! recovery from the stream's history.

mod common;

use bytes::Bytes;
use common::*;
use rtprelay_core::packet::pt;
use rtprelay_core::packet::rtcp::{Nack, ReceiverReport, ReportBlock};
use rtprelay_core::{Command, Config, Port, Reply};
use std::time::Duration;

const PUB: u16 = 5000;
const SUB: u16 = 7000;

fn setup(config: Config) -> (Harness, u32, u32, u32) {
    let mut h = Harness::with_config(config);
    h.add_credential("a", "code");
    let ssrc = h.auth(Port::Push, addr(PUB), "a", "code");
    let x = h.subscriber(Port::Pull, addr(SUB), &["a"]);
    // A legacy subscriber: its ack does not echo the challenge.
    let y = h.client_id(Port::Pull, addr(SUB + 1));
    h.pull(Port::Pull, addr(SUB + 1), y, &["a"]);
    h.ack(Port::Pull, addr(SUB + 1), y, 0, "a");
    (h, ssrc, x, y)
}

fn seqs(out: &[Sent]) -> Vec<u16> {
    out.iter().map(|s| s.header().sequence).collect()
}

#[test]
fn a_nack_resends_the_listed_packets_unchanged_to_that_subscriber_only() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    let sent: Vec<Bytes> =
        (10..20u16).map(|s| packet(pt::TS_DATA, false, s, s.into(), ssrc, &[s as u8; 100])).collect();
    for p in &sent {
        h.send(Port::Push, addr(PUB), p.clone());
    }
    let out = h.send(Port::Pull, addr(SUB), Nack::from_sequences(x, ssrc, &[12, 13, 17]).encode());
    assert!(out.iter().all(|s| s.to == addr(SUB) && s.port == Port::Pull));
    assert_eq!(
        out.iter().map(|s| s.data.clone()).collect::<Vec<_>>(),
        [sent[2].clone(), sent[3].clone(), sent[7].clone()]
    );
    let c = h.counters();
    assert_eq!((c.nacks_received, c.retransmitted), (1, 3));
}

#[test]
fn nacks_count_only_from_an_acked_subscriber_at_its_bound_address() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    assert!(h.send(Port::Pull, addr(6666), Nack::from_sequences(x, ssrc, &[1]).encode()).is_empty());
    let unacked = h.client_id(Port::Pull, addr(SUB + 9));
    h.pull(Port::Pull, addr(SUB + 9), unacked, &["a"]);
    assert!(h.send(Port::Pull, addr(SUB + 9), Nack::from_sequences(unacked, ssrc, &[1]).encode()).is_empty());
    assert_eq!(h.counters().rtcp_ignored, 2);
}

#[test]
fn a_nack_for_a_packet_past_the_history_is_counted() {
    let (mut h, ssrc, x, _) = setup(Config { history_max_packets: 4, history_max_age_ms: 500, ..Config::default() });
    for s in 0..8u16 {
        h.ts_data(addr(PUB), ssrc, s, b"x");
    }
    assert!(h.send(Port::Pull, addr(SUB), Nack::from_sequences(x, ssrc, &[2]).encode()).is_empty(), "overwritten");
    h.advance(Duration::from_millis(501));
    assert!(h.send(Port::Pull, addr(SUB), Nack::from_sequences(x, ssrc, &[7]).encode()).is_empty(), "too old");
    assert_eq!(h.counters().retransmit_not_in_history, 2);
}

#[test]
fn the_retransmission_budget_refuses_and_counts() {
    let (mut h, ssrc, x, y) =
        setup(Config { retransmit_budget_percent: 25, retransmit_budget_min_bytes_per_sec: 1000, ..Config::default() });
    for s in 0..20u16 {
        h.ts_data(addr(PUB), ssrc, s, &[0; 488]); // 500-byte datagrams, 10 kB/s: budget 2.5 kB
    }
    let all: Vec<u16> = (0..20).collect();
    let out = h.send(Port::Pull, addr(SUB), Nack::from_sequences(x, ssrc, &all).encode());
    assert_eq!(seqs(&out), [0, 1, 2, 3, 4]);
    assert_eq!(h.counters().retransmit_over_budget, 15);
    let other = h.send(Port::Pull, addr(SUB + 1), Nack::from_sequences(y, ssrc, &[9]).encode());
    assert_eq!(seqs(&other), [9], "budgets are per subscriber");
    h.advance(Duration::from_millis(400));
    let out = h.send(Port::Pull, addr(SUB), Nack::from_sequences(x, ssrc, &all[5..]).encode());
    assert_eq!(seqs(&out), [5, 6], "refilled at 2.5 kB/s");
}

#[test]
fn an_ack_first_replays_the_packets_since_the_first_pull_rsp() {
    let mut h = Harness::new();
    h.add_credential("a", "code");
    let ssrc = h.auth(Port::Push, addr(PUB), "a", "code");
    h.ts_data(addr(PUB), ssrc, 1, b"before the request");
    let id = h.client_id(Port::Pull, addr(SUB));
    h.advance(Duration::from_millis(10));
    let rsp = h.pull(Port::Pull, addr(SUB), id, &["a"]);
    for s in 2..5 {
        h.ts_data(addr(PUB), ssrc, s, b"while the ack was on its way");
    }
    let out = h.ack(Port::Pull, addr(SUB), id, rsp[0].header().timestamp, "a");
    assert_eq!(seqs(&out), [2, 3, 4]);
    assert_eq!(seqs(&h.ts_data(addr(PUB), ssrc, 5, b"live")), [5]);
    assert_eq!(h.counters().join_replayed, 3);
}

#[test]
fn stream_stopped_goes_three_times_to_extension_clients_and_once_to_legacy_ones() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    h.send(Port::Pull, addr(SUB), Nack::from_sequences(x, ssrc, &[1]).encode());
    let mut out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"a"));
    out.extend(h.advance(Duration::from_millis(99)));
    assert_eq!(of(&out, pt::STREAM_STOPPED).len(), 2, "one each at once");
    out.extend(h.advance(Duration::from_millis(200)));
    let times = |port| of(&out, pt::STREAM_STOPPED).iter().filter(|s| s.to == addr(port)).count();
    assert_eq!((times(SUB), times(SUB + 1)), (3, 1));
}

#[test]
fn an_echoed_challenge_also_marks_an_extension_client() {
    let mut h = Harness::new();
    h.add_credential("a", "code");
    h.auth(Port::Push, addr(PUB), "a", "code");
    h.subscriber(Port::Pull, addr(SUB), &["a"]); // the harness echoes the challenge
    let mut out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"a"));
    out.extend(h.advance(Duration::from_secs(1)));
    assert_eq!(of(&out, pt::STREAM_STOPPED).len(), 3);
}

#[test]
fn receiver_reports_are_kept_as_the_subscribers_loss_and_jitter() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    let rr = ReceiverReport {
        sender_ssrc: x,
        blocks: vec![ReportBlock { ssrc, fraction_lost: 64, cumulative_lost: 12, jitter: 7, ..Default::default() }],
    };
    let mut compound = rr.encode().to_vec();
    compound.extend_from_slice(&Nack::from_sequences(x, ssrc, &[]).encode());
    h.send(Port::Pull, addr(SUB), compound.into());
    let Ok(Reply::Clients(clients)) = h.command(Command::ListClients) else { panic!() };
    let sub = &clients.iter().find(|c| c.address == addr(SUB)).unwrap().subscriptions[0];
    assert_eq!((sub.reported_loss, sub.reported_lost_total, sub.reported_jitter), (Some(0.25), Some(12), Some(7)));
    assert_eq!(h.counters().receiver_reports, 1);
}

fn nacked(out: &[Sent]) -> Vec<u16> {
    use rtprelay_core::packet::rtcp::{RtcpPacket, parse_compound};
    out.iter()
        .filter(|s| rtprelay_core::packet::is_rtcp(&s.data))
        .flat_map(|s| parse_compound(&s.data).0)
        .flat_map(|p| match p {
            RtcpPacket::Nack(n) => n.sequences().collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn a_gap_makes_the_relay_nack_the_publisher_from_its_socket() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 10, b"x");
    assert!(nacked(&h.ts_data(addr(PUB), ssrc, 14, b"x")).is_empty(), "not before push_nack_delay_ms");
    let out = h.advance(Duration::from_millis(10));
    let nack = out.iter().find(|s| s.to == addr(PUB)).expect("a NACK to the publisher");
    assert_eq!(nack.port, Port::Push);
    let (packets, _) = rtprelay_core::packet::rtcp::parse_compound(&nack.data);
    let rtprelay_core::packet::rtcp::RtcpPacket::Nack(n) = &packets[0] else { panic!() };
    assert_eq!((n.sender_ssrc, n.media_ssrc), (0, ssrc));
    assert_eq!(n.sequences().collect::<Vec<_>>(), [11, 12, 13]);
}

#[test]
fn a_recovered_packet_is_forwarded_once_and_gives_a_round_trip() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 10, b"x");
    h.ts_data(addr(PUB), ssrc, 12, b"x");
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [11]);
    h.advance(Duration::from_millis(30));
    let out = h.ts_data(addr(PUB), ssrc, 11, b"late");
    assert_eq!(out.len(), 2, "forwarded to both subscribers, once");
    assert!(h.ts_data(addr(PUB), ssrc, 11, b"late").is_empty());
    let Ok(Reply::Stream(info)) = h.command(Command::GetStream { live_id: "a".into() }) else { panic!() };
    assert_eq!((info.recovered, info.lost), (1, 0));
    assert_eq!(info.rtt_ms, Some(30.0), "from the NACK 10 ms after the gap to the arrival");
}

#[test]
fn nacks_are_retried_then_abandoned() {
    let (mut h, ssrc, _, _) = setup(Config { push_nack_max_tries: 3, ..Config::default() });
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    let mut all = nacked(&h.ts_data(addr(PUB), ssrc, 3, b"x"));
    all.extend(nacked(&h.advance(Duration::from_secs(2))));
    assert_eq!(all, [2, 2, 2]);
    assert_eq!(h.counters().push_nack_abandoned, 1);
}

#[test]
fn a_publisher_that_answers_none_of_20_nacks_is_no_longer_nacked() {
    let (mut h, ssrc, _, _) = setup(Config { push_nack_max_tries: 1, ..Config::default() });
    let mut nacks = 0;
    for k in 0..40u16 {
        nacks += nacked(&h.ts_data(addr(PUB), ssrc, k * 2, b"x")).len();
        nacks += nacked(&h.advance(Duration::from_millis(200))).len();
    }
    assert_eq!(nacks, 20);
    assert_eq!(h.counters().push_legacy_publishers, 1);
}

#[test]
fn a_stop_marked_m1_waits_for_the_missing_tail_then_answers() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    let out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, true, 3, 0, 0, b"a"));
    assert!(of(&out, pt::STOP_PUSH_RSP).is_empty(), "held for the tail");
    assert_eq!(nacked(&out), [2, 3]);
    assert!(of(&h.ts_data(addr(PUB), ssrc, 3, b"x"), pt::STOP_PUSH_RSP).is_empty());
    let out = h.ts_data(addr(PUB), ssrc, 2, b"x");
    assert_eq!(of(&out, pt::TS_DATA).len(), 2, "the tail reaches subscribers first");
    assert_eq!(of(&out, pt::STOP_PUSH_RSP).len(), 1);
    let stopped = of(&out, pt::STREAM_STOPPED);
    assert_eq!(stopped.len(), 2);
    assert_eq!(stopped[0].header().sequence, 3, "the highest sequence number forwarded");
}

#[test]
fn a_stop_waiting_for_its_tail_gives_up_after_the_bounded_wait() {
    let (mut h, ssrc, _, _) = setup(Config { push_tail_wait_ms: 500, push_nack_max_tries: 10, ..Config::default() });
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, true, 5, 0, 0, b"a"));
    let out = h.advance(Duration::from_millis(499));
    assert!(of(&out, pt::STOP_PUSH_RSP).is_empty());
    let out = h.advance(Duration::from_millis(1));
    assert_eq!((of(&out, pt::STOP_PUSH_RSP).len(), of(&out, pt::STREAM_STOPPED).len()), (1, 2));
}

#[test]
fn a_stop_without_the_marker_or_with_nothing_missing_is_immediate() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    let out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, true, 1, 0, 0, b"a"));
    assert_eq!(of(&out, pt::STOP_PUSH_RSP).len(), 1);
    h.auth(Port::Push, addr(PUB), "a", "code");
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    let out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 9, 0, 0, b"a"));
    assert_eq!(of(&out, pt::STOP_PUSH_RSP).len(), 1, "legacy stop: no marker, no wait");
    assert!(nacked(&out).is_empty());
}

#[test]
fn a_client_that_lists_the_stream_again_gets_no_late_stream_stopped() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    h.send(Port::Pull, addr(SUB), Nack::from_sequences(x, ssrc, &[1]).encode());
    let out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"a"));
    assert_eq!(of(&out, pt::STREAM_STOPPED).iter().filter(|s| s.to == addr(SUB)).count(), 1);
    h.pull(Port::Pull, addr(SUB), x, &["a"]); // --follow: asks again at once
    let out = h.advance(Duration::from_millis(300));
    assert!(of(&out, pt::STREAM_STOPPED).is_empty(), "a repeat would end the new subscription");
}

#[test]
fn the_first_jump_after_a_reauth_is_not_a_gap() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 10, b"x");
    h.auth(Port::Push, addr(PUB), "a", "code");
    h.ts_data(addr(PUB), ssrc, 20, b"x");
    assert!(nacked(&h.advance(Duration::from_millis(50))).is_empty(), "tracking restarts on re-auth (2.2)");
    h.ts_data(addr(PUB), ssrc, 22, b"x");
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [21]);
}

/// Found by the simulator: a smoothed round trip with a sub-microsecond
/// part made the retry deadline land on the instant being handled while
/// the due check said "not yet", so `handle_timeout` never returned.
#[test]
fn a_push_nack_retry_with_a_fractional_round_trip_fires_and_ends() {
    // In a thread: with the bug, `handle_timeout` never returns.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut h, ssrc, _, _) = setup(Config::default());
        // Two gaps, each filled 10.001 ms and 10 ms after its NACK.
        for (base, late_us) in [(10u16, 10_001u64), (100, 10_000)] {
            h.ts_data(addr(PUB), ssrc, base, b"x");
            h.ts_data(addr(PUB), ssrc, base + 2, b"x");
            h.advance(Duration::from_millis(10));
            h.advance(Duration::from_micros(late_us));
            h.ts_data(addr(PUB), ssrc, base + 1, b"x");
            h.advance(Duration::from_millis(20));
        }
        // A third gap, never filled: its retries are due 2 × 10.000875 ms apart.
        h.ts_data(addr(PUB), ssrc, 103, b"x");
        h.ts_data(addr(PUB), ssrc, 105, b"x");
        let first = nacked(&h.advance(Duration::from_millis(10)));
        h.advance(Duration::from_millis(200));
        done.send((first, h.counters().push_nacks_sent)).unwrap();
    });
    let (first, nacks) = finished.recv_timeout(Duration::from_secs(10)).expect("handle_timeout returned");
    assert_eq!(first, [104]);
    assert!(nacks >= 4, "the last gap was retried: {nacks} NACKs in all");
}

#[test]
fn a_packet_reordered_within_the_nack_delay_costs_no_nack_and_is_no_answer() {
    let (mut h, ssrc, _, _) = setup(Config { push_nack_delay_ms: 10, ..Config::default() });
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    h.ts_data(addr(PUB), ssrc, 3, b"x");
    h.advance(Duration::from_millis(5));
    h.ts_data(addr(PUB), ssrc, 2, b"overtaken");
    assert!(nacked(&h.advance(Duration::from_millis(100))).is_empty());
    let c = h.counters();
    assert_eq!((c.push_nacks_sent, c.push_recovered), (0, 0));
}
