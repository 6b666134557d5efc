//! The packet loop: one tokio task owns a core state machine (the relay,
//! or a push or pull client) and its sockets, and follows the core's call
//! contract ([`Endpoint`], docs/architecture.md): receive in batches and
//! feed the machine, drain its events after every call, send its transmits
//! in batches ([`super::send`]: one `sendmmsg` for many destinations, GSO
//! for several datagrams to one), capped per turn so receiving is never
//! starved, and sleep until `poll_timeout`. Calls from
//! other tasks (operator commands, a client's publish) arrive as closures
//! run inside the loop, so nothing else ever touches the machine.

use super::UdpEndpoint;
use super::send::{BATCH_DATAGRAMS, SendQueue};
use crate::clock::Clock;
use bytes::Bytes;
use rtprelay_core::{Endpoint, Instant, Port};
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::time::Duration;
use tokio::sync::mpsc;

/// A call to run on the machine inside the loop, at the given instant.
pub type Call<E> = Box<dyn FnOnce(&mut E, Instant) + Send>;

/// Where the loop hands a machine's events: the log for the relay, a
/// channel for a client's owner. Delivery may wait (a slow reader holds
/// the loop back rather than lose events).
pub trait Events<Event>: Send + 'static {
    /// Takes one event.
    fn deliver(&mut self, event: Event) -> impl Future<Output = ()> + Send;
}

/// Events to a channel; a closed receiver only means nobody listens now.
impl<Event: Send + 'static> Events<Event> for mpsc::Sender<Event> {
    async fn deliver(&mut self, event: Event) {
        let _ = self.send(event).await;
    }
}

/// Receive batches read per socket per loop turn.
const RECV_BATCHES_PER_TURN: usize = 8;
/// Datagrams sent per loop turn before the loop looks at its sockets again.
const SENDS_PER_TURN: usize = 1024;
/// Each receive buffer holds one datagram or one GRO train (at most 64 KiB).
const RECV_BUFFER: usize = 64 * 1024;
/// Most datagrams asked of the core per transmit.
const MAX_SEGMENTS: usize = 64;

/// Receive buffers for one batch.
struct RecvBuffers {
    bufs: Vec<Box<[u8]>>,
    meta: Vec<quinn_udp::RecvMeta>,
}

/// Why the loop woke up.
enum Wake<E> {
    Shutdown,
    Readable(usize),
    Call(Option<Call<E>>),
    Timeout,
    Continue,
}

/// The packet loop's state.
pub struct Driver<E: Endpoint, S> {
    machine: E,
    clock: Clock,
    /// The sockets by [`Port`]: the relay has both, a client the one it
    /// talks to the relay through.
    sockets: [Option<UdpEndpoint>; 2],
    calls: mpsc::Receiver<Call<E>>,
    calls_open: bool,
    events: S,
    /// Events drained from the machine, not yet delivered.
    pending: VecDeque<E::Event>,
    /// Transmits taken from the machine, by [`Port`]; what a full socket
    /// would not take waits here until it is writable.
    queues: [SendQueue; 2],
    recv: RecvBuffers,
    max_segments: usize,
    /// How long sends wait after a datagram arrives (zero: not at all).
    hold: Duration,
    /// Until when sends wait, while they do.
    held_until: Option<tokio::time::Instant>,
    /// Whether the last flush left sends for the next turn (a backlog, or
    /// a full socket's queue, is never held).
    backlog: bool,
}

impl<E: Endpoint, S> std::fmt::Debug for Driver<E, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").field("sockets", &self.sockets).finish_non_exhaustive()
    }
}

/// Waits until `socket` may be read; never for a port without a socket.
async fn readable(socket: Option<&UdpEndpoint>) -> io::Result<()> {
    match socket {
        Some(socket) => socket.readable().await,
        None => std::future::pending().await,
    }
}

/// Waits until `socket` may be written; never without one.
async fn writable(socket: Option<&UdpEndpoint>) -> io::Result<()> {
    match socket {
        Some(socket) => socket.writable().await,
        None => std::future::pending().await,
    }
}

