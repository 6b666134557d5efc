//! The publisher (docs/protocol.md §1.3, 1.5, 2.2, 2.5) as a sans-IO state
//! machine: authenticates its streams, splits MPEG-TS into `TS_DATA`
//! packets, answers the relay's NACKs, probes the round trip and stops.
//! It talks to the relay's push socket only ([`Port::Push`]).
//!
//! See [`PushClient`] for an example.

mod config;
mod data;
mod event;
mod stream;

pub use config::PushConfig;
pub use event::{PushCounters, PushErrorCode, PushEvent, PushStreamError};

use super::backoff::Backoff;
use super::link::Link;
use super::phase::{CloseStep, Closing, Phase};
use super::probe::Prober;
use super::rtt::RelayClock;
use super::{ClientError, check_live_id, control, ms};
use crate::endpoint::{Endpoint, Port, Transmit};
use crate::ids::{Seq, Ssrc};
use crate::packet::pt::{self, PayloadType};
use crate::packet::rtp::{Header, Packet};
use crate::packet::{is_rtcp, text};
use crate::rng::Rng;
use crate::time::{Instant, WallClock};
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;
use stream::{Auth, PushStream};

/// The publisher state machine: see [`PushConfig`] for its tunables and
/// [`PushEvent`] for what it reports. It follows the same call contract as
/// [`PullClient`](crate::PullClient), where a driver loop is shown.
///
/// ```
/// use rtprelay_core::{PushClient, PushConfig, PushEvent};
/// use rtprelay_core::{Endpoint, Instant, Port, WallClock};
///
/// let now = Instant::ZERO;
/// let relay = "192.0.2.1:61040".parse().unwrap();
/// let mut client = PushClient::new(PushConfig::default(), relay, [1; 32], WallClock::new(now, 1_700_000_000_000));
/// client.auth(now, "cam1", "secret").unwrap();
/// // Not answered yet: pushing fails with 10001.
/// assert_eq!(client.push(now, "cam1", &[0x47; 188]).unwrap_err().code.number(), 10001);
/// while let Some(transmit) = client.poll_transmit(8) {
///     assert_eq!((transmit.port, transmit.destination), (Port::Push, relay));
///     // socket.send_to(&datagram, transmit.destination) for each segment
///     assert!(transmit.segments.iter().all(|datagram| datagram[0] == 0x80));
/// }
/// while let Some(event) = client.poll_event() {
///     if let PushEvent::AuthRsp { live_id, ok } = event {
///         println!("{live_id}: {ok}");
///     }
/// }
/// assert!(client.poll_timeout().is_some(), "an auth retry is scheduled");
/// ```
pub struct PushClient {
    config: PushConfig,
    rng: Rng,
    relay_clock: RelayClock,
    link: Link<PushEvent>,
    streams: Vec<PushStream>,
    probes: Prober,
    phase: Phase,
    /// The `STOP_PUSH_REQ` sent again while closing.
    stop_request: Bytes,
    /// The last error queued as an event, until a push succeeds.
    last_error: Option<(String, PushErrorCode)>,
    counters: PushCounters,
}

impl PushClient {
    /// A publisher with no streams, talking to the relay's push socket at
    /// `relay`. `seed` draws the initial sequence numbers; `clock` is the
    /// local wall clock, corrected towards the relay's as it answers.
    #[must_use]
    pub fn new(config: PushConfig, relay: SocketAddr, seed: [u8; 32], clock: WallClock) -> Self {
        PushClient {
            rng: Rng::from_seed(seed),
            relay_clock: RelayClock::new(clock),
            link: Link::new(relay, Port::Push, config.max_queued_datagrams, Instant::ZERO),
            streams: Vec::new(),
            probes: Prober::new(ms(config.delay_probe_interval_ms)),
            phase: Phase::Open,
            stop_request: Bytes::new(),
            last_error: None,
            counters: PushCounters::default(),
            config,
        }
    }

    /// Authenticates `live_id` (several streams may be published by one
    /// client). Calling it again for the same id restarts its auth with
    /// the new code; the stream keeps its sequence numbers.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidLiveId`] for an id that is empty or holds `#`
    /// or `;`, [`ClientError::InvalidLiveCode`] for an empty code,
    /// [`ClientError::Closed`] after [`PushClient::close`].
    pub fn auth(&mut self, now: Instant, live_id: &str, live_code: &str) -> Result<(), ClientError> {
        self.link.enter(now);
        check_live_id(live_id)?;
        if live_code.is_empty() {
            return Err(ClientError::InvalidLiveCode);
        }
        if !self.phase.is_open() {
            return Err(ClientError::Closed);
        }
        let backoff = self.auth_backoff(now);
        let idx = if let Some(idx) = self.streams.iter().position(|s| s.live_id == live_id) {
            self.streams[idx].live_code = live_code.to_owned();
            self.streams[idx].auth = Auth::Pending(backoff);
            idx
        } else {
            let first_seq = Seq::new(self.rng.next_u32() as u16);
            let history = self.config.history_packets;
            self.streams.push(PushStream::new(live_id, live_code, backoff, first_seq, history));
            self.streams.len() - 1
        };
        self.send_auth(now, idx);
        if self.probes.deadline().is_none() {
            self.send_probe(now);
        }
        Ok(())
    }

