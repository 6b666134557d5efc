//! The relay as a sans-IO state machine (docs/protocol.md §1, §2.3, §2.5).
//!
//! Datagrams, timeouts and operator commands go in with the current time;
//! transmits, a next deadline and events come out. See [`Relay`] for the
//! call contract.

mod admin;
pub mod command;
mod counters;
mod feedback;
mod history;
mod ingress;
mod outbox;
mod publish;
mod sequence;
mod stats;
mod subscribe;
mod timer;

pub use crate::endpoint::{Port, Transmit};
pub use command::{ClientInfo, Command, CommandError, Reply, StreamInfo, SubscriberInfo, SubscriptionInfo};
pub use counters::Counters;

use crate::auth::Credential;
use crate::config::Config;
use crate::endpoint::Endpoint;
use crate::packet::rtp::{HEADER_LEN, Header, Packet};
use crate::packet::{is_rtcp, pt};
use crate::rng::{Map, Rng};
use crate::time::{Instant, WallClock};
use bytes::Bytes;
use outbox::{Dest, Outbox};
use publish::Streams;
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use subscribe::Clients;
use timer::{TimerKey, Timers};

/// Gap between the repeats of a `STREAM_STOPPED` to extension clients.
const REPEAT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// A `STREAM_STOPPED` to send again to one client.
#[derive(Clone)]
struct StopRepeat {
    client: u32,
    live_id: String,
    dest: Dest,
    datagram: Bytes,
}

/// Something that happened, for the driver to log or act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    /// A stream went live (first successful auth since it was last stopped).
    StreamLive {
        /// The stream.
        live_id: String,
        /// Its SSRC.
        ssrc: u32,
        /// The publisher's address.
        publisher: SocketAddr,
    },
    /// A live stream stopped.
    StreamStopped {
        /// The stream.
        live_id: String,
        /// Why.
        reason: StopReason,
    },
    /// A pull client was issued an id.
    ClientJoined {
        /// Its address.
        address: SocketAddr,
    },
    /// A pull client moved to a new, verified address.
    ClientMoved {
        /// The old address.
        from: SocketAddr,
        /// The new address.
        to: SocketAddr,
    },
    /// A pull client is gone.
    ClientLeft {
        /// Its last address.
        address: SocketAddr,
        /// Why.
        reason: LeaveReason,
    },
}

/// Why a stream stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Its publisher sent `STOP_PUSH_REQ`.
    Publisher,
    /// No data and no auth for `stream_idle_timeout_ms`.
    IdleTimeout,
    /// [`Command::StopStream`] or [`Command::StopAll`].
    Operator,
    /// [`Command::RevokeStream`].
    Revoked,
}

/// Why a pull client left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaveReason {
    /// It sent `STOP_PULL_REQ`.
    Stopped,
    /// No heartbeat for `client_heartbeat_timeout_ms`.
    HeartbeatTimeout,
    /// Its address was taken over by another client id.
    Replaced,
}

/// Sizes of the relay's bounded state, for invariant checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateSizes {
    /// Pull clients.
    pub clients: usize,
    /// Streams ever authenticated (each keeps its SSRC).
    pub streams: usize,
    /// Chunked pull requests pending.
    pub pending_reassemblies: usize,
    /// Scheduled deadlines (including stale ones not yet popped).
    pub timers: usize,
    /// Datagrams queued for sending.
    pub queued_datagrams: usize,
    /// Destination queues in use.
    pub destinations: usize,
    /// Sources remembered by the `*_UNKNOWN` rate limiter.
    pub rate_limited_sources: usize,
}

/// One pull client as the relay holds it: [`Relay::client_bindings`].
/// Unlike [`ClientInfo`] (the operator's view) it names the client id,
/// which is a secret of that client (§1.4.10): it is for tests and
/// simulators that check the relay from outside, never for an API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientBinding {
    /// The client id.
    pub id: u32,
    /// The socket its replies and data leave from.
    pub port: Port,
    /// Its bound address: where its data goes.
    pub address: SocketAddr,
    /// Whether that address has proved it receives (2.3).
    pub verified: bool,
    /// The streams it acknowledged (in its fan-out), in request order.
    pub acked: Vec<String>,
}

