//! The protocol's identifiers as types, so a client id cannot be passed
//! where an SSRC is meant and sequence numbers compare as RFC 3550 says.
//!
//! * [`ClientId`]: a pull client's id (docs/protocol.md §1.4.10), a secret of
//!   that client;
//! * [`Ssrc`]: a stream's synchronisation source, assigned on auth (§1.4.1);
//! * [`LiveId`]: a stream id, validated once where it enters;
//! * [`Seq`]: an RTP sequence number, wrapping at 2^16.

use crate::auth::MAX_LIVE_ID_LEN;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A pull client's id, carried in the SSRC field of its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(u32);

/// A stream's SSRC as the relay assigned it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ssrc(u32);

macro_rules! wire_u32 {
    ($t:ident) => {
        impl $t {
            /// The id with this wire value.
            pub const fn new(value: u32) -> Self {
                $t(value)
            }
            /// Its wire value.
            pub const fn get(self) -> u32 {
                self.0
            }
        }

        /// Decimal, as the text messages write it.
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}
wire_u32!(ClientId);
wire_u32!(Ssrc);

/// A stream id: 1 to 40 bytes of `[A-Za-z0-9._-]` (§1.3). Built only by
/// [`LiveId::parse`] (or its `TryFrom<String>`, which serde's
/// `Deserialize` goes through), so holding one means it is valid. It
/// serializes as its text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LiveId(String);

/// A text that is not a valid [`LiveId`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidLiveId;

impl fmt::Display for InvalidLiveId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a stream id is 1 to {MAX_LIVE_ID_LEN} characters of A-Z a-z 0-9 . _ -")
    }
}

impl std::error::Error for InvalidLiveId {}

impl LiveId {
    /// `text` as a stream id, if it is one.
    ///
    /// # Errors
    ///
    /// [`InvalidLiveId`] for empty text, more than 40 bytes, or a byte
    /// outside the allowed set.
    pub fn parse(text: &str) -> Result<Self, InvalidLiveId> {
        if crate::auth::is_valid_live_id(text) { Ok(LiveId(text.to_owned())) } else { Err(InvalidLiveId) }
    }

    /// The id's text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LiveId {
    type Error = InvalidLiveId;

    /// `text` as a stream id, if it is one (without copying it).
    fn try_from(text: String) -> Result<Self, InvalidLiveId> {
        if crate::auth::is_valid_live_id(&text) { Ok(LiveId(text)) } else { Err(InvalidLiveId) }
    }
}

impl From<LiveId> for String {
    fn from(id: LiveId) -> String {
        id.0
    }
}

impl std::borrow::Borrow<str> for LiveId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for LiveId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LiveId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for LiveId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for LiveId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// An RTP sequence number. It wraps, so it has no total order: "after"
/// means ahead by less than half the space (RFC 3550 §A.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Seq(u16);

impl Seq {
    /// The sequence number with this wire value.
    #[must_use]
    pub const fn new(value: u16) -> Self {
        Seq(value)
    }

    /// Its wire value.
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The next number, wrapping.
    #[must_use]
    pub const fn next(self) -> Seq {
        Seq(self.0.wrapping_add(1))
    }

    /// `n` numbers ahead, wrapping.
    #[must_use]
    pub const fn add(self, n: u16) -> Seq {
        Seq(self.0.wrapping_add(n))
    }

    /// `n` numbers back, wrapping.
    #[must_use]
    pub const fn sub(self, n: u16) -> Seq {
        Seq(self.0.wrapping_sub(n))
    }

    /// How far ahead of `earlier` this is, counting forward with wrap
    /// (0 to 65535).
    #[must_use]
    pub const fn since(self, earlier: Seq) -> u16 {
        self.0.wrapping_sub(earlier.0)
    }

    /// The signed distance from `other` to this: positive when this is
    /// after it, in -32768..=32767.
    #[allow(clippy::cast_possible_wrap)] // the wrap is the serial-number arithmetic
    #[must_use]
    pub const fn delta(self, other: Seq) -> i16 {
        self.0.wrapping_sub(other.0) as i16
    }

