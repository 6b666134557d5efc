//! Rules of the subscriber (PROTOCOL §1.4, §1.5, §2.1, §2.3-2.5) that the
//! fake-relay tests leave open, one test per rule, against a relay whose
//! datagrams are written out by hand.

mod fake_relay;

use bytes::Bytes;
use fake_relay::*;
use rtprelay_core::packet::pt::*;
use rtprelay_core::packet::rtcp::{ReceiverReport, ReportBlock, RtcpPacket, parse_compound};
use rtprelay_core::{Instant, Port, WallClock};
use rtprelay_core::{PullClient, PullConfig, PullEvent, ReorderConfig};

/// The client id the fake relay issues.
const ID: u32 = 0x0102_0304;

fn millis(at: Instant) -> u64 {
    at.as_micros() / 1000
}

/// A client sending each ack once (the copies are checked in
/// client_fake_relay.rs) and no NACKs below its first packet (checked in
/// the reorder buffer's tests), so each rule reads its own datagrams.
fn client_with(config: PullConfig) -> PullClient {
    let reorder = ReorderConfig { head_nacks: 0, ..config.reorder.clone() };
    let config = PullConfig { ack_copies: 1, reorder, ..config };
    PullClient::new(config, RELAY_PULL, [5; 32], WallClock::new(Instant::ZERO, RELAY_EPOCH_MS), ms(0))
}

/// What the client sent, but its delay probes (`DELAY_REQ`, checked in
/// client_fake_relay.rs).
fn sent(c: &mut PullClient) -> Vec<Sent> {
    std::iter::from_fn(|| c.next_datagram()).map(|d| read(&d)).filter(|s| s.pt != 11).collect()
}

fn events(c: &mut PullClient) -> Vec<PullEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Runs timeouts from `from` (the time of the last call) up to `until`,
/// returning `(ms, datagram)` sent and the events.
fn run(c: &mut PullClient, from: Instant, until: Instant) -> (Vec<(u64, Sent)>, Vec<PullEvent>) {
    let (mut out, mut evs) = (Vec::new(), Vec::new());
    let mut now = from;
    for _ in 0..10_000 {
        let Some(at) = c.poll_timeout().filter(|&at| at <= until) else { return (out, evs) };
        now = now.max(at);
        c.handle_timeout(now);
        out.extend(sent(c).into_iter().map(|d| (millis(now), d)));
        evs.extend(events(c));
    }
    panic!("timeouts do not advance");
}

/// A client the relay issued `ID` at 5 ms, with nothing sent or reported
/// left to read.
fn registered_with(config: PullConfig) -> PullClient {
    let mut c = client_with(config);
    sent(&mut c);
    c.receive(ms(5), relay_packet(CLIENT_ID_RSP, 0, 0, ID, b""));
    assert_eq!(events(&mut c), [PullEvent::PullStreamReady]);
    c
}

fn registered() -> PullClient {
    registered_with(PullConfig::default())
}

fn of_type(out: &[(u64, Sent)], pt: u8) -> Vec<(u64, Sent)> {
    out.iter().filter(|(_, s)| s.pt == pt).cloned().collect()
}

/// PROTOCOL §1.4: the request is sent again until every id it lists is
/// answered; an answer about some of them is not enough.
#[test]
fn a_partly_answered_request_is_resent_until_every_id_is_answered() {
    let mut c = registered();
    c.pull(ms(10), &["a", "b"]).unwrap();
    assert_eq!(
        sent(&mut c).iter().map(|s| (s.pt, s.payload.clone())).collect::<Vec<_>>(),
        [(PULL_REQ, b"a#b".to_vec())]
    );
    c.receive(ms(20), relay_packet(PULL_RSP, 0, relay_ts(ms(20)), 0x77, b"a#5"));
    assert_eq!(events(&mut c), [PullEvent::PullStreamReqSuccess { live_ids: vec!["a".into()] }]);
    assert_eq!(sent(&mut c).iter().map(|s| (s.pt, s.ts)).collect::<Vec<_>>(), [(SSRC_ACK, 0x77)]);
    let (out, _) = run(&mut c, ms(20), ms(3_100));
    let resends: Vec<(u64, Vec<u8>)> = of_type(&out, PULL_REQ).into_iter().map(|(at, s)| (at, s.payload)).collect();
    assert_eq!(resends, [(1_010, b"a#b".to_vec()), (3_010, b"a#b".to_vec())], "b is still unanswered");
    assert_eq!(c.counters().pull_requests, 3);
    c.receive(ms(3_100), relay_packet(PULL_RSP, 0, relay_ts(ms(3_100)), 0x78, b"b#null"));
    assert_eq!(events(&mut c), [PullEvent::NoStream { live_ids: vec!["b".into()] }]);
    sent(&mut c);
    let (out, _) = run(&mut c, ms(3_100), ms(20_000));
    assert!(of_type(&out, PULL_REQ).is_empty(), "every id answered: no more resends");
}

