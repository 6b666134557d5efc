//! Publishing (docs/protocol.md §1.3): auth and SSRCs, `TS_DATA` acceptance and
//! fan-out, delay echo, stop requests and the idle timeout.

use super::feedback::{Budget, Report};
use super::history::History;
use super::ingress::Ingress;
use super::outbox::SlotId;
use super::sequence::{SeqTracker, Verdict};
use super::stats::RateWindow;
use super::timer::TimerKey;
use super::{Relay, RelayEvent, StopReason, StopRepeat};
use crate::Seq;
use crate::endpoint::Port;
use crate::packet::rtp::Header;
use crate::packet::{pt, text};
use crate::rng::{Map, Rng};
use crate::time::Instant;
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;

/// The window of the failed-auth limit.
const AUTH_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// One acknowledged subscriber in a stream's fan-out list.
pub(super) struct Subscriber {
    pub(super) client: u32,
    /// The client's pinned destination queue.
    pub(super) slot: SlotId,
    pub(super) packets: u64,
    pub(super) bytes: u64,
    /// Packets resent to it after a NACK.
    pub(super) retransmitted: u64,
    pub(super) budget: Budget,
    /// Its latest receiver report on this stream.
    pub(super) report: Option<Report>,
}

impl Subscriber {
    pub(super) fn new(client: u32, slot: SlotId, now: Instant) -> Self {
        Subscriber { client, slot, packets: 0, bytes: 0, retransmitted: 0, budget: Budget::new(now), report: None }
    }
}

/// A stream that has been live at least once. It keeps its SSRC for the
/// relay's life (1.3.1).
pub(super) struct Stream {
    pub(super) live_id: String,
    pub(super) ssrc: u32,
    pub(super) live: bool,
    pub(super) publisher: SocketAddr,
    /// The socket the publisher last used (NACKs go out from it).
    pub(super) publisher_port: Port,
    pub(super) last_activity: Instant,
    /// The scheduled idle check, while live.
    idle_at: Option<Instant>,
    pub(super) seq: SeqTracker,
    /// The highest sequence number forwarded in this run, in sequence
    /// order (for `STREAM_STOPPED`, 2.5): a late packet does not lower it.
    newest_forwarded: Option<Seq>,
    pub(super) history: History,
    pub(super) ingress: Ingress,
    pub(super) subscribers: Vec<Subscriber>,
    pub(super) rate: RateWindow,
    pub(super) packets_in: u64,
    pub(super) bytes_in: u64,
}

/// Every stream, by index, id and SSRC.
pub(super) struct Streams {
    list: Vec<Stream>,
    by_id: Map<String, u32>,
    by_ssrc: Map<u32, u32>,
}

impl Stream {
    /// The newest sequence number received, for walking the history.
    pub(super) fn newest_seq(&self) -> Seq {
        self.seq.highest().or(self.newest_forwarded).unwrap_or_default()
    }
}

impl Streams {
    pub(super) fn new(rng: &mut Rng) -> Self {
        Streams { list: Vec::new(), by_id: rng.map(), by_ssrc: rng.map() }
    }

    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    pub(super) fn by_id(&self, live_id: &str) -> Option<&Stream> {
        self.by_id.get(live_id).map(|&i| &self.list[i as usize])
    }

    pub(super) fn index_of(&self, live_id: &str) -> Option<u32> {
        self.by_id.get(live_id).copied()
    }

    pub(super) fn index_of_ssrc(&self, ssrc: u32) -> Option<u32> {
        self.by_ssrc.get(&ssrc).copied()
    }

    pub(super) fn get_mut(&mut self, idx: u32) -> &mut Stream {
        &mut self.list[idx as usize]
    }

    /// The SSRC of `live_id` if it is live.
    pub(super) fn live_ssrc(&self, live_id: &str) -> Option<u32> {
        self.by_id(live_id).filter(|s| s.live).map(|s| s.ssrc)
    }

