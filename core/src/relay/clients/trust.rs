//! Which messages naming a client id count, and address moves
//! (docs/protocol.md §1.4.10, §2.3): a message from the bound address
//! counts; with `legacy_trust` an unknown id is adopted and a known one
//! moves at once; otherwise a heartbeat from a new address starts a move,
//! answered by a `PULL_RSP` whose `Challenge` the client must echo from
//! there, never sending more bytes than that address sent (`PendingMove`).

use super::super::ctx::Ctx;
use super::super::streams::Streams;
use super::super::timer::TimerKey;
use super::super::{LeaveReason, RelayEvent};
use super::{Client, Clients, Untrusted, entry};
use crate::ClientId;
use crate::endpoint::Port;
use crate::packet::rtp::{HEADER_LEN, Header};
use crate::packet::{pt, text};
use crate::time::Instant;
use std::net::SocketAddr;

/// Challenges remembered per client (the newest win).
const MAX_CHALLENGES: usize = 8;

/// A `PULL_RSP` challenge (§2.3).
pub(super) struct Challenge {
    addr: SocketAddr,
    value: u32,
    expires: Instant,
}

/// An address change in progress: a heartbeat came from `addr`.
pub(super) struct PendingMove {
    addr: SocketAddr,
    /// Bytes received from and sent to `addr` (anti-amplification).
    received: u64,
    sent: u64,
    /// Once `addr` echoed a challenge: the socket it used, until when the
    /// echo stands, and the deadline of the move's `Move` timer, when the
    /// old address will have been quiet for `move_quiet_ms` unless heard
    /// again.
    echo: Option<(Port, Instant)>,
    due: Option<Instant>,
}

/// What an echoed challenge from a new address did.
pub(super) enum Echo {
    /// The client moved there.
    Moved,
    /// The old address was heard within `move_quiet_ms`: the move waits.
    Waiting,
}

impl Client {
    pub(super) fn has_challenge(&self, addr: SocketAddr, value: u32, now: Instant) -> bool {
        self.challenges.iter().any(|c| c.addr == addr && c.value == value && c.expires > now)
    }

    /// A fresh challenge for `addr` (one RNG draw, another for a sentinel:
    /// it goes in the SSRC field, §1.1), remembered for
    /// `challenge_validity_ms`.
    pub(super) fn new_challenge(&mut self, ctx: &mut Ctx, addr: SocketAddr) -> u32 {
        let now = ctx.now();
        let value = ctx.rng().assignable_id(|_| false);
        let expires = now + ctx.config().challenge_validity();
        self.challenges.retain(|c| c.expires > now);
        if self.challenges.len() >= MAX_CHALLENGES {
            self.challenges.remove(0);
        }
        self.challenges.push(Challenge { addr, value, expires });
        value
    }
}

impl Clients {
    /// Whether a message naming client `id` from `from` counts (§1.4.10).
    /// With `legacy_trust` an unknown id is adopted and a known one moves.
    pub(super) fn trusted(
        &mut self,
        ctx: &mut Ctx,
        streams: &mut Streams,
        port: Port,
        from: SocketAddr,
        id: ClientId,
    ) -> bool {
        let legacy_trust = ctx.config().legacy_trust;
        match self.by_id.get_mut(&id) {
            Some(client) if client.addr == from => {
                client.verified = true;
                self.set_port(ctx, streams, id, port);
                true
            }
            Some(_) if legacy_trust => {
                self.move_client(ctx, streams, id, port, from);
                true
            }
            None if legacy_trust && pt::is_assignable_id(id.get()) => {
                if let Some(&other) = self.by_addr.get(&from) {
                    self.remove(ctx, streams, other, LeaveReason::Replaced);
                }
                if !self.room(ctx, streams, from) {
                    return false;
                }
                self.create(ctx, port, from, id, true);
                true
            }
            _ => false,
        }
    }

    /// Moves a client to a new address, replacing any other client there.
    pub(super) fn move_client(
        &mut self,
        ctx: &mut Ctx,
        streams: &mut Streams,
        id: ClientId,
        port: Port,
        to: SocketAddr,
    ) {
        if let Some(&other) = self.by_addr.get(&to)
            && other != id
        {
            self.remove(ctx, streams, other, LeaveReason::Replaced);
        }
        let from = self.by_id[&id].addr;
        self.by_addr.remove(&from);
        self.by_addr.insert(to, id);
        self.release_ip(from.ip());
        *self.per_ip.entry(to.ip()).or_insert(0) += 1;
        self.set_dest(ctx, streams, id, port, to);
        let now = ctx.now();
        let client = self.client_mut(id);
        client.verified = true;
        client.last_heard = now;
        if let Some(due) = client.moving.take().and_then(|m| m.due) {
            ctx.cancel(due, TimerKey::Move(id));
        }
        ctx.counters().address_change_completed += 1;
        ctx.emit(RelayEvent::ClientMoved { from, to });
    }

