//! Black-box conformance of the `rtprelay` binary against docs/protocol.md
//! (the fleet's contract, section by section), written from the document
//! alone: one test per rule, named after it.

mod support;

use sha1::{Digest, Sha1};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{Peer, Rtp, Server, auth, create_stream, http, pt, rtp, run, subscribe, temp_dir, wait_subscribers};

const PULL_REQ_LOST: u8 = 113;
const STOP_PULL_REQ: u8 = 117;
const STOP_PULL_RSP: u8 = 118;
const STREAM_UNKNOWN: u8 = 104;
const CLIENT_UNKNOWN: u8 = 119;
const SHORT: Duration = Duration::from_millis(400);
const COMPAT: &str = "/VideoMeeting/rtpServer/api";

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A relay on loopback port 0 with `env`, and its data dir.
fn start(env: &[(&str, &str)]) -> (tempfile::TempDir, Server) {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], env);
    (dir, server)
}

/// A relay-originated control packet (1.2): byte 0 `0x80`, byte 1 = `pt`
/// (so M = 0), seq 0, the given SSRC, and the relay clock as timestamp
/// (Unix-epoch ms truncated to u32, within 2 s of ours).
fn assert_control(p: &Rtp, payload_type: u8, ssrc: u32) {
    assert_eq!(p.raw[0], 0x80, "byte 0 of {p:?}");
    assert_eq!(p.byte1, payload_type, "byte 1 (M = 0) of {p:?}");
    assert_eq!(p.seq, 0, "seq of {p:?}");
    assert_eq!(p.ssrc, ssrc, "ssrc of {p:?}");
    assert_clock(p.timestamp);
}

fn assert_clock(timestamp: u32) {
    let now = now_ms() as u32;
    let diff = now.wrapping_sub(timestamp) as i32;
    assert!(diff.abs() < 2000, "timestamp {timestamp} is not the epoch-ms clock {now}");
}

/// The entries of every `PULL_RSP` arriving within `within`, checking that
/// each packet holds 1 to 20 complete entries.
fn pull_rsp_entries(client: &Peer, within: Duration) -> Vec<(String, String)> {
    let mut entries = Vec::new();
    for p in client.drain(within).into_iter().filter(|p| p.byte1 == pt::PULL_RSP) {
        let text = p.text();
        let parts: Vec<&str> = text.split(';').collect();
        assert!(!parts.is_empty() && parts.len() <= 20, "{} entries in one PULL_RSP: {text}", parts.len());
        for part in parts {
            let (id, ssrc) = part.split_once('#').unwrap_or_else(|| panic!("entry without #: {text}"));
            entries.push((id.to_owned(), ssrc.to_owned()));
        }
    }
    entries
}

fn register(client: &Peer, to: SocketAddr) -> u32 {
    client.send(to, &rtp(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
    client.expect(pt::CLIENT_ID_RSP).ssrc
}

fn ts(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    rtp(pt::TS_DATA, false, seq, 1234, ssrc, payload)
}

/// A live stream `live_id` with a publisher and one acked subscriber, all on `to`.
fn live_with_subscriber(server: &Server, live_id: &str) -> (Peer, Peer, u32) {
    let code = create_stream(server, live_id);
    let publisher = Peer::new();
    let ssrc = auth(&publisher, server.ready.push, live_id, &code);
    let subscriber = Peer::new();
    subscribe(&subscriber, server.ready.pull, live_id);
    wait_subscribers(server, live_id, 1);
    (publisher, subscriber, ssrc)
}

// ---- §1 legacy protocol -------------------------------------------------

#[test]
fn control_packets_carry_seq_0_ssrc_0_no_marker_and_the_epoch_ms_clock() {
    let (_dir, server) = start(&[]);
    let client = Peer::new();
    client.send(server.ready.pull, &rtp(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
    let id_rsp = client.expect(pt::CLIENT_ID_RSP);
    assert_control(&id_rsp, pt::CLIENT_ID_RSP, id_rsp.ssrc);
    assert!(![0, u32::MAX, u32::MAX - 1].contains(&id_rsp.ssrc), "sentinel client id {}", id_rsp.ssrc);
    assert!(id_rsp.payload.is_empty());
    let publisher = Peer::new();
    publisher.send(server.ready.push, &rtp(pt::AUTH_REQ, false, 0, 0, 0, b"nobody#wrong"));
    assert_control(&publisher.expect(pt::AUTH_REFUSED), pt::AUTH_REFUSED, 0);
    publisher.send(server.ready.push, &rtp(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"nobody"));
    assert_control(&publisher.expect(pt::STOP_PUSH_RSP), pt::STOP_PUSH_RSP, 0);
    client.send(server.ready.pull, &rtp(STOP_PULL_REQ, false, 0, 0, id_rsp.ssrc, b""));
    assert_control(&client.expect(STOP_PULL_RSP), STOP_PULL_RSP, 0);
}

#[test]
fn delay_rsp_is_the_request_with_byte_1_changed_to_12_on_both_sockets() {
    let (_dir, server) = start(&[]);
    let publisher = Peer::new();
    for to in [server.ready.push, server.ready.pull] {
        let req = rtp(pt::DELAY_REQ, false, 4321, 0xDEAD_BEEF, 0x1234_5678, b"liveIdTest-0");
        publisher.send(to, &req);
        let rsp = publisher.expect(pt::DELAY_RSP);
        let mut expected = req.clone();
        expected[1] = 12;
        assert_eq!(rsp.raw, expected);
        assert_eq!(rsp.from, to, "DELAY_RSP leaves from the socket the probe came to");
    }
}

#[test]
fn auth_ok_carries_the_ssrc_and_live_id_and_reauth_keeps_the_ssrc() {
    let (_dir, server) = start(&[]);
    let code = create_stream(&server, "cam1");
    let publisher = Peer::new();
    publisher.send(server.ready.push, &rtp(pt::AUTH_REQ, false, 0, 0, 0, format!("cam1#{code}").as_bytes()));
    let ok = publisher.expect(pt::AUTH_OK);
    assert_eq!(ok.raw[0], 0x80);
    assert_eq!(ok.seq, 0);
    assert_clock(ok.timestamp);
    assert_eq!(ok.text(), "cam1");
    assert!(![0, u32::MAX, u32::MAX - 1].contains(&ok.ssrc), "sentinel SSRC {}", ok.ssrc);
    assert_eq!(auth(&publisher, server.ready.push, "cam1", &code), ok.ssrc, "re-auth keeps the SSRC");
    let api = http("GET", &server.url("/api/streams/cam1"), None, &[]).json();
    assert_eq!(api["ssrc"].as_u64(), Some(u64::from(ok.ssrc)), "{api}");
    assert_eq!(api["live"], true);
}

#[test]
fn auth_refused_has_ssrc_0_and_the_live_id() {
    let (_dir, server) = start(&[]);
    create_stream(&server, "cam1");
    let publisher = Peer::new();
    publisher.send(server.ready.push, &rtp(pt::AUTH_REQ, false, 0, 0, 0, b"cam1#wrongcode"));
    let refused = publisher.expect(pt::AUTH_REFUSED);
    assert_eq!(refused.ssrc, 0);
    assert_eq!(refused.text(), "cam1");
}

#[test]
fn auth_without_hash_or_with_empty_halves_gets_no_answer() {
    let (_dir, server) = start(&[]);
    let code = create_stream(&server, "cam1");
    let publisher = Peer::new();
    for payload in ["cam1".to_owned(), format!("#{code}"), "cam1#".to_owned(), String::new()] {
        publisher.send(server.ready.push, &rtp(pt::AUTH_REQ, false, 0, 0, 0, payload.as_bytes()));
    }
    assert_eq!(publisher.drain(SHORT).len(), 0, "no answer to malformed AUTH_REQ");
}

#[test]
fn reauth_moves_the_bound_publisher_address() {
    let (_dir, server) = start(&[]);
    let code = create_stream(&server, "cam1");
    let (old, subscriber, _) = {
        let publisher = Peer::new();
        let ssrc = auth(&publisher, server.ready.push, "cam1", &code);
        let subscriber = Peer::new();
        subscribe(&subscriber, server.ready.pull, "cam1");
        wait_subscribers(&server, "cam1", 1);
        (publisher, subscriber, ssrc)
    };
    let new = Peer::new();
    let ssrc = auth(&new, server.ready.push, "cam1", &code);
    old.send(server.ready.push, &ts(1, ssrc, b"old"));
    new.send(server.ready.push, &ts(2, ssrc, b"new"));
    let data: Vec<Vec<u8>> =
        subscriber.drain(SHORT).into_iter().filter(|p| p.byte1 == pt::TS_DATA).map(|p| p.payload).collect();
    assert_eq!(data, vec![b"new".to_vec()]);
}

#[test]
fn pull_rsp_has_at_most_20_ids_per_packet_and_null_for_streams_not_live() {
    let (_dir, server) = start(&[]);
    let (client, id) = registered(&server);
    let ids: Vec<String> = (0..45).map(|i| format!("s{i:02}")).collect();
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, id, ids.join("#").as_bytes()));
    let mut entries = pull_rsp_entries(&client, Duration::from_millis(600));
    entries.sort();
    let expected: Vec<(String, String)> = ids.iter().map(|i| (i.clone(), "null".to_owned())).collect();
    assert_eq!(entries, expected);
}

#[test]
fn pull_rsp_writes_the_ssrc_as_a_signed_32_bit_decimal() {
    let (_dir, server) = start(&[]);
    let mut seen = Vec::new();
    let publisher = Peer::new();
    // Several streams, so that both signs are likely to show up.
    let mut ssrcs = Vec::new();
    for i in 0..6 {
        let live_id = format!("cam{i}");
        let code = create_stream(&server, &live_id);
        ssrcs.push((live_id.clone(), auth(&publisher, server.ready.push, &live_id, &code)));
    }
    let (client, id) = registered(&server);
    let list: Vec<&str> = ssrcs.iter().map(|(l, _)| l.as_str()).collect();
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, id, list.join("#").as_bytes()));
    for (live_id, ssrc) in pull_rsp_entries(&client, SHORT) {
        let expected = ssrcs.iter().find(|(l, _)| *l == live_id).unwrap().1;
        assert_eq!(ssrc, (expected as i32).to_string(), "{live_id}");
        seen.push(live_id);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 6);
}

#[test]
fn an_empty_pull_request_is_answered_hash_null() {
    let (_dir, server) = start(&[]);
    let (client, id) = registered(&server);
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, id, b""));
    let rsp = client.expect(pt::PULL_RSP);
    assert_eq!(rsp.text(), "#null");
    assert_eq!(rsp.raw[0], 0x80);
    assert_eq!(rsp.seq, 0);
    assert_clock(rsp.timestamp);
    assert!(![0, u32::MAX, u32::MAX - 1].contains(&rsp.ssrc), "the challenge (2.3) is no sentinel: {:#x}", rsp.ssrc);
}

/// 1.1: a legacy client takes its clock offset (`timestamp − local ms`)
/// from the first datagram it receives, and while that offset is exactly
/// −1 ("unset") from the next one, and so on. Played with a client clock
/// that makes the first offset −1: its second datagram, the `PULL_RSP`,
/// must give the relay's clock (an offset of a few ms), not a challenge.
#[test]
fn a_legacy_client_whose_first_clock_offset_is_unset_takes_the_relays_clock_from_the_pull_rsp() {
    let (_dir, server) = start(&[]);
    let client = Peer::new();
    client.send(server.ready.pull, &rtp(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
    let first = client.recv(SHORT).expect("a first datagram");
    assert_eq!(first.byte1, pt::CLIENT_ID_RSP);
    // The client's clock: 1 ms ahead of the relay's at the first datagram.
    let skew = first.timestamp.wrapping_sub(now_ms() as u32).wrapping_add(1);
    let local_ms = || (now_ms() as u32).wrapping_add(skew);
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, local_ms(), first.ssrc, b"cam1"));
    let second = client.recv(SHORT).expect("a second datagram");
    assert_eq!((second.byte1, second.text().as_str()), (pt::PULL_RSP, "cam1#null"));
    let offset = second.timestamp.wrapping_sub(local_ms()) as i32;
    assert!(offset.abs() < 1000, "the second datagram sets a clock {offset} ms off the relay's");
}

