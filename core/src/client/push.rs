//! The publisher (docs/protocol.md §1.3, 1.5, 2.2, 2.5) as a sans-IO state
//! machine: authenticates its streams, splits MPEG-TS into `TS_DATA`
//! packets, answers the relay's NACKs, probes the round trip and stops.
//!
//! ```
//! use rtprelay_core::client::push::{PushClient, PushConfig, PushEvent};
//! use rtprelay_core::{Instant, WallClock};
//!
//! let now = Instant::ZERO;
//! let mut client = PushClient::new(PushConfig::default(), [1; 32], WallClock::new(now, 1_700_000_000_000));
//! client.auth(now, "cam1", "secret").unwrap();
//! // Not answered yet: pushing fails with 10001.
//! assert_eq!(client.push(now, "cam1", &[0x47; 188]).unwrap_err().code.number(), 10001);
//! while let Some(datagram) = client.poll_transmit() {
//!     // socket.send_to(&datagram, relay_push_addr)
//!     assert_eq!(datagram[0], 0x80);
//! }
//! while let Some(event) = client.poll_event() {
//!     if let PushEvent::AuthRsp { live_id, ok } = event {
//!         println!("{live_id}: {ok}");
//!     }
//! }
//! assert!(client.poll_timeout().is_some(), "an auth retry is scheduled");
//! ```

use super::backoff::Backoff;
use super::history::History;
use super::outbox::Outbox;
use super::rtt::{RelayClock, RttEstimator};
use super::{ClientError, check_live_id, control};
use crate::packet::rtp::{Header, Packet};
use crate::packet::{is_rtcp, pt, rtcp, text};
use crate::rng::Rng;
use crate::time::{Instant, WallClock};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

/// Length of one MPEG-TS packet.
pub const TS_PACKET_LEN: usize = 188;
/// Delay probes whose answer is still awaited (older ones are forgotten).
const OUTSTANDING_PROBES: usize = 8;

/// Tunables of the publisher. Every field has a default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Whole TS packets per `TS_DATA` payload: 7 × 188 = 1316 bytes, the
    /// most that fits a 1500-byte MTU with IP, UDP and RTP headers.
    pub ts_packets_per_datagram: usize,
    /// First wait before an unanswered `AUTH_REQ` is sent again; the wait
    /// doubles after each try. 500 ms.
    pub auth_retry_initial_ms: u64,
    /// Longest wait between two auth tries. 8 s.
    pub auth_retry_max_ms: u64,
    /// A live stream is authenticated again this often, as deployed
    /// publishers do: it keeps the relay's idle timer fresh and follows a
    /// changed address (§1.3.1). 5 s.
    pub reauth_interval_ms: u64,
    /// `DELAY_REQ` probes are sent this often while the client has a
    /// stream. 1 s.
    pub delay_probe_interval_ms: u64,
    /// Sent datagrams kept per stream to answer NACKs (2.2). 1024 (about
    /// 1.3 MB, a second at 10 Mbit/s).
    pub history_packets: usize,
    /// `STOP_PUSH_REQ` is sent again after this long without an answer.
    /// 250 ms.
    pub close_retry_ms: u64,
    /// [`PushClient::close`] reports success after this long even without
    /// an answer, so closing never hangs. 2 s.
    pub close_timeout_ms: u64,
    /// Datagrams queued for the driver; beyond it the oldest is dropped
    /// (counted in [`PushCounters::tx_overflow`]).
    pub max_queued_datagrams: usize,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            ts_packets_per_datagram: 7,
            auth_retry_initial_ms: 500,
            auth_retry_max_ms: 8_000,
            reauth_interval_ms: 5_000,
            delay_probe_interval_ms: 1_000,
            history_packets: 1_024,
            close_retry_ms: 250,
            close_timeout_ms: 2_000,
            max_queued_datagrams: 4_096,
        }
    }
}

impl PushConfig {
    /// Payload bytes of a full `TS_DATA` packet (at least one TS packet).
    pub fn payload_len(&self) -> usize {
        self.ts_packets_per_datagram.max(1).saturating_mul(TS_PACKET_LEN)
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis.max(1))
    }
}