/// The call contract (see `rtprelay_core::PullClient`): events are drained
/// after every call. Debug builds check it.
#[test]
#[should_panic(expected = "call contract: drain poll_event after every call")]
#[cfg(debug_assertions)]
fn undrained_events_break_the_call_contract() {
    let mut c = client_with(PullConfig::default());
    sent(&mut c);
    c.receive(ms(5), relay_packet(CLIENT_ID_RSP, 0, 0, ID, b"")); // PullStreamReady
    c.handle_timeout(ms(6));
}

/// The call contract: `now` never goes backwards. Debug builds check it.
#[test]
#[should_panic(expected = "call contract: now must not go backwards")]
#[cfg(debug_assertions)]
fn time_going_backwards_breaks_the_call_contract() {
    let mut c = registered();
    c.handle_timeout(ms(4));
}

/// A registered client pulling `cam1`, acknowledged with SSRC 7 at 20 ms.
fn pulling() -> PullClient {
    let mut c = registered();
    c.pull(ms(10), &["cam1"]).unwrap();
    sent(&mut c);
    c.receive(ms(20), relay_packet(PULL_RSP, 0, relay_ts(ms(20)), 99, b"cam1#7"));
    assert_eq!(events(&mut c), [PullEvent::PullStreamReqSuccess { live_ids: vec!["cam1".into()] }]);
    sent(&mut c);
    c
}

fn ts_data(seq: u16, ssrc: u32) -> Bytes {
    relay_packet(TS_DATA, seq, 0, ssrc, &seq.to_be_bytes())
}

/// PROTOCOL §1.1: bytes 4-7 carry the sender's clock, Unix ms truncated to
/// u32; the client's own requests carry the driver's wall clock (only
/// `SSRC_ACK` carries the echoed challenge instead, §2.3).
#[test]
fn the_clients_requests_carry_its_wall_clock() {
    let mut c = registered();
    c.pull(ms(10), &["cam1"]).unwrap();
    let req = sent(&mut c);
    assert_eq!(req.iter().map(|s| (s.pt, s.ts)).collect::<Vec<_>>(), [(PULL_REQ, relay_ts(ms(10)))]);
    let (out, _) = run(&mut c, ms(10), ms(1_010));
    assert_eq!(
        out.iter().map(|(at, s)| (*at, s.pt, s.ts)).collect::<Vec<_>>(),
        [(1_005, HEARTBEAT, relay_ts(ms(1_005))), (1_010, PULL_REQ, relay_ts(ms(1_010)))]
    );
    c.close(ms(1_020));
    assert_eq!(sent(&mut c).iter().map(|s| (s.pt, s.ts)).collect::<Vec<_>>(), [(STOP_PULL_REQ, relay_ts(ms(1_020)))]);
}

/// The call contract: input from the network never errors; what does not
/// parse is counted malformed, RTCP (second byte 192-223, PROTOCOL §1.1;
/// the relay sends subscribers none, §2) and unknown types are ignored.
#[test]
fn unparsable_datagrams_are_malformed_and_rtcp_and_unknown_types_ignored() {
    let mut c = pulling();
    c.receive(ms(30), Bytes::from_static(&[0x80, TS_DATA, 0, 1, 0]));
    // An empty RTCP Receiver Report: 8 bytes, too short for an RTP header.
    c.receive(ms(31), Bytes::from_static(&[0x80, 201, 0, 1, 0, 0, 0, 9]));
    c.receive(ms(32), relay_packet(50, 0, 0, 0, b"?"));
    assert!(events(&mut c).is_empty());
    assert!(sent(&mut c).is_empty());
    let counters = c.counters();
    assert_eq!((counters.malformed, counters.ignored), (1, 2));
}

