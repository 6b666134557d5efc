//! The relay state machine on arbitrary traffic: a plan derived from the
//! input is a sequence of steps (socket, source, datagram, time advance, or
//! an operator command). The datagrams are raw bytes or legacy messages
//! whose ids the harness can fill in from what the relay handed out (client
//! ids and stream SSRCs), so the fuzzer gets past auth and client ids.
//! After every step the harness drains transmits, events and due timeouts,
//! as the call contract says. The relay must never panic.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use rtprelay_core::packet::pt;
use rtprelay_core::{Command, Config, Credential, Endpoint, Instant, LiveId, Port, Relay, WallClock};
use rtprelay_fuzz::{Datagram, Dialect, Driven, Learned, source, ssrc_of};
use std::net::SocketAddr;
use std::sync::Arc;

const LIVE_ID: &str = "live";
const LIVE_CODE: &str = "code";

#[derive(Arbitrary, Debug)]
enum Op {
    StopStream,
    RevokeStream,
    AddCredential,
    StopAll,
    ListStreams,
    ListClients,
}

#[derive(Arbitrary, Debug)]
enum Step {
    Datagram { pull_port: bool, source: u8, advance_ms: u16, datagram: Datagram },
    Command(Op),
    Wait { advance_ms: u16 },
}

#[derive(Arbitrary, Debug)]
struct Plan {
    legacy_trust: bool,
    max_segments: u8,
    steps: Vec<Step>,
}

/// Payload types legacy peers send, so most legacy datagrams mean something.
const TYPES: [u8; 10] = [
    pt::DELAY_REQ,
    pt::TS_DATA,
    pt::SSRC_ACK,
    pt::AUTH_REQ,
    pt::PULL_REQ,
    pt::CLIENT_ID_REQ,
    pt::HEARTBEAT,
    pt::STOP_PULL_REQ,
    pt::STOP_PUSH_REQ,
    205,
];

fuzz_target!(|plan: Plan| {
    let config = Config {
        legacy_trust: plan.legacy_trust,
        max_clients: 16,
        max_clients_per_ip: 4,
        max_pending_reassemblies: 4,
        max_rate_limited_sources: 4,
        max_queued_per_destination: 8,
        ..Config::default()
    };
    let now = Instant::from_millis(1_000);
    let live_id = LiveId::parse(LIVE_ID).expect("the target's stream id is one");
    let credential = || Credential::new(live_id.clone(), LIVE_CODE, [5; 16]);
    let mut relay = Relay::new(Arc::new(config), [3; 32], WallClock::new(now, 1_700_000_000_000));
    relay.handle_command(now, Command::AddCredential(credential())).expect("first credential");
    let canned = format!("{LIVE_ID}#{LIVE_CODE}");
    let dialect = Dialect { types: &TYPES, live_id: LIVE_ID, canned: canned.as_bytes() };
    let peer = SocketAddr::from(([127, 0, 0, 1], 5_000));
    let mut h = Driven::new(relay, now, plan.max_segments);
    // Client ids (CLIENT_ID_RSP) and stream SSRCs (AUTH_OK) the relay hands
    // out, for the fuzzer's datagrams to name.
    let mut learned = Learned::default();
    let drain = |h: &mut Driven<Relay>, learned: &mut Learned| {
        h.drain(
            |_, s| {
                if matches!(s.get(1), Some(&pt::CLIENT_ID_RSP | &pt::AUTH_OK)) {
                    learned.learn(ssrc_of(s).expect("a legacy answer has a header"));
                }
            },
            drop,
        );
    };
    drain(&mut h, &mut learned);
    for step in plan.steps.iter().take(256) {
        match step {
            Step::Datagram { pull_port, source: pick, advance_ms, datagram } => {
                h.advance(*advance_ms);
                let port = if *pull_port { Port::Pull } else { Port::Push };
                let data = dialect.encode(&learned, datagram);
                h.endpoint.handle_datagram(h.now, port, source(peer, *pick), data);
            }
            Step::Command(op) => {
                let command = match op {
                    Op::StopStream => Command::StopStream { live_id: live_id.clone() },
                    Op::RevokeStream => Command::RevokeStream { live_id: live_id.clone() },
                    Op::AddCredential => Command::AddCredential(credential()),
                    Op::StopAll => Command::StopAll,
                    Op::ListStreams => Command::ListStreams,
                    Op::ListClients => Command::ListClients,
                };
                let _ = h.endpoint.handle_command(h.now, command);
            }
            Step::Wait { advance_ms } => h.advance(*advance_ms),
        }
        drain(&mut h, &mut learned);
    }
});
