//! The push and pull clients against the real relay core, over a tiny
//! in-memory network: lossless, in order, a fixed one-way latency. Checks
//! the whole path (auth, pull, ack, fan-out, stop, close) and recovery from
//! a relay restart.

use bytes::Bytes;
use rtprelay_core::{Command, Config, Credential, Endpoint, Instant, LiveId, Port, Relay, WallClock};
use rtprelay_core::{PullClient, PullConfig, PullEvent};
use rtprelay_core::{PushClient, PushConfig, PushEvent};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const EPOCH_MS: u64 = 1_700_000_000_000;
const LATENCY: Duration = Duration::from_millis(3);
const CODE: &str = "s3cret-code";

fn addr(host: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, host], port))
}

/// Who receives a datagram.
#[derive(Clone, Copy, Debug)]
enum Node {
    /// The relay, on `Port`, from the given source address.
    Relay(Port, SocketAddr),
    /// The publisher, from the relay's `Port`.
    Publisher(Port),
    /// A subscriber, from the relay's `Port`.
    Subscriber(usize, Port),
}

/// The relay socket at `addr`.
fn relay_port(addr: SocketAddr) -> Port {
    if addr == relay_addr(Port::Push) { Port::Push } else { Port::Pull }
}

/// The relay's socket `port`.
fn relay_addr(port: Port) -> SocketAddr {
    match port {
        Port::Push => addr(254, 61_040),
        Port::Pull => addr(254, 61_041),
    }
}

/// The relay, one publisher and some subscribers, on a virtual clock.
struct Net {
    now: Instant,
    relay: Relay,
    publisher: PushClient,
    subscribers: Vec<PullClient>,
    /// Datagrams in flight, by arrival time then send order.
    wire: BTreeMap<(Instant, u64), (Node, Bytes)>,
    sent: u64,
    push_events: Vec<PushEvent>,
    pull_events: Vec<Vec<PullEvent>>,
}

const PUBLISHER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)), 40_000);

fn subscriber_addr(i: usize) -> SocketAddr {
    addr(10 + i as u8, 50_000)
}

fn relay(seed: u8, now: Instant) -> Relay {
    let mut relay = Relay::new(Arc::new(Config::default()), [seed; 32], WallClock::new(Instant::ZERO, EPOCH_MS));
    relay
        .handle_command(now, Command::AddCredential(Credential::new(LiveId::parse("cam1").unwrap(), CODE, [seed; 16])))
        .unwrap();
    relay
}

impl Net {
    fn new(count: usize) -> Self {
        let now = Instant::ZERO;
        // The publisher's clock is 2 s off: it must follow the relay's.
        let publisher = PushClient::new(
            PushConfig::default(),
            relay_addr(Port::Push),
            [1; 32],
            WallClock::new(Instant::ZERO, EPOCH_MS - 2_000),
        );
        let subscribers = (0..count)
            .map(|i| {
                PullClient::new(
                    PullConfig::default(),
                    relay_addr(Port::Pull),
                    [i as u8 + 2; 32],
                    WallClock::new(now, EPOCH_MS),
                    now,
                )
            })
            .collect();
        let mut net = Net {
            now,
            relay: relay(100, now),
            publisher,
            subscribers,
            wire: BTreeMap::new(),
            sent: 0,
            push_events: Vec::new(),
            pull_events: vec![Vec::new(); count],
        };
        for i in 0..count {
            net.drain_subscriber(i);
        }
        net
    }

    fn put(&mut self, to: Node, data: Bytes) {
        self.sent += 1;
        self.wire.insert((self.now + LATENCY, self.sent), (to, data));
    }

    fn drain_relay(&mut self) {
        while let Some(t) = self.relay.poll_transmit(8) {
            let to = if t.destination == PUBLISHER {
                Node::Publisher(t.port)
            } else {
                let i = (0..self.subscribers.len()).find(|&i| subscriber_addr(i) == t.destination).unwrap();
                Node::Subscriber(i, t.port)
            };
            for segment in t.segments {
                self.put(to, segment);
            }
        }
        while self.relay.poll_event().is_some() {}
    }

    fn drain_publisher(&mut self) {
        while let Some(t) = self.publisher.poll_transmit(8) {
            for d in t.segments {
                self.put(Node::Relay(relay_port(t.destination), PUBLISHER), d);
            }
        }
        self.push_events.extend(std::iter::from_fn(|| self.publisher.poll_event()));
    }

