//! `Streams` owns every stream that has been live at least once, the
//! credentials that let a publisher go live, and the lookups by stream id
//! and SSRC (docs/protocol.md §1.3). Each [`Stream`] owns its publisher
//! binding, push-leg sequence tracking and NACKs, history and fan-out list;
//! this file finds the stream an input is for and hands it over.

mod fanout;
mod feedback;
mod ingress;
mod stream;

use super::command::{StreamInfo, SubscriberInfo, SubscriptionInfo, known};
use super::ctx::Ctx;
use super::outbox::{Dest, SlotId};
use super::router::Stopped;
use super::{MAX_EVENT_TEXT, RelayEvent, StopReason};
use crate::auth::Credential;
use crate::endpoint::Port;
use crate::packet::rtcp::{Nack, ReportBlock};
use crate::packet::rtp::Header;
use crate::rng::{Map, Rng};
use crate::time::Instant;
use crate::{ClientId, LiveId, Seq, Ssrc};
use bytes::Bytes;
use std::net::SocketAddr;
use stream::Stream;

/// A stream's place in [`Streams`], for timers: streams are never removed,
/// so a key names the same stream for the relay's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct StreamKey(u32);

/// A stream's timers (their [`TimerKey`](super::timer::TimerKey)s).
#[derive(Clone, Copy)]
pub(super) enum StreamTimer {
    /// The idle check (§1.3.7).
    Idle(StreamKey),
    /// The push-leg NACK retry (§2.2).
    PushNack(StreamKey),
    /// The end of a stop's wait for its tail (§2.5).
    TailStop(StreamKey),
}

/// What became of a `TS_DATA` datagram.
pub(super) enum TsData {
    /// Forwarded, or dropped and counted.
    Handled,
    /// Its SSRC names no live stream bound to its source: answer
    /// `STREAM_UNKNOWN` (§2.5).
    StreamUnknown,
    /// It completed a stop waiting for its tail (§2.5).
    Stopped(Stopped),
}

/// A refused `AUTH_REQ` (§1.3.1), answered `AUTH_REFUSED`.
pub(super) struct Refused {
    /// No credential has the id (rather than a wrong code).
    pub(super) unknown_id: bool,
}

/// What became of one stream named in a `STOP_PUSH_REQ`.
pub(super) enum StopPush {
    /// Not live, or not bound to the request's source.
    NotBound,
    /// Held for its tail; a NACK went out (which may already have ended
    /// the wait).
    Waiting(Option<Stopped>),
    /// Stopped now.
    Stopped(Option<Stopped>),
}

/// Every stream, by key, id and SSRC, and the credentials.
pub(super) struct Streams {
    list: Vec<Stream>,
    by_id: Map<LiveId, StreamKey>,
    by_ssrc: Map<Ssrc, StreamKey>,
    credentials: Map<LiveId, Credential>,
}

impl Streams {
    /// Draws the credential map's and both lookups' hash keys, in that
    /// order.
    pub(super) fn new(rng: &mut Rng) -> Self {
        let credentials = rng.map();
        Streams { list: Vec::new(), by_id: rng.map(), by_ssrc: rng.map(), credentials }
    }

    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    fn get_mut(&mut self, key: StreamKey) -> &mut Stream {
        &mut self.list[key.0 as usize]
    }

    fn find(&self, live_id: &str) -> Option<&Stream> {
        self.by_id.get(live_id).map(|k| &self.list[k.0 as usize])
    }

    fn find_mut(&mut self, live_id: &str) -> Option<&mut Stream> {
        let key = *self.by_id.get(live_id)?;
        Some(self.get_mut(key))
    }

    fn live_mut(&mut self, live_id: &str) -> Option<&mut Stream> {
        self.find_mut(live_id).filter(|s| s.is_live())
    }

    /// The SSRC of `live_id` if it is live.
    pub(super) fn live_ssrc(&self, live_id: &str) -> Option<Ssrc> {
        self.find(live_id).filter(|s| s.is_live()).map(Stream::ssrc)
    }

