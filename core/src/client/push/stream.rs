//! One stream of the publisher: its credentials, where its auth stands
//! (retried with backoff, renewed while live, docs/protocol.md §1.3.1),
//! the SSRC the relay gave it, its sequence numbers and its history.

use crate::client::backoff::Backoff;
use crate::client::history::History;
use crate::ids::{Seq, Ssrc};
use crate::resend::ResendGuard;
use crate::time::Instant;
use std::time::Duration;

/// Where a stream's auth stands.
#[derive(Clone, Copy, Debug)]
pub(super) enum Auth {
    /// Sent, not answered: tried again with backoff.
    Pending(Backoff),
    /// Accepted; authenticated again at `reauth_at`.
    Live { reauth_at: Instant },
    /// Refused: nothing more until the owner calls `auth` again.
    Refused,
}

/// One stream of the publisher.
pub(super) struct PushStream {
    pub(super) live_id: String,
    pub(super) live_code: String,
    pub(super) auth: Auth,
    /// The SSRC the relay last gave; kept while a re-auth is pending.
    pub(super) ssrc: Option<Ssrc>,
    next_seq: Seq,
    /// The sequence number of the last datagram sent.
    last_seq: Option<Seq>,
    /// Trailing bytes of a push that did not make a whole TS packet.
    pub(super) remainder: Vec<u8>,
    pub(super) history: History,
    /// What was resent lately (a repeated NACK is answered once).
    pub(super) resent: ResendGuard,
}

impl PushStream {
    /// A stream whose first auth was just sent, numbering its data from
    /// `first_seq`.
    pub(super) fn new(live_id: &str, live_code: &str, auth: Backoff, first_seq: Seq, history: usize) -> Self {
        PushStream {
            live_id: live_id.to_owned(),
            live_code: live_code.to_owned(),
            auth: Auth::Pending(auth),
            ssrc: None,
            next_seq: first_seq,
            last_seq: None,
            remainder: Vec::new(),
            history: History::new(history),
            resent: ResendGuard::default(),
        }
    }

    /// The sequence number of the next datagram, taken.
    pub(super) fn take_seq(&mut self) -> Seq {
        let seq = self.next_seq;
        self.next_seq = seq.next();
        self.last_seq = Some(seq);
        seq
    }

    /// The sequence number the next datagram will have.
    pub(super) fn next_seq(&self) -> Seq {
        self.next_seq
    }

    /// The sequence number of the last datagram sent, if any.
    pub(super) fn last_seq(&self) -> Option<Seq> {
        self.last_seq
    }

    pub(super) fn is_live(&self) -> bool {
        matches!(self.auth, Auth::Live { .. })
    }

    pub(super) fn is_refused(&self) -> bool {
        matches!(self.auth, Auth::Refused)
    }

    /// When its auth timer (a retry or the renewal) is due.
    pub(super) fn auth_deadline(&self) -> Option<Instant> {
        match self.auth {
            Auth::Pending(backoff) => Some(backoff.at()),
            Auth::Live { reauth_at } => Some(reauth_at),
            Auth::Refused => None,
        }
    }

    /// Whether an auth is due at `now` (a retry or a renewal); if so, the
    /// next one is scheduled and the caller sends it.
    pub(super) fn auth_due(&mut self, now: Instant, reauth_interval: Duration) -> bool {
        match &mut self.auth {
            Auth::Pending(backoff) if backoff.is_due(now) => {
                backoff.retry(now);
                true
            }
            Auth::Live { reauth_at } if *reauth_at <= now => {
                *reauth_at = now + reauth_interval;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn sequence_numbers_wrap_and_the_last_one_is_kept() {
        let backoff = Backoff::start(ms(0), Duration::from_millis(500), Duration::from_secs(8));
        let mut s = PushStream::new("cam1", "code", backoff, Seq::new(65535), 4);
        assert_eq!(s.last_seq(), None);
        assert_eq!((s.take_seq(), s.take_seq()), (Seq::new(65535), Seq::new(0)));
        assert_eq!(s.last_seq(), Some(Seq::new(0)));
    }

    #[test]
    fn auth_is_retried_then_renewed_while_live() {
        let backoff = Backoff::start(ms(0), Duration::from_millis(500), Duration::from_secs(8));
        let mut s = PushStream::new("cam1", "code", backoff, Seq::new(1), 4);
        let renew = Duration::from_secs(5);
        assert_eq!(s.auth_deadline(), Some(ms(500)));
        assert!(!s.auth_due(ms(499), renew));
        assert!(s.auth_due(ms(500), renew));
        assert_eq!(s.auth_deadline(), Some(ms(1_500)), "the wait doubled");
        s.auth = Auth::Live { reauth_at: ms(2_000) };
        assert!(s.is_live() && s.auth_due(ms(2_000), renew));
        assert_eq!(s.auth_deadline(), Some(ms(7_000)));
        s.auth = Auth::Refused;
        assert!(s.is_refused() && !s.auth_due(ms(9_000), renew));
        assert_eq!(s.auth_deadline(), None);
    }
}
