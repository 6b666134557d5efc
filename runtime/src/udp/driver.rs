//! The packet loop: one tokio task owns a core state machine (the relay,
//! or a push or pull client) and its sockets, and follows the core's call
//! contract ([`Endpoint`], docs/architecture.md): receive in batches and
//! feed the machine, drain its events after every call, send its transmits
//! in batches (GSO where the datagrams allow it), capped per turn so
//! receiving is never starved, and sleep until `poll_timeout`. Calls from
//! other tasks (operator commands, a client's publish) arrive as closures
//! run inside the loop, so nothing else ever touches the machine.

use super::UdpEndpoint;
use crate::clock::Clock;
use bytes::Bytes;
use rtprelay_core::{Endpoint, Instant, Port, Transmit};
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
/// Largest GSO send: the sum of its segments must fit one IP datagram.
const MAX_GSO_BYTES: usize = 65_000;
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
    /// A transmit the kernel would not take yet (what is left of it).
    stalled: Option<Transmit>,
    recv: RecvBuffers,
    gso: Vec<u8>,
    max_segments: usize,
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

fn index(port: Port) -> usize {
    match port {
        Port::Push => 0,
        Port::Pull => 1,
    }
}

/// How many leading `segments` one send can carry: a GSO train is equal
/// sizes, optionally ending with one shorter datagram, within the limits.
fn gso_run(segments: &[Bytes], max: usize) -> usize {
    let Some(first) = segments.first() else { return 0 };
    let size = first.len();
    let (mut n, mut total) = (1, size);
    for s in &segments[1..] {
        if n >= max || s.len() > size || total + s.len() > MAX_GSO_BYTES {
            break;
        }
        n += 1;
        total += s.len();
        if s.len() < size {
            break;
        }
    }
    n
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
            stalled: None,
            recv: RecvBuffers {
                bufs: (0..quinn_udp::BATCH_SIZE).map(|_| vec![0; RECV_BUFFER].into_boxed_slice()).collect(),
                meta: vec![quinn_udp::RecvMeta::default(); quinn_udp::BATCH_SIZE],
            },
            gso: Vec::with_capacity(MAX_GSO_BYTES),
            max_segments,
        }
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
            let more = self.flush(SENDS_PER_TURN)?;
            let deadline = self.machine.poll_timeout().map(|t| self.clock.deadline(t));
            let stalled = self.stalled.as_ref().and_then(|t| self.sockets[index(t.port)].as_ref());
            let wake = tokio::select! {
                () = &mut shutdown => Wake::Shutdown,
                r = readable(self.sockets[0].as_ref()) => { r?; Wake::Readable(0) }
                r = readable(self.sockets[1].as_ref()) => { r?; Wake::Readable(1) }
                call = self.calls.recv(), if self.calls_open => Wake::Call(call),
                () = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => Wake::Timeout,
                r = async {
                    match stalled {
                        Some(socket) => socket.writable().await,
                        None => std::future::pending().await,
                    }
                }, if stalled.is_some() => { r?; Wake::Continue }
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
            self.flush(usize::MAX)?;
            let Some(stalled) = &self.stalled else { return Ok(()) };
            let Some(socket) = &self.sockets[index(stalled.port)] else { return Ok(()) };
            if tokio::time::timeout_at(deadline, socket.writable()).await.is_err() {
                tracing::warn!("shutdown: gave up sending the last packets");
                return Ok(());
            }
        }
    }

    /// Reads up to a few batches from socket `i` and feeds the core.
    fn receive(&mut self, i: usize) -> io::Result<()> {
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

    /// Sends queued transmits until `budget` datagrams went out, the queue
    /// is empty, or a socket is full (the rest waits in `stalled`).
    /// Returns whether the budget ran out with more queued.
    fn flush(&mut self, budget: usize) -> io::Result<bool> {
        let mut sent = 0;
        while sent < budget {
            let Some(mut transmit) = self.stalled.take().or_else(|| self.machine.poll_transmit(self.max_segments))
            else {
                return Ok(false);
            };
            let done = self.send(&transmit)?;
            sent += done;
            if done < transmit.segments.len() {
                transmit.segments.drain(..done);
                self.stalled = Some(transmit);
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Sends as many segments of `transmit` as the socket takes now.
    /// A transmit for a port without a socket is dropped, as UDP loss.
    fn send(&mut self, transmit: &Transmit) -> io::Result<usize> {
        let Some(socket) = &self.sockets[index(transmit.port)] else { return Ok(transmit.segments.len()) };
        let max = socket.max_gso_segments();
        let mut done = 0;
        while done < transmit.segments.len() {
            let rest = &transmit.segments[done..];
            let n = gso_run(rest, max);
            let (contents, segment_size) = if n == 1 {
                (&rest[0][..], None)
            } else {
                self.gso.clear();
                rest[..n].iter().for_each(|s| self.gso.extend_from_slice(s));
                (&self.gso[..], Some(rest[0].len()))
            };
            let out = quinn_udp::Transmit {
                destination: transmit.destination,
                ecn: None,
                contents,
                segment_size,
                src_ip: None,
            };
            match socket.try_send(&out) {
                Ok(()) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(sizes: &[usize]) -> Vec<Bytes> {
        sizes.iter().map(|&n| Bytes::from(vec![0; n])).collect()
    }

    #[test]
    fn gso_runs_are_equal_sizes_with_one_shorter_tail() {
        assert_eq!(gso_run(&segs(&[100, 100, 100]), 64), 3);
        assert_eq!(gso_run(&segs(&[100, 100, 50, 100]), 64), 3, "a shorter datagram ends the train");
        assert_eq!(gso_run(&segs(&[100, 200]), 64), 1, "a longer datagram cannot join");
        assert_eq!(gso_run(&segs(&[100, 100, 100]), 2), 2, "segment cap");
        assert_eq!(gso_run(&segs(&[1400; 64]), 64), MAX_GSO_BYTES / 1400, "byte cap");
        assert_eq!(gso_run(&segs(&[100, 100]), 1), 1, "no GSO");
        assert_eq!(gso_run(&[], 64), 0);
    }
}
