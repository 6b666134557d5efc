//! Wire checks: what the relay receives and sends. Every datagram goes to
//! an address that spoke to it, from the socket that address uses, within
//! the amplification limit until verified, with the relay's clock in
//! bytes 4-7 unless it is `TS_DATA` or a `DELAY_RSP`; `TS_DATA` only as the
//! authenticated publisher sent it, to a verified client that acked it,
//! once, unless a NACK from that client's bound address asked again.

use super::{Breach, Checker, Invariant, breach};
use crate::peer::payload_index;
use crate::scenario::{PeerId, PeerSpec};
use bytes::Bytes;
use rtprelay_core::ClientBinding;
use rtprelay_core::packet::rtcp::{self, RtcpPacket};
use rtprelay_core::packet::{is_rtcp, pt, text};
use rtprelay_core::{Instant, Port, Transmit};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

/// An RTCP datagram handed to the relay: what it may retransmit in answer.
pub(super) struct RtcpStep {
    from: SocketAddr,
    /// NACKs in it whose sender the relay held at `from` before the step.
    bound_nacks: usize,
    /// (stream SSRC, sequence number) those NACKs list → times listed.
    allowance: BTreeMap<(u32, u16), u32>,
}

/// Whether a `TS_DATA` is a retransmission the step allows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retransmission {
    /// The step did not hand the relay RTCP: a fan-out or a join replay.
    NotAsked,
    /// Listed by a NACK from the bound address it goes back to.
    Allowed,
    /// An RTCP step, but not a packet its NACKs list.
    Unlisted,
}

impl Checker {
    /// A legacy or pull-client subscriber.
    pub(super) fn is_subscriber(&self, peer: PeerId) -> bool {
        matches!(self.peers.get(peer), Some(PeerSpec::Subscriber(_) | PeerSpec::ClientSubscriber(_)))
    }

    /// The relay's client bindings after a step, before its transmits are
    /// drained. Every acknowledgement it holds must be one an `SSRC_ACK`
    /// on the wire gave it.
    pub fn on_relay_state(&mut self, now: Instant, bindings: Vec<ClientBinding>) -> Result<(), Breach> {
        self.previous = std::mem::replace(&mut self.bindings, bindings);
        self.check_quiet_moves(now)?;
        for b in &self.bindings {
            if let Some(live_id) =
                b.acked.iter().find(|s| !self.wire_acks.contains(&(b.id.get(), s.as_str().to_owned())))
            {
                return breach(
                    Invariant::NotAcked,
                    format!(
                        "the relay holds client {:#x} at {} acked for {live_id}, which no SSRC_ACK said",
                        b.id.get(),
                        b.address
                    ),
                );
            }
        }
        Ok(())
    }

    /// A client bound to a new address since the last step moved only
    /// once its old address had been quiet for `move_quiet_ms` (§2.3),
    /// unless `legacy_trust` moves at once. The datagram of this step is
    /// not the old address's (it came from the new one, or it is a timer).
    fn check_quiet_moves(&self, now: Instant) -> Result<(), Breach> {
        if self.config.legacy_trust {
            return Ok(());
        }
        let quiet = Duration::from_millis(self.config.move_quiet_ms);
        for b in &self.bindings {
            let Some(old) = self.previous.iter().find(|p| p.id == b.id && p.address != b.address) else { continue };
            let heard = self.last_heard.get(&old.address).copied();
            if let Some(heard) = heard.filter(|&h| now < h + quiet) {
                return breach(
                    Invariant::QuietMove,
                    format!(
                        "client {:#x} moved from {} to {} {:?} after the old address was last heard",
                        b.id.get(),
                        old.address,
                        b.address,
                        now - heard
                    ),
                );
            }
        }
        Ok(())
    }

    /// The relay is handed a datagram.
    pub fn on_relay_receive(&mut self, now: Instant, port: Port, from: SocketAddr, data: &[u8]) {
        if data.get(1).map(|b| b & 0x7f) != Some(pt::TS_DATA) {
            self.last_heard.insert(from, now);
        }
        self.last_port.insert(from, port);
        self.trust.on_receive(now, from, data);
        self.step_ts_data = !is_rtcp(data) && data.get(1) == Some(&pt::TS_DATA);
        if is_rtcp(data) {
            self.step_from = Some((from, None));
            self.on_rtcp(from, data);
            return;
        }
        let plain = data.len() >= 12 && data[0] == 0x80;
        let named = plain.then(|| u32::from_be_bytes([data[8], data[9], data[10], data[11]]));
        self.step_from = Some((from, named));
        if plain && data[1] == pt::SSRC_ACK {
            let client = named.expect("plain");
            for id in text::split_ids_lossy(&data[12..]) {
                self.wire_acks.insert((client, id.to_owned()));
            }
        }
        let Some(&peer) = self.addrs.get(&from) else { return };
        if !self.is_subscriber(peer) || !plain {
            return;
        }
        if data[1] == pt::SSRC_ACK {
            for id in text::split_ids_lossy(&data[12..]) {
                if self.ssrc_of.contains_key(id) {
                    self.first_ack.entry((peer, id.to_owned())).or_insert(now);
                }
            }
        }
    }

