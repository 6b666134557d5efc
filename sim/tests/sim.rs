//! End-to-end properties of the simulator itself: complete delivery on a
//! lossless network, determinism, seed sensitivity, and planted relay bugs
//! ("canaries") that the invariant checker must catch.

use bytes::Bytes;
use rtprelay_core::packet::pt;
use rtprelay_core::{Port, Transmit};
use rtprelay_sim::net::GilbertElliott;
use rtprelay_sim::scenario::{PeerOp, PeerSpec};
use rtprelay_sim::{Invariant, Options, Scenario, Sim, run};
use std::net::SocketAddr;
use std::time::Duration;

mod support;
use support::{Canary, expect_ok, expect_violation};

fn options(seed: u64, secs: u64) -> Options {
    Options { seed, duration: Duration::from_secs(secs), ..Options::default() }
}

fn lossy(seed: u64) -> Options {
    Options {
        loss: 0.05,
        burst: Some(GilbertElliott { enter_bad: 0.01, leave_bad: 0.3, bad_loss: 0.8 }),
        reorder: 0.05,
        ..options(seed, 20)
    }
}

#[test]
fn lossless_delivery_is_complete_end_to_end() {
    for seed in 0..8 {
        let report = expect_ok(run(&options(seed, 15)));
        assert!(report.sent > 600, "seed {seed}: the publisher streamed: {report}");
        assert_eq!(report.deliveries.len(), 2);
        for d in &report.deliveries {
            assert!(d.acked_at.is_some(), "seed {seed}: subscriber {} acked: {report}", d.peer);
            assert!(d.expected > 500, "seed {seed}: {report}");
            assert_eq!(d.delivered_expected, d.expected, "seed {seed}: {report}");
            assert_eq!(d.network_duplicates, 0);
        }
        assert_eq!(report.counters.ts_data_accepted, report.sent, "seed {seed}: every packet accepted");
        assert!(report.counters.ts_data_wrong_source > 0, "seed {seed}: the intruder was refused");
        assert_eq!(report.network.lost, 0);
    }
}

#[test]
fn reordering_alone_loses_nothing() {
    for seed in 0..4 {
        let report = expect_ok(run(&Options { reorder: 0.2, ..options(seed, 10) }));
        assert!(report.network.reordered > 0);
        assert!(report.deliveries.iter().all(|d| d.expected > 0 && d.delivered_expected == d.expected), "{report}");
    }
}

#[test]
fn a_lossy_run_reports_what_was_delivered() {
    let report = expect_ok(run(&lossy(3)));
    assert!(report.network.lost > 0);
    let expected: u64 = report.deliveries.iter().map(|d| d.expected).sum();
    let delivered: u64 = report.deliveries.iter().map(|d| d.delivered_expected).sum();
    assert!(delivered < expected, "{report}");
    assert!(delivered * 10 > expected * 7, "most packets still arrive: {report}");
    let text = report.to_string();
    assert!(text.contains("latency    p50") && text.contains(&report.trace_hash), "{text}");
}

/// A determinism test must not be able to pass on a broken run: each run
/// first holds every invariant, then two universes built apart from the
/// same seed must agree on everything (report and trace hash), and another
/// seed must not.
#[test]
fn the_same_seed_replays_the_same_trace() {
    for opts in [options(42, 10), lossy(42), Options { duplicate: 0.05, ..lossy(7) }] {
        let first = expect_ok(Sim::new(Scenario::generate(&opts)).run());
        let second = expect_ok(Sim::new(Scenario::generate(&opts)).run());
        assert_eq!(first.trace_hash, second.trace_hash, "seed {}: the trace must replay", opts.seed);
        assert_eq!(first, second, "seed {}: the report must replay", opts.seed);
        let other = expect_ok(run(&Options { seed: opts.seed + 1, ..opts.clone() }));
        assert_ne!(first.trace_hash, other.trace_hash, "seed {}: another seed, another trace", opts.seed);
    }
}

#[test]
fn different_seeds_give_different_traces() {
    let a = expect_ok(run(&options(1, 5)));
    let b = expect_ok(run(&options(2, 5)));
    assert_ne!(a.trace_hash, b.trace_hash);
    let lossy_a = expect_ok(run(&lossy(1)));
    assert_ne!(a.trace_hash, lossy_a.trace_hash, "the network model is part of the universe");
}

fn is_ts_data(t: &Transmit) -> bool {
    t.segments.iter().any(|s| s.get(1) == Some(&pt::TS_DATA))
}

