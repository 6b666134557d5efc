//! # rtprelay-core
//!
//! The rtprelay protocol as pure, sans-IO state machines: the [`relay`]
//! itself, and the codec in [`packet`]. No sockets, no clock, no global
//! randomness: the caller passes the time in and takes datagrams out, so
//! the same code runs under tokio (`rtprelay`), in the deterministic
//! simulator (`rtprelay-sim`) and in tests.
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod mpegts;
pub mod packet;
pub mod relay;
pub mod time;

pub use auth::Credential;
pub use config::Config;
pub use relay::{Command, CommandError, Port, Relay, RelayEvent, Reply, Transmit};
pub use time::{Instant, WallClock};
