//! docs/protocol.md §2.1, §2.3 (receiver reports) and §2.5 (join, tail): loss
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
    h.advance(Duration::from_secs(1)); // live a whole second: its rate is its last second's
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
    let out = h.ack(Port::Pull, addr(SUB), id, rsp[0].header().ssrc, "a");
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
    assert_eq!((n.sender_ssrc, n.media_ssrc), (h.clock(), ssrc), "sender SSRC: the relay's clock (§1.1, §2.2)");
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
    let Ok(Reply::Stream(info)) = h.command(Command::GetStream { live_id: stream_id("a") }) else { panic!() };
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

/// The sequence numbers of the `TS_DATA` resent for a NACK from `x`.
fn resent(h: &mut Harness, x: u32, ssrc: u32, nack: &[u16]) -> Vec<u16> {
    seqs(&h.send(Port::Pull, addr(SUB), Nack::from_sequences(x, ssrc, nack).encode()))
}

/// Config `history_max_packets` = 2048: the last 2048 packets can be
/// resent, the one before them cannot.
#[test]
fn a_stream_keeps_its_last_2048_packets() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    for s in 0..=2048u16 {
        h.ts_data(addr(PUB), ssrc, s, b"x");
    }
    assert_eq!(resent(&mut h, x, ssrc, &[0, 1, 2048]), [1, 2048]);
    assert_eq!(h.counters().retransmit_not_in_history, 1);
}

/// CONFIG.md `history_max_packets`: rounded up to a power of two (1000
/// keeps 1024).
#[test]
fn the_history_size_is_rounded_up_to_a_power_of_two() {
    let (mut h, ssrc, x, _) = setup(Config { history_max_packets: 1000, ..Config::default() });
    for s in 0..=1024u16 {
        h.ts_data(addr(PUB), ssrc, s, b"x");
    }
    assert_eq!(resent(&mut h, x, ssrc, &[0, 1, 1024]), [1, 1024]);
}

/// Config `history_max_age_ms` = 3000: a packet exactly 3 s old is resent,
/// 3.001 s old it is not.
#[test]
fn the_history_serves_packets_up_to_3_s_old() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    h.advance(Duration::from_millis(3_000));
    assert_eq!(resent(&mut h, x, ssrc, &[1]), [1]);
    h.advance(Duration::from_millis(1));
    assert_eq!(resent(&mut h, x, ssrc, &[1]), [] as [u16; 0]);
}

/// README "Retransmission" and Config `retransmit_budget_percent` = 25: a
/// subscriber's bucket holds one second of 25 % of the stream's rate over
/// the last second (above the floor).
#[test]
fn the_retransmission_budget_is_25_percent_of_the_last_second() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    h.advance(Duration::from_secs(1)); // live a whole second: its rate is its last second's
    for s in 0..200u16 {
        h.ts_data(addr(PUB), ssrc, s, &[0; 988]); // 1000-byte datagrams: 200 kB/s, budget 50 kB
    }
    let all: Vec<u16> = (0..60).collect();
    assert_eq!(resent(&mut h, x, ssrc, &all).len(), 50);
    assert_eq!(h.counters().retransmit_over_budget, 10);
}

/// README "Retransmission" and Config
/// `retransmit_budget_min_bytes_per_sec` = 32768: a slow stream's
/// subscriber still gets 32768 bytes a second, refilled at that rate, and
/// the bucket never holds more than one second of it.
#[test]
fn the_retransmission_budget_is_never_under_32768_bytes_a_second_and_holds_one_second() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    h.advance(Duration::from_secs(1)); // live a whole second: its rate is its last second's
    let send = |h: &mut Harness, from: u16| {
        for s in from..from + 10 {
            h.ts_data(addr(PUB), ssrc, s, &[0; 4084]); // 40960 B/s: 25 % is 10240, under the floor
        }
        (from..from + 10).collect::<Vec<u16>>()
    };
    let all = send(&mut h, 0);
    assert_eq!(resent(&mut h, x, ssrc, &all).len(), 8, "32768 bytes: 8 datagrams of 4096");
    h.advance(Duration::from_millis(500));
    assert_eq!(resent(&mut h, x, ssrc, &all).len(), 4, "16384 bytes in 500 ms");
    h.advance(Duration::from_secs(5));
    let all = send(&mut h, 100);
    assert_eq!(resent(&mut h, x, ssrc, &all).len(), 8, "5 s idle fill the bucket to one second only");
}

