//! The step log for a human replaying a run by eye ([`super::Sim::with_log`]).

/// A short human description of a record's parts: datagrams (the last
/// part of most records) by their header, addresses and text as text.
pub(super) fn describe(parts: &[&[u8]]) -> String {
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if last && part.len() >= 12 && part[0] == 0x80 {
            let h = rtprelay_core::packet::rtp::Packet::parse(part).map(|p| p.header);
            if let Ok(h) = h {
                out.push(format!(
                    "pt {}{} seq {} ts {} ssrc {:#010x} len {}",
                    h.payload_type,
                    if h.marker { "+M" } else { "" },
                    h.sequence,
                    h.timestamp,
                    h.ssrc,
                    part.len()
                ));
                continue;
            }
        }
        match std::str::from_utf8(part) {
            Ok(text) if !text.is_empty() && text.chars().all(|c| !c.is_control()) => out.push(text.to_owned()),
            _ => out.push(part.iter().map(|b| format!("{b:02x}")).collect()),
        }
    }
    out.join(" ")
}
