//! The send side of the packet loop: transmits taken from the machine wait
//! here, one queue per socket, and leave in batches: one `sendmmsg` for up
//! to [`mmsg::MAX_MESSAGES`] destinations, several datagrams to one
//! destination as one GSO train. An error that belongs to one destination
//! (a datagram too big, an unreachable address) drops that message, as
//! UDP loss, and the rest go on; only a full socket (`WouldBlock`) holds
//! the queue, until the socket is writable.

use super::UdpEndpoint;
use super::mmsg::{self, Batch};
use bytes::Bytes;
use rtprelay_core::Transmit;
use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

/// Datagrams the loop takes from the machine before each send: one
/// batch's worth.
pub(super) const BATCH_DATAGRAMS: usize = mmsg::MAX_DATAGRAMS;
/// Largest GSO send: the sum of its segments must fit one IP datagram.
const MAX_GSO_BYTES: usize = 65_000;
/// Send errors are logged at most this often per socket.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// How many leading `segments` one message can carry: a GSO train is equal
/// sizes, optionally ending with one shorter datagram, within the limits.
pub(super) fn gso_run(segments: &[Bytes], max: usize) -> usize {
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

/// What one failed message means for the rest of the queue.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// The socket's send buffer is full: wait until it is writable.
    Full,
    /// A pending error of the socket (an ICMP error of an earlier send)
    /// was reported and cleared instead of sending: try this message again.
    Pending,
    /// The kernel or device refused segmentation: stop using GSO.
    NoGso,
    /// This message's own error: drop it.
    Drop,
}

impl Failure {
    fn of(error: &io::Error, datagrams: usize, gso: bool) -> Self {
        match (error.kind(), error.raw_os_error()) {
            (io::ErrorKind::WouldBlock, _) => Failure::Full,
            (io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset, _) => Failure::Pending,
            (_, Some(libc::EIO | libc::EINVAL)) if gso && datagrams > 1 => Failure::NoGso,
            _ => Failure::Drop,
        }
    }
}

/// How one batch went.
struct Round {
    /// Datagrams that left the queue (sent, or dropped with their message).
    done: usize,
    /// Why the round stopped before the end of the batch, if it did.
    stop: Option<Failure>,
}

/// Transmits waiting for one socket.
#[derive(Debug, Default)]
pub(super) struct SendQueue {
    queue: VecDeque<Transmit>,
    datagrams: usize,
    last_error_log: Option<Instant>,
}

impl SendQueue {
    /// Queues `transmit` behind the others.
    pub(super) fn push(&mut self, transmit: Transmit) {
        self.datagrams += transmit.segments.len();
        self.queue.push_back(transmit);
    }

    /// Datagrams queued.
    pub(super) fn datagrams(&self) -> usize {
        self.datagrams
    }

    /// Whether nothing waits.
    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Sends from the front until the queue is empty or `socket` is full.
    /// `max_segments` caps a GSO train; it drops to 1 for good if the
    /// kernel refuses GSO. Returns the datagrams that left the queue.
    pub(super) fn send(&mut self, socket: &UdpEndpoint, max_segments: &mut usize) -> usize {
        let mut total = 0;
        while !self.queue.is_empty() {
            let round = self.round(socket, *max_segments);
            self.consume(round.done);
            total += round.done;
            match round.stop {
                None => {}
                Some(Failure::NoGso) => {
                    tracing::info!(port = ?socket.port(), "the kernel refused a GSO send: sending one datagram per message");
                    *max_segments = 1;
                }
                Some(_) => break,
            }
        }
        total
    }

    /// Fills one batch from the front of the queue and sends it, with as
    /// few `sendmmsg` calls as its errors allow.
    fn round(&mut self, socket: &UdpEndpoint, max_segments: usize) -> Round {
        let mut batch = Batch::default();
        'fill: for transmit in &self.queue {
            let mut rest = &transmit.segments[..];
            while !rest.is_empty() {
                let n = gso_run(rest, max_segments);
                if !batch.push(transmit.destination, &rest[..n]) {
                    break 'fill;
                }
                rest = &rest[n..];
            }
        }
        let (mut from, mut done, mut retried) = (0, 0, false);
        while from < batch.len() {
            match socket.try_send_batch(&batch, from) {
                Ok(sent) => {
                    done += (from..from + sent).map(|i| batch.datagrams(i)).sum::<usize>();
                    from += sent;
                    retried = false;
                }
                Err(error) => match Failure::of(&error, batch.datagrams(from), max_segments > 1) {
                    Failure::Pending if !retried => retried = true,
                    Failure::Pending | Failure::Drop => {
                        log_error(&mut self.last_error_log, socket, &error);
                        done += batch.datagrams(from);
                        from += 1;
                        retried = false;
                    }
                    stop => return Round { done, stop: Some(stop) },
                },
            }
        }
        Round { done, stop: None }
    }

    /// Removes the first `n` datagrams.
    fn consume(&mut self, mut n: usize) {
        self.datagrams -= n;
        while n > 0 {
            let Some(front) = self.queue.front_mut() else { return };
            if front.segments.len() <= n {
                n -= front.segments.len();
                self.queue.pop_front();
            } else {
                front.segments.drain(..n);
                n = 0;
            }
        }
    }
}