/// PROTOCOL §1.4 step 8: the relay sends `STOP_PULL_RSP` only when asked;
/// one that arrives unasked does not end the subscription.
#[test]
fn an_unasked_stop_pull_rsp_does_not_close_the_client() {
    let mut c = pulling();
    c.receive(ms(30), relay_packet(STOP_PULL_RSP, 0, 0, 0, b""));
    assert!(events(&mut c).is_empty());
    assert_eq!(c.counters().ignored, 1);
    c.receive(ms(40), ts_data(1, 7));
    let (out, evs) = run(&mut c, ms(40), ms(1_005));
    assert_eq!(
        evs,
        [PullEvent::PullStreamData { live_id: "cam1".into(), seq: Seq::new(1), data: Bytes::from_static(&[0, 1]) }]
    );
    assert_eq!(of_type(&out, HEARTBEAT).iter().map(|(at, _)| *at).collect::<Vec<_>>(), [1_005]);
}

/// PROTOCOL §1.5: `close()` ends the subscription; while the stop is on
/// its way, only its answer counts: data, answers, losses, stops and
/// restarts from the relay are ignored, nothing is sent or reported.
#[test]
fn while_closing_only_the_stop_answer_counts() {
    let mut c = pulling();
    c.receive(ms(30), ts_data(10, 7));
    c.close(ms(40));
    assert_eq!(events(&mut c).len(), 1, "10 is handed over");
    sent(&mut c);
    for d in [
        ts_data(11, 7),
        relay_packet(PULL_RSP, 0, 0, 0x55, b"cam1#7"),
        relay_packet(PULL_REQ_LOST, 0, 0, 0, PULL_REQ_LOST_PAYLOAD),
        relay_packet(STREAM_STOPPED, 10, 0, 0, b"cam1"),
        relay_packet(CLIENT_UNKNOWN, 0, 0, ID, b""),
        relay_packet(CLIENT_ID_RSP, 0, 0, 0x0A0B_0C0D, b""),
    ] {
        c.receive(ms(50), d);
        assert!(events(&mut c).is_empty());
        assert!(sent(&mut c).is_empty());
    }
    assert_eq!(c.counters().ignored, 6);
    assert_eq!(c.client_id().map(ClientId::get), Some(ID));
    c.receive(ms(60), relay_packet(STOP_PULL_RSP, 0, 0, 0, b""));
    assert_eq!(events(&mut c), [PullEvent::CloseSuccess]);
}

/// A client closed before the relay answered its `CLIENT_ID_REQ` does not
/// take the late answer: it has nothing left to register for.
#[test]
fn a_client_id_arriving_while_closing_is_not_taken() {
    let mut c = client_with(PullConfig::default());
    sent(&mut c);
    c.close(ms(10));
    assert_eq!(sent(&mut c).iter().map(|s| (s.pt, s.ssrc)).collect::<Vec<_>>(), [(STOP_PULL_REQ, 0)]);
    c.receive(ms(20), relay_packet(CLIENT_ID_RSP, 0, 0, ID, b""));
    assert!(events(&mut c).is_empty());
    assert_eq!((c.client_id().map(ClientId::get), c.counters().ignored), (None, 1));
}

/// Once closed, the client takes nothing: a repeated `STOP_PULL_RSP` does
/// not report a second `CloseSuccess`.
#[test]
fn a_closed_client_ignores_everything() {
    let mut c = pulling();
    c.close(ms(30));
    sent(&mut c);
    c.receive(ms(40), relay_packet(STOP_PULL_RSP, 0, 0, 0, b""));
    assert_eq!(events(&mut c), [PullEvent::CloseSuccess]);
    c.receive(ms(41), relay_packet(STOP_PULL_RSP, 0, 0, 0, b""));
    c.receive(ms(42), ts_data(1, 7));
    assert!(events(&mut c).is_empty());
    assert_eq!((c.counters().ignored, c.poll_timeout()), (2, None));
}

