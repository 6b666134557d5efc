//! The relay's per-source limiters: [`UnknownReplies`] (at most one
//! `CLIENT_UNKNOWN` / `STREAM_UNKNOWN` per source per interval, §2.5),
//! [`AuthFailures`] (refused auths per source IP per minute, §1.3.1) and
//! [`UnboundIds`] (messages naming client ids not bound to their source,
//! per source IP per second, §2.3). Each owns its map and keeps it within
//! `max_rate_limited_sources`.

use super::ctx::Ctx;
use super::outbox::Dest;
use crate::packet::pt::PayloadType;
use crate::rng::{Map, Rng};
use crate::time::Instant;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The window of the failed-auth limit.
const AUTH_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// The last `*_UNKNOWN` answer per source.
pub(super) struct UnknownReplies {
    last: Map<SocketAddr, Instant>,
}

impl UnknownReplies {
    pub(super) fn new(rng: &mut Rng) -> Self {
        UnknownReplies { last: rng.map() }
    }

    pub(super) fn len(&self) -> usize {
        self.last.len()
    }

    /// Sends `kind` (`CLIENT_UNKNOWN` or `STREAM_UNKNOWN`) naming `id` to
    /// `dest`, unless that source had one within `unknown_reply_interval_ms`
    /// or too many sources are remembered (§2.5).
    pub(super) fn answer(&mut self, ctx: &mut Ctx, dest: Dest, kind: PayloadType, id: u32) {
        let now = ctx.now();
        let interval = ctx.config().unknown_reply_interval();
        if let Some(last) = self.last.get(&dest.1) {
            if now.saturating_duration_since(*last) < interval {
                ctx.counters().unknown_reply_limited += 1;
                return;
            }
        } else if self.last.len() >= ctx.config().max_rate_limited_sources {
            self.last.retain(|_, last| now.saturating_duration_since(*last) < interval);
            if self.last.len() >= ctx.config().max_rate_limited_sources {
                ctx.counters().unknown_reply_limited += 1;
                return;
            }
        }
        self.last.insert(dest.1, now);
        match kind {
            PayloadType::ClientUnknown => ctx.counters().client_unknown_sent += 1,
            _ => ctx.counters().stream_unknown_sent += 1,
        }
        let packet = ctx.control(kind, id, &[]);
        ctx.send(dest, packet);
    }
}

/// Refused auths per source IP: (start of the minute, count, whether its
/// block this minute was reported).
pub(super) struct AuthFailures {
    by_ip: Map<IpAddr, (Instant, u32, bool)>,
}

impl AuthFailures {
    pub(super) fn new(rng: &mut Rng) -> Self {
        AuthFailures { by_ip: rng.map() }
    }

    pub(super) fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// Whether `from`'s IP used up its `max` refused auths for this minute.
    pub(super) fn blocked(&self, now: Instant, from: SocketAddr, max: u32) -> bool {
        self.by_ip.get(&from.ip()).is_some_and(|&(start, n, _)| n >= max && now - start < AUTH_FAILURE_WINDOW)
    }

    /// Whether this is the first blocked request from `from`'s IP in its
    /// window (to report the block once per window); call when
    /// [`Self::blocked`].
    pub(super) fn first_block(&mut self, from: SocketAddr) -> bool {
        self.by_ip.get_mut(&from.ip()).is_some_and(|(_, _, reported)| !std::mem::replace(reported, true))
    }

    /// Counts a refused auth from `from`, remembering at most `max_sources`
    /// IPs.
    pub(super) fn failed(&mut self, now: Instant, from: SocketAddr, max_sources: usize) {
        if self.by_ip.len() >= max_sources {
            self.by_ip.retain(|_, (start, _, _)| now - *start < AUTH_FAILURE_WINDOW);
            if self.by_ip.len() >= max_sources {
                return;
            }
        }
        let entry = self.by_ip.entry(from.ip()).or_insert((now, 0, false));
        if now - entry.0 >= AUTH_FAILURE_WINDOW {
            *entry = (now, 0, false);
        }
        entry.1 += 1;
    }
}

/// Messages naming a client id not bound to their source address, per
/// source IP: a token bucket of `max_unbound_ids_per_ip_per_sec` a second
/// holding two seconds' worth (§2.3). It stops id guessing (every guess is
/// such a message) and bounds address-change attempts, while a NAT of 64
/// honest clients (two such messages a second each at most) never meets it.
pub(super) struct UnboundIds {
    /// Tokens in millionths, and when they were last refilled.
    by_ip: Map<IpAddr, (u64, Instant)>,
}

/// Token units per message.
const TOKEN: u64 = 1_000_000;

impl UnboundIds {
    /// Its hash key comes from a side stream of the seed
    /// ([`Rng::map_aside`]), so adding it changed no id a seed gives.
    pub(super) fn new(rng: &mut Rng) -> Self {
        UnboundIds { by_ip: rng.map_aside(1) }
    }

    pub(super) fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// Takes one token for a message from `from`; false (counted) when its
    /// IP has none left, or when `max_rate_limited_sources` IPs are all
    /// still refilling (the table then holds back new IPs rather than let
    /// them guess unlimited).
    pub(super) fn allow(&mut self, ctx: &mut Ctx, from: SocketAddr) -> bool {
        let now = ctx.now();
        let rate = u64::from(ctx.config().max_unbound_ids_per_ip_per_sec);
        let capacity = 2 * rate * TOKEN;
        // Refilled to the brim: as good as forgotten.
        let level = |&(tokens, at): &(u64, Instant)| {
            let refill = now.saturating_duration_since(at).as_micros().saturating_mul(u128::from(rate));
            u64::try_from(u128::from(tokens) + refill).unwrap_or(u64::MAX).min(capacity)
        };
        if !self.by_ip.contains_key(&from.ip()) && self.by_ip.len() >= ctx.config().max_rate_limited_sources {
            self.by_ip.retain(|_, entry| level(entry) < capacity);
            if self.by_ip.len() >= ctx.config().max_rate_limited_sources {
                ctx.counters().client_ids_limited += 1;
                return false;
            }
        }
        let entry = self.by_ip.entry(from.ip()).or_insert((capacity, now));
        let tokens = level(entry);
        if tokens < TOKEN {
            *entry = (tokens, now);
            ctx.counters().client_ids_limited += 1;
            return false;
        }
        *entry = (tokens - TOKEN, now);
        true
    }
}
