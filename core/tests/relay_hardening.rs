//! The hardening issue's defects, each as the attack that worked and the
//! honest traffic that must keep working (docs/protocol.md §1.3.1, §1.4,
//! §2.3): guessing client ids, auth lockout, filling the client table and
//! over-long pull requests.

mod common;

use common::*;
use rtprelay_core::packet::pt;
use rtprelay_core::{Config, Endpoint, Port, RelayEvent};
use std::net::SocketAddr;
use std::time::Duration;

const PUB: u16 = 5000;
const SUB: u16 = 7000;
const NEW: u16 = 7100;

fn at(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// The attacker's address: another host than every honest peer.
fn guesser() -> SocketAddr {
    at([10, 66, 6, 6], 40_000)
}

/// A live stream "a" and `n` subscribers acking it, each at its own IP
/// (so no per-IP limit of the subscribers is involved); returns the
/// stream's SSRC and the client ids with their addresses.
fn live_with_subscribers(h: &mut Harness, n: u16) -> (u32, Vec<(u32, SocketAddr)>) {
    h.add_credential("a", "code");
    let ssrc = h.auth(Port::Push, addr(PUB), "a", "code");
    let subs = (0..n)
        .map(|i| {
            let from = at([10, 1, (i / 250) as u8, (i % 250) as u8 + 1], SUB);
            (h.subscriber(Port::Pull, from, &["a"]), from)
        })
        .collect();
    (ssrc, subs)
}

/// Where one `TS_DATA` of stream `ssrc` goes.
fn data_to(h: &mut Harness, ssrc: u32) -> Vec<SocketAddr> {
    let seq = h.counters().ts_data_accepted as u16 + 1;
    let mut to: Vec<SocketAddr> = h.ts_data(addr(PUB), ssrc, seq, b"x").iter().map(|s| s.to).collect();
    to.sort();
    to
}

/// A padded heartbeat naming `id` (the attack used 100 bytes, so
/// that every hit earns a `PULL_RSP` at once).
fn padded_heartbeat(id: u32) -> bytes::Bytes {
    packet(pt::HEARTBEAT, false, 0, 0, id, &[0; 88])
}

/// Deterministic "random" ids for the guesser (xorshift).
fn guesses(n: usize) -> Vec<u32> {
    let mut x: u32 = 0x9E37_79B9;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        })
        .collect()
}

/// Defect 1: from one address, guesses are cut off after the source's
/// allowance, so a correct id guessed past it earns nothing; the expected
/// time per hit under the limit is printed.
#[test]
fn a_guesser_is_cut_off_after_its_allowance_and_a_late_hit_earns_no_challenge() {
    let mut h = Harness::new();
    let (_, subs) = live_with_subscribers(&mut h, 200);
    let victim = subs[17].0;
    let mut ids = guesses(20_000);
    ids[15_500] = victim;
    let mut answered = 0;
    let mut hit_answered = false;
    // 20,000 guesses within one second (the issue measured 223 k/s).
    for (i, id) in ids.iter().enumerate() {
        if i % 1_000 == 0 {
            h.advance(Duration::from_millis(50));
        }
        let out = h.send(Port::Pull, guesser(), padded_heartbeat(*id));
        answered += out.len();
        hit_answered |= i == 15_500 && !of(&out, pt::PULL_RSP).is_empty();
    }
    assert!(!hit_answered, "a hit past the allowance earns no PULL_RSP");
    let config = Config::default();
    // A burst of two seconds' worth, then the rate, over the one second.
    let allowance = config.max_unbound_ids_per_ip_per_sec as usize * 3;
    assert!(answered <= allowance, "{answered} answers to one source");
    let processed = 20_000 - h.counters().client_ids_limited as usize;
    assert!(processed <= allowance, "{processed} guesses processed");
    // What the limit leaves a guesser: L guesses per second per source
    // IP against 2^32 ids of which at most max_clients are live.
    let per_sec = f64::from(config.max_unbound_ids_per_ip_per_sec);
    let live = config.max_clients as f64;
    let secs_per_hit = 2f64.powi(32) / live / per_sec;
    println!(
        "guess rate: {per_sec} guesses/s per source IP; with {live} live clients one hit takes {secs_per_hit:.0} s \
         (~{:.0} min) per IP, and a hit alone moves nobody (move_quiet_ms)",
        secs_per_hit / 60.0
    );
    assert!(secs_per_hit > 3_000.0);
}

