//! A publisher running the real push client ([`PushClient`]): auth, then
//! one push of whole TS packets per tick (its payload starts with the
//! push's index, like the legacy publisher's, so the checker can tell
//! packets apart), and at the end `close`. The client's own timers
//! (auth retries, re-auths, probes, close retries) become wakes.

use super::{Action, ClientTimer, Peer, RELAY, send_all, ts_data_payload};
use crate::scenario::ClientPublisherSpec;
use bytes::Bytes;
use rtprelay_core::mpegts::PACKET_LEN;
use rtprelay_core::{Endpoint, Instant, Port, PushClient, PushConfig, PushEvent, WallClock};

/// The wake token of the data tick (the client's own timer uses
/// [`ClientTimer::TOKEN`]).
const TICK: u32 = 1;

/// A push-client publisher.
pub struct ClientPublisher {
    spec: ClientPublisherSpec,
    client: PushClient,
    timer: ClientTimer,
    running: bool,
    ticking: bool,
    /// Pushes accepted so far; the next one's index.
    index: u64,
}

impl ClientPublisher {
    /// A publisher per `spec`, its clock at the relay's.
    pub fn new(spec: ClientPublisherSpec, clock: WallClock) -> Self {
        let client = PushClient::new(PushConfig::default(), RELAY, spec.seed, clock);
        ClientPublisher { spec, client, timer: ClientTimer::default(), running: false, ticking: false, index: 0 }
    }

    /// The call contract: drain transmits, then events, then the deadline.
    fn settle(&mut self, now: Instant, out: &mut Vec<Action>) {
        send_all(&mut self.client, out);
        while let Some(event) = self.client.poll_event() {
            if matches!(event, PushEvent::AuthRsp { ok: true, .. }) && self.running && !self.ticking {
                self.ticking = true;
                out.push(Action::Wake { at: now, token: TICK });
            }
        }
        self.timer.schedule(self.client.poll_timeout(), out);
    }
}

impl Peer for ClientPublisher {
    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.running = true;
        if let Err(e) = self.client.auth(now, &self.spec.live_id, &self.spec.live_code) {
            panic!("scenario stream {} refused by the push client: {e}", self.spec.live_id);
        }
        self.settle(now, out);
    }

    fn stop(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.running {
            return;
        }
        self.running = false;
        self.client.close(now);
        self.settle(now, out);
    }

    fn on_datagram(&mut self, now: Instant, data: &[u8], out: &mut Vec<Action>) {
        self.client.handle_datagram(now, Port::Push, RELAY, Bytes::copy_from_slice(data));
        self.settle(now, out);
    }

    fn on_wake(&mut self, now: Instant, token: u32, out: &mut Vec<Action>) {
        if token == TICK {
            if !self.running {
                return;
            }
            let payload = ts_data_payload(self.index, self.spec.ts_packets.max(1) * PACKET_LEN);
            if self.client.push(now, &self.spec.live_id, &payload).is_ok() {
                self.index += 1;
            }
            if self.spec.packets.is_some_and(|n| self.index >= n) {
                // The last push, then the stop at once, as `rtprelay push` does.
                return self.stop(now, out);
            }
            out.push(Action::Wake { at: now + self.spec.packet_interval, token: TICK });
        } else if self.timer.fired(now, self.client.poll_timeout()) {
            self.client.handle_timeout(now);
        }
        self.settle(now, out);
    }
}
