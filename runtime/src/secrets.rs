//! Secrets drawn from the OS CSPRNG: live codes, salts and the core's seed.

use rtprelay_core::{Credential, LiveId};

/// Length of a generated live code (docs/protocol.md §3.1).
pub const LIVE_CODE_LEN: usize = 20;

/// The 64 symbols of generated codes (a subset of the `liveCode` grammar):
/// 6 bits each, so 20 characters carry 120 bits. No `-`: a code starting
/// with one would read as a flag on a command line.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";

/// The OS random source failed (practically never; the request fails).
pub type RandomError = getrandom::Error;

/// A fresh 20-character live code. Each byte is masked to 6 bits, which
/// keeps the choice uniform (64 divides 256).
pub fn live_code() -> Result<String, RandomError> {
    let mut bytes = [0u8; LIVE_CODE_LEN];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| char::from(ALPHABET[usize::from(b & 63)])).collect())
}

/// Decimal digits in a generated `liveId` (docs/protocol.md §3.1).
pub const LIVE_ID_DIGITS: usize = 16;

/// A fresh `liveId`: `user` and 16 random decimal digits (about 53 bits:
/// anyone who knows an id can pull its stream, so ids must not be
/// guessable). Bytes of 250 and more are drawn again, which keeps each
/// digit uniform.
pub fn live_id() -> Result<LiveId, RandomError> {
    let mut id = String::from("user");
    let mut bytes = [0u8; 32];
    while id.len() < 4 + LIVE_ID_DIGITS {
        getrandom::fill(&mut bytes)?;
        for b in bytes.iter().filter(|b| **b < 250).take(4 + LIVE_ID_DIGITS - id.len()) {
            id.push(char::from(b'0' + b % 10));
        }
    }
    Ok(LiveId::parse(&id).unwrap_or_else(|_| unreachable!("user and digits is a valid id")))
}

/// A fresh random salt for [`Credential::new`].
pub fn salt() -> Result<[u8; 16], RandomError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)?;
    Ok(salt)
}

/// A credential for `live_id` and `code` with a fresh random salt.
pub fn credential(live_id: LiveId, code: &str) -> Result<Credential, RandomError> {
    Ok(Credential::new(live_id, code, salt()?))
}

/// A seed for the core's RNG.
pub fn seed() -> Result<[u8; 32], RandomError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtprelay_core::is_valid_live_code;

    #[test]
    fn generated_ids_are_user_and_16_digits() {
        let a = live_id().unwrap();
        let digits = a.as_str().strip_prefix("user").unwrap();
        assert_eq!(digits.len(), LIVE_ID_DIGITS);
        assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{a}");
        assert_ne!(a, live_id().unwrap());
    }

    #[test]
    fn codes_are_valid_distinct_and_verifiable() {
        let a = live_code().unwrap();
        let b = live_code().unwrap();
        assert_eq!(a.len(), LIVE_CODE_LEN);
        assert!(is_valid_live_code(&a));
        assert!(!ALPHABET.contains(&b'-'));
        assert_ne!(a, b);
        let s = LiveId::parse("s").unwrap();
        let c = credential(s.clone(), &a).unwrap();
        assert!(c.verify(a.as_bytes()));
        assert_ne!(c.salt, credential(s, &a).unwrap().salt);
    }
}