/// Defect 1: a guesser that found an id and echoes its challenge never
/// moves a victim that keeps heartbeating.
#[test]
fn a_guessed_id_with_an_echoed_challenge_does_not_move_a_victim_that_keeps_heartbeating() {
    let mut h = Harness::new();
    let (ssrc, subs) = live_with_subscribers(&mut h, 3);
    let (victim, victim_at) = subs[1];
    for _ in 0..20 {
        let out = h.send(Port::Pull, guesser(), padded_heartbeat(victim));
        if let Some(rsp) = of(&out, pt::PULL_RSP).first() {
            h.ack(Port::Pull, guesser(), victim, rsp.header().ssrc, "a");
        }
        h.advance(Duration::from_millis(500));
        h.heartbeat(Port::Pull, victim_at, victim);
        assert!(data_to(&mut h, ssrc).contains(&victim_at), "the victim keeps its data");
        assert!(!data_to(&mut h, ssrc).contains(&guesser()), "the guesser gets none");
    }
    assert!(!h.events.iter().any(|e| matches!(e, RelayEvent::ClientMoved { .. })));
}

/// A live stream with one subscriber whose address last heartbeat at
/// 700 ms: the stream's SSRC, the client id and that address.
fn one_subscriber_heard_at_700_ms(h: &mut Harness) -> (u32, u32, SocketAddr) {
    let (ssrc, subs) = live_with_subscribers(h, 1);
    let (id, old) = subs[0];
    h.advance(Duration::from_millis(700));
    h.heartbeat(Port::Pull, old, id);
    (ssrc, id, old)
}

/// Heartbeats client `id` from the new address `to` until the relay's
/// anti-amplification credit lets a `PULL_RSP` out; its challenge.
fn challenge_at(h: &mut Harness, to: SocketAddr, id: u32) -> u32 {
    for _ in 0..64 {
        if let Some(rsp) = of(&h.heartbeat(Port::Pull, to, id), pt::PULL_RSP).first() {
            return rsp.header().ssrc;
        }
    }
    panic!("64 heartbeats from {to} earned no PULL_RSP");
}

/// One subscriber heard at its old address at 700 ms whose id then echoed
/// a challenge from a new address 300 ms later: the stream's SSRC, the old
/// and new addresses, and when the old one last spoke.
fn move_echoed_300_ms_after_the_old_address_spoke(
    h: &mut Harness,
) -> (u32, SocketAddr, SocketAddr, rtprelay_core::Instant) {
    let (ssrc, id, old) = one_subscriber_heard_at_700_ms(h);
    let last_old = h.now;
    let new = at([10, 1, 0, 1], NEW);
    h.advance(Duration::from_millis(300));
    let challenge = challenge_at(h, new, id);
    h.ack(Port::Pull, new, id, challenge, "a");
    (ssrc, old, new, last_old)
}

/// Defect 1, the honest case: a NAT rebinding silences the old address;
/// the echoed move completes once it has been quiet for `move_quiet_ms`
/// (2 s after its last message), not before.
#[test]
fn a_rebinding_moves_once_the_old_address_is_quiet_for_move_quiet_ms() {
    let mut h = Harness::new();
    let (ssrc, old, new, last_old) = move_echoed_300_ms_after_the_old_address_spoke(&mut h);
    assert_eq!(data_to(&mut h, ssrc), [old], "old heard 300 ms ago: not yet");
    h.advance(last_old + Duration::from_millis(1_999) - h.now);
    assert_eq!(data_to(&mut h, ssrc), [old], "1.999 s quiet: not yet");
    h.advance(Duration::from_millis(1));
    assert_eq!(data_to(&mut h, ssrc), [new], "2 s quiet: moved");
    assert!(h.events.contains(&RelayEvent::ClientMoved { from: old, to: new }));
}

