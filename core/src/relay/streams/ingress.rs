//! `Ingress` owns one stream's push-leg loss recovery (docs/protocol.md §2.2, 2.5 tail): the relay NACKs a
//! publisher for the gaps in its sequence numbers, estimates the round
//! trip from NACK to retransmission (Karn's rule: only packets NACKed
//! once give samples), stops NACKing a publisher that answered none of its
//! first 20 NACKs (a legacy one), and holds a stop request marked `M = 1`
//! until the tail has arrived or a bounded wait ends.
//!
//! A publisher that announced itself (an auth marked `M = 1`, §2.2) is
//! NACKed every 1.25 × the round trip for as long as the answer can
//! arrive within `push_nack_window_ms` of the gap. Any other one gets what
//! a legacy publisher has always been sent, byte for byte: a missing
//! number is NACKed `push_nack_max_tries` times, every twice the round
//! trip (a reordered or duplicated packet can pass for an answer, so
//! answering proves nothing).

use super::super::ctx::Ctx;
use super::super::outbox::Dest;
use super::super::timer::TimerKey;
use super::StreamKey;
use crate::packet::rtcp::Nack;
use crate::time::Instant;
use crate::{Seq, Ssrc};
use std::time::Duration;

/// NACKs a publisher may leave unanswered before it is taken for a legacy
/// one and no longer NACKed.
const LEGACY_AFTER_NACKS: u32 = 20;
/// Retry interval before any round trip was measured.
const INITIAL_RETRY: Duration = Duration::from_millis(100);

/// How long a missing number is NACKed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Schedule {
    /// A fixed number of tries (a publisher not known to answer).
    Tries(u32),
    /// While an answer a round trip (the second value) after the next try
    /// arrives within the window (the first) of the gap.
    Window(Duration, Duration),
}

/// A sequence number the publisher skipped.
struct Missing {
    seq: Seq,
    /// When its gap appeared.
    since: Instant,
    /// No try left: it is given up at `due_at`.
    exhausted: bool,
    /// NACKs sent for it so far.
    tries: u32,
    /// When the last NACK for it went out (Karn samples).
    last_nack: Instant,
    /// When to NACK it next, or give it up once out of tries.
    due_at: Instant,
}

/// A stop request waiting for its tail (2.5).
struct PendingStop {
    deadline: Instant,
    reply: Dest,
}

/// One stream's push-leg recovery state.
#[derive(Default)]
pub(super) struct Ingress {
    missing: Vec<Missing>,
    /// NACK packets sent to the current publisher.
    nacks_sent: u32,
    /// The publisher authenticated since its last packet: the next jump
    /// is a resumption point, not a gap (tracking restarts on re-auth).
    resumed: bool,
    /// Whether the current publisher ever answered one.
    answered: bool,
    /// Whether it announced itself with an auth marked `M = 1` (§2.2): it
    /// answers NACKs and carries on with its numbers across a re-auth.
    announced: bool,
    /// The first sequence number it announced, until its first packet.
    start: Option<Seq>,
    /// Smoothed NACK → retransmission round trip.
    srtt: Option<Duration>,
    /// Packets that arrived after a NACK.
    recovered: u64,
    /// The scheduled NACK retry.
    next_at: Option<Instant>,
    pending_stop: Option<PendingStop>,
}

impl Ingress {
    /// A new publisher address: its NACK record starts afresh.
    pub(super) fn new_publisher(&mut self) {
        self.nacks_sent = 0;
        self.answered = false;
        self.announced = false;
        self.start = None;
        self.missing.clear();
    }

    /// An auth marked `M = 1` (§2.2): the publisher answers NACKs, so it
    /// gets the window's schedule at once, and its re-auths do not restart
    /// the tracking; `start`, for a new publisher, is where its data begins.
    pub(super) fn announced(&mut self, start: Option<Seq>) {
        self.announced = true;
        self.resumed = false;
        if start.is_some() {
            self.start = start;
        }
    }

    /// The announced first sequence number, if no packet arrived since.
    pub(super) fn take_start(&mut self) -> Option<Seq> {
        self.start.take()
    }