/// Config `push_nack_delay_ms` = 10: a gap is NACKed exactly 10 ms after
/// it appears, not a microsecond earlier.
#[test]
fn a_push_gap_is_nacked_exactly_10_ms_after_it_appears() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 10, b"x");
    h.ts_data(addr(PUB), ssrc, 12, b"x");
    assert!(nacked(&h.advance(Duration::from_micros(9_999))).is_empty());
    assert_eq!(nacked(&h.advance(Duration::from_micros(1))), [11]);
}

/// Makes a gap at `seq` (after `seq - 1`) and fills it `rtt` after its
/// first NACK: one round-trip sample of `rtt`.
fn sample_rtt(h: &mut Harness, ssrc: u32, seq: u16, rtt: Duration) {
    h.ts_data(addr(PUB), ssrc, seq - 1, b"x");
    h.ts_data(addr(PUB), ssrc, seq + 1, b"x");
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [seq]);
    h.advance(rtt);
    h.ts_data(addr(PUB), ssrc, seq, b"x");
}

/// Makes a gap at `seq` and returns when (after its first NACK) the relay
/// NACKs it again, to the microsecond.
fn retry_after(h: &mut Harness, ssrc: u32, seq: u16) -> Duration {
    h.ts_data(addr(PUB), ssrc, seq - 1, b"x");
    h.ts_data(addr(PUB), ssrc, seq + 1, b"x");
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [seq]);
    let start = h.now;
    while nacked(&h.advance(Duration::from_micros(1))).is_empty() {
        assert!(h.now - start < Duration::from_secs(1), "no retry");
    }
    h.now - start
}

/// README "Push-leg NACKs": before any round-trip sample a NACK is retried
/// after exactly 100 ms.
#[test]
fn a_push_nack_is_retried_after_100_ms_before_the_first_round_trip_sample() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    assert_eq!(retry_after(&mut h, ssrc, 11), Duration::from_millis(100));
}

/// README "Push-leg NACKs": with a measured round trip, a NACK is retried
/// after exactly twice it.
#[test]
fn a_push_nack_is_retried_after_twice_the_round_trip() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    sample_rtt(&mut h, ssrc, 11, Duration::from_millis(30));
    assert_eq!(retry_after(&mut h, ssrc, 13), Duration::from_millis(60));
}

/// Decisions "Push-leg NACKs": a publisher that announced itself is
/// NACKed again after 1.25 round trips, while the answer to the next NACK
/// can arrive within `push_nack_window_ms` of the gap, then the number is
/// given up when that next NACK would be due.
#[test]
fn an_announced_publisher_is_nacked_within_the_window() {
    let (mut h, ssrc, _, _) = setup(Config { push_nack_window_ms: 150, ..one_copy() });
    h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, true, 11, 0, 0, b"a#code"));
    sample_rtt(&mut h, ssrc, 11, Duration::from_millis(20));
    assert_eq!(retry_after(&mut h, ssrc, 13), Duration::from_millis(25));
    h.ts_data(addr(PUB), ssrc, 13, b"x");
    h.ts_data(addr(PUB), ssrc, 16, b"x");
    let start = h.now;
    let mut at = Vec::new();
    for _ in 0..300 {
        if !nacked(&h.advance(Duration::from_millis(1))).is_empty() {
            at.push((h.now - start).as_millis());
        }
    }
    // 15 every 25 ms from 10 ms while the try plus 20 ms fits in 150 ms.
    assert_eq!(at, [10, 35, 60, 85, 110]);
    assert_eq!(h.counters().push_nack_abandoned, 1, "given up at 135 ms");
}

/// The relay with one copy of each push-leg NACK, to read its schedule.
fn one_copy() -> Config {
    Config { push_nack_copies: 1, ..Config::default() }
}

/// Config `push_nack_copies` = 5: a publisher that announced itself gets
/// each NACK five times, back to back; a legacy one once.
#[test]
fn an_announced_publisher_gets_each_nack_five_times() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    h.ts_data(addr(PUB), ssrc, 3, b"x");
    let rtcp = |out: Vec<Sent>| -> Vec<Bytes> {
        out.into_iter().filter(|s| rtprelay_core::packet::is_rtcp(&s.data)).map(|s| s.data).collect()
    };
    let legacy = rtcp(h.advance(Duration::from_millis(10))).len();
    h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, true, 4, 0, 0, b"a#code"));
    h.ts_data(addr(PUB), ssrc, 6, b"x");
    let copies = rtcp(h.advance(Duration::from_millis(10)));
    assert_eq!((legacy, copies.len()), (1, 5));
    assert!(copies.iter().all(|c| *c == copies[0]));
}