/// Defect 1, the honest case: a NAT with 64 clients that all rebind, and
/// whose ids a restarted relay no longer knows, is never limited.
#[test]
fn a_nat_with_64_honest_clients_is_never_limited() {
    let mut h = Harness::new();
    h.add_credential("a", "code");
    let ssrc = h.auth(Port::Push, addr(PUB), "a", "code");
    let nat = |port: u16| at([10, 2, 0, 1], port);
    let ids: Vec<u32> = (0..64).map(|i| h.subscriber(Port::Pull, nat(SUB + i), &["a"])).collect();
    // Every mapping of the NAT changes at once; each client heartbeats
    // every second from its new port and echoes each challenge.
    for _ in 0..4 {
        for (i, &id) in ids.iter().enumerate() {
            let from = nat(NEW + i as u16);
            let out = h.send(Port::Pull, from, packet(pt::HEARTBEAT, false, 0, 0, id, &[0; 88]));
            for rsp in of(&out, pt::PULL_RSP) {
                h.ack(Port::Pull, from, id, rsp.header().ssrc, "a");
            }
        }
        h.advance(Duration::from_secs(1));
    }
    let mut to = data_to(&mut h, ssrc);
    to.dedup();
    assert_eq!(to, (0..64).map(|i| nat(NEW + i)).collect::<Vec<_>>(), "all 64 moved");
    // Legacy clients keep heartbeating ids a restarted relay never issued:
    // each port still gets its CLIENT_UNKNOWN once per second.
    let mut h = Harness::new();
    for _ in 0..5 {
        for i in 0..64 {
            let out = h.heartbeat(Port::Pull, nat(SUB + i), 1_000 + u32::from(i));
            assert_eq!(of(&out, pt::CLIENT_UNKNOWN).len(), 1);
        }
        h.advance(Duration::from_secs(1));
    }
    assert_eq!(h.counters().client_ids_limited, 0);
}

/// An `AUTH_REQ` with payload `text` from `from`, and what came back.
fn auth_req(h: &mut Harness, from: SocketAddr, text: &str) -> Vec<Sent> {
    h.send(Port::Push, from, packet(pt::AUTH_REQ, false, 0, 0, 0, text.as_bytes()))
}

/// Defect 2: refused auths from the publisher's IP (another port: a host
/// sharing its NAT, or spoofing it) no longer lock the publisher out: a
/// correct code from a live stream's bound address is always accepted.
#[test]
fn refused_auths_from_the_publishers_ip_do_not_lock_out_its_bound_address() {
    let mut h = Harness::new();
    h.add_credential("a", "code");
    let ssrc = h.auth(Port::Push, addr(PUB), "a", "code");
    let refused: usize = (0..40).map(|_| of(&auth_req(&mut h, addr(PUB + 1), "a#guess"), pt::AUTH_REFUSED).len()).sum();
    assert_eq!(refused, 30, "the guesser is limited");
    assert_eq!(h.auth(Port::Push, addr(PUB), "a", "code"), ssrc, "the publisher re-authenticates");
    // The guesser's address is still held back, even with the right code.
    assert!(auth_req(&mut h, addr(PUB + 1), "a#code").is_empty());
    // A wrong code from the bound address while its IP is blocked stays
    // unanswered: the exemption is for the owner's code only.
    assert!(auth_req(&mut h, addr(PUB), "a#guess").is_empty());
}