    fn auth_backoff(&self, now: Instant) -> Backoff {
        Backoff::start(now, ms(self.config.auth_retry_initial_ms), ms(self.config.auth_retry_max_ms))
    }

    /// `AUTH_REQ` (§1.3.1), as legacy publishers send it, then a copy
    /// marked `M = 1` with the stream's next sequence number in the sequence
    /// field (§2.2): the relay then knows where the data starts, and that
    /// this publisher answers NACKs and carries on with its numbers across
    /// a re-auth. A relay reading byte 1 whole, as the legacy one does,
    /// takes the copy for an unknown message.
    fn send_auth(&mut self, now: Instant, idx: usize) {
        let stream = &self.streams[idx];
        let payload = text::encode_auth(&stream.live_id, &stream.live_code);
        self.counters.auth_requests += 1;
        let timestamp = self.relay_clock.timestamp(now);
        let sequence = stream.next_seq().get();
        let plain = control(pt::AUTH_REQ, timestamp, 0, &payload);
        self.send(plain);
        self.send(Header { marker: true, sequence, timestamp, ..Header::new(pt::AUTH_REQ) }.encode(&payload));
    }

    fn send(&mut self, datagram: Bytes) {
        self.link.send(datagram);
        self.counters.tx_overflow = self.link.overflow();
    }

    /// Stops publishing: sends what is left of every stream's data, then
    /// `STOP_PUSH_REQ` for all its streams, again every
    /// [`PushConfig::close_retry_ms`] until `STOP_PUSH_RSP` or
    /// [`PushConfig::close_timeout_ms`], then emits
    /// [`PushEvent::CloseSuccess`]. With one stream the request has the
    /// marker set and the stream's last sequence number (§2.5).
    /// NACKs are still answered while closing. Closing twice does nothing.
    pub fn close(&mut self, now: Instant) {
        self.link.enter(now);
        if !self.phase.is_open() {
            return;
        }
        for idx in 0..self.streams.len() {
            let remainder = std::mem::take(&mut self.streams[idx].remainder);
            if !remainder.is_empty() && !self.streams[idx].is_refused() {
                self.send_data(now, idx, &remainder);
            }
        }
        let ids: Vec<&str> = self.streams.iter().map(|s| s.live_id.as_str()).collect();
        let (marker, sequence) = match self.streams.as_slice() {
            [only] => only.last_seq().map_or((false, 0), |seq| (true, seq.get())),
            _ => (false, 0),
        };
        let timestamp = self.relay_clock.timestamp(now);
        let packet = Header { marker, sequence, timestamp, ..Header::new(pt::STOP_PUSH_REQ) }
            .encode(text::join_ids(&ids, '#').as_bytes());
        self.send(packet.clone());
        self.stop_request = packet;
        let c = &self.config;
        self.phase = Phase::Closing(Closing::start(now, ms(c.close_retry_ms), ms(c.close_timeout_ms)));
    }

    fn finish_close(&mut self) {
        self.phase = Phase::Closed;
        self.streams.clear();
        self.probes.stop();
        self.link.emit(PushEvent::CloseSuccess);
    }

    fn stream_by_payload(&self, payload: &[u8]) -> Option<usize> {
        let live_id = std::str::from_utf8(payload).ok()?;
        self.streams.iter().position(|s| s.live_id == live_id)
    }

    /// `AUTH_OK`: the SSRC in the header, the relay's clock in the timestamp.
    fn on_auth_ok(&mut self, now: Instant, header: Header, payload: &[u8]) {
        let Some(idx) = self.stream_by_payload(payload) else {
            self.counters.ignored += 1;
            return;
        };
        self.relay_clock.sample(now, header.timestamp, self.probes.smoothed());
        let reauth_at = now + ms(self.config.reauth_interval_ms);
        let ssrc = Ssrc::new(header.ssrc);
        let stream = &mut self.streams[idx];
        let news = !stream.is_live() || stream.ssrc != Some(ssrc);
        stream.ssrc = Some(ssrc);
        stream.auth = Auth::Live { reauth_at };
        if news {
            let live_id = stream.live_id.clone();
            self.link.emit(PushEvent::AuthRsp { live_id, ok: true });
        }
    }