#[test]
fn pull_req_lost_follows_an_incomplete_request_after_1_s() {
    let (_dir, server) = start(&[]);
    let (client, id) = registered(&server);
    let sent = Instant::now();
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, false, 0, 0, id, b"cam1#ca"));
    let lost = client.expect(PULL_REQ_LOST);
    let after = sent.elapsed();
    // The relay drops the set exactly 1 s after it received the chunk, which
    // is after `sent` (its timers never fire early; its clock truncates to
    // microseconds, hence 999 ms). The upper bound allows 500 ms for
    // scheduling on a loaded machine.
    assert!(after >= Duration::from_millis(999) && after < Duration::from_millis(1500), "after {after:?}");
    assert_control(&lost, PULL_REQ_LOST, 0);
    assert_eq!(lost.text(), "packetloss");
    assert_eq!(lost.from, server.ready.pull);
}

/// A new pull client with its id, registered on the pull socket.
fn registered(server: &Server) -> (Peer, u32) {
    let client = Peer::new();
    let id = register(&client, server.ready.pull);
    (client, id)
}

/// The ids the relay's `PULL_RSP`s to `client` name, sorted.
fn answered_ids(client: &Peer) -> Vec<String> {
    let mut ids: Vec<String> = pull_rsp_entries(client, SHORT).into_iter().map(|(i, _)| i).collect();
    ids.sort();
    ids
}

#[test]
fn chunks_reassemble_in_any_order_split_inside_an_id() {
    let (_dir, server) = start(&[]);
    let (client, id) = registered(&server);
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 2, 0, id, b"ree"));
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, false, 0, 0, id, b"one#t"));
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, false, 1, 0, id, b"wo##th"));
    let ids = answered_ids(&client);
    assert_eq!(ids, ["one", "three", "two"]);
}

#[test]
fn a_chunk_index_already_held_starts_a_new_set() {
    let (_dir, server) = start(&[]);
    let (client, id) = registered(&server);
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, false, 0, 0, id, b"stale#ol"));
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, false, 0, 0, id, b"fresh#ne"));
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 1, 0, id, b"w"));
    let ids = answered_ids(&client);
    assert_eq!(ids, ["fresh", "new"]);
}

#[test]
fn stop_pull_rsp_is_always_answered_from_the_socket_the_request_came_to() {
    let (_dir, server) = start(&[]);
    let client = Peer::new();
    for to in [server.ready.pull, server.ready.push] {
        client.send(to, &rtp(STOP_PULL_REQ, false, 0, 0, 0x0102_0304, b""));
        let rsp = client.expect(STOP_PULL_RSP);
        assert_control(&rsp, STOP_PULL_RSP, 0);
        assert!(rsp.payload.is_empty());
        assert_eq!(rsp.from, to);
    }
}

#[test]
fn stop_push_rsp_is_always_answered_even_for_unknown_ids_and_empty_lists() {
    let (_dir, server) = start(&[]);
    let publisher = Peer::new();
    for to in [server.ready.push, server.ready.pull] {
        for payload in [&b""[..], b"unknown1#unknown2", b"##"] {
            publisher.send(to, &rtp(pt::STOP_PUSH_REQ, false, 0, 0, 0, payload));
            let rsp = publisher.expect(pt::STOP_PUSH_RSP);
            assert_control(&rsp, pt::STOP_PUSH_RSP, 0);
            assert!(rsp.payload.is_empty());
            assert_eq!(rsp.from, to);
        }
    }
}

#[test]
fn stop_push_from_another_address_does_not_stop_the_stream() {
    let (_dir, server) = start(&[]);
    let (_publisher, subscriber, _) = live_with_subscriber(&server, "cam1");
    let stranger = Peer::new();
    stranger.send(server.ready.push, &rtp(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"cam1"));
    stranger.expect(pt::STOP_PUSH_RSP);
    assert!(subscriber.drain(SHORT).iter().all(|p| p.byte1 != pt::STREAM_STOPPED));
    assert_eq!(http("GET", &server.url("/api/streams/cam1"), None, &[]).json()["live"], true);
}

#[test]
fn stream_stopped_names_the_stream_and_the_stream_leaves_the_list() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    publisher.send(server.ready.push, &ts(7, ssrc, b"x"));
    subscriber.expect(pt::TS_DATA);
    publisher.send(server.ready.push, &rtp(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"cam1"));
    publisher.expect(pt::STOP_PUSH_RSP);
    let stopped = subscriber.expect(pt::STREAM_STOPPED);
    assert_eq!(stopped.text(), "cam1");
    assert_eq!(stopped.raw[0], 0x80);
    assert_eq!(stopped.ssrc, 0);
    assert_eq!(stopped.seq, 7, "the last sequence number forwarded (2.5)");
    assert_clock(stopped.timestamp);
    assert_eq!(stopped.from, server.ready.pull);
    let api = http("GET", &server.url("/api/streams/cam1"), None, &[]).json();
    assert_eq!(api["live"], false, "{api}");
    assert_eq!(api["subscribers"].as_array().map(Vec::len), Some(0), "{api}");
}

#[test]
fn a_stopped_stream_going_live_again_sends_nothing_to_its_former_subscribers() {
    let (_dir, server) = start(&[]);
    let code = create_stream(&server, "cam1");
    let publisher = Peer::new();
    auth(&publisher, server.ready.push, "cam1", &code);
    let subscriber = Peer::new();
    subscribe(&subscriber, server.ready.pull, "cam1");
    wait_subscribers(&server, "cam1", 1);
    publisher.send(server.ready.push, &rtp(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"cam1"));
    subscriber.expect(pt::STREAM_STOPPED);
    let ssrc = auth(&publisher, server.ready.push, "cam1", &code);
    publisher.send(server.ready.push, &ts(1, ssrc, b"again"));
    let got: Vec<u8> = subscriber.drain(SHORT).iter().map(|p| p.byte1).collect();
    assert!(!got.contains(&pt::TS_DATA) && !got.contains(&pt::PULL_RSP), "former subscriber got {got:?}");
}

#[test]
fn both_sockets_accept_every_message_and_replies_leave_from_the_peers_socket() {
    let (_dir, server) = start(&[]);
    let code = create_stream(&server, "cam1");
    // Publisher on the pull port, subscriber on the push port.
    let publisher = Peer::new();
    publisher.send(server.ready.pull, &rtp(pt::AUTH_REQ, false, 0, 0, 0, format!("cam1#{code}").as_bytes()));
    let ok = publisher.expect(pt::AUTH_OK);
    assert_eq!(ok.from, server.ready.pull);
    let subscriber = Peer::new();
    subscriber.send(server.ready.push, &rtp(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
    let id_rsp = subscriber.expect(pt::CLIENT_ID_RSP);
    assert_eq!(id_rsp.from, server.ready.push);
    subscriber.send(server.ready.push, &rtp(pt::PULL_REQ, true, 0, 0, id_rsp.ssrc, b"cam1"));
    let rsp = subscriber.expect(pt::PULL_RSP);
    assert_eq!(rsp.from, server.ready.push);
    subscriber.send(server.ready.push, &rtp(pt::SSRC_ACK, false, 0, rsp.ssrc, id_rsp.ssrc, b"cam1"));
    subscriber.send(server.ready.push, &rtp(pt::HEARTBEAT, false, 0, 0, id_rsp.ssrc, b""));
    wait_subscribers(&server, "cam1", 1);
    let packet = ts(9, ok.ssrc, b"payload");
    publisher.send(server.ready.pull, &packet);
    let data = subscriber.expect(pt::TS_DATA);
    assert_eq!(data.raw, packet);
    assert_eq!(data.from, server.ready.push);
    publisher.send(server.ready.pull, &rtp(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"cam1"));
    assert_eq!(publisher.expect(pt::STOP_PUSH_RSP).from, server.ready.pull);
    assert_eq!(subscriber.expect(pt::STREAM_STOPPED).from, server.ready.push);
}

#[test]
fn ts_data_is_forwarded_unchanged_unaligned_and_once_per_sequence_number() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    let first = ts(100, ssrc, &[0x47; 100]);
    publisher.send(server.ready.push, &first);
    publisher.send(server.ready.push, &first);
    let second = ts(101, ssrc, &[0x47; 189]);
    publisher.send(server.ready.push, &second);
    let got: Vec<Vec<u8>> =
        subscriber.drain(SHORT).into_iter().filter(|p| p.byte1 == pt::TS_DATA).map(|p| p.raw).collect();
    assert_eq!(got, vec![first, second]);
}

#[test]
fn ts_data_with_marker_padding_extension_or_csrc_is_not_forwarded() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    let marker = rtp(pt::TS_DATA, true, 1, 0, ssrc, b"m");
    let mut padding = ts(2, ssrc, b"p\x01");
    padding[0] = 0xA0;
    let mut extension = ts(3, ssrc, &[0xBE, 0xDE, 0, 0, b'x']);
    extension[0] = 0x90;
    let mut csrc = ts(4, ssrc, &[0, 0, 0, 1, b'c']);
    csrc[0] = 0x81;
    for bad in [marker, padding, extension, csrc] {
        publisher.send(server.ready.push, &bad);
    }
    let good = ts(5, ssrc, b"good");
    publisher.send(server.ready.push, &good);
    let got: Vec<Vec<u8>> =
        subscriber.drain(SHORT).into_iter().filter(|p| p.byte1 & 0x7F == pt::TS_DATA).map(|p| p.raw).collect();
    assert_eq!(got, vec![good]);
}

#[test]
fn ts_data_from_a_foreign_address_is_dropped_and_answered_stream_unknown_once_per_second() {
    let (_dir, server) = start(&[]);
    let (_publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    let stranger = Peer::new();
    stranger.send(server.ready.push, &ts(1, ssrc, b"forged"));
    stranger.send(server.ready.push, &ts(2, ssrc, b"forged"));
    let answers = stranger.drain(SHORT);
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_control(&answers[0], STREAM_UNKNOWN, ssrc);
    assert!(answers[0].payload.is_empty());
    assert!(subscriber.drain(Duration::from_millis(100)).iter().all(|p| p.byte1 != pt::TS_DATA));
}

#[test]
fn messages_naming_an_unknown_client_id_get_client_unknown() {
    let (_dir, server) = start(&[]);
    for (i, (payload_type, marker)) in
        [(pt::HEARTBEAT, false), (pt::PULL_REQ, true), (pt::SSRC_ACK, false)].into_iter().enumerate()
    {
        let stranger = Peer::new();
        let id = 0x5000_0000 + i as u32;
        stranger.send(server.ready.pull, &rtp(payload_type, marker, 0, 0, id, b"cam1"));
        let answer = stranger.expect(CLIENT_UNKNOWN);
        assert_control(&answer, CLIENT_UNKNOWN, id);
        assert!(answer.payload.is_empty());
    }
}

#[test]
fn a_known_client_id_from_another_address_does_not_count() {
    let (_dir, server) = start(&[]);
    let (client, id) = registered(&server);
    let stranger = Peer::new();
    stranger.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, id, b"cam1"));
    assert_eq!(stranger.expect(CLIENT_UNKNOWN).ssrc, id);
    assert!(client.drain(Duration::from_millis(200)).is_empty(), "nothing goes to the real client");
}

