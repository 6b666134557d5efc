//! The HTTP API under abuse (the hardening issue): slow and silent
//! connections time out, idle connections cannot lock the operator out,
//! the open-file limit is raised at start, oversized and malformed
//! requests are answered in each route's error shape (§3.1, §3.2), the
//! `Host` check is exact, a blank admin token is refused, and ids follow
//! §3.1 (not `.` or `..`; generated ids are `user` + 16 random digits).

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{Peer, Server, WAIT, eventually, http, pt, rtp, run, temp_dir};

/// An answer read off a raw connection.
#[derive(Debug)]
struct Raw {
    status: u16,
    body: String,
}

impl Raw {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{} {:?}: {e}", self.status, self.body))
    }

    /// Asserts the native error shape with `status` and `code`.
    fn assert_native(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        let json = self.json();
        assert_eq!(json["error"]["code"], code, "{json}");
        assert!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{json}");
        assert_eq!(json.as_object().unwrap().len(), 1, "{json}");
    }

    /// Asserts the compatibility shape: HTTP 200, `errCode` = `code`.
    fn assert_compat(&self, code: i64) {
        assert_eq!(self.status, 200, "{}", self.body);
        let json = self.json();
        assert_eq!(json["errCode"], code, "{json}");
        assert!(json["msg"].is_string(), "{json}");
    }
}

