//! The publisher's tunables.

use crate::mpegts::PACKET_LEN;
use serde::{Deserialize, Serialize};

/// Tunables of the publisher. Every field has a default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Whole TS packets per `TS_DATA` payload: 7 × 188 = 1316 bytes, the
    /// most that fits a 1500-byte MTU with IP, UDP and RTP headers.
    pub ts_packets_per_datagram: usize,
    /// First wait before an unanswered `AUTH_REQ` is sent again; the wait
    /// doubles after each try. 500 ms.
    pub auth_retry_initial_ms: u64,
    /// Longest wait between two auth tries. 8 s.
    pub auth_retry_max_ms: u64,
    /// A live stream is authenticated again this often, as deployed
    /// publishers do: it keeps the relay's idle timer fresh and follows a
    /// changed address (§1.3.1). 5 s.
    pub reauth_interval_ms: u64,
    /// `DELAY_REQ` probes are sent this often while the client has a
    /// stream. 1 s.
    pub delay_probe_interval_ms: u64,
    /// Sent datagrams kept per stream to answer NACKs (2.2). 1024 (about
    /// 1.3 MB, a second at 10 Mbit/s).
    pub history_packets: usize,
    /// A packet NACKed again within this long of its resend is not resent
    /// (the relay sends each NACK more than once, §2.2). 20 ms.
    pub resend_guard_ms: u64,
    /// `STOP_PUSH_REQ` is sent again after this long without an answer.
    /// 250 ms.
    pub close_retry_ms: u64,
    /// [`PushClient::close`](crate::PushClient::close) reports success after this long even without
    /// an answer, so closing never hangs. 2 s.
    pub close_timeout_ms: u64,
    /// Datagrams queued for the driver; beyond it the oldest is dropped
    /// (counted in [`PushCounters::tx_overflow`](crate::PushCounters::tx_overflow)).
    pub max_queued_datagrams: usize,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            ts_packets_per_datagram: 7,
            auth_retry_initial_ms: 500,
            auth_retry_max_ms: 8_000,
            reauth_interval_ms: 5_000,
            delay_probe_interval_ms: 1_000,
            history_packets: 1_024,
            resend_guard_ms: 20,
            close_retry_ms: 250,
            close_timeout_ms: 2_000,
            max_queued_datagrams: 4_096,
        }
    }
}

impl PushConfig {
    /// Payload bytes of a full `TS_DATA` packet (at least one TS packet).
    #[must_use]
    pub fn payload_len(&self) -> usize {
        self.ts_packets_per_datagram.max(1).saturating_mul(PACKET_LEN)
    }
}
