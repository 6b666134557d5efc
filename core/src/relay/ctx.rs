//! `Ctx`: what a noun works through during one call into the relay. It
//! owns nothing: the time of the call, and the config, wall clock, seeded
//! RNG, counters, outbox, timers and event queue borrowed from the
//! [`Relay`](super::Relay)'s own fields for that call.

use super::RelayEvent;
use super::counters::Counters;
use super::outbox::{Dest, Outbox, SlotId};
use super::timer::{TimerKey, Timers};
use crate::config::Config;
use crate::packet::pt::PayloadType;
use crate::packet::rtp::Header;
use crate::rng::Rng;
use crate::time::{Instant, WallClock};
use bytes::Bytes;
use std::collections::VecDeque;

/// The relay's shared machinery for one `handle_*` call.
pub(super) struct Ctx<'a> {
    now: Instant,
    config: &'a Config,
    clock: WallClock,
    rng: &'a mut Rng,
    counters: &'a mut Counters,
    outbox: &'a mut Outbox,
    timers: &'a mut Timers,
    events: &'a mut VecDeque<RelayEvent>,
}

/// Borrows a [`Ctx`] for `$now` from the relay's fields, leaving its nouns
/// (streams, clients, limiters) free to be borrowed beside it.
macro_rules! ctx {
    ($relay:expr, $now:expr) => {
        $crate::relay::ctx::Ctx::new(
            $now,
            &$relay.config,
            $relay.clock,
            &mut $relay.rng,
            &mut $relay.counters,
            &mut $relay.outbox,
            &mut $relay.timers,
            &mut $relay.events,
        )
    };
}

impl<'a> Ctx<'a> {
    #[allow(clippy::too_many_arguments)] // one borrow per field, taken by `ctx!`
    pub(super) fn new(
        now: Instant,
        config: &'a Config,
        clock: WallClock,
        rng: &'a mut Rng,
        counters: &'a mut Counters,
        outbox: &'a mut Outbox,
        timers: &'a mut Timers,
        events: &'a mut VecDeque<RelayEvent>,
    ) -> Self {
        Ctx { now, config, clock, rng, counters, outbox, timers, events }
    }

    /// The time of this call.
    pub(super) fn now(&self) -> Instant {
        self.now
    }

    /// The relay's limits and timeouts.
    pub(super) fn config(&self) -> &'a Config {
        self.config
    }

    /// The seeded RNG: every draw changes what later ones return.
    pub(super) fn rng(&mut self) -> &mut Rng {
        self.rng
    }

    pub(super) fn counters(&mut self) -> &mut Counters {
        self.counters
    }

    /// Queues a datagram for any destination.
    pub(super) fn send(&mut self, dest: Dest, datagram: Bytes) {
        self.outbox.send(dest, datagram, self.counters);
    }

    /// Queues a datagram on a pinned destination (the fan-out hot path).
    #[inline]
    pub(super) fn push(&mut self, slot: SlotId, datagram: Bytes) {
        self.outbox.push(slot, datagram, self.counters);
    }

    /// Pins the queue of `dest` for a client; pair with [`Self::unpin`].
    pub(super) fn pin(&mut self, dest: Dest) -> SlotId {
        self.outbox.pin(dest)
    }

    pub(super) fn unpin(&mut self, slot: SlotId) {
        self.outbox.unpin(slot);
    }

    pub(super) fn schedule(&mut self, at: Instant, key: TimerKey) {
        self.timers.schedule(at, key);
    }

    pub(super) fn cancel(&mut self, at: Instant, key: TimerKey) {
        self.timers.cancel(at, key);
    }

    /// Reports an event to the driver.
    pub(super) fn emit(&mut self, event: RelayEvent) {
        self.events.push_back(event);
    }

    /// The relay's RTP timestamp now (§1.1).
    pub(super) fn timestamp(&self) -> u32 {
        self.clock.rtp_timestamp(self.now)
    }

    /// A copy of a relay packet built earlier, its timestamp (bytes 4-7)
    /// the relay's clock now (§1.1).
    pub(super) fn restamp(&self, datagram: &Bytes) -> Bytes {
        let mut bytes = datagram.to_vec();
        if let Some(field) = bytes.get_mut(4..8) {
            field.copy_from_slice(&self.timestamp().to_be_bytes());
        }
        Bytes::from(bytes)
    }

    /// A relay-originated control packet: sequence 0, the relay's
    /// timestamp, the given SSRC (§1.2).
    pub(super) fn control(&self, kind: PayloadType, ssrc: u32, payload: &[u8]) -> Bytes {
        Header { timestamp: self.timestamp(), ssrc, ..Header::new(kind.number()) }.encode(payload)
    }
}