    fn on_auth_refused(&mut self, payload: &[u8]) {
        let Some(idx) = self.stream_by_payload(payload) else {
            self.counters.ignored += 1;
            return;
        };
        let stream = &mut self.streams[idx];
        if !stream.is_refused() {
            stream.auth = Auth::Refused;
            let live_id = stream.live_id.clone();
            self.link.emit(PushEvent::AuthRsp { live_id, ok: false });
        }
    }

    /// `STREAM_UNKNOWN` (2.5): the relay restarted or our address changed;
    /// authenticate again (data keeps flowing under the old SSRC meanwhile).
    fn on_stream_unknown(&mut self, now: Instant, ssrc: Ssrc) {
        let backoff = self.auth_backoff(now);
        let found = self.streams.iter().position(|s| s.ssrc == Some(ssrc) && s.is_live());
        let Some(idx) = found else {
            self.counters.ignored += 1;
            return;
        };
        self.streams[idx].auth = Auth::Pending(backoff);
        self.send_auth(now, idx);
    }

    fn on_delay_rsp(&mut self, now: Instant, header: Header) {
        if !self.probes.echoed(now, header.seq(), header.timestamp) {
            self.counters.ignored += 1;
        }
    }

    fn send_probe(&mut self, now: Instant) {
        self.probes.schedule(now);
        let Some(stream) = self.streams.iter().find(|s| s.ssrc.is_some()).or(self.streams.first()) else { return };
        let timestamp = self.relay_clock.timestamp(now);
        let (ssrc, live_id) = (stream.ssrc.map_or(0, Ssrc::get), stream.live_id.clone());
        let seq = self.probes.sent(now, timestamp);
        let header = Header { sequence: seq.get(), timestamp, ssrc, ..Header::new(pt::DELAY_REQ) };
        self.send(header.encode(live_id.as_bytes()));
    }

    /// The smoothed round-trip time to the relay, from `DELAY_REQ` probes
    /// (RFC 6298 smoothing), once one was answered.
    pub fn delay(&self) -> Option<Duration> {
        self.probes.smoothed()
    }

    /// The SSRC the relay gave `live_id`, if it did.
    pub fn ssrc(&self, live_id: &str) -> Option<Ssrc> {
        self.streams.iter().find(|s| s.live_id == live_id).and_then(|s| s.ssrc)
    }

    /// What the client did and dropped.
    pub fn counters(&self) -> &PushCounters {
        &self.counters
    }
}

impl Endpoint for PushClient {
    type Event = PushEvent;

    /// A datagram from the relay's push socket; anything else is dropped
    /// (counted in [`PushCounters::foreign`]).
    fn handle_datagram(&mut self, now: Instant, port: Port, from: SocketAddr, data: Bytes) {
        if !self.link.enter_datagram(now, port, from) {
            self.counters.foreign += 1;
            return;
        }
        if self.phase.is_closed() {
            self.counters.ignored += 1;
            return;
        }
        if is_rtcp(&data) {
            self.on_rtcp(now, &data);
            return;
        }
        let Ok(packet) = Packet::parse(&data) else {
            self.counters.malformed += 1;
            return;
        };
        let header = packet.header;
        let closing = !self.phase.is_open();
        match header.kind() {
            Some(PayloadType::StopPushRsp) if closing => self.finish_close(),
            Some(PayloadType::AuthOk) if !closing => self.on_auth_ok(now, header, packet.payload),
            Some(PayloadType::AuthRefused) if !closing => self.on_auth_refused(packet.payload),
            Some(PayloadType::StreamUnknown) if !closing => self.on_stream_unknown(now, Ssrc::new(header.ssrc)),
            Some(PayloadType::DelayRsp) => self.on_delay_rsp(now, header),
            _ => self.counters.ignored += 1,
        }
    }

    /// Fires auth retries, re-auths, probes and close retries due by `now`.
    fn handle_timeout(&mut self, now: Instant) {
        self.link.enter(now);
        match &mut self.phase {
            Phase::Closed => {}
            Phase::Closing(closing) => match closing.step(now) {
                CloseStep::Finish => self.finish_close(),
                CloseStep::Resend => self.send(self.stop_request.clone()),
                CloseStep::Wait => {}
            },
            Phase::Open => {
                let reauth_interval = ms(self.config.reauth_interval_ms);
                for idx in 0..self.streams.len() {
                    if self.streams[idx].auth_due(now, reauth_interval) {
                        self.send_auth(now, idx);
                    }
                }
                if self.probes.is_due(now) {
                    self.send_probe(now);
                }
            }
        }
    }

    /// The next datagrams for the relay's push socket.
    fn poll_transmit(&mut self, max_segments: usize) -> Option<Transmit> {
        self.link.poll_transmit(max_segments)
    }

    fn poll_event(&mut self) -> Option<PushEvent> {
        self.link.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let auths = || self.streams.iter().filter_map(PushStream::auth_deadline);
        self.phase.wake_at(|| auths().fold(self.probes.deadline(), |acc, at| super::earliest(acc, Some(at))))
    }
}