    /// `HEARTBEAT` (§1.4.7). From a new address it starts an address change
    /// (§2.3), or moves at once with `legacy_trust`.
    pub(in super::super) fn on_heartbeat(
        &mut self,
        ctx: &mut Ctx,
        streams: &mut Streams,
        port: Port,
        from: SocketAddr,
        header: Header,
        len: usize,
    ) -> Result<(), Untrusted> {
        let id = ClientId::new(header.ssrc);
        let known_elsewhere = self.by_id.get(&id).is_some_and(|c| c.addr != from);
        if known_elsewhere && !ctx.config().legacy_trust {
            self.address_change(ctx, streams, port, from, id, len);
            return Ok(());
        }
        if !self.trusted(ctx, streams, port, from, id) {
            return Err(Untrusted);
        }
        self.client_mut(id).last_heartbeat = ctx.now();
        Ok(())
    }

    /// A heartbeat from a new address: send it a `PULL_RSP` with a
    /// challenge, never more bytes than that address has sent (§2.3).
    fn address_change(
        &mut self,
        ctx: &mut Ctx,
        streams: &Streams,
        port: Port,
        from: SocketAddr,
        id: ClientId,
        len: usize,
    ) {
        let client = self.client_mut(id);
        if client.moving.as_ref().is_none_or(|m| m.addr != from) {
            if let Some(due) = client.moving.take().and_then(|m| m.due) {
                ctx.cancel(due, TimerKey::Move(id));
            }
            client.moving = Some(PendingMove { addr: from, received: 0, sent: 0, echo: None, due: None });
            ctx.counters().address_change_started += 1;
        }
        let moving = client.moving.as_mut().expect("set above");
        moving.received += len as u64;
        let credit = moving.received - moving.sent;
        let mut entries: Vec<(String, Option<u32>)> =
            client.subscriptions.iter().map(|s| entry(s.live_id(), streams.live_ssrc(s.live_id()))).collect();
        entries.sort_by_key(|(_, ssrc)| ssrc.is_none());
        entries.truncate(pt::PULL_RSP_MAX_IDS);
        // The largest prefix whose packet fits the credit.
        let size = |n: usize| HEADER_LEN + text::encode_pull_rsp(&entries[..n])[0].len();
        let fits = (0..=entries.len()).rev().find(|&n| (n > 0 || entries.is_empty()) && size(n) as u64 <= credit);
        let Some(n) = fits else {
            ctx.counters().amplification_limited += 1;
            return;
        };
        self.client_mut(id).moving.as_mut().expect("set above").sent += size(n) as u64;
        self.send_pull_rsp(ctx, id, (port, from), &entries[..n]);
    }

    /// `from` echoed a challenge of client `id`, bound elsewhere (§2.3):
    /// the client moves there once its old address has sent nothing for
    /// `move_quiet_ms`, now or when the `Move` timer finds it so. The echo
    /// stands for `challenge_validity_ms`; a heartbeat from yet another
    /// address starts over.
    pub(super) fn echoed(
        &mut self,
        ctx: &mut Ctx,
        streams: &mut Streams,
        id: ClientId,
        port: Port,
        from: SocketAddr,
    ) -> Echo {
        let now = ctx.now();
        let quiet_at = self.by_id[&id].last_heard + ctx.config().move_quiet();
        if quiet_at <= now {
            self.move_client(ctx, streams, id, port, from);
            return Echo::Moved;
        }
        ctx.counters().address_change_waiting += 1;
        let until = now + ctx.config().challenge_validity();
        let client = self.client_mut(id);
        let moving = match client.moving.as_mut() {
            Some(m) if m.addr == from => m,
            _ => client.moving.insert(PendingMove { addr: from, received: 0, sent: 0, echo: None, due: None }),
        };
        moving.echo = Some((port, until));
        let old = moving.due.replace(quiet_at);
        if old != Some(quiet_at) {
            if let Some(old) = old {
                ctx.cancel(old, TimerKey::Move(id));
            }
            ctx.schedule(quiet_at, TimerKey::Move(id));
        }
        Echo::Waiting
    }

    /// A waiting move's timer (§2.3): moves if the old address stayed
    /// quiet, else waits for its next quiet moment while the echo stands.
    pub(in super::super) fn on_move_timer(&mut self, ctx: &mut Ctx, streams: &mut Streams, at: Instant, id: ClientId) {
        let now = ctx.now();
        let quiet = ctx.config().move_quiet();
        let Some(client) = self.by_id.get_mut(&id) else { return };
        let Some(moving) = client.moving.as_mut().filter(|m| m.due == Some(at)) else { return };
        moving.due = None;
        let Some((port, until)) = moving.echo.filter(|&(_, until)| until > now) else {
            moving.echo = None;
            return;
        };
        let quiet_at = client.last_heard + quiet;
        if quiet_at <= now {
            let to = moving.addr;
            client.uses_extensions = true;
            self.move_client(ctx, streams, id, port, to);
        } else if quiet_at < until {
            moving.due = Some(quiet_at);
            ctx.schedule(quiet_at, TimerKey::Move(id));
        } else {
            moving.echo = None;
        }
    }
}
