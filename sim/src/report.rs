//! What a run did, for people: traffic, delivery per subscriber, relay
//! drop counters, network faults and latency percentiles.

use crate::net::LinkStats;
use crate::scenario::{PeerId, Scenario};
use rtprelay_core::Counters;
use rtprelay_core::ReorderStats;
use rtprelay_core::{Instant, Port};
use std::fmt;
use std::time::Duration;

/// Nearest-rank percentiles of the publisher-to-subscriber latency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percentiles {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
}

impl Percentiles {
    /// Percentiles of sorted samples; `None` without samples.
    pub fn of_sorted(samples: &[Duration]) -> Option<Self> {
        let last = *samples.last()?;
        let rank = |p: f64| samples[((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
        Some(Percentiles { p50: rank(0.50), p90: rank(0.90), p99: rank(0.99), max: last })
    }
}

/// Delivery to one subscriber, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The subscriber.
    pub peer: PeerId,
    /// The relay socket it talks to.
    pub port: Port,
    /// When the relay first received its ack of the published stream.
    pub acked_at: Option<Instant>,
    /// Packets the publisher sent at or after that ack.
    pub expected: u64,
    /// Of those, the ones that arrived.
    pub delivered_expected: u64,
    /// Every distinct packet that arrived (some sent before the ack may
    /// have reached the relay after it).
    pub delivered: u64,
    /// Extra copies the network duplicated on the way to it.
    pub network_duplicates: u64,
}

/// Delivery to one pull client, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientDelivery {
    /// The subscriber.
    pub peer: PeerId,
    /// The relay socket it talks to.
    pub port: Port,
    /// `PullStreamData` events.
    pub delivered: u64,
    /// The client's reorder counters, over every buffer it had.
    pub stats: ReorderStats,
    /// `StreamStop` events.
    pub stream_stops: u64,
    /// Packets pushed after its first delivery that it never emitted.
    pub missing: u64,
    /// From each relay restart to its first data pushed after it.
    pub recovery: Vec<Duration>,
    /// Push to `PullStreamData`, for packets pushed after its first
    /// delivery (join replays are old by design).
    pub latency: Option<Percentiles>,
}

/// The run's loss figures, with the words of docs/protocol.md §2.4, as
/// `rtprelay-sim --json` prints them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The subscriber with the smallest share: packets emitted in order
    /// to its application (a legacy subscriber: arrived), and packets
    /// published in its window (from the relay's first `PULL_RSP` naming
    /// the stream to it until the publisher's `STOP_PUSH_REQ`).
    pub worst: Option<(u64, u64)>,
    /// Sums over the subscribers: still missing when their slot passed
    /// (legacy subscribers: published in the window and never arrived)…
    pub lost: u64,
    /// …arrived after their slot was emitted…
    pub late: u64,
    /// …arrived after a NACK…
    pub recovered: u64,
    /// …and second copies (dropped).
    pub duplicates: u64,
    /// `TS_DATA` bytes sent again on both legs: the publisher's resends,
    /// the relay's retransmissions and join replays.
    pub retransmitted_bytes: u64,
    /// `TS_DATA` bytes sent once on both legs: each packet published, and
    /// each packet forwarded to each subscriber.
    pub original_bytes: u64,
    /// Publish to emit (legacy: to arrival), over every subscriber's
    /// packets in its window.
    pub latency: Option<Percentiles>,
    /// Packets published.
    pub packets: u64,
}

impl Summary {
    /// The worst subscriber's share (`None` if no subscriber had a window
    /// with packets in it).
    pub fn delivered_ratio(&self) -> Option<f64> {
        self.worst.map(|(got, published)| got as f64 / published as f64)
    }

    /// Bytes sent again over bytes sent once, both legs.
    pub fn overhead_ratio(&self) -> f64 {
        self.retransmitted_bytes as f64 / self.original_bytes.max(1) as f64
    }

    /// One JSON object (one line): these figures, the seed and the run's
    /// trace hash.
    pub fn to_json(&self, seed: u64, trace: &str) -> String {
        let ratio = self.delivered_ratio().map_or("null".to_owned(), |r| format!("{r:.7}"));
        let ms = |pick: fn(&Percentiles) -> Duration| {
            self.latency.as_ref().map_or("null".to_owned(), |p| format!("{:.3}", pick(p).as_secs_f64() * 1000.0))
        };
        let (delivered, published) = self.worst.unwrap_or_default();
        format!(
            "{{\"seed\": {seed}, \"delivered_ratio\": {ratio}, \"delivered\": {delivered}, \"published\": {published}, \
             \"lost\": {}, \"late\": {}, \"recovered\": {}, \"duplicates\": {}, \"overhead_ratio\": {:.6}, \
             \"latency_p50_ms\": {}, \"latency_p99_ms\": {}, \"packets\": {}, \"trace\": \"{trace}\"}}",
            self.lost,
            self.late,
            self.recovered,
            self.duplicates,
            self.overhead_ratio(),
            ms(|p| p.p50),
            ms(|p| p.p99),
            self.packets,
        )
    }
}

