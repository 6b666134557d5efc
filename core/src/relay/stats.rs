//! Windowed byte rates: 100 ms buckets over the last 10 s.

use crate::time::Instant;

const BUCKET_MICROS: u64 = 100_000;
const BUCKETS: usize = 100;

/// Bytes per 100 ms bucket over a 10 s ring.
pub(crate) struct RateWindow {
    buckets: Box<[u64; BUCKETS]>,
    /// Index (time / 100 ms) of the newest bucket written.
    newest: u64,
}

impl RateWindow {
    pub(crate) fn new() -> Self {
        RateWindow { buckets: Box::new([0; BUCKETS]), newest: 0 }
    }

    fn advance(&mut self, now: Instant) -> u64 {
        let idx = now.as_micros() / BUCKET_MICROS;
        if idx > self.newest {
            let gap = (idx - self.newest).min(BUCKETS as u64);
            for i in 1..=gap {
                self.buckets[((self.newest + i) % BUCKETS as u64) as usize] = 0;
            }
            self.newest = idx;
        }
        idx
    }

    pub(crate) fn record(&mut self, now: Instant, bytes: usize) {
        let idx = self.advance(now);
        if self.newest - idx < BUCKETS as u64 {
            self.buckets[(idx % BUCKETS as u64) as usize] += bytes as u64;
        }
    }

    /// Bits per second over the last `seconds` (1..=10) ending at `now`,
    /// counting only whole past buckets plus the current one.
    pub(crate) fn bits_per_second(&mut self, now: Instant, seconds: u64) -> u64 {
        self.advance(now);
        let n = (seconds * 10).min(BUCKETS as u64);
        let bytes: u64 =
            (0..n).map(|i| self.buckets[((self.newest + BUCKETS as u64 - i) % BUCKETS as u64) as usize]).sum();
        bytes * 8 / seconds.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_over_windows_and_expiry() {
        let mut w = RateWindow::new();
        for i in 0..30 {
            w.record(Instant::from_millis(10_000 + i * 100), 1000);
        }
        let now = Instant::from_millis(12_950);
        assert_eq!(w.bits_per_second(now, 1), 80_000);
        assert_eq!(w.bits_per_second(now, 3), 80_000);
        assert_eq!(w.bits_per_second(now, 10), 24_000);
        assert_eq!(w.bits_per_second(Instant::from_millis(30_000), 10), 0);
    }

    /// The stream bitrates of docs/protocol.md §3.1 look back 10 s at most:
    /// a record 10 s or more older than the newest bucket has no bucket
    /// left in the ring and is dropped; one 9.9 s old still counts.
    #[test]
    fn a_record_older_than_the_ring_is_dropped() {
        let mut w = RateWindow::new();
        w.record(Instant::from_millis(20_000), 1000);
        w.record(Instant::from_millis(10_000), 500);
        w.record(Instant::from_millis(10_100), 250);
        assert_eq!(w.bits_per_second(Instant::from_millis(20_000), 10), (1000 + 250) * 8 / 10);
    }
}