    fn drain_subscriber(&mut self, i: usize) {
        while let Some(t) = self.subscribers[i].poll_transmit(8) {
            for d in t.segments {
                self.put(Node::Relay(relay_port(t.destination), subscriber_addr(i)), d);
            }
        }
        let events: Vec<PullEvent> = std::iter::from_fn(|| self.subscribers[i].poll_event()).collect();
        self.pull_events[i].extend(events);
    }

    fn deliver(&mut self, to: Node, data: Bytes) {
        let now = self.now;
        match to {
            Node::Relay(port, from) => {
                self.relay.handle_datagram(now, port, from, data);
                self.drain_relay();
            }
            Node::Publisher(port) => {
                self.publisher.handle_datagram(now, port, relay_addr(port), data);
                self.drain_publisher();
            }
            Node::Subscriber(i, port) => {
                self.subscribers[i].handle_datagram(now, port, relay_addr(port), data);
                self.drain_subscriber(i);
            }
        }
    }

    /// Advances the clock to `until`, delivering datagrams and firing
    /// timeouts in time order.
    fn run_until(&mut self, until: Instant) {
        for _ in 0..1_000_000 {
            let deadlines = [self.relay.poll_timeout(), self.publisher.poll_timeout()]
                .into_iter()
                .chain(self.subscribers.iter().map(|s| s.poll_timeout()))
                .chain([self.wire.keys().next().map(|k| k.0)]);
            let Some(next) = deadlines.flatten().min().filter(|&t| t <= until) else {
                self.now = self.now.max(until);
                return;
            };
            self.now = self.now.max(next);
            let now = self.now;
            while let Some(entry) = self.wire.first_entry().filter(|e| e.key().0 <= now) {
                let (to, data) = entry.remove();
                self.deliver(to, data);
            }
            if self.relay.poll_timeout().is_some_and(|t| t <= now) {
                self.relay.handle_timeout(now);
                self.drain_relay();
            }
            if self.publisher.poll_timeout().is_some_and(|t| t <= now) {
                self.publisher.handle_timeout(now);
                self.drain_publisher();
            }
            for i in 0..self.subscribers.len() {
                if self.subscribers[i].poll_timeout().is_some_and(|t| t <= now) {
                    self.subscribers[i].handle_timeout(now);
                    self.drain_subscriber(i);
                }
            }
        }
        panic!("the network does not settle");
    }

    fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    fn auth(&mut self) {
        self.publisher.auth(self.now, "cam1", CODE).unwrap();
        self.drain_publisher();
    }

    fn pull(&mut self, i: usize) {
        self.subscribers[i].pull(self.now, &["cam1"]).unwrap();
        self.drain_subscriber(i);
    }

    fn push(&mut self, data: &[u8]) {
        self.publisher.push(self.now, "cam1", data).unwrap();
        self.drain_publisher();
    }

    /// The data a subscriber received on `cam1`, as (seq, payload).
    fn received(&self, i: usize) -> Vec<(u16, Bytes)> {
        self.pull_events[i]
            .iter()
            .filter_map(|e| match e {
                PullEvent::PullStreamData { live_id, seq, data } if live_id == "cam1" => {
                    Some((seq.get(), data.clone()))
                }
                _ => None,
            })
            .collect()
    }
}

/// Chunk `k` of the test stream: `len` bytes, with `k` in its first four.
fn chunk(k: u32, len: usize) -> Vec<u8> {
    let mut c: Vec<u8> = (0..len).map(|i| (i as u32).wrapping_mul(31).wrapping_add(k) as u8).collect();
    c[..4].copy_from_slice(&k.to_be_bytes());
    c
}

fn ready_and_live(events: &[PullEvent]) -> Vec<&PullEvent> {
    events.iter().filter(|e| !matches!(e, PullEvent::PullStreamData { .. })).collect()
}

