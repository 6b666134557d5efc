//! A run as plain data: who the peers are, where they send, what the
//! network does, and when each peer starts and stops. [`Scenario::generate`]
//! builds one from a seed; tests build or edit them by hand, and a failing
//! one can be shrunk by dropping ops.

use crate::net::{GilbertElliott, LinkConfig};
use crate::seed::{Seeds, SimRng, SplitMix64};
use rtprelay_core::client::push::TS_PACKET_LEN;
use rtprelay_core::{Config, Instant, Port};
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

/// A scripted legacy publisher (docs/protocol.md §1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublisherSpec {
    /// Its address.
    pub addr: SocketAddr,
    /// The relay socket it talks to.
    pub port: Port,
    /// The stream it publishes.
    pub live_id: String,
    /// The stream's code.
    pub live_code: String,
    /// Gap between two `TS_DATA` packets.
    pub packet_interval: Duration,
    /// `TS_DATA` payload bytes (legacy publishers do not align to 188).
    pub payload_len: usize,
    /// Sequence number of the first `TS_DATA`.
    pub first_sequence: u16,
    /// Gap between two re-authentications while live.
    pub reauth_interval: Duration,
    /// Wait between the last `TS_DATA` and `STOP_PUSH_REQ`, longer than any
    /// link delay so the stop never overtakes data.
    pub stop_linger: Duration,
}

/// A scripted legacy subscriber (§1.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriberSpec {
    /// Its address.
    pub addr: SocketAddr,
    /// The relay socket it talks to.
    pub port: Port,
    /// The ids it pulls, in request order (long enough to need chunks).
    pub live_ids: Vec<String>,
}

/// An on-path attacker: it sniffs the SSRC from what `sniffs` receives and
/// sends forged `TS_DATA` with it from its own address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntruderSpec {
    /// Its address.
    pub addr: SocketAddr,
    /// The relay socket it sends to.
    pub port: Port,
    /// Gap between forged packets.
    pub interval: Duration,
    /// The peer whose incoming datagrams it reads.
    pub sniffs: PeerId,
}

/// An off-path attacker against NACKs: it reads the client id and the
/// stream's SSRC and sequence numbers from what `sniffs` receives, and sends
/// Generic NACKs naming them from its own address. The relay must not
/// retransmit anything for them (§2.1: NACKs count only from the
/// subscriber's bound address).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NackIntruderSpec {
    /// Its address.
    pub addr: SocketAddr,
    /// The relay socket it sends to.
    pub port: Port,
    /// Gap between forged NACKs.
    pub interval: Duration,
    /// The subscriber whose incoming datagrams it reads.
    pub sniffs: PeerId,
}

/// A publisher running the real [`rtprelay_core::PushClient`]: auth, then
/// one whole-TS-packet push per tick, then close.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientPublisherSpec {
    /// Its address.
    pub addr: SocketAddr,
    /// The relay socket it talks to.
    pub port: Port,
    /// The stream it publishes.
    pub live_id: String,
    /// The stream's code.
    pub live_code: String,
    /// Gap between two pushes.
    pub packet_interval: Duration,
    /// TS packets per push (each push makes one `TS_DATA`).
    pub ts_packets: usize,
    /// The client's own seed (its initial sequence number).
    pub seed: [u8; 32],
}

/// A subscriber running the real [`rtprelay_core::PullClient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSubscriberSpec {
    /// Its address.
    pub addr: SocketAddr,
    /// The relay socket it talks to.
    pub port: Port,
    /// The ids it pulls, in request order.
    pub live_ids: Vec<String>,
    /// The client's own seed.
    pub seed: [u8; 32],
}

/// One peer of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerSpec {
    /// A publisher.
    Publisher(PublisherSpec),
    /// A subscriber.
    Subscriber(SubscriberSpec),
    /// An attacker.
    Intruder(IntruderSpec),
    /// A publisher running the push client.
    ClientPublisher(ClientPublisherSpec),
    /// A subscriber running the pull client.
    ClientSubscriber(ClientSubscriberSpec),
    /// An attacker sending NACKs for another subscriber.
    NackIntruder(NackIntruderSpec),
}

