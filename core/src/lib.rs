//! # rtprelay-core
//!
//! The rtprelay protocol as pure, sans-IO state machines: the [`relay`]
//! itself, its [`client`]s (publisher and subscriber), and the codec in
//! [`packet`]. No sockets, no clock, no global
//! randomness: the caller passes the time in and takes datagrams out, so
//! the same code runs under tokio (`rtprelay`), in the deterministic
//! simulator (`rtprelay-sim`) and in tests.
#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod config;
pub mod endpoint;
mod ids;
pub mod mpegts;
pub mod packet;
pub mod relay;
mod rng;
pub mod time;

pub use auth::Credential;
pub use client::pull::{PullClient, PullConfig, PullEvent};
pub use client::push::{PushClient, PushConfig, PushEvent};
pub use config::Config;
pub use endpoint::{Endpoint, Port, Transmit};
pub use ids::{ClientId, InvalidLiveId, LiveId, Seq, Ssrc};
pub use relay::{Command, CommandError, Relay, RelayEvent, Reply};
pub use time::{Instant, WallClock};
