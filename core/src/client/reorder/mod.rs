//! The receiver's reorder buffer (docs/protocol.md §2.4): packets of one stream
//! go in in arrival order and come out in sequence order, across the
//! 16-bit wraparound, each at most one latency window after it arrived.
//!
//! # The rule at the window's edge
//!
//! * A packet is **held** at most `window` after its arrival. When that
//!   time has come (`now >= arrival + window`, checked before anything else
//!   at every call), the packet is emitted and every sequence number before
//!   it that is still missing is declared **lost**. So a missing number is
//!   declared lost exactly `window` after the first packet behind it
//!   arrived, the moment the gap became visible.
//! * A packet whose predecessors have all been emitted or declared lost is
//!   emitted at once, with the run of held packets that follows it.
//! * At the start (and after a restart) nothing is emitted until the first
//!   packet's window has passed, so packets that overtook the first one are
//!   not mistaken for late: the head is the lowest number seen by then.
//!   The `head_nacks` numbers below the first packet are NACKed meanwhile
//!   (the first packets may be the lost ones); those still missing when
//!   the head settles are forgotten, not counted lost.
//! * A packet whose number was already emitted is a **duplicate** (so is a
//!   second copy of a held one); one whose slot was declared lost, or that
//!   is more than 1024 numbers behind the head, is **late**. Both are
//!   dropped.
//! * A number more than 3000 away from the head (either way) is a publisher
//!   restart, as in RFC 3550 A.1, once the next packet confirms it (the
//!   number right after it). Then the buffer is flushed and starts again;
//!   an unconfirmed jump is dropped and counted late.
//! * Each missing number is NACKed once the gap is older than the reorder
//!   delay (`nack_delay`, or 1.25 × how late reordered packets were seen to
//!   arrive), so that plain reordering asks for nothing; then again every
//!   1.25 × the round trip to the relay ([`ReorderBuffer::set_rtt`];
//!   `nack_interval` until one is known) while it is still missing and an answer can still arrive
//!   before its slot passes, at most `max_nacks` times. A NACKed packet
//!   that arrives in time counts as **recovered**.

mod nacks;
mod recent;

use crate::ids::Seq;
use crate::time::Instant;
use bytes::Bytes;
use nacks::Nacks;
use recent::Recent;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// A jump larger than this is a restart, not a gap (RFC 3550 A.1).
const MAX_JUMP: i64 = 3000;
/// Extended sequence numbers start here, so they never go below zero.
const BASE: u64 = 1 << 32;

/// Tunables of the reorder buffer and its NACKs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReorderConfig {
    /// The latency window: the longest a packet is held waiting for the
    /// ones before it (§2.4). 200 ms.
    pub window_ms: u64,
    /// Wait before the first NACK for a gap, so that packets merely
    /// reordered by the network are not asked for again. 10 ms.
    pub nack_delay_ms: u64,
    /// Wait between two NACKs for the same missing packet until the round
    /// trip to the relay is known (then 1.25 × that round trip). 50 ms.
    pub nack_interval_ms: u64,
    /// Copies of each NACK datagram sent (the relay answers each packet
    /// once): a burst of loss on the sparse way to the relay spans several
    /// datagrams whatever their spacing. 5.
    pub nack_copies: u32,
    /// Numbers below the first packet that are NACKed as missing (the
    /// first packets of a stream or a join may be the ones lost, §2.5
    /// head); the relay resends none from before the subscriber's join,
    /// and those still missing when the first window passes are forgotten,
    /// not counted lost. 16.
    pub head_nacks: u16,
    /// Most NACKs per missing packet; 0 turns NACKs off. 16: the window,
    /// not this count, ends the retries (a NACK is sent while its answer
    /// can still arrive before the packet's slot passes).
    pub max_nacks: u32,
}

impl Default for ReorderConfig {
    fn default() -> Self {
        ReorderConfig {
            window_ms: 200,
            nack_delay_ms: 10,
            nack_interval_ms: 50,
            nack_copies: 5,
            head_nacks: 16,
            max_nacks: 16,
        }
    }
}

