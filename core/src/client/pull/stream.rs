//! One stream the subscriber lists: what the relay last said about it,
//! its reorder buffer and reception statistics, and its stop (the tail it
//! waits for, docs/protocol.md §2.5).

use crate::client::reception::Reception;
use crate::client::reorder::{ReorderBuffer, ReorderConfig};
use crate::ids::{Seq, Ssrc};
use crate::time::Instant;

/// What the relay last said about a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Answer {
    Pending,
    Live(Ssrc),
    NotLive,
}

/// One listed stream.
pub(super) struct PullStream {
    pub(super) live_id: String,
    pub(super) answer: Answer,
    pub(super) buffer: ReorderBuffer,
    /// What the next receiver report says about it.
    pub(super) reception: Reception,
    /// `STREAM_STOPPED` arrived: the last sequence number and how long to
    /// wait for the packets up to it.
    stopping: Option<(Seq, Instant)>,
    /// `StreamStop` was reported: the stream leaves the list.
    pub(super) stopped: bool,
}

impl PullStream {
    /// A stream just listed, not answered yet.
    pub(super) fn new(live_id: &str, reorder: &ReorderConfig) -> Self {
        PullStream {
            live_id: live_id.to_owned(),
            answer: Answer::Pending,
            buffer: ReorderBuffer::new(reorder),
            reception: Reception::default(),
            stopping: None,
            stopped: false,
        }
    }

    /// Its SSRC, while answered live.
    pub(super) fn ssrc(&self) -> Option<Ssrc> {
        match self.answer {
            Answer::Live(ssrc) => Some(ssrc),
            Answer::Pending | Answer::NotLive => None,
        }
    }

    /// Whether a `STREAM_STOPPED` may start its stop: only a stream
    /// answered live, and not stopping already.
    pub(super) fn is_stoppable(&self) -> bool {
        self.ssrc().is_some() && self.stopping.is_none()
    }

    /// The stream ended with `last` at `now`: wait for the packets up to
    /// it until `deadline`.
    pub(super) fn stop_after(&mut self, now: Instant, last: Seq, deadline: Instant) {
        self.buffer.expect_through(now, last);
        self.stopping = Some((last, deadline));
    }

    /// Whether its stop is due at `now`: the tail is in or was waited for.
    pub(super) fn tail_done(&self, now: Instant) -> bool {
        !self.stopped && self.stopping.is_some_and(|(last, deadline)| self.buffer.passed(last) || deadline <= now)
    }

    /// When its buffer or its stop next has something to do.
    pub(super) fn deadlines(&self) -> [Option<Instant>; 2] {
        [self.buffer.poll_timeout(), self.stopping.map(|(_, at)| at)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn only_a_live_stream_stops_and_it_waits_for_its_tail() {
        let mut s = PullStream::new("cam1", &ReorderConfig::default());
        assert!(!s.is_stoppable(), "not answered");
        s.answer = Answer::Live(Ssrc::new(7));
        assert!(s.is_stoppable());
        s.buffer.insert(ms(0), Seq::new(10), Bytes::new());
        s.buffer.handle_timeout(ms(200));
        s.stop_after(ms(200), Seq::new(11), ms(400));
        assert!(!s.is_stoppable(), "stopping already");
        assert!(!s.tail_done(ms(399)), "11 is awaited");
        assert_eq!(s.deadlines()[1], Some(ms(400)));
        assert!(s.tail_done(ms(400)), "waited for");
        s.buffer.insert(ms(300), Seq::new(11), Bytes::new());
        assert!(s.tail_done(ms(300)), "the tail came");
    }
}
