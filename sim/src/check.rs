//! The invariant checker. It watches the wire, never the relay's insides:
//! what each peer sends, what the relay receives and transmits, and what
//! each peer receives, plus the relay's [`StateSizes`], counters and
//! client bindings (which client id it holds at which address, and which
//! streams it accepted an ack for) after every step. What the relay claims
//! is checked against the wire: an ack it holds must have been sent, and
//! an address it sends a client's data to must have been verified on the
//! wire (the `trust` module). Any breach ends the run with the seed and step.
//!
//! [`Checker`] is the façade the step loop calls; each seam adds its part
//! of it in its own module: `wire` (what the relay receives and sends:
//! forwarding, duplicates, amplification, NACK answers, the relay's clock
//! in bytes 4-7), `delivery` (what
//! reached the legacy subscribers), `client` (the pull clients' events and
//! restart recovery) and `bounds` (state sizes and counters).

mod bounds;
mod client;
mod delivery;
mod summary;
mod trust;
mod wire;

use crate::peer::payload_index;
use crate::scenario::{Fault, PeerId, PeerOp, PeerSpec, Scenario};
use bytes::Bytes;
use client::{ClientLog, Rebinding};
use rtprelay_core::packet::pt;
use rtprelay_core::{ClientBinding, Counters, StateSizes};
use rtprelay_core::{Config, Instant, Port};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;
use trust::Trust;
use wire::RtcpStep;

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
    /// Bytes 4-7 of a relay datagram other than a forwarded `TS_DATA` or a
    /// `DELAY_RSP` (RTCP included) were not the relay's clock when it was
    /// sent: a legacy client may take its clock from any of them (§1.1).
    RelayClock,
    /// A client moved to a new address while its old address had sent the
    /// relay something within `move_quiet_ms` (§2.3: a NAT rebinding
    /// silences the old address, a guesser of the id cannot).
    QuietMove,
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
    /// Its header and its payload's fingerprint (a run of 10⁶ packets
    /// keeps no payload).
    header: [u8; 12],
    payload: Fingerprint,
    at: Instant,
    from: SocketAddr,
}

/// A datagram's length and FNV-1a hash: what the checker keeps of each
/// packet to tell a forwarded copy from an altered one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint(usize, u64);

impl Sent {
    /// Whether `datagram` is, byte for byte, this packet.
    fn is(&self, datagram: &[u8]) -> bool {
        datagram.get(..12) == Some(&self.header[..]) && self.payload == Fingerprint::of(&datagram[12..])
    }
}

impl Fingerprint {
    fn of(data: &[u8]) -> Self {
        let hash = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        Fingerprint(data.len(), hash)
    }
}

/// `TS_DATA` bytes on each leg, first copies apart from the copies sent
/// again (for the overhead ratio).
#[derive(Clone, Copy, Debug, Default)]
struct Bytes2Legs {
    /// The publisher's first send of each packet, and its resends.
    push: [u64; 2],
    /// The relay's first copy of each packet to each subscriber
    /// (forwarded), and its resends and join replays.
    pull: [u64; 2],
}

