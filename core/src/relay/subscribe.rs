//! Subscribing (docs/protocol.md §1.4, 2.3): client ids, chunked pull requests,
//! responses and their resends, acks, heartbeats, address changes with a
//! challenge, and stop requests.

use super::outbox::{Dest, SlotId};
use super::publish::Subscriber;
use super::timer::TimerKey;
use super::{LeaveReason, Relay, RelayEvent};
use crate::endpoint::Port;
use crate::packet::rtp::{HEADER_LEN, Header};
use crate::packet::{pt, text};
use crate::rng::{Map, Rng};
use crate::time::Instant;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

/// Challenges remembered per client (the newest win).
const MAX_CHALLENGES: usize = 8;

/// One entry of a client's list.
pub(super) struct Subscription {
    pub(super) live_id: String,
    /// Acknowledged: the client is in the stream's fan-out list.
    pub(super) acked: bool,
    /// Resend schedule while answered with an SSRC and not acknowledged.
    resend: Option<Resend>,
    /// When the first `PULL_RSP` with an SSRC went out: the ack replays
    /// the stream's history from then on (2.5 join).
    answered_at: Option<Instant>,
}

impl Subscription {
    fn new(live_id: &str) -> Self {
        Subscription { live_id: live_id.to_owned(), acked: false, resend: None, answered_at: None }
    }

    /// Answered with an SSRC now: (re)start the resends, remember when.
    fn answered(&mut self, now: Instant, first_resend: Instant) {
        if !self.acked {
            self.resend = Some(Resend { count: 0, at: first_resend });
            self.answered_at.get_or_insert(now);
        }
    }
}

#[derive(Clone, Copy)]
struct Resend {
    /// Resends done so far.
    count: u32,
    at: Instant,
}

/// A chunked `PULL_REQ` being reassembled.
struct Reassembly {
    chunks: BTreeMap<u16, Vec<u8>>,
    /// Index of the chunk with the marker, once seen.
    last: Option<u16>,
    at: Instant,
}

impl Reassembly {
    /// Whether `index` (marked last or not) cannot belong to this set.
    fn conflicts(&self, index: u16, last: bool) -> bool {
        self.chunks.contains_key(&index)
            || self.last.is_some_and(|l| index > l || last)
            || (last && self.chunks.keys().next_back().is_some_and(|&max| max > index))
    }

    fn complete(&self) -> bool {
        self.last.is_some_and(|l| self.chunks.len() == usize::from(l) + 1)
    }
}

/// A `PULL_RSP` challenge (2.3).
struct Challenge {
    addr: SocketAddr,
    value: u32,
    expires: Instant,
}

/// An address change in progress: a heartbeat came from `addr`.
struct PendingMove {
    addr: SocketAddr,
    /// Bytes received from and sent to `addr` (anti-amplification).
    received: u64,
    sent: u64,
}

/// A pull client, bound to one address.
pub(super) struct Client {
    port: Port,
    pub(super) addr: SocketAddr,
    slot: SlotId,
    /// The address proved it receives (2.3).
    pub(super) verified: bool,
    last_heartbeat: Instant,
    heartbeat_at: Instant,
    pub(super) subscriptions: Vec<Subscription>,
    pending: Option<Reassembly>,
    resend_at: Option<Instant>,
    challenges: Vec<Challenge>,
    moving: Option<PendingMove>,
    /// Sent a NACK, an RR or an echoed challenge: gets `STREAM_STOPPED`
    /// three times (2.5 tail).
    pub(super) uses_extensions: bool,
}

impl Client {
    fn dest(&self) -> Dest {
        (self.port, self.addr)
    }

    /// The socket its replies and data leave from.
    pub(super) fn port(&self) -> Port {
        self.port
    }

    fn has_challenge(&self, addr: SocketAddr, value: u32, now: Instant) -> bool {
        self.challenges.iter().any(|c| c.addr == addr && c.value == value && c.expires > now)
    }

    fn subscription_mut(&mut self, live_id: &str) -> Option<&mut Subscription> {
        self.subscriptions.iter_mut().find(|s| s.live_id == live_id)
    }
}

/// Every pull client, by id and address, and who lists which stream.
pub(super) struct Clients {
    pub(super) by_id: Map<u32, Client>,
    by_addr: Map<SocketAddr, u32>,
    per_ip: Map<IpAddr, usize>,
    /// Clients listing each stream id, live or not.
    interest: Map<String, BTreeSet<u32>>,
    pending: usize,
}