/// Decisions "Push-leg NACKs": an auth marked `M = 1` announces where the
/// publisher's data starts, so first packets lost before any arrived are
/// NACKed; the publisher gets the window's schedule before answering.
#[test]
fn a_marked_auth_announces_the_first_sequence_number() {
    let mut h = Harness::with_config(one_copy());
    h.add_credential("a", "code");
    let out = h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, true, 500, 0, 0, b"a#code"));
    let ssrc = of(&out, pt::AUTH_OK)[0].header().ssrc;
    h.ts_data(addr(PUB), ssrc, 503, b"x");
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [500, 501, 502]);
    let start = h.now;
    let mut at = Vec::new();
    for _ in 0..300 {
        if !nacked(&h.advance(Duration::from_millis(1))).is_empty() {
            at.push((h.now - start).as_millis());
        }
    }
    // No round trip yet: 50 ms assumed, tries every 62.5 ms while one
    // more 50 ms fits in the 200 ms window.
    assert_eq!(at, [63, 125], "not three tries 100 ms apart");
}

/// Decisions "Push-leg NACKs": after a marked re-auth from its address the
/// publisher carries on with its numbers: a gap across it is a gap (a
/// legacy re-auth restarts the tracking).
#[test]
fn a_marked_reauth_keeps_tracking_the_gaps() {
    let (mut h, ssrc, _, _) = setup(one_copy());
    h.ts_data(addr(PUB), ssrc, 10, b"x");
    h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, true, 11, 0, 0, b"a#code"));
    h.ts_data(addr(PUB), ssrc, 13, b"x");
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [11, 12]);
}

/// A publisher that announced itself is never taken for a legacy one,
/// however many NACKs it leaves unanswered.
#[test]
fn an_announced_publisher_is_never_taken_for_a_legacy_one() {
    let (mut h, ssrc, _, _) = setup(one_copy());
    h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, true, 0, 0, 0, b"a#code"));
    for k in 0..30u16 {
        h.ts_data(addr(PUB), ssrc, 3 * k, b"x");
        h.advance(Duration::from_millis(300));
    }
    assert_eq!(h.counters().push_legacy_publishers, 0);
    h.ts_data(addr(PUB), ssrc, 91, b"x");
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [88, 89, 90], "still NACKed");
}

/// README "Push-leg NACKs" and Config `push_nack_retry_min_ms` = 20: twice
/// a short round trip is raised to 20 ms.
#[test]
fn a_push_nack_retry_is_never_under_20_ms() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    sample_rtt(&mut h, ssrc, 11, Duration::from_millis(5));
    assert_eq!(retry_after(&mut h, ssrc, 13), Duration::from_millis(20), "not 2 × 5 ms");
}

/// README "Push-leg NACKs" and Config `push_nack_max_tries` = 3: a number
/// never filled is NACKed three times (at +10, +110, +210 ms) and given up
/// exactly when a fourth would be due.
#[test]
fn a_missing_push_packet_is_nacked_3_times_then_given_up() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    h.ts_data(addr(PUB), ssrc, 3, b"x");
    let mut at = Vec::new();
    let start = h.now;
    for _ in 0..309 {
        if !nacked(&h.advance(Duration::from_millis(1))).is_empty() {
            at.push((h.now - start).as_millis());
        }
    }
    assert_eq!(at, [10, 110, 210]);
    h.advance(Duration::from_micros(999));
    assert_eq!(h.counters().push_nack_abandoned, 0, "not before 310 ms");
    h.advance(Duration::from_micros(1));
    assert_eq!(h.counters().push_nack_abandoned, 1);
    assert!(nacked(&h.advance(Duration::from_secs(5))).is_empty());
    assert_eq!(h.counters().push_nacks_sent, 3);
}

/// README "Push-leg NACKs": Karn's rule, a packet NACKed twice gives no
/// round-trip sample (its arrival cannot be matched to one NACK).
#[test]
fn a_packet_nacked_twice_gives_no_round_trip_sample() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 10, b"x");
    h.ts_data(addr(PUB), ssrc, 12, b"x");
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [11]);
    assert_eq!(nacked(&h.advance(Duration::from_millis(100))), [11]);
    h.advance(Duration::from_millis(5));
    assert_eq!(of(&h.ts_data(addr(PUB), ssrc, 11, b"late"), pt::TS_DATA).len(), 2);
    let Ok(Reply::Stream(info)) = h.command(Command::GetStream { live_id: stream_id("a") }) else { panic!() };
    assert_eq!((info.recovered, info.rtt_ms), (1, None));
}

