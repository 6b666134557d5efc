//! The core's own monotonic clock value.
//!
//! The core never reads a clock: every call carries `now`, an [`Instant`]
//! that the driver maps from the OS monotonic clock (runtime) or from a
//! virtual clock (simulation). Unlike `std::time::Instant` it has a zero,
//! never panics on subtraction and can be built from plain numbers.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// Microseconds since an origin the driver picks. Arithmetic saturates.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The driver's origin.
    pub const ZERO: Instant = Instant(0);

    /// An instant `micros` microseconds after the origin.
    #[must_use]
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros)
    }

    /// An instant `millis` milliseconds after the origin.
    #[must_use]
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis.saturating_mul(1000))
    }

    /// Microseconds since the origin.
    #[must_use]
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    #[must_use]
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

fn micros_of(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(micros_of(rhs)))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_sub(micros_of(rhs)))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// Maps the core's [`Instant`] to the relay's RTP timestamp: Unix-epoch
/// milliseconds truncated to `u32` (docs/protocol.md §1.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WallClock {
    /// Unix-epoch microseconds at `Instant::ZERO` (may be "negative" for a
    /// driver whose origin is later than 1970, so kept signed).
    offset_micros: i128,
}

impl WallClock {
    /// A wall clock that reads `unix_millis` at `now`.
    #[must_use]
    pub fn new(now: Instant, unix_millis: u64) -> Self {
        WallClock { offset_micros: i128::from(unix_millis) * 1000 - i128::from(now.as_micros()) }
    }

    /// Unix-epoch milliseconds at `now`.
    #[must_use]
    pub fn unix_millis(&self, now: Instant) -> u64 {
        let micros = i128::from(now.as_micros()) + self.offset_micros;
        u64::try_from(micros.max(0) / 1000).unwrap_or(u64::MAX)
    }

    /// The RTP timestamp the relay stamps on its packets at `now`.
    #[must_use]
    pub fn rtp_timestamp(&self, now: Instant) -> u32 {
        self.unix_millis(now) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        let t = Instant::from_micros(5);
        assert_eq!(t - Instant::from_micros(10), Duration::ZERO);
        assert_eq!(Instant::from_micros(u64::MAX) + Duration::from_secs(1), Instant::from_micros(u64::MAX));
        assert_eq!(t - Duration::from_secs(1), Instant::ZERO);
    }

    #[test]
    fn instants_print_as_seconds_with_microseconds() {
        assert_eq!(format!("{:?}", Instant::from_micros(3_000_042)), "3.000042s");
    }

    #[test]
    fn relay_timestamps_are_unix_millis_truncated_to_u32() {
        let now = Instant::from_millis(10_000);
        let clock = WallClock::new(now, 0x1_2345_6789);
        assert_eq!(clock.rtp_timestamp(now), 0x2345_6789);
        assert_eq!(clock.rtp_timestamp(now + Duration::from_millis(7)), 0x2345_6790);
    }
}
