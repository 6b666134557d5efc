//! The legacy publisher (docs/protocol.md §1.3): `AUTH_REQ` until answered,
//! `TS_DATA` at a steady rate, a re-auth every few seconds, and at the end
//! `STOP_PUSH_REQ` until confirmed.

use super::{Action, Peer, legacy_type, message, ssrc_field};
use crate::scenario::PublisherSpec;
use rtprelay_core::packet::rtp::Header;
use rtprelay_core::packet::{pt, text};
use rtprelay_core::{Instant, WallClock};
use std::time::Duration;

const AUTH_RETRY: u32 = 0;
const DATA: u32 = 1;
const REAUTH: u32 = 2;
const STOP: u32 = 3;

const RETRY: Duration = Duration::from_secs(1);
const STOP_RETRY: Duration = Duration::from_millis(500);
const STOP_TRIES: u32 = 5;

/// The payload of the publisher's `index`-th `TS_DATA`: the index (8 bytes,
/// big-endian), then filler derived from it, `len` bytes in all (at least 8).
pub fn ts_data_payload(index: u64, len: usize) -> Vec<u8> {
    let mut payload = index.to_be_bytes().to_vec();
    payload.extend((8..len.max(8)).map(|k| (index as usize).wrapping_mul(31).wrapping_add(k) as u8));
    payload
}

/// The index a `TS_DATA` datagram carries in its first payload bytes.
pub fn payload_index(datagram: &[u8]) -> Option<u64> {
    let bytes = datagram.get(12..20)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// A scripted legacy publisher.
pub struct Publisher {
    spec: PublisherSpec,
    clock: WallClock,
    running: bool,
    ssrc: Option<u32>,
    /// Packets sent so far; the next one's index.
    index: u64,
    stop_tries: u32,
    stop_confirmed: bool,
}

impl Publisher {
    /// A publisher that stamps data with `clock` (its estimate of the
    /// relay clock).
    pub fn new(spec: PublisherSpec, clock: WallClock) -> Self {
        Publisher { spec, clock, running: false, ssrc: None, index: 0, stop_tries: 0, stop_confirmed: false }
    }

    fn auth(&self, out: &mut Vec<Action>) {
        let payload = text::encode_auth(&self.spec.live_id, &self.spec.live_code);
        out.push(Action::Send(message(pt::AUTH_REQ, false, 0, 0, &payload)));
    }

    fn stop_request(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.stop_tries += 1;
        out.push(Action::Send(message(pt::STOP_PUSH_REQ, false, 0, 0, self.spec.live_id.as_bytes())));
        out.push(Action::Wake { at: now + STOP_RETRY, token: STOP });
    }
}

impl Peer for Publisher {
    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.running = true;
        self.auth(out);
        out.push(Action::Wake { at: now + RETRY, token: AUTH_RETRY });
    }

    fn stop(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.running {
            return;
        }
        self.running = false;
        out.push(Action::Wake { at: now + self.spec.stop_linger, token: STOP });
    }

    fn on_datagram(&mut self, now: Instant, data: &[u8], out: &mut Vec<Action>) {
        match legacy_type(data) {
            Some(pt::AUTH_OK) if self.running && self.ssrc.is_none() => {
                self.ssrc = Some(ssrc_field(data));
                out.push(Action::Wake { at: now, token: DATA });
                out.push(Action::Wake { at: now + self.spec.reauth_interval, token: REAUTH });
            }
            Some(pt::STOP_PUSH_RSP) => self.stop_confirmed = true,
            _ => {}
        }
    }

    fn on_wake(&mut self, now: Instant, token: u32, out: &mut Vec<Action>) {
        match token {
            AUTH_RETRY if self.running && self.ssrc.is_none() => {
                self.auth(out);
                out.push(Action::Wake { at: now + RETRY, token: AUTH_RETRY });
            }
            DATA if self.running => {
                let Some(ssrc) = self.ssrc else { return };
                let header = Header {
                    sequence: self.spec.first_sequence.wrapping_add(self.index as u16),
                    timestamp: self.clock.rtp_timestamp(now),
                    ssrc,
                    ..Header::new(pt::TS_DATA)
                };
                out.push(Action::Send(header.encode(&ts_data_payload(self.index, self.spec.payload_len))));
                self.index += 1;
                if self.spec.packets.is_some_and(|n| self.index >= n) {
                    self.stop(now, out);
                } else {
                    out.push(Action::Wake { at: now + self.spec.packet_interval, token: DATA });
                }
            }
            REAUTH if self.running => {
                self.auth(out);
                out.push(Action::Wake { at: now + self.spec.reauth_interval, token: REAUTH });
            }
            STOP if !self.running && !self.stop_confirmed && self.stop_tries < STOP_TRIES => {
                self.stop_request(now, out);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_index_and_their_length() {
        let p = ts_data_payload(0x0102_0304_0506_0708, 1316);
        assert_eq!(p.len(), 1316);
        let mut datagram = vec![0u8; 12];
        datagram.extend_from_slice(&p);
        assert_eq!(payload_index(&datagram), Some(0x0102_0304_0506_0708));
        assert_ne!(ts_data_payload(1, 100), ts_data_payload(2, 100));
        assert_eq!(payload_index(&datagram[..15]), None);
    }
}