/// README "Push-leg NACKs": a re-auth forgets the gaps, whether already
/// NACKed or still waiting for their first NACK.
#[test]
fn a_reauth_forgets_the_push_gaps() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 10, b"x");
    h.ts_data(addr(PUB), ssrc, 12, b"x");
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [11]);
    h.ts_data(addr(PUB), ssrc, 14, b"x");
    h.auth(Port::Push, addr(PUB), "a", "code");
    assert!(nacked(&h.advance(Duration::from_secs(1))).is_empty(), "neither 11 again nor 13");
}

/// README "Push-leg NACKs": a new address, or the stream going live again,
/// is a new publisher whose 20-NACK legacy count starts afresh; a re-auth
/// from the same address keeps it.
#[test]
fn a_new_publisher_address_or_a_restarted_stream_is_nacked_again() {
    let (mut h, ssrc, _, _) = setup(Config { push_nack_max_tries: 1, ..Config::default() });
    let mut seq = 0u16;
    // Two packets with a one-packet gap, right after the previous ones;
    // returns the NACKs it costs.
    let mut gap = |h: &mut Harness, from: u16| {
        seq += 3;
        h.ts_data(addr(from), ssrc, seq, b"x");
        h.ts_data(addr(from), ssrc, seq + 2, b"x");
        nacked(&h.advance(Duration::from_millis(200))).len()
    };
    let mut unanswered = |h: &mut Harness, from: u16| (0..25).map(|_| gap(h, from)).sum::<usize>();
    assert_eq!(unanswered(&mut h, PUB), 20, "taken for a legacy publisher");
    h.auth(Port::Push, addr(PUB), "a", "code");
    assert_eq!(unanswered(&mut h, PUB), 0, "the same publisher re-authenticated: still legacy");
    h.auth(Port::Push, addr(PUB + 1), "a", "code");
    assert_eq!(unanswered(&mut h, PUB + 1), 20, "a new address: NACKed again, 20 times");
    h.send(Port::Push, addr(PUB + 1), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"a"));
    h.auth(Port::Push, addr(PUB + 1), "a", "code");
    assert_eq!(unanswered(&mut h, PUB + 1), 20, "live again from the same address: NACKed again");
}

/// Config `push_nack_max_missing` = 512: of a longer gap only the newest
/// 512 numbers are NACKed.
#[test]
fn at_most_512_missing_push_packets_are_tracked() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 0, b"x");
    h.ts_data(addr(PUB), ssrc, 601, b"x");
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), (89..=600).collect::<Vec<u16>>());
}

/// README "Tail stop" and Config `push_tail_wait_ms` = 1000: the stop
/// takes effect exactly 1 s after the request when the tail never comes.
#[test]
fn a_stop_waits_at_most_1_s_for_its_tail() {
    let (mut h, ssrc, _, _) = setup(Config { push_nack_max_tries: 20, ..Config::default() });
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, true, 5, 0, 0, b"a"));
    let out = h.advance(Duration::from_micros(999_999));
    assert!(of(&out, pt::STOP_PUSH_RSP).is_empty() && of(&out, pt::STREAM_STOPPED).is_empty());
    let out = h.advance(Duration::from_micros(1));
    assert_eq!((of(&out, pt::STOP_PUSH_RSP).len(), of(&out, pt::STREAM_STOPPED).len()), (1, 2));
}

/// README "Tail stop": with several streams listed, the marker is ignored.
#[test]
fn a_stop_marked_m1_listing_several_streams_is_immediate() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.add_credential("b", "code");
    h.auth(Port::Push, addr(PUB), "b", "code");
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    let out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, true, 5, 0, 0, b"a#b"));
    assert_eq!(of(&out, pt::STOP_PUSH_RSP).len(), 1);
    assert_eq!(of(&out, pt::STREAM_STOPPED).len(), 2, "a stopped at once");
    assert!(nacked(&out).is_empty() && nacked(&h.advance(Duration::from_secs(1))).is_empty());
}

/// README "Join": the replay starts at the subscription's first `PULL_RSP`
/// with an SSRC; neither a resend nor a repeated request moves it.
#[test]
fn resends_and_repeated_requests_do_not_move_the_join_start() {
    let mut h = Harness::new();
    h.add_credential("a", "code");
    let ssrc = h.auth(Port::Push, addr(PUB), "a", "code");
    let id = h.client_id(Port::Pull, addr(SUB));
    h.pull(Port::Pull, addr(SUB), id, &["a"]);
    h.advance(Duration::from_millis(100));
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    let resend = of(&h.advance(Duration::from_millis(900)), pt::PULL_RSP).len();
    assert_eq!(resend, 1);
    h.ts_data(addr(PUB), ssrc, 2, b"x");
    h.pull(Port::Pull, addr(SUB), id, &["a"]);
    h.advance(Duration::from_millis(100));
    h.ts_data(addr(PUB), ssrc, 3, b"x");
    assert_eq!(seqs(&h.ack(Port::Pull, addr(SUB), id, 0, "a")), [1, 2, 3]);
}

