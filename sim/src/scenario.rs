//! A run as plain data: who the peers are, where they send, what the
//! network does, and when each peer starts and stops. [`Scenario::generate`]
//! builds one from a seed; tests build or edit them by hand, and a failing
//! one can be shrunk by dropping ops.
//!
//! The peers' specifications are in `peers`, and [`Scenario::generate`]
//! with its [`Options`] in `generate`; their types are re-exported here.

mod generate;
mod peers;

pub use generate::{MAX_SUBSCRIBERS, Options};
pub use peers::{
    ClientPublisherSpec, ClientSubscriberSpec, IntruderSpec, NackIntruderSpec, PeerSpec, PublisherSpec, SubscriberSpec,
};

use crate::net::LinkConfig;
use rtprelay_core::{Config, Instant};
use std::net::SocketAddr;
use std::time::Duration;

/// Index of a peer in [`Scenario::peers`].
pub type PeerId = usize;

/// A stream credential the relay is given before the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialSpec {
    /// The stream id.
    pub live_id: String,
    /// Its code.
    pub live_code: String,
    /// The salt of its stored hash.
    pub salt: [u8; 16],
}

/// What an op does to its peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerOp {
    /// Starts its script.
    Start,
    /// Ends its script (stop requests, then silence).
    Stop,
}

/// One workload step: `action` on `peer` at `at` after the origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    /// When, from the run's origin.
    pub at: Duration,
    /// Which peer.
    pub peer: PeerId,
    /// What.
    pub action: PeerOp,
}

/// A fault of the relay process or of the network, not of a peer's script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The relay process restarts at `at` after the origin: a fresh
    /// [`rtprelay_core::Relay`] (new seed derived from the scenario's, same
    /// credentials, same sockets) replaces it, and all its state is gone.
    RestartRelay {
        /// When, from the run's origin.
        at: Duration,
    },
    /// A NAT in front of `peer` rebinds at `at`: from then on its
    /// datagrams come from `to`, and what the relay sends to its old
    /// address reaches nobody. A pull client follows by the protocol
    /// (§2.3: heartbeats from `to`, then an echoed challenge).
    Rebind {
        /// When, from the run's origin.
        at: Duration,
        /// Which peer.
        peer: PeerId,
        /// Its new address.
        to: SocketAddr,
    },
}

impl Fault {
    /// When it happens, from the run's origin.
    pub fn at(&self) -> Duration {
        match *self {
            Fault::RestartRelay { at } | Fault::Rebind { at, .. } => at,
        }
    }
}

/// Everything one run needs, as data.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The seed the run's randomness derives from.
    pub seed: u64,
    /// The virtual clock's first instant (seed-derived, never zero).
    pub origin: Instant,
    /// The wall clock at the origin, in Unix-epoch milliseconds.
    pub unix_millis_at_origin: u64,
    /// How long after the origin the run ends.
    pub end: Duration,
    /// The model of every link.
    pub link: LinkConfig,
    /// The relay's configuration.
    pub relay: Config,
    /// Credentials added before the run.
    pub credentials: Vec<CredentialSpec>,
    /// The peers, by [`PeerId`].
    pub peers: Vec<PeerSpec>,
    /// The workload, in time order.
    pub ops: Vec<Op>,
    /// Faults of the whole run (relay restarts).
    pub faults: Vec<Fault>,
}

impl Scenario {
    /// Adds a [`NackIntruderSpec`] reading what `victim` receives, on the
    /// victim's relay socket, running from the start to the publisher's
    /// stop op; draws nothing from the scenario's generator.
    pub fn with_nack_intruder(mut self, victim: PeerId) -> Self {
        let id = self.peers.len();
        let port = self.peers[victim].port();
        let addr = SocketAddr::from(([127, 0, 0, 30], 30_000 + id as u16));
        let stop = self.ops.iter().filter(|op| op.peer == 0 && op.action == PeerOp::Stop).map(|op| op.at).max();
        self.peers.push(PeerSpec::NackIntruder(NackIntruderSpec {
            addr,
            port,
            interval: Duration::from_millis(150),
            sniffs: victim,
        }));
        self.ops.push(Op { at: Duration::ZERO, peer: id, action: PeerOp::Start });
        self.ops.push(Op { at: stop.unwrap_or(self.end), peer: id, action: PeerOp::Stop });
        self.ops.sort_by_key(|op| op.at);
        self
    }

    /// Rebinds `peer` (a NAT rebinding, [`Fault::Rebind`]) at `at` to a
    /// fresh address on another IP; draws nothing from the generator.
    pub fn with_rebinding(mut self, peer: PeerId, at: Duration) -> Self {
        let old = self.peers[peer].addr();
        let to = SocketAddr::from(([127, 0, 0, 40 + peer as u8], old.port().wrapping_add(1).max(1)));
        self.faults.push(Fault::Rebind { at, peer, to });
        self
    }

    /// Every address `peer` sends from during the run: its own, then
    /// those it is rebound to.
    pub fn addrs_of(&self, peer: PeerId) -> Vec<SocketAddr> {
        let rebinds = self.faults.iter().filter_map(|f| match *f {
            Fault::Rebind { peer: p, to, .. } if p == peer => Some(to),
            _ => None,
        });
        std::iter::once(self.peers[peer].addr()).chain(rebinds).collect()
    }

    /// The instant `offset` after the origin.
    pub fn at(&self, offset: Duration) -> Instant {
        self.origin + offset
    }

    /// The peer at `addr`, if any.
    pub fn peer_at(&self, addr: SocketAddr) -> Option<PeerId> {
        self.peers.iter().position(|p| p.addr() == addr)
    }
}
