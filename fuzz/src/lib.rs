//! What the fuzz targets share: legacy datagrams built from fuzzer input
//! (so that most of them mean something to the machine under test), ids
//! learned from what the machine sent, and the call contract's drain loop
//! for any [`Endpoint`].

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use rtprelay_core::packet::rtcp::Nack;
use rtprelay_core::packet::rtp::Header;
use rtprelay_core::{Endpoint, Instant, Port, Transmit};
use std::net::SocketAddr;
use std::time::Duration;

/// Where a 32-bit id field (the SSRC field) comes from.
#[derive(Arbitrary, Debug)]
pub enum Id {
    /// A literal value.
    Literal(u32),
    /// The `n`-th id the harness learned (modulo how many it knows), or 0
    /// when it knows none.
    Learned(u8),
}

/// A datagram's payload.
#[derive(Arbitrary, Debug)]
pub enum Payload {
    /// Any bytes.
    Raw(Vec<u8>),
    /// The target's canned payload (a valid `AUTH_REQ`, a `PULL_RSP`...).
    Canned,
    /// The stream id followed by separators and letters: a list.
    Ids(Vec<u8>),
}

/// A datagram from the fuzzer.
#[derive(Arbitrary, Debug)]
pub enum Datagram {
    /// Any bytes.
    Raw(Vec<u8>),
    /// A plain legacy header (payload type picked from the target's table)
    /// with a payload.
    Legacy { payload_type: u8, marker: bool, sequence: u16, timestamp: u32, ssrc: Id, payload: Payload },
    /// A well-formed RTCP NACK (§2.2, §2.4) for these sequence numbers.
    Nack { sender: Id, media: Id, lost: Vec<u16> },
}

/// One step of a client target's plan: the application calls the client
/// (`A`), a datagram arrives, or time passes.
#[derive(Arbitrary, Debug)]
pub enum Step<A> {
    /// The application's call.
    App(A),
    /// A datagram from the relay (`source` 0) or another address, after
    /// `advance_ms`.
    Datagram { source: u8, advance_ms: u16, datagram: Datagram },
    /// Time passes.
    Wait { advance_ms: u16 },
}

/// The ids a harness learned from the machine's own datagrams, newest last
/// (at most 16 kept).
#[derive(Debug, Default)]
pub struct Learned(Vec<u32>);

impl Learned {
    /// Remembers an id.
    pub fn learn(&mut self, id: u32) {
        if self.0.len() == 16 {
            self.0.remove(0);
        }
        self.0.push(id);
    }

    fn get(&self, id: &Id) -> u32 {
        match id {
            Id::Literal(v) => *v,
            Id::Learned(n) if !self.0.is_empty() => self.0[usize::from(*n) % self.0.len()],
            Id::Learned(_) => 0,
        }
    }
}

/// How a target turns [`Datagram::Legacy`] into bytes: the payload types
/// its peers send, the stream id and the canned payload.
pub struct Dialect<'a> {
    /// The payload types to pick from.
    pub types: &'a [u8],
    /// The stream id of [`Payload::Ids`].
    pub live_id: &'a str,
    /// The payload of [`Payload::Canned`].
    pub canned: &'a [u8],
}

impl Dialect<'_> {
    /// The datagram's bytes.
    pub fn encode(&self, learned: &Learned, datagram: &Datagram) -> Bytes {
        let (payload_type, marker, sequence, timestamp, ssrc, payload) = match datagram {
            Datagram::Raw(bytes) => return Bytes::copy_from_slice(bytes),
            Datagram::Nack { sender, media, lost } => {
                return Nack::from_sequences(learned.get(sender), learned.get(media), lost).encode();
            }
            Datagram::Legacy { payload_type, marker, sequence, timestamp, ssrc, payload } => {
                (payload_type, marker, sequence, timestamp, ssrc, payload)
            }
        };
        let header = Header {
            marker: *marker,
            payload_type: self.types[usize::from(*payload_type) % self.types.len()],
            sequence: *sequence,
            timestamp: *timestamp,
            ssrc: learned.get(ssrc),
        };
        let body: Vec<u8> = match payload {
            Payload::Raw(bytes) => bytes.clone(),
            Payload::Canned => self.canned.to_vec(),
            Payload::Ids(bytes) => {
                let mut list = self.live_id.as_bytes().to_vec();
                list.extend(bytes.iter().map(|b| match b % 4 {
                    0 => b'#',
                    1 => b';',
                    _ => b'a' + b % 26,
                }));
                list
            }
        };
        header.encode(&body)
    }
}

/// A machine under test with its own clock.
pub struct Driven<E> {
    /// The machine.
    pub endpoint: E,
    /// Its time.
    pub now: Instant,
    /// The batch size handed to `poll_transmit` (1 to 8).
    pub max_segments: usize,
}

impl<E: Endpoint> Driven<E> {
    /// A machine at `now`, batching up to `batch % 8 + 1` datagrams.
    pub fn new(endpoint: E, now: Instant, batch: u8) -> Self {
        Driven { endpoint, now, max_segments: usize::from(batch % 8) + 1 }
    }

    /// Moves time on by `ms`.
    pub fn advance(&mut self, ms: u16) {
        self.now = self.now + Duration::from_millis(u64::from(ms));
    }

    /// Runs a client's step: the application's call through `app`, or a
    /// datagram on `port` from `relay` or another source, or a wait.
    pub fn step<A>(
        &mut self,
        step: &Step<A>,
        (port, relay): (Port, SocketAddr),
        encode: impl FnOnce(&Datagram) -> Bytes,
        app: impl FnOnce(&mut E, Instant, &A),
    ) {
        match step {
            Step::App(call) => app(&mut self.endpoint, self.now, call),
            Step::Datagram { source: pick, advance_ms, datagram } => {
                self.advance(*advance_ms);
                let data = encode(datagram);
                self.endpoint.handle_datagram(self.now, port, source(relay, *pick), data);
            }
            Step::Wait { advance_ms } => self.advance(*advance_ms),
        }
    }

    /// The call contract: transmits (each checked and shown to `sent`),
    /// events (to `event`), then due timeouts, until nothing is due.
    pub fn drain(&mut self, mut sent: impl FnMut(&Transmit, &Bytes), mut event: impl FnMut(E::Event)) {
        loop {
            while let Some(t) = self.endpoint.poll_transmit(self.max_segments) {
                assert!(!t.segments.is_empty() && t.segments.len() <= self.max_segments);
                for segment in &t.segments {
                    sent(&t, segment);
                }
            }
            while let Some(e) = self.endpoint.poll_event() {
                event(e);
            }
            match self.endpoint.poll_timeout() {
                Some(at) if at <= self.now => self.endpoint.handle_timeout(self.now),
                _ => return,
            }
        }
    }
}

/// The SSRC field (bytes 8-11) of a datagram, if it has one.
pub fn ssrc_of(datagram: &[u8]) -> Option<u32> {
    datagram.get(8..12).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// One of eight source addresses: the peer itself (`0`), other ports and
/// hosts, and an IPv6 one.
pub fn source(peer: SocketAddr, pick: u8) -> SocketAddr {
    match pick % 8 {
        0 => peer,
        7 => SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], peer.port())),
        s => SocketAddr::from(([127, 0, 0, 1 + s % 2], 5_000 + u16::from(s))),
    }
}
