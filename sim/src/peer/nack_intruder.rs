//! An off-path attacker against retransmission: it reads the victim's
//! client id from the `CLIENT_ID_RSP` the victim receives and the stream's
//! SSRC and latest sequence numbers from its `TS_DATA`, and sends Generic
//! NACKs naming them from its own address. The relay must ignore them
//! (docs/protocol.md §2.1: NACKs count only from the subscriber's bound address).

use super::{Action, Peer, legacy_type, ssrc_field};
use crate::scenario::NackIntruderSpec;
use rtprelay_core::Instant;
use rtprelay_core::packet::pt;
use rtprelay_core::packet::rtcp::Nack;

const FORGE: u32 = 0;
/// Sequence numbers each forged NACK lists, just behind the newest seen.
const LISTED: u16 = 3;

/// A NACK-forging attacker.
pub struct NackIntruder {
    spec: NackIntruderSpec,
    running: bool,
    client_id: Option<u32>,
    /// The stream's SSRC and the newest sequence number seen.
    stream: Option<(u32, u16)>,
}

impl NackIntruder {
    /// An attacker per `spec`.
    pub fn new(spec: NackIntruderSpec) -> Self {
        NackIntruder { spec, running: false, client_id: None, stream: None }
    }
}

impl Peer for NackIntruder {
    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.running = true;
        out.push(Action::Wake { at: now + self.spec.interval, token: FORGE });
    }

    fn stop(&mut self, _now: Instant, _out: &mut Vec<Action>) {
        self.running = false;
    }

    fn on_datagram(&mut self, _now: Instant, _data: &[u8], _out: &mut Vec<Action>) {}

    fn on_wake(&mut self, now: Instant, _token: u32, out: &mut Vec<Action>) {
        if !self.running {
            return;
        }
        if let (Some(id), Some((ssrc, newest))) = (self.client_id, self.stream) {
            let lost: Vec<u16> = (1..=LISTED).map(|k| newest.wrapping_sub(k)).collect();
            out.push(Action::Send(Nack::from_sequences(id, ssrc, &lost).encode()));
        }
        out.push(Action::Wake { at: now + self.spec.interval, token: FORGE });
    }

    fn on_sniffed(&mut self, data: &[u8]) {
        match legacy_type(data) {
            Some(pt::CLIENT_ID_RSP) => self.client_id = Some(ssrc_field(data)),
            Some(pt::TS_DATA) => {
                self.stream = Some((ssrc_field(data), u16::from_be_bytes([data[2], data[3]])));
            }
            _ => {}
        }
    }
}