/// The relay state machine.
///
/// It follows the call contract of [`crate::endpoint`] ([`Endpoint`]);
/// operator commands go in through [`Relay::handle_command`], the only call
/// that returns an error.
pub struct Relay {
    config: Arc<Config>,
    clock: WallClock,
    rng: Rng,
    counters: Counters,
    outbox: Outbox,
    timers: Timers,
    events: VecDeque<RelayEvent>,
    credentials: Map<String, Credential>,
    streams: Streams,
    clients: Clients,
    /// Last `*_UNKNOWN` answer per source.
    unknown_replies: Map<SocketAddr, Instant>,
    /// Refused auths per source IP: (start of the minute, count).
    auth_failures: Map<IpAddr, (Instant, u32)>,
    /// `STREAM_STOPPED` repeats to extension clients, by (due time,
    /// insertion number).
    repeats: BTreeMap<(Instant, u64), StopRepeat>,
    repeats_inserted: u64,
    last_now: Instant,
}

impl Relay {
    /// A relay with no credentials. `seed` drives every random choice
    /// (SSRCs, client ids, challenges, hash keys); `clock` maps `now` to
    /// the Unix-epoch milliseconds stamped on relay packets.
    pub fn new(config: Arc<Config>, seed: [u8; 32], clock: WallClock) -> Self {
        let mut rng = Rng::from_seed(seed);
        let outbox = Outbox::new(rng.map(), config.max_queued_per_destination);
        let credentials = rng.map();
        let streams = Streams::new(&mut rng);
        let clients = Clients::new(&mut rng);
        let unknown_replies = rng.map();
        let auth_failures = rng.map();
        Relay {
            config,
            clock,
            rng,
            counters: Counters::default(),
            outbox,
            timers: Timers::default(),
            events: VecDeque::new(),
            credentials,
            streams,
            clients,
            unknown_replies,
            auth_failures,
            repeats: BTreeMap::new(),
            repeats_inserted: 0,
            last_now: Instant::ZERO,
        }
    }

    /// Re-synchronises the wall clock (for drivers that follow NTP steps).
    pub fn set_wall_clock(&mut self, clock: WallClock) {
        self.clock = clock;
    }

    fn enter(&mut self, now: Instant) {
        debug_assert!(self.events.is_empty(), "call contract: drain poll_event after every handle_* call");
        debug_assert!(now >= self.last_now, "call contract: now must not go backwards");
        self.last_now = self.last_now.max(now);
    }

    /// Runs an operator command.
    pub fn handle_command(&mut self, now: Instant, command: Command) -> Result<Reply, CommandError> {
        self.enter(now);
        self.run_command(now, command)
    }

    /// Drop and event counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Sizes of the bounded state.
    pub fn state_sizes(&self) -> StateSizes {
        StateSizes {
            clients: self.clients.len(),
            streams: self.streams.len(),
            pending_reassemblies: self.clients.pending_reassemblies(),
            timers: self.timers.len(),
            queued_datagrams: self.outbox.queued(),
            destinations: self.outbox.slots_in_use(),
            rate_limited_sources: self.unknown_replies.len() + self.auth_failures.len(),
        }
    }

    /// Every pull client with its id, bound address and acknowledged
    /// streams, sorted by id: a read-only view for invariant checks (see
    /// [`ClientBinding`]; operators use [`Command::ListClients`]).
    pub fn client_bindings(&self) -> Vec<ClientBinding> {
        let mut out: Vec<ClientBinding> = self
            .clients
            .by_id
            .iter()
            .map(|(&id, c)| ClientBinding {
                id,
                port: c.port(),
                address: c.addr,
                verified: c.verified,
                acked: c.subscriptions.iter().filter(|s| s.acked).map(|s| s.live_id.clone()).collect(),
            })
            .collect();
        out.sort_by_key(|b| b.id);
        out
    }

    /// The relay's RTP timestamp now (1.1).
    fn timestamp(&self, now: Instant) -> u32 {
        self.clock.rtp_timestamp(now)
    }

    /// A relay-originated control packet: sequence 0, the relay's
    /// timestamp, the given SSRC (1.2).
    fn control(&self, now: Instant, payload_type: u8, ssrc: u32, payload: &[u8]) -> Bytes {
        Header { timestamp: self.timestamp(now), ssrc, ..Header::new(payload_type) }.encode(payload)
    }

    fn send(&mut self, dest: Dest, datagram: Bytes) {
        self.outbox.send(dest, datagram, &mut self.counters);
    }

    /// Sends a client's `STREAM_STOPPED` again 100 ms and 200 ms from now:
    /// the three of 2.5.
    fn repeat_stopped(&mut self, now: Instant, repeat: StopRepeat) {
        for k in 1..=2 {
            let at = now + REPEAT_INTERVAL * k;
            self.repeats.insert((at, self.repeats_inserted), repeat.clone());
            self.repeats_inserted += 1;
            self.timers.schedule(at, TimerKey::Repeat);
        }
    }

