//! The relay as a sans-IO state machine (docs/protocol.md §1, §2.3, §2.5).
//!
//! Datagrams, timeouts and operator commands go in with the current time;
//! transmits, a next deadline and events come out. See [`Relay`] for the
//! call contract.

#[macro_use]
mod ctx;
mod clients;
mod command;
mod counters;
mod history;
mod limits;
mod outbox;
mod repeat;
mod router;
mod sequence;
mod stats;
mod streams;
mod timer;

pub use command::{ClientInfo, Command, CommandError, LossReport, Reply, StreamInfo, SubscriberInfo, SubscriptionInfo};
pub use counters::Counters;

use crate::config::Config;
use crate::endpoint::{Endpoint, Port, Transmit};
use crate::packet::is_rtcp;
use crate::packet::pt::{self, PayloadType};
use crate::packet::rtp::{HEADER_LEN, Packet};
use crate::rng::Rng;
use crate::time::{Instant, WallClock};
use crate::{ClientId, LiveId, Ssrc};
use bytes::Bytes;
use clients::Clients;
use limits::{AuthFailures, UnboundIds, UnknownReplies};
use outbox::Outbox;
use repeat::Repeats;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use streams::{StreamTimer, Streams};
use timer::{TimerKey, Timers};

/// Something that happened, for the driver to log or act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    /// A publisher's `AUTH_REQ` was accepted (§1.3.1).
    AuthAccepted {
        /// Where it came from.
        source: SocketAddr,
        /// The stream.
        live_id: LiveId,
        /// The stream was live already: a re-auth (deployed publishers
        /// send one every few seconds).
        renewed: bool,
    },
    /// An `AUTH_REQ` was refused (§1.3.1).
    AuthRefused {
        /// Where it came from.
        source: SocketAddr,
        /// The id it named, as text (at most [`MAX_EVENT_TEXT`] characters).
        live_id: String,
        /// No credential has that id (rather than a wrong code).
        unknown_id: bool,
    },
    /// A source IP used up its refused auths for the window
    /// (`max_auth_failures_per_ip_per_minute`): its auth requests are
    /// ignored until the window ends. Reported once per window.
    SourceRateLimited {
        /// The source IP.
        source: IpAddr,
    },
    /// A stream went live (first successful auth since it was last stopped).
    StreamLive {
        /// The stream.
        live_id: LiveId,
        /// Its SSRC.
        ssrc: Ssrc,
        /// The publisher's address.
        publisher: SocketAddr,
    },
    /// A live stream stopped.
    StreamStopped {
        /// The stream.
        live_id: LiveId,
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

/// The most characters of untrusted text (an id a peer named) an event
/// carries.
pub const MAX_EVENT_TEXT: usize = 64;

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
    /// The client table was full and it had never proved liveness (no
    /// message naming its id from its address): a new client took its
    /// place.
    Evicted,
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
    /// Source IPs remembered by the unbound-client-id limiter (2.3), at
    /// most `max_rate_limited_sources`.
    pub unbound_id_sources: usize,
}

/// One pull client as the relay holds it: [`Relay::client_bindings`].
/// Unlike [`ClientInfo`] (the operator's view) it names the client id,
/// which is a secret of that client (§1.4.10): it is for tests and
/// simulators that check the relay from outside, never for an API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientBinding {
    /// The client id.
    pub id: ClientId,
    /// The socket its replies and data leave from.
    pub port: Port,
    /// Its bound address: where its data goes.
    pub address: SocketAddr,
    /// Whether that address has proved it receives (2.3).
    pub verified: bool,
    /// The streams it acknowledged (in its fan-out), in request order.
    pub acked: Vec<LiveId>,
}

/// The relay state machine.
///
/// It follows the call contract of [`Endpoint`];
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
    streams: Streams,
    clients: Clients,
    unknown_replies: UnknownReplies,
    auth_failures: AuthFailures,
    unbound_ids: UnboundIds,
    repeats: Repeats,
    last_now: Instant,
}