/// PROTOCOL §1.1 and §1.4 step 1: the relay never issues a sentinel id, and
/// the client keeps the first id it got; other answers are ignored.
#[test]
fn a_sentinel_or_second_client_id_is_ignored() {
    let mut c = client_with(PullConfig::default());
    sent(&mut c);
    for sentinel in SENTINEL_IDS {
        c.receive(ms(5), relay_packet(CLIENT_ID_RSP, 0, 0, sentinel, b""));
    }
    assert!(events(&mut c).is_empty());
    assert_eq!((c.client_id().map(ClientId::get), c.counters().ignored), (None, 3));
    c.receive(ms(6), relay_packet(CLIENT_ID_RSP, 0, 0, ID, b""));
    assert_eq!(events(&mut c), [PullEvent::PullStreamReady]);
    c.receive(ms(7), relay_packet(CLIENT_ID_RSP, 0, 0, 0x0A0B_0C0D, b""));
    assert!(events(&mut c).is_empty());
    assert_eq!((c.client_id().map(ClientId::get), c.counters().ignored), (Some(ID), 4));
}

/// PROTOCOL §1.4 step 2: the list asked for before the client id arrived
/// is sent once it does, even an empty one (one empty chunk with the
/// marker), so the relay's list is the client's.
#[test]
fn a_list_asked_for_before_registration_is_sent_once_registered_even_empty() {
    let mut c = client_with(PullConfig::default());
    sent(&mut c);
    c.pull(ms(1), &[] as &[&str]).unwrap();
    assert!(sent(&mut c).is_empty(), "no client id yet");
    c.receive(ms(5), relay_packet(CLIENT_ID_RSP, 0, 0, ID, b""));
    assert_eq!(events(&mut c), [PullEvent::PullStreamReady]);
    assert_eq!(
        sent(&mut c),
        [Sent { marker: true, pt: PULL_REQ, seq: 0, ts: relay_ts(ms(5)), ssrc: ID, payload: vec![] }]
    );
    assert_eq!(c.counters().pull_requests, 1);
}

/// PROTOCOL §2.5: `CLIENT_UNKNOWN` carries the id the relay does not know;
/// one about another id is not about this client.
#[test]
fn client_unknown_for_another_id_is_ignored() {
    let mut c = pulling();
    c.receive(ms(30), relay_packet(CLIENT_UNKNOWN, 0, 0, ID + 1, b""));
    assert!(sent(&mut c).is_empty());
    assert_eq!(
        (c.client_id().map(ClientId::get), c.counters().ignored, c.counters().reregistrations),
        (Some(ID), 1, 0)
    );
    c.receive(ms(31), relay_packet(CLIENT_UNKNOWN, 0, 0, ID, b""));
    assert_eq!(sent(&mut c).iter().map(|s| (s.pt, s.ssrc)).collect::<Vec<_>>(), [(CLIENT_ID_REQ, 0)]);
    assert_eq!((c.client_id().map(ClientId::get), c.counters().ignored, c.counters().reregistrations), (None, 1, 1));
}

/// PROTOCOL §1.4 steps 4-5: a `PULL_RSP` answers a request the client made
/// with its id; before the client has one there is nothing to answer, and
/// no ack could name the client.
#[test]
fn a_pull_response_before_registration_is_ignored() {
    let mut c = client_with(PullConfig::default());
    sent(&mut c);
    c.pull(ms(1), &["cam1"]).unwrap();
    c.receive(ms(2), relay_packet(PULL_RSP, 0, relay_ts(ms(2)), 0x55, b"cam1#7"));
    assert!(events(&mut c).is_empty());
    assert!(sent(&mut c).is_empty());
    assert_eq!(c.counters().ignored, 1);
    c.receive(ms(5), relay_packet(CLIENT_ID_RSP, 0, 0, ID, b""));
    assert_eq!(events(&mut c), [PullEvent::PullStreamReady]);
    assert_eq!(
        sent(&mut c).iter().map(|s| (s.pt, s.payload.clone())).collect::<Vec<_>>(),
        [(PULL_REQ, b"cam1".to_vec())]
    );
}

/// The Receiver Reports the client sent, decoded.
fn receiver_reports(out: &[(u64, Sent)]) -> Vec<(u64, ReceiverReport)> {
    of_type(out, 201)
        .into_iter()
        .map(|(at, s)| {
            let (packets, err) = parse_compound(&s.payload);
            assert_eq!(err, None);
            match &packets[..] {
                [RtcpPacket::ReceiverReport(rr)] => (at, rr.clone()),
                other => panic!("not a lone Receiver Report: {other:?}"),
            }
        })
        .collect()
}

