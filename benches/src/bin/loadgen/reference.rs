//! The reference forwarders the relay is measured against, on a thread of
//! this process: `recvmmsg` in, and either one `sendmmsg` per packet to
//! all its stream's subscribers (what a minimal C forwarder does), or the
//! packets of each receive batch sent to each subscriber as one GSO train.
//! They know their subscribers up front and do nothing else.

use bytes::Bytes;
use rtprelay::udp::UdpEndpoint;
use rtprelay::udp::mmsg::{Batch, MAX_DATAGRAMS};
use rtprelay_core::Port;
use std::collections::HashMap;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Socket buffers asked for, as the relay's default.
const SOCKET_BUFFER: usize = 4 << 20;
/// Each receive buffer holds a datagram or a GRO train.
const RECV_BUFFER: usize = 64 * 1024;
/// Most datagrams in one GSO train (the kernel's limit is 64).
const MAX_TRAIN: usize = 64;

/// How a reference forwarder sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One `sendmmsg` per packet, one message per subscriber.
    Sendmmsg,
    /// Per receive batch, one GSO train per subscriber, many subscribers
    /// per `sendmmsg`.
    Gso,
}

/// A running reference forwarder.
pub(crate) struct Forwarder {
    /// Where publishers send.
    pub(crate) addr: SocketAddr,
    /// Its thread's `stat` file, for its CPU time.
    pub(crate) stat: String,
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Forwarder {
    /// Starts a forwarder of `kind` sending each SSRC's packets to its
    /// subscribers in `routes`.
    pub(crate) fn start(kind: Kind, routes: HashMap<u32, Vec<SocketAddr>>) -> Self {
        let (ready_tx, ready) = mpsc::channel();
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let any = SocketAddr::from(([127, 0, 0, 1], 0));
                let socket = UdpEndpoint::bind(any, Port::Push, SOCKET_BUFFER, SOCKET_BUFFER).expect("bind");
                let tid = nix::unistd::gettid();
                ready_tx.send((socket.local_addr().expect("address"), tid)).expect("report ready");
                tokio::select! {
                    _ = stopped => {}
                    r = forward(&socket, kind, &routes) => r.expect("forwarder socket"),
                }
            });
        });
        let (addr, tid) = ready.recv().expect("forwarder started");
        Forwarder { addr, stat: format!("/proc/self/task/{tid}/stat"), stop, thread }
    }

    /// Stops it.
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().expect("forwarder thread");
    }
}

async fn forward(socket: &UdpEndpoint, kind: Kind, routes: &HashMap<u32, Vec<SocketAddr>>) -> io::Result<()> {
    let mut bufs = vec![vec![0u8; RECV_BUFFER]; quinn_udp::BATCH_SIZE];
    let mut meta = vec![quinn_udp::RecvMeta::default(); quinn_udp::BATCH_SIZE];
    loop {
        socket.readable().await?;
        let mut slices: Vec<IoSliceMut<'_>> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let n = match socket.try_recv(&mut slices, &mut meta) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        // Packets of this batch by stream, in arrival order.
        let mut streams: Vec<(u32, Vec<Bytes>)> = Vec::new();
        for (m, buf) in meta[..n].iter().zip(&slices) {
            for datagram in buf[..m.len].chunks(m.stride.max(1)) {
                let Some(ssrc) = datagram.get(8..12).map(|s| u32::from_be_bytes(s.try_into().expect("4 bytes"))) else {
                    continue;
                };
                let packet = Bytes::copy_from_slice(datagram);
                match streams.iter_mut().find(|(s, _)| *s == ssrc) {
                    Some((_, packets)) => packets.push(packet),
                    None => streams.push((ssrc, vec![packet])),
                }
            }
        }
        let mut batch = Batch::default();
        for (ssrc, packets) in &streams {
            let Some(subscribers) = routes.get(ssrc) else { continue };
            match kind {
                Kind::Sendmmsg => {
                    for packet in packets {
                        let one = std::slice::from_ref(packet);
                        send_all(socket, &mut batch, subscribers.iter().map(|&to| (to, one))).await?;
                    }
                }
                Kind::Gso => {
                    let trains = packets.chunks(MAX_TRAIN.min(MAX_DATAGRAMS));
                    let messages = trains.flat_map(|train| subscribers.iter().map(move |&to| (to, train)));
                    send_all(socket, &mut batch, messages).await?;
                }
            }
        }
    }
}

/// Sends `messages` in as few `sendmmsg` calls as fit, waiting while the
/// socket is full; a message that fails on its own is dropped.
async fn send_all<'a>(
    socket: &UdpEndpoint,
    batch: &mut Batch<'a>,
    messages: impl Iterator<Item = (SocketAddr, &'a [Bytes])>,
) -> io::Result<()> {
    for (to, datagrams) in messages {
        if !batch.push(to, datagrams) {
            send_batch(socket, batch).await?;
            batch.push(to, datagrams);
        }
    }
    send_batch(socket, batch).await
}

async fn send_batch(socket: &UdpEndpoint, batch: &mut Batch<'_>) -> io::Result<()> {
    let mut from = 0;
    while from < batch.len() {
        match socket.try_send_batch(batch, from) {
            Ok(n) => from += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => socket.writable().await?,
            Err(_) => from += 1,
        }
    }
    batch.clear();
    Ok(())
}
