//! The async client API: the core's sans-IO clients
//! ([`rtprelay_core::PushClient`], [`rtprelay_core::PullClient`]) driven
//! over a tokio UDP socket, with their events (docs/protocol.md §1.5) on a
//! channel.
//!
//! * [`PushStreamClient`] publishes streams.
//! * [`PullStreamClient`] subscribes to streams.
//!
//! Each client owns one task that runs the state machine's call contract;
//! the handle sends it commands and receives its events.

mod driver;
mod pull;
mod push;
mod watch;

pub use driver::RelaySilence;

pub use pull::PullStreamClient;
pub use push::PushStreamClient;
pub use rtprelay_core::ClientError;
pub use rtprelay_core::ReorderStats;
pub use rtprelay_core::{PullConfig, PullEvent};
pub use rtprelay_core::{PushConfig, PushCounters, PushEvent, PushStreamError};