#[test]
fn a_client_without_heartbeat_is_dropped_after_the_configured_timeout() {
    let (_dir, server) = start(&[("RTPRELAY_CLIENT_HEARTBEAT_TIMEOUT_MS", "600")]);
    let code = create_stream(&server, "cam1");
    let publisher = Peer::new();
    auth(&publisher, server.ready.push, "cam1", &code);
    let (quiet, beating) = (Peer::new(), Peer::new());
    let quiet_id = subscribe(&quiet, server.ready.pull, "cam1");
    let beating_id = subscribe(&beating, server.ready.pull, "cam1");
    wait_subscribers(&server, "cam1", 2);
    for _ in 0..8 {
        beating.send(server.ready.pull, &rtp(pt::HEARTBEAT, false, 0, 0, beating_id, b""));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(http("GET", &server.url("/api/clients"), None, &[]).json()["clients"].as_array().unwrap().len(), 1);
    quiet.drain(Duration::from_millis(50));
    quiet.send(server.ready.pull, &rtp(pt::HEARTBEAT, false, 0, 0, quiet_id, b""));
    assert_eq!(quiet.expect(CLIENT_UNKNOWN).ssrc, quiet_id);
}

#[test]
fn an_idle_stream_is_stopped_after_the_configured_timeout() {
    let (_dir, server) = start(&[("RTPRELAY_STREAM_IDLE_TIMEOUT_MS", "500")]);
    let started = Instant::now();
    let (_publisher, subscriber, _) = live_with_subscriber(&server, "cam1");
    let stopped = subscriber.expect(pt::STREAM_STOPPED);
    // The timer starts at the auth, after `started`; the upper bound allows
    // 500 ms for scheduling on a loaded machine.
    let after = started.elapsed();
    assert!(after >= Duration::from_millis(499) && after < Duration::from_millis(1000), "after {after:?}");
    assert_eq!(stopped.text(), "cam1");
    assert_eq!(http("GET", &server.url("/api/streams/cam1"), None, &[]).json()["live"], false);
}

#[test]
fn stop_pull_unsubscribes_everything_and_forgets_the_client() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    let id = {
        let c = http("GET", &server.url("/api/clients"), None, &[]).json();
        assert_eq!(c["clients"].as_array().unwrap().len(), 1);
        // The id is not shown by the API; register again to learn it (same address, same id).
        register(&subscriber, server.ready.pull)
    };
    subscriber.send(server.ready.pull, &rtp(STOP_PULL_REQ, false, 0, 0, id, b""));
    subscriber.expect(STOP_PULL_RSP);
    wait_subscribers(&server, "cam1", 0);
    publisher.send(server.ready.push, &ts(1, ssrc, b"x"));
    assert!(subscriber.drain(SHORT).iter().all(|p| p.byte1 != pt::TS_DATA));
    assert!(http("GET", &server.url("/api/clients"), None, &[]).json()["clients"].as_array().unwrap().is_empty());
}

#[test]
fn a_stream_going_live_later_gets_an_unprompted_pull_rsp() {
    let (_dir, server) = start(&[]);
    let code = create_stream(&server, "cam1");
    let (client, id) = registered(&server);
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, id, b"cam1"));
    assert_eq!(client.expect(pt::PULL_RSP).text(), "cam1#null");
    let publisher = Peer::new();
    let ssrc = auth(&publisher, server.ready.push, "cam1", &code);
    let rsp = client.expect(pt::PULL_RSP);
    assert_eq!(rsp.text(), format!("cam1#{}", ssrc as i32));
}

// ---- §3 HTTP API --------------------------------------------------------

fn assert_error(a: &support::Answer, status: u16) {
    assert_eq!(a.status, status, "{}", a.body);
    let json = a.json();
    let error = json["error"].as_object().unwrap_or_else(|| panic!("no error object: {}", a.body));
    let code = error["code"].as_str().unwrap();
    assert!(!code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "code {code}");
    assert!(error["message"].is_string(), "{}", a.body);
}

#[test]
fn post_streams_with_an_empty_body_generates_user_id_and_20_char_code() {
    let (_dir, server) = start(&[]);
    let a = http("POST", &server.url("/api/streams"), Some("{}"), &[]);
    assert_eq!(a.status, 201, "{}", a.body);
    let json = a.json();
    assert_eq!(json.as_object().unwrap().len(), 2, "{json}");
    let id = json["liveId"].as_str().unwrap();
    assert!(id.len() > 4 && id.starts_with("user") && id[4..].chars().all(|c| c.is_ascii_digit()), "{id}");
    let code = json["liveCode"].as_str().unwrap();
    assert_eq!(code.len(), 20, "{code}");
    assert!(code.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)), "{code}");
}

#[test]
fn post_streams_409_on_an_existing_id_and_400_on_bad_ids_and_codes() {
    let (_dir, server) = start(&[]);
    let url = server.url("/api/streams");
    let max_id = "a".repeat(40);
    let a = http("POST", &url, Some(&format!(r#"{{"liveId":"{max_id}"}}"#)), &[]);
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.json()["liveId"], max_id.as_str());
    assert_error(&http("POST", &url, Some(&format!(r#"{{"liveId":"{max_id}"}}"#)), &[]), 409);
    for bad in ["", &"a".repeat(41), "a b", "a#b", "a;b", "caf\u{e9}", "a/b"] {
        let body = serde_json::json!({ "liveId": bad }).to_string();
        assert_error(&http("POST", &url, Some(&body), &[]), 400);
    }
    for bad in ["", &"c".repeat(65), "c d", "c#d"] {
        let body = serde_json::json!({ "liveId": "fine", "liveCode": bad }).to_string();
        assert_error(&http("POST", &url, Some(&body), &[]), 400);
    }
}

#[test]
fn post_streams_imports_existing_credentials() {
    let (_dir, server) = start(&[]);
    let code = "Abc.def-ghi_".to_owned() + &"9".repeat(52);
    let body = serde_json::json!({ "liveId": "A.b_c-9", "liveCode": code }).to_string();
    let a = http("POST", &server.url("/api/streams"), Some(&body), &[]);
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.json(), serde_json::json!({ "liveId": "A.b_c-9", "liveCode": code }));
    auth(&Peer::new(), server.ready.push, "A.b_c-9", &code);
}

#[test]
fn get_streams_lists_every_field() {
    let (_dir, server) = start(&[]);
    create_stream(&server, "idle");
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    publisher.send(server.ready.push, &ts(1, ssrc, &[0x47; 188]));
    subscriber.expect(pt::TS_DATA);
    let list = http("GET", &server.url("/api/streams"), None, &[]);
    assert_eq!(list.status, 200);
    let json = list.json();
    let streams = json["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2, "{json}");
    let cam = streams.iter().find(|s| s["liveId"] == "cam1").unwrap();
    let publisher_addr = publisher.socket.local_addr().unwrap().to_string();
    assert_eq!(cam["live"], true);
    assert_eq!(cam["ssrc"].as_u64(), Some(u64::from(ssrc)), "{cam}");
    assert_eq!(cam["publisher"].as_str(), Some(publisher_addr.as_str()), "{cam}");
    assert_eq!(cam["subscribers"].as_u64(), Some(1), "{cam}");
    assert_eq!((cam["packetsIn"].as_u64(), cam["bytesIn"].as_u64()), (Some(1), Some(200)), "one 200-byte datagram");
    assert_eq!((cam["lost"].as_u64(), cam["recovered"].as_u64()), (Some(0), Some(0)), "{cam}");
    assert!(cam["delayMs"].is_null(), "no round trip measured yet: {cam}");
    // 200 bytes within the last 1, 3 and 10 s.
    let bitrates = &cam["bitrateBps"];
    assert_eq!(bitrates["1s"].as_u64(), Some(1600), "{cam}");
    assert_eq!(bitrates["3s"].as_u64(), Some(533), "{cam}");
    assert_eq!(bitrates["10s"].as_u64(), Some(160), "{cam}");
    let mut keys: Vec<&str> = cam.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let expected = [
        "bitrateBps",
        "bytesIn",
        "delayMs",
        "live",
        "liveId",
        "lost",
        "packetsIn",
        "publisher",
        "recovered",
        "reportedDelayMs",
        "ssrc",
        "subscriberCount",
        "subscribers",
    ];
    assert_eq!(keys, expected);
    assert!(cam["reportedDelayMs"].is_null(), "no delay posted (§3.2): {cam}");
    let idle = streams.iter().find(|s| s["liveId"] == "idle").unwrap();
    assert_eq!(idle["live"], false, "{idle}");
}

#[test]
fn get_one_stream_lists_subscribers_and_404s_when_unknown() {
    let (_dir, server) = start(&[]);
    let (_publisher, _subscriber, _) = live_with_subscriber(&server, "cam1");
    let one = http("GET", &server.url("/api/streams/cam1"), None, &[]);
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["liveId"], "cam1");
    assert_eq!(one.json()["subscribers"].as_array().unwrap().len(), 1);
    assert_error(&http("GET", &server.url("/api/streams/nope"), None, &[]), 404);
}

#[test]
fn stop_route_204_notifies_subscribers_and_404s_when_not_live() {
    let (_dir, server) = start(&[]);
    create_stream(&server, "idle");
    assert_error(&http("POST", &server.url("/api/streams/idle/stop"), None, &[]), 404);
    assert_error(&http("POST", &server.url("/api/streams/nope/stop"), None, &[]), 404);
    let (_publisher, subscriber, _) = live_with_subscriber(&server, "cam1");
    let a = http("POST", &server.url("/api/streams/cam1/stop"), None, &[]);
    assert_eq!(a.status, 204, "{}", a.body);
    assert_eq!(subscriber.expect(pt::STREAM_STOPPED).text(), "cam1");
}

#[test]
fn delete_revokes_credentials_204_and_404s_when_unknown() {
    let (_dir, server) = start(&[]);
    assert_error(&http("DELETE", &server.url("/api/streams/nope"), None, &[]), 404);
    let code = create_stream(&server, "cam1");
    let publisher = Peer::new();
    auth(&publisher, server.ready.push, "cam1", &code);
    assert_eq!(http("DELETE", &server.url("/api/streams/cam1"), None, &[]).status, 204);
    publisher.send(server.ready.push, &rtp(pt::AUTH_REQ, false, 0, 0, 0, format!("cam1#{code}").as_bytes()));
    publisher.expect(pt::AUTH_REFUSED);
    assert_error(&http("GET", &server.url("/api/streams/cam1"), None, &[]), 404);
    let fresh = create_stream(&server, "cam1");
    assert_ne!(fresh, code);
    auth(&publisher, server.ready.push, "cam1", &fresh);
}

#[test]
fn get_clients_shows_clients_without_their_ids() {
    let (_dir, server) = start(&[]);
    let (_publisher, subscriber, _) = live_with_subscriber(&server, "cam1");
    let id = register(&subscriber, server.ready.pull);
    let a = http("GET", &server.url("/api/clients"), None, &[]);
    assert_eq!(a.status, 200);
    let clients = a.json()["clients"].as_array().unwrap().clone();
    assert_eq!(clients.len(), 1);
    let addr = subscriber.socket.local_addr().unwrap().to_string();
    assert_eq!(clients[0]["address"].as_str(), Some(addr.as_str()), "{}", a.body);
    let subscriptions = clients[0]["subscriptions"].as_array().unwrap();
    assert_eq!(subscriptions.len(), 1, "{}", a.body);
    assert_eq!(subscriptions[0]["liveId"], "cam1", "{}", a.body);
    for shown in [id.to_string(), (id as i32).to_string()] {
        assert!(!a.body.contains(&shown), "client id {shown} shown: {}", a.body);
    }
}

#[test]
fn admin_token_401_without_403_wrong_and_open_routes_need_none() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &["--admin-token", "t0ken"], &[]);
    for (method, path) in [("GET", "/api/streams"), ("GET", "/api/clients"), ("POST", "/api/streams")] {
        let body = (method == "POST").then_some("{}");
        assert_error(&http(method, &server.url(path), body, &[]), 401);
        assert_error(&http(method, &server.url(path), body, &[("Authorization", "Bearer nope")]), 403);
    }
    let ok = http("GET", &server.url("/api/streams"), None, &[("Authorization", "Bearer t0ken")]);
    assert_eq!(ok.status, 200);
    assert_eq!(http("GET", &server.url("/healthz"), None, &[]).status, 200);
    assert_eq!(http("GET", &server.url("/metrics"), None, &[]).status, 200);
}

#[test]
fn healthz_answers_ok() {
    let (_dir, server) = start(&[]);
    let a = http("GET", &server.url("/healthz"), None, &[]);
    assert_eq!(a.status, 200);
    assert_eq!(a.body.trim(), "ok");
}

#[test]
fn metrics_are_prometheus_text() {
    let (_dir, server) = start(&[]);
    let a = http("GET", &server.url("/metrics"), None, &[]);
    assert_eq!(a.status, 200);
    assert!(a.body.lines().any(|l| l.starts_with("# TYPE ")), "{}", a.body);
    for line in a.body.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value), "line {line}");
    }
}

#[test]
fn openapi_document_is_json() {
    let (_dir, server) = start(&[]);
    let a = http("GET", &server.url("/api/openapi.json"), None, &[]);
    assert_eq!(a.status, 200);
    let doc = a.json();
    assert!(doc["openapi"].is_string() && doc["paths"].is_object(), "{doc}");
}

// ---- §3.2 signed envelope ----------------------------------------------

