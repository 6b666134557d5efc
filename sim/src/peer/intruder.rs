//! An on-path attacker: it reads the stream's SSRC from the `AUTH_OK` the
//! publisher receives and sends forged `TS_DATA` with it from its own
//! address, which the relay must drop (docs/protocol.md §1.3.3).

use super::{Action, Peer, legacy_type, message, ssrc_field};
use crate::scenario::IntruderSpec;
use rtprelay_core::Instant;
use rtprelay_core::packet::pt;

const FORGE: u32 = 0;
const FORGED_LEN: usize = 200;

/// A forging attacker.
pub struct Intruder {
    spec: IntruderSpec,
    running: bool,
    ssrc: Option<u32>,
    sent: u64,
}

impl Intruder {
    /// An attacker per `spec`.
    pub fn new(spec: IntruderSpec) -> Self {
        Intruder { spec, running: false, ssrc: None, sent: 0 }
    }
}

impl Peer for Intruder {
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
        if let Some(ssrc) = self.ssrc {
            // Indices from the top of the range: never one the publisher uses.
            let mut payload = (u64::MAX - self.sent).to_be_bytes().to_vec();
            payload.resize(FORGED_LEN, 0xEE);
            out.push(Action::Send(message(pt::TS_DATA, false, self.sent as u16, ssrc, &payload)));
            self.sent += 1;
        }
        out.push(Action::Wake { at: now + self.spec.interval, token: FORGE });
    }

    fn on_sniffed(&mut self, data: &[u8]) {
        if legacy_type(data) == Some(pt::AUTH_OK) {
            self.ssrc = Some(ssrc_field(data));
        }
    }
}
