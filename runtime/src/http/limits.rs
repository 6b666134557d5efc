//! Request limits and the shape of every error answer.
//!
//! A request whose target is longer than [`MAX_URI_BYTES`] is answered 414,
//! one whose header fields add up to more than [`MAX_HEADER_BYTES`] (or
//! number more than [`MAX_HEADERS`]) 431, one whose body is larger than
//! [`MAX_BODY_BYTES`] 413. Whatever produced an error (these limits, a path
//! that does not decode, a wrong method, an extractor), the answer has the
//! shape of the route asked: on native routes the JSON error shape (§3.1);
//! on the compatibility routes (§3.2) HTTP 200 with `{"errCode", "msg"}`,
//! `errCode` being the HTTP status a native route would have answered.
//! Heads beyond hyper's own buffer (about 400 KB) are cut by hyper with a
//! bare 431 before any of this runs.

use super::ApiError;
use super::legacy::COMPAT_PREFIX;
use axum::Json;
use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Longest request target (path and query), in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header bytes (names and values) in one request.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most header fields in one request (hyper refuses more than 100 itself).
pub const MAX_HEADERS: usize = 100;
/// Largest request body, in bytes (every body the API takes is a small
/// JSON object).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How much of an error answer's body is read to reshape it.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The limit a request breaks, if any.
fn broken_limit(request: &Request) -> Option<ApiError> {
    let target = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is longer than {MAX_URI_BYTES} bytes"),
        ));
    }
    let headers = request.headers();
    let bytes: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if bytes > MAX_HEADER_BYTES || headers.len() > MAX_HEADERS {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("at most {MAX_HEADERS} header fields of {MAX_HEADER_BYTES} bytes in all"),
        ));
    }
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Some(too_large());
    }
    None
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// The `snake_case` code of an error status produced outside the handlers.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable_entity",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// Checks the limits, runs the request, and gives an error answer the
/// shape of the route: see the module documentation.
pub async fn shape_errors(request: Request, next: Next) -> Response {
    let compat = request.uri().path().starts_with(COMPAT_PREFIX);
    let response = match broken_limit(&request) {
        Some(error) => error.into_response(),
        None => next.run(request).await,
    };
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json && !compat {
        // Already the native shape (ApiError).
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = to_bytes(body, MAX_ERROR_BODY).await.unwrap_or_default();
    let message = match serde_json::from_slice::<Value>(&text) {
        Ok(json) if is_json => json["error"]["message"].as_str().unwrap_or_default().to_owned(),
        _ => String::from_utf8_lossy(&text).trim().to_owned(),
    };
    let message = if message.is_empty() { status.canonical_reason().unwrap_or("error").to_owned() } else { message };
    if compat {
        let mut answer = Json(json!({"errCode": status.as_u16(), "msg": message})).into_response();
        // The bearer challenge and the like stay; the status becomes 200.
        for (name, value) in parts.headers.iter().filter(|(n, _)| *n == header::WWW_AUTHENTICATE) {
            answer.headers_mut().insert(name, value.clone());
        }
        return answer;
    }
    let mut answer = ApiError::new(status, code_of(status), message).into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        answer.headers_mut().insert(header::ALLOW, allow.clone());
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn empty() -> Body {
        Body::empty()
    }

    #[test]
    fn limits_are_checked_before_routing() {
        let long = format!("/api/streams?q={}", "a".repeat(MAX_URI_BYTES));
        let request = Request::builder().uri(long).body(empty()).unwrap();
        assert_eq!(broken_limit(&request).map(|e| e.status), Some(StatusCode::URI_TOO_LONG));
        let request =
            Request::builder().uri("/api/streams").header("x-big", "b".repeat(MAX_HEADER_BYTES)).body(empty()).unwrap();
        assert_eq!(broken_limit(&request).map(|e| e.status), Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
        let request = Request::builder()
            .uri("/api/streams")
            .header("content-length", (MAX_BODY_BYTES + 1).to_string())
            .body(empty())
            .unwrap();
        assert_eq!(broken_limit(&request).map(|e| e.status), Some(StatusCode::PAYLOAD_TOO_LARGE));
        let fine = Request::builder().uri("/api/streams").body(empty()).unwrap();
        assert_eq!(broken_limit(&fine), None);
        assert_eq!(too_large().status, StatusCode::PAYLOAD_TOO_LARGE);
    }
}
