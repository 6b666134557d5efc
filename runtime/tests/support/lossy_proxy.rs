//! A seeded lossy UDP proxy for the integration tests: it stands between
//! clients and one relay socket on loopback and, in both directions,
//! drops, delays and reorders datagrams, every choice drawn from one seed
//! (the timing of the real sockets still varies from run to run).
//!
//! Each client address gets its own upstream socket, so the relay sees one
//! address per client, as through a NAT. One thread moves everything;
//! dropping the proxy stops it.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the proxy does to each datagram, each way.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Impairment {
    /// Drop probability.
    pub(crate) drop: f64,
    /// Base one-way delay.
    pub(crate) delay: Duration,
    /// Extra delay drawn uniformly in `[0, jitter]`.
    pub(crate) jitter: Duration,
    /// Probability that a datagram is held back a further `[0, 20 ms]`, so
    /// later ones overtake it.
    pub(crate) reorder: f64,
}

impl Impairment {
    /// Issue 11's link: `drop` each way, 10 ms + 0-5 ms, 2 % reordered.
    pub(crate) fn issue_11(drop: f64) -> Self {
        Impairment { drop, delay: Duration::from_millis(10), jitter: Duration::from_millis(5), reorder: 0.02 }
    }
}

/// What the proxy did, each way.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProxyStats {
    /// Datagrams received from clients, and dropped of them.
    pub(crate) up: (u64, u64),
    /// Datagrams received from the relay, and dropped of them.
    pub(crate) down: (u64, u64),
}

/// SplitMix64: the proxy's seeded choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn up_to(&mut self, max: Duration) -> Duration {
        max.mul_f64(self.unit())
    }
}

/// A datagram on its way: due time, a tie-break, which socket sends it
/// (`None`: the client-facing one) and where.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Due(std::cmp::Reverse<(Instant, u64)>, Option<SocketAddr>, SocketAddr, Vec<u8>);

/// A running proxy; stopped when dropped.
pub(crate) struct LossyProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<ProxyStats>>,
}

impl LossyProxy {
    /// A proxy on a free loopback port forwarding to `relay`.
    pub(crate) fn start(relay: SocketAddr, seed: u64, impairment: Impairment) -> Self {
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind the proxy");
        front.set_nonblocking(true).expect("non-blocking");
        let addr = front.local_addr().expect("proxy address");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || run(front, relay, Rng(seed), impairment, &flag));
        LossyProxy { addr, stop, thread: Some(thread) }
    }

    /// Where clients send to reach the relay.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the proxy and says what it did.
    pub(crate) fn finish(mut self) -> ProxyStats {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map(|t| t.join().expect("proxy thread")).unwrap_or_default()
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(front: UdpSocket, relay: SocketAddr, mut rng: Rng, imp: Impairment, stop: &AtomicBool) -> ProxyStats {
    let mut stats = ProxyStats::default();
    // Client address -> its upstream socket; and back, by upstream address.
    let mut upstream: HashMap<SocketAddr, UdpSocket> = HashMap::new();
    let mut client_of: BTreeMap<SocketAddr, SocketAddr> = BTreeMap::new();
    let mut queue: BinaryHeap<Due> = BinaryHeap::new();
    let mut order = 0u64;
    let mut buf = vec![0u8; 65_536];
    let mut schedule = |rng: &mut Rng, queue: &mut BinaryHeap<Due>, from: Option<SocketAddr>, to, data: &[u8]| {
        let mut at = Instant::now() + imp.delay + rng.up_to(imp.jitter);
        if rng.unit() < imp.reorder {
            at += rng.up_to(Duration::from_millis(20));
        }
        order += 1;
        queue.push(Due(std::cmp::Reverse((at, order)), from, to, data.to_vec()));
    };
    while !stop.load(Ordering::Relaxed) {
        while let Ok((n, client)) = front.recv_from(&mut buf) {
            stats.up.0 += 1;
            let socket = upstream.entry(client).or_insert_with(|| {
                let s = UdpSocket::bind("127.0.0.1:0").expect("bind an upstream socket");
                s.set_nonblocking(true).expect("non-blocking");
                client_of.insert(s.local_addr().expect("upstream address"), client);
                s
            });
            let from = socket.local_addr().ok();
            if rng.unit() < imp.drop {
                stats.up.1 += 1;
            } else {
                schedule(&mut rng, &mut queue, from, relay, &buf[..n]);
            }
        }
        for &client in client_of.values() {
            while let Ok((n, _)) = upstream[&client].recv_from(&mut buf) {
                stats.down.0 += 1;
                if rng.unit() < imp.drop {
                    stats.down.1 += 1;
                } else {
                    schedule(&mut rng, &mut queue, None, client, &buf[..n]);
                }
            }
        }
        let now = Instant::now();
        while queue.peek().is_some_and(|d| (d.0).0.0 <= now) {
            let Due(_, from, to, data) = queue.pop().expect("peeked");
            let socket = match from {
                None => &front,
                Some(local) => &upstream[&client_of[&local]],
            };
            let _ = socket.send_to(&data, to);
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    stats
}
