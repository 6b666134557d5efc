//! Every parser of the core on arbitrary bytes: RTP, compound RTCP, the
//! legacy text payloads, MPEG-TS clock references, stream ids and
//! allowlist entries. None may panic, and what parses must re-encode to
//! something that parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtprelay_core::mpegts::{self, MediaClock};
use rtprelay_core::packet::rtcp::{self, RtcpPacket};
use rtprelay_core::packet::rtp::{HEADER_LEN, Packet};
use rtprelay_core::packet::{is_rtcp, text};
use rtprelay_core::{Cidr, LiveId};

fuzz_target!(|data: &[u8]| {
    let _ = is_rtcp(data);

    if let Ok(packet) = Packet::parse(data) {
        assert!(packet.payload.len() <= data.len() - HEADER_LEN);
        if packet.is_plain() {
            assert_eq!(&packet.header.encode(packet.payload)[..], data, "a plain packet re-encodes byte for byte");
        }
    }

    let (packets, _) = rtcp::parse_compound(data);
    for packet in packets {
        let again = match &packet {
            RtcpPacket::Nack(nack) => rtcp::parse_compound(&nack.encode()),
            RtcpPacket::ReceiverReport(rr) => rtcp::parse_compound(&rr.encode()),
            RtcpPacket::Other(_) => continue,
        };
        assert_eq!(again, (vec![packet], None), "a parsed RTCP packet re-encodes to itself");
    }

    let _ = text::split_ids(data);
    let _ = text::split_ids_lossy(data);
    let _ = text::parse_auth(data);
    let _ = text::parse_pull_rsp(data);

    let chunks = text::chunk_pull_request(data);
    let joined: Vec<u8> = chunks.iter().flat_map(|c| c.payload.iter().copied()).collect();
    assert_eq!(joined, data, "chunks concatenate to the list");

    if let Ok(ids) = text::split_ids(data) {
        let entries: Vec<(String, Option<u32>)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| ((*id).to_owned(), (i % 3 != 0).then(|| (i as u32).wrapping_mul(0x9E37_79B9))))
            .collect();
        let parsed: Vec<_> = text::encode_pull_rsp(&entries).iter().flat_map(|p| text::parse_pull_rsp(p)).collect();
        assert_eq!(parsed, entries, "PULL_RSP payloads round-trip");
    }

    // MPEG-TS: the input as a run of 188-byte packets through the media
    // clock; a PCR read must name a 13-bit PID and a value of a 33-bit
    // base times 300 plus a 9-bit extension.
    let mut clock = MediaClock::default();
    for packet in data.chunks(mpegts::PACKET_LEN) {
        if let Some(field) = mpegts::read_pcr(packet) {
            assert!(field.pid < 1 << 13 && field.pcr < (1 << 33) * 300 + 512);
        }
        let _ = clock.observe(packet);
    }

    // Text: stream ids and allowlist entries print back as what parsed.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(id) = LiveId::parse(text) {
            assert_eq!(id.as_str(), text);
        }
        if let Ok(cidr) = text.parse::<Cidr>() {
            assert_eq!(cidr.to_string().parse::<Cidr>().ok(), Some(cidr), "an entry re-parses from its display");
        }
    }
});
