//! Payload types of docs/protocol.md §1.2 and 2.5, and fixed protocol numbers.

/// Publisher → relay: delay probe, echoed as [`DELAY_RSP`].
pub const DELAY_REQ: u8 = 11;
/// Relay → publisher: the probe's bytes with byte 1 changed.
pub const DELAY_RSP: u8 = 12;
/// Publisher → relay → subscribers: MPEG-TS data.
pub const TS_DATA: u8 = 33;
/// Subscriber → relay: acknowledges the SSRCs of a `PULL_RSP`.
pub const SSRC_ACK: u8 = 99;
/// Publisher → relay: `liveId#liveCode`.
pub const AUTH_REQ: u8 = 101;
/// Relay → publisher: auth accepted, SSRC in the header.
pub const AUTH_OK: u8 = 102;
/// Relay → publisher: auth refused.
pub const AUTH_REFUSED: u8 = 103;
/// Relay → new publisher: this SSRC is not bound to your address (2.5).
pub const STREAM_UNKNOWN: u8 = 104;
/// Subscriber → relay: chunked list of stream ids.
pub const PULL_REQ: u8 = 111;
/// Relay → subscriber: `id#ssrc;...`.
pub const PULL_RSP: u8 = 112;
/// Relay → subscriber: a chunked pull request timed out.
pub const PULL_REQ_LOST: u8 = 113;
/// Subscriber → relay: asks for a client id.
pub const CLIENT_ID_REQ: u8 = 114;
/// Relay → subscriber: the client id, in the SSRC field.
pub const CLIENT_ID_RSP: u8 = 115;
/// Subscriber → relay: liveness, every second.
pub const HEARTBEAT: u8 = 116;
/// Subscriber → relay: stop everything.
pub const STOP_PULL_REQ: u8 = 117;
/// Relay → subscriber: answer to [`STOP_PULL_REQ`].
pub const STOP_PULL_RSP: u8 = 118;
/// Relay → new subscriber: this client id is unknown here (2.5).
pub const CLIENT_UNKNOWN: u8 = 119;
/// Relay → subscriber: a stream stopped.
pub const STREAM_STOPPED: u8 = 121;
/// Publisher → relay: stop these streams.
pub const STOP_PUSH_REQ: u8 = 122;
/// Relay → publisher: answer to [`STOP_PUSH_REQ`].
pub const STOP_PUSH_RSP: u8 = 123;

/// The payload types the protocol defines, as one type to match on. The
/// constants above are their wire numbers; [`PayloadType::of`] reads one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PayloadType {
    /// [`DELAY_REQ`].
    DelayReq = DELAY_REQ,
    /// [`DELAY_RSP`].
    DelayRsp = DELAY_RSP,
    /// [`TS_DATA`].
    TsData = TS_DATA,
    /// [`SSRC_ACK`].
    SsrcAck = SSRC_ACK,
    /// [`AUTH_REQ`].
    AuthReq = AUTH_REQ,
    /// [`AUTH_OK`].
    AuthOk = AUTH_OK,
    /// [`AUTH_REFUSED`].
    AuthRefused = AUTH_REFUSED,
    /// [`STREAM_UNKNOWN`].
    StreamUnknown = STREAM_UNKNOWN,
    /// [`PULL_REQ`].
    PullReq = PULL_REQ,
    /// [`PULL_RSP`].
    PullRsp = PULL_RSP,
    /// [`PULL_REQ_LOST`].
    PullReqLost = PULL_REQ_LOST,
    /// [`CLIENT_ID_REQ`].
    ClientIdReq = CLIENT_ID_REQ,
    /// [`CLIENT_ID_RSP`].
    ClientIdRsp = CLIENT_ID_RSP,
    /// [`HEARTBEAT`].
    Heartbeat = HEARTBEAT,
    /// [`STOP_PULL_REQ`].
    StopPullReq = STOP_PULL_REQ,
    /// [`STOP_PULL_RSP`].
    StopPullRsp = STOP_PULL_RSP,
    /// [`CLIENT_UNKNOWN`].
    ClientUnknown = CLIENT_UNKNOWN,
    /// [`STREAM_STOPPED`].
    StreamStopped = STREAM_STOPPED,
    /// [`STOP_PUSH_REQ`].
    StopPushReq = STOP_PUSH_REQ,
    /// [`STOP_PUSH_RSP`].
    StopPushRsp = STOP_PUSH_RSP,
}