/// Counters of one stream's buffer, with the meanings of §2.4.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReorderStats {
    /// Distinct packets accepted into the buffer.
    pub received: u64,
    /// Packets handed to the owner, in order.
    pub emitted: u64,
    /// Sequence numbers skipped because their packet did not arrive in time.
    pub lost: u64,
    /// Packets dropped because their slot had passed (or an unconfirmed
    /// sequence jump).
    pub late: u64,
    /// Packets dropped because that number was already held or emitted.
    pub duplicate: u64,
    /// NACKed packets that arrived in time.
    pub recovered: u64,
    /// Sequence numbers asked for in NACKs (each try counts).
    pub nacked: u64,
    /// Publisher restarts (sequence jumps over 3000) followed.
    pub restarts: u64,
}

/// What became of an arriving packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Held or emitted.
    Accepted,
    /// Accepted, and it had been NACKed.
    Recovered,
    /// Dropped: its slot had passed.
    Late,
    /// Dropped: already held or emitted.
    Duplicate,
    /// Put aside: a sequence jump that the next packet must confirm.
    Probation,
}

/// One stream's reorder buffer. Call [`ReorderBuffer::handle_timeout`] at
/// [`ReorderBuffer::poll_timeout`], send what [`ReorderBuffer::poll_nacks`]
/// returns, and drain [`ReorderBuffer::pop`] after every call.
#[derive(Debug)]
pub struct ReorderBuffer {
    window: Duration,
    /// Numbers below the first packet NACKed.
    head_nacks: u16,
    /// Extended sequence number of the head: the next one to emit.
    next: Option<u64>,
    /// Whether the head is settled (the first window has passed).
    started: bool,
    held: BTreeMap<u64, Bytes>,
    /// Held packets in arrival order (entries already emitted are skipped).
    arrivals: VecDeque<(Instant, u64)>,
    /// The numbers waited for, and their NACKs.
    missing: Nacks,
    /// What became of the numbers just behind the head.
    recent: Recent,
    /// A sequence jump waiting for confirmation.
    candidate: Option<(Seq, Bytes)>,
    ready: VecDeque<(Seq, Bytes)>,
    stats: ReorderStats,
}

