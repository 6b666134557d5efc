//! `Stream`: one stream that has been live at least once. It owns its
//! SSRC (kept for the relay's life, §1.3.1), its publisher binding, the
//! idle check (§1.3.7), push-leg sequence tracking and NACKs (§1.3.4,
//! §2.2), the history (§2.1) and the fan-out list, and stops itself
//! (§1.3.6, §2.5), handing the announcement to the router.

use super::super::command::{StreamInfo, SubscriberInfo};
use super::super::ctx::Ctx;
use super::super::history::History;
use super::super::outbox::{Dest, SlotId};
use super::super::router::Stopped;
use super::super::sequence::{SeqTracker, Verdict};
use super::super::stats::RateWindow;
use super::super::timer::TimerKey;
use super::super::{RelayEvent, StopReason};
use super::fanout::FanOut;
use super::feedback::Report;
use super::ingress::Ingress;
use super::{StreamKey, TsData};
use crate::config::Config;
use crate::endpoint::Port;
use crate::packet::pt::PayloadType;
use crate::packet::rtcp::{Nack, ReportBlock};
use crate::packet::rtp::Header;
use crate::time::Instant;
use crate::{ClientId, LiveId, Seq, Ssrc};
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;

/// A stream and everything the relay keeps about it.
pub(super) struct Stream {
    live_id: LiveId,
    ssrc: Ssrc,
    live: bool,
    publisher: SocketAddr,
    /// The socket the publisher last used (NACKs go out from it).
    publisher_port: Port,
    last_activity: Instant,
    /// When it last went live (a younger stream's last second is partly
    /// before it).
    live_since: Instant,
    /// The scheduled idle check, while live.
    idle_at: Option<Instant>,
    seq: SeqTracker,
    /// The highest sequence number forwarded in this run, in sequence
    /// order (for `STREAM_STOPPED`, 2.5): a late packet does not lower it.
    newest_forwarded: Option<Seq>,
    history: History,
    ingress: Ingress,
    fanout: FanOut,
    /// The subscribers of the last run after a stop, answered when they
    /// NACK its tail (§2.5) until the instant beside them (kept, unanswered,
    /// until the next stop or run: one list per stream at most).
    drained: (FanOut, Option<Instant>),
    rate: RateWindow,
    packets_in: u64,
    bytes_in: u64,
    /// The delay its publisher last reported (§3.2 `delay`), in ms.
    reported_delay_ms: Option<f64>,
}

impl Stream {
    pub(super) fn new(live_id: LiveId, ssrc: Ssrc, now: Instant, config: &Config) -> Self {
        Stream {
            live_id,
            ssrc,
            live: false,
            publisher: SocketAddr::from(([0, 0, 0, 0], 0)),
            publisher_port: Port::Push,
            last_activity: now,
            live_since: now,
            idle_at: None,
            seq: SeqTracker::new(),
            newest_forwarded: None,
            history: History::new(config.history_max_packets, config.history_max_age()),
            ingress: Ingress::default(),
            fanout: FanOut::default(),
            drained: (FanOut::default(), None),
            rate: RateWindow::new(),
            packets_in: 0,
            bytes_in: 0,
            reported_delay_ms: None,
        }
    }

    pub(super) fn is_live(&self) -> bool {
        self.live
    }

    pub(super) fn ssrc(&self) -> Ssrc {
        self.ssrc
    }

    pub(super) fn live_id(&self) -> &LiveId {
        &self.live_id
    }

    /// Live and bound to `from`.
    pub(super) fn bound_to(&self, from: SocketAddr) -> bool {
        self.live && self.publisher == from
    }

    /// The newest sequence number received, for walking the history.
    fn newest_seq(&self) -> Seq {
        self.seq.highest().or(self.newest_forwarded).unwrap_or_default()
    }

