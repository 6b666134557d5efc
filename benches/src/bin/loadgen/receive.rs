//! The subscribers: one socket each, on its own 127.x.y.z address (so the
//! relay's per-IP limits never bite), read with `recvmmsg` (quinn-udp)
//! with GRO off, on one thread or a few. Against the relay each is a raw legacy
//! subscriber: `CLIENT_ID_REQ`, `PULL_REQ`, `SSRC_ACK` on every
//! `PULL_RSP`, and a `HEARTBEAT` every second.

use crate::publish::{Clock, Window, stamp_of};
use crate::stats::Tally;
use quinn_udp::{RecvMeta, UdpSocketState};
use rtprelay_core::packet::pt;
use rtprelay_core::packet::rtp::Header;
use rtprelay_core::packet::text;
use std::cell::RefCell;
use std::io::IoSliceMut;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::Interest;
use tokio::sync::oneshot;

/// Receive buffer asked for per subscriber socket.
const SOCKET_BUFFER: usize = 1 << 20;
/// Largest datagram read.
const DATAGRAM: usize = 2048;

/// The loopback address of subscriber `k` (127.100.0.1 onwards; each
/// octet from 1 to 250).
pub(crate) fn subscriber_ip(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 100 + (k / 62_500) as u8, (k / 250 % 250 + 1) as u8, (k % 250 + 1) as u8)
}

/// Binds subscriber `k`'s socket.
pub(crate) fn bind(k: usize) -> UdpSocket {
    let socket = UdpSocket::bind((subscriber_ip(k), 0)).expect("bind a subscriber");
    socket.set_nonblocking(true).expect("non-blocking");
    socket
}

/// What a subscriber does before data comes.
#[derive(Clone)]
pub(crate) enum Join {
    /// The legacy handshake with the relay's pull socket, for a stream.
    Relay { pull: SocketAddr, live_id: String },
    /// Nothing: a reference forwarder already knows its address.
    Direct,
}

/// The receivers' threads.
pub(crate) struct Receivers {
    joined: Arc<AtomicUsize>,
    threads: Vec<(oneshot::Sender<()>, std::thread::JoinHandle<Tally>)>,
}

impl Receivers {
    /// Starts the subscribers on `sockets`, each joining as `join` says,
    /// counting stream packets whose send time is in `window`, spread
    /// round robin over `threads` threads.
    pub(crate) fn start(sockets: Vec<(UdpSocket, Join)>, threads: usize, clock: Clock, window: Arc<Window>) -> Self {
        let joined = Arc::new(AtomicUsize::new(0));
        let mut shares: Vec<Vec<(UdpSocket, Join)>> = (0..threads.max(1)).map(|_| Vec::new()).collect();
        let n = shares.len();
        for (k, socket) in sockets.into_iter().enumerate() {
            shares[k % n].push(socket);
        }
        let threads = shares
            .into_iter()
            .map(|share| {
                let (stop, stopped) = oneshot::channel();
                let (count, window) = (joined.clone(), window.clone());
                let thread = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                    let local = tokio::task::LocalSet::new();
                    let shared = Rc::new(Shared::new(clock, window));
                    for (socket, join) in share {
                        local.spawn_local(subscriber(socket, join, shared.clone(), count.clone()));
                    }
                    runtime.block_on(local.run_until(async {
                        let _ = stopped.await;
                    }));
                    drop(local);
                    Rc::try_unwrap(shared).ok().expect("subscribers stopped").tally.into_inner()
                });
                (stop, thread)
            })
            .collect();
        Receivers { joined, threads }
    }

    /// Subscribers that have joined (acknowledged their stream).
    pub(crate) fn joined(&self) -> usize {
        self.joined.load(Ordering::Relaxed)
    }

    /// Stops them; returns what they got, all threads together.
    pub(crate) fn stop(self) -> Tally {
        let mut total = Tally::new();
        for (stop, thread) in self.threads {
            let _ = stop.send(());
            total.merge(&thread.join().expect("receivers thread"));
        }
        total
    }
}

/// What the subscribers share on their thread.
struct Shared {
    clock: Clock,
    window: Arc<Window>,
    tally: RefCell<Tally>,
    bufs: RefCell<Vec<[u8; DATAGRAM]>>,
}

impl Shared {
    fn new(clock: Clock, window: Arc<Window>) -> Self {
        let bufs = vec![[0; DATAGRAM]; quinn_udp::BATCH_SIZE];
        Shared { clock, window, tally: RefCell::new(Tally::new()), bufs: RefCell::new(bufs) }
    }
}