impl ReorderBuffer {
    /// An empty buffer.
    #[must_use]
    pub fn new(config: &ReorderConfig) -> Self {
        ReorderBuffer {
            window: Duration::from_millis(config.window_ms),
            head_nacks: config.head_nacks,
            next: None,
            started: false,
            held: BTreeMap::new(),
            arrivals: VecDeque::new(),
            missing: Nacks::new(config),
            recent: Recent::default(),
            candidate: None,
            ready: VecDeque::new(),
            stats: ReorderStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> ReorderStats {
        self.stats
    }

    /// The round trip to the relay is `rtt` (from delay probes): NACK
    /// retries are paced by it and stop when an answer could no longer
    /// arrive in time.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.missing.set_rtt(rtt);
    }

    /// The next packet to hand over, in sequence order.
    pub fn pop(&mut self) -> Option<(Seq, Bytes)> {
        self.ready.pop_front()
    }

    /// The extended number nearest to the head.
    fn extend(&self, next: u64, seq: Seq) -> u64 {
        let delta = i64::from(seq.delta(Seq::new(next as u16)));
        next.wrapping_add_signed(delta)
    }

    /// A packet arrived at `now`.
    pub fn insert(&mut self, now: Instant, seq: Seq, data: Bytes) -> Arrival {
        self.expire(now);
        let Some(next) = self.next else {
            let ext = BASE + u64::from(seq.get());
            self.next = Some(ext);
            self.add_missing(now, ext - u64::from(self.head_nacks)..ext);
            return self.accept(now, ext, data);
        };
        let ext = self.extend(next, seq);
        let delta = ext as i64 - next as i64;
        if delta.abs() > MAX_JUMP {
            return self.jump(now, seq, data);
        }
        if self.candidate.take().is_some() {
            self.stats.late += 1;
        }
        if delta < 0 && !self.started {
            // Before the head settles, a lower number becomes the head,
            // unless the held span would exceed a restart jump.
            if self.highest(next) - ext > MAX_JUMP as u64 {
                self.stats.late += 1;
                return Arrival::Late;
            }
            self.add_missing(now, ext + 1..next);
            self.next = Some(ext);
            return self.accept(now, ext, data);
        }
        if delta < 0 {
            let verdict = if self.recent.was_emitted(next, ext) { Arrival::Duplicate } else { Arrival::Late };
            match verdict {
                Arrival::Duplicate => self.stats.duplicate += 1,
                _ => self.stats.late += 1,
            }
            return verdict;
        }
        if self.held.contains_key(&ext) {
            self.stats.duplicate += 1;
            return Arrival::Duplicate;
        }
        let highest = self.highest(next);
        if ext > highest + 1 {
            self.add_missing(now, highest + 1..ext);
        }
        self.accept(now, ext, data)
    }

    /// The highest number held or emitted.
    fn highest(&self, next: u64) -> u64 {
        self.held.last_key_value().map_or(next - 1, |(&k, _)| k.max(next - 1))
    }

    fn add_missing(&mut self, now: Instant, range: std::ops::Range<u64>) {
        for ext in range {
            if !self.held.contains_key(&ext) {
                self.missing.add(now, ext);
            }
        }
    }

    fn accept(&mut self, now: Instant, ext: u64, data: Bytes) -> Arrival {
        let recovered = self.missing.arrived(now, ext);
        self.held.insert(ext, data);
        self.arrivals.push_back((now, ext));
        self.stats.received += 1;
        if self.started {
            self.release_run();
        }
        if recovered {
            self.stats.recovered += 1;
            Arrival::Recovered
        } else {
            Arrival::Accepted
        }
    }

    /// A number far from the head: a restart once the next packet follows it.
    fn jump(&mut self, now: Instant, seq: Seq, data: Bytes) -> Arrival {
        match self.candidate.take() {
            Some((first, first_data)) if first.next() == seq => {
                self.flush();
                self.stats.restarts += 1;
                self.next = None;
                self.started = false;
                self.recent = Recent::default();
                self.insert(now, first, first_data);
                self.insert(now, seq, data)
            }
            previous => {
                if previous.is_some() {
                    self.stats.late += 1;
                }
                self.candidate = Some((seq, data));
                Arrival::Probation
            }
        }
    }

    fn emit(&mut self, ext: u64, data: Bytes) {
        self.stats.emitted += 1;
        self.recent.mark(ext, true);
        self.ready.push_back((Seq::new(ext as u16), data));
    }

    /// Emits the head and the held packets that follow it without a gap.
    fn release_run(&mut self) {
        let Some(mut next) = self.next else { return };
        while let Some(entry) = self.held.first_entry().filter(|e| *e.key() == next) {
            let data = entry.remove();
            self.emit(next, data);
            next += 1;
        }
        self.next = Some(next);
        self.trim_arrivals();
    }

    /// Emits or declares lost every number up to and including `last`.
    fn release_through(&mut self, last: u64) {
        let Some(mut next) = self.next else { return };
        while next <= last {
            if let Some(entry) = self.held.first_entry().filter(|e| *e.key() == next) {
                let data = entry.remove();
                self.emit(next, data);
            } else {
                self.stats.lost += 1;
                self.missing.forget(next);
                self.recent.mark(next, false);
            }
            next += 1;
        }
        self.next = Some(next);
        self.trim_arrivals();
    }

    fn trim_arrivals(&mut self) {
        while self.arrivals.front().is_some_and(|(_, ext)| !self.held.contains_key(ext)) {
            self.arrivals.pop_front();
        }
    }

    /// Releases the packets whose window has passed (see the module docs).
    fn expire(&mut self, now: Instant) {
        let mut cut = None;
        while let Some(&(at, ext)) = self.arrivals.front() {
            if at + self.window > now {
                break;
            }
            self.arrivals.pop_front();
            if self.held.contains_key(&ext) {
                cut = cut.max(Some(ext));
            }
        }
        if let Some(cut) = cut {
            if !self.started {
                // The head is settled: what was NACKed below it is not waited for.
                self.missing.forget_below(self.next.unwrap_or_default());
            }
            self.started = true;
            self.release_through(cut);
            self.release_run();
        }
    }

    /// Time has passed: releases what is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
    }

