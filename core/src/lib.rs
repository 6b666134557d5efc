//! # rtprelay-core
//!
//! The rtprelay protocol as pure, sans-IO state machines: the [`Relay`]
//! itself, its two clients ([`PushClient`], a publisher, and
//! [`PullClient`], a subscriber), and the codec in [`packet`]. No sockets,
//! no clock, no global randomness: the caller passes the time in and takes
//! datagrams out, so the same code runs under tokio (the `rtprelay`
//! binary), in the deterministic simulator (`rtprelay-sim`) and in tests.
//! `docs/protocol.md` is the protocol; `docs/architecture.md` the longer
//! tour. This page is the five-minute one.
//!
//! ## The call contract
//!
//! All three machines implement [`Endpoint`]: a datagram goes in with
//! [`Endpoint::handle_datagram`] (the relay [`Port`] it came through, its
//! source, its bytes), a deadline with [`Endpoint::handle_timeout`]; what
//! comes out is polled: [`Endpoint::poll_transmit`] (a [`Transmit`]:
//! datagrams for one destination), [`Endpoint::poll_event`],
//! [`Endpoint::poll_timeout`]. After every call: drain the transmits, drain
//! the events, read the next deadline. Time is an [`Instant`] the driver
//! chooses; a [`WallClock`] maps it to the epoch milliseconds on the wire;
//! every random choice comes from a 32-byte seed. Identifiers are types:
//! [`ClientId`], [`Ssrc`], [`LiveId`] (checked once, where it enters) and
//! the wrapping [`Seq`].
//!
//! ## The messages
//!
//! Every datagram is an RTP header (12 bytes) and a payload; the payload
//! type (byte 1, [`packet::pt::PayloadType`]) says which message it is.
//! The relay's dispatch table (`Relay::handle_datagram`) has one arm per
//! message it receives.
//!
//! | PT | message | from → to | in the relay | § |
//! | --- | --- | --- | --- | --- |
//! | 101 | `AUTH_REQ` `id#code` | publisher → relay | `Streams::authenticate` | 1.3.1 |
//! | 102 / 103 | `AUTH_OK` / `AUTH_REFUSED` | relay → publisher | | 1.3.1 |
//! | 33 | `TS_DATA` (MPEG-TS) | publisher → relay → subscribers | `Streams::on_ts_data`, `FanOut::forward` | 1.3.3 |
//! | 11 / 12 | `DELAY_REQ` / `DELAY_RSP` | publisher ↔ relay | echoed by the router | 1.3.2 |
//! | 122 / 123 | `STOP_PUSH_REQ` / `STOP_PUSH_RSP` | publisher ↔ relay | `Streams::stop_push` | 1.3.4 |
//! | 104 | `STREAM_UNKNOWN` | relay → publisher | `UnknownReplies` | 2.5 |
//! | 114 / 115 | `CLIENT_ID_REQ` / `CLIENT_ID_RSP` | subscriber ↔ relay | `Clients::on_client_id_req` | 1.4.1 |
//! | 111 | `PULL_REQ` (chunked ids) | subscriber → relay | `Clients::on_pull_req` | 1.4.2 |
//! | 112 / 113 | `PULL_RSP` `id#ssrc;…` / `PULL_REQ_LOST` | relay → subscriber | `Clients` (requests) | 1.4.3-1.4.4 |
//! | 99 | `SSRC_ACK` | subscriber → relay | `Clients::on_ssrc_ack`, then `Streams::join` | 1.4.5 |
//! | 116 | `HEARTBEAT` | subscriber → relay | `Clients::on_heartbeat` | 1.4.7 |
//! | 117 / 118 | `STOP_PULL_REQ` / `STOP_PULL_RSP` | subscriber ↔ relay | `Clients::on_stop_pull` | 1.4.8 |
//! | 121 | `STREAM_STOPPED` | relay → subscribers | `Stopped::announce`, `Repeats` | 1.4.9 |
//! | 119 | `CLIENT_UNKNOWN` | relay → subscriber | `UnknownReplies` | 2.5 |
//! | RTCP 205 / 201 | Generic NACK / Receiver Report | both legs | `FanOut`, `Ingress` | 2.1-2.3 |
//!
//! ## The nouns and where they live
//!
//! | noun | file | owns |
//! | --- | --- | --- |
//! | `Relay` | `relay/mod.rs`, `relay/router.rs` | the entry points; routes each input to the noun that owns it |
//! | `Streams`, `Stream` | `relay/streams/` | credentials, auth, the publisher's binding, sequence tracking, history |
//! | `FanOut` | `relay/streams/fanout.rs` | a stream's acknowledged subscribers and the copy to each |
//! | `Ingress` | `relay/streams/ingress.rs` | push-leg NACKs to the publisher and the tail wait |
//! | `Clients` | `relay/clients/` | pull clients: ids, requests and resends, acks, heartbeats, trust, moves |
//! | `Outbox`, `Timers` | `relay/outbox.rs`, `relay/timer.rs` | the queues per destination; one ordered deadline set |
//! | `Counters` | `relay/counters.rs` | every drop and action, by reason (the `/metrics` help text) |
//! | `PushClient` | `client/push/` | auth, pushes, answering the relay's NACKs, delay probes |
//! | `PullClient` | `client/pull/` | registration, the pull request, reorder and NACKs, stream stops |
//! | `ReorderBuffer` | `client/reorder/` | the subscriber's reorder buffer and NACK schedule |
//!
//! ## A drive loop
//!
//! A relay, a publisher and a subscriber on a perfect in-memory network: the
//! publisher authenticates, the subscriber asks for the stream, and one
//! packet of MPEG-TS goes through. A real driver does the same with
//! sockets and a clock (the runtime's packet loop), or with a lossy
//! virtual network (the simulator).
//!
//! ```
//! use bytes::Bytes;
//! use rtprelay_core::{Command, Config, Credential, Endpoint, Instant, LiveId, Port, Relay, Transmit};
//! use rtprelay_core::{PullClient, PullConfig, PullEvent, PushClient, PushConfig, WallClock};
//! use std::net::SocketAddr;
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! /// The contract after any call: the machine's events, drained.
//! fn events<E: Endpoint>(machine: &mut E) -> Vec<E::Event> {
//!     std::iter::from_fn(|| machine.poll_event()).collect()
//! }
//! /// The contract's last step: fire the deadline once it has passed.
//! fn wake<E: Endpoint>(machine: &mut E, now: Instant) -> Vec<E::Event> {
//!     if machine.poll_timeout().is_some_and(|at| at <= now) {
//!         machine.handle_timeout(now);
//!     }
//!     events(machine)
//! }
//! /// Every queued transmit, in order.
//! fn transmits<E: Endpoint>(machine: &mut E) -> Vec<Transmit> {
//!     std::iter::from_fn(|| machine.poll_transmit(8)).collect()
//! }
//!
//! let relay_push: SocketAddr = "10.0.0.1:61040".parse().unwrap();
//! let relay_pull: SocketAddr = "10.0.0.1:61041".parse().unwrap();
//! let publisher_at: SocketAddr = "10.0.0.2:5000".parse().unwrap();
//! let subscriber_at: SocketAddr = "10.0.0.3:6000".parse().unwrap();
//! let clock = WallClock::new(Instant::ZERO, 1_700_000_000_000);
//! let mut now = Instant::ZERO;
//!
//! let mut relay = Relay::new(Arc::new(Config::default()), [1; 32], clock);
//! let cam = LiveId::parse("cam1").unwrap();
//! relay.handle_command(now, Command::AddCredential(Credential::new(cam, "s3cret", [7; 16]))).unwrap();
//! events(&mut relay);
//! let mut publisher = PushClient::new(PushConfig::default(), relay_push, [2; 32], clock);
//! let mut subscriber = PullClient::new(PullConfig::default(), relay_pull, [3; 32], clock, now);
//! publisher.auth(now, "cam1", "s3cret").unwrap();
//! subscriber.pull(now, &["cam1"]).unwrap();
//!
//! let mut heard = Vec::new(); // the subscriber's events
//! for step in 0..200 {
//!     if step == 100 {
//!         // By now the stream is live and the subscriber acknowledged it.
//!         publisher.push(now, "cam1", &[0x47; 7 * 188]).unwrap();
//!     }
//!     // Every datagram reaches its destination at once.
//!     for (t, from) in transmits(&mut publisher).into_iter().map(|t| (t, publisher_at)).chain(
//!         transmits(&mut subscriber).into_iter().map(|t| (t, subscriber_at)),
//!     ) {
//!         for datagram in t.segments {
//!             relay.handle_datagram(now, t.port, from, datagram);
//!             events(&mut relay);
//!         }
//!     }
//!     for t in transmits(&mut relay) {
//!         for datagram in t.segments {
//!             if t.destination == publisher_at {
//!                 publisher.handle_datagram(now, Port::Push, relay_push, datagram);
//!                 events(&mut publisher);
//!             } else {
//!                 subscriber.handle_datagram(now, Port::Pull, relay_pull, datagram);
//!                 heard.extend(events(&mut subscriber));
//!             }
//!         }
//!     }
//!     now = now + Duration::from_millis(10);
//!     wake(&mut relay, now);
//!     wake(&mut publisher, now);
//!     heard.extend(wake(&mut subscriber, now));
//! }
//! // The subscriber's reorder buffer held the packet for its latency
//! // window (200 ms by default), then handed it over.
//! let received: Vec<Bytes> = heard
//!     .into_iter()
//!     .filter_map(|event| match event {
//!         PullEvent::PullStreamData { data, .. } => Some(data),
//!         _ => None,
//!     })
//!     .collect();
//! assert_eq!(received, [Bytes::from(vec![0x47; 7 * 188])]);
//! ```
#![forbid(unsafe_code)]

mod allow;
mod auth;
mod client;
mod config;
mod endpoint;
mod ids;
pub mod mpegts;
pub mod packet;
mod relay;
mod resend;
mod rng;
mod time;

pub use allow::{AllowList, Cidr, InvalidCidr, MAX_ALLOW_ENTRIES};
pub use auth::{Credential, is_valid_live_code};
pub use client::ClientError;
pub use client::pull::{PullClient, PullConfig, PullCounters, PullEvent};
pub use client::push::{PushClient, PushConfig, PushCounters, PushErrorCode, PushEvent, PushStreamError};
pub use client::reorder::{Arrival, ReorderBuffer, ReorderConfig, ReorderStats};
pub use config::{Config, ConfigError};
pub use endpoint::{Endpoint, Port, Transmit};
pub use ids::{ClientId, InvalidLiveId, LiveId, Seq, Ssrc};
pub use relay::{
    ClientBinding, ClientInfo, Command, CommandError, Counters, LeaveReason, LossReport, MAX_EVENT_TEXT, Relay,
    RelayEvent, Reply, StateSizes, StopReason, StreamInfo, SubscriberInfo, SubscriptionInfo,
};
pub use time::{Instant, WallClock};