/// Defect 2: refusals for ids that have no credential guess no code, so
/// they do not lock the IP out.
#[test]
fn refused_auths_for_unknown_ids_do_not_lock_out_an_ip() {
    let mut h = Harness::new();
    h.add_credential("a", "code");
    let refused: usize =
        (0..40).map(|i| of(&auth_req(&mut h, addr(PUB + 1), &format!("x{i}#c")), pt::AUTH_REFUSED).len()).sum();
    assert_eq!(refused, 40);
    h.auth(Port::Push, addr(PUB), "a", "code");
    assert_eq!(h.counters().auth_rate_limited, 0);
}

/// Defect 2: 157 addresses × 64 client ids that never heartbeat no longer
/// fill the client table against a real subscriber: a full table evicts
/// the oldest client that never proved liveness.
#[test]
fn a_table_filled_by_clients_that_never_heartbeat_still_admits_a_subscriber() {
    let mut h = Harness::new();
    h.add_credential("a", "code");
    let ssrc = h.auth(Port::Push, addr(PUB), "a", "code");
    for ip in 0..157u16 {
        for port in 0..64 {
            h.send(
                Port::Pull,
                at([10, 3, (ip / 250) as u8, (ip % 250) as u8 + 1], 20_000 + port),
                packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""),
            );
        }
    }
    assert_eq!(h.relay.state_sizes().clients, 10_000);
    let honest = at([10, 9, 9, 9], SUB);
    h.subscriber(Port::Pull, honest, &["a"]);
    assert_eq!(data_to(&mut h, ssrc), [honest]);
    assert_eq!(h.relay.state_sizes().clients, 10_000);
    assert_eq!(h.counters().client_evicted_unverified, 157 * 64 - 10_000 + 1, "one made room for each past 10,000");
}

/// Defect 2: clients that heartbeat are never evicted: a full table of
/// them refuses the new one, as before.
#[test]
fn a_full_table_never_evicts_clients_that_heartbeat() {
    let mut h = Harness::with_config(Config { max_clients: 3, ..Config::default() });
    let ids: Vec<u32> = (0..3).map(|i| h.client_id(Port::Pull, addr(SUB + i))).collect();
    for (i, &id) in ids.iter().enumerate() {
        h.heartbeat(Port::Pull, addr(SUB + i as u16), id);
    }
    assert!(h.send(Port::Pull, addr(SUB + 3), packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b"")).is_empty());
    assert_eq!(h.counters().client_limit_global, 1);
    assert_eq!(h.relay.state_sizes().clients, 3);
}

/// Defect 3: a pull request of more than 64 chunks is answered with
/// `PULL_REQ_LOST` at once (once per set), never silently dropped.
#[test]
fn a_pull_req_of_more_than_64_chunks_is_answered_pull_req_lost() {
    let mut h = Harness::new();
    let id = h.client_id(Port::Pull, addr(SUB));
    let chunk = |index: u16| packet(pt::PULL_REQ, index == 69, index, 0, id, b"x#");
    let mut out: Vec<Sent> = (0..70).flat_map(|index| h.send(Port::Pull, addr(SUB), chunk(index))).collect();
    out.extend(h.advance(Duration::from_secs(3)));
    let lost = of(&out, pt::PULL_REQ_LOST);
    assert_eq!(lost.len(), 1, "{out:?}");
    assert_eq!((lost[0].to, lost[0].payload()), (addr(SUB), pt::PULL_REQ_LOST_PAYLOAD));
    assert!(of(&out, pt::PULL_RSP).is_empty());
    assert_eq!(h.counters().pull_req_too_long, 1, "counted once, like the answer");
}

/// Defect 1: a move goes only to an address that echoed its challenge.
/// Two new addresses heartbeat (each gets a challenge); only the first
/// echoes, after the second took over the pending move: the client moves
/// to the first, never to the second, which echoed nothing.
#[test]
fn a_move_goes_only_to_the_address_that_echoed() {
    let mut h = Harness::new();
    let (ssrc, id, old) = one_subscriber_heard_at_700_ms(&mut h);
    let (first, second) = (at([10, 1, 0, 1], NEW), at([10, 1, 0, 1], NEW + 1));
    let mut challenges = Vec::new();
    for to in [first, second] {
        h.advance(Duration::from_millis(100));
        challenges.push(challenge_at(&mut h, to, id));
    }
    h.ack(Port::Pull, first, id, challenges[0], "a");
    h.advance(Duration::from_secs(3));
    assert_eq!(data_to(&mut h, ssrc), [first]);
    assert!(h.events.contains(&RelayEvent::ClientMoved { from: old, to: first }));
}