/// Watches one run.
pub struct Checker {
    config: Config,
    /// The relay's wall clock (every relay process of the run has it).
    clock: rtprelay_core::WallClock,
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
    /// When each address last sent the relay a datagram other than
    /// `TS_DATA` (what the relay's quiet rule counts, §2.3).
    last_heard: BTreeMap<SocketAddr, Instant>,
    /// What the wire proves about addresses.
    trust: Trust,
    /// The address and the client id named by the datagram this step
    /// handed the relay, if any.
    step_from: Option<(SocketAddr, Option<u32>)>,
    /// The RTCP datagram this step handed the relay, if any.
    step_rtcp: Option<RtcpStep>,
    /// Whether this step handed the relay `TS_DATA` (its forwards are
    /// first copies; `TS_DATA` sent in other steps answers a NACK or
    /// replays history on a join).
    step_ts_data: bool,
    /// The ids of the scenario's streams.
    stream_ids: BTreeSet<String>,
    /// The relay's first `PULL_RSP` naming a stream, to each subscriber.
    first_pull_rsp: BTreeMap<PeerId, Instant>,
    /// When each address was last sent `STREAM_STOPPED` for each stream:
    /// for `stopped_nack_ms` it may still get retransmissions of it.
    stopped_to: BTreeMap<(SocketAddr, String), Instant>,
    /// The publisher's first `STOP_PUSH_REQ`.
    stop_push_at: Option<Instant>,
    /// `TS_DATA` bytes on both legs.
    leg_bytes: Bytes2Legs,
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

impl Checker {
    /// A checker for `scenario`.
    pub fn new(scenario: &Scenario) -> Self {
        Checker {
            config: scenario.relay.clone(),
            clock: rtprelay_core::WallClock::new(scenario.origin, scenario.unix_millis_at_origin),
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
            last_heard: BTreeMap::new(),
            trust: Trust::new(Duration::from_millis(scenario.relay.challenge_validity_ms)),
            step_from: None,
            step_rtcp: None,
            step_ts_data: false,
            stream_ids: scenario.credentials.iter().map(|c| c.live_id.clone()).collect(),
            first_pull_rsp: BTreeMap::new(),
            stopped_to: BTreeMap::new(),
            stop_push_at: None,
            leg_bytes: Bytes2Legs::default(),
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

    /// A peer put a datagram on the wire (before the network had its way).
    /// A push client's retransmission keeps the packet's first send time.
    pub fn on_peer_send(&mut self, now: Instant, peer: PeerId, data: &Bytes) {
        if !self.peers.get(peer).is_some_and(PeerSpec::is_publisher) {
            return;
        }
        if data.get(1).map(|b| b & 0x7f) == Some(pt::STOP_PUSH_REQ) {
            self.stop_push_at.get_or_insert(now);
        }
        if data.get(1) == Some(&pt::TS_DATA)
            && let Some(index) = payload_index(data)
        {
            let from = self.peers[peer].addr();
            let again = self.sent.contains_key(&index);
            self.leg_bytes.push[usize::from(again)] += data.len() as u64;
            let header = data[..12].try_into().expect("an indexed TS_DATA has a header");
            self.sent.entry(index).or_insert(Sent { header, payload: Fingerprint::of(&data[12..]), at: now, from });
        }
    }

    /// A new step begins (before its event is dispatched).
    pub fn begin_step(&mut self) {
        self.step_from = None;
        self.step_rtcp = None;
        self.step_ts_data = false;
    }

    /// The relay process restarted: its counters start again, and it knows
    /// no stream, SSRC or acknowledgement.
    pub fn on_relay_restart(&mut self, now: Instant) {
        self.seen_tx_datagrams = 0;
        self.seen_ts_forwards = 0;
        self.wire_acks.clear();
        self.bindings.clear();
        self.previous.clear();
        self.last_heard.clear();
        self.trust.clear();
        self.ssrc_of.clear();
        self.stream_of.clear();
        self.restarts.push(now);
        self.set_recovery_deadlines(now);
    }

    /// After every step, with the relay fully drained; `now` is the step's
    /// time.
    pub fn after_step(&self, now: Instant, sizes: StateSizes, counters: &Counters) -> Result<(), Breach> {
        if let Some(b) = &self.pending {
            return Err(b.clone());
        }
        self.check_recovery_due(now)?;
        self.check_bounds(sizes, counters)
    }

    /// Packets the publisher sent.
    pub fn sent(&self) -> u64 {
        self.sent.len() as u64
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
            Invariant::RelayClock => "relay datagram without the relay's clock in bytes 4-7",
            Invariant::QuietMove => "client moved while its old address was heard within move_quiet_ms",
        })
    }
}
