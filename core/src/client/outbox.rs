//! A client's bounded transmit queue: one destination (the relay), oldest
//! datagram dropped and counted when the owner does not drain it.

use bytes::Bytes;
use std::collections::VecDeque;

/// Datagrams waiting for the driver.
pub(crate) struct Outbox {
    queue: VecDeque<Bytes>,
    capacity: usize,
    /// Datagrams dropped because the queue was full.
    pub(crate) overflow: u64,
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Self {
        Outbox { queue: VecDeque::new(), capacity: capacity.max(1), overflow: 0 }
    }

    pub(crate) fn send(&mut self, datagram: Bytes) {
        if self.queue.len() >= self.capacity {
            self.queue.pop_front();
            self.overflow += 1;
        }
        self.queue.push_back(datagram);
    }

    pub(crate) fn poll(&mut self) -> Option<Bytes> {
        self.queue.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let mut o = Outbox::new(2);
        for b in [&b"a"[..], b"b", b"c"] {
            o.send(Bytes::copy_from_slice(b));
        }
        assert_eq!(o.overflow, 1);
        assert_eq!(o.poll().as_deref(), Some(&b"b"[..]));
        assert_eq!(o.poll().as_deref(), Some(&b"c"[..]));
        assert_eq!(o.poll(), None);
    }
}
