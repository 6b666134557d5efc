//! The subscriber's tunables.

use crate::client::reorder::ReorderConfig;
use serde::{Deserialize, Serialize};

/// Tunables of the subscriber. Every field has a default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PullConfig {
    /// First wait before an unanswered `CLIENT_ID_REQ` is sent again; the
    /// wait doubles after each try. 500 ms.
    pub client_id_retry_initial_ms: u64,
    /// Longest wait between two `CLIENT_ID_REQ` tries. 8 s.
    pub client_id_retry_max_ms: u64,
    /// `HEARTBEAT` period (§1.4.7). 1 s.
    pub heartbeat_interval_ms: u64,
    /// First wait before a pull request that is not fully answered is sent
    /// again; the wait doubles after each try. 1 s (the relay's own
    /// reassembly timeout).
    pub pull_retry_initial_ms: u64,
    /// Longest wait between two tries of a pull request. 8 s.
    pub pull_retry_max_ms: u64,
    /// `STOP_PULL_REQ` is sent again after this long without an answer.
    /// 250 ms.
    pub close_retry_ms: u64,
    /// [`PullClient::close`](crate::PullClient::close) reports success after this long even without
    /// an answer, so closing never hangs. 2 s.
    pub close_timeout_ms: u64,
    /// Datagrams queued for the driver; beyond it the oldest is dropped.
    pub max_queued_datagrams: usize,
    /// Send an RTCP Receiver Report (loss and jitter of each stream) with
    /// every heartbeat (2.3), so the relay's API shows them. On.
    pub receiver_reports: bool,
    /// Copies of each `SSRC_ACK` datagram sent (the relay applies an ack
    /// once): a lost ack costs a second until the relay resends its
    /// `PULL_RSP` (the join replay covers it). 1: a relay reading the
    /// acks in turn would take a copy for the next one.
    pub ack_copies: u32,
    /// The reorder buffer and its NACKs (§2.4); its window also
    /// bounds the wait for a stopped stream's tail.
    pub reorder: ReorderConfig,
}

impl Default for PullConfig {
    fn default() -> Self {
        PullConfig {
            client_id_retry_initial_ms: 500,
            client_id_retry_max_ms: 8_000,
            heartbeat_interval_ms: 1_000,
            pull_retry_initial_ms: 1_000,
            pull_retry_max_ms: 8_000,
            close_retry_ms: 250,
            close_timeout_ms: 2_000,
            max_queued_datagrams: 4_096,
            receiver_reports: true,
            ack_copies: 1,
            reorder: ReorderConfig::default(),
        }
    }
}
