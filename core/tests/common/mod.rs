//! A test harness around `Relay`: a manual clock, packet builders and a
//! drain that honours the call contract.
#![allow(dead_code, unreachable_pub, missing_docs)]

use bytes::Bytes;
use rtprelay_core::Counters;
use rtprelay_core::packet::pt;
use rtprelay_core::packet::rtp::{Header, Packet};
use rtprelay_core::{
    Command, Config, Credential, Endpoint, Instant, LiveId, Port, Relay, RelayEvent, Reply, WallClock,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Unix ms the relay's wall clock reads at the harness start.
pub const EPOCH_MS: u64 = 1_700_000_000_123;

/// `text` as a stream id (it must be one).
pub fn stream_id(text: &str) -> LiveId {
    LiveId::parse(text).expect("a valid stream id")
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A datagram the relay sent.
#[derive(Clone, Debug)]
pub struct Sent {
    pub port: Port,
    pub to: SocketAddr,
    pub data: Bytes,
}

impl Sent {
    pub fn header(&self) -> Header {
        Packet::parse(&self.data).expect("relay sends valid RTP").header
    }
    pub fn pt(&self) -> u8 {
        self.data[1] & 0x7f
    }
    pub fn payload(&self) -> &[u8] {
        &self.data[12..]
    }
    pub fn text(&self) -> String {
        String::from_utf8(self.payload().to_vec()).unwrap()
    }
}

pub struct Harness {
    pub relay: Relay,
    pub now: Instant,
    pub events: Vec<RelayEvent>,
}

pub fn packet(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Bytes {
    Header { marker, payload_type: pt, sequence: seq, timestamp: ts, ssrc }.encode(payload)
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Self {
        Self::with_seed(config, [7; 32])
    }

    pub fn with_seed(config: Config, seed: [u8; 32]) -> Self {
        let now = Instant::from_millis(1_000);
        let relay = Relay::new(Arc::new(config), seed, WallClock::new(now, EPOCH_MS));
        Harness { relay, now, events: Vec::new() }
    }

    /// The relay's RTP timestamp now.
    pub fn clock(&self) -> u32 {
        (EPOCH_MS + (self.now.as_micros() - 1_000_000) / 1000) as u32
    }

    pub fn add_credential(&mut self, live_id: &str, code: &str) {
        let reply = self
            .relay
            .handle_command(self.now, Command::AddCredential(Credential::new(stream_id(live_id), code, [1; 16])));
        assert!(matches!(reply, Ok(Reply::Done)));
        self.drain();
    }

    pub fn command(&mut self, command: Command) -> Result<Reply, rtprelay_core::CommandError> {
        let reply = self.relay.handle_command(self.now, command);
        // Events now; transmits stay queued for the next drain().
        while let Some(e) = self.relay.poll_event() {
            self.events.push(e);
        }
        reply
    }

    /// Feeds a datagram and returns what the relay sent in response.
    pub fn send(&mut self, port: Port, from: SocketAddr, data: Bytes) -> Vec<Sent> {
        self.relay.handle_datagram(self.now, port, from, data);
        self.drain()
    }

    pub fn drain(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        while let Some(t) = self.relay.poll_transmit(16) {
            for data in t.segments {
                out.push(Sent { port: t.port, to: t.destination, data });
            }
        }
        while let Some(e) = self.relay.poll_event() {
            self.events.push(e);
        }
        out
    }

    /// Advances the clock by `d`, firing every deadline on the way, and
    /// returns what the relay sent.
    pub fn advance(&mut self, d: Duration) -> Vec<Sent> {
        let end = self.now + d;
        let mut out = Vec::new();
        while let Some(at) = self.relay.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.relay.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = end;
        out
    }

    pub fn counters(&self) -> Counters {
        self.relay.counters().clone()
    }

    // --- scripted legacy peers ---

    /// AUTH_REQ; returns the SSRC from AUTH_OK (panics on anything else).
    pub fn auth(&mut self, port: Port, from: SocketAddr, live_id: &str, code: &str) -> u32 {
        let out = self.send(port, from, packet(pt::AUTH_REQ, false, 0, 0, 0, format!("{live_id}#{code}").as_bytes()));
        let ok = out.iter().find(|s| s.to == from && s.pt() == pt::AUTH_OK).expect("AUTH_OK");
        ok.header().ssrc
    }

    /// CLIENT_ID_REQ; returns the client id.
    pub fn client_id(&mut self, port: Port, from: SocketAddr) -> u32 {
        let out = self.send(port, from, packet(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].pt(), pt::CLIENT_ID_RSP);
        out[0].header().ssrc
    }

    /// A whole (chunked) PULL_REQ; returns every datagram sent back.
    pub fn pull(&mut self, port: Port, from: SocketAddr, id: u32, ids: &[&str]) -> Vec<Sent> {
        let list = ids.join("#");
        let mut out = Vec::new();
        for c in rtprelay_core::packet::text::chunk_pull_request(list.as_bytes()) {
            out.extend(self.send(port, from, packet(pt::PULL_REQ, c.last, c.index, 0, id, c.payload)));
        }
        out
    }

    pub fn ack(&mut self, port: Port, from: SocketAddr, id: u32, ts: u32, ids: &str) -> Vec<Sent> {
        self.send(port, from, packet(pt::SSRC_ACK, false, 0, ts, id, ids.as_bytes()))
    }

    pub fn heartbeat(&mut self, port: Port, from: SocketAddr, id: u32) -> Vec<Sent> {
        self.send(port, from, packet(pt::HEARTBEAT, false, 0, 0, id, b""))
    }

    /// Registers a subscriber of `ids` and acks every live one.
    pub fn subscriber(&mut self, port: Port, from: SocketAddr, ids: &[&str]) -> u32 {
        let id = self.client_id(port, from);
        let out = self.pull(port, from, id, ids);
        for rsp in out.iter().filter(|s| s.pt() == pt::PULL_RSP) {
            let live: Vec<String> = rtprelay_core::packet::text::parse_pull_rsp(rsp.payload())
                .into_iter()
                .filter(|(_, ssrc)| ssrc.is_some())
                .map(|(id, _)| id)
                .collect();
            if !live.is_empty() {
                self.ack(port, from, id, rsp.header().ssrc, &live.join(";"));
            }
        }
        id
    }

    pub fn ts_data(&mut self, from: SocketAddr, ssrc: u32, seq: u16, payload: &[u8]) -> Vec<Sent> {
        self.send(Port::Push, from, packet(pt::TS_DATA, false, seq, 0, ssrc, payload))
    }
}

/// Only the datagrams of payload type `pt`.
pub fn of(out: &[Sent], pt: u8) -> Vec<&Sent> {
    out.iter().filter(|s| s.pt() == pt).collect()
}
