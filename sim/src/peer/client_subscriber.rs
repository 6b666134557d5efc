//! A subscriber running the real pull client ([`PullClient`]): created at
//! its start op (the client asks for its id at once), pulls its list,
//! records every event, and closes at its stop op. The client's timers
//! become wakes; its [`PullEvent`]s go to the checker and its reorder
//! counters to the report.

use super::{Action, ClientTimer, Peer, RELAY, send_all};
use crate::scenario::ClientSubscriberSpec;
use bytes::Bytes;
use rtprelay_core::ReorderStats;
use rtprelay_core::{Endpoint, Instant, Port, PullClient, PullConfig, PullEvent, WallClock};
use std::collections::BTreeMap;

/// A pull-client subscriber.
pub struct ClientSubscriber {
    spec: ClientSubscriberSpec,
    clock: WallClock,
    client: Option<PullClient>,
    timer: ClientTimer,
    /// The events since the checker last took them (and those it took
    /// then, dropped at its next turn), with when they were emitted.
    events: Vec<(Instant, PullEvent)>,
    /// Events already handed to the checker.
    seen: usize,
    /// Reorder counters of buffers that are gone (a stream stopped or
    /// changed SSRC, which starts a new buffer).
    past: ReorderStats,
    /// The current counters of each stream that went live.
    current: BTreeMap<String, ReorderStats>,
}

impl ClientSubscriber {
    /// A subscriber per `spec`; `clock` stamps its packets.
    pub fn new(spec: ClientSubscriberSpec, clock: WallClock) -> Self {
        ClientSubscriber {
            spec,
            clock,
            client: None,
            timer: ClientTimer::default(),
            events: Vec::new(),
            seen: 0,
            past: ReorderStats::default(),
            current: BTreeMap::new(),
        }
    }

    /// The call contract: drain transmits, then events, then the deadline;
    /// then fold the reorder counters.
    fn settle(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(client) = self.client.as_mut() else { return };
        send_all(client, out);
        while let Some(event) = client.poll_event() {
            if let PullEvent::PullStreamReqSuccess { live_ids } = &event {
                for id in live_ids {
                    self.current.entry(id.clone()).or_default();
                }
            }
            self.events.push((now, event));
        }
        self.timer.schedule(client.poll_timeout(), out);
        for (id, current) in &mut self.current {
            let now_stats = client.stats(id).unwrap_or_default();
            if went_back(current, &now_stats) {
                add(&mut self.past, current);
            }
            *current = now_stats;
        }
    }
}

/// Whether `new` counts less than `old` anywhere: a new buffer.
fn went_back(old: &ReorderStats, new: &ReorderStats) -> bool {
    new.received < old.received
        || new.emitted < old.emitted
        || new.lost < old.lost
        || new.late < old.late
        || new.duplicate < old.duplicate
        || new.recovered < old.recovered
        || new.nacked < old.nacked
}

fn add(total: &mut ReorderStats, s: &ReorderStats) {
    total.received += s.received;
    total.emitted += s.emitted;
    total.lost += s.lost;
    total.late += s.late;
    total.duplicate += s.duplicate;
    total.recovered += s.recovered;
    total.nacked += s.nacked;
    total.restarts += s.restarts;
}

impl Peer for ClientSubscriber {
    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        let mut client = PullClient::new(PullConfig::default(), RELAY, self.spec.seed, self.clock, now);
        if let Err(e) = client.pull(now, &self.spec.live_ids) {
            panic!("scenario list refused by the pull client: {e}");
        }
        self.client = Some(client);
        self.settle(now, out);
    }

    fn stop(&mut self, now: Instant, out: &mut Vec<Action>) {
        if let Some(client) = self.client.as_mut() {
            client.close(now);
        }
        self.settle(now, out);
    }

    fn on_datagram(&mut self, now: Instant, data: &[u8], out: &mut Vec<Action>) {
        if let Some(client) = self.client.as_mut() {
            client.handle_datagram(now, Port::Pull, RELAY, Bytes::copy_from_slice(data));
        }
        self.settle(now, out);
    }

    fn on_wake(&mut self, now: Instant, _token: u32, out: &mut Vec<Action>) {
        if let Some(client) = self.client.as_mut()
            && self.timer.fired(now, client.poll_timeout())
        {
            client.handle_timeout(now);
        }
        self.settle(now, out);
    }

    fn new_events(&mut self) -> &[(Instant, PullEvent)] {
        self.events.drain(..self.seen);
        self.seen = self.events.len();
        &self.events
    }

    fn reorder_stats(&self) -> Option<ReorderStats> {
        let mut total = self.past;
        for s in self.current.values() {
            add(&mut total, s);
        }
        Some(total)
    }
}
