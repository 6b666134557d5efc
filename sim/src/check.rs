//! The invariant checker. It watches the wire, never the relay's insides:
//! what each peer sends, what the relay receives and transmits, and what
//! each peer receives, plus the relay's [`StateSizes`], counters and
//! client bindings (which client id it holds at which address, and which
//! streams it accepted an ack for) after every step. What the relay claims
//! is checked against the wire: an ack it holds must have been sent, and
//! an address it sends a client's data to must have been verified on the
//! wire (the `trust` module). Any breach ends the run with the seed and step.

mod trust;

use crate::peer::payload_index;
use crate::report::{ClientDelivery, Delivery, Percentiles};
use crate::scenario::{Fault, PeerId, PeerOp, PeerSpec, Scenario};
use bytes::Bytes;
use rtprelay_core::PullEvent;
use rtprelay_core::client::reorder::ReorderStats;
use rtprelay_core::packet::rtcp::{self, RtcpPacket};
use rtprelay_core::packet::{is_rtcp, pt, text};
use rtprelay_core::relay::{ClientBinding, Counters, StateSizes};
use rtprelay_core::{Config, Instant, Port, Transmit};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;
use trust::Trust;

/// The rules the relay must keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invariant {
    /// `TS_DATA` went to an address where the relay held no client that
    /// had acknowledged that stream (its own state, before or after the
    /// step), or the relay holds an acknowledgement no `SSRC_ACK` gave.
    NotAcked,
    /// The same `TS_DATA` went to one subscriber twice.
    DuplicateForward,
    /// `TS_DATA` was forwarded that the authenticated publisher never sent.
    NotFromPublisher,
    /// A forwarded `TS_DATA` differs from the bytes the publisher sent.
    Altered,
    /// A datagram went to a peer from a socket that peer does not talk to.
    WrongPort,
    /// A datagram went to an address that never sent the relay anything.
    Unsolicited,
    /// Toward an address not verified on the wire, the relay sent more
    /// bytes than it had received from it (docs/protocol.md §2.3 amplification).
    Amplification,
    /// A client's data or replies went to an address the wire never
    /// verified for that client: an address change without an echoed
    /// challenge (§2.3).
    AddressMove,
    /// A retransmission answered RTCP that did not come from the bound
    /// address of the client its NACK names, went elsewhere than to that
    /// address, or was of a packet the NACK did not list (§2.1).
    NackSource,
    /// The relay's state outgrew its configured or scenario bounds.
    StateBounds,
    /// The relay's counters disagree with what it was seen to send.
    CountersDisagree,
    /// On a lossless network, a packet sent after a subscriber's ack never
    /// reached it (or, for a pull client, a packet pushed after its first
    /// delivery was never emitted, outside a relay restart's gap).
    Incomplete,
    /// A pull client emitted stream data out of sequence order or twice.
    ClientOrder,
    /// A pull client emitted data that is not byte for byte a packet the
    /// publisher pushed.
    ClientAltered,
    /// After a relay restart, a pull client that had data got none pushed
    /// after the restart within [`RESTART_RECOVERY`] (lossless) or
    /// [`RESTART_RECOVERY_LOSSY`].
    NotRecovered,
}

/// The longest a pull client may go, after a relay restart, without data
/// pushed after the restart (virtual time), on a lossless network.
pub const RESTART_RECOVERY: Duration = Duration::from_secs(5);
/// The same on a lossy network. The relay answers an unknown client id at
/// most once a second per source, so with heartbeats every second about
/// every other one goes unanswered, and each answer may be lost: a sweep
/// at 5 % loss found a client whose three `CLIENT_UNKNOWN` in 5 s were all
/// lost (seed 24, restart at 12 s).
pub const RESTART_RECOVERY_LOSSY: Duration = Duration::from_secs(15);

/// A broken invariant, with what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    /// Which rule.
    pub invariant: Invariant,
    /// What happened.
    pub detail: String,
}

fn breach(invariant: Invariant, detail: impl Into<String>) -> Result<(), Breach> {
    Err(Breach { invariant, detail: detail.into() })
}

