//! The relay under test: the real binary in a child process on loopback
//! (killed on drop), and its HTTP API for creating streams.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running `rtprelay serve`.
pub(crate) struct Relay {
    child: Child,
    /// The push socket.
    pub(crate) push: SocketAddr,
    /// The pull socket.
    pub(crate) pull: SocketAddr,
    http: SocketAddr,
    dir: PathBuf,
}

impl Relay {
    /// Starts `bin serve` on loopback ports picked by the OS, with a fresh
    /// data directory, and waits for its ready line.
    pub(crate) fn start(bin: &Path) -> Self {
        let dir = std::env::temp_dir().join(format!("rtprelay-loadgen-{}-{}", std::process::id(), unique()));
        let mut child = Command::new(bin)
            .args(["serve", "--push-addr", "127.0.0.1:0", "--pull-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&dir)
            .env("RTPRELAY_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (build it: cargo build --release -p rtprelay)", bin.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("ready line");
        let json: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
        let addr = |k: &str| json[k].as_str().and_then(|a| a.parse().ok()).expect("address in the ready line");
        Relay { push: addr("push"), pull: addr("pull"), http: addr("http"), child, dir }
    }

    /// The relay's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Creates stream `live_id` through `POST /api/streams`; returns its code.
    pub(crate) fn create_stream(&self, live_id: &str) -> String {
        let body = serde_json::json!({ "liveId": live_id }).to_string();
        let mut tcp = TcpStream::connect(self.http).expect("HTTP API");
        write!(
            tcp,
            "POST /api/streams HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("request");
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).expect("answer");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 201"), "create {live_id}: {answer}");
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON answer");
        json["liveCode"].as_str().expect("liveCode").to_owned()
    }
}

/// A number for this process's data directories.
fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