impl Relay {
    /// A relay with no credentials. `seed` drives every random choice
    /// (SSRCs, client ids, challenges, hash keys); `clock` maps `now` to
    /// the Unix-epoch milliseconds stamped on relay packets.
    #[must_use]
    pub fn new(config: Arc<Config>, seed: [u8; 32], clock: WallClock) -> Self {
        // The order of these draws fixes every hash key and id a seed gives.
        let mut rng = Rng::from_seed(seed);
        let outbox = Outbox::new(rng.map(), config.max_queued_per_destination);
        let streams = Streams::new(&mut rng);
        let clients = Clients::new(&mut rng);
        let unknown_replies = UnknownReplies::new(&mut rng);
        let auth_failures = AuthFailures::new(&mut rng);
        let unbound_ids = UnboundIds::new(&mut rng);
        Relay {
            config,
            clock,
            rng,
            counters: Counters::default(),
            outbox,
            timers: Timers::default(),
            events: VecDeque::new(),
            streams,
            clients,
            unknown_replies,
            auth_failures,
            unbound_ids,
            repeats: Repeats::default(),
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
    ///
    /// # Errors
    ///
    /// A [`CommandError`]: the id exists already (creating), is unknown, or
    /// names a stream that is not live (where the command needs one).
    pub fn handle_command(&mut self, now: Instant, command: Command) -> Result<Reply, CommandError> {
        self.enter(now);
        match command {
            Command::AddCredential(credential) => self.add_credential(credential),
            Command::StopStream { live_id } => self.stop_stream(now, &live_id),
            Command::RevokeStream { live_id } => self.revoke_stream(now, &live_id),
            Command::ListStreams => Ok(Reply::Streams(self.streams.infos(now))),
            Command::GetStream { live_id } => self.get_stream(now, &live_id),
            Command::ListClients => Ok(Reply::Clients(self.clients.infos(&self.streams))),
            Command::Counters => Ok(Reply::Counters(Box::new(self.counters.clone()))),
            Command::StopAll => self.stop_all(now),
            Command::ReportLoss { client, streams } => {
                self.clients.report_loss(client, &streams);
                Ok(Reply::Done)
            }
            Command::ReportDelay { live_id, delay_ms } => {
                self.streams.report_delay(&live_id, delay_ms);
                Ok(Reply::Done)
            }
        }
    }

    /// Drop and event counters.
    #[must_use]
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Sizes of the bounded state.
    #[must_use]
    pub fn state_sizes(&self) -> StateSizes {
        StateSizes {
            clients: self.clients.len(),
            streams: self.streams.len(),
            pending_reassemblies: self.clients.pending_reassemblies(),
            timers: self.timers.len(),
            queued_datagrams: self.outbox.queued(),
            destinations: self.outbox.slots_in_use(),
            rate_limited_sources: self.unknown_replies.len() + self.auth_failures.len(),
            unbound_id_sources: self.unbound_ids.len(),
        }
    }

    /// Every pull client with its id, bound address and acknowledged
    /// streams, sorted by id: a read-only view for invariant checks (see
    /// [`ClientBinding`]; operators use [`Command::ListClients`]).
    #[must_use]
    pub fn client_bindings(&self) -> Vec<ClientBinding> {
        self.clients.bindings(&self.streams)
    }
}

/// The relay under the call contract (see [`Endpoint`]).
impl Endpoint for Relay {
    type Event = RelayEvent;

    fn handle_datagram(&mut self, now: Instant, port: Port, from: SocketAddr, data: Bytes) {
        self.enter(now);
        self.counters.rx_datagrams += 1;
        self.counters.rx_bytes += data.len() as u64;
        // Who may publish and who may watch (push_allow, pull_allow), before
        // any parsing: a refusal is silent, since an answer would tell a
        // scanner the relay is there and amplify a spoofed source.
        let (allow, refused) = match port {
            Port::Push => (&self.config.push_allow, &mut self.counters.push_source_refused),
            Port::Pull => (&self.config.pull_allow, &mut self.counters.pull_source_refused),
        };
        if !allow.admits(from.ip()) {
            *refused += 1;
            return;
        }
        // Whether a client's bound address is still talking decides
        // address moves (§2.3); publishers' data is no client's.
        if data.get(1).map(|b| b & 0x7f) != Some(pt::TS_DATA) {
            self.clients.heard(now, from);
        }
        if is_rtcp(&data) {
            self.on_rtcp(now, from, &data);
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
        // One arm per message of docs/protocol.md §1.2, each in router.rs.
        let payload = &data[HEADER_LEN..];
        match header.kind() {
            Some(PayloadType::TsData) => self.on_ts_data(now, port, from, header, data),
            Some(PayloadType::AuthReq) => self.on_auth_req(now, port, from, header, payload),
            Some(PayloadType::DelayReq) => self.on_delay_req(port, from, &data),
            Some(PayloadType::StopPushReq) => self.on_stop_push_req(now, port, from, header, payload),
            Some(PayloadType::ClientIdReq) => self.on_client_id_req(now, port, from),
            Some(PayloadType::PullReq) => self.on_pull_req(now, port, from, header, payload),
            Some(PayloadType::SsrcAck) => self.on_ssrc_ack(now, port, from, header, payload),
            Some(PayloadType::Heartbeat) => self.on_heartbeat(now, port, from, header, data.len()),
            Some(PayloadType::StopPullReq) => self.on_stop_pull_req(now, port, from, header),
            _ => self.counters.unknown_payload_type += 1,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.enter(now);
        while let Some((at, key)) = self.timers.pop_due(now) {
            match key {
                TimerKey::StreamIdle(key) => self.on_stream_timer(now, at, StreamTimer::Idle(key)),
                TimerKey::Heartbeat(id) => self.on_heartbeat_timer(now, at, id),
                TimerKey::Reassembly(id) => self.on_reassembly_timer(now, at, id),
                TimerKey::PullRspResend(id) => self.on_resend_timer(now, at, id),
                TimerKey::Repeat => self.on_repeat_timer(now),
                TimerKey::Move(id) => self.on_move_timer(now, at, id),
                TimerKey::PushNack(key) => self.on_stream_timer(now, at, StreamTimer::PushNack(key)),
                TimerKey::TailStop(key) => self.on_stream_timer(now, at, StreamTimer::TailStop(key)),
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
