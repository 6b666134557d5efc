//! Both clients against a fake relay written from docs/protocol.md: the relay's
//! datagrams are built by hand here, and every datagram a client sends is
//! checked byte by byte.

mod fake_relay;

use bytes::Bytes;
use fake_relay::*;
use proptest::prelude::*;
use rtprelay_core::packet::rtcp::{Nack, RtcpPacket, parse_compound};
use rtprelay_core::{Instant, WallClock};
use rtprelay_core::{PullClient, PullConfig, PullEvent, ReorderConfig};
use rtprelay_core::{PushClient, PushConfig, PushErrorCode, PushEvent};
use std::time::Duration;

mod push {
    use super::fake_relay::push::{client, events, sent};
    use super::*;

    const SSRC: u32 = 0xDEAD_BEEF;

    /// Runs timeouts from `from` (the time of the last call) up to
    /// `until`, returning `(time, datagram)` sent.
    fn run(c: &mut PushClient, from: Instant, until: Instant) -> Vec<(Instant, Bytes)> {
        let mut out = Vec::new();
        let mut now = from;
        for _ in 0..10_000 {
            let Some(at) = c.poll_timeout().filter(|&at| at <= until) else { return out };
            now = now.max(at);
            c.handle_timeout(now);
            out.extend(sent(c).into_iter().map(|d| (now, d)));
            assert!(events(c).is_empty() || c.poll_timeout().is_none());
        }
        panic!("timeouts do not advance");
    }

    /// A client with `cam1` authenticated at 10 ms (SSRC [`SSRC`]).
    fn live() -> PushClient {
        let mut c = client();
        c.auth(ms(0), "cam1", "code").unwrap();
        sent(&mut c);
        c.receive(ms(10), relay_packet(102, 0, relay_ts(ms(10)), SSRC, b"cam1"));
        assert_eq!(events(&mut c), [PushEvent::AuthRsp { live_id: "cam1".into(), ok: true }]);
        c
    }

    #[test]
    fn auth_request_layout_and_exponential_backoff_until_answered() {
        let mut c = client();
        c.auth(ms(0), "cam1", "code").unwrap();
        let first = sent(&mut c);
        let auth = of_type(&first, 101);
        assert_eq!(auth.len(), 2, "the legacy AUTH_REQ, then its marked copy");
        // Its own clock (5 s behind) until the relay's answers teach it better.
        let ts = relay_ts(ms(0)).wrapping_sub(5_000);
        assert_eq!((auth[0].marker, auth[0].seq, auth[0].ssrc, auth[0].ts), (false, 0, 0, ts));
        // The copy has the stream's first sequence number (§2.2): checked
        // against the first data below.
        let first_seq = auth[1].seq;
        assert_eq!((auth[1].marker, auth[1].ssrc, auth[1].ts), (true, 0, ts));
        assert_eq!((&auth[0].payload[..], &auth[1].payload[..]), (&b"cam1#code"[..], &b"cam1#code"[..]));
        let retries: Vec<u64> = run(&mut c, ms(0), ms(15_600))
            .into_iter()
            .filter(|(_, d)| read(d).pt == 101 && !read(d).marker)
            .map(|(at, _)| at.as_micros() / 1000)
            .collect();
        assert_eq!(retries, [500, 1500, 3500, 7500, 15500], "waits 0.5, 1, 2, 4, 8 s (capped)");
        c.receive(ms(16_000), relay_packet(102, 0, relay_ts(ms(16_000)), SSRC, b"cam1"));
        assert_eq!(events(&mut c), [PushEvent::AuthRsp { live_id: "cam1".into(), ok: true }]);
        c.push(ms(16_000), "cam1", &[0x47; 188]).unwrap();
        let data: Vec<u16> = sent(&mut c).iter().map(|d| read(d)).filter(|s| s.pt == 33).map(|s| s.seq).collect();
        assert_eq!(data, [first_seq], "the auth announced where the data starts");
        let after = run(&mut c, ms(16_000), ms(23_600));
        let reauths: Vec<u64> = after
            .iter()
            .filter(|(_, d)| read(d).pt == 101 && !read(d).marker)
            .map(|(at, _)| at.as_micros() / 1000)
            .collect();
        assert_eq!(reauths, [21_000], "answered: no more retries, a re-auth 5 s later");
    }

