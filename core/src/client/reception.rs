//! What a pull client reports about each stream in its RTCP Receiver
//! Reports (docs/protocol.md §2.3, RFC 3550 §6.4.1 and A.8): loss since the last
//! report, cumulative loss, the extended highest sequence number, and the
//! interarrival jitter.

use super::reorder::ReorderStats;
use crate::ids::{Seq, Ssrc};
use crate::packet::rtcp::ReportBlock;

/// Reception state of one stream between reports.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reception {
    /// Extended highest sequence number received.
    highest: Option<u32>,
    /// Relative transit time of the previous packet (arrival minus RTP
    /// timestamp, both in the relay clock's milliseconds).
    last_transit: Option<i64>,
    /// Interarrival jitter, in timestamp units.
    jitter: f64,
    /// Received and lost counts at the previous report.
    prior: (u64, u64),
}

impl Reception {
    /// A data packet arrived at `arrival` (relay-clock ms, truncated like
    /// the timestamps) carrying `sequence` and `timestamp`.
    pub(crate) fn on_packet(&mut self, sequence: Seq, timestamp: u32, arrival: u32) {
        self.highest = Some(match self.highest {
            None => u32::from(sequence.get()),
            Some(h) => {
                let step = i32::from(sequence.delta(Seq::new(h as u16)));
                if step > 0 { h.wrapping_add(step as u32) } else { h }
            }
        });
        let transit = i64::from(arrival.wrapping_sub(timestamp) as i32);
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// The report block for `ssrc`, from the reorder buffer's counts;
    /// starts the next reporting interval. `None` before any packet.
    pub(crate) fn report(&mut self, ssrc: Ssrc, stats: ReorderStats) -> Option<ReportBlock> {
        let highest = self.highest?;
        let (received, lost) = (stats.received, stats.lost);
        let expected = (received + lost).saturating_sub(self.prior.0 + self.prior.1);
        let lost_now = lost.saturating_sub(self.prior.1);
        self.prior = (received, lost);
        let fraction_lost = (lost_now * 256).checked_div(expected).map_or(0, |f| f.min(255) as u8);
        Some(ReportBlock {
            ssrc: ssrc.get(),
            fraction_lost,
            cumulative_lost: i32::try_from(lost).unwrap_or(i32::MAX),
            highest_sequence: highest,
            jitter: self.jitter as u32,
            last_sr: 0,
            delay_since_last_sr: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_fraction_is_per_interval_and_the_highest_number_is_extended() {
        let mut r = Reception::default();
        assert!(r.report(Ssrc::new(1), ReorderStats::default()).is_none(), "nothing to report yet");
        r.on_packet(Seq::new(65535), 0, 0);
        r.on_packet(Seq::new(1), 0, 0);
        let stats = ReorderStats { received: 3, lost: 1, ..ReorderStats::default() };
        let block = r.report(Ssrc::new(9), stats).unwrap();
        assert_eq!((block.ssrc, block.fraction_lost, block.cumulative_lost, block.highest_sequence), (9, 64, 1, 65537));
        let stats = ReorderStats { received: 7, lost: 1, ..ReorderStats::default() };
        assert_eq!(r.report(Ssrc::new(9), stats).unwrap().fraction_lost, 0, "no new loss in this interval");
    }

    #[test]
    fn jitter_follows_rfc_3550() {
        let mut r = Reception::default();
        // Timestamps 20 ms apart, arrivals alternating 15 and 25 ms apart.
        let mut arrival = 1000u32;
        for k in 0..200u32 {
            r.on_packet(Seq::new(k as u16), k * 20, arrival);
            arrival += if k % 2 == 0 { 15 } else { 25 };
        }
        let block = r.report(Ssrc::new(1), ReorderStats { received: 200, ..ReorderStats::default() }).unwrap();
        assert_eq!(block.jitter, 4, "converges on |D| = 5 ms, truncated: {}", r.jitter);
    }

    /// RFC 3550 §6.4.1: the fraction lost is the interval's new losses over
    /// the packets expected in that interval (received + lost since the
    /// previous report), scaled to 1/256.
    #[test]
    fn the_loss_fraction_is_over_the_packets_expected_since_the_last_report() {
        let mut r = Reception::default();
        r.on_packet(Seq::new(1), 0, 0);
        let first = r.report(Ssrc::new(5), ReorderStats { received: 3, lost: 1, ..ReorderStats::default() }).unwrap();
        assert_eq!((first.fraction_lost, first.cumulative_lost), (64, 1), "1 of 4");
        // This interval: 7 received and 2 lost, so 9 expected.
        let second = r.report(Ssrc::new(5), ReorderStats { received: 10, lost: 3, ..ReorderStats::default() }).unwrap();
        assert_eq!((second.fraction_lost, second.cumulative_lost), (56, 3), "2 × 256 / 9");
    }
}
