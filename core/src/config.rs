//! Every timeout and limit of the relay core, with the defaults and the
//! reasons for them. Durations are whole milliseconds so that they read the
//! same in TOML, environment variables and the README table.

use crate::allow::{AllowList, MAX_ALLOW_ENTRIES};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Tunables of the relay state machine. Every field has a default
/// ([`Config::default`]) and is validated by [`Config::validate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// A live stream with no accepted `TS_DATA` and no auth for this long is
    /// stopped (docs/protocol.md §1.3.7). 30 s: publishers re-auth every few seconds.
    pub stream_idle_timeout_ms: u64,
    /// A pull client with no heartbeat for this long is dropped (1.4.7).
    /// 10 s: ten missed one-second heartbeats.
    pub client_heartbeat_timeout_ms: u64,
    /// An incomplete chunked `PULL_REQ` is dropped this long after its latest
    /// chunk (1.4.2).
    pub pull_reassembly_timeout_ms: u64,
    /// First wait before an unacknowledged `PULL_RSP` is resent; each further
    /// wait doubles (1 s, 2 s, 4 s: 1.4.5).
    pub pull_rsp_resend_initial_ms: u64,
    /// How many times an unacknowledged `PULL_RSP` is resent before the relay
    /// gives up (1.4.5).
    pub pull_rsp_resends: u32,
    /// How long a `PULL_RSP` challenge can be echoed (2.3).
    pub challenge_validity_ms: u64,
    /// An echoed address change completes only once the old address has
    /// sent nothing for this long (2.3). 2 s: a NAT rebinding silences the
    /// old address, a guesser of client ids cannot; a client that
    /// heartbeats every second is never silent that long. 0 moves at the
    /// echo (the behaviour before this rule).
    pub move_quiet_ms: u64,
    /// Minimum gap between two `CLIENT_UNKNOWN` / `STREAM_UNKNOWN` answers to
    /// one source (2.5).
    pub unknown_reply_interval_ms: u64,
    /// The legacy relay's trust model: accept client ids the relay never
    /// issued and move a client on any heartbeat. Trusted networks only
    /// (1.4.10); off by default.
    pub legacy_trust: bool,
    /// Source networks that may use the push socket (publish); empty
    /// admits every source. Datagrams from any other source are dropped
    /// unanswered and counted (`push_source_refused`). At most
    /// [`MAX_ALLOW_ENTRIES`] entries.
    pub push_allow: AllowList,
    /// Source networks that may use the pull socket (watch); empty admits
    /// every source: then anyone who reaches the pull port and knows a
    /// stream id can watch it (the legacy protocol has no pull
    /// credential). Others are dropped unanswered, counted
    /// (`pull_source_refused`). At most [`MAX_ALLOW_ENTRIES`] entries.
    pub pull_allow: AllowList,
    /// Pull clients the relay tracks at once.
    pub max_clients: usize,
    /// Pull clients one source IP may hold (a NAT may hide a few dozen).
    /// When the table is full, the oldest client that never proved
    /// liveness (never presented its id from its address) makes room.
    pub max_clients_per_ip: usize,
    /// Messages naming a client id not bound to their source address
    /// (an id the relay never gave there, or an address change) one source
    /// IP may send per second, with a burst of two seconds' worth; beyond
    /// that they are dropped unanswered (counted). 128: two per second for
    /// each client of a NAT hiding 64 (a heartbeat and an echo while
    /// moving, or the heartbeats of legacy clients a restarted relay no
    /// longer knows), while a guesser gets 128 guesses a second against
    /// 2^32 ids (2.3). Not applied with `legacy_trust`.
    pub max_unbound_ids_per_ip_per_sec: u32,
    /// Chunked pull requests being reassembled at once, over all clients.
    pub max_pending_reassemblies: usize,
    /// Chunks one pull request may have (64 × 738 bytes ≈ 47 KB of ids).
    pub max_pull_request_chunks: usize,
    /// Stream ids one pull request may list; the rest are ignored, counted.
    pub max_ids_per_request: usize,
    /// Acknowledged subscribers one stream may have.
    pub max_subscribers_per_stream: usize,
    /// Packets queued for one destination; when full the oldest goes.
    pub max_queued_per_destination: usize,
    /// Sources remembered by the once-per-second `*_UNKNOWN` limiter, by
    /// the failed-auth limiter and by the unbound-id limiter (each).
    pub max_rate_limited_sources: usize,
    /// Refused `AUTH_REQ`s for stream ids that have a credential one
    /// source IP may send per minute; beyond that its auth requests are
    /// ignored (counted) until the minute is over, except the right code
    /// from the address the live stream is bound to (1.3.1). Slows down
    /// guessing of imported, weaker codes without locking out the owner;
    /// refusals for ids without a credential guess no code and do not
    /// count.
    pub max_auth_failures_per_ip_per_minute: u32,
    /// Packets of history kept per stream for retransmission and joins
    /// (rounded up to a power of two; 2048 ≈ 4 s of a 5 Mbit/s stream).
    pub history_max_packets: usize,
    /// Oldest packet the history serves. 3 s covers a NACK's round trip
    /// plus the pull client's 200 ms window many times over.
    pub history_max_age_ms: u64,
    /// Each subscriber's retransmission budget as a percentage of the
    /// stream's incoming rate over the last second (2.1).
    pub retransmit_budget_percent: u64,
    /// Floor of that budget in bytes per second, so low-rate streams can
    /// recover too.
    pub retransmit_budget_min_bytes_per_sec: u64,
    /// A packet NACKed again by the same subscriber within this long of
    /// its retransmission is not resent (counted): pull clients send each
    /// NACK more than once against loss on the way (2.1). Shorter than any
    /// client's retry (1.25 round trips).
    pub retransmit_repeat_guard_ms: u64,
    /// Copies of each NACK sent to a publisher that announced itself
    /// (2.2): a burst of loss on the sparse way back to the publisher
    /// spans several datagrams whatever their spacing, so a NACK goes out
    /// more than once (the publisher answers it once).
    pub push_nack_copies: u32,
    /// After a stream stops, its last subscribers' NACKs are still
    /// answered for this long, so they can recover the tail that
    /// `STREAM_STOPPED`'s sequence number shows them (2.5). 1 s: the three
    /// `STREAM_STOPPED` 100 ms apart, then the pull client's 200 ms window.
    pub stopped_nack_ms: u64,
    /// Missing push-leg packets tracked per stream for NACKs (2.2).
    pub push_nack_max_missing: usize,
    /// How long a gap waits before its first NACK: a packet reordered by
    /// less than this costs no NACK (and does not pass for a legacy
    /// publisher's answer).
    pub push_nack_delay_ms: u64,
    /// NACKs sent for one missing packet before it is given up, unless
    /// the publisher announced itself (a legacy publisher never does).
    pub push_nack_max_tries: u32,
    /// Shortest NACK retry interval; the retry is twice the measured round
    /// trip (100 ms before the first measurement), 1.25 times for a
    /// publisher that announced itself.
    pub push_nack_retry_min_ms: u64,
    /// How long after its gap a missing packet of a publisher that
    /// announced itself (an auth marked `M = 1`, 2.2) is still NACKed:
    /// while the answer to the next NACK can arrive within this. 200 ms:
    /// the pull client's window (the subscribers NACK what the relay has
    /// recovered meanwhile).
    pub push_nack_window_ms: u64,
    /// Longest wait for a missing tail before a stop marked `M = 1` takes
    /// effect (2.5).
    pub push_tail_wait_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stream_idle_timeout_ms: 30_000,
            client_heartbeat_timeout_ms: 10_000,
            pull_reassembly_timeout_ms: 1_000,
            pull_rsp_resend_initial_ms: 1_000,
            pull_rsp_resends: 3,
            challenge_validity_ms: 5_000,
            move_quiet_ms: 2_000,
            unknown_reply_interval_ms: 1_000,
            legacy_trust: false,
            push_allow: AllowList::default(),
            pull_allow: AllowList::default(),
            max_clients: 10_000,
            max_clients_per_ip: 64,
            max_unbound_ids_per_ip_per_sec: 128,
            max_pending_reassemblies: 1_024,
            max_pull_request_chunks: 64,
            max_ids_per_request: 512,
            max_subscribers_per_stream: 2_000,
            max_queued_per_destination: 1_024,
            max_rate_limited_sources: 4_096,
            max_auth_failures_per_ip_per_minute: 30,
            history_max_packets: 2_048,
            history_max_age_ms: 3_000,
            retransmit_budget_percent: 25,
            retransmit_budget_min_bytes_per_sec: 32_768,
            retransmit_repeat_guard_ms: 20,
            push_nack_copies: 5,
            stopped_nack_ms: 1_000,
            push_nack_max_missing: 512,
            push_nack_delay_ms: 10,
            push_nack_max_tries: 3,
            push_nack_retry_min_ms: 20,
            push_nack_window_ms: 200,
            push_tail_wait_ms: 1_000,
        }
    }
}

