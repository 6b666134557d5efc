//! `rtprelay push`: publishes an MPEG-TS file or standard input, and says
//! so when the relay stops answering (docs/protocol.md §4).

use super::input::Input;
use super::watch::RelayWatch;
use super::{Failure, LOST_AFTER, resolve, seconds};
use crate::client::{PushConfig, PushStreamClient};
use crate::status::{Progress, StatusLine, Totals};
use bytes::Bytes;
use clap::Args;
use rtprelay_core::mpegts::{MediaClock, PACKET_LEN};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How long the relay has to answer the auth.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `close` may take before the command exits anyway (the client
/// gives up on its own after 2 s).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes read from the input at a time.
const READ_CHUNK: usize = PACKET_LEN * 7 * 16;
/// How often the status line and the relay's silence are looked at.
const TICK: Duration = Duration::from_millis(250);

/// `rtprelay push` flags.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("code").required(true).args(["live_code", "live_code_file"]))]
pub struct PushArgs {
    /// The relay's push socket.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:61040")]
    pub server: String,
    /// The stream id.
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub live_id: String,
    /// The stream's code (visible to other users in `ps`: prefer the
    /// environment variable or --live-code-file).
    #[arg(long, value_name = "CODE", allow_hyphen_values = true, env = "RTPRELAY_LIVE_CODE", hide_env_values = true)]
    pub live_code: Option<String>,
    /// A file holding the stream's code (surrounding whitespace ignored).
    #[arg(long, value_name = "FILE", conflicts_with = "live_code")]
    pub live_code_file: Option<PathBuf>,
    /// Pace the input by its PCR, like `ffmpeg -re`.
    #[arg(long)]
    pub realtime: bool,
    /// How to show the live status on standard error.
    #[arg(long, value_name = "MODE", value_enum, default_value_t)]
    pub progress: Progress,
    /// MPEG-TS input: a file, or `-` for standard input.
    #[arg(value_name = "INPUT", default_value = "-")]
    pub input: String,
}

impl PushArgs {
    /// The code: from `--live-code` (or `RTPRELAY_LIVE_CODE`) or the file.
    fn live_code(&self) -> Result<String, Failure> {
        match (&self.live_code, &self.live_code_file) {
            (Some(code), _) => Ok(code.clone()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Failure::usage(format!("--live-code-file {}: {e}", path.display())))?;
                Ok(text.trim().to_owned())
            }
            (None, None) => Err(Failure::usage("no code: give --live-code, RTPRELAY_LIVE_CODE or --live-code-file")),
        }
    }
}

/// Runs `rtprelay push`.
pub async fn run(args: PushArgs) -> Result<(), Failure> {
    let name = format!("push {}", args.live_id);
    let (mut client, relay, input) = start(&args).await.map_err(|f| f.before_transfer(&name))?;
    let mut status = StatusLine::new(&name, args.progress);
    // Only now: until the push starts, the first line on stderr is kept
    // for the reason of a failure.
    if let Some(warning) = input.unpaced_warning(args.realtime) {
        status.warn(&warning);
    }
    let mut watch = RelayWatch::new(relay, "still sending and re-authenticating");
    let result = send(&client, &args, input, &mut status, &mut watch).await;
    client.close_and_wait(CLOSE_TIMEOUT).await;
    status.finish();
    result?;
    // An unconfirmed stop alone is no failure (the contract's short
    // timeout); a relay silent for LOST_AFTER by now is.
    let silent = client.relay_silence().await.map_or(LOST_AFTER, |s| s.silent);
    if silent >= LOST_AFTER {
        return Err(Failure::runtime(format!(
            "lost the relay at {relay}: no answer for the last {} of the push, and it never came back",
            seconds(silent)
        )));
    }
    Ok(())
}

/// Opens the input and authenticates: the client, the relay's address and
/// the input, once the relay accepted the code.
async fn start(args: &PushArgs) -> Result<(PushStreamClient, SocketAddr, Input), Failure> {
    let code = args.live_code()?;
    let (relay, local) = resolve(&args.server).await?;
    let input = Input::open(&args.input).await?;
    let mut client = PushStreamClient::bind(local, relay, PushConfig::default()).await?;
    client.auth(&args.live_id, &code).await.map_err(|e| Failure::usage(e.to_string()))?;
    match client.wait_for_auth(&args.live_id, AUTH_TIMEOUT).await {
        Some(true) => {}
        Some(false) => {
            return Err(Failure::runtime(format!(
                "the relay at {relay} refused the code of {} (wrong code, or no such stream there)",
                args.live_id
            )));
        }
        None => return Err(no_auth_answer(&client, relay, &args.live_id).await),
    }
    Ok((client, relay, input))
}

