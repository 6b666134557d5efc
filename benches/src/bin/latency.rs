//! End-to-end latency through the real relay binary on loopback: a push
//! client and a pull client (the async API of `rtprelay`) in this process,
//! the relay in a child process. Each pushed datagram carries its index;
//! the time from `push` to the pull client's in-order `PullStreamData` is
//! one sample (so the reorder buffer's handling is included).
//!
//! ```sh
//! cargo build --release -p rtprelay
//! cargo run --release -p rtprelay-benches --bin latency -- [--packets 3000] [--rate 500]
//! ```

use bytes::Bytes;
use rtprelay::client::{PullConfig, PullEvent, PullStreamClient, PushConfig, PushStreamClient};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One datagram: 7 TS packets.
const PAYLOAD: usize = 7 * 188;
/// Packets sent in the first half second are the pull buffer's start-up
/// (it holds a new stream for one 200 ms window), not steady state.
const WARM_UP: Duration = Duration::from_millis(500);

struct Relay(Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn binary() -> String {
    std::env::var("RTPRELAY_BIN")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/rtprelay").to_owned())
}

/// Starts `rtprelay serve` on loopback port 0; returns it with its push,
/// pull and HTTP addresses.
fn start_relay(dir: &std::path::Path) -> (Relay, [String; 3]) {
    let mut child = Command::new(binary())
        .args(["serve", "--push-addr", "127.0.0.1:0", "--pull-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (build it: cargo build --release -p rtprelay)", binary()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    let addrs = ["push", "pull", "http"].map(|k| json[k].as_str().unwrap().to_owned());
    (Relay(child), addrs)
}

fn create_stream(http: &str) -> String {
    let out = Command::new(binary())
        .args(["stream", "create", "--live-id", "latency", "--http", &format!("http://{http}")])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["liveCode"].as_str().unwrap().to_owned()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let packets = arg("--packets", 3000) as usize;
    let rate = arg("--rate", 500).max(1);
    let warm_up = (rate * WARM_UP.as_millis() as u64 / 1000) as usize;
    let dir = std::env::temp_dir().join(format!("rtprelay-latency-{}", std::process::id()));
    let (_relay, [push, pull, http]) = start_relay(&dir);
    let code = create_stream(&http);
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut subscriber = PullStreamClient::bind(any, pull.parse().unwrap(), PullConfig::default()).await.unwrap();
    subscriber.pull(&["latency"]).await.unwrap();
    let mut publisher = PushStreamClient::bind(any, push.parse().unwrap(), PushConfig::default()).await.unwrap();
    publisher.auth("latency", &code).await.unwrap();
    let answer = publisher.wait_for_auth("latency", Duration::from_secs(10)).await;
    assert_eq!(answer, Some(true), "the relay accepted the stream");
    let mut sent: Vec<Option<Instant>> = vec![None; packets];
    let mut samples = Vec::with_capacity(packets);
    let interval = Duration::from_micros(1_000_000 / rate);
    let start = tokio::time::Instant::now();
    let mut next = 0usize;
    let deadline = start + interval * packets as u32 + Duration::from_secs(2);
    loop {
        let due = start + interval * next as u32;
        tokio::select! {
            () = tokio::time::sleep_until(due), if next < packets => {
                let mut data = vec![0xffu8; PAYLOAD];
                for ts in data.chunks_mut(188) {
                    ts[..4].copy_from_slice(&[0x47, 0x1f, 0xff, 0x10]);
                }
                data[4..12].copy_from_slice(&(next as u64).to_be_bytes());
                sent[next] = Some(Instant::now());
                publisher.push("latency", Bytes::from(data)).await.unwrap();
                next += 1;
            }
            event = subscriber.next_event() => {
                if let Some(PullEvent::PullStreamData { data, .. }) = event {
                    let index = u64::from_be_bytes(data[4..12].try_into().unwrap()) as usize;
                    if let Some(Some(at)) = sent.get(index) {
                        samples.push((index, at.elapsed()));
                    }
                    if samples.len() == packets {
                        break;
                    }
                }
            }
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    let mut steady: Vec<Duration> = samples.iter().filter(|(i, _)| *i >= warm_up).map(|(_, d)| *d).collect();
    steady.sort();
    let stats = subscriber.stats("latency").await.unwrap_or_default();
    println!(
        "packets sent {packets} at {rate}/s, received {}, lost {}, late {}, recovered {} (NACKed {})",
        samples.len(),
        stats.lost,
        stats.late,
        stats.recovered,
        stats.nacked
    );
    if !steady.is_empty() {
        println!(
            "latency after the first {WARM_UP:?}: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
            percentile(&steady, 0.5),
            percentile(&steady, 0.9),
            percentile(&steady, 0.99),
            steady[steady.len() - 1]
        );
    }
    if std::env::var_os("LATENCY_DEBUG").is_some() {
        let mut worst: Vec<_> = samples.iter().filter(|(i, _)| *i >= warm_up).copied().collect();
        worst.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
        for (i, d) in worst.iter().take(12) {
            println!("  packet {i}: {d:?}");
        }
    }
    publisher.close().await;
    subscriber.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
