//! `rtprelay pull`: writes streams to files or standard output, says what
//! it waits for and when the relay stops answering (docs/protocol.md §4).

use super::watch::RelayWatch;
use super::{Failure, resolve, seconds};
use crate::client::{PullConfig, PullEvent, PullStreamClient, ReorderStats};
use crate::status::{Progress, StatusLine, Totals};
use clap::Args;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
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
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:61041")]
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
    /// How to show the live status on standard error.
    #[arg(long, value_name = "MODE", value_enum, default_value_t)]
    pub progress: Progress,
}

type Output = Box<dyn AsyncWrite + Unpin + Send>;

/// Runs `rtprelay pull`.
pub async fn run(args: PullArgs) -> Result<(), Failure> {
    let ids: Vec<String> = args.live_ids.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let name = format!("pull {}", ids.join(","));
    let (mut client, relay) = start(&args, &ids).await.map_err(|f| f.before_transfer(&name))?;
    let mut status = StatusLine::new(&name, args.progress);
    let mut state =
        State { relay: RelayWatch::new(relay, "still waiting for it"), waiting: ids.iter().cloned().collect() };
    status.note(state.note());
    let mut tally = Tally::default();
    let result = receive(&mut client, &args, &ids, &mut status, &mut state, &mut tally).await;
    status.update(tally.totals());
    client.close_and_wait(CLOSE_TIMEOUT).await;
    status.finish();
    result
}

/// Checks the output and asks the relay for `ids`: the client and the
/// relay's address, once the relay answered.
async fn start(args: &PullArgs, ids: &[String]) -> Result<(PullStreamClient, SocketAddr), Failure> {
    check_output(&args.output, ids.len())?;
    let (relay, local) = resolve(&args.server).await?;
    let mut client = PullStreamClient::bind(local, relay, PullConfig::default()).await?;
    client.pull(ids).await.map_err(|e| Failure::usage(e.to_string()))?;
    if !client.wait_ready(READY_TIMEOUT).await {
        return Err(Failure::runtime(format!(
            "no answer from a relay at {relay} within {}: is it running, and is this its pull port?",
            seconds(READY_TIMEOUT)
        )));
    }
    Ok((client, relay))
}

/// What the pull waits for, and whether the relay answers.
#[derive(Debug)]
struct State {
    relay: RelayWatch,
    /// Streams not live yet (or stopped, with `--follow`).
    waiting: BTreeSet<String>,
}

impl State {
    /// What the status line shows instead of the bitrate.
    fn note(&self) -> Option<String> {
        let waiting = || format!("waiting for {}", Vec::from_iter(self.waiting.clone()).join(", "));
        self.relay.note().or_else(|| (!self.waiting.is_empty()).then(waiting))
    }

    /// Looks at the relay again.
    async fn check(&mut self, client: &PullStreamClient, status: &mut StatusLine) {
        self.relay.observe(client.relay_silence().await, status);
        status.note(self.note());
    }
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
    state: &mut State,
    tally: &mut Tally,
) -> Result<(), Failure> {
    let mut outputs: BTreeMap<String, Output> = BTreeMap::new();
    let mut stopped: BTreeSet<String> = BTreeSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let event = tokio::select! {
            event = client.next_event() => event,
            _ = tick.tick() => {
                state.check(client, status).await;
                tally.refresh(client, ids).await;
                status.update(tally.totals());
                continue;
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        match event {
            Some(PullEvent::PullStreamReqSuccess { live_ids }) => {
                live_ids.iter().for_each(|id| _ = state.waiting.remove(id));
                status.note(state.note());
            }
            Some(PullEvent::NoStream { live_ids }) => {
                state.waiting.extend(live_ids);
                status.note(state.note());
            }
            Some(PullEvent::PullStreamData { live_id, data, .. }) => {
                if state.waiting.remove(&live_id) {
                    status.note(state.note());
                }
                let out = match outputs.entry(live_id) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        let out = open(&args.output, e.key()).await?;
                        e.insert(out)
                    }
                };
                tally.bytes += data.len() as u64;
                tally.packets += 1;
                match out.write_all(&data).await {
                    Ok(()) => {}
                    // The reader went away (`| head`): nothing left to do.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
            Some(PullEvent::StreamStop { live_id }) => {
                tally.stop(&live_id);
                if let Some(out) = outputs.get_mut(&live_id) {
                    out.flush().await?;
                }
                if args.follow {
                    state.waiting.insert(live_id);
                    status.note(state.note());
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

/// What the pull received: packets and bytes counted as they are written,
/// the reorder buffers' losses as last read (a stopped stream's buffer is
/// gone, so its last reading is kept).
#[derive(Debug, Default)]
struct Tally {
    bytes: u64,
    packets: u64,
    /// Lost, late and recovered of the streams (or runs) that stopped.
    stopped: [u64; 3],
    /// The last reading of each stream still pulled.
    current: BTreeMap<String, ReorderStats>,
}

impl Tally {
    /// Reads the reorder buffers again.
    async fn refresh(&mut self, client: &PullStreamClient, ids: &[String]) {
        for id in ids {
            if let Some(stats) = client.stats(id).await {
                self.current.insert(id.clone(), stats);
            }
        }
    }

    /// `live_id` stopped: its last reading is final.
    fn stop(&mut self, live_id: &str) {
        if let Some(s) = self.current.remove(live_id) {
            self.stopped = [self.stopped[0] + s.lost, self.stopped[1] + s.late, self.stopped[2] + s.recovered];
        }
    }

    fn totals(&self) -> Totals {
        let [mut lost, mut late, mut recovered] = self.stopped;
        for s in self.current.values() {
            (lost, late, recovered) = (lost + s.lost, late + s.late, recovered + s.recovered);
        }
        Totals { bytes: self.bytes, packets: self.packets, lost, late, recovered }
    }
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
