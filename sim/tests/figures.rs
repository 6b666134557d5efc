//! The figures of `rtprelay-sim --json` (issue 11): the flags that shape
//! the run (`--subscribers`, `--rate-pps`, `--packets`), the loss words of
//! docs/protocol.md §2.4, and one seed giving the same bytes twice.

use rtprelay_sim::scenario::PeerSpec;
use rtprelay_sim::{Options, Scenario, run};
use std::process::Command;
use std::time::Duration;

mod support;
use support::expect_ok;

fn shaped(seed: u64, loss: f64) -> Options {
    Options {
        seed,
        loss,
        clients: true,
        subscribers: 3,
        packet_interval: Duration::from_millis(5),
        packets: Some(2_000),
        delay: Duration::from_millis(10),
        jitter: Duration::from_millis(10),
        ..Options::default()
    }
}

#[test]
fn the_flags_shape_the_run() {
    let s = Scenario::generate(&shaped(4, 0.0));
    let subscribers = s.peers.iter().filter(|p| matches!(p, PeerSpec::ClientSubscriber(_))).count();
    assert_eq!(subscribers, 3);
    let PeerSpec::ClientPublisher(publisher) = &s.peers[0] else { panic!("a client publisher first") };
    assert_eq!((publisher.packet_interval, publisher.packets), (Duration::from_millis(5), Some(2_000)));
    let report = expect_ok(run(&shaped(4, 0.0)));
    assert_eq!(report.summary.packets, 2_000, "{report}");
    assert_eq!(report.sent, 2_000);
}

#[test]
fn a_lossless_run_delivers_its_whole_window_at_no_cost() {
    // Jitter below the packet gap: nothing is reordered, so nothing is
    // NACKed (a reordered packet NACKed before it arrives is recovered and
    // then duplicated).
    let report = expect_ok(run(&Options { jitter: Duration::from_millis(2), ..shaped(5, 0.0) }));
    let s = &report.summary;
    let (got, published) = s.worst.expect("every subscriber had a window");
    assert!(published > 1_500, "{s:?}");
    assert_eq!(got, published, "{s:?}");
    assert_eq!((s.lost, s.late, s.recovered, s.duplicates), (0, 0, 0, 0), "{s:?}");
    // What is sent again is the join replays (datagrams of 5 to 7 TS
    // packets), and the last packet if the stop overtook it (the relay
    // NACKs the tail at once, docs/protocol.md §2.5).
    let replayed = report.counters.join_replayed;
    let resent = replayed + report.counters.push_nacks_sent;
    assert!(replayed > 0, "{report}");
    assert!((replayed * (12 + 5 * 188)..=resent * (12 + 7 * 188)).contains(&s.retransmitted_bytes), "{s:?}");
    // One publish and three forwards of almost every packet.
    assert!(s.original_bytes > 4 * 1_500 * (12 + 5 * 188), "{s:?}");
    let latency = s.latency.expect("latencies");
    // The first window holds the first packets back (docs/protocol.md §2.4).
    assert!(latency.p50 >= Duration::from_millis(20) && latency.p90 <= Duration::from_millis(30), "{latency:?}");
    assert!(latency.max <= Duration::from_millis(250), "{latency:?}");
}

#[test]
fn a_lossy_run_counts_its_recovery_in_loss_words() {
    let s = expect_ok(run(&shaped(6, 0.05))).summary;
    assert!(s.recovered > 100 && s.retransmitted_bytes > 0, "{s:?}");
    let overhead = s.overhead_ratio();
    assert!(overhead > 0.02 && overhead < 0.5, "{overhead}");
    let ratio = s.delivered_ratio().expect("a window");
    assert!(ratio > 0.99 && ratio <= 1.0, "{ratio}");
    assert!(s.to_json(6, "x").contains(&format!("\"lost\": {}", s.lost)));
}

/// The binary: one JSON object with every figure the issue names, the same
/// bytes for the same seed, others for another seed.
#[test]
fn json_is_one_object_with_every_figure_and_replays_byte_for_byte() {
    let json = |seed: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_rtprelay-sim"))
            .args(["--clients", "--subscribers", "3", "--rate-pps", "200", "--packets", "1000", "--loss", "0.05"])
            .args(["--json", "--seed", seed])
            .output()
            .expect("run rtprelay-sim");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let first = json("3");
    assert_eq!(first.lines().count(), 1, "{first}");
    assert!(first.starts_with('{') && first.trim_end().ends_with('}'), "{first}");
    for key in [
        "delivered_ratio",
        "lost",
        "late",
        "recovered",
        "duplicates",
        "overhead_ratio",
        "latency_p50_ms",
        "latency_p99_ms",
        "packets",
        "trace",
    ] {
        assert!(first.contains(&format!("\"{key}\": ")), "{key} in {first}");
    }
    assert!(first.contains("\"packets\": 1000,"), "{first}");
    assert_eq!(first, json("3"), "same seed, same bytes");
    assert_ne!(first, json("4"));
}
