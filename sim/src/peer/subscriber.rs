//! The legacy subscriber (docs/protocol.md §1.4): `CLIENT_ID_REQ` until answered,
//! a chunked `PULL_REQ` (again after a second without answer or on
//! `PULL_REQ_LOST`), an `SSRC_ACK` of the ids that had an SSRC for every
//! `PULL_RSP`, a `HEARTBEAT` every second, and at the end `STOP_PULL_REQ`.

use super::{Action, Peer, legacy_type, message, payload, ssrc_field};
use crate::scenario::SubscriberSpec;
use rtprelay_core::Instant;
use rtprelay_core::packet::{pt, text};
use std::time::Duration;

const ID_RETRY: u32 = 0;
const PULL_RETRY: u32 = 1;
const HEARTBEAT: u32 = 2;
const STOP: u32 = 3;

const RETRY: Duration = Duration::from_secs(1);
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
const STOP_RETRY: Duration = Duration::from_millis(500);
const STOP_TRIES: u32 = 3;

/// A scripted legacy subscriber.
pub struct Subscriber {
    spec: SubscriberSpec,
    running: bool,
    client_id: Option<u32>,
    /// A `PULL_RSP` arrived since the last `PULL_REQ`.
    answered: bool,
    stop_tries: u32,
    stop_confirmed: bool,
}

impl Subscriber {
    /// A subscriber pulling `spec.live_ids`.
    pub fn new(spec: SubscriberSpec) -> Self {
        Subscriber { spec, running: false, client_id: None, answered: false, stop_tries: 0, stop_confirmed: false }
    }

    fn pull(&mut self, id: u32, now: Instant, out: &mut Vec<Action>) {
        self.answered = false;
        let list = text::join_ids(&self.spec.live_ids, '#');
        for chunk in text::chunk_pull_request(list.as_bytes()) {
            out.push(Action::Send(message(pt::PULL_REQ, chunk.last, chunk.index, id, chunk.payload)));
        }
        out.push(Action::Wake { at: now + RETRY, token: PULL_RETRY });
    }

    fn stop_request(&mut self, id: u32, now: Instant, out: &mut Vec<Action>) {
        self.stop_tries += 1;
        out.push(Action::Send(message(pt::STOP_PULL_REQ, false, 0, id, &[])));
        out.push(Action::Wake { at: now + STOP_RETRY, token: STOP });
    }
}

impl Peer for Subscriber {
    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.running = true;
        out.push(Action::Send(message(pt::CLIENT_ID_REQ, false, 0, 0, &[])));
        out.push(Action::Wake { at: now + RETRY, token: ID_RETRY });
    }

    fn stop(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.running = false;
        if let Some(id) = self.client_id {
            self.stop_request(id, now, out);
        }
    }

    fn on_datagram(&mut self, now: Instant, data: &[u8], out: &mut Vec<Action>) {
        let Some(kind) = legacy_type(data) else { return };
        match (kind, self.client_id) {
            (pt::CLIENT_ID_RSP, None) if self.running => {
                let id = ssrc_field(data);
                self.client_id = Some(id);
                self.pull(id, now, out);
                out.push(Action::Wake { at: now + HEARTBEAT_INTERVAL, token: HEARTBEAT });
            }
            (pt::PULL_RSP, Some(id)) if self.running => {
                self.answered = true;
                let live: Vec<String> = text::parse_pull_rsp(payload(data))
                    .into_iter()
                    .filter(|(_, s)| s.is_some())
                    .map(|(l, _)| l)
                    .collect();
                if !live.is_empty() {
                    let ack = text::join_ids(&live, ';');
                    out.push(Action::Send(message(pt::SSRC_ACK, false, 0, id, ack.as_bytes())));
                }
            }
            (pt::PULL_REQ_LOST, Some(id)) if self.running => self.pull(id, now, out),
            (pt::STOP_PULL_RSP, _) => self.stop_confirmed = true,
            _ => {}
        }
    }

    fn on_wake(&mut self, now: Instant, token: u32, out: &mut Vec<Action>) {
        match (token, self.client_id) {
            (ID_RETRY, None) if self.running => {
                out.push(Action::Send(message(pt::CLIENT_ID_REQ, false, 0, 0, &[])));
                out.push(Action::Wake { at: now + RETRY, token: ID_RETRY });
            }
            (PULL_RETRY, Some(id)) if self.running && !self.answered => self.pull(id, now, out),
            (HEARTBEAT, Some(id)) if self.running => {
                out.push(Action::Send(message(pt::HEARTBEAT, false, 0, id, &[])));
                out.push(Action::Wake { at: now + HEARTBEAT_INTERVAL, token: HEARTBEAT });
            }
            (STOP, Some(id)) if !self.running && !self.stop_confirmed && self.stop_tries < STOP_TRIES => {
                self.stop_request(id, now, out);
            }
            _ => {}
        }
    }
}