    /// Forgets the gaps (sequence tracking restarted).
    pub(super) fn clear_missing(&mut self) {
        self.missing.clear();
    }

    /// A re-auth: forget the gaps and do not take the next jump for one;
    /// unless the publisher announced itself (its plain auth comes with a
    /// marked copy, §2.2).
    pub(super) fn reauthenticated(&mut self) {
        if !self.announced {
            self.missing.clear();
            self.resumed = true;
        }
    }

    /// Whether the packet after a jump is the first since a re-auth (and
    /// clears that state).
    pub(super) fn take_resumed(&mut self) -> bool {
        std::mem::take(&mut self.resumed)
    }

    /// The stream stopped: forget the gaps; returns where a waiting stop
    /// request wants its answer.
    pub(super) fn stopped(&mut self) -> Option<Dest> {
        self.missing.clear();
        self.pending_stop.take().map(|p| p.reply)
    }

    pub(super) fn rtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Packets that arrived after a NACK.
    pub(super) fn recovered(&self) -> u64 {
        self.recovered
    }

    fn legacy(&self) -> bool {
        self.nacks_sent >= LEGACY_AFTER_NACKS && !self.answered && !self.announced
    }

    /// Records the numbers strictly between `prev` and `seq` as missing
    /// (once each), keeping at most `max` (the newest), first NACKed
    /// `delay` from now (a reordered packet usually arrives before that).
    pub(super) fn gap(&mut self, prev: Seq, seq: Seq, now: Instant, delay: Duration, max: usize) {
        let count = seq.since(prev).wrapping_sub(1);
        let skip = usize::from(count).saturating_sub(max) as u16;
        for k in skip..count {
            let seq = prev.add(1 + k);
            if !self.missing.iter().any(|m| m.seq == seq) {
                self.missing.push(Missing {
                    seq,
                    since: now,
                    exhausted: false,
                    tries: 0,
                    last_nack: now,
                    due_at: now + delay,
                });
            }
        }
        if self.missing.len() > max {
            let excess = self.missing.len() - max;
            self.missing.drain(..excess);
        }
    }

    /// A number arrived: if it was missing it is no longer; returns whether
    /// it had been NACKed (recovered).
    pub(super) fn arrived(&mut self, seq: Seq, now: Instant) -> bool {
        let Some(i) = self.missing.iter().position(|m| m.seq == seq) else { return false };
        let m = self.missing.swap_remove(i);
        if m.tries == 0 {
            return false;
        }
        self.answered = true;
        self.recovered += 1;
        if m.tries == 1 {
            let sample = now.saturating_duration_since(m.last_nack);
            self.srtt = Some(match self.srtt {
                Some(srtt) => (srtt * 7 + sample) / 8,
                None => sample,
            });
        }
        true
    }

    /// The retry interval and how long a number is NACKed, for a
    /// publisher that announced itself (`window`) or not (`max_tries`).
    fn schedule(&self, min: Duration, max_tries: u32, window: Duration) -> (Duration, Schedule) {
        if self.announced {
            let rtt = self.srtt.unwrap_or(INITIAL_RETRY / 2);
            return ((rtt * 5 / 4).max(min), Schedule::Window(window, rtt));
        }
        (self.srtt.map_or(INITIAL_RETRY, |rtt| (rtt * 2).max(min)), Schedule::Tries(max_tries))
    }

    /// The numbers to NACK now, as wire values for the NACK (the next try
    /// `retry` later); abandons
    /// those due with no try left (their count is the second value).
    /// Each entry keeps its own deadline, so due-ness and
    /// [`Self::next_deadline`] can never disagree about an instant.
    fn due(&mut self, now: Instant, retry: Duration, schedule: Schedule) -> (Vec<u16>, u64) {
        let before = self.missing.len();
        self.missing.retain(|m| !m.exhausted || now < m.due_at);
        let abandoned = (before - self.missing.len()) as u64;
        let mut due = Vec::new();
        for m in self.missing.iter_mut().filter(|m| now >= m.due_at) {
            m.tries += 1;
            m.last_nack = now;
            m.due_at = now + retry;
            m.exhausted = match schedule {
                Schedule::Tries(max) => m.tries >= max,
                Schedule::Window(window, rtt) => m.due_at + rtt > m.since + window,
            };
            due.push(m.seq.get());
        }
        (due, abandoned)
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.missing.iter().map(|m| m.due_at).min()
    }

