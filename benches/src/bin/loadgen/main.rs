//! `rtprelay-loadgen`: a load generator for the relay on loopback. It
//! starts the relay binary, creates streams through the HTTP API, runs
//! P legacy publishers at R packets a second and S legacy subscribers per
//! stream, and reports offered and delivered packets a second, loss,
//! latency p50/p99, the relay's CPU seconds per million forwarded packets
//! (its own, from /proc/<pid>/stat, and the whole machine's, from
//! /proc/stat) and its memory. The same load goes through two reference
//! forwarders in this process (one `sendmmsg` per packet; GSO trains per
//! subscriber), and the figures are printed as ratios to the first target.
//!
//! ```sh
//! cargo build --release -p rtprelay -p rtprelay-benches
//! target/release/rtprelay-loadgen --publishers 1 --subscribers 100 --rate 3000
//! target/release/rtprelay-loadgen --relay old=/tmp/rtprelay-old --relay new=target/release/rtprelay --targets old,new
//! ```

mod proc;
mod publish;
mod receive;
mod reference;
mod relay;
mod report;
mod stats;

use clap::Parser;
use publish::{Clock, Publisher, Window};
use receive::{Join, Receivers};
use reference::{Forwarder, Kind};
use relay::Relay;
use report::Report;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// After the publishers stop, how long packets still in flight may take.
const DRAIN: Duration = Duration::from_millis(500);

