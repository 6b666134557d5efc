//! The compatibility routes (docs/protocol.md §3.2): always HTTP 200 with
//! `{"errCode", "msg"}` bodies, legacy codes for errors, no bearer token.
//! Stream lists show SSRCs signed, as the legacy Java components read them.

use super::Shared;
use crate::envelope::{self, Envelope, EnvelopeError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use rtprelay_core::{ClientId, ClientInfo, Command, CommandError, LiveId, LossReport, Reply, StreamInfo};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the compatibility routes live.
pub const COMPAT_PREFIX: &str = "/VideoMeeting/rtpServer";

/// `errCode` of `stopStream` for a stream that is not live.
pub const NO_SUCH_STREAM: i64 = 110_002;
/// `errCode` of `packageLoss` for a body it cannot read.
pub const BAD_PACKAGE_LOSS: i64 = 110_003;
/// `errCode` of `delay` for a body it cannot read.
pub const BAD_DELAY: i64 = 110_004;
/// `errCode` when the relay itself failed (store, shutdown).
pub const INTERNAL: i64 = 500;
/// What `getAllInfo` shows for a number it does not know (never `null`:
/// the legacy page calls `toFixed` on every number).
const UNKNOWN: i64 = -1;
/// The `packageLoss` figures, in the legacy order.
const LOSS_FIGURES: [&str; 7] =
    ["lossScale60", "throwScale60", "lossScale10", "throwScale10", "lossScale2", "throwScale2", "lossTotal"];

fn legacy_error(code: i64, msg: &str) -> Json<Value> {
    Json(json!({"errCode": code, "msg": msg}))
}

/// Parses and verifies a request body.
fn open(state: &Shared, body: &[u8]) -> Result<Envelope, EnvelopeError> {
    let envelope = envelope::parse(body)?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    envelope::verify(&envelope, &state.app_keys, u64::try_from(now_ms).unwrap_or(u64::MAX))?;
    Ok(envelope)
}

/// `POST .../api/getLiveInfo`: creates credentials (any `data`).
pub async fn get_live_info(State(state): State<Shared>, body: Bytes) -> Json<Value> {
    if let Err(e) = open(&state, &body) {
        return legacy_error(e.code(), e.message());
    }
    match state.credentials.create(None, None).await {
        Ok(created) => Json(json!({"liveInfo": created, "errCode": 0, "msg": ""})),
        Err(e) => legacy_error(INTERNAL, &e.to_string()),
    }
}

/// The `data` of `stopStream`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopData {
    live_id: String,
}

/// `POST .../api/stopStream`: stops a live stream named in `data`.
pub async fn stop_stream(State(state): State<Shared>, body: Bytes) -> Json<Value> {
    let envelope = match open(&state, &body) {
        Ok(envelope) => envelope,
        Err(e) => return legacy_error(e.code(), e.message()),
    };
    let Ok(data) = serde_json::from_str::<StopData>(&envelope.data) else {
        let e = EnvelopeError::Parse;
        return legacy_error(e.code(), e.message());
    };
    // Text that is no stream id names no stream.
    let Ok(live_id) = LiveId::try_from(data.live_id) else {
        return legacy_error(NO_SUCH_STREAM, "stream does not exist");
    };
    match state.relay.run(Command::StopStream { live_id }).await {
        Ok(Ok(_)) => Json(json!({"errCode": 0, "msg": "ok"})),
        Ok(Err(CommandError::NotFound | CommandError::NotLive | CommandError::AlreadyExists)) => {
            legacy_error(NO_SUCH_STREAM, "stream does not exist")
        }
        Err(gone) => legacy_error(INTERNAL, &gone.to_string()),
    }
}

/// A list, or JSON `null` when empty (the legacy components expect that).
fn list_or_null(items: Vec<Value>) -> Value {
    if items.is_empty() { Value::Null } else { Value::Array(items) }
}

/// `GET .../stream/getAllStream`: the live streams with their SSRCs.
pub async fn get_all_stream(State(state): State<Shared>) -> Json<Value> {
    match state.relay.run(Command::ListStreams).await {
        Ok(Ok(Reply::Streams(streams))) => {
            let infos = streams
                .iter()
                .filter(|s| s.live)
                .filter_map(|s| s.ssrc.map(|ssrc| json!({"liveId": s.live_id, "ssrc": ssrc.get() as i32})))
                .collect();
            Json(json!({"infos": list_or_null(infos), "errCode": 0, "msg": "ok"}))
        }
        Ok(_) => legacy_error(INTERNAL, "unexpected reply"),
        Err(gone) => legacy_error(INTERNAL, &gone.to_string()),
    }
}