#[test]
fn canary_data_to_a_subscriber_that_has_not_acked_is_caught() {
    // Plain data: the second subscriber joins well after the stream is live.
    let mut scenario = Scenario::generate(&options(9, 10));
    for op in &mut scenario.ops {
        if op.peer == 2 && op.action == PeerOp::Start {
            op.at = Duration::from_secs(6);
        }
    }
    let late = scenario.peers[2].addr();
    assert!(matches!(scenario.peers[2], PeerSpec::Subscriber(_)));
    let mut last_data: Option<Bytes> = None;
    let sim = Sim::with_relay(
        scenario,
        Canary::planting(move |port, from, data, extra| {
            if data.get(1) == Some(&pt::TS_DATA) {
                last_data = Some(data.clone());
            } else if data.get(1) == Some(&pt::CLIENT_ID_REQ)
                && from == late
                && let Some(ts) = &last_data
            {
                extra.push_back(Transmit { port, destination: from, segments: [ts.clone()].into_iter().collect() });
            }
        }),
    );
    let v = expect_violation(sim.run(), Invariant::NotAcked);
    assert!(v.at >= Duration::from_secs(6), "{v}");
}

#[test]
fn canary_forwarding_a_packet_twice_is_caught() {
    let mut done = false;
    let sim = Sim::with_relay(
        Scenario::generate(&options(4, 5)),
        Canary::mangling(move |t, extra| {
            if !done && is_ts_data(t) {
                done = true;
                extra.push_back(t.clone());
            }
        }),
    );
    expect_violation(sim.run(), Invariant::DuplicateForward);
}

#[test]
fn canary_altered_payload_is_caught() {
    let sim = Sim::with_relay(
        Scenario::generate(&options(5, 5)),
        Canary::mangling(|t, _| {
            for s in t.segments.iter_mut().filter(|s| s.get(1) == Some(&pt::TS_DATA)) {
                let mut bytes = s.to_vec();
                *bytes.last_mut().expect("TS_DATA has a payload") ^= 1;
                *s = Bytes::from(bytes);
            }
        }),
    );
    expect_violation(sim.run(), Invariant::Altered);
}

#[test]
fn canary_reply_from_the_wrong_socket_is_caught() {
    let sim = Sim::with_relay(
        Scenario::generate(&options(6, 5)),
        Canary::mangling(|t, _| {
            t.port = match t.port {
                Port::Push => Port::Pull,
                Port::Pull => Port::Push,
            }
        }),
    );
    expect_violation(sim.run(), Invariant::WrongPort);
}

#[test]
fn canary_forwarding_forged_data_is_caught() {
    // Whatever the intruder sends reaches every address the relay talks to.
    let mut subscribers: Vec<(Port, SocketAddr)> = Vec::new();
    let sim = Sim::with_relay(
        Scenario::generate(&options(8, 10)),
        Canary::planting(move |port, from, data, extra| {
            if data.get(1) == Some(&pt::SSRC_ACK) && !subscribers.contains(&(port, from)) {
                subscribers.push((port, from));
            }
            let forged = data.get(1) == Some(&pt::TS_DATA) && data.get(12) == Some(&0xFF);
            if forged {
                for &(port, destination) in &subscribers {
                    extra.push_back(Transmit { port, destination, segments: [data.clone()].into_iter().collect() });
                }
            }
        }),
    );
    expect_violation(sim.run(), Invariant::NotFromPublisher);
}

#[test]
fn forged_nacks_from_another_address_are_ignored() {
    for seed in [1, 2] {
        let scenario = Scenario::generate(&options(seed, 10)).with_nack_intruder(1);
        assert!(matches!(scenario.peers.last(), Some(PeerSpec::NackIntruder(_))));
        let report = expect_ok(Sim::new(scenario).run());
        assert!(report.counters.rtcp_ignored > 20, "seed {seed}: the intruder's NACKs reached the relay: {report}");
        assert_eq!(report.counters.retransmitted, 0, "seed {seed}: {report}");
        assert!(report.deliveries.iter().all(|d| d.delivered_expected == d.expected), "{report}");
    }
}

/// A datagram to an address that never sent the relay anything.
#[test]
fn canary_a_datagram_to_a_stranger_is_caught() {
    let stranger = SocketAddr::from(([127, 0, 0, 99], 9));
    let mut done = false;
    let sim = Sim::with_relay(
        Scenario::generate(&options(10, 5)),
        Canary::mangling(move |t, extra| {
            if !done && is_ts_data(t) {
                done = true;
                extra.push_back(Transmit { destination: stranger, ..t.clone() });
            }
        }),
    );
    expect_violation(sim.run(), Invariant::Unsolicited);
}