#[derive(Parser, Debug)]
#[command(name = "rtprelay-loadgen", about = "Load generator for rtprelay on loopback")]
struct Args {
    /// Streams, one publisher each.
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Packets a second per publisher.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Subscribers per stream.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before the measurement starts.
    #[arg(long, default_value_t = 2.0)]
    warm_up: f64,
    /// Payload bytes per packet (1316: 7 TS packets, 1328-byte datagrams).
    #[arg(long, default_value_t = 1316)]
    payload: usize,
    /// A relay binary to measure, as NAME=PATH (repeatable); default
    /// `relay=` the release build next to this binary.
    #[arg(long = "relay", value_name = "NAME=PATH")]
    relays: Vec<String>,
    /// What to run, in order, comma-separated: relay names, `sendmmsg`,
    /// `gso`; ratios are to the first.
    #[arg(long, value_delimiter = ',', default_value = "relay,sendmmsg,gso")]
    targets: Vec<String>,
    /// Threads reading the subscribers' sockets (at high rates one thread
    /// cannot keep up: each socket read is a system call).
    #[arg(long, default_value_t = 1)]
    receiver_threads: usize,
    /// Runs of each target, alternating (figures are medians).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// What one run measures against.
enum Target {
    Relay(PathBuf),
    Reference(Kind),
}

fn targets(args: &Args) -> Vec<(String, Target)> {
    let default = std::env::current_exe().expect("own path").with_file_name("rtprelay");
    let relays: HashMap<String, PathBuf> = if args.relays.is_empty() {
        HashMap::from([("relay".to_owned(), default)])
    } else {
        args.relays
            .iter()
            .map(|r| {
                let (name, path) = r.split_once('=').unwrap_or_else(|| panic!("--relay {r}: expected NAME=PATH"));
                (name.to_owned(), PathBuf::from(path))
            })
            .collect()
    };
    args.targets
        .iter()
        .map(|name| {
            let target = match name.as_str() {
                "sendmmsg" => Target::Reference(Kind::Sendmmsg),
                "gso" => Target::Reference(Kind::Gso),
                relay => Target::Relay(relays.get(relay).unwrap_or_else(|| panic!("unknown target {relay}")).clone()),
            };
            (name.clone(), target)
        })
        .collect()
}

/// The load: who sends where, and the subscribers' sockets.
struct Load {
    publishers: Vec<Publisher>,
    subscribers: Vec<(UdpSocket, Join)>,
}

fn publisher_socket(p: usize, to: SocketAddr) -> UdpSocket {
    let ip = Ipv4Addr::new(127, 99, (p / 250 + 1) as u8, (p % 250 + 1) as u8);
    let socket = UdpSocket::bind((ip, 0)).expect("bind a publisher");
    socket.connect(to).expect("connect");
    socket
}

/// Streams on the relay: created, authenticated, and their subscribers.
fn relay_load(args: &Args, relay: &Relay) -> Load {
    let mut load = Load { publishers: Vec::new(), subscribers: Vec::new() };
    for p in 0..args.publishers {
        let live_id = format!("load{p}");
        let code = relay.create_stream(&live_id);
        load.publishers.push(Publisher::authenticate(publisher_socket(p, relay.push), &live_id, &code));
        for s in 0..args.subscribers {
            let join = Join::Relay { pull: relay.pull, live_id: live_id.clone() };
            load.subscribers.push((receive::bind(p * args.subscribers + s), join));
        }
    }
    load
}

/// The same streams through a reference forwarder: SSRC p + 1.
fn reference_load(args: &Args, kind: Kind) -> (Load, Forwarder) {
    let mut routes = HashMap::new();
    let mut subscribers = Vec::new();
    for p in 0..args.publishers {
        let sockets: Vec<UdpSocket> = (0..args.subscribers).map(|s| receive::bind(p * args.subscribers + s)).collect();
        routes.insert(p as u32 + 1, sockets.iter().map(|s| s.local_addr().expect("address")).collect());
        subscribers.extend(sockets.into_iter().map(|s| (s, Join::Direct)));
    }
    let forwarder = Forwarder::start(kind, routes);
    let publishers = (0..args.publishers)
        .map(|p| Publisher::unauthenticated(publisher_socket(p, forwarder.addr), p as u32 + 1))
        .collect();
    (Load { publishers, subscribers }, forwarder)
}

/// CPU seconds at one moment: the forwarding process's and the machine's.
#[derive(Clone, Copy)]
struct Cpu {
    process: f64,
    machine: f64,
}

impl Cpu {
    fn read(stat: &str) -> Self {
        Cpu {
            process: proc::cpu_seconds(stat).unwrap_or(f64::NAN),
            machine: proc::machine_busy_seconds().unwrap_or(f64::NAN),
        }
    }
}

fn sleep_until(at: Instant) {
    if let Some(d) = at.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

/// One run of the load against `target`.
fn run(args: &Args, name: &str, target: &Target) -> Report {
    let relay = match target {
        Target::Relay(bin) => Some(Relay::start(bin)),
        Target::Reference(_) => None,
    };
    let rss_before = relay.as_ref().and_then(|r| proc::rss_bytes(r.pid()).ok());
    let (load, forwarder) = match (target, &relay) {
        (Target::Reference(kind), _) => {
            let (load, f) = reference_load(args, *kind);
            (load, Some(f))
        }
        (_, Some(relay)) => (relay_load(args, relay), None),
        (Target::Relay(_), None) => unreachable!("a relay target starts a relay"),
    };
    let stat = match (&relay, &forwarder) {
        (Some(r), _) => format!("/proc/{}/stat", r.pid()),
        (None, Some(f)) => f.stat.clone(),
        (None, None) => unreachable!("one or the other"),
    };
    let total = load.subscribers.len();
    let clock = Clock::new();
    let window = Arc::new(Window::unset());
    let receivers = Receivers::start(load.subscribers, args.receiver_threads, clock, window.clone());
    let join_deadline = Instant::now() + Duration::from_secs(30) + Duration::from_millis(total as u64 * 10);
    while receivers.joined() < total && Instant::now() < join_deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let joined = receivers.joined();
    let rss_joined = relay.as_ref().and_then(|r| proc::rss_bytes(r.pid()).ok());
    let warm_up = Duration::from_secs_f64(args.warm_up).as_nanos() as u64;
    let measured = Duration::from_secs_f64(args.duration).as_nanos() as u64;
    let start = clock.now_ns() + 50_000_000;
    window.set(start + warm_up, start + warm_up + measured);
    let (publishers, rate, payload, shared) = (load.publishers, args.rate, args.payload, window.clone());
    let sender = std::thread::spawn(move || publish::run(publishers, clock, start, &shared, rate, payload));
    sleep_until(clock.at(window.start()));
    let before = Cpu::read(&stat);
    sleep_until(clock.at(window.end()));
    let after = Cpu::read(&stat);
    let sent = sender.join().expect("publishers");
    std::thread::sleep(DRAIN);
    let rss_end = relay.as_ref().and_then(|r| proc::rss_bytes(r.pid()).ok());
    let tally = receivers.stop();
    if let Some(f) = forwarder {
        f.stop();
    }
    drop(relay);
    Report::new(
        name,
        args,
        joined,
        total,
        sent,
        &tally,
        (after.process - before.process, after.machine - before.machine),
        [rss_before, rss_joined, rss_end],
    )
}

/// Raises the soft open-file limit to the hard one: one socket per
/// subscriber.
fn raise_open_files() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

fn main() {
    let args = Args::parse();
    raise_open_files();
    let targets = targets(&args);
    let mut reports = Vec::new();
    for round in 0..args.rounds {
        for (name, target) in &targets {
            let report = run(&args, name, target);
            if !args.json {
                eprintln!("round {}: {}", round + 1, report.line());
            }
            reports.push(report);
        }
    }
    let names: Vec<&str> = targets.iter().map(|(n, _)| n.as_str()).collect();
    let summary = report::summarise(&names, &reports);
    if args.json {
        println!("{}", report::json(&args_json(&args), &reports, &summary));
    } else {
        print!("{}", report::table(&summary));
    }
}

fn args_json(args: &Args) -> serde_json::Value {
    serde_json::json!({
        "publishers": args.publishers,
        "rate": args.rate,
        "subscribers": args.subscribers,
        "duration": args.duration,
        "warmUp": args.warm_up,
        "payload": args.payload,
        "rounds": args.rounds,
        "receiverThreads": args.receiver_threads,
    })
}
