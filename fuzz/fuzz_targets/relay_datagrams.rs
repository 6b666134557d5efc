//! The relay state machine on arbitrary traffic: a plan derived from the
//! input is a sequence of steps (socket, source, datagram, time advance, or
//! an operator command). The datagrams are raw bytes or legacy messages
//! whose ids the harness can fill in from what the relay handed out, so the
//! fuzzer gets past auth and client ids. After every step the harness
//! drains transmits, events and due timeouts, as the call contract says.
//! The relay must never panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use rtprelay_core::Command;
use rtprelay_core::packet::pt;
use rtprelay_core::packet::rtp::Header;
use rtprelay_core::{Config, Credential, Endpoint, Instant, LiveId, Port, Relay, WallClock};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const LIVE_ID: &str = "live";
const LIVE_CODE: &str = "code";

/// Where an id field comes from.
#[derive(Arbitrary, Debug)]
enum Id {
    Literal(u32),
    /// The latest client id the relay issued.
    LastClient,
    /// The latest SSRC the relay granted.
    LastStream,
}

/// A payload.
#[derive(Arbitrary, Debug)]
enum Payload {
    Raw(Vec<u8>),
    /// The valid `AUTH_REQ` payload.
    GoodAuth,
    /// The stream id (a pull request, ack or stop list).
    LiveId,
    /// Ids joined with separators.
    Ids(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Datagram {
    Raw(Vec<u8>),
    Legacy { payload_type: u8, marker: bool, sequence: u16, timestamp: u32, ssrc: Id, payload: Payload },
}

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

struct Harness {
    relay: Relay,
    now: Instant,
    max_segments: usize,
    last_client: u32,
    last_stream: u32,
}

impl Harness {
    fn id(&self, id: &Id) -> u32 {
        match id {
            Id::Literal(v) => *v,
            Id::LastClient => self.last_client,
            Id::LastStream => self.last_stream,
        }
    }

    fn advance(&mut self, ms: u16) {
        self.now = self.now + Duration::from_millis(u64::from(ms));
    }

    /// The call contract: transmits, events, then due timeouts (and again).
    fn drain(&mut self) {
        loop {
            while let Some(t) = self.relay.poll_transmit(self.max_segments) {
                assert!(!t.segments.is_empty() && t.segments.len() <= self.max_segments);
                for s in &t.segments {
                    match s.get(1) {
                        Some(&pt::CLIENT_ID_RSP) => self.last_client = u32::from_be_bytes([s[8], s[9], s[10], s[11]]),
                        Some(&pt::AUTH_OK) => self.last_stream = u32::from_be_bytes([s[8], s[9], s[10], s[11]]),
                        _ => {}
                    }
                }
            }
            while self.relay.poll_event().is_some() {}
            match self.relay.poll_timeout() {
                Some(at) if at <= self.now => self.relay.handle_timeout(self.now),
                _ => return,
            }
        }
    }
}

fn encode(h: &Harness, datagram: &Datagram) -> Bytes {
    match datagram {
        Datagram::Raw(bytes) => Bytes::copy_from_slice(bytes),
        Datagram::Legacy { payload_type, marker, sequence, timestamp, ssrc, payload } => {
            let header = Header {
                marker: *marker,
                payload_type: TYPES[usize::from(*payload_type) % TYPES.len()],
                sequence: *sequence,
                timestamp: *timestamp,
                ssrc: h.id(ssrc),
            };
            let body: Vec<u8> = match payload {
                Payload::Raw(bytes) => bytes.clone(),
                Payload::GoodAuth => format!("{LIVE_ID}#{LIVE_CODE}").into_bytes(),
                Payload::LiveId => LIVE_ID.as_bytes().to_vec(),
                Payload::Ids(bytes) => {
                    let mut list = LIVE_ID.as_bytes().to_vec();
                    for b in bytes {
                        list.push(if b % 4 == 0 { b'#' } else if b % 4 == 1 { b';' } else { b'a' + b % 26 });
                    }
                    list
                }
            };
            let mut out = Vec::with_capacity(12 + body.len());
            header.write_to(&mut out);
            out.extend_from_slice(&body);
            Bytes::from(out)
        }
    }
}

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
    let mut relay = Relay::new(Arc::new(config), [3; 32], WallClock::new(now, 1_700_000_000_000));
    relay
        .handle_command(now, Command::AddCredential(Credential::new(live_id.clone(), LIVE_CODE, [5; 16])))
        .expect("first credential");
    let mut h = Harness {
        relay,
        now,
        max_segments: usize::from(plan.max_segments % 8) + 1,
        last_client: 0,
        last_stream: 0,
    };
    h.drain();
    for step in plan.steps.iter().take(256) {
        match step {
            Step::Datagram { pull_port, source, advance_ms, datagram } => {
                h.advance(*advance_ms);
                let port = if *pull_port { Port::Pull } else { Port::Push };
                let from = match source % 8 {
                    7 => SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 5_000)),
                    s => SocketAddr::from(([127, 0, 0, 1 + s % 2], 5_000 + u16::from(s))),
                };
                let data = encode(&h, datagram);
                h.relay.handle_datagram(h.now, port, from, data);
            }
            Step::Command(op) => {
                let command = match op {
                    Op::StopStream => Command::StopStream { live_id: live_id.clone() },
                    Op::RevokeStream => Command::RevokeStream { live_id: live_id.clone() },
                    Op::AddCredential => Command::AddCredential(Credential::new(live_id.clone(), LIVE_CODE, [5; 16])),
                    Op::StopAll => Command::StopAll,
                    Op::ListStreams => Command::ListStreams,
                    Op::ListClients => Command::ListClients,
                };
                let _ = h.relay.handle_command(h.now, command);
            }
            Step::Wait { advance_ms } => {
                h.advance(*advance_ms);
                if h.relay.poll_timeout().is_some_and(|at| at <= h.now) {
                    h.relay.handle_timeout(h.now);
                }
            }
        }
        h.drain();
    }
});
