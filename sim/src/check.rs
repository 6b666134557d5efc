//! The invariant checker. It watches the wire, never the relay's insides:
//! what each peer sends, what the relay receives and transmits, and what
//! each peer receives, plus the relay's [`StateSizes`] and counters after
//! every step. Any breach ends the run with the seed and step.

use crate::peer::payload_index;
use crate::scenario::{PeerId, PeerSpec, Scenario};
use bytes::Bytes;
use rtprelay_core::packet::{pt, text};
use rtprelay_core::relay::{Counters, StateSizes};
use rtprelay_core::{Config, Instant, Port, Transmit};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// The rules the relay must keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invariant {
    /// `TS_DATA` went to a peer that had not acknowledged that stream.
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
    /// The relay's state outgrew its configured or scenario bounds.
    StateBounds,
    /// The relay's counters disagree with what it was seen to send.
    CountersDisagree,
    /// On a lossless network, a packet sent after a subscriber's ack never
    /// reached it.
    Incomplete,
}

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

/// Delivery to one subscriber, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The subscriber.
    pub peer: PeerId,
    /// The relay socket it talks to.
    pub port: Port,
    /// When the relay first received its ack of the published stream.
    pub acked_at: Option<Instant>,
    /// Packets the publisher sent at or after that ack.
    pub expected: u64,
    /// Of those, the ones that arrived.
    pub delivered_expected: u64,
    /// Every distinct packet that arrived (some sent before the ack may
    /// have reached the relay after it).
    pub delivered: u64,
    /// Extra copies the network duplicated on the way to it.
    pub network_duplicates: u64,
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
    /// Streams each subscriber acknowledged (relay-side) and still holds.
    acked: BTreeMap<PeerId, BTreeSet<String>>,
    /// First acknowledgement of each (subscriber, stream), as the relay got it.
    first_ack: BTreeMap<(PeerId, String), Instant>,
    sent: BTreeMap<u64, Sent>,
    forwarded: BTreeSet<(PeerId, u64)>,
    /// First arrival of each packet at each subscriber.
    arrived: BTreeMap<(PeerId, u64), Instant>,
    network_duplicates: BTreeMap<PeerId, u64>,
    seen_tx_datagrams: u64,
    seen_ts_forwards: u64,
}

impl Checker {
    /// A checker for `scenario`.
    pub fn new(scenario: &Scenario) -> Self {
        Checker {
            config: scenario.relay.clone(),
            credentials: scenario.credentials.len(),
            peers: scenario.peers.clone(),
            addrs: scenario.peers.iter().enumerate().map(|(i, p)| (p.addr(), i)).collect(),
            last_port: BTreeMap::new(),
            ssrc_of: BTreeMap::new(),
            stream_of: BTreeMap::new(),
            acked: BTreeMap::new(),
            first_ack: BTreeMap::new(),
            sent: BTreeMap::new(),
            forwarded: BTreeSet::new(),
            arrived: BTreeMap::new(),
            network_duplicates: BTreeMap::new(),
            seen_tx_datagrams: 0,
            seen_ts_forwards: 0,
        }
    }

    fn is_subscriber(&self, peer: PeerId) -> bool {
        matches!(self.peers.get(peer), Some(PeerSpec::Subscriber(_)))
    }

    /// A peer put a datagram on the wire (before the network had its way).
    pub fn on_peer_send(&mut self, now: Instant, peer: PeerId, data: &Bytes) {
        let is_publisher = matches!(self.peers.get(peer), Some(PeerSpec::Publisher(_)));
        if is_publisher
            && data.get(1) == Some(&pt::TS_DATA)
            && let Some(index) = payload_index(data)
        {
            let from = self.peers[peer].addr();
            self.sent.insert(index, Sent { bytes: data.clone(), at: now, from });
        }
    }

    /// The relay is handed a datagram.
    pub fn on_relay_receive(&mut self, now: Instant, port: Port, from: SocketAddr, data: &[u8]) {
        self.last_port.insert(from, port);
        let Some(&peer) = self.addrs.get(&from) else { return };
        if !self.is_subscriber(peer) || data.first() != Some(&0x80) {
            return;
        }
        match data.get(1) {
            Some(&pt::SSRC_ACK) => {
                for id in text::split_ids_lossy(&data[12.min(data.len())..]) {
                    if self.ssrc_of.contains_key(id) {
                        self.acked.entry(peer).or_default().insert(id.to_owned());
                        self.first_ack.entry((peer, id.to_owned())).or_insert(now);
                    }
                }
            }
            Some(&pt::STOP_PULL_REQ) => {
                self.acked.remove(&peer);
            }
            _ => {}
        }
    }

    /// The relay transmits; checked segment by segment, in order.
    pub fn on_relay_transmit(&mut self, t: &Transmit) -> Result<(), Breach> {
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
            if segment.len() < 12 {
                continue;
            }
            let ssrc = u32::from_be_bytes([segment[8], segment[9], segment[10], segment[11]]);
            let payload = &segment[12..];
            match segment[1] {
                pt::AUTH_OK => {
                    let id = String::from_utf8_lossy(payload).into_owned();
                    self.ssrc_of.insert(id.clone(), ssrc);
                    self.stream_of.insert(ssrc, (id, dest));
                }
                pt::STREAM_STOPPED => {
                    if let (Some(peer), Ok(id)) = (peer, std::str::from_utf8(payload))
                        && let Some(set) = self.acked.get_mut(&peer)
                    {
                        set.remove(id);
                    }
                }
                pt::TS_DATA => self.check_forward(peer, dest, ssrc, segment)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn check_forward(&mut self, peer: Option<PeerId>, dest: SocketAddr, ssrc: u32, data: &Bytes) -> Result<(), Breach> {
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
        let acked = peer.is_some_and(|p| self.acked.get(&p).is_some_and(|set| set.contains(live_id)));
        if !acked {
            return breach(
                Invariant::NotAcked,
                format!("TS_DATA of {live_id} to {dest}, which has not acknowledged it"),
            );
        }
        let peer = peer.expect("acked peers are known");
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
        if !self.forwarded.insert((peer, index)) {
            return breach(Invariant::DuplicateForward, format!("TS_DATA #{index} of {live_id} to {dest} again"));
        }
        Ok(())
    }

    /// A peer receives a datagram from the relay.
    pub fn on_peer_receive(&mut self, now: Instant, peer: PeerId, data: &[u8]) {
        if !self.is_subscriber(peer) || data.get(1) != Some(&pt::TS_DATA) {
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

    /// After every step, with the relay fully drained.
    pub fn after_step(&self, sizes: StateSizes, counters: &Counters) -> Result<(), Breach> {
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
            Invariant::StateBounds => "relay state beyond its bounds",
            Invariant::CountersDisagree => "relay counters disagree with what it sent",
            Invariant::Incomplete => "lossless run with undelivered packets",
        })
    }
}
