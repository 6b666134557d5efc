//! The subscriber's data path: `TS_DATA` through each stream's reorder
//! buffer with NACKs (docs/protocol.md §2.1, 2.4), receiver reports (§2.3),
//! and stream stops that wait for their tail (§1.4.9, 2.5).

use super::{PullClient, PullEvent};
use crate::ids::{ClientId, Seq, Ssrc};
use crate::packet::rtcp;
use crate::packet::rtp::Header;
use crate::time::Instant;
use bytes::Bytes;
use std::time::Duration;

impl PullClient {
    pub(super) fn on_data(&mut self, now: Instant, header: Header, payload: Bytes) {
        let Some(&i) = self.by_ssrc.get(&Ssrc::new(header.ssrc)) else {
            self.counters.unknown_ssrc += 1;
            return;
        };
        let arrival = self.clock.rtp_timestamp(now);
        self.streams[i].reception.on_packet(header.seq(), header.timestamp, arrival);
        self.streams[i].buffer.insert(now, header.seq(), payload);
        self.service(now, i);
        self.remove_stopped();
    }

    /// `STREAM_STOPPED` (1.4.9, 2.5): waits up to the window for the
    /// packets up to the sequence number it carries, then reports the stop.
    pub(super) fn on_stream_stopped(&mut self, now: Instant, last: Seq, payload: &[u8]) {
        let found = std::str::from_utf8(payload).ok().and_then(|id| self.streams.iter().position(|s| s.live_id == id));
        // Only a stream answered live can stop: for one asked for again and
        // not answered yet, this is a late copy about the previous
        // subscription (the answer tells whether it is live).
        let Some(i) = found.filter(|&i| self.streams[i].is_stoppable()) else {
            self.counters.ignored += 1;
            return;
        };
        let deadline = now + Duration::from_millis(self.config.reorder.window_ms);
        self.streams[i].stop_after(now, last, deadline);
        self.service(now, i);
        self.remove_stopped();
    }

    /// An RTCP Receiver Report with a block for each live stream that
    /// received data (2.3), sent with each heartbeat.
    pub(super) fn send_receiver_report(&mut self, id: ClientId) {
        let blocks: Vec<_> = self
            .streams
            .iter_mut()
            .filter_map(|s| {
                let ssrc = s.ssrc()?;
                s.reception.report(ssrc, s.buffer.stats())
            })
            .collect();
        if !blocks.is_empty() {
            self.counters.receiver_reports += 1;
            self.send(rtcp::ReceiverReport { sender_ssrc: id.get(), blocks }.encode());
        }
    }

    /// Hands over a stream's ready data, sends its due NACKs and finishes
    /// its stop once the tail is in or waited for.
    pub(super) fn service(&mut self, now: Instant, i: usize) {
        self.drain_data(i);
        if let Some(rtt) = self.probes.smoothed() {
            self.streams[i].buffer.set_rtt(rtt);
        }
        let nacks = self.streams[i].buffer.poll_nacks(now);
        if let (Some(ssrc), Some(id), false) = (self.streams[i].ssrc(), self.client_id(), nacks.is_empty()) {
            self.counters.nacks_sent += 1;
            let seqs: Vec<u16> = nacks.into_iter().map(Seq::get).collect();
            let nack = rtcp::Nack::from_sequences(id.get(), ssrc.get(), &seqs).encode();
            for _ in 1..self.config.reorder.nack_copies.max(1) {
                self.send(nack.clone());
            }
            self.send(nack);
        }
        if self.streams[i].tail_done(now) {
            let stream = &mut self.streams[i];
            stream.buffer.flush();
            stream.stopped = true;
            self.drain_data(i);
            let live_id = self.streams[i].live_id.clone();
            self.request.unanswered.remove(&live_id);
            self.link.emit(PullEvent::StreamStop { live_id });
        }
    }

    pub(super) fn drain_data(&mut self, i: usize) {
        let stream = &mut self.streams[i];
        while let Some((seq, data)) = stream.buffer.pop() {
            self.link.emit(PullEvent::PullStreamData { live_id: stream.live_id.clone(), seq, data });
        }
    }

    /// Drops the streams whose stop was reported: they left the list (1.4.9).
    pub(super) fn remove_stopped(&mut self) {
        let before = self.streams.len();
        self.streams.retain(|s| !s.stopped);
        if self.streams.len() != before {
            self.index_ssrcs();
        }
    }
}
