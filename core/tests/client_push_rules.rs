//! The push client's rules one by one, against a fake relay written from
//! the protocol (PROTOCOL §1.3, §1.5, §2.2, §2.5): re-auth, what each
//! answer does while open and while closing, the counters, the delay
//! probes and the relay clock estimate. Exact values throughout.

mod fake_relay;

use bytes::Bytes;
use fake_relay::push::{client, events};
use fake_relay::*;
use rtprelay_core::packet::rtcp::{Nack, ReceiverReport};
use rtprelay_core::{Instant, Port};
use rtprelay_core::{PushClient, PushEvent};
use std::time::Duration;

/// What the client sent, but the marked copies of its `AUTH_REQ` (§2.2,
/// checked in client_fake_relay.rs), so each rule reads the legacy
/// messages.
fn sent(c: &mut PushClient) -> Vec<Bytes> {
    fake_relay::push::sent(c).into_iter().filter(|d| d[1] != 0x80 | AUTH_REQ).collect()
}

const SSRC: u32 = 0xDEAD_BEEF;

const DELAY_REQ: u8 = 11;
const DELAY_RSP: u8 = 12;
const TS_DATA: u8 = 33;
const AUTH_REQ: u8 = 101;
const AUTH_OK: u8 = 102;
const AUTH_REFUSED: u8 = 103;
const STREAM_UNKNOWN: u8 = 104;
const STOP_PUSH_REQ: u8 = 122;
const STOP_PUSH_RSP: u8 = 123;

/// Runs timeouts from `from` up to `until`, returning `(time, datagram)`
/// sent; the client must emit no event meanwhile.
fn run(c: &mut PushClient, from: Instant, until: Instant) -> Vec<(Instant, Bytes)> {
    let mut out = Vec::new();
    let mut now = from;
    for _ in 0..10_000 {
        let Some(at) = c.poll_timeout().filter(|&at| at <= until) else { return out };
        now = now.max(at);
        c.handle_timeout(now);
        out.extend(sent(c).into_iter().map(|d| (now, d)));
        assert_eq!(events(c), []);
    }
    panic!("timeouts do not advance");
}

/// The times (ms) at which datagrams of type `pt` were sent.
fn times_of(sent: &[(Instant, Bytes)], pt: u8) -> Vec<u64> {
    sent.iter().filter(|(_, d)| read(d).pt == pt).map(|(at, _)| at.as_micros() / 1000).collect()
}

fn auth_ok(c: &mut PushClient, now: Instant, ssrc: u32, live_id: &[u8]) {
    c.receive(now, relay_packet(AUTH_OK, 0, relay_ts(now), ssrc, live_id));
}

fn accepted(live_id: &str) -> PushEvent {
    PushEvent::AuthRsp { live_id: live_id.into(), ok: true }
}

/// A client with `cam1` authenticated at 10 ms (SSRC [`SSRC`]); its first
/// delay probe is never answered.
fn live() -> PushClient {
    let mut c = client();
    c.auth(ms(0), "cam1", "code").unwrap();
    sent(&mut c);
    auth_ok(&mut c, ms(10), SSRC, b"cam1");
    assert_eq!(events(&mut c), [accepted("cam1")]);
    c
}

/// A `DELAY_RSP` for a probe: the same bytes with byte 1 set to 12 (PROTOCOL §1.3).
fn echo(probe: &[u8]) -> Bytes {
    let mut e = probe.to_vec();
    e[1] = DELAY_RSP;
    Bytes::from(e)
}

#[test]
fn a_push_error_reads_as_code_stream_and_reason() {
    let mut c = client();
    let e = c.push(ms(0), "cam1", &[0x47; 188]).unwrap_err();
    assert_eq!(e.to_string(), "10003 (cam1): stream never authenticated: call auth first");
    assert_eq!(events(&mut c).len(), 1);
}

#[test]
#[should_panic(expected = "call contract: now must not go backwards")]
fn time_must_not_go_backwards_between_calls() {
    let mut c = client();
    c.auth(ms(10), "cam1", "code").unwrap();
    sent(&mut c);
    c.handle_timeout(ms(5));
}