/// Defect 1: the per-IP limit is for ids their source was never given; a
/// client at its own bound address is never limited, however often it
/// speaks (here 400 heartbeats at one instant, past the burst of 256).
#[test]
fn a_client_at_its_bound_address_is_never_limited() {
    let mut h = Harness::new();
    let (_, id, old) = one_subscriber_heard_at_700_ms(&mut h);
    for _ in 0..400 {
        h.heartbeat(Port::Pull, old, id);
    }
    assert_eq!(h.counters().client_ids_limited, 0);
}

/// Only a client's own messages keep its bound address "talking" (§2.3):
/// stream data from that address (with or without the marker bit) is a
/// publisher's, so it does not hold back a move of the client.
#[test]
fn stream_data_from_the_old_address_does_not_hold_back_a_move() {
    let mut h = Harness::new();
    let (ssrc, old, new, last_old) = move_echoed_300_ms_after_the_old_address_spoke(&mut h);
    for step in 0..20u16 {
        h.advance(Duration::from_millis(100));
        h.send(Port::Push, old, packet(pt::TS_DATA, step % 2 == 0, step, 0, 99, b"x"));
    }
    h.advance(last_old + Duration::from_millis(2_000) - h.now);
    assert_eq!(data_to(&mut h, ssrc), [new], "2 s without a client message: moved");
}

/// A heartbeat naming an id no client has, from `from`: the unbound-id
/// limiter's input (2.3). Returns how many such messages it has held back.
fn unbound_heartbeat(h: &mut Harness, from: SocketAddr) -> u64 {
    h.heartbeat(Port::Pull, from, 7);
    h.counters().client_ids_limited
}

/// Config `max_unbound_ids_per_ip_per_sec`: a source IP may send two
/// seconds' worth at once, then one per 1/rate s; each IP has its own
/// bucket, and the relay reports how many IPs it remembers.
#[test]
fn the_unbound_id_limit_is_a_burst_of_two_seconds_then_the_rate() {
    let mut h = Harness::with_config(Config { max_unbound_ids_per_ip_per_sec: 4, ..Config::default() });
    let (one, other) = (at([10, 7, 0, 1], SUB), at([10, 7, 0, 2], SUB));
    for _ in 0..8 {
        assert_eq!(unbound_heartbeat(&mut h, one), 0);
    }
    assert_eq!(unbound_heartbeat(&mut h, one), 1, "the 9th at once is held back");
    assert_eq!(unbound_heartbeat(&mut h, other), 1, "another IP has its own burst");
    assert_eq!(h.relay.state_sizes().unbound_id_sources, 2);
    h.advance(Duration::from_millis(249));
    assert_eq!(unbound_heartbeat(&mut h, one), 2, "no token yet");
    h.advance(Duration::from_millis(1));
    assert_eq!(unbound_heartbeat(&mut h, one), 2, "a token every 250 ms");
    assert_eq!(unbound_heartbeat(&mut h, one), 3);
}

