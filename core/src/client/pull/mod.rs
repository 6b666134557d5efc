//! The subscriber (docs/protocol.md §1.4, 1.5, 2.1, 2.3-2.5) as a sans-IO state
//! machine: registers for a client id, sends its (chunked) pull request,
//! acknowledges responses echoing their challenge, heartbeats, puts each
//! stream's data through a [`ReorderBuffer`] with NACKs, follows stream
//! stops with their tail, registers again after a relay restart, and stops.
//! It talks to the relay's pull socket only ([`Port::Pull`]).
//!
//! See [`PullClient`] for the call contract and a driver loop.

mod config;
mod data;
mod event;
mod registration;
mod stream;

pub use config::PullConfig;
pub use event::{PullCounters, PullEvent};

use super::link::Link;
use super::phase::{CloseStep, Closing, Phase};
use super::probe::Prober;
use super::reorder::{ReorderBuffer, ReorderStats};
use super::{ClientError, check_live_id, control, earliest, ms};
use crate::endpoint::{Endpoint, Port, Transmit};
use crate::ids::{ClientId, Ssrc};
use crate::packet::pt::{self, PULL_REQ_CHUNK, PayloadType};
use crate::packet::rtp::{Header, Packet};
use crate::packet::{is_rtcp, text};
use crate::rng::{Map, Rng};
use crate::time::{Instant, WallClock};
use bytes::Bytes;
use registration::{Due, Registration, Request};
use std::net::SocketAddr;
use stream::{Answer, PullStream};

/// The subscriber state machine: see [`PullConfig`] for its tunables and
/// [`PullEvent`] for what it reports.
///
/// Both clients implement [`Endpoint`], the relay's call contract: every
/// input is a method call carrying `now`, every output is polled. Each
/// talks to one relay socket, given at construction: the publisher to the
/// push socket, the subscriber to the pull socket. Its transmits go there,
/// and datagrams from any other address or socket are dropped and counted
/// (`foreign`).
///
/// The call contract is [`Endpoint`]'s; commands such as `pull` and
/// `close` are calls too (drain transmits and events after them).
///
/// # Driver loop
///
/// ```
/// use bytes::Bytes;
/// use rtprelay_core::{PullClient, PullConfig, PullEvent};
/// use rtprelay_core::{Endpoint, Instant, Port, WallClock};
/// use std::net::SocketAddr;
///
/// let now = Instant::ZERO;
/// let relay: SocketAddr = "192.0.2.1:61041".parse().unwrap();
/// let clock = WallClock::new(now, 1_700_000_000_000);
/// let mut client = PullClient::new(PullConfig::default(), relay, [7; 32], clock, now);
/// client.pull(now, &["cam1"]).unwrap();
/// let mut sent = Vec::new();
/// // One turn of the loop; a real driver repeats it until the client closes.
/// let received: Option<(SocketAddr, Bytes)> = None; // a datagram from the socket, if any
/// if let Some((from, datagram)) = received {
///     client.handle_datagram(now, Port::Pull, from, datagram);
/// } else if client.poll_timeout().is_some_and(|at| at <= now) {
///     client.handle_timeout(now);
/// }
/// while let Some(transmit) = client.poll_transmit(8) {
///     sent.extend(transmit.segments); // socket.send_to(&datagram, transmit.destination)
/// }
/// while let Some(event) = client.poll_event() {
///     if let PullEvent::PullStreamData { live_id, data, .. } = event {
///         println!("{live_id}: {} bytes", data.len());
///     }
/// }
/// let _sleep_until = client.poll_timeout();
/// assert_eq!(sent.len(), 1, "the client asked for its id at once");
/// ```
pub struct PullClient {
    config: PullConfig,
    clock: WallClock,
    link: Link<PullEvent>,
    registration: Registration,
    phase: Phase,
    streams: Vec<PullStream>,
    by_ssrc: Map<Ssrc, usize>,
    request: Request,
    /// Delay probes, one with each heartbeat: the round trip paces NACKs.
    probes: Prober,
    counters: PullCounters,
}

