//! The native API (docs/protocol.md §3.1) and the two open pages.

use super::shapes::{ClientList, StreamDetail, StreamList};
use super::{ApiError, Shared};
use crate::metrics;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rtprelay_core::{Command, CommandError, LiveId, Reply};
use serde::Deserialize;

/// `GET /healthz`: `ok` while serving; 503 with
/// `{"status": "failing", "store": {"state": "failing", "error", "failingForSeconds"}}`
/// while the credential store cannot write (a full disk).
pub async fn healthz(State(state): State<Shared>) -> Response {
    match state.credentials.health().await {
        Ok(()) => "ok".into_response(),
        Err(failing) => {
            let store = serde_json::json!({
                "state": "failing",
                "error": failing.error,
                "failingForSeconds": failing.seconds,
            });
            let body = serde_json::json!({"status": "failing", "store": store});
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// The OpenAPI document of this API, kept in the repo.
pub const OPENAPI: &str = include_str!("../../api/openapi.json");

/// `GET /api/openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Any unknown route.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// A known route asked with a method it does not take: 405 in the JSON
/// error shape.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
}

/// The body of `POST /api/streams`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    live_id: Option<String>,
    live_code: Option<String>,
}

/// `POST /api/streams`: 201 `{"liveId", "liveCode"}`, 400 on a bad body,
/// id or code, 409 if the id exists. An empty body counts as `{}`.
pub async fn create_stream(State(state): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let body: CreateBody = if body.iter().all(u8::is_ascii_whitespace) {
        CreateBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", format!("bad request body: {e}")))?
    };
    if body.live_id.is_none() && body.live_code.is_some() {
        // Not one of the three forms: importing a code needs its id.
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_live_id", "a liveCode needs its liveId"));
    }
    let created = state.credentials.create(body.live_id, body.live_code).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// The stream a path names. Text that is no stream id names no stream: a
/// 404, as for any unknown one.
fn named_stream(live_id: &str) -> Result<LiveId, ApiError> {
    LiveId::parse(live_id).map_err(|_| ApiError::not_found(CommandError::NotFound.to_string()))
}

/// Runs a command whose failure is a 404.
async fn query(state: &Shared, command: Command) -> Result<Reply, ApiError> {
    match state.relay.run(command).await? {
        Ok(reply) => Ok(reply),
        Err(CommandError::NotLive) => Err(ApiError::new(StatusCode::NOT_FOUND, "not_live", "stream is not live")),
        Err(e) => Err(ApiError::not_found(e.to_string())),
    }
}

fn unexpected() -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "unexpected reply from the relay")
}

/// `GET /api/streams`: every stream with a credential or live now.
pub async fn list_streams(State(state): State<Shared>) -> Result<Response, ApiError> {
    let Reply::Streams(streams) = query(&state, Command::ListStreams).await? else { return Err(unexpected()) };
    Ok(Json(StreamList::from(streams.as_slice())).into_response())
}

/// `GET /api/streams/{liveId}`: one stream with its subscribers; 404 if
/// unknown.
pub async fn get_stream(State(state): State<Shared>, Path(live_id): Path<String>) -> Result<Response, ApiError> {
    let live_id = named_stream(&live_id)?;
    let Reply::Stream(s) = query(&state, Command::GetStream { live_id }).await? else { return Err(unexpected()) };
    Ok(Json(StreamDetail::from(&s)).into_response())
}

/// `POST /api/streams/{liveId}/stop`: 204; 404 if not live.
pub async fn stop_stream(State(state): State<Shared>, Path(live_id): Path<String>) -> Result<StatusCode, ApiError> {
    let live_id = named_stream(&live_id)?;
    query(&state, Command::StopStream { live_id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/streams/{liveId}`: revokes and stops; 204; 404 if unknown.
pub async fn delete_stream(State(state): State<Shared>, Path(live_id): Path<String>) -> Result<StatusCode, ApiError> {
    if state.credentials.revoke(&named_stream(&live_id)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(CommandError::NotFound.to_string()))
    }
}

/// `GET /api/clients`: every pull client (addresses, never ids).
pub async fn list_clients(State(state): State<Shared>) -> Result<Response, ApiError> {
    let Reply::Clients(clients) = query(&state, Command::ListClients).await? else { return Err(unexpected()) };
    Ok(Json(ClientList::from(clients.as_slice())).into_response())
}

/// `GET /metrics`: the core's counters and the server's gauges.
pub async fn metrics(State(state): State<Shared>) -> Result<Response, ApiError> {
    let Reply::Counters(counters) = query(&state, Command::Counters).await? else { return Err(unexpected()) };
    let Reply::Streams(streams) = query(&state, Command::ListStreams).await? else { return Err(unexpected()) };
    let Reply::Clients(clients) = query(&state, Command::ListClients).await? else { return Err(unexpected()) };
    let stored = state.credentials.count().await?;
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let gauges = [
        ("streams_known", "Streams with a credential or live.", count(streams.len())),
        ("streams_live", "Live streams.", count(streams.iter().filter(|s| s.live).count())),
        (
            "subscribers",
            "Acknowledged subscriptions over all streams.",
            count(streams.iter().map(|s| s.subscribers).sum()),
        ),
        ("pull_clients", "Pull clients.", count(clients.len())),
        ("credentials_stored", "Credentials in the store.", i64::try_from(stored).unwrap_or(i64::MAX)),
        ("uptime_seconds", "Seconds since the server started.", count(state.started.elapsed().as_secs() as usize)),
        ("http_connections", "Open HTTP connections.", count(state.connections.open())),
        ("http_connections_max", "The cap on open HTTP connections.", count(state.connections.cap())),
        (
            "http_connections_evicted",
            "HTTP connections closed to make room for new ones.",
            i64::try_from(state.connections.evicted()).unwrap_or(i64::MAX),
        ),
        (
            "open_files_limit",
            "The soft open-file limit the server runs with.",
            i64::try_from(state.open_files_limit).unwrap_or(i64::MAX),
        ),
    ];
    let page = metrics::render(&counters, &gauges);
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], page).into_response())
}
