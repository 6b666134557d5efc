//! Delivery to the legacy subscribers: what arrived of what the publisher
//! sent after each one's ack, for the lossless completeness check and the
//! report.

use super::{Breach, Checker, Invariant, breach};
use crate::peer::payload_index;
use crate::report::Delivery;
use crate::scenario::{PeerId, PeerSpec};
use rtprelay_core::Instant;
use rtprelay_core::packet::pt;
use std::collections::btree_map::Entry;
use std::net::SocketAddr;
use std::time::Duration;

impl Checker {
    /// A scripted legacy subscriber.
    fn is_legacy_subscriber(&self, peer: PeerId) -> bool {
        matches!(self.peers.get(peer), Some(PeerSpec::Subscriber(_)))
    }

    /// A peer receives a datagram from the relay.
    pub fn on_peer_receive(&mut self, now: Instant, peer: PeerId, data: &[u8]) {
        if !self.is_legacy_subscriber(peer) || data.get(1) != Some(&pt::TS_DATA) {
            return;
        }
        if let Some(index) = payload_index(data) {
            match self.arrived.entry((peer, index)) {
                Entry::Vacant(first) => {
                    first.insert(now);
                }
                Entry::Occupied(_) => *self.network_duplicates.entry(peer).or_default() += 1,
            }
        }
    }

    /// Delivery per subscriber of the published stream(s), in peer order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        let mut out = Vec::new();
        for (peer, spec) in self.peers.iter().enumerate() {
            let PeerSpec::Subscriber(sub) = spec else { continue };
            debug_assert!(self.is_legacy_subscriber(peer));
            let mut d = Delivery {
                peer,
                port: sub.port,
                acked_at: None,
                expected: 0,
                delivered_expected: 0,
                delivered: self.arrived.range((peer, 0)..=(peer, u64::MAX)).count() as u64,
                network_duplicates: self.network_duplicates.get(&peer).copied().unwrap_or(0),
            };
            for (index, sent) in &self.sent {
                let Some(ack) = self.ack_of_sender(peer, sent.from) else { continue };
                d.acked_at = Some(ack);
                if sent.at >= ack {
                    d.expected += 1;
                    d.delivered_expected += u64::from(self.arrived.contains_key(&(peer, *index)));
                }
            }
            out.push(d);
        }
        out
    }

    /// When `peer`'s first ack of the stream published from `from` reached
    /// the relay.
    fn ack_of_sender(&self, peer: PeerId, from: SocketAddr) -> Option<Instant> {
        self.stream_of
            .values()
            .filter(|(_, owner)| *owner == from)
            .filter_map(|(id, _)| self.first_ack.get(&(peer, id.clone())).copied())
            .min()
    }

    /// On a lossless network every packet sent after a subscriber's ack
    /// must have reached it.
    pub fn check_complete(&self) -> Result<(), Breach> {
        for d in self.deliveries() {
            if d.delivered_expected < d.expected {
                let missing = self
                    .sent
                    .iter()
                    .find(|(i, s)| {
                        self.ack_of_sender(d.peer, s.from).is_some_and(|a| s.at >= a)
                            && !self.arrived.contains_key(&(d.peer, **i))
                    })
                    .map(|(i, _)| *i);
                return breach(
                    Invariant::Incomplete,
                    format!(
                        "subscriber {} got {} of {} packets sent after its ack (first missing #{})",
                        d.peer,
                        d.delivered_expected,
                        d.expected,
                        missing.unwrap_or_default()
                    ),
                );
            }
        }
        Ok(())
    }

    /// Publisher-to-subscriber latency of the first arrival of every packet
    /// sent after the subscriber's ack, sorted. (Packets replayed from
    /// history on join are older by design and would skew the tail.)
    pub fn latencies(&self) -> Vec<Duration> {
        let mut out: Vec<Duration> = self
            .arrived
            .iter()
            .filter_map(|(&(peer, index), &at)| {
                let sent = self.sent.get(&index)?;
                let acked = self.ack_of_sender(peer, sent.from)?;
                (sent.at >= acked).then(|| at - sent.at)
            })
            .collect();
        out.sort();
        out
    }
}