    #[test]
    fn push_errors_carry_the_legacy_codes_and_are_reported_once() {
        let mut c = client();
        let e = c.push(ms(0), "cam1", &[0x47; 188]).unwrap_err();
        assert_eq!((e.code, e.code.number(), e.live_id.as_str()), (PushErrorCode::NeverAuthenticated, 10003, "cam1"));
        assert_eq!(events(&mut c), [PushEvent::PushStreamError(e)]);
        c.auth(ms(1), "cam1", "code").unwrap();
        sent(&mut c);
        let e = c.push(ms(2), "cam1", &[0x47; 188]).unwrap_err();
        assert_eq!(e.code.number(), 10001);
        assert_eq!(events(&mut c).len(), 1);
        assert_eq!(c.push(ms(3), "cam1", &[0x47; 188]).unwrap_err().code.number(), 10001);
        assert!(events(&mut c).is_empty(), "the same error is reported once");
        c.receive(ms(4), relay_packet(103, 0, relay_ts(ms(4)), 0, b"cam1"));
        assert_eq!(events(&mut c), [PushEvent::AuthRsp { live_id: "cam1".into(), ok: false }]);
        assert_eq!(c.push(ms(5), "cam1", &[0x47; 188]).unwrap_err().code.number(), 10002);
        assert_eq!(events(&mut c).len(), 1);
        assert!(of_type(&sent(&mut c), 33).is_empty(), "no data without an accepted auth");
        let probes_only = run(&mut c, ms(5), ms(10_000));
        assert!(probes_only.iter().all(|(_, d)| read(d).pt == 11), "a refused stream is not retried");
    }

