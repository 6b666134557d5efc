//! Any input: no panic, bounded state, and data only where it was asked for.

mod common;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use rtprelay_core::packet::{pt, text};
use rtprelay_core::{Config, Port};
use std::net::SocketAddr;
use std::time::Duration;

/// A step: who sends what on which socket, then how much time passes.
#[derive(Clone, Debug)]
struct Step {
    port: Port,
    peer: u16,
    datagram: Vec<u8>,
    /// For a well-formed legacy packet: replace its SSRC field by the n-th
    /// id the fuzzing peers know (stream SSRCs, ids issued to them).
    known_id: Option<usize>,
    /// For a well-formed legacy packet: echo, in its timestamp field, the
    /// latest challenge a fuzzing peer got (a `PULL_RSP`'s SSRC field).
    echo_challenge: bool,
    advance_ms: u64,
}

/// Mostly well-formed legacy packets with random fields, some garbage;
/// the flag says whether it is a well-formed legacy packet.
fn arb_datagram() -> impl Strategy<Value = (Vec<u8>, bool)> {
    let types = prop::sample::select(vec![
        pt::DELAY_REQ,
        pt::TS_DATA,
        pt::SSRC_ACK,
        pt::AUTH_REQ,
        pt::PULL_REQ,
        pt::CLIENT_ID_REQ,
        pt::HEARTBEAT,
        pt::STOP_PULL_REQ,
        pt::STOP_PUSH_REQ,
        7,
    ]);
    let payloads = prop_oneof![
        Just(b"s1#code1".to_vec()),
        Just(b"s3#code3".to_vec()),
        Just(b"s1".to_vec()),
        Just(b"s1;s2".to_vec()),
        Just(b"s1#s2#s3".to_vec()),
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    let legacy = (types, any::<bool>(), 0u16..4, any::<u32>(), prop::sample::select(vec![0u32, 1, 2, 3]), payloads)
        .prop_map(|(pt, m, seq, ts, ssrc, payload)| (packet(pt, m, seq, ts, ssrc, &payload).to_vec(), true));
    prop_oneof![8 => legacy, 1 => prop::collection::vec(any::<u8>(), 0..30).prop_map(|d| (d, false))]
}

fn arb_step() -> impl Strategy<Value = Step> {
    (
        any::<bool>(),
        0u16..4,
        arb_datagram(),
        prop::option::of(0usize..8),
        any::<bool>(),
        prop::sample::select(vec![0u64, 0, 10, 500, 1500, 12_000]),
    )
        .prop_map(|(push, peer, (datagram, legacy), known_id, echo, advance_ms)| Step {
            port: if push { Port::Push } else { Port::Pull },
            peer,
            datagram,
            known_id: known_id.filter(|_| legacy),
            echo_challenge: echo && legacy,
            advance_ms,
        })
}

/// Peers set up before the fuzzing starts, none of which ever asks for
/// anything the fuzzing peers could cause.
const PUB_S1: u16 = 8001;
const PUB_S2: u16 = 8000;
const SUB_S1: u16 = 8102;
const SUB_S2: u16 = 8100;
const IDLE: u16 = 8101;
const WAITS_S3: u16 = 8103;
const FUZZ: std::ops::Range<u16> = 9000..9004;

/// The relay's fixed peers and what they may legitimately receive.
struct World {
    s1: u32,
    s2: u32,
    ids: [(u16, u32); 4],
    /// Ids the fuzzing peers may name: stream SSRCs and ids issued to them.
    known: Vec<u32>,
    challenge: u32,
    s2_seq: u16,
}

impl World {
    fn new(h: &mut Harness) -> Self {
        h.add_credential("s1", "code1");
        h.add_credential("s2", "code2");
        h.add_credential("s3", "code3");
        let s1 = h.auth(Port::Push, addr(PUB_S1), "s1", "code1");
        let s2 = h.auth(Port::Push, addr(PUB_S2), "s2", "code2");
        let sub_s1 = h.subscriber(Port::Pull, addr(SUB_S1), &["s1"]);
        let sub_s2 = h.subscriber(Port::Pull, addr(SUB_S2), &["s2"]);
        let idle = h.client_id(Port::Pull, addr(IDLE));
        let waits = h.subscriber(Port::Pull, addr(WAITS_S3), &["s3"]);
        h.drain();
        let ids = [(SUB_S1, sub_s1), (SUB_S2, sub_s2), (IDLE, idle), (WAITS_S3, waits)];
        World { s1, s2, ids, known: vec![s1, s2], challenge: 0, s2_seq: 0 }
    }

    /// Whether the relay may send `s` as a consequence of anything the
    /// fuzzing peers do.
    fn allowed(&self, s: &Sent) -> bool {
        let port = s.to.port();
        if FUZZ.contains(&port) {
            return true;
        }
        let stopped = |id: &str| s.pt() == pt::STREAM_STOPPED && s.text() == id;
        match port {
            // s1 may be taken over by a fuzzing peer that authenticates it
            // and sends data, or stopped.
            SUB_S1 => (s.pt() == pt::TS_DATA && s.header().ssrc == self.s1) || stopped("s1"),
            // s3 may go live (unprompted PULL_RSP and its resends) and stop.
            WAITS_S3 => {
                (s.pt() == pt::PULL_RSP
                    && text::parse_pull_rsp(s.payload()).iter().all(|(id, ssrc)| id == "s3" && ssrc.is_some()))
                    || stopped("s3")
            }
            // s2 is published by a peer the fuzzing peers cannot impersonate.
            _ => false,
        }
    }

    /// Learns what the fuzzing peers were told: issued ids, SSRCs,
    /// challenges.
    fn learn(&mut self, out: &[Sent]) {
        for s in out.iter().filter(|s| FUZZ.contains(&s.to.port())) {
            match s.pt() {
                pt::CLIENT_ID_RSP | pt::AUTH_OK => self.known.push(s.header().ssrc),
                pt::PULL_RSP => {
                    self.challenge = s.header().ssrc;
                    self.known.extend(text::parse_pull_rsp(s.payload()).into_iter().filter_map(|(_, ssrc)| ssrc));
                }
                _ => {}
            }
        }
    }

    /// The fixed peers keep their clients and s2 alive; s2's data goes only
    /// to its subscribers.
    fn keep_alive(&mut self, h: &mut Harness) -> Vec<Sent> {
        let mut out = Vec::new();
        for (port, id) in self.ids {
            out.extend(h.heartbeat(Port::Pull, addr(port), id));
        }
        self.s2_seq += 1;
        let data = h.ts_data(addr(PUB_S2), self.s2, self.s2_seq, b"s2");
        for s in data {
            let fine = s.pt() == pt::TS_DATA && (s.to == addr(SUB_S2) || FUZZ.contains(&s.to.port()));
            assert!(fine, "s2 data went to {s:?}");
        }
        out
    }
}

fn fuzzed(step: &Step, world: &World) -> Bytes {
    let mut d = step.datagram.clone();
    if let Some(n) = step.known_id {
        let id = world.known[n % world.known.len()];
        d[8..12].copy_from_slice(&id.to_be_bytes());
    }
    if step.echo_challenge {
        d[4..8].copy_from_slice(&world.challenge.to_be_bytes());
    }
    Bytes::from(d)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_never_panics_and_state_stays_bounded(steps in prop::collection::vec(arb_step(), 1..120)) {
        let config = Config { max_clients: 6, max_pending_reassemblies: 2, max_queued_per_destination: 8, ..Config::default() };
        let mut h = Harness::with_config(config);
        let mut world = World::new(&mut h);
        for step in steps {
            let from: SocketAddr = addr(step.peer + FUZZ.start);
            let mut out = h.send(step.port, from, fuzzed(&step, &world));
            // Time passes in steps of at most 1 s, the fixed peers staying alive.
            let mut left = step.advance_ms;
            loop {
                out.extend(world.keep_alive(&mut h));
                if left == 0 {
                    break;
                }
                let d = left.min(1_000);
                out.extend(h.advance(Duration::from_millis(d)));
                left -= d;
            }
            world.learn(&out);
            // Only peers that asked get anything: the others' data and
            // control messages never leak.
            for s in &out {
                prop_assert!(world.allowed(s), "sent {:?} to {}", s, s.to);
            }
            let sizes = h.relay.state_sizes();
            prop_assert!(sizes.clients <= 6 && sizes.pending_reassemblies <= 2);
            prop_assert!(sizes.streams <= 3, "only credentialed streams exist");
        }
    }
}

/// CONFIG.md: "Every timeout and limit must be greater than 0" (for the
/// keys `Config::validate` checks), `history_max_packets` is at most 32768
/// and `pull_rsp_resends` at most 16; the defaults are valid.
#[test]
fn config_refuses_zero_timeouts_and_limits_and_the_stated_maximums() {
    type Set = fn(&mut Config);
    let zeroed: [(&str, Set); 16] = [
        ("stream_idle_timeout_ms", |c| c.stream_idle_timeout_ms = 0),
        ("client_heartbeat_timeout_ms", |c| c.client_heartbeat_timeout_ms = 0),
        ("pull_reassembly_timeout_ms", |c| c.pull_reassembly_timeout_ms = 0),
        ("pull_rsp_resend_initial_ms", |c| c.pull_rsp_resend_initial_ms = 0),
        ("challenge_validity_ms", |c| c.challenge_validity_ms = 0),
        ("max_clients", |c| c.max_clients = 0),
        ("max_clients_per_ip", |c| c.max_clients_per_ip = 0),
        ("max_pending_reassemblies", |c| c.max_pending_reassemblies = 0),
        ("max_pull_request_chunks", |c| c.max_pull_request_chunks = 0),
        ("max_ids_per_request", |c| c.max_ids_per_request = 0),
        ("max_subscribers_per_stream", |c| c.max_subscribers_per_stream = 0),
        ("max_queued_per_destination", |c| c.max_queued_per_destination = 0),
        ("max_rate_limited_sources", |c| c.max_rate_limited_sources = 0),
        ("max_auth_failures_per_ip_per_minute", |c| c.max_auth_failures_per_ip_per_minute = 0),
        ("history_max_packets", |c| c.history_max_packets = 0),
        ("history_max_age_ms", |c| c.history_max_age_ms = 0),
    ];
    Config::default().validate().unwrap();
    for (field, set) in zeroed {
        let mut c = Config::default();
        set(&mut c);
        assert_eq!(c.validate().unwrap_err().field, field);
    }
    let at = |history_max_packets, pull_rsp_resends| {
        Config { history_max_packets, pull_rsp_resends, ..Config::default() }.validate().map_err(|e| e.field)
    };
    assert_eq!(at(32_768, 16), Ok(()));
    assert_eq!(at(32_769, 16), Err("history_max_packets"));
    assert_eq!(at(32_768, 17), Err("pull_rsp_resends"));
}
