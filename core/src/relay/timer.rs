//! One ordered deadline queue for every timer of the relay.

use super::streams::StreamKey;
use crate::ClientId;
use crate::time::Instant;
use std::collections::BTreeSet;

/// What a deadline is for. Entities remember the deadline they scheduled;
/// a popped entry whose entity moved on is simply ignored (stale).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// A live stream's idle check.
    StreamIdle(StreamKey),
    /// A client's heartbeat check.
    Heartbeat(ClientId),
    /// A client's pending chunked pull request.
    Reassembly(ClientId),
    /// A client's unacknowledged `PULL_RSP` resends.
    PullRspResend(ClientId),
    /// A client's echoed address change waiting for its old address to
    /// fall quiet.
    Move(ClientId),
    /// A stream's push-leg NACK retry.
    PushNack(StreamKey),
    /// A stream's stop waiting for its tail.
    TailStop(StreamKey),
    /// Repeated datagrams due (`STREAM_STOPPED` to extension clients).
    Repeat,
}

/// Deadlines in `(time, key)` order, so ties break the same way every run.
#[derive(Default)]
pub(crate) struct Timers {
    set: BTreeSet<(Instant, TimerKey)>,
}

impl Timers {
    pub(crate) fn schedule(&mut self, at: Instant, key: TimerKey) {
        self.set.insert((at, key));
    }

    pub(crate) fn cancel(&mut self, at: Instant, key: TimerKey) {
        self.set.remove(&(at, key));
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.set.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest entry due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, TimerKey)> {
        match self.set.first() {
            Some(&(at, _)) if at <= now => self.set.pop_first(),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}
