//! The peers of a run as data: the scripted legacy publisher and
//! subscriber, the real clients, and the intruders.

use super::PeerId;
use rtprelay_core::Port;
use std::net::SocketAddr;
use std::time::Duration;

/// A scripted legacy publisher (docs/protocol.md §1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublisherSpec {
    /// Its address.
    pub addr: SocketAddr,
    /// The relay socket it talks to.
    pub port: Port,
    /// The stream it publishes.
    pub live_id: String,
    /// The stream's code.
    pub live_code: String,
    /// Gap between two `TS_DATA` packets.
    pub packet_interval: Duration,
    /// Packets it sends before it stops on its own; `None`: until its
    /// stop op.
    pub packets: Option<u64>,
    /// `TS_DATA` payload bytes (legacy publishers do not align to 188).
    pub payload_len: usize,
    /// Sequence number of the first `TS_DATA`.
    pub first_sequence: u16,
    /// Gap between two re-authentications while live.
    pub reauth_interval: Duration,
    /// Wait between the last `TS_DATA` and `STOP_PUSH_REQ`, longer than any
    /// link delay so the stop never overtakes data.
    pub stop_linger: Duration,
}

/// A scripted legacy subscriber (§1.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriberSpec {
    /// Its address.
    pub addr: SocketAddr,
    /// The relay socket it talks to.
    pub port: Port,
    /// The ids it pulls, in request order (long enough to need chunks).
    pub live_ids: Vec<String>,
}

/// An on-path attacker: it sniffs the SSRC from what `sniffs` receives and
/// sends forged `TS_DATA` with it from its own address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntruderSpec {
    /// Its address.
    pub addr: SocketAddr,
    /// The relay socket it sends to.
    pub port: Port,
    /// Gap between forged packets.
    pub interval: Duration,
    /// The peer whose incoming datagrams it reads.
    pub sniffs: PeerId,
}

/// An off-path attacker against NACKs: it reads the client id and the
/// stream's SSRC and sequence numbers from what `sniffs` receives, and sends
/// Generic NACKs naming them from its own address. The relay must not
/// retransmit anything for them (§2.1: NACKs count only from the
/// subscriber's bound address).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NackIntruderSpec {
    /// Its address.
    pub addr: SocketAddr,
    /// The relay socket it sends to.
    pub port: Port,
    /// Gap between forged NACKs.
    pub interval: Duration,
    /// The subscriber whose incoming datagrams it reads.
    pub sniffs: PeerId,
}

/// A publisher running the real [`rtprelay_core::PushClient`]: auth, then
/// one whole-TS-packet push per tick, then close.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientPublisherSpec {
    /// Its address.
    pub addr: SocketAddr,
    /// The relay socket it talks to.
    pub port: Port,
    /// The stream it publishes.
    pub live_id: String,
    /// The stream's code.
    pub live_code: String,
    /// Gap between two pushes.
    pub packet_interval: Duration,
    /// Pushes before it closes on its own; `None`: until its stop op.
    pub packets: Option<u64>,
    /// TS packets per push (each push makes one `TS_DATA`).
    pub ts_packets: usize,
    /// The client's own seed (its initial sequence number).
    pub seed: [u8; 32],
}

/// A subscriber running the real [`rtprelay_core::PullClient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSubscriberSpec {
    /// Its address.
    pub addr: SocketAddr,
    /// The relay socket it talks to.
    pub port: Port,
    /// The ids it pulls, in request order.
    pub live_ids: Vec<String>,
    /// The client's own seed.
    pub seed: [u8; 32],
}

/// One peer of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerSpec {
    /// A publisher.
    Publisher(PublisherSpec),
    /// A subscriber.
    Subscriber(SubscriberSpec),
    /// An attacker.
    Intruder(IntruderSpec),
    /// A publisher running the push client.
    ClientPublisher(ClientPublisherSpec),
    /// A subscriber running the pull client.
    ClientSubscriber(ClientSubscriberSpec),
    /// An attacker sending NACKs for another subscriber.
    NackIntruder(NackIntruderSpec),
}

impl PeerSpec {
    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            PeerSpec::Publisher(p) => p.addr,
            PeerSpec::Subscriber(s) => s.addr,
            PeerSpec::Intruder(i) => i.addr,
            PeerSpec::ClientPublisher(p) => p.addr,
            PeerSpec::ClientSubscriber(s) => s.addr,
            PeerSpec::NackIntruder(i) => i.addr,
        }
    }

    /// The relay socket the peer talks to.
    pub fn port(&self) -> Port {
        match self {
            PeerSpec::Publisher(p) => p.port,
            PeerSpec::Subscriber(s) => s.port,
            PeerSpec::Intruder(i) => i.port,
            PeerSpec::ClientPublisher(p) => p.port,
            PeerSpec::ClientSubscriber(s) => s.port,
            PeerSpec::NackIntruder(i) => i.port,
        }
    }

    /// The peer whose incoming datagrams this one reads (attackers only).
    pub fn sniffs(&self) -> Option<PeerId> {
        match self {
            PeerSpec::Intruder(i) => Some(i.sniffs),
            PeerSpec::NackIntruder(i) => Some(i.sniffs),
            _ => None,
        }
    }

    /// Whether the peer publishes (legacy or client).
    pub fn is_publisher(&self) -> bool {
        matches!(self, PeerSpec::Publisher(_) | PeerSpec::ClientPublisher(_))
    }
}
