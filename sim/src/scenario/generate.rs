//! The standard run, generated from a seed and the command line's
//! [`Options`]. The draws from the scenario's generator keep their order:
//! the same seed makes the same run.

use super::{
    ClientPublisherSpec, ClientSubscriberSpec, CredentialSpec, Fault, IntruderSpec, Op, PeerOp, PeerSpec,
    PublisherSpec, Scenario, SubscriberSpec,
};
use crate::net::{GilbertElliott, LinkConfig};
use crate::seed::{Seeds, SimRng, SplitMix64};
use rtprelay_core::mpegts::PACKET_LEN;
use rtprelay_core::{Config, Instant, Port};
use std::net::SocketAddr;
use std::time::Duration;

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
    /// Subscribers, alternating between the push and the pull socket. 2.
    pub subscribers: usize,
    /// Gap between two of the publisher's packets. 20 ms.
    pub packet_interval: Duration,
    /// How many packets the publisher sends before it stops (then right
    /// away); `None` streams for `duration`.
    pub packets: Option<u64>,
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
            subscribers: 2,
            packet_interval: Duration::from_millis(20),
            packets: None,
        }
    }
}

impl Options {
    /// How long the publisher may stream: `duration`, or with `packets`
    /// long enough for them after its latest start and auth.
    pub fn streaming(&self) -> Duration {
        match self.packets {
            Some(n) => self.packet_interval * u32::try_from(n).unwrap_or(u32::MAX) + Duration::from_secs(4),
            None => self.duration.max(Duration::from_secs(1)),
        }
    }

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
            packets: p.packets,
            ts_packets: (p.payload_len / PACKET_LEN).clamp(1, 7),
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

/// Most subscribers of a generated run (their addresses are
/// `127.0.0.20` up to `127.0.0.29`).
pub const MAX_SUBSCRIBERS: usize = 10;

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
        let duration = options.streaming();
        let live_id = format!("user{}", rng.below(100_000));
        let live_code: String =
            (0..20).map(|_| char::from(CODE_ALPHABET[rng.below(CODE_ALPHABET.len() as u64) as usize])).collect();
        let mut salt = [0u8; 16];
        salt[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        salt[8..].copy_from_slice(&rng.next_u64().to_le_bytes());

        let packet_interval = options.packet_interval.max(Duration::from_micros(100));
        let packets = (duration.as_micros() / packet_interval.as_micros()) as u64;
        let publisher = PublisherSpec {
            addr: peer_addr(10, &mut rng),
            port: if rng.chance(0.5) { Port::Push } else { Port::Pull },
            live_id: live_id.clone(),
            live_code: live_code.clone(),
            packet_interval,
            packets: options.packets,
            payload_len: 1000 + rng.below(400) as usize,
            // Close enough to 65535 that about half the runs wrap.
            first_sequence: (65_535 - rng.below(2 * packets.max(1)).min(65_535)) as u16,
            reauth_interval: Duration::from_millis(3000 + rng.below(2000)),
            stop_linger: link.max_latency() * 2 + Duration::from_millis(100),
        };
        let mut subscribers = Vec::new();
        for i in 0..options.subscribers.clamp(1, MAX_SUBSCRIBERS) {
            let (octet, port) = (20 + i as u8, if i % 2 == 0 { Port::Push } else { Port::Pull });
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