fn envelope(app_id: &str, key: &str, timestamp: u64, data: &str) -> serde_json::Value {
    let ts = timestamp.to_string();
    let (sn, nonce) = ("7", "n0nce");
    let mut parts = [key, app_id, sn, ts.as_str(), nonce, data];
    parts.sort();
    let signature: String = Sha1::digest(parts.concat().as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    serde_json::json!({"appId": app_id, "sn": sn, "timestamp": ts, "nonce": nonce, "data": data, "signature": signature})
}

fn envelope_server() -> (tempfile::TempDir, Server) {
    let dir = temp_dir();
    let server = Server::start(
        dir.path(),
        &["--admin-token", "adm"],
        &[("RTPRELAY_APP_KEYS", r#"[{appId = "rm", secureKey = "k3y"}]"#)],
    );
    (dir, server)
}

fn compat(server: &Server, route: &str, body: &str) -> serde_json::Value {
    let a = http("POST", &server.url(&format!("{COMPAT}/{route}")), Some(body), &[]);
    assert_eq!(a.status, 200, "{route}: {}", a.body);
    a.json()
}

#[test]
fn get_live_info_answers_the_exact_shape_without_a_bearer_token() {
    let (_dir, server) = envelope_server();
    let answer = compat(&server, "getLiveInfo", &envelope("rm", "k3y", now_ms(), "anything").to_string());
    let obj = answer.as_object().unwrap();
    assert_eq!(obj.len(), 3, "{answer}");
    assert_eq!(answer["errCode"], 0);
    assert_eq!(answer["msg"], "");
    let info = answer["liveInfo"].as_object().unwrap();
    assert_eq!(info.len(), 2, "{answer}");
    let (id, code) = (info["liveId"].as_str().unwrap(), info["liveCode"].as_str().unwrap());
    auth(&Peer::new(), server.ready.push, id, code);
}

#[test]
fn stop_stream_answers_0_or_110002() {
    let (_dir, server) = envelope_server();
    let info = compat(&server, "getLiveInfo", &envelope("rm", "k3y", now_ms(), "").to_string());
    let (id, code) = (info["liveInfo"]["liveId"].as_str().unwrap(), info["liveInfo"]["liveCode"].as_str().unwrap());
    let subscriber = Peer::new();
    auth(&Peer::new(), server.ready.push, id, code);
    subscribe(&subscriber, server.ready.pull, id);
    let data = serde_json::json!({ "liveId": id }).to_string();
    let ok = compat(&server, "stopStream", &envelope("rm", "k3y", now_ms(), &data).to_string());
    assert_eq!(ok, serde_json::json!({"errCode": 0, "msg": "ok"}));
    assert_eq!(subscriber.expect(pt::STREAM_STOPPED).text(), id);
    let missing = serde_json::json!({ "liveId": "nosuch" }).to_string();
    let gone = compat(&server, "stopStream", &envelope("rm", "k3y", now_ms(), &missing).to_string());
    assert_eq!(gone, serde_json::json!({"errCode": 110002, "msg": "stream does not exist"}));
}

#[test]
fn envelope_errors_have_their_codes_and_http_200() {
    let (_dir, server) = envelope_server();
    let cases = [
        ("signature", { envelope("rm", "wrong", now_ms(), "").to_string() }, 1_000_001),
        ("appId", envelope("other", "k3y", now_ms(), "").to_string(), 1_000_002),
        ("timestamp", envelope("rm", "k3y", now_ms() - 121_000, "").to_string(), 1_000_003),
        ("json", "{not json".to_owned(), 10002),
    ];
    for route in ["getLiveInfo", "stopStream"] {
        for (what, body, code) in &cases {
            let answer = compat(&server, route, body);
            assert_eq!(answer["errCode"], *code, "{route} {what}: {answer}");
            assert!(answer["msg"].is_string(), "{answer}");
        }
    }
}

// ---- §4 command line ----------------------------------------------------

fn assert_usage_error(cmd: Command, what: &str) {
    let (status, _out, err) = run(cmd);
    assert_eq!(status.code(), Some(2), "{what}: {err}");
    let mut lines = err.lines();
    let reason = lines.next().unwrap_or("");
    assert!(reason.starts_with("rtprelay") && reason.len() > "rtprelay: ".len(), "{what}: a reason first: {err:?}");
    // Usage help may follow the one-line reason (§4), after a blank line.
    assert!(lines.next().is_none_or(|l| l.trim().is_empty()), "{what}: the reason is one line: {err:?}");
}

#[test]
fn serve_bad_usage_and_configuration_exit_2_with_one_line() {
    let dir = temp_dir();
    let config = support::path_in(&dir, "bad.toml");
    std::fs::write(&config, "this is = = not toml").unwrap();
    let unknown_key = support::path_in(&dir, "unknown.toml");
    std::fs::write(&unknown_key, "no_such_key = 1\n").unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["--no-such-flag"], "unknown flag"),
        (&["--push-addr", "not-an-address"], "bad address"),
        (&["--config", config.to_str().unwrap()], "bad config file"),
        (&["--config", unknown_key.to_str().unwrap()], "unknown config key"),
        (&["--config", "/nonexistent/rtprelay.toml"], "missing config file"),
        (&["--http-addr", "0.0.0.0:0"], "public HTTP without token"),
    ];
    for (flags, what) in cases {
        assert_usage_error(support::serve_command(dir.path(), flags, &[]), what);
    }
    assert_usage_error(support::serve_command(dir.path(), &[], &[("RTPRELAY_STREAM_IDLE_TIMEOUT_MS", "0")]), "zero");
}

#[test]
fn serve_ready_line_has_push_pull_http_and_port_0_picks_free_ports() {
    let (_dir, server) = start(&[]);
    for addr in [server.ready.push, server.ready.pull, server.ready.http] {
        assert_ne!(addr.port(), 0);
        assert!(addr.ip().is_loopback());
    }
    assert_eq!(server.terminate().code(), Some(0));
}

#[test]
fn stream_create_prints_one_json_object_with_live_id_and_live_code() {
    let (_dir, server) = start(&[]);
    let mut cmd = Command::new(support::binary());
    cmd.args(["stream", "create", "--live-id", "cli1", "--http", &format!("http://{}", server.ready.http)]);
    let (status, out, err) = run(cmd);
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(out.trim_end().lines().count(), 1, "{out}");
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 2, "{json}");
    assert_eq!(json["liveId"], "cli1");
    assert_eq!(json["liveCode"].as_str().map(str::len), Some(20), "a generated code has 20 characters: {json}");
    let mut generated = Command::new(support::binary());
    generated.args(["stream", "create", "--http", &server.ready.http.to_string()]);
    let (status, out, err) = run(generated);
    assert_eq!(status.code(), Some(0), "{err}");
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(json["liveId"].as_str().unwrap().starts_with("user"), "{json}");
}

#[test]
fn pull_of_several_ids_needs_a_live_id_template() {
    let dir = temp_dir();
    let out = support::path_in(&dir, "out.ts");
    for target in [out.to_str().unwrap(), "-"] {
        let mut cmd = Command::new(support::binary());
        cmd.args(["pull", "--server", "127.0.0.1:9", "--live-id", "a", "--live-id", "b", "-o", target]);
        assert_usage_error(cmd, target);
    }
}

#[test]
fn push_and_pull_reject_unknown_flags_with_exit_2() {
    let mut push = Command::new(support::binary());
    push.args(["push", "--server", "127.0.0.1:9", "--live-id", "a", "--live-code", "b", "--bogus", "-"]);
    assert_usage_error(push, "push --bogus");
    let mut pull = Command::new(support::binary());
    pull.args(["pull", "--server", "127.0.0.1:9", "--live-id", "a", "--follow", "--bogus"]);
    assert_usage_error(pull, "pull --bogus");
}

// ---- more §1 / §2 rules ---------------------------------------------------

/// An RTCP Generic NACK (RFC 4585 §6.2.1) for `pid` and `blp`.
fn nack(sender: u32, media: u32, pid: u16, blp: u16) -> Vec<u8> {
    let mut p = vec![0x81, 205, 0, 3];
    p.extend_from_slice(&sender.to_be_bytes());
    p.extend_from_slice(&media.to_be_bytes());
    p.extend_from_slice(&pid.to_be_bytes());
    p.extend_from_slice(&blp.to_be_bytes());
    p
}

fn ts_data(p: &Rtp) -> bool {
    p.byte1 == pt::TS_DATA
}

#[test]
fn a_list_that_fills_whole_chunks_ends_with_an_empty_marked_chunk() {
    let (_dir, server) = start(&[]);
    let (client, id) = registered(&server);
    // Exactly 738 bytes, so the last chunk is empty (1.4.2).
    let list = format!("{}#{}", "x".repeat(368), "y".repeat(369));
    assert_eq!(list.len(), 738);
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, false, 0, 0, id, list.as_bytes()));
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 1, 0, id, b""));
    let ids = answered_ids(&client);
    assert_eq!(ids, ["x".repeat(368), "y".repeat(369)]);
    assert!(client.drain(Duration::from_millis(50)).iter().all(|p| p.byte1 != PULL_REQ_LOST));
}

#[test]
fn pull_request_text_is_joined_as_bytes_before_decoding_and_ignores_empty_and_duplicate_entries() {
    let (_dir, server) = start(&[]);
    let (client, id) = registered(&server);
    let text = "caf\u{e9}##b#b#";
    let bytes = text.as_bytes();
    let split = text.find('\u{e9}').unwrap() + 1; // inside the two-byte character
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, false, 0, 0, id, &bytes[..split]));
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 1, 0, id, &bytes[split..]));
    let mut entries = pull_rsp_entries(&client, SHORT);
    entries.sort();
    let expected = [("b", "null"), ("caf\u{e9}", "null")];
    assert_eq!(entries, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
}

#[test]
fn the_same_source_gets_the_same_client_id() {
    let (_dir, server) = start(&[]);
    let client = Peer::new();
    let first = register(&client, server.ready.pull);
    assert_eq!(register(&client, server.ready.pull), first);
    assert_ne!(register(&Peer::new(), server.ready.pull), first);
}

#[test]
fn an_unacked_pull_rsp_is_resent_three_times_then_given_up() {
    let (_dir, server) = start(&[("RTPRELAY_PULL_RSP_RESEND_INITIAL_MS", "150")]);
    let code = create_stream(&server, "cam1");
    auth(&Peer::new(), server.ready.push, "cam1", &code);
    let (client, id) = registered(&server);
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, id, b"cam1"));
    // Answer at 0, resends at +150, +450, +1050 ms; none after: a fourth
    // would come at +2250 ms, inside this window.
    let rsps = client.drain(Duration::from_millis(2700)).into_iter().filter(|p| p.byte1 == pt::PULL_RSP).count();
    assert_eq!(rsps, 4);
}

#[test]
fn a_pull_rsp_with_default_settings_is_resent_after_1_s() {
    let (_dir, server) = start(&[]);
    let code = create_stream(&server, "cam1");
    auth(&Peer::new(), server.ready.push, "cam1", &code);
    let (client, id) = registered(&server);
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, id, b"cam1"));
    client.expect(pt::PULL_RSP);
    let first = Instant::now();
    client.expect(pt::PULL_RSP);
    let after = first.elapsed();
    // The resend leaves exactly 1 s after the answer; both are timed on
    // arrival here, so only our lateness in seeing the first (scheduling
    // on a loaded machine) can shorten it and only lateness in seeing the
    // second can lengthen it.
    assert!(after > Duration::from_millis(900) && after < Duration::from_millis(1400), "resent after {after:?}");
}

#[test]
fn a_complete_request_replaces_the_list_and_keeps_acks_of_streams_still_listed() {
    let (_dir, server) = start(&[]);
    let publisher = Peer::new();
    let mut ssrc = Vec::new();
    for live_id in ["a", "b", "c"] {
        let code = create_stream(&server, live_id);
        ssrc.push(auth(&publisher, server.ready.push, live_id, &code));
    }
    let (client, id) = registered(&server);
    let entry = |i: usize| (["a", "b", "c"][i].to_owned(), (ssrc[i] as i32).to_string());
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, id, b"a#b"));
    assert_eq!(pull_rsp_entries(&client, Duration::from_millis(200)), [entry(0), entry(1)]);
    client.send(server.ready.pull, &rtp(pt::SSRC_ACK, false, 0, 0, id, b"a;b"));
    wait_subscribers(&server, "b", 1);
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, id, b"b#c"));
    assert_eq!(pull_rsp_entries(&client, Duration::from_millis(200)), [entry(1), entry(2)]);
    wait_subscribers(&server, "a", 0);
    for (i, s) in ssrc.iter().enumerate() {
        publisher.send(server.ready.push, &ts(50, *s, &[b'a' + i as u8]));
    }
    let got: Vec<Vec<u8>> = client.drain(SHORT).into_iter().filter(ts_data).map(|p| p.payload).collect();
    assert_eq!(got, vec![b"b".to_vec()], "only b: a was dropped, c is not acked yet");
}

