//! The channel between the HTTP API and the packet loop: commands go to the
//! loop with a one-shot reply channel, so nothing outside the loop ever
//! touches (or locks) the relay.

use rtprelay_core::{Command, CommandError, Reply};
use tokio::sync::{mpsc, oneshot};

/// How many commands may wait for the loop.
pub const QUEUE: usize = 256;

/// A command and where its answer goes.
pub type Request = (Command, oneshot::Sender<Result<Reply, CommandError>>);

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
        self.tx.send((command, reply_tx)).await.map_err(|_| RelayGone)?;
        reply_rx.await.map_err(|_| RelayGone)
    }
}
