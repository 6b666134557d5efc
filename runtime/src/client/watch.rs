//! [`Watched`]: a client state machine with an ear on the relay. It notes
//! when the relay last sent anything, so a command can tell a relay that
//! stopped answering from a quiet stream. Both core clients send `DELAY_REQ`
//! probes every second (docs/protocol.md §1.3.5: the relay echoes them),
//! so even a subscriber of a stream that is not live hears the relay.

use bytes::Bytes;
use rtprelay_core::{Endpoint, Instant, Port, Transmit};
use std::net::SocketAddr;
use std::time::Duration;

/// A client machine `M` talking to `relay` through its `port` socket, with
/// the instant the relay was last heard from.
#[derive(Debug)]
pub(crate) struct Watched<M> {
    pub(crate) inner: M,
    relay: SocketAddr,
    port: Port,
    started: Instant,
    heard: Option<Instant>,
}

impl<M> Watched<M> {
    /// Watches `inner`, started at `now`.
    pub(crate) fn new(inner: M, relay: SocketAddr, port: Port, now: Instant) -> Self {
        Watched { inner, relay, port, started: now, heard: None }
    }

    /// How long the relay has been silent at `now`: since its last
    /// datagram, or since the client started if it never sent one.
    pub(crate) fn silent_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.heard.unwrap_or(self.started))
    }

    /// Whether the relay has ever answered.
    pub(crate) fn heard_once(&self) -> bool {
        self.heard.is_some()
    }
}

impl<M: Endpoint> Endpoint for Watched<M> {
    type Event = M::Event;

    fn handle_datagram(&mut self, now: Instant, port: Port, from: SocketAddr, data: Bytes) {
        if from == self.relay && port == self.port {
            self.heard = Some(now);
        }
        self.inner.handle_datagram(now, port, from, data);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
    }

    fn poll_transmit(&mut self, max_segments: usize) -> Option<Transmit> {
        self.inner.poll_transmit(max_segments)
    }

    fn poll_event(&mut self) -> Option<M::Event> {
        self.inner.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A machine that does nothing.
    struct Idle;

    impl Endpoint for Idle {
        type Event = ();
        fn handle_datagram(&mut self, _: Instant, _: Port, _: SocketAddr, _: Bytes) {}
        fn handle_timeout(&mut self, _: Instant) {}
        fn poll_transmit(&mut self, _: usize) -> Option<Transmit> {
            None
        }
        fn poll_event(&mut self) -> Option<()> {
            None
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn silence_counts_from_the_relays_last_datagram_only() {
        let relay: SocketAddr = "192.0.2.1:61041".parse().unwrap();
        let mut w = Watched::new(Idle, relay, Port::Pull, at(0));
        assert_eq!(w.silent_for(at(1500)), Duration::from_millis(1500));
        assert!(!w.heard_once());
        w.handle_datagram(at(2000), Port::Pull, "192.0.2.9:61041".parse().unwrap(), Bytes::new());
        assert_eq!(w.silent_for(at(2500)), Duration::from_millis(2500), "a stranger is not the relay");
        w.handle_datagram(at(3000), Port::Pull, relay, Bytes::new());
        assert!(w.heard_once());
        assert_eq!(w.silent_for(at(3200)), Duration::from_millis(200));
    }
}
