//! The RTCP packets of docs/protocol.md §2: Generic NACK (RFC 4585 §6.2.1) and
//! Receiver Report (RFC 3550 §6.4.2), alone, compound or reduced-size
//! (RFC 5506).

use super::ParseError;
use bytes::{BufMut, Bytes, BytesMut};

/// RTCP payload type of a Receiver Report.
pub const PT_RR: u8 = 201;
/// RTCP payload type of a transport-layer feedback message.
pub const PT_RTPFB: u8 = 205;
/// Feedback message type of a Generic NACK.
pub const FMT_NACK: u8 = 1;

/// A Generic NACK: the packets `media_ssrc` lost, as PID + BLP pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    /// Who asks (client id, or 0 from the relay).
    pub sender_ssrc: u32,
    /// The stream whose packets are asked for.
    pub media_ssrc: u32,
    /// `(PID, BLP)`: PID lost, and bit i of BLP set if PID + i + 1 is lost.
    pub pairs: Vec<(u16, u16)>,
}

impl Nack {
    /// Builds the pairs covering `lost` (any order, wrapping sequence
    /// numbers; each run starts a pair at its first number).
    #[must_use]
    pub fn from_sequences(sender_ssrc: u32, media_ssrc: u32, lost: &[u16]) -> Self {
        let mut pairs: Vec<(u16, u16)> = Vec::new();
        for &seq in lost {
            match pairs.last_mut() {
                Some((pid, blp)) if (1..=16).contains(&seq.wrapping_sub(*pid)) => {
                    *blp |= 1 << (seq.wrapping_sub(*pid) - 1);
                }
                Some((pid, _)) if seq == *pid => {}
                _ => pairs.push((seq, 0)),
            }
        }
        Nack { sender_ssrc, media_ssrc, pairs }
    }

    /// Every sequence number the NACK lists, in FCI order.
    pub fn sequences(&self) -> impl Iterator<Item = u16> + '_ {
        self.pairs.iter().flat_map(|&(pid, blp)| {
            std::iter::once(pid)
                .chain((0..16).filter(move |i| blp & (1 << i) != 0).map(move |i| pid.wrapping_add(i + 1)))
        })
    }

    /// The packet's bytes.
    #[must_use]
    pub fn encode(&self) -> Bytes {
        let words = 2 + self.pairs.len();
        let mut buf = BytesMut::with_capacity(4 + 4 * words);
        buf.put_u8(0x80 | FMT_NACK);
        buf.put_u8(PT_RTPFB);
        buf.put_u16(words as u16);
        buf.put_u32(self.sender_ssrc);
        buf.put_u32(self.media_ssrc);
        for &(pid, blp) in &self.pairs {
            buf.put_u16(pid);
            buf.put_u16(blp);
        }
        buf.freeze()
    }
}

/// One report block of a Receiver Report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The stream reported on.
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_sequence: u32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the last SR's NTP timestamp.
    pub last_sr: u32,
    /// Delay since the last SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// A Receiver Report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiverReport {
    /// Who reports (the client id).
    pub sender_ssrc: u32,
    /// One block per stream.
    pub blocks: Vec<ReportBlock>,
}

impl ReceiverReport {
    /// The packet's bytes (at most 31 blocks are written).
    #[must_use]
    pub fn encode(&self) -> Bytes {
        let blocks = &self.blocks[..self.blocks.len().min(31)];
        let words = 1 + 6 * blocks.len();
        let mut buf = BytesMut::with_capacity(4 + 4 * words);
        buf.put_u8(0x80 | blocks.len() as u8);
        buf.put_u8(PT_RR);
        buf.put_u16(words as u16);
        buf.put_u32(self.sender_ssrc);
        for b in blocks {
            buf.put_u32(b.ssrc);
            buf.put_u8(b.fraction_lost);
            let lost = b.cumulative_lost.clamp(-(1 << 23), (1 << 23) - 1) as u32 & 0x00FF_FFFF;
            buf.put_slice(&lost.to_be_bytes()[1..]);
            buf.put_u32(b.highest_sequence);
            buf.put_u32(b.jitter);
            buf.put_u32(b.last_sr);
            buf.put_u32(b.delay_since_last_sr);
        }
        buf.freeze()
    }
}