/// README "Extension clients": `STREAM_STOPPED` three times, exactly
/// 100 ms apart, and never a fourth.
#[test]
fn stream_stopped_is_repeated_exactly_100_ms_apart() {
    let (mut h, _, _, _) = setup(Config::default());
    let out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"a"));
    assert_eq!(of(&out, pt::STREAM_STOPPED).iter().filter(|s| s.to == addr(SUB)).count(), 1);
    for _ in 0..2 {
        assert!(h.advance(Duration::from_micros(99_999)).is_empty());
        let out = h.advance(Duration::from_micros(1));
        assert_eq!(of(&out, pt::STREAM_STOPPED).iter().map(|s| s.to).collect::<Vec<_>>(), [addr(SUB)]);
        assert_eq!(of(&out, pt::STREAM_STOPPED)[0].header().timestamp, h.clock(), "stamped when sent (§1.1)");
    }
    assert!(h.advance(Duration::from_secs(5)).is_empty());
}

/// README "Extension clients": a receiver report alone makes a client an
/// extension client.
#[test]
fn a_receiver_report_marks_an_extension_client() {
    let (mut h, ssrc, _, y) = setup(Config::default());
    let rr = ReceiverReport { sender_ssrc: y, blocks: vec![ReportBlock { ssrc, ..Default::default() }] };
    h.send(Port::Pull, addr(SUB + 1), rr.encode());
    let mut out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"a"));
    out.extend(h.advance(Duration::from_secs(1)));
    assert_eq!(of(&out, pt::STREAM_STOPPED).iter().filter(|s| s.to == addr(SUB + 1)).count(), 3);
}

/// Two extension clients of one stream each get their three
/// `STREAM_STOPPED`, though their repeats fall due at the same instants.
#[test]
fn every_extension_client_gets_three_stream_stopped_at_the_same_instants() {
    let (mut h, ssrc, _, y) = setup(Config::default());
    let rr = ReceiverReport { sender_ssrc: y, blocks: vec![ReportBlock { ssrc, ..Default::default() }] };
    h.send(Port::Pull, addr(SUB + 1), rr.encode());
    let mut out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"a"));
    out.extend(h.advance(Duration::from_secs(1)));
    let stopped = of(&out, pt::STREAM_STOPPED);
    for to in [addr(SUB), addr(SUB + 1)] {
        assert_eq!(stopped.iter().filter(|s| s.to == to).count(), 3, "to {to}");
    }
}

/// docs/protocol.md §1.3 and Decisions "Sequence tracking": a jump of more
/// than 3000 is a publisher restart, and the packets from before it are
/// gone from the history (§2.1): a NACK for one is not answered.
#[test]
fn a_publisher_restart_empties_the_history() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 100, b"old");
    h.ts_data(addr(PUB), ssrc, 5_000, b"new");
    assert_eq!(resent(&mut h, x, ssrc, &[100, 5_000]), [5_000]);
    assert_eq!(h.counters().retransmit_not_in_history, 1);
}

/// docs/protocol.md §2.3 (round trip): the push-leg round trip is smoothed,
/// each new sample weighing 1/8: samples of 30 ms then 50 ms give
/// (7 × 30 + 50) / 8 = 32.5 ms, and the next NACK is retried after twice
/// that (Decisions "Push-leg NACKs").
#[test]
fn the_push_round_trip_is_smoothed_an_eighth_per_sample() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    sample_rtt(&mut h, ssrc, 11, Duration::from_millis(30));
    sample_rtt(&mut h, ssrc, 14, Duration::from_millis(50));
    let Ok(Reply::Stream(info)) = h.command(Command::GetStream { live_id: stream_id("a") }) else { panic!() };
    assert_eq!((info.recovered, info.rtt_ms), (2, Some(32.5)));
    assert_eq!(retry_after(&mut h, ssrc, 17), Duration::from_millis(65));
}