    #[test]
    fn data_is_split_into_whole_ts_packets_with_one_sequence_number_each() {
        let mut c = live();
        let input: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
        // 2000 bytes: 1316 + 564 (3 × 188) now, 120 wait for more data.
        c.push(ms(20), "cam1", &input[..2000]).unwrap();
        let first = of_type(&sent(&mut c), 33);
        assert_eq!(first.iter().map(|s| s.payload.len()).collect::<Vec<_>>(), [1316, 564]);
        // 1068 more: 120 + 1068 = 1188 = 6 × 188 + 60.
        c.push(ms(21), "cam1", &input[2000..3068]).unwrap();
        let second = of_type(&sent(&mut c), 33);
        assert_eq!(second.iter().map(|s| s.payload.len()).collect::<Vec<_>>(), [1128]);
        let all: Vec<Sent> = first.into_iter().chain(second).collect();
        let seqs: Vec<u16> = all.iter().map(|s| s.seq).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)), "+1 per packet: {seqs:?}");
        for s in &all {
            assert_eq!((s.marker, s.ssrc), (false, SSRC));
            // The relay clock, not the local one (5 s behind): within a few ms.
            let skew = i64::from(s.ts.wrapping_sub(relay_ts(ms(21))) as i32);
            assert!(skew.abs() <= 5, "timestamp {skew} ms off the relay clock");
        }
        let payload: Vec<u8> = all.iter().flat_map(|s| s.payload.clone()).collect();
        assert_eq!(payload, input[..3008]);
        // Close flushes the 60 waiting bytes, then stops with M=1 and the last sequence number.
        c.close(ms(30));
        let out = sent(&mut c);
        let tail = of_type(&out, 33);
        assert_eq!(tail.len(), 1);
        assert_eq!((tail[0].seq, tail[0].payload.as_slice()), (seqs[2].wrapping_add(1), &input[3008..3068]));
        let stop = of_type(&out, 122);
        assert_eq!(stop.len(), 1);
        assert_eq!((stop[0].marker, stop[0].seq, stop[0].ssrc), (true, tail[0].seq, 0));
        assert_eq!(stop[0].payload, b"cam1");
    }

    #[test]
    fn the_payload_size_is_configurable() {
        let config = PushConfig { ts_packets_per_datagram: 2, ..PushConfig::default() };
        let mut c = PushClient::new(config, RELAY_PUSH, [3; 32], WallClock::new(Instant::ZERO, RELAY_EPOCH_MS));
        c.auth(ms(0), "cam1", "code").unwrap();
        c.receive(ms(1), relay_packet(102, 0, relay_ts(ms(1)), SSRC, b"cam1"));
        events(&mut c);
        sent(&mut c);
        c.push(ms(2), "cam1", &[0x47; 188 * 5]).unwrap();
        let sizes: Vec<usize> = of_type(&sent(&mut c), 33).iter().map(|s| s.payload.len()).collect();
        assert_eq!(sizes, [376, 376, 188]);
    }

    #[test]
    fn periodic_reauth_is_silent_while_nothing_changes() {
        let mut c = live();
        let auths: Vec<u64> = run(&mut c, ms(10), ms(10_020))
            .into_iter()
            .filter(|(_, d)| read(d).pt == 101 && !read(d).marker)
            .map(|(at, _)| at.as_micros() / 1000)
            .collect();
        assert_eq!(auths, [5_010, 10_010]);
        c.receive(ms(10_020), relay_packet(102, 0, relay_ts(ms(10_020)), SSRC, b"cam1"));
        assert!(events(&mut c).is_empty());
    }

    #[test]
    fn stream_unknown_starts_a_new_auth_and_data_follows_the_new_ssrc() {
        let mut c = live();
        c.push(ms(20), "cam1", &[0x47; 188]).unwrap();
        let before = of_type(&sent(&mut c), 33)[0].seq;
        c.receive(ms(30), relay_packet(104, 0, relay_ts(ms(30)), 0x1234, b""));
        assert!(sent(&mut c).is_empty(), "another stream's SSRC: ignored");
        c.receive(ms(30), relay_packet(104, 0, relay_ts(ms(30)), SSRC, b""));
        let reauth = of_type(&sent(&mut c), 101);
        assert_eq!(reauth.len(), 2, "STREAM_UNKNOWN answered with a new auth (and its copy) at once");
        assert_eq!(reauth[0].payload, b"cam1#code");
        c.push(ms(31), "cam1", &[0x47; 188]).unwrap();
        assert_eq!(of_type(&sent(&mut c), 33)[0].ssrc, SSRC, "meanwhile data keeps the old SSRC");
        let retried = run(&mut c, ms(31), ms(531));
        assert_eq!(retried.iter().filter(|(_, d)| read(d).pt == 101 && !read(d).marker).count(), 1, "retried");
        c.receive(ms(600), relay_packet(102, 0, relay_ts(ms(600)), 77, b"cam1"));
        assert_eq!(events(&mut c), [PushEvent::AuthRsp { live_id: "cam1".into(), ok: true }]);
        c.push(ms(601), "cam1", &[0x47; 188]).unwrap();
        let after = of_type(&sent(&mut c), 33);
        assert_eq!((after[0].ssrc, after[0].seq), (77, before.wrapping_add(2)));
        assert_eq!(c.ssrc("cam1").map(Ssrc::get), Some(77));
    }

    #[test]
    fn nacks_from_the_relay_are_answered_from_the_history() {
        let mut c = live();
        c.push(ms(20), "cam1", &(0..1316 * 5).map(|i| i as u8).collect::<Vec<_>>()).unwrap();
        let data = sent(&mut c);
        let seqs: Vec<u16> = data.iter().map(|d| read(d).seq).collect();
        let nack = Nack::from_sequences(0, SSRC, &[seqs[1], seqs[3], seqs[4].wrapping_add(1)]);
        c.receive(ms(30), nack.encode());
        assert_eq!(sent(&mut c), [data[1].clone(), data[3].clone()], "the same bytes again");
        assert_eq!((c.counters().retransmitted, c.counters().nack_misses), (2, 1));
        c.receive(ms(31), Nack::from_sequences(0, 0x1234, &[seqs[0]]).encode());
        assert!(sent(&mut c).is_empty(), "not our stream");
    }

    #[test]
    fn the_history_is_bounded() {
        let config = PushConfig { history_packets: 2, ..PushConfig::default() };
        let mut c = PushClient::new(config, RELAY_PUSH, [3; 32], WallClock::new(Instant::ZERO, RELAY_EPOCH_MS));
        c.auth(ms(0), "cam1", "code").unwrap();
        c.receive(ms(1), relay_packet(102, 0, relay_ts(ms(1)), SSRC, b"cam1"));
        events(&mut c);
        sent(&mut c);
        c.push(ms(2), "cam1", &[0x47; 1316 * 3]).unwrap();
        let seqs: Vec<u16> = sent(&mut c).iter().map(|d| read(d).seq).collect();
        c.receive(ms(3), Nack::from_sequences(0, SSRC, &seqs).encode());
        assert_eq!(sent(&mut c).iter().map(|d| read(d).seq).collect::<Vec<_>>(), seqs[1..]);
    }

    #[test]
    fn delay_probes_every_second_give_a_smoothed_rtt() {
        let mut c = client();
        c.auth(ms(0), "cam1", "code").unwrap();
        let probes: Vec<Bytes> = sent(&mut c).into_iter().filter(|d| read(d).pt == 11).collect();
        assert_eq!(probes.len(), 1, "the first probe goes with the first auth");
        assert_eq!(read(&probes[0]).payload, b"cam1");
        assert_eq!(c.delay(), None);
        let echo = |d: &Bytes| {
            let mut e = d.to_vec();
            e[1] = 12;
            Bytes::from(e)
        };
        c.receive(ms(40), echo(&probes[0]));
        assert_eq!(c.delay(), Some(Duration::from_millis(40)));
        let next: Vec<(Instant, Bytes)> =
            run(&mut c, ms(40), ms(2_100)).into_iter().filter(|(_, d)| read(d).pt == 11).collect();
        assert_eq!(next.iter().map(|(at, _)| at.as_micros() / 1000).collect::<Vec<_>>(), [1_000, 2_000]);
        assert_ne!(read(&next[0].1).seq, read(&next[1].1).seq, "probes are told apart by sequence number");
        c.receive(ms(2_120), echo(&next[1].1));
        assert_eq!(c.delay(), Some(Duration::from_millis(50)), "7/8 × 40 + 1/8 × 120");
        c.receive(ms(2_130), echo(&next[1].1));
        assert_eq!(c.delay(), Some(Duration::from_millis(50)), "an answered probe counts once");
    }

    #[test]
    fn close_is_retried_until_answered() {
        let mut c = live();
        c.close(ms(100));
        assert_eq!(of_type(&sent(&mut c), 122).len(), 1);
        let retries: Vec<u64> = run(&mut c, ms(100), ms(700)).iter().map(|(at, _)| at.as_micros() / 1000).collect();
        assert_eq!(retries, [350, 600]);
        c.receive(ms(700), relay_packet(123, 0, relay_ts(ms(700)), 0, b""));
        assert_eq!(events(&mut c), [PushEvent::CloseSuccess]);
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(c.push(ms(701), "cam1", &[0x47; 188]).unwrap_err().code.number(), 10003);
    }

    #[test]
    fn close_never_hangs_without_an_answer() {
        let mut c = client();
        c.auth(ms(0), "a", "x").unwrap();
        c.auth(ms(0), "b", "y").unwrap();
        sent(&mut c);
        c.close(ms(10));
        let stop = of_type(&sent(&mut c), 122);
        assert_eq!((stop[0].marker, stop[0].seq, stop[0].payload.as_slice()), (false, 0, &b"a#b"[..]));
        let mut t = ms(10);
        let mut got = Vec::new();
        for _ in 0..100 {
            let Some(at) = c.poll_timeout() else { break };
            t = at;
            c.handle_timeout(at);
            sent(&mut c);
            got.extend(events(&mut c));
        }
        assert_eq!(got, [PushEvent::CloseSuccess]);
        assert_eq!(t, ms(2_010), "after the 2 s close timeout");
    }

    proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64), pt in any::<u8>()) {
            let mut c = live();
            let mut d = data.clone();
            if d.len() > 1 {
                d[0] = 0x80;
                d[1] = pt;
            }
            c.receive(ms(20), Bytes::from(d));
            let _ = sent(&mut c);
            let _ = events(&mut c);
            c.receive(ms(21), Bytes::from(data));
            let _ = sent(&mut c);
            let _ = events(&mut c);
        }
    }
}