    /// RTCP handed to the relay: the retransmissions it may answer with,
    /// from NACKs whose sender the relay held at `from` before the step.
    fn on_rtcp(&mut self, from: SocketAddr, data: &[u8]) {
        let mut step = RtcpStep { from, bound_nacks: 0, allowance: BTreeMap::new() };
        for packet in rtcp::parse_compound(data).0 {
            let RtcpPacket::Nack(nack) = packet else { continue };
            if !self.bindings.iter().any(|b| b.id.get() == nack.sender_ssrc && b.address == from) {
                continue;
            }
            step.bound_nacks += 1;
            for sequence in nack.sequences() {
                *step.allowance.entry((nack.media_ssrc, sequence)).or_default() += 1;
            }
        }
        self.step_rtcp = Some(step);
    }

    /// The relay transmits at `now`; checked segment by segment, in order.
    pub fn on_relay_transmit(&mut self, now: Instant, t: &Transmit) -> Result<(), Breach> {
        let dest = t.destination;
        match self.last_port.get(&dest) {
            None => return breach(Invariant::Unsolicited, format!("{} datagram(s) to {dest}", t.segments.len())),
            Some(&port) if port != t.port => {
                return breach(Invariant::WrongPort, format!("to {dest} from {:?}, which sends to {port:?}", t.port));
            }
            Some(_) => {}
        }
        let peer = self.addrs.get(&dest).copied();
        for segment in &t.segments {
            self.seen_tx_datagrams += 1;
            self.check_clock(now, dest, segment)?;
            if segment.len() >= 12 {
                let ssrc = u32::from_be_bytes([segment[8], segment[9], segment[10], segment[11]]);
                let payload = &segment[12..];
                match segment[1] {
                    pt::AUTH_OK => {
                        let id = String::from_utf8_lossy(payload).into_owned();
                        self.ssrc_of.insert(id.clone(), ssrc);
                        self.stream_of.insert(ssrc, (id, dest));
                    }
                    pt::STREAM_STOPPED | pt::PULL_REQ_LOST if !self.trust.verified_for_a_client(dest) => {
                        return breach(
                            Invariant::AddressMove,
                            format!("payload type {} to {dest}, verified for no client id", segment[1]),
                        );
                    }
                    pt::STREAM_STOPPED => {
                        self.stopped_to.insert((dest, String::from_utf8_lossy(payload).into_owned()), now);
                    }
                    pt::TS_DATA => self.check_forward(now, peer, dest, ssrc, segment)?,
                    pt::PULL_RSP => self.on_pull_rsp(now, peer, payload),
                    _ => {}
                }
            }
            let pull_rsp = segment.get(1) == Some(&pt::PULL_RSP);
            let ids = if pull_rsp { self.challenge_ids(dest) } else { BTreeSet::new() };
            if let Err((sent, received)) = self.trust.on_transmit(now, dest, segment, &ids) {
                return breach(
                    Invariant::Amplification,
                    format!("{sent} bytes to {dest}, which sent {received} and is not verified"),
                );
            }
        }
        Ok(())
    }

    /// Bytes 4-7 of every relay datagram carry the relay's clock at `now`
    /// (epoch ms truncated to `u32`), RTCP's sender SSRC field included;
    /// only a forwarded `TS_DATA` (retransmitted and join-replayed too) and
    /// the `DELAY_RSP` echo carry the sender's value (§1.1).
    fn check_clock(&self, now: Instant, dest: SocketAddr, segment: &[u8]) -> Result<(), Breach> {
        if !is_rtcp(segment) && matches!(segment.get(1), Some(&(pt::TS_DATA | pt::DELAY_RSP))) {
            return Ok(());
        }
        let clock = self.clock.rtp_timestamp(now);
        let field = segment.get(4..8).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        if field == Some(clock) {
            return Ok(());
        }
        let kind = segment.get(1).copied().unwrap_or_default();
        breach(
            Invariant::RelayClock,
            format!("payload type {kind} to {dest} with {field:x?} in bytes 4-7, the relay's clock being {clock:#x}"),
        )
    }

    /// The client ids a `PULL_RSP` to `dest` this step can be for: the one
    /// named by the datagram from `dest` this step handed the relay, and
    /// those the relay holds at `dest`.
    fn challenge_ids(&self, dest: SocketAddr) -> BTreeSet<u32> {
        let named = self.step_from.and_then(|(from, id)| id.filter(|_| from == dest));
        let held = self.previous.iter().chain(&self.bindings).filter(|b| b.address == dest).map(|b| b.id.get());
        named.into_iter().chain(held).collect()
    }

