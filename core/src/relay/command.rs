//! Local commands from the operator (HTTP API, CLI) and their replies: the
//! only calls into the relay that can fail.

use crate::auth::Credential;
use crate::relay::Counters;
use crate::{ClientId, LiveId, Ssrc};
use std::net::SocketAddr;

/// Something the operator asks the relay to do or tell.
#[derive(Clone, Debug)]
pub enum Command {
    /// Adds a stream credential (new, imported, or loaded from the store).
    AddCredential(Credential),
    /// Stops a live stream now; its subscribers get `STREAM_STOPPED`.
    StopStream {
        /// The stream.
        live_id: LiveId,
    },
    /// Removes a credential and stops its stream if live.
    RevokeStream {
        /// The stream.
        live_id: LiveId,
    },
    /// Every known stream (with a credential, or live).
    ListStreams,
    /// One stream with its subscribers.
    GetStream {
        /// The stream.
        live_id: LiveId,
    },
    /// Every pull client.
    ListClients,
    /// A copy of the drop and event counters.
    Counters,
    /// Stops every live stream (graceful shutdown).
    StopAll,
    /// Loss figures a pull client reported through the compatibility API
    /// (§3.2 `packageLoss`), per stream id. Kept on the client's
    /// subscriptions to those streams; other ids, and a client id the
    /// relay does not know, are ignored (the answer is the same).
    ReportLoss {
        /// The client id it names.
        client: ClientId,
        /// Its figures per stream id.
        streams: Vec<(String, LossReport)>,
    },
    /// A publisher's measured delay to the relay (§3.2 `delay`), kept on
    /// the stream if it has ever been live; other ids are ignored.
    ReportDelay {
        /// The stream.
        live_id: String,
        /// Milliseconds; `None` (or a negative value) is unknown.
        delay_ms: Option<f64>,
    },
}

/// A successful command's answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Done, nothing to tell.
    Done,
    /// [`Command::ListStreams`].
    Streams(Vec<StreamInfo>),
    /// [`Command::GetStream`].
    Stream(StreamInfo),
    /// [`Command::ListClients`].
    Clients(Vec<ClientInfo>),
    /// [`Command::Counters`].
    Counters(Box<Counters>),
}

/// Why a command failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// A credential with this id exists already.
    AlreadyExists,
    /// No such stream.
    NotFound,
    /// The stream exists but is not live.
    NotLive,
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CommandError::AlreadyExists => "stream already exists",
            CommandError::NotFound => "no such stream",
            CommandError::NotLive => "stream is not live",
        })
    }
}

impl std::error::Error for CommandError {}

/// What the relay knows about one stream.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamInfo {
    /// The stream id.
    pub live_id: LiveId,
    /// Whether it is live now.
    pub live: bool,
    /// Its SSRC, once it has ever gone live (kept for the relay's life).
    pub ssrc: Option<Ssrc>,
    /// The bound publisher address while live.
    pub publisher: Option<SocketAddr>,
    /// Incoming bitrate over the last 1 s, 3 s and 10 s.
    pub bitrate_bps: [u64; 3],
    /// Accepted `TS_DATA` packets.
    pub packets_in: u64,
    /// Accepted `TS_DATA` bytes (whole datagrams).
    pub bytes_in: u64,
    /// Sequence numbers skipped by the publisher and never received.
    pub lost: u64,
    /// Packets recovered by retransmission on the push leg.
    pub recovered: u64,
    /// Round trip to the publisher, from NACK to retransmission (2.3).
    pub rtt_ms: Option<f64>,
    /// The delay its publisher last reported through the compatibility API
    /// (§3.2 `delay`), in milliseconds.
    pub reported_delay_ms: Option<f64>,
    /// Acknowledged subscribers.
    pub subscribers: usize,
    /// Per-subscriber detail (filled by [`Command::GetStream`] only).
    pub subscriber_list: Vec<SubscriberInfo>,
}

/// One acknowledged subscriber of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriberInfo {
    /// Where its data goes.
    pub address: SocketAddr,
    /// Packets of this stream sent to it.
    pub packets_sent: u64,
    /// Bytes of this stream sent to it.
    pub bytes_sent: u64,
    /// Packets of this stream resent to it after a NACK.
    pub retransmitted: u64,
}

/// One pull client (its id is a secret and not shown).
#[derive(Clone, Debug, PartialEq)]
pub struct ClientInfo {
    /// Its bound address.
    pub address: SocketAddr,
    /// Whether the address has proved it receives (2.3).
    pub verified: bool,
    /// Its subscriptions in request order.
    pub subscriptions: Vec<SubscriptionInfo>,
    /// Stream packets sent to it.
    pub packets_sent: u64,
    /// Stream bytes sent to it.
    pub bytes_sent: u64,
    /// Stream packets resent to it after a NACK.
    pub retransmitted: u64,
}

/// One entry of a client's list.
#[derive(Clone, Debug, PartialEq)]
pub struct SubscriptionInfo {
    /// The stream id as the client sent it: text, since a client may list
    /// an id that names no stream (and never could).
    pub live_id: String,
    /// Whether the client acknowledged it (data flows).
    pub acked: bool,
    /// Loss the client reported in its latest receiver report (fraction
    /// since its previous report, 0 to 1), if it sends them.
    pub reported_loss: Option<f64>,
    /// Cumulative packets lost, from the same report.
    pub reported_lost_total: Option<i64>,
    /// Interarrival jitter from the same report, in RTP timestamp units
    /// (milliseconds for relay-clocked streams).
    pub reported_jitter: Option<u32>,
    /// The figures the client last posted through the compatibility API
    /// (§3.2 `packageLoss`) for this stream.
    pub package_loss: Option<LossReport>,
}

/// One stream's entry of a `packageLoss` report (§3.2): loss and discard
/// ratios over the last 60 s, 10 s and 2 s, and the total lost, as the
/// legacy client computes them. `None` is unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossReport {
    /// Loss over 60 s.
    pub loss_scale_60: Option<f64>,
    /// Discarded (late) over 60 s.
    pub throw_scale_60: Option<f64>,
    /// Loss over 10 s.
    pub loss_scale_10: Option<f64>,
    /// Discarded over 10 s.
    pub throw_scale_10: Option<f64>,
    /// Loss over 2 s.
    pub loss_scale_2: Option<f64>,
    /// Discarded over 2 s.
    pub throw_scale_2: Option<f64>,
    /// Packets lost in total.
    pub loss_total: Option<f64>,
}

/// A reported figure, or `None` when it is unknown: legacy clients write
/// `-1` (or `null`) for what they have not measured.
pub(super) fn known(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite() && *v >= 0.0)
}

impl LossReport {
    /// The report with negative and non-finite figures as unknown; `None`
    /// if nothing in it is known.
    pub(super) fn sanitized(self) -> Option<LossReport> {
        let r = LossReport {
            loss_scale_60: known(self.loss_scale_60),
            throw_scale_60: known(self.throw_scale_60),
            loss_scale_10: known(self.loss_scale_10),
            throw_scale_10: known(self.throw_scale_10),
            loss_scale_2: known(self.loss_scale_2),
            throw_scale_2: known(self.throw_scale_2),
            loss_total: known(self.loss_total),
        };
        (r != LossReport::default()).then_some(r)
    }
}