    /// An accepted auth from `from` (§1.3.1): goes live if it was not,
    /// rebinds the publisher and answers `AUTH_OK`. Returns the id and SSRC
    /// if it went live. `next` is the next sequence number an auth marked
    /// `M = 1` announces (§2.2).
    pub(super) fn authenticate(
        &mut self,
        ctx: &mut Ctx,
        key: StreamKey,
        (port, from): (Port, SocketAddr),
        next: Option<Seq>,
    ) -> Option<(LiveId, Ssrc)> {
        let went_live = !self.live;
        self.live = true;
        // A publisher re-authenticating from its address carries on with
        // its sequence numbers: duplicate suppression must span the re-auth
        // (1.3.4). A new address is a new publisher: tracking restarts.
        let fresh = self.publisher != from || went_live;
        if fresh {
            self.ingress.new_publisher();
            self.seq.reset();
            self.newest_forwarded = None;
        }
        match next {
            // Where its data starts, unless some already arrived.
            Some(next) => self.ingress.announced((fresh || self.seq.highest().is_none()).then_some(next)),
            None => self.ingress.reauthenticated(),
        }
        self.publisher = from;
        self.publisher_port = port;
        self.last_activity = ctx.now();
        if went_live {
            self.drained = (FanOut::default(), None);
            self.live_since = ctx.now();
            let at = ctx.now() + ctx.config().stream_idle_timeout();
            self.idle_at = Some(at);
            ctx.schedule(at, TimerKey::StreamIdle(key));
            ctx.emit(RelayEvent::StreamLive { live_id: self.live_id.clone(), ssrc: self.ssrc, publisher: from });
        }
        let ok = ctx.control(PayloadType::AuthOk, self.ssrc.get(), self.live_id.as_str().as_bytes());
        ctx.send((port, from), ok);
        went_live.then(|| (self.live_id.clone(), self.ssrc))
    }

    /// `TS_DATA` for this live stream (§1.3.3, §1.3.4): only from its
    /// publisher, forwarded once per sequence number.
    #[inline]
    pub(super) fn on_ts_data(
        &mut self,
        ctx: &mut Ctx,
        key: StreamKey,
        port: Port,
        from: SocketAddr,
        seq: Seq,
        data: Bytes,
    ) -> TsData {
        if self.publisher != from {
            ctx.counters().ts_data_wrong_source += 1;
            return TsData::StreamUnknown;
        }
        let now = ctx.now();
        let max_missing = ctx.config().push_nack_max_missing;
        let nack_delay = Duration::from_millis(ctx.config().push_nack_delay_ms);
        self.last_activity = now;
        self.publisher_port = port;
        let previous = self.seq.highest();
        let mut gap = false;
        let mut restarted = false;
        match self.seq.observe(seq) {
            Verdict::Duplicate => {
                ctx.counters().ts_data_duplicate += 1;
                return TsData::Handled;
            }
            Verdict::Restart => {
                self.history.clear();
                self.ingress.clear_missing();
                restarted = true;
            }
            Verdict::New => {
                if self.ingress.arrived(seq, now) {
                    ctx.counters().push_recovered += 1;
                }
                let resumed = self.ingress.take_resumed();
                // The first packet after an announced start (§2.2) shows
                // the gap before it like any other.
                let before = previous.or_else(|| self.ingress.take_start().map(|start| start.sub(1)));
                if let Some(p) = before.filter(|&p| !resumed && seq.delta(p) > 1) {
                    self.ingress.gap(p, seq, now, nack_delay, max_missing);
                    gap = true;
                }
            }
        }
        if restarted || self.newest_forwarded.is_none_or(|n| seq.is_after(n)) {
            self.newest_forwarded = Some(seq);
        }
        self.history.insert(seq, now, data.clone());
        let len = data.len() as u64;
        self.packets_in += 1;
        self.bytes_in += len;
        self.rate.record(now, data.len());
        ctx.counters().ts_data_accepted += 1;
        self.fanout.forward(ctx, seq, &data);
        let stopped = if gap { self.send_push_nacks(ctx, key) } else { self.finish_tail_if_done(ctx, key) };
        match stopped {
            Some(stopped) => TsData::Stopped(stopped),
            None => TsData::Handled,
        }
    }

