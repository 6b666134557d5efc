//! Shared by the simulator's test files: result checks and the planted-bug
//! relay wrapper.
#![allow(dead_code, unreachable_pub)] // each test file uses a different subset

use bytes::Bytes;
use rtprelay_core::{Endpoint, Instant, Port, Relay, RelayEvent, Transmit};
use rtprelay_sim::{Invariant, Report, Violation};
use std::borrow::{Borrow, BorrowMut};
use std::collections::VecDeque;
use std::net::SocketAddr;

/// The report of a run that must hold every invariant.
pub fn expect_ok(result: Result<Report, Violation>) -> Report {
    result.unwrap_or_else(|v| panic!("{v}"))
}

/// The violation a planted bug must cause.
pub fn expect_violation(result: Result<Report, Violation>, invariant: Invariant) -> Violation {
    match result {
        Ok(report) => panic!("the planted bug went unnoticed:\n{report}"),
        Err(v) => {
            assert_eq!(v.invariant(), invariant, "{v}");
            assert!(v.to_string().contains(&format!("seed {}", v.seed)), "{v}");
            assert!(v.step > 0);
            v
        }
    }
}

/// Sees each datagram handed to the relay; may queue extra transmits.
pub type Plant = Box<dyn FnMut(Port, SocketAddr, &Bytes, &mut VecDeque<Transmit>)>;
/// May rewrite each real transmit, or queue extra ones after it.
pub type Mangle = Box<dyn FnMut(&mut Transmit, &mut VecDeque<Transmit>)>;
/// Asked before each real transmit is taken: `true` makes `poll_transmit`
/// say there is nothing to send (what is queued stays queued).
pub type Stall = Box<dyn FnMut(&Relay) -> bool>;

/// A relay with a planted bug: `plant` sees each datagram the relay is
/// handed and may queue extra transmits; `mangle` may rewrite each real one;
/// `stall` may end a drain early.
pub struct Canary {
    relay: Relay,
    extra: VecDeque<Transmit>,
    plant: Plant,
    mangle: Mangle,
    stall: Stall,
}

impl Canary {
    /// A relay wrapped with both hooks.
    pub fn new(
        relay: Relay,
        plant: impl FnMut(Port, SocketAddr, &Bytes, &mut VecDeque<Transmit>) + 'static,
        mangle: impl FnMut(&mut Transmit, &mut VecDeque<Transmit>) + 'static,
    ) -> Canary {
        Canary {
            relay,
            extra: VecDeque::new(),
            plant: Box::new(plant),
            mangle: Box::new(mangle),
            stall: Box::new(|_| false),
        }
    }

    /// A relay whose `poll_transmit` says "nothing" whenever `stall` says so.
    pub fn stalling(stall: impl FnMut(&Relay) -> bool + 'static) -> impl FnOnce(Relay) -> Canary {
        move |relay| Canary { stall: Box::new(stall), ..Canary::new(relay, |_, _, _, _| {}, |_, _| {}) }
    }

    pub fn planting(
        plant: impl FnMut(Port, SocketAddr, &Bytes, &mut VecDeque<Transmit>) + 'static,
    ) -> impl FnOnce(Relay) -> Canary {
        move |relay| Canary::new(relay, plant, |_, _| {})
    }

    pub fn mangling(
        mangle: impl FnMut(&mut Transmit, &mut VecDeque<Transmit>) + 'static,
    ) -> impl FnOnce(Relay) -> Canary {
        move |relay| Canary::new(relay, |_, _, _, _| {}, mangle)
    }
}

/// The canary under the call contract: the relay's, with the plant's and
/// the mangler's transmits mixed in.
impl Endpoint for Canary {
    type Event = RelayEvent;

    fn handle_datagram(&mut self, now: Instant, port: Port, from: SocketAddr, data: Bytes) {
        (self.plant)(port, from, &data, &mut self.extra);
        self.relay.handle_datagram(now, port, from, data);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.relay.handle_timeout(now);
    }
    fn poll_transmit(&mut self, max_segments: usize) -> Option<Transmit> {
        if let Some(t) = self.extra.pop_front() {
            return Some(t);
        }
        if (self.stall)(&self.relay) {
            return None;
        }
        let mut t = self.relay.poll_transmit(max_segments)?;
        (self.mangle)(&mut t, &mut self.extra);
        Some(t)
    }
    fn poll_event(&mut self) -> Option<RelayEvent> {
        self.relay.poll_event()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.relay.poll_timeout()
    }
}

/// The simulator inspects (and on a restart replaces) the relay inside.
impl Borrow<Relay> for Canary {
    fn borrow(&self) -> &Relay {
        &self.relay
    }
}

impl BorrowMut<Relay> for Canary {
    fn borrow_mut(&mut self) -> &mut Relay {
        &mut self.relay
    }
}