    /// Whether this comes after `other` (ahead by 1 to 32767).
    #[must_use]
    pub const fn is_after(self, other: Seq) -> bool {
        self.delta(other) > 0
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn live_ids_are_checked_once_at_the_edge() {
        assert_eq!(LiveId::parse("cam-1.a_B").unwrap().as_str(), "cam-1.a_B");
        assert_eq!(LiveId::parse(""), Err(InvalidLiveId));
        assert_eq!(LiveId::parse("a#b"), Err(InvalidLiveId));
        assert_eq!(LiveId::parse(&"a".repeat(41)), Err(InvalidLiveId));
        assert!(LiveId::parse(&"a".repeat(40)).is_ok());
        assert_eq!(LiveId::try_from("a b".to_owned()), Err(InvalidLiveId));
    }

    /// Serde reads a stream id from its text, and refuses text that is
    /// not one.
    #[test]
    fn live_ids_deserialize_only_when_valid() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StrDeserializer};
        let de = |text: &'static str| -> StrDeserializer<'static, Error> { text.into_deserializer() };
        assert_eq!(LiveId::deserialize(de("cam1")).unwrap(), "cam1");
        assert!(LiveId::deserialize(de("a#b")).is_err());
        assert!(LiveId::deserialize(de("")).is_err());
        assert_eq!(String::from(LiveId::parse("cam1").unwrap()), "cam1");
    }

    /// A `LiveId` compares equal to its own text and to no other.
    #[test]
    fn live_ids_compare_with_text() {
        let id = LiveId::parse("cam").unwrap();
        assert!(<LiveId as PartialEq<str>>::eq(&id, "cam"));
        assert!(!<LiveId as PartialEq<str>>::eq(&id, "cap"));
        assert!(id == "cam" && id != "cap");
    }

    #[test]
    fn sequence_numbers_wrap() {
        assert_eq!(Seq::new(65535).next(), Seq::new(0));
        assert_eq!(Seq::new(2).sub(3), Seq::new(65535));
        assert_eq!(Seq::new(1).since(Seq::new(65535)), 2);
        assert!(Seq::new(1).is_after(Seq::new(65535)));
        assert!(!Seq::new(65535).is_after(Seq::new(1)));
        assert!(!Seq::new(7).is_after(Seq::new(7)));
        // Exactly half the space apart: the later one is the smaller delta.
        assert_eq!(Seq::new(32768).delta(Seq::new(0)), -32768);
        assert!(Seq::new(32767).is_after(Seq::new(0)));
    }

    #[test]
    fn ids_print_as_their_wire_number() {
        assert_eq!(Ssrc::new(0xDEAD_BEEF).to_string(), "3735928559");
        assert_eq!(ClientId::new(7).get(), 7);
        assert_eq!(Seq::new(9).to_string(), "9");
    }

    /// The refusal names the rule a stream id breaks, so an operator can
    /// fix it.
    #[test]
    fn an_invalid_live_id_says_what_a_valid_one_is() {
        let text = InvalidLiveId.to_string();
        assert!(text.contains(&MAX_LIVE_ID_LEN.to_string()), "{text}");
        assert!(text.contains("A-Z a-z 0-9 . _ -"), "{text}");
    }

    /// A stream id reads as its text wherever text is wanted: printed,
    /// borrowed as a map key, as `AsRef<str>`, and compared with `str`.
    #[test]
    fn live_ids_read_as_their_text() {
        use std::collections::BTreeSet;
        let id = LiveId::parse("cam-1").unwrap();
        assert_eq!(id.to_string(), "cam-1");
        assert_eq!(format!("[{id}]"), "[cam-1]");
        let as_ref: &str = id.as_ref();
        assert_eq!(as_ref, "cam-1");
        let set: BTreeSet<LiveId> = [id.clone()].into_iter().collect();
        assert!(set.contains("cam-1"), "a set of ids is searched by text");
        assert!(!set.contains("cam-2"));
        let borrowed: &str = std::borrow::Borrow::borrow(&id);
        assert_eq!(borrowed, "cam-1");
        assert!(id == *"cam-1");
        assert!(id != *"cam-2");
        assert!(id == "cam-1");
        assert!(id != "cam-2");
        assert_eq!(LiveId::try_from("cam-1".to_owned()).unwrap().as_str(), "cam-1");
    }

    /// `get` gives back the wire value `new` took, and `delta` is signed:
    /// positive ahead, negative behind, zero for the same number.
    #[test]
    fn sequence_numbers_keep_their_value_and_sign() {
        assert_eq!(Seq::new(4242).get(), 4242);
        assert_eq!(Seq::new(0).get(), 0);
        assert_eq!(Seq::new(10).delta(Seq::new(7)), 3);
        assert_eq!(Seq::new(7).delta(Seq::new(10)), -3);
        assert_eq!(Seq::new(7).delta(Seq::new(7)), 0);
        assert_eq!(Seq::new(2).delta(Seq::new(65534)), 4);
        assert!(!Seq::new(6).is_after(Seq::new(7)));
        assert_eq!(Seq::new(9).since(Seq::new(9)), 0);
        assert_eq!(Seq::new(9).since(Seq::new(4)), 5);
        assert_eq!(Seq::new(9).add(0), Seq::new(9));
        assert_eq!(Seq::new(9).next(), Seq::new(10));
        assert_eq!(Seq::new(9).sub(4), Seq::new(5));
        assert_eq!(Ssrc::new(77).get(), 77);
        assert_eq!(ClientId::new(77).to_string(), "77");
    }

    proptest! {
        /// `add` and `since` undo each other, and `is_after` is the sign of
        /// the shorter way round.
        #[test]
        fn arithmetic_is_consistent(a in any::<u16>(), n in any::<u16>()) {
            let s = Seq::new(a);
            prop_assert_eq!(s.add(n).since(s), n);
            prop_assert_eq!(s.add(n).sub(n), s);
            prop_assert_eq!(s.add(n).is_after(s), (1..32768).contains(&n));
        }
    }
}
