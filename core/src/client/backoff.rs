//! Retries with exponential backoff: the wait doubles after every attempt
//! up to a cap, and resets once the peer answers.

use crate::time::Instant;
use std::time::Duration;

/// A retry schedule: `initial`, `2 × initial`, ... capped at `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    attempts: u32,
    /// When the next attempt is due.
    at: Instant,
}

impl Backoff {
    /// A schedule whose first attempt is made at `now` (the caller sends
    /// it) and whose next one is due `initial` later.
    pub(crate) fn start(now: Instant, initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Backoff { initial, max: max.max(initial), attempts: 1, at: now + initial }
    }

    /// When the next attempt is due.
    pub(crate) fn at(&self) -> Instant {
        self.at
    }

    /// Whether the next attempt is due at `now`.
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.at <= now
    }

    /// Records an attempt made at `now` and schedules the next one.
    pub(crate) fn retry(&mut self, now: Instant) {
        let wait = self.initial.saturating_mul(1 << self.attempts.min(20)).min(self.max);
        self.attempts = self.attempts.saturating_add(1);
        self.at = now + wait;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let ms = Duration::from_millis;
        let mut b = Backoff::start(Instant::ZERO, ms(500), ms(3000));
        let mut waits = vec![b.at.as_micros() / 1000];
        for _ in 0..4 {
            let now = b.at;
            b.retry(now);
            waits.push((b.at - now).as_millis() as u64);
        }
        assert_eq!(waits, [500, 1000, 2000, 3000, 3000]);
    }
}