mod pull {
    use super::*;

    const ID: u32 = 0x0102_0304;

    /// A client with the default config but no NACKs below its first
    /// packet (those are checked in the reorder buffer's tests), so each
    /// NACK here is a gap's.
    fn client() -> PullClient {
        let reorder = ReorderConfig { head_nacks: 0, ..ReorderConfig::default() };
        PullClient::new(
            PullConfig { reorder, ..PullConfig::default() },
            RELAY_PULL,
            [5; 32],
            WallClock::new(Instant::ZERO, RELAY_EPOCH_MS),
            ms(0),
        )
    }

    /// Every datagram sent, delay probes included.
    fn sent_all(c: &mut PullClient) -> Vec<Bytes> {
        std::iter::from_fn(|| c.next_datagram()).collect()
    }

    /// The datagrams sent but the delay probes (`DELAY_REQ`, checked in
    /// their own test).
    fn sent_raw(c: &mut PullClient) -> Vec<Bytes> {
        sent_all(c).into_iter().filter(|d| read(d).pt != 11).collect()
    }

    fn sent(c: &mut PullClient) -> Vec<Sent> {
        sent_raw(c).iter().map(|d| read(d)).collect()
    }

    #[test]
    fn a_delay_probe_goes_with_the_registration_and_each_heartbeat() {
        let mut c = client();
        sent_all(&mut c);
        c.receive(ms(5), relay_packet(115, 0, relay_ts(ms(5)), ID, b""));
        events(&mut c);
        let probe = sent_all(&mut c);
        assert_eq!(probe.len(), 1);
        let p = read(&probe[0]);
        assert_eq!((p.pt, p.marker, p.seq, p.ts, p.ssrc, p.payload.len()), (11, false, 0, relay_ts(ms(5)), 0, 0));
        assert_eq!(c.rtt(), None);
        let mut echo = probe[0].to_vec();
        echo[1] = 12;
        c.receive(ms(35), Bytes::from(echo.clone()));
        assert_eq!(c.rtt(), Some(Duration::from_millis(30)));
        c.receive(ms(60), Bytes::from(echo));
        assert_eq!(c.rtt(), Some(Duration::from_millis(30)), "an echo answers one probe once");
        assert_eq!(c.counters().ignored, 1);
        let beat = std::iter::from_fn(|| {
            let at = c.poll_timeout()?;
            c.handle_timeout(at);
            Some(sent_all(&mut c))
        })
        .find(|d| !d.is_empty())
        .expect("a heartbeat");
        let beat: Vec<(u8, u16)> = beat.iter().map(|d| (read(d).pt, read(d).seq)).collect();
        assert_eq!(beat, [(116, 0), (11, 1)], "the heartbeat, then the next probe");
    }

    fn events(c: &mut PullClient) -> Vec<PullEvent> {
        std::iter::from_fn(|| c.poll_event()).collect()
    }

    fn data_seqs(events: &[PullEvent]) -> Vec<u16> {
        events
            .iter()
            .filter_map(|e| if let PullEvent::PullStreamData { seq, .. } = e { Some(seq.get()) } else { None })
            .collect()
    }

    /// Runs timeouts from `from` (the time of the last call) up to
    /// `until`, returning `(time, datagram)` sent and the events.
    fn run(c: &mut PullClient, from: Instant, until: Instant) -> (Vec<(Instant, Sent)>, Vec<PullEvent>) {
        let (mut out, mut evs) = (Vec::new(), Vec::new());
        let mut now = from;
        for _ in 0..10_000 {
            let Some(at) = c.poll_timeout().filter(|&at| at <= until) else { return (out, evs) };
            now = now.max(at);
            c.handle_timeout(now);
            out.extend(sent(c).into_iter().map(|d| (now, d)));
            evs.extend(events(c));
        }
        panic!("timeouts do not advance");
    }

