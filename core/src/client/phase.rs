//! Where a client stands as a whole, and the schedule of its closing
//! handshake: the stop request is sent again every `retry` until the relay
//! answers or `timeout` has passed, so closing never hangs.

use crate::time::Instant;
use std::time::Duration;

/// Open, closing (the stop request sent, its answer awaited), or closed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Phase {
    Open,
    Closing(Closing),
    Closed,
}

impl Phase {
    pub(crate) fn is_open(&self) -> bool {
        matches!(self, Phase::Open)
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(self, Phase::Closed)
    }

    /// When the client next wants `handle_timeout`: `open` says it while
    /// open; closing, the handshake's next timer; closed, never.
    pub(crate) fn wake_at(&self, open: impl FnOnce() -> Option<Instant>) -> Option<Instant> {
        match self {
            Phase::Open => open(),
            Phase::Closing(closing) => Some(closing.wake_at()),
            Phase::Closed => None,
        }
    }
}

/// The closing handshake's two timers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Closing {
    retry: Duration,
    retry_at: Instant,
    deadline: Instant,
}

/// What a closing client has to do at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseStep {
    /// The timeout passed: report the close as done.
    Finish,
    /// Send the stop request again.
    Resend,
    /// Nothing yet.
    Wait,
}

impl Closing {
    /// The stop request was first sent at `now`.
    pub(crate) fn start(now: Instant, retry: Duration, timeout: Duration) -> Self {
        Closing { retry, retry_at: now + retry, deadline: now + timeout }
    }

    /// What is due at `now`; a resend schedules the next one.
    pub(crate) fn step(&mut self, now: Instant) -> CloseStep {
        if self.deadline <= now {
            CloseStep::Finish
        } else if self.retry_at <= now {
            self.retry_at = now + self.retry;
            CloseStep::Resend
        } else {
            CloseStep::Wait
        }
    }

    /// When [`Closing::step`] next has something to do.
    pub(crate) fn wake_at(&self) -> Instant {
        self.retry_at.min(self.deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resends_every_retry_until_the_timeout() {
        let ms = Instant::from_millis;
        let mut c = Closing::start(ms(0), Duration::from_millis(250), Duration::from_millis(600));
        assert_eq!((c.step(ms(100)), c.wake_at()), (CloseStep::Wait, ms(250)));
        assert_eq!((c.step(ms(260)), c.wake_at()), (CloseStep::Resend, ms(510)));
        assert_eq!((c.step(ms(510)), c.wake_at()), (CloseStep::Resend, ms(600)));
        assert_eq!(c.step(ms(600)), CloseStep::Finish);
        assert_eq!(Phase::Closing(c).wake_at(|| None), Some(ms(600)));
        assert_eq!(Phase::Open.wake_at(|| Some(ms(1))), Some(ms(1)));
        assert_eq!(Phase::Closed.wake_at(|| Some(ms(1))), None);
    }
}
