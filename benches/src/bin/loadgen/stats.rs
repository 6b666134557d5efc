//! What the receivers count: packets delivered and their latency.

/// Width of one latency bucket.
const BUCKET_NS: u64 = 10_000;
/// Buckets up to 500 ms; slower packets share the last one.
const BUCKETS: usize = 50_000;

/// Delivered packets and a latency histogram (10 µs buckets).
pub(crate) struct Tally {
    /// Stream packets received whose send time falls in the window.
    pub(crate) delivered: u64,
    counts: Vec<u64>,
}

impl Tally {
    pub(crate) fn new() -> Self {
        Tally { delivered: 0, counts: vec![0; BUCKETS] }
    }

    /// One packet, `latency_ns` after it was sent.
    pub(crate) fn record(&mut self, latency_ns: u64) {
        self.delivered += 1;
        self.counts[((latency_ns / BUCKET_NS) as usize).min(BUCKETS - 1)] += 1;
    }

    /// Adds `other`'s packets to these.
    pub(crate) fn merge(&mut self, other: &Tally) {
        self.delivered += other.delivered;
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }

    /// The latency below which a fraction `p` of the packets arrived, in
    /// milliseconds (the top of its bucket); `None` with no packets.
    pub(crate) fn percentile_ms(&self, p: f64) -> Option<f64> {
        let rank = ((self.delivered as f64 * p).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(((i as u64 + 1) * BUCKET_NS) as f64 / 1e6);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_bucket_tops() {
        let mut t = Tally::new();
        assert_eq!(t.percentile_ms(0.5), None);
        for us in 1..=100 {
            t.record(us * 1_000);
        }
        assert_eq!(t.delivered, 100);
        assert_eq!(t.percentile_ms(0.5), Some(0.06), "50 µs falls in the bucket ending at 60 µs");
        assert_eq!(t.percentile_ms(0.99), Some(0.1));
        let mut other = Tally::new();
        other.record(10_000_000_000);
        t.merge(&other);
        assert_eq!(t.delivered, 101);
        assert_eq!(t.percentile_ms(1.0), Some(500.0), "beyond the range: the last bucket");
    }
}