    fn registered() -> PullClient {
        let mut c = client();
        sent(&mut c);
        c.receive(ms(5), relay_packet(115, 0, relay_ts(ms(5)), ID, b""));
        assert_eq!(events(&mut c), [PullEvent::PullStreamReady]);
        c
    }

    /// A registered client pulling `cam1`, acknowledged with `ssrc`.
    fn pulling(ssrc: u32) -> PullClient {
        let mut c = registered();
        c.pull(ms(10), &["cam1"]).unwrap();
        sent(&mut c);
        c.receive(ms(20), relay_packet(112, 0, relay_ts(ms(20)), 99, format!("cam1#{}", ssrc as i32).as_bytes()));
        assert_eq!(events(&mut c), [PullEvent::PullStreamReqSuccess { live_ids: vec!["cam1".into()] }]);
        sent(&mut c);
        c
    }

    fn ts_data(seq: u16, ssrc: u32) -> Bytes {
        relay_packet(33, seq, 0, ssrc, &seq.to_be_bytes())
    }

    #[test]
    fn a_late_stream_stopped_does_not_end_a_subscription_asked_for_again() {
        let mut c = pulling(0x1234);
        c.receive(ms(30), relay_packet(121, 0, 0, 0, b"cam1"));
        events(&mut c);
        run(&mut c, ms(30), ms(300));
        c.pull(ms(300), &["cam1"]).unwrap(); // what `pull --follow` does on StreamStop
        sent(&mut c);
        events(&mut c);
        c.receive(ms(310), relay_packet(121, 0, 0, 0, b"cam1")); // a repeat of the old stop
        let mut seen = events(&mut c);
        let (_, more) = run(&mut c, ms(310), ms(800));
        seen.extend(more);
        assert!(!seen.iter().any(|e| matches!(e, PullEvent::StreamStop { .. })), "{seen:?}");
        c.receive(ms(800), relay_packet(112, 0, relay_ts(ms(800)), 7, b"cam1#4660"));
        events(&mut c);
        c.receive(ms(801), ts_data(500, 0x1234));
        let (_, events) = run(&mut c, ms(801), ms(1_100));
        assert_eq!(data_seqs(&events), [500], "the new subscription delivers");
    }

    #[test]
    fn client_id_request_is_retried_with_backoff_then_heartbeats_every_second() {
        let mut c = client();
        let first = sent(&mut c);
        assert_eq!(first, [Sent { marker: false, pt: 114, seq: 0, ts: relay_ts(ms(0)), ssrc: 0, payload: vec![] }]);
        let (retries, _) = run(&mut c, ms(0), ms(4_000));
        let times: Vec<u64> =
            retries.iter().map(|(at, s)| (s.pt == 114).then_some(at.as_micros() / 1000).unwrap()).collect();
        assert_eq!(times, [500, 1_500, 3_500]);
        c.receive(ms(4_000), relay_packet(115, 0, relay_ts(ms(4_000)), ID, b""));
        assert_eq!(events(&mut c), [PullEvent::PullStreamReady]);
        assert_eq!(c.client_id().map(ClientId::get), Some(ID));
        assert!(sent(&mut c).is_empty(), "nothing to pull yet");
        let (beats, _) = run(&mut c, ms(4_000), ms(7_000));
        assert_eq!(beats.iter().map(|(at, _)| at.as_micros() / 1000).collect::<Vec<_>>(), [5_000, 6_000, 7_000]);
        for (_, b) in &beats {
            assert_eq!((b.pt, b.marker, b.seq, b.ssrc, b.payload.len()), (116, false, 0, ID, 0));
        }
        c.receive(ms(7_001), relay_packet(115, 0, 0, 0x7777, b""));
        assert_eq!(c.client_id().map(ClientId::get), Some(ID), "a late second answer changes nothing");
    }

    #[test]
    fn a_long_pull_request_is_chunked_with_indices_and_a_final_marker() {
        let mut c = client();
        sent(&mut c);
        let ids: Vec<String> = (0..100).map(|i| format!("stream-{i:013}")).collect();
        c.pull(ms(1), &ids).unwrap();
        assert!(sent(&mut c).is_empty(), "waits for the client id");
        c.receive(ms(2), relay_packet(115, 0, 0, ID, b""));
        events(&mut c);
        let chunks = sent(&mut c);
        let list = ids.join("#");
        assert_eq!(list.len(), 2099);
        assert_eq!(
            chunks.iter().map(|s| (s.pt, s.seq, s.marker, s.ssrc)).collect::<Vec<_>>(),
            [(111, 0, false, ID), (111, 1, false, ID), (111, 2, true, ID)]
        );
        assert_eq!(chunks.iter().map(|s| s.payload.len()).collect::<Vec<_>>(), [738, 738, 623]);
        assert_eq!(chunks.iter().flat_map(|s| s.payload.clone()).collect::<Vec<u8>>(), list.as_bytes());
        // An empty list is one empty chunk with the marker (1.4.2).
        c.pull(ms(3), &[] as &[&str]).unwrap();
        assert_eq!(sent(&mut c).iter().map(|s| (s.seq, s.marker, s.payload.len())).collect::<Vec<_>>(), [(0, true, 0)]);
        assert_eq!(c.pull(ms(4), &["a#b"]), Err(rtprelay_core::ClientError::InvalidLiveId("a#b".into())));
    }