    /// Whether `live_id` is live.
    pub(super) fn is_live(&self, live_id: &str) -> bool {
        self.find(live_id).is_some_and(Stream::is_live)
    }

    /// An `AUTH_REQ` with a well-formed `live_id#code` (§1.3.1): `AUTH_OK`
    /// or `AUTH_REFUSED`. Returns `Err` on a refusal; `Ok(Some(..))` when
    /// the stream went live (its listeners are to be told, §1.4.6).
    pub(super) fn authenticate(
        &mut self,
        ctx: &mut Ctx,
        (port, from): (Port, SocketAddr),
        live_id: &str,
        code: &str,
        next: Option<Seq>,
    ) -> Result<Option<(LiveId, Ssrc)>, Refused> {
        let accepted = self.credentials.get_key_value(live_id).filter(|(_, c)| c.verify(code.as_bytes()));
        let Some((live_id, _)) = accepted else {
            ctx.counters().auth_refused += 1;
            let unknown_id = !self.credentials.contains_key(live_id);
            let named = live_id.chars().take(MAX_EVENT_TEXT).collect();
            ctx.emit(RelayEvent::AuthRefused { source: from, live_id: named, unknown_id });
            let refused = ctx.control(crate::packet::pt::PayloadType::AuthRefused, 0, live_id.as_bytes());
            ctx.send((port, from), refused);
            return Err(Refused { unknown_id });
        };
        ctx.counters().auth_accepted += 1;
        let live_id = live_id.clone();
        let key = self.get_or_create(ctx, &live_id);
        let renewed = self.get_mut(key).is_live();
        ctx.emit(RelayEvent::AuthAccepted { source: from, live_id: live_id.clone(), renewed });
        Ok(self.get_mut(key).authenticate(ctx, key, (port, from), next))
    }

    /// Whether `from` is the bound address of live stream `live_id` and
    /// `code` its right code: its owner, whom no auth limit holds back
    /// (§1.3.1).
    pub(super) fn owner(&self, live_id: &str, code: &str, from: SocketAddr) -> bool {
        let bound = self.by_id.get(live_id).is_some_and(|&key| self.list[key.0 as usize].bound_to(from));
        bound && self.credentials.get(live_id).is_some_and(|c| c.verify(code.as_bytes()))
    }

    /// The stream of `live_id`, created with a fresh SSRC if new.
    fn get_or_create(&mut self, ctx: &mut Ctx, live_id: &LiveId) -> StreamKey {
        if let Some(&key) = self.by_id.get(live_id) {
            return key;
        }
        let by_ssrc = &self.by_ssrc;
        let ssrc = Ssrc::new(ctx.rng().assignable_id(|id| by_ssrc.contains_key(&Ssrc::new(id))));
        let key = StreamKey(self.list.len() as u32);
        self.list.push(Stream::new(live_id.clone(), ssrc, ctx.now(), ctx.config()));
        self.by_id.insert(live_id.clone(), key);
        self.by_ssrc.insert(ssrc, key);
        key
    }

    /// `TS_DATA` with a plain header and no marker (§1.3.3, §1.3.4):
    /// accepted only from the bound address of a live stream.
    #[inline]
    pub(super) fn on_ts_data(
        &mut self,
        ctx: &mut Ctx,
        port: Port,
        from: SocketAddr,
        header: Header,
        data: Bytes,
    ) -> TsData {
        let key = match self.by_ssrc.get(&Ssrc::new(header.ssrc)) {
            Some(&key) if self.list[key.0 as usize].is_live() => key,
            found => {
                if found.is_some() {
                    ctx.counters().ts_data_wrong_source += 1;
                } else {
                    ctx.counters().ts_data_unknown_ssrc += 1;
                }
                return TsData::StreamUnknown;
            }
        };
        self.get_mut(key).on_ts_data(ctx, key, port, from, header.seq(), data)
    }

