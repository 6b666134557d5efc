//! The abuse suite, against the real binary on loopback: what an attacker
//! who can reach the relay's ports gets, in figures. Each test prints its
//! figures (run with `--nocapture`, see the README's "Security") and
//! fails when a bound breaks:
//!
//! * amplification: bytes the relay sends an unknown source per byte
//!   received, per message type (at most 1: docs/protocol.md §2.3);
//! * injection: datagrams forged into a live stream from other addresses
//!   reach no subscriber (0 forwarded) and stop nothing;
//! * guessing client ids: the guesses a source gets through, and the time
//!   one hijack would take;
//! * a flood of 20,000 control datagrams a second from 1,000 source ports
//!   over eight 127.x addresses, during which a subscriber loses < 0.1 %;
//! * a subscriber behind a slow link (its own network namespace, a veth
//!   pair, `tc tbf`) costs another subscriber nothing. The pair's
//!   addresses (10.231.x.1/30 and .2) exist only between this machine's
//!   namespaces; without root or iproute2 the test prints `SKIPPED` and
//!   why.
//!
//! The HTTP side (5,000 idle connections) and the store (full disk,
//! corruption) print theirs in `http_hardening.rs` and `store.rs`.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};
use support::media::*;
use support::*;

/// A source no honest peer uses: `127.0.<net>.<host>`.
fn stranger(net: u8, host: u8) -> Peer {
    Peer::at(&format!("127.0.{net}.{host}"))
}

/// A live stream `cam1` published from a raw legacy peer: the publisher
/// and the SSRC the relay granted.
fn legacy_publisher(server: &Server) -> (Peer, u32) {
    let code = create_stream(server, "cam1");
    let publisher = Peer::new();
    publisher.send(server.ready.push, &rtp(pt::AUTH_REQ, false, 0, 0, 0, format!("cam1#{code}").as_bytes()));
    let ok = publisher.expect(pt::AUTH_OK);
    (publisher, ok.ssrc)
}