impl PullClient {
    /// A subscriber of the relay's pull socket at `relay` that asks for a
    /// client id at once (the `CLIENT_ID_REQ` is the first datagram to
    /// poll). `seed` keys the SSRC map; `clock` stamps the client's packets.
    #[must_use]
    pub fn new(config: PullConfig, relay: SocketAddr, seed: [u8; 32], clock: WallClock, now: Instant) -> Self {
        let mut rng = Rng::from_seed(seed);
        let c = &config;
        let probes = Prober::new(ms(c.heartbeat_interval_ms));
        let registration = Registration::start(
            now,
            ms(c.client_id_retry_initial_ms),
            ms(c.client_id_retry_max_ms),
            ms(c.heartbeat_interval_ms),
        );
        let mut client = PullClient {
            link: Link::new(relay, Port::Pull, config.max_queued_datagrams, now),
            config,
            clock,
            registration,
            phase: Phase::Open,
            streams: Vec::new(),
            by_ssrc: rng.map(),
            request: Request::none(),
            probes,
            counters: PullCounters::default(),
        };
        client.send_control(now, pt::CLIENT_ID_REQ, 0);
        client
    }

    fn send(&mut self, datagram: Bytes) {
        self.link.send(datagram);
        self.counters.tx_overflow = self.link.overflow();
    }

    fn send_control(&mut self, now: Instant, payload_type: u8, ssrc: u32) {
        self.send(control(payload_type, self.clock.rtp_timestamp(now), ssrc, &[]));
    }

    /// A `DELAY_REQ` (§1.3.5, which the relay answers on either socket):
    /// its echo gives the round trip that paces the NACKs (§2.3). Empty,
    /// with the client's clock.
    fn send_probe(&mut self, now: Instant) {
        let timestamp = self.clock.rtp_timestamp(now);
        let sequence = self.probes.sent(now, timestamp).get();
        self.send(Header { sequence, timestamp, ..Header::new(pt::DELAY_REQ) }.encode(&[]));
    }

    /// The smoothed round trip to the relay, once a delay probe was
    /// answered.
    #[must_use]
    pub fn rtt(&self) -> Option<std::time::Duration> {
        self.probes.smoothed()
    }

    /// The client id, once the relay issued one.
    #[must_use]
    pub fn client_id(&self) -> Option<ClientId> {
        self.registration.id()
    }

    /// The streams the client lists, in request order.
    pub fn live_ids(&self) -> impl Iterator<Item = &str> {
        self.streams.iter().map(|s| s.live_id.as_str())
    }

    /// The reorder counters of a listed stream.
    #[must_use]
    pub fn stats(&self, live_id: &str) -> Option<ReorderStats> {
        self.streams.iter().find(|s| s.live_id == live_id).map(|s| s.buffer.stats())
    }

    /// What the client dropped or sent.
    #[must_use]
    pub fn counters(&self) -> &PullCounters {
        &self.counters
    }

    /// Asks for `live_ids`, replacing the previous list (docs/protocol.md
    /// 1.4.3): streams no longer listed are dropped with their buffered
    /// data; streams still listed keep their state. Duplicates count once.
    /// Sent at once if the client is registered, else once it is; resent
    /// until every id is answered.
    ///
    /// # Errors
    ///
    /// [`ClientError::Closed`] after [`PullClient::close`],
    /// [`ClientError::InvalidLiveId`] for an id that is empty or holds `#`
    /// or `;`.
    pub fn pull<S: AsRef<str>>(&mut self, now: Instant, live_ids: &[S]) -> Result<(), ClientError> {
        self.link.enter(now);
        if !self.phase.is_open() {
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
                None => PullStream::new(id, &self.config.reorder),
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
            if let Some(ssrc) = s.ssrc() {
                self.by_ssrc.insert(ssrc, i);
            }
        }
    }

