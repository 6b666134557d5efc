//! The subscriber (docs/protocol.md §1.4, 1.5, 2.1, 2.3-2.5) as a sans-IO state
//! machine: registers for a client id, sends its (chunked) pull request,
//! acknowledges responses echoing their challenge, heartbeats, puts each
//! stream's data through a [`ReorderBuffer`] with NACKs, follows stream
//! stops with their tail, registers again after a relay restart, and stops.
//!
//! See [`crate::client`] for the call contract and a driver loop.

use super::backoff::Backoff;
use super::outbox::Outbox;
use super::reception::Reception;
use super::reorder::{ReorderBuffer, ReorderConfig, ReorderStats};
use super::{ClientError, check_live_id, control, earliest};
use crate::packet::pt::{self, PULL_REQ_CHUNK};
use crate::packet::rtp::{Header, Packet};
use crate::packet::{is_rtcp, rtcp, text};
use crate::rng::{Map, Rng};
use crate::time::{Instant, WallClock};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

/// Tunables of the subscriber. Every field has a default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PullConfig {
    /// First wait before an unanswered `CLIENT_ID_REQ` is sent again; the
    /// wait doubles after each try. 500 ms.
    pub client_id_retry_initial_ms: u64,
    /// Longest wait between two `CLIENT_ID_REQ` tries. 8 s.
    pub client_id_retry_max_ms: u64,
    /// `HEARTBEAT` period (§1.4.7). 1 s.
    pub heartbeat_interval_ms: u64,
    /// First wait before a pull request that is not fully answered is sent
    /// again; the wait doubles after each try. 1 s (the relay's own
    /// reassembly timeout).
    pub pull_retry_initial_ms: u64,
    /// Longest wait between two tries of a pull request. 8 s.
    pub pull_retry_max_ms: u64,
    /// `STOP_PULL_REQ` is sent again after this long without an answer.
    /// 250 ms.
    pub close_retry_ms: u64,
    /// [`PullClient::close`] reports success after this long even without
    /// an answer, so closing never hangs. 2 s.
    pub close_timeout_ms: u64,
    /// Datagrams queued for the driver; beyond it the oldest is dropped.
    pub max_queued_datagrams: usize,
    /// Send an RTCP Receiver Report (loss and jitter of each stream) with
    /// every heartbeat (2.3), so the relay's API shows them. On.
    pub receiver_reports: bool,
    /// The reorder buffer and its NACKs (§2.4); its window also
    /// bounds the wait for a stopped stream's tail.
    pub reorder: ReorderConfig,
}

impl Default for PullConfig {
    fn default() -> Self {
        PullConfig {
            client_id_retry_initial_ms: 500,
            client_id_retry_max_ms: 8_000,
            heartbeat_interval_ms: 1_000,
            pull_retry_initial_ms: 1_000,
            pull_retry_max_ms: 8_000,
            close_retry_ms: 250,
            close_timeout_ms: 2_000,
            max_queued_datagrams: 4_096,
            receiver_reports: true,
            reorder: ReorderConfig::default(),
        }
    }
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis.max(1))
}

/// What the subscriber tells its owner (§1.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullEvent {
    /// The relay issued a client id (again after a relay restart); see
    /// [`PullClient::client_id`].
    PullStreamReady,
    /// These streams are live and acknowledged: their data follows. Sent
    /// for every id on the first answer to a [`PullClient::pull`], later
    /// only when a stream goes live or changes SSRC.
    PullStreamReqSuccess {
        /// The streams.
        live_ids: Vec<String>,
    },
    /// These streams are not live (the relay announces them if they go
    /// live). Same reporting rule as `PullStreamReqSuccess`.
    NoStream {
        /// The streams.
        live_ids: Vec<String>,
    },
    /// The relay lost part of the chunked pull request (`PULL_REQ_LOST`);
    /// the client has sent it again.
    PullStreamPacketLoss,
    /// Stream data, in sequence order, after the reorder buffer.
    PullStreamData {
        /// The stream.
        live_id: String,
        /// The RTP sequence number.
        seq: u16,
        /// The MPEG-TS payload.
        data: Bytes,
    },
    /// The stream stopped (after its tail was received or waited for); it
    /// left the client's list.
    StreamStop {
        /// The stream.
        live_id: String,
    },
    /// [`PullClient::close`] finished: the relay confirmed, or the close
    /// timeout passed.
    CloseSuccess,
}