/// PROTOCOL §2.3: with each heartbeat the client sends an RTCP Receiver
/// Report, sender SSRC = client id, one block per live stream that got
/// data: the loss since the previous report, cumulative loss, the highest
/// sequence number and the interarrival jitter (RFC 3550 §6.4.1).
#[test]
fn a_receiver_report_goes_with_each_heartbeat_for_the_streams_that_got_data() {
    let mut c = registered();
    c.pull(ms(10), &["cam1", "cam2", "cam3"]).unwrap();
    sent(&mut c);
    c.receive(ms(20), relay_packet(PULL_RSP, 0, relay_ts(ms(20)), 1, b"cam1#7;cam2#8;cam3#null"));
    events(&mut c);
    sent(&mut c);
    // cam1: 10 and 11 at 30 ms, 13 at 62 ms (transit 32 ms longer: jitter
    // 32 / 16 = 2), 12 never (lost at 262 ms). cam2: nothing.
    c.receive(ms(30), ts_data(10, 7));
    c.receive(ms(30), ts_data(11, 7));
    c.receive(ms(62), ts_data(13, 7));
    let (out, _) = run(&mut c, ms(62), ms(2_005));
    assert_eq!(of_type(&out, HEARTBEAT).iter().map(|(at, _)| *at).collect::<Vec<_>>(), [1_005, 2_005]);
    let block = |fraction_lost| ReportBlock {
        ssrc: 7,
        fraction_lost,
        cumulative_lost: 1,
        highest_sequence: 13,
        jitter: 2,
        last_sr: 0,
        delay_since_last_sr: 0,
    };
    assert_eq!(
        receiver_reports(&out),
        [
            (1_005, ReceiverReport { sender_ssrc: ID, blocks: vec![block(64)] }),
            (2_005, ReceiverReport { sender_ssrc: ID, blocks: vec![block(0)] }),
        ],
        "1 of 4 lost in the first second, none in the next"
    );
    assert_eq!(c.counters().receiver_reports, 2);
}

/// PullConfig::receiver_reports off: heartbeats go alone.
#[test]
fn receiver_reports_can_be_turned_off() {
    let mut c = registered_with(PullConfig { receiver_reports: false, ..PullConfig::default() });
    c.pull(ms(10), &["cam1"]).unwrap();
    c.receive(ms(20), relay_packet(PULL_RSP, 0, relay_ts(ms(20)), 1, b"cam1#7"));
    events(&mut c);
    c.receive(ms(30), ts_data(10, 7));
    sent(&mut c);
    let (out, _) = run(&mut c, ms(30), ms(2_005));
    assert_eq!(out.iter().map(|(at, s)| (*at, s.pt)).collect::<Vec<_>>(), [(1_005, HEARTBEAT), (2_005, HEARTBEAT)]);
    assert_eq!(c.counters().receiver_reports, 0);
}

/// PROTOCOL §1.4 step 5: the ids of an `SSRC_ACK` are joined with `;` in
/// datagrams of at most 738 bytes (the chunk size of §1.4 step 2), split
/// only between ids: a list of exactly 738 bytes is one datagram, one
/// byte more is two.
#[test]
fn an_ack_fills_a_datagram_up_to_738_bytes_and_splits_between_ids_beyond() {
    for (second, expected) in [(369, vec![738]), (370, vec![368, 370])] {
        let ids = ["a".repeat(368), "b".repeat(second)];
        let mut c = registered();
        c.pull(ms(10), &ids).unwrap();
        sent(&mut c);
        let rsp = format!("{}#7;{}#8", ids[0], ids[1]);
        c.receive(ms(20), relay_packet(PULL_RSP, 0, relay_ts(ms(20)), 42, rsp.as_bytes()));
        events(&mut c);
        let acks = sent(&mut c);
        assert_eq!(acks.iter().map(|a| a.payload.len()).collect::<Vec<_>>(), expected, "second id of {second}");
        let payloads: Vec<String> = acks.iter().map(|a| String::from_utf8(a.payload.clone()).unwrap()).collect();
        assert_eq!(payloads.join(";"), ids.join(";"));
        assert!(acks.iter().all(|a| (a.pt, a.ts, a.ssrc) == (SSRC_ACK, 42, ID)));
    }
}

