//! `FanOut`: a stream's acknowledged subscribers, each with its pinned
//! destination queue, its counts, its retransmission budget and its latest
//! receiver report. `TS_DATA` is pushed to each in join order (§1.3.3);
//! a NACK is answered to the one that sent it (§2.1).

use super::super::command::SubscriberInfo;
use super::super::ctx::Ctx;
use super::super::history::History;
use super::super::outbox::SlotId;
use super::feedback::{Budget, Report};
use crate::packet::rtcp::Nack;
use crate::resend::ResendGuard;
use crate::time::Instant;
use crate::{ClientId, Seq};
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;

/// One acknowledged subscriber in a stream's fan-out list.
struct Subscriber {
    client: ClientId,
    /// The client's pinned destination queue.
    slot: SlotId,
    packets: u64,
    bytes: u64,
    /// Packets resent to it after a NACK.
    retransmitted: u64,
    budget: Budget,
    /// The lowest sequence number queued to it among its first
    /// [`HEAD_PACKETS`]: it NACKs a few below the first it got (its first
    /// packets may be lost, §2.5 head), and is resent none from before its
    /// join.
    first: Option<Seq>,
    /// What was resent to it lately (a repeated NACK is answered once).
    resent: ResendGuard,
    /// Its latest receiver report on this stream.
    report: Option<Report>,
}

/// Packets queued to a subscriber during which its NACKs are checked
/// against the first one (its head NACKs come within its first window;
/// later, sequence numbers may have wrapped past it).
const HEAD_PACKETS: u64 = 1024;

impl Subscriber {
    /// Packet `seq` is queued to it (the lowest is kept; it only counts
    /// for the first [`HEAD_PACKETS`]).
    fn queued(&mut self, seq: Seq) {
        if self.first.is_none_or(|first| first.is_after(seq)) {
            self.first = Some(seq);
        }
    }

    /// Whether `seq` is from before its join (while that can be told).
    fn before_join(&self, seq: Seq) -> bool {
        self.packets < HEAD_PACKETS && self.first.is_none_or(|first| first.is_after(seq))
    }
}

/// A stream's fan-out list, in join order.
#[derive(Default)]
pub(super) struct FanOut {
    subscribers: Vec<Subscriber>,
}

impl FanOut {
    pub(super) fn len(&self) -> usize {
        self.subscribers.len()
    }

    pub(super) fn contains(&self, client: ClientId) -> bool {
        self.subscribers.iter().any(|s| s.client == client)
    }

    fn find_mut(&mut self, client: ClientId) -> Option<&mut Subscriber> {
        self.subscribers.iter_mut().find(|s| s.client == client)
    }

    /// Queues `data`, packet `seq` (a refcount, never a copy), to every
    /// subscriber.
    #[inline]
    pub(super) fn forward(&mut self, ctx: &mut Ctx, seq: Seq, data: &Bytes) {
        let len = data.len() as u64;
        ctx.counters().ts_data_forwarded += self.subscribers.len() as u64;
        for sub in &mut self.subscribers {
            sub.queued(seq);
            sub.packets += 1;
            sub.bytes += len;
            ctx.push(sub.slot, data.clone());
        }
    }

    /// Adds `client` on `slot`, first replaying `missed` to it.
    pub(super) fn join<'h>(
        &mut self,
        ctx: &mut Ctx,
        client: ClientId,
        slot: SlotId,
        missed: Option<impl Iterator<Item = (Seq, &'h Bytes)>>,
    ) {
        let mut joined = Subscriber {
            client,
            slot,
            packets: 0,
            bytes: 0,
            retransmitted: 0,
            budget: Budget::new(ctx.now()),
            first: None,
            resent: ResendGuard::default(),
            report: None,
        };
        if let Some(missed) = missed {
            let missed: Vec<(Seq, Bytes)> = missed.map(|(seq, packet)| (seq, packet.clone())).collect();
            ctx.counters().join_replayed += missed.len() as u64;
            for (seq, packet) in missed {
                joined.queued(seq);
                joined.packets += 1;
                joined.bytes += packet.len() as u64;
                ctx.push(slot, packet);
            }
        }
        self.subscribers.push(joined);
    }

    pub(super) fn leave(&mut self, client: ClientId) {
        self.subscribers.retain(|s| s.client != client);
    }

    /// Points `client`'s entries at its new queue.
    pub(super) fn retarget(&mut self, client: ClientId, slot: SlotId) {
        for s in self.subscribers.iter_mut().filter(|s| s.client == client) {
            s.slot = slot;
        }
    }

    /// Resends the NACKed packets kept in `history` to `client`, within its
    /// budget at `rate` bytes per second. False if it is not subscribed.
    pub(super) fn answer_nack(
        &mut self,
        ctx: &mut Ctx,
        client: ClientId,
        rate: u64,
        nack: &Nack,
        history: &History,
    ) -> bool {
        let now: Instant = ctx.now();
        let guard = Duration::from_millis(ctx.config().retransmit_repeat_guard_ms);
        let Some(sub) = self.find_mut(client) else { return false };
        ctx.counters().nacks_received += 1;
        for seq in nack.sequences().map(Seq::new) {
            if sub.before_join(seq) {
                ctx.counters().retransmit_before_join += 1;
                continue;
            }
            let Some(packet) = history.get(seq, now) else {
                ctx.counters().retransmit_not_in_history += 1;
                continue;
            };
            if !sub.resent.allow(now, seq, guard) {
                ctx.counters().retransmit_repeat += 1;
                continue;
            }
            if !sub.budget.take(now, rate, packet.len() as u64) {
                ctx.counters().retransmit_over_budget += 1;
                continue;
            }
            sub.retransmitted += 1;
            ctx.counters().retransmitted += 1;
            ctx.push(sub.slot, packet.clone());
        }
        true
    }

    pub(super) fn record_report(&mut self, client: ClientId, report: Report) {
        if let Some(sub) = self.find_mut(client) {
            sub.report = Some(report);
        }
    }

    /// Every subscriber for the operator, at the address `address` gives.
    pub(super) fn infos(&self, address: impl Fn(ClientId) -> SocketAddr) -> Vec<SubscriberInfo> {
        self.subscribers
            .iter()
            .map(|s| SubscriberInfo {
                address: address(s.client),
                packets_sent: s.packets,
                bytes_sent: s.bytes,
                retransmitted: s.retransmitted,
            })
            .collect()
    }

    /// `client`'s (packets, bytes, retransmitted) and latest report.
    pub(super) fn figures(&self, client: ClientId) -> Option<([u64; 3], Option<Report>)> {
        let s = self.subscribers.iter().find(|s| s.client == client)?;
        Some(([s.packets, s.bytes, s.retransmitted], s.report))
    }
}
