//! The step loop: pop the earliest event, hand it to the relay or a peer,
//! drain the relay as its call contract says, push what comes out through
//! the network, and check every invariant before the next step.

mod relay;
mod step_log;

pub use relay::{build_relay, restarted_relay};

use crate::check::{Breach, Checker, Invariant};
use crate::net::{Direction, Network};
use crate::peer::{self, Action, Peer};
use crate::queue::EventQueue;
use crate::report::{Percentiles, Report};
use crate::scenario::{Fault, PeerId, PeerOp, PeerSpec, Scenario};
use crate::seed::Seeds;
use crate::trace::Trace;
use bytes::Bytes;
use rtprelay_core::{Endpoint, Instant, Port, Relay, RelayEvent, WallClock};
use std::borrow::BorrowMut;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;
use step_log::describe;

/// Most datagrams taken per `poll_transmit` (a GSO batch).
const MAX_SEGMENTS: usize = 8;

/// A broken invariant, where and when, with the seed that replays it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The run's seed.
    pub seed: u64,
    /// The step after which it was found (0: at the end of the run).
    pub step: u64,
    /// Virtual time since the origin.
    pub at: Duration,
    /// What broke.
    pub breach: Breach,
}

impl Violation {
    /// Which invariant.
    pub fn invariant(&self) -> Invariant {
        self.breach.invariant
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "INVARIANT VIOLATED (seed {}, step {}, t={:.6}s): {}: {}",
            self.seed,
            self.step,
            self.at.as_secs_f64(),
            self.breach.invariant,
            self.breach.detail
        )
    }
}

impl std::error::Error for Violation {}

enum Event {
    ToRelay { port: Port, from: SocketAddr, data: Bytes },
    ToPeer { peer: PeerId, data: Bytes },
    Wake { peer: PeerId, token: u32 },
    RelayTimeout,
    Op { peer: PeerId, action: PeerOp },
    Fault(Fault),
}

/// One simulated universe. The relay is driven only through the call
/// contract ([`Endpoint`]); `R` is [`Relay`] itself or a test wrapper around
/// it (a planted bug the checker must catch), which lends the simulator the
/// relay inside to inspect, and to replace on a restart.
pub struct Sim<R = Relay> {
    scenario: Scenario,
    relay: R,
    peers: Vec<Box<dyn Peer>>,
    /// The address each peer sends from now (a NAT rebinding changes it).
    addrs: Vec<SocketAddr>,
    network: Network,
    queue: EventQueue<Event>,
    checker: Checker,
    trace: Trace,
    /// Every datagram on the wire and nothing else (see [`Sim::wire`]).
    wire: Trace,
    step: u64,
    now: Instant,
    /// The relay deadline already queued.
    relay_wake: Option<Instant>,
    /// Relay restarts so far.
    restarts: u64,
    actions: Vec<Action>,
    /// Prints every step for a human when set.
    log: bool,
}

impl Sim<Relay> {
    /// The universe of `scenario`, with the real relay.
    pub fn new(scenario: Scenario) -> Self {
        Sim::with_relay(scenario, |relay| relay)
    }
}