/// One packet of a (possibly compound) RTCP datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RtcpPacket {
    /// A Generic NACK.
    Nack(Nack),
    /// A Receiver Report.
    ReceiverReport(ReceiverReport),
    /// Any other well-formed packet, by payload type.
    Other(u8),
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn parse_one(data: &[u8]) -> Result<(RtcpPacket, usize), ParseError> {
    if data.len() < 4 {
        return Err(ParseError::TooShort);
    }
    if data[0] >> 6 != 2 {
        return Err(ParseError::BadVersion);
    }
    let count = data[0] & 0x1f;
    let pt = data[1];
    let len = 4 * (usize::from(u16::from_be_bytes([data[2], data[3]])) + 1);
    let body = data.get(4..len).ok_or(ParseError::TooShort)?;
    let packet = match pt {
        PT_RTPFB if count == FMT_NACK => {
            if body.len() < 8 {
                return Err(ParseError::BadLength);
            }
            let pairs =
                body[8..].chunks_exact(4).map(|c| (u16::from_be_bytes([c[0], c[1]]), u16::from_be_bytes([c[2], c[3]])));
            RtcpPacket::Nack(Nack { sender_ssrc: be32(body), media_ssrc: be32(&body[4..]), pairs: pairs.collect() })
        }
        PT_RR => {
            let blocks = body.get(4..4 + 24 * usize::from(count)).ok_or(ParseError::BadLength)?;
            let blocks = blocks.chunks_exact(24).map(|b| ReportBlock {
                ssrc: be32(b),
                fraction_lost: b[4],
                cumulative_lost: (be32(&b[4..]) << 8) as i32 >> 8,
                highest_sequence: be32(&b[8..]),
                jitter: be32(&b[12..]),
                last_sr: be32(&b[16..]),
                delay_since_last_sr: be32(&b[20..]),
            });
            RtcpPacket::ReceiverReport(ReceiverReport { sender_ssrc: be32(body), blocks: blocks.collect() })
        }
        other => RtcpPacket::Other(other),
    };
    Ok((packet, len))
}