/// The legacy error codes of a failed push (§1.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PushErrorCode {
    /// 10001: the stream's auth has not been answered yet.
    AuthNotAnswered,
    /// 10002: the relay refused the stream's credentials.
    AuthRefused,
    /// 10003: the stream was never authenticated on this client (or the
    /// client is closed).
    NeverAuthenticated,
}

impl PushErrorCode {
    /// The number legacy clients report.
    pub fn number(self) -> u32 {
        match self {
            PushErrorCode::AuthNotAnswered => 10001,
            PushErrorCode::AuthRefused => 10002,
            PushErrorCode::NeverAuthenticated => 10003,
        }
    }
}

/// Why [`PushClient::push`] refused data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushStreamError {
    /// The stream.
    pub live_id: String,
    /// The legacy code.
    pub code: PushErrorCode,
    /// A human-readable reason.
    pub msg: &'static str,
}

impl std::fmt::Display for PushStreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code.number(), self.live_id, self.msg)
    }
}

impl std::error::Error for PushStreamError {}

/// What the publisher tells its owner (§1.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushEvent {
    /// The relay answered an auth: on the first answer, when the answer
    /// changes (refused, or a new SSRC after a relay restart) and after a
    /// re-auth that `STREAM_UNKNOWN` started. Periodic re-auths that change
    /// nothing are silent.
    AuthRsp {
        /// The stream.
        live_id: String,
        /// Accepted.
        ok: bool,
    },
    /// A push failed. [`PushClient::push`] returns the error too; the event
    /// is for owners that only read events, and is queued once per stream
    /// and code until a push succeeds.
    PushStreamError(PushStreamError),
    /// [`PushClient::close`] finished: the relay confirmed, or the close
    /// timeout passed.
    CloseSuccess,
}

/// What the publisher did and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PushCounters {
    /// `TS_DATA` datagrams sent (first transmissions).
    pub packets_sent: u64,
    /// MPEG-TS bytes sent (first transmissions).
    pub bytes_sent: u64,
    /// Datagrams sent again because the relay NACKed them.
    pub retransmitted: u64,
    /// NACKed sequence numbers no longer (or never) in the history.
    pub nack_misses: u64,
    /// `AUTH_REQ` datagrams sent (first tries, retries and re-auths).
    pub auth_requests: u64,
    /// Datagrams from the relay that do not parse.
    pub malformed: u64,
    /// Well-formed datagrams the client had no use for.
    pub ignored: u64,
    /// Datagrams dropped because the driver did not drain the queue.
    pub tx_overflow: u64,
}

/// Where a stream's auth stands.
#[derive(Clone, Copy, Debug)]
enum Auth {
    /// Sent, not answered: tried again with backoff.
    Pending(Backoff),
    /// Accepted; authenticated again at `reauth_at`.
    Live { reauth_at: Instant },
    /// Refused: nothing more until [`PushClient::auth`] is called again.
    Refused,
}

/// One stream of the publisher.
struct PushStream {
    live_id: String,
    live_code: String,
    auth: Auth,
    /// The SSRC the relay last gave; kept while a re-auth is pending.
    ssrc: Option<u32>,
    next_seq: u16,
    /// The sequence number of the last datagram sent.
    last_seq: Option<u16>,
    /// Trailing bytes of a push that did not make a whole TS packet.
    remainder: Vec<u8>,
    history: History,
}

/// A `DELAY_REQ` awaiting its echo.
#[derive(Clone, Copy, Debug)]
struct Probe {
    seq: u16,
    timestamp: u32,
    sent: Instant,
}

/// Where the client stands as a whole.
enum Phase {
    Open,
    Closing { packet: Bytes, retry_at: Instant, deadline: Instant },
    Closed,
}

