//! A publisher's bounded history of sent `TS_DATA` datagrams, so it can
//! answer the relay's NACKs (docs/protocol.md §2.2) with the same bytes.

use crate::packet::rtp::HEADER_LEN;
use bytes::Bytes;
use std::collections::VecDeque;

/// The last `capacity` datagrams of one stream, in sequence order.
pub(crate) struct History {
    packets: VecDeque<(u16, Bytes)>,
    capacity: usize,
}

impl History {
    pub(crate) fn new(capacity: usize) -> Self {
        History { packets: VecDeque::new(), capacity }
    }

    /// Records a datagram sent with sequence number `seq` (one more than
    /// the previous one).
    pub(crate) fn push(&mut self, seq: u16, datagram: Bytes) {
        if self.capacity == 0 {
            return;
        }
        if self.packets.len() >= self.capacity {
            self.packets.pop_front();
        }
        self.packets.push_back((seq, datagram));
    }

    /// The datagram sent with `seq` under `ssrc`, if still held.
    pub(crate) fn get(&self, seq: u16, ssrc: u32) -> Option<&Bytes> {
        let first = self.packets.front()?.0;
        let (held, datagram) = self.packets.get(usize::from(seq.wrapping_sub(first)))?;
        let same_ssrc = datagram.get(8..HEADER_LEN).is_some_and(|b| b == ssrc.to_be_bytes());
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

    #[test]
    fn keeps_the_last_packets_across_wraparound() {
        let mut h = History::new(3);
        for seq in [65534, 65535, 0, 1] {
            h.push(seq, datagram(seq, 9));
        }
        assert!(h.get(65534, 9).is_none(), "evicted");
        assert_eq!(h.get(65535, 9), Some(&datagram(65535, 9)));
        assert_eq!(h.get(1, 9), Some(&datagram(1, 9)));
        assert!(h.get(1, 8).is_none(), "another SSRC");
        assert!(h.get(2, 9).is_none(), "not sent yet");
    }
}
