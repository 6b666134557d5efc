//! Logs (docs/protocol.md §4): on stderr, readable by default and JSON with
//! `--log-format json`; one line per lifecycle event, never one per packet.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::{Peer, Server, auth, create_stream, http, pt, rtp, subscribe, temp_dir, wait_subscribers};

const STOP_PULL_REQ: u8 = 117;
const STOP_PULL_RSP: u8 = 118;

/// Collects stderr lines until `done` holds for them (bounded).
fn lines_until(server: &Server, lines: &mut Vec<String>, done: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + support::WAIT;
    loop {
        lines.extend(server.stderr_text().lines().map(str::to_owned));
        if done(lines) {
            return;
        }
        assert!(Instant::now() < deadline, "stderr so far:\n{}", lines.join("\n"));
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or("")
}

#[test]
fn json_logs_have_one_line_per_lifecycle_event() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &["--log-format", "json"], &[("RUST_LOG", "info")]);
    let code = create_stream(&server, "cam1");
    let publisher = Peer::new();
    let source = publisher.socket.local_addr().unwrap().to_string();
    publisher.send(server.ready.push, &rtp(pt::AUTH_REQ, false, 0, 0, 0, b"cam1#wrong"));
    publisher.expect(pt::AUTH_REFUSED);
    publisher.send(server.ready.push, &rtp(pt::AUTH_REQ, false, 0, 0, 0, b"ghost#wrong"));
    publisher.expect(pt::AUTH_REFUSED);
    let ssrc = auth(&publisher, server.ready.push, "cam1", &code);
    let subscriber = Peer::new();
    let client_id = subscribe(&subscriber, server.ready.pull, "cam1");
    wait_subscribers(&server, "cam1", 1);

    let mut lines = Vec::new();
    lines_until(&server, &mut lines, |l| l.iter().any(|l| l.contains("pull client joined")));
    let before = lines.len();
    for seq in 0..500u16 {
        publisher.send(server.ready.push, &rtp(pt::TS_DATA, false, seq, 0, ssrc, &[0x47; 188]));
    }
    support::eventually("500 packets in", || {
        http("GET", &server.url("/api/streams/cam1"), None, &[]).json()["packetsIn"] == 500
    });
    // Empty the subscriber's socket buffer (a burst can fill it), so the
    // answer to its stop is not dropped.
    subscriber.drain(Duration::from_millis(300));
    subscriber.send(server.ready.pull, &rtp(STOP_PULL_REQ, false, 0, 0, client_id, b""));
    subscriber.expect(STOP_PULL_RSP);
    assert_eq!(http("DELETE", &server.url("/api/streams/cam1"), None, &[]).status, 204);
    lines_until(&server, &mut lines, |l| l.iter().any(|l| l.contains("stream stopped")));
    assert!(lines.len() - before <= 4, "no line per packet: {:#?}", &lines[before..]);

    let parsed: Vec<Value> =
        lines.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))).collect();
    for line in &parsed {
        assert!(line["timestamp"].is_string() && line["level"].is_string(), "{line}");
    }
    let find = |msg: &str| parsed.iter().filter(|l| message(l) == msg).cloned().collect::<Vec<Value>>();
    let refused = find("auth refused");
    assert_eq!(refused.len(), 2, "{lines:#?}");
    assert_eq!(
        refused.iter().map(|l| (l["fields"]["live_id"].clone(), l["fields"]["unknown_id"].clone())).collect::<Vec<_>>(),
        [("cam1".into(), false.into()), ("ghost".into(), true.into())]
    );
    assert!(refused.iter().all(|l| l["fields"]["source"] == source.as_str() && l["level"] == "INFO"));
    let reasons: Vec<&serde_json::Value> = refused.iter().map(|l| &l["fields"]["reason"]).collect();
    assert_eq!(reasons, ["wrong_code", "unknown_id"], "the log tells a wrong code from an unknown id");
    let accepted = find("auth accepted");
    assert_eq!(accepted.len(), 1);
    assert_eq!(
        (&accepted[0]["fields"]["live_id"], &accepted[0]["fields"]["source"]),
        (&"cam1".into(), &source.as_str().into())
    );
    assert_eq!(find("stream live")[0]["fields"]["ssrc"], ssrc);
    let subscriber_addr = subscriber.socket.local_addr().unwrap().to_string();
    assert_eq!(find("pull client joined")[0]["fields"]["address"], subscriber_addr.as_str());
    let left = &find("pull client left")[0]["fields"];
    assert_eq!((&left["address"], &left["reason"]), (&subscriber_addr.as_str().into(), &"stopped".into()));
    assert_eq!(find("credentials created")[0]["fields"]["live_id"], "cam1");
    assert_eq!(find("credentials revoked")[0]["fields"]["live_id"], "cam1");
    assert_eq!(find("stream stopped")[0]["fields"]["reason"], "revoked");
    assert!(lines.iter().all(|l| !l.contains(&code)), "never the code");
}

#[test]
fn logs_are_readable_by_default() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[("RUST_LOG", "info")]);
    let publisher = Peer::new();
    publisher.send(server.ready.push, &rtp(pt::AUTH_REQ, false, 0, 0, 0, b"gh\nost#x"));
    publisher.expect(pt::AUTH_REFUSED);
    let mut lines = Vec::new();
    lines_until(&server, &mut lines, |l| l.iter().any(|l| l.contains("auth refused")));
    let line = lines.iter().find(|l| l.contains("auth refused")).unwrap();
    assert!(!line.starts_with('{') && line.contains("INFO"), "{line}");
    assert!(line.contains(r"live_id=gh\nost") && line.contains("unknown_id=true"), "escaped, one line: {line}");
}

#[test]
fn the_data_directory_is_logged_absolute_and_an_empty_store_and_a_misspelt_variable_are_warned() {
    let dir = temp_dir();
    let mut cmd =
        support::serve_command(std::path::Path::new("rel-data"), &[], &[("RTPRELAY_STREAM_IDLE_TIMOUT_MS", "5")]);
    cmd.current_dir(dir.path());
    let server = Server::spawn(cmd);
    let mut lines = Vec::new();
    lines_until(&server, &mut lines, |l| l.iter().any(|l| l.contains("serving")));
    let absolute = dir.path().join("rel-data").display().to_string();
    let logged = |what: &str| lines.iter().find(|l| l.contains(what)).cloned().unwrap_or_default();
    assert!(logged("data directory").contains(&format!("data_dir={absolute}")), "{lines:#?}");
    let created = logged("created an empty credential store");
    assert!(created.contains("WARN") && created.contains(&absolute), "{lines:#?}");
    let misspelt = logged("RTPRELAY_STREAM_IDLE_TIMOUT_MS");
    assert!(
        misspelt.contains("WARN") && misspelt.contains("did you mean RTPRELAY_STREAM_IDLE_TIMEOUT_MS?"),
        "{lines:#?}"
    );
}
