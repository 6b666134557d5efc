//! What the subscriber reports: its events (docs/protocol.md §1.5) and
//! its counters.

use crate::ids::Seq;
use bytes::Bytes;

/// What the subscriber tells its owner (§1.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullEvent {
    /// The relay issued a client id (again after a relay restart); see
    /// [`PullClient::client_id`](crate::PullClient::client_id).
    PullStreamReady,
    /// These streams are live and acknowledged: their data follows. Sent
    /// for every id on the first answer to a [`PullClient::pull`](crate::PullClient::pull), later
    /// only when a stream goes live or changes SSRC.
    PullStreamReqSuccess {
        /// The streams.
        live_ids: Vec<String>,
    },
    /// These streams are not live (the relay announces them if they go
    /// live). Same reporting rule as `PullStreamReqSuccess`.
    NoStream {
        /// The streams.
        live_ids: Vec<String>,
    },
    /// The relay lost part of the chunked pull request (`PULL_REQ_LOST`);
    /// the client has sent it again.
    PullStreamPacketLoss,
    /// Stream data, in sequence order, after the reorder buffer.
    PullStreamData {
        /// The stream.
        live_id: String,
        /// The RTP sequence number.
        seq: Seq,
        /// The MPEG-TS payload.
        data: Bytes,
    },
    /// The stream stopped (after its tail was received or waited for); it
    /// left the client's list.
    StreamStop {
        /// The stream.
        live_id: String,
    },
    /// [`PullClient::close`](crate::PullClient::close) finished: the relay confirmed, or the close
    /// timeout passed.
    CloseSuccess,
}

/// What the subscriber dropped or sent, besides the per-stream
/// [`ReorderStats`](crate::client::reorder::ReorderStats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PullCounters {
    /// Datagrams that do not parse.
    pub malformed: u64,
    /// Well-formed datagrams the client had no use for.
    pub ignored: u64,
    /// Datagrams from another address or socket than the relay's: dropped
    /// unread.
    pub foreign: u64,
    /// `TS_DATA` whose SSRC is not one of the client's streams.
    pub unknown_ssrc: u64,
    /// NACK datagrams sent.
    pub nacks_sent: u64,
    /// Receiver reports sent.
    pub receiver_reports: u64,
    /// Pull requests sent (first tries and resends).
    pub pull_requests: u64,
    /// Times the relay did not know the client id (`CLIENT_UNKNOWN`).
    pub reregistrations: u64,
    /// Datagrams dropped because the driver did not drain the queue.
    pub tx_overflow: u64,
}
