//! A client's list and how it is answered (docs/protocol.md §1.4.2-§1.4.6,
//! §2.5 join): `Reassembly` of a chunked `PULL_REQ`, the `Subscription`s it
//! replaces, `PULL_RSP` with a challenge per packet (in its SSRC field) and its resends until
//! acknowledged, the unprompted answer when a listed stream goes live, and
//! `SSRC_ACK`, which puts the client into the stream's fan-out list.

use super::super::command::LossReport;
use super::super::ctx::Ctx;
use super::super::outbox::Dest;
use super::super::streams::Streams;
use super::super::timer::TimerKey;
use super::trust::Echo;
use super::{Clients, Untrusted, entry};
use crate::endpoint::Port;
use crate::packet::pt::PayloadType;
use crate::packet::rtp::Header;
use crate::packet::{pt, text};
use crate::time::Instant;
use crate::{ClientId, Ssrc};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// One entry of a client's list.
pub(super) struct Subscription {
    /// Any text the request named; it need not be a stream id.
    live_id: String,
    /// Acknowledged: the client is in the stream's fan-out list.
    acked: bool,
    /// Resend schedule while answered with an SSRC and not acknowledged.
    resend: Option<Resend>,
    /// When the first `PULL_RSP` with an SSRC went out: the ack replays
    /// the stream's history from then on (2.5 join).
    answered_at: Option<Instant>,
    /// The client's latest `packageLoss` figures for it (§3.2).
    loss: Option<LossReport>,
}

impl Subscription {
    fn new(live_id: &str) -> Self {
        Subscription { live_id: live_id.to_owned(), acked: false, resend: None, answered_at: None, loss: None }
    }

    pub(super) fn loss(&self) -> Option<LossReport> {
        self.loss
    }

    /// Keeps the client's reported figures (already sanitized).
    pub(super) fn report_loss(&mut self, loss: Option<LossReport>) {
        self.loss = loss;
    }

    pub(super) fn live_id(&self) -> &str {
        &self.live_id
    }

    pub(super) fn acked(&self) -> bool {
        self.acked
    }

    /// Answered with an SSRC now: (re)start the resends, remember when.
    fn answered(&mut self, now: Instant, first_resend: Instant) {
        if !self.acked {
            self.resend = Some(Resend { count: 0, at: first_resend });
            self.answered_at.get_or_insert(now);
        }
    }
}

#[derive(Clone, Copy)]
struct Resend {
    /// Resends done so far.
    count: u32,
    at: Instant,
}

/// A chunked `PULL_REQ` being reassembled.
pub(super) struct Reassembly {
    chunks: BTreeMap<u16, Vec<u8>>,
    /// Index of the chunk with the marker, once seen.
    last: Option<u16>,
    at: Instant,
}

impl Reassembly {
    /// Whether `index` (marked last or not) cannot belong to this set.
    fn conflicts(&self, index: u16, last: bool) -> bool {
        self.chunks.contains_key(&index)
            || self.last.is_some_and(|l| index > l || last)
            || (last && self.chunks.keys().next_back().is_some_and(|&max| max > index))
    }

    fn complete(&self) -> bool {
        self.last.is_some_and(|l| self.chunks.len() == usize::from(l) + 1)
    }
}

impl Clients {
    /// `PULL_REQ` chunk (§1.4.2): reassembled per client in any order.
    pub(in super::super) fn on_pull_req(
        &mut self,
        ctx: &mut Ctx,
        streams: &mut Streams,
        port: Port,
        from: SocketAddr,
        header: Header,
        payload: &[u8],
    ) -> Result<(), Untrusted> {
        let id = ClientId::new(header.ssrc);
        if !self.trusted(ctx, streams, port, from, id) {
            return Err(Untrusted);
        }
        let now = ctx.now();
        let (index, last) = (header.sequence, header.marker);
        let max_chunks = ctx.config().max_pull_request_chunks;
        let max_pending = ctx.config().max_pending_reassemblies;
        let timeout = ctx.config().pull_reassembly_timeout();
        let client = self.by_id.get_mut(&id).expect("trusted client exists");
        let had_pending = client.pending.is_some();
        let mut set =
            client.pending.take().unwrap_or_else(|| Reassembly { chunks: BTreeMap::new(), last: None, at: now });
        if usize::from(index) >= max_chunks {
            // Too long: the set is dropped and the client told at once,
            // once for the rest of its chunks (§1.4.2).
            ctx.counters().pull_req_rejected += 1;
            if had_pending {
                self.pending -= 1;
                ctx.cancel(set.at, TimerKey::Reassembly(id));
            }
            if client.too_long_at.is_none_or(|at| now >= at + timeout) {
                client.too_long_at = Some(now);
                let dest = client.dest();
                ctx.counters().pull_req_too_long += 1;
                let lost = ctx.control(PayloadType::PullReqLost, 0, pt::PULL_REQ_LOST_PAYLOAD);
                ctx.send(dest, lost);
            }
            return Ok(());
        }
        if set.conflicts(index, last) {
            set.chunks.clear();
            set.last = None;
        }
        set.chunks.insert(index, payload.to_vec());
        if last {
            set.last = Some(index);
        }
        if set.complete() {
            if had_pending {
                self.pending -= 1;
                ctx.cancel(set.at, TimerKey::Reassembly(id));
            }
            let list: Vec<u8> = set.chunks.into_values().flatten().collect();
            self.apply_pull_request(ctx, streams, id, &list);
            return Ok(());
        }
        if had_pending {
            ctx.cancel(set.at, TimerKey::Reassembly(id));
        } else {
            if self.pending >= max_pending {
                ctx.counters().pull_req_rejected += 1;
                return Ok(());
            }
            self.pending += 1;
        }
        set.at = now + timeout;
        ctx.schedule(set.at, TimerKey::Reassembly(id));
        self.client_mut(id).pending = Some(set);
        Ok(())
    }

