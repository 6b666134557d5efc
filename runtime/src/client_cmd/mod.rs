//! `rtprelay push` and `rtprelay pull` (docs/protocol.md §4): the async clients
//! ([`crate::client`]) wired to files, pipes and a live status line.

pub mod input;
pub mod pull;
pub mod push;
mod watch;

use crate::exit;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
pub use watch::LOST_AFTER;

/// A duration as the messages write it: `3 s`, `12 s`, `0.5 s`.
fn seconds(d: Duration) -> String {
    if d >= Duration::from_secs(10) { format!("{} s", d.as_secs()) } else { format!("{:.1} s", d.as_secs_f64()) }
}

/// Why a command ended badly, with its exit code.
#[derive(Debug)]
pub struct Failure {
    /// 1 runtime failure, 2 bad usage.
    pub code: i32,
    /// One line for standard error.
    pub message: String,
    /// The command's summary line, printed after the reason (a runtime
    /// failure before any data moved still ends with one).
    pub summary: Option<String>,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure { code: exit::USAGE, message: message.into(), summary: None }
    }

    fn runtime(message: impl Into<String>) -> Self {
        Failure { code: exit::FAILURE, message: message.into(), summary: None }
    }

    /// This failure of command `name` (`push cam1`), which ended it before
    /// any data moved: a runtime failure gets the empty summary line (a
    /// usage mistake gets the usage instead).
    fn before_transfer(mut self, name: &str) -> Self {
        if self.code == exit::FAILURE {
            self.summary = Some(crate::status::StatusLine::nothing_moved(name));
        }
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::runtime(e.to_string())
    }
}

/// Resolves `HOST:PORT` and picks a matching wildcard local address. An
/// unspecified address (`0.0.0.0:61041`, as a relay bound to every address
/// prints in its ready line) means this machine: the relay answers from a
/// real address, and the client hears only the address it sends to.
async fn resolve(server: &str) -> Result<(SocketAddr, SocketAddr), Failure> {
    let mut relay = tokio::net::lookup_host(server)
        .await
        .map_err(|e| Failure::usage(format!("--server {server}: {e}")))?
        .next()
        .ok_or_else(|| Failure::usage(format!("--server {server}: no address")))?;
    if relay.ip().is_unspecified() {
        relay.set_ip(if relay.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
    }
    let local = if relay.is_ipv4() { SocketAddr::from(([0, 0, 0, 0], 0)) } else { SocketAddr::from(([0u16; 8], 0)) };
    Ok((relay, local))
}

/// Runs a client command on its own runtime; returns its exit code after
/// printing a failure on standard error.
pub fn main(name: &str, command: impl Future<Output = Result<(), Failure>>) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rtprelay {name}: cannot start the runtime: {e}");
            return exit::FAILURE;
        }
    };
    let result = runtime.block_on(command);
    // A read of standard input may still be blocked in tokio's thread
    // pool (after Ctrl-C, or a relay lost mid-pipe): do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => exit::OK,
        Err(failure) => {
            eprintln!("rtprelay {name}: {failure}");
            if failure.code == exit::USAGE {
                eprint!("{}", crate::cli::after_reason(&[name]));
            }
            if let Some(summary) = &failure.summary {
                eprintln!("{summary}");
            }
            failure.code
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unspecified_server_address_means_this_machine() {
        assert_eq!(resolve("0.0.0.0:61041").await.unwrap().0, "127.0.0.1:61041".parse().unwrap());
        assert_eq!(resolve("[::]:61041").await.unwrap().0, "[::1]:61041".parse().unwrap());
        assert_eq!(resolve("127.0.0.2:5").await.unwrap().0, "127.0.0.2:5".parse().unwrap());
    }
}