/// Each `CLIENT_ID_RSP` sent twice: 24 bytes toward an address that sent
/// 12 and has proved nothing yet.
#[test]
fn canary_more_bytes_to_an_unverified_address_than_it_sent_is_caught() {
    let sim = Sim::with_relay(
        Scenario::generate(&options(11, 5)),
        Canary::mangling(|t, extra| {
            if t.segments.iter().any(|s| s.get(1) == Some(&pt::CLIENT_ID_RSP)) {
                extra.push_back(t.clone());
            }
        }),
    );
    let v = expect_violation(sim.run(), Invariant::Amplification);
    assert!(v.breach.detail.contains("24 bytes"), "{v}");
}

/// A relay whose drain, after a while, gives up while datagrams are still
/// queued: state left behind after the step.
#[test]
fn canary_datagrams_left_queued_after_a_drain_are_caught() {
    let mut transmits = 0;
    let sim = Sim::with_relay(
        Scenario::generate(&options(12, 5)),
        Canary::stalling(move |relay| {
            transmits += 1;
            transmits >= 300 && relay.state_sizes().queued_datagrams > 0
        }),
    );
    let v = expect_violation(sim.run(), Invariant::StateBounds);
    assert!(v.breach.detail.contains("queued_datagrams"), "{v}");
}

/// A datagram the relay's counters never counted: the first `PULL_RSP`
/// (to a verified subscriber) sent twice.
#[test]
fn canary_a_datagram_the_counters_miss_is_caught() {
    let mut done = false;
    let sim = Sim::with_relay(
        Scenario::generate(&options(13, 5)),
        Canary::mangling(move |t, extra| {
            if !done && t.segments.iter().any(|s| s.get(1) == Some(&pt::PULL_RSP)) {
                done = true;
                extra.push_back(t.clone());
            }
        }),
    );
    let v = expect_violation(sim.run(), Invariant::CountersDisagree);
    assert!(v.breach.detail.contains("tx_datagrams"), "{v}");
}

/// A relay that answers a NACK from an address that is not the bound
/// address of the client it names, with that client's data, to the client.
#[test]
fn canary_a_retransmission_for_a_forged_nack_is_caught() {
    let scenario = Scenario::generate(&options(14, 10)).with_nack_intruder(1);
    let intruder = scenario.peers.last().expect("added").addr();
    let (victim_port, victim) = (scenario.peers[1].port(), scenario.peers[1].addr());
    let mut last_data: Option<Bytes> = None;
    let sim = Sim::with_relay(
        scenario,
        Canary::planting(move |_, from, data, extra| {
            if data.get(1) == Some(&pt::TS_DATA) && from != intruder {
                last_data = Some(data.clone());
            } else if from == intruder
                && rtprelay_core::packet::is_rtcp(data)
                && let Some(ts) = &last_data
            {
                extra.push_back(Transmit {
                    port: victim_port,
                    destination: victim,
                    segments: [ts.clone()].into_iter().collect(),
                });
            }
        }),
    );
    let v = expect_violation(sim.run(), Invariant::NackSource);
    assert!(v.breach.detail.contains(&intruder.to_string()), "{v}");
}

/// The old `PULL_RSP` layout: its challenge (the SSRC field) in bytes 4-7
/// too, where a legacy client whose clock offset is still unset takes its
/// clock from (§1.1).
fn with_the_challenge_as_timestamp(pull_rsp: &Bytes) -> Bytes {
    let mut bytes = pull_rsp.to_vec();
    bytes.copy_within(8..12, 4);
    Bytes::from(bytes)
}

/// A relay sending the old layout: the first such `PULL_RSP` ends the run.
#[test]
fn canary_a_relay_datagram_without_the_relays_clock_is_caught() {
    let sim = Sim::with_relay(
        Scenario::generate(&options(15, 5)),
        Canary::mangling(|t, _| {
            if let Some(s) = t.segments.iter_mut().find(|s| s.get(1) == Some(&pt::PULL_RSP)) {
                *s = with_the_challenge_as_timestamp(s);
            }
        }),
    );
    let v = expect_violation(sim.run(), Invariant::RelayClock);
    assert!(v.breach.detail.contains(&format!("payload type {}", pt::PULL_RSP)), "{v}");
}