/// A `TS_DATA` the publisher put on the wire.
struct Sent {
    bytes: Bytes,
    at: Instant,
    from: SocketAddr,
}

/// Watches one run.
pub struct Checker {
    config: Config,
    credentials: usize,
    peers: Vec<PeerSpec>,
    addrs: BTreeMap<SocketAddr, PeerId>,
    /// The socket each address last sent to, as the relay received it.
    last_port: BTreeMap<SocketAddr, Port>,
    /// SSRCs the relay granted (`AUTH_OK`), by stream and the reverse, with
    /// the address each grant went to.
    ssrc_of: BTreeMap<String, u32>,
    stream_of: BTreeMap<u32, (String, SocketAddr)>,
    /// (client id, stream) pairs some `SSRC_ACK` named, for this relay
    /// process.
    wire_acks: BTreeSet<(u32, String)>,
    /// The relay's client bindings after the last step, and before it.
    bindings: Vec<ClientBinding>,
    previous: Vec<ClientBinding>,
    /// What the wire proves about addresses.
    trust: Trust,
    /// The address and the client id named by the datagram this step
    /// handed the relay, if any.
    step_from: Option<(SocketAddr, Option<u32>)>,
    /// The RTCP datagram this step handed the relay, if any.
    step_rtcp: Option<RtcpStep>,
    /// First acknowledgement of each (subscriber, stream), as the relay got it.
    first_ack: BTreeMap<(PeerId, String), Instant>,
    sent: BTreeMap<u64, Sent>,
    forwarded: BTreeSet<(PeerId, u64)>,
    /// First arrival of each packet at each subscriber.
    arrived: BTreeMap<(PeerId, u64), Instant>,
    network_duplicates: BTreeMap<PeerId, u64>,
    seen_tx_datagrams: u64,
    seen_ts_forwards: u64,
    /// What each pull client emitted, by subscriber.
    clients: BTreeMap<PeerId, ClientLog>,
    /// Relay restarts, and when each pull client that had data before a
    /// restart must have had fresh data again.
    restarts: Vec<Instant>,
    /// NAT rebindings (from the faults), in time order.
    rebinds: Vec<Rebinding>,
    recovery_due: BTreeMap<PeerId, Instant>,
    /// When the last publisher and each subscriber stop (from the ops).
    stops: BTreeMap<PeerId, Instant>,
    lossless: bool,
    /// The first breach found outside a `Result`-returning call.
    pending: Option<Breach>,
}

/// How long before a NAT rebinding and after the move it leads to a packet
/// may still be lost to it (in flight, or the client's reorder window).
const REBIND_SLACK: Duration = Duration::from_secs(1);

/// A NAT rebinding of a peer, and when data first followed it.
struct Rebinding {
    peer: PeerId,
    at: Instant,
    to: SocketAddr,
    /// The first `TS_DATA` the relay sent to `to`.
    moved: Option<Instant>,
}

impl Rebinding {
    /// Whether a packet pushed at `pushed` to `peer` may have gone to the
    /// old address: from just before the rebinding to just after the move.
    fn may_lose(&self, peer: PeerId, pushed: Instant) -> bool {
        self.peer == peer
            && pushed + REBIND_SLACK >= self.at
            && self.moved.is_none_or(|moved| pushed <= moved + REBIND_SLACK)
    }
}

