//! The relay's router: one `on_<message>` per arm of
//! [`Relay::handle_datagram`]'s dispatch table and per timer of
//! [`Relay::handle_timeout`], each citing its section of
//! docs/protocol.md, and the operator commands. Each borrows a [`Ctx`]
//! from the relay's fields and hands the input to the noun that owns its
//! state ([`Streams`], [`Clients`], the limiters, [`Repeats`]); where a
//! step crosses nouns (a stream going live tells its listeners; a stop
//! notifies clients) it is an explicit call here.

use super::clients::{Clients, Untrusted};
use super::command::{CommandError, Reply};
use super::ctx::Ctx;
use super::limits::UnboundIds;
use super::outbox::Dest;
use super::repeat::Repeats;
use super::streams::{Refused, StopPush, StreamTimer, TsData};
use super::{Relay, RelayEvent, StopReason};
use crate::auth::Credential;
use crate::endpoint::Port;
use crate::packet::pt::PayloadType;
use crate::packet::rtcp::{self, RtcpPacket};
use crate::packet::rtp::Header;
use crate::packet::text;
use crate::time::Instant;
use crate::{ClientId, LiveId};
use bytes::Bytes;
use std::net::SocketAddr;

/// A stream that stopped, for the router to announce: `STREAM_STOPPED` to
/// every client listing it (three times to extension clients), the answer
/// to a stop request that waited for its tail, and the event (§1.4.9,
/// §2.5).
pub(super) struct Stopped {
    live_id: LiveId,
    datagram: Bytes,
    reply: Option<Dest>,
    reason: StopReason,
}

impl Stopped {
    pub(super) fn new(live_id: LiveId, datagram: Bytes, reply: Option<Dest>, reason: StopReason) -> Self {
        Stopped { live_id, datagram, reply, reason }
    }

    fn announce(self, ctx: &mut Ctx, clients: &mut Clients, repeats: &mut Repeats) {
        for (client, dest, uses_extensions) in clients.forget_stream(&self.live_id) {
            ctx.send(dest, self.datagram.clone());
            if uses_extensions {
                repeats.schedule(ctx, client, &self.live_id, dest, &self.datagram);
            }
        }
        if let Some(reply) = self.reply {
            let rsp = ctx.control(PayloadType::StopPushRsp, 0, &[]);
            ctx.send(reply, rsp);
        }
        ctx.emit(RelayEvent::StreamStopped { live_id: self.live_id.clone(), reason: self.reason });
    }
}

/// Announces `stopped`, if a stream stopped.
fn announce(ctx: &mut Ctx, clients: &mut Clients, repeats: &mut Repeats, stopped: Option<Stopped>) {
    if let Some(stopped) = stopped {
        stopped.announce(ctx, clients, repeats);
    }
}

/// An untrusted message naming client `id` (§1.4.10): `CLIENT_UNKNOWN`
/// within the limiter (§2.5).
macro_rules! refuse_untrusted {
    ($relay:expr, $ctx:expr, $result:expr, $dest:expr, $id:expr) => {
        if let Err(Untrusted) = $result {
            $ctx.counters().client_untrusted += 1;
            $relay.unknown_replies.answer(&mut $ctx, $dest, PayloadType::ClientUnknown, $id);
        }
    };
}

/// Whether a message naming client `id` from `from` may be processed:
/// always from the id's bound address (and with `legacy_trust`), else
/// within the source IP's allowance of messages naming ids not bound to it:
/// guesses and address changes (§2.3). Beyond it the message is dropped
/// unanswered, so a guesser learns nothing.
fn unbound_allowed(clients: &Clients, limiter: &mut UnboundIds, ctx: &mut Ctx, from: SocketAddr, id: u32) -> bool {
    ctx.config().legacy_trust || clients.bound_to(ClientId::new(id), from) || limiter.allow(ctx, from)
}