    /// Starts a request for the current list, sent now if registered.
    fn new_request(&mut self, now: Instant) {
        self.request = Request::new(self.streams.iter().map(|s| s.live_id.clone()));
        if self.client_id().is_some() {
            let c = &self.config;
            self.request.sent(now, ms(c.pull_retry_initial_ms), ms(c.pull_retry_max_ms));
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
            let (marker, sequence, ssrc) = (chunk.last, chunk.index, id.get());
            let header = Header { marker, sequence, timestamp, ssrc, ..Header::new(pt::PULL_REQ) };
            self.send(header.encode(chunk.payload));
        }
    }

    /// Stops subscribing: hands over what the buffers hold, then sends
    /// `STOP_PULL_REQ`, again every [`PullConfig::close_retry_ms`] until
    /// `STOP_PULL_RSP` or [`PullConfig::close_timeout_ms`], then emits
    /// [`PullEvent::CloseSuccess`]. Closing twice does nothing.
    pub fn close(&mut self, now: Instant) {
        self.link.enter(now);
        if !self.phase.is_open() {
            return;
        }
        for i in 0..self.streams.len() {
            self.streams[i].buffer.flush();
            self.drain_data(i);
        }
        self.send_stop(now);
        let c = &self.config;
        self.phase = Phase::Closing(Closing::start(now, ms(c.close_retry_ms), ms(c.close_timeout_ms)));
    }

    fn send_stop(&mut self, now: Instant) {
        let id = self.client_id().map_or(0, ClientId::get);
        self.send_control(now, pt::STOP_PULL_REQ, id);
    }

    fn finish_close(&mut self) {
        self.phase = Phase::Closed;
        self.streams.clear();
        self.by_ssrc.clear();
        self.link.emit(PullEvent::CloseSuccess);
    }

    fn on_client_id(&mut self, now: Instant, id: u32) {
        if !self.registration.is_waiting() || !pt::is_assignable_id(id) {
            self.counters.ignored += 1;
            return;
        }
        self.registration.register(now, ClientId::new(id));
        self.link.emit(PullEvent::PullStreamReady);
        self.send_probe(now);
        if !self.streams.is_empty() || !self.request.done() {
            self.new_request(now);
        }
    }

    /// `CLIENT_UNKNOWN` (2.5): the relay restarted (or lost us); register
    /// again, then send the list again.
    fn on_client_unknown(&mut self, now: Instant, id: ClientId) {
        if self.client_id() != Some(id) {
            self.counters.ignored += 1;
            return;
        }
        self.counters.reregistrations += 1;
        self.registration.restart(now);
        self.request.answered = false;
        self.send_control(now, pt::CLIENT_ID_REQ, 0);
    }

    fn on_pull_req_lost(&mut self, now: Instant) {
        self.link.emit(PullEvent::PullStreamPacketLoss);
        self.new_request(now);
    }

    /// `PULL_RSP` (1.4.4): records each listed stream's SSRC, reports what
    /// is new, and acknowledges the live ones echoing the challenge (the
    /// response's SSRC field, 2.3).
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
            let answer = ssrc.map_or(Answer::NotLive, |ssrc| Answer::Live(Ssrc::new(ssrc)));
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
            self.link.emit(PullEvent::PullStreamReqSuccess { live_ids: live });
        }
        if !not_live.is_empty() {
            self.link.emit(PullEvent::NoStream { live_ids: not_live });
        }
    }

    /// `SSRC_ACK` datagrams (1.4.5): `id;id`, split between ids so each
    /// datagram stands alone, the challenge echoed in the timestamp; each
    /// sent [`PullConfig::ack_copies`] times.
    fn send_acks(&mut self, id: ClientId, challenge: u32, ids: &[String]) {
        let header = Header { timestamp: challenge, ssrc: id.get(), ..Header::new(pt::SSRC_ACK) };
        let mut payloads = vec![String::new()];
        for live_id in ids {
            let payload = payloads.last_mut().expect("one at least");
            if !payload.is_empty() && payload.len() + 1 + live_id.len() > PULL_REQ_CHUNK {
                payloads.push(live_id.clone());
                continue;
            }
            if !payload.is_empty() {
                payload.push(';');
            }
            payload.push_str(live_id);
        }
        for _ in 0..self.config.ack_copies.max(1) {
            for payload in payloads.iter().filter(|p| !p.is_empty()) {
                self.send(header.encode(payload.as_bytes()));
            }
        }
    }
}