/// `GET .../stream/getSubscribers?liveId=ID`: where a stream's data goes;
/// `null` for an unknown stream or none.
pub async fn get_subscribers(State(state): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    // No id, or text that is no stream id: no stream, so no subscribers.
    let Some(live_id) = query.get("liveId").and_then(|id| LiveId::parse(id).ok()) else {
        return Json(json!({"subscribers": Value::Null, "errCode": 0, "msg": "ok"}));
    };
    let subscribers = match state.relay.run(Command::GetStream { live_id }).await {
        Ok(Ok(Reply::Stream(s))) => s
            .subscriber_list
            .iter()
            .map(|sub| json!({"host": sub.address.ip().to_string(), "port": sub.address.port()}))
            .collect(),
        Ok(_) => Vec::new(),
        Err(gone) => return legacy_error(INTERNAL, &gone.to_string()),
    };
    Json(json!({"subscribers": list_or_null(subscribers), "errCode": 0, "msg": "ok"}))
}

/// `{"errCode": 0, "msg": "ok"}`, or the relay's failure.
fn done(result: Result<Result<Reply, CommandError>, crate::relay_handle::RelayGone>) -> Json<Value> {
    match result {
        Ok(_) => Json(json!({"errCode": 0, "msg": "ok"})),
        Err(gone) => legacy_error(INTERNAL, &gone.to_string()),
    }
}

/// A figure of a report: a number, or `null` / absent (unknown).
fn figure(value: Option<&Value>) -> Result<Option<f64>, ()> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(()),
    }
}

/// The body of `packageLoss`: the client id (a signed 32-bit integer, or
/// its unsigned reading) and the figures per stream id.
fn parse_package_loss(body: &[u8]) -> Result<(u32, Vec<(String, LossReport)>), ()> {
    let body: Value = serde_json::from_slice(body).map_err(|_| ())?;
    let client = body.get("clientId").and_then(Value::as_i64).ok_or(())?;
    if !(i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&client) {
        return Err(());
    }
    let map = match body.get("packageLossMap") {
        None | Some(Value::Null) => return Ok((client as u32, Vec::new())),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(()),
    };
    let mut streams = Vec::with_capacity(map.len());
    for (live_id, entry) in map {
        let field = |name: &str| match entry {
            Value::Null => Ok(None),
            Value::Object(o) => figure(o.get(name)),
            _ => Err(()),
        };
        let report = LossReport {
            loss_scale_60: field("lossScale60")?,
            throw_scale_60: field("throwScale60")?,
            loss_scale_10: field("lossScale10")?,
            throw_scale_10: field("throwScale10")?,
            loss_scale_2: field("lossScale2")?,
            throw_scale_2: field("throwScale2")?,
            loss_total: field("lossTotal")?,
        };
        streams.push((live_id.clone(), report));
    }
    Ok((client as u32, streams))
}

/// `POST .../api/packageLoss`: a pull client's loss per stream, kept with
/// its subscriptions. A client id the relay does not know gets the same
/// answer as a known one (no oracle for guessing ids).
pub async fn package_loss(State(state): State<Shared>, body: Bytes) -> Json<Value> {
    let Ok((client, streams)) = parse_package_loss(&body) else {
        return legacy_error(BAD_PACKAGE_LOSS, "packageLoss: bad request body");
    };
    done(state.relay.run(Command::ReportLoss { client: ClientId::new(client), streams }).await)
}

/// The body of `delay`: `{"liveId", "delay"}` (`delay` may be `null`).
fn parse_delay(body: &[u8]) -> Result<(String, Option<f64>), ()> {
    let body: Value = serde_json::from_slice(body).map_err(|_| ())?;
    let live_id = body.get("liveId").and_then(Value::as_str).ok_or(())?;
    Ok((live_id.to_owned(), figure(body.get("delay"))?))
}

