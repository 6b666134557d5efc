//! The packet loop: one tokio task owns the [`Relay`] and both sockets and
//! follows the core's call contract (docs/architecture.md): receive in batches and
//! feed the core, drain its events after every call, send its transmits in
//! batches (GSO where the datagrams allow it), capped per turn so receiving
//! is never starved, and sleep until `poll_timeout`.

use super::UdpEndpoint;
use crate::clock::Clock;
use crate::relay_handle::Request;
use bytes::Bytes;
use rtprelay_core::{Command, Endpoint, Port, Relay, RelayEvent, Transmit};
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::time::Duration;
use tokio::sync::mpsc;

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
enum Wake {
    Shutdown,
    Readable(usize),
    Request(Option<Request>),
    Timeout,
    Continue,
}

/// The packet loop's state.
pub struct Driver {
    relay: Relay,
    clock: Clock,
    sockets: [UdpEndpoint; 2],
    requests: mpsc::Receiver<Request>,
    requests_open: bool,
    /// A transmit the kernel would not take yet (what is left of it).
    stalled: Option<Transmit>,
    recv: RecvBuffers,
    gso: Vec<u8>,
    max_segments: usize,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").field("sockets", &self.sockets).finish_non_exhaustive()
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

impl Driver {
    /// A loop over `relay` with its push and pull sockets, taking commands
    /// from `requests`.
    pub fn new(
        relay: Relay,
        clock: Clock,
        push: UdpEndpoint,
        pull: UdpEndpoint,
        requests: mpsc::Receiver<Request>,
    ) -> Self {
        let max_segments = push.max_gso_segments().min(pull.max_gso_segments()).clamp(1, MAX_SEGMENTS);
        Driver {
            relay,
            clock,
            sockets: [push, pull],
            requests,
            requests_open: true,
            stalled: None,
            recv: RecvBuffers {
                bufs: (0..quinn_udp::BATCH_SIZE).map(|_| vec![0; RECV_BUFFER].into_boxed_slice()).collect(),
                meta: vec![quinn_udp::RecvMeta::default(); quinn_udp::BATCH_SIZE],
            },
            gso: Vec::with_capacity(MAX_GSO_BYTES),
            max_segments,
        }
    }

    /// Runs until `shutdown` completes, then stops every stream (so
    /// subscribers get `STREAM_STOPPED`) and sends what is queued, waiting
    /// at most `drain`. Errors are socket failures.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>, drain: Duration) -> io::Result<()> {
        tokio::pin!(shutdown);
        loop {
            let more = self.flush(SENDS_PER_TURN)?;
            let deadline = self.relay.poll_timeout().map(|t| self.clock.deadline(t));
            let stalled = self.stalled.as_ref().map(|t| &self.sockets[index(t.port)]);
            let wake = tokio::select! {
                () = &mut shutdown => Wake::Shutdown,
                r = self.sockets[0].readable() => { r?; Wake::Readable(0) }
                r = self.sockets[1].readable() => { r?; Wake::Readable(1) }
                req = self.requests.recv(), if self.requests_open => Wake::Request(req),
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
                Wake::Request(Some((command, reply))) => {
                    let result = self.relay.handle_command(self.clock.now(), command);
                    drain_events(&mut self.relay);
                    let _ = reply.send(result);
                }
                Wake::Request(None) => self.requests_open = false,
                Wake::Timeout => {
                    self.relay.handle_timeout(self.clock.now());
                    drain_events(&mut self.relay);
                }
                Wake::Continue => {}
            }
        }
        self.finish(drain).await
    }

    /// Stops every stream and sends the queue, for at most `drain`.
    async fn finish(mut self, drain: Duration) -> io::Result<()> {
        let result = self.relay.handle_command(self.clock.now(), Command::StopAll);
        drain_events(&mut self.relay);
        debug_assert!(result.is_ok(), "StopAll cannot fail");
        let deadline = tokio::time::Instant::now() + drain;
        loop {
            self.flush(usize::MAX)?;
            let Some(stalled) = &self.stalled else { return Ok(()) };
            let socket = &self.sockets[index(stalled.port)];
            if tokio::time::timeout_at(deadline, socket.writable()).await.is_err() {
                tracing::warn!("shutdown: gave up sending the last packets");
                return Ok(());
            }
        }
    }

    /// Reads up to a few batches from socket `i` and feeds the core.
    fn receive(&mut self, i: usize) -> io::Result<()> {
        let port = self.sockets[i].port();
        for _ in 0..RECV_BATCHES_PER_TURN {
            let count = {
                let mut slices: Vec<IoSliceMut<'_>> = self.recv.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                match self.sockets[i].try_recv(&mut slices, &mut self.recv.meta) {
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
                    self.relay.handle_datagram(now, port, meta.addr, Bytes::copy_from_slice(datagram));
                    drain_events(&mut self.relay);
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
            let Some(mut transmit) = self.stalled.take().or_else(|| self.relay.poll_transmit(self.max_segments)) else {
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
    fn send(&mut self, transmit: &Transmit) -> io::Result<usize> {
        let socket = &self.sockets[index(transmit.port)];
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

/// Drains the core's events into the log (the call contract).
fn drain_events(relay: &mut Relay) {
    while let Some(event) = relay.poll_event() {
        match event {
            RelayEvent::StreamLive { live_id, ssrc, publisher } => {
                tracing::info!(%live_id, ssrc, %publisher, "stream live");
            }
            RelayEvent::StreamStopped { live_id, reason } => {
                tracing::info!(%live_id, ?reason, "stream stopped");
            }
            RelayEvent::ClientJoined { address } => tracing::debug!(%address, "pull client joined"),
            RelayEvent::ClientMoved { from, to } => tracing::info!(%from, %to, "pull client moved"),
            RelayEvent::ClientLeft { address, reason } => {
                tracing::debug!(%address, ?reason, "pull client left");
            }
        }
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
