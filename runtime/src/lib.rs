//! # rtprelay
//!
//! The relay as a service: a tokio driver for the sans-IO core
//! ([`rtprelay_core`]) over two UDP sockets ([`udp`]), a durable credential
//! [`store`], the HTTP API ([`http`]), the async client API ([`client`])
//! and the `rtprelay` command line ([`cli`]). See docs/protocol.md §3-4 for
//! the API and the command line, and `CONFIG.md` (or `rtprelay config`) for every
//! configuration key.

pub mod api_client;
pub mod cli;
pub mod client;
pub mod client_cmd;
pub mod clock;
pub mod config;
pub mod config_cmd;
pub mod credentials;
pub mod embedded;
pub mod envelope;
pub mod exit;
pub mod http;
pub mod metrics;
pub mod relay_handle;
pub mod secrets;
pub mod serve;
pub mod status;
pub mod store;
pub mod store_cmd;
pub mod stream_cmd;
pub mod table;
pub mod tls;
pub mod udp;