impl Relay {
    /// `TS_DATA` (§1.3.3, §1.3.4): plain and unmarked, from the bound
    /// publisher of a live stream, forwarded once per sequence number.
    #[inline]
    pub(super) fn on_ts_data(&mut self, now: Instant, port: Port, from: SocketAddr, header: Header, data: Bytes) {
        if header.marker {
            self.counters.ts_data_bad_header += 1;
            return;
        }
        let mut ctx = ctx!(self, now);
        match self.streams.on_ts_data(&mut ctx, port, from, header, data) {
            TsData::Handled => {}
            TsData::StreamUnknown => {
                self.unknown_replies.answer(&mut ctx, (port, from), PayloadType::StreamUnknown, header.ssrc);
            }
            TsData::Stopped(stopped) => stopped.announce(&mut ctx, &mut self.clients, &mut self.repeats),
        }
    }

    /// `AUTH_REQ` (§1.3.1), with at most `max_auth_failures_per_ip_per_minute`
    /// refusals of ids with a credential per source IP; a blocked IP is
    /// still heard from a live stream's bound address with its right code,
    /// so no one sharing or spoofing the publisher's IP locks it out.
    /// `AUTH_REQ` (§1.3.1); marked `M = 1`, from a publisher that answers
    /// NACKs, with its next sequence number in the sequence field (§2.2).
    pub(super) fn on_auth_req(&mut self, now: Instant, port: Port, from: SocketAddr, header: Header, payload: &[u8]) {
        let next = header.marker.then(|| header.seq());
        let Some((live_id, code)) = text::parse_auth(payload) else {
            self.counters.auth_malformed += 1;
            return;
        };
        if self.auth_failures.blocked(now, from, self.config.max_auth_failures_per_ip_per_minute)
            && !self.streams.owner(live_id, code, from)
        {
            self.counters.auth_rate_limited += 1;
            if self.auth_failures.first_block(from) {
                self.events.push_back(RelayEvent::SourceRateLimited { source: from.ip() });
            }
            return;
        }
        let mut ctx = ctx!(self, now);
        match self.streams.authenticate(&mut ctx, (port, from), live_id, code, next) {
            // A refusal for an id without a credential guesses no code.
            Err(Refused { unknown_id: true }) => {}
            Err(Refused { unknown_id: false }) => {
                self.auth_failures.failed(now, from, self.config.max_rate_limited_sources);
            }
            Ok(Some((live_id, ssrc))) => self.clients.notify_going_live(&mut ctx, live_id.as_str(), ssrc),
            Ok(None) => {}
        }
    }

    /// `DELAY_REQ` (§1.3.5): the same bytes back with byte 1 set to 12.
    pub(super) fn on_delay_req(&mut self, port: Port, from: SocketAddr, data: &[u8]) {
        self.counters.delay_echoed += 1;
        let mut echo = data.to_vec();
        echo[1] = PayloadType::DelayRsp.number();
        self.outbox.send((port, from), Bytes::from(echo), &mut self.counters);
    }

    /// `STOP_PUSH_REQ` (§1.3.6): stops the listed streams bound to the
    /// source address and always answers (after the tail, if it waits).
    pub(super) fn on_stop_push_req(
        &mut self,
        now: Instant,
        port: Port,
        from: SocketAddr,
        header: Header,
        payload: &[u8],
    ) {
        self.counters.stop_push_requests += 1;
        let ids: Vec<String> = text::split_ids_lossy(payload).into_iter().map(str::to_owned).collect();
        // A new publisher marks the request and names its last sequence
        // number (§2.5); that only makes sense for one stream.
        let tail = (header.marker && ids.len() == 1).then_some((header.seq(), (port, from)));
        let mut ctx = ctx!(self, now);
        let mut waiting = false;
        for live_id in ids {
            let stopped = match self.streams.stop_push(&mut ctx, &live_id, from, tail) {
                StopPush::NotBound => continue,
                StopPush::Waiting(stopped) => {
                    waiting = true;
                    stopped
                }
                StopPush::Stopped(stopped) => stopped,
            };
            announce(&mut ctx, &mut self.clients, &mut self.repeats, stopped);
        }
        if !waiting {
            let rsp = ctx.control(PayloadType::StopPushRsp, 0, &[]);
            ctx.send((port, from), rsp);
        }
    }