/// One subscriber's handshake state against the relay.
struct Handshake {
    pull: SocketAddr,
    live_id: String,
    client_id: Option<u32>,
    acked: bool,
}

impl Handshake {
    /// What to send once a second: the request not answered yet, and the
    /// heartbeat once there is a client id.
    fn tick(&self) -> Vec<Vec<u8>> {
        match self.client_id {
            None => vec![Header::new(pt::CLIENT_ID_REQ).encode(&[]).to_vec()],
            Some(id) if self.acked => vec![heartbeat(id)],
            Some(id) => vec![self.pull_req(id), heartbeat(id)],
        }
    }

    fn pull_req(&self, id: u32) -> Vec<u8> {
        Header { marker: true, ssrc: id, ..Header::new(pt::PULL_REQ) }.encode(self.live_id.as_bytes()).to_vec()
    }

    /// The answer to a control datagram, and whether it completes the join.
    fn on_control(&mut self, datagram: &[u8]) -> (Option<Vec<u8>>, bool) {
        let ssrc = u32::from_be_bytes(datagram[8..12].try_into().expect("4 bytes"));
        match (datagram[1] & 0x7f, self.client_id) {
            (pt::CLIENT_ID_RSP, None) => {
                self.client_id = Some(ssrc);
                (Some(self.pull_req(ssrc)), false)
            }
            (pt::PULL_RSP, Some(id)) if text::parse_pull_rsp(&datagram[12..]).iter().any(|(_, s)| s.is_some()) => {
                let ack = Header { ssrc: id, ..Header::new(pt::SSRC_ACK) }.encode(self.live_id.as_bytes());
                let first = !self.acked;
                self.acked = true;
                (Some(ack.to_vec()), first)
            }
            _ => (None, false),
        }
    }
}

fn heartbeat(id: u32) -> Vec<u8> {
    Header { ssrc: id, ..Header::new(pt::HEARTBEAT) }.encode(&[]).to_vec()
}

async fn subscriber(socket: UdpSocket, join: Join, shared: Rc<Shared>, joined: Arc<AtomicUsize>) {
    let state = UdpSocketState::new((&socket).into()).expect("socket state");
    let _ = state.set_recv_buffer_size((&socket).into(), SOCKET_BUFFER);
    // quinn-udp turns GRO on; receivers count datagrams one by one.
    let _ = nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::UdpGroSegment, &false);
    let socket = tokio::net::UdpSocket::from_std(socket).expect("register");
    let mut handshake = match join {
        Join::Relay { pull, live_id } => Some(Handshake { pull, live_id, client_id: None, acked: false }),
        Join::Direct => {
            joined.fetch_add(1, Ordering::Relaxed);
            None
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut meta = vec![RecvMeta::default(); quinn_udp::BATCH_SIZE];
    loop {
        tokio::select! {
            _ = tick.tick(), if handshake.is_some() => {
                if let Some(h) = &handshake {
                    for datagram in h.tick() {
                        let _ = socket.try_send_to(&datagram, h.pull);
                    }
                }
            }
            r = socket.readable() => {
                r.expect("readable");
                let mut bufs = shared.bufs.borrow_mut();
                let mut slices: Vec<IoSliceMut<'_>> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                let Ok(n) = socket.try_io(Interest::READABLE, || state.recv((&socket).into(), &mut slices, &mut meta)) else {
                    continue;
                };
                let now = shared.clock.now_ns();
                let mut tally = shared.tally.borrow_mut();
                for (m, buf) in meta[..n].iter().zip(slices.iter()) {
                    let datagram = &buf[..m.len];
                    if let Some(sent) = stamp_of(datagram) {
                        if shared.window.contains(sent) {
                            tally.record(now.saturating_sub(sent));
                        }
                    } else if let Some(h) = handshake.as_mut().filter(|_| datagram.len() >= 12) {
                        let (answer, done) = h.on_control(datagram);
                        if let Some(answer) = answer {
                            let _ = socket.try_send_to(&answer, h.pull);
                        }
                        if done {
                            joined.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriber_addresses_are_distinct_and_usable() {
        let ips: std::collections::HashSet<_> = (0..200_000).map(subscriber_ip).collect();
        assert_eq!(ips.len(), 200_000);
        assert!(ips.iter().all(|ip| ip.is_loopback() && ip.octets()[3] != 0 && ip.octets()[3] != 255));
    }
}