/// Why an auth got no answer: a relay that answers nothing, or one that
/// echoes the delay probes but ignores this source's auths.
async fn no_auth_answer(client: &PushStreamClient, relay: SocketAddr, live_id: &str) -> Failure {
    let heard = client.relay_silence().await.is_some_and(|s| s.heard_once);
    Failure::runtime(if heard {
        format!(
            "the relay at {relay} answers but ignored the auth of {live_id} for {}: it ignores a source \
             after too many refused codes in a minute (its log says so); try again in a minute",
            seconds(AUTH_TIMEOUT)
        )
    } else {
        format!(
            "no answer from a relay at {relay} within {}: is it running, and is this its push port?",
            seconds(AUTH_TIMEOUT)
        )
    })
}

/// What runs beside the sending: the status line and the relay's watch,
/// refreshed every [`TICK`], also while a paced push waits.
struct Beside<'a> {
    client: &'a PushStreamClient,
    status: &'a mut StatusLine,
    watch: &'a mut RelayWatch,
    tick: tokio::time::Interval,
}

impl Beside<'_> {
    async fn refresh(&mut self) {
        self.watch.observe(self.client.relay_silence().await, self.status);
        self.status.note(self.watch.note());
        show(self.client, self.status).await;
    }

    /// Waits until `due`, refreshing on the way.
    async fn sleep_until(&mut self, due: tokio::time::Instant) {
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(due) => return,
                _ = self.tick.tick() => self.refresh().await,
            }
        }
    }
}

/// Reads the input to its end (or Ctrl-C) and pushes it, pacing by PCR if
/// asked.
async fn send(
    client: &PushStreamClient,
    args: &PushArgs,
    mut input: Input,
    status: &mut StatusLine,
    watch: &mut RelayWatch,
) -> Result<(), Failure> {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut pending: Vec<u8> = Vec::new();
    let mut clock = MediaClock::default();
    let start = tokio::time::Instant::now();
    let mut beside = Beside { client, status, watch, tick: tokio::time::interval(TICK) };
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let n = tokio::select! {
            n = input.read(&mut buf) => n?,
            _ = beside.tick.tick() => {
                beside.refresh().await;
                continue;
            }
            _ = &mut interrupted => break,
        };
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        let whole = if args.realtime { pending.len() / PACKET_LEN * PACKET_LEN } else { pending.len() };
        let mut from = 0;
        if args.realtime {
            for at in (0..whole).step_by(PACKET_LEN) {
                let Some(media) = clock.observe(&pending[at..at + PACKET_LEN]) else { continue };
                let due = start + media;
                if due > tokio::time::Instant::now() {
                    push(client, &args.live_id, &pending[from..at]).await?;
                    from = at;
                    beside.sleep_until(due).await;
                }
            }
        }
        push(client, &args.live_id, &pending[from..whole]).await?;
        pending.drain(..whole);
    }
    push(client, &args.live_id, &pending).await?;
    beside.refresh().await;
    Ok(())
}

/// Shows the client's counters on the status line.
async fn show(client: &PushStreamClient, status: &mut StatusLine) {
    if let Some(c) = client.counters().await {
        status.update(Totals {
            bytes: c.bytes_sent,
            packets: c.packets_sent,
            recovered: c.retransmitted,
            ..Totals::default()
        });
    }
}

async fn push(client: &PushStreamClient, live_id: &str, data: &[u8]) -> Result<(), Failure> {
    if data.is_empty() {
        return Ok(());
    }
    client.push(live_id, Bytes::copy_from_slice(data)).await.map_err(|e| {
        Failure::runtime(match e.code.number() {
            10002 => format!("the relay refused the code of {live_id} when it re-authenticated ({})", e.code.number()),
            n => format!("{} ({n})", e.msg),
        })
    })
}
