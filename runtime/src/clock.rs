//! Maps the OS clocks onto the core's: the monotonic clock to
//! [`rtprelay_core::Instant`] from a fixed origin, the system clock to a
//! [`WallClock`] offset (docs/protocol.md §1.1: relay timestamps are Unix ms).

use rtprelay_core::{Instant, WallClock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The driver's clock: core instants are microseconds since `origin`.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    /// A clock whose origin is now.
    pub fn start() -> Self {
        Clock { origin: std::time::Instant::now() }
    }

    /// The core instant now (never goes backwards: std's clock is monotonic).
    pub fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// The tokio instant of a core deadline (far in the future if it
    /// cannot be represented).
    pub fn deadline(&self, at: Instant) -> tokio::time::Instant {
        let far = Duration::from_secs(86_400 * 365);
        let std = self.origin.checked_add(Duration::from_micros(at.as_micros())).unwrap_or(self.origin + far);
        tokio::time::Instant::from_std(std)
    }

    /// The wall clock now: Unix-epoch milliseconds at [`Clock::now`].
    pub fn wall_clock(&self) -> WallClock {
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        WallClock::new(self.now(), u64::try_from(unix.as_millis()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_both_clocks() {
        let clock = Clock::start();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let wall = clock.wall_clock().unix_millis(clock.now());
        assert!(wall.abs_diff(unix) < 1_000, "{wall} vs {unix}");
        let d = clock.deadline(Instant::from_millis(1_500)) - tokio::time::Instant::from_std(clock.origin);
        assert_eq!(d, Duration::from_millis(1_500));
        assert!(clock.deadline(Instant::from_micros(u64::MAX)) > tokio::time::Instant::from_std(clock.origin));
    }
}