impl PayloadType {
    /// Every payload type, in wire-number order.
    pub const ALL: [PayloadType; 20] = [
        PayloadType::DelayReq,
        PayloadType::DelayRsp,
        PayloadType::TsData,
        PayloadType::SsrcAck,
        PayloadType::AuthReq,
        PayloadType::AuthOk,
        PayloadType::AuthRefused,
        PayloadType::StreamUnknown,
        PayloadType::PullReq,
        PayloadType::PullRsp,
        PayloadType::PullReqLost,
        PayloadType::ClientIdReq,
        PayloadType::ClientIdRsp,
        PayloadType::Heartbeat,
        PayloadType::StopPullReq,
        PayloadType::StopPullRsp,
        PayloadType::ClientUnknown,
        PayloadType::StreamStopped,
        PayloadType::StopPushReq,
        PayloadType::StopPushRsp,
    ];

    /// The payload type with wire number `number` (bits 0-6 of byte 1), if
    /// the protocol defines one.
    #[must_use]
    pub const fn of(number: u8) -> Option<PayloadType> {
        Some(match number {
            DELAY_REQ => PayloadType::DelayReq,
            DELAY_RSP => PayloadType::DelayRsp,
            TS_DATA => PayloadType::TsData,
            SSRC_ACK => PayloadType::SsrcAck,
            AUTH_REQ => PayloadType::AuthReq,
            AUTH_OK => PayloadType::AuthOk,
            AUTH_REFUSED => PayloadType::AuthRefused,
            STREAM_UNKNOWN => PayloadType::StreamUnknown,
            PULL_REQ => PayloadType::PullReq,
            PULL_RSP => PayloadType::PullRsp,
            PULL_REQ_LOST => PayloadType::PullReqLost,
            CLIENT_ID_REQ => PayloadType::ClientIdReq,
            CLIENT_ID_RSP => PayloadType::ClientIdRsp,
            HEARTBEAT => PayloadType::Heartbeat,
            STOP_PULL_REQ => PayloadType::StopPullReq,
            STOP_PULL_RSP => PayloadType::StopPullRsp,
            CLIENT_UNKNOWN => PayloadType::ClientUnknown,
            STREAM_STOPPED => PayloadType::StreamStopped,
            STOP_PUSH_REQ => PayloadType::StopPushReq,
            STOP_PUSH_RSP => PayloadType::StopPushRsp,
            _ => return None,
        })
    }

    /// Its wire number.
    #[must_use]
    pub const fn number(self) -> u8 {
        self as u8
    }
}

/// Largest `PULL_REQ` chunk payload (1.4.2).
pub const PULL_REQ_CHUNK: usize = 738;
/// Most `id#ssrc` entries in one `PULL_RSP` (1.4.4).
pub const PULL_RSP_MAX_IDS: usize = 20;
/// Payload of `PULL_REQ_LOST`.
pub const PULL_REQ_LOST_PAYLOAD: &[u8] = b"packetloss";

/// Ids the relay never assigns as SSRC or client id: legacy clients use
/// them as sentinels (1.1).
pub const SENTINEL_IDS: [u32; 3] = [0, 0xFFFF_FFFF, 0xFFFF_FFFE];

/// Whether `id` may be handed out as an SSRC or client id.
#[must_use]
pub fn is_assignable_id(id: u32) -> bool {
    !SENTINEL_IDS.contains(&id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `of` and `number` are inverse over the whole byte range: every
    /// defined type reads back, every other number reads as none.
    #[test]
    fn payload_types_round_trip() {
        for pt in PayloadType::ALL {
            assert_eq!(PayloadType::of(pt.number()), Some(pt));
        }
        let defined = (0..=u8::MAX).filter(|&n| PayloadType::of(n).is_some()).count();
        assert_eq!(defined, PayloadType::ALL.len());
        assert_eq!(PayloadType::of(TS_DATA), Some(PayloadType::TsData));
        assert_eq!(PayloadType::of(0), None);
    }

    /// Each variant carries the wire number of its constant, and the list of
    /// all types is in wire order with no repeats.
    #[test]
    fn payload_type_numbers_are_the_wire_constants() {
        assert_eq!(PayloadType::DelayReq.number(), DELAY_REQ);
        assert_eq!(PayloadType::TsData.number(), 33);
        assert_eq!(PayloadType::StopPushRsp.number(), 123);
        assert!(PayloadType::ALL.windows(2).all(|w| w[0].number() < w[1].number()));
        assert!(is_assignable_id(1));
        assert!(SENTINEL_IDS.iter().all(|&id| !is_assignable_id(id)));
    }
}
