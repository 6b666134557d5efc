//! The virtual network: one [`Link`] per direction of each peer's path to
//! the relay, each with its own loss state and its own random stream,
//! derived from the network seed (never the relay's). Links draw in event
//! order, so a seed replays; separate streams keep a change of traffic on
//! one link from reshuffling the fate of every other link's datagrams.

use crate::seed::{SimRng, SplitMix64};
use rtprelay_core::Instant;
use std::collections::BTreeMap;
use std::time::Duration;

/// Bursty loss after Gilbert and Elliott: a two-state Markov chain stepped
/// once per datagram; in the bad state datagrams are lost with
/// `bad_loss`, in the good state with the link's uniform `loss`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GilbertElliott {
    /// Probability of going from good to bad, per datagram.
    pub enter_bad: f64,
    /// Probability of going from bad to good, per datagram.
    pub leave_bad: f64,
    /// Loss probability while bad.
    pub bad_loss: f64,
}

/// The model of one link, as plain data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way base delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly in `[0, jitter]` per datagram.
    pub jitter: Duration,
    /// Uniform loss probability (in the good state when bursty).
    pub loss: f64,
    /// Optional bursty loss on top of `loss`.
    pub burst: Option<GilbertElliott>,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Longest lag of a duplicate behind its original (at least 1 µs).
    pub duplicate_delay: Duration,
    /// Probability that a datagram is held back by up to `reorder_delay`,
    /// so later datagrams overtake it.
    pub reorder: f64,
    /// Longest hold-back of a reordered datagram.
    pub reorder_delay: Duration,
}

impl Default for LinkConfig {
    /// A clean 20 ms ± 2 ms link.
    fn default() -> Self {
        LinkConfig {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(2),
            loss: 0.0,
            burst: None,
            duplicate: 0.0,
            duplicate_delay: Duration::from_millis(10),
            reorder: 0.0,
            reorder_delay: Duration::from_millis(50),
        }
    }
}

impl LinkConfig {
    /// Whether every datagram arrives (at least once).
    pub fn is_lossless(&self) -> bool {
        self.loss == 0.0 && self.burst.is_none_or(|b| b.bad_loss == 0.0 || b.enter_bad == 0.0)
    }

    /// The longest time a datagram can spend on this link.
    pub fn max_latency(&self) -> Duration {
        self.delay + self.jitter + self.reorder_delay + self.duplicate_delay
    }
}

/// Which way a datagram travels on a peer's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// From the peer to the relay.
    ToRelay,
    /// From the relay to the peer.
    FromRelay,
}

/// What a link did, for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams offered to the link.
    pub offered: u64,
    /// Datagrams lost.
    pub lost: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Datagrams held back to be overtaken.
    pub reordered: u64,
}

impl std::ops::AddAssign for LinkStats {
    fn add_assign(&mut self, o: LinkStats) {
        self.offered += o.offered;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
    }
}

/// One direction of one path: its model, its burst state and its random
/// stream.
pub struct Link {
    config: LinkConfig,
    rng: SimRng,
    bad: bool,
    stats: LinkStats,
}

impl Link {
    /// A link in the good state drawing from `rng`.
    pub fn new(config: LinkConfig, rng: SimRng) -> Self {
        Link { config, rng, bad: false, stats: LinkStats::default() }
    }

    /// Sends one datagram at `now`: the instants at which copies arrive
    /// (none if lost, two if duplicated).
    pub fn transmit(&mut self, now: Instant) -> Vec<Instant> {
        let c = self.config;
        let rng = &mut self.rng;
        self.stats.offered += 1;
        let mut loss = c.loss;
        if let Some(ge) = c.burst {
            self.bad = if self.bad { !rng.chance(ge.leave_bad) } else { rng.chance(ge.enter_bad) };
            if self.bad {
                loss = ge.bad_loss;
            }
        }
        if rng.chance(loss) {
            self.stats.lost += 1;
            return Vec::new();
        }
        let mut at = now + c.delay + rng.duration_up_to(c.jitter);
        if rng.chance(c.reorder) {
            self.stats.reordered += 1;
            at = at + rng.duration_up_to(c.reorder_delay);
        }
        let mut arrivals = vec![at];
        if rng.chance(c.duplicate) {
            self.stats.duplicated += 1;
            let lag = rng.duration_up_to(c.duplicate_delay).max(Duration::from_micros(1));
            arrivals.push(at + lag);
        }
        arrivals
    }

