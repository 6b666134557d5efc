//! `Repeats`: the `STREAM_STOPPED` datagrams to send again to extension
//! clients 100 ms and 200 ms after the first (the three of §2.5), in due
//! order, each stamped with the relay's clock when it goes out (§1.1).

use super::ctx::Ctx;
use super::outbox::Dest;
use super::timer::TimerKey;
use crate::time::Instant;
use crate::{ClientId, LiveId};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::Duration;

/// Gap between the repeats of a `STREAM_STOPPED` to extension clients.
const REPEAT_INTERVAL: Duration = Duration::from_millis(100);

/// A `STREAM_STOPPED` to send again to one client.
#[derive(Clone)]
struct StopRepeat {
    client: ClientId,
    live_id: LiveId,
    dest: Dest,
    datagram: Bytes,
}

/// Pending repeats by (due time, insertion number).
#[derive(Default)]
pub(super) struct Repeats {
    queue: BTreeMap<(Instant, u64), StopRepeat>,
    inserted: u64,
}

impl Repeats {
    /// Sends `client`'s `STREAM_STOPPED` again 100 ms and 200 ms from now.
    pub(super) fn schedule(&mut self, ctx: &mut Ctx, client: ClientId, live_id: &LiveId, dest: Dest, datagram: &Bytes) {
        let repeat = StopRepeat { client, live_id: live_id.clone(), dest, datagram: datagram.clone() };
        for k in 1..=2 {
            let at = ctx.now() + REPEAT_INTERVAL * k;
            self.queue.insert((at, self.inserted), repeat.clone());
            self.inserted += 1;
            ctx.schedule(at, TimerKey::Repeat);
        }
    }

    /// Sends the due repeats, except where `relisted(client, live_id)`: a
    /// client that listed the stream again meanwhile, where a late
    /// `STREAM_STOPPED` would end the new subscription.
    pub(super) fn send_due(&mut self, ctx: &mut Ctx, relisted: impl Fn(ClientId, &str) -> bool) {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > ctx.now() {
                break;
            }
            let repeat = entry.remove();
            if !relisted(repeat.client, repeat.live_id.as_str()) {
                let datagram = ctx.restamp(&repeat.datagram);
                ctx.send(repeat.dest, datagram);
            }
        }
    }
}
