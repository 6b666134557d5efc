//! `Clients` owns every pull client: the registry by id and address, the
//! per-IP counts, who lists which stream, each client's pinned queue, its
//! heartbeat (§1.4.7) and its leaving (§1.4.8). Its seams have their own
//! files: `requests.rs` (pull requests, `PULL_RSP` and its resends, acks,
//! §1.4.2-§1.4.6) and `trust.rs` (which messages count, address moves and
//! their challenges, §1.4.10, §2.3).

mod requests;
mod trust;

use super::command::{ClientInfo, LossReport, SubscriptionInfo};
use super::ctx::Ctx;
use super::outbox::{Dest, SlotId};
use super::streams::Streams;
use super::timer::TimerKey;
use super::{ClientBinding, LeaveReason, RelayEvent};
use crate::endpoint::Port;
use crate::packet::pt::PayloadType;
use crate::rng::{Map, Rng};
use crate::time::Instant;
use crate::{ClientId, LiveId, Ssrc};
use requests::{Reassembly, Subscription};
use std::collections::{BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use trust::{Challenge, PendingMove};

/// A message named a client id its source may not speak for (§1.4.10):
/// the router answers `CLIENT_UNKNOWN` (§2.5).
pub(super) struct Untrusted;

/// A pull client, bound to one address.
struct Client {
    port: Port,
    addr: SocketAddr,
    slot: SlotId,
    /// The address proved it receives (2.3).
    verified: bool,
    last_heartbeat: Instant,
    /// The latest datagram of any kind from its bound address: an address
    /// change waits until it is `move_quiet_ms` old (2.3).
    last_heard: Instant,
    heartbeat_at: Instant,
    subscriptions: Vec<Subscription>,
    pending: Option<Reassembly>,
    /// When a pull request of too many chunks was last answered
    /// `PULL_REQ_LOST`: its further chunks are dropped unanswered.
    too_long_at: Option<Instant>,
    resend_at: Option<Instant>,
    challenges: Vec<Challenge>,
    moving: Option<PendingMove>,
    /// Sent a NACK, an RR or an echoed challenge: gets `STREAM_STOPPED`
    /// three times (2.5 tail).
    uses_extensions: bool,
}

impl Client {
    fn dest(&self) -> Dest {
        (self.port, self.addr)
    }
}

/// Every pull client, by id and address, and who lists which stream.
pub(super) struct Clients {
    by_id: Map<ClientId, Client>,
    by_addr: Map<SocketAddr, ClientId>,
    per_ip: Map<IpAddr, usize>,
    /// Clients listing each stream id (any text a `PULL_REQ` names), live
    /// or not.
    interest: Map<String, BTreeSet<ClientId>>,
    /// Clients with a pull request being reassembled.
    pending: usize,
    /// Clients not yet verified, oldest first, to evict from a full table
    /// (entries of clients verified or gone since are skipped).
    unverified: VecDeque<ClientId>,
}

impl Clients {
    /// Draws the hash keys of the id, address, per-IP and interest maps, in
    /// that order.
    pub(super) fn new(rng: &mut Rng) -> Self {
        Clients {
            by_id: rng.map(),
            by_addr: rng.map(),
            per_ip: rng.map(),
            interest: rng.map(),
            pending: 0,
            unverified: VecDeque::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn pending_reassemblies(&self) -> usize {
        self.pending
    }

    fn client_mut(&mut self, id: ClientId) -> &mut Client {
        self.by_id.get_mut(&id).expect("client checked by the caller")
    }

    fn unlist(&mut self, live_id: &str, id: ClientId) {
        if let Some(set) = self.interest.get_mut(live_id) {
            set.remove(&id);
            if set.is_empty() {
                self.interest.remove(live_id);
            }
        }
    }

    /// Whether client `id` lists `live_id`.
    pub(super) fn lists(&self, id: ClientId, live_id: &str) -> bool {
        self.interest.get(live_id).is_some_and(|ids| ids.contains(&id))
    }

    /// Removes a stopped stream from every list; returns each client that
    /// listed it, where to send `STREAM_STOPPED`, and whether it uses
    /// extensions, in client-id order.
    pub(super) fn forget_stream(&mut self, live_id: &LiveId) -> Vec<(ClientId, Dest, bool)> {
        let ids = self.interest.remove(live_id.as_str()).unwrap_or_default();
        ids.iter()
            .filter_map(|id| {
                let c = self.by_id.get_mut(id)?;
                c.subscriptions.retain(|s| s.live_id() != live_id.as_str());
                Some((*id, c.dest(), c.uses_extensions))
            })
            .collect()
    }

    /// `CLIENT_ID_REQ` (§1.4.1): the id already issued to this address, or
    /// a new one.
    pub(super) fn on_client_id_req(&mut self, ctx: &mut Ctx, streams: &mut Streams, port: Port, from: SocketAddr) {
        let id = if let Some(&id) = self.by_addr.get(&from) {
            self.set_port(ctx, streams, id, port);
            id
        } else {
            if !self.room(ctx, streams, from) {
                return;
            }
            let by_id = &self.by_id;
            let id = ClientId::new(ctx.rng().assignable_id(|id| by_id.contains_key(&ClientId::new(id))));
            ctx.counters().client_ids_issued += 1;
            self.create(ctx, port, from, id, false);
            id
        };
        let rsp = ctx.control(PayloadType::ClientIdRsp, id.get(), &[]);
        ctx.send((port, from), rsp);
    }

    /// Whether the limits admit one more client at `addr`. A full table
    /// first evicts its oldest client that never proved liveness: filling
    /// it then takes clients that heartbeat, not a burst of
    /// `CLIENT_ID_REQ`s (spoofed or not).
    fn room(&mut self, ctx: &mut Ctx, streams: &mut Streams, addr: SocketAddr) -> bool {
        if self.per_ip.get(&addr.ip()).copied().unwrap_or(0) >= ctx.config().max_clients_per_ip {
            ctx.counters().client_limit_per_ip += 1;
            return false;
        }
        if self.len() >= ctx.config().max_clients {
            if let Some(id) = self.oldest_unverified() {
                ctx.counters().client_evicted_unverified += 1;
                self.remove(ctx, streams, id, LeaveReason::Evicted);
            } else {
                ctx.counters().client_limit_global += 1;
                return false;
            }
        }
        true
    }

    /// Pops the oldest client still unverified, skipping stale entries.
    fn oldest_unverified(&mut self) -> Option<ClientId> {
        while let Some(id) = self.unverified.pop_front() {
            if self.by_id.get(&id).is_some_and(|c| !c.verified) {
                return Some(id);
            }
        }
        None
    }

    /// A datagram from `from`: the client bound there was heard now.
    pub(super) fn heard(&mut self, now: Instant, from: SocketAddr) {
        if let Some(client) = self.by_addr.get(&from).and_then(|id| self.by_id.get_mut(id)) {
            client.last_heard = now;
        }
    }

    /// Whether client `id` is bound to `from` (§1.4.10).
    pub(super) fn bound_to(&self, id: ClientId, from: SocketAddr) -> bool {
        self.by_id.get(&id).is_some_and(|c| c.addr == from)
    }

    fn create(&mut self, ctx: &mut Ctx, port: Port, addr: SocketAddr, id: ClientId, verified: bool) {
        let slot = ctx.pin((port, addr));
        let heartbeat_at = ctx.now() + ctx.config().client_heartbeat_timeout();
        ctx.schedule(heartbeat_at, TimerKey::Heartbeat(id));
        let client = Client {
            port,
            addr,
            slot,
            verified,
            last_heartbeat: ctx.now(),
            last_heard: ctx.now(),
            heartbeat_at,
            subscriptions: Vec::new(),
            pending: None,
            too_long_at: None,
            resend_at: None,
            challenges: Vec::new(),
            moving: None,
            uses_extensions: false,
        };
        self.by_id.insert(id, client);
        if !verified {
            self.unverified.push_back(id);
            // Entries of clients verified or gone since: dropped before
            // they outnumber the clients.
            if self.unverified.len() > 2 * self.by_id.len() + 64 {
                let by_id = &self.by_id;
                self.unverified.retain(|id| by_id.get(id).is_some_and(|c| !c.verified));
            }
        }
        self.by_addr.insert(addr, id);
        *self.per_ip.entry(addr.ip()).or_insert(0) += 1;
        ctx.emit(RelayEvent::ClientJoined { address: addr });
    }

    fn remove(&mut self, ctx: &mut Ctx, streams: &mut Streams, id: ClientId, reason: LeaveReason) {
        let Some(client) = self.by_id.remove(&id) else { return };
        if self.by_addr.get(&client.addr) == Some(&id) {
            self.by_addr.remove(&client.addr);
        }
        self.release_ip(client.addr.ip());
        if client.pending.is_some() {
            self.pending -= 1;
        }
        for sub in &client.subscriptions {
            self.unsubscribe(streams, id, sub);
        }
        ctx.unpin(client.slot);
        ctx.emit(RelayEvent::ClientLeft { address: client.addr, reason });
    }

    fn release_ip(&mut self, ip: IpAddr) {
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    fn unsubscribe(&mut self, streams: &mut Streams, id: ClientId, sub: &Subscription) {
        self.unlist(sub.live_id(), id);
        if sub.acked() {
            streams.leave(sub.live_id(), id);
        }
    }

    /// Points the client's data at `(port, addr)`: re-pins its queue and
    /// retargets its fan-out entries.
    fn set_dest(&mut self, ctx: &mut Ctx, streams: &mut Streams, id: ClientId, port: Port, addr: SocketAddr) {
        let slot = ctx.pin((port, addr));
        let client = self.client_mut(id);
        let old = std::mem::replace(&mut client.slot, slot);
        client.port = port;
        client.addr = addr;
        for sub in client.subscriptions.iter().filter(|s| s.acked()) {
            streams.retarget(sub.live_id(), id, slot);
        }
        ctx.unpin(old);
    }

    /// Replies and data go out from the socket the client last used (§1.1).
    fn set_port(&mut self, ctx: &mut Ctx, streams: &mut Streams, id: ClientId, port: Port) {
        let client = &self.by_id[&id];
        if client.port != port {
            let addr = client.addr;
            self.set_dest(ctx, streams, id, port, addr);
        }
    }

    /// `STOP_PULL_REQ` naming `id` from `from` (§1.4.8): forgets the client
    /// if trusted. The router always answers.
    pub(super) fn on_stop_pull(&mut self, ctx: &mut Ctx, streams: &mut Streams, from: SocketAddr, id: ClientId) {
        let legacy_trust = ctx.config().legacy_trust;
        if self.by_id.get(&id).is_some_and(|c| c.addr == from || legacy_trust) {
            ctx.counters().client_stopped += 1;
            self.remove(ctx, streams, id, LeaveReason::Stopped);
        } else {
            ctx.counters().client_untrusted += 1;
        }
    }

    /// The heartbeat check (§1.4.7).
    pub(super) fn on_heartbeat_timer(&mut self, ctx: &mut Ctx, streams: &mut Streams, at: Instant, id: ClientId) {
        let timeout = ctx.config().client_heartbeat_timeout();
        let Some(client) = self.by_id.get_mut(&id) else { return };
        if client.heartbeat_at != at {
            return;
        }
        let due = client.last_heartbeat + timeout;
        if due <= ctx.now() {
            ctx.counters().client_heartbeat_timeout += 1;
            self.remove(ctx, streams, id, LeaveReason::HeartbeatTimeout);
        } else {
            client.heartbeat_at = due;
            ctx.schedule(due, TimerKey::Heartbeat(id));
        }
    }

    /// RTCP naming client `id` counts only from its bound address (§2.1,
    /// §2.3); such a client uses extensions.
    pub(super) fn accept_feedback(&mut self, from: SocketAddr, id: ClientId) -> bool {
        match self.by_id.get_mut(&id) {
            Some(c) if c.addr == from => {
                c.uses_extensions = true;
                true
            }
            _ => false,
        }
    }

    /// A `packageLoss` report naming client `id` (§3.2): each figure is
    /// kept on the client's subscription to its stream; ids it does not
    /// list, and an id the relay does not know, are ignored, so what is
    /// kept stays within the clients' lists.
    pub(super) fn report_loss(&mut self, id: ClientId, reports: &[(String, LossReport)]) {
        let Some(client) = self.by_id.get_mut(&id) else { return };
        for (live_id, report) in reports {
            if let Some(sub) = client.subscriptions.iter_mut().find(|s| s.live_id() == live_id) {
                sub.report_loss(report.sanitized());
            }
        }
    }

    /// The address of client `id`.
    pub(super) fn address(&self, id: ClientId) -> SocketAddr {
        self.by_id[&id].addr
    }

    /// Every client with its id, sorted by id (see [`ClientBinding`]). An
    /// acknowledged stream was live, so `streams` knows its id.
    pub(super) fn bindings(&self, streams: &Streams) -> Vec<ClientBinding> {
        let mut out: Vec<ClientBinding> = self
            .by_id
            .iter()
            .map(|(&id, c)| ClientBinding {
                id,
                port: c.port,
                address: c.addr,
                verified: c.verified,
                acked: c
                    .subscriptions
                    .iter()
                    .filter(|s| s.acked())
                    .filter_map(|s| streams.id(s.live_id()))
                    .cloned()
                    .collect(),
            })
            .collect();
        out.sort_by_key(|b| b.id);
        out
    }

    /// Every client for the operator, sorted by address (§3.1).
    pub(super) fn infos(&self, streams: &Streams) -> Vec<ClientInfo> {
        let mut infos: Vec<ClientInfo> = self
            .by_id
            .iter()
            .map(|(&id, c)| {
                let mut info = ClientInfo {
                    address: c.addr,
                    verified: c.verified,
                    subscriptions: Vec::new(),
                    packets_sent: 0,
                    bytes_sent: 0,
                    retransmitted: 0,
                };
                for sub in &c.subscriptions {
                    let (mut entry, figures): (SubscriptionInfo, _) =
                        streams.subscription_info(sub.live_id(), id, sub.acked());
                    entry.package_loss = sub.loss();
                    info.subscriptions.push(entry);
                    if let Some([packets, bytes, retransmitted]) = figures {
                        info.packets_sent += packets;
                        info.bytes_sent += bytes;
                        info.retransmitted += retransmitted;
                    }
                }
                info
            })
            .collect();
        infos.sort_by_key(|i| i.address);
        infos
    }
}

/// A `PULL_RSP` entry: a stream id and its SSRC if live, as wire values.
fn entry(live_id: &str, ssrc: Option<Ssrc>) -> (String, Option<u32>) {
    (live_id.to_owned(), ssrc.map(Ssrc::get))
}

#[cfg(test)]
mod tests {
    use super::super::Relay;
    use crate::ClientId;
    use crate::config::Config;
    use crate::endpoint::{Endpoint, Port};
    use crate::packet::pt;
    use crate::packet::rtp::{Header, Packet};
    use crate::time::{Instant, WallClock};
    use std::net::SocketAddr;
    use std::sync::Arc;

    /// Sends `kind` naming `ssrc` from `from`; returns the SSRC of the
    /// relay's answer, if any (draining events, per the call contract).
    fn send(relay: &mut Relay, from: SocketAddr, kind: u8, ssrc: u32) -> Option<u32> {
        let now = Instant::from_millis(1_000);
        relay.handle_datagram(now, Port::Pull, from, Header { ssrc, ..Header::new(kind) }.encode(b""));
        while relay.poll_event().is_some() {}
        let mut answer = None;
        while let Some(t) = relay.poll_transmit(16) {
            answer = t.segments.first().map(|d| Packet::parse(d).expect("valid RTP").header.ssrc);
        }
        answer
    }

    /// The queue of clients to evict drops the entries of clients gone
    /// once they outnumber the table (more than twice its size plus 64),
    /// even after the table shrank: after 100 clients left, clients joining
    /// and leaving one at a time find at most 2 * 1 + 64 entries, and with
    /// one unverified client staying, 2 * 2 + 64, and it stays first in
    /// line.
    #[test]
    fn the_eviction_queue_stays_bounded_when_clients_come_and_go() {
        let clock = WallClock::new(Instant::from_millis(1_000), 0);
        let mut relay = Relay::new(Arc::new(Config::default()), [7; 32], clock);
        let from = |i: u16| SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 5_000));
        let join = |relay: &mut Relay, i| send(relay, from(i), pt::CLIENT_ID_REQ, 0).expect("CLIENT_ID_RSP");
        // The longest the queue gets while clients join and leave.
        let churn = |relay: &mut Relay, range: std::ops::Range<u16>| {
            let mut longest = 0;
            for i in range {
                let id = join(relay, i);
                longest = longest.max(relay.clients.unverified.len());
                send(relay, from(i), pt::STOP_PULL_REQ, id);
            }
            longest
        };
        let joined: Vec<u32> = (0..100).map(|i| join(&mut relay, i)).collect();
        for (i, id) in (0..).zip(joined) {
            send(&mut relay, from(i), pt::STOP_PULL_REQ, id);
        }
        assert_eq!(churn(&mut relay, 100..300), 2 + 64);
        let stays = join(&mut relay, 300);
        assert_eq!(churn(&mut relay, 301..500), 2 * 2 + 64);
        assert_eq!(relay.clients.len(), 1);
        assert_eq!(relay.clients.oldest_unverified(), Some(ClientId::new(stays)), "compacting kept it");
    }
}
