//! The RTP fixed header (RFC 3550 §5.1) as a parsed view over a datagram.

use super::ParseError;
use super::pt::PayloadType;
use crate::Seq;
use bytes::{BufMut, Bytes, BytesMut};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 12;
/// Byte 0 of every legacy packet: version 2, no padding, no extension, no
/// CSRC. Legacy clients read the payload as "everything after byte 12", so
/// the relay accepts legacy messages only with exactly this byte.
pub const PLAIN_BYTE0: u8 = 0x80;

/// The header fields the protocol uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Marker bit (bit 7 of byte 1).
    pub marker: bool,
    /// Payload type (bits 0-6 of byte 1).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

impl Header {
    /// A header with the given payload type and every other field zero.
    #[must_use]
    pub fn new(payload_type: u8) -> Self {
        Header { marker: false, payload_type: payload_type & 0x7f, sequence: 0, timestamp: 0, ssrc: 0 }
    }

    /// The sequence number as a wrapping [`Seq`].
    #[must_use]
    pub const fn seq(&self) -> Seq {
        Seq::new(self.sequence)
    }

    /// The payload type, if the protocol defines it.
    #[must_use]
    pub const fn kind(&self) -> Option<PayloadType> {
        PayloadType::of(self.payload_type)
    }

    /// Byte 1 as legacy clients read it: marker and payload type together.
    #[must_use]
    pub fn byte1(&self) -> u8 {
        (u8::from(self.marker) << 7) | (self.payload_type & 0x7f)
    }

    /// Appends the 12 header bytes (always [`PLAIN_BYTE0`]) to `buf`.
    pub fn write_to(&self, buf: &mut impl BufMut) {
        buf.put_u8(PLAIN_BYTE0);
        buf.put_u8(self.byte1());
        buf.put_u16(self.sequence);
        buf.put_u32(self.timestamp);
        buf.put_u32(self.ssrc);
    }

    /// One datagram: this header followed by `payload`.
    #[must_use]
    pub fn encode(&self, payload: &[u8]) -> Bytes {
        let mut buf = BytesMut::with_capacity(HEADER_LEN + payload.len());
        self.write_to(&mut buf);
        buf.put_slice(payload);
        buf.freeze()
    }
}

