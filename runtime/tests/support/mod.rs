//! Shared helpers of the integration tests: the real `rtprelay` binary in a
//! child process (killed on drop), a tiny HTTP client, and hand-built
//! legacy RTP packets written from docs/protocol.md alone (not the core codec).
#![allow(dead_code)] // each test file uses a different subset

pub(crate) mod media;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bound on every wait in the tests.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Payload types (§1.2).
pub(crate) mod pt {
    pub(crate) const DELAY_REQ: u8 = 11;
    pub(crate) const DELAY_RSP: u8 = 12;
    pub(crate) const TS_DATA: u8 = 33;
    pub(crate) const SSRC_ACK: u8 = 99;
    pub(crate) const AUTH_REQ: u8 = 101;
    pub(crate) const AUTH_OK: u8 = 102;
    pub(crate) const AUTH_REFUSED: u8 = 103;
    pub(crate) const PULL_REQ: u8 = 111;
    pub(crate) const PULL_RSP: u8 = 112;
    pub(crate) const CLIENT_ID_REQ: u8 = 114;
    pub(crate) const CLIENT_ID_RSP: u8 = 115;
    pub(crate) const HEARTBEAT: u8 = 116;
    pub(crate) const STOP_PULL_REQ: u8 = 117;
    pub(crate) const STREAM_STOPPED: u8 = 121;
    pub(crate) const STOP_PUSH_REQ: u8 = 122;
    pub(crate) const STOP_PUSH_RSP: u8 = 123;
}

/// Whether the outside program `name` can be run (it answers `-version`).
/// When it cannot, a test that needs it prints `SKIPPED: <name> missing` and
/// returns early, except under `CI=true`, where a missing tool fails the
/// test: CI installs every tool (`.ci/run`), so there it is a broken setup.
pub(crate) fn require_tool(name: &str) -> bool {
    let found = Command::new(name)
        .arg("-version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{name} missing, and CI=true requires it");
        println!("SKIPPED: {name} missing");
    }
    found
}

/// The addresses of the ready line.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ready {
    pub(crate) push: SocketAddr,
    pub(crate) pull: SocketAddr,
    pub(crate) http: SocketAddr,
}

/// A running `rtprelay serve`, killed when dropped.
pub(crate) struct Server {
    child: Option<Child>,
    pub(crate) ready: Ready,
    pub(crate) stderr: mpsc::Receiver<String>,
}

/// The binary under test.
pub(crate) fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_rtprelay")
}

/// `rtprelay serve` with loopback port 0 everywhere, `data_dir`, and
/// `extra` flags / `env` variables on top (a socket set by either is not
/// pinned to port 0).
pub(crate) fn serve_command(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Command {
    let mut pins = Vec::new();
    for flag in ["--push-addr", "--pull-addr", "--http-addr"] {
        if !extra.contains(&flag) && !env.iter().any(|(k, _)| *k == env_of(flag)) {
            pins.extend([flag, "127.0.0.1:0"]);
        }
    }
    pins.extend(extra);
    bare_serve_command(data_dir, &pins, env)
}

/// `rtprelay serve --data-dir DIR` with exactly `extra` and `env`, in an
/// environment without other `RTPRELAY_*` variables.
pub(crate) fn bare_serve_command(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.arg("serve").arg("--data-dir").arg(data_dir).args(extra);
    for (key, _) in std::env::vars() {
        if key.starts_with("RTPRELAY_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd
}

fn env_of(flag: &str) -> String {
    format!("RTPRELAY_{}", flag.trim_start_matches("--").replace('-', "_").to_uppercase())
}

impl Server {
    /// Starts the server and waits for its ready line.
    pub(crate) fn start(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::spawn(serve_command(data_dir, extra, env))
    }

    /// Starts a prepared command and waits for its ready line.
    pub(crate) fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = line_tx.send(line);
            }
            // Keep draining so the child never blocks on a full pipe.
            for _ in lines {}
        });
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(line);
            }
        });
        let mut server =
            Server { child: Some(child), ready: Ready { push: addr0(), pull: addr0(), http: addr0() }, stderr: err_rx };
        let line = match line_rx.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(_) => panic!("no ready line; stderr: {}", server.stderr_text()),
        };
        let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let get = |k: &str| json[k].as_str().unwrap_or_else(|| panic!("{line}: no {k}")).parse().unwrap();
        server.ready = Ready { push: get("push"), pull: get("pull"), http: get("http") };
        assert_eq!(json.as_object().unwrap().len(), 3, "ready line has exactly push, pull, http: {line}");
        server
    }

    /// What the server wrote on stderr so far.
    pub(crate) fn stderr_text(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub(crate) fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        wait_bounded(&mut child)
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The HTTP base URL.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.ready.http)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits at most [`WAIT`] for a child, killing it if it does not exit.
pub(crate) fn wait_bounded(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child did not exit in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a command to completion (bounded); returns (status, stdout, stderr).
pub(crate) fn run(mut cmd: Command) -> (ExitStatus, String, String) {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = wait_bounded(&mut child);
    (status, out_thread.join().unwrap(), err_thread.join().unwrap())
}

fn addr0() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

/// A fresh temporary directory (removed on drop).
pub(crate) fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A path inside a temporary directory.
pub(crate) fn path_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
}

impl Answer {
    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{}: {e}", self.body))
    }
}

