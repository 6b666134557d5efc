//! [`Watched`]: a client state machine with an ear on the relay. It notes
//! when the relay last sent anything, so a command can tell a relay that
//! stopped answering from a quiet stream, and it can send `DELAY_REQ`
//! probes of its own (docs/protocol.md §1.3.5: the relay echoes them on
//! either socket) for a client that would otherwise hear nothing while it
//! waits, as a subscriber of a stream that is not live does.

use bytes::Bytes;
use rtprelay_core::{Endpoint, Instant, Port, Transmit, WallClock};
use std::net::SocketAddr;
use std::time::Duration;

/// `DELAY_REQ` (docs/protocol.md §1.2).
const DELAY_REQ: u8 = 11;

/// Keep-alive probes: a `DELAY_REQ` every `every`, which the relay echoes.
#[derive(Debug)]
struct Probes {
    every: Duration,
    next: Instant,
    seq: u16,
    clock: WallClock,
    /// The payload (a stream id, as deployed clients send).
    payload: Bytes,
    /// A probe due and not yet handed to the driver.
    queued: Option<Bytes>,
}

impl Probes {
    fn datagram(&mut self, now: Instant) -> Bytes {
        self.seq = self.seq.wrapping_add(1);
        let mut d = Vec::with_capacity(12 + self.payload.len());
        d.extend_from_slice(&[0x80, DELAY_REQ]);
        d.extend_from_slice(&self.seq.to_be_bytes());
        d.extend_from_slice(&self.clock.rtp_timestamp(now).to_be_bytes());
        d.extend_from_slice(&0u32.to_be_bytes());
        d.extend_from_slice(&self.payload);
        Bytes::from(d)
    }
}

/// A client machine `M` talking to `relay` through its `port` socket, with
/// the instant the relay was last heard from.
#[derive(Debug)]
pub(crate) struct Watched<M> {
    pub(crate) inner: M,
    relay: SocketAddr,
    port: Port,
    started: Instant,
    heard: Option<Instant>,
    probes: Option<Probes>,
}

impl<M> Watched<M> {
    /// Watches `inner`, started at `now`; nothing is probed.
    pub(crate) fn new(inner: M, relay: SocketAddr, port: Port, now: Instant) -> Self {
        Watched { inner, relay, port, started: now, heard: None, probes: None }
    }

    /// Also sends a `DELAY_REQ` with `payload` every `every`, from `now`.
    pub(crate) fn probing(mut self, now: Instant, every: Duration, clock: WallClock, payload: &str) -> Self {
        let payload = Bytes::copy_from_slice(payload.as_bytes());
        self.probes = Some(Probes { every, next: now, seq: 0, clock, payload, queued: None });
        self
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
        if let Some(p) = &mut self.probes
            && now >= p.next
        {
            p.queued = Some(p.datagram(now));
            p.next = now + p.every;
        }
        self.inner.handle_timeout(now);
    }

    fn poll_transmit(&mut self, max_segments: usize) -> Option<Transmit> {
        if let Some(probe) = self.probes.as_mut().and_then(|p| p.queued.take()) {
            return Some(Transmit {
                port: self.port,
                destination: self.relay,
                segments: std::iter::once(probe).collect(),
            });
        }
        self.inner.poll_transmit(max_segments)
    }

    fn poll_event(&mut self) -> Option<M::Event> {
        self.inner.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let probe = self.probes.as_ref().map(|p| p.next);
        match (probe, self.inner.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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

    #[test]
    fn probes_are_delay_requests_sent_on_schedule() {
        let relay: SocketAddr = "192.0.2.1:61041".parse().unwrap();
        let clock = WallClock::new(at(0), 1_700_000_000_000);
        let mut w = Watched::new(Idle, relay, Port::Pull, at(0)).probing(at(0), Duration::from_secs(1), clock, "cam1");
        assert_eq!(w.poll_timeout(), Some(at(0)));
        w.handle_timeout(at(0));
        let t = w.poll_transmit(8).expect("a probe");
        assert_eq!((t.port, t.destination), (Port::Pull, relay));
        let d = &t.segments[0];
        assert_eq!((d[0], d[1], &d[12..]), (0x80, DELAY_REQ, &b"cam1"[..]));
        assert!(w.poll_transmit(8).is_none());
        assert_eq!(w.poll_timeout(), Some(at(1000)));
        w.handle_timeout(at(500));
        assert!(w.poll_transmit(8).is_none(), "not due yet");
    }
}