/// A parsed RTP packet borrowing its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The fixed header fields.
    pub header: Header,
    /// Byte 0 as received (version, padding, extension, CSRC count).
    pub byte0: u8,
    /// The payload per RFC 3550: after CSRCs and extension, before padding.
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Parses any bytes; never panics.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] for bytes that are not an RTP packet.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        if data.len() < HEADER_LEN {
            return Err(ParseError::TooShort);
        }
        let byte0 = data[0];
        if byte0 >> 6 != 2 {
            return Err(ParseError::BadVersion);
        }
        let header = Header {
            marker: data[1] & 0x80 != 0,
            payload_type: data[1] & 0x7f,
            sequence: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
        };
        let mut start = HEADER_LEN + 4 * usize::from(byte0 & 0x0f);
        if byte0 & 0x10 != 0 {
            let ext = data.get(start..start + 4).ok_or(ParseError::TooShort)?;
            start += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        }
        let mut end = data.len();
        if byte0 & 0x20 != 0 {
            let pad = usize::from(*data.last().ok_or(ParseError::TooShort)?);
            if pad == 0 {
                return Err(ParseError::BadLength);
            }
            end = end.checked_sub(pad).ok_or(ParseError::BadLength)?;
        }
        if start > end {
            return Err(if start > data.len() { ParseError::TooShort } else { ParseError::BadLength });
        }
        Ok(Packet { header, byte0, payload: &data[start..end] })
    }

    /// Whether byte 0 is exactly [`PLAIN_BYTE0`] (no padding, extension or
    /// CSRC), the only form legacy peers send and read.
    #[must_use]
    pub fn is_plain(&self) -> bool {
        self.byte0 == PLAIN_BYTE0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_header() -> impl Strategy<Value = Header> {
        (any::<bool>(), 0u8..128, any::<u16>(), any::<u32>(), any::<u32>()).prop_map(
            |(marker, payload_type, sequence, timestamp, ssrc)| Header {
                marker,
                payload_type,
                sequence,
                timestamp,
                ssrc,
            },
        )
    }

    #[test]
    fn layout_matches_the_protocol_table() {
        let h = Header { marker: true, payload_type: 111, sequence: 0x0102, timestamp: 0x0304_0506, ssrc: 0x0708_090a };
        let bytes = h.encode(b"xy");
        assert_eq!(&bytes[..], &[0x80, 239, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, b'x', b'y']);
    }

    /// RFC 3550 §5.1 and RFC 3550 §5.3.1: the payload starts after the
    /// CSRCs and the header extension (4 bytes plus its length in 32-bit
    /// words) and ends before the padding (its count in the last byte).
    #[test]
    fn payload_skips_csrcs_extension_and_padding() {
        let mut data = vec![0xB1, 33, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        data.extend_from_slice(&[9, 9, 9, 9]); // one CSRC
        data.extend_from_slice(&[0xBE, 0xDE, 0, 2, 7, 7, 7, 7, 7, 7, 7, 7]); // extension of 2 words
        data.extend_from_slice(b"hello");
        data.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let p = Packet::parse(&data).unwrap();
        assert_eq!(p.payload, b"hello");
        assert_eq!(p.byte0, 0xB1);
        assert!(!p.is_plain());
    }

    #[test]
    fn an_empty_payload_between_extension_and_padding_is_valid() {
        let mut data = vec![0xB0, 33, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xBE, 0xDE, 0, 0];
        data.extend_from_slice(&[0, 2]);
        assert_eq!(Packet::parse(&data).unwrap().payload, b"");
    }

    #[test]
    fn lengths_past_the_datagram_are_refused() {
        let header = [0x80, 33, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        let with = |byte0: u8, rest: &[u8]| {
            let mut d = header.to_vec();
            d[0] = byte0;
            d.extend_from_slice(rest);
            Packet::parse(&d).map(|p| p.payload.to_vec())
        };
        assert_eq!(with(0x81, &[1, 2, 3]), Err(ParseError::TooShort), "a CSRC cut short");
        assert_eq!(with(0x90, &[0xBE, 0xDE]), Err(ParseError::TooShort), "an extension header cut short");
        assert_eq!(with(0x90, &[0xBE, 0xDE, 0, 1, 7]), Err(ParseError::TooShort), "extension words cut short");
        assert_eq!(with(0xA0, &[1, 0]), Err(ParseError::BadLength), "padding count 0");
        assert_eq!(with(0xA0, &[1, 3]), Err(ParseError::BadLength), "more padding than payload");
        assert_eq!(with(0xA0, &[1, 2]), Ok(vec![]), "padding eating the whole payload");
        assert_eq!(with(0xA1, &[0, 0, 0, 1]), Err(ParseError::BadLength), "padding inside the CSRCs");
    }

    proptest! {
        #[test]
        fn round_trip(h in arb_header(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let bytes = h.encode(&payload);
            let p = Packet::parse(&bytes).unwrap();
            prop_assert!(p.is_plain());
            prop_assert_eq!(p.header, h);
            prop_assert_eq!(p.payload, &payload[..]);
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Packet::parse(&data);
        }

        #[test]
        fn our_bytes_parse_with_the_rtp_crate(h in arb_header(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            use webrtc_util::Unmarshal;
            let mut bytes = h.encode(&payload);
            let theirs = rtp::packet::Packet::unmarshal(&mut bytes).unwrap();
            prop_assert_eq!(theirs.header.marker, h.marker);
            prop_assert_eq!(theirs.header.payload_type, h.payload_type);
            prop_assert_eq!(theirs.header.sequence_number, h.sequence);
            prop_assert_eq!(theirs.header.timestamp, h.timestamp);
            prop_assert_eq!(theirs.header.ssrc, h.ssrc);
            prop_assert_eq!(&theirs.payload[..], &payload[..]);
        }

        #[test]
        fn rtp_crate_bytes_parse_with_ours(
            h in arb_header(),
            csrc in proptest::collection::vec(any::<u32>(), 0..4),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            use webrtc_util::Marshal;
            let theirs = rtp::packet::Packet {
                header: rtp::header::Header {
                    version: 2,
                    marker: h.marker,
                    payload_type: h.payload_type,
                    sequence_number: h.sequence,
                    timestamp: h.timestamp,
                    ssrc: h.ssrc,
                    csrc,
                    ..Default::default()
                },
                payload: Bytes::from(payload.clone()),
            };
            let bytes = theirs.marshal().unwrap();
            let ours = Packet::parse(&bytes).unwrap();
            prop_assert_eq!(ours.header, h);
            prop_assert_eq!(ours.payload, &payload[..]);
        }
    }
}