    /// When [`ReorderBuffer::handle_timeout`] or
    /// [`ReorderBuffer::poll_nacks`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let release = self.arrivals.front().map(|(at, _)| *at + self.window);
        let nack = self.missing.deadline();
        super::earliest(release, nack)
    }

    /// The missing sequence numbers due for a NACK at `now`, in order.
    pub fn poll_nacks(&mut self, now: Instant) -> Vec<Seq> {
        let due: Vec<Seq> = self.missing.poll(now).into_iter().map(|ext| Seq::new(ext as u16)).collect();
        self.stats.nacked += due.len() as u64;
        due
    }

    /// Whether every number up to `seq` has been emitted or declared lost
    /// (also true when `seq` is unrelated: nothing received yet, or more
    /// than 3000 away from the head).
    pub fn passed(&self, seq: Seq) -> bool {
        let Some(next) = self.next else { return true };
        let delta = self.extend(next, seq) as i64 - next as i64;
        !(0..=MAX_JUMP).contains(&delta)
    }

    /// The stream ended with `seq` (§2.5): numbers after the
    /// highest received, up to `seq`, become missing (and are NACKed).
    /// Returns whether there is anything left to wait for.
    pub fn expect_through(&mut self, now: Instant, seq: Seq) -> bool {
        if self.passed(seq) {
            return false;
        }
        let Some(next) = self.next else { return false };
        let last = self.extend(next, seq);
        let highest = self.highest(next);
        self.add_missing(now, highest + 1..last + 1);
        true
    }

    /// Emits everything held, in order, declaring the gaps (and numbers
    /// expected through [`ReorderBuffer::expect_through`]) lost.
    pub fn flush(&mut self) {
        if self.candidate.take().is_some() {
            self.stats.late += 1;
        }
        let held = self.held.last_key_value().map(|(&k, _)| k);
        let missing = self.missing.last();
        if let Some(last) = held.max(missing) {
            self.release_through(last);
        }
        self.started = true;
        self.arrivals.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn drain(b: &mut ReorderBuffer) -> Vec<u16> {
        std::iter::from_fn(|| b.pop()).map(|(s, _)| s.get()).collect()
    }

    #[test]
    fn the_first_window_settles_the_head() {
        let mut b = ReorderBuffer::new(&ReorderConfig { head_nacks: 0, ..ReorderConfig::default() });
        b.insert(ms(0), Seq::new(11), Bytes::new());
        b.insert(ms(5), Seq::new(10), Bytes::new());
        assert!(drain(&mut b).is_empty(), "nothing before the first window passed");
        assert_eq!(b.poll_timeout(), Some(ms(200)), "no gap, so no NACK: only the first packet's window");
        b.handle_timeout(ms(200));
        assert_eq!(drain(&mut b), [10, 11]);
        b.insert(ms(201), Seq::new(12), Bytes::new());
        assert_eq!(drain(&mut b), [12], "in order after the start: at once");
    }

    #[test]
    fn a_known_round_trip_paces_the_nack_retries() {
        let nacks_at = |rtt: Option<u64>| {
            let mut b = ReorderBuffer::new(&ReorderConfig { head_nacks: 1, ..ReorderConfig::default() });
            if let Some(rtt) = rtt {
                b.set_rtt(Duration::from_millis(rtt));
            }
            b.insert(ms(0), Seq::new(100), Bytes::new());
            (0..=20).map(|k| ms(k * 10)).filter(|&t| !b.poll_nacks(t).is_empty()).collect::<Vec<_>>()
        };
        assert_eq!(nacks_at(None)[..2], [ms(10), ms(60)], "no round trip known: every nack_interval (50 ms)");
        let paced = nacks_at(Some(80));
        assert_eq!(paced[..2], [ms(10), ms(110)], "1.25 x an 80 ms round trip: {paced:?}");
    }

    #[test]
    fn the_numbers_below_the_first_packet_are_nacked_until_the_head_settles() {
        let mut b = ReorderBuffer::new(&ReorderConfig { head_nacks: 3, ..ReorderConfig::default() });
        b.insert(ms(0), Seq::new(100), Bytes::new());
        let nacked: Vec<u16> = b.poll_nacks(ms(10)).into_iter().map(Seq::get).collect();
        assert_eq!(nacked, [97, 98, 99]);
        assert_eq!(b.insert(ms(40), Seq::new(99), Bytes::new()), Arrival::Recovered);
        b.handle_timeout(ms(200));
        assert_eq!(drain(&mut b), [99, 100]);
        let s = b.stats();
        assert_eq!((s.lost, s.recovered), (0, 1), "97 and 98 were never sent: not lost");
        assert_eq!(b.poll_timeout(), None, "nor waited for");
    }
}
