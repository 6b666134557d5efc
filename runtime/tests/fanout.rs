//! Fan-out through the real binary's batched sends: more subscribers than
//! one `sendmmsg` carries (256), on both sockets, each from its own
//! loopback address, all get every packet byte for byte and in order,
//! whether the loop sends them one by one or as GSO trains, and when it
//! holds its sends to make trains longer (`udp_send_hold_us`).

mod support;

use std::time::Duration;
use support::{Peer, Server, auth, create_stream, pt, rtp, subscribe, temp_dir, wait_subscribers};

const SUBSCRIBERS: usize = 300;
const PACKETS: u16 = 20;

#[test]
fn every_subscriber_of_a_wide_stream_gets_every_packet() {
    fan_out(&[]);
}

#[test]
fn held_sends_still_reach_everyone() {
    fan_out(&[("RTPRELAY_UDP_SEND_HOLD_US", "2000")]);
}

fn fan_out(env: &[(&str, &str)]) {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], env);
    let code = create_stream(&server, "wide");
    let publisher = Peer::new();
    let ssrc = auth(&publisher, server.ready.push, "wide", &code);
    let subscribers: Vec<Peer> = (0..SUBSCRIBERS)
        .map(|k| {
            let peer = Peer::at(&format!("127.3.{}.{}", k / 200, k % 200 + 1));
            // Half on each socket: both send queues are used.
            let port = if k % 2 == 0 { server.ready.pull } else { server.ready.push };
            subscribe(&peer, port, "wide");
            peer
        })
        .collect();
    wait_subscribers(&server, "wide", SUBSCRIBERS);

    // A burst of equal-size packets (queued together: GSO trains), then
    // one of another size.
    let packet = |seq: u16| {
        let len = if seq == PACKETS - 1 { 300 } else { 1_200 };
        let payload: Vec<u8> = (0..len).map(|i| (i as u16 ^ seq) as u8).collect();
        rtp(pt::TS_DATA, false, seq, 1_000 + u32::from(seq), ssrc, &payload)
    };
    for seq in 0..PACKETS {
        publisher.send(server.ready.push, &packet(seq));
    }
    for (k, sub) in subscribers.iter().enumerate() {
        let mut got = Vec::new();
        while got.len() < usize::from(PACKETS) {
            let Some(p) = sub.recv(Duration::from_secs(10)) else {
                panic!("subscriber {k} got {} of {PACKETS} packets", got.len());
            };
            if p.byte1 == pt::TS_DATA {
                got.push(p.raw);
            }
        }
        for (seq, raw) in (0..PACKETS).zip(&got) {
            assert_eq!(*raw, packet(seq), "subscriber {k}, packet {seq}: unchanged, in order");
        }
    }
}
