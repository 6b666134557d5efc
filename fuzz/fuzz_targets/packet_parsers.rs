//! Every parser of the codec on arbitrary bytes: RTP, compound RTCP and the
//! legacy text payloads. None may panic, and what parses must re-encode to
//! something that parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtprelay_core::packet::rtcp::{self, RtcpPacket};
use rtprelay_core::packet::rtp::{HEADER_LEN, Packet};
use rtprelay_core::packet::{is_rtcp, text};

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
});
