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
/// How far ahead of the last packet found the next is looked for: twenty
/// datagrams of seven TS packets in a row lost.
const LOOKAHEAD: usize = 20 * 7;

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `rtprelay <verb> --server <via> --live-id cam1 ...`, its standard error
/// into `log`.
fn client(verb: &str, via: SocketAddr, args: &[&str], log: &std::path::Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args([verb, "--server", &via.to_string(), "--live-id", "cam1"]).args(args);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(log).unwrap());
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
    /// The first and the last TS packet arrived.
    ends: bool,
    /// Where the first and the last packet pulled are in the fixture.
    span: (Option<usize>, Option<usize>),
}

/// The fixture's TS packets found in `pulled`: each pulled packet is looked
/// for a little ahead of the last one found (a lost datagram takes a few
/// packets out; MPEG-TS repeats some packets, such as its tables, so a
/// search of the whole rest could jump ahead to a copy).
fn compare(fixture: &[u8], pulled: &[u8]) -> Outcome {
    let want: Vec<&[u8]> = fixture.chunks(PACKET_LEN).collect();
    let (mut next, mut found, mut first, mut last) = (0, 0, None, None);
    for packet in pulled.chunks(PACKET_LEN) {
        let ahead = &want[next..(next + LOOKAHEAD).min(want.len())];
        if let Some(k) = ahead.iter().position(|w| *w == packet) {
            first.get_or_insert(next + k);
            last = Some(next + k);
            next += k + 1;
            found += 1;
        }
    }
    Outcome {
        dropped: [(0, 0); 2],
        delivered: found,
        total: want.len(),
        identical: fixture == pulled,
        ends: first == Some(0) && last == Some(want.len() - 1),
        span: (first, last),
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
    let logs = [path_in(&dir, "pull.log"), path_in(&dir, "push.log")];
    let mut puller = Killed(client("pull", pull_leg.addr(), &["-o", out.to_str().unwrap()], &logs[0]).spawn().unwrap());
    eventually("the pull client subscribed", || {
        let clients = http("GET", &server.url("/api/clients"), None, &[]).json();
        clients["clients"]
            .as_array()
            .is_some_and(|c| c.len() == 1 && c[0]["subscriptions"].as_array().is_some_and(|s| !s.is_empty()))
    });
    let push_args = ["--live-code", &code, "--realtime", FIXTURE];
    let mut pusher = Killed(client("push", push_leg.addr(), &push_args, &logs[1]).spawn().unwrap());
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
    let outcome = compare(&fixture, &std::fs::read(&out).unwrap_or_default());
    if !outcome.identical {
        for log in &logs {
            println!("seed {seed}: {}:\n{}", log.display(), std::fs::read_to_string(log).unwrap_or_default());
        }
        let metrics = http("GET", &server.url("/metrics"), None, &[]).body;
        let figures: Vec<&str> = metrics.lines().filter(|l| !l.starts_with('#') && !l.ends_with(" 0")).collect();
        println!("seed {seed}: relay metrics:\n{}", figures.join("\n"));
    }
    Outcome { dropped: [both(push), both(pull)], ..outcome }
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
    let (mut identical, mut fraction, mut ends_missing) = (0, 0.0, Vec::new());
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
        if !o.ends {
            println!("seed {seed}: pulled TS packets {:?} to {:?} of 0 to {}", o.span.0, o.span.1, o.total - 1);
            ends_missing.push(seed);
        }
        identical += usize::from(o.identical);
        fraction += share;
    }
    println!("{identical} of {seeds} byte-identical, {:.6} delivered on average", fraction / seeds as f64);
    assert!(ends_missing.is_empty(), "seeds {ends_missing:?}: the first or the last datagram is missing");
    assert!(fraction / seeds as f64 >= 0.999, "{:.6} delivered on average", fraction / seeds as f64);
}
