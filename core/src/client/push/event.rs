//! What the publisher reports: its events, the errors of a refused push
//! (with their legacy codes, docs/protocol.md §1.5) and its counters.

/// The legacy error codes of a failed push (§1.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PushErrorCode {
    /// 10001: the stream's auth has not been answered yet.
    AuthNotAnswered,
    /// 10002: the relay refused the stream's credentials.
    AuthRefused,
    /// 10003: the stream was never authenticated on this client (or the
    /// client is closed).
    NeverAuthenticated,
}

impl PushErrorCode {
    /// The number legacy clients report.
    #[must_use]
    pub fn number(self) -> u32 {
        match self {
            PushErrorCode::AuthNotAnswered => 10001,
            PushErrorCode::AuthRefused => 10002,
            PushErrorCode::NeverAuthenticated => 10003,
        }
    }
}

/// Why [`PushClient::push`](crate::PushClient::push) refused data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushStreamError {
    /// The stream.
    pub live_id: String,
    /// The legacy code.
    pub code: PushErrorCode,
    /// A human-readable reason.
    pub msg: &'static str,
}

impl std::fmt::Display for PushStreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code.number(), self.live_id, self.msg)
    }
}

impl std::error::Error for PushStreamError {}

/// What the publisher tells its owner (§1.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushEvent {
    /// The relay answered an auth: on the first answer, when the answer
    /// changes (refused, or a new SSRC after a relay restart) and after a
    /// re-auth that `STREAM_UNKNOWN` started. Periodic re-auths that change
    /// nothing are silent.
    AuthRsp {
        /// The stream.
        live_id: String,
        /// Accepted.
        ok: bool,
    },
    /// A push failed. [`PushClient::push`](crate::PushClient::push) returns the error too; the event
    /// is for owners that only read events, and is queued once per stream
    /// and code until a push succeeds.
    PushStreamError(PushStreamError),
    /// [`PushClient::close`](crate::PushClient::close) finished: the relay confirmed, or the close
    /// timeout passed.
    CloseSuccess,
}

/// What the publisher did and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushCounters {
    /// `TS_DATA` datagrams sent (first transmissions).
    pub packets_sent: u64,
    /// MPEG-TS bytes sent (first transmissions).
    pub bytes_sent: u64,
    /// Datagrams sent again because the relay NACKed them.
    pub retransmitted: u64,
    /// NACKed sequence numbers no longer (or never) in the history.
    pub nack_misses: u64,
    /// Packets NACKed again within [`PushConfig::resend_guard_ms`](crate::PushConfig::resend_guard_ms) of
    /// their resend, not resent (the relay sends each NACK more than once).
    pub nack_repeats: u64,
    /// `AUTH_REQ` datagrams sent (first tries, retries and re-auths).
    pub auth_requests: u64,
    /// Datagrams from the relay that do not parse.
    pub malformed: u64,
    /// Well-formed datagrams the client had no use for.
    pub ignored: u64,
    /// Datagrams from another address or socket than the relay's: dropped
    /// unread.
    pub foreign: u64,
    /// Datagrams dropped because the driver did not drain the queue.
    pub tx_overflow: u64,
}
