//! `rtprelay pull`: writes streams to files or standard output.

use super::{Failure, resolve};
use crate::client::{PullConfig, PullEvent, PullStreamClient};
use crate::status::{StatusLine, Totals};
use clap::Args;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The placeholder that names one output file per stream.
const LIVE_ID_PLACEHOLDER: &str = "{liveId}";
/// How long the relay has to issue a client id: a stream that is not
/// live is waited for, a relay that does not answer is not.
const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `close` may take before the command exits anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// `rtprelay pull` flags.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The relay's pull socket.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: String,
    /// A stream to pull (repeat for several).
    #[arg(long = "live-id", value_name = "ID", required = true, allow_hyphen_values = true)]
    pub live_ids: Vec<String>,
    /// Where to write: a file, `-` for standard output; with several
    /// streams a path containing `{liveId}`.
    #[arg(short = 'o', long = "output", value_name = "OUTPUT", default_value = "-")]
    pub output: String,
    /// When a stream stops, pull it again and wait for it to restart
    /// instead of exiting.
    #[arg(long)]
    pub follow: bool,
}

type Output = Box<dyn AsyncWrite + Unpin + Send>;

/// Runs `rtprelay pull`.
pub async fn run(args: PullArgs) -> Result<(), Failure> {
    let ids: Vec<String> = args.live_ids.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    check_output(&args.output, ids.len())?;
    let (relay, local) = resolve(&args.server).await?;
    let mut client = PullStreamClient::bind(local, relay, PullConfig::default()).await?;
    client.pull(&ids).await.map_err(|e| Failure::usage(e.to_string()))?;
    if !client.wait_ready(READY_TIMEOUT).await {
        return Err(Failure::runtime(format!("no answer from a relay at {relay} within {READY_TIMEOUT:?}")));
    }
    let mut status = StatusLine::new(&format!("pull {}", ids.join(",")));
    let result = receive(&mut client, &args, &ids, &mut status).await;
    status.finish();
    client.close_and_wait(CLOSE_TIMEOUT).await;
    result
}

/// Standard output takes one stream; several need `{liveId}` in the path.
fn check_output(output: &str, streams: usize) -> Result<(), Failure> {
    if streams > 1 && !output.contains(LIVE_ID_PLACEHOLDER) {
        return Err(Failure::usage(format!("{streams} streams need an -o path containing {LIVE_ID_PLACEHOLDER}")));
    }
    Ok(())
}

async fn open(output: &str, live_id: &str) -> Result<Output, Failure> {
    if output == "-" {
        return Ok(Box::new(tokio::io::stdout()));
    }
    let path = output.replace(LIVE_ID_PLACEHOLDER, live_id);
    let file = tokio::fs::File::create(&path).await.map_err(|e| Failure::runtime(format!("{path}: {e}")))?;
    Ok(Box::new(file))
}

/// Writes data until every stream stopped (or for ever with `--follow`).
async fn receive(
    client: &mut PullStreamClient,
    args: &PullArgs,
    ids: &[String],
    status: &mut StatusLine,
) -> Result<(), Failure> {
    let mut outputs: BTreeMap<String, Output> = BTreeMap::new();
    let mut stopped: BTreeSet<String> = BTreeSet::new();
    let mut written: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let event = tokio::select! {
            event = client.next_event() => event,
            _ = tick.tick() => {
                status.update(totals(client, ids, written).await);
                continue;
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        match event {
            Some(PullEvent::PullStreamData { live_id, data, .. }) => {
                let out = match outputs.entry(live_id) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        let out = open(&args.output, e.key()).await?;
                        e.insert(out)
                    }
                };
                written += data.len() as u64;
                match out.write_all(&data).await {
                    Ok(()) => {}
                    // The reader went away (`| head`): nothing left to do.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
            Some(PullEvent::StreamStop { live_id }) => {
                if let Some(out) = outputs.get_mut(&live_id) {
                    out.flush().await?;
                }
                if args.follow {
                    client.pull(ids).await.map_err(|e| Failure::runtime(e.to_string()))?;
                } else {
                    stopped.insert(live_id);
                    if stopped.len() == ids.len() {
                        for out in outputs.values_mut() {
                            out.flush().await?;
                        }
                        return Ok(());
                    }
                }
            }
            Some(_) => {}
            None => return Err(Failure::runtime("the client stopped")),
        }
    }
}

async fn totals(client: &PullStreamClient, ids: &[String], bytes: u64) -> Totals {
    let mut t = Totals { bytes, ..Totals::default() };
    for id in ids {
        if let Some(s) = client.stats(id).await {
            t.packets += s.emitted;
            t.lost += s.lost;
            t.late += s.late;
            t.recovered += s.recovered;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_streams_need_a_live_id_template() {
        assert!(check_output("-", 1).is_ok());
        assert_eq!(check_output("-", 2).unwrap_err().code, crate::exit::USAGE);
        assert_eq!(check_output("out.ts", 2).unwrap_err().code, crate::exit::USAGE);
        assert!(check_output("out-{liveId}.ts", 2).is_ok());
    }
}