    /// `CLIENT_ID_REQ` (§1.4.1).
    pub(super) fn on_client_id_req(&mut self, now: Instant, port: Port, from: SocketAddr) {
        let mut ctx = ctx!(self, now);
        self.clients.on_client_id_req(&mut ctx, &mut self.streams, port, from);
    }

    /// `PULL_REQ` chunk (§1.4.2-§1.4.4).
    pub(super) fn on_pull_req(&mut self, now: Instant, port: Port, from: SocketAddr, header: Header, payload: &[u8]) {
        let mut ctx = ctx!(self, now);
        if !unbound_allowed(&self.clients, &mut self.unbound_ids, &mut ctx, from, header.ssrc) {
            return;
        }
        let result = self.clients.on_pull_req(&mut ctx, &mut self.streams, port, from, header, payload);
        refuse_untrusted!(self, ctx, result, (port, from), header.ssrc);
    }

    /// `SSRC_ACK` (§1.4.5, §2.3, §2.5 join).
    pub(super) fn on_ssrc_ack(&mut self, now: Instant, port: Port, from: SocketAddr, header: Header, payload: &[u8]) {
        let mut ctx = ctx!(self, now);
        if !unbound_allowed(&self.clients, &mut self.unbound_ids, &mut ctx, from, header.ssrc) {
            return;
        }
        let result = self.clients.on_ssrc_ack(&mut ctx, &mut self.streams, port, from, header, payload);
        refuse_untrusted!(self, ctx, result, (port, from), header.ssrc);
    }

    /// `HEARTBEAT` (§1.4.7, §2.3).
    pub(super) fn on_heartbeat(&mut self, now: Instant, port: Port, from: SocketAddr, header: Header, len: usize) {
        let mut ctx = ctx!(self, now);
        if !unbound_allowed(&self.clients, &mut self.unbound_ids, &mut ctx, from, header.ssrc) {
            return;
        }
        let result = self.clients.on_heartbeat(&mut ctx, &mut self.streams, port, from, header, len);
        refuse_untrusted!(self, ctx, result, (port, from), header.ssrc);
    }

    /// `STOP_PULL_REQ` (§1.4.8): forgets a trusted client; always answered.
    pub(super) fn on_stop_pull_req(&mut self, now: Instant, port: Port, from: SocketAddr, header: Header) {
        let mut ctx = ctx!(self, now);
        self.clients.on_stop_pull(&mut ctx, &mut self.streams, from, ClientId::new(header.ssrc));
        let rsp = ctx.control(PayloadType::StopPullRsp, 0, &[]);
        ctx.send((port, from), rsp);
    }

    /// Subscriber RTCP (§2.1, §2.3): counts only from a client's bound
    /// address; Generic NACKs are answered from the history, receiver
    /// reports kept. The relay sends no RTCP to subscribers.
    pub(super) fn on_rtcp(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let (packets, error) = rtcp::parse_compound(data);
        if error.is_some() {
            self.counters.rtcp_malformed += 1;
        }
        let mut ctx = ctx!(self, now);
        for packet in packets {
            let handled = match packet {
                RtcpPacket::Nack(nack) => {
                    self.clients.accept_feedback(from, ClientId::new(nack.sender_ssrc))
                        && self.streams.answer_nack(&mut ctx, &nack)
                }
                RtcpPacket::ReceiverReport(rr) => {
                    let client = ClientId::new(rr.sender_ssrc);
                    let accepted = self.clients.accept_feedback(from, client);
                    if accepted {
                        for block in &rr.blocks {
                            self.streams.record_report(client, block);
                        }
                        ctx.counters().receiver_reports += 1;
                    }
                    accepted
                }
                RtcpPacket::Other(_) => false,
            };
            if !handled {
                ctx.counters().rtcp_ignored += 1;
            }
        }
    }

    /// A stream's timer: its idle check (§1.3.7), a push-leg NACK retry
    /// (§2.2) or the end of a stop's wait for its tail (§2.5).
    pub(super) fn on_stream_timer(&mut self, now: Instant, at: Instant, timer: StreamTimer) {
        let mut ctx = ctx!(self, now);
        let stopped = self.streams.on_timer(&mut ctx, at, timer);
        announce(&mut ctx, &mut self.clients, &mut self.repeats, stopped);
    }