#[test]
fn auth_again_restarts_the_auth_with_the_new_code_and_keeps_the_sequence_numbers() {
    let mut c = live();
    c.push(ms(20), "cam1", &[0x47; 188]).unwrap();
    let first = of_type(&sent(&mut c), TS_DATA)[0].seq;
    c.auth(ms(30), "cam1", "code2").unwrap();
    let auth = of_type(&sent(&mut c), AUTH_REQ);
    assert_eq!(auth.len(), 1);
    assert_eq!(auth[0].payload, b"cam1#code2");
    c.push(ms(31), "cam1", &[0x47; 188]).unwrap();
    let data = of_type(&sent(&mut c), TS_DATA);
    assert_eq!((data[0].ssrc, data[0].seq), (SSRC, first.wrapping_add(1)), "pending: the last SSRC, the next number");
    auth_ok(&mut c, ms(40), SSRC, b"cam1");
    assert_eq!(events(&mut c), [accepted("cam1")], "the owner's new auth is answered");
    let after = run(&mut c, ms(40), ms(5_100));
    assert_eq!(times_of(&after, AUTH_REQ), [5_040], "one stream: no retries, one re-auth 5 s later");
    c.close(ms(5_100));
    let stop = of_type(&sent(&mut c), STOP_PUSH_REQ);
    assert_eq!(stop.len(), 1);
    assert_eq!((stop[0].marker, stop[0].seq, stop[0].payload.as_slice()), (true, first.wrapping_add(1), &b"cam1"[..]));
}

#[test]
fn an_auth_answer_after_stream_unknown_is_reported_even_with_the_same_ssrc() {
    let mut c = live();
    c.receive(ms(20), relay_packet(STREAM_UNKNOWN, 0, relay_ts(ms(20)), SSRC, b""));
    assert_eq!(of_type(&sent(&mut c), AUTH_REQ).len(), 1);
    auth_ok(&mut c, ms(30), SSRC, b"cam1");
    assert_eq!(events(&mut c), [accepted("cam1")]);
    assert_eq!(c.ssrc("cam1").map(Ssrc::get), Some(SSRC));
}

#[test]
fn a_new_ssrc_in_a_periodic_reauth_answer_is_reported() {
    let mut c = live();
    assert_eq!(times_of(&run(&mut c, ms(10), ms(5_010)), AUTH_REQ), [5_010]);
    auth_ok(&mut c, ms(5_020), 0x77, b"cam1");
    assert_eq!(events(&mut c), [accepted("cam1")], "the relay restarted: a new SSRC");
    assert_eq!(c.ssrc("cam1").map(Ssrc::get), Some(0x77));
    c.push(ms(5_030), "cam1", &[0x47; 188]).unwrap();
    assert_eq!(of_type(&sent(&mut c), TS_DATA)[0].ssrc, 0x77);
}

#[test]
fn every_auth_request_sent_is_counted() {
    let mut c = client();
    c.auth(ms(0), "cam1", "code").unwrap();
    sent(&mut c);
    assert_eq!(c.counters().auth_requests, 1);
    assert_eq!(times_of(&run(&mut c, ms(0), ms(1_600)), AUTH_REQ), [500, 1_500]);
    assert_eq!(c.counters().auth_requests, 3, "first try and two retries");
    auth_ok(&mut c, ms(1_600), SSRC, b"cam1");
    events(&mut c);
    assert_eq!(times_of(&run(&mut c, ms(1_600), ms(6_700)), AUTH_REQ), [6_600]);
    assert_eq!(c.counters().auth_requests, 4, "and the re-auth");
    c.receive(ms(6_700), relay_packet(STREAM_UNKNOWN, 0, relay_ts(ms(6_700)), SSRC, b""));
    assert_eq!(of_type(&sent(&mut c), AUTH_REQ).len(), 1);
    assert_eq!(c.counters().auth_requests, 5, "and the one STREAM_UNKNOWN asked for");
}