/// Decisions "Tail stop": a stop held for its tail is counted
/// (`tail_stops_delayed`) and, once the tail is in, counts as a stop by the
/// publisher, like an immediate one.
#[test]
fn a_stop_held_for_its_tail_is_counted_and_ends_as_the_publishers() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, true, 3, 0, 0, b"a"));
    let counts = |h: &Harness| (h.counters().tail_stops_delayed, h.counters().streams_stopped_by_publisher);
    assert_eq!(counts(&h), (1, 0));
    h.ts_data(addr(PUB), ssrc, 2, b"x");
    let out = h.ts_data(addr(PUB), ssrc, 3, b"x");
    assert_eq!(of(&out, pt::STOP_PUSH_RSP).len(), 1);
    assert_eq!(counts(&h), (1, 1));
    h.auth(Port::Push, addr(PUB), "a", "code");
    h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"a"));
    assert_eq!(counts(&h), (1, 2), "an immediate stop");
}

/// docs/protocol.md §2.3: a compound RTCP packet that turns malformed part
/// way is counted (`rtcp_malformed`), and the packets before the fault
/// still count.
#[test]
fn a_malformed_rtcp_compound_is_counted_and_its_valid_head_kept() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    let rr = ReceiverReport {
        sender_ssrc: x,
        blocks: vec![ReportBlock { ssrc, fraction_lost: 128, cumulative_lost: 3, jitter: 9, ..Default::default() }],
    };
    let mut compound = rr.encode().to_vec();
    compound.extend_from_slice(&[0x81, 205, 0]);
    h.send(Port::Pull, addr(SUB), compound.into());
    let c = h.counters();
    assert_eq!((c.rtcp_malformed, c.receiver_reports, c.rtcp_ignored), (1, 1, 0));
    let Ok(Reply::Clients(clients)) = h.command(Command::ListClients) else { panic!() };
    let sub = &clients.iter().find(|c| c.address == addr(SUB)).unwrap().subscriptions[0];
    assert_eq!((sub.reported_loss, sub.reported_lost_total, sub.reported_jitter), (Some(0.5), Some(3), Some(9)));
}

/// Decisions "Sequence tracking" and "Push-leg NACKs": a publisher restart
/// (a jump of more than 3000) forgets the gaps from before it; the
/// restarted publisher could not resend them. Gaps after it are NACKed.
#[test]
fn a_publisher_restart_forgets_the_push_gaps() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 10, b"x");
    h.ts_data(addr(PUB), ssrc, 12, b"x");
    h.ts_data(addr(PUB), ssrc, 5_000, b"restarted");
    assert!(nacked(&h.advance(Duration::from_secs(1))).is_empty(), "11 is forgotten");
    h.ts_data(addr(PUB), ssrc, 5_002, b"x");
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [5_001]);
    assert_eq!(h.counters().push_nacks_sent, 1);
}

/// Config `push_nack_max_missing` = 512 holds across gaps too: two gaps of
/// 300 leave the newest 512 numbers tracked, the oldest 88 dropped.
#[test]
fn at_most_512_missing_push_packets_are_tracked_across_gaps() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 0, b"x");
    h.ts_data(addr(PUB), ssrc, 301, b"x");
    h.ts_data(addr(PUB), ssrc, 602, b"x");
    let expected: Vec<u16> = (89..=300).chain(302..=601).collect();
    assert_eq!(expected.len(), 512);
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), expected);
}

/// Config `push_nack_max_tries` = 3: a number NACKed for the third time is
/// given up only when a fourth NACK would be due (+310 ms), even when a
/// newer gap is NACKed in between.
#[test]
fn a_push_packet_is_given_up_only_when_its_last_retry_is_over() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    h.ts_data(addr(PUB), ssrc, 3, b"x");
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [2]);
    assert_eq!(nacked(&h.advance(Duration::from_millis(100))), [2]);
    assert_eq!(nacked(&h.advance(Duration::from_millis(100))), [2]);
    h.advance(Duration::from_millis(40));
    h.ts_data(addr(PUB), ssrc, 4, b"x");
    h.ts_data(addr(PUB), ssrc, 6, b"x");
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [5]);
    assert_eq!(h.counters().push_nack_abandoned, 0, "2 is still waiting for its third NACK's answer");
    assert!(nacked(&h.advance(Duration::from_millis(49))).is_empty());
    assert_eq!(h.counters().push_nack_abandoned, 0);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.counters().push_nack_abandoned, 1, "given up at +310 ms");
}

/// docs/protocol.md §2.1: a NACK names the stream by its SSRC; one naming an
/// SSRC the relay never issued resends nothing and is ignored.
#[test]
fn a_nack_naming_an_ssrc_the_relay_never_issued_is_ignored() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    let out = h.send(Port::Pull, addr(SUB), Nack::from_sequences(x, ssrc.wrapping_add(1), &[1]).encode());
    assert!(out.is_empty(), "{out:?}");
    let c = h.counters();
    assert_eq!((c.rtcp_ignored, c.nacks_received, c.retransmitted), (1, 0, 0));
}

