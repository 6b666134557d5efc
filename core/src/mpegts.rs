//! Just enough MPEG-TS to pace a file in real time by its PCR, like
//! `ffmpeg -re`: find the PCR of 188-byte packets and turn it into a
//! monotonic media clock across 33-bit wraparound and discontinuities.

use std::time::Duration;

/// Size of one transport stream packet.
pub const PACKET_LEN: usize = 188;
/// The sync byte that starts every packet.
pub const SYNC_BYTE: u8 = 0x47;
/// PCR ticks per second (27 MHz).
pub const PCR_HZ: u64 = 27_000_000;
/// The PCR wraps after 2^33 base ticks of 300 extension ticks each.
const PCR_MODULUS: u64 = (1 << 33) * 300;
/// A PCR step larger than this (or backwards) is a discontinuity, not time.
pub const MAX_PCR_STEP: Duration = Duration::from_secs(1);

/// A packet's PID and, if it carries one, its PCR and discontinuity flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcrField {
    /// The packet's PID.
    pub pid: u16,
    /// The PCR in 27 MHz ticks.
    pub pcr: u64,
    /// The adaptation field's discontinuity indicator.
    pub discontinuity: bool,
}

/// Reads the PCR of one transport packet, if it has one. Never panics.
#[must_use]
pub fn read_pcr(packet: &[u8]) -> Option<PcrField> {
    if packet.len() < 12 || packet[0] != SYNC_BYTE {
        return None;
    }
    let pid = (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2]);
    let has_adaptation = packet[3] & 0x20 != 0;
    if !has_adaptation || packet[4] < 7 {
        return None;
    }
    let flags = packet[5];
    if flags & 0x10 == 0 {
        return None;
    }
    let b = &packet[6..12];
    let base = (u64::from(b[0]) << 25)
        | (u64::from(b[1]) << 17)
        | (u64::from(b[2]) << 9)
        | (u64::from(b[3]) << 1)
        | (u64::from(b[4]) >> 7);
    let ext = (u64::from(b[4] & 1) << 8) | u64::from(b[5]);
    Some(PcrField { pid, pcr: base * 300 + ext, discontinuity: flags & 0x80 != 0 })
}

/// Media time from the PCRs of one PID, monotonic from zero: wraparound
/// continues it, a discontinuity (flagged, backwards, or a step over
/// [`MAX_PCR_STEP`]) holds it where it was.
#[derive(Clone, Debug, Default)]
pub struct MediaClock {
    pid: Option<u16>,
    last: Option<u64>,
    ticks: u64,
    /// Discontinuities seen.
    pub discontinuities: u64,
}

impl MediaClock {
    /// Feeds one transport packet; returns the media time at it if it
    /// carries the PCR this clock follows (the first PCR PID seen).
    pub fn observe(&mut self, packet: &[u8]) -> Option<Duration> {
        let field = read_pcr(packet)?;
        if *self.pid.get_or_insert(field.pid) != field.pid {
            return None;
        }
        if let Some(last) = self.last {
            let step = (field.pcr + PCR_MODULUS - last) % PCR_MODULUS;
            let max = MAX_PCR_STEP.as_micros() as u64 * PCR_HZ / 1_000_000;
            if field.discontinuity || step > max {
                self.discontinuities += 1;
            } else {
                self.ticks += step;
            }
        }
        self.last = Some(field.pcr);
        Some(self.elapsed())
    }

    /// Media time at the latest PCR.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.ticks * 1000 / 27)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcr_packet(pid: u16, pcr: u64, discontinuity: bool) -> [u8; PACKET_LEN] {
        let mut p = [0xffu8; PACKET_LEN];
        let (base, ext) = (pcr / 300, pcr % 300);
        p[0] = SYNC_BYTE;
        p[1] = (pid >> 8) as u8 & 0x1f;
        p[2] = pid as u8;
        p[3] = 0x20;
        p[4] = 183;
        p[5] = 0x10 | if discontinuity { 0x80 } else { 0 };
        p[6] = (base >> 25) as u8;
        p[7] = (base >> 17) as u8;
        p[8] = (base >> 9) as u8;
        p[9] = (base >> 1) as u8;
        p[10] = ((base & 1) << 7) as u8 | 0x7e | (ext >> 8) as u8;
        p[11] = ext as u8;
        p
    }

    #[test]
    fn reads_base_and_extension() {
        let f = read_pcr(&pcr_packet(256, 123_456_789_012, false)).unwrap();
        assert_eq!((f.pid, f.pcr, f.discontinuity), (256, 123_456_789_012, false));
        assert_eq!(read_pcr(&[0x47, 0, 0, 0x10]), None);
        assert_eq!(read_pcr(&[0; 188]), None);
    }

    #[test]
    fn the_extension_uses_all_nine_bits() {
        let f = read_pcr(&pcr_packet(256, 300 * 5 + 299, false)).unwrap();
        assert_eq!(f.pcr, 1799);
    }

    #[test]
    fn short_packets_are_read_to_their_twelfth_byte_and_never_indexed_past_it() {
        let full = pcr_packet(256, 42, false);
        assert_eq!(read_pcr(&full[..12]).map(|f| f.pcr), Some(42), "12 bytes hold the PCR");
        for len in 0..12 {
            assert_eq!(read_pcr(&full[..len]), None, "{len} bytes");
        }
    }

    #[test]
    fn a_step_of_exactly_the_maximum_is_time_not_a_discontinuity() {
        let mut c = MediaClock::default();
        c.observe(&pcr_packet(100, 0, false));
        assert_eq!(c.observe(&pcr_packet(100, PCR_HZ, false)), Some(Duration::from_secs(1)));
        assert_eq!(c.observe(&pcr_packet(100, 2 * PCR_HZ + 1, false)), Some(Duration::from_secs(1)), "just over holds");
        assert_eq!(c.discontinuities, 1);
    }

    #[test]
    fn clock_continues_across_wraparound_and_holds_on_discontinuities() {
        let mut c = MediaClock::default();
        // 2^33 base ticks of 300 (ISO/IEC 13818-1), written out rather
        // than taken from the code under test.
        let near_wrap = 2_576_980_377_600 - PCR_HZ / 10;
        assert_eq!(c.observe(&pcr_packet(100, near_wrap, false)), Some(Duration::ZERO));
        assert_eq!(c.observe(&pcr_packet(100, PCR_HZ / 10, false)), Some(Duration::from_millis(200)));
        assert_eq!(c.observe(&pcr_packet(101, 0, false)), None, "another PID's PCR is ignored");
        assert_eq!(c.observe(&pcr_packet(100, 50 * PCR_HZ, false)), Some(Duration::from_millis(200)), "a jump holds");
        assert_eq!(c.observe(&pcr_packet(100, 50 * PCR_HZ + PCR_HZ / 2, false)), Some(Duration::from_millis(700)));
        assert_eq!(c.observe(&pcr_packet(100, 7, true)), Some(Duration::from_millis(700)), "flagged discontinuity");
        assert_eq!(c.discontinuities, 2);
    }

    #[test]
    fn the_fixture_lasts_about_four_seconds() {
        let data = include_bytes!("../../runtime/tests/fixtures/av-4s.ts");
        let mut c = MediaClock::default();
        let last = data.chunks(PACKET_LEN).filter_map(|p| c.observe(p)).last().unwrap();
        assert!((3.8..4.1).contains(&last.as_secs_f64()), "{last:?}");
        assert_eq!(c.discontinuities, 0);
    }
}