    /// Sends the publisher a NACK for what is due, then completes a
    /// waiting tail stop if nothing is missing any more (§2.2, §2.5).
    fn send_push_nacks(&mut self, ctx: &mut Ctx, key: StreamKey) -> Option<Stopped> {
        self.ingress.send_nacks(ctx, key, self.ssrc, (self.publisher_port, self.publisher));
        self.finish_tail_if_done(ctx, key)
    }

    pub(super) fn on_push_nack_timer(&mut self, ctx: &mut Ctx, key: StreamKey, at: Instant) -> Option<Stopped> {
        if !self.live || !self.ingress.take_retry(at) {
            return None;
        }
        self.send_push_nacks(ctx, key)
    }

    /// A stop marked `M = 1` naming `last` (§2.5): `None` if the stream can
    /// stop now, else it waits for its tail (and the NACK sent for it may
    /// already have ended the wait).
    pub(super) fn begin_tail_stop(
        &mut self,
        ctx: &mut Ctx,
        key: StreamKey,
        last: Seq,
        reply: Dest,
    ) -> Option<Option<Stopped>> {
        let newest = self.newest_seq();
        if !self.ingress.hold_stop(ctx, key, newest, last, reply) {
            return None;
        }
        Some(self.send_push_nacks(ctx, key))
    }

    /// Completes a pending stop once nothing is missing.
    fn finish_tail_if_done(&mut self, ctx: &mut Ctx, key: StreamKey) -> Option<Stopped> {
        if self.ingress.tail_complete() { self.finish_tail(ctx, key) } else { None }
    }

    pub(super) fn on_tail_timer(&mut self, ctx: &mut Ctx, key: StreamKey, at: Instant) -> Option<Stopped> {
        if self.ingress.tail_deadline() == Some(at) { self.finish_tail(ctx, key) } else { None }
    }

    /// Stops the stream; [`Self::stop`] answers the waiting request.
    fn finish_tail(&mut self, ctx: &mut Ctx, key: StreamKey) -> Option<Stopped> {
        if let Some(deadline) = self.ingress.tail_deadline() {
            ctx.cancel(deadline, TimerKey::TailStop(key));
        }
        ctx.counters().streams_stopped_by_publisher += 1;
        self.stop(ctx, key, StopReason::Publisher)
    }

    /// Stops a live stream: empties the fan-out list and returns what the
    /// router announces (`STREAM_STOPPED` to every client listing it,
    /// §1.4.9; the answer to a waiting stop request; the event).
    pub(super) fn stop(&mut self, ctx: &mut Ctx, key: StreamKey, reason: StopReason) -> Option<Stopped> {
        if !self.live {
            return None;
        }
        self.live = false;
        let drain = Duration::from_millis(ctx.config().stopped_nack_ms);
        self.drained = (std::mem::take(&mut self.fanout), Some(ctx.now() + drain));
        let waiting_reply = self.ingress.stopped();
        if let Some(at) = self.idle_at.take() {
            ctx.cancel(at, TimerKey::StreamIdle(key));
        }
        let datagram = Header {
            sequence: self.newest_forwarded.unwrap_or_default().get(),
            timestamp: ctx.timestamp(),
            ..Header::new(PayloadType::StreamStopped.number())
        }
        .encode(self.live_id.as_str().as_bytes());
        Some(Stopped::new(self.live_id.clone(), datagram, waiting_reply, reason))
    }

    /// The idle check (§1.3.7).
    pub(super) fn on_idle_timer(&mut self, ctx: &mut Ctx, key: StreamKey, at: Instant) -> Option<Stopped> {
        if self.idle_at != Some(at) {
            return None;
        }
        let due = self.last_activity + ctx.config().stream_idle_timeout();
        if due <= ctx.now() {
            self.idle_at = None;
            ctx.counters().streams_idle_timeout += 1;
            self.stop(ctx, key, StopReason::IdleTimeout)
        } else {
            self.idle_at = Some(due);
            ctx.schedule(due, TimerKey::StreamIdle(key));
            None
        }
    }

