//! Per-destination transmit queues: the zero-copy fan-out target.
//!
//! Every destination `(Port, SocketAddr)` has a bounded FIFO of `Bytes`
//! (clones of one refcounted buffer for fanned-out data). Subscribers *pin*
//! their destination's slot so the hot path pushes by index without a hash
//! lookup; one-off replies use a transient slot freed once drained.

use crate::endpoint::{Port, Transmit};
use crate::relay::Counters;
use crate::rng::Map;
use bytes::Bytes;
use smallvec::SmallVec;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// A destination: the socket to send from and the peer address.
pub(crate) type Dest = (Port, SocketAddr);

/// Index of a destination queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlotId(u32);

struct Slot {
    dest: Dest,
    queue: VecDeque<Bytes>,
    pins: u32,
    ready: bool,
}

/// All destination queues and the round-robin list of non-empty ones.
pub(crate) struct Outbox {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    index: Map<Dest, SlotId>,
    ready: VecDeque<SlotId>,
    capacity: usize,
    queued: usize,
}

impl Outbox {
    pub(crate) fn new(index: Map<Dest, SlotId>, capacity: usize) -> Self {
        Outbox { slots: Vec::new(), free: Vec::new(), index, ready: VecDeque::new(), capacity, queued: 0 }
    }

    fn slot_mut(&mut self, id: SlotId) -> &mut Slot {
        self.slots[id.0 as usize].as_mut().expect("slot ids always name live slots")
    }

    /// The slot for `dest`, created if needed.
    fn slot(&mut self, dest: Dest) -> SlotId {
        if let Some(id) = self.index.get(&dest) {
            return *id;
        }
        let slot = Slot { dest, queue: VecDeque::new(), pins: 0, ready: false };
        let id = if let Some(i) = self.free.pop() {
            self.slots[i as usize] = Some(slot);
            SlotId(i)
        } else {
            self.slots.push(Some(slot));
            SlotId((self.slots.len() - 1) as u32)
        };
        self.index.insert(dest, id);
        id
    }

    /// Pins the slot of `dest` for a subscriber; pair with [`Self::unpin`].
    pub(crate) fn pin(&mut self, dest: Dest) -> SlotId {
        let id = self.slot(dest);
        self.slot_mut(id).pins += 1;
        id
    }

    /// Releases one pin; the slot goes once it is also empty.
    pub(crate) fn unpin(&mut self, id: SlotId) {
        let slot = self.slot_mut(id);
        slot.pins -= 1;
        self.free_if_idle(id);
    }

    fn free_if_idle(&mut self, id: SlotId) {
        let slot = self.slots[id.0 as usize].as_ref().expect("live slot");
        if slot.pins == 0 && slot.queue.is_empty() && !slot.ready {
            let dest = slot.dest;
            self.slots[id.0 as usize] = None;
            self.index.remove(&dest);
            self.free.push(id.0);
        }
    }

    /// Queues one datagram for a pinned slot (the fan-out hot path).
    pub(crate) fn push(&mut self, id: SlotId, datagram: Bytes, counters: &mut Counters) {
        counters.tx_datagrams += 1;
        counters.tx_bytes += datagram.len() as u64;
        let slot = self.slots[id.0 as usize].as_mut().expect("slot ids always name live slots");
        if slot.queue.len() >= self.capacity {
            slot.queue.pop_front();
            counters.tx_queue_overflow += 1;
        } else {
            self.queued += 1;
        }
        slot.queue.push_back(datagram);
        if !slot.ready {
            slot.ready = true;
            self.ready.push_back(id);
        }
    }

    /// Queues one datagram for any destination.
    pub(crate) fn send(&mut self, dest: Dest, datagram: Bytes, counters: &mut Counters) {
        let id = self.slot(dest);
        self.push(id, datagram, counters);
    }

    /// Up to `max_segments` queued datagrams for the next destination in
    /// round-robin order.
    pub(crate) fn poll(&mut self, max_segments: usize) -> Option<Transmit> {
        let id = self.ready.pop_front()?;
        let slot = self.slot_mut(id);
        let take = slot.queue.len().min(max_segments.max(1));
        let segments: SmallVec<[Bytes; 4]> = slot.queue.drain(..take).collect();
        let transmit = Transmit { port: slot.dest.0, destination: slot.dest.1, segments };
        if slot.queue.is_empty() {
            slot.ready = false;
            self.free_if_idle(id);
        } else {
            self.ready.push_back(id);
        }
        self.queued -= take;
        Some(transmit)
    }

    /// Datagrams waiting in all queues.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Live slots (for bound checks in tests and the simulation).
    pub(crate) fn slots_in_use(&self) -> usize {
        self.index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(port: u16) -> Dest {
        (Port::Pull, SocketAddr::from(([127, 0, 0, 1], port)))
    }

    #[test]
    fn full_queue_drops_the_oldest_and_counts_it() {
        let mut c = Counters::default();
        let mut o = Outbox::new(Map::default(), 2);
        for b in [b"a", b"b", b"c"] {
            o.send(dest(1), Bytes::from_static(b), &mut c);
        }
        assert_eq!(c.tx_queue_overflow, 1);
        let t = o.poll(8).unwrap();
        assert_eq!(t.segments.as_slice(), [Bytes::from_static(b"b"), Bytes::from_static(b"c")]);
        assert!(o.poll(8).is_none());
        assert_eq!(o.slots_in_use(), 0, "a drained unpinned slot is freed");
    }

    #[test]
    fn destinations_take_turns_and_pinned_slots_stay() {
        let mut c = Counters::default();
        let mut o = Outbox::new(Map::default(), 16);
        let a = o.pin(dest(1));
        for _ in 0..3 {
            o.push(a, Bytes::from_static(b"x"), &mut c);
        }
        o.send(dest(2), Bytes::from_static(b"y"), &mut c);
        let order: Vec<_> =
            std::iter::from_fn(|| o.poll(2)).map(|t| (t.destination.port(), t.segments.len())).collect();
        assert_eq!(order, [(1, 2), (2, 1), (1, 1)]);
        assert_eq!(o.slots_in_use(), 1);
        o.unpin(a);
        assert_eq!(o.slots_in_use(), 0);
    }
}