    /// One id of a `STOP_PUSH_REQ` from `from` (§1.3.6); `tail` is the
    /// last sequence number and where to answer, for a marked request
    /// naming one stream (§2.5).
    pub(super) fn stop_push(
        &mut self,
        ctx: &mut Ctx,
        live_id: &str,
        from: SocketAddr,
        tail: Option<(Seq, Dest)>,
    ) -> StopPush {
        let Some(&key) = self.by_id.get(live_id) else { return StopPush::NotBound };
        let stream = self.get_mut(key);
        if !stream.bound_to(from) {
            return StopPush::NotBound;
        }
        if let Some((last, reply)) = tail
            && let Some(stopped) = stream.begin_tail_stop(ctx, key, last, reply)
        {
            return StopPush::Waiting(stopped);
        }
        ctx.counters().streams_stopped_by_publisher += 1;
        StopPush::Stopped(stream.stop(ctx, key, StopReason::Publisher))
    }

    /// A stream's timer fired.
    pub(super) fn on_timer(&mut self, ctx: &mut Ctx, at: Instant, timer: StreamTimer) -> Option<Stopped> {
        match timer {
            StreamTimer::Idle(key) => self.get_mut(key).on_idle_timer(ctx, key, at),
            StreamTimer::PushNack(key) => self.get_mut(key).on_push_nack_timer(ctx, key, at),
            StreamTimer::TailStop(key) => self.get_mut(key).on_tail_timer(ctx, key, at),
        }
    }

    /// `client` acknowledged live `live_id`: it joins the fan-out list on
    /// `slot` after the packets since `since` (§1.4.5, §2.5 join).
    /// Returns false if the list is full.
    pub(super) fn join(
        &mut self,
        ctx: &mut Ctx,
        live_id: &str,
        client: ClientId,
        slot: SlotId,
        since: Option<Instant>,
    ) -> bool {
        self.live_mut(live_id).is_some_and(|s| s.join(ctx, client, slot, since))
    }

    /// `client` left the fan-out list of `live_id`.
    pub(super) fn leave(&mut self, live_id: &str, client: ClientId) {
        if let Some(stream) = self.find_mut(live_id) {
            stream.leave(client);
        }
    }

    /// `client`'s data for `live_id` now goes to `slot` (it moved).
    pub(super) fn retarget(&mut self, live_id: &str, client: ClientId, slot: SlotId) {
        if let Some(stream) = self.find_mut(live_id) {
            stream.retarget(client, slot);
        }
    }

    /// A Generic NACK from a subscriber (§2.1): resends from the history of
    /// the stream it names to that subscriber only. False if it is not in
    /// that stream's fan-out list.
    pub(super) fn answer_nack(&mut self, ctx: &mut Ctx, nack: &Nack) -> bool {
        let Some(&key) = self.by_ssrc.get(&Ssrc::new(nack.media_ssrc)) else { return false };
        self.get_mut(key).answer_nack(ctx, ClientId::new(nack.sender_ssrc), nack)
    }

    /// A receiver report block from `client` (§2.3), kept if it names a
    /// stream it receives.
    pub(super) fn record_report(&mut self, client: ClientId, block: &ReportBlock) {
        if let Some(&key) = self.by_ssrc.get(&Ssrc::new(block.ssrc)) {
            self.get_mut(key).record_report(client, block);
        }
    }

    /// A delay reported for `live_id` (§3.2 `delay`): kept if the stream
    /// has ever been live (so the streams bound what is kept), else
    /// ignored, like the probes of ids never authenticated (§1.3.5).
    pub(super) fn report_delay(&mut self, live_id: &str, delay_ms: Option<f64>) {
        if let Some(stream) = self.find_mut(live_id) {
            stream.report_delay(known(delay_ms));
        }
    }

    /// Adds a credential (§3.1); false (and no change) if one with its id
    /// exists.
    pub(super) fn add_credential(&mut self, credential: Credential) -> bool {
        if self.credentials.contains_key(&credential.live_id) {
            return false;
        }
        self.credentials.insert(credential.live_id.clone(), credential);
        true
    }