    /// Sends the due repeats, except to a client that listed the stream
    /// again meanwhile: there a late `STREAM_STOPPED` would end the new
    /// subscription.
    fn on_repeat_timer(&mut self, now: Instant) {
        while let Some(entry) = self.repeats.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let repeat = entry.remove();
            if !self.clients.lists(repeat.client, &repeat.live_id) {
                self.send(repeat.dest, repeat.datagram);
            }
        }
    }

    /// `CLIENT_UNKNOWN` / `STREAM_UNKNOWN` (2.5), at most once per
    /// `unknown_reply_interval_ms` per source.
    fn send_unknown(&mut self, now: Instant, dest: Dest, payload_type: u8, ssrc: u32) {
        let interval = self.config.unknown_reply_interval();
        if let Some(last) = self.unknown_replies.get(&dest.1) {
            if now.saturating_duration_since(*last) < interval {
                self.counters.unknown_reply_limited += 1;
                return;
            }
        } else if self.unknown_replies.len() >= self.config.max_rate_limited_sources {
            self.unknown_replies.retain(|_, last| now.saturating_duration_since(*last) < interval);
            if self.unknown_replies.len() >= self.config.max_rate_limited_sources {
                self.counters.unknown_reply_limited += 1;
                return;
            }
        }
        self.unknown_replies.insert(dest.1, now);
        match payload_type {
            pt::CLIENT_UNKNOWN => self.counters.client_unknown_sent += 1,
            _ => self.counters.stream_unknown_sent += 1,
        }
        let packet = self.control(now, payload_type, ssrc, &[]);
        self.send(dest, packet);
    }
}

/// The relay under the call contract (see [`crate::endpoint`]).
impl Endpoint for Relay {
    type Event = RelayEvent;

    fn handle_datagram(&mut self, now: Instant, port: Port, from: SocketAddr, data: Bytes) {
        self.enter(now);
        self.counters.rx_datagrams += 1;
        self.counters.rx_bytes += data.len() as u64;
        if is_rtcp(&data) {
            self.handle_rtcp(now, from, &data);
            return;
        }
        // Legacy peers send and read only plain headers (byte 0 = 0x80):
        // the payload is everything after byte 12.
        let header = match Packet::parse(&data) {
            Ok(p) if p.is_plain() => p.header,
            Ok(p) if p.header.payload_type == pt::TS_DATA => {
                self.counters.ts_data_bad_header += 1;
                return;
            }
            Ok(_) => {
                self.counters.bad_header += 1;
                return;
            }
            Err(_) if data.len() >= HEADER_LEN && data[0] >> 6 == 2 => {
                let counter = match data[1] & 0x7f {
                    pt::TS_DATA => &mut self.counters.ts_data_bad_header,
                    _ => &mut self.counters.bad_header,
                };
                *counter += 1;
                return;
            }
            Err(_) => {
                self.counters.malformed += 1;
                return;
            }
        };
        if header.payload_type == pt::TS_DATA {
            self.on_ts_data(now, port, from, header, data);
            return;
        }
        let payload = &data[HEADER_LEN..];
        match header.payload_type {
            pt::AUTH_REQ => self.on_auth(now, port, from, payload),
            pt::DELAY_REQ => self.on_delay_req(port, from, &data),
            pt::STOP_PUSH_REQ => self.on_stop_push(now, port, from, header, payload),
            pt::CLIENT_ID_REQ => self.on_client_id_req(now, port, from),
            pt::PULL_REQ => self.on_pull_req(now, port, from, header, payload),
            pt::SSRC_ACK => self.on_ssrc_ack(now, port, from, header, payload),
            pt::HEARTBEAT => self.on_heartbeat(now, port, from, header, data.len()),
            pt::STOP_PULL_REQ => self.on_stop_pull(now, port, from, header),
            _ => self.counters.unknown_payload_type += 1,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.enter(now);
        while let Some((at, key)) = self.timers.pop_due(now) {
            match key {
                TimerKey::StreamIdle(idx) => self.on_idle_timer(now, at, idx),
                TimerKey::Heartbeat(id) => self.on_heartbeat_timer(now, at, id),
                TimerKey::Reassembly(id) => self.on_reassembly_timer(now, at, id),
                TimerKey::PullRspResend(id) => self.on_resend_timer(now, at, id),
                TimerKey::Repeat => self.on_repeat_timer(now),
                TimerKey::PushNack(idx) => self.on_push_nack_timer(now, at, idx),
                TimerKey::TailStop(idx) => self.on_tail_timer(now, at, idx),
            }
        }
    }

    fn poll_transmit(&mut self, max_segments: usize) -> Option<Transmit> {
        self.outbox.poll(max_segments)
    }

    fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }
}
