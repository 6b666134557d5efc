//! The run's loss figures (docs/protocol.md §2.4 words), for the report
//! and `--json`: what each subscriber got of what was published in its
//! window, and what recovery cost on both legs.

use super::{Checker, ClientLog};
use crate::report::{Percentiles, Summary};
use crate::scenario::{PeerId, PeerSpec};
use rtprelay_core::packet::text;
use rtprelay_core::{Instant, ReorderStats};
use std::time::Duration;

impl Checker {
    /// A `PULL_RSP` to `peer`: the start of its window if it names one of
    /// the scenario's streams.
    pub(super) fn on_pull_rsp(&mut self, now: Instant, peer: Option<PeerId>, payload: &[u8]) {
        let Some(peer) = peer.filter(|&p| self.is_subscriber(p)) else { return };
        if text::parse_pull_rsp(payload).iter().any(|(id, _)| self.stream_ids.contains(id)) {
            self.first_pull_rsp.entry(peer).or_insert(now);
        }
    }

    /// Whether a packet published at `at` is in `peer`'s window: from the
    /// relay's first `PULL_RSP` naming the stream to it until the
    /// publisher's `STOP_PUSH_REQ`.
    fn in_window(&self, peer: PeerId, at: Instant) -> bool {
        self.first_pull_rsp.get(&peer).is_some_and(|&start| at >= start)
            && self.stop_push_at.is_none_or(|stop| at <= stop)
    }

    /// The figures of the run; `stats` gives each pull client's reorder
    /// counters.
    pub fn summary(&self, stats: impl Fn(PeerId) -> Option<ReorderStats>) -> Summary {
        let mut summary = Summary {
            packets: self.sent.len() as u64,
            retransmitted_bytes: self.leg_bytes.push[1] + self.leg_bytes.pull[1],
            original_bytes: self.leg_bytes.push[0] + self.leg_bytes.pull[0],
            ..Summary::default()
        };
        let mut latencies = Vec::new();
        let empty = ClientLog::default();
        for (peer, spec) in self.peers.iter().enumerate() {
            let emitted: Vec<(u64, Duration)> = match spec {
                PeerSpec::ClientSubscriber(_) => {
                    let s = stats(peer).unwrap_or_default();
                    summary.lost += s.lost;
                    summary.late += s.late;
                    summary.recovered += s.recovered;
                    summary.duplicates += s.duplicate;
                    let log = self.clients.get(&peer).unwrap_or(&empty);
                    log.data.iter().map(|&(pushed, at, _, index)| (index, at - pushed)).collect()
                }
                PeerSpec::Subscriber(_) => {
                    summary.duplicates += self.network_duplicates.get(&peer).copied().unwrap_or(0);
                    let arrived = self.arrived.range((peer, 0)..=(peer, u64::MAX));
                    arrived.filter_map(|(&(_, index), &at)| Some((index, at - self.sent.get(&index)?.at))).collect()
                }
                _ => continue,
            };
            let published = self.sent.values().filter(|s| self.in_window(peer, s.at)).count() as u64;
            let mut got = 0;
            for (index, latency) in emitted {
                if self.sent.get(&index).is_some_and(|s| self.in_window(peer, s.at)) {
                    got += 1;
                    latencies.push(latency);
                }
            }
            if let PeerSpec::Subscriber(_) = spec {
                summary.lost += published.saturating_sub(got);
            }
            let worse = summary
                .worst
                .is_none_or(|(g, p)| u128::from(got) * u128::from(p) < u128::from(g) * u128::from(published));
            if published > 0 && worse {
                summary.worst = Some((got, published));
            }
        }
        latencies.sort();
        summary.latency = Percentiles::of_sorted(&latencies);
        summary
    }
}