/// Parses every packet of a compound or reduced-size RTCP datagram. Stops
/// at the first malformed packet, returning what came before it and the
/// error.
#[must_use]
pub fn parse_compound(mut data: &[u8]) -> (Vec<RtcpPacket>, Option<ParseError>) {
    let mut packets = Vec::new();
    while !data.is_empty() {
        match parse_one(data) {
            Ok((packet, len)) => {
                packets.push(packet);
                data = &data[len..];
            }
            Err(e) => return (packets, Some(e)),
        }
    }
    (packets, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nack_pairs_cover_runs_across_wraparound() {
        let n = Nack::from_sequences(1, 2, &[65534, 65535, 0, 20, 40]);
        assert_eq!(n.pairs, [(65534, 0b11), (20, 0), (40, 0)]);
        assert_eq!(n.sequences().collect::<Vec<_>>(), [65534, 65535, 0, 20, 40]);
    }

    #[test]
    fn compound_rr_then_nack() {
        let rr = ReceiverReport {
            sender_ssrc: 9,
            blocks: vec![ReportBlock { ssrc: 5, cumulative_lost: -3, ..Default::default() }],
        };
        let nack = Nack::from_sequences(9, 5, &[7]);
        let mut data = rr.encode().to_vec();
        data.extend_from_slice(&nack.encode());
        let (packets, err) = parse_compound(&data);
        assert_eq!(err, None);
        assert_eq!(packets, [RtcpPacket::ReceiverReport(rr), RtcpPacket::Nack(nack)]);
    }

    fn arb_nack() -> impl Strategy<Value = Nack> {
        (any::<u32>(), any::<u32>(), proptest::collection::vec((any::<u16>(), any::<u16>()), 0..20))
            .prop_map(|(sender_ssrc, media_ssrc, pairs)| Nack { sender_ssrc, media_ssrc, pairs })
    }

    proptest! {
        #[test]
        fn nack_round_trip(n in arb_nack()) {
            prop_assert_eq!(parse_compound(&n.encode()), (vec![RtcpPacket::Nack(n)], None));
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = parse_compound(&data);
        }

        #[test]
        fn our_nack_parses_with_the_rtcp_crate(n in arb_nack()) {
            use webrtc_util::Unmarshal;
            let mut bytes = n.encode();
            let theirs = rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack::unmarshal(&mut bytes).unwrap();
            prop_assert_eq!(theirs.sender_ssrc, n.sender_ssrc);
            prop_assert_eq!(theirs.media_ssrc, n.media_ssrc);
            let pairs: Vec<_> = theirs.nacks.iter().map(|p| (p.packet_id, p.lost_packets)).collect();
            prop_assert_eq!(pairs, n.pairs);
        }

        #[test]
        fn rtcp_crate_rr_parses_with_ours(
            sender in any::<u32>(),
            blocks in proptest::collection::vec((any::<u32>(), any::<u8>(), 0u32..(1 << 23), any::<u32>(), any::<u32>()), 0..5),
        ) {
            use webrtc_util::Marshal;
            let theirs = rtcp::receiver_report::ReceiverReport {
                ssrc: sender,
                reports: blocks.iter().map(|&(ssrc, fraction_lost, total_lost, last_sequence_number, jitter)| {
                    rtcp::reception_report::ReceptionReport { ssrc, fraction_lost, total_lost, last_sequence_number, jitter, ..Default::default() }
                }).collect(),
                ..Default::default()
            };
            let bytes = theirs.marshal().unwrap();
            let (packets, err) = parse_compound(&bytes);
            prop_assert_eq!(err, None);
            let RtcpPacket::ReceiverReport(ours) = &packets[0] else { panic!("not an RR: {packets:?}") };
            prop_assert_eq!(ours.sender_ssrc, sender);
            let got: Vec<_> = ours.blocks.iter().map(|b| (b.ssrc, b.fraction_lost, b.cumulative_lost as u32, b.highest_sequence, b.jitter)).collect();
            prop_assert_eq!(got, blocks);
        }
    }

    #[test]
    fn a_number_listed_twice_is_nacked_once() {
        let nack = Nack::from_sequences(1, 2, &[5, 5, 6]);
        assert_eq!(nack.sequences().collect::<Vec<_>>(), [5, 6]);
    }

    /// RFC 3550 §6.4.1: cumulative loss is a signed 24-bit field, so larger
    /// counts saturate at its bounds.
    #[test]
    fn cumulative_loss_saturates_at_24_bits() {
        let rr = |lost| {
            let block = ReportBlock { ssrc: 1, cumulative_lost: lost, ..Default::default() };
            let bytes = ReceiverReport { sender_ssrc: 9, blocks: vec![block] }.encode();
            [bytes[13], bytes[14], bytes[15]]
        };
        assert_eq!(rr(i32::MAX), [0x7F, 0xFF, 0xFF]);
        assert_eq!(rr(1 << 23), [0x7F, 0xFF, 0xFF]);
        assert_eq!(rr((1 << 23) - 1), [0x7F, 0xFF, 0xFF]);
        assert_eq!(rr(i32::MIN), [0x80, 0x00, 0x00]);
        assert_eq!(rr(-1), [0xFF, 0xFF, 0xFF]);
    }

    /// A packet of just its 4-byte header (length 0, e.g. an empty BYE) is
    /// well formed; a transport-layer feedback of another format (FMT 15,
    /// transport-wide congestion control) is not a NACK.
    #[test]
    fn header_only_packets_and_other_feedback_formats_are_other() {
        let (packets, error) = parse_compound(&[0x80, 203, 0, 0]);
        assert_eq!((packets, error), (vec![RtcpPacket::Other(203)], None));
        let twcc = [0x8F, PT_RTPFB, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        let (packets, error) = parse_compound(&twcc);
        assert_eq!((packets, error), (vec![RtcpPacket::Other(PT_RTPFB)], None));
    }
}
