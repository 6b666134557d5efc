//! Client checks: what the pull clients emit. Data in sequence order,
//! once, byte for byte as pushed; on a lossless network without gaps,
//! outside relay restarts and NAT rebindings; fresh data again within a
//! deadline after a relay restart.

use super::{Breach, Checker, Fingerprint, Invariant, RESTART_RECOVERY, RESTART_RECOVERY_LOSSY, breach};
use crate::report::{ClientDelivery, Percentiles};
use crate::scenario::{PeerId, PeerSpec};
use rtprelay_core::ReorderStats;
use rtprelay_core::{Instant, PullEvent, Seq};
use std::net::SocketAddr;
use std::time::Duration;

/// How long before a NAT rebinding and after the move it leads to a packet
/// may still be lost to it (in flight, or the client's reorder window).
const REBIND_SLACK: Duration = Duration::from_secs(1);

/// A NAT rebinding of a peer, and when data first followed it.
pub(super) struct Rebinding {
    pub(super) peer: PeerId,
    pub(super) at: Instant,
    pub(super) to: SocketAddr,
    /// The first `TS_DATA` the relay sent to `to`.
    pub(super) moved: Option<Instant>,
}

impl Rebinding {
    /// Whether a packet pushed at `pushed` to `peer` may have gone to the
    /// old address: from just before the rebinding to just after the move.
    fn may_lose(&self, peer: PeerId, pushed: Instant) -> bool {
        self.peer == peer
            && pushed + REBIND_SLACK >= self.at
            && self.moved.is_none_or(|moved| pushed <= moved + REBIND_SLACK)
    }
}

/// What one pull client emitted.
#[derive(Default)]
pub(super) struct ClientLog {
    /// Data events: (pushed at, emitted at, seq, publisher's index), in
    /// order.
    pub(super) data: Vec<(Instant, Instant, Seq, u64)>,
    stream_stops: u64,
    other_events: u64,
    /// When the first data pushed after each restart was emitted.
    recovered_at: Vec<Instant>,
}

impl Checker {
    /// A subscriber running the pull client.
    fn is_client_subscriber(&self, peer: PeerId) -> bool {
        matches!(self.peers.get(peer), Some(PeerSpec::ClientSubscriber(_)))
    }

