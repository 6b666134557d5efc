//! What both clients share of the call contract ([`crate::Endpoint`]): the
//! one relay socket they talk to, their queues toward the driver (datagrams
//! and events), and the contract's checks.

use super::outbox::Outbox;
use crate::endpoint::{Port, Transmit};
use crate::time::Instant;
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// A client's side of its one peer, the relay's `port` socket at `relay`.
pub(crate) struct Link<E> {
    relay: SocketAddr,
    port: Port,
    outbox: Outbox,
    events: VecDeque<E>,
    last_now: Instant,
}

impl<E> Link<E> {
    /// A link to the relay's `port` socket at `relay`, queueing at most
    /// `capacity` datagrams; `now` is the earliest instant it accepts.
    pub(crate) fn new(relay: SocketAddr, port: Port, capacity: usize, now: Instant) -> Self {
        Link { relay, port, outbox: Outbox::new(capacity), events: VecDeque::new(), last_now: now }
    }

    /// Checks the call contract at the start of every call: no events left
    /// undrained, `now` not going backwards.
    pub(crate) fn enter(&mut self, now: Instant) {
        debug_assert!(self.events.is_empty(), "call contract: drain poll_event after every call");
        debug_assert!(now >= self.last_now, "call contract: now must not go backwards");
        self.last_now = self.last_now.max(now);
    }

    /// Whether a datagram that arrived on `port` from `from` is the relay's.
    pub(crate) fn is_relay(&self, port: Port, from: SocketAddr) -> bool {
        port == self.port && from == self.relay
    }

    /// [`Link::enter`] for a datagram that arrived on `port` from `from`:
    /// whether it is the relay's, so the client reads it.
    pub(crate) fn enter_datagram(&mut self, now: Instant, port: Port, from: SocketAddr) -> bool {
        self.enter(now);
        self.is_relay(port, from)
    }

    /// Queues a datagram for the relay.
    pub(crate) fn send(&mut self, datagram: Bytes) {
        self.outbox.send(datagram);
    }

    /// Datagrams dropped because the driver did not drain the queue.
    pub(crate) fn overflow(&self) -> u64 {
        self.outbox.overflow()
    }

    /// Queues an event for the driver.
    pub(crate) fn emit(&mut self, event: E) {
        self.events.push_back(event);
    }

    /// See [`crate::Endpoint::poll_transmit`].
    pub(crate) fn poll_transmit(&mut self, max_segments: usize) -> Option<Transmit> {
        let segments = self.outbox.poll(max_segments);
        (!segments.is_empty()).then_some(Transmit { port: self.port, destination: self.relay, segments })
    }

    /// See [`crate::Endpoint::poll_event`].
    pub(crate) fn poll_event(&mut self) -> Option<E> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELAY: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 61_041);

    #[test]
    fn transmits_go_to_the_relay_socket_in_queue_order() {
        let mut link: Link<()> = Link::new(RELAY, Port::Pull, 8, Instant::ZERO);
        assert_eq!(link.poll_transmit(4), None);
        for b in [&b"a"[..], b"b", b"c"] {
            link.send(Bytes::copy_from_slice(b));
        }
        let t = link.poll_transmit(2).unwrap();
        assert_eq!((t.port, t.destination, t.segments.len()), (Port::Pull, RELAY, 2));
        assert_eq!(t.segments[0], Bytes::from_static(b"a"));
        assert_eq!(link.poll_transmit(2).unwrap().segments.as_slice(), [Bytes::from_static(b"c")]);
    }

    #[test]
    fn only_the_relay_socket_is_the_relay() {
        let link: Link<()> = Link::new(RELAY, Port::Pull, 8, Instant::ZERO);
        assert!(link.is_relay(Port::Pull, RELAY));
        assert!(!link.is_relay(Port::Push, RELAY), "the other socket");
        assert!(!link.is_relay(Port::Pull, SocketAddr::from(([127, 0, 0, 2], 61_041))), "another host");
    }

    #[test]
    #[should_panic(expected = "now must not go backwards")]
    #[cfg(debug_assertions)]
    fn time_going_backwards_breaks_the_contract() {
        let mut link: Link<()> = Link::new(RELAY, Port::Pull, 8, Instant::from_millis(5));
        link.enter(Instant::from_millis(4));
    }
}