    /// Sends the publisher at `publisher` a NACK for what is due on stream
    /// `ssrc` and keeps the retry timer on the earliest deadline.
    pub(super) fn send_nacks(&mut self, ctx: &mut Ctx, key: StreamKey, ssrc: Ssrc, publisher: Dest) {
        let config = ctx.config();
        let min = Duration::from_millis(config.push_nack_retry_min_ms);
        let window = Duration::from_millis(config.push_nack_window_ms);
        let (retry, schedule) = self.schedule(min, config.push_nack_max_tries, window);
        if self.legacy() {
            self.missing.clear();
        }
        let (due, abandoned) = self.due(ctx.now(), retry, schedule);
        ctx.counters().push_nack_abandoned += abandoned;
        if !due.is_empty() {
            self.nacks_sent += 1;
            if self.legacy() {
                ctx.counters().push_legacy_publishers += 1;
            }
            ctx.counters().push_nacks_sent += 1;
            // The sender SSRC field is bytes 4-7: the relay's clock (§1.1, §2.2).
            let nack = Nack::from_sequences(ctx.timestamp(), ssrc.get(), &due).encode();
            let copies = if self.announced { ctx.config().push_nack_copies.max(1) } else { 1 };
            for _ in 1..copies {
                ctx.send(publisher, nack.clone());
            }
            ctx.send(publisher, nack);
        }
        let next = self.next_deadline();
        if next != self.next_at {
            if let Some(old) = std::mem::replace(&mut self.next_at, next) {
                ctx.cancel(old, TimerKey::PushNack(key));
            }
            if let Some(next) = next {
                ctx.schedule(next, TimerKey::PushNack(key));
            }
        }
    }

    /// Whether the NACK retry due `at` is the scheduled one (and forgets
    /// it: the caller sends).
    pub(super) fn take_retry(&mut self, at: Instant) -> bool {
        if self.next_at != Some(at) {
            return false;
        }
        self.next_at = None;
        true
    }

    /// A stop marked `M = 1` naming `last`, with `newest` the newest number
    /// received: records the missing tail and waits for it, answering
    /// `reply` when done. False if the stream can stop now (a legacy
    /// publisher, or nothing missing).
    pub(super) fn hold_stop(&mut self, ctx: &mut Ctx, key: StreamKey, newest: Seq, last: Seq, reply: Dest) -> bool {
        let max = ctx.config().push_nack_max_missing;
        let wait = Duration::from_millis(ctx.config().push_tail_wait_ms);
        if self.legacy() {
            return false;
        }
        if last.is_after(newest) {
            self.gap(newest, last.next(), ctx.now(), Duration::ZERO, max);
        }
        if self.missing.is_empty() {
            return false;
        }
        let deadline = ctx.now() + wait;
        self.pending_stop = Some(PendingStop { deadline, reply });
        ctx.schedule(deadline, TimerKey::TailStop(key));
        ctx.counters().tail_stops_delayed += 1;
        true
    }

    /// A stop waits for its tail and nothing is missing any more.
    pub(super) fn tail_complete(&self) -> bool {
        self.pending_stop.is_some() && self.missing.is_empty()
    }

