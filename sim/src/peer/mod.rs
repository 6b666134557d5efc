//! Simulated peers, driven by the simulator like the relay (event in,
//! actions out): scripted legacy endpoints written from docs/protocol.md §1,
//! wrappers around the real push and pull clients of the core, and
//! attackers (forged data, forged NACKs).

mod client_publisher;
mod client_subscriber;
mod intruder;
mod nack_intruder;
mod publisher;
mod subscriber;

pub use client_publisher::ClientPublisher;
pub use client_subscriber::ClientSubscriber;
pub use intruder::Intruder;
pub use nack_intruder::NackIntruder;
pub use publisher::{Publisher, payload_index, ts_data_payload};
pub use subscriber::Subscriber;

use crate::scenario::PeerSpec;
use bytes::Bytes;
use rtprelay_core::ReorderStats;
use rtprelay_core::packet::rtp::Header;
use rtprelay_core::{Endpoint, Instant, PullEvent, WallClock};
use std::net::SocketAddr;

/// The relay's address as the real clients know it. The simulator routes
/// datagrams by peer and port, not by address (the wire trace names the
/// relay `relay`), so this only has to agree between a client peer's two
/// sides: its client sends to it, and what the relay sent comes from it.
pub(crate) const RELAY: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)), 61_040);

/// Most datagrams taken from a client per `poll_transmit`.
const MAX_SEGMENTS: usize = 8;

/// What a peer asks the simulator to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send a datagram to the relay socket the peer talks to.
    Send(Bytes),
    /// Call [`Peer::on_wake`] with `token` at `at`.
    Wake {
        /// When.
        at: Instant,
        /// Which of the peer's timers.
        token: u32,
    },
}

/// A simulated endpoint.
pub trait Peer {
    /// Its script starts (a workload op).
    fn start(&mut self, now: Instant, out: &mut Vec<Action>);
    /// Its script ends (a workload op): stop requests, then silence.
    fn stop(&mut self, now: Instant, out: &mut Vec<Action>);
    /// A datagram from the relay arrived.
    fn on_datagram(&mut self, now: Instant, data: &[u8], out: &mut Vec<Action>);
    /// A timer it asked for fired.
    fn on_wake(&mut self, now: Instant, token: u32, out: &mut Vec<Action>);
    /// A copy of a datagram the peer it spies on received (attackers only).
    fn on_sniffed(&mut self, _data: &[u8]) {}
    /// The client events emitted since the last call, with their times
    /// (pull-client subscribers only).
    fn new_events(&mut self) -> &[(Instant, PullEvent)] {
        &[]
    }
    /// The reorder counters summed over every buffer the client had
    /// (pull-client subscribers only).
    fn reorder_stats(&self) -> Option<ReorderStats> {
        None
    }
}

/// Maps a client's `poll_timeout` to wakes: one wake per new deadline,
/// and `handle_timeout` only when a wake finds the deadline due.
#[derive(Debug, Default)]
pub(crate) struct ClientTimer {
    scheduled: Option<Instant>,
}

impl ClientTimer {
    /// The wake token of a client's own timer.
    pub(crate) const TOKEN: u32 = 0;

    /// Asks for a wake at `deadline` unless one is already pending for it.
    pub(crate) fn schedule(&mut self, deadline: Option<Instant>, out: &mut Vec<Action>) {
        if let Some(at) = deadline
            && self.scheduled != Some(at)
        {
            self.scheduled = Some(at);
            out.push(Action::Wake { at, token: Self::TOKEN });
        }
    }

    /// A wake fired at `now`: whether the client's `deadline` is due.
    pub(crate) fn fired(&mut self, now: Instant, deadline: Option<Instant>) -> bool {
        if self.scheduled.is_some_and(|at| at <= now) {
            self.scheduled = None;
        }
        deadline.is_some_and(|at| at <= now)
    }
}

/// Hands everything `client` queued to the simulator, in queue order.
pub(crate) fn send_all(client: &mut impl Endpoint, out: &mut Vec<Action>) {
    while let Some(transmit) = client.poll_transmit(MAX_SEGMENTS) {
        out.extend(transmit.segments.into_iter().map(Action::Send));
    }
}

/// Builds the peer a spec describes.
pub fn build(spec: &PeerSpec, clock: WallClock) -> Box<dyn Peer> {
    match spec {
        PeerSpec::Publisher(p) => Box::new(Publisher::new(p.clone(), clock)),
        PeerSpec::Subscriber(s) => Box::new(Subscriber::new(s.clone())),
        PeerSpec::Intruder(i) => Box::new(Intruder::new(i.clone())),
        PeerSpec::ClientPublisher(p) => Box::new(ClientPublisher::new(p.clone(), clock)),
        PeerSpec::ClientSubscriber(s) => Box::new(ClientSubscriber::new(s.clone(), clock)),
        PeerSpec::NackIntruder(i) => Box::new(NackIntruder::new(i.clone())),
    }
}

/// A legacy message: plain header (marker clear unless `marker`), fields
/// as given.
pub(crate) fn message(payload_type: u8, marker: bool, sequence: u16, ssrc: u32, payload: &[u8]) -> Bytes {
    Header { marker, sequence, ssrc, ..Header::new(payload_type) }.encode(payload)
}

/// Byte 1 of a datagram as legacy clients read it: marker and payload type
/// as one byte, so a relay packet with a stray marker is not recognised.
pub(crate) fn legacy_type(data: &[u8]) -> Option<u8> {
    (data.len() >= 12 && data[0] == 0x80).then(|| data[1])
}

/// The SSRC field of a datagram at least 12 bytes long.
pub(crate) fn ssrc_field(data: &[u8]) -> u32 {
    u32::from_be_bytes([data[8], data[9], data[10], data[11]])
}

/// The payload of a plain legacy datagram.
pub(crate) fn payload(data: &[u8]) -> &[u8] {
    data.get(12..).unwrap_or_default()
}