/// A raw legacy subscriber of `cam1` that acknowledged its SSRC.
fn legacy_subscriber(server: &Server) -> Peer {
    let sub = Peer::new();
    sub.send(server.ready.pull, &rtp(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
    let id = sub.expect(pt::CLIENT_ID_RSP).ssrc;
    sub.send(server.ready.pull, &rtp(pt::PULL_REQ, true, 0, 0, id, b"cam1"));
    let rsp = sub.expect(pt::PULL_RSP);
    sub.send(server.ready.pull, &rtp(pt::SSRC_ACK, false, 0, rsp.timestamp, id, b"cam1"));
    wait_clients_acked(server);
    sub
}

/// Waits until one client acknowledged a stream.
fn wait_clients_acked(server: &Server) {
    eventually("the subscriber acked", || {
        let clients = http("GET", &server.url("/api/clients"), None, &[]).json();
        clients["clients"][0]["subscriptions"][0]["acked"].as_bool() == Some(true)
    });
}

/// What an unknown source sends, per message type: (name, port is pull,
/// datagram).
fn probes(ssrc: u32) -> Vec<(&'static str, bool, Vec<u8>)> {
    let id = 0x1234_5678;
    vec![
        ("DELAY_REQ", false, rtp(pt::DELAY_REQ, false, 1, 0, 0, b"probe")),
        ("TS_DATA (granted SSRC)", false, rtp(pt::TS_DATA, false, 1, 0, ssrc, &[0x47; 188])),
        ("TS_DATA (unknown SSRC)", false, rtp(pt::TS_DATA, false, 1, 0, 99, &[0x47; 188])),
        ("AUTH_REQ (wrong code)", false, rtp(pt::AUTH_REQ, false, 1, 0, 0, b"cam1#wrong")),
        ("AUTH_REQ (unknown id)", false, rtp(pt::AUTH_REQ, false, 1, 0, 0, b"nope#code")),
        ("STOP_PUSH_REQ", false, rtp(pt::STOP_PUSH_REQ, false, 1, 0, ssrc, b"cam1")),
        ("CLIENT_ID_REQ", true, rtp(pt::CLIENT_ID_REQ, false, 1, 0, 0, b"")),
        ("HEARTBEAT (unknown id)", true, rtp(pt::HEARTBEAT, false, 1, 0, id, b"")),
        ("PULL_REQ (unknown id)", true, rtp(pt::PULL_REQ, true, 1, 0, id, b"cam1")),
        ("SSRC_ACK (unknown id)", true, rtp(pt::SSRC_ACK, false, 1, 0, id, b"cam1")),
        ("STOP_PULL_REQ", true, rtp(pt::STOP_PULL_REQ, false, 1, 0, id, b"")),
        ("RTCP NACK", true, vec![0x81, 205, 0, 3, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 99, 0, 1, 0, 0]),
        ("garbage", true, vec![0xff; 40]),
    ]
}

#[test]
fn an_unknown_source_gets_back_no_more_bytes_than_it_sent() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let (_publisher, ssrc) = legacy_publisher(&server);
    println!("amplification toward an unknown source (10 datagrams of each type, each from its own address):");
    println!("{:<26} {:>9} {:>9} {:>7}", "message", "bytes in", "bytes out", "ratio");
    for (i, (name, pull, datagram)) in probes(ssrc).into_iter().enumerate() {
        let peer = stranger(1, 1 + i as u8);
        let to = if pull { server.ready.pull } else { server.ready.push };
        for _ in 0..10 {
            peer.send(to, &datagram);
        }
        let sent = 10 * datagram.len();
        let back: usize = peer.drain(Duration::from_millis(400)).iter().map(|p| p.raw.len()).sum();
        let ratio = back as f64 / sent as f64;
        println!("{name:<26} {sent:>9} {back:>9} {ratio:>7.2}");
        assert!(back <= sent, "{name}: {back} bytes back for {sent}");
    }
}

#[test]
fn datagrams_forged_into_a_live_stream_reach_no_subscriber() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let (publisher, ssrc) = legacy_publisher(&server);
    let subscriber = legacy_subscriber(&server);
    // The SSRC is public (getAllStream lists it); forgers use it from 100
    // other addresses and ports, with sequence numbers just ahead of the
    // publisher's, and try to stop the stream.
    let forgers: Vec<Peer> = (0..100).map(|i| stranger(2 + i / 50, 1 + i % 50)).collect();
    let attempts = 20;
    for round in 0..attempts {
        let seq = 2 * round as u16;
        publisher.send(server.ready.push, &rtp(pt::TS_DATA, false, seq, 0, ssrc, b"GOOD"));
        for forger in &forgers {
            forger.send(server.ready.push, &rtp(pt::TS_DATA, false, seq + 1, 0, ssrc, b"EVIL"));
        }
        forgers[round].send(server.ready.push, &rtp(pt::STOP_PUSH_REQ, false, 0, 0, ssrc, b"cam1"));
    }
    let got = subscriber.drain(Duration::from_millis(500));
    let data: Vec<&Rtp> = got.iter().filter(|p| p.byte1 & 0x7f == pt::TS_DATA).collect();
    let evil = data.iter().filter(|p| p.payload == b"EVIL").count();
    let good = data.iter().filter(|p| p.payload == b"GOOD").count();
    let stopped = got.iter().any(|p| p.byte1 & 0x7f == pt::STREAM_STOPPED);
    let forged = forgers.len() * attempts;
    let refused = metric(&server, "rtprelay_ts_data_wrong_source_total");
    println!(
        "injection: {forged} forged TS_DATA and {attempts} forged STOP_PUSH_REQ; forwarded {evil}, \
         refused as the wrong source {refused}; the publisher's {good} of {attempts} delivered; stream stopped: {stopped}"
    );
    assert_eq!(evil, 0, "no forged datagram is forwarded");
    assert_eq!(refused, forged as u64, "every forgery is counted");
    assert_eq!(good, attempts, "the publisher's data all arrives");
    assert!(!stopped, "a forged stop stops nothing");
}

#[test]
fn a_client_id_guesser_gets_128_guesses_a_second_and_moves_nobody() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let (publisher, ssrc) = legacy_publisher(&server);
    let subscriber = legacy_subscriber(&server);
    let guesser = stranger(4, 1);
    let mut x: u32 = 0x9E37_79B9;
    let started = Instant::now();
    let guesses = 20_000;
    for _ in 0..guesses {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        guesser.send(server.ready.pull, &rtp(pt::HEARTBEAT, false, 0, 0, x, &[0; 88]));
    }
    let took = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    let limited = metric(&server, "rtprelay_client_ids_limited_total");
    let considered = guesses - limited;
    let per_second = considered as f64 / took.max(1.0);
    let live = 10_000.0;
    let hours = f64::from(u32::MAX) / live / 128.0 / 3600.0;
    println!(
        "guessing: {guesses} ids sent in {took:.2} s ({:.0}/s) from one IP; {considered} considered ({per_second:.0}/s), \
         {limited} refused unread; at the limit of 128/s against {live} live clients one hit takes {hours:.2} h per IP, \
         and a hit moves nobody who heartbeats",
        guesses as f64 / took
    );
    assert!(considered <= 128 * (took.ceil() as u64 + 2) + 256, "{considered} guesses got through in {took:.2} s");
    publisher.send(server.ready.push, &rtp(pt::TS_DATA, false, 1, 0, ssrc, b"GOOD"));
    assert!(
        subscriber.drain(Duration::from_millis(300)).iter().any(|p| p.payload == b"GOOD"),
        "the subscriber keeps its data"
    );
}