    #[test]
    fn responses_are_reported_and_acked_echoing_the_challenge() {
        let mut c = registered();
        c.pull(ms(10), &["a", "b", "c"]).unwrap();
        sent(&mut c);
        c.receive(ms(20), relay_packet(112, 0, relay_ts(ms(20)), 0xC0FF_EE00, b"a#-256;b#null;c#7"));
        assert_eq!(
            events(&mut c),
            [
                PullEvent::PullStreamReqSuccess { live_ids: vec!["a".into(), "c".into()] },
                PullEvent::NoStream { live_ids: vec!["b".into()] },
            ]
        );
        let ack = sent(&mut c);
        assert_eq!(ack, [Sent { marker: false, pt: 99, seq: 0, ts: 0xC0FF_EE00, ssrc: ID, payload: b"a;c".to_vec() }]);
        // A resent response is acked again (with its own challenge) but not reported again.
        c.receive(ms(1_020), relay_packet(112, 0, relay_ts(ms(1_020)), 0x1111, b"a#-256"));
        assert!(events(&mut c).is_empty());
        assert_eq!(sent(&mut c)[0].ts, 0x1111);
        // Data demultiplexed by SSRC: 0xFFFFFF00 is a's.
        c.receive(ms(1_030), ts_data(5, 0xFFFF_FF00));
        c.receive(ms(1_031), ts_data(5, 0x9999));
        assert_eq!(c.counters().unknown_ssrc, 1);
        let (_, evs) = run(&mut c, ms(1_031), ms(1_300));
        assert_eq!(
            evs,
            [PullEvent::PullStreamData { live_id: "a".into(), seq: Seq::new(5), data: Bytes::from_static(&[0, 5]) }]
        );
        // b goes live later: the relay's unprompted response is reported and acked.
        c.receive(ms(1_400), relay_packet(112, 0, relay_ts(ms(1_400)), 0x2222, b"b#8"));
        assert_eq!(events(&mut c), [PullEvent::PullStreamReqSuccess { live_ids: vec!["b".into()] }]);
        assert_eq!(sent(&mut c)[0].payload, b"b");
    }

    #[test]
    fn a_long_ack_is_split_between_ids_and_sent_ack_copies_times() {
        let reorder = ReorderConfig { head_nacks: 0, ..ReorderConfig::default() };
        let config = PullConfig { ack_copies: 3, reorder, ..PullConfig::default() };
        let mut c = PullClient::new(config, RELAY_PULL, [5; 32], WallClock::new(Instant::ZERO, RELAY_EPOCH_MS), ms(0));
        sent(&mut c);
        c.receive(ms(5), relay_packet(115, 0, relay_ts(ms(5)), ID, b""));
        events(&mut c);
        let ids: Vec<String> = (0..20).map(|i| format!("{i:0>40}")).collect();
        c.pull(ms(10), &ids).unwrap();
        sent(&mut c);
        let entries: Vec<String> = ids.iter().map(|id| format!("{id}#1")).collect();
        c.receive(ms(20), relay_packet(112, 0, relay_ts(ms(20)), 42, entries.join(";").as_bytes()));
        events(&mut c);
        let acks = sent(&mut c);
        assert_eq!(acks.len(), 6, "two datagrams, three copies of each");
        assert_eq!(acks[..2], acks[2..4]);
        let mut acked = Vec::new();
        for a in &acks[..2] {
            assert_eq!((a.pt, a.seq, a.marker, a.ts, a.ssrc), (99, 0, false, 42, ID));
            assert!(a.payload.len() <= 738);
            acked.extend(String::from_utf8(a.payload.clone()).unwrap().split(';').map(str::to_owned));
        }
        assert_eq!(acked, ids, "each datagram holds whole ids");
    }

    #[test]
    fn an_unanswered_request_is_resent_and_a_lost_one_at_once() {
        let mut c = registered();
        c.pull(ms(10), &["cam1"]).unwrap();
        assert_eq!(sent(&mut c).len(), 1);
        let (resends, _) = run(&mut c, ms(10), ms(3_100));
        let times: Vec<u64> =
            resends.iter().filter(|(_, s)| s.pt == 111).map(|(at, _)| at.as_micros() / 1000).collect();
        assert_eq!(times, [1_010, 3_010]);
        c.receive(ms(3_100), relay_packet(113, 0, 0, 0, b"packetloss"));
        assert_eq!(events(&mut c), [PullEvent::PullStreamPacketLoss]);
        assert_eq!(
            sent(&mut c).iter().map(|s| (s.pt, s.payload.clone())).collect::<Vec<_>>(),
            [(111, b"cam1".to_vec())]
        );
        c.receive(ms(3_200), relay_packet(112, 0, relay_ts(ms(3_200)), 0, b"cam1#null"));
        events(&mut c);
        sent(&mut c);
        let (after, _) = run(&mut c, ms(3_200), ms(20_000));
        assert!(after.iter().all(|(_, s)| s.pt == 116), "answered: only heartbeats from now on");
    }

