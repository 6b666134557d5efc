//! The task that drives one core client over one UDP socket.

use crate::clock::Clock;
use bytes::Bytes;
use rtprelay_core::{Endpoint, Instant, Port};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// A command: runs against the machine at the given instant.
type Call<M> = Box<dyn FnOnce(&mut M, Instant) + Send>;

/// Events buffered for a slow reader before the driver waits for it.
const EVENT_BUFFER: usize = 4096;

/// Most datagrams taken from the client per `poll_transmit`.
const MAX_SEGMENTS: usize = 16;

/// The handle's side of a driver task.
pub(crate) struct Handle<M: Endpoint> {
    calls: mpsc::Sender<Call<M>>,
    events: mpsc::Receiver<M::Event>,
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl<M> Handle<M>
where
    M: Endpoint + Send + 'static,
    M::Event: Send + 'static,
{
    /// Binds `local`, connects to the relay's `port` socket at `relay`
    /// (only its datagrams are read) and starts the task driving the
    /// machine `make` builds from the clock, the current instant, a seed
    /// from the OS and the relay's address as the socket sees it.
    pub(crate) async fn spawn(
        local: SocketAddr,
        relay: SocketAddr,
        port: Port,
        make: impl FnOnce(Clock, Instant, [u8; 32], SocketAddr) -> M,
    ) -> io::Result<Self> {
        let socket = bind(local)?;
        socket.connect(relay).await?;
        let local = socket.local_addr()?;
        let relay = socket.peer_addr()?;
        let seed = crate::secrets::seed().map_err(io::Error::other)?;
        let clock = Clock::start();
        let machine = make(clock, clock.now(), seed, relay);
        let (calls, call_rx) = mpsc::channel(64);
        let (event_tx, events) = mpsc::channel(EVENT_BUFFER);
        let peer = (port, relay);
        let task = tokio::spawn(run(machine, socket, peer, clock, call_rx, event_tx));
        Ok(Handle { calls, events, local, task })
    }

    /// Runs `f` on the machine inside the task and returns its result;
    /// `None` if the task has ended.
    pub(crate) async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut M, Instant) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let call: Call<M> = Box::new(move |m, now| {
            let _ = tx.send(f(m, now));
        });
        self.calls.send(call).await.ok()?;
        rx.await.ok()
    }

    pub(crate) async fn next_event(&mut self) -> Option<M::Event> {
        self.events.recv().await
    }

    /// The first event `want` accepts within `within`; the events before
    /// it are dropped. `None` on timeout or once the client is gone.
    pub(crate) async fn wait_for(&mut self, within: Duration, want: impl Fn(&M::Event) -> bool) -> Option<M::Event> {
        let wait = async {
            while let Some(event) = self.events.recv().await {
                if want(&event) {
                    return Some(event);
                }
            }
            None
        };
        tokio::time::timeout(within, wait).await.ok().flatten()
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl<M: Endpoint> Drop for Handle<M> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The call contract, forever: feed the machine, send what it queued,
/// pass its events on, sleep until its deadline. Every datagram read comes
/// from `peer` (the relay socket the client's socket is connected to).
async fn run<M: Endpoint>(
    mut machine: M,
    socket: UdpSocket,
    (port, relay): (Port, SocketAddr),
    clock: Clock,
    mut calls: mpsc::Receiver<Call<M>>,
    events: mpsc::Sender<M::Event>,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        while let Some(transmit) = machine.poll_transmit(MAX_SEGMENTS) {
            for datagram in transmit.segments {
                // A refused or unreachable relay is the protocol's business
                // (retries, timeouts), not the driver's.
                let _ = socket.send(&datagram).await;
            }
        }
        while let Some(event) = machine.poll_event() {
            // A dropped receiver is fine: the owner stopped listening.
            let _ = events.send(event).await;
        }
        let deadline = machine.poll_timeout().map(|at| clock.deadline(at));
        tokio::select! {
            received = socket.recv(&mut buf) => {
                if let Ok(n) = received {
                    machine.handle_datagram(clock.now(), port, relay, Bytes::copy_from_slice(&buf[..n]));
                }
            }
            call = calls.recv() => match call {
                Some(call) => call(&mut machine, clock.now()),
                None => return,
            },
            () = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                machine.handle_timeout(clock.now());
            }
        }
    }
}

/// Receive buffer asked for: a burst of a few hundred kilobytes (a file
/// pushed without `--realtime`, a join replay) must not overflow it while
/// the task is busy.
const RECV_BUFFER: usize = 4 << 20;

/// A non-blocking UDP socket on `local` with a large receive buffer (the
/// kernel may grant less; that only costs burst tolerance).
fn bind(local: SocketAddr) -> io::Result<UdpSocket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(local), socket2::Type::DGRAM, None)?;
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&local.into())?;
    UdpSocket::from_std(socket.into())
}