    /// A relay restart at `now`: each pull client that had data must have
    /// data pushed after it in time.
    pub(super) fn set_recovery_deadlines(&mut self, now: Instant) {
        let due = now + if self.lossless { RESTART_RECOVERY } else { RESTART_RECOVERY_LOSSY };
        // Only where both ends keep running long enough to show it.
        let publishers_run = self
            .peers
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_publisher())
            .all(|(i, _)| self.stops.get(&i).is_some_and(|&stop| stop > due));
        for (&peer, log) in &self.clients {
            let runs = self.stops.get(&peer).is_some_and(|&stop| stop > due);
            if publishers_run && runs && !log.data.is_empty() {
                self.recovery_due.insert(peer, due);
            }
        }
    }

    /// A pull client whose restart deadline passed before `now` without
    /// fresh data.
    pub(super) fn check_recovery_due(&self, now: Instant) -> Result<(), Breach> {
        if let Some((peer, due)) = self.recovery_due.iter().find(|(_, due)| **due < now) {
            let restart = *self.restarts.last().expect("a restart set the deadline");
            return breach(
                Invariant::NotRecovered,
                format!(
                    "subscriber {peer}: no data pushed after the relay restart (at {:?}) by {:?} later",
                    restart,
                    *due - restart
                ),
            );
        }
        Ok(())
    }

    /// An event a pull client emitted at `now`. Data must come in sequence
    /// order, once, byte for byte as pushed; on a lossless network with no
    /// restart in between, with no gap.
    pub fn on_client_event(&mut self, now: Instant, peer: PeerId, event: &PullEvent) {
        if self.pending.is_none()
            && let Err(b) = self.client_event(now, peer, event)
        {
            self.pending = Some(b);
        }
    }

    fn client_event(&mut self, now: Instant, peer: PeerId, event: &PullEvent) -> Result<(), Breach> {
        let log = self.clients.entry(peer).or_default();
        let PullEvent::PullStreamData { live_id, seq, data } = event else {
            match event {
                PullEvent::StreamStop { .. } => log.stream_stops += 1,
                _ => log.other_events += 1,
            }
            return Ok(());
        };
        let index = data.get(..8).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")));
        let Some((index, sent)) = index.and_then(|i| Some((i, self.sent.get(&i)?))) else {
            return breach(
                Invariant::ClientAltered,
                format!("subscriber {peer}: {live_id} seq {seq} was never pushed"),
            );
        };
        if sent.payload != Fingerprint::of(data) {
            return breach(
                Invariant::ClientAltered,
                format!("subscriber {peer}: {live_id} seq {seq} (#{index}) differs from what was pushed"),
            );
        }
        if let Some(&(last_pushed, _, last_seq, last_index)) = log.data.last() {
            let step = seq.since(last_seq);
            if step == 0 || step >= 0x8000 || index <= last_index {
                return breach(
                    Invariant::ClientOrder,
                    format!(
                        "subscriber {peer}: {live_id} seq {seq} (#{index}) emitted after seq {last_seq} (#{last_index})"
                    ),
                );
            }
            // Packets pushed after it may have died with the relay, or gone
            // to the client's old address after a NAT rebinding.
            let restarted = self.restarts.iter().any(|&r| r > last_pushed && r <= now);
            let rebound = (last_index + 1..index)
                .all(|i| self.sent.get(&i).is_some_and(|s| self.rebinds.iter().any(|r| r.may_lose(peer, s.at))));
            if self.lossless && index != last_index + 1 && !restarted && !rebound {
                return breach(
                    Invariant::Incomplete,
                    format!("subscriber {peer}: {live_id} #{index} emitted right after #{last_index} (lossless)"),
                );
            }
        }
        let after_restart = self.restarts.last().is_some_and(|&r| sent.at >= r);
        if after_restart && log.recovered_at.len() < self.restarts.len() {
            log.recovered_at.push(now);
            self.recovery_due.remove(&peer);
        }
        log.data.push((sent.at, now, *seq, index));
        Ok(())
    }

    /// On a lossless network every packet pushed after a pull client's
    /// first delivery must have been emitted, except those lost in a relay
    /// restart's gap (pushed between the last data emitted before the
    /// restart and the first after it), and a pull client that ran while
    /// data was pushed must have had some. The restart deadlines are
    /// checked whatever the network.
    pub fn check_clients_complete(&self, lossless: bool) -> Result<(), Breach> {
        if let Some(b) = &self.pending {
            return Err(b.clone());
        }
        if let Some((peer, _)) = self.recovery_due.first_key_value() {
            return breach(Invariant::NotRecovered, format!("subscriber {peer}: no data pushed after the restart"));
        }
        if !lossless {
            return Ok(());
        }
        for peer in (0..self.peers.len()).filter(|&p| self.is_client_subscriber(p)) {
            let missing = self.client_missing(peer);
            if let Some(first) = missing.first() {
                return breach(
                    Invariant::Incomplete,
                    format!(
                        "subscriber {peer}: {} packet(s) pushed after its first delivery never emitted (first #{first})",
                        missing.len()
                    ),
                );
            }
            let empty = self.clients.get(&peer).is_none_or(|log| log.data.is_empty());
            if empty && !self.sent.is_empty() {
                return breach(Invariant::Incomplete, format!("subscriber {peer}: no data emitted at all"));
            }
        }
        Ok(())
    }

    /// Indices pushed after `peer`'s first emitted one that it never
    /// emitted, outside restart gaps and the gaps of its NAT rebindings
    /// (data goes to the old address until the new one is verified).
    fn client_missing(&self, peer: PeerId) -> Vec<u64> {
        let Some(log) = self.clients.get(&peer).filter(|log| !log.data.is_empty()) else { return Vec::new() };
        let mut missing = Vec::new();
        for pair in log.data.windows(2) {
            let ((a_pushed, _, _, a), (_, b_at, _, b)) = (pair[0], pair[1]);
            if !self.restarts.iter().any(|&r| r > a_pushed && r <= b_at) {
                missing.extend(a + 1..b);
            }
        }
        let (last_pushed, _, _, last) = *log.data.last().expect("not empty");
        // A restart after the last emitted packet was pushed excuses the
        // tail (the client had no chance to recover, or NotRecovered says so).
        if !self.restarts.iter().any(|&r| r > last_pushed) {
            missing.extend(self.sent.range(last + 1..).map(|(i, _)| *i));
        }
        missing.retain(|i| !self.sent.get(i).is_some_and(|s| self.rebinds.iter().any(|r| r.may_lose(peer, s.at))));
        missing
    }

    /// Delivery per pull client, in peer order; `stats` gives each one's
    /// reorder counters.
    pub fn client_deliveries(&self, stats: impl Fn(PeerId) -> Option<ReorderStats>) -> Vec<ClientDelivery> {
        let mut out = Vec::new();
        for (peer, spec) in self.peers.iter().enumerate() {
            let PeerSpec::ClientSubscriber(sub) = spec else { continue };
            let empty = ClientLog::default();
            let log = self.clients.get(&peer).unwrap_or(&empty);
            let first = log.data.first().map(|d| d.1);
            let mut latencies: Vec<Duration> = log
                .data
                .iter()
                .filter_map(|&(_, at, _, index)| {
                    let sent = self.sent.get(&index)?;
                    first.is_some_and(|f| sent.at >= f).then(|| at - sent.at)
                })
                .collect();
            latencies.sort();
            out.push(ClientDelivery {
                peer,
                port: sub.port,
                delivered: log.data.len() as u64,
                stats: stats(peer).unwrap_or_default(),
                stream_stops: log.stream_stops,
                missing: self.client_missing(peer).len() as u64,
                recovery: log.recovered_at.iter().zip(&self.restarts).map(|(&at, &r)| at - r).collect(),
                latency: Percentiles::of_sorted(&latencies),
            });
        }
        out
    }
}