/// A configuration value that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending field.
    pub field: &'static str,
    /// Why it was refused.
    pub reason: &'static str,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Refuses values that would make the relay misbehave (zero timeouts or
    /// limits that admit nothing).
    ///
    /// # Errors
    ///
    /// The first field found wrong, with the reason.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("stream_idle_timeout_ms", self.stream_idle_timeout_ms),
            ("client_heartbeat_timeout_ms", self.client_heartbeat_timeout_ms),
            ("pull_reassembly_timeout_ms", self.pull_reassembly_timeout_ms),
            ("pull_rsp_resend_initial_ms", self.pull_rsp_resend_initial_ms),
            ("challenge_validity_ms", self.challenge_validity_ms),
            ("max_clients", self.max_clients as u64),
            ("max_clients_per_ip", self.max_clients_per_ip as u64),
            ("max_unbound_ids_per_ip_per_sec", u64::from(self.max_unbound_ids_per_ip_per_sec)),
            ("max_pending_reassemblies", self.max_pending_reassemblies as u64),
            ("max_pull_request_chunks", self.max_pull_request_chunks as u64),
            ("max_ids_per_request", self.max_ids_per_request as u64),
            ("max_subscribers_per_stream", self.max_subscribers_per_stream as u64),
            ("max_queued_per_destination", self.max_queued_per_destination as u64),
            ("max_rate_limited_sources", self.max_rate_limited_sources as u64),
            ("max_auth_failures_per_ip_per_minute", u64::from(self.max_auth_failures_per_ip_per_minute)),
            ("history_max_packets", self.history_max_packets as u64),
            ("history_max_age_ms", self.history_max_age_ms),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(ConfigError { field, reason: "must be greater than 0" });
            }
        }
        if self.history_max_packets > 1 << 15 {
            return Err(ConfigError { field: "history_max_packets", reason: "must be at most 32768" });
        }
        for (field, list) in [("push_allow", &self.push_allow), ("pull_allow", &self.pull_allow)] {
            if list.entries().len() > MAX_ALLOW_ENTRIES {
                return Err(ConfigError { field, reason: "must have at most 256 entries" });
            }
        }
        if self.pull_rsp_resends > 16 {
            return Err(ConfigError { field: "pull_rsp_resends", reason: "must be at most 16" });
        }
        Ok(())
    }

    pub(crate) fn stream_idle_timeout(&self) -> Duration {
        Duration::from_millis(self.stream_idle_timeout_ms)
    }
    pub(crate) fn client_heartbeat_timeout(&self) -> Duration {
        Duration::from_millis(self.client_heartbeat_timeout_ms)
    }
    pub(crate) fn pull_reassembly_timeout(&self) -> Duration {
        Duration::from_millis(self.pull_reassembly_timeout_ms)
    }
    pub(crate) fn challenge_validity(&self) -> Duration {
        Duration::from_millis(self.challenge_validity_ms)
    }
    pub(crate) fn history_max_age(&self) -> Duration {
        Duration::from_millis(self.history_max_age_ms)
    }
    pub(crate) fn move_quiet(&self) -> Duration {
        Duration::from_millis(self.move_quiet_ms)
    }
    pub(crate) fn unknown_reply_interval(&self) -> Duration {
        Duration::from_millis(self.unknown_reply_interval_ms)
    }
    /// The wait before resend number `n` (0-based) of a `PULL_RSP`.
    pub(crate) fn pull_rsp_resend_wait(&self, n: u32) -> Duration {
        Duration::from_millis(self.pull_rsp_resend_initial_ms.saturating_mul(1 << n.min(16)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_protocol() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.stream_idle_timeout_ms, 30_000);
        assert_eq!(c.client_heartbeat_timeout_ms, 10_000);
        assert_eq!(c.pull_reassembly_timeout_ms, 1_000);
        assert!(!c.legacy_trust);
        assert_eq!(c.move_quiet_ms, 2_000);
        let waits: Vec<_> = (0..3).map(|n| c.pull_rsp_resend_wait(n).as_millis()).collect();
        assert_eq!(waits, [1000, 2000, 4000]);
    }

    #[test]
    fn zero_limits_are_refused() {
        let c = Config { max_clients: 0, ..Config::default() };
        assert_eq!(c.validate().unwrap_err().field, "max_clients");
        assert_eq!(c.validate().unwrap_err().to_string(), "max_clients: must be greater than 0");
    }

    #[test]
    fn upper_bounds_are_inclusive() {
        let at = Config { history_max_packets: 1 << 15, pull_rsp_resends: 16, ..Config::default() };
        at.validate().unwrap();
        let history = Config { history_max_packets: (1 << 15) + 1, ..Config::default() };
        assert_eq!(history.validate().unwrap_err().field, "history_max_packets");
        let resends = Config { pull_rsp_resends: 17, ..Config::default() };
        assert_eq!(resends.validate().unwrap_err().field, "pull_rsp_resends");
        let net = |i: usize| format!("10.0.{}.{}", i / 256, i % 256).parse::<crate::allow::Cidr>().unwrap();
        let full: AllowList = (0..MAX_ALLOW_ENTRIES).map(net).collect();
        Config { push_allow: full.clone(), pull_allow: full, ..Config::default() }.validate().unwrap();
        let over: AllowList = (0..=MAX_ALLOW_ENTRIES).map(net).collect();
        let pull = Config { pull_allow: over.clone(), ..Config::default() };
        assert_eq!(pull.validate().unwrap_err().to_string(), "pull_allow: must have at most 256 entries");
        let push = Config { push_allow: over, ..Config::default() };
        assert_eq!(push.validate().unwrap_err().field, "push_allow");
    }
}
