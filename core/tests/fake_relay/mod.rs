//! A fake relay's side of the wire for the client tests: relay datagrams
//! written out by hand and client datagrams read by hand, from
//! docs/protocol.md §1.1 alone (not the core codec).
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
#[allow(unused_imports)] // not every test uses every id type
pub(crate) use rtprelay_core::{ClientId, Endpoint, Seq, Ssrc};
use rtprelay_core::{Instant, Port, PullClient, PushClient, WallClock};
use std::net::SocketAddr;

/// The relay's wall clock: Unix ms at `Instant::ZERO`.
pub(crate) const RELAY_EPOCH_MS: u64 = 1_700_000_000_000;

/// The relay's push socket, as the publisher under test knows it.
pub(crate) const RELAY_PUSH: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)), 61_040);
/// The relay's pull socket, as the subscriber under test knows it.
pub(crate) const RELAY_PULL: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)), 61_041);

/// A client under test, talking to the fake relay's socket for it.
pub(crate) trait Client: Endpoint {
    /// The relay socket it talks to.
    const PORT: Port;
    /// Its address.
    const RELAY: SocketAddr;

    /// A datagram from the relay.
    fn receive(&mut self, now: Instant, data: Bytes) {
        self.handle_datagram(now, Self::PORT, Self::RELAY, data);
    }

    /// The next datagram the client sends, checked to go to the relay.
    fn next_datagram(&mut self) -> Option<Bytes> {
        let t = self.poll_transmit(1)?;
        assert_eq!((t.port, t.destination, t.segments.len()), (Self::PORT, Self::RELAY, 1));
        t.segments.into_iter().next()
    }
}

impl Client for PushClient {
    const PORT: Port = Port::Push;
    const RELAY: SocketAddr = RELAY_PUSH;
}

impl Client for PullClient {
    const PORT: Port = Port::Pull;
    const RELAY: SocketAddr = RELAY_PULL;
}

pub(crate) fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

pub(crate) fn relay_ts(now: Instant) -> u32 {
    WallClock::new(Instant::ZERO, RELAY_EPOCH_MS).rtp_timestamp(now)
}

/// A datagram as the relay sends it: byte 0 = 0x80, marker, PT, sequence,
/// timestamp, SSRC, payload, written out by hand.
pub(crate) fn relay_packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Bytes {
    let mut d = vec![0x80, pt];
    d.extend_from_slice(&seq.to_be_bytes());
    d.extend_from_slice(&ts.to_be_bytes());
    d.extend_from_slice(&ssrc.to_be_bytes());
    d.extend_from_slice(payload);
    Bytes::from(d)
}

/// The fields of an RTP datagram a client sent, read by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sent {
    pub(crate) marker: bool,
    pub(crate) pt: u8,
    pub(crate) seq: u16,
    pub(crate) ts: u32,
    pub(crate) ssrc: u32,
    pub(crate) payload: Vec<u8>,
}

/// An RTCP datagram (second byte 192-223) is returned whole as the payload,
/// with its packet type as `pt`.
pub(crate) fn read(d: &[u8]) -> Sent {
    if let Some(&pt @ 192..=223) = d.get(1) {
        return Sent { marker: false, pt, seq: 0, ts: 0, ssrc: 0, payload: d.to_vec() };
    }
    assert!(d.len() >= 12, "short datagram {d:?}");
    assert_eq!(d[0], 0x80, "version 2, no padding, extension or CSRC");
    Sent {
        marker: d[1] & 0x80 != 0,
        pt: d[1] & 0x7f,
        seq: u16::from_be_bytes([d[2], d[3]]),
        ts: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
        ssrc: u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
        payload: d[12..].to_vec(),
    }
}

/// Datagrams of one payload type, read by hand.
pub(crate) fn of_type(datagrams: &[Bytes], pt: u8) -> Vec<Sent> {
    datagrams.iter().map(|d| read(d)).filter(|s| s.pt == pt).collect()
}

/// The publisher side: a push client and what it hands out.
pub(crate) mod push {
    use super::{Client, RELAY_EPOCH_MS, RELAY_PUSH};
    use bytes::Bytes;
    use rtprelay_core::{Endpoint, Instant, WallClock};
    use rtprelay_core::{PushClient, PushConfig, PushEvent};

    /// A publisher whose wall clock is 5 s behind the relay's.
    pub(crate) fn client() -> PushClient {
        PushClient::new(
            PushConfig::default(),
            RELAY_PUSH,
            [3; 32],
            WallClock::new(Instant::ZERO, RELAY_EPOCH_MS - 5_000),
        )
    }

    /// Every datagram the client has queued.
    pub(crate) fn sent(c: &mut PushClient) -> Vec<Bytes> {
        std::iter::from_fn(|| c.next_datagram()).collect()
    }

    /// Every event the client has queued.
    pub(crate) fn events(c: &mut PushClient) -> Vec<PushEvent> {
        std::iter::from_fn(|| c.poll_event()).collect()
    }
}