/// An RTCP datagram handed to the relay: what it may retransmit in answer.
struct RtcpStep {
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

/// What one pull client emitted.
#[derive(Default)]
struct ClientLog {
    /// Data events: (pushed at, emitted at, seq, publisher's index), in
    /// order.
    data: Vec<(Instant, Instant, u16, u64)>,
    stream_stops: u64,
    other_events: u64,
    /// When the first data pushed after each restart was emitted.
    recovered_at: Vec<Instant>,
}

impl Checker {
    /// A checker for `scenario`.
    pub fn new(scenario: &Scenario) -> Self {
        Checker {
            config: scenario.relay.clone(),
            credentials: scenario.credentials.len(),
            peers: scenario.peers.clone(),
            addrs: (0..scenario.peers.len())
                .flat_map(|i| scenario.addrs_of(i).into_iter().map(move |a| (a, i)))
                .collect(),
            last_port: BTreeMap::new(),
            ssrc_of: BTreeMap::new(),
            stream_of: BTreeMap::new(),
            wire_acks: BTreeSet::new(),
            bindings: Vec::new(),
            previous: Vec::new(),
            trust: Trust::new(Duration::from_millis(scenario.relay.challenge_validity_ms)),
            step_from: None,
            step_rtcp: None,
            first_ack: BTreeMap::new(),
            sent: BTreeMap::new(),
            forwarded: BTreeSet::new(),
            arrived: BTreeMap::new(),
            network_duplicates: BTreeMap::new(),
            seen_tx_datagrams: 0,
            seen_ts_forwards: 0,
            clients: BTreeMap::new(),
            restarts: Vec::new(),
            rebinds: scenario
                .faults
                .iter()
                .filter_map(|f| match *f {
                    Fault::Rebind { at, peer, to } => Some(Rebinding { peer, at: scenario.at(at), to, moved: None }),
                    Fault::RestartRelay { .. } => None,
                })
                .collect(),
            recovery_due: BTreeMap::new(),
            stops: scenario
                .ops
                .iter()
                .filter(|op| op.action == PeerOp::Stop)
                .map(|op| (op.peer, scenario.at(op.at)))
                .collect(),
            lossless: scenario.link.is_lossless(),
            pending: None,
        }
    }

    /// A legacy or pull-client subscriber.
    fn is_subscriber(&self, peer: PeerId) -> bool {
        matches!(self.peers.get(peer), Some(PeerSpec::Subscriber(_) | PeerSpec::ClientSubscriber(_)))
    }

    fn is_legacy_subscriber(&self, peer: PeerId) -> bool {
        matches!(self.peers.get(peer), Some(PeerSpec::Subscriber(_)))
    }

    fn is_client_subscriber(&self, peer: PeerId) -> bool {
        matches!(self.peers.get(peer), Some(PeerSpec::ClientSubscriber(_)))
    }

    /// A peer put a datagram on the wire (before the network had its way).
    /// A push client's retransmission keeps the packet's first send time.
    pub fn on_peer_send(&mut self, now: Instant, peer: PeerId, data: &Bytes) {
        if self.peers.get(peer).is_some_and(PeerSpec::is_publisher)
            && data.get(1) == Some(&pt::TS_DATA)
            && let Some(index) = payload_index(data)
        {
            let from = self.peers[peer].addr();
            self.sent.entry(index).or_insert(Sent { bytes: data.clone(), at: now, from });
        }
    }

    /// A new step begins (before its event is dispatched).
    pub fn begin_step(&mut self) {
        self.step_from = None;
        self.step_rtcp = None;
    }

    /// The relay's client bindings after a step, before its transmits are
    /// drained. Every acknowledgement it holds must be one an `SSRC_ACK`
    /// on the wire gave it.
    pub fn on_relay_state(&mut self, bindings: Vec<ClientBinding>) -> Result<(), Breach> {
        self.previous = std::mem::replace(&mut self.bindings, bindings);
        for b in &self.bindings {
            if let Some(live_id) = b.acked.iter().find(|s| !self.wire_acks.contains(&(b.id, (*s).clone()))) {
                return breach(
                    Invariant::NotAcked,
                    format!(
                        "the relay holds client {:#x} at {} acked for {live_id}, which no SSRC_ACK said",
                        b.id, b.address
                    ),
                );
            }
        }
        Ok(())
    }