#[test]
fn data_counters_count_first_transmissions_and_nacks_count_hits_and_misses() {
    let mut c = live();
    c.push(ms(20), "cam1", &[0x47; 2_000]).unwrap();
    let seqs: Vec<u16> = of_type(&sent(&mut c), TS_DATA).iter().map(|s| s.seq).collect();
    assert_eq!(seqs.len(), 2);
    assert_eq!((c.counters().packets_sent, c.counters().bytes_sent), (2, 1_880), "1316 + 564; 120 bytes wait");
    // One NACKed number is in the history, two were never sent.
    let nack = Nack::from_sequences(0, SSRC, &[seqs[0], seqs[1].wrapping_add(1), seqs[1].wrapping_add(2)]);
    c.receive(ms(30), nack.encode());
    assert_eq!(of_type(&sent(&mut c), TS_DATA).iter().map(|s| s.seq).collect::<Vec<_>>(), [seqs[0]]);
    let k = c.counters();
    assert_eq!((k.retransmitted, k.nack_misses), (1, 2));
    assert_eq!((k.packets_sent, k.bytes_sent), (2, 1_880), "a retransmission is not a first transmission");
    // A copy of that NACK within `resend_guard_ms` (20 ms) resends nothing;
    // one at 20 ms is another try.
    c.receive(ms(49), nack.encode());
    assert!(of_type(&sent(&mut c), TS_DATA).is_empty(), "a copy of the same NACK");
    assert_eq!((c.counters().retransmitted, c.counters().nack_repeats), (1, 1));
    c.receive(ms(50), nack.encode());
    assert_eq!(of_type(&sent(&mut c), TS_DATA).iter().map(|s| s.seq).collect::<Vec<_>>(), [seqs[0]]);
    assert_eq!((c.counters().retransmitted, c.counters().nack_misses), (2, 6), "misses count per NACK");
}

#[test]
fn datagrams_the_client_has_no_use_for_are_counted_ignored() {
    let mut c = live();
    let expect_ignored = |c: &mut PushClient, n: u64, what: &str| {
        assert_eq!(c.counters().ignored, n, "{what}");
        assert_eq!(sent(c), Vec::<Bytes>::new(), "{what}: nothing sent");
        assert_eq!(events(c), [], "{what}: no event");
    };
    auth_ok(&mut c, ms(20), 0x77, b"cam2");
    expect_ignored(&mut c, 1, "AUTH_OK for a stream never authenticated");
    assert_eq!(c.ssrc("cam1").map(Ssrc::get), Some(SSRC), "cam1 keeps its SSRC");
    c.receive(ms(21), relay_packet(AUTH_REFUSED, 0, relay_ts(ms(21)), 0, b"cam2"));
    expect_ignored(&mut c, 2, "AUTH_REFUSED for a stream never authenticated");
    c.receive(ms(22), relay_packet(STREAM_UNKNOWN, 0, relay_ts(ms(22)), 0x1234, b""));
    expect_ignored(&mut c, 3, "STREAM_UNKNOWN for another SSRC");
    c.receive(ms(23), relay_packet(DELAY_RSP, 999, 1, 0, b"cam1"));
    expect_ignored(&mut c, 4, "DELAY_RSP for no probe");
    c.receive(ms(24), relay_packet(50, 0, relay_ts(ms(24)), SSRC, b""));
    expect_ignored(&mut c, 5, "an unknown payload type");
    c.receive(ms(25), ReceiverReport { sender_ssrc: 1, blocks: vec![] }.encode());
    expect_ignored(&mut c, 6, "RTCP that is not a NACK");
    c.receive(ms(26), Nack::from_sequences(0, 0x1234, &[1]).encode());
    expect_ignored(&mut c, 7, "a NACK for another SSRC");
    c.push(ms(27), "cam1", &[0x47; 188]).unwrap();
    assert_eq!(of_type(&sent(&mut c), TS_DATA)[0].ssrc, SSRC, "cam1 is still live");
    assert_eq!(c.counters().malformed, 0);
}

#[test]
fn an_unasked_stop_response_does_not_close_the_client() {
    let mut c = live();
    c.receive(ms(20), relay_packet(STOP_PUSH_RSP, 0, relay_ts(ms(20)), 0, b""));
    assert_eq!(events(&mut c), [], "no CloseSuccess");
    assert_eq!(c.counters().ignored, 1);
    c.push(ms(21), "cam1", &[0x47; 188]).unwrap();
    assert_eq!(of_type(&sent(&mut c), TS_DATA).len(), 1);
    assert_eq!(times_of(&run(&mut c, ms(21), ms(5_010)), AUTH_REQ), [5_010], "re-auths go on");
}

#[test]
fn datagrams_that_do_not_parse_are_counted_malformed() {
    let mut c = live();
    c.receive(ms(20), Bytes::from_static(&[0x80, TS_DATA, 0, 1]));
    assert_eq!(c.counters().malformed, 1, "shorter than an RTP header");
    c.push(ms(21), "cam1", &[0x47; 188]).unwrap();
    let data = sent(&mut c);
    // A NACK followed by a truncated RTCP packet: the NACK is still answered.
    let mut compound = Nack::from_sequences(0, SSRC, &[read(&data[0]).seq]).encode().to_vec();
    compound.extend_from_slice(&[0x80, 205, 0, 9]);
    c.receive(ms(22), Bytes::from(compound));
    assert_eq!(sent(&mut c), data);
    let k = c.counters();
    assert_eq!((k.malformed, k.retransmitted, k.ignored), (2, 1, 0));
}

