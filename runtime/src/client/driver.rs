//! A core client on its own task: the relay's packet loop
//! ([`crate::udp::Driver`]) over one UDP socket, and the handle its owner
//! calls it through. The machine runs [`Watched`], so the handle can tell
//! how long the relay has been silent.

use super::watch::Watched;
use crate::clock::Clock;
use crate::udp::UdpEndpoint;
use crate::udp::driver::{Call, Driver};
use rtprelay_core::{Endpoint, Instant, Port};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Events buffered for a slow reader before the driver waits for it.
const EVENT_BUFFER: usize = 4096;

/// The handle's side of a driver task.
pub(crate) struct Handle<M: Endpoint> {
    calls: mpsc::Sender<Call<Watched<M>>>,
    events: mpsc::Receiver<M::Event>,
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl<M> Handle<M>
where
    M: Endpoint + Send + 'static,
    M::Event: Send + 'static,
{
    /// Binds `local` and starts the task driving the machine `make` builds
    /// from the clock, the current instant, a seed from the OS and the
    /// address of the relay's `port` socket, `relay` (the machine drops
    /// datagrams from anywhere else).
    pub(crate) async fn spawn(
        local: SocketAddr,
        relay: SocketAddr,
        port: Port,
        make: impl FnOnce(Clock, Instant, [u8; 32], SocketAddr) -> M,
    ) -> io::Result<Self> {
        let socket = UdpEndpoint::bind(local, port, RECV_BUFFER, 0)?;
        let local = socket.local_addr()?;
        let seed = crate::secrets::seed().map_err(io::Error::other)?;
        let clock = Clock::start();
        let now = clock.now();
        let machine = Watched::new(make(clock, now, seed, relay), relay, port, now);
        let (calls, call_rx) = mpsc::channel(64);
        let (event_tx, events) = mpsc::channel(EVENT_BUFFER);
        let driver = Driver::new(machine, clock, [socket], call_rx, event_tx);
        let task = tokio::spawn(async move {
            // Runs until the handle is dropped (which aborts it); a socket
            // error ends it, and the handle's calls then answer `None`.
            if let Err(e) = driver.run(std::future::pending(), Duration::ZERO, |_, _| {}).await {
                tracing::debug!(error = %e, "client packet loop stopped");
            }
        });
        Ok(Handle { calls, events, local, task })
    }

    /// Runs `f` on the machine inside the task and returns its result;
    /// `None` if the task has ended.
    pub(crate) async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut M, Instant) -> R + Send + 'static,
    ) -> Option<R> {
        self.call_watched(move |w, now| f(&mut w.inner, now)).await
    }

    /// As [`Handle::call`], with the watch around the machine.
    async fn call_watched<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Watched<M>, Instant) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let call: Call<Watched<M>> = Box::new(move |m, now| {
            let _ = tx.send(f(m, now));
        });
        self.calls.send(call).await.ok()?;
        rx.await.ok()
    }

    /// How long the relay has been silent (since its last datagram, or
    /// since the client started), and whether it ever answered; `None` if
    /// the task has ended.
    pub(crate) async fn relay_silence(&self) -> Option<RelaySilence> {
        self.call_watched(|w, now| RelaySilence { silent: w.silent_for(now), heard_once: w.heard_once() }).await
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

/// How long the relay has been silent, as a client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelaySilence {
    /// Since the relay's last datagram (or the client's start).
    pub silent: Duration,
    /// Whether the relay ever answered this client.
    pub heard_once: bool,
}

/// Receive buffer asked for: a burst of a few hundred kilobytes (a file
/// pushed without `--realtime`, a join replay) must not overflow it while
/// the task is busy (the kernel may grant less; that only costs burst
/// tolerance).
const RECV_BUFFER: usize = 4 << 20;