    /// A pending pull request timed out: `PULL_REQ_LOST` (§1.4.2).
    pub(in super::super) fn on_reassembly_timer(&mut self, ctx: &mut Ctx, at: Instant, id: ClientId) {
        let Some(client) = self.by_id.get_mut(&id) else { return };
        if client.pending.as_ref().is_none_or(|p| p.at != at) {
            return;
        }
        client.pending = None;
        let dest = client.dest();
        self.pending -= 1;
        ctx.counters().pull_req_lost += 1;
        let lost = ctx.control(PayloadType::PullReqLost, 0, pt::PULL_REQ_LOST_PAYLOAD);
        ctx.send(dest, lost);
    }

    /// A complete pull request replaces the client's list (§1.4.3) and is
    /// answered id by id (§1.4.4).
    fn apply_pull_request(&mut self, ctx: &mut Ctx, streams: &mut Streams, id: ClientId, list: &[u8]) {
        let Ok(mut ids) = text::split_ids(list) else {
            ctx.counters().pull_req_not_utf8 += 1;
            return;
        };
        let max_ids = ctx.config().max_ids_per_request;
        if ids.len() > max_ids {
            ctx.counters().pull_req_ids_truncated += (ids.len() - max_ids) as u64;
            ids.truncate(max_ids);
        }
        ctx.counters().pull_req_applied += 1;
        let now = ctx.now();
        let first_wait = now + ctx.config().pull_rsp_resend_wait(0);
        let mut old = std::mem::take(&mut self.client_mut(id).subscriptions);
        let mut subscriptions = Vec::with_capacity(ids.len());
        for live_id in ids {
            let mut sub = if let Some(i) = old.iter().position(|s| s.live_id == live_id) {
                old.swap_remove(i)
            } else {
                self.interest.entry(live_id.to_owned()).or_default().insert(id);
                Subscription::new(live_id)
            };
            if streams.live_ssrc(live_id).is_some() {
                sub.answered(now, first_wait);
            }
            subscriptions.push(sub);
        }
        for sub in &old {
            self.unsubscribe(streams, id, sub);
        }
        let entries: Vec<(String, Option<u32>)> =
            subscriptions.iter().map(|s| entry(&s.live_id, streams.live_ssrc(&s.live_id))).collect();
        let client = self.client_mut(id);
        client.subscriptions = subscriptions;
        let dest = client.dest();
        self.send_pull_rsp(ctx, id, dest, &entries);
        self.reschedule_resend(ctx, id);
    }

    /// `PULL_RSP` packets for `entries`, each with its own challenge in the
    /// SSRC field and the relay's clock in the timestamp, like every relay
    /// datagram (§1.1, §2.3).
    pub(super) fn send_pull_rsp(&mut self, ctx: &mut Ctx, id: ClientId, dest: Dest, entries: &[(String, Option<u32>)]) {
        for payload in text::encode_pull_rsp(entries) {
            let challenge = self.client_mut(id).new_challenge(ctx, dest.1);
            let packet = ctx.control(PayloadType::PullRsp, challenge, &payload);
            ctx.send(dest, packet);
        }
    }

    /// Keeps one resend deadline per client: the earliest of its
    /// subscriptions'.
    fn reschedule_resend(&mut self, ctx: &mut Ctx, id: ClientId) {
        let client = self.client_mut(id);
        let next = client.subscriptions.iter().filter_map(|s| s.resend.map(|r| r.at)).min();
        if next == client.resend_at {
            return;
        }
        let old = std::mem::replace(&mut client.resend_at, next);
        if let Some(old) = old {
            ctx.cancel(old, TimerKey::PullRspResend(id));
        }
        if let Some(next) = next {
            ctx.schedule(next, TimerKey::PullRspResend(id));
        }
    }

