//! The signed envelope of the compatibility routes (docs/protocol.md §3.2):
//! `{"appId", "sn", "timestamp", "nonce", "data", "signature"}`, all
//! strings, signed with the lowercase hex SHA-1 of the six strings
//! `secureKey, appId, sn, timestamp, nonce, data` sorted lexicographically
//! (by bytes) and concatenated.

use crate::config::AppKey;
use serde::Deserialize;
use sha1::{Digest, Sha1};

/// How old (or how far ahead) a `timestamp` may be, in milliseconds.
pub const MAX_AGE_MS: u64 = 120_000;

/// A parsed envelope.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The caller's application id.
    pub app_id: String,
    /// A serial number chosen by the caller.
    pub sn: String,
    /// Milliseconds since the Unix epoch, as decimal text.
    pub timestamp: String,
    /// A random string chosen by the caller.
    pub nonce: String,
    /// The call's argument (for `stopStream`, a JSON string).
    pub data: String,
    /// The SHA-1 signature, lowercase hex.
    pub signature: String,
}

/// A refused envelope, with its legacy error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeError {
    /// 1000001: the signature does not match.
    Signature,
    /// 1000002: `appId` is not configured.
    UnknownApp,
    /// 1000003: `timestamp` is more than [`MAX_AGE_MS`] away from now.
    Expired,
    /// 10002: the body is not the envelope's JSON.
    Parse,
}

impl EnvelopeError {
    /// The legacy `errCode`.
    pub fn code(self) -> i64 {
        match self {
            EnvelopeError::Signature => 1_000_001,
            EnvelopeError::UnknownApp => 1_000_002,
            EnvelopeError::Expired => 1_000_003,
            EnvelopeError::Parse => 10_002,
        }
    }

    /// The legacy `msg`.
    pub fn message(self) -> &'static str {
        match self {
            EnvelopeError::Signature => "signature error",
            EnvelopeError::UnknownApp => "appId does not exist",
            EnvelopeError::Expired => "timestamp expired",
            EnvelopeError::Parse => "json parse error",
        }
    }
}

/// The signature of the six strings.
pub fn sign(secure_key: &str, app_id: &str, sn: &str, timestamp: &str, nonce: &str, data: &str) -> String {
    let mut parts = [secure_key, app_id, sn, timestamp, nonce, data];
    parts.sort_unstable();
    let mut sha = Sha1::new();
    parts.iter().for_each(|p| sha.update(p.as_bytes()));
    sha.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a request body.
pub fn parse(body: &[u8]) -> Result<Envelope, EnvelopeError> {
    serde_json::from_slice(body).map_err(|_| EnvelopeError::Parse)
}

/// Checks an envelope against the configured keys at `now_ms` (Unix ms):
/// known app, fresh timestamp, then the signature.
pub fn verify(envelope: &Envelope, keys: &[AppKey], now_ms: u64) -> Result<(), EnvelopeError> {
    let key = keys.iter().find(|k| k.app_id == envelope.app_id).ok_or(EnvelopeError::UnknownApp)?;
    let timestamp: u64 = envelope.timestamp.trim().parse().map_err(|_| EnvelopeError::Expired)?;
    if timestamp.abs_diff(now_ms) > MAX_AGE_MS {
        return Err(EnvelopeError::Expired);
    }
    let e = envelope;
    let expected = sign(&key.secure_key, &e.app_id, &e.sn, &e.timestamp, &e.nonce, &e.data);
    let given = e.signature.to_ascii_lowercase();
    let same = expected.len() == given.len()
        && expected.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if same { Ok(()) } else { Err(EnvelopeError::Signature) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<AppKey> {
        vec![AppKey { app_id: "app".into(), secure_key: "key".into() }]
    }

    fn envelope(now: u64, key: &str) -> Envelope {
        let ts = now.to_string();
        Envelope {
            app_id: "app".into(),
            sn: "1".into(),
            timestamp: ts.clone(),
            nonce: "n".into(),
            data: "{}".into(),
            signature: sign(key, "app", "1", &ts, "n", "{}"),
        }
    }

    #[test]
    fn signature_is_sha1_of_the_sorted_strings() {
        // Sorted: "1" < "1700000000000" < "app" < "data" < "key" < "nonce".
        let s = sign("key", "app", "1", "1700000000000", "nonce", "data");
        let mut sha = Sha1::new();
        sha.update(b"11700000000000appdatakeynonce");
        let expected: String = sha.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(s, expected);
        assert_eq!(s.len(), 40);
    }

    #[test]
    fn each_refusal_has_its_code() {
        let now = 1_700_000_000_000;
        assert_eq!(verify(&envelope(now, "key"), &keys(), now), Ok(()));
        assert_eq!(verify(&envelope(now, "bad"), &keys(), now), Err(EnvelopeError::Signature));
        let other = Envelope { app_id: "other".into(), ..envelope(now, "key") };
        assert_eq!(verify(&other, &keys(), now), Err(EnvelopeError::UnknownApp));
        assert_eq!(verify(&envelope(now - 120_001, "key"), &keys(), now), Err(EnvelopeError::Expired));
        assert_eq!(verify(&envelope(now - 120_000, "key"), &keys(), now), Ok(()));
        assert_eq!(parse(b"{not json").unwrap_err().code(), 10_002);
        assert_eq!(parse(br#"{"appId": "a"}"#).unwrap_err(), EnvelopeError::Parse, "fields are required");
    }
}