#[test]
fn after_close_everything_from_the_relay_is_ignored() {
    let mut c = live();
    c.push(ms(20), "cam1", &[0x47; 188]).unwrap();
    let seq = of_type(&sent(&mut c), TS_DATA)[0].seq;
    c.close(ms(30));
    sent(&mut c);
    c.receive(ms(40), relay_packet(STOP_PUSH_RSP, 0, relay_ts(ms(40)), 0, b""));
    assert_eq!(events(&mut c), [PushEvent::CloseSuccess]);
    c.receive(ms(50), Nack::from_sequences(0, SSRC, &[seq]).encode());
    auth_ok(&mut c, ms(51), SSRC, b"cam1");
    c.receive(ms(52), Bytes::from_static(&[0x80]));
    assert_eq!(sent(&mut c), Vec::<Bytes>::new());
    assert_eq!(events(&mut c), []);
    let k = c.counters();
    assert_eq!((k.ignored, k.malformed, k.retransmitted), (3, 0, 0));
}

#[test]
fn while_closing_auth_answers_are_ignored_and_nacks_still_answered() {
    let mut c = live();
    c.push(ms(20), "cam1", &[0x47; 188]).unwrap();
    let data = sent(&mut c);
    c.close(ms(30));
    sent(&mut c);
    auth_ok(&mut c, ms(31), 0x77, b"cam1");
    c.receive(ms(32), relay_packet(AUTH_REFUSED, 0, relay_ts(ms(32)), 0, b"cam1"));
    c.receive(ms(33), relay_packet(STREAM_UNKNOWN, 0, relay_ts(ms(33)), SSRC, b""));
    assert_eq!(events(&mut c), []);
    assert_eq!(sent(&mut c), Vec::<Bytes>::new(), "no new auth while closing");
    assert_eq!(c.ssrc("cam1").map(Ssrc::get), Some(SSRC));
    assert_eq!(c.counters().ignored, 3);
    c.receive(ms(34), Nack::from_sequences(0, SSRC, &[read(&data[0]).seq]).encode());
    assert_eq!(sent(&mut c), data);
}

#[test]
fn close_sends_no_data_when_no_bytes_are_left() {
    let mut c = live();
    c.push(ms(20), "cam1", &[0x47; 188]).unwrap();
    let seq = of_type(&sent(&mut c), TS_DATA)[0].seq;
    c.close(ms(30));
    let out: Vec<Sent> = sent(&mut c).iter().map(|d| read(d)).collect();
    assert_eq!(out.len(), 1, "only the stop request: {out:?}");
    assert_eq!((out[0].pt, out[0].marker, out[0].seq), (STOP_PUSH_REQ, true, seq));
    assert_eq!(c.counters().packets_sent, 1);
}

#[test]
fn a_refused_stream_does_not_send_its_leftover_bytes_at_close() {
    let mut c = live();
    c.push(ms(20), "cam1", &[0x47; 100]).unwrap();
    assert_eq!(sent(&mut c), Vec::<Bytes>::new(), "less than one TS packet waits");
    c.auth(ms(30), "cam1", "wrong").unwrap();
    sent(&mut c);
    c.receive(ms(40), relay_packet(AUTH_REFUSED, 0, relay_ts(ms(40)), 0, b"cam1"));
    assert_eq!(events(&mut c), [PushEvent::AuthRsp { live_id: "cam1".into(), ok: false }]);
    c.close(ms(50));
    let out: Vec<Sent> = sent(&mut c).iter().map(|d| read(d)).collect();
    assert_eq!(out.len(), 1, "only the stop request: {out:?}");
    assert_eq!((out[0].pt, out[0].marker, out[0].seq), (STOP_PUSH_REQ, false, 0), "nothing was ever sent");
    assert_eq!(c.counters().packets_sent, 0);
}

#[test]
fn the_stop_request_carries_the_relay_clock() {
    let mut c = live();
    c.close(ms(30));
    let stop = of_type(&sent(&mut c), STOP_PUSH_REQ);
    assert_eq!(stop[0].ts, relay_ts(ms(30)), "the relay's clock as learnt from AUTH_OK, not the local one");
}