#[test]
fn an_ack_split_over_datagrams_is_handled_datagram_by_datagram() {
    let (_dir, server) = start(&[]);
    let publisher = Peer::new();
    let mut expected = Vec::new();
    for live_id in ["a", "b"] {
        let code = create_stream(&server, live_id);
        let ssrc = auth(&publisher, server.ready.push, live_id, &code);
        expected.push((live_id.to_owned(), (ssrc as i32).to_string()));
    }
    let (client, id) = registered(&server);
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, id, b"a#b"));
    assert_eq!(pull_rsp_entries(&client, Duration::from_millis(200)), expected);
    client.send(server.ready.pull, &rtp(pt::SSRC_ACK, false, 0, 0, id, b"a;"));
    client.send(server.ready.pull, &rtp(pt::SSRC_ACK, false, 0, 0, id, b"b"));
    wait_subscribers(&server, "a", 1);
    wait_subscribers(&server, "b", 1);
}

#[test]
fn an_ack_first_replays_the_packets_since_the_first_pull_rsp() {
    let (_dir, server) = start(&[]);
    let code = create_stream(&server, "cam1");
    let publisher = Peer::new();
    let ssrc = auth(&publisher, server.ready.push, "cam1", &code);
    let (client, id) = registered(&server);
    publisher.send(server.ready.push, &ts(0, ssrc, b"before the request"));
    std::thread::sleep(Duration::from_millis(50));
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, id, b"cam1"));
    let rsp = client.expect(pt::PULL_RSP);
    let sent = publish_numbered(&publisher, &server, ssrc, 3);
    assert!(client.drain(Duration::from_millis(150)).iter().all(|p| !ts_data(p)), "nothing before the ack");
    client.send(server.ready.pull, &rtp(pt::SSRC_ACK, false, 0, rsp.ssrc, id, b"cam1"));
    let got: Vec<Vec<u8>> = client.drain(SHORT).into_iter().filter(ts_data).map(|p| p.raw).collect();
    assert_eq!(got, sent);
}

#[test]
fn forwarding_continues_across_the_sequence_wrap() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    for seq in [65534, 65535, 0, 1] {
        publisher.send(server.ready.push, &ts(seq, ssrc, b"w"));
    }
    let seqs: Vec<u16> = subscriber.drain(SHORT).into_iter().filter(ts_data).map(|p| p.seq).collect();
    assert_eq!(seqs, [65534, 65535, 0, 1]);
}

/// Publishes `TS_DATA` 1..=`count`, each payload its own number; returns
/// the datagrams sent.
fn publish_numbered(publisher: &Peer, server: &Server, ssrc: u32, count: u16) -> Vec<Vec<u8>> {
    let sent: Vec<Vec<u8>> = (1..=count).map(|seq| ts(seq, ssrc, &[seq as u8; 20])).collect();
    for p in &sent {
        publisher.send(server.ready.push, p);
    }
    sent
}

#[test]
fn a_nack_from_an_acked_subscriber_gets_the_packets_again_unchanged() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    let id = register(&subscriber, server.ready.pull);
    let sent = publish_numbered(&publisher, &server, ssrc, 5);
    assert_eq!(subscriber.drain(Duration::from_millis(200)).into_iter().filter(ts_data).count(), 5);
    subscriber.send(server.ready.pull, &nack(id, ssrc, 2, 0b10));
    let again: Vec<Vec<u8>> = subscriber.drain(SHORT).into_iter().filter(ts_data).map(|p| p.raw).collect();
    assert_eq!(again, vec![sent[1].clone(), sent[3].clone()]);
    // An extension client gets STREAM_STOPPED three times, 100 ms apart.
    publisher.send(server.ready.push, &rtp(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"cam1"));
    let stops = subscriber.drain(Duration::from_millis(700)).into_iter().filter(|p| p.byte1 == pt::STREAM_STOPPED);
    assert_eq!(stops.count(), 3);
}

#[test]
fn a_nack_from_a_foreign_address_is_ignored() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    let id = register(&subscriber, server.ready.pull);
    publisher.send(server.ready.push, &ts(1, ssrc, b"x"));
    subscriber.expect(pt::TS_DATA);
    let stranger = Peer::new();
    stranger.send(server.ready.pull, &nack(id, ssrc, 1, 0));
    assert!(stranger.drain(SHORT).iter().all(|p| !ts_data(p)));
    assert!(subscriber.drain(Duration::from_millis(100)).iter().all(|p| !ts_data(p)), "nor to the subscriber");
    subscriber.send(server.ready.pull, &nack(id, ssrc, 1, 0));
    assert_eq!(subscriber.expect(pt::TS_DATA).payload, b"x", "the same NACK from the subscriber is answered");
}

#[test]
fn a_push_leg_gap_is_nacked_to_the_publisher_with_the_relays_clock_as_sender_ssrc() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    publisher.send(server.ready.push, &ts(10, ssrc, b"10"));
    publisher.send(server.ready.push, &ts(12, ssrc, b"12"));
    let n = publisher.expect(205);
    assert_eq!(n.raw[0] & 0xC0, 0x80, "V=2");
    assert_eq!(n.raw[0] & 0x1F, 1, "FMT=1");
    assert_clock(n.timestamp); // the sender SSRC field, bytes 4-7 (1.1, 2.2)
    assert_eq!(n.ssrc, ssrc, "media SSRC");
    assert_eq!(u16::from_be_bytes([n.payload[0], n.payload[1]]), 11, "PID: {:?}", n.raw);
    publisher.send(server.ready.push, &ts(11, ssrc, b"11"));
    let got: Vec<u16> = subscriber.drain(SHORT).into_iter().filter(ts_data).map(|p| p.seq).collect();
    assert_eq!(got, [10, 12, 11], "a recovered packet is forwarded once, when it arrives");
    let stream = http("GET", &server.url("/api/streams/cam1"), None, &[]).json();
    assert_eq!(stream["recovered"].as_u64(), Some(1), "{stream}");
}

#[test]
fn ts_data_with_an_unbound_ssrc_gets_stream_unknown_with_that_ssrc() {
    let (_dir, server) = start(&[]);
    let stranger = Peer::new();
    stranger.send(server.ready.pull, &ts(1, 0x00AB_CDEF, b"x"));
    let answer = stranger.expect(STREAM_UNKNOWN);
    assert_control(&answer, STREAM_UNKNOWN, 0x00AB_CDEF);
    assert_eq!(answer.from, server.ready.pull);
}

#[test]
fn client_unknown_is_sent_at_most_once_per_second_per_source() {
    let (_dir, server) = start(&[]);
    let stranger = Peer::new();
    for _ in 0..3 {
        stranger.send(server.ready.pull, &rtp(pt::HEARTBEAT, false, 0, 0, 4242, b""));
    }
    assert_eq!(stranger.drain(SHORT).iter().filter(|p| p.byte1 == CLIENT_UNKNOWN).count(), 1);
}

/// Heartbeats from `new` naming client `id` until the relay answers there
/// with a `PULL_RSP` (its challenge), waiting `poll` after each.
fn challenge_at(new: &Peer, to: SocketAddr, id: u32, poll: Duration) -> Rtp {
    for _ in 0..20 {
        new.send(to, &rtp(pt::HEARTBEAT, false, 0, 0, id, b""));
        if let Some(rsp) = new.recv(poll).filter(|p| p.byte1 == pt::PULL_RSP) {
            return rsp;
        }
    }
    panic!("no PULL_RSP to the new address");
}

/// 2.3: the move also waits until the old address has sent nothing for
/// `move_quiet_ms` (here 1000 ms, to keep the test short).
#[test]
fn a_heartbeat_from_a_new_address_moves_data_only_after_the_challenge_is_echoed() {
    let (_dir, server) = start(&[("RTPRELAY_MOVE_QUIET_MS", "1000")]);
    let (publisher, old, ssrc) = live_with_subscriber(&server, "cam1");
    let id = register(&old, server.ready.pull);
    let quiet_from = Instant::now();
    let new = Peer::new();
    let rsp = challenge_at(&new, server.ready.pull, id, Duration::from_millis(100));
    assert_eq!(rsp.text(), format!("cam1#{}", ssrc as i32));
    publisher.send(server.ready.push, &ts(1, ssrc, b"before"));
    assert_eq!(old.expect(pt::TS_DATA).payload, b"before");
    new.send(server.ready.pull, &rtp(pt::SSRC_ACK, false, 0, rsp.ssrc, id, b"cam1"));
    std::thread::sleep(Duration::from_millis(100));
    if quiet_from.elapsed() < Duration::from_millis(800) {
        publisher.send(server.ready.push, &ts(2, ssrc, b"echoed"));
        assert_eq!(old.expect(pt::TS_DATA).payload, b"echoed", "the old address spoke within move_quiet_ms");
    }
    std::thread::sleep(Duration::from_millis(1_100).saturating_sub(quiet_from.elapsed()));
    publisher.send(server.ready.push, &ts(3, ssrc, b"after"));
    let moved: Vec<Vec<u8>> = new.drain(SHORT).into_iter().filter(ts_data).map(|p| p.payload).collect();
    assert_eq!(moved, [b"after".to_vec()]);
    assert!(old.drain(Duration::from_millis(100)).iter().all(|p| !ts_data(p)));
}

#[test]
fn legacy_trust_accepts_unissued_client_ids_but_never_sentinels() {
    let (_dir, server) = start(&[("RTPRELAY_LEGACY_TRUST", "true")]);
    let client = Peer::new();
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, 4242, b"cam1"));
    assert_eq!(client.expect(pt::PULL_RSP).text(), "cam1#null");
    for sentinel in [0, u32::MAX, u32::MAX - 1] {
        let peer = Peer::new();
        peer.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, sentinel, b"cam1"));
        let got: Vec<(u8, u32)> = peer.drain(Duration::from_millis(200)).iter().map(|p| (p.byte1, p.ssrc)).collect();
        assert_eq!(got, [(CLIENT_UNKNOWN, sentinel)], "a sentinel id is unknown, never adopted");
    }
}

#[test]
fn delete_stops_a_live_stream_for_its_subscribers() {
    let (_dir, server) = start(&[]);
    let (_publisher, subscriber, _) = live_with_subscriber(&server, "cam1");
    assert_eq!(http("DELETE", &server.url("/api/streams/cam1"), None, &[]).status, 204);
    assert_eq!(subscriber.expect(pt::STREAM_STOPPED).text(), "cam1");
}

#[test]
fn native_errors_are_json_for_bad_bodies_and_unknown_routes() {
    let (_dir, server) = start(&[]);
    assert_error(&http("POST", &server.url("/api/streams"), Some("{not json"), &[]), 400);
    let unknown = http("GET", &server.url("/api/nothing-here"), None, &[]);
    assert_error(&unknown, 404);
}

#[test]
fn compatibility_routes_ignore_the_bearer_token() {
    let (_dir, server) = envelope_server();
    let body = envelope("rm", "k3y", now_ms(), "").to_string();
    for headers in [&[][..], &[("Authorization", "Bearer wrong")][..]] {
        let a = http("POST", &server.url(&format!("{COMPAT}/getLiveInfo")), Some(&body), headers);
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.json()["errCode"], 0, "{}", a.body);
    }
}

#[test]
fn stream_create_exits_1_when_the_relay_refuses() {
    let (_dir, server) = start(&[]);
    create_stream(&server, "taken");
    let mut cmd = Command::new(support::binary());
    cmd.args(["stream", "create", "--live-id", "taken", "--http", &server.ready.http.to_string()]);
    let (status, out, err) = run(cmd);
    assert_eq!(status.code(), Some(1), "{out} {err}");
    assert!(out.trim().is_empty(), "{out}");
}