    #[test]
    fn pulling_again_replaces_the_list() {
        let mut c = pulling(7);
        c.pull(ms(30), &["cam2", "cam1", "cam2"]).unwrap();
        assert_eq!(sent(&mut c)[0].payload, b"cam2#cam1");
        assert_eq!(c.live_ids().collect::<Vec<_>>(), ["cam2", "cam1"]);
        c.receive(ms(40), ts_data(1, 7));
        assert_eq!(c.stats("cam1").unwrap().received, 1, "cam1 stays subscribed");
        c.pull(ms(50), &["cam2"]).unwrap();
        sent(&mut c);
        c.receive(ms(60), ts_data(2, 7));
        assert_eq!(c.counters().unknown_ssrc, 1, "cam1's data is no longer taken");
        assert_eq!(c.stats("cam1"), None);
    }

    #[test]
    fn gaps_are_nacked_and_a_retransmission_fills_them() {
        let mut c = pulling(7);
        c.receive(ms(30), ts_data(10, 7));
        c.receive(ms(30), ts_data(11, 7));
        c.receive(ms(40), ts_data(13, 7));
        assert!(sent_raw(&mut c).is_empty(), "no NACK before the NACK delay");
        assert_eq!(c.poll_timeout(), Some(ms(50)));
        c.handle_timeout(ms(50));
        let raw = sent_raw(&mut c);
        assert_eq!(raw.len(), 5, "five copies (nack_copies)");
        assert!(raw.iter().all(|copy| *copy == raw[0]));
        assert_eq!(&raw[0][..4], &[0x81, 205, 0, 3], "RTCP Generic NACK: FMT 1, PT 205, 3 words");
        let (packets, err) = parse_compound(&raw[0]);
        assert_eq!(err, None);
        assert_eq!(packets, [RtcpPacket::Nack(Nack { sender_ssrc: ID, media_ssrc: 7, pairs: vec![(12, 0)] })]);
        let (_, evs) = run(&mut c, ms(50), ms(230));
        assert_eq!(data_seqs(&evs), [10, 11], "13 waits for 12");
        c.receive(ms(235), ts_data(12, 7));
        assert_eq!(data_seqs(&events(&mut c)), [12, 13]);
        let s = c.stats("cam1").unwrap();
        assert_eq!((s.recovered, s.lost), (1, 0));
        assert_eq!(c.counters().nacks_sent, s.nacked, "one number per NACK here");
    }

    #[test]
    fn a_packet_missing_past_the_window_is_lost() {
        let mut c = pulling(7);
        c.receive(ms(30), ts_data(10, 7));
        let (_, evs) = run(&mut c, ms(30), ms(250));
        assert_eq!(data_seqs(&evs), [10]);
        c.receive(ms(300), ts_data(12, 7));
        let (out, evs) = run(&mut c, ms(300), ms(499));
        assert!(evs.is_empty(), "12 is held for the window");
        let mut nack_times: Vec<u64> =
            out.iter().filter(|(_, s)| s.pt == 205).map(|(at, _)| at.as_micros() / 1000).collect();
        nack_times.dedup();
        assert_eq!(
            nack_times,
            [310, 360, 410, 460],
            "10 ms after the gap, then every 50 ms (no round trip known) while an answer can arrive by 500 ms"
        );
        let (_, evs) = run(&mut c, ms(499), ms(1_000));
        assert_eq!(
            evs,
            [PullEvent::PullStreamData {
                live_id: "cam1".into(),
                seq: Seq::new(12),
                data: Bytes::from_static(&[0, 12])
            }]
        );
        assert_eq!(c.stats("cam1").unwrap().lost, 1);
        c.receive(ms(1_001), ts_data(11, 7));
        assert_eq!(c.stats("cam1").unwrap().late, 1);
        assert!(events(&mut c).is_empty());
    }

    #[test]
    fn a_stop_waits_for_the_tail_within_the_window() {
        let mut c = pulling(7);
        c.receive(ms(30), ts_data(10, 7));
        c.receive(ms(30), ts_data(11, 7));
        c.handle_timeout(ms(230));
        assert_eq!(data_seqs(&events(&mut c)), [10, 11]);
        c.receive(ms(240), relay_packet(121, 13, relay_ts(ms(240)), 0, b"cam1"));
        assert!(events(&mut c).is_empty(), "12 and 13 are still to come");
        c.handle_timeout(ms(250));
        let nack = sent_raw(&mut c);
        let (packets, _) = parse_compound(&nack[0]);
        assert_eq!(packets, [RtcpPacket::Nack(Nack::from_sequences(ID, 7, &[12, 13]))]);
        c.receive(ms(260), ts_data(13, 7));
        c.receive(ms(261), ts_data(12, 7));
        let evs = events(&mut c);
        assert_eq!(data_seqs(&evs), [12, 13]);
        assert_eq!(evs.last(), Some(&PullEvent::StreamStop { live_id: "cam1".into() }));
        assert_eq!(c.live_ids().count(), 0, "the stream left the list");
        c.receive(ms(340), relay_packet(121, 13, relay_ts(ms(340)), 0, b"cam1"));
        assert!(events(&mut c).is_empty(), "the repeated stop is ignored");
    }