impl PeerSpec {
    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            PeerSpec::Publisher(p) => p.addr,
            PeerSpec::Subscriber(s) => s.addr,
            PeerSpec::Intruder(i) => i.addr,
            PeerSpec::ClientPublisher(p) => p.addr,
            PeerSpec::ClientSubscriber(s) => s.addr,
            PeerSpec::NackIntruder(i) => i.addr,
        }
    }

    /// The relay socket the peer talks to.
    pub fn port(&self) -> Port {
        match self {
            PeerSpec::Publisher(p) => p.port,
            PeerSpec::Subscriber(s) => s.port,
            PeerSpec::Intruder(i) => i.port,
            PeerSpec::ClientPublisher(p) => p.port,
            PeerSpec::ClientSubscriber(s) => s.port,
            PeerSpec::NackIntruder(i) => i.port,
        }
    }

    /// The peer whose incoming datagrams this one reads (attackers only).
    pub fn sniffs(&self) -> Option<PeerId> {
        match self {
            PeerSpec::Intruder(i) => Some(i.sniffs),
            PeerSpec::NackIntruder(i) => Some(i.sniffs),
            _ => None,
        }
    }

    /// Whether the peer publishes (legacy or client).
    pub fn is_publisher(&self) -> bool {
        matches!(self, PeerSpec::Publisher(_) | PeerSpec::ClientPublisher(_))
    }
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

/// The knobs of a generated run (the command-line flags).
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The run's seed.
    pub seed: u64,
    /// Uniform loss probability per datagram, every link.
    pub loss: f64,
    /// Bursty loss, every link.
    pub burst: Option<GilbertElliott>,
    /// Duplication probability per datagram.
    pub duplicate: f64,
    /// Reordering probability per datagram.
    pub reorder: f64,
    /// One-way base delay.
    pub delay: Duration,
    /// Delay jitter.
    pub jitter: Duration,
    /// How long the publisher streams.
    pub duration: Duration,
    /// Peers run the real push and pull clients instead of the scripted
    /// legacy ones.
    pub clients: bool,
    /// Restart the relay this long after the origin.
    pub restart_at: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        let link = LinkConfig::default();
        Options {
            seed: 0,
            loss: 0.0,
            burst: None,
            duplicate: 0.0,
            reorder: 0.0,
            delay: link.delay,
            jitter: link.jitter,
            duration: Duration::from_secs(30),
            clients: false,
            restart_at: None,
        }
    }
}

impl Options {
    /// The link model these options describe.
    pub fn link(&self) -> LinkConfig {
        LinkConfig {
            delay: self.delay,
            jitter: self.jitter,
            loss: self.loss,
            burst: self.burst,
            duplicate: self.duplicate,
            reorder: self.reorder,
            ..LinkConfig::default()
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

const CODE_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";

fn peer_addr(last_octet: u8, rng: &mut SimRng) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, last_octet], 10_000 + rng.below(50_000) as u16))
}

/// Mixed into the run's seed for the clients' own seeds.
const CLIENT_SEED_SALT: u64 = 0xC11E_2757_5EED_0001;

/// The client-library counterpart of a scripted legacy peer: same address,
/// socket, stream and rate (intruders stay as they are).
fn to_client(peer: &PeerSpec, seed: [u8; 32]) -> PeerSpec {
    match peer {
        PeerSpec::Publisher(p) => PeerSpec::ClientPublisher(ClientPublisherSpec {
            addr: p.addr,
            port: p.port,
            live_id: p.live_id.clone(),
            live_code: p.live_code.clone(),
            packet_interval: p.packet_interval,
            ts_packets: (p.payload_len / TS_PACKET_LEN).clamp(1, 7),
            seed,
        }),
        PeerSpec::Subscriber(s) => PeerSpec::ClientSubscriber(ClientSubscriberSpec {
            addr: s.addr,
            port: s.port,
            live_ids: s.live_ids.clone(),
            seed,
        }),
        other => other.clone(),
    }
}

fn millis_up_to(rng: &mut SimRng, max: u64) -> Duration {
    Duration::from_millis(rng.below(max + 1))
}