/// PROTOCOL §1.4 step 9: `STREAM_STOPPED` about a stream the client does
/// not list, or not as UTF-8, is ignored and counted.
#[test]
fn a_stream_stopped_for_a_stream_not_listed_is_ignored() {
    let mut c = pulling();
    c.receive(ms(30), relay_packet(STREAM_STOPPED, 0, 0, 0, b"cam2"));
    c.receive(ms(31), relay_packet(STREAM_STOPPED, 0, 0, 0, b"\xff"));
    assert!(events(&mut c).is_empty());
    assert_eq!(c.counters().ignored, 2);
    assert_eq!(c.live_ids().collect::<Vec<_>>(), ["cam1"]);
}

/// PROTOCOL §1.4 step 9: a stopped stream leaves the list; the streams
/// after it keep receiving their data under their own names.
#[test]
fn when_one_stream_stops_the_others_keep_their_data() {
    let mut c = registered();
    c.pull(ms(10), &["cam1", "cam2", "cam3"]).unwrap();
    sent(&mut c);
    c.receive(ms(20), relay_packet(PULL_RSP, 0, relay_ts(ms(20)), 1, b"cam1#7;cam2#8;cam3#9"));
    events(&mut c);
    c.receive(ms(30), relay_packet(STREAM_STOPPED, 0, 0, 0, b"cam1"));
    assert_eq!(events(&mut c), [PullEvent::StreamStop { live_id: "cam1".into() }], "no data to wait for");
    assert_eq!(c.live_ids().collect::<Vec<_>>(), ["cam2", "cam3"]);
    c.receive(ms(40), ts_data(5, 9));
    c.receive(ms(40), ts_data(6, 8));
    c.receive(ms(41), ts_data(7, 7));
    let (_, evs) = run(&mut c, ms(41), ms(500));
    let data: Vec<(String, u16)> = evs
        .into_iter()
        .filter_map(|e| match e {
            PullEvent::PullStreamData { live_id, seq, .. } => Some((live_id, seq.get())),
            _ => None,
        })
        .collect();
    assert_eq!(data, [("cam2".to_owned(), 6), ("cam3".to_owned(), 5)], "each after its window, in list order");
    assert_eq!(c.counters().unknown_ssrc, 1, "cam1's SSRC is no longer taken");
}

/// PROTOCOL §2.5: after `CLIENT_UNKNOWN` the client registers again on
/// the `CLIENT_ID_REQ` schedule (500 ms, then doubling), whatever other
/// timers fire meanwhile; without an id it sends no NACK or heartbeat.
#[test]
fn registering_again_keeps_its_own_retry_schedule() {
    let mut c = pulling();
    c.receive(ms(30), ts_data(10, 7));
    c.receive(ms(31), relay_packet(CLIENT_UNKNOWN, 0, 0, ID, b""));
    assert_eq!(sent(&mut c).iter().map(|s| (s.pt, s.ssrc)).collect::<Vec<_>>(), [(CLIENT_ID_REQ, 0)]);
    // 11 is missing: its NACK timers and 12's window run meanwhile.
    c.receive(ms(35), ts_data(12, 7));
    let (out, evs) = run(&mut c, ms(35), ms(1_600));
    assert_eq!(
        out.iter().map(|(at, s)| (*at, s.pt)).collect::<Vec<_>>(),
        [(531, CLIENT_ID_REQ), (1_531, CLIENT_ID_REQ)]
    );
    assert_eq!(
        evs.iter().filter(|e| matches!(e, PullEvent::PullStreamData { .. })).count(),
        2,
        "10 and 12 are still handed over"
    );
}

/// The client reads only the relay's pull socket: the same bytes from the
/// push socket or another address are dropped unread and counted.
#[test]
fn datagrams_not_from_the_relays_pull_socket_are_foreign() {
    let mut c = client_with(PullConfig::default());
    sent(&mut c);
    let answer = relay_packet(CLIENT_ID_RSP, 0, 0, ID, b"");
    c.handle_datagram(ms(5), Port::Push, RELAY_PULL, answer.clone());
    c.handle_datagram(ms(5), Port::Pull, RELAY_PUSH, answer.clone());
    assert_eq!((c.client_id(), c.counters().foreign, c.counters().ignored), (None, 2, 0));
    c.receive(ms(5), answer);
    assert_eq!(c.client_id().map(ClientId::get), Some(ID));
}
