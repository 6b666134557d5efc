//! The push client (publisher) state machine on arbitrary answers: a plan
//! of steps (the application authenticates, pushes data or closes; a
//! datagram arrives from the relay or from elsewhere; time passes). The
//! datagrams are raw bytes, NACKs, or legacy answers whose SSRC field can be
//! one the client itself sent. After every step the harness drains
//! transmits, events and due timeouts. The client must never panic, and
//! must send only to the relay, from the push socket.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use rtprelay_core::packet::pt;
use rtprelay_core::{Instant, Port, PushClient, PushConfig, WallClock};
use rtprelay_fuzz::{Dialect, Driven, Learned, Step, ssrc_of};
use std::net::SocketAddr;

/// Two stream ids, so that the client may hold two streams.
const LIVE_IDS: [&str; 2] = ["cam1", "cam2"];

/// What the application does.
#[derive(Arbitrary, Debug)]
enum App {
    Auth { stream: bool, code: bool },
    Push { stream: bool, data: Vec<u8> },
    Close,
}

#[derive(Arbitrary, Debug)]
struct Plan {
    max_segments: u8,
    seed: u8,
    steps: Vec<Step<App>>,
}

/// What a relay sends a publisher.
const TYPES: [u8; 8] = [
    pt::AUTH_OK,
    pt::AUTH_REFUSED,
    pt::DELAY_RSP,
    pt::STREAM_UNKNOWN,
    pt::STOP_PUSH_RSP,
    pt::CLIENT_UNKNOWN,
    pt::TS_DATA,
    205,
];

fuzz_target!(|plan: Plan| {
    let relay = SocketAddr::from(([127, 0, 0, 1], 61_040));
    let now = Instant::from_millis(1_000);
    let client = PushClient::new(PushConfig::default(), relay, [plan.seed; 32], WallClock::new(now, 1_700_000_000_000));
    let dialect = Dialect { types: &TYPES, live_id: LIVE_IDS[0], canned: LIVE_IDS[0].as_bytes() };
    let mut h = Driven::new(client, now, plan.max_segments);
    // The SSRC fields the client sent (its streams' SSRCs, once granted).
    let mut learned = Learned::default();
    for step in plan.steps.iter().take(256) {
        h.step(
            step,
            (Port::Push, relay),
            |d| dialect.encode(&learned, d),
            |client, now, call| match call {
                App::Auth { stream, code } => {
                    let _ = client.auth(now, LIVE_IDS[usize::from(*stream)], if *code { "secret" } else { "" });
                }
                App::Push { stream, data } => {
                    let _ = client.push(now, LIVE_IDS[usize::from(*stream)], data);
                }
                App::Close => client.close(now),
            },
        );
        h.drain(
            |t, s| {
                assert_eq!((t.port, t.destination), (Port::Push, relay), "a publisher talks only to its relay");
                learned.learn(ssrc_of(s).unwrap_or(0));
            },
            drop,
        );
    }
});
