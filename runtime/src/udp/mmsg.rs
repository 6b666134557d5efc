//! `sendmmsg(2)` with UDP GSO: datagrams for many destinations in one
//! system call, several datagrams to one destination as one GSO train
//! (`UDP_SEGMENT`). quinn-udp sends one destination per call; fan-out needs
//! many. The datagrams are not copied: each is one `iovec` pointing into
//! its `Bytes`, and the kernel joins a train's `iovec`s before it cuts
//! them at the segment size.
//!
//! The only unsafe code of the packet path is here: building the C
//! structures and the system call.
#![allow(unsafe_code)]

use bytes::Bytes;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Most messages (a datagram, or a GSO train to one destination) one
/// [`Batch`] holds.
pub const MAX_MESSAGES: usize = 256;
/// Most datagrams one [`Batch`] holds, all messages together.
pub const MAX_DATAGRAMS: usize = 1024;

/// A destination in the C layout `sendmmsg` reads.
#[derive(Clone, Copy)]
#[repr(C)]
union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

impl RawAddr {
    fn new(addr: SocketAddr) -> (Self, libc::socklen_t) {
        match addr {
            SocketAddr::V4(a) => {
                let v4 = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
                    sin_zero: [0; 8],
                };
                (RawAddr { v4 }, size_of::<libc::sockaddr_in>() as libc::socklen_t)
            }
            SocketAddr::V6(a) => {
                let v6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                    sin6_scope_id: a.scope_id(),
                };
                (RawAddr { v6 }, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
            }
        }
    }
}

/// One `UDP_SEGMENT` control message: the header, then the segment size.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct SegmentCmsg {
    header: libc::cmsghdr,
    size: u16,
}

// SAFETY: CMSG_SPACE and CMSG_LEN only compute sizes.
const CMSG_SPACE: usize = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as usize;
// SAFETY: as above.
const CMSG_LEN: usize = unsafe { libc::CMSG_LEN(size_of::<u16>() as u32) } as usize;
const _: () = assert!(size_of::<SegmentCmsg>() >= CMSG_SPACE, "the control buffer holds one UDP_SEGMENT");

/// Messages for one `sendmmsg` call, borrowing the datagrams they send.
pub struct Batch<'a> {
    addrs: [RawAddr; MAX_MESSAGES],
    addr_lens: [libc::socklen_t; MAX_MESSAGES],
    /// Message `i` is `iovs[starts[i]..starts[i + 1]]`.
    starts: [u16; MAX_MESSAGES + 1],
    iovs: [libc::iovec; MAX_DATAGRAMS],
    len: usize,
    datagrams: PhantomData<&'a Bytes>,
}

impl Default for Batch<'_> {
    fn default() -> Self {
        Batch {
            // SAFETY: both socket address structs are plain C data, for
            // which all zero bytes are a valid value.
            addrs: [unsafe { std::mem::zeroed() }; MAX_MESSAGES],
            addr_lens: [0; MAX_MESSAGES],
            starts: [0; MAX_MESSAGES + 1],
            iovs: [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; MAX_DATAGRAMS],
            len: 0,
            datagrams: PhantomData,
        }
    }
}

impl<'a> Batch<'a> {
    /// Adds one message: `datagrams` to `destination`, as a GSO train when
    /// there are several (the caller keeps to GSO's rules: all the same
    /// size but the last, which may be shorter, within the kernel's segment
    /// and byte limits). Returns `false`, adding nothing, when the batch
    /// has no room for it.
    pub fn push(&mut self, destination: SocketAddr, datagrams: &'a [Bytes]) -> bool {
        let start = usize::from(self.starts[self.len]);
        if datagrams.is_empty() || self.len == MAX_MESSAGES || start + datagrams.len() > MAX_DATAGRAMS {
            return false;
        }
        (self.addrs[self.len], self.addr_lens[self.len]) = RawAddr::new(destination);
        for (iov, datagram) in self.iovs[start..].iter_mut().zip(datagrams) {
            // The kernel only reads through this pointer (a send).
            *iov = libc::iovec { iov_base: datagram.as_ptr().cast_mut().cast(), iov_len: datagram.len() };
        }
        self.len += 1;
        self.starts[self.len] = (start + datagrams.len()) as u16;
        true
    }

    /// Empties the batch, to fill it again.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Messages held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no message.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Datagrams in message `i`.
    pub fn datagrams(&self, i: usize) -> usize {
        usize::from(self.starts[i + 1] - self.starts[i])
    }

