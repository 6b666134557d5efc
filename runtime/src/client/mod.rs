//! The async client API: the core's sans-IO clients
//! ([`rtprelay_core::client`]) driven over a tokio UDP socket, with their
//! events (docs/protocol.md §1.5) on a channel.
//!
//! * [`PushStreamClient`] publishes streams.
//! * [`PullStreamClient`] subscribes to streams.
//!
//! Each client owns one task that runs the state machine's call contract;
//! the handle sends it commands and receives its events.

mod driver;
mod pull;
mod push;

pub use pull::PullStreamClient;
pub use push::PushStreamClient;
pub use rtprelay_core::client::ClientError;
pub use rtprelay_core::client::pull::{PullConfig, PullEvent};
pub use rtprelay_core::client::push::{PushConfig, PushCounters, PushEvent, PushStreamError};
pub use rtprelay_core::client::reorder::ReorderStats;