#[test]
fn bad_subcommands_exit_2_with_one_line() {
    for args in [&[][..], &["bogus"][..], &["serve", "--push-addr"][..], &["stream"][..]] {
        let mut cmd = Command::new(support::binary());
        cmd.args(args);
        assert_usage_error(cmd, &format!("{args:?}"));
    }
}

#[test]
fn accepted_data_and_reauth_reset_the_idle_timer_but_foreign_data_does_not() {
    let (_dir, server) = start(&[("RTPRELAY_STREAM_IDLE_TIMEOUT_MS", "600")]);
    let code = create_stream(&server, "cam1");
    let (publisher, stranger) = (Peer::new(), Peer::new());
    let ssrc = auth(&publisher, server.ready.push, "cam1", &code);
    for seq in 0..6 {
        publisher.send(server.ready.push, &ts(seq, ssrc, b"x"));
        std::thread::sleep(Duration::from_millis(200));
    }
    for _ in 0..3 {
        auth(&publisher, server.ready.push, "cam1", &code);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(http("GET", &server.url("/api/streams/cam1"), None, &[]).json()["live"], true);
    for seq in 10..16 {
        stranger.send(server.ready.push, &ts(seq, ssrc, b"x"));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(http("GET", &server.url("/api/streams/cam1"), None, &[]).json()["live"], false);
}

#[test]
fn a_live_id_keeps_its_ssrc_across_stops_while_the_relay_runs() {
    let (_dir, server) = start(&[]);
    let code = create_stream(&server, "cam1");
    let publisher = Peer::new();
    let ssrc = auth(&publisher, server.ready.push, "cam1", &code);
    publisher.send(server.ready.push, &rtp(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"cam1"));
    publisher.expect(pt::STOP_PUSH_RSP);
    assert_eq!(auth(&publisher, server.ready.push, "cam1", &code), ssrc);
    assert_eq!(http("POST", &server.url("/api/streams/cam1/stop"), None, &[]).status, 204);
    assert_eq!(auth(&Peer::new(), server.ready.pull, "cam1", &code), ssrc);
}

#[test]
fn ssrcs_are_unique_among_streams() {
    let (_dir, server) = start(&[]);
    let publisher = Peer::new();
    let mut ssrcs: Vec<u32> = (0..20)
        .map(|i| {
            let live_id = format!("s{i}");
            let code = create_stream(&server, &live_id);
            auth(&publisher, server.ready.push, &live_id, &code)
        })
        .collect();
    let listed = http("GET", &server.url("/api/streams"), None, &[]).json();
    let mut shown: Vec<u32> = listed["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ssrc"].as_u64().unwrap_or_else(|| panic!("ssrc not unsigned: {s}")) as u32)
        .collect();
    shown.sort_unstable();
    ssrcs.sort_unstable();
    assert_eq!(shown, ssrcs, "the API lists exactly the SSRCs the auths returned");
    ssrcs.dedup();
    assert_eq!(ssrcs.len(), 20);
    assert!(ssrcs.iter().all(|s| ![0, u32::MAX, u32::MAX - 1].contains(s)));
}

#[test]
fn a_marked_stop_push_recovers_the_tail_before_stopping() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    publisher.send(server.ready.push, &ts(1, ssrc, b"1"));
    publisher.send(server.ready.push, &ts(2, ssrc, b"2"));
    publisher.send(server.ready.push, &rtp(pt::STOP_PUSH_REQ, true, 4, 0, 0, b"cam1"));
    let n = publisher.expect(205);
    let pid = u16::from_be_bytes([n.payload[0], n.payload[1]]);
    let blp = u16::from_be_bytes([n.payload[2], n.payload[3]]);
    assert_eq!((pid, blp & 1), (3, 1), "NACK of 3 and 4: {:?}", n.raw);
    publisher.send(server.ready.push, &ts(3, ssrc, b"3"));
    publisher.send(server.ready.push, &ts(4, ssrc, b"4"));
    publisher.expect(pt::STOP_PUSH_RSP);
    let got: Vec<Rtp> = subscriber.drain(SHORT);
    let seqs: Vec<u16> = got.iter().filter(|p| ts_data(p)).map(|p| p.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    let stopped = got.iter().find(|p| p.byte1 == pt::STREAM_STOPPED).expect("STREAM_STOPPED");
    assert_eq!(stopped.seq, 4);
}

#[test]
fn live_codes_are_stored_hashed() {
    let (dir, server) = start(&[]);
    let code = create_stream(&server, "cam1");
    drop(server);
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(code.len()).any(|w| w == code.as_bytes()) {
                found.push(path);
            }
        }
    }
    assert!(found.is_empty(), "code in clear in {found:?}");
}

#[test]
fn get_clients_shows_address_subscriptions_and_counters() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    publisher.send(server.ready.push, &ts(1, ssrc, b"x"));
    subscriber.expect(pt::TS_DATA);
    let json = http("GET", &server.url("/api/clients"), None, &[]).json();
    let address = subscriber.socket.local_addr().unwrap().to_string();
    let expected = serde_json::json!({"clients": [{
        "address": address,
        "verified": true,
        "subscriptions": [{
            "liveId": "cam1", "acked": true, "reportedLoss": null, "reportedLostTotal": null, "reportedJitter": null,
            "packageLoss": null,
        }],
        "packetsSent": 1,
        "bytesSent": 13,
        "retransmitted": 0,
    }]});
    assert_eq!(json, expected);
}

#[test]
fn loopback_host_names_are_accepted_without_a_token() {
    let (_dir, server) = start(&[]);
    let port = server.ready.http.port();
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}"), "localhost".into()]
    {
        let a = http("GET", &server.url("/api/streams"), None, &[("Host", &host)]);
        assert_eq!(a.status, 200, "{host}: {}", a.body);
    }
    for host in ["evil.example", "127.0.0.1.evil.example", "localhost.evil.example:80"] {
        let a = http("GET", &server.url("/api/streams"), None, &[("Host", host)]);
        assert_eq!(a.status, 403, "{host}: {}", a.body);
    }
}

#[test]
fn app_keys_from_a_config_file_sign_envelopes() {
    let dir = temp_dir();
    let config = support::path_in(&dir, "relay.toml");
    std::fs::write(&config, "[[app_keys]]\nappId = \"rm\"\nsecureKey = \"k3y\"\n").unwrap();
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let answer = compat(&server, "getLiveInfo", &envelope("rm", "k3y", now_ms(), "").to_string());
    assert_eq!(answer["errCode"], 0, "{answer}");
}

#[test]
fn toward_an_unverified_address_the_relay_sends_no_more_bytes_than_it_received() {
    let (_dir, server) = start(&[]);
    let (_publisher, old, ssrc) = live_with_subscriber(&server, "cam1");
    let id = register(&old, server.ready.pull);
    let new = Peer::new();
    // Each 12-byte heartbeat adds credit; a PULL_RSP ("cam1#<ssrc>" after
    // the 12-byte header) goes out whenever the credit covers it.
    let rsp_len = 12 + format!("cam1#{}", ssrc as i32).len();
    let (mut sent, mut received, mut credit_used) = (0, 0, 0);
    for _ in 0..6 {
        let beat = rtp(pt::HEARTBEAT, false, 0, 0, id, b"");
        new.send(server.ready.pull, &beat);
        sent += beat.len();
        if sent - credit_used >= rsp_len {
            credit_used += rsp_len;
        }
        for p in new.drain(Duration::from_millis(60)) {
            received += p.raw.len();
            assert!(received <= sent, "{received} bytes sent to an address that sent {sent}");
        }
    }
    for p in new.drain(Duration::from_millis(100)) {
        received += p.raw.len();
    }
    assert!(credit_used > 0, "six heartbeats cover at least one PULL_RSP");
    assert_eq!(received, credit_used, "exactly the PULL_RSPs the {sent} bytes received pay for");
}

#[test]
fn a_legacy_subscriber_gets_stream_stopped_once_and_never_rtcp() {
    let (_dir, server) = start(&[]);
    let code = create_stream(&server, "cam1");
    let publisher = Peer::new();
    let ssrc = auth(&publisher, server.ready.push, "cam1", &code);
    // A legacy subscriber: its ack does not echo the challenge.
    let subscriber = Peer::new();
    let id = register(&subscriber, server.ready.pull);
    subscriber.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, id, b"cam1"));
    subscriber.expect(pt::PULL_RSP);
    subscriber.send(server.ready.pull, &rtp(pt::SSRC_ACK, false, 0, 0, id, b"cam1"));
    wait_subscribers(&server, "cam1", 1);
    publisher.send(server.ready.push, &ts(1, ssrc, b"1"));
    publisher.send(server.ready.push, &ts(3, ssrc, b"3"));
    publisher.expect(205);
    publisher.send(server.ready.push, &rtp(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"cam1"));
    let got = subscriber.drain(Duration::from_millis(600));
    assert_eq!(got.iter().filter(|p| p.byte1 == pt::STREAM_STOPPED).count(), 1);
    assert!(got.iter().all(|p| !(192..=223).contains(&p.byte1)), "RTCP sent to a subscriber: {got:?}");
}

#[test]
fn a_dropped_reassembly_is_forgotten_and_clients_do_not_mix_chunks() {
    let (_dir, server) = start(&[("RTPRELAY_PULL_REASSEMBLY_TIMEOUT_MS", "300")]);
    let (one, two) = (Peer::new(), Peer::new());
    let (id1, id2) = (register(&one, server.ready.pull), register(&two, server.ready.pull));
    one.send(server.ready.pull, &rtp(pt::PULL_REQ, false, 0, 0, id1, b"old#"));
    assert_eq!(one.expect(PULL_REQ_LOST).text(), "packetloss");
    one.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 1, 0, id1, b"tail"));
    two.send(server.ready.pull, &rtp(pt::PULL_REQ, false, 0, 0, id2, b"mine#"));
    two.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 1, 0, id2, b"too"));
    let ids: Vec<String> = pull_rsp_entries(&two, Duration::from_millis(200)).into_iter().map(|(i, _)| i).collect();
    assert_eq!(ids, ["mine", "too"]);
    let got: Vec<u8> = one.drain(Duration::from_millis(600)).iter().map(|p| p.byte1).collect();
    assert_eq!(got, [PULL_REQ_LOST], "no PULL_RSP; the lone tail chunk is dropped too");
}

#[test]
fn an_envelope_119_s_old_is_still_valid() {
    let (_dir, server) = envelope_server();
    let answer = compat(&server, "getLiveInfo", &envelope("rm", "k3y", now_ms() - 119_000, "").to_string());
    assert_eq!(answer["errCode"], 0, "{answer}");
}

// ---- §4 clients against a scripted relay ----------------------------------

fn expect_pt(relay: &Peer, payload_type: u8) -> Rtp {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(p) = relay.recv(Duration::from_millis(100))
            && p.byte1 == payload_type
        {
            return p;
        }
    }
    panic!("the client sent no packet with byte 1 = {payload_type}");
}

#[test]
fn push_authenticates_sends_ts_data_and_exits_0_after_stop_push_rsp() {
    let dir = temp_dir();
    let input = support::path_in(&dir, "in.ts");
    let mut ts_bytes = Vec::new();
    for i in 0..20u8 {
        let mut packet = vec![0x47, 0x1F, 0xFF, 0x10 | (i & 0x0F)];
        packet.resize(188, 0xFF);
        ts_bytes.extend(packet);
    }
    std::fs::write(&input, &ts_bytes).unwrap();
    let relay = Peer::new();
    let server = relay.socket.local_addr().unwrap().to_string();
    let mut cmd = Command::new(support::binary());
    cmd.args(["push", "--server", &server, "--live-id", "cam1", "--live-code", "c0de", input.to_str().unwrap()]);
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let req = expect_pt(&relay, pt::AUTH_REQ);
    assert_eq!(req.raw[0], 0x80);
    assert_eq!(req.text(), "cam1#c0de");
    relay.send(req.from, &rtp(pt::AUTH_OK, false, 0, now_ms() as u32, 0x0A0B_0C0D, b"cam1"));
    let mut data = Vec::new();
    let mut seqs = Vec::new();
    let stop = loop {
        let p = relay.recv(Duration::from_secs(5)).expect("the push client went quiet");
        match p.byte1 {
            pt::TS_DATA => {
                assert_eq!(p.raw[0], 0x80);
                assert_eq!(p.ssrc, 0x0A0B_0C0D);
                seqs.push(p.seq);
                data.extend_from_slice(&p.payload);
            }
            pt::STOP_PUSH_REQ | 0xFA => break p,
            _ => {}
        }
    };
    assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)), "{seqs:?}");
    assert_eq!(data, ts_bytes);
    assert_eq!(stop.text(), "cam1");
    assert_eq!(stop.byte1, pt::STOP_PUSH_REQ | 0x80, "a new publisher marks its stop (2.5)");
    assert_eq!(Some(&stop.seq), seqs.last(), "a marked stop names the last sequence number");
    relay.send(stop.from, &rtp(pt::STOP_PUSH_RSP, false, 0, 0, 0, b""));
    assert_eq!(support::wait_bounded(&mut child).code(), Some(0));
}

