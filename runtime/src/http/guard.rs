//! Request guards: the admin token and the `Host` check.

use super::{ApiError, Shared};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv6Addr};

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

/// Checks the `Host` of every request: two `Host` headers, or one that is
/// not exactly `host[:port]`, are refused (400 `invalid_host`, as
/// RFC 9110 §7.2 asks); when `loopback_only` (no token configured, against
/// DNS rebinding) a host that is not loopback is refused too (403
/// `forbidden_host`). A request naming no host at all (HTTP/1.0 tools;
/// browsers always send one) passes.
pub async fn check_host(State(loopback_only): State<bool>, request: Request, next: Next) -> Response {
    let mut values = request.headers().get_all(header::HOST).iter();
    // HTTP/1 sends `Host`; HTTP/2 the URI authority.
    let host = match (values.next(), values.next()) {
        (Some(_), Some(_)) => return invalid_host("a request has one Host header"),
        (Some(value), None) => Some(value.to_str().unwrap_or("")),
        (None, _) => request.uri().authority().map(|a| a.as_str()),
    };
    let Some(host) = host else { return next.run(request).await };
    let Some(name) = host_name(host) else { return invalid_host("Host must be host[:port]") };
    if loopback_only && !is_loopback_name(name) {
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden_host", "Host must be a loopback name or address")
            .into_response();
    }
    next.run(request).await
}

fn invalid_host(message: &str) -> Response {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_host", message).into_response()
}

/// The host part of a `Host` value that is exactly `host[:port]`: a name
/// or IPv4 address (letters, digits, `.`, `-`) or a bracketed IPv6
/// address, then optionally `:` and a port (1-5 digits, at most 65535).
/// `None` for anything else, such as `127.0.0.1:80@evil.example`.
pub fn host_name(value: &str) -> Option<&str> {
    let (name, port) = match value.strip_prefix('[') {
        Some(rest) => {
            let (inside, after) = rest.split_once(']')?;
            inside.parse::<Ipv6Addr>().ok()?;
            (inside, if after.is_empty() { None } else { Some(after.strip_prefix(':')?) })
        }
        None => {
            let (name, port) = value.split_once(':').map_or((value, None), |(n, p)| (n, Some(p)));
            let name_chars = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-');
            if name.is_empty() || !name.bytes().all(name_chars) {
                return None;
            }
            (name, port)
        }
    };
    let port_ok = |p: &str| {
        (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65_535)
    };
    if port.is_some_and(|p| !port_ok(p)) {
        return None;
    }
    Some(name)
}

/// Whether a host name (without port or brackets) is loopback:
/// `localhost`, `*.localhost`, `127.0.0.0/8` or `::1`.
fn is_loopback_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a `Host` header value is exactly `host[:port]` and names
/// loopback.
pub fn is_loopback_host(host: &str) -> bool {
    host_name(host).is_some_and(is_loopback_name)
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
        for bad in [
            "evil.example",
            "evil.example:30390",
            "10.0.0.1",
            "[::2]:1",
            "localhost.evil.com",
            "",
            "[::1",
            "127.0.0.1:80@evil.com",
            "localhost:80@evil.com",
            "[::1]:80@evil.com",
            "127.0.0.1:80/x",
            "127.0.0.1:",
            "127.0.0.1:99999",
            "127.0.0.1:8a",
            "[::1]x",
            "localhost:1:2",
            "user@localhost",
            "127.0.0.1 :80",
        ] {
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
