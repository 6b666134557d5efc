//! Request guards: the admin token and the loopback `Host` check.

use super::{ApiError, Shared};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// Whether two secrets are equal, in time independent of where they differ
/// (their SHA-256 digests are compared).
fn same_secret(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

/// Checks `Authorization: Bearer <token>` when a token is configured:
/// 401 when missing, 403 when wrong.
pub async fn require_token(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let Some(token) = state.admin_token.as_deref() else {
        return next.run(request).await;
    };
    let given = bearer(request.headers());
    match given {
        None => {
            let err = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing Authorization: Bearer token");
            let mut response = err.into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            response
        }
        Some(given) if same_secret(given, token) => next.run(request).await,
        Some(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", "wrong admin token").into_response(),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Refuses requests whose `Host` is not loopback (used when no token is
/// configured, against DNS rebinding). A request naming no host at all
/// (HTTP/1.0 tools; browsers always send one) passes.
pub async fn require_loopback_host(request: Request, next: Next) -> Response {
    // HTTP/1 sends `Host`; HTTP/2 the URI authority.
    let host = match request.headers().get(header::HOST) {
        Some(h) => Some(h.to_str().unwrap_or("")),
        None => request.uri().authority().map(|a| a.as_str()),
    };
    match host {
        Some(host) if !is_loopback_host(host) => {
            ApiError::new(StatusCode::FORBIDDEN, "forbidden_host", "Host must be a loopback name or address")
                .into_response()
        }
        _ => next.run(request).await,
    }
}

/// Whether a `Host` header value (with or without port) names loopback:
/// `localhost`, `*.localhost`, `127.0.0.0/8` or `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, _)) => inside,
            None => return false,
        }
    } else {
        host.split_once(':').map_or(host, |(name, _)| name)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "LOCALHOST:30390",
            "127.0.0.1",
            "127.0.0.1:80",
            "127.1.2.3:1",
            "[::1]:30390",
            "[::1]",
            "a.localhost",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in ["evil.example", "evil.example:30390", "10.0.0.1", "[::2]:1", "localhost.evil.com", "", "[::1"] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
    }
}