/// Writes `request` as is (it should say `Connection: close`) and reads the
/// answer until the server closes.
fn raw(addr: SocketAddr, request: &[u8]) -> Raw {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    // The server may answer before it reads the whole request (413): a
    // failed write still leaves its answer to read.
    let _ = tcp.write_all(request);
    let mut bytes = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !bytes.is_empty() => break,
            Err(e) => panic!("read: {e} after {:?}", String::from_utf8_lossy(&bytes)),
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head in {text:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { unchunk(body) } else { body.into() };
    Raw { status, body }
}

/// The body of a chunked answer.
fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// A request with `Host: 127.0.0.1` and `Connection: close`, `extra`
/// header lines and a body.
fn request(method: &str, target: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// How long until the server closes `tcp` (reading and dropping what it
/// sends), or `None` if it is still open after `within`.
fn closed_within(tcp: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    tcp.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut buf = [0u8; 4096];
    while start.elapsed() < within {
        match tcp.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

/// Whether the server has closed `tcp`, without waiting.
fn is_closed(mut tcp: &TcpStream) -> bool {
    tcp.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1];
    let closed = match tcp.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    tcp.set_nonblocking(false).unwrap();
    closed
}

/// A gauge of `/metrics`.
fn gauge(server: &Server, name: &str) -> Option<u64> {
    let page = http("GET", &server.url("/metrics"), None, &[]).body;
    page.lines().find_map(|l| l.strip_prefix(&format!("rtprelay_{name} ")).and_then(|v| v.parse().ok()))
}

#[test]
fn silent_idle_and_stalled_connections_are_closed() {
    let dir = temp_dir();
    let env = [("RTPRELAY_HTTP_HEADER_TIMEOUT_MS", "500"), ("RTPRELAY_HTTP_IDLE_TIMEOUT_MS", "1000")];
    let server = Server::start(dir.path(), &[], &env);

    // Connected, silent: closed after the header timeout.
    let mut silent = TcpStream::connect(server.ready.http).unwrap();
    let after = closed_within(&mut silent, Duration::from_secs(5)).expect("a silent connection stays open");
    assert!(after >= Duration::from_millis(300), "closed too early: {after:?}");

    // Half a request head: the same.
    let mut slow = TcpStream::connect(server.ready.http).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
    closed_within(&mut slow, Duration::from_secs(5)).expect("a half-sent head stays open");

    // A keep-alive connection, idle after its answer: closed too.
    let mut idle = TcpStream::connect(server.ready.http).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    closed_within(&mut idle, Duration::from_secs(5)).expect("an idle keep-alive connection stays open");

    // A body that stops coming: closed after the idle timeout.
    let mut stalled = TcpStream::connect(server.ready.http).unwrap();
    stalled.write_all(b"POST /api/streams HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{").unwrap();
    closed_within(&mut stalled, Duration::from_secs(5)).expect("a stalled body stays open");

    // The API still answers, promptly.
    assert_eq!(http("GET", &server.url("/api/streams"), None, &[]).status, 200);
}

#[test]
fn idle_connections_at_the_cap_make_room_for_the_operator() {
    let dir = temp_dir();
    let env = [("RTPRELAY_HTTP_MAX_CONNECTIONS", "8"), ("RTPRELAY_HTTP_HEADER_TIMEOUT_MS", "60000")];
    let server = Server::start(dir.path(), &[], &env);
    let mut idle: Vec<TcpStream> = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(server.ready.http).unwrap());
        // In order: the server evicts the connection quiet the longest.
        std::thread::sleep(Duration::from_millis(20));
    }
    let start = Instant::now();
    let answer = http("GET", &server.url("/api/streams"), None, &[]);
    println!("API answer with the cap (8) full of idle connections: {:?}", start.elapsed());
    assert_eq!(answer.status, 200, "{}", answer.body);
    eventually("the oldest idle connections to be closed", || idle.iter().filter(|t| is_closed(t)).count() >= 13);
    assert!(idle[..12].iter().all(is_closed), "the oldest go first");
    let open = gauge(&server, "http_connections").expect("http_connections gauge");
    assert!((1..=8).contains(&open), "{open} open connections, cap 8");
}

/// The limit that `sh -c 'ulimit -Hn'` reports, if it is a number.
fn hard_open_file_limit() -> Option<u64> {
    let out = Command::new("sh").args(["-c", "ulimit -Hn"]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[test]
fn the_relay_raises_its_soft_open_file_limit_to_the_hard_one() {
    let Some(hard) = hard_open_file_limit().filter(|h| *h > 512) else {
        println!("SKIPPED: the hard open-file limit is too low to lower the soft one under it");
        return;
    };
    let dir = temp_dir();
    let serve = support::serve_command(dir.path(), &[], &[]);
    // The child starts with a soft limit of 256, as a stingy supervisor
    // would leave it.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "ulimit -Sn 256 && exec \"$@\"", "sh"]).arg(serve.get_program()).args(serve.get_args());
    for (key, value) in serve.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let server = Server::spawn(cmd);
    assert_eq!(gauge(&server, "open_files_limit"), Some(hard));
    let logs = server.stderr_text();
    assert!(logs.contains("open-file limit") && logs.contains("256"), "{logs}");
}

#[test]
fn oversized_and_malformed_requests_answer_in_each_routes_shape() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let addr = server.ready.http;
    let big_body = format!(r#"{{"liveId": "a", "pad": "{}"}}"#, "x".repeat(100_000));
    let long_query = format!("?q={}", "a".repeat(10_000));
    let big_header = format!("X-Big: {}\r\n", "b".repeat(20_000));

    // Native routes: the JSON error shape.
    raw(addr, &request("POST", "/api/streams", "", &big_body)).assert_native(413, "payload_too_large");
    raw(addr, &request("GET", &format!("/api/streams{long_query}"), "", "")).assert_native(414, "uri_too_long");
    raw(addr, &request("GET", "/api/streams", &big_header, "")).assert_native(431, "headers_too_large");
    raw(addr, &request("GET", "/api/streams/%FF%FE", "", "")).assert_native(400, "bad_request");
    raw(addr, &request("GET", &format!("/healthz{long_query}"), "", "")).assert_native(414, "uri_too_long");
    raw(addr, &request("PUT", "/api/streams", "", "")).assert_native(405, "method_not_allowed");

    // Compatibility routes: HTTP 200 and an errCode (the status a native
    // route would give) whatever went wrong.
    let compat = "/VideoMeeting/rtpServer";
    raw(addr, &request("POST", &format!("{compat}/api/packageLoss"), "", &big_body)).assert_compat(413);
    raw(addr, &request("POST", &format!("{compat}/api/getLiveInfo"), "", &big_body)).assert_compat(413);
    raw(addr, &request("GET", &format!("{compat}/stream/getAllStream{long_query}"), "", "")).assert_compat(414);
    raw(addr, &request("GET", &format!("{compat}/api/getAllInfo"), &big_header, "")).assert_compat(431);
    raw(addr, &request("GET", &format!("{compat}/api/getLiveInfo"), "", "")).assert_compat(405);
    // Text that is no stream id names no stream (§3.2 answers it alike).
    let unknown = raw(addr, &request("GET", &format!("{compat}/stream/getSubscribers?liveId=%FF"), "", ""));
    unknown.assert_compat(0);
    assert!(unknown.json()["subscribers"].is_null());

    // Within the limits, all is as before.
    let ok = raw(addr, &request("POST", "/api/streams", "", r#"{"liveId": "fits"}"#));
    assert_eq!(ok.status, 201, "{}", ok.body);
}

#[test]
fn the_host_header_must_be_one_exact_host_and_port() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let addr = server.ready.http;
    let get = |hosts: &[&str]| {
        let lines: String = hosts.iter().map(|h| format!("Host: {h}\r\n")).collect();
        raw(addr, format!("GET /api/streams HTTP/1.1\r\n{lines}Connection: close\r\n\r\n").as_bytes())
    };
    assert_eq!(get(&["127.0.0.1"]).status, 200);
    get(&["127.0.0.1", "127.0.0.1"]).assert_native(400, "invalid_host");
    get(&["127.0.0.1", "evil.example"]).assert_native(400, "invalid_host");
    get(&["127.0.0.1:80@evil.example"]).assert_native(400, "invalid_host");
    get(&["localhost:80/x"]).assert_native(400, "invalid_host");
    get(&["evil.example"]).assert_native(403, "forbidden_host");
}

#[test]
fn a_blank_admin_token_is_refused_at_start() {
    let dir = temp_dir();
    for token in ["   ", "\t"] {
        let (status, out, err) = run(support::serve_command(dir.path(), &["--admin-token", token], &[]));
        assert_eq!(status.code(), Some(2), "{err}");
        assert!(out.is_empty(), "{out}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains("admin_token"), "{err}");
    }
    let mut cmd = support::serve_command(dir.path(), &[], &[("RTPRELAY_ADMIN_TOKEN", " ")]);
    cmd.env("RUST_LOG", "off");
    assert_eq!(run(cmd).0.code(), Some(2));
}

#[test]
fn dot_ids_are_refused_and_generated_ids_are_not_guessable() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let streams = server.url("/api/streams");
    for id in [".", ".."] {
        let a = http("POST", &streams, Some(&format!(r#"{{"liveId": "{id}"}}"#)), &[]);
        assert_eq!((a.status, a.json()["error"]["code"].as_str()), (400, Some("invalid_live_id")), "{id}");
    }
    assert_eq!(http("POST", &streams, Some(r#"{"liveId": "..."}"#), &[]).status, 201, "three dots are fine");
    let ids: Vec<String> =
        (0..3).map(|_| http("POST", &streams, Some("{}"), &[]).json()["liveId"].as_str().unwrap().to_owned()).collect();
    for id in &ids {
        let digits = id.strip_prefix("user").unwrap_or_else(|| panic!("{id}"));
        assert!(digits.len() == 16 && digits.bytes().all(|b| b.is_ascii_digit()), "{id}");
    }
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "{ids:?}");
}

/// Idle connections held against the relay while the API and the packet
/// loop are timed.
const HELD: usize = 5_000;

#[test]
fn the_api_and_the_packet_loop_answer_while_5000_idle_connections_are_held() {
    // Room for our ends of the connections; the relay raises its own.
    let _ = support::raise_open_file_limit();
    if support::open_file_limit() < HELD as u64 + 200 || hard_open_file_limit().is_some_and(|h| h < HELD as u64 + 200) {
        println!("SKIPPED: the open-file limit is below {} here", HELD + 200);
        return;
    }
    let dir = temp_dir();
    let env = [("RTPRELAY_HTTP_MAX_CONNECTIONS", "6000"), ("RTPRELAY_HTTP_HEADER_TIMEOUT_MS", "120000")];
    let server = Server::start(dir.path(), &[], &env);
    let mut held = Vec::with_capacity(HELD);
    for _ in 0..HELD {
        held.push(TcpStream::connect(server.ready.http).unwrap());
    }
    eventually("every idle connection to be accepted", || {
        gauge(&server, "http_connections").is_some_and(|n| n > HELD as u64)
    });

    let mut api = Vec::new();
    for _ in 0..50 {
        let start = Instant::now();
        assert_eq!(http("GET", &server.url("/api/streams"), None, &[]).status, 200);
        api.push(start.elapsed());
    }
    let peer = Peer::new();
    let mut udp = Vec::new();
    for i in 0..50u16 {
        let start = Instant::now();
        peer.send(server.ready.push, &rtp(pt::DELAY_REQ, false, i, 0, 0, b"probe"));
        peer.expect(pt::DELAY_RSP);
        udp.push(start.elapsed());
    }
    api.sort();
    udp.sort();
    println!(
        "with {HELD} idle connections held: GET /api/streams median {:?}, max {:?}; DELAY_REQ echo median {:?}, max {:?}",
        api[api.len() / 2],
        api[api.len() - 1],
        udp[udp.len() / 2],
        udp[udp.len() - 1],
    );
    assert!(api[api.len() / 2] < Duration::from_secs(1), "{api:?}");
    assert_eq!(held.iter().take(100).filter(|t| is_closed(t)).count(), 0, "under the cap none is evicted");
}
