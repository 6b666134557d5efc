//! # rtprelay-benches
//!
//! Shared set-up for the relay benches and the allocation tests: a
//! [`Fanout`] is a relay with one live stream and `n` acknowledged
//! subscribers, each on its own `127.0.0.1` port, built only through the
//! relay's public API (auth, then `CLIENT_ID_REQ`, `PULL_REQ` and
//! `SSRC_ACK` per subscriber), and a [`PacketSource`] makes the publisher's
//! `TS_DATA`.

use bytes::Bytes;
use rtprelay_core::packet::rtp::Header;
use rtprelay_core::packet::{pt, text};
use rtprelay_core::{Command, Reply};
use rtprelay_core::{Config, Credential, Endpoint, Instant, LiveId, Port, Relay, WallClock};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// `TS_DATA` payload bytes: seven 188-byte MPEG-TS packets, the usual
/// datagram of a legacy publisher.
pub const PAYLOAD_LEN: usize = 1316;
/// Datagrams taken per `poll_transmit` call while draining.
pub const MAX_SEGMENTS: usize = 16;
/// Virtual time between two packets (a 50 000 packets/s stream).
const PACKET_GAP: Duration = Duration::from_micros(20);

const LIVE_ID: &str = "bench";
const LIVE_CODE: &str = "bench-code";

/// A relay with one live stream and `n` acknowledged subscribers.
pub struct Fanout {
    relay: Relay,
    now: Instant,
    publisher: SocketAddr,
    ssrc: u32,
    subscribers: usize,
}

impl Fanout {
    /// Sets up the relay: panics if the relay does not answer the set-up
    /// messages as docs/protocol.md §1 says (a bench on a broken relay would
    /// measure nothing).
    pub fn new(subscribers: usize) -> Self {
        let config = Config {
            max_clients_per_ip: subscribers.max(1),
            max_subscribers_per_stream: subscribers.max(1),
            max_clients: subscribers.max(1),
            ..Config::default()
        };
        let now = Instant::from_millis(1_000);
        let clock = WallClock::new(now, 1_700_000_000_000);
        let mut relay = Relay::new(Arc::new(config), [7; 32], clock);
        let live_id = LiveId::parse(LIVE_ID).expect("the bench's stream id is one");
        let credential = Credential::new(live_id.clone(), LIVE_CODE, [1; 16]);
        relay.handle_command(now, Command::AddCredential(credential)).expect("a fresh relay takes a credential");
        let publisher = SocketAddr::from(([127, 0, 0, 1], 4_000));
        let mut fanout = Fanout { relay, now, publisher, ssrc: 0, subscribers };
        let auth = Header::new(pt::AUTH_REQ).encode(&text::encode_auth(LIVE_ID, LIVE_CODE));
        let ok = fanout.exchange(Port::Push, publisher, auth, pt::AUTH_OK);
        fanout.ssrc = ssrc_of(&ok);
        for i in 0..subscribers {
            let addr = SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16));
            fanout.subscribe(addr);
        }
        let Ok(Reply::Stream(info)) = fanout.relay.handle_command(now, Command::GetStream { live_id }) else {
            panic!("the bench stream is known");
        };
        assert_eq!(info.subscribers, subscribers, "every subscriber acknowledged the stream");
        fanout
    }

    /// Hands `datagram` to the relay and drains it; the one reply to
    /// `from` of type `expect`.
    fn exchange(&mut self, port: Port, from: SocketAddr, datagram: Bytes, expect: u8) -> Bytes {
        self.relay.handle_datagram(self.now, port, from, datagram);
        let mut reply = None;
        while let Some(t) = self.relay.poll_transmit(MAX_SEGMENTS) {
            for s in t.segments {
                if t.destination == from && s.get(1) == Some(&expect) {
                    reply = Some(s);
                }
            }
        }
        while self.relay.poll_event().is_some() {}
        reply.unwrap_or_else(|| panic!("no reply of type {expect} to {from}"))
    }

    fn subscribe(&mut self, addr: SocketAddr) {
        let rsp = self.exchange(Port::Pull, addr, Header::new(pt::CLIENT_ID_REQ).encode(&[]), pt::CLIENT_ID_RSP);
        let id = ssrc_of(&rsp);
        let pull = Header { marker: true, ssrc: id, ..Header::new(pt::PULL_REQ) }.encode(LIVE_ID.as_bytes());
        let rsp = self.exchange(Port::Pull, addr, pull, pt::PULL_RSP);
        assert_eq!(text::parse_pull_rsp(&rsp[12..]), [(LIVE_ID.to_owned(), Some(self.ssrc))]);
        self.relay.handle_datagram(
            self.now,
            Port::Pull,
            addr,
            Header { ssrc: id, ..Header::new(pt::SSRC_ACK) }.encode(LIVE_ID.as_bytes()),
        );
        while self.relay.poll_transmit(MAX_SEGMENTS).is_some() {}
        while self.relay.poll_event().is_some() {}
    }

    /// The publisher's packets for this stream.
    pub fn packets(&self) -> PacketSource {
        PacketSource { ssrc: self.ssrc, sequence: 0, payload: vec![0x47; PAYLOAD_LEN] }
    }

    /// Acknowledged subscribers.
    pub fn subscribers(&self) -> usize {
        self.subscribers
    }

    /// One `TS_DATA` in, every transmit out (the driver's loop turn):
    /// returns the datagrams sent. Virtual time advances by 20 µs per
    /// packet; timeouts are not driven (only the forwarding path is
    /// measured, and no deadline is near).
    pub fn forward(&mut self, packet: Bytes) -> usize {
        self.now = self.now + PACKET_GAP;
        self.relay.handle_datagram(self.now, Port::Push, self.publisher, packet);
        let mut sent = 0;
        while let Some(t) = self.relay.poll_transmit(MAX_SEGMENTS) {
            sent += t.segments.len();
        }
        while self.relay.poll_event().is_some() {}
        sent
    }

    /// The relay, to read its counters.
    pub fn relay(&self) -> &Relay {
        &self.relay
    }
}

fn ssrc_of(datagram: &[u8]) -> u32 {
    u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]])
}

/// Consecutive `TS_DATA` packets of the bench stream.
pub struct PacketSource {
    ssrc: u32,
    sequence: u16,
    payload: Vec<u8>,
}

impl PacketSource {
    /// The next packet, as a driver hands it over: one shared buffer
    /// (what splitting a receive buffer gives). A `Bytes` made straight
    /// from a `Vec` would instead allocate its shared refcount on its first
    /// clone, inside the relay; [`PacketSource::next_vec_backed`] makes
    /// those.
    pub fn next_shared(&mut self) -> Bytes {
        let packet = self.next_vec_backed();
        drop(packet.clone());
        packet
    }

    /// The next packet, backed by a plain `Vec` (not yet shared).
    pub fn next_vec_backed(&mut self) -> Bytes {
        let header = Header { sequence: self.sequence, ssrc: self.ssrc, ..Header::new(pt::TS_DATA) };
        self.sequence = self.sequence.wrapping_add(1);
        header.encode(&self.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_packet_reaches_every_subscriber() {
        let mut fanout = Fanout::new(10);
        let mut source = fanout.packets();
        for _ in 0..100 {
            assert_eq!(fanout.forward(source.next_shared()), 10);
        }
        let c = fanout.relay().counters();
        assert_eq!((c.ts_data_accepted, c.ts_data_forwarded, c.ts_data_duplicate), (100, 1000, 0));
    }
}