/// What the subscriber dropped or sent, besides the per-stream
/// [`ReorderStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PullCounters {
    /// Datagrams that do not parse.
    pub malformed: u64,
    /// Well-formed datagrams the client had no use for.
    pub ignored: u64,
    /// `TS_DATA` whose SSRC is not one of the client's streams.
    pub unknown_ssrc: u64,
    /// NACK datagrams sent.
    pub nacks_sent: u64,
    /// Receiver reports sent.
    pub receiver_reports: u64,
    /// Pull requests sent (first tries and resends).
    pub pull_requests: u64,
    /// Times the relay did not know the client id (`CLIENT_UNKNOWN`).
    pub reregistrations: u64,
    /// Datagrams dropped because the driver did not drain the queue.
    pub tx_overflow: u64,
}

/// Where the client's registration stands.
#[derive(Clone, Copy, Debug)]
enum Registration {
    /// `CLIENT_ID_REQ` sent, not answered.
    Waiting(Backoff),
    /// The relay issued `id`.
    Registered { id: u32, heartbeat_at: Instant },
}

/// Where the client stands as a whole.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Open,
    Closing { retry_at: Instant, deadline: Instant },
    Closed,
}

/// What the relay last said about a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Pending,
    Live(u32),
    NotLive,
}

/// One listed stream.
struct PullStream {
    live_id: String,
    answer: Answer,
    buffer: ReorderBuffer,
    /// What the next receiver report says about it.
    reception: Reception,
    /// `STREAM_STOPPED` arrived: the last sequence number and how long to
    /// wait for the packets up to it.
    stopping: Option<(u16, Instant)>,
    /// `StreamStop` was reported: the stream leaves the list.
    stopped: bool,
}

/// The current pull request: unanswered ids, and its resend schedule once
/// sent.
struct Request {
    unanswered: BTreeSet<String>,
    answered: bool,
    retry: Option<Backoff>,
}

impl Request {
    fn done(&self) -> bool {
        self.answered && self.unanswered.is_empty()
    }
}

/// The subscriber state machine. See [`crate::client`] for the call
/// contract and an example.
pub struct PullClient {
    config: PullConfig,
    clock: WallClock,
    outbox: Outbox,
    events: VecDeque<PullEvent>,
    registration: Registration,
    phase: Phase,
    streams: Vec<PullStream>,
    by_ssrc: Map<u32, usize>,
    request: Request,
    counters: PullCounters,
    last_now: Instant,
}

impl PullClient {
    /// A subscriber that asks the relay for a client id at once (the
    /// `CLIENT_ID_REQ` is the first datagram to poll). `seed` keys the
    /// SSRC map; `clock` stamps the client's packets.
    pub fn new(config: PullConfig, seed: [u8; 32], clock: WallClock, now: Instant) -> Self {
        let mut rng = Rng::from_seed(seed);
        let backoff = Backoff::start(now, ms(config.client_id_retry_initial_ms), ms(config.client_id_retry_max_ms));
        let mut client = PullClient {
            outbox: Outbox::new(config.max_queued_datagrams),
            config,
            clock,
            events: VecDeque::new(),
            registration: Registration::Waiting(backoff),
            phase: Phase::Open,
            streams: Vec::new(),
            by_ssrc: rng.map(),
            request: Request { unanswered: BTreeSet::new(), answered: true, retry: None },
            counters: PullCounters::default(),
            last_now: now,
        };
        client.send_control(now, pt::CLIENT_ID_REQ, 0);
        client
    }

    fn enter(&mut self, now: Instant) {
        debug_assert!(self.events.is_empty(), "call contract: drain poll_event after every call");
        debug_assert!(now >= self.last_now, "call contract: now must not go backwards");
        self.last_now = self.last_now.max(now);
    }

