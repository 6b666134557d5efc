//! A relay inside this process: the packet loop on two loopback (or any)
//! UDP sockets, without the HTTP API or the store. For examples, tests and
//! applications that embed a relay.

use crate::clock::Clock;
use crate::relay_handle::{self, RelayHandle};
use crate::udp::{Driver, UdpEndpoint};
use rtprelay_core::{Command, Config, LiveId, Port, Relay};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long [`EmbeddedRelay::stop`] may spend sending the last packets.
const DRAIN: Duration = Duration::from_millis(500);

/// A running in-process relay.
///
/// ```
/// use rtprelay::client::{PullConfig, PullEvent, PullStreamClient, PushConfig, PushStreamClient};
/// use rtprelay::embedded::EmbeddedRelay;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let relay = EmbeddedRelay::start(Default::default(), &[("cam1", "secret")]).await?;
/// let any = "127.0.0.1:0".parse().unwrap();
/// let mut subscriber = PullStreamClient::bind(any, relay.pull, PullConfig::default()).await?;
/// subscriber.pull(&["cam1"]).await.unwrap();
/// let mut publisher = PushStreamClient::bind(any, relay.push, PushConfig::default()).await?;
/// publisher.auth("cam1", "secret").await.unwrap();
/// assert_eq!(publisher.wait_for_auth("cam1", Duration::from_secs(5)).await, Some(true));
/// let mut ts = vec![0xff; 188];
/// ts[..4].copy_from_slice(&[0x47, 0x1f, 0xff, 0x10]);
/// publisher.push("cam1", ts.clone().into()).await.unwrap();
/// loop {
///     if let Some(PullEvent::PullStreamData { data, .. }) = subscriber.next_event().await {
///         assert_eq!(data[..], ts[..]);
///         break;
///     }
/// }
/// assert!(publisher.close_and_wait(Duration::from_secs(5)).await);
/// assert!(subscriber.close_and_wait(Duration::from_secs(5)).await);
/// relay.stop().await
/// # }
/// ```
#[derive(Debug)]
pub struct EmbeddedRelay {
    /// The push socket's address.
    pub push: SocketAddr,
    /// The pull socket's address.
    pub pull: SocketAddr,
    /// Operator commands (credentials, stops, snapshots).
    pub handle: RelayHandle,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<io::Result<()>>,
}

impl EmbeddedRelay {
    /// Starts a relay on `127.0.0.1` (ports picked by the OS) with `config`
    /// and the `(liveId, liveCode)` credentials.
    pub async fn start(config: Config, credentials: &[(&str, &str)]) -> io::Result<Self> {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(config, credentials, loopback, loopback).await
    }

    /// Like [`EmbeddedRelay::start`] on the given socket addresses.
    pub async fn start_on(
        config: Config,
        credentials: &[(&str, &str)],
        push: SocketAddr,
        pull: SocketAddr,
    ) -> io::Result<Self> {
        config.validate().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let clock = Clock::start();
        let seed = crate::secrets::seed().map_err(io::Error::other)?;
        let mut relay = Relay::new(Arc::new(config), seed, clock.wall_clock());
        for (live_id, code) in credentials {
            let id = LiveId::parse(live_id)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{live_id}: {e}")))?;
            let credential = crate::secrets::credential(id, code).map_err(io::Error::other)?;
            relay
                .handle_command(clock.now(), Command::AddCredential(credential))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{live_id}: {e}")))?;
        }
        let push = UdpEndpoint::bind(push, Port::Push, 0, 0)?;
        let pull = UdpEndpoint::bind(pull, Port::Pull, 0, 0)?;
        let (push_addr, pull_addr) = (push.local_addr()?, pull.local_addr()?);
        let (handle, requests) = RelayHandle::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let driver = Driver::new(relay, clock, [push, pull], requests, relay_handle::LogEvents);
        let task = tokio::spawn(driver.run(
            async {
                let _ = stopped.await;
            },
            DRAIN,
            relay_handle::farewell,
        ));
        Ok(EmbeddedRelay { push: push_addr, pull: pull_addr, handle, stop, task })
    }

    /// Stops every stream (subscribers get `STREAM_STOPPED`) and the loop.
    pub async fn stop(self) -> io::Result<()> {
        let _ = self.stop.send(());
        self.task.await.map_err(io::Error::other)?
    }
}
