//! A legacy publisher and legacy subscribers against the real binary over
//! UDP on 127.0.0.1, with packets built from docs/protocol.md §1 by hand.

mod support;

use std::time::Duration;
use support::{Peer, Server, auth, create_stream, http, pt, rtp, subscribe, temp_dir, wait_subscribers};

/// Reassembles `PULL_RSP` payloads until every id of `ids` is answered;
/// returns `id -> ssrc text`.
fn collect_pull_rsp(client: &Peer, ids: &[String]) -> std::collections::HashMap<String, String> {
    let mut answers = std::collections::HashMap::new();
    while answers.len() < ids.len() {
        let rsp = client.expect(pt::PULL_RSP);
        let entries: Vec<String> = rsp.text().split(';').map(str::to_owned).collect();
        assert!(entries.len() <= 20, "at most 20 ids per PULL_RSP");
        for entry in entries {
            let (id, ssrc) = entry.split_once('#').expect("id#ssrc");
            answers.insert(id.to_owned(), ssrc.to_owned());
        }
    }
    answers
}

#[test]
fn publish_subscribe_inject_and_stop() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let push = server.ready.push;
    let pull = server.ready.pull;
    let code = create_stream(&server, "cam1");

    // Auth: refused with a wrong code, then accepted.
    let publisher = Peer::new();
    publisher.send(push, &rtp(pt::AUTH_REQ, false, 0, 0, 0, b"cam1#wrong-code"));
    let refused = publisher.expect(pt::AUTH_REFUSED);
    assert_eq!((refused.ssrc, refused.text().as_str()), (0, "cam1"));
    let ssrc = auth(&publisher, push, "cam1", &code);
    assert_eq!(auth(&publisher, push, "cam1", &code), ssrc, "re-auth keeps the SSRC");

    // Delay probe: echoed with byte 1 changed to 12.
    let probe = rtp(pt::DELAY_REQ, false, 5, 123_456, 0, b"liveIdTest-0");
    publisher.send(push, &probe);
    let echo = publisher.expect(pt::DELAY_RSP);
    let mut expected = probe.clone();
    expected[1] = pt::DELAY_RSP;
    assert_eq!(echo.raw, expected);

    // Subscriber on the pull port: client id, then a chunked pull request.
    let sub = Peer::new();
    sub.send(pull, &rtp(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
    let client_rsp = sub.expect(pt::CLIENT_ID_RSP);
    let client_id = client_rsp.ssrc;
    assert!(![0, u32::MAX, u32::MAX - 1].contains(&client_id), "no sentinel client id");
    assert_eq!(client_rsp.from, pull, "replies come from the socket the peer used");
    let mut ids: Vec<String> = (0..40).map(|i| format!("not-live-stream-{i:04}")).collect();
    ids.insert(17, "cam1".to_owned());
    let list = ids.join("#");
    assert!(list.len() > 738);
    let chunks: Vec<&[u8]> = list.as_bytes().chunks(738).collect();
    assert!(chunks.len() >= 2);
    // Out of order: the marked last chunk first.
    for (i, chunk) in chunks.iter().enumerate().rev() {
        let last = i == chunks.len() - 1;
        sub.send(pull, &rtp(pt::PULL_REQ, last, i as u16, 0, client_id, chunk));
    }
    let answers = collect_pull_rsp(&sub, &ids);
    assert_eq!(answers["cam1"], (ssrc as i32).to_string(), "SSRC as a signed decimal");
    assert_eq!(answers["not-live-stream-0000"], "null");
    sub.send(pull, &rtp(pt::SSRC_ACK, false, 0, 0, client_id, b"cam1"));

    // A second subscriber on the push port.
    let sub_push = Peer::new();
    subscribe(&sub_push, push, "cam1");
    wait_subscribers(&server, "cam1", 2);

    // Data: forwarded byte for byte to both, from the socket each one uses.
    let mut sent = Vec::new();
    for seq in 0..5u16 {
        let payload: Vec<u8> = (0..1000 + usize::from(seq)).map(|i| (i * 7 + usize::from(seq)) as u8).collect();
        let packet = rtp(pt::TS_DATA, false, 100 + seq, 9_000, ssrc, &payload);
        publisher.send(push, &packet);
        sent.push(packet);
    }
    for (peer, port) in [(&sub, pull), (&sub_push, push)] {
        for packet in &sent {
            let got = peer.expect(pt::TS_DATA);
            assert_eq!(&got.raw, packet, "byte-identical");
            assert_eq!(got.from, port);
        }
    }

    // Injection from a foreign address with the stream's SSRC: dropped.
    let intruder = Peer::new();
    intruder.send(push, &rtp(pt::TS_DATA, false, 105, 9_000, ssrc, b"FORGED"));
    let genuine = rtp(pt::TS_DATA, false, 105, 9_000, ssrc, b"GENUINE");
    publisher.send(push, &genuine);
    for peer in [&sub, &sub_push] {
        let got = peer.expect(pt::TS_DATA);
        assert_eq!(got.raw, genuine, "the forged packet was not forwarded");
    }
    let metrics = http("GET", &server.url("/metrics"), None, &[]);
    assert!(metrics.body.contains("rtprelay_ts_data_wrong_source_total 1"), "{}", metrics.body);

    // Stop: always answered, subscribers told.
    publisher.send(push, &rtp(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"cam1"));
    let rsp = publisher.expect(pt::STOP_PUSH_RSP);
    assert_eq!((rsp.ssrc, rsp.payload.len()), (0, 0));
    for peer in [&sub, &sub_push] {
        let stopped = peer.expect(pt::STREAM_STOPPED);
        assert_eq!(stopped.text(), "cam1");
    }
    let s = http("GET", &server.url("/api/streams/cam1"), None, &[]).json();
    assert_eq!(s["live"], false);
}

#[test]
fn operator_stop_and_shutdown_notify_subscribers() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let (push, pull) = (server.ready.push, server.ready.pull);
    let code_a = create_stream(&server, "a");
    let code_b = create_stream(&server, "b");
    let publisher = Peer::new();
    auth(&publisher, push, "a", &code_a);
    auth(&publisher, push, "b", &code_b);
    let sub_a = Peer::new();
    let sub_b = Peer::new();
    subscribe(&sub_a, pull, "a");
    subscribe(&sub_b, pull, "b");
    wait_subscribers(&server, "a", 1);
    wait_subscribers(&server, "b", 1);

    let stop = http("POST", &server.url("/api/streams/a/stop"), None, &[]);
    assert_eq!(stop.status, 204, "{}", stop.body);
    assert_eq!(sub_a.expect(pt::STREAM_STOPPED).text(), "a");
    let again = http("POST", &server.url("/api/streams/a/stop"), None, &[]);
    assert_eq!(again.status, 404, "not live any more");
    assert!(sub_b.drain(Duration::from_millis(300)).iter().all(|p| p.byte1 != pt::STREAM_STOPPED));

    // SIGTERM: every live stream is stopped and said so, then exit 0.
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert_eq!(sub_b.expect(pt::STREAM_STOPPED).text(), "b");
    assert!(publisher.drain(Duration::from_millis(200)).iter().all(|p| p.byte1 != pt::STOP_PUSH_RSP), "never unasked");
}
