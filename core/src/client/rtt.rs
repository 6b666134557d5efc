//! Round-trip time and the relay's clock, as a publisher sees them.
//!
//! The RTT is smoothed as TCP does (RFC 6298: gain 1/8).
//! The relay stamps its packets with Unix-epoch milliseconds truncated to
//! `u32` (docs/protocol.md §1.1); a publisher's `TS_DATA` carries its estimate of
//! that clock, so it keeps the offset between its own wall clock and the
//! relay's, learnt from the timestamps of the relay's answers.

use crate::time::{Instant, WallClock};
use std::time::Duration;

/// Smoothed round-trip time (RFC 6298 §2, SRTT only: nothing here derives
/// a retransmission timeout, so no variance is kept).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RttEstimator {
    srtt: Option<Duration>,
}

impl RttEstimator {
    pub(crate) fn sample(&mut self, rtt: Duration) {
        self.srtt = Some(match self.srtt {
            None => rtt,
            Some(srtt) => (srtt * 7 + rtt) / 8,
        });
    }

    /// The smoothed RTT, once there is a sample.
    pub(crate) fn smoothed(&self) -> Option<Duration> {
        self.srtt
    }
}

/// Estimate of the relay's RTP clock from the local wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RelayClock {
    clock: WallClock,
    /// Relay clock minus local clock, in microseconds, once known.
    offset_micros: Option<i64>,
}

impl RelayClock {
    pub(crate) fn new(clock: WallClock) -> Self {
        RelayClock { clock, offset_micros: None }
    }

    fn local_millis(&self, now: Instant) -> i64 {
        i64::try_from(self.clock.unix_millis(now)).unwrap_or(i64::MAX)
    }

    /// A relay timestamp `stamped` arrived at `now`: the relay read its
    /// clock about half a round trip ago. The first sample sets the offset,
    /// later ones move it by 1/8 of their difference.
    pub(crate) fn sample(&mut self, now: Instant, stamped: u32, rtt: Option<Duration>) {
        let local = self.local_millis(now) as u32;
        let half_rtt = rtt.map_or(0, |r| i64::try_from(r.as_micros() / 2).unwrap_or(i64::MAX));
        let sample = i64::from(stamped.wrapping_sub(local) as i32) * 1000 + half_rtt;
        self.offset_micros = Some(match self.offset_micros {
            None => sample,
            Some(offset) => offset + (sample - offset) / 8,
        });
    }

    /// The relay's RTP timestamp at `now`, as best known (the local wall
    /// clock until the relay has answered).
    pub(crate) fn timestamp(&self, now: Instant) -> u32 {
        let offset_millis = self.offset_micros.unwrap_or(0).div_euclid(1000);
        self.local_millis(now).wrapping_add(offset_millis) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_is_smoothed_with_gain_one_eighth() {
        let mut r = RttEstimator::default();
        assert_eq!(r.smoothed(), None);
        r.sample(Duration::from_millis(80));
        assert_eq!(r.smoothed(), Some(Duration::from_millis(80)));
        r.sample(Duration::from_millis(160));
        assert_eq!(r.smoothed(), Some(Duration::from_millis(90)));
    }

    #[test]
    fn relay_clock_follows_the_relay_across_u32_wrap() {
        let now = Instant::from_millis(1000);
        // Local clock reads 0xFFFF_FF00 (truncated); the relay is 0x200 ms ahead.
        let mut c = RelayClock::new(WallClock::new(now, 0x7_FFFF_FF00));
        assert_eq!(c.timestamp(now), 0xFFFF_FF00);
        c.sample(now, 0x0000_00F0, Some(Duration::from_millis(20)));
        assert_eq!(c.timestamp(now), 0x0000_00F0 + 10);
        assert_eq!(c.timestamp(now + Duration::from_millis(5)), 0x0000_00F0 + 15);
    }
}