/// Sends `rate` datagrams a second, for `duration`, from 1,000 sockets over
/// eight 127.x addresses, to both of the relay's ports: client id requests,
/// heartbeats and pull requests naming random ids, acks, wrong auths,
/// stops and garbage. Returns (datagrams sent, seconds taken).
fn flood(server: &Server, rate: u64, duration: Duration) -> (u64, f64) {
    let sockets: Vec<UdpSocket> =
        (0..1_000).map(|i| UdpSocket::bind((format!("127.0.9.{}", 1 + i % 8).as_str(), 0)).unwrap()).collect();
    let kinds: [(SocketAddr, Vec<u8>); 8] = [
        (server.ready.pull, rtp(pt::CLIENT_ID_REQ, false, 0, 0, 0, b"")),
        (server.ready.pull, rtp(pt::HEARTBEAT, false, 0, 0, 7, b"")),
        (server.ready.pull, rtp(pt::PULL_REQ, true, 0, 0, 7, b"cam1")),
        (server.ready.pull, rtp(pt::SSRC_ACK, false, 0, 0, 7, b"cam1")),
        (server.ready.pull, rtp(pt::STOP_PULL_REQ, false, 0, 0, 7, b"")),
        (server.ready.push, rtp(pt::AUTH_REQ, false, 0, 0, 0, b"cam1#wrong")),
        (server.ready.push, rtp(pt::STOP_PUSH_REQ, false, 0, 0, 7, b"cam1")),
        (server.ready.push, vec![0x80; 30]),
    ];
    let total = rate * duration.as_millis() as u64 / 1_000;
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        // Paced by the clock: catch up to rate × elapsed, then yield.
        let due = (rate as f64 * started.elapsed().as_secs_f64()) as u64;
        while sent < due.min(total) {
            let (to, datagram) = &kinds[(sent % 8) as usize];
            let mut datagram = datagram.clone();
            datagram[8..12].copy_from_slice(&(sent as u32).wrapping_mul(0x9E37_79B9).to_be_bytes());
            let _ = sockets[(sent % 1_000) as usize].send_to(&datagram, to);
            sent += 1;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    (sent, started.elapsed().as_secs_f64())
}

/// Pushes the fixture in real time to `cam1` while `during` runs, then
/// waits for the pullers; returns what `during` returned.
fn push_fixture_while<T>(server: &Server, code: &str, during: impl FnOnce() -> T) -> T {
    let mut pusher = Guard(cmd_spawn(push(server, "cam1", code, &["--realtime", FIXTURE])));
    let result = during();
    let status = wait_exit(&mut pusher, fixture_duration() + WAIT);
    assert!(status.success(), "push failed");
    result
}

#[test]
fn a_flood_of_20000_control_datagrams_a_second_costs_a_subscriber_under_a_thousandth() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let code = create_stream(&server, "cam1");
    let out = path_in(&dir, "out.ts");
    let mut puller = Guard(cmd_spawn(pull(&server, &["cam1"], out.to_str().unwrap(), &[])));
    wait_clients(&server, 1);
    let rx_before = metric(&server, "rtprelay_rx_datagrams_total");
    let (sent, took) = push_fixture_while(&server, &code, || flood(&server, 20_000, fixture_duration()));
    assert!(wait_exit(&mut puller, WAIT).success(), "pull exits 0 once its stream stopped");
    let loss = ts_loss(&fixture(), &std::fs::read(&out).unwrap());
    let received = metric(&server, "rtprelay_rx_datagrams_total") - rx_before;
    println!(
        "flood: {sent} control datagrams in {took:.2} s ({:.0}/s) from 1000 ports on 8 addresses; \
         the relay read {received} datagrams in all; the subscriber lost {:.4} % of TS packets",
        sent as f64 / took,
        loss * 100.0
    );
    assert!(received >= sent / 2, "the flood reached the relay ({received} of {sent} read)");
    assert!(loss < 0.001, "the subscriber lost {:.3} %", loss * 100.0);
}

