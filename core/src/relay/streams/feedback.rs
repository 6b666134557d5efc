//! What a subscriber's RTCP leaves with its fan-out entry (docs/protocol.md
//! §2.1, 2.3): the `Budget` its NACKs are answered within, and the latest
//! receiver `Report` (its loss and jitter).

use crate::packet::rtcp::ReportBlock;
use crate::time::Instant;

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
    pub(super) fn take(&mut self, now: Instant, rate: u64, bytes: u64) -> bool {
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
    fraction_lost: u8,
    cumulative_lost: i32,
    jitter: u32,
}

impl From<&ReportBlock> for Report {
    fn from(block: &ReportBlock) -> Self {
        Report { fraction_lost: block.fraction_lost, cumulative_lost: block.cumulative_lost, jitter: block.jitter }
    }
}

impl Report {
    /// Fraction lost since the previous report, in 1/256.
    pub(super) fn fraction_lost(&self) -> u8 {
        self.fraction_lost
    }

    /// Cumulative packets lost.
    pub(super) fn cumulative_lost(&self) -> i32 {
        self.cumulative_lost
    }

    /// Interarrival jitter, in RTP timestamp units.
    pub(super) fn jitter(&self) -> u32 {
        self.jitter
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
