//! The compatibility routes (docs/protocol.md §3.2): always HTTP 200 with
//! `{"errCode", "msg"}` bodies, legacy codes for errors, no bearer token.
//! Stream lists show SSRCs signed, as the legacy Java components read them.

use super::Shared;
use crate::envelope::{self, Envelope, EnvelopeError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use rtprelay_core::{Command, CommandError, LiveId, Reply};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// `errCode` of `stopStream` for a stream that is not live.
pub const NO_SUCH_STREAM: i64 = 110_002;
/// `errCode` when the relay itself failed (store, shutdown).
pub const INTERNAL: i64 = 500;

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