/// A network namespace joined to this one by a veth pair whose relay side
/// sends through `tc tbf` at `rate`; removed on drop.
struct SlowLink {
    ns: String,
    host_if: String,
    /// The relay side's address and the namespace side's.
    addrs: (String, String),
}

impl SlowLink {
    /// The link, or why this machine cannot make one.
    fn new(rate: &str) -> Result<SlowLink, String> {
        let id = std::process::id() % 100_000;
        let net = 1 + id % 250;
        let link = SlowLink {
            ns: format!("rtpslow{id}"),
            host_if: format!("rsh{id}"),
            addrs: (format!("10.231.{net}.1"), format!("10.231.{net}.2")),
        };
        let peer_if = format!("rsn{id}");
        let steps: [&[&str]; 9] = [
            &["ip", "netns", "add", &link.ns],
            &["ip", "link", "add", &link.host_if, "type", "veth", "peer", "name", &peer_if],
            &["ip", "link", "set", &peer_if, "netns", &link.ns],
            &["ip", "addr", "add", &format!("{}/30", link.addrs.0), "dev", &link.host_if],
            &["ip", "link", "set", &link.host_if, "up"],
            &["ip", "netns", "exec", &link.ns, "ip", "addr", "add", &format!("{}/30", link.addrs.1), "dev", &peer_if],
            &["ip", "netns", "exec", &link.ns, "ip", "link", "set", &peer_if, "up"],
            &["ip", "netns", "exec", &link.ns, "ip", "link", "set", "lo", "up"],
            &[
                "tc",
                "qdisc",
                "add",
                "dev",
                &link.host_if,
                "root",
                "tbf",
                "rate",
                rate,
                "burst",
                "4kb",
                "latency",
                "50ms",
            ],
        ];
        for step in steps {
            let out =
                Command::new(step[0]).args(&step[1..]).output().map_err(|e| format!("{}: {e}", step.join(" ")))?;
            if !out.status.success() {
                return Err(format!("{}: {}", step.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
            }
        }
        Ok(link)
    }

    /// `cmd` run inside the namespace.
    fn inside(&self, cmd: &Command) -> Command {
        let mut wrapped = Command::new("ip");
        wrapped.args(["netns", "exec", &self.ns]).arg(cmd.get_program()).args(cmd.get_args());
        wrapped
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host_if]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

#[test]
fn a_subscriber_behind_a_slow_link_costs_another_nothing() {
    let link = match SlowLink::new("256kbit") {
        Ok(link) => link,
        Err(why) => {
            println!("SKIPPED: no network namespace with a slow veth link here ({why})");
            return;
        }
    };
    let dir = temp_dir();
    // The pull socket on every address, so the namespace reaches it.
    let server = Server::start(dir.path(), &["--pull-addr", "0.0.0.0:0"], &[]);
    let code = create_stream(&server, "cam1");
    let fast_out = path_in(&dir, "fast.ts");
    let slow_out = path_in(&dir, "slow.ts");
    let port = server.ready.pull.port();
    let fast_cmd = pull_from(&format!("127.0.0.1:{port}"), &["cam1"], fast_out.to_str().unwrap(), &[]);
    let mut fast = Guard(cmd_spawn(fast_cmd));
    let slow_server = format!("{}:{port}", link.addrs.0);
    let slow_cmd = pull_from(&slow_server, &["cam1"], slow_out.to_str().unwrap(), &[]);
    let mut slow = Guard(cmd_spawn(link.inside(&slow_cmd)));
    wait_clients(&server, 2);
    push_fixture_while(&server, &code, || ());
    assert!(wait_exit(&mut fast, WAIT).success(), "the fast pull exits 0");
    let _ = wait_exit(&mut slow, WAIT + WAIT);
    let sent = fixture();
    let fast_loss = ts_loss(&sent, &std::fs::read(&fast_out).unwrap());
    let slow_loss = ts_loss(&sent, &std::fs::read(&slow_out).unwrap_or_default());
    let bitrate = sent.len() as f64 * 8.0 / fixture_duration().as_secs_f64() / 1_000.0;
    let overflow = metric(&server, "rtprelay_tx_queue_overflow_total");
    println!(
        "slow link: a {bitrate:.0} kbit/s stream to one subscriber behind 256 kbit/s (tc tbf) and one on loopback; \
         the slow one lost {:.1} %, the fast one {:.4} %; relay send-queue overflows: {overflow}",
        slow_loss * 100.0,
        fast_loss * 100.0
    );
    assert!(slow_loss > 0.2, "the slow link really was slower than the stream");
    assert_eq!(fast_loss, 0.0, "the fast subscriber gets everything");
}
