//! RTCP from subscribers (docs/protocol.md §2.1, 2.3): Generic NACKs answered
//! from the stream's history within a per-subscriber budget, and receiver
//! reports kept as that subscriber's loss and jitter.

use super::Relay;
use crate::packet::rtcp::{self, RtcpPacket};
use crate::time::Instant;
use std::net::SocketAddr;

/// A token bucket of retransmission bytes, refilled at a share of the
/// stream's rate and holding at most one second of it.
pub(super) struct Budget {
    tokens: u64,
    at: Instant,
    fresh: bool,
}

impl Budget {
    pub(super) fn new(now: Instant) -> Self {
        Budget { tokens: 0, at: now, fresh: true }
    }

    /// Takes `bytes` if the bucket holds them at `rate` bytes per second.
    fn take(&mut self, now: Instant, rate: u64, bytes: u64) -> bool {
        let refill = if self.fresh {
            rate
        } else {
            rate.saturating_mul(now.saturating_duration_since(self.at).as_micros() as u64) / 1_000_000
        };
        self.fresh = false;
        self.tokens = self.tokens.saturating_add(refill).min(rate);
        self.at = now;
        if self.tokens >= bytes {
            self.tokens -= bytes;
            true
        } else {
            false
        }
    }
}

/// The last receiver report block a subscriber sent for a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Report {
    pub(super) fraction_lost: u8,
    pub(super) cumulative_lost: i32,
    pub(super) jitter: u32,
}

impl Relay {
    /// RTCP counts only from a client's bound address; anything else is
    /// ignored (the relay sends no RTCP to subscribers, so there is nothing
    /// to answer).
    pub(super) fn handle_rtcp(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let (packets, error) = rtcp::parse_compound(data);
        if error.is_some() {
            self.counters.rtcp_malformed += 1;
        }
        for packet in packets {
            let handled = match packet {
                RtcpPacket::Nack(nack) => self.on_nack(now, from, &nack),
                RtcpPacket::ReceiverReport(rr) => self.on_receiver_report(from, &rr),
                RtcpPacket::Other(_) => false,
            };
            if !handled {
                self.counters.rtcp_ignored += 1;
            }
        }
    }

    /// The client sending from its bound address, marked as one that uses
    /// extensions.
    fn feedback_client(&mut self, from: SocketAddr, id: u32) -> bool {
        match self.clients.by_id.get_mut(&id) {
            Some(c) if c.addr == from => {
                c.uses_extensions = true;
                true
            }
            _ => false,
        }
    }

    /// Resends the listed packets from history to that subscriber only.
    fn on_nack(&mut self, now: Instant, from: SocketAddr, nack: &rtcp::Nack) -> bool {
        if !self.feedback_client(from, nack.sender_ssrc) {
            return false;
        }
        let Some(idx) = self.streams.index_of_ssrc(nack.media_ssrc) else { return false };
        let floor = self.config.retransmit_budget_min_bytes_per_sec;
        let percent = self.config.retransmit_budget_percent;
        let stream = self.streams.get_mut(idx);
        let Some(sub) = stream.subscribers.iter_mut().find(|s| s.client == nack.sender_ssrc) else { return false };
        let rate = (stream.rate.bits_per_second(now, 1) / 8 * percent / 100).max(floor);
        self.counters.nacks_received += 1;
        for seq in nack.sequences() {
            let Some(packet) = stream.history.get(crate::Seq::new(seq), now) else {
                self.counters.retransmit_not_in_history += 1;
                continue;
            };
            if !sub.budget.take(now, rate, packet.len() as u64) {
                self.counters.retransmit_over_budget += 1;
                continue;
            }
            sub.retransmitted += 1;
            self.counters.retransmitted += 1;
            self.outbox.push(sub.slot, packet.clone(), &mut self.counters);
        }
        true
    }

    fn on_receiver_report(&mut self, from: SocketAddr, rr: &rtcp::ReceiverReport) -> bool {
        if !self.feedback_client(from, rr.sender_ssrc) {
            return false;
        }
        for block in &rr.blocks {
            let Some(idx) = self.streams.index_of_ssrc(block.ssrc) else { continue };
            let stream = self.streams.get_mut(idx);
            if let Some(sub) = stream.subscribers.iter_mut().find(|s| s.client == rr.sender_ssrc) {
                sub.report = Some(Report {
                    fraction_lost: block.fraction_lost,
                    cumulative_lost: block.cumulative_lost,
                    jitter: block.jitter,
                });
            }
        }
        self.counters.receiver_reports += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refills_at_its_rate_and_holds_one_second() {
        let t = Instant::from_millis(1000);
        let mut b = Budget::new(t);
        assert!(b.take(t, 1000, 600));
        assert!(!b.take(t, 1000, 600), "400 left");
        assert!(b.take(t + std::time::Duration::from_millis(200), 1000, 600));
        assert!(!b.take(t + std::time::Duration::from_secs(100), 1000, 1001), "capped at one second");
    }
}
