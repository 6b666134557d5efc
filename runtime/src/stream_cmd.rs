//! `rtprelay stream create|list|show|stop|delete` and `rtprelay clients`
//! (docs/protocol.md §4): a running relay's native HTTP API
//! ([`crate::api_client`]) from the command line. `create` prints the new
//! credentials as one JSON line; the others print a table, or the API's
//! JSON with `--json`.

use crate::api_client::{Api, ApiArgs};
use crate::credentials::NewStream;
use crate::exit;
use crate::table::Table;
use clap::{Args, Subcommand};
use rtprelay_core::LiveId;
use serde_json::Value;

/// `rtprelay stream ...`.
#[derive(Debug, Subcommand)]
pub enum StreamCommand {
    /// Creates stream credentials and prints {"liveId", "liveCode"}.
    Create(StreamCreateArgs),
    /// Lists every stream the relay knows: live or not, bitrate, packets,
    /// loss, subscribers.
    List(ListArgs),
    /// Shows one stream and its subscribers.
    Show(OneStreamArgs),
    /// Stops a live stream now (its subscribers are told); its
    /// credentials stay.
    Stop(OneStreamArgs),
    /// Revokes a stream's credentials and stops it.
    Delete(OneStreamArgs),
}

/// `rtprelay stream create` flags.
#[derive(Debug, Args)]
pub struct StreamCreateArgs {
    /// The stream id (1-40 of [A-Za-z0-9._-]); generated when absent.
    #[arg(long, value_name = "ID")]
    pub live_id: Option<String>,
    /// Where the relay's API is.
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Flags of the commands that list.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Where the relay's API is.
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Flags of the commands about one stream.
#[derive(Debug, Args)]
pub struct OneStreamArgs {
    /// The stream id.
    #[arg(value_name = "ID")]
    pub live_id: String,
    /// Print JSON instead of a table or a sentence.
    #[arg(long)]
    pub json: bool,
    /// Where the relay's API is.
    #[command(flatten)]
    pub api: ApiArgs,
}

/// A failed command: its exit code and one line.
type Failed = (i32, String);

fn usage(message: impl Into<String>) -> Failed {
    (exit::USAGE, message.into())
}

fn failure(message: impl Into<String>) -> Failed {
    (exit::FAILURE, message.into())
}

/// Runs a `stream` subcommand; returns the exit code.
pub fn main(command: &StreamCommand) -> i32 {
    let (result, name) = match command {
        StreamCommand::Create(args) => (create(args), "create"),
        StreamCommand::List(args) => (list(args), "list"),
        StreamCommand::Show(args) => (show(args), "show"),
        StreamCommand::Stop(args) => (stop_or_delete(args, Change::Stop), "stop"),
        StreamCommand::Delete(args) => (stop_or_delete(args, Change::Delete), "delete"),
    };
    finish(result, &["stream", name])
}

/// Prints the output or the failure (with the usage of the command `path`
/// names after a usage mistake); returns the exit code.
fn finish(result: Result<String, Failed>, path: &[&str]) -> i32 {
    match result {
        Ok(out) => {
            print!("{out}");
            exit::OK
        }
        Err((code, message)) => {
            eprintln!("rtprelay: {message}");
            if code == exit::USAGE {
                eprint!("{}", crate::cli::after_reason(path));
            }
            code
        }
    }
}

fn api(args: &ApiArgs) -> Result<Api, Failed> {
    Api::new(args).map_err(usage)
}

/// The id a command names; bad usage if it cannot be one.
fn live_id(text: &str) -> Result<LiveId, Failed> {
    LiveId::parse(text).map_err(|_| usage(format!("{text:?} is not a stream id: 1-40 characters of A-Z a-z 0-9 . _ -")))
}

fn create(args: &StreamCreateArgs) -> Result<String, Failed> {
    let id = args.live_id.as_deref().map(live_id).transpose()?;
    let api = api(&args.api)?;
    let body = match &id {
        Some(id) => serde_json::json!({ "liveId": id.as_str() }),
        None => serde_json::json!({}),
    };
    let answer = api.call("POST", "/api/streams", Some(&body)).map_err(failure)?;
    if answer.status != 201 {
        return Err(failure(format!("the relay refused: HTTP {}: {}", answer.status, answer.message())));
    }
    let created: NewStream =
        serde_json::from_str(&answer.body).map_err(|_| failure(format!("unexpected answer: {}", answer.body)))?;
    Ok(format!("{}\n", serde_json::to_string(&created).map_err(|e| failure(e.to_string()))?))
}

fn list(args: &ListArgs) -> Result<String, Failed> {
    let (body, json) = api(&args.api)?.get_json("/api/streams").map_err(failure)?;
    if args.json {
        return Ok(format!("{}\n", body.trim_end()));
    }
    let mut table = Table::new(&[
        ("LIVE ID", false),
        ("LIVE", false),
        ("PUBLISHER", false),
        ("KBIT/S", true),
        ("PACKETS", true),
        ("LOST", true),
        ("RECOVERED", true),
        ("SUBSCRIBERS", true),
        ("DELAY MS", true),
    ]);
    for s in json["streams"].as_array().into_iter().flatten() {
        table.row(vec![
            text(&s["liveId"]),
            yes_no(&s["live"]),
            text(&s["publisher"]),
            kbps(&s["bitrateBps"]["3s"]),
            text(&s["packetsIn"]),
            text(&s["lost"]),
            text(&s["recovered"]),
            text(&s["subscriberCount"]),
            millis(&s["delayMs"]),
        ]);
    }
    Ok(if table.is_empty() { "no streams: `rtprelay stream create` makes one\n".to_owned() } else { table.to_string() })
}

fn show(args: &OneStreamArgs) -> Result<String, Failed> {
    let id = live_id(&args.live_id)?;
    let api = api(&args.api)?;
    let answer = api.call("GET", &format!("/api/streams/{id}"), None).map_err(failure)?;
    match answer.status {
        200 => {}
        404 => return Err(failure(format!("no stream {id} on this relay (`rtprelay stream list` shows them)"))),
        n => return Err(failure(format!("HTTP {n}: {}", answer.message()))),
    }
    let s: Value = serde_json::from_str(&answer.body).map_err(|e| failure(format!("not JSON: {e}")))?;
    if args.json {
        return Ok(format!("{}\n", answer.body.trim_end()));
    }
    let rates = &s["bitrateBps"];
    let mut out = format!(
        "live id      {}\nlive         {}\nssrc         {}\npublisher    {}\nbitrate      {} / {} / {} kbit/s (1 s / 3 s / 10 s)\n\
         packets in   {} ({} bytes)\nlost         {}\nrecovered    {}\ndelay        {} ms\nsubscribers  {}\n",
        text(&s["liveId"]),
        yes_no(&s["live"]),
        text(&s["ssrc"]),
        text(&s["publisher"]),
        kbps(&rates["1s"]),
        kbps(&rates["3s"]),
        kbps(&rates["10s"]),
        text(&s["packetsIn"]),
        text(&s["bytesIn"]),
        text(&s["lost"]),
        text(&s["recovered"]),
        millis(&s["delayMs"]),
        text(&s["subscriberCount"]),
    );
    let mut table =
        Table::new(&[("SUBSCRIBER", false), ("PACKETS SENT", true), ("BYTES SENT", true), ("RETRANSMITTED", true)]);
    for sub in s["subscribers"].as_array().into_iter().flatten() {
        table.row(vec![
            text(&sub["address"]),
            text(&sub["packetsSent"]),
            text(&sub["bytesSent"]),
            text(&sub["retransmitted"]),
        ]);
    }
    if !table.is_empty() {
        out.push('\n');
        out.push_str(&table.to_string());
    }
    Ok(out)
}

/// What `stop` and `delete` do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Stop,
    Delete,
}