/// docs/protocol.md §2.2 and the "recovered" word of §2.4: each push packet
/// that arrives after the relay NACKed it counts once as recovered.
#[test]
fn each_push_packet_recovered_after_a_nack_is_counted_once() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 10, b"x");
    h.ts_data(addr(PUB), ssrc, 14, b"x");
    assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [11, 12, 13]);
    for seq in [12, 11, 12] {
        h.ts_data(addr(PUB), ssrc, seq, b"late");
    }
    assert_eq!(h.counters().push_recovered, 2);
}

/// docs/protocol.md "Tail stop": a stop waiting only for the packets right
/// after the newest one ends the moment they have arrived in order.
#[test]
fn a_stop_waiting_for_its_tail_ends_when_the_tail_arrives_in_order() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    h.ts_data(addr(PUB), ssrc, 1, b"x");
    let out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, true, 3, 0, 0, b"a"));
    assert_eq!(nacked(&out), [2, 3]);
    let out = h.ts_data(addr(PUB), ssrc, 2, b"x");
    assert!(of(&out, pt::STOP_PUSH_RSP).is_empty(), "3 is still missing");
    let out = h.ts_data(addr(PUB), ssrc, 3, b"x");
    assert_eq!(of(&out, pt::TS_DATA).len(), 2);
    assert_eq!((of(&out, pt::STOP_PUSH_RSP).len(), of(&out, pt::STREAM_STOPPED).len()), (1, 2));
}

/// docs/protocol.md §2.5 and §3.1: the packets replayed at the join count
/// as sent to that subscriber, in packets and bytes.
#[test]
fn packets_replayed_at_the_join_count_as_sent_to_the_subscriber() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    let z = h.client_id(Port::Pull, addr(SUB + 2));
    h.pull(Port::Pull, addr(SUB + 2), z, &["a"]);
    h.ts_data(addr(PUB), ssrc, 1, &[1; 100]);
    h.ts_data(addr(PUB), ssrc, 2, &[2; 30]);
    assert_eq!(h.ack(Port::Pull, addr(SUB + 2), z, 0, "a").len(), 2);
    h.ts_data(addr(PUB), ssrc, 3, &[3; 10]);
    let Ok(Reply::Stream(info)) = h.command(Command::GetStream { live_id: stream_id("a") }) else { panic!() };
    let z_info = info.subscriber_list.iter().find(|s| s.address == addr(SUB + 2)).unwrap();
    assert_eq!((z_info.packets_sent, z_info.bytes_sent), (3, 112 + 42 + 22));
    assert_eq!(h.counters().join_replayed, 2);
}

/// Config `retransmit_repeat_guard_ms` = 20: copies of one NACK (pull
/// clients send five) get one retransmission; a NACK 20 ms later is a new
/// try and gets another.
#[test]
fn a_repeated_nack_is_answered_once_within_the_guard() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    for seq in 10..13u16 {
        h.ts_data(addr(PUB), ssrc, seq, b"x");
    }
    let nack = Nack::from_sequences(x, ssrc, &[11]).encode();
    let resent = |out: Vec<Sent>| seqs(&of(&out, pt::TS_DATA).into_iter().cloned().collect::<Vec<_>>());
    assert_eq!(resent(h.send(Port::Pull, addr(SUB), nack.clone())), [11]);
    assert!(resent(h.send(Port::Pull, addr(SUB), nack.clone())).is_empty());
    h.advance(Duration::from_micros(19_999));
    assert!(resent(h.send(Port::Pull, addr(SUB), nack.clone())).is_empty());
    assert_eq!(h.counters().retransmit_repeat, 2);
    h.advance(Duration::from_micros(1));
    assert_eq!(resent(h.send(Port::Pull, addr(SUB), nack)), [11]);
    assert_eq!(h.counters().retransmitted, 2);
}

/// Config `stopped_nack_ms` = 1000: after a stop, the last subscribers'
/// NACKs for the tail are still answered for a second, then no more.
#[test]
fn the_tail_can_be_nacked_for_a_second_after_the_stop() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    for seq in 10..13u16 {
        h.ts_data(addr(PUB), ssrc, seq, b"x");
    }
    let out = h.send(Port::Push, addr(PUB), packet(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"a"));
    assert_eq!(of(&out, pt::STREAM_STOPPED).len(), 2, "both subscribers told");
    let resent = |out: Vec<Sent>| seqs(&of(&out, pt::TS_DATA).into_iter().cloned().collect::<Vec<_>>());
    h.advance(Duration::from_millis(500));
    assert_eq!(resent(h.send(Port::Pull, addr(SUB), Nack::from_sequences(x, ssrc, &[12]).encode())), [12]);
    h.advance(Duration::from_millis(500));
    assert!(resent(h.send(Port::Pull, addr(SUB), Nack::from_sequences(x, ssrc, &[11]).encode())).is_empty());
    assert_eq!(h.counters().retransmitted, 1);
}

