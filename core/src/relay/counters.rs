//! Counters of everything the relay dropped, refused or did, by reason.
//! Untrusted input never returns an error: it lands in one of these.

// Each counter's doc comment is its `/metrics` help, plain text: config keys
// stay unquoted there.
#![allow(clippy::doc_markdown)]

macro_rules! counters {
    ($($(#[doc = $doc:literal])+ $name:ident,)+) => {
        /// Monotonic event and drop counters, read by the driver for
        /// metrics. Every field counts since the relay started.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Counters {
            $($(#[doc = $doc])+ pub $name: u64,)+
        }

        impl Counters {
            /// Every counter as `(name, value, help)`, in declaration order.
            pub fn fields(&self) -> Vec<(&'static str, u64, &'static str)> {
                vec![$((stringify!($name), self.$name, concat!($($doc),+)),)+]
            }
        }
    };
}

counters! {
    /// Datagrams received.
    rx_datagrams,
    /// Bytes received.
    rx_bytes,
    /// Datagrams dropped unanswered on the push socket: source not in push_allow.
    push_source_refused,
    /// Datagrams dropped unanswered on the pull socket: source not in pull_allow.
    pull_source_refused,
    /// Datagrams queued for sending.
    tx_datagrams,
    /// Bytes queued for sending.
    tx_bytes,
    /// Datagrams dropped: shorter than an RTP header or not version 2.
    malformed,
    /// Legacy messages dropped: byte 0 is not 0x80 (padding, extension or CSRC).
    bad_header,
    /// Datagrams dropped: unknown payload type.
    unknown_payload_type,
    /// RTCP datagrams dropped: malformed.
    rtcp_malformed,
    /// RTCP packets ignored: not from a client's bound address, not about a stream it acknowledged, or of a type the relay does not read.
    rtcp_ignored,
    /// TS_DATA dropped: marker, padding, extension or CSRC set.
    ts_data_bad_header,
    /// TS_DATA dropped: SSRC of no live stream.
    ts_data_unknown_ssrc,
    /// TS_DATA dropped: SSRC live but not bound to the source address.
    ts_data_wrong_source,
    /// TS_DATA dropped: sequence number already forwarded.
    ts_data_duplicate,
    /// TS_DATA accepted and fanned out.
    ts_data_accepted,
    /// Copies of TS_DATA queued to subscribers.
    ts_data_forwarded,
    /// AUTH_REQ not answered: no '#', empty id or code, or not UTF-8.
    auth_malformed,
    /// AUTH_REQ refused.
    auth_refused,
    /// AUTH_REQ accepted.
    auth_accepted,
    /// AUTH_REQ ignored: its source IP had too many refusals this minute.
    auth_rate_limited,
    /// DELAY_REQ echoed.
    delay_echoed,
    /// STOP_PUSH_REQ answered.
    stop_push_requests,
    /// Streams stopped by their publisher.
    streams_stopped_by_publisher,
    /// Streams stopped by the idle timeout.
    streams_idle_timeout,
    /// Streams stopped by the operator (stop, revoke, shutdown).
    streams_stopped_by_operator,
    /// Client ids issued.
    client_ids_issued,
    /// CLIENT_ID_REQ refused: too many clients in all.
    client_limit_global,
    /// CLIENT_ID_REQ refused: too many clients from one IP.
    client_limit_per_ip,
    /// Messages naming a client id not bound to their source address.
    client_untrusted,
    /// Messages naming a client id not bound to their source address dropped unanswered: their source IP used up max_unbound_ids_per_ip_per_sec.
    client_ids_limited,
    /// Clients evicted from a full table to admit a new one: they never proved liveness (no message naming their id from their address).
    client_evicted_unverified,
    /// PULL_REQ chunks dropped: too many chunks, inconsistent marker, or the pending-set limit.
    pull_req_rejected,
    /// Complete pull requests dropped: not UTF-8.
    pull_req_not_utf8,
    /// Ids ignored beyond max_ids_per_request.
    pull_req_ids_truncated,
    /// Pending pull requests timed out (PULL_REQ_LOST sent).
    pull_req_lost,
    /// Pull requests of more than max_pull_request_chunks chunks refused with PULL_REQ_LOST.
    pull_req_too_long,
    /// Complete pull requests applied.
    pull_req_applied,
    /// PULL_RSP resent for lack of an ack.
    pull_rsp_resent,
    /// Subscriptions whose PULL_RSP resends ran out unacknowledged.
    pull_rsp_gave_up,
    /// Acks that named an id with no pending live subscription.
    ack_unmatched,
    /// Acks refused: the stream reached max_subscribers_per_stream.
    subscriber_limit,
    /// Clients dropped for missing heartbeats.
    client_heartbeat_timeout,
    /// Clients that sent STOP_PULL_REQ.
    client_stopped,
    /// Address changes started by a heartbeat from a new address.
    address_change_started,
    /// Echoed address changes held back: the old address was heard within move_quiet_ms.
    address_change_waiting,
    /// Clients moved to a new address.
    address_change_completed,
    /// Sends withheld: more bytes than received toward an unverified address.
    amplification_limited,
    /// CLIENT_UNKNOWN answers sent.
    client_unknown_sent,
    /// STREAM_UNKNOWN answers sent.
    stream_unknown_sent,
    /// CLIENT_UNKNOWN / STREAM_UNKNOWN answers withheld by the once-per-second limit.
    unknown_reply_limited,
    /// Queued datagrams dropped because their destination queue was full.
    tx_queue_overflow,
    /// Generic NACKs accepted from acknowledged subscribers.
    nacks_received,
    /// Packets resent after a NACK.
    retransmitted,
    /// NACKed packets no longer (or never) in the stream's history.
    retransmit_not_in_history,
    /// NACKed packets refused by the subscriber's retransmission budget.
    retransmit_over_budget,
    /// NACKed packets older than the first one queued to that subscriber,
    /// within its first 1024 (a pull client NACKs a few below its first,
    /// 2.5 head).
    retransmit_before_join,
    /// NACKed packets not resent: resent to that subscriber within
    /// retransmit_repeat_guard_ms (a copy of the same NACK).
    retransmit_repeat,
    /// Receiver reports accepted.
    receiver_reports,
    /// Packets sent from history to a subscriber on its ack (2.5 join).
    join_replayed,
    /// NACKs sent to publishers.
    push_nacks_sent,
    /// Packets that arrived from a publisher after a NACK.
    push_recovered,
    /// Missing packets given up after push_nack_max_tries NACKs.
    push_nack_abandoned,
    /// Publishers no longer NACKed: none of their first 20 NACKs answered.
    push_legacy_publishers,
    /// Stop requests held for a missing tail (M = 1).
    tail_stops_delayed,
}
