//! The subscriber's standing with the relay: its client id (asked for
//! with backoff, docs/protocol.md §1.4.10, again after `CLIENT_UNKNOWN`,
//! §2.5) and the heartbeat that keeps it (§1.4.7); and its current pull
//! request, resent with backoff until every id is answered (§1.4.3).

use crate::client::backoff::Backoff;
use crate::ids::ClientId;
use crate::time::Instant;
use std::collections::BTreeSet;
use std::time::Duration;

/// Where the client's registration stands.
#[derive(Clone, Copy, Debug)]
enum State {
    /// `CLIENT_ID_REQ` sent, not answered.
    Waiting(Backoff),
    /// The relay issued `id`.
    Registered { id: ClientId, heartbeat_at: Instant },
}

/// The client id and its timers.
#[derive(Clone, Copy, Debug)]
pub(super) struct Registration {
    state: State,
    retry_initial: Duration,
    retry_max: Duration,
    heartbeat: Duration,
}

/// What a registration has to send at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Due {
    /// Nothing.
    Nothing,
    /// `CLIENT_ID_REQ` again.
    Retry,
    /// A `HEARTBEAT` for this id.
    Heartbeat(ClientId),
}

impl Registration {
    /// Waiting for an id, the first `CLIENT_ID_REQ` sent at `now`.
    pub(super) fn start(now: Instant, retry_initial: Duration, retry_max: Duration, heartbeat: Duration) -> Self {
        let state = State::Waiting(Backoff::start(now, retry_initial, retry_max));
        Registration { state, retry_initial, retry_max, heartbeat }
    }

    /// The client id, once the relay issued one.
    pub(super) fn id(&self) -> Option<ClientId> {
        match self.state {
            State::Registered { id, .. } => Some(id),
            State::Waiting(_) => None,
        }
    }

    pub(super) fn is_waiting(&self) -> bool {
        matches!(self.state, State::Waiting(_))
    }

    /// The relay issued `id` at `now`.
    pub(super) fn register(&mut self, now: Instant, id: ClientId) {
        self.state = State::Registered { id, heartbeat_at: now + self.heartbeat };
    }

    /// The relay forgot the id: waiting again, a new `CLIENT_ID_REQ` sent
    /// at `now`.
    pub(super) fn restart(&mut self, now: Instant) {
        self.state = State::Waiting(Backoff::start(now, self.retry_initial, self.retry_max));
    }

    /// What is due at `now`; the next one is scheduled.
    pub(super) fn due(&mut self, now: Instant) -> Due {
        match &mut self.state {
            State::Waiting(backoff) if backoff.is_due(now) => {
                backoff.retry(now);
                Due::Retry
            }
            State::Registered { id, heartbeat_at } if *heartbeat_at <= now => {
                *heartbeat_at = now + self.heartbeat;
                Due::Heartbeat(*id)
            }
            _ => Due::Nothing,
        }
    }

    /// When [`Registration::due`] next has something to do.
    pub(super) fn deadline(&self) -> Instant {
        match self.state {
            State::Waiting(backoff) => backoff.at(),
            State::Registered { heartbeat_at, .. } => heartbeat_at,
        }
    }
}

/// The current pull request: unanswered ids, and its resend schedule once
/// sent.
pub(super) struct Request {
    pub(super) unanswered: BTreeSet<String>,
    pub(super) answered: bool,
    retry: Option<Backoff>,
}

impl Request {
    /// No request: nothing to send or wait for.
    pub(super) fn none() -> Self {
        Request { unanswered: BTreeSet::new(), answered: true, retry: None }
    }

    /// A request for `ids`, not sent yet.
    pub(super) fn new(ids: impl IntoIterator<Item = String>) -> Self {
        Request { unanswered: ids.into_iter().collect(), answered: false, retry: None }
    }

    /// Whether every id was answered.
    pub(super) fn done(&self) -> bool {
        self.answered && self.unanswered.is_empty()
    }

    /// The request was first sent at `now`: resends follow with backoff.
    pub(super) fn sent(&mut self, now: Instant, initial: Duration, max: Duration) {
        self.retry = Some(Backoff::start(now, initial, max));
    }

    /// Whether a resend is due at `now`; if so, the next one is scheduled
    /// and the caller sends it.
    pub(super) fn resend_due(&mut self, now: Instant) -> bool {
        let done = self.done();
        let Some(retry) = self.retry.as_mut().filter(|r| !done && r.is_due(now)) else { return false };
        retry.retry(now);
        true
    }

    /// When the next resend is due, while one is.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.retry.filter(|_| !self.done()).map(|r| r.at())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    const fn d(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn retries_until_registered_then_heartbeats() {
        let mut r = Registration::start(ms(0), d(500), d(8_000), d(1_000));
        assert_eq!((r.id(), r.deadline()), (None, ms(500)));
        assert_eq!(r.due(ms(499)), Due::Nothing);
        assert_eq!(r.due(ms(500)), Due::Retry);
        assert_eq!(r.deadline(), ms(1_500), "the wait doubled");
        let id = ClientId::new(7);
        r.register(ms(600), id);
        assert_eq!((r.id(), r.is_waiting(), r.deadline()), (Some(id), false, ms(1_600)));
        assert_eq!(r.due(ms(1_600)), Due::Heartbeat(id));
        assert_eq!(r.deadline(), ms(2_600));
        r.restart(ms(2_000));
        assert_eq!((r.id(), r.deadline()), (None, ms(2_500)), "a fresh backoff");
    }

    #[test]
    fn a_request_is_resent_until_every_id_is_answered() {
        let mut q = Request::new(["a".to_owned(), "b".to_owned()]);
        assert_eq!(q.deadline(), None, "not sent yet");
        q.sent(ms(0), d(1_000), d(8_000));
        assert!(!q.resend_due(ms(999)));
        assert!(q.resend_due(ms(1_000)));
        assert_eq!(q.deadline(), Some(ms(3_000)));
        q.answered = true;
        q.unanswered.clear();
        assert!(q.done() && !q.resend_due(ms(9_000)));
        assert_eq!(q.deadline(), None);
        assert!(Request::none().done());
    }
}
