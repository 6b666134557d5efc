//! Any input: no panic, bounded state, and data only where it was asked for.

mod common;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use rtprelay_core::packet::pt;
use rtprelay_core::{Config, Port};
use std::time::Duration;

/// A step: who sends what on which socket, then how much time passes.
#[derive(Clone, Debug)]
struct Step {
    port: Port,
    peer: u16,
    datagram: Vec<u8>,
    advance_ms: u64,
}

/// Mostly well-formed legacy packets with random fields, some garbage.
fn arb_datagram() -> impl Strategy<Value = Vec<u8>> {
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
        Just(b"s1".to_vec()),
        Just(b"s1;s2".to_vec()),
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 0..40),
    ];
    let legacy = (types, any::<bool>(), 0u16..4, any::<u32>(), prop::sample::select(vec![0u32, 1, 2, 3]), payloads)
        .prop_map(|(pt, m, seq, ts, ssrc, payload)| packet(pt, m, seq, ts, ssrc, &payload).to_vec());
    prop_oneof![8 => legacy, 1 => prop::collection::vec(any::<u8>(), 0..30)]
}

fn arb_step() -> impl Strategy<Value = Step> {
    (any::<bool>(), 0u16..4, arb_datagram(), prop::sample::select(vec![0u64, 0, 10, 500, 1500, 12_000])).prop_map(
        |(push, peer, datagram, advance_ms)| Step {
            port: if push { Port::Push } else { Port::Pull },
            peer,
            datagram,
            advance_ms,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_never_panics_and_state_stays_bounded(steps in prop::collection::vec(arb_step(), 1..120)) {
        let config = Config { max_clients: 3, max_pending_reassemblies: 2, max_queued_per_destination: 8, ..Config::default() };
        let mut h = Harness::with_config(config);
        h.add_credential("s1", "code1");
        for step in steps {
            let out = h.send(step.port, addr(9000 + step.peer), Bytes::from(step.datagram));
            // Only peers that talked to the relay get anything.
            prop_assert!(out.iter().all(|s| (9000..9004).contains(&s.to.port())));
            h.advance(Duration::from_millis(step.advance_ms));
            let sizes = h.relay.state_sizes();
            prop_assert!(sizes.clients <= 3 && sizes.pending_reassemblies <= 2);
            prop_assert!(sizes.streams <= 1, "only credentialed streams exist");
        }
    }
}