/// The publisher state machine. See the [module docs](self) for an example
/// and [`crate::client`] for the call contract.
pub struct PushClient {
    config: PushConfig,
    rng: Rng,
    relay_clock: RelayClock,
    rtt: RttEstimator,
    streams: Vec<PushStream>,
    outbox: Outbox,
    events: VecDeque<PushEvent>,
    probe_at: Option<Instant>,
    probe_seq: u16,
    probes: VecDeque<Probe>,
    phase: Phase,
    /// The last error queued as an event, until a push succeeds.
    last_error: Option<(String, PushErrorCode)>,
    counters: PushCounters,
    last_now: Instant,
}

impl PushClient {
    /// A publisher with no streams. `seed` draws the initial sequence
    /// numbers; `clock` is the local wall clock, corrected towards the
    /// relay's as it answers.
    pub fn new(config: PushConfig, seed: [u8; 32], clock: WallClock) -> Self {
        let outbox = Outbox::new(config.max_queued_datagrams);
        PushClient {
            config,
            rng: Rng::from_seed(seed),
            relay_clock: RelayClock::new(clock),
            rtt: RttEstimator::default(),
            streams: Vec::new(),
            outbox,
            events: VecDeque::new(),
            probe_at: None,
            probe_seq: 0,
            probes: VecDeque::new(),
            phase: Phase::Open,
            last_error: None,
            counters: PushCounters::default(),
            last_now: Instant::ZERO,
        }
    }

    fn enter(&mut self, now: Instant) {
        debug_assert!(self.events.is_empty(), "call contract: drain poll_event after every call");
        debug_assert!(now >= self.last_now, "call contract: now must not go backwards");
        self.last_now = self.last_now.max(now);
    }

    /// Authenticates `live_id` (several streams may be published by one
    /// client). Calling it again for the same id restarts its auth with
    /// the new code; the stream keeps its sequence numbers.
    pub fn auth(&mut self, now: Instant, live_id: &str, live_code: &str) -> Result<(), ClientError> {
        self.enter(now);
        check_live_id(live_id)?;
        if live_code.is_empty() {
            return Err(ClientError::InvalidLiveCode);
        }
        if !matches!(self.phase, Phase::Open) {
            return Err(ClientError::Closed);
        }
        let backoff = self.auth_backoff(now);
        let idx = match self.streams.iter().position(|s| s.live_id == live_id) {
            Some(idx) => {
                self.streams[idx].live_code = live_code.to_owned();
                self.streams[idx].auth = Auth::Pending(backoff);
                idx
            }
            None => {
                let next_seq = self.rng.next_u32() as u16;
                self.streams.push(PushStream {
                    live_id: live_id.to_owned(),
                    live_code: live_code.to_owned(),
                    auth: Auth::Pending(backoff),
                    ssrc: None,
                    next_seq,
                    last_seq: None,
                    remainder: Vec::new(),
                    history: History::new(self.config.history_packets),
                });
                self.streams.len() - 1
            }
        };
        self.send_auth(now, idx);
        if self.probe_at.is_none() {
            self.send_probe(now);
        }
        Ok(())
    }

    fn auth_backoff(&self, now: Instant) -> Backoff {
        let c = &self.config;
        Backoff::start(now, PushConfig::ms(c.auth_retry_initial_ms), PushConfig::ms(c.auth_retry_max_ms))
    }

    fn send_auth(&mut self, now: Instant, idx: usize) {
        let stream = &self.streams[idx];
        let payload = text::encode_auth(&stream.live_id, &stream.live_code);
        self.counters.auth_requests += 1;
        self.send(control(pt::AUTH_REQ, self.relay_clock.timestamp(now), 0, &payload));
    }

    fn send(&mut self, datagram: Bytes) {
        self.outbox.send(datagram);
        self.counters.tx_overflow = self.outbox.overflow;
    }