impl Endpoint for PullClient {
    type Event = PullEvent;

    /// Fires registration and request retries, heartbeats, buffer releases,
    /// NACKs, stop tails and close retries due by `now`.
    fn handle_timeout(&mut self, now: Instant) {
        self.link.enter(now);
        match &mut self.phase {
            Phase::Closed => return,
            Phase::Closing(closing) => {
                match closing.step(now) {
                    CloseStep::Finish => self.finish_close(),
                    CloseStep::Resend => self.send_stop(now),
                    CloseStep::Wait => {}
                }
                return;
            }
            Phase::Open => {}
        }
        match self.registration.due(now) {
            Due::Retry => self.send_control(now, pt::CLIENT_ID_REQ, 0),
            Due::Heartbeat(id) => {
                self.send_control(now, pt::HEARTBEAT, id.get());
                self.send_probe(now);
                if self.config.receiver_reports {
                    self.send_receiver_report(id);
                }
            }
            Due::Nothing => {}
        }
        if self.request.resend_due(now) {
            self.send_request(now);
        }
        for i in 0..self.streams.len() {
            self.streams[i].buffer.handle_timeout(now);
            self.service(now, i);
        }
        self.remove_stopped();
    }

    /// Reads only the relay pull socket's datagrams ([`PullCounters::foreign`]).
    fn handle_datagram(&mut self, now: Instant, port: Port, from: SocketAddr, data: Bytes) {
        if !self.link.enter_datagram(now, port, from) {
            self.counters.foreign += 1;
            return;
        }
        let open = self.phase.is_open();
        if is_rtcp(&data) || self.phase.is_closed() {
            self.counters.ignored += 1;
            return;
        }
        let Ok(packet) = Packet::parse(&data) else {
            self.counters.malformed += 1;
            return;
        };
        let header = packet.header;
        match header.kind() {
            Some(PayloadType::StopPullRsp) if !open => self.finish_close(),
            Some(PayloadType::TsData) if open => {
                let payload = data.slice_ref(packet.payload);
                self.on_data(now, header, payload);
            }
            Some(PayloadType::ClientIdRsp) if open => self.on_client_id(now, header.ssrc),
            Some(PayloadType::PullRsp) if open => self.on_pull_rsp(header.ssrc, packet.payload),
            Some(PayloadType::PullReqLost) if open => self.on_pull_req_lost(now),
            Some(PayloadType::StreamStopped) if open => self.on_stream_stopped(now, header.seq(), packet.payload),
            Some(PayloadType::ClientUnknown) if open => self.on_client_unknown(now, ClientId::new(header.ssrc)),
            Some(PayloadType::DelayRsp) if open && self.probes.echoed(now, header.seq(), header.timestamp) => {}
            _ => self.counters.ignored += 1,
        }
    }

    /// The next datagrams for the relay's pull socket.
    fn poll_transmit(&mut self, max_segments: usize) -> Option<Transmit> {
        self.link.poll_transmit(max_segments)
    }

    fn poll_event(&mut self) -> Option<PullEvent> {
        self.link.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let own = earliest(Some(self.registration.deadline()), self.request.deadline());
        self.phase.wake_at(|| self.streams.iter().flat_map(PullStream::deadlines).fold(own, earliest))
    }
}