#[test]
fn later_auth_answers_move_the_relay_clock_estimate_by_an_eighth() {
    let mut c = live();
    c.push(ms(20), "cam1", &[0x47; 188]).unwrap();
    assert_eq!(of_type(&sent(&mut c), TS_DATA)[0].ts, relay_ts(ms(20)), "the first answer sets the offset");
    assert_eq!(times_of(&run(&mut c, ms(20), ms(5_010)), AUTH_REQ), [5_010]);
    // The re-auth answer reads the relay clock 800 ms later than the estimate.
    c.receive(ms(5_010), relay_packet(AUTH_OK, 0, relay_ts(ms(5_010)) + 800, SSRC, b"cam1"));
    assert_eq!(events(&mut c), []);
    c.push(ms(5_020), "cam1", &[0x47; 188]).unwrap();
    assert_eq!(of_type(&sent(&mut c), TS_DATA)[0].ts, relay_ts(ms(5_020)) + 100, "moved by 800 / 8 ms");
}

#[test]
fn probes_carry_the_stream_id_and_its_ssrc_once_known() {
    let mut c = client();
    c.auth(ms(0), "cam1", "code").unwrap();
    let first = of_type(&sent(&mut c), DELAY_REQ);
    assert_eq!((first[0].ssrc, first[0].payload.as_slice()), (0, &b"cam1"[..]), "no SSRC yet");
    auth_ok(&mut c, ms(10), SSRC, b"cam1");
    events(&mut c);
    let next: Vec<Sent> = run(&mut c, ms(10), ms(1_000)).iter().map(|(_, d)| read(d)).collect();
    assert_eq!(next.len(), 1);
    let probe = &next[0];
    assert_eq!((probe.pt, probe.seq, probe.ssrc, probe.payload.as_slice()), (DELAY_REQ, 1, SSRC, &b"cam1"[..]));
    assert_eq!(probe.ts, relay_ts(ms(1_000)), "stamped with the relay clock");
}

#[test]
fn eight_probes_await_their_answer_and_older_ones_are_forgotten() {
    let mut c = client();
    c.auth(ms(0), "cam1", "code").unwrap();
    let mut probes: Vec<Bytes> = sent(&mut c).into_iter().filter(|d| read(d).pt == DELAY_REQ).collect();
    let later = run(&mut c, ms(0), ms(8_000));
    assert_eq!(times_of(&later, DELAY_REQ), [1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000]);
    probes.extend(later.into_iter().filter(|(_, d)| read(d).pt == DELAY_REQ).map(|(_, d)| d));
    c.receive(ms(8_000), echo(&probes[0]));
    assert_eq!((c.delay(), c.counters().ignored), (None, 1), "the ninth probe made the first one forgotten");
    c.receive(ms(8_000), echo(&probes[1]));
    assert_eq!(c.delay(), Some(Duration::from_millis(7_000)), "sent at 1 s, answered at 8 s");
}

#[test]
fn a_delay_answer_must_echo_both_sequence_number_and_timestamp() {
    let mut c = client();
    c.auth(ms(0), "cam1", "code").unwrap();
    let probe = of_type(&sent(&mut c), DELAY_REQ).remove(0);
    let answer = |seq: u16, ts: u32| relay_packet(DELAY_RSP, seq, ts, probe.ssrc, &probe.payload);
    c.receive(ms(10), answer(probe.seq, probe.ts.wrapping_add(1)));
    c.receive(ms(20), answer(probe.seq.wrapping_add(1), probe.ts));
    assert_eq!((c.delay(), c.counters().ignored), (None, 2));
    c.receive(ms(40), answer(probe.seq, probe.ts));
    assert_eq!(c.delay(), Some(Duration::from_millis(40)));
}

/// The client reads only the relay's push socket: the same bytes from the
/// pull socket or another address are dropped unread and counted.
#[test]
fn datagrams_not_from_the_relays_push_socket_are_foreign() {
    let mut c = client();
    c.auth(ms(0), "cam1", "code").unwrap();
    sent(&mut c);
    let answer = relay_packet(AUTH_OK, 0, relay_ts(ms(10)), SSRC, b"cam1");
    c.handle_datagram(ms(10), Port::Pull, RELAY_PUSH, answer.clone());
    c.handle_datagram(ms(10), Port::Push, RELAY_PULL, answer.clone());
    assert_eq!((c.ssrc("cam1"), c.counters().foreign, c.counters().ignored), (None, 2, 0));
    c.receive(ms(10), answer);
    assert_eq!(c.ssrc("cam1").map(Ssrc::get), Some(SSRC));
}