/// Config `max_rate_limited_sources` bounds the unbound-id limiter too: a
/// full table holds back a new IP while every remembered one is still
/// refilling (not the IPs it remembers), and forgets IPs whose bucket is
/// full again to make room.
#[test]
fn a_full_unbound_id_table_holds_back_new_ips_until_one_refills() {
    let config = Config { max_unbound_ids_per_ip_per_sec: 4, max_rate_limited_sources: 2, ..Config::default() };
    let mut h = Harness::with_config(config);
    let ip = |i: u8| at([10, 7, 0, i], SUB);
    unbound_heartbeat(&mut h, ip(1));
    h.advance(Duration::from_millis(100));
    unbound_heartbeat(&mut h, ip(2));
    assert_eq!(unbound_heartbeat(&mut h, ip(3)), 1, "full: both IPs refilling");
    assert_eq!(unbound_heartbeat(&mut h, ip(1)), 1, "a remembered IP is not held back");
    assert_eq!(unbound_heartbeat(&mut h, ip(2)), 1);
    h.advance(Duration::from_millis(400));
    // ip(1) is full again (two tokens in 500 ms), ip(2) not (2 in 400 ms).
    assert_eq!(unbound_heartbeat(&mut h, ip(3)), 1, "ip(1) forgotten to make room");
    assert_eq!(unbound_heartbeat(&mut h, ip(4)), 2, "ip(2) still refilling");
    assert_eq!(h.relay.state_sizes().unbound_id_sources, 2);
}

/// §2.3: a waiting move follows the old address's latest message: heard
/// again before the move was due, it waits until the old address has been
/// quiet for move_quiet_ms (the echo still standing), then completes.
#[test]
fn a_waiting_move_waits_again_when_the_old_address_speaks() {
    let mut h = Harness::new();
    let (ssrc, id, old) = one_subscriber_heard_at_700_ms(&mut h);
    let new = at([10, 1, 0, 1], NEW);
    let challenge = challenge_at(&mut h, new, id);
    h.ack(Port::Pull, new, id, challenge, "a");
    h.advance(Duration::from_millis(1_000));
    h.heartbeat(Port::Pull, old, id);
    h.advance(Duration::from_millis(1_999));
    assert_eq!(data_to(&mut h, ssrc), [old], "heard 1.999 s ago");
    h.advance(Duration::from_millis(1));
    assert_eq!(data_to(&mut h, ssrc), [new], "quiet for 2 s, the echo 3 s old: moved");
}

/// §2.3: a waiting move gives up once the old address cannot be quiet for
/// move_quiet_ms before the echo expires, and leaves no deadline behind.
#[test]
fn a_waiting_move_gives_up_when_the_echo_would_expire_first() {
    let mut h = Harness::new();
    let (ssrc, id, old) = one_subscriber_heard_at_700_ms(&mut h);
    let new = at([10, 1, 0, 1], NEW);
    let challenge = challenge_at(&mut h, new, id);
    h.ack(Port::Pull, new, id, challenge, "a");
    let expires = h.now + Duration::from_millis(5_000);
    h.advance(Duration::from_millis(1_500));
    h.heartbeat(Port::Pull, old, id);
    h.advance(Duration::from_millis(1_500));
    h.heartbeat(Port::Pull, old, id);
    // The move, due 2 s after the heartbeat before, finds the old address
    // quiet only when the echo expires: it gives up.
    h.advance(Duration::from_millis(500));
    assert_ne!(h.relay.poll_timeout(), Some(expires), "nothing left to do when the echo expires");
    h.advance(Duration::from_millis(5_000));
    assert_eq!(data_to(&mut h, ssrc), [old]);
}

/// Config `move_quiet_ms` as long as `challenge_validity_ms`: when the old
/// address has been quiet long enough the echo has just expired, so the
/// client stays.
#[test]
fn an_echo_expires_as_a_move_quiet_as_long_as_its_validity_ends() {
    let mut h = Harness::with_config(Config { move_quiet_ms: 5_000, ..Config::default() });
    let (ssrc, id, old) = one_subscriber_heard_at_700_ms(&mut h);
    let new = at([10, 1, 0, 1], NEW);
    let challenge = challenge_at(&mut h, new, id);
    h.ack(Port::Pull, new, id, challenge, "a");
    h.advance(Duration::from_millis(5_000));
    assert_eq!(data_to(&mut h, ssrc), [old]);
    assert!(!h.events.iter().any(|e| matches!(e, RelayEvent::ClientMoved { .. })));
}