/// §2.1 budget of a stream live for less than a second: its last second
/// is measured over the time it was live (here 250 ms of 1000-byte
/// packets every 10 ms: 100 kB/s, 25 kB/s of budget, not 6.25).
#[test]
fn a_young_streams_budget_counts_only_the_time_it_was_live() {
    let (mut h, ssrc, x, _) = setup(Config { retransmit_budget_min_bytes_per_sec: 1, ..Config::default() });
    for seq in 0..25u16 {
        h.ts_data(addr(PUB), ssrc, seq, &[0; 1000 - 12]);
        h.advance(Duration::from_millis(10));
    }
    let asked: Vec<u16> = (0..25).collect();
    let out = h.send(Port::Pull, addr(SUB), Nack::from_sequences(x, ssrc, &asked).encode());
    let resent = of(&out, pt::TS_DATA).len();
    assert!((23..=25).contains(&resent), "{resent} of 25 kB resent");
}

/// §2.5 head: a pull client NACKs a few numbers below its first packet;
/// the relay resends only what it queued to that subscriber, never a
/// packet from before its join (counted `retransmit_before_join`).
#[test]
fn nothing_from_before_a_subscribers_join_is_resent_to_it() {
    let (mut h, ssrc, _, _) = setup(Config::default());
    for seq in 1..6u16 {
        h.ts_data(addr(PUB), ssrc, seq, b"x");
    }
    h.advance(Duration::from_millis(10)); // its join replays nothing older
    let late = h.subscriber(Port::Pull, addr(SUB + 5), &["a"]);
    for seq in 6..9u16 {
        h.ts_data(addr(PUB), ssrc, seq, b"x");
    }
    let out = h.send(Port::Pull, addr(SUB + 5), Nack::from_sequences(late, ssrc, &[4, 5, 6]).encode());
    assert_eq!(seqs(&of(&out, pt::TS_DATA).into_iter().cloned().collect::<Vec<_>>()), [6]);
    assert_eq!(h.counters().retransmit_before_join, 2);
}

/// The join check holds for a subscriber's first 1024 packets only:
/// later, sequence numbers wrap past its first (found by the simulator:
/// every 32768 packets NACKs were refused as from before the join).
#[test]
fn the_join_check_ends_after_the_first_1024_packets() {
    let (mut h, ssrc, x, _) = setup(Config::default());
    for seq in 0..1024u16 {
        h.ts_data(addr(PUB), ssrc, seq, b"x");
    }
    // 1024 packets queued: the check is over.
    h.send(Port::Pull, addr(SUB), Nack::from_sequences(x, ssrc, &[65_000]).encode());
    let c = h.counters();
    assert_eq!((c.retransmit_before_join, c.retransmit_not_in_history), (0, 1));
}

/// A new push client sends its `AUTH_REQ` plain, then the marked copy
/// (§2.2); either may arrive first: the plain one neither hides the
/// announced start nor restarts the tracking of an announced publisher.
#[test]
fn a_plain_auth_beside_its_marked_copy_changes_nothing() {
    for marked_first in [false, true] {
        let mut h = Harness::with_config(one_copy());
        h.add_credential("a", "code");
        let plain = packet(pt::AUTH_REQ, false, 0, 0, 0, b"a#code");
        let marked = packet(pt::AUTH_REQ, true, 500, 0, 0, b"a#code");
        let order = if marked_first { [marked.clone(), plain.clone()] } else { [plain.clone(), marked.clone()] };
        let mut ssrc = 0;
        for auth in order {
            let out = h.send(Port::Push, addr(PUB), auth);
            ssrc = of(&out, pt::AUTH_OK)[0].header().ssrc;
        }
        h.ts_data(addr(PUB), ssrc, 502, b"x");
        assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [500, 501], "marked first: {marked_first}");
        h.advance(Duration::from_millis(300));
        h.send(Port::Push, addr(PUB), plain);
        h.send(Port::Push, addr(PUB), marked);
        h.ts_data(addr(PUB), ssrc, 505, b"x");
        assert_eq!(nacked(&h.advance(Duration::from_millis(10))), [503, 504], "a re-auth keeps the tracking");
    }
}
