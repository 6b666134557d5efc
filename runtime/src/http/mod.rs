//! The HTTP API (docs/protocol.md §3): the native JSON API under `/api`
//! ([`native`]), the legacy routes under `/VideoMeeting/rtpServer`
//! ([`legacy`]), `/healthz`, `/metrics`, and the live dashboard at `/`
//! ([`dashboard`], which reads the native API from the browser). Handlers
//! reach the packet loop only through the [`RelayHandle`] channel.
//!
//! Guards: with an admin token, every native `/api` route needs
//! `Authorization: Bearer <token>` (401 without, 403 wrong); without one,
//! any request whose `Host` is not a loopback name or address is refused
//! (DNS rebinding), and the server refuses a non-loopback bind at start.
//! Two `Host` headers, or one that is not exactly `host[:port]`, are
//! always refused. Oversized requests are refused, and every error answer
//! takes the shape of its route ([`limits`]); connections are capped and
//! time out ([`connections`]).

pub mod connections;
pub mod dashboard;
pub mod error;
pub mod guard;
pub mod legacy;
pub mod limits;
pub mod native;
mod shapes;

use crate::config::AppKey;
use crate::credentials::Credentials;
use crate::relay_handle::RelayHandle;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use std::sync::Arc;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Debug)]
pub struct AppState {
    /// The packet loop.
    pub relay: RelayHandle,
    /// Credential creation and revocation.
    pub credentials: Arc<Credentials>,
    /// The admin token, if configured.
    pub admin_token: Option<String>,
    /// Callers of the signed-envelope routes.
    pub app_keys: Vec<AppKey>,
    /// When the server started (for the uptime gauge).
    pub started: std::time::Instant,
    /// The open HTTP connections (for their gauges).
    pub connections: Arc<connections::Connections>,
    /// The open-file limit the server runs with (for its gauge).
    pub open_files_limit: u64,
}

/// The shared state handed to handlers.
pub type Shared = Arc<AppState>;

/// The whole HTTP application.
pub fn router(state: Shared) -> Router {
    let api = Router::new()
        .route("/streams", post(native::create_stream).get(native::list_streams))
        .route("/streams/{live_id}", get(native::get_stream).delete(native::delete_stream))
        .route("/streams/{live_id}/stop", post(native::stop_stream))
        .route("/clients", get(native::list_clients))
        .route("/openapi.json", get(native::openapi))
        .fallback(native::not_found)
        .method_not_allowed_fallback(native::method_not_allowed)
        .layer(from_fn_with_state(Arc::clone(&state), guard::require_token));
    let compat = Router::new()
        .route("/api/getLiveInfo", post(legacy::get_live_info))
        .route("/api/stopStream", post(legacy::stop_stream))
        .route("/api/packageLoss", post(legacy::package_loss))
        .route("/api/delay", post(legacy::delay))
        .route("/api/getAllInfo", get(legacy::get_all_info))
        .route("/stream/getAllStream", get(legacy::get_all_stream))
        .route("/stream/getSubscribers", get(legacy::get_subscribers))
        .route("/api/allInfoPage", get(dashboard::page));
    let app = Router::new()
        .route("/", get(dashboard::page))
        .route(dashboard::SCRIPT_PATH, get(dashboard::script))
        .route(dashboard::STYLE_PATH, get(dashboard::style))
        .route("/healthz", get(native::healthz))
        .route("/metrics", get(native::metrics))
        .nest("/api", api)
        .nest(legacy::COMPAT_PREFIX, compat)
        .fallback(native::not_found)
        .with_state(Arc::clone(&state));
    app.layer(from_fn_with_state(state.admin_token.is_none(), guard::check_host))
        .layer(from_fn(limits::shape_errors))
        .layer(DefaultBodyLimit::max(limits::MAX_BODY_BYTES))
}
