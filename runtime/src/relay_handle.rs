//! The relay's side of the packet loop: the channel the HTTP API sends
//! commands through (each with a one-shot reply channel, so nothing outside
//! the loop ever touches or locks the relay), where its events go, and
//! what it does last.

use crate::udp::driver::{Call, Events};
use rtprelay_core::{Command, CommandError, Instant, Relay, RelayEvent, Reply};
use rtprelay_core::{LeaveReason, StopReason};
use tokio::sync::{mpsc, oneshot};

/// How many commands may wait for the loop.
pub const QUEUE: usize = 256;

/// What the packet loop runs for the handle: a command, its answer sent back.
pub type Request = Call<Relay>;

/// The packet loop stopped: it can take no more commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayGone;

impl std::fmt::Display for RelayGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the relay is shutting down")
    }
}

impl std::error::Error for RelayGone {}

/// A cloneable sender of commands to the packet loop.
#[derive(Clone, Debug)]
pub struct RelayHandle {
    tx: mpsc::Sender<Request>,
}

impl RelayHandle {
    /// A handle and the receiver the packet loop reads.
    pub fn channel() -> (RelayHandle, mpsc::Receiver<Request>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (RelayHandle { tx }, rx)
    }

    /// Runs `command` in the packet loop and returns its answer.
    pub async fn run(&self, command: Command) -> Result<Result<Reply, CommandError>, RelayGone> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let call: Request = Box::new(move |relay, now| {
            let _ = reply_tx.send(relay.handle_command(now, command));
        });
        self.tx.send(call).await.map_err(|_| RelayGone)?;
        reply_rx.await.map_err(|_| RelayGone)
    }
}

/// The relay's last act in the packet loop: stop every stream, so
/// subscribers get `STREAM_STOPPED` before the sockets close.
pub fn farewell(relay: &mut Relay, now: Instant) {
    let result = relay.handle_command(now, Command::StopAll);
    debug_assert!(result.is_ok(), "StopAll cannot fail");
}

/// The relay's events go to the log.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogEvents;

impl Events<RelayEvent> for LogEvents {
    async fn deliver(&mut self, event: RelayEvent) {
        // One line per lifecycle event, never one per packet: re-auths
        // (every few seconds per publisher) only at debug.
        match event {
            RelayEvent::AuthAccepted { source, live_id, renewed: false } => {
                tracing::info!(%source, %live_id, "auth accepted");
            }
            RelayEvent::AuthAccepted { source, live_id, renewed: true } => {
                tracing::debug!(%source, %live_id, "auth renewed");
            }
            RelayEvent::AuthRefused { source, live_id, unknown_id } => {
                // The wire says AUTH_REFUSED either way; the log tells why.
                let reason = if unknown_id { "unknown_id" } else { "wrong_code" };
                // The id is a peer's text: escaped, so it cannot forge a line.
                tracing::info!(%source, live_id = %live_id.escape_debug(), unknown_id, reason, "auth refused");
            }
            RelayEvent::SourceRateLimited { source } => {
                tracing::warn!(
                    %source,
                    "source rate-limited: too many refused codes; its auth requests get no answer until the minute is over"
                );
            }
            RelayEvent::StreamLive { live_id, ssrc, publisher } => {
                tracing::info!(%live_id, ssrc = ssrc.get(), %publisher, "stream live");
            }
            RelayEvent::StreamStopped { live_id, reason } => {
                tracing::info!(%live_id, reason = stop_reason(reason), "stream stopped");
            }
            RelayEvent::ClientJoined { address } => tracing::info!(%address, "pull client joined"),
            RelayEvent::ClientMoved { from, to } => tracing::info!(%from, %to, "pull client moved"),
            RelayEvent::ClientLeft { address, reason } => {
                tracing::info!(%address, reason = leave_reason(reason), "pull client left");
            }
        }
    }
}

/// Why a stream stopped, as a log field.
fn stop_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Publisher => "publisher",
        StopReason::IdleTimeout => "idle_timeout",
        StopReason::Operator => "operator",
        StopReason::Revoked => "revoked",
    }
}

/// Why a pull client left, as a log field.
fn leave_reason(reason: LeaveReason) -> &'static str {
    match reason {
        LeaveReason::Stopped => "stopped",
        LeaveReason::HeartbeatTimeout => "heartbeat_timeout",
        LeaveReason::Replaced => "replaced",
        LeaveReason::Evicted => "evicted",
    }
}
