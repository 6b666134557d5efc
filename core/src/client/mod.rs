//! Sans-IO client state machines: the publisher ([`push::PushClient`]) and
//! the subscriber ([`pull::PullClient`], with its [`reorder`] buffer), and
//! what they share. Their call contract and a driver loop are documented
//! on [`PullClient`](crate::PullClient).

mod backoff;
mod history;
mod link;
mod outbox;
mod phase;
mod probe;
pub(crate) mod pull;
pub(crate) mod push;
mod reception;
pub(crate) mod reorder;
mod rtt;

use crate::packet::rtp::Header;

/// Why a client refused a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// A stream id is empty or contains a list separator (`#` or `;`),
    /// so the relay could not parse the message carrying it.
    InvalidLiveId(String),
    /// A stream code is empty: the relay ignores such an auth.
    InvalidLiveCode,
    /// The client was closed.
    Closed,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::InvalidLiveId(id) => write!(f, "invalid stream id {id:?}: empty or contains '#' or ';'"),
            ClientError::InvalidLiveCode => f.write_str("empty stream code"),
            ClientError::Closed => f.write_str("the client is closed"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Accepts ids the legacy text grammar can carry (docs/protocol.md §1.1).
fn check_live_id(live_id: &str) -> Result<(), ClientError> {
    if live_id.is_empty() || live_id.contains(['#', ';']) {
        return Err(ClientError::InvalidLiveId(live_id.to_owned()));
    }
    Ok(())
}

/// A client-originated packet with no payload semantics in its sequence
/// number: sequence 0, marker clear.
fn control(payload_type: u8, timestamp: u32, ssrc: u32, payload: &[u8]) -> bytes::Bytes {
    Header { timestamp, ssrc, ..Header::new(payload_type) }.encode(payload)
}

/// A configured wait of `millis`, at least 1 ms.
fn ms(millis: u64) -> std::time::Duration {
    std::time::Duration::from_millis(millis.max(1))
}

/// The earlier of two optional deadlines.
fn earliest(a: Option<crate::time::Instant>, b: Option<crate::time::Instant>) -> Option<crate::time::Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Instant;

    #[test]
    fn ids_with_separators_are_refused() {
        assert!(check_live_id("cam-1.a_b").is_ok());
        assert_eq!(check_live_id(""), Err(ClientError::InvalidLiveId(String::new())));
        assert!(check_live_id("a#b").is_err());
        assert!(check_live_id("a;b").is_err());
    }

    #[test]
    fn earliest_ignores_missing_deadlines() {
        let (a, b) = (Instant::from_millis(1), Instant::from_millis(2));
        assert_eq!(earliest(Some(b), Some(a)), Some(a));
        assert_eq!(earliest(None, Some(b)), Some(b));
        assert_eq!(earliest(None, None), None);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            ClientError::InvalidLiveId("a#b".into()).to_string(),
            r#"invalid stream id "a#b": empty or contains '#' or ';'"#
        );
        assert_eq!(ClientError::InvalidLiveCode.to_string(), "empty stream code");
        assert_eq!(ClientError::Closed.to_string(), "the client is closed");
    }
}