    /// What this link did so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }
}

/// Every link of the run.
pub struct Network {
    seed: u64,
    default: LinkConfig,
    links: BTreeMap<(usize, Direction), Link>,
}

impl Network {
    /// A network whose links all follow `config`, their random streams
    /// derived from `seed`.
    pub fn new(seed: [u8; 32], config: LinkConfig) -> Self {
        let seed = u64::from_le_bytes(seed[..8].try_into().expect("8 bytes"));
        Network { seed, default: config, links: BTreeMap::new() }
    }

    /// Sends a datagram on peer `peer`'s path in `direction` at `now`:
    /// the arrival instants of its copies.
    pub fn transmit(&mut self, peer: usize, direction: Direction, now: Instant) -> Vec<Instant> {
        let (seed, default) = (self.seed, self.default);
        let link = self.links.entry((peer, direction)).or_insert_with(|| {
            let key = (peer as u64) << 1 | u64::from(direction == Direction::FromRelay);
            let mut sm = SplitMix64::new(seed ^ key.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            Link::new(default, SimRng::from_seed(sm.next_seed32()))
        });
        link.transmit(now)
    }

    /// Totals over every link.
    pub fn stats(&self) -> LinkStats {
        let mut total = LinkStats::default();
        for link in self.links.values() {
            total += link.stats();
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_have_independent_streams() {
        let config = LinkConfig { loss: 0.5, ..Default::default() };
        let mut a = Network::new([1; 32], config);
        let mut b = Network::new([1; 32], config);
        let fates = |n: &mut Network, peer| {
            (0..64).map(|i| n.transmit(peer, Direction::ToRelay, Instant::from_millis(i))).collect::<Vec<_>>()
        };
        let first = fates(&mut a, 0);
        let _ = fates(&mut b, 1);
        assert_eq!(first, fates(&mut b, 0), "traffic on peer 1's link does not change peer 0's");
        assert_ne!(first, fates(&mut a, 1));
    }

    fn run(config: LinkConfig, n: usize) -> (LinkStats, Vec<Vec<Instant>>) {
        let mut link = Link::new(config, SimRng::from_seed([9; 32]));
        let arrivals = (0..n).map(|i| link.transmit(Instant::from_millis(i as u64))).collect();
        (link.stats(), arrivals)
    }

    #[test]
    fn a_clean_link_delivers_everything_once_within_its_latency() {
        let config = LinkConfig::default();
        let (stats, arrivals) = run(config, 1000);
        assert_eq!(stats, LinkStats { offered: 1000, ..Default::default() });
        for (i, a) in arrivals.iter().enumerate() {
            let sent = Instant::from_millis(i as u64);
            assert_eq!(a.len(), 1);
            assert!(a[0] - sent >= config.delay && a[0] - sent <= config.max_latency());
        }
    }

    #[test]
    fn uniform_loss_and_duplication_rates_are_close_to_their_settings() {
        let (stats, _) = run(LinkConfig { loss: 0.1, duplicate: 0.05, ..Default::default() }, 20_000);
        assert!((1600..2400).contains(&stats.lost), "{stats:?}");
        assert!((700..1200).contains(&stats.duplicated), "{stats:?}");
    }

    #[test]
    fn gilbert_elliott_losses_come_in_bursts() {
        let burst = GilbertElliott { enter_bad: 0.01, leave_bad: 0.2, bad_loss: 1.0 };
        let (stats, arrivals) = run(LinkConfig { burst: Some(burst), ..Default::default() }, 20_000);
        // Stationary bad share: 0.01 / (0.01 + 0.2) ≈ 4.8 %; mean burst 5.
        assert!((600..1400).contains(&stats.lost), "{stats:?}");
        let runs = arrivals.windows(2).filter(|w| w[0].is_empty() && !w[1].is_empty()).count() as u64;
        assert!(stats.lost / runs.max(1) >= 3, "losses should cluster: {} in {runs} runs", stats.lost);
    }

    #[test]
    fn reordering_lets_later_datagrams_overtake() {
        let (stats, arrivals) = run(LinkConfig { reorder: 0.2, ..Default::default() }, 2000);
        let firsts: Vec<Instant> = arrivals.iter().map(|a| a[0]).collect();
        let overtaken = firsts.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(stats.reordered > 300 && overtaken > 100, "{stats:?}, {overtaken}");
    }
}