    /// `client` joins the fan-out list on `slot`, after the kept packets
    /// that arrived since `since` (§2.5 join). False if the list is full.
    pub(super) fn join(&mut self, ctx: &mut Ctx, client: ClientId, slot: SlotId, since: Option<Instant>) -> bool {
        if self.fanout.len() >= ctx.config().max_subscribers_per_stream {
            ctx.counters().subscriber_limit += 1;
            return false;
        }
        let (now, newest) = (ctx.now(), self.newest_seq());
        let missed = since.map(|since| self.history.since(newest, since, now));
        self.fanout.join(ctx, client, slot, missed);
        true
    }

    pub(super) fn leave(&mut self, client: ClientId) {
        self.fanout.leave(client);
        self.drained.0.leave(client);
    }

    pub(super) fn retarget(&mut self, client: ClientId, slot: SlotId) {
        self.fanout.retarget(client, slot);
        self.drained.0.retarget(client, slot);
    }

    /// Resends what `client` NACKed from the history, within its budget: a
    /// share of the stream's rate (§2.1: its last second, or as much of it
    /// as the stream was live, at least 100 ms); after a stop, to the last run's
    /// subscribers for `stopped_nack_ms` (the tail, §2.5).
    pub(super) fn answer_nack(&mut self, ctx: &mut Ctx, client: ClientId, nack: &Nack) -> bool {
        let now = ctx.now();
        let floor = ctx.config().retransmit_budget_min_bytes_per_sec;
        let percent = ctx.config().retransmit_budget_percent;
        // Bytes of the last second, over the part of it the stream was live.
        let live =
            now.saturating_duration_since(self.live_since).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let second = self.rate.bits_per_second(now, 1) / 8 * 1_000_000 / live.as_micros() as u64;
        let rate = (second * percent / 100).max(floor);
        if self.fanout.contains(client) {
            return self.fanout.answer_nack(ctx, client, rate, nack, &self.history);
        }
        match &mut self.drained {
            (drained, Some(until)) if now < *until && drained.contains(client) => {
                drained.answer_nack(ctx, client, rate, nack, &self.history)
            }
            _ => false,
        }
    }

    pub(super) fn record_report(&mut self, client: ClientId, block: &ReportBlock) {
        self.fanout.record_report(client, Report::from(block));
    }

    /// Keeps the delay its publisher reported (§3.2 `delay`).
    pub(super) fn report_delay(&mut self, delay_ms: Option<f64>) {
        self.reported_delay_ms = delay_ms;
    }

    /// The stream's figures for the operator (§3.1).
    pub(super) fn info(&mut self, now: Instant) -> StreamInfo {
        StreamInfo {
            live_id: self.live_id.clone(),
            live: self.live,
            ssrc: Some(self.ssrc),
            publisher: self.live.then_some(self.publisher),
            bitrate_bps: [1, 3, 10].map(|secs| self.rate.bits_per_second(now, secs)),
            packets_in: self.packets_in,
            bytes_in: self.bytes_in,
            lost: self.seq.missing(),
            recovered: self.ingress.recovered(),
            rtt_ms: self.ingress.rtt().map(|d| d.as_secs_f64() * 1000.0),
            reported_delay_ms: self.reported_delay_ms,
            subscribers: self.fanout.len(),
            subscriber_list: Vec::new(),
        }
    }

    pub(super) fn subscriber_list(&self, address: impl Fn(ClientId) -> SocketAddr) -> Vec<SubscriberInfo> {
        self.fanout.infos(address)
    }

    /// `client`'s (packets, bytes, retransmitted) and latest report, if it
    /// is in the fan-out list.
    pub(super) fn subscriber_figures(&self, client: ClientId) -> Option<([u64; 3], Option<Report>)> {
        self.fanout.figures(client)
    }
}