    /// A client's heartbeat check (§1.4.7).
    pub(super) fn on_heartbeat_timer(&mut self, now: Instant, at: Instant, id: ClientId) {
        let mut ctx = ctx!(self, now);
        self.clients.on_heartbeat_timer(&mut ctx, &mut self.streams, at, id);
    }

    /// An echoed address change waiting for the old address to fall quiet
    /// (§2.3).
    pub(super) fn on_move_timer(&mut self, now: Instant, at: Instant, id: ClientId) {
        let mut ctx = ctx!(self, now);
        self.clients.on_move_timer(&mut ctx, &mut self.streams, at, id);
    }

    /// A pending pull request timed out (§1.4.2).
    pub(super) fn on_reassembly_timer(&mut self, now: Instant, at: Instant, id: ClientId) {
        let mut ctx = ctx!(self, now);
        self.clients.on_reassembly_timer(&mut ctx, at, id);
    }

    /// Unacknowledged `PULL_RSP` resends (§1.4.5).
    pub(super) fn on_resend_timer(&mut self, now: Instant, at: Instant, id: ClientId) {
        let mut ctx = ctx!(self, now);
        self.clients.on_resend_timer(&mut ctx, &self.streams, at, id);
    }

    /// `STREAM_STOPPED` repeats due (§2.5), except to clients that listed
    /// the stream again.
    pub(super) fn on_repeat_timer(&mut self, now: Instant) {
        let mut ctx = ctx!(self, now);
        let clients = &self.clients;
        self.repeats.send_due(&mut ctx, |client, live_id| clients.lists(client, live_id));
    }

    /// [`Command::AddCredential`](super::Command::AddCredential).
    pub(super) fn add_credential(&mut self, credential: Credential) -> Result<Reply, CommandError> {
        if self.streams.add_credential(credential) { Ok(Reply::Done) } else { Err(CommandError::AlreadyExists) }
    }

    /// [`Command::StopStream`](super::Command::StopStream).
    pub(super) fn stop_stream(&mut self, now: Instant, live_id: &LiveId) -> Result<Reply, CommandError> {
        if !self.streams.exists(live_id) {
            return Err(CommandError::NotFound);
        }
        let mut ctx = ctx!(self, now);
        let stopped = self.streams.stop_live(&mut ctx, live_id, StopReason::Operator).ok_or(CommandError::NotLive)?;
        announce(&mut ctx, &mut self.clients, &mut self.repeats, stopped);
        Ok(Reply::Done)
    }

    /// [`Command::RevokeStream`](super::Command::RevokeStream).
    pub(super) fn revoke_stream(&mut self, now: Instant, live_id: &LiveId) -> Result<Reply, CommandError> {
        if !self.streams.revoke(live_id) {
            return Err(CommandError::NotFound);
        }
        let mut ctx = ctx!(self, now);
        if let Some(stopped) = self.streams.stop_live(&mut ctx, live_id, StopReason::Revoked) {
            announce(&mut ctx, &mut self.clients, &mut self.repeats, stopped);
        }
        Ok(Reply::Done)
    }

    /// [`Command::GetStream`](super::Command::GetStream).
    pub(super) fn get_stream(&mut self, now: Instant, live_id: &LiveId) -> Result<Reply, CommandError> {
        if !self.streams.known(live_id) {
            return Err(CommandError::NotFound);
        }
        let mut info = self.streams.info(now, live_id);
        let clients = &self.clients;
        if let Some(list) = self.streams.subscriber_list(live_id, |id| clients.address(id)) {
            info.subscriber_list = list;
        }
        Ok(Reply::Stream(info))
    }

    /// [`Command::StopAll`](super::Command::StopAll): every live stream, in
    /// creation order.
    pub(super) fn stop_all(&mut self, now: Instant) -> Result<Reply, CommandError> {
        let mut ctx = ctx!(self, now);
        for live_id in self.streams.live_ids() {
            if let Some(stopped) = self.streams.stop_live(&mut ctx, &live_id, StopReason::Operator) {
                announce(&mut ctx, &mut self.clients, &mut self.repeats, stopped);
            }
        }
        Ok(Reply::Done)
    }
}