/// Logs a dropped send, at most once per [`ERROR_LOG_INTERVAL`].
fn log_error(last: &mut Option<Instant>, socket: &UdpEndpoint, error: &io::Error) {
    let now = Instant::now();
    if last.is_none_or(|at| now.duration_since(at) >= ERROR_LOG_INTERVAL) {
        *last = Some(now);
        tracing::warn!(port = ?socket.port(), %error, "a send failed: its datagrams are dropped (logged once a minute)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtprelay_core::Port;
    use std::net::{SocketAddr, UdpSocket};

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

    #[test]
    fn errors_are_sorted_by_what_they_hold_up() {
        let e = |code| io::Error::from_raw_os_error(code);
        assert_eq!(Failure::of(&e(libc::EAGAIN), 1, true), Failure::Full);
        assert_eq!(Failure::of(&e(libc::ECONNREFUSED), 1, true), Failure::Pending);
        assert_eq!(Failure::of(&e(libc::EIO), 3, true), Failure::NoGso);
        assert_eq!(Failure::of(&e(libc::EIO), 1, true), Failure::Drop, "not a train");
        assert_eq!(Failure::of(&e(libc::EINVAL), 3, false), Failure::Drop, "GSO already off");
        assert_eq!(Failure::of(&e(libc::EMSGSIZE), 3, true), Failure::Drop);
    }

    fn receivers(n: usize) -> Vec<UdpSocket> {
        (0..n)
            .map(|_| {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                socket
            })
            .collect()
    }

    fn transmit(to: &UdpSocket, segments: Vec<Bytes>) -> Transmit {
        Transmit { port: Port::Pull, destination: to.local_addr().unwrap(), segments: segments.into() }
    }

    fn packet(i: usize, len: usize) -> Bytes {
        let mut data = vec![i as u8; len];
        data[..8].copy_from_slice(&(i as u64).to_be_bytes());
        Bytes::from(data)
    }

    /// Reads `n` datagrams from `socket`: their first 8 bytes as a number.
    fn read(socket: &UdpSocket, n: usize) -> Vec<u64> {
        let mut buf = [0; 2048];
        (0..n)
            .map(|_| {
                let len = socket.recv(&mut buf).unwrap();
                assert!(len >= 8);
                u64::from_be_bytes(buf[..8].try_into().unwrap())
            })
            .collect()
    }

    /// Sends the whole queue, waiting whenever the socket is not writable
    /// (as the loop does): returns the datagrams that left the queue.
    async fn send_all(queue: &mut SendQueue, socket: &UdpEndpoint, max_segments: &mut usize) -> usize {
        let mut done = 0;
        for _ in 0..1000 {
            if queue.is_empty() {
                return done;
            }
            tokio::time::timeout(Duration::from_secs(5), socket.writable()).await.unwrap().unwrap();
            done += queue.send(socket, max_segments);
        }
        panic!("the queue never emptied: {} datagrams stuck", queue.datagrams());
    }

    #[tokio::test]
    async fn many_destinations_each_get_every_datagram_in_order() {
        let socket = UdpEndpoint::bind("127.0.0.1:0".parse().unwrap(), Port::Pull, 1 << 20, 1 << 20).unwrap();
        let subscribers = receivers(300);
        let mut queue = SendQueue::default();
        // Three packets to each: 900 datagrams, more than one batch holds
        // in messages (256) but under its datagram cap, as GSO trains.
        for sub in &subscribers {
            queue.push(transmit(sub, (0..3).map(|i| packet(i, 1200)).collect()));
        }
        assert_eq!(queue.datagrams(), 900);
        let mut max_segments = socket.max_gso_segments().min(64);
        assert_eq!(send_all(&mut queue, &socket, &mut max_segments).await, 900);
        for sub in &subscribers {
            assert_eq!(read(sub, 3), [0, 1, 2]);
        }
    }

    #[tokio::test]
    async fn a_destination_that_fails_does_not_hold_back_the_others() {
        let socket = UdpEndpoint::bind("127.0.0.1:0".parse().unwrap(), Port::Pull, 0, 0).unwrap();
        let subscribers = receivers(20);
        let mut queue = SendQueue::default();
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        for (i, sub) in subscribers.iter().enumerate() {
            // Before every fifth one: a datagram too big for UDP
            // (EMSGSIZE), or an address of the wrong family (EAFNOSUPPORT).
            if i % 5 == 0 {
                queue.push(transmit(sub, vec![Bytes::from(vec![0; 70_000])]));
                queue.push(Transmit { port: Port::Pull, destination: v6, segments: vec![packet(9, 100)].into() });
            }
            queue.push(transmit(sub, vec![packet(i, 100)]));
        }
        let mut max_segments = 1;
        assert_eq!(
            send_all(&mut queue, &socket, &mut max_segments).await,
            20 + 8,
            "the failed ones left the queue too"
        );
        for (i, sub) in subscribers.iter().enumerate() {
            assert_eq!(read(sub, 1), [i as u64]);
        }
    }
}
