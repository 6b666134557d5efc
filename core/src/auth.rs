//! Stream credentials: the `liveId` / `liveCode` grammar, hashed codes and
//! their constant-time check.
//!
//! Codes are stored as `SHA-256(salt || code)` with a random 16-byte salt
//! per credential. A fast hash is enough for generated codes (20 characters
//! of a 64-symbol alphabet, 120 bits) and keeps the check cheap on the
//! re-auth path publishers hit every few seconds.

use crate::LiveId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest `liveId`, in bytes.
pub(crate) const MAX_LIVE_ID_LEN: usize = 40;
/// Longest `liveCode`, in bytes.
const MAX_LIVE_CODE_LEN: usize = 64;

fn is_token(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `id` is 1-40 bytes of `[A-Za-z0-9._-]`, and not `.` or `..`
/// (path segments that a URL would resolve away).
pub(crate) fn is_valid_live_id(id: &str) -> bool {
    is_token(id, MAX_LIVE_ID_LEN) && id != "." && id != ".."
}

/// Whether `code` is 1-64 bytes of `[A-Za-z0-9._-]`.
#[must_use]
pub fn is_valid_live_code(code: &str) -> bool {
    is_token(code, MAX_LIVE_CODE_LEN)
}

/// A stream's credential as stored: the id and the salted hash of its code.
/// Its serde form names the id as text; deserializing refuses an id that
/// is not a [`LiveId`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// The stream id.
    pub live_id: LiveId,
    /// Random per-credential salt.
    pub salt: [u8; 16],
    /// `SHA-256(salt || code)`.
    pub hash: [u8; 32],
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("live_id", &self.live_id.as_str()).finish_non_exhaustive()
    }
}

fn hash_code(salt: &[u8; 16], code: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(code);
    h.finalize().into()
}

impl Credential {
    /// Hashes `code` with `salt` (which the caller draws from a CSPRNG).
    #[must_use]
    pub fn new(live_id: LiveId, code: &str, salt: [u8; 16]) -> Self {
        Credential { live_id, salt, hash: hash_code(&salt, code.as_bytes()) }
    }

    /// Whether `code` is this credential's code, compared in constant time.
    #[must_use]
    pub fn verify(&self, code: &[u8]) -> bool {
        let candidate = hash_code(&self.salt, code);
        candidate.iter().zip(self.hash.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_of_ids_and_codes() {
        assert!(is_valid_live_id("user1._-X"));
        assert!(!is_valid_live_id(""));
        assert!(!is_valid_live_id("a#b"));
        assert!(!is_valid_live_id(&"a".repeat(41)));
        assert!(!is_valid_live_id(".") && !is_valid_live_id(".."), "§3.1: not . or ..");
        assert!(is_valid_live_id("...") && is_valid_live_id(".a") && is_valid_live_id("a.."));
        assert!(is_valid_live_code(&"a".repeat(64)));
        assert!(!is_valid_live_code(&"a".repeat(65)));
        assert!(!is_valid_live_code("é"));
    }

    fn id(text: &str) -> LiveId {
        LiveId::parse(text).unwrap()
    }

    #[test]
    fn verify_accepts_only_the_code() {
        let c = Credential::new(id("s"), "secret", [7; 16]);
        assert!(c.verify(b"secret"));
        assert!(!c.verify(b"secreT"));
        assert!(!c.verify(b""));
        assert_ne!(c.hash, Credential::new(id("s"), "secret", [8; 16]).hash, "salt matters");
        assert!(!format!("{c:?}").contains("hash"), "debug output hides the hash");
        assert_eq!(format!("{c:?}"), r#"Credential { live_id: "s", .. }"#);
    }

    /// Every byte of the hash counts: a fold that let two differing bytes
    /// cancel out (XOR instead of OR) would accept about one wrong code in
    /// 256.
    #[test]
    fn verify_refuses_thousands_of_near_codes() {
        let c = Credential::new(id("s"), "secret", [7; 16]);
        for n in 0..4096 {
            assert!(!c.verify(format!("secret{n}").as_bytes()), "secret{n} accepted");
        }
    }
}
