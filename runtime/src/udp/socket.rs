//! One UDP socket of the relay: quinn-udp's batched receive (GRO,
//! `recvmmsg`), and our own batched send ([`super::mmsg`]: `sendmmsg` to
//! many destinations, GSO to one).

use super::mmsg::Batch;
use quinn_udp::{RecvMeta, UdpSocketState};
use rtprelay_core::Port;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use tokio::io::Interest;

/// A bound, non-blocking UDP socket registered with tokio.
#[derive(Debug)]
pub struct UdpEndpoint {
    io: tokio::net::UdpSocket,
    state: UdpSocketState,
    port: Port,
}

impl UdpEndpoint {
    /// Binds `addr` for the relay's `port`, asking the kernel for the given
    /// receive and send buffer sizes (0: keep the default). Must run inside
    /// a tokio runtime.
    pub fn bind(addr: SocketAddr, port: Port, recv_buffer: usize, send_buffer: usize) -> io::Result<Self> {
        let socket = std::net::UdpSocket::bind(addr)?;
        socket.set_nonblocking(true)?;
        let state = UdpSocketState::new((&socket).into())?;
        if recv_buffer > 0 {
            let set = state.set_recv_buffer_size((&socket).into(), recv_buffer);
            check_buffer(
                port,
                "SO_RCVBUF",
                "net.core.rmem_max",
                recv_buffer,
                set,
                state.recv_buffer_size((&socket).into()),
            );
        }
        if send_buffer > 0 {
            let set = state.set_send_buffer_size((&socket).into(), send_buffer);
            check_buffer(
                port,
                "SO_SNDBUF",
                "net.core.wmem_max",
                send_buffer,
                set,
                state.send_buffer_size((&socket).into()),
            );
        }
        tracing::debug!(
            ?port,
            recv_buffer = state.recv_buffer_size((&socket).into()).unwrap_or(0),
            send_buffer = state.send_buffer_size((&socket).into()).unwrap_or(0),
            gso = state.max_gso_segments(),
            gro = state.gro_segments(),
            "udp socket bound"
        );
        Ok(UdpEndpoint { io: tokio::net::UdpSocket::from_std(socket)?, state, port })
    }

    /// Which of the relay's sockets this is.
    pub fn port(&self) -> Port {
        self.port
    }

    /// The bound address (with the port the OS picked for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// How many equal-size datagrams one send may carry (1 without GSO).
    pub fn max_gso_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    /// Waits until the socket may have datagrams to read.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until the socket may accept a send.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }

    /// Reads a batch without waiting: `WouldBlock` when nothing is queued.
    pub fn try_recv(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> io::Result<usize> {
        self.io.try_io(Interest::READABLE, || self.state.recv((&self.io).into(), bufs, meta))
    }

    /// Sends messages `from..` of `batch` in one system call without
    /// waiting: how many went, or message `from`'s error (`WouldBlock` when
    /// the send buffer is full).
    pub fn try_send_batch(&self, batch: &Batch<'_>, from: usize) -> io::Result<usize> {
        self.io.try_io(Interest::WRITABLE, || batch.send(self.io.as_fd(), from))
    }
}

/// Linux doubles the size asked for (the rest is its bookkeeping) and
/// reports the doubled size back.
const KERNEL_FACTOR: usize = if cfg!(target_os = "linux") { 2 } else { 1 };

/// Warns when the kernel did not give a socket buffer the size asked for:
/// it caps it at the `sysctl` limit without an error.
fn check_buffer(port: Port, option: &str, sysctl: &str, asked: usize, set: io::Result<()>, got: io::Result<usize>) {
    match (set, got) {
        (Err(e), _) | (Ok(()), Err(e)) => tracing::warn!(?port, error = %e, "cannot set {option}"),
        (Ok(()), Ok(got)) if got < asked.saturating_mul(KERNEL_FACTOR) => tracing::warn!(
            ?port,
            asked,
            got = got / KERNEL_FACTOR,
            "the kernel capped {option} below the size asked for (raise {sysctl}): bursts may be lost"
        ),
        (Ok(()), Ok(_)) => {}
    }
}
