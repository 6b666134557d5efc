//! `rtprelay-loadgen` at a tiny scale against the real relay binary and a
//! reference forwarder: its JSON report must show packets delivered, loss
//! computed from them, and every figure present. The relay binary is the
//! one cargo built beside the load generator (`cargo test --workspace`
//! builds it; alone: `cargo build -p rtprelay` first).

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SUBSCRIBERS: u64 = 3;

/// Kills the load generator if the test ends early.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn relay_binary() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_rtprelay-loadgen")).with_file_name("rtprelay");
    assert!(path.exists(), "{} missing: cargo build -p rtprelay", path.display());
    path
}

fn number(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} is a number in {v}"))
}

#[test]
fn a_tiny_load_is_delivered_and_reported() {
    let child = Command::new(env!("CARGO_BIN_EXE_rtprelay-loadgen"))
        .arg("--relay")
        .arg(format!("relay={}", relay_binary().display()))
        .args(["--targets", "relay,sendmmsg", "--publishers", "1", "--rate", "200"])
        .args(["--subscribers", &SUBSCRIBERS.to_string(), "--duration", "1", "--warm-up", "0.3", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the load generator");
    let mut running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(90);
    while running.0.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "the load generator did not finish in 90 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut out = String::new();
    std::io::Read::read_to_string(running.0.stdout.as_mut().expect("piped"), &mut out).expect("stdout");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("JSON report: {e}: {out}"));

    let runs = report["runs"].as_array().expect("runs");
    assert_eq!(runs.iter().map(|r| r["target"].as_str().unwrap()).collect::<Vec<_>>(), ["relay", "sendmmsg"]);
    for run in runs {
        assert_eq!((number(run, "joined"), number(run, "subscribers")), (SUBSCRIBERS as f64, SUBSCRIBERS as f64));
        let (expected, delivered) = (number(run, "expected"), number(run, "delivered"));
        assert!(expected >= 100.0 * SUBSCRIBERS as f64, "about 200 packets to each subscriber: {run}");
        // A tiny load on loopback: even a busy machine delivers most of it.
        assert!(delivered > 0.5 * expected, "packets delivered: {run}");
        assert!((number(run, "loss") - (1.0 - delivered / expected)).abs() < 1e-9, "loss from the counts: {run}");
        assert!(number(run, "offeredPps") > 100.0, "{run}");
        assert!(number(run, "deliveredPps") > 0.0, "{run}");
        let (p50, p99) = (number(run, "latencyP50Ms"), number(run, "latencyP99Ms"));
        assert!(0.0 < p50 && p50 <= p99, "latency percentiles: {run}");
        assert!(number(run, "cpuProcessSecondsPerMillion") >= 0.0, "{run}");
        assert!(number(run, "cpuMachineSecondsPerMillion") >= 0.0, "{run}");
        assert!(number(run, "loadAverage") >= 0.0, "{run}");
    }
    let rss = &runs[0]["rssBytes"];
    assert!(number(rss, "before") > 0.0 && number(rss, "joined") > 0.0 && number(rss, "end") > 0.0, "relay RSS: {rss}");
    assert!(runs[1]["rssBytes"]["before"].is_null(), "no RSS for a forwarder inside the load generator");
    let summary = report["summary"].as_array().expect("summary");
    assert_eq!(summary.len(), 2);
    // CPU time is counted in 10 ms ticks: a tiny run may show none, and
    // a ratio to none is no number (null).
    for s in summary {
        assert!(s.get("cpuProcessRatio").is_some_and(|r| r.is_null() || r.as_f64() >= Some(0.0)), "{s}");
    }
    if number(&summary[0], "CPU/M proc s") > 0.0 {
        assert_eq!(number(&summary[0], "cpuProcessRatio"), 1.0, "ratios are to the first target");
    }
}