    /// The relay is handed a datagram.
    pub fn on_relay_receive(&mut self, now: Instant, port: Port, from: SocketAddr, data: &[u8]) {
        self.last_port.insert(from, port);
        self.trust.on_receive(now, from, data);
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
            if !self.bindings.iter().any(|b| b.id == nack.sender_ssrc && b.address == from) {
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
                    pt::TS_DATA => self.check_forward(now, peer, dest, ssrc, segment)?,
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

    /// The client ids a `PULL_RSP` to `dest` this step can be for: the one
    /// named by the datagram from `dest` this step handed the relay, and
    /// those the relay holds at `dest`.
    fn challenge_ids(&self, dest: SocketAddr) -> BTreeSet<u32> {
        let named = self.step_from.and_then(|(from, id)| id.filter(|_| from == dest));
        let held = self.previous.iter().chain(&self.bindings).filter(|b| b.address == dest).map(|b| b.id);
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
            .map(|b| b.id)
            .collect();
        if holders.is_empty() {
            return breach(
                Invariant::NotAcked,
                format!("TS_DATA of {live_id} to {dest}, where the relay holds no client that acked it"),
            );
        }
        if !holders.iter().any(|&id| self.trust.verified_for(dest, id)) {
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
        if sent.bytes != *data {
            return breach(Invariant::Altered, format!("TS_DATA #{index} to {dest} differs from what was sent"));
        }
        let first_copy = self.forwarded.insert((peer, index));
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

    /// The relay process restarted: its counters start again, and it knows
    /// no stream, SSRC or acknowledgement.
    pub fn on_relay_restart(&mut self, now: Instant) {
        self.seen_tx_datagrams = 0;
        self.seen_ts_forwards = 0;
        self.wire_acks.clear();
        self.bindings.clear();
        self.previous.clear();
        self.trust.clear();
        self.ssrc_of.clear();
        self.stream_of.clear();
        self.restarts.push(now);
        let due = now + if self.lossless { RESTART_RECOVERY } else { RESTART_RECOVERY_LOSSY };
        // Only where both ends keep running long enough to show it.
        let publishers_run = self
            .peers
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_publisher())
            .all(|(i, _)| self.stops.get(&i).is_some_and(|&stop| stop > due));
        for (&peer, log) in &self.clients {
            let runs = self.stops.get(&peer).is_some_and(|&stop| stop > due);
            if publishers_run && runs && !log.data.is_empty() {
                self.recovery_due.insert(peer, due);
            }
        }
    }

    /// An event a pull client emitted at `now`. Data must come in sequence
    /// order, once, byte for byte as pushed; on a lossless network with no
    /// restart in between, with no gap.
    pub fn on_client_event(&mut self, now: Instant, peer: PeerId, event: &PullEvent) {
        if self.pending.is_none()
            && let Err(b) = self.client_event(now, peer, event)
        {
            self.pending = Some(b);
        }
    }

    fn client_event(&mut self, now: Instant, peer: PeerId, event: &PullEvent) -> Result<(), Breach> {
        let log = self.clients.entry(peer).or_default();
        let PullEvent::PullStreamData { live_id, seq, data } = event else {
            match event {
                PullEvent::StreamStop { .. } => log.stream_stops += 1,
                _ => log.other_events += 1,
            }
            return Ok(());
        };
        let index = data.get(..8).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")));
        let Some((index, sent)) = index.and_then(|i| Some((i, self.sent.get(&i)?))) else {
            return breach(
                Invariant::ClientAltered,
                format!("subscriber {peer}: {live_id} seq {seq} was never pushed"),
            );
        };
        if sent.bytes.get(12..) != Some(&data[..]) {
            return breach(
                Invariant::ClientAltered,
                format!("subscriber {peer}: {live_id} seq {seq} (#{index}) differs from what was pushed"),
            );
        }
        if let Some(&(last_pushed, _, last_seq, last_index)) = log.data.last() {
            let step = seq.wrapping_sub(last_seq);
            if step == 0 || step >= 0x8000 || index <= last_index {
                return breach(
                    Invariant::ClientOrder,
                    format!(
                        "subscriber {peer}: {live_id} seq {seq} (#{index}) emitted after seq {last_seq} (#{last_index})"
                    ),
                );
            }
            // Packets pushed after it may have died with the relay, or gone
            // to the client's old address after a NAT rebinding.
            let restarted = self.restarts.iter().any(|&r| r > last_pushed && r <= now);
            let rebound = (last_index + 1..index)
                .all(|i| self.sent.get(&i).is_some_and(|s| self.rebinds.iter().any(|r| r.may_lose(peer, s.at))));
            if self.lossless && index != last_index + 1 && !restarted && !rebound {
                return breach(
                    Invariant::Incomplete,
                    format!("subscriber {peer}: {live_id} #{index} emitted right after #{last_index} (lossless)"),
                );
            }
        }
        let after_restart = self.restarts.last().is_some_and(|&r| sent.at >= r);
        if after_restart && log.recovered_at.len() < self.restarts.len() {
            log.recovered_at.push(now);
            self.recovery_due.remove(&peer);
        }
        log.data.push((sent.at, now, *seq, index));
        Ok(())
    }

    /// A peer receives a datagram from the relay.
    pub fn on_peer_receive(&mut self, now: Instant, peer: PeerId, data: &[u8]) {
        if !self.is_legacy_subscriber(peer) || data.get(1) != Some(&pt::TS_DATA) {
            return;
        }
        if let Some(index) = payload_index(data) {
            match self.arrived.entry((peer, index)) {
                Entry::Vacant(first) => {
                    first.insert(now);
                }
                Entry::Occupied(_) => *self.network_duplicates.entry(peer).or_default() += 1,
            }
        }
    }

    /// After every step, with the relay fully drained; `now` is the step's
    /// time.
    pub fn after_step(&self, now: Instant, sizes: StateSizes, counters: &Counters) -> Result<(), Breach> {
        if let Some(b) = &self.pending {
            return Err(b.clone());
        }
        if let Some((peer, due)) = self.recovery_due.iter().find(|(_, due)| **due < now) {
            let restart = *self.restarts.last().expect("a restart set the deadline");
            return breach(
                Invariant::NotRecovered,
                format!(
                    "subscriber {peer}: no data pushed after the relay restart (at {:?}) by {:?} later",
                    restart,
                    *due - restart
                ),
            );
        }
        let c = &self.config;
        let ids = counters.client_ids_issued as usize;
        let bounds = [
            ("clients", sizes.clients, c.max_clients.min(ids)),
            ("streams", sizes.streams, self.credentials),
            ("pending_reassemblies", sizes.pending_reassemblies, c.max_pending_reassemblies.min(sizes.clients)),
            ("queued_datagrams after draining", sizes.queued_datagrams, 0),
            ("destinations after draining (pinned only)", sizes.destinations, sizes.clients),
            ("rate_limited_sources", sizes.rate_limited_sources, c.max_rate_limited_sources),
            // At most one live or stale deadline per timer kind and owner:
            // per client id heartbeat, reassembly and resend; per stream
            // idle, push NACK and tail stop; one for repeats.
            ("timers", sizes.timers, 3 * ids + 3 * sizes.streams + 1),
        ];
        for (name, value, bound) in bounds {
            if value > bound {
                return breach(Invariant::StateBounds, format!("{name} = {value} > {bound} ({sizes:?})"));
            }
        }
        if counters.tx_datagrams != self.seen_tx_datagrams + counters.tx_queue_overflow {
            return breach(
                Invariant::CountersDisagree,
                format!(
                    "tx_datagrams {} but {} seen and {} overflowed",
                    counters.tx_datagrams, self.seen_tx_datagrams, counters.tx_queue_overflow
                ),
            );
        }
        // Every copy of TS_DATA is a fan-out, a join replay (2.5) or a
        // retransmission (2.1).
        let counted = counters.ts_data_forwarded + counters.join_replayed + counters.retransmitted;
        if counters.tx_queue_overflow == 0 && counted != self.seen_ts_forwards {
            return breach(
                Invariant::CountersDisagree,
                format!(
                    "ts_data_forwarded {} + join_replayed {} + retransmitted {} but {} seen",
                    counters.ts_data_forwarded, counters.join_replayed, counters.retransmitted, self.seen_ts_forwards
                ),
            );
        }
        Ok(())
    }

    /// Packets the publisher sent.
    pub fn sent(&self) -> u64 {
        self.sent.len() as u64
    }

    /// Delivery per subscriber of the published stream(s), in peer order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        let mut out = Vec::new();
        for (peer, spec) in self.peers.iter().enumerate() {
            let PeerSpec::Subscriber(sub) = spec else { continue };
            debug_assert!(self.is_legacy_subscriber(peer));
            let mut d = Delivery {
                peer,
                port: sub.port,
                acked_at: None,
                expected: 0,
                delivered_expected: 0,
                delivered: self.arrived.range((peer, 0)..=(peer, u64::MAX)).count() as u64,
                network_duplicates: self.network_duplicates.get(&peer).copied().unwrap_or(0),
            };
            for (index, sent) in &self.sent {
                let Some(ack) = self.ack_of_sender(peer, sent.from) else { continue };
                d.acked_at = Some(ack);
                if sent.at >= ack {
                    d.expected += 1;
                    d.delivered_expected += u64::from(self.arrived.contains_key(&(peer, *index)));
                }
            }
            out.push(d);
        }
        out
    }

    /// When `peer`'s first ack of the stream published from `from` reached
    /// the relay.
    fn ack_of_sender(&self, peer: PeerId, from: SocketAddr) -> Option<Instant> {
        self.stream_of
            .values()
            .filter(|(_, owner)| *owner == from)
            .filter_map(|(id, _)| self.first_ack.get(&(peer, id.clone())).copied())
            .min()
    }

    /// On a lossless network every packet sent after a subscriber's ack
    /// must have reached it.
    pub fn check_complete(&self) -> Result<(), Breach> {
        for d in self.deliveries() {
            if d.delivered_expected < d.expected {
                let missing = self
                    .sent
                    .iter()
                    .find(|(i, s)| {
                        self.ack_of_sender(d.peer, s.from).is_some_and(|a| s.at >= a)
                            && !self.arrived.contains_key(&(d.peer, **i))
                    })
                    .map(|(i, _)| *i);
                return breach(
                    Invariant::Incomplete,
                    format!(
                        "subscriber {} got {} of {} packets sent after its ack (first missing #{})",
                        d.peer,
                        d.delivered_expected,
                        d.expected,
                        missing.unwrap_or_default()
                    ),
                );
            }
        }
        Ok(())
    }

    /// On a lossless network every packet pushed after a pull client's
    /// first delivery must have been emitted, except those lost in a relay
    /// restart's gap (pushed between the last data emitted before the
    /// restart and the first after it), and a pull client that ran while
    /// data was pushed must have had some. The restart deadlines are
    /// checked whatever the network.
    pub fn check_clients_complete(&self, lossless: bool) -> Result<(), Breach> {
        if let Some(b) = &self.pending {
            return Err(b.clone());
        }
        if let Some((peer, _)) = self.recovery_due.first_key_value() {
            return breach(Invariant::NotRecovered, format!("subscriber {peer}: no data pushed after the restart"));
        }
        if !lossless {
            return Ok(());
        }
        for peer in (0..self.peers.len()).filter(|&p| self.is_client_subscriber(p)) {
            let missing = self.client_missing(peer);
            if let Some(first) = missing.first() {
                return breach(
                    Invariant::Incomplete,
                    format!(
                        "subscriber {peer}: {} packet(s) pushed after its first delivery never emitted (first #{first})",
                        missing.len()
                    ),
                );
            }
            let empty = self.clients.get(&peer).is_none_or(|log| log.data.is_empty());
            if empty && !self.sent.is_empty() {
                return breach(Invariant::Incomplete, format!("subscriber {peer}: no data emitted at all"));
            }
        }
        Ok(())
    }

    /// Indices pushed after `peer`'s first emitted one that it never
    /// emitted, outside restart gaps and the gaps of its NAT rebindings
    /// (data goes to the old address until the new one is verified).
    fn client_missing(&self, peer: PeerId) -> Vec<u64> {
        let Some(log) = self.clients.get(&peer).filter(|log| !log.data.is_empty()) else { return Vec::new() };
        let mut missing = Vec::new();
        for pair in log.data.windows(2) {
            let ((a_pushed, _, _, a), (_, b_at, _, b)) = (pair[0], pair[1]);
            if !self.restarts.iter().any(|&r| r > a_pushed && r <= b_at) {
                missing.extend(a + 1..b);
            }
        }
        let (last_pushed, _, _, last) = *log.data.last().expect("not empty");
        // A restart after the last emitted packet was pushed excuses the
        // tail (the client had no chance to recover, or NotRecovered says so).
        if !self.restarts.iter().any(|&r| r > last_pushed) {
            missing.extend(self.sent.range(last + 1..).map(|(i, _)| *i));
        }
        missing.retain(|i| !self.sent.get(i).is_some_and(|s| self.rebinds.iter().any(|r| r.may_lose(peer, s.at))));
        missing
    }

    /// Delivery per pull client, in peer order; `stats` gives each one's
    /// reorder counters.
    pub fn client_deliveries(&self, stats: impl Fn(PeerId) -> Option<ReorderStats>) -> Vec<ClientDelivery> {
        let mut out = Vec::new();
        for (peer, spec) in self.peers.iter().enumerate() {
            let PeerSpec::ClientSubscriber(sub) = spec else { continue };
            let empty = ClientLog::default();
            let log = self.clients.get(&peer).unwrap_or(&empty);
            let first = log.data.first().map(|d| d.1);
            let mut latencies: Vec<Duration> = log
                .data
                .iter()
                .filter_map(|&(_, at, _, index)| {
                    let sent = self.sent.get(&index)?;
                    first.is_some_and(|f| sent.at >= f).then(|| at - sent.at)
                })
                .collect();
            latencies.sort();
            out.push(ClientDelivery {
                peer,
                port: sub.port,
                delivered: log.data.len() as u64,
                stats: stats(peer).unwrap_or_default(),
                stream_stops: log.stream_stops,
                missing: self.client_missing(peer).len() as u64,
                recovery: log.recovered_at.iter().zip(&self.restarts).map(|(&at, &r)| at - r).collect(),
                latency: Percentiles::of_sorted(&latencies),
            });
        }
        out
    }

    /// Publisher-to-subscriber latency of the first arrival of every packet
    /// sent after the subscriber's ack, sorted. (Packets replayed from
    /// history on join are older by design and would skew the tail.)
    pub fn latencies(&self) -> Vec<Duration> {
        let mut out: Vec<Duration> = self
            .arrived
            .iter()
            .filter_map(|(&(peer, index), &at)| {
                let sent = self.sent.get(&index)?;
                let acked = self.ack_of_sender(peer, sent.from)?;
                (sent.at >= acked).then(|| at - sent.at)
            })
            .collect();
        out.sort();
        out
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invariant::NotAcked => "TS_DATA to a subscriber that did not ack the stream",
            Invariant::DuplicateForward => "TS_DATA forwarded twice to one subscriber",
            Invariant::NotFromPublisher => "TS_DATA forwarded that the authenticated publisher never sent",
            Invariant::Altered => "TS_DATA forwarded with bytes other than those sent",
            Invariant::WrongPort => "datagram sent from a socket the peer does not use",
            Invariant::Unsolicited => "datagram sent to an address that never sent anything",
            Invariant::Amplification => "more bytes to an unverified address than it sent",
            Invariant::AddressMove => "client data to an address not verified for that client",
            Invariant::NackSource => "retransmission not asked for by a NACK from the bound address",
            Invariant::StateBounds => "relay state beyond its bounds",
            Invariant::CountersDisagree => "relay counters disagree with what it sent",
            Invariant::Incomplete => "lossless run with undelivered packets",
            Invariant::ClientOrder => "pull client data out of sequence order or duplicated",
            Invariant::ClientAltered => "pull client data other than what was pushed",
            Invariant::NotRecovered => "pull client without fresh data after a relay restart",
        })
    }
}
