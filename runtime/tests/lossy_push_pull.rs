//! Loss recovery over real sockets (issue 11): `rtprelay push --realtime`
//! and `rtprelay pull` through a seeded lossy UDP proxy on each leg
//! (`support/lossy_proxy.rs`: drop each way, 10 ms + 0-5 ms, 2 %
//! reordered), the pulled file compared with the pushed fixture.
//!
//! The normal suite runs one seed at 5 % drop. Many seeds, printing the
//! delivered fraction of each (the README's "Loss recovery" section):
//!
//! ```sh
//! RTPRELAY_LOSSY_SEEDS=20 RTPRELAY_LOSSY_DROP=0.05 cargo test --release -p rtprelay --test lossy_push_pull -- --nocapture
//! ```

#[path = "support/lossy_proxy.rs"]
mod lossy_proxy;
mod support;

use lossy_proxy::{Impairment, LossyProxy};
use rtprelay_core::mpegts::PACKET_LEN;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/av-4s.ts");

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `rtprelay <verb> --server <via> --live-id cam1 ...`, quiet.
fn client(verb: &str, via: SocketAddr, args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args([verb, "--server", &via.to_string(), "--live-id", "cam1"]).args(args);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// What one run pulled of the fixture, and what the proxies dropped.
struct Outcome {
    /// Dropped of all datagrams, on the push leg and on the pull leg.
    dropped: [(u64, u64); 2],
    /// TS packets of the fixture found, in order, in what was pulled.
    delivered: usize,
    total: usize,
    identical: bool,
    /// The first and the last datagram's worth of TS packets arrived.
    ends: bool,
}

/// The fixture's TS packets found in order in `pulled` (a lost datagram
/// takes its packets out of the middle).
fn compare(fixture: &[u8], pulled: &[u8]) -> Outcome {
    let (want, got): (Vec<&[u8]>, Vec<&[u8]>) =
        (fixture.chunks(PACKET_LEN).collect(), pulled.chunks(PACKET_LEN).collect());
    let matched = want.iter().scan(0usize, |at, w| {
        let found = got[*at..].iter().position(|g| g == w).map(|k| *at + k);
        if let Some(i) = found {
            *at = i + 1;
        }
        Some(found.is_some())
    });
    let matched: Vec<bool> = matched.collect();
    let per_datagram = 7;
    Outcome {
        dropped: [(0, 0); 2],
        delivered: matched.iter().filter(|m| **m).count(),
        total: want.len(),
        identical: fixture == pulled,
        ends: matched[..per_datagram].iter().all(|m| *m) && matched[matched.len() - 1],
    }
}

/// Pushes the fixture in real time through a proxy on each leg dropping
/// `drop` each way, pulls it through the other, and compares.
fn run_seed(seed: u64, drop: f64) -> Outcome {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let code = create_stream(&server, "cam1");
    let push_leg = LossyProxy::start(server.ready.push, seed, Impairment::issue_11(drop));
    let pull_leg = LossyProxy::start(server.ready.pull, seed ^ 0xFFFF_0000, Impairment::issue_11(drop));
    let out = path_in(&dir, "out.ts");
    let mut puller = Killed(client("pull", pull_leg.addr(), &["-o", out.to_str().unwrap()]).spawn().unwrap());
    eventually("the pull client subscribed", || {
        let clients = http("GET", &server.url("/api/clients"), None, &[]).json();
        clients["clients"]
            .as_array()
            .is_some_and(|c| c.len() == 1 && c[0]["subscriptions"].as_array().is_some_and(|s| !s.is_empty()))
    });
    let mut pusher =
        Killed(client("push", push_leg.addr(), &["--live-code", &code, "--realtime", FIXTURE]).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    for child in [&mut pusher, &mut puller] {
        while child.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "seed {seed}: push or pull did not end in 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let fixture = std::fs::read(FIXTURE).unwrap();
    let [push, pull] = [push_leg.finish(), pull_leg.finish()];
    let both = |s: lossy_proxy::ProxyStats| (s.up.1 + s.down.1, s.up.0 + s.down.0);
    Outcome { dropped: [both(push), both(pull)], ..compare(&fixture, &std::fs::read(&out).unwrap_or_default()) }
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One seed (or `RTPRELAY_LOSSY_SEEDS` of them) at 5 % drop each way on
/// both legs (or `RTPRELAY_LOSSY_DROP`): the stream arrives whole, its
/// first and last datagrams always.
#[test]
fn a_stream_through_lossy_proxies_on_both_legs_arrives_whole() {
    let (seeds, drop): (u64, f64) = (env("RTPRELAY_LOSSY_SEEDS", 1), env("RTPRELAY_LOSSY_DROP", 0.05));
    let (mut identical, mut fraction) = (0, 0.0);
    for seed in 1..=seeds {
        let o = run_seed(seed, drop);
        let share = o.delivered as f64 / o.total as f64;
        println!(
            "seed {seed}: delivered {share:.6} ({} of {} TS packets), {}; dropped {}/{} datagrams on the push leg, {}/{} on the pull leg",
            o.delivered,
            o.total,
            if o.identical { "byte-identical" } else { "not identical" },
            o.dropped[0].0,
            o.dropped[0].1,
            o.dropped[1].0,
            o.dropped[1].1,
        );
        assert!(o.ends, "seed {seed}: the first or the last datagram is missing");
        identical += usize::from(o.identical);
        fraction += share;
    }
    println!("{identical} of {seeds} byte-identical, {:.6} delivered on average", fraction / seeds as f64);
    assert!(fraction / seeds as f64 >= 0.999, "{:.6} delivered on average", fraction / seeds as f64);
}
