//! Core bugs the simulator found, each shrunk to a small deterministic
//! reproduction and kept here so they stay fixed.

use bytes::Bytes;
use rtprelay_core::packet::rtp::Header;
use rtprelay_core::packet::{pt, text};
use rtprelay_core::{Command, Config, Credential, Endpoint, Instant, LiveId, Port, Relay, WallClock};
use rtprelay_sim::net::LinkConfig;
use rtprelay_sim::scenario::PeerSpec;
use rtprelay_sim::{Options, Scenario, Sim};
use std::net::SocketAddr;
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// A successful re-auth resets the stream's sequence tracker, so a network
/// duplicate of a packet forwarded just before the re-auth is forwarded
/// again (docs/protocol.md §1.3.4 says it must not be). Here every datagram is
/// duplicated up to 10 ms late and the publisher re-authenticates 1 ms
/// after a data tick, so some duplicate lands right after a re-auth. Found
/// by `cargo run -p rtprelay-sim -- --sweep 2000 --dup 0.05 --loss 0.05
/// --reorder 0.05 --duration-secs 10` (seed 148, before the NACK timer bug
/// below appeared).
#[test]
fn duplicate_straddling_a_reauth_is_not_forwarded_twice() {
    let mut scenario =
        Scenario::generate(&Options { seed: 1, duration: Duration::from_secs(10), ..Options::default() });
    scenario.link = LinkConfig {
        jitter: Duration::ZERO,
        duplicate: 1.0,
        duplicate_delay: Duration::from_millis(10),
        ..scenario.link
    };
    let PeerSpec::Publisher(publisher) = &mut scenario.peers[0] else { panic!("peer 0 publishes") };
    publisher.packet_interval = Duration::from_millis(20);
    publisher.reauth_interval = Duration::from_millis(3001);
    match Sim::new(scenario).run() {
        Ok(report) => assert!(report.counters.ts_data_duplicate > 0, "{report}"),
        Err(violation) => panic!("{violation}"),
    }
}

fn ts_data(ssrc: u32, sequence: u16) -> Bytes {
    Header { sequence, ssrc, ..Header::new(pt::TS_DATA) }.encode(&[0x47; 188])
}

/// The push-leg NACK retry never fires and never goes away: the smoothed
/// round trip gets a sub-microsecond part ((7 × 10.001 ms + 10 ms) / 8 =
/// 10.000875 ms), the retry interval (2 × srtt = 20.00175 ms) is compared
/// with whole-microsecond elapsed times (20.001 ms: not due), and the next
/// deadline `last_nack + retry` truncates to the very instant being handled,
/// so `handle_timeout` reschedules it at `now` and loops for ever
/// (ingress.rs `due` / `next_deadline` against `Instant + Duration`, which
/// drops the nanoseconds). Found by the simulator with any reordering, e.g.
/// `cargo run -p rtprelay-sim -- --seed 0 --reorder 0.2 --duration-secs 10`
/// never finishes.
#[test]
fn push_nack_retry_with_a_fractional_rtt_terminates() {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let t0 = Instant::from_millis(1_000);
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let mut relay = Relay::new(Arc::new(Config::default()), [1; 32], WallClock::new(t0, 1_700_000_000_000));
        relay
            .handle_command(t0, Command::AddCredential(Credential::new(LiveId::parse("s").unwrap(), "c", [0; 16])))
            .unwrap();
        let publisher = SocketAddr::from(([127, 0, 0, 1], 4000));
        let send = |relay: &mut Relay, at: Instant, data: Bytes| {
            relay.handle_datagram(at, Port::Push, publisher, data);
            let mut ssrc = None;
            while let Some(t) = relay.poll_transmit(8) {
                for s in &t.segments {
                    if s[1] == pt::AUTH_OK {
                        ssrc = Some(u32::from_be_bytes([s[8], s[9], s[10], s[11]]));
                    }
                }
            }
            while relay.poll_event().is_some() {}
            ssrc
        };
        let ssrc = send(&mut relay, t0, Header::new(pt::AUTH_REQ).encode(&text::encode_auth("s", "c"))).unwrap();
        // Two gaps, each filled once NACKed: samples 10.001 ms and 10 ms.
        for (base, late) in [(10, 10_001), (100, 10_000)] {
            let seq = base as u16;
            send(&mut relay, ms(base), ts_data(ssrc, seq));
            send(&mut relay, ms(base + 1), ts_data(ssrc, seq + 2));
            send(&mut relay, ms(base + 1) + Duration::from_micros(late), ts_data(ssrc, seq + 1));
        }
        // A third gap, never filled: its retry is due 20.00175 ms later.
        send(&mut relay, ms(200), ts_data(ssrc, 200));
        send(&mut relay, ms(201), ts_data(ssrc, 202));
        let mut fired = 0;
        while let Some(at) = relay.poll_timeout().filter(|&at| at <= ms(400)) {
            relay.handle_timeout(at);
            while relay.poll_transmit(8).is_some() {}
            while relay.poll_event().is_some() {}
            fired += 1;
        }
        done.send(fired).unwrap();
    });
    let fired = finished.recv_timeout(Duration::from_secs(10)).expect("handle_timeout returned within 10 s");
    assert!(fired >= 1, "the NACK retry fired");
}

/// `STREAM_STOPPED` carries the sequence number of the packet forwarded
/// *last in time*, not the highest forwarded (publish.rs sets
/// `last_forwarded = seq` for every forward, recovered ones included, and
/// the stop uses it). Here 14209 is reordered behind 14210, NACKed and
/// recovered just as the publisher's `STOP_PUSH_REQ` (M = 1, seq 14210)
/// arrives, so the relay announces the tail as 14209; a pull client that
/// has 14209 but not yet 14210 (still in flight) reports the stop, drops
/// the stream, and loses 14210 on a lossless network. Found by
/// `cargo run -p rtprelay-sim -- --clients --sweep 1000 --reorder 0.2
/// --dup 0.05` (seed 11).
#[test]
fn stream_stopped_announces_the_highest_sequence_forwarded() {
    let options = Options { seed: 11, duplicate: 0.05, reorder: 0.2, clients: true, ..Options::default() };
    if let Err(violation) = Sim::new(Scenario::generate(&options)).run() {
        panic!("{violation}");
    }
}
