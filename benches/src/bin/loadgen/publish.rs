//! Legacy publishers: `AUTH_REQ` (again every few seconds, as deployed
//! publishers do), then `TS_DATA` at a steady rate, each payload starting
//! with its send time and index so receivers can measure latency and loss.

use rtprelay_core::packet::pt;
use rtprelay_core::packet::rtp::Header;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often publishers authenticate again while they send.
const REAUTH: Duration = Duration::from_secs(5);

/// Times shared by the publishers and the receivers, in nanoseconds since
/// one origin.
#[derive(Clone, Copy)]
pub(crate) struct Clock {
    origin: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock { origin: Instant::now() }
    }

    /// Nanoseconds since the origin.
    pub(crate) fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    /// The instant `ns` after the origin.
    pub(crate) fn at(&self, ns: u64) -> Instant {
        self.origin + Duration::from_nanos(ns)
    }
}

/// Send times of packets that count: `[start, end)`, ns since the origin,
/// set once everyone has joined (until then nothing counts).
pub(crate) struct Window {
    start: AtomicU64,
    end: AtomicU64,
}

impl Window {
    pub(crate) fn unset() -> Self {
        Window { start: AtomicU64::new(u64::MAX), end: AtomicU64::new(u64::MAX) }
    }

    pub(crate) fn set(&self, start: u64, end: u64) {
        self.end.store(end, Ordering::Relaxed);
        self.start.store(start, Ordering::Relaxed);
    }

    pub(crate) fn start(&self) -> u64 {
        self.start.load(Ordering::Relaxed)
    }

    pub(crate) fn end(&self) -> u64 {
        self.end.load(Ordering::Relaxed)
    }

    pub(crate) fn contains(&self, ns: u64) -> bool {
        (self.start()..self.end()).contains(&ns)
    }
}

/// The send time and index a `TS_DATA` payload starts with, if it is one.
pub(crate) fn stamp_of(datagram: &[u8]) -> Option<u64> {
    (datagram.len() >= 12 + 16 && datagram[1] == pt::TS_DATA)
        .then(|| u64::from_be_bytes(datagram[12..20].try_into().expect("8 bytes")))
}

/// One publisher: its socket, stream and sequence.
pub(crate) struct Publisher {
    socket: UdpSocket,
    ssrc: u32,
    sequence: u16,
    index: u64,
    /// Its `AUTH_REQ` (none for a reference forwarder, which wants none).
    auth: Option<Vec<u8>>,
}

impl Publisher {
    /// A publisher on `socket` (connected to where it sends) that has no
    /// auth to do: it sends `ssrc` straight away.
    pub(crate) fn unauthenticated(socket: UdpSocket, ssrc: u32) -> Self {
        Publisher { socket, ssrc, sequence: 0, index: 0, auth: None }
    }

    /// Authenticates `live_id` on `socket` (connected to the push port)
    /// and returns the publisher of the stream's SSRC.
    pub(crate) fn authenticate(socket: UdpSocket, live_id: &str, code: &str) -> Self {
        let auth = Header::new(pt::AUTH_REQ).encode(format!("{live_id}#{code}").as_bytes()).to_vec();
        socket.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
        let mut buf = [0; 2048];
        for _ in 0..20 {
            socket.send(&auth).expect("send AUTH_REQ");
            while let Ok(n) = socket.recv(&mut buf) {
                match buf[1] {
                    pt::AUTH_OK if n >= 12 => {
                        let ssrc = u32::from_be_bytes(buf[8..12].try_into().expect("4 bytes"));
                        return Publisher { socket, ssrc, sequence: 0, index: 0, auth: Some(auth) };
                    }
                    pt::AUTH_REFUSED => panic!("the relay refused {live_id}"),
                    _ => {}
                }
            }
        }
        panic!("no answer to the auth of {live_id}");
    }

    fn send(&mut self, now_ns: u64, payload: &mut [u8]) {
        payload[..8].copy_from_slice(&now_ns.to_be_bytes());
        payload[8..16].copy_from_slice(&self.index.to_be_bytes());
        let header = Header { sequence: self.sequence, ssrc: self.ssrc, ..Header::new(pt::TS_DATA) };
        // A full socket buffer or an ICMP error is loss, as on a network.
        let _ = self.socket.send(&header.encode(payload));
        self.sequence = self.sequence.wrapping_add(1);
        self.index += 1;
    }
}

/// Sends `rate` packets a second from each publisher, round robin, from
/// `start` until the window ends; returns how many were sent in the
/// window. Late turns catch up at once (a busy machine delays sleeps).
pub(crate) fn run(
    mut publishers: Vec<Publisher>,
    clock: Clock,
    start: u64,
    window: &Window,
    rate: u64,
    payload: usize,
) -> u64 {
    let mut payload = vec![0x47; payload.max(16)];
    let gap_ns = 1_000_000_000 / (rate * publishers.len() as u64).max(1);
    let (mut next, mut counted, mut reauth) = (0u64, 0u64, start);
    loop {
        let due = start + next * gap_ns;
        if due >= window.end() {
            return counted;
        }
        if reauth <= due {
            for p in &publishers {
                if let Some(auth) = &p.auth {
                    let _ = p.socket.send(auth);
                }
            }
            reauth += REAUTH.as_nanos() as u64;
        }
        let now = clock.now_ns();
        if due > now {
            std::thread::sleep(Duration::from_nanos(due - now));
        }
        let now = clock.now_ns();
        let i = next as usize % publishers.len();
        publishers[i].send(now, &mut payload);
        counted += u64::from(window.contains(now));
        next += 1;
    }
}