/// The socket of port `i` when sends wait for it to be writable.
fn stalled<'a>(sockets: &'a [Option<UdpEndpoint>; 2], queues: &[SendQueue; 2], i: usize) -> Option<&'a UdpEndpoint> {
    sockets[i].as_ref().filter(|_| !queues[i].is_empty())
}

fn index(port: Port) -> usize {
    match port {
        Port::Push => 0,
        Port::Pull => 1,
    }
}

impl<E, S> Driver<E, S>
where
    E: Endpoint + Send + 'static,
    E::Event: Send,
    S: Events<E::Event>,
{
    /// A loop over `machine` with `sockets` (at most one per [`Port`]),
    /// running the calls from `calls` and handing its events to `events`.
    pub fn new(
        machine: E,
        clock: Clock,
        sockets: impl IntoIterator<Item = UdpEndpoint>,
        calls: mpsc::Receiver<Call<E>>,
        events: S,
    ) -> Self {
        let mut by_port = [None, None];
        for socket in sockets {
            let i = index(socket.port());
            by_port[i] = Some(socket);
        }
        let max_segments =
            by_port.iter().flatten().map(UdpEndpoint::max_gso_segments).min().unwrap_or(1).clamp(1, MAX_SEGMENTS);
        Driver {
            machine,
            clock,
            sockets: by_port,
            calls,
            calls_open: true,
            events,
            pending: VecDeque::new(),
            queues: Default::default(),
            recv: RecvBuffers {
                bufs: (0..quinn_udp::BATCH_SIZE).map(|_| vec![0; RECV_BUFFER].into_boxed_slice()).collect(),
                meta: vec![quinn_udp::RecvMeta::default(); quinn_udp::BATCH_SIZE],
            },
            max_segments,
            hold: Duration::ZERO,
            held_until: None,
            backlog: false,
        }
    }

    /// Holds sends for `hold` after a datagram arrives, so a destination's
    /// packets that arrive meanwhile leave as one GSO train: fewer sends
    /// for up to `hold` more latency.
    pub fn with_send_hold(mut self, hold: Duration) -> Self {
        self.hold = hold;
        self
    }

    /// Runs until `shutdown` completes, then runs `farewell` (the relay
    /// stops every stream, so subscribers get `STREAM_STOPPED`) and sends
    /// what is queued, waiting at most `drain`. Errors are socket failures.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()>,
        drain: Duration,
        farewell: impl FnOnce(&mut E, Instant),
    ) -> io::Result<()> {
        tokio::pin!(shutdown);
        loop {
            while let Some(event) = self.pending.pop_front() {
                self.events.deliver(event).await;
            }
            let holding = self.held_until.filter(|t| *t > tokio::time::Instant::now());
            if holding.is_none() {
                self.held_until = None;
                self.backlog = self.flush(SENDS_PER_TURN);
            }
            let more = self.backlog && holding.is_none();
            let deadline = self.machine.poll_timeout().map(|t| self.clock.deadline(t));
            let [stalled_push, stalled_pull] = [0, 1].map(|i| stalled(&self.sockets, &self.queues, i));
            let wake = tokio::select! {
                () = &mut shutdown => Wake::Shutdown,
                r = readable(self.sockets[0].as_ref()) => { r?; Wake::Readable(0) }
                r = readable(self.sockets[1].as_ref()) => { r?; Wake::Readable(1) }
                call = self.calls.recv(), if self.calls_open => Wake::Call(call),
                () = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => Wake::Timeout,
                () = tokio::time::sleep_until(holding.unwrap_or_else(tokio::time::Instant::now)), if holding.is_some() => Wake::Continue,
                r = writable(stalled_push) => { r?; Wake::Continue }
                r = writable(stalled_pull) => { r?; Wake::Continue }
                () = std::future::ready(()), if more => Wake::Continue,
            };
            match wake {
                Wake::Shutdown => break,
                Wake::Readable(i) => self.receive(i)?,
                Wake::Call(Some(call)) => {
                    call(&mut self.machine, self.clock.now());
                    self.drain_events();
                }
                Wake::Call(None) => self.calls_open = false,
                Wake::Timeout => {
                    self.machine.handle_timeout(self.clock.now());
                    self.drain_events();
                }
                Wake::Continue => {}
            }
        }
        farewell(&mut self.machine, self.clock.now());
        self.drain_events();
        self.finish(drain).await
    }

    /// Drains the machine's events (the call contract) for delivery at the
    /// top of the next turn.
    fn drain_events(&mut self) {
        while let Some(event) = self.machine.poll_event() {
            self.pending.push_back(event);
        }
    }

    /// Delivers the last events and sends the queue, for at most `drain`.
    async fn finish(mut self, drain: Duration) -> io::Result<()> {
        while let Some(event) = self.pending.pop_front() {
            self.events.deliver(event).await;
        }
        let deadline = tokio::time::Instant::now() + drain;
        loop {
            self.flush(usize::MAX);
            let waiting = stalled(&self.sockets, &self.queues, 0).or(stalled(&self.sockets, &self.queues, 1));
            let Some(socket) = waiting else { return Ok(()) };
            if tokio::time::timeout_at(deadline, socket.writable()).await.is_err() {
                tracing::warn!("shutdown: gave up sending the last packets");
                return Ok(());
            }
        }
    }

    /// Reads up to a few batches from socket `i` and feeds the core; the
    /// first datagram after a flush starts the send hold, if there is one.
    fn receive(&mut self, i: usize) -> io::Result<()> {
        let caught_up = !self.backlog && self.queues.iter().all(SendQueue::is_empty);
        if !self.hold.is_zero() && self.held_until.is_none() && caught_up {
            self.held_until = Some(tokio::time::Instant::now() + self.hold);
        }
        let Some(socket) = &self.sockets[i] else { return Ok(()) };
        let port = socket.port();
        for _ in 0..RECV_BATCHES_PER_TURN {
            let count = {
                let mut slices: Vec<IoSliceMut<'_>> = self.recv.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                match socket.try_recv(&mut slices, &mut self.recv.meta) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    // ICMP errors reported on the socket and signals: not fatal.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::Interrupted
                                | io::ErrorKind::ConnectionRefused
                                | io::ErrorKind::ConnectionReset
                        ) =>
                    {
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            };
            let now = self.clock.now();
            for (meta, buf) in self.recv.meta[..count].iter().zip(&self.recv.bufs) {
                let stride = meta.stride.max(1);
                for datagram in buf[..meta.len].chunks(stride) {
                    self.machine.handle_datagram(now, port, meta.addr, Bytes::copy_from_slice(datagram));
                    while let Some(event) = self.machine.poll_event() {
                        self.pending.push_back(event);
                    }
                }
            }
        }
        Ok(())
    }

    /// Sends the machine's transmits until `budget` datagrams went out, or
    /// nothing is queued, or a socket is full (what it would not take
    /// waits in its queue, and the machine's queue stays where it is).
    /// Returns whether the budget ran out, with more perhaps queued.
    fn flush(&mut self, budget: usize) -> bool {
        let mut sent = 0;
        loop {
            self.fill(BATCH_DATAGRAMS.min(budget - sent));
            if self.queues.iter().all(SendQueue::is_empty) {
                return false;
            }
            for (queue, socket) in self.queues.iter_mut().zip(&self.sockets) {
                if let Some(socket) = socket {
                    sent += queue.send(socket, &mut self.max_segments);
                }
            }
            if self.queues.iter().any(|q| !q.is_empty()) {
                return false;
            }
            if sent >= budget {
                return true;
            }
        }
    }

    /// Takes transmits from the machine until `want` datagrams are queued
    /// or it has none left. A transmit for a port without a socket is
    /// dropped, as UDP loss.
    fn fill(&mut self, want: usize) {
        while self.queues.iter().map(SendQueue::datagrams).sum::<usize>() < want {
            let Some(transmit) = self.machine.poll_transmit(self.max_segments) else { return };
            let i = index(transmit.port);
            if self.sockets[i].is_some() {
                self.queues[i].push(transmit);
            }
        }
    }
}
