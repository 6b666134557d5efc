//! What the wire proves about addresses (docs/protocol.md §2.3), computed by the
//! checker from the datagrams alone, never from the relay's own flags: the
//! bytes each address sent and was sent, which addresses are verified, and
//! for which client id. One relay process at a time: a restart forgets it
//! all, as the relay does.
//!
//! An address is verified for client id `X` once it presented `X` after
//! the relay sent `X` to it and to no other address (`CLIENT_ID_RSP`), or
//! once it echoed, in an `SSRC_ACK` naming `X` (its timestamp field), a
//! challenge the relay sent to it in a `PULL_RSP` for `X` (its SSRC
//! field). A publisher's address is verified once it sent `TS_DATA` with
//! the SSRC its `AUTH_OK`, and no other address's, gave.

use rtprelay_core::Instant;
use rtprelay_core::packet::rtcp::{self, RtcpPacket};
use rtprelay_core::packet::{is_rtcp, pt};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

/// A value the relay sent to exactly one address so far, or to several.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SentTo {
    One(SocketAddr),
    Several,
}

impl SentTo {
    fn add(entry: &mut Option<SentTo>, addr: SocketAddr) {
        *entry = match *entry {
            None => Some(SentTo::One(addr)),
            Some(SentTo::One(a)) if a == addr => Some(SentTo::One(a)),
            Some(_) => Some(SentTo::Several),
        };
    }
}

/// A `PULL_RSP` challenge on the wire.
struct Challenge {
    expires: Instant,
    /// The client ids the `PULL_RSP` can have been for.
    ids: BTreeSet<u32>,
}

/// The wire's proofs, for one relay process.
pub(super) struct Trust {
    validity: Duration,
    received: BTreeMap<SocketAddr, u64>,
    sent: BTreeMap<SocketAddr, u64>,
    /// Client ids by where their `CLIENT_ID_RSP` went.
    issued: BTreeMap<u32, Option<SentTo>>,
    /// Stream SSRCs by where their `AUTH_OK` went.
    granted: BTreeMap<u32, Option<SentTo>>,
    challenges: BTreeMap<(SocketAddr, u32), Challenge>,
    verified_for: BTreeSet<(SocketAddr, u32)>,
    verified: BTreeSet<SocketAddr>,
}

impl Trust {
    /// A model where challenges live `validity` (the relay's setting).
    pub(super) fn new(validity: Duration) -> Self {
        Trust {
            validity,
            received: BTreeMap::new(),
            sent: BTreeMap::new(),
            issued: BTreeMap::new(),
            granted: BTreeMap::new(),
            challenges: BTreeMap::new(),
            verified_for: BTreeSet::new(),
            verified: BTreeSet::new(),
        }
    }

    /// A new relay process: nothing is proven to it.
    pub(super) fn clear(&mut self) {
        *self = Trust::new(self.validity);
    }

    fn verify(&mut self, addr: SocketAddr, id: u32) {
        self.verified_for.insert((addr, id));
        self.verified.insert(addr);
    }

    /// The relay is handed `data` from `from` at `now`.
    pub(super) fn on_receive(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        *self.received.entry(from).or_default() += data.len() as u64;
        let mut presented = Vec::new();
        if is_rtcp(data) {
            for packet in rtcp::parse_compound(data).0 {
                match packet {
                    RtcpPacket::Nack(n) => presented.push(n.sender_ssrc),
                    RtcpPacket::ReceiverReport(rr) => presented.push(rr.sender_ssrc),
                    RtcpPacket::Other(_) => {}
                }
            }
        } else if data.len() >= 12 && data[0] == 0x80 {
            let ssrc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
            // The last chunk of a `PULL_REQ` has the marker set.
            match data[1] & 0x7f {
                pt::PULL_REQ | pt::HEARTBEAT | pt::STOP_PULL_REQ => presented.push(ssrc),
                pt::SSRC_ACK => {
                    presented.push(ssrc);
                    let echo = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
                    let valid = self.challenges.get(&(from, echo)).is_some_and(|c| c.expires > now);
                    if valid && self.challenges[&(from, echo)].ids.contains(&ssrc) {
                        self.verify(from, ssrc);
                    }
                }
                pt::TS_DATA if self.granted.get(&ssrc) == Some(&Some(SentTo::One(from))) => {
                    self.verified.insert(from);
                }
                _ => {}
            }
        }
        for id in presented {
            if self.issued.get(&id) == Some(&Some(SentTo::One(from))) {
                self.verify(from, id);
            }
        }
    }

