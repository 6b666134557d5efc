//! `rtprelay push`: publishes an MPEG-TS file or standard input.

use super::{Failure, resolve};
use crate::client::{PushConfig, PushStreamClient};
use crate::status::{StatusLine, Totals};
use bytes::Bytes;
use clap::Args;
use rtprelay_core::mpegts::{MediaClock, PACKET_LEN};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How long the relay has to answer the auth.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `close` may take before the command exits anyway (the client
/// gives up on its own after 2 s).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes read from the input at a time.
const READ_CHUNK: usize = PACKET_LEN * 7 * 16;

/// `rtprelay push` flags.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The relay's push socket.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: String,
    /// The stream id.
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub live_id: String,
    /// The stream's code.
    #[arg(long, value_name = "CODE", allow_hyphen_values = true)]
    pub live_code: String,
    /// Pace the input by its PCR, like `ffmpeg -re`.
    #[arg(long)]
    pub realtime: bool,
    /// MPEG-TS input: a file, or `-` for standard input.
    #[arg(value_name = "INPUT", default_value = "-")]
    pub input: String,
}

/// Runs `rtprelay push`.
pub async fn run(args: PushArgs) -> Result<(), Failure> {
    let (relay, local) = resolve(&args.server).await?;
    let input = open(&args)?;
    let mut client = PushStreamClient::bind(local, relay, PushConfig::default()).await?;
    client.auth(&args.live_id, &args.live_code).await.map_err(|e| Failure::usage(e.to_string()))?;
    match client.wait_for_auth(&args.live_id, AUTH_TIMEOUT).await {
        Some(true) => {}
        Some(false) => return Err(Failure::runtime(format!("the relay refused the code of {}", args.live_id))),
        None => {
            return Err(Failure::runtime(format!("no answer to the auth of {} within {AUTH_TIMEOUT:?}", args.live_id)));
        }
    }
    let mut status = StatusLine::new(&format!("push {}", args.live_id));
    let result = send(&client, &args, input, &mut status).await;
    status.finish();
    client.close_and_wait(CLOSE_TIMEOUT).await;
    result
}

type Input = Box<dyn AsyncRead + Unpin + Send>;

fn open(args: &PushArgs) -> Result<Input, Failure> {
    if args.input == "-" {
        return Ok(Box::new(tokio::io::stdin()));
    }
    let path = Path::new(&args.input);
    let file = std::fs::File::open(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    if !args.realtime && file.metadata().is_ok_and(|m| m.is_file()) {
        eprintln!(
            "rtprelay push: warning: {} is pushed as fast as it can be read; add --realtime to pace it by its PCR",
            path.display()
        );
    }
    Ok(Box::new(tokio::fs::File::from_std(file)))
}

/// Reads the input to its end and pushes it, pacing by PCR if asked.
async fn send(
    client: &PushStreamClient,
    args: &PushArgs,
    mut input: Input,
    status: &mut StatusLine,
) -> Result<(), Failure> {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut pending: Vec<u8> = Vec::new();
    let mut clock = MediaClock::default();
    let start = tokio::time::Instant::now();
    let mut shown = tokio::time::Instant::now();
    loop {
        let n = input.read(&mut buf).await?;
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
                    tokio::time::sleep_until(due).await;
                }
            }
        }
        push(client, &args.live_id, &pending[from..whole]).await?;
        pending.drain(..whole);
        if shown.elapsed() >= Duration::from_millis(250) {
            shown = tokio::time::Instant::now();
            if let Some(c) = client.counters().await {
                status.update(Totals {
                    bytes: c.bytes_sent,
                    packets: c.packets_sent,
                    recovered: c.retransmitted,
                    ..Totals::default()
                });
            }
        }
    }
    push(client, &args.live_id, &pending).await
}

async fn push(client: &PushStreamClient, live_id: &str, data: &[u8]) -> Result<(), Failure> {
    if data.is_empty() {
        return Ok(());
    }
    client
        .push(live_id, Bytes::copy_from_slice(data))
        .await
        .map_err(|e| Failure::runtime(format!("{} ({})", e.msg, e.code.number())))
}