impl Clients {
    pub(super) fn new(rng: &mut Rng) -> Self {
        Clients { by_id: rng.map(), by_addr: rng.map(), per_ip: rng.map(), interest: rng.map(), pending: 0 }
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn pending_reassemblies(&self) -> usize {
        self.pending
    }

    fn unlist(&mut self, live_id: &str, id: u32) {
        if let Some(set) = self.interest.get_mut(live_id) {
            set.remove(&id);
            if set.is_empty() {
                self.interest.remove(live_id);
            }
        }
    }

    /// Whether client `id` lists `live_id`.
    pub(super) fn lists(&self, id: u32, live_id: &str) -> bool {
        self.interest.get(live_id).is_some_and(|ids| ids.contains(&id))
    }

    /// Removes a stopped stream from every list; returns each client that
    /// listed it, where to send `STREAM_STOPPED`, and whether it uses
    /// extensions, in client-id order.
    pub(super) fn forget_stream(&mut self, live_id: &str) -> Vec<(u32, Dest, bool)> {
        let ids = self.interest.remove(live_id).unwrap_or_default();
        ids.iter()
            .filter_map(|id| {
                let c = self.by_id.get_mut(id)?;
                c.subscriptions.retain(|s| s.live_id != live_id);
                Some((*id, c.dest(), c.uses_extensions))
            })
            .collect()
    }
}

impl Relay {
    fn client_mut(&mut self, id: u32) -> &mut Client {
        self.clients.by_id.get_mut(&id).expect("client checked by the caller")
    }

    /// `CLIENT_ID_REQ` (1.4.1): the id already issued to this address, or a
    /// new one.
    pub(super) fn on_client_id_req(&mut self, now: Instant, port: Port, from: SocketAddr) {
        let id = match self.clients.by_addr.get(&from) {
            Some(&id) => {
                self.set_port(id, port);
                id
            }
            None => {
                if !self.client_room(from) {
                    return;
                }
                let by_id = &self.clients.by_id;
                let id = self.rng.assignable_id(|id| by_id.contains_key(&id));
                self.counters.client_ids_issued += 1;
                self.create_client(now, port, from, id, false);
                id
            }
        };
        let rsp = self.control(now, pt::CLIENT_ID_RSP, id, &[]);
        self.send((port, from), rsp);
    }

    /// Whether the limits admit one more client at `addr`.
    fn client_room(&mut self, addr: SocketAddr) -> bool {
        if self.clients.len() >= self.config.max_clients {
            self.counters.client_limit_global += 1;
            return false;
        }
        if self.clients.per_ip.get(&addr.ip()).copied().unwrap_or(0) >= self.config.max_clients_per_ip {
            self.counters.client_limit_per_ip += 1;
            return false;
        }
        true
    }

    fn create_client(&mut self, now: Instant, port: Port, addr: SocketAddr, id: u32, verified: bool) {
        let slot = self.outbox.pin((port, addr));
        let heartbeat_at = now + self.config.client_heartbeat_timeout();
        self.timers.schedule(heartbeat_at, TimerKey::Heartbeat(id));
        let client = Client {
            port,
            addr,
            slot,
            verified,
            last_heartbeat: now,
            heartbeat_at,
            subscriptions: Vec::new(),
            pending: None,
            resend_at: None,
            challenges: Vec::new(),
            moving: None,
            uses_extensions: false,
        };
        self.clients.by_id.insert(id, client);
        self.clients.by_addr.insert(addr, id);
        *self.clients.per_ip.entry(addr.ip()).or_insert(0) += 1;
        self.events.push_back(RelayEvent::ClientJoined { address: addr });
    }

    fn drop_client(&mut self, id: u32, reason: LeaveReason) {
        let Some(client) = self.clients.by_id.remove(&id) else { return };
        if self.clients.by_addr.get(&client.addr) == Some(&id) {
            self.clients.by_addr.remove(&client.addr);
        }
        self.release_ip(client.addr.ip());
        if client.pending.is_some() {
            self.clients.pending -= 1;
        }
        for sub in &client.subscriptions {
            self.unsubscribe(id, sub);
        }
        self.outbox.unpin(client.slot);
        self.events.push_back(RelayEvent::ClientLeft { address: client.addr, reason });
    }