    fn send(&mut self, datagram: Bytes) {
        self.outbox.send(datagram);
        self.counters.tx_overflow = self.outbox.overflow;
    }

    fn send_control(&mut self, now: Instant, payload_type: u8, ssrc: u32) {
        self.send(control(payload_type, self.clock.rtp_timestamp(now), ssrc, &[]));
    }

    /// The client id, once the relay issued one.
    pub fn client_id(&self) -> Option<u32> {
        match self.registration {
            Registration::Registered { id, .. } => Some(id),
            Registration::Waiting(_) => None,
        }
    }

    /// The streams the client lists, in request order.
    pub fn live_ids(&self) -> impl Iterator<Item = &str> {
        self.streams.iter().map(|s| s.live_id.as_str())
    }

    /// The reorder counters of a listed stream.
    pub fn stats(&self, live_id: &str) -> Option<ReorderStats> {
        self.streams.iter().find(|s| s.live_id == live_id).map(|s| s.buffer.stats())
    }

    /// What the client dropped or sent.
    pub fn counters(&self) -> &PullCounters {
        &self.counters
    }

    /// Asks for `live_ids`, replacing the previous list (docs/protocol.md
    /// 1.4.3): streams no longer listed are dropped with their buffered
    /// data; streams still listed keep their state. Duplicates count once.
    /// Sent at once if the client is registered, else once it is; resent
    /// until every id is answered.
    pub fn pull<S: AsRef<str>>(&mut self, now: Instant, live_ids: &[S]) -> Result<(), ClientError> {
        self.enter(now);
        if !matches!(self.phase, Phase::Open) {
            return Err(ClientError::Closed);
        }
        let mut ids: Vec<&str> = Vec::with_capacity(live_ids.len());
        for id in live_ids.iter().map(AsRef::as_ref) {
            check_live_id(id)?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut old = std::mem::take(&mut self.streams);
        for id in ids {
            let stream = match old.iter().position(|s| s.live_id == id) {
                Some(i) => old.remove(i),
                None => PullStream {
                    live_id: id.to_owned(),
                    answer: Answer::Pending,
                    buffer: ReorderBuffer::new(&self.config.reorder),
                    reception: Reception::default(),
                    stopping: None,
                    stopped: false,
                },
            };
            self.streams.push(stream);
        }
        self.index_ssrcs();
        self.new_request(now);
        Ok(())
    }

    fn index_ssrcs(&mut self) {
        self.by_ssrc.clear();
        for (i, s) in self.streams.iter().enumerate() {
            if let Answer::Live(ssrc) = s.answer {
                self.by_ssrc.insert(ssrc, i);
            }
        }
    }

    /// Starts a request for the current list, sent now if registered.
    fn new_request(&mut self, now: Instant) {
        self.request = Request {
            unanswered: self.streams.iter().map(|s| s.live_id.clone()).collect(),
            answered: false,
            retry: None,
        };
        if self.client_id().is_some() {
            let c = &self.config;
            self.request.retry = Some(Backoff::start(now, ms(c.pull_retry_initial_ms), ms(c.pull_retry_max_ms)));
            self.send_request(now);
        }
    }

    /// The list as `PULL_REQ` chunks (1.4.2).
    fn send_request(&mut self, now: Instant) {
        let Some(id) = self.client_id() else { return };
        self.counters.pull_requests += 1;
        let ids: Vec<&str> = self.live_ids().collect();
        let list = text::join_ids(&ids, '#');
        let timestamp = self.clock.rtp_timestamp(now);
        for chunk in text::chunk_pull_request(list.as_bytes()) {
            let header =
                Header { marker: chunk.last, sequence: chunk.index, timestamp, ssrc: id, ..Header::new(pt::PULL_REQ) };
            self.send(header.encode(chunk.payload));
        }
    }

    /// Stops subscribing: hands over what the buffers hold, then sends
    /// `STOP_PULL_REQ`, again every [`PullConfig::close_retry_ms`] until
    /// `STOP_PULL_RSP` or [`PullConfig::close_timeout_ms`], then emits
    /// [`PullEvent::CloseSuccess`]. Closing twice does nothing.
    pub fn close(&mut self, now: Instant) {
        self.enter(now);
        if !matches!(self.phase, Phase::Open) {
            return;
        }
        for i in 0..self.streams.len() {
            self.streams[i].buffer.flush();
            self.drain_data(i);
        }
        let id = self.client_id().unwrap_or(0);
        self.send_control(now, pt::STOP_PULL_REQ, id);
        let (retry_at, deadline) = (now + ms(self.config.close_retry_ms), now + ms(self.config.close_timeout_ms));
        self.phase = Phase::Closing { retry_at, deadline };
    }

    fn finish_close(&mut self) {
        self.phase = Phase::Closed;
        self.streams.clear();
        self.by_ssrc.clear();
        self.events.push_back(PullEvent::CloseSuccess);
    }

    /// A datagram from the relay.
    pub fn handle_datagram(&mut self, now: Instant, data: Bytes) {
        self.enter(now);
        let open = matches!(self.phase, Phase::Open);
        if is_rtcp(&data) || matches!(self.phase, Phase::Closed) {
            self.counters.ignored += 1;
            return;
        }
        let Ok(packet) = Packet::parse(&data) else {
            self.counters.malformed += 1;
            return;
        };
        let header = packet.header;
        match header.payload_type {
            pt::STOP_PULL_RSP if !open => self.finish_close(),
            pt::TS_DATA if open => {
                let payload = data.slice_ref(packet.payload);
                self.on_data(now, header, payload);
            }
            pt::CLIENT_ID_RSP if open => self.on_client_id(now, header.ssrc),
            pt::PULL_RSP if open => self.on_pull_rsp(header.timestamp, packet.payload),
            pt::PULL_REQ_LOST if open => self.on_pull_req_lost(now),
            pt::STREAM_STOPPED if open => self.on_stream_stopped(now, header.sequence, packet.payload),
            pt::CLIENT_UNKNOWN if open => self.on_client_unknown(now, header.ssrc),
            _ => self.counters.ignored += 1,
        }
    }

    fn on_client_id(&mut self, now: Instant, id: u32) {
        if !matches!(self.registration, Registration::Waiting(_)) || !pt::is_assignable_id(id) {
            self.counters.ignored += 1;
            return;
        }
        let heartbeat_at = now + ms(self.config.heartbeat_interval_ms);
        self.registration = Registration::Registered { id, heartbeat_at };
        self.events.push_back(PullEvent::PullStreamReady);
        if !self.streams.is_empty() || !self.request.done() {
            self.new_request(now);
        }
    }

    /// `CLIENT_UNKNOWN` (2.5): the relay restarted (or lost us); register
    /// again, then send the list again.
    fn on_client_unknown(&mut self, now: Instant, id: u32) {
        if self.client_id() != Some(id) {
            self.counters.ignored += 1;
            return;
        }
        self.counters.reregistrations += 1;
        let c = &self.config;
        let backoff = Backoff::start(now, ms(c.client_id_retry_initial_ms), ms(c.client_id_retry_max_ms));
        self.registration = Registration::Waiting(backoff);
        self.request.answered = false;
        self.send_control(now, pt::CLIENT_ID_REQ, 0);
    }

    fn on_pull_req_lost(&mut self, now: Instant) {
        self.events.push_back(PullEvent::PullStreamPacketLoss);
        self.new_request(now);
    }

    /// `PULL_RSP` (1.4.4): records each listed stream's SSRC, reports what
    /// is new, and acknowledges the live ones echoing the challenge (2.3).
    fn on_pull_rsp(&mut self, challenge: u32, payload: &[u8]) {
        let Some(id) = self.client_id() else {
            self.counters.ignored += 1;
            return;
        };
        self.request.answered = true;
        let (mut live, mut not_live, mut ack) = (Vec::new(), Vec::new(), Vec::new());
        for (live_id, ssrc) in text::parse_pull_rsp(payload) {
            let first_answer = self.request.unanswered.remove(&live_id);
            let Some(i) = self.streams.iter().position(|s| s.live_id == live_id) else { continue };
            let answer = ssrc.map_or(Answer::NotLive, Answer::Live);
            let stream = &mut self.streams[i];
            if answer != stream.answer {
                // A new SSRC is a new sequence space; a stream no longer
                // live has nothing more to wait for.
                stream.buffer.flush();
                self.drain_data(i);
                self.streams[i].buffer = ReorderBuffer::new(&self.config.reorder);
                self.streams[i].answer = answer;
            } else if !first_answer {
                if ssrc.is_some() {
                    ack.push(live_id);
                }
                continue;
            }
            match ssrc {
                Some(_) => {
                    ack.push(live_id.clone());
                    live.push(live_id);
                }
                None => not_live.push(live_id),
            }
        }
        self.index_ssrcs();
        self.send_acks(id, challenge, &ack);
        if !live.is_empty() {
            self.events.push_back(PullEvent::PullStreamReqSuccess { live_ids: live });
        }
        if !not_live.is_empty() {
            self.events.push_back(PullEvent::NoStream { live_ids: not_live });
        }
    }

    /// An RTCP Receiver Report with a block for each live stream that
    /// received data (2.3), sent with each heartbeat.
    fn send_receiver_report(&mut self, id: u32) {
        let blocks: Vec<_> = self
            .streams
            .iter_mut()
            .filter_map(|s| match s.answer {
                Answer::Live(ssrc) => s.reception.report(ssrc, s.buffer.stats()),
                _ => None,
            })
            .collect();
        if !blocks.is_empty() {
            self.counters.receiver_reports += 1;
            self.send(rtcp::ReceiverReport { sender_ssrc: id, blocks }.encode());
        }
    }

    /// `SSRC_ACK` datagrams (1.4.5): `id;id`, split between ids so each
    /// datagram stands alone, the challenge echoed in the timestamp.
    fn send_acks(&mut self, id: u32, challenge: u32, ids: &[String]) {
        let header = Header { timestamp: challenge, ssrc: id, ..Header::new(pt::SSRC_ACK) };
        let mut payload = String::new();
        for live_id in ids {
            if !payload.is_empty() && payload.len() + 1 + live_id.len() > PULL_REQ_CHUNK {
                self.send(header.encode(payload.as_bytes()));
                payload.clear();
            }
            if !payload.is_empty() {
                payload.push(';');
            }
            payload.push_str(live_id);
        }
        if !payload.is_empty() {
            self.send(header.encode(payload.as_bytes()));
        }
    }

    fn on_data(&mut self, now: Instant, header: Header, payload: Bytes) {
        let Some(&i) = self.by_ssrc.get(&header.ssrc) else {
            self.counters.unknown_ssrc += 1;
            return;
        };
        let arrival = self.clock.rtp_timestamp(now);
        self.streams[i].reception.on_packet(header.sequence, header.timestamp, arrival);
        self.streams[i].buffer.insert(now, header.sequence, payload);
        self.service(now, i);
        self.remove_stopped();
    }

    /// `STREAM_STOPPED` (1.4.9, 2.5): waits up to the window for the
    /// packets up to the sequence number it carries, then reports the stop.
    fn on_stream_stopped(&mut self, now: Instant, last: u16, payload: &[u8]) {
        let found = std::str::from_utf8(payload).ok().and_then(|id| self.streams.iter().position(|s| s.live_id == id));
        // Only a stream answered live can stop: for one asked for again and
        // not answered yet, this is a late copy about the previous
        // subscription (the answer tells whether it is live).
        let stoppable = |s: &PullStream| matches!(s.answer, Answer::Live(_)) && s.stopping.is_none();
        let Some(i) = found.filter(|&i| stoppable(&self.streams[i])) else {
            self.counters.ignored += 1;
            return;
        };
        let deadline = now + Duration::from_millis(self.config.reorder.window_ms);
        self.streams[i].buffer.expect_through(now, last);
        self.streams[i].stopping = Some((last, deadline));
        self.service(now, i);
        self.remove_stopped();
    }

    /// Hands over a stream's ready data, sends its due NACKs and finishes
    /// its stop once the tail is in or waited for.
    fn service(&mut self, now: Instant, i: usize) {
        self.drain_data(i);
        let nacks = self.streams[i].buffer.poll_nacks(now);
        if let (Answer::Live(ssrc), Some(id), false) = (self.streams[i].answer, self.client_id(), nacks.is_empty()) {
            self.counters.nacks_sent += 1;
            self.send(rtcp::Nack::from_sequences(id, ssrc, &nacks).encode());
        }
        let stream = &mut self.streams[i];
        let tail_done = |(last, deadline): (u16, Instant)| stream.buffer.passed(last) || deadline <= now;
        if !stream.stopped && stream.stopping.is_some_and(tail_done) {
            stream.buffer.flush();
            stream.stopped = true;
            self.drain_data(i);
            let live_id = self.streams[i].live_id.clone();
            self.request.unanswered.remove(&live_id);
            self.events.push_back(PullEvent::StreamStop { live_id });
        }
    }

    fn drain_data(&mut self, i: usize) {
        let stream = &mut self.streams[i];
        while let Some((seq, data)) = stream.buffer.pop() {
            self.events.push_back(PullEvent::PullStreamData { live_id: stream.live_id.clone(), seq, data });
        }
    }

    /// Drops the streams whose stop was reported: they left the list (1.4.9).
    fn remove_stopped(&mut self) {
        let before = self.streams.len();
        self.streams.retain(|s| !s.stopped);
        if self.streams.len() != before {
            self.index_ssrcs();
        }
    }

    /// Fires registration and request retries, heartbeats, buffer releases,
    /// NACKs, stop tails and close retries due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.enter(now);
        match self.phase {
            Phase::Closed => return,
            Phase::Closing { deadline, .. } if deadline <= now => return self.finish_close(),
            Phase::Closing { retry_at, deadline } => {
                if retry_at <= now {
                    let retry_at = now + ms(self.config.close_retry_ms);
                    self.phase = Phase::Closing { retry_at, deadline };
                    let id = self.client_id().unwrap_or(0);
                    self.send_control(now, pt::STOP_PULL_REQ, id);
                }
                return;
            }
            Phase::Open => {}
        }
        match &mut self.registration {
            Registration::Waiting(backoff) if backoff.at <= now => {
                backoff.retry(now);
                self.send_control(now, pt::CLIENT_ID_REQ, 0);
            }
            Registration::Registered { id, heartbeat_at } if *heartbeat_at <= now => {
                *heartbeat_at = now + ms(self.config.heartbeat_interval_ms);
                let id = *id;
                self.send_control(now, pt::HEARTBEAT, id);
                if self.config.receiver_reports {
                    self.send_receiver_report(id);
                }
            }
            _ => {}
        }
        let done = self.request.done();
        if let Some(retry) = self.request.retry.as_mut().filter(|r| !done && r.at <= now) {
            retry.retry(now);
            self.send_request(now);
        }
        for i in 0..self.streams.len() {
            self.streams[i].buffer.handle_timeout(now);
            self.service(now, i);
        }
        self.remove_stopped();
    }

    /// The next datagram for the relay.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.outbox.poll()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<PullEvent> {
        self.events.pop_front()
    }

    /// When [`PullClient::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Closed => return None,
            Phase::Closing { retry_at, deadline } => return Some(retry_at.min(deadline)),
            Phase::Open => {}
        }
        let registration = match self.registration {
            Registration::Waiting(backoff) => backoff.at,
            Registration::Registered { heartbeat_at, .. } => heartbeat_at,
        };
        let request = self.request.retry.filter(|_| !self.request.done()).map(|r| r.at);
        self.streams
            .iter()
            .flat_map(|s| [s.buffer.poll_timeout(), s.stopping.map(|(_, at)| at)])
            .fold(earliest(Some(registration), request), earliest)
    }
}