fn stop_or_delete(args: &OneStreamArgs, change: Change) -> Result<String, Failed> {
    let id = live_id(&args.live_id)?;
    let api = api(&args.api)?;
    let (method, path, done, missing) = match change {
        Change::Stop => ("POST", format!("/api/streams/{id}/stop"), "stopped", "is not live"),
        Change::Delete => ("DELETE", format!("/api/streams/{id}"), "deleted", "does not exist"),
    };
    let answer = api.call(method, &path, None).map_err(failure)?;
    match answer.status {
        // In this order: `liveId` first, as in every answer of the API.
        204 if args.json => Ok(format!("{{\"liveId\":{},\"{done}\":true}}\n", Value::from(id.as_str()))),
        204 => Ok(format!("{id}: {done}\n")),
        404 => Err(failure(format!("stream {id} {missing}"))),
        n => Err(failure(format!("HTTP {n}: {}", answer.message()))),
    }
}

/// `rtprelay clients`: the relay's pull clients.
pub fn clients(args: &ListArgs) -> i32 {
    finish(clients_text(args), &["clients"])
}

fn clients_text(args: &ListArgs) -> Result<String, Failed> {
    let (body, json) = api(&args.api)?.get_json("/api/clients").map_err(failure)?;
    if args.json {
        return Ok(format!("{}\n", body.trim_end()));
    }
    let mut table = Table::new(&[
        ("ADDRESS", false),
        ("VERIFIED", false),
        ("STREAMS", false),
        ("PACKETS SENT", true),
        ("RETRANSMITTED", true),
        ("LOSS", true),
        ("JITTER", true),
    ]);
    for c in json["clients"].as_array().into_iter().flatten() {
        let subs = c["subscriptions"].as_array().map(Vec::as_slice).unwrap_or_default();
        // An unacknowledged subscription is marked `?`.
        let streams: Vec<String> = subs
            .iter()
            .map(|s| format!("{}{}", text(&s["liveId"]), if s["acked"] == true { "" } else { "?" }))
            .collect();
        let loss = subs
            .iter()
            .filter_map(|s| s["reportedLoss"].as_f64())
            .fold(None, |m: Option<f64>, l| Some(m.map_or(l, |m| m.max(l))));
        let jitter = subs.iter().filter_map(|s| s["reportedJitter"].as_u64()).max();
        table.row(vec![
            text(&c["address"]),
            yes_no(&c["verified"]),
            if streams.is_empty() { "-".to_owned() } else { streams.join(",") },
            text(&c["packetsSent"]),
            text(&c["retransmitted"]),
            loss.map_or("-".to_owned(), |l| format!("{:.1}%", l * 100.0)),
            jitter.map_or("-".to_owned(), |j| j.to_string()),
        ]);
    }
    Ok(if table.is_empty() { "no pull clients\n".to_owned() } else { table.to_string() })
}

/// A JSON value as a cell: text without quotes, `-` for null.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn yes_no(v: &Value) -> String {
    if v == true { "yes" } else { "no" }.to_owned()
}

fn kbps(bps: &Value) -> String {
    bps.as_f64().map_or("-".to_owned(), |b| format!("{:.0}", b / 1000.0))
}

fn millis(ms: &Value) -> String {
    ms.as_f64().map_or("-".to_owned(), |m| format!("{m:.0}"))
}
