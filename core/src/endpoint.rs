//! The call contract: what the relay and both clients have in common, so
//! one drive loop per environment (the runtime's sockets, the simulator's
//! virtual network) can run any of them.
//!
//! See [`Endpoint`].

use crate::time::Instant;
use bytes::Bytes;
use smallvec::SmallVec;
use std::net::SocketAddr;

/// Which of the relay's two UDP sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Port {
    /// The push socket (default 61040).
    Push,
    /// The pull socket (default 61041).
    Pull,
}

/// Datagrams for one destination, to be sent from one socket: a single
/// datagram, or several (a GSO or `sendmmsg` batch) in queue order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The socket to send from.
    pub port: Port,
    /// Where to.
    pub destination: SocketAddr,
    /// The datagrams, each one whole UDP payload.
    pub segments: SmallVec<[Bytes; 4]>,
}

/// A sans-IO state machine driven by the call contract.
///
/// A state machine never reads a clock, a socket or a global generator.
/// The driver hands it the time and each datagram, and takes out what it
/// wants sent, what happened, and when it next wants to be woken:
///
/// 1. after every `handle_*` call, drain [`Endpoint::poll_transmit`] (a
///    driver that caps sends per turn may leave some for its next turn,
///    never for ever);
/// 2. then drain [`Endpoint::poll_event`];
/// 3. then read [`Endpoint::poll_timeout`] and call
///    [`Endpoint::handle_timeout`] once that instant has passed.
///
/// `now` must never go backwards. Untrusted input never returns an error:
/// it is dropped and counted.
pub trait Endpoint {
    /// What it reports to its driver.
    type Event;

    /// A datagram from `from` arrived on the socket `port`.
    fn handle_datagram(&mut self, now: Instant, port: Port, from: SocketAddr, data: Bytes);

    /// Fires every deadline at or before `now`.
    fn handle_timeout(&mut self, now: Instant);

    /// The next datagrams to send: up to `max_segments` (at least one) for
    /// one destination, or `None` once nothing is queued.
    fn poll_transmit(&mut self, max_segments: usize) -> Option<Transmit>;

    /// The next event, or `None` once none is left.
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// When [`Endpoint::handle_timeout`] should next be called.
    fn poll_timeout(&self) -> Option<Instant>;
}