impl Scenario {
    /// The standard run: one publisher, a subscriber on each relay socket
    /// (one before the stream goes live, most likely, one after), and an
    /// intruder, with start times, addresses, sizes and sequence numbers
    /// drawn from the seed.
    pub fn generate(options: &Options) -> Scenario {
        let mut rng = SimRng::from_seed(Seeds::derive(options.seed).scenario);
        let link = options.link();
        let duration = options.duration.max(Duration::from_secs(1));
        let live_id = format!("user{}", rng.below(100_000));
        let live_code: String =
            (0..20).map(|_| char::from(CODE_ALPHABET[rng.below(CODE_ALPHABET.len() as u64) as usize])).collect();
        let mut salt = [0u8; 16];
        salt[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        salt[8..].copy_from_slice(&rng.next_u64().to_le_bytes());

        let packet_interval = Duration::from_millis(20);
        let packets = (duration.as_micros() / packet_interval.as_micros()) as u64;
        let publisher = PublisherSpec {
            addr: peer_addr(10, &mut rng),
            port: if rng.chance(0.5) { Port::Push } else { Port::Pull },
            live_id: live_id.clone(),
            live_code: live_code.clone(),
            packet_interval,
            payload_len: 1000 + rng.below(400) as usize,
            // Close enough to 65535 that about half the runs wrap.
            first_sequence: (65_535 - rng.below(2 * packets.max(1)).min(65_535)) as u16,
            reauth_interval: Duration::from_millis(3000 + rng.below(2000)),
            stop_linger: link.max_latency() * 2 + Duration::from_millis(100),
        };
        let mut subscribers = Vec::new();
        for (octet, port) in [(20, Port::Push), (21, Port::Pull)] {
            let mut live_ids: Vec<String> = (0..60 + rng.below(40)).map(|i| format!("offline-{i:04}")).collect();
            let at = rng.below(live_ids.len() as u64 + 1) as usize;
            live_ids.insert(at, live_id.clone());
            subscribers.push(SubscriberSpec { addr: peer_addr(octet, &mut rng), port, live_ids });
        }
        let intruder = IntruderSpec {
            addr: SocketAddr::new(publisher.addr.ip(), publisher.addr.port().wrapping_add(1).max(1)),
            port: publisher.port,
            interval: Duration::from_millis(100),
            sniffs: 0,
        };
        let head = (duration / 4).as_millis() as u64;
        let mut ops = vec![
            Op { at: millis_up_to(&mut rng, head.min(2000)), peer: 0, action: PeerOp::Start },
            Op { at: duration, peer: 0, action: PeerOp::Stop },
        ];
        for peer in 1..=subscribers.len() {
            ops.push(Op { at: millis_up_to(&mut rng, head.min(4000)), peer, action: PeerOp::Start });
            ops.push(Op { at: duration + Duration::from_secs(2), peer, action: PeerOp::Stop });
        }
        let intruder_id = subscribers.len() + 1;
        ops.push(Op { at: millis_up_to(&mut rng, head.min(3000)), peer: intruder_id, action: PeerOp::Start });
        ops.push(Op { at: duration, peer: intruder_id, action: PeerOp::Stop });
        ops.sort_by_key(|op| op.at);

        let mut peers = vec![PeerSpec::Publisher(publisher)];
        peers.extend(subscribers.into_iter().map(PeerSpec::Subscriber));
        peers.push(PeerSpec::Intruder(intruder));
        if options.clients {
            // Derived apart from `rng`, so legacy runs draw exactly as before.
            let mut client_seeds = SplitMix64::new(options.seed ^ CLIENT_SEED_SALT);
            for peer in &mut peers {
                *peer = to_client(peer, client_seeds.next_seed32());
            }
        }
        Scenario {
            seed: options.seed,
            origin: Instant::from_micros(1_000_000 + rng.below(1_000_000_000)),
            unix_millis_at_origin: 1_700_000_000_000 + rng.below(100_000_000_000),
            end: duration + Duration::from_secs(4),
            link,
            relay: Config::default(),
            credentials: vec![CredentialSpec { live_id, live_code, salt }],
            peers,
            ops,
            faults: options.restart_at.map(|at| Fault::RestartRelay { at }).into_iter().collect(),
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_a_function_of_the_options() {
        let options = Options { seed: 5, ..Options::default() };
        assert_eq!(Scenario::generate(&options), Scenario::generate(&options));
        assert_ne!(Scenario::generate(&options), Scenario::generate(&Options { seed: 6, ..options }));
    }

    #[test]
    fn the_standard_run_has_one_subscriber_per_socket_and_chunked_requests() {
        let s = Scenario::generate(&Options::default());
        let subs: Vec<&SubscriberSpec> =
            s.peers.iter().filter_map(|p| if let PeerSpec::Subscriber(s) = p { Some(s) } else { None }).collect();
        assert_eq!(subs.iter().map(|s| s.port).collect::<Vec<_>>(), [Port::Push, Port::Pull]);
        for sub in subs {
            assert!(sub.live_ids.join("#").len() > rtprelay_core::packet::pt::PULL_REQ_CHUNK);
        }
        let addrs: std::collections::BTreeSet<_> = s.peers.iter().map(PeerSpec::addr).collect();
        assert_eq!(addrs.len(), s.peers.len(), "peer addresses are distinct");
        assert!(s.ops.windows(2).all(|w| w[0].at <= w[1].at));
    }
}
