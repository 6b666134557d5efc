//! [`PushStreamClient`]: publishes streams to a relay.

use super::driver::{Handle, RelaySilence};
use crate::clock::Clock;
use bytes::Bytes;
use rtprelay_core::ClientError;
use rtprelay_core::Port;
use rtprelay_core::{PushClient, PushConfig, PushCounters, PushEvent, PushStreamError};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// A publisher: authenticates streams and pushes MPEG-TS to the relay.
///
/// ```
/// use rtprelay::client::{PushConfig, PushStreamClient};
/// use rtprelay::embedded::EmbeddedRelay;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let relay = EmbeddedRelay::start(Default::default(), &[("cam1", "secret")]).await?;
/// let any = "0.0.0.0:0".parse().unwrap();
/// let mut client = PushStreamClient::bind(any, relay.push, PushConfig::default()).await?;
/// client.auth("cam1", "secret").await.expect("a valid id and code");
/// assert_eq!(client.wait_for_auth("cam1", Duration::from_secs(5)).await, Some(true));
/// let ts = vec![0x47u8; 188 * 7]; // MPEG-TS bytes
/// client.push("cam1", ts.into()).await.expect("authenticated");
/// assert!(client.close_and_wait(Duration::from_secs(5)).await);
/// # relay.stop().await
/// # }
/// ```
pub struct PushStreamClient {
    handle: Handle<PushClient>,
}

impl std::fmt::Debug for PushStreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushStreamClient").field("local", &self.handle.local_addr()).finish_non_exhaustive()
    }
}

/// The driver task ended, so the client is gone.
fn gone() -> ClientError {
    ClientError::Closed
}

impl PushStreamClient {
    /// A client on a UDP socket bound to `local` (port 0 picks one),
    /// talking to the relay at `relay`.
    pub async fn bind(local: SocketAddr, relay: SocketAddr, config: PushConfig) -> io::Result<Self> {
        let make = move |clock: Clock, _, seed, relay| PushClient::new(config, relay, seed, clock.wall_clock());
        // The core client probes the relay every second on its own.
        let handle = Handle::spawn(local, relay, Port::Push, make).await?;
        Ok(PushStreamClient { handle })
    }

    /// Starts authenticating `live_id` (answered by [`PushEvent::AuthRsp`];
    /// retried until answered, renewed while live).
    pub async fn auth(&self, live_id: &str, live_code: &str) -> Result<(), ClientError> {
        let (id, code) = (live_id.to_owned(), live_code.to_owned());
        self.handle.call(move |c, now| c.auth(now, &id, &code)).await.unwrap_or_else(|| Err(gone()))
    }

    /// Queues MPEG-TS bytes of an authenticated stream; whole TS packets go
    /// out at once, a trailing partial packet waits for the next call.
    pub async fn push(&self, live_id: &str, data: Bytes) -> Result<(), PushStreamError> {
        let id = live_id.to_owned();
        let closed = PushStreamError {
            live_id: id.clone(),
            code: rtprelay_core::PushErrorCode::NeverAuthenticated,
            msg: "the client is closed",
        };
        self.handle.call(move |c, now| c.push(now, &id, &data)).await.unwrap_or(Err(closed))
    }

    /// Stops every stream ([`PushEvent::CloseSuccess`] follows once the
    /// relay confirms, or after a timeout).
    pub async fn close(&self) {
        self.handle.call(|c, now| c.close(now)).await;
    }

    /// Closes and waits, at most `within`, for [`PushEvent::CloseSuccess`]
    /// (events before it are dropped); returns whether it came.
    pub async fn close_and_wait(&mut self, within: Duration) -> bool {
        self.close().await;
        self.handle.wait_for(within, |e| *e == PushEvent::CloseSuccess).await.is_some()
    }

    /// The first [`PushEvent::AuthRsp`] for `live_id` within `within`
    /// (events before it are dropped): `Some(ok)`, or `None` on timeout.
    pub async fn wait_for_auth(&mut self, live_id: &str, within: Duration) -> Option<bool> {
        let answer =
            self.handle.wait_for(within, |e| matches!(e, PushEvent::AuthRsp { live_id: id, .. } if id == live_id));
        match answer.await {
            Some(PushEvent::AuthRsp { ok, .. }) => Some(ok),
            _ => None,
        }
    }

    /// The next event; `None` once the client is gone.
    pub async fn next_event(&mut self) -> Option<PushEvent> {
        self.handle.next_event().await
    }

    /// The smoothed round trip to the relay, from its delay probes.
    pub async fn delay(&self) -> Option<Duration> {
        self.handle.call(|c, _| c.delay()).await.flatten()
    }

    /// What the client sent and dropped so far.
    pub async fn counters(&self) -> Option<PushCounters> {
        self.handle.call(|c, _| *c.counters()).await
    }

    /// How long the relay has been silent (it echoes the client's delay
    /// probes every second while it runs); `None` once the client is gone.
    pub async fn relay_silence(&self) -> Option<RelaySilence> {
        self.handle.relay_silence().await
    }

    /// The local address of the client's socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }
}