#[test]
fn pull_registers_requests_acks_writes_data_and_exits_0_on_stream_stopped() {
    let dir = temp_dir();
    let output = support::path_in(&dir, "out.ts");
    let relay = Peer::new();
    let server = relay.socket.local_addr().unwrap().to_string();
    let mut cmd = Command::new(support::binary());
    cmd.args(["pull", "--server", &server, "--live-id", "cam1", "-o", output.to_str().unwrap()]);
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let id_req = expect_pt(&relay, pt::CLIENT_ID_REQ);
    assert_eq!((id_req.ssrc, id_req.payload.len()), (0, 0));
    relay.send(id_req.from, &rtp(pt::CLIENT_ID_RSP, false, 0, now_ms() as u32, 777, b""));
    let pull = expect_pt(&relay, pt::PULL_REQ | 0x80);
    assert_eq!((pull.ssrc, pull.seq, pull.text().as_str()), (777, 0, "cam1"));
    relay.send(pull.from, &rtp(pt::PULL_RSP, false, 0, 0x1234_5678, 0, b"cam1#-256"));
    let ack = expect_pt(&relay, pt::SSRC_ACK);
    assert_eq!((ack.ssrc, ack.text().as_str()), (777, "cam1"));
    let mut packet = vec![0x47, 0x00, 0x11, 0x10];
    packet.resize(188, 0xAB);
    for seq in 0..3u16 {
        relay.send(pull.from, &rtp(pt::TS_DATA, false, seq, 0, 0xFFFF_FF00, &packet));
    }
    let beat = expect_pt(&relay, pt::HEARTBEAT);
    assert_eq!(beat.ssrc, 777);
    relay.send(pull.from, &rtp(pt::STREAM_STOPPED, false, 2, 0, 0, b"cam1"));
    // The client may ask to stop; confirm it so it never waits.
    if let Some(p) = relay.drain(Duration::from_millis(300)).into_iter().find(|p| p.byte1 == STOP_PULL_REQ) {
        relay.send(p.from, &rtp(STOP_PULL_RSP, false, 0, 0, 0, b""));
    }
    assert_eq!(support::wait_bounded(&mut child).code(), Some(0));
    assert_eq!(std::fs::read(&output).unwrap(), packet.repeat(3));
}

#[test]
fn an_expired_challenge_does_not_move_the_client() {
    let (_dir, server) = start(&[("RTPRELAY_CHALLENGE_VALIDITY_MS", "200")]);
    let (publisher, old, ssrc) = live_with_subscriber(&server, "cam1");
    let id = register(&old, server.ready.pull);
    let new = Peer::new();
    let rsp = challenge_at(&new, server.ready.pull, id, Duration::from_millis(50));
    std::thread::sleep(Duration::from_millis(400));
    new.send(server.ready.pull, &rtp(pt::SSRC_ACK, false, 0, rsp.ssrc, id, b"cam1"));
    std::thread::sleep(Duration::from_millis(100));
    publisher.send(server.ready.push, &ts(1, ssrc, b"x"));
    assert_eq!(old.expect(pt::TS_DATA).payload, b"x");
    assert!(new.drain(Duration::from_millis(200)).iter().all(|p| !ts_data(p)));
}

#[test]
fn legacy_trust_moves_a_client_on_any_heartbeat() {
    let (_dir, server) = start(&[("RTPRELAY_LEGACY_TRUST", "true")]);
    let (publisher, old, ssrc) = live_with_subscriber(&server, "cam1");
    let id = register(&old, server.ready.pull);
    let new = Peer::new();
    new.send(server.ready.pull, &rtp(pt::HEARTBEAT, false, 0, 0, id, b""));
    std::thread::sleep(Duration::from_millis(100));
    publisher.send(server.ready.push, &ts(1, ssrc, b"x"));
    assert_eq!(new.expect(pt::TS_DATA).payload, b"x");
    assert!(old.drain(Duration::from_millis(200)).iter().all(|p| !ts_data(p)));
}

#[test]
fn the_bound_publisher_address_may_send_data_to_either_socket() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    publisher.send(server.ready.pull, &ts(1, ssrc, b"to pull"));
    assert_eq!(subscriber.expect(pt::TS_DATA).payload, b"to pull");
}

#[test]
fn stop_push_stops_only_the_listed_streams_bound_to_the_sender() {
    let (_dir, server) = start(&[]);
    let (mine, theirs) = (Peer::new(), Peer::new());
    for (peer, live_id) in [(&mine, "a"), (&mine, "b"), (&theirs, "c")] {
        let code = create_stream(&server, live_id);
        auth(peer, server.ready.push, live_id, &code);
    }
    mine.send(server.ready.push, &rtp(pt::STOP_PUSH_REQ, false, 0, 0, 0, b"a#c#unknown"));
    mine.expect(pt::STOP_PUSH_RSP);
    let live = |id: &str| http("GET", &server.url(&format!("/api/streams/{id}")), None, &[]).json()["live"].clone();
    assert_eq!([live("a"), live("b"), live("c")], [false, true, true]);
}

#[test]
fn stop_rsps_are_never_sent_unasked() {
    let (_dir, server) =
        start(&[("RTPRELAY_STREAM_IDLE_TIMEOUT_MS", "300"), ("RTPRELAY_CLIENT_HEARTBEAT_TIMEOUT_MS", "500")]);
    let (publisher, subscriber, _) = live_with_subscriber(&server, "cam1");
    let code = create_stream(&server, "cam2");
    auth(&publisher, server.ready.push, "cam2", &code);
    assert_eq!(http("POST", &server.url("/api/streams/cam2/stop"), None, &[]).status, 204);
    let mut got = publisher.drain(Duration::from_millis(900));
    got.extend(subscriber.drain(Duration::from_millis(100)));
    // cam1 stops by the idle timeout while its subscriber is still there
    // (the stream's 300 ms run from the auth, before the client's 500 ms);
    // the subscriber echoed the challenge, so it gets STREAM_STOPPED three
    // times, 100 ms apart, all within the 900 ms drained.
    let stopped: Vec<String> = got.iter().filter(|p| p.byte1 == pt::STREAM_STOPPED).map(Rtp::text).collect();
    assert_eq!(stopped, ["cam1", "cam1", "cam1"], "cam1 stopped by the idle timeout");
    assert!(
        got.iter().all(|p| p.byte1 != pt::STOP_PUSH_RSP && p.byte1 != STOP_PULL_RSP),
        "unasked stop answer: {got:?}"
    );
}

#[test]
fn a_nack_inside_a_compound_rtcp_packet_is_honoured() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    let id = register(&subscriber, server.ready.pull);
    let sent = publish_numbered(&publisher, &server, ssrc, 3);
    assert_eq!(subscriber.drain(Duration::from_millis(200)).into_iter().filter(ts_data).count(), 3);
    let mut compound = vec![0x80, 201, 0, 1];
    compound.extend_from_slice(&id.to_be_bytes());
    compound.extend(nack(id, ssrc, 2, 0));
    subscriber.send(server.ready.pull, &compound);
    let again: Vec<Vec<u8>> = subscriber.drain(SHORT).into_iter().filter(ts_data).map(|p| p.raw).collect();
    assert_eq!(again, vec![sent[1].clone()]);
}

#[test]
fn stream_create_takes_the_admin_token_from_the_flag_or_the_environment() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &["--admin-token", "t0k"], &[]);
    let http_addr = server.ready.http.to_string();
    let create = |live_id: &str, flag: Option<&str>, env: Option<&str>| {
        let mut cmd = Command::new(support::binary());
        cmd.args(["stream", "create", "--live-id", live_id, "--http", &http_addr]).env_remove("RTPRELAY_ADMIN_TOKEN");
        if let Some(token) = flag {
            cmd.args(["--admin-token", token]);
        }
        if let Some(token) = env {
            cmd.env("RTPRELAY_ADMIN_TOKEN", token);
        }
        run(cmd).0.code()
    };
    assert_eq!(create("a", Some("t0k"), None), Some(0));
    assert_eq!(create("b", None, Some("t0k")), Some(0));
    assert_eq!(create("c", None, None), Some(1));
    assert_eq!(create("d", Some("wrong"), None), Some(1));
}

#[test]
fn native_method_errors_are_json_too() {
    let (_dir, server) = start(&[]);
    assert_error(&http("PUT", &server.url("/api/streams"), Some("{}"), &[]), 405);
    assert_error(&http("PATCH", &server.url("/api/streams/cam1"), Some("{}"), &[]), 405);
}

