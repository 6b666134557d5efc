//! Source allowlists through the real binary: with `pull_allow` set, a
//! watcher outside it gets nothing, not even a client id, while one inside
//! receives the stream; a bad entry stops the server (exit 2, one line).

mod support;

use std::time::Duration;
use support::{
    Peer, Server, auth, create_stream, http, pt, rtp, run, serve_command, subscribe, temp_dir, wait_subscribers,
};

#[test]
fn only_sources_in_pull_allow_can_watch() {
    let publisher = Peer::new();
    let watcher = Peer::at("127.0.0.2");
    let outsider = Peer::at("127.0.0.3");
    let dir = temp_dir();
    // The environment form: comma-separated.
    let server = Server::start(dir.path(), &[], &[("RTPRELAY_PULL_ALLOW", "127.0.0.2/32, ::1")]);
    let ssrc = auth(&publisher, server.ready.push, "allowed", &create_stream(&server, "allowed"));
    subscribe(&watcher, server.ready.pull, "allowed");
    wait_subscribers(&server, "allowed", 1);

    // The outsider knows the id and speaks the protocol: no answer at all.
    outsider.send(server.ready.pull, &rtp(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
    outsider.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, 1, b"allowed"));

    publisher.send(server.ready.push, &rtp(pt::TS_DATA, false, 1, 0, ssrc, &[0x47; 188]));
    assert_eq!(watcher.expect(pt::TS_DATA).payload, [0x47; 188]);
    assert!(outsider.drain(Duration::from_millis(500)).is_empty(), "the outsider hears nothing");

    let metrics = http("GET", &server.url("/metrics"), None, &[]).body;
    assert!(metrics.contains("rtprelay_pull_source_refused_total 2\n"), "{metrics}");
    assert!(metrics.contains("rtprelay_push_source_refused_total 0\n"), "{metrics}");
}

#[test]
fn a_bad_allowlist_entry_exits_2_naming_the_key_and_the_value() {
    let dir = temp_dir();
    let (status, out, err) = run(serve_command(dir.path(), &[], &[("RTPRELAY_PUSH_ALLOW", "127.0.0.1/8,10.0.0/8")]));
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(out.is_empty(), "no ready line");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("push_allow") && err.contains("\"10.0.0/8\""), "{err}");
}