    /// When a waiting stop gives up on its tail.
    pub(super) fn tail_deadline(&self) -> Option<Instant> {
        self.pending_stop.as_ref().map(|p| p.deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE: Schedule = Schedule::Tries(3);

    #[test]
    fn gaps_are_bounded_and_keep_the_newest() {
        let mut i = Ingress::default();
        let t = Instant::ZERO;
        i.gap(Seq::new(65530), Seq::new(4), t, Duration::ZERO, 3);
        assert_eq!(i.missing.iter().map(|m| m.seq.get()).collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[test]
    fn karns_rule_only_samples_packets_nacked_once() {
        let t = Instant::from_millis(1000);
        let mut i = Ingress::default();
        i.gap(Seq::new(0), Seq::new(3), t, Duration::ZERO, 10);
        let (due, _) = i.due(t, INITIAL_RETRY, THREE);
        assert_eq!(due, [1, 2]);
        let later = t + INITIAL_RETRY;
        assert_eq!(i.due(later - Duration::from_millis(1), INITIAL_RETRY, THREE).0, Vec::<u16>::new());
        i.arrived(Seq::new(1), t + Duration::from_millis(40));
        assert_eq!(i.rtt(), Some(Duration::from_millis(40)));
        assert_eq!(i.due(later, INITIAL_RETRY, THREE).0, [2], "2 is NACKed again");
        assert!(i.arrived(Seq::new(2), later + Duration::from_millis(5)));
        assert_eq!(i.rtt(), Some(Duration::from_millis(40)), "an ambiguous sample is ignored");
        assert_eq!(i.recovered, 2);
    }

    #[test]
    fn a_missing_number_is_abandoned_after_its_tries() {
        let t = Instant::ZERO;
        let mut i = Ingress::default();
        i.gap(Seq::new(0), Seq::new(2), t, Duration::ZERO, 10);
        for k in 0..3 {
            assert_eq!(i.due(t + INITIAL_RETRY * k, INITIAL_RETRY, THREE), (vec![1], 0));
        }
        assert_eq!(i.due(t + INITIAL_RETRY * 3, INITIAL_RETRY, THREE), (vec![], 1));
        assert!(i.missing.is_empty());
    }

    #[test]
    fn an_announced_publisher_is_nacked_while_an_answer_fits_in_the_window() {
        let t = Instant::ZERO;
        let ms = Duration::from_millis;
        let mut i = Ingress::default();
        let min = ms(20);
        assert_eq!(i.schedule(min, 3, ms(200)), (INITIAL_RETRY, THREE), "no round trip yet");
        i.gap(Seq::new(0), Seq::new(2), t, Duration::ZERO, 10);
        i.due(t, INITIAL_RETRY, THREE);
        i.arrived(Seq::new(1), t + ms(30));
        assert_eq!(i.schedule(min, 3, ms(200)), (ms(60), THREE), "an answer is no announcement");
        i.announced(None);
        assert_eq!(
            i.schedule(min, 3, ms(200)),
            (ms(37) + Duration::from_micros(500), Schedule::Window(ms(200), ms(30)))
        );
        let (retry, window) = (ms(40), Schedule::Window(ms(200), ms(30)));
        i.gap(Seq::new(2), Seq::new(4), t + ms(100), Duration::ZERO, 10);
        let tries: Vec<u64> = (100..=400)
            .map(|k| (k, i.due(t + ms(k), retry, window)))
            .filter(|(_, (due, _))| !due.is_empty())
            .map(|(k, _)| k)
            .collect();
        assert_eq!(tries, [100, 140, 180, 220, 260], "the next try at 300 could not be answered by 300");
        assert!(i.missing.is_empty(), "given up");
    }

    #[test]
    fn a_try_whose_answer_lands_exactly_at_the_window_edge_is_made() {
        let ms = Duration::from_millis;
        let mut i = Ingress::default();
        let (retry, window) = (ms(40), Schedule::Window(ms(200), ms(40)));
        i.gap(Seq::new(0), Seq::new(2), Instant::ZERO, Duration::ZERO, 10);
        let tries: Vec<u64> = (0..=300)
            .map(|k| (k, i.due(Instant::from_millis(k), retry, window)))
            .filter(|(_, (due, _))| !due.is_empty())
            .map(|(k, _)| k)
            .collect();
        // The try at 160 is answered by 200 exactly: still in time; one at
        // 200 would not be.
        assert_eq!(tries, [0, 40, 80, 120, 160]);
    }
}