    /// Resends `PULL_RSP` for due unacknowledged subscriptions, then gives
    /// up after `pull_rsp_resends` (§1.4.5).
    pub(in super::super) fn on_resend_timer(&mut self, ctx: &mut Ctx, streams: &Streams, at: Instant, id: ClientId) {
        let now = ctx.now();
        let max = ctx.config().pull_rsp_resends;
        let Some(client) = self.by_id.get_mut(&id) else { return };
        if client.resend_at != Some(at) {
            return;
        }
        client.resend_at = None;
        let mut due = Vec::new();
        for sub in &mut client.subscriptions {
            let Some(resend) = sub.resend.as_mut().filter(|r| r.at <= now) else { continue };
            match streams.live_ssrc(&sub.live_id) {
                Some(ssrc) if resend.count < max => {
                    resend.count += 1;
                    resend.at = now + ctx.config().pull_rsp_resend_wait(resend.count);
                    due.push(entry(&sub.live_id, Some(ssrc)));
                }
                Some(_) => {
                    ctx.counters().pull_rsp_gave_up += 1;
                    sub.resend = None;
                }
                None => sub.resend = None,
            }
        }
        let dest = client.dest();
        if !due.is_empty() {
            ctx.counters().pull_rsp_resent += due.len() as u64;
            self.send_pull_rsp(ctx, id, dest, &due);
        }
        self.reschedule_resend(ctx, id);
    }

    /// A stream that clients listed while it was not live went live:
    /// each gets an unprompted `PULL_RSP` (§1.4.6).
    pub(in super::super) fn notify_going_live(&mut self, ctx: &mut Ctx, live_id: &str, ssrc: Ssrc) {
        let Some(ids) = self.interest.get(live_id) else { return };
        let now = ctx.now();
        let first_wait = now + ctx.config().pull_rsp_resend_wait(0);
        let entries = [entry(live_id, Some(ssrc))];
        for id in ids.iter().copied().collect::<Vec<_>>() {
            let client = self.client_mut(id);
            if let Some(sub) = client.subscriptions.iter_mut().find(|s| s.live_id == live_id) {
                sub.answered(now, first_wait);
            }
            let dest = client.dest();
            self.send_pull_rsp(ctx, id, dest, &entries);
            self.reschedule_resend(ctx, id);
        }
    }

    /// `SSRC_ACK` (§1.4.5): each datagram on its own. From a pending new
    /// address it completes the move if it echoes a challenge (§2.3).
    pub(in super::super) fn on_ssrc_ack(
        &mut self,
        ctx: &mut Ctx,
        streams: &mut Streams,
        port: Port,
        from: SocketAddr,
        header: Header,
        payload: &[u8],
    ) -> Result<(), Untrusted> {
        let id = ClientId::new(header.ssrc);
        let client = self.by_id.get(&id);
        let echoes_here = client.is_some_and(|c| c.has_challenge(from, header.timestamp, ctx.now()));
        if echoes_here && client.is_some_and(|c| c.addr != from) {
            if ctx.config().legacy_trust {
                self.move_client(ctx, streams, id, port, from);
            } else if let Echo::Waiting = self.echoed(ctx, streams, id, port, from) {
                // Not the client's address yet: its acks wait for the move
                // (acked streams follow it; others are answered again).
                return Ok(());
            }
        } else if !self.trusted(ctx, streams, port, from, id) {
            return Err(Untrusted);
        }
        if echoes_here {
            self.client_mut(id).uses_extensions = true;
        }
        for live_id in text::split_ids_lossy(payload) {
            self.ack(ctx, streams, id, live_id);
        }
        self.reschedule_resend(ctx, id);
        Ok(())
    }

    /// Acknowledges one subscription: the client joins the stream's fan-out
    /// list, after the packets it missed since the first answer (§2.5).
    fn ack(&mut self, ctx: &mut Ctx, streams: &mut Streams, id: ClientId, live_id: &str) {
        let client = self.by_id.get_mut(&id).expect("trusted client exists");
        let slot = client.slot;
        let sub = client.subscriptions.iter_mut().find(|s| s.live_id == live_id);
        let Some(sub) = sub.filter(|_| streams.is_live(live_id)) else {
            ctx.counters().ack_unmatched += 1;
            return;
        };
        if sub.acked {
            return;
        }
        if streams.join(ctx, live_id, id, slot, sub.answered_at) {
            sub.acked = true;
            sub.resend = None;
        }
    }
}
