//! # rtprelay-core
//!
//! The rtprelay protocol as pure, sans-IO state machines: the [`relay`]
//! itself, its [`client`]s (publisher and subscriber), and the codec in
//! [`packet`]. No sockets, no clock, no global
//! randomness: the caller passes the time in and takes datagrams out, so
//! the same code runs under tokio (`rtprelay`), in the deterministic
//! simulator (`rtprelay-sim`) and in tests.
#![forbid(unsafe_code)]

mod auth;
mod client;
mod config;
mod endpoint;
mod ids;
pub mod mpegts;
pub mod packet;
mod relay;
mod rng;
mod time;

pub use auth::{Credential, is_valid_live_code};
pub use client::ClientError;
pub use client::pull::{PullClient, PullConfig, PullCounters, PullEvent};
pub use client::push::{PushClient, PushConfig, PushCounters, PushErrorCode, PushEvent, PushStreamError};
pub use client::reorder::{Arrival, ReorderBuffer, ReorderConfig, ReorderStats};
pub use config::{Config, ConfigError};
pub use endpoint::{Endpoint, Port, Transmit};
pub use ids::{ClientId, InvalidLiveId, LiveId, Seq, Ssrc};
pub use relay::{
    ClientBinding, ClientInfo, Command, CommandError, Counters, LeaveReason, Relay, RelayEvent, Reply, StateSizes,
    StopReason, StreamInfo, SubscriberInfo, SubscriptionInfo,
};
pub use time::{Instant, WallClock};