    /// In a step that handed the relay RTCP, a `TS_DATA` to `dest` is a
    /// retransmission: only to the address of a client whose NACK it
    /// carried, which the relay held there (§2.1).
    fn check_retransmission(&mut self, dest: SocketAddr, ssrc: u32, sequence: u16) -> Result<Retransmission, Breach> {
        let Some(step) = self.step_rtcp.as_mut() else { return Ok(Retransmission::NotAsked) };
        if step.bound_nacks == 0 {
            return Err(Breach {
                invariant: Invariant::NackSource,
                detail: format!(
                    "TS_DATA seq {sequence} to {dest} in answer to RTCP from {}, where the relay held no client its NACKs name",
                    step.from
                ),
            });
        }
        if dest != step.from {
            return Err(Breach {
                invariant: Invariant::NackSource,
                detail: format!("TS_DATA seq {sequence} to {dest} in answer to a NACK from {}", step.from),
            });
        }
        Ok(match step.allowance.get_mut(&(ssrc, sequence)) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Retransmission::Allowed
            }
            _ => Retransmission::Unlisted,
        })
    }

    fn check_forward(
        &mut self,
        now: Instant,
        peer: Option<PeerId>,
        dest: SocketAddr,
        ssrc: u32,
        data: &Bytes,
    ) -> Result<(), Breach> {
        self.seen_ts_forwards += 1;
        let (live_id, owner) = match self.stream_of.get(&ssrc) {
            Some((id, owner)) => (id.as_str(), *owner),
            None => {
                return breach(
                    Invariant::NotFromPublisher,
                    format!("TS_DATA with SSRC {ssrc:#x} the relay never granted, to {dest}"),
                );
            }
        };
        // Acked by the relay's own state, before or after this step.
        let holders: BTreeSet<u32> = self
            .previous
            .iter()
            .chain(&self.bindings)
            .filter(|b| b.address == dest && b.acked.iter().any(|s| s == live_id))
            .map(|b| b.id.get())
            .collect();
        // After a stop, its last subscribers may still NACK its tail (§2.5).
        let drain = Duration::from_millis(self.config.stopped_nack_ms);
        let drained = holders.is_empty()
            && self.step_rtcp.is_some()
            && self.stopped_to.get(&(dest, live_id.to_owned())).is_some_and(|&at| now < at + drain);
        if holders.is_empty() && !drained {
            return breach(
                Invariant::NotAcked,
                format!("TS_DATA of {live_id} to {dest}, where the relay holds no client that acked it"),
            );
        }
        if !drained && !holders.iter().any(|&id| self.trust.verified_for(dest, id)) {
            return breach(
                Invariant::AddressMove,
                format!("TS_DATA of {live_id} to {dest}, which the wire never verified for client {holders:x?}"),
            );
        }
        if let Some(r) = self.rebinds.iter_mut().find(|r| r.to == dest && r.moved.is_none()) {
            r.moved = Some(now);
        }
        let sequence = u16::from_be_bytes([data[2], data[3]]);
        let retransmission = self.check_retransmission(dest, ssrc, sequence)?;
        let live_id = self.stream_of[&ssrc].0.as_str();
        // Peers are known by every address they send from.
        let peer = peer.unwrap_or(PeerId::MAX);
        let Some(index) = payload_index(data) else {
            return breach(Invariant::NotFromPublisher, format!("{}-byte TS_DATA of {live_id} to {dest}", data.len()));
        };
        let Some(sent) = self.sent.get(&index) else {
            return breach(Invariant::NotFromPublisher, format!("TS_DATA #{index} of {live_id} to {dest}: never sent"));
        };
        if sent.from != owner {
            return breach(
                Invariant::NotFromPublisher,
                format!("TS_DATA #{index} from {}, stream owned by {owner}", sent.from),
            );
        }
        if !sent.is(data) {
            return breach(Invariant::Altered, format!("TS_DATA #{index} to {dest} differs from what was sent"));
        }
        let first_copy = self.forwarded.insert((peer, index));
        let again = retransmission == Retransmission::Allowed || !self.step_ts_data;
        self.leg_bytes.pull[usize::from(again)] += data.len() as u64;
        match retransmission {
            // A second copy is legitimate only as the answer to that
            // subscriber's own NACK (legacy subscribers never send one).
            Retransmission::NotAsked | Retransmission::Unlisted if !first_copy => breach(
                Invariant::DuplicateForward,
                format!("TS_DATA #{index} of {live_id} to {dest} again, not NACKed"),
            ),
            Retransmission::Unlisted => breach(
                Invariant::NackSource,
                format!("TS_DATA #{index} of {live_id} to {dest} in answer to a NACK that does not list it"),
            ),
            _ => Ok(()),
        }
    }
}