    /// Removes a credential; false if there was none.
    pub(super) fn revoke(&mut self, live_id: &LiveId) -> bool {
        self.credentials.remove(live_id).is_some()
    }

    /// Stops live `live_id` (an operator's command): `None` if it is not
    /// live.
    pub(super) fn stop_live(&mut self, ctx: &mut Ctx, live_id: &LiveId, reason: StopReason) -> Option<Option<Stopped>> {
        let key = *self.by_id.get(live_id)?;
        let stream = self.get_mut(key);
        if !stream.is_live() {
            return None;
        }
        ctx.counters().streams_stopped_by_operator += 1;
        Some(stream.stop(ctx, key, reason))
    }

    /// Whether `live_id` exists for the operator: a credential, or live.
    pub(super) fn known(&self, live_id: &LiveId) -> bool {
        self.credentials.contains_key(live_id) || self.is_live(live_id.as_str())
    }

    /// Whether `live_id` has ever been live (has an SSRC).
    pub(super) fn exists(&self, live_id: &LiveId) -> bool {
        self.by_id.contains_key(live_id)
    }

    /// The stream id `live_id` names, if it has ever been live.
    pub(super) fn id(&self, live_id: &str) -> Option<&LiveId> {
        self.by_id.get_key_value(live_id).map(|(id, _)| id)
    }

    /// The ids of the live streams, in creation order.
    pub(super) fn live_ids(&self) -> Vec<LiveId> {
        self.list.iter().filter(|s| s.is_live()).map(|s| s.live_id().clone()).collect()
    }

    /// Every stream with a credential or live now, sorted by id (§3.1).
    pub(super) fn infos(&mut self, now: Instant) -> Vec<StreamInfo> {
        let mut ids: Vec<LiveId> = self.credentials.keys().cloned().collect();
        ids.extend(
            self.list
                .iter()
                .filter(|s| s.is_live() && !self.credentials.contains_key(s.live_id()))
                .map(|s| s.live_id().clone()),
        );
        ids.sort();
        ids.iter().map(|id| self.info(now, id)).collect()
    }

    /// One stream's figures (§3.1), without the subscriber detail.
    pub(super) fn info(&mut self, now: Instant, live_id: &LiveId) -> StreamInfo {
        match self.find_mut(live_id.as_str()) {
            Some(stream) => stream.info(now),
            None => StreamInfo {
                live_id: live_id.clone(),
                live: false,
                ssrc: None,
                publisher: None,
                bitrate_bps: [0; 3],
                packets_in: 0,
                bytes_in: 0,
                lost: 0,
                recovered: 0,
                rtt_ms: None,
                reported_delay_ms: None,
                subscribers: 0,
                subscriber_list: Vec::new(),
            },
        }
    }

    /// The subscribers of `live_id` in fan-out order, each at the address
    /// `address` gives for its client.
    pub(super) fn subscriber_list(
        &self,
        live_id: &LiveId,
        address: impl Fn(ClientId) -> SocketAddr,
    ) -> Option<Vec<SubscriberInfo>> {
        self.find(live_id.as_str()).map(|s| s.subscriber_list(address))
    }

    /// `client`'s entry for `live_id` (§3.1), and its counts (packets,
    /// bytes, retransmitted) if it is in the fan-out list.
    pub(super) fn subscription_info(
        &self,
        live_id: &str,
        client: ClientId,
        acked: bool,
    ) -> (SubscriptionInfo, Option<[u64; 3]>) {
        let entry = self.find(live_id).and_then(|s| s.subscriber_figures(client));
        let report = entry.and_then(|(_, report)| report);
        let info = SubscriptionInfo {
            live_id: live_id.to_owned(),
            acked,
            reported_loss: report.map(|r| f64::from(r.fraction_lost()) / 256.0),
            reported_lost_total: report.map(|r| i64::from(r.cumulative_lost())),
            reported_jitter: report.map(|r| r.jitter()),
            package_loss: None,
        };
        (info, entry.map(|(figures, _)| figures))
    }
}
