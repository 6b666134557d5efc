//! One UDP socket of the relay, with quinn-udp's batched receive (GRO,
//! `recvmmsg`) and segmented send (GSO).

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use rtprelay_core::Port;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
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
        if recv_buffer > 0
            && let Err(e) = state.set_recv_buffer_size((&socket).into(), recv_buffer)
        {
            tracing::warn!(?port, error = %e, "cannot set SO_RCVBUF");
        }
        if send_buffer > 0
            && let Err(e) = state.set_send_buffer_size((&socket).into(), send_buffer)
        {
            tracing::warn!(?port, error = %e, "cannot set SO_SNDBUF");
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

    /// Sends without waiting: `WouldBlock` when the send buffer is full.
    /// Other send errors are logged by quinn-udp and dropped, as UDP loss.
    pub fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        self.io.try_io(Interest::WRITABLE, || self.state.send((&self.io).into(), transmit))
    }
}