impl<R> Sim<R>
where
    R: Endpoint<Event = RelayEvent> + BorrowMut<Relay>,
{
    /// The universe of `scenario`, with the relay wrapped by `wrap`.
    pub fn with_relay(scenario: Scenario, wrap: impl FnOnce(Relay) -> R) -> Self {
        let relay = wrap(build_relay(&scenario));
        let clock = WallClock::new(scenario.origin, scenario.unix_millis_at_origin);
        let peers = scenario.peers.iter().map(|spec| peer::build(spec, clock)).collect();
        let network = Network::new(Seeds::derive(scenario.seed).network, scenario.link);
        let mut queue = EventQueue::default();
        for op in &scenario.ops {
            queue.push(scenario.at(op.at), Event::Op { peer: op.peer, action: op.action });
        }
        for &fault in &scenario.faults {
            queue.push(scenario.at(fault.at()), Event::Fault(fault));
        }
        Sim {
            checker: Checker::new(&scenario),
            addrs: scenario.peers.iter().map(PeerSpec::addr).collect(),
            now: scenario.origin,
            scenario,
            relay,
            peers,
            network,
            queue,
            trace: Trace::default(),
            wire: Trace::default(),
            step: 0,
            relay_wake: None,
            restarts: 0,
            actions: Vec::new(),
            log: false,
        }
    }

    /// Replaces peer `peer` by what `wrap` makes of it (a test wrapper
    /// around a real client: a planted bug the checker must catch).
    pub fn with_peer(mut self, peer: PeerId, wrap: impl FnOnce(Box<dyn Peer>) -> Box<dyn Peer>) -> Self {
        let placeholder: Box<dyn Peer> = Box::new(peer::Intruder::new(crate::scenario::IntruderSpec {
            addr: self.scenario.peers[peer].addr(),
            port: self.scenario.peers[peer].port(),
            interval: Duration::from_secs(1),
            sniffs: peer,
        }));
        let inner = std::mem::replace(&mut self.peers[peer], placeholder);
        self.peers[peer] = wrap(inner);
        self
    }

    /// Prints every trace record to standard output as the run goes (for
    /// replaying a failure by eye).
    pub fn with_log(mut self, log: bool) -> Self {
        self.log = log;
        self
    }

    /// Runs to the scenario's end: the report, or the first violation.
    pub fn run(mut self) -> Result<Report, Violation> {
        let end = self.scenario.at(self.scenario.end);
        self.settle().map_err(|b| self.violation(b))?;
        while let Some((at, event)) = self.queue.pop() {
            if at > end {
                break;
            }
            self.now = at;
            self.step += 1;
            self.checker.begin_step();
            self.dispatch(event);
            self.settle().map_err(|b| self.violation(b))?;
        }
        self.now = end;
        if self.scenario.link.is_lossless() {
            self.checker.check_complete().map_err(|b| self.violation(b))?;
        }
        self.checker.check_clients_complete(self.scenario.link.is_lossless()).map_err(|b| self.violation(b))?;
        Ok(self.report())
    }

    fn violation(&self, breach: Breach) -> Violation {
        Violation { seed: self.scenario.seed, step: self.step, at: self.now - self.scenario.origin, breach }
    }

    fn record(&mut self, tag: &[u8], parts: &[&[u8]]) {
        if self.log {
            let t = (self.now - self.scenario.origin).as_secs_f64();
            let tag = String::from_utf8_lossy(tag);
            println!("{:>7} {t:>11.6} {tag:<8} {}", self.step, describe(parts));
        }
        let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 3);
        let step = self.step.to_le_bytes();
        let now = self.now.as_micros().to_le_bytes();
        all.extend([&step[..], &now[..], tag]);
        all.extend_from_slice(parts);
        self.trace.record(&all);
    }

    /// Adds one datagram sent at this step to the wire trace: the time,
    /// the relay socket it leaves or enters, its source, its destination and
    /// its bytes. Unlike the step trace it knows nothing of steps, wakes or
    /// events, so a change inside the relay that sends the same datagrams at
    /// the same times keeps it.
    /// The relay's side is named `relay` (the simulator gives it no address).
    fn wire(&mut self, port: Port, from: &str, to: &str, data: &[u8]) {
        let now = (self.now - self.scenario.origin).as_micros().to_le_bytes();
        self.wire.record(&[&now, &[port as u8], from.as_bytes(), to.as_bytes(), data]);
    }

    fn dispatch(&mut self, event: Event) {
        let now = self.now;
        match event {
            Event::ToRelay { port, from, data } => {
                self.record(b"relay<", &[&[port as u8], from.to_string().as_bytes(), &data]);
                self.checker.on_relay_receive(now, port, from, &data);
                self.relay.handle_datagram(now, port, from, data);
            }
            Event::ToPeer { peer, data } => {
                self.record(b"peer<", &[&peer.to_le_bytes(), &data]);
                self.checker.on_peer_receive(now, peer, &data);
                self.peers[peer].on_datagram(now, &data, &mut self.actions);
                self.apply(peer);
                self.observe(peer);
                let spies: Vec<PeerId> =
                    (0..self.scenario.peers.len()).filter(|&i| self.scenario.peers[i].sniffs() == Some(peer)).collect();
                for spy in spies {
                    self.peers[spy].on_sniffed(&data);
                }
            }
            Event::Wake { peer, token } => {
                self.record(b"wake", &[&peer.to_le_bytes(), &token.to_le_bytes()]);
                self.peers[peer].on_wake(now, token, &mut self.actions);
                self.apply(peer);
                self.observe(peer);
            }
            Event::RelayTimeout => {
                if self.relay.poll_timeout().is_some_and(|t| t <= now) {
                    self.record(b"timeout", &[]);
                    self.relay.handle_timeout(now);
                }
            }
            Event::Op { peer, action } => {
                self.record(b"op", &[&peer.to_le_bytes(), &[action as u8]]);
                match action {
                    PeerOp::Start => self.peers[peer].start(now, &mut self.actions),
                    PeerOp::Stop => self.peers[peer].stop(now, &mut self.actions),
                }
                self.apply(peer);
                self.observe(peer);
            }
            Event::Fault(Fault::RestartRelay { .. }) => {
                self.restarts += 1;
                self.record(b"restart", &[&self.restarts.to_le_bytes()]);
                *self.relay.borrow_mut() = restarted_relay(&self.scenario, self.restarts, now);
                self.relay_wake = None;
                self.checker.on_relay_restart(now);
            }
            Event::Fault(Fault::Rebind { peer, to, .. }) => {
                self.record(b"rebind", &[&peer.to_le_bytes(), to.to_string().as_bytes()]);
                self.addrs[peer] = to;
            }
        }
    }

    /// Hands the checker what a client peer reported.
    fn observe(&mut self, peer: PeerId) {
        for (at, event) in self.peers[peer].new_events() {
            self.checker.on_client_event(*at, peer, event);
        }
    }

    /// Carries out what `peer` asked for.
    fn apply(&mut self, peer: PeerId) {
        let (port, from) = (self.scenario.peers[peer].port(), self.addrs[peer]);
        for action in std::mem::take(&mut self.actions) {
            match action {
                Action::Send(data) => {
                    self.record(b"peer>", &[&peer.to_le_bytes(), &data]);
                    self.wire(port, &from.to_string(), "relay", &data);
                    self.checker.on_peer_send(self.now, peer, &data);
                    for at in self.network.transmit(peer, Direction::ToRelay, self.now) {
                        self.queue.push(at, Event::ToRelay { port, from, data: data.clone() });
                    }
                }
                Action::Wake { at, token } => self.queue.push(at.max(self.now), Event::Wake { peer, token }),
            }
        }
    }

    /// The call contract after every step: drain transmits, then events,
    /// then read the next deadline; then check.
    fn settle(&mut self) -> Result<(), Breach> {
        self.checker.on_relay_state(self.now, self.relay.borrow().client_bindings())?;
        while let Some(t) = self.relay.poll_transmit(MAX_SEGMENTS) {
            self.checker.on_relay_transmit(self.now, &t)?;
            // Only the peer at that address now: a rebound peer's old
            // address reaches nobody.
            let peer = self.addrs.iter().position(|&a| a == t.destination);
            for data in t.segments {
                self.record(b"relay>", &[&[t.port as u8], t.destination.to_string().as_bytes(), &data]);
                self.wire(t.port, "relay", &t.destination.to_string(), &data);
                let Some(peer) = peer else { continue };
                for at in self.network.transmit(peer, Direction::FromRelay, self.now) {
                    self.queue.push(at, Event::ToPeer { peer, data: data.clone() });
                }
            }
        }
        while let Some(event) = self.relay.poll_event() {
            self.record(b"event", &[format!("{event:?}").as_bytes()]);
        }
        if let Some(at) = self.relay.poll_timeout()
            && self.relay_wake != Some(at)
        {
            self.relay_wake = Some(at);
            self.queue.push(at.max(self.now), Event::RelayTimeout);
        }
        self.checker.after_step(self.now, self.relay.borrow().state_sizes(), self.relay.borrow().counters())
    }

    fn report(&self) -> Report {
        Report {
            seed: self.scenario.seed,
            network_model: Report::describe_network(&self.scenario),
            steps: self.step,
            simulated: self.scenario.end,
            trace_hash: self.trace.hex(),
            wire_hash: self.wire.hex(),
            sent: self.checker.sent(),
            deliveries: self.checker.deliveries(),
            network: self.network.stats(),
            counters: self.relay.borrow().counters().clone(),
            latency: Percentiles::of_sorted(&self.checker.latencies()),
            clients: self.checker.client_deliveries(|peer| self.peers[peer].reorder_stats()),
            restarts: self.restarts,
            origin: self.scenario.origin,
            summary: self.checker.summary(|peer| self.peers[peer].reorder_stats()),
        }
    }
}

/// Generates the scenario of `options` and runs it with the real relay.
pub fn run(options: &crate::scenario::Options) -> Result<Report, Violation> {
    Sim::new(Scenario::generate(options)).run()
}