    fn release_ip(&mut self, ip: IpAddr) {
        if let Some(n) = self.clients.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.clients.per_ip.remove(&ip);
            }
        }
    }

    fn unsubscribe(&mut self, id: u32, sub: &Subscription) {
        self.clients.unlist(&sub.live_id, id);
        if sub.acked
            && let Some(idx) = self.streams.index_of(&sub.live_id)
        {
            self.streams.get_mut(idx).subscribers.retain(|s| s.client != id);
        }
    }

    /// Points the client's data at `(port, addr)`: re-pins its queue and
    /// updates its fan-out entries.
    fn set_dest(&mut self, id: u32, port: Port, addr: SocketAddr) {
        let slot = self.outbox.pin((port, addr));
        let client = self.clients.by_id.get_mut(&id).expect("client checked by the caller");
        let old = std::mem::replace(&mut client.slot, slot);
        client.port = port;
        client.addr = addr;
        for sub in client.subscriptions.iter().filter(|s| s.acked) {
            if let Some(idx) = self.streams.index_of(&sub.live_id) {
                for s in self.streams.get_mut(idx).subscribers.iter_mut().filter(|s| s.client == id) {
                    s.slot = slot;
                }
            }
        }
        self.outbox.unpin(old);
    }

    /// Replies and data go out from the socket the client last used (1.1).
    fn set_port(&mut self, id: u32, port: Port) {
        let client = &self.clients.by_id[&id];
        if client.port != port {
            let addr = client.addr;
            self.set_dest(id, port, addr);
        }
    }

    /// Moves a client to a new address.
    fn move_client(&mut self, id: u32, port: Port, to: SocketAddr) {
        if let Some(&other) = self.clients.by_addr.get(&to)
            && other != id
        {
            self.drop_client(other, LeaveReason::Replaced);
        }
        let from = self.clients.by_id[&id].addr;
        self.clients.by_addr.remove(&from);
        self.clients.by_addr.insert(to, id);
        self.release_ip(from.ip());
        *self.clients.per_ip.entry(to.ip()).or_insert(0) += 1;
        self.set_dest(id, port, to);
        let client = self.client_mut(id);
        client.verified = true;
        client.moving = None;
        self.counters.address_change_completed += 1;
        self.events.push_back(RelayEvent::ClientMoved { from, to });
    }

    /// Whether a message naming client `id` from `from` counts (1.4.10).
    /// With `legacy_trust` an unknown id is adopted and a known one moves.
    fn trusted(&mut self, now: Instant, port: Port, from: SocketAddr, id: u32) -> bool {
        match self.clients.by_id.get_mut(&id) {
            Some(client) if client.addr == from => {
                client.verified = true;
                self.set_port(id, port);
                true
            }
            Some(_) if self.config.legacy_trust => {
                self.move_client(id, port, from);
                true
            }
            None if self.config.legacy_trust && pt::is_assignable_id(id) => {
                if let Some(&other) = self.clients.by_addr.get(&from) {
                    self.drop_client(other, LeaveReason::Replaced);
                }
                if !self.client_room(from) {
                    return false;
                }
                self.create_client(now, port, from, id, true);
                true
            }
            _ => false,
        }
    }

    /// Answers an untrusted message naming a client id (2.5).
    fn refuse_client(&mut self, now: Instant, port: Port, from: SocketAddr, id: u32) {
        self.counters.client_untrusted += 1;
        self.send_unknown(now, (port, from), pt::CLIENT_UNKNOWN, id);
    }

    /// `PULL_REQ` chunk (1.4.2): reassembled per client in any order.
    pub(super) fn on_pull_req(&mut self, now: Instant, port: Port, from: SocketAddr, header: Header, payload: &[u8]) {
        let id = header.ssrc;
        if !self.trusted(now, port, from, id) {
            self.refuse_client(now, port, from, id);
            return;
        }
        let (index, last) = (header.sequence, header.marker);
        let max_chunks = self.config.max_pull_request_chunks;
        let max_pending = self.config.max_pending_reassemblies;
        let timeout = self.config.pull_reassembly_timeout();
        let client = self.clients.by_id.get_mut(&id).expect("trusted client exists");
        let had_pending = client.pending.is_some();
        let mut set =
            client.pending.take().unwrap_or_else(|| Reassembly { chunks: BTreeMap::new(), last: None, at: now });
        if usize::from(index) >= max_chunks {
            self.counters.pull_req_rejected += 1;
            if had_pending {
                self.clients.pending -= 1;
            }
            return;
        }
        if set.conflicts(index, last) {
            set.chunks.clear();
            set.last = None;
        }
        set.chunks.insert(index, payload.to_vec());
        if last {
            set.last = Some(index);
        }
        if set.complete() {
            if had_pending {
                self.clients.pending -= 1;
                self.timers.cancel(set.at, TimerKey::Reassembly(id));
            }
            let list: Vec<u8> = set.chunks.into_values().flatten().collect();
            self.apply_pull_request(now, id, &list);
            return;
        }
        if !had_pending {
            if self.clients.pending >= max_pending {
                self.counters.pull_req_rejected += 1;
                return;
            }
            self.clients.pending += 1;
        } else {
            self.timers.cancel(set.at, TimerKey::Reassembly(id));
        }
        set.at = now + timeout;
        self.timers.schedule(set.at, TimerKey::Reassembly(id));
        self.client_mut(id).pending = Some(set);
    }

    /// A pending pull request timed out: `PULL_REQ_LOST` (1.4.2).
    pub(super) fn on_reassembly_timer(&mut self, now: Instant, at: Instant, id: u32) {
        let Some(client) = self.clients.by_id.get_mut(&id) else { return };
        if client.pending.as_ref().is_none_or(|p| p.at != at) {
            return;
        }
        client.pending = None;
        let dest = client.dest();
        self.clients.pending -= 1;
        self.counters.pull_req_lost += 1;
        let lost = self.control(now, pt::PULL_REQ_LOST, 0, pt::PULL_REQ_LOST_PAYLOAD);
        self.send(dest, lost);
    }

    /// A complete pull request replaces the client's list (1.4.3) and is
    /// answered id by id (1.4.4).
    fn apply_pull_request(&mut self, now: Instant, id: u32, list: &[u8]) {
        let Ok(mut ids) = text::split_ids(list) else {
            self.counters.pull_req_not_utf8 += 1;
            return;
        };
        if ids.len() > self.config.max_ids_per_request {
            self.counters.pull_req_ids_truncated += (ids.len() - self.config.max_ids_per_request) as u64;
            ids.truncate(self.config.max_ids_per_request);
        }
        self.counters.pull_req_applied += 1;
        let first_wait = now + self.config.pull_rsp_resend_wait(0);
        let mut old = std::mem::take(&mut self.client_mut(id).subscriptions);
        let mut subscriptions = Vec::with_capacity(ids.len());
        for live_id in ids {
            let mut sub = match old.iter().position(|s| s.live_id == live_id) {
                Some(i) => old.swap_remove(i),
                None => {
                    self.clients.interest.entry(live_id.to_owned()).or_default().insert(id);
                    Subscription::new(live_id)
                }
            };
            if self.streams.live_ssrc(live_id).is_some() {
                sub.answered(now, first_wait);
            }
            subscriptions.push(sub);
        }
        for sub in &old {
            self.unsubscribe(id, sub);
        }
        let entries: Vec<(String, Option<u32>)> =
            subscriptions.iter().map(|s| (s.live_id.clone(), self.streams.live_ssrc(&s.live_id))).collect();
        let client = self.client_mut(id);
        client.subscriptions = subscriptions;
        let dest = client.dest();
        self.send_pull_rsp(now, id, dest, &entries);
        self.reschedule_resend(id);
    }

    /// A fresh challenge for `(client, addr)`, remembered for
    /// `challenge_validity_ms`.
    fn new_challenge(&mut self, now: Instant, id: u32, addr: SocketAddr) -> u32 {
        let value = self.rng.next_u32();
        let expires = now + self.config.challenge_validity();
        let client = self.client_mut(id);
        client.challenges.retain(|c| c.expires > now);
        if client.challenges.len() >= MAX_CHALLENGES {
            client.challenges.remove(0);
        }
        client.challenges.push(Challenge { addr, value, expires });
        value
    }

    /// `PULL_RSP` packets for `entries`, each with its own challenge in the
    /// timestamp field (2.3).
    fn send_pull_rsp(&mut self, now: Instant, id: u32, dest: Dest, entries: &[(String, Option<u32>)]) {
        for payload in text::encode_pull_rsp(entries) {
            let challenge = self.new_challenge(now, id, dest.1);
            let packet = Header { timestamp: challenge, ..Header::new(pt::PULL_RSP) }.encode(&payload);
            self.send(dest, packet);
        }
    }

    /// Keeps one resend deadline per client: the earliest of its
    /// subscriptions'.
    fn reschedule_resend(&mut self, id: u32) {
        let client = self.client_mut(id);
        let next = client.subscriptions.iter().filter_map(|s| s.resend.map(|r| r.at)).min();
        if next == client.resend_at {
            return;
        }
        let old = std::mem::replace(&mut client.resend_at, next);
        if let Some(old) = old {
            self.timers.cancel(old, TimerKey::PullRspResend(id));
        }
        if let Some(next) = next {
            self.timers.schedule(next, TimerKey::PullRspResend(id));
        }
    }

    /// Resends `PULL_RSP` for due unacknowledged subscriptions, then gives
    /// up after `pull_rsp_resends` (1.4.5).
    pub(super) fn on_resend_timer(&mut self, now: Instant, at: Instant, id: u32) {
        let max = self.config.pull_rsp_resends;
        let Some(client) = self.clients.by_id.get_mut(&id) else { return };
        if client.resend_at != Some(at) {
            return;
        }
        client.resend_at = None;
        let mut due = Vec::new();
        for sub in &mut client.subscriptions {
            let Some(resend) = sub.resend.as_mut().filter(|r| r.at <= now) else { continue };
            match self.streams.live_ssrc(&sub.live_id) {
                Some(ssrc) if resend.count < max => {
                    resend.count += 1;
                    resend.at = now + self.config.pull_rsp_resend_wait(resend.count);
                    due.push((sub.live_id.clone(), Some(ssrc)));
                }
                Some(_) => {
                    self.counters.pull_rsp_gave_up += 1;
                    sub.resend = None;
                }
                None => sub.resend = None,
            }
        }
        let dest = client.dest();
        if !due.is_empty() {
            self.counters.pull_rsp_resent += due.len() as u64;
            self.send_pull_rsp(now, id, dest, &due);
        }
        self.reschedule_resend(id);
    }

    /// A stream that clients listed while it was not live went live:
    /// each gets an unprompted `PULL_RSP` (1.4.6).
    pub(super) fn notify_going_live(&mut self, now: Instant, live_id: &str, ssrc: u32) {
        let Some(ids) = self.clients.interest.get(live_id) else { return };
        let first_wait = now + self.config.pull_rsp_resend_wait(0);
        let entries = [(live_id.to_owned(), Some(ssrc))];
        for id in ids.iter().copied().collect::<Vec<_>>() {
            let client = self.client_mut(id);
            if let Some(sub) = client.subscription_mut(live_id) {
                sub.answered(now, first_wait);
            }
            let dest = client.dest();
            self.send_pull_rsp(now, id, dest, &entries);
            self.reschedule_resend(id);
        }
    }

    /// `SSRC_ACK` (1.4.5): each datagram on its own. From a pending new
    /// address it completes the move if it echoes a challenge (2.3).
    pub(super) fn on_ssrc_ack(&mut self, now: Instant, port: Port, from: SocketAddr, header: Header, payload: &[u8]) {
        let id = header.ssrc;
        let client = self.clients.by_id.get(&id);
        let echoes_here = client.is_some_and(|c| c.has_challenge(from, header.timestamp, now));
        if echoes_here && client.is_some_and(|c| c.addr != from) {
            self.move_client(id, port, from);
        } else if !self.trusted(now, port, from, id) {
            self.refuse_client(now, port, from, id);
            return;
        }
        if echoes_here {
            self.client_mut(id).uses_extensions = true;
        }
        for live_id in text::split_ids_lossy(payload) {
            self.ack(now, id, live_id);
        }
        self.reschedule_resend(id);
    }

    /// Acknowledges one subscription: the client joins the stream's fan-out
    /// list, after the packets it missed since the first answer (2.5).
    fn ack(&mut self, now: Instant, id: u32, live_id: &str) {
        let max = self.config.max_subscribers_per_stream;
        let client = self.clients.by_id.get_mut(&id).expect("trusted client exists");
        let slot = client.slot;
        let sub = client.subscriptions.iter_mut().find(|s| s.live_id == live_id);
        let stream = self.streams.index_of(live_id).map(|i| self.streams.get_mut(i)).filter(|s| s.live);
        let (Some(sub), Some(stream)) = (sub, stream) else {
            self.counters.ack_unmatched += 1;
            return;
        };
        if sub.acked {
            return;
        }
        if stream.subscribers.len() >= max {
            self.counters.subscriber_limit += 1;
            return;
        }
        sub.acked = true;
        sub.resend = None;
        let mut joined = Subscriber::new(id, slot, now);
        if let Some(since) = sub.answered_at {
            let missed: Vec<Bytes> = stream.history.since(stream.newest_seq(), since, now).cloned().collect();
            self.counters.join_replayed += missed.len() as u64;
            for packet in missed {
                joined.packets += 1;
                joined.bytes += packet.len() as u64;
                self.outbox.push(slot, packet, &mut self.counters);
            }
        }
        stream.subscribers.push(joined);
    }

    /// `HEARTBEAT` (1.4.7). From a new address it starts an address change
    /// (2.3), or moves at once with `legacy_trust`.
    pub(super) fn on_heartbeat(&mut self, now: Instant, port: Port, from: SocketAddr, header: Header, len: usize) {
        let id = header.ssrc;
        let known_elsewhere = self.clients.by_id.get(&id).is_some_and(|c| c.addr != from);
        if known_elsewhere && !self.config.legacy_trust {
            self.address_change(now, port, from, id, len);
            return;
        }
        if !self.trusted(now, port, from, id) {
            self.refuse_client(now, port, from, id);
            return;
        }
        self.client_mut(id).last_heartbeat = now;
    }

    /// A heartbeat from a new address: send it a `PULL_RSP` with a
    /// challenge, never more bytes than that address has sent (2.3).
    fn address_change(&mut self, now: Instant, port: Port, from: SocketAddr, id: u32, len: usize) {
        let client = self.clients.by_id.get_mut(&id).expect("client checked by the caller");
        if client.moving.as_ref().is_none_or(|m| m.addr != from) {
            client.moving = Some(PendingMove { addr: from, received: 0, sent: 0 });
            self.counters.address_change_started += 1;
        }
        let moving = client.moving.as_mut().expect("set above");
        moving.received += len as u64;
        let credit = moving.received - moving.sent;
        let streams = &self.streams;
        let mut entries: Vec<(String, Option<u32>)> =
            client.subscriptions.iter().map(|s| (s.live_id.clone(), streams.live_ssrc(&s.live_id))).collect();
        entries.sort_by_key(|(_, ssrc)| ssrc.is_none());
        entries.truncate(pt::PULL_RSP_MAX_IDS);
        // The largest prefix whose packet fits the credit.
        let size = |n: usize| HEADER_LEN + text::encode_pull_rsp(&entries[..n])[0].len();
        let fits = (0..=entries.len()).rev().find(|&n| (n > 0 || entries.is_empty()) && size(n) as u64 <= credit);
        let Some(n) = fits else {
            self.counters.amplification_limited += 1;
            return;
        };
        self.client_mut(id).moving.as_mut().expect("set above").sent += size(n) as u64;
        self.send_pull_rsp(now, id, (port, from), &entries[..n]);
    }

    /// `STOP_PULL_REQ` (1.4.8): forgets a trusted client; always answered.
    pub(super) fn on_stop_pull(&mut self, now: Instant, port: Port, from: SocketAddr, header: Header) {
        let id = header.ssrc;
        let trusted = self.clients.by_id.get(&id).is_some_and(|c| c.addr == from || self.config.legacy_trust);
        if trusted {
            self.counters.client_stopped += 1;
            self.drop_client(id, LeaveReason::Stopped);
        } else {
            self.counters.client_untrusted += 1;
        }
        let rsp = self.control(now, pt::STOP_PULL_RSP, 0, &[]);
        self.send((port, from), rsp);
    }

    /// The heartbeat check (1.4.7).
    pub(super) fn on_heartbeat_timer(&mut self, now: Instant, at: Instant, id: u32) {
        let timeout = self.config.client_heartbeat_timeout();
        let Some(client) = self.clients.by_id.get_mut(&id) else { return };
        if client.heartbeat_at != at {
            return;
        }
        let due = client.last_heartbeat + timeout;
        if due <= now {
            self.counters.client_heartbeat_timeout += 1;
            self.drop_client(id, LeaveReason::HeartbeatTimeout);
        } else {
            client.heartbeat_at = due;
            self.timers.schedule(due, TimerKey::Heartbeat(id));
        }
    }
}
