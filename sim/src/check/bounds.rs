//! Bounds: the relay's state sizes stay within its configuration and the
//! scenario, and its counters agree with what it was seen to send.

use super::{Breach, Checker, Invariant, breach};
use rtprelay_core::{Counters, StateSizes};

impl Checker {
    /// After a step: every state size within its bound, and the transmit
    /// counters equal to what the checker saw.
    pub(super) fn check_bounds(&self, sizes: StateSizes, counters: &Counters) -> Result<(), Breach> {
        let c = &self.config;
        let ids = counters.client_ids_issued as usize;
        let bounds = [
            ("clients", sizes.clients, c.max_clients.min(ids)),
            ("streams", sizes.streams, self.credentials),
            ("pending_reassemblies", sizes.pending_reassemblies, c.max_pending_reassemblies.min(sizes.clients)),
            ("queued_datagrams after draining", sizes.queued_datagrams, 0),
            ("destinations after draining (pinned only)", sizes.destinations, sizes.clients),
            ("rate_limited_sources", sizes.rate_limited_sources, c.max_rate_limited_sources),
            ("unbound_id_sources", sizes.unbound_id_sources, c.max_rate_limited_sources),
            // At most one live or stale deadline per timer kind and owner:
            // per client id heartbeat, reassembly, resend and move; per
            // stream idle, push NACK and tail stop; one for repeats.
            ("timers", sizes.timers, 4 * ids + 3 * sizes.streams + 1),
        ];
        for (name, value, bound) in bounds {
            if value > bound {
                return breach(Invariant::StateBounds, format!("{name} = {value} > {bound} ({sizes:?})"));
            }
        }
        if counters.tx_datagrams != self.seen_tx_datagrams + counters.tx_queue_overflow {
            return breach(
                Invariant::CountersDisagree,
                format!(
                    "tx_datagrams {} but {} seen and {} overflowed",
                    counters.tx_datagrams, self.seen_tx_datagrams, counters.tx_queue_overflow
                ),
            );
        }
        // Every copy of TS_DATA is a fan-out, a join replay (2.5) or a
        // retransmission (2.1).
        let counted = counters.ts_data_forwarded + counters.join_replayed + counters.retransmitted;
        if counters.tx_queue_overflow == 0 && counted != self.seen_ts_forwards {
            return breach(
                Invariant::CountersDisagree,
                format!(
                    "ts_data_forwarded {} + join_replayed {} + retransmitted {} but {} seen",
                    counters.ts_data_forwarded, counters.join_replayed, counters.retransmitted, self.seen_ts_forwards
                ),
            );
        }
        Ok(())
    }
}