    /// The stream of `live_id`, created with a fresh SSRC if new.
    fn get_or_create(&mut self, live_id: &str, rng: &mut Rng, now: Instant, history: impl FnOnce() -> History) -> u32 {
        if let Some(&idx) = self.by_id.get(live_id) {
            return idx;
        }
        let by_ssrc = &self.by_ssrc;
        let ssrc = rng.assignable_id(|id| by_ssrc.contains_key(&id));
        let idx = self.list.len() as u32;
        self.list.push(Stream {
            live_id: live_id.to_owned(),
            ssrc,
            live: false,
            publisher: SocketAddr::from(([0, 0, 0, 0], 0)),
            publisher_port: Port::Push,
            last_activity: now,
            idle_at: None,
            seq: SeqTracker::new(),
            newest_forwarded: None,
            history: history(),
            ingress: Ingress::default(),
            subscribers: Vec::new(),
            rate: RateWindow::new(),
            packets_in: 0,
            bytes_in: 0,
        });
        self.by_id.insert(live_id.to_owned(), idx);
        self.by_ssrc.insert(ssrc, idx);
        idx
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Stream> {
        self.list.iter()
    }
}

impl Relay {
    /// `AUTH_REQ` (1.3.1).
    pub(super) fn on_auth(&mut self, now: Instant, port: Port, from: SocketAddr, payload: &[u8]) {
        let Some((live_id, code)) = text::parse_auth(payload) else {
            self.counters.auth_malformed += 1;
            return;
        };
        if self.auth_blocked(now, from) {
            self.counters.auth_rate_limited += 1;
            return;
        }
        let accepted = self.credentials.get(live_id).is_some_and(|c| c.verify(code.as_bytes()));
        if !accepted {
            self.counters.auth_refused += 1;
            self.auth_failed(now, from);
            let refused = self.control(now, pt::AUTH_REFUSED, 0, live_id.as_bytes());
            self.send((port, from), refused);
            return;
        }
        self.counters.auth_accepted += 1;
        let live_id = live_id.to_owned();
        let config = &self.config;
        let history = || History::new(config.history_max_packets, config.history_max_age());
        let idx = self.streams.get_or_create(&live_id, &mut self.rng, now, history);
        let stream = self.streams.get_mut(idx);
        let went_live = !stream.live;
        stream.live = true;
        // A publisher re-authenticating from its address carries on with
        // its sequence numbers: duplicate suppression must span the re-auth
        // (1.3.4). A new address is a new publisher: tracking restarts.
        if stream.publisher != from || went_live {
            stream.ingress.new_publisher();
            stream.seq.reset();
            stream.newest_forwarded = None;
        }
        stream.ingress.reauthenticated();
        stream.publisher = from;
        stream.publisher_port = port;
        stream.last_activity = now;
        let ssrc = stream.ssrc;
        if went_live {
            let at = now + self.config.stream_idle_timeout();
            stream.idle_at = Some(at);
            self.timers.schedule(at, TimerKey::StreamIdle(idx));
            self.events.push_back(RelayEvent::StreamLive { live_id: live_id.clone(), ssrc, publisher: from });
        }
        let ok = self.control(now, pt::AUTH_OK, ssrc, live_id.as_bytes());
        self.send((port, from), ok);
        if went_live {
            self.notify_going_live(now, &live_id, ssrc);
        }
    }

    /// Whether `from`'s IP used up its refused auths for this minute.
    fn auth_blocked(&mut self, now: Instant, from: SocketAddr) -> bool {
        let max = self.config.max_auth_failures_per_ip_per_minute;
        self.auth_failures.get(&from.ip()).is_some_and(|&(start, n)| n >= max && now - start < AUTH_FAILURE_WINDOW)
    }

