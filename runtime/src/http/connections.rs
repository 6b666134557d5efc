//! The HTTP connections: a cap on how many are open, and an idle timeout.
//!
//! Every accepted connection is registered and wrapped in [`Tracked`],
//! which notes when it last moved a byte. At the cap (`http_max_connections`)
//! a new connection is still accepted: it takes the place of the open
//! connection that has been quiet the longest, which is closed (its reads
//! end). So connections that sit idle can never lock the operator out,
//! and the number of open sockets stays bounded. A connection that moves
//! no byte either way for `http_idle_timeout_ms` fails with `TimedOut`
//! (a stalled body, a client that stops reading); slow and idle request
//! heads are hyper's `header_read_timeout` (see `serve.rs`).

use axum_server::accept::Accept;
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// One open connection as the registry sees it.
#[derive(Debug, Default)]
struct Slot {
    /// When it last moved a byte, in ms since the registry started.
    last_active_ms: AtomicU64,
    /// Set when it must close to make room.
    evicted: AtomicBool,
    /// Who to wake when it is evicted.
    waker: Mutex<Option<Waker>>,
}

impl Slot {
    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        if let Some(waker) = self.waker.lock().unwrap_or_else(PoisonError::into_inner).take() {
            waker.wake();
        }
    }
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    open: HashMap<u64, Arc<Slot>>,
}

/// The open HTTP connections, at most `cap` of them.
#[derive(Debug)]
pub struct Connections {
    cap: usize,
    started: Instant,
    registry: Mutex<Registry>,
    evicted: AtomicU64,
}

impl Connections {
    /// A registry holding at most `cap` (at least 1) connections.
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Connections {
            cap: cap.max(1),
            started: Instant::now(),
            registry: Mutex::new(Registry::default()),
            evicted: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new connection, first evicting the quietest one if the
    /// cap is reached.
    fn admit(self: &Arc<Self>) -> Ticket {
        let slot = Arc::new(Slot::default());
        slot.last_active_ms.store(self.now_ms(), Ordering::Relaxed);
        let mut registry = self.registry();
        while registry.open.len() >= self.cap {
            let quietest = registry.open.iter().min_by_key(|(_, s)| s.last_active_ms.load(Ordering::Relaxed));
            let Some(id) = quietest.map(|(id, _)| *id) else { break };
            if let Some(victim) = registry.open.remove(&id) {
                victim.evict();
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        let id = registry.next_id;
        registry.next_id += 1;
        registry.open.insert(id, Arc::clone(&slot));
        Ticket { id, slot, owner: Arc::clone(self) }
    }

    /// How many connections are open (evicted ones no longer count).
    pub fn open(&self) -> usize {
        self.registry().open.len()
    }

    /// How many connections were closed to make room, since the start.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// The cap.
    pub fn cap(&self) -> usize {
        self.cap
    }
}

/// A connection's place in the registry, given back when it drops.
#[derive(Debug)]
struct Ticket {
    id: u64,
    slot: Arc<Slot>,
    owner: Arc<Connections>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.owner.registry().open.remove(&self.id);
    }
}

/// A stream that reports its activity to the registry, ends its reads
/// when evicted, and fails after `idle` without a byte either way.
#[derive(Debug)]
pub struct Tracked<S> {
    inner: S,
    ticket: Ticket,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Tracked<S> {
    fn touch(&mut self) {
        self.ticket.slot.last_active_ms.store(self.ticket.owner.now_ms(), Ordering::Relaxed);
        self.deadline.as_mut().reset(tokio::time::Instant::now() + self.idle);
    }

    fn evicted(&self) -> bool {
        self.ticket.slot.evicted.load(Ordering::Acquire)
    }

    /// While the inner stream is pending: `TimedOut` once the idle
    /// deadline passes.
    fn pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "http connection idle"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.evicted() {
            // End of stream: hyper closes the connection.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                *self.ticket.slot.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
                // Evicted between the first check and the waker's registration.
                if self.evicted() {
                    return Poll::Ready(Ok(()));
                }
                self.pending(cx)
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.touch();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.pending(cx),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An acceptor that registers each connection and wraps it in [`Tracked`]
/// before handing it to `inner` (plain, or TLS).
#[derive(Clone, Debug)]
pub struct CappedAcceptor<A> {
    inner: A,
    connections: Arc<Connections>,
    idle: Duration,
}

impl<A> CappedAcceptor<A> {
    /// Wraps `inner`; connections idle for `idle` fail.
    pub fn new(inner: A, connections: Arc<Connections>, idle: Duration) -> Self {
        CappedAcceptor { inner, connections, idle }
    }
}

impl<A, S> Accept<TcpStream, S> for CappedAcceptor<A>
where
    A: Accept<Tracked<TcpStream>, S>,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = A::Future;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let ticket = self.connections.admit();
        let deadline = Box::pin(tokio::time::sleep(self.idle));
        self.inner.accept(Tracked { inner: stream, ticket, idle: self.idle, deadline }, service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quietest_connection_makes_room() {
        let connections = Connections::new(2);
        let a = connections.admit();
        let b = connections.admit();
        a.slot.last_active_ms.store(50, Ordering::Relaxed);
        b.slot.last_active_ms.store(10, Ordering::Relaxed);
        let c = connections.admit();
        assert!(b.slot.evicted.load(Ordering::Relaxed), "b was quiet the longest");
        assert!(!a.slot.evicted.load(Ordering::Relaxed));
        assert_eq!((connections.open(), connections.evicted()), (2, 1));
        drop(b);
        assert_eq!(connections.open(), 2, "an evicted connection no longer counts");
        drop((a, c));
        assert_eq!(connections.open(), 0);
    }
}
