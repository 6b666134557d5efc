//! The wire codec, hand-written so the core needs no I/O crates: the RTP
//! header ([`rtp`]), the payload types ([`pt`]), the legacy text payloads
//! ([`text`]) and the RTCP packets the relay reads or writes ([`rtcp`]).
//!
//! Parsers take any bytes and return an error instead of panicking.

pub mod pt;
pub mod rtcp;
pub mod rtp;
pub mod text;

/// Why a datagram could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than its fixed header or than its own length fields say.
    TooShort,
    /// The RTP/RTCP version is not 2.
    BadVersion,
    /// A length, padding or count field is inconsistent with the data.
    BadLength,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ParseError::TooShort => "datagram too short",
            ParseError::BadVersion => "version is not 2",
            ParseError::BadLength => "inconsistent length field",
        })
    }
}

impl std::error::Error for ParseError {}

/// Whether a datagram is RTCP rather than RTP: its second byte is in
/// 192..=223 (RFC 5761 §4). No legacy packet falls in that range.
#[must_use]
pub fn is_rtcp(datagram: &[u8]) -> bool {
    matches!(datagram.get(1), Some(192..=223))
}

#[cfg(test)]
mod tests {
    use super::ParseError;

    #[test]
    fn parse_errors_say_what_is_wrong() {
        assert_eq!(ParseError::TooShort.to_string(), "datagram too short");
        assert_eq!(ParseError::BadVersion.to_string(), "version is not 2");
        assert_eq!(ParseError::BadLength.to_string(), "inconsistent length field");
    }
}