    /// The relay sends `segment` to `dest` at `now`; a `PULL_RSP` can be
    /// for any of `ids`. Returns the bytes sent to and received from
    /// `dest` so far if that breaks the amplification limit.
    pub(super) fn on_transmit(
        &mut self,
        now: Instant,
        dest: SocketAddr,
        segment: &[u8],
        ids: &BTreeSet<u32>,
    ) -> Result<(), (u64, u64)> {
        let sent = self.sent.entry(dest).or_default();
        *sent += segment.len() as u64;
        let sent = *sent;
        if segment.len() >= 12 {
            let field = |i: usize| u32::from_be_bytes([segment[i], segment[i + 1], segment[i + 2], segment[i + 3]]);
            match segment[1] & 0x7f {
                pt::CLIENT_ID_RSP => SentTo::add(self.issued.entry(field(8)).or_default(), dest),
                pt::AUTH_OK => SentTo::add(self.granted.entry(field(8)).or_default(), dest),
                pt::PULL_RSP => {
                    self.challenges.retain(|_, c| c.expires > now);
                    let c = self
                        .challenges
                        .entry((dest, field(8)))
                        .or_insert(Challenge { expires: now + self.validity, ids: BTreeSet::new() });
                    c.expires = now + self.validity;
                    c.ids.extend(ids);
                }
                _ => {}
            }
        }
        let received = self.received.get(&dest).copied().unwrap_or(0);
        if !self.verified.contains(&dest) && sent > received { Err((sent, received)) } else { Ok(()) }
    }

    /// Whether `addr` is verified for client id `id`.
    pub(super) fn verified_for(&self, addr: SocketAddr, id: u32) -> bool {
        self.verified_for.contains(&(addr, id))
    }

    /// Whether `addr` is verified for some client id.
    pub(super) fn verified_for_a_client(&self, addr: SocketAddr) -> bool {
        self.verified_for.range((addr, 0)..=(addr, u32::MAX)).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtprelay_core::packet::rtp::Header;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn msg(payload_type: u8, timestamp: u32, ssrc: u32, len: usize) -> Vec<u8> {
        Header { timestamp, ssrc, ..Header::new(payload_type) }.encode(&vec![b'x'; len]).to_vec()
    }

    const T: Instant = Instant::from_millis(1_000);

    #[test]
    fn an_address_is_verified_by_presenting_the_id_sent_only_to_it() {
        let mut t = Trust::new(Duration::from_secs(5));
        let none = BTreeSet::new();
        t.on_receive(T, addr(1), &msg(pt::CLIENT_ID_REQ, 0, 0, 0));
        assert!(t.on_transmit(T, addr(1), &msg(pt::CLIENT_ID_RSP, 0, 7, 0), &none).is_ok(), "12 for 12");
        assert_eq!(t.on_transmit(T, addr(1), &msg(pt::PULL_RSP, 0, 0, 1), &none), Err((25, 12)));
        t.on_receive(T, addr(2), &msg(pt::HEARTBEAT, 0, 7, 0));
        assert!(!t.verified_for(addr(2), 7), "the id was not sent there");
        t.on_receive(T, addr(1), &msg(pt::HEARTBEAT, 0, 7, 0));
        assert!(t.verified_for(addr(1), 7) && !t.verified_for(addr(1), 8));
        assert!(t.on_transmit(T, addr(1), &msg(pt::TS_DATA, 0, 0, 1000), &none).is_ok());
        t.clear();
        assert!(!t.verified_for_a_client(addr(1)), "a new relay process knows nothing");
    }

    #[test]
    fn an_address_is_verified_for_a_client_by_echoing_its_challenge_in_time() {
        let mut t = Trust::new(Duration::from_secs(5));
        let for_7: BTreeSet<u32> = [7].into();
        for _ in 0..4 {
            t.on_receive(T, addr(2), &msg(pt::HEARTBEAT, 0, 7, 0));
        }
        t.on_transmit(T, addr(2), &msg(pt::PULL_RSP, 0, 0xC0FFEE, 10), &for_7).unwrap();
        t.on_receive(T, addr(2), &msg(pt::SSRC_ACK, 0xC0FFEE, 8, 0));
        assert!(!t.verified_for_a_client(addr(2)), "an echo naming another client");
        t.on_receive(T, addr(2), &msg(pt::SSRC_ACK, 0xBAD, 7, 0));
        assert!(!t.verified_for_a_client(addr(2)), "a wrong echo");
        t.on_receive(T + Duration::from_secs(5), addr(2), &msg(pt::SSRC_ACK, 0xC0FFEE, 7, 0));
        assert!(!t.verified_for_a_client(addr(2)), "an expired echo");
        t.on_transmit(T, addr(2), &msg(pt::PULL_RSP, 0, 0xC0FFEE, 10), &for_7).unwrap();
        t.on_receive(T, addr(2), &msg(pt::SSRC_ACK, 0xC0FFEE, 7, 0));
        assert!(t.verified_for(addr(2), 7));
    }
}