/// `POST .../api/delay`: a publisher's measured delay; ids the relay does
/// not know (probes such as `liveIdTest-0`) are answered alike.
pub async fn delay(State(state): State<Shared>, body: Bytes) -> Json<Value> {
    let Ok((live_id, delay_ms)) = parse_delay(&body) else {
        return legacy_error(BAD_DELAY, "delay: bad request body");
    };
    done(state.relay.run(Command::ReportDelay { live_id, delay_ms }).await)
}

/// A number for `getAllInfo`: the value, or `-1` when unknown.
fn number(value: Option<f64>) -> Value {
    value.map_or(json!(UNKNOWN), |v| json!(v))
}

/// `packageLossInfo`: the seven figures, `-1` where unknown.
fn loss_info(report: Option<&LossReport>) -> Value {
    let r = report.copied().unwrap_or_default();
    let values = [
        r.loss_scale_60,
        r.throw_scale_60,
        r.loss_scale_10,
        r.throw_scale_10,
        r.loss_scale_2,
        r.throw_scale_2,
        r.loss_total,
    ];
    Value::Object(LOSS_FIGURES.iter().zip(values).map(|(k, v)| ((*k).to_owned(), number(v))).collect())
}

/// One entry of `pullStreamInfo`: the client's address, its loss per
/// stream (one `"-1"` entry when it lists none), and what it receives:
/// the incoming bitrate of the streams it acknowledged.
fn pull_stream_info(client: &ClientInfo, streams: &[StreamInfo]) -> Value {
    let mut package_info: Vec<Value> = client
        .subscriptions
        .iter()
        .map(|s| json!({"liveId": s.live_id, "packageLossInfo": loss_info(s.package_loss.as_ref())}))
        .collect();
    if package_info.is_empty() {
        package_info.push(json!({"liveId": "-1", "packageLossInfo": loss_info(None)}));
    }
    let mut bandwidth = [0u64; 3];
    for sub in client.subscriptions.iter().filter(|s| s.acked) {
        if let Some(stream) = streams.iter().find(|s| s.live_id.as_str() == sub.live_id) {
            for (sum, bps) in bandwidth.iter_mut().zip(stream.bitrate_bps) {
                *sum = sum.saturating_add(bps);
            }
        }
    }
    let [in1s, in3s, in10s] = bandwidth;
    json!({
        "address": {"host": client.address.ip().to_string(), "port": client.address.port()},
        "packageInfo": package_info,
        "bandwidthInfo": {"in1s": in1s, "in3s": in3s, "in10s": in10s},
    })
}

/// One entry of `streamInfo` (a live stream): SSRC signed, the publisher's
/// address, the incoming bitrate, and the delay its publisher reported
/// (else the measured round trip, else `-1`).
fn stream_info(s: &StreamInfo) -> Value {
    let [b1, b3, b10] = s.bitrate_bps;
    json!({
        "liveId": s.live_id,
        "ssrc": s.ssrc.map_or(UNKNOWN, |ssrc| i64::from(ssrc.get() as i32)),
        "ip": s.publisher.map_or_else(String::new, |p| p.ip().to_string()),
        "port": s.publisher.map_or(UNKNOWN, |p| i64::from(p.port())),
        "bandwidth": [[1, b1], [3, b3], [10, b10]],
        "delay": number(s.reported_delay_ms.or(s.rtt_ms)),
    })
}

/// A command's reply; `Err` if the relay is gone or the command failed.
async fn reply(state: &Shared, command: Command) -> Result<Reply, ()> {
    state.relay.run(command).await.map_err(|_| ())?.map_err(|_| ())
}

/// `GET .../api/getAllInfo`: every pull client and every live stream, in
/// the legacy page's shape, with no `null` anywhere.
pub async fn get_all_info(State(state): State<Shared>) -> Json<Value> {
    let (Ok(Reply::Streams(streams)), Ok(Reply::Clients(clients))) =
        (reply(&state, Command::ListStreams).await, reply(&state, Command::ListClients).await)
    else {
        return legacy_error(INTERNAL, "the relay did not answer");
    };
    let pull: Vec<Value> = clients.iter().map(|c| pull_stream_info(c, &streams)).collect();
    let live: Vec<Value> = streams.iter().filter(|s| s.live).map(stream_info).collect();
    Json(json!({"pullStreamInfo": pull, "streamInfo": live, "errCode": 0, "msg": "ok"}))
}