    /// Sends MPEG-TS bytes on `live_id`: as many packets as the data has
    /// whole TS packets (full payloads of
    /// [`PushConfig::ts_packets_per_datagram`], then one shorter), each
    /// with the next sequence number. Bytes that do not make a whole TS
    /// packet wait for the next call (or [`PushClient::close`]).
    ///
    /// Fails with 10003 for a stream never passed to
    /// [`PushClient::auth`] (or after `close`), 10002 if the relay refused
    /// it, 10001 while its first auth is unanswered. While a re-auth is
    /// pending the data goes out under the stream's last SSRC.
    pub fn push(&mut self, now: Instant, live_id: &str, data: &[u8]) -> Result<(), PushStreamError> {
        self.enter(now);
        let idx = self.sendable(live_id).inspect_err(|e| self.report(e))?;
        self.last_error = None;
        let stream = &mut self.streams[idx];
        let input: Cow<'_, [u8]> = if stream.remainder.is_empty() {
            Cow::Borrowed(data)
        } else {
            let mut joined = std::mem::take(&mut stream.remainder);
            joined.extend_from_slice(data);
            Cow::Owned(joined)
        };
        let whole = input.len() - input.len() % TS_PACKET_LEN;
        for payload in input[..whole].chunks(self.config.payload_len()) {
            self.send_data(now, idx, payload);
        }
        self.streams[idx].remainder = input[whole..].to_vec();
        Ok(())
    }

    /// The stream `live_id` if data may be sent on it.
    fn sendable(&self, live_id: &str) -> Result<usize, PushStreamError> {
        let error = |code, msg| Err(PushStreamError { live_id: live_id.to_owned(), code, msg });
        if !matches!(self.phase, Phase::Open) {
            return error(PushErrorCode::NeverAuthenticated, "the client is closed");
        }
        let Some(idx) = self.streams.iter().position(|s| s.live_id == live_id) else {
            return error(PushErrorCode::NeverAuthenticated, "stream never authenticated: call auth first");
        };
        match (&self.streams[idx].auth, self.streams[idx].ssrc) {
            (Auth::Refused, _) => error(PushErrorCode::AuthRefused, "the relay refused the stream's credentials"),
            (Auth::Pending(_), None) => error(PushErrorCode::AuthNotAnswered, "auth not answered yet"),
            _ => Ok(idx),
        }
    }

    /// Queues a failed push as an event, once per stream and code.
    fn report(&mut self, error: &PushStreamError) {
        let key = (error.live_id.clone(), error.code);
        if self.last_error.as_ref() != Some(&key) {
            self.last_error = Some(key);
            self.events.push_back(PushEvent::PushStreamError(error.clone()));
        }
    }

    fn send_data(&mut self, now: Instant, idx: usize, payload: &[u8]) {
        let timestamp = self.relay_clock.timestamp(now);
        let stream = &mut self.streams[idx];
        let Some(ssrc) = stream.ssrc else { return };
        let sequence = stream.next_seq;
        stream.next_seq = sequence.wrapping_add(1);
        stream.last_seq = Some(sequence);
        let datagram = Header { sequence, timestamp, ssrc, ..Header::new(pt::TS_DATA) }.encode(payload);
        stream.history.push(sequence, datagram.clone());
        self.counters.packets_sent += 1;
        self.counters.bytes_sent += payload.len() as u64;
        self.send(datagram);
    }

    /// Stops publishing: sends what is left of every stream's data, then
    /// `STOP_PUSH_REQ` for all its streams, again every
    /// [`PushConfig::close_retry_ms`] until `STOP_PUSH_RSP` or
    /// [`PushConfig::close_timeout_ms`], then emits
    /// [`PushEvent::CloseSuccess`]. With one stream the request has the
    /// marker set and the stream's last sequence number (§2.5).
    /// NACKs are still answered while closing. Closing twice does nothing.
    pub fn close(&mut self, now: Instant) {
        self.enter(now);
        if !matches!(self.phase, Phase::Open) {
            return;
        }
        for idx in 0..self.streams.len() {
            let remainder = std::mem::take(&mut self.streams[idx].remainder);
            if !remainder.is_empty() && !matches!(self.streams[idx].auth, Auth::Refused) {
                self.send_data(now, idx, &remainder);
            }
        }
        let ids: Vec<&str> = self.streams.iter().map(|s| s.live_id.as_str()).collect();
        let (marker, sequence) = match self.streams.as_slice() {
            [only] => only.last_seq.map_or((false, 0), |seq| (true, seq)),
            _ => (false, 0),
        };
        let timestamp = self.relay_clock.timestamp(now);
        let packet = Header { marker, sequence, timestamp, ..Header::new(pt::STOP_PUSH_REQ) }
            .encode(text::join_ids(&ids, '#').as_bytes());
        self.send(packet.clone());
        let retry_at = now + PushConfig::ms(self.config.close_retry_ms);
        let deadline = now + PushConfig::ms(self.config.close_timeout_ms);
        self.phase = Phase::Closing { packet, retry_at, deadline };
    }

    fn finish_close(&mut self) {
        self.phase = Phase::Closed;
        self.streams.clear();
        self.probe_at = None;
        self.events.push_back(PushEvent::CloseSuccess);
    }

    /// A datagram from the relay.
    pub fn handle_datagram(&mut self, now: Instant, data: Bytes) {
        self.enter(now);
        if matches!(self.phase, Phase::Closed) {
            self.counters.ignored += 1;
            return;
        }
        if is_rtcp(&data) {
            self.on_rtcp(&data);
            return;
        }
        let Ok(packet) = Packet::parse(&data) else {
            self.counters.malformed += 1;
            return;
        };
        let header = packet.header;
        let closing = !matches!(self.phase, Phase::Open);
        match header.payload_type {
            pt::STOP_PUSH_RSP if closing => self.finish_close(),
            pt::AUTH_OK if !closing => self.on_auth_ok(now, header, packet.payload),
            pt::AUTH_REFUSED if !closing => self.on_auth_refused(packet.payload),
            pt::STREAM_UNKNOWN if !closing => self.on_stream_unknown(now, header.ssrc),
            pt::DELAY_RSP => self.on_delay_rsp(now, header),
            _ => self.counters.ignored += 1,
        }
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
        self.relay_clock.sample(now, header.timestamp, self.rtt.smoothed());
        let reauth_at = now + PushConfig::ms(self.config.reauth_interval_ms);
        let stream = &mut self.streams[idx];
        let news = !matches!(stream.auth, Auth::Live { .. }) || stream.ssrc != Some(header.ssrc);
        stream.ssrc = Some(header.ssrc);
        stream.auth = Auth::Live { reauth_at };
        if news {
            self.events.push_back(PushEvent::AuthRsp { live_id: stream.live_id.clone(), ok: true });
        }
    }

    fn on_auth_refused(&mut self, payload: &[u8]) {
        let Some(idx) = self.stream_by_payload(payload) else {
            self.counters.ignored += 1;
            return;
        };
        let stream = &mut self.streams[idx];
        if !matches!(stream.auth, Auth::Refused) {
            stream.auth = Auth::Refused;
            self.events.push_back(PushEvent::AuthRsp { live_id: stream.live_id.clone(), ok: false });
        }
    }

    /// `STREAM_UNKNOWN` (2.5): the relay restarted or our address changed;
    /// authenticate again (data keeps flowing under the old SSRC meanwhile).
    fn on_stream_unknown(&mut self, now: Instant, ssrc: u32) {
        let backoff = self.auth_backoff(now);
        let found = self.streams.iter().position(|s| s.ssrc == Some(ssrc) && matches!(s.auth, Auth::Live { .. }));
        let Some(idx) = found else {
            self.counters.ignored += 1;
            return;
        };
        self.streams[idx].auth = Auth::Pending(backoff);
        self.send_auth(now, idx);
    }

    fn on_delay_rsp(&mut self, now: Instant, header: Header) {
        let found = self.probes.iter().position(|p| p.seq == header.sequence && p.timestamp == header.timestamp);
        let Some(i) = found else {
            self.counters.ignored += 1;
            return;
        };
        let probe = self.probes[i];
        self.probes.drain(..=i);
        self.rtt.sample(now - probe.sent);
    }

    /// RTCP Generic NACKs from the relay (2.2): resend what the history
    /// still holds, unchanged.
    fn on_rtcp(&mut self, data: &[u8]) {
        let (packets, error) = rtcp::parse_compound(data);
        if error.is_some() {
            self.counters.malformed += 1;
        }
        for packet in packets {
            let rtcp::RtcpPacket::Nack(nack) = packet else {
                self.counters.ignored += 1;
                continue;
            };
            let Some(stream) = self.streams.iter().find(|s| s.ssrc == Some(nack.media_ssrc)) else {
                self.counters.ignored += 1;
                continue;
            };
            let resend: Vec<Bytes> =
                nack.sequences().filter_map(|seq| stream.history.get(seq, nack.media_ssrc).cloned()).collect();
            let asked = nack.sequences().count() as u64;
            self.counters.nack_misses += asked - resend.len() as u64;
            self.counters.retransmitted += resend.len() as u64;
            for datagram in resend {
                self.send(datagram);
            }
        }
    }

    fn send_probe(&mut self, now: Instant) {
        self.probe_at = Some(now + PushConfig::ms(self.config.delay_probe_interval_ms));
        let Some(stream) = self.streams.iter().find(|s| s.ssrc.is_some()).or(self.streams.first()) else { return };
        let timestamp = self.relay_clock.timestamp(now);
        let seq = self.probe_seq;
        self.probe_seq = seq.wrapping_add(1);
        let packet = Header { sequence: seq, timestamp, ssrc: stream.ssrc.unwrap_or(0), ..Header::new(pt::DELAY_REQ) }
            .encode(stream.live_id.as_bytes());
        if self.probes.len() >= OUTSTANDING_PROBES {
            self.probes.pop_front();
        }
        self.probes.push_back(Probe { seq, timestamp, sent: now });
        self.send(packet);
    }

    /// Fires auth retries, re-auths, probes and close retries due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.enter(now);
        match &mut self.phase {
            Phase::Closed => {}
            Phase::Closing { deadline, .. } if *deadline <= now => self.finish_close(),
            Phase::Closing { packet, retry_at, .. } => {
                if *retry_at <= now {
                    *retry_at = now + PushConfig::ms(self.config.close_retry_ms);
                    let packet = packet.clone();
                    self.send(packet);
                }
            }
            Phase::Open => {
                let reauth_interval = PushConfig::ms(self.config.reauth_interval_ms);
                for idx in 0..self.streams.len() {
                    let due = match &mut self.streams[idx].auth {
                        Auth::Pending(backoff) if backoff.at <= now => {
                            backoff.retry(now);
                            true
                        }
                        Auth::Live { reauth_at } if *reauth_at <= now => {
                            *reauth_at = now + reauth_interval;
                            true
                        }
                        _ => false,
                    };
                    if due {
                        self.send_auth(now, idx);
                    }
                }
                if self.probe_at.is_some_and(|at| at <= now) {
                    self.send_probe(now);
                }
            }
        }
    }

    /// The next datagram for the relay.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.outbox.poll()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<PushEvent> {
        self.events.pop_front()
    }

    /// When [`PushClient::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Closed => None,
            Phase::Closing { retry_at, deadline, .. } => Some((*retry_at).min(*deadline)),
            Phase::Open => self
                .streams
                .iter()
                .filter_map(|s| match s.auth {
                    Auth::Pending(backoff) => Some(backoff.at),
                    Auth::Live { reauth_at } => Some(reauth_at),
                    Auth::Refused => None,
                })
                .fold(self.probe_at, |acc, at| super::earliest(acc, Some(at))),
        }
    }

    /// The smoothed round-trip time to the relay, from `DELAY_REQ` probes
    /// (RFC 6298 smoothing), once one was answered.
    pub fn delay(&self) -> Option<Duration> {
        self.rtt.smoothed()
    }

    /// The SSRC the relay gave `live_id`, if it did.
    pub fn ssrc(&self, live_id: &str) -> Option<u32> {
        self.streams.iter().find(|s| s.live_id == live_id).and_then(|s| s.ssrc)
    }

    /// What the client did and dropped.
    pub fn counters(&self) -> &PushCounters {
        &self.counters
    }
}
