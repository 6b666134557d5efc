//! The publisher's data path: MPEG-TS split into `TS_DATA` packets
//! (docs/protocol.md §1.3), refused pushes with their legacy codes (§1.5),
//! and the relay's NACKs answered from the history (§2.2).

use super::stream::Auth;
use super::{PushClient, PushErrorCode, PushEvent, PushStreamError};
use crate::ids::{Seq, Ssrc};
use crate::mpegts::PACKET_LEN;
use crate::packet::pt;
use crate::packet::rtcp;
use crate::packet::rtp::Header;
use crate::time::Instant;
use bytes::Bytes;
use std::borrow::Cow;

impl PushClient {
    /// Sends MPEG-TS bytes on `live_id`: as many packets as the data has
    /// whole TS packets (full payloads of
    /// [`PushConfig::ts_packets_per_datagram`](crate::PushConfig::ts_packets_per_datagram), then one shorter), each
    /// with the next sequence number. Bytes that do not make a whole TS
    /// packet wait for the next call (or [`PushClient::close`](crate::PushClient::close)).
    ///
    /// Fails with 10003 for a stream never passed to
    /// [`PushClient::auth`](crate::PushClient::auth) (or after `close`), 10002 if the relay refused
    /// it, 10001 while its first auth is unanswered. While a re-auth is
    /// pending the data goes out under the stream's last SSRC.
    ///
    /// # Errors
    ///
    /// The codes above, as a [`PushStreamError`].
    pub fn push(&mut self, now: Instant, live_id: &str, data: &[u8]) -> Result<(), PushStreamError> {
        self.link.enter(now);
        let idx = self.sendable(live_id).inspect_err(|e| self.report(e))?;
        self.last_error = None;
        let stream = &mut self.streams[idx];
        let input: Cow<'_, [u8]> = if stream.remainder.is_empty() {
            Cow::Borrowed(data)
        } else {
            let mut joined = std::mem::take(&mut stream.remainder);
            joined.extend_from_slice(data);
            Cow::Owned(joined)
        };
        let whole = input.len() - input.len() % PACKET_LEN;
        for payload in input[..whole].chunks(self.config.payload_len()) {
            self.send_data(now, idx, payload);
        }
        self.streams[idx].remainder = input[whole..].to_vec();
        Ok(())
    }

    /// The stream `live_id` if data may be sent on it.
    fn sendable(&self, live_id: &str) -> Result<usize, PushStreamError> {
        let error = |code, msg| Err(PushStreamError { live_id: live_id.to_owned(), code, msg });
        if !self.phase.is_open() {
            return error(PushErrorCode::NeverAuthenticated, "the client is closed");
        }
        let Some(idx) = self.streams.iter().position(|s| s.live_id == live_id) else {
            return error(PushErrorCode::NeverAuthenticated, "stream never authenticated: call auth first");
        };
        match (&self.streams[idx].auth, self.streams[idx].ssrc) {
            (Auth::Refused, _) => error(PushErrorCode::AuthRefused, "the relay refused the stream's credentials"),
            (Auth::Pending(_), None) => error(PushErrorCode::AuthNotAnswered, "auth not answered yet"),
            _ => Ok(idx),
        }
    }

    /// Queues a failed push as an event, once per stream and code.
    fn report(&mut self, error: &PushStreamError) {
        let key = (error.live_id.clone(), error.code);
        if self.last_error.as_ref() != Some(&key) {
            self.last_error = Some(key);
            self.link.emit(PushEvent::PushStreamError(error.clone()));
        }
    }

    pub(super) fn send_data(&mut self, now: Instant, idx: usize, payload: &[u8]) {
        let timestamp = self.relay_clock.timestamp(now);
        let stream = &mut self.streams[idx];
        let Some(ssrc) = stream.ssrc else { return };
        let seq = stream.take_seq();
        let header = Header { sequence: seq.get(), timestamp, ssrc: ssrc.get(), ..Header::new(pt::TS_DATA) };
        let datagram = header.encode(payload);
        stream.history.push(seq, datagram.clone());
        self.counters.packets_sent += 1;
        self.counters.bytes_sent += payload.len() as u64;
        self.send(datagram);
    }

    /// RTCP Generic NACKs from the relay (2.2): resend what the history
    /// still holds, unchanged, unless it was resent within
    /// [`PushConfig::resend_guard_ms`](crate::PushConfig::resend_guard_ms) (a copy of the same NACK).
    pub(super) fn on_rtcp(&mut self, now: Instant, data: &[u8]) {
        let guard = std::time::Duration::from_millis(self.config.resend_guard_ms);
        let (packets, error) = rtcp::parse_compound(data);
        if error.is_some() {
            self.counters.malformed += 1;
        }
        for packet in packets {
            let rtcp::RtcpPacket::Nack(nack) = packet else {
                self.counters.ignored += 1;
                continue;
            };
            let media_ssrc = Ssrc::new(nack.media_ssrc);
            let Some(stream) = self.streams.iter_mut().find(|s| s.ssrc == Some(media_ssrc)) else {
                self.counters.ignored += 1;
                continue;
            };
            let mut resend: Vec<Bytes> = Vec::new();
            for seq in nack.sequences().map(Seq::new) {
                match stream.history.get(seq, media_ssrc) {
                    None => self.counters.nack_misses += 1,
                    Some(_) if !stream.resent.allow(now, seq, guard) => self.counters.nack_repeats += 1,
                    Some(datagram) => resend.push(datagram.clone()),
                }
            }
            self.counters.retransmitted += resend.len() as u64;
            for datagram in resend {
                self.send(datagram);
            }
        }
    }
}