    /// Sends messages `from..` with one `sendmmsg` on `socket` (retrying
    /// on a signal). Returns how many went, at least one; an error is
    /// message `from`'s, and then nothing was sent. `WouldBlock` means the
    /// socket's send buffer is full.
    pub fn send(&self, socket: BorrowedFd<'_>, from: usize) -> io::Result<usize> {
        let count = self.len.saturating_sub(from);
        if count == 0 {
            return Ok(0);
        }
        // SAFETY: all zero bytes are a valid mmsghdr and cmsghdr (null
        // pointers, zero lengths).
        let mut headers: [libc::mmsghdr; MAX_MESSAGES] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut cmsgs: [SegmentCmsg; MAX_MESSAGES] = unsafe { std::mem::zeroed() };
        for (k, (header, cmsg)) in headers.iter_mut().zip(&mut cmsgs).take(count).enumerate() {
            let i = from + k;
            let (start, end) = (usize::from(self.starts[i]), usize::from(self.starts[i + 1]));
            let hdr = &mut header.msg_hdr;
            hdr.msg_name = (&raw const self.addrs[i]).cast_mut().cast();
            hdr.msg_namelen = self.addr_lens[i];
            hdr.msg_iov = (&raw const self.iovs[start]).cast_mut();
            hdr.msg_iovlen = end - start;
            if end - start > 1 {
                cmsg.header.cmsg_len = CMSG_LEN as _;
                cmsg.header.cmsg_level = libc::SOL_UDP;
                cmsg.header.cmsg_type = libc::UDP_SEGMENT;
                cmsg.size = self.iovs[start].iov_len as u16;
                hdr.msg_control = (&raw mut *cmsg).cast();
                hdr.msg_controllen = CMSG_SPACE as _;
            }
        }
        loop {
            // SAFETY: `headers[..count]` are initialised above; each points
            // at an address, `iovec`s and a control message that live in
            // `self` and `cmsgs` for the whole call, and each `iovec` at a
            // `Bytes` borrowed for `'a`, which outlives `self`. The kernel
            // writes only the headers' `msg_len`.
            let sent = unsafe { libc::sendmmsg(socket.as_raw_fd(), headers.as_mut_ptr(), count as u32, 0) };
            if sent >= 0 {
                return Ok(sent as usize);
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    fn receiver() -> (UdpSocket, SocketAddr) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let addr = socket.local_addr().unwrap();
        (socket, addr)
    }

    fn recv(socket: &UdpSocket) -> Vec<u8> {
        let mut buf = [0; 2048];
        let n = socket.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn one_call_reaches_many_destinations_and_splits_gso_trains() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a, a_addr) = receiver();
        let (b, b_addr) = receiver();
        let one = [Bytes::from_static(b"hello")];
        let train = [Bytes::from(vec![1; 100]), Bytes::from(vec![2; 100]), Bytes::from(vec![3; 40])];
        let mut batch = Batch::default();
        assert!(batch.push(a_addr, &one));
        assert!(batch.push(b_addr, &train));
        assert!(!batch.push(b_addr, &[]), "an empty message is refused");
        assert_eq!((batch.len(), batch.datagrams(0), batch.datagrams(1)), (2, 1, 3));
        assert_eq!(batch.send(sender.as_fd(), 0).unwrap(), 2);
        assert_eq!(recv(&a), b"hello");
        for expected in &train {
            assert_eq!(recv(&b), expected[..], "GSO cut the train at the first datagram's size");
        }
        assert_eq!(batch.send(sender.as_fd(), 2).unwrap(), 0, "nothing left");
    }

    #[test]
    fn a_full_batch_refuses_more() {
        let datagram = [Bytes::from_static(b"x")];
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut batch = Batch::default();
        while batch.push(addr, &datagram) {}
        assert_eq!(batch.len(), MAX_MESSAGES);
        let many: Vec<Bytes> = vec![Bytes::from_static(b"y"); MAX_DATAGRAMS];
        let mut batch = Batch::default();
        assert!(batch.push(addr, &many[..MAX_DATAGRAMS - 1]));
        assert!(!batch.push(addr, &many[..2]), "datagram cap");
        assert!(batch.push(addr, &many[..1]));
    }

    #[test]
    fn an_error_names_the_first_message_and_sends_nothing() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a, a_addr) = receiver();
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        let ok = [Bytes::from_static(b"ok")];
        let mut batch = Batch::default();
        assert!(batch.push(v6, &ok), "an IPv6 destination on an IPv4 socket fails");
        assert!(batch.push(a_addr, &ok));
        assert!(batch.send(sender.as_fd(), 0).is_err());
        assert_eq!(batch.send(sender.as_fd(), 1).unwrap(), 1, "the others still go");
        assert_eq!(recv(&a), b"ok");
    }
}
