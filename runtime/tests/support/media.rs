//! The `push` and `pull` commands against a test relay, and the fixture
//! they carry (a 4 s audio/video MPEG-TS).

use super::{Server, binary, eventually, http};
use rtprelay_core::mpegts::{MediaClock, PACKET_LEN};
use std::collections::HashMap;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The fixture's path.
pub(crate) const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/av-4s.ts");

/// A child process killed on drop.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The fixture's bytes.
pub(crate) fn fixture() -> Vec<u8> {
    std::fs::read(FIXTURE).unwrap()
}

/// The fixture's duration by its PCR.
pub(crate) fn fixture_duration() -> Duration {
    let mut clock = MediaClock::default();
    fixture().chunks(PACKET_LEN).filter_map(|p| clock.observe(p)).last().unwrap()
}

/// `rtprelay pull` of `ids` from `server` into `output`.
pub(crate) fn pull(server: &Server, ids: &[&str], output: &str, extra: &[&str]) -> Command {
    pull_from(&server.ready.pull.to_string(), ids, output, extra)
}

/// `rtprelay pull` of `ids` from the relay at `address` into `output`.
pub(crate) fn pull_from(address: &str, ids: &[&str], output: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.arg("pull").arg("--server").arg(address);
    for id in ids {
        cmd.args(["--live-id", id]);
    }
    cmd.args(["-o", output]).args(extra);
    cmd
}

/// `rtprelay push` of stream `live_id` to `server`.
pub(crate) fn push(server: &Server, live_id: &str, code: &str, extra: &[&str]) -> Command {
    let mut cmd = push_without_code(server, live_id, extra);
    cmd.args(["--live-code", code]);
    cmd
}

/// `rtprelay push` without `--live-code`, and without a code in the
/// environment unless the test sets one.
pub(crate) fn push_without_code(server: &Server, live_id: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.arg("push").arg("--server").arg(server.ready.push.to_string());
    cmd.args(["--live-id", live_id]).args(extra).env_remove("RTPRELAY_LIVE_CODE");
    cmd
}

/// Starts `cmd` with no input or output, its stderr piped.
pub(crate) fn cmd_spawn(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Waits (bounded) until the relay has `n` pull clients whose requests it
/// applied, so a pull that started first subscribed before the publisher
/// goes live.
pub(crate) fn wait_clients(server: &Server, n: usize) {
    eventually("pull clients subscribed", || {
        let clients = http("GET", &server.url("/api/clients"), None, &[]).json();
        let subscribed = |c: &serde_json::Value| c["subscriptions"].as_array().is_some_and(|s| !s.is_empty());
        clients["clients"].as_array().is_some_and(|c| c.len() == n && c.iter().all(subscribed))
    });
}

/// The child's exit status, waited for at most `within`.
pub(crate) fn wait_exit(child: &mut Guard, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the child did not exit in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A counter of the relay's /metrics (0 when absent).
pub(crate) fn metric(server: &Server, name: &str) -> u64 {
    let text = http("GET", &server.url("/metrics"), None, &[]).body;
    text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or(0)
}

/// The fraction of `sent`'s 188-byte TS packets missing from `got`
/// (each counted as often as it occurs).
pub(crate) fn ts_loss(sent: &[u8], got: &[u8]) -> f64 {
    let mut have: HashMap<&[u8], usize> = HashMap::new();
    for p in got.chunks(PACKET_LEN) {
        *have.entry(p).or_default() += 1;
    }
    let total = sent.chunks(PACKET_LEN).count();
    let missing = sent
        .chunks(PACKET_LEN)
        .filter(|p| match have.get_mut(p) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .count();
    missing as f64 / total as f64
}