    fn auth_failed(&mut self, now: Instant, from: SocketAddr) {
        if self.auth_failures.len() >= self.config.max_rate_limited_sources {
            self.auth_failures.retain(|_, (start, _)| now - *start < AUTH_FAILURE_WINDOW);
            if self.auth_failures.len() >= self.config.max_rate_limited_sources {
                return;
            }
        }
        let entry = self.auth_failures.entry(from.ip()).or_insert((now, 0));
        if now - entry.0 >= AUTH_FAILURE_WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    /// `TS_DATA` (1.3.3, 1.3.4): accepted only from the bound address of a
    /// live stream with a plain header and no marker, forwarded once per
    /// sequence number.
    pub(super) fn on_ts_data(&mut self, now: Instant, port: Port, from: SocketAddr, header: Header, data: Bytes) {
        if header.marker {
            self.counters.ts_data_bad_header += 1;
            return;
        }
        let idx = match self.streams.by_ssrc.get(&header.ssrc) {
            Some(&idx) if self.streams.list[idx as usize].live => idx,
            found => {
                if found.is_some() {
                    self.counters.ts_data_wrong_source += 1;
                } else {
                    self.counters.ts_data_unknown_ssrc += 1;
                }
                self.send_unknown(now, (port, from), pt::STREAM_UNKNOWN, header.ssrc);
                return;
            }
        };
        let max_missing = self.config.push_nack_max_missing;
        let nack_delay = Duration::from_millis(self.config.push_nack_delay_ms);
        let stream = &mut self.streams.list[idx as usize];
        if stream.publisher != from {
            self.counters.ts_data_wrong_source += 1;
            self.send_unknown(now, (port, from), pt::STREAM_UNKNOWN, header.ssrc);
            return;
        }
        stream.last_activity = now;
        stream.publisher_port = port;
        let seq = header.seq();
        let previous = stream.seq.highest();
        let mut gap = false;
        let mut restarted = false;
        match stream.seq.observe(seq) {
            Verdict::Duplicate => {
                self.counters.ts_data_duplicate += 1;
                return;
            }
            Verdict::Restart => {
                stream.history.clear();
                stream.ingress.clear_missing();
                restarted = true;
            }
            Verdict::New => {
                if stream.ingress.arrived(seq, now) {
                    self.counters.push_recovered += 1;
                }
                let resumed = stream.ingress.take_resumed();
                if let Some(p) = previous.filter(|&p| !resumed && seq.delta(p) > 1) {
                    stream.ingress.gap(p, seq, now, nack_delay, max_missing);
                    gap = true;
                }
            }
        }
        if restarted || stream.newest_forwarded.is_none_or(|n| seq.is_after(n)) {
            stream.newest_forwarded = Some(seq);
        }
        stream.history.insert(seq, now, data.clone());
        let len = data.len() as u64;
        stream.packets_in += 1;
        stream.bytes_in += len;
        stream.rate.record(now, data.len());
        self.counters.ts_data_accepted += 1;
        self.counters.ts_data_forwarded += stream.subscribers.len() as u64;
        for sub in &mut stream.subscribers {
            sub.packets += 1;
            sub.bytes += len;
            self.outbox.push(sub.slot, data.clone(), &mut self.counters);
        }
        if gap {
            self.send_push_nacks(now, idx);
        } else {
            self.finish_tail_if_done(now, idx);
        }
    }

    /// `DELAY_REQ` (1.3.5): the same bytes back with byte 1 set to 12.
    pub(super) fn on_delay_req(&mut self, port: Port, from: SocketAddr, data: &[u8]) {
        self.counters.delay_echoed += 1;
        let mut echo = data.to_vec();
        echo[1] = pt::DELAY_RSP;
        self.send((port, from), Bytes::from(echo));
    }

    /// `STOP_PUSH_REQ` (1.3.6): stops the listed streams bound to the
    /// source address and always answers (after the tail, if it waits).
    pub(super) fn on_stop_push(&mut self, now: Instant, port: Port, from: SocketAddr, header: Header, payload: &[u8]) {
        self.counters.stop_push_requests += 1;
        let ids: Vec<String> = text::split_ids_lossy(payload).into_iter().map(str::to_owned).collect();
        // A new publisher marks the request and names its last sequence
        // number (2.5); that only makes sense for one stream.
        let tail = header.marker && ids.len() == 1;
        let mut waiting = false;
        for live_id in ids {
            let Some(idx) = self.streams.index_of(&live_id) else { continue };
            let stream = self.streams.get_mut(idx);
            if !stream.live || stream.publisher != from {
                continue;
            }
            if tail && self.begin_tail_stop(now, idx, header.seq(), (port, from)) {
                waiting = true;
                continue;
            }
            self.counters.streams_stopped_by_publisher += 1;
            self.stop_stream(now, idx, StopReason::Publisher);
        }
        if !waiting {
            let rsp = self.control(now, pt::STOP_PUSH_RSP, 0, &[]);
            self.send((port, from), rsp);
        }
    }

    /// Stops a live stream: every client listing it gets `STREAM_STOPPED`
    /// and loses it from its list (1.4.9).
    pub(super) fn stop_stream(&mut self, now: Instant, idx: u32, reason: StopReason) {
        let stream = self.streams.get_mut(idx);
        if !stream.live {
            return;
        }
        stream.live = false;
        stream.subscribers.clear();
        let waiting_reply = stream.ingress.stopped();
        if let Some(at) = stream.idle_at.take() {
            self.timers.cancel(at, TimerKey::StreamIdle(idx));
        }
        let live_id = stream.live_id.clone();
        let stopped = Header {
            sequence: stream.newest_forwarded.unwrap_or_default().get(),
            timestamp: self.timestamp(now),
            ..Header::new(pt::STREAM_STOPPED)
        }
        .encode(live_id.as_bytes());
        for (client, dest, uses_extensions) in self.clients.forget_stream(&live_id) {
            self.send(dest, stopped.clone());
            if uses_extensions {
                let repeat = StopRepeat { client, live_id: live_id.clone(), dest, datagram: stopped.clone() };
                self.repeat_stopped(now, repeat);
            }
        }
        if let Some(reply) = waiting_reply {
            let rsp = self.control(now, pt::STOP_PUSH_RSP, 0, &[]);
            self.send(reply, rsp);
        }
        self.events.push_back(RelayEvent::StreamStopped { live_id, reason });
    }

    /// The idle check (1.3.7).
    pub(super) fn on_idle_timer(&mut self, now: Instant, at: Instant, idx: u32) {
        let timeout = self.config.stream_idle_timeout();
        let stream = self.streams.get_mut(idx);
        if stream.idle_at != Some(at) {
            return;
        }
        let due = stream.last_activity + timeout;
        if due <= now {
            stream.idle_at = None;
            self.counters.streams_idle_timeout += 1;
            self.stop_stream(now, idx, StopReason::IdleTimeout);
        } else {
            stream.idle_at = Some(due);
            self.timers.schedule(due, TimerKey::StreamIdle(idx));
        }
    }
}