#[test]
fn a_publisher_and_two_subscribers_end_to_end() {
    let mut net = Net::new(2);
    net.pull(0); // before the stream is live
    net.run_for(Duration::from_millis(100));
    net.auth();
    net.run_for(Duration::from_millis(100));
    net.pull(1); // after
    net.run_for(Duration::from_millis(100));
    assert_eq!(net.push_events, [PushEvent::AuthRsp { live_id: "cam1".into(), ok: true }]);
    let live = PullEvent::PullStreamReqSuccess { live_ids: vec!["cam1".into()] };
    let no_stream = PullEvent::NoStream { live_ids: vec!["cam1".into()] };
    assert_eq!(ready_and_live(&net.pull_events[0]), [&PullEvent::PullStreamReady, &no_stream, &live]);
    assert_eq!(ready_and_live(&net.pull_events[1]), [&PullEvent::PullStreamReady, &live]);

    // Sizes that are and are not multiples of 188 bytes.
    let mut pushed = Vec::new();
    for k in 0..300u32 {
        let data = chunk(k, [1316, 188, 1000, 2632, 700, 376][k as usize % 6]);
        pushed.extend_from_slice(&data);
        net.push(&data);
        net.run_for(Duration::from_millis(4));
    }
    net.run_for(Duration::from_millis(1_500));
    // Each subscriber's receiver reports reached the relay (2.3).
    let Ok(rtprelay_core::Reply::Clients(clients)) = net.relay.handle_command(net.now, Command::ListClients) else {
        panic!("clients")
    };
    for client in &clients {
        let sub = &client.subscriptions[0];
        assert_eq!((sub.reported_loss, sub.reported_lost_total), (Some(0.0), Some(0)), "{client:?}");
        assert!(sub.reported_jitter.is_some());
    }
    net.publisher.close(net.now);
    net.drain_publisher();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.push_events.last(), Some(&PushEvent::CloseSuccess));

    let first = net.received(0);
    assert!(!first.is_empty());
    for i in 0..2 {
        let got = net.received(i);
        let seqs: Vec<u16> = got.iter().map(|(s, _)| *s).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)), "subscriber {i}: consecutive");
        let bytes: Vec<u8> = got.iter().flat_map(|(_, d)| d.iter().copied()).collect();
        assert_eq!(bytes.len(), pushed.len(), "subscriber {i}: every byte, the close flushed the rest");
        assert!(bytes == pushed, "subscriber {i}: byte-identical to what was pushed");
        assert_eq!(got, first, "both subscribers got the same packets");
        assert_eq!(net.pull_events[i].last(), Some(&PullEvent::StreamStop { live_id: "cam1".into() }));
        let stats = net.subscribers[i].stats("cam1");
        assert_eq!(stats, None, "the stopped stream left the list");
        net.subscribers[i].close(net.now);
        net.drain_subscriber(i);
    }
    net.run_for(Duration::from_millis(100));
    for i in 0..2 {
        assert_eq!(net.pull_events[i].last(), Some(&PullEvent::CloseSuccess), "subscriber {i}");
        assert_eq!(net.subscribers[i].poll_timeout(), None);
    }
    assert_eq!(net.relay.state_sizes().clients, 0, "the relay forgot both subscribers");
}

#[test]
fn clients_recover_from_a_relay_restart() {
    let mut net = Net::new(2);
    net.pull(0);
    net.pull(1);
    net.auth();
    net.run_for(Duration::from_millis(100));
    let old_ssrc = net.publisher.ssrc("cam1").unwrap();
    let mut k = 0u32;
    let mut push_for = |net: &mut Net, d: Duration| {
        let end = net.now + d;
        while net.now < end {
            net.push(&chunk(k, 1316));
            k += 1;
            net.run_for(Duration::from_millis(20));
        }
        k
    };
    push_for(&mut net, Duration::from_millis(500));
    assert!(net.received(0).len() > 10, "data flows before the restart");

    // The relay restarts: same credential, new state and seed.
    net.relay = relay(200, net.now);
    let restarted_at = net.now;
    let pushed_before = push_for(&mut net, Duration::from_secs(3));
    let recovered_from = pushed_before;
    let pushed = push_for(&mut net, Duration::from_secs(1));
    net.run_for(Duration::from_millis(500));

    let new_ssrc = net.publisher.ssrc("cam1").unwrap();
    assert_ne!(new_ssrc, old_ssrc, "re-authenticated with the new relay");
    assert_eq!(net.push_events.iter().filter(|e| matches!(e, PushEvent::AuthRsp { ok: true, .. })).count(), 2);
    let post: Vec<Vec<u32>> = (0..2)
        .map(|i| {
            assert_eq!(net.subscribers[i].counters().reregistrations, 1, "subscriber {i} registered again");
            let ready = net.pull_events[i].iter().filter(|e| **e == PullEvent::PullStreamReady).count();
            assert_eq!(ready, 2, "subscriber {i}");
            let got: Vec<u32> =
                net.received(i).iter().map(|(_, d)| u32::from_be_bytes([d[0], d[1], d[2], d[3]])).collect();
            assert!(got.windows(2).all(|w| w[0] < w[1]), "subscriber {i}: in order, no duplicates");
            got.into_iter().filter(|&c| c >= recovered_from).collect()
        })
        .collect();
    let expected: Vec<u32> = (recovered_from..pushed).collect();
    assert_eq!(post[0], expected, "every chunk pushed after recovery arrived");
    assert_eq!(post[1], expected);
    assert!(net.now > restarted_at);
}
