//! A publisher's bounded history of sent `TS_DATA` datagrams, so it can
//! answer the relay's NACKs (docs/protocol.md §2.2) with the same bytes.

use crate::ids::{Seq, Ssrc};
use crate::packet::rtp::HEADER_LEN;
use bytes::Bytes;
use std::collections::VecDeque;

/// The last `capacity` datagrams of one stream, in sequence order.
pub(crate) struct History {
    packets: VecDeque<(Seq, Bytes)>,
    capacity: usize,
}

impl History {
    pub(crate) fn new(capacity: usize) -> Self {
        History { packets: VecDeque::new(), capacity }
    }

    /// Records a datagram sent with sequence number `seq` (one more than
    /// the previous one).
    pub(crate) fn push(&mut self, seq: Seq, datagram: Bytes) {
        if self.capacity == 0 {
            return;
        }
        if self.packets.len() >= self.capacity {
            self.packets.pop_front();
        }
        self.packets.push_back((seq, datagram));
    }

    /// The datagram sent with `seq` under `ssrc`, if still held.
    pub(crate) fn get(&self, seq: Seq, ssrc: Ssrc) -> Option<&Bytes> {
        let first = self.packets.front()?.0;
        let (held, datagram) = self.packets.get(usize::from(seq.since(first)))?;
        let same_ssrc = datagram.get(8..HEADER_LEN).is_some_and(|b| b == ssrc.get().to_be_bytes());
        (*held == seq && same_ssrc).then_some(datagram)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::rtp::Header;

    fn datagram(seq: u16, ssrc: u32) -> Bytes {
        Header { sequence: seq, ssrc, ..Header::new(33) }.encode(b"x")
    }

    fn get(h: &History, seq: u16, ssrc: u32) -> Option<&Bytes> {
        h.get(Seq::new(seq), Ssrc::new(ssrc))
    }

    #[test]
    fn keeps_the_last_packets_across_wraparound() {
        let mut h = History::new(3);
        for seq in [65534, 65535, 0, 1] {
            h.push(Seq::new(seq), datagram(seq, 9));
        }
        assert!(get(&h, 65534, 9).is_none(), "evicted");
        assert_eq!(get(&h, 65535, 9), Some(&datagram(65535, 9)));
        assert_eq!(get(&h, 1, 9), Some(&datagram(1, 9)));
        assert!(get(&h, 1, 8).is_none(), "another SSRC");
        assert!(get(&h, 2, 9).is_none(), "not sent yet");
    }

    #[test]
    fn a_zero_capacity_keeps_nothing() {
        let mut h = History::new(0);
        h.push(Seq::new(1), datagram(1, 9));
        assert!(get(&h, 1, 9).is_none());
    }
}
