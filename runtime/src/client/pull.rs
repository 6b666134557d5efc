//! [`PullStreamClient`]: subscribes to streams of a relay.

use super::driver::{Handle, RelaySilence};
use crate::clock::Clock;
use rtprelay_core::ClientError;
use rtprelay_core::Port;
use rtprelay_core::ReorderStats;
use rtprelay_core::{PullClient, PullConfig, PullEvent};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// A subscriber: registers with the relay, pulls streams by id and
/// receives their MPEG-TS in sequence order.
///
/// ```
/// use rtprelay::client::{PullConfig, PullEvent, PullStreamClient};
/// use rtprelay::embedded::EmbeddedRelay;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let relay = EmbeddedRelay::start(Default::default(), &[]).await?;
/// let any = "0.0.0.0:0".parse().unwrap();
/// let mut client = PullStreamClient::bind(any, relay.pull, PullConfig::default()).await?;
/// client.pull(&["cam1"]).await.expect("valid ids");
/// // Nobody publishes cam1 yet: the relay says so, and will say when it goes live.
/// loop {
///     match client.next_event().await {
///         Some(PullEvent::NoStream { live_ids }) => break assert_eq!(live_ids, ["cam1"]),
///         Some(PullEvent::PullStreamData { data, .. }) => println!("{} bytes", data.len()),
///         _ => {}
///     }
/// }
/// assert!(client.close_and_wait(Duration::from_secs(5)).await);
/// # relay.stop().await
/// # }
/// ```
pub struct PullStreamClient {
    handle: Handle<PullClient>,
}

impl std::fmt::Debug for PullStreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullStreamClient").field("local", &self.handle.local_addr()).finish_non_exhaustive()
    }
}

impl PullStreamClient {
    /// A client on a UDP socket bound to `local` (port 0 picks one),
    /// talking to the relay at `relay`. It asks for its client id at once
    /// ([`PullEvent::PullStreamReady`]); once it has one it probes the
    /// relay with a `DELAY_REQ` every second (the core client's own), so
    /// [`PullStreamClient::relay_silence`] means something even while no
    /// stream it pulls is live.
    pub async fn bind(local: SocketAddr, relay: SocketAddr, config: PullConfig) -> io::Result<Self> {
        let make = move |clock: Clock, now, seed, relay| PullClient::new(config, relay, seed, clock.wall_clock(), now);
        let handle = Handle::spawn(local, relay, Port::Pull, make).await?;
        Ok(PullStreamClient { handle })
    }

    /// Asks for these streams, replacing the previous list.
    pub async fn pull<S: AsRef<str>>(&self, live_ids: &[S]) -> Result<(), ClientError> {
        let ids: Vec<String> = live_ids.iter().map(|s| s.as_ref().to_owned()).collect();
        self.handle.call(move |c, now| c.pull(now, &ids)).await.unwrap_or(Err(ClientError::Closed))
    }

    /// Stops pulling ([`PullEvent::CloseSuccess`] follows once the relay
    /// confirms, or after a timeout).
    pub async fn close(&self) {
        self.handle.call(|c, now| c.close(now)).await;
    }

    /// Waits, at most `within`, for [`PullEvent::PullStreamReady`] (the
    /// relay issued a client id); returns whether it came. Call it first:
    /// nothing comes before that event.
    pub async fn wait_ready(&mut self, within: Duration) -> bool {
        self.handle.wait_for(within, |e| *e == PullEvent::PullStreamReady).await.is_some()
    }

    /// Closes and waits, at most `within`, for [`PullEvent::CloseSuccess`]
    /// (events before it are dropped); returns whether it came.
    pub async fn close_and_wait(&mut self, within: Duration) -> bool {
        self.close().await;
        self.handle.wait_for(within, |e| *e == PullEvent::CloseSuccess).await.is_some()
    }

    /// The next event; `None` once the client is gone.
    pub async fn next_event(&mut self) -> Option<PullEvent> {
        self.handle.next_event().await
    }

    /// Received, lost, late, duplicate and recovered counts of a stream.
    pub async fn stats(&self, live_id: &str) -> Option<ReorderStats> {
        let id = live_id.to_owned();
        self.handle.call(move |c, _| c.stats(&id)).await.flatten()
    }

    /// How long the relay has been silent; `None` once the client is gone.
    pub async fn relay_silence(&self) -> Option<RelaySilence> {
        self.handle.relay_silence().await
    }

    /// The local address of the client's socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }
}