    #[test]
    fn a_stop_whose_tail_never_comes_is_reported_after_the_window() {
        let mut c = pulling(7);
        c.receive(ms(30), ts_data(10, 7));
        c.handle_timeout(ms(230));
        events(&mut c);
        c.receive(ms(240), relay_packet(121, 12, relay_ts(ms(240)), 0, b"cam1"));
        let (_, evs) = run(&mut c, ms(240), ms(439));
        assert!(evs.is_empty());
        let (_, evs) = run(&mut c, ms(439), ms(440));
        assert_eq!(evs, [PullEvent::StreamStop { live_id: "cam1".into() }]);
        // A stop with everything already received is reported at once.
        let mut c = pulling(7);
        c.receive(ms(30), ts_data(10, 7));
        c.handle_timeout(ms(230));
        events(&mut c);
        c.receive(ms(240), relay_packet(121, 10, relay_ts(ms(240)), 0, b"cam1"));
        assert_eq!(events(&mut c), [PullEvent::StreamStop { live_id: "cam1".into() }]);
    }

    #[test]
    fn client_unknown_registers_again_and_resends_the_list() {
        let mut c = pulling(7);
        c.receive(ms(30), relay_packet(119, 0, 0, 0x5555, b""));
        assert!(sent(&mut c).is_empty(), "another id: ignored");
        c.receive(ms(30), relay_packet(119, 0, 0, ID, b""));
        assert_eq!(sent(&mut c).iter().map(|s| (s.pt, s.ssrc)).collect::<Vec<_>>(), [(114, 0)]);
        assert_eq!(c.client_id().map(ClientId::get), None);
        let (out, _) = run(&mut c, ms(30), ms(530));
        assert_eq!(out.iter().map(|(_, s)| s.pt).collect::<Vec<_>>(), [114], "retried, no heartbeat meanwhile");
        c.receive(ms(600), relay_packet(115, 0, 0, 0xABCD, b""));
        assert_eq!(events(&mut c), [PullEvent::PullStreamReady]);
        let req = sent(&mut c);
        assert_eq!(
            req.iter().map(|s| (s.pt, s.ssrc, s.marker, s.payload.clone())).collect::<Vec<_>>(),
            [(111, 0xABCD, true, b"cam1".to_vec())]
        );
        c.receive(ms(610), relay_packet(112, 0, relay_ts(ms(610)), 3, b"cam1#8"));
        assert_eq!(events(&mut c), [PullEvent::PullStreamReqSuccess { live_ids: vec!["cam1".into()] }]);
        assert_eq!(sent(&mut c)[0].ssrc, 0xABCD);
        let (beats, _) = run(&mut c, ms(610), ms(1_600));
        assert!(beats.iter().all(|(_, s)| s.pt == 116 && s.ssrc == 0xABCD));
    }

    #[test]
    fn close_flushes_and_is_retried_until_answered_or_timed_out() {
        let mut c = pulling(7);
        c.receive(ms(30), ts_data(10, 7));
        c.close(ms(40));
        assert_eq!(data_seqs(&events(&mut c)), [10], "buffered data is handed over");
        assert_eq!(sent(&mut c).iter().map(|s| (s.pt, s.ssrc)).collect::<Vec<_>>(), [(117, ID)]);
        assert_eq!(c.pull(ms(41), &["x"]), Err(rtprelay_core::ClientError::Closed));
        let (retries, _) = run(&mut c, ms(41), ms(600));
        assert_eq!(retries.iter().map(|(at, _)| at.as_micros() / 1000).collect::<Vec<_>>(), [290, 540]);
        c.receive(ms(600), relay_packet(118, 0, 0, 0, b""));
        assert_eq!(events(&mut c), [PullEvent::CloseSuccess]);
        assert_eq!(c.poll_timeout(), None);
        // Without an answer it still ends, after the close timeout.
        let mut c = registered();
        c.close(ms(10));
        let (_, evs) = run(&mut c, ms(10), ms(60_000));
        assert_eq!(evs, [PullEvent::CloseSuccess]);
        assert_eq!(c.poll_timeout(), None);
    }

    proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64), pt in any::<u8>()) {
            let mut c = pulling(7);
            let mut d = data.clone();
            if d.len() > 1 {
                d[0] = 0x80;
                d[1] = pt;
            }
            c.receive(ms(30), Bytes::from(d));
            let _ = sent(&mut c);
            let _ = events(&mut c);
            c.receive(ms(31), Bytes::from(data));
            let _ = sent(&mut c);
            let _ = events(&mut c);
            let _ = run(&mut c, ms(31), ms(5_000));
        }
    }
}