/// One run's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// A one-line description of the network model.
    pub network_model: String,
    /// Steps run (each checked).
    pub steps: u64,
    /// Virtual time simulated.
    pub simulated: Duration,
    /// The trace fingerprint (see [`crate::trace`]).
    pub trace_hash: String,
    /// The wire fingerprint: every datagram's time, socket, source,
    /// destination and bytes, nothing else.
    pub wire_hash: String,
    /// `TS_DATA` packets the publisher sent.
    pub sent: u64,
    /// Delivery per subscriber.
    pub deliveries: Vec<Delivery>,
    /// What the network did to the datagrams.
    pub network: LinkStats,
    /// The relay's counters at the end.
    pub counters: Counters,
    /// Latency of the packets sent after each subscriber's ack.
    pub latency: Option<Percentiles>,
    /// Delivery per pull-client subscriber.
    pub clients: Vec<ClientDelivery>,
    /// Relay restarts (the counters above are the last relay's).
    pub restarts: u64,
    /// The origin, to show ack times relative to it.
    pub origin: Instant,
    /// The loss figures.
    pub summary: Summary,
}

impl Report {
    /// A model line for `scenario`.
    pub fn describe_network(scenario: &Scenario) -> String {
        let l = &scenario.link;
        let burst = match l.burst {
            Some(b) => format!("burst(enter {}, leave {}, loss {})", b.enter_bad, b.leave_bad, b.bad_loss),
            None => "no burst".to_owned(),
        };
        format!(
            "delay {:?} ± {:?}, loss {}, {burst}, dup {} (≤ {:?} late), reorder {} (≤ {:?} late)",
            l.delay, l.jitter, l.loss, l.duplicate, l.duplicate_delay, l.reorder, l.reorder_delay
        )
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        writeln!(f, "rtprelay-sim seed {}", self.seed)?;
        writeln!(f, "network    {}", self.network_model)?;
        writeln!(
            f,
            "run        {} steps, {:.3}s simulated, trace {}, wire {}",
            self.steps,
            self.simulated.as_secs_f64(),
            self.trace_hash,
            self.wire_hash
        )?;
        writeln!(
            f,
            "network    {} datagrams, {} lost, {} duplicated, {} reordered",
            self.network.offered, self.network.lost, self.network.duplicated, self.network.reordered
        )?;
        writeln!(
            f,
            "publisher  sent {} TS_DATA; relay accepted {}, dropped {} duplicates, {} forged (wrong source), {} unknown SSRC",
            self.sent, c.ts_data_accepted, c.ts_data_duplicate, c.ts_data_wrong_source, c.ts_data_unknown_ssrc
        )?;
        for d in &self.deliveries {
            let acked = d.acked_at.map_or("never".to_owned(), |a| format!("{:.3}s", (a - self.origin).as_secs_f64()));
            let share = if d.expected == 0 { 100.0 } else { 100.0 * d.delivered_expected as f64 / d.expected as f64 };
            writeln!(
                f,
                "subscriber {} ({:?} port): acked at {acked}, delivered {}/{} sent after the ack ({share:.2}%), \
                 lost {}, {} in all, {} network duplicates",
                d.peer,
                d.port,
                d.delivered_expected,
                d.expected,
                d.expected - d.delivered_expected,
                d.delivered,
                d.network_duplicates
            )?;
        }
        for c in &self.clients {
            let s = &c.stats;
            writeln!(
                f,
                "client sub {} ({:?} port): delivered {}, lost {}, late {}, duplicate {}, recovered {} \
                 ({} NACKed), {} stream stops, {} missing after the first delivery",
                c.peer,
                c.port,
                c.delivered,
                s.lost,
                s.late,
                s.duplicate,
                s.recovered,
                s.nacked,
                c.stream_stops,
                c.missing
            )?;
            let recovery: Vec<String> = c.recovery.iter().map(|d| ms(*d)).collect();
            if !recovery.is_empty() {
                writeln!(f, "           data again {} after the relay restart", recovery.join(", "))?;
            }
            match c.latency {
                Some(p) => writeln!(
                    f,
                    "           latency push→PullStreamData p50 {} p90 {} p99 {} max {}",
                    ms(p.p50),
                    ms(p.p90),
                    ms(p.p99),
                    ms(p.max)
                )?,
                None => writeln!(f, "           no data emitted")?,
            }
        }
        if self.restarts > 0 {
            writeln!(f, "restarts   {} relay restart(s); relay counters below are since the last", self.restarts)?;
        }
        writeln!(
            f,
            "relay      {} forwarded, {} replayed on join, {} NACKs to the publisher, {} PULL_RSP resent, \
             {} gave up, {} PULL_REQ_LOST, {} heartbeat timeouts, {} retransmitted",
            c.ts_data_forwarded,
            c.join_replayed,
            c.push_nacks_sent,
            c.pull_rsp_resent,
            c.pull_rsp_gave_up,
            c.pull_req_lost,
            c.client_heartbeat_timeout,
            c.retransmitted
        )?;
        match self.latency {
            _ if self.deliveries.is_empty() => {}
            Some(p) => writeln!(
                f,
                "latency    p50 {} p90 {} p99 {} max {} (packets sent after the ack)",
                ms(p.p50),
                ms(p.p90),
                ms(p.p99),
                ms(p.max)
            )?,
            None => writeln!(f, "latency    no packet delivered")?,
        }
        write!(f, "invariants held after every step")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of_sorted(&samples).unwrap();
        assert_eq!((p.p50, p.p90, p.p99, p.max), (samples[49], samples[89], samples[98], samples[99]));
        assert_eq!(Percentiles::of_sorted(&[]), None);
        let one = Percentiles::of_sorted(&samples[..1]).unwrap();
        assert_eq!(one.p50, samples[0]);
    }
}
