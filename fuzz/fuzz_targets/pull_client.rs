//! The pull client (subscriber) state machine on arbitrary answers: a plan
//! of steps (the application pulls streams or closes; a datagram arrives
//! from the relay or from elsewhere; time passes). The datagrams are raw
//! bytes, NACKs, or legacy messages whose SSRC field can be the client's id
//! or an SSRC the fuzzer granted, and `PULL_RSP`s naming the pulled
//! streams. After every step the harness drains transmits, events and due
//! timeouts. The client must never panic, must send only to the relay from
//! the pull socket, and must hand the application each sequence number of
//! a stream at most once between two starts of that stream.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use rtprelay_core::packet::pt;
use rtprelay_core::{Instant, Port, PullClient, PullConfig, PullEvent, WallClock};
use rtprelay_fuzz::{Dialect, Driven, Learned, Step, ssrc_of};
use std::collections::HashSet;
use std::net::SocketAddr;

const LIVE_IDS: [&str; 2] = ["cam1", "cam2"];
/// A `PULL_RSP` payload granting both streams SSRCs 7 and 8.
const GRANT: &[u8] = b"cam1#7;cam2#8";

/// What the application does.
#[derive(Arbitrary, Debug)]
enum App {
    Pull { both: bool },
    Close,
}

#[derive(Arbitrary, Debug)]
struct Plan {
    max_segments: u8,
    seed: u8,
    receiver_reports: bool,
    steps: Vec<Step<App>>,
}

/// What a relay sends a subscriber.
const TYPES: [u8; 8] = [
    pt::CLIENT_ID_RSP,
    pt::PULL_RSP,
    pt::TS_DATA,
    pt::STREAM_STOPPED,
    pt::CLIENT_UNKNOWN,
    pt::PULL_REQ_LOST,
    pt::STOP_PULL_RSP,
    pt::HEARTBEAT,
];

fuzz_target!(|plan: Plan| {
    let relay = SocketAddr::from(([127, 0, 0, 1], 61_041));
    let now = Instant::from_millis(1_000);
    let config = PullConfig { receiver_reports: plan.receiver_reports, ..PullConfig::default() };
    let client = PullClient::new(config, relay, [plan.seed; 32], WallClock::new(now, 1_700_000_000_000), now);
    let dialect = Dialect { types: &TYPES, live_id: LIVE_IDS[0], canned: GRANT };
    let mut h = Driven::new(client, now, plan.max_segments);
    // The SSRCs of GRANT and what the client sent in its SSRC fields (its id).
    let mut learned = Learned::default();
    learned.learn(7);
    learned.learn(8);
    // (stream, sequence number) handed to the application since the
    // stream's last start, and the restarts its reorder buffer counted then.
    let mut delivered: HashSet<(String, u16)> = HashSet::new();
    let mut restarts = [0u64; 2];
    for step in plan.steps.iter().take(256) {
        h.step(
            step,
            (Port::Pull, relay),
            |d| dialect.encode(&learned, d),
            |client, now, call| match call {
                App::Pull { both } => {
                    let _ = client.pull(now, &LIVE_IDS[..1 + usize::from(*both)]);
                }
                App::Close => client.close(now),
            },
        );
        let mut events = Vec::new();
        h.drain(
            |t, s| {
                assert_eq!((t.port, t.destination), (Port::Pull, relay), "a subscriber talks only to its relay");
                learned.learn(ssrc_of(s).unwrap_or(0));
            },
            |event| events.push(event),
        );
        // A sequence restart (a jump) starts the numbers anew: what it
        // delivered before may come again, in this batch too.
        let mut restarted = Vec::new();
        for (live_id, seen) in LIVE_IDS.iter().zip(&mut restarts) {
            let count = h.endpoint.stats(live_id).map_or(0, |s| s.restarts);
            if count != *seen {
                *seen = count;
                delivered.retain(|(id, _)| id != live_id);
                restarted.push(*live_id);
            }
        }
        for event in events {
            match event {
                PullEvent::PullStreamData { live_id, seq, .. } => {
                    let again = !delivered.insert((live_id.clone(), seq.get()));
                    assert!(!again || restarted.contains(&live_id.as_str()), "{live_id} {seq:?} handed over twice");
                }
                PullEvent::PullStreamReqSuccess { live_ids } => delivered.retain(|(id, _)| !live_ids.contains(id)),
                PullEvent::StreamStop { live_id } => delivered.retain(|(id, _)| *id != live_id),
                _ => {}
            }
        }
    }
});