/// One HTTP call: `method` on `url` with an optional JSON body and headers.
pub(crate) fn http(method: &str, url: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Answer {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(WAIT)).build().into();
    let request = ureq::http::Request::builder().method(method).uri(url);
    let request = headers.iter().fold(request, |r, (k, v)| r.header(*k, *v));
    let mut response = match body {
        Some(b) => agent.run(request.header("Content-Type", "application/json").body(b.to_owned()).unwrap()),
        None => agent.run(request.body(()).unwrap()),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Answer { status, body }
}

/// Creates a stream through the API; returns its code.
pub(crate) fn create_stream(server: &Server, live_id: &str) -> String {
    let a = http("POST", &server.url("/api/streams"), Some(&format!(r#"{{"liveId":"{live_id}"}}"#)), &[]);
    assert_eq!(a.status, 201, "{}", a.body);
    a.json()["liveCode"].as_str().unwrap().to_owned()
}

/// The ids `GET /api/streams` lists, in its order.
pub(crate) fn stream_ids(server: &Server) -> Vec<String> {
    http("GET", &server.url("/api/streams"), None, &[]).json()["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["liveId"].as_str().unwrap().to_owned())
        .collect()
}

/// A legacy RTP packet: 12-byte header (V=2, no P/X/CC), then `payload`.
pub(crate) fn rtp(payload_type: u8, marker: bool, seq: u16, timestamp: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, payload_type | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// A received packet's fields, read as legacy clients do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rtp {
    /// Byte 1 as a whole.
    pub(crate) byte1: u8,
    pub(crate) seq: u16,
    pub(crate) timestamp: u32,
    pub(crate) ssrc: u32,
    pub(crate) payload: Vec<u8>,
    /// The whole datagram.
    pub(crate) raw: Vec<u8>,
    /// Where it came from.
    pub(crate) from: SocketAddr,
}

impl Rtp {
    /// The payload as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.payload.clone()).unwrap()
    }
}

/// A UDP peer on 127.0.0.1.
pub(crate) struct Peer {
    pub(crate) socket: UdpSocket,
}

impl Peer {
    /// A peer on a fresh port.
    pub(crate) fn new() -> Peer {
        Peer::at("127.0.0.1")
    }

    /// A peer on a fresh port of the loopback address `ip` (any of
    /// 127.0.0.0/8 on Linux): another source host as the relay sees it.
    pub(crate) fn at(ip: &str) -> Peer {
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        Peer { socket }
    }

    /// Sends one datagram.
    pub(crate) fn send(&self, to: SocketAddr, datagram: &[u8]) {
        self.socket.send_to(datagram, to).unwrap();
    }

    /// The next datagram within `within`, if any.
    pub(crate) fn recv(&self, within: Duration) -> Option<Rtp> {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 65536];
        while Instant::now() < deadline {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let d = &buf[..n];
                    assert!(n >= 12, "short datagram from the relay: {d:?}");
                    return Some(Rtp {
                        byte1: d[1],
                        seq: u16::from_be_bytes([d[2], d[3]]),
                        timestamp: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
                        ssrc: u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
                        payload: d[12..].to_vec(),
                        raw: d.to_vec(),
                        from,
                    });
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => panic!("recv: {e}"),
            }
        }
        None
    }

    /// The next datagram whose byte 1 is `byte1`, skipping others (such as
    /// `PULL_RSP` resends); panics after [`WAIT`].
    pub(crate) fn expect(&self, byte1: u8) -> Rtp {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(p) = self.recv(Duration::from_millis(200))
                && p.byte1 == byte1
            {
                return p;
            }
        }
        panic!("no packet with byte 1 = {byte1} within {WAIT:?}");
    }

    /// Every datagram that arrives within `within`.
    pub(crate) fn drain(&self, within: Duration) -> Vec<Rtp> {
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        while Instant::now() < deadline {
            if let Some(p) = self.recv(Duration::from_millis(50)) {
                out.push(p);
            }
        }
        out
    }
}

/// Polls `f` every 20 ms until it returns true; panics after [`WAIT`].
pub(crate) fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

/// Authenticates `live_id#code` from `publisher`; returns the SSRC.
pub(crate) fn auth(publisher: &Peer, to: SocketAddr, live_id: &str, code: &str) -> u32 {
    publisher.send(to, &rtp(pt::AUTH_REQ, false, 0, 0, 0, format!("{live_id}#{code}").as_bytes()));
    let ok = publisher.expect(pt::AUTH_OK);
    assert_eq!(ok.text(), live_id);
    assert_ne!(ok.ssrc, 0);
    ok.ssrc
}

/// Registers a pull client at `to` and subscribes it to `live_id` (one
/// chunk), then acks; returns the client id.
pub(crate) fn subscribe(client: &Peer, to: SocketAddr, live_id: &str) -> u32 {
    client.send(to, &rtp(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
    let id = client.expect(pt::CLIENT_ID_RSP).ssrc;
    client.send(to, &rtp(pt::PULL_REQ, true, 0, 0, id, live_id.as_bytes()));
    let rsp = client.expect(pt::PULL_RSP);
    assert!(rsp.text().starts_with(&format!("{live_id}#")), "{}", rsp.text());
    client.send(to, &rtp(pt::SSRC_ACK, false, 0, rsp.ssrc, id, live_id.as_bytes()));
    id
}

/// Waits until the API shows `n` acknowledged subscribers of `live_id`.
pub(crate) fn wait_subscribers(server: &Server, live_id: &str, n: usize) {
    eventually(&format!("{n} subscribers of {live_id}"), || {
        let a = http("GET", &server.url(&format!("/api/streams/{live_id}")), None, &[]);
        a.status == 200 && a.json()["subscribers"].as_array().is_some_and(|s| s.len() == n)
    });
}

/// This process's soft open-file limit.
pub(crate) fn open_file_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).map_or(0, |(soft, _)| soft)
}

/// Raises this process's soft open-file limit to its hard one (children
/// inherit it).
pub(crate) fn raise_open_file_limit() -> nix::Result<()> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
}