#[test]
fn unprompted_pull_rsps_leave_from_the_socket_the_subscriber_uses() {
    let (_dir, server) = start(&[]);
    let code = create_stream(&server, "cam1");
    let client = Peer::new();
    client.send(server.ready.push, &rtp(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
    let id = client.expect(pt::CLIENT_ID_RSP).ssrc;
    client.send(server.ready.push, &rtp(pt::PULL_REQ, true, 0, 0, id, b"cam1"));
    assert_eq!(client.expect(pt::PULL_RSP).from, server.ready.push);
    let ssrc = auth(&Peer::new(), server.ready.pull, "cam1", &code);
    let live = client.expect(pt::PULL_RSP);
    assert_eq!(live.from, server.ready.push);
    assert_eq!(live.text(), format!("cam1#{}", ssrc as i32));
    let resend = client.expect(pt::PULL_RSP);
    assert_eq!(resend.from, server.ready.push);
}

#[test]
fn unknown_answers_leave_from_the_socket_the_message_came_to() {
    let (_dir, server) = start(&[]);
    let stranger = Peer::new();
    stranger.send(server.ready.push, &rtp(pt::HEARTBEAT, false, 0, 0, 999, b""));
    assert_eq!(stranger.expect(CLIENT_UNKNOWN).from, server.ready.push);
    let other = Peer::new();
    other.send(server.ready.push, &ts(1, 0x0102_0304, b"x"));
    assert_eq!(other.expect(STREAM_UNKNOWN).from, server.ready.push);
}

#[test]
fn the_relay_serves_over_ipv6_loopback() {
    let dir = temp_dir();
    let flags = ["--push-addr", "[::1]:0", "--pull-addr", "[::1]:0", "--http-addr", "[::1]:0"];
    let server = Server::start(dir.path(), &flags, &[]);
    assert!(server.ready.push.is_ipv6() && server.ready.pull.is_ipv6() && server.ready.http.is_ipv6());
    assert_eq!(http("GET", &server.url("/healthz"), None, &[]).status, 200);
    let socket = std::net::UdpSocket::bind("[::1]:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = rtp(pt::DELAY_REQ, false, 1, 2, 3, b"v6");
    socket.send_to(&req, server.ready.pull).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = socket.recv_from(&mut buf).unwrap();
    assert_eq!(from, server.ready.pull);
    assert_eq!(buf[1], pt::DELAY_RSP);
    assert_eq!(&buf[2..n], &req[2..]);
}

fn spawn_quiet(mut cmd: Command) -> std::process::Child {
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn push_exits_0_after_a_short_timeout_when_the_stop_is_never_confirmed() {
    let dir = temp_dir();
    let input = support::path_in(&dir, "in.ts");
    let mut packet = vec![0x47, 0x1F, 0xFF, 0x10];
    packet.resize(188, 0xFF);
    std::fs::write(&input, &packet).unwrap();
    let relay = Peer::new();
    let server = relay.socket.local_addr().unwrap().to_string();
    let mut cmd = Command::new(support::binary());
    cmd.args(["push", "--server", &server, "--live-id", "cam1", "--live-code", "c0de", input.to_str().unwrap()]);
    let mut child = spawn_quiet(cmd);
    let req = expect_pt(&relay, pt::AUTH_REQ);
    relay.send(req.from, &rtp(pt::AUTH_OK, false, 0, now_ms() as u32, 0x0A0B_0C0D, b"cam1"));
    // A new publisher marks its stop (2.5): byte 1 is then 0x80 | 122.
    let stop = expect_pt(&relay, pt::STOP_PUSH_REQ | 0x80);
    let asked = Instant::now();
    assert_eq!(stop.text(), "cam1");
    assert_eq!(support::wait_bounded(&mut child).code(), Some(0));
    // The client gives up 2 s after sending the stop (its default close
    // timeout); we start timing when the stop arrives, so a little later.
    // The upper bound allows 1.5 s for the process to exit on a loaded
    // machine.
    let took = asked.elapsed();
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_millis(3500), "took {took:?}");
}

#[test]
fn pull_of_two_ids_waits_for_the_one_not_live_and_exits_0_when_both_stopped() {
    let dir = temp_dir();
    let template = support::path_in(&dir, "out-{liveId}.ts");
    let relay = Peer::new();
    let server = relay.socket.local_addr().unwrap().to_string();
    let mut cmd = Command::new(support::binary());
    cmd.args(["pull", "--server", &server, "--live-id", "a", "--live-id", "b", "-o", template.to_str().unwrap()]);
    let mut child = spawn_quiet(cmd);
    let id_req = expect_pt(&relay, pt::CLIENT_ID_REQ);
    let to = id_req.from;
    relay.send(to, &rtp(pt::CLIENT_ID_RSP, false, 0, now_ms() as u32, 4321, b""));
    let pull = expect_pt(&relay, pt::PULL_REQ | 0x80);
    let mut listed: Vec<&str> = std::str::from_utf8(&pull.payload).unwrap().split('#').collect();
    listed.sort_unstable();
    assert_eq!(listed, ["a", "b"]);
    relay.send(to, &rtp(pt::PULL_RSP, false, 0, 1, 0, b"a#null;b#5"));
    assert_eq!(expect_pt(&relay, pt::SSRC_ACK).text(), "b");
    let (pa, pb) = ([0x47u8; 188], [0x47u8, 1, 2, 3].repeat(47));
    relay.send(to, &rtp(pt::TS_DATA, false, 0, 0, 5, &pb));
    relay.send(to, &rtp(pt::STREAM_STOPPED, false, 0, 0, 0, b"b"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "pull exited before a went live and stopped");
    relay.send(to, &rtp(pt::PULL_RSP, false, 0, 2, 0, b"a#-7"));
    assert_eq!(expect_pt(&relay, pt::SSRC_ACK).text(), "a");
    relay.send(to, &rtp(pt::TS_DATA, false, 0, 0, (-7i32) as u32, &pa));
    relay.send(to, &rtp(pt::STREAM_STOPPED, false, 0, 0, 0, b"a"));
    if let Some(p) = relay.drain(Duration::from_millis(300)).into_iter().find(|p| p.byte1 == STOP_PULL_REQ) {
        relay.send(p.from, &rtp(STOP_PULL_RSP, false, 0, 0, 0, b""));
    }
    assert_eq!(support::wait_bounded(&mut child).code(), Some(0));
    assert_eq!(std::fs::read(support::path_in(&dir, "out-a.ts")).unwrap(), pa);
    assert_eq!(std::fs::read(support::path_in(&dir, "out-b.ts")).unwrap(), pb);
}

#[test]
fn receiver_reports_become_the_subscribers_loss_and_jitter() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    let id = register(&subscriber, server.ready.pull);
    publisher.send(server.ready.push, &ts(1, ssrc, b"x"));
    subscriber.expect(pt::TS_DATA);
    // RR (RFC 3550 6.4.2): one block, fraction lost 64/256, 10 lost, jitter 900.
    let mut rr = vec![0x81, 201, 0, 7];
    rr.extend_from_slice(&id.to_be_bytes());
    rr.extend_from_slice(&ssrc.to_be_bytes());
    rr.extend_from_slice(&[64, 0, 0, 10]);
    for word in [1u32, 900, 0, 0] {
        rr.extend_from_slice(&word.to_be_bytes());
    }
    subscriber.send(server.ready.pull, &rr);
    let report = |json: &serde_json::Value| {
        let s = &json["clients"][0]["subscriptions"][0];
        (s["reportedLoss"].as_f64(), s["reportedLostTotal"].as_i64(), s["reportedJitter"].as_u64())
    };
    support::eventually("the report in /api/clients", || {
        report(&http("GET", &server.url("/api/clients"), None, &[]).json()) != (None, None, None)
    });
    let json = http("GET", &server.url("/api/clients"), None, &[]).json();
    assert_eq!(json["clients"].as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(report(&json), (Some(0.25), Some(10), Some(900)), "{json}");
}

#[test]
fn an_acked_pull_rsp_is_not_resent() {
    let (_dir, server) = start(&[("RTPRELAY_PULL_RSP_RESEND_INITIAL_MS", "150")]);
    let code = create_stream(&server, "cam1");
    auth(&Peer::new(), server.ready.push, "cam1", &code);
    let (client, id) = registered(&server);
    client.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, id, b"cam1"));
    client.expect(pt::PULL_RSP);
    client.send(server.ready.pull, &rtp(pt::SSRC_ACK, false, 0, 0, id, b"cam1"));
    assert!(client.drain(Duration::from_millis(700)).iter().all(|p| p.byte1 != pt::PULL_RSP));
}

#[test]
fn stream_counters_count_accepted_packets_only() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    for seq in 1..=4 {
        publisher.send(server.ready.push, &ts(seq, ssrc, &[0x47; 188]));
    }
    Peer::new().send(server.ready.push, &ts(5, ssrc, &[0x47; 188]));
    publisher.send(server.ready.push, &ts(6, ssrc, b"last"));
    // The relay handles one socket's datagrams in order: once the last one
    // reached the subscriber, the foreign one before it was handled too.
    let got: Vec<u16> = (0..5).map(|_| subscriber.expect(pt::TS_DATA).seq).collect();
    assert_eq!(got, [1, 2, 3, 4, 6]);
    let stream = http("GET", &server.url("/api/streams/cam1"), None, &[]).json();
    assert_eq!((stream["packetsIn"].as_u64(), stream["bytesIn"].as_u64()), (Some(5), Some(4 * 200 + 16)), "{stream}");
}

#[test]
fn a_public_http_bind_starts_with_a_token_from_the_environment() {
    let dir = temp_dir();
    let env = [("RTPRELAY_HTTP_ADDR", "0.0.0.0:0"), ("RTPRELAY_ADMIN_TOKEN", "t0k")];
    let server = Server::start(dir.path(), &[], &env);
    let local = format!("http://127.0.0.1:{}/api/streams", server.ready.http.port());
    assert_eq!(http("GET", &local, None, &[]).status, 401);
    assert_eq!(http("GET", &local, None, &[("Authorization", "Bearer t0k")]).status, 200);
}

fn nacks(publisher: &Peer, within: Duration) -> usize {
    publisher.drain(within).iter().filter(|p| p.byte1 == 205).count()
}

#[test]
fn a_jump_of_more_than_3000_is_a_restart_not_a_gap() {
    let (_dir, server) = start(&[]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    publisher.send(server.ready.push, &ts(10, ssrc, b"a"));
    publisher.send(server.ready.push, &ts(5000, ssrc, b"b"));
    assert_eq!(nacks(&publisher, SHORT), 0);
    assert_eq!(subscriber.drain(Duration::from_millis(100)).into_iter().filter(ts_data).count(), 2);
    publisher.send(server.ready.push, &ts(5002, ssrc, b"c"));
    // NACKed 10 ms after the gap appears and retried twice 100 ms apart (no
    // round trip measured yet): all three within the 400 ms drained.
    assert_eq!(nacks(&publisher, SHORT), 3, "a gap after the restart is NACKed");
}

#[test]
fn a_reauth_restarts_push_gap_tracking() {
    let (_dir, server) = start(&[]);
    let code = create_stream(&server, "cam1");
    let publisher = Peer::new();
    let ssrc = auth(&publisher, server.ready.push, "cam1", &code);
    publisher.send(server.ready.push, &ts(10, ssrc, b"a"));
    std::thread::sleep(Duration::from_millis(50));
    auth(&publisher, server.ready.push, "cam1", &code);
    publisher.send(server.ready.push, &ts(20, ssrc, b"b"));
    assert_eq!(nacks(&publisher, SHORT), 0);
    publisher.send(server.ready.push, &ts(22, ssrc, b"c"));
    // NACKed 10 ms after the gap appears and retried twice 100 ms apart (no
    // round trip measured yet): all three within the 400 ms drained.
    assert_eq!(nacks(&publisher, SHORT), 3, "the next gap is NACKed");
}

#[test]
fn a_publisher_that_answers_none_of_20_nacks_is_no_longer_nacked() {
    let (_dir, server) = start(&[("RTPRELAY_PUSH_NACK_MAX_TRIES", "1")]);
    let code = create_stream(&server, "cam1");
    let publisher = Peer::new();
    let ssrc = auth(&publisher, server.ready.push, "cam1", &code);
    let mut seen = 0;
    for gap in 0..26u16 {
        publisher.send(server.ready.push, &ts(gap * 2, ssrc, b"x"));
        seen += nacks(&publisher, Duration::from_millis(30));
    }
    seen += nacks(&publisher, Duration::from_millis(200));
    // 25 one-packet gaps (1, 3, ..., 49), at least 30 ms apart: each is
    // NACKed on its own 10 ms after it appears, once (max tries 1), until
    // 20 NACKs went unanswered; the last 5 are not NACKed.
    assert_eq!(seen, 20, "{seen} NACKs");
    publisher.send(server.ready.push, &ts(60, ssrc, b"x"));
    assert_eq!(nacks(&publisher, SHORT), 0, "NACKs after 20 unanswered ones");
}

#[test]
fn packets_older_than_the_history_age_are_not_resent() {
    let (_dir, server) = start(&[("RTPRELAY_HISTORY_MAX_AGE_MS", "200")]);
    let (publisher, subscriber, ssrc) = live_with_subscriber(&server, "cam1");
    let id = register(&subscriber, server.ready.pull);
    publisher.send(server.ready.push, &ts(1, ssrc, b"old"));
    subscriber.expect(pt::TS_DATA);
    std::thread::sleep(Duration::from_millis(400));
    let fresh = ts(2, ssrc, b"new");
    publisher.send(server.ready.push, &fresh);
    subscriber.expect(pt::TS_DATA);
    subscriber.send(server.ready.pull, &nack(id, ssrc, 1, 0b1));
    let again: Vec<Vec<u8>> = subscriber.drain(SHORT).into_iter().filter(ts_data).map(|p| p.raw).collect();
    assert_eq!(again, [fresh], "only the packet younger than 200 ms is resent");
}

#[test]
fn metrics_samples_carry_the_name_of_their_type_line() {
    // Prometheus text format 0.0.4: a counter or gauge family's samples
    // have exactly the name of its `# TYPE` line (a `_total` suffix makes
    // another, untyped family for a 0.0.4 parser).
    let (_dir, server) = start(&[]);
    let body = http("GET", &server.url("/metrics"), None, &[]).body;
    let samples: Vec<&str> = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .collect();
    let types = body.lines().filter(|l| l.starts_with("# TYPE ")).count();
    assert!(types > 0, "no # TYPE line: {body}");
    assert_eq!(samples.len(), types, "one sample per family");
    for line in body.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut words = line.split(' ').skip(2);
        let (name, kind) = (words.next().unwrap(), words.next().unwrap());
        if kind == "counter" || kind == "gauge" {
            assert!(samples.contains(&name), "{line}: no sample named {name}");
        }
    }
}

#[test]
fn client_unknown_may_be_sent_again_after_a_second() {
    let (_dir, server) = start(&[]);
    let stranger = Peer::new();
    stranger.send(server.ready.pull, &rtp(pt::HEARTBEAT, false, 0, 0, 4242, b""));
    stranger.expect(CLIENT_UNKNOWN);
    std::thread::sleep(Duration::from_millis(1100));
    stranger.send(server.ready.pull, &rtp(pt::HEARTBEAT, false, 0, 0, 4242, b""));
    assert_eq!(stranger.expect(CLIENT_UNKNOWN).ssrc, 4242);
}
