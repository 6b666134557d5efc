//! A client's bounded transmit queue: one destination (the relay), oldest
//! datagram dropped and counted when the owner does not drain it.

use bytes::Bytes;
use smallvec::SmallVec;
use std::collections::VecDeque;

/// Datagrams waiting for the driver.
pub(crate) struct Outbox {
    queue: VecDeque<Bytes>,
    capacity: usize,
    /// Datagrams dropped because the queue was full.
    overflow: u64,
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

    /// The oldest `max` datagrams (at least one), in queue order; empty
    /// once nothing is queued.
    pub(crate) fn poll(&mut self, max: usize) -> SmallVec<[Bytes; 4]> {
        let take = self.queue.len().min(max.max(1));
        self.queue.drain(..take).collect()
    }

    /// Datagrams dropped so far because the queue was full.
    pub(crate) fn overflow(&self) -> u64 {
        self.overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(o: &mut Outbox, items: &[&'static [u8]]) {
        for &b in items {
            o.send(Bytes::from_static(b));
        }
    }

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let mut o = Outbox::new(2);
        queue(&mut o, &[b"a", b"b", b"c"]);
        assert_eq!(o.overflow(), 1);
        assert_eq!(o.poll(1).as_slice(), [Bytes::from_static(b"b")]);
        assert_eq!(o.poll(1).as_slice(), [Bytes::from_static(b"c")]);
        assert!(o.poll(1).is_empty());
    }

    /// The overflow figure counts every dropped datagram and nothing else:
    /// none while the queue has room, one per datagram pushed out.
    #[test]
    fn overflow_counts_each_drop() {
        let mut o = Outbox::new(2);
        queue(&mut o, &[b"a", b"b"]);
        assert_eq!(o.overflow(), 0, "a queue with room drops nothing");
        queue(&mut o, &[b"c", b"d", b"e"]);
        assert_eq!(o.overflow(), 3);
    }

    #[test]
    fn batches_keep_queue_order_and_take_at_least_one() {
        let mut o = Outbox::new(8);
        queue(&mut o, &[b"a", b"b", b"c"]);
        assert_eq!(o.poll(0).as_slice(), [Bytes::from_static(b"a")], "zero means one");
        assert_eq!(o.poll(5).as_slice(), [Bytes::from_static(b"b"), Bytes::from_static(b"c")]);
    }
}
