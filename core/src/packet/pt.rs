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
pub fn is_assignable_id(id: u32) -> bool {
    !SENTINEL_IDS.contains(&id)
}
