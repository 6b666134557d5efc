//! The operators' live dashboard (docs/protocol.md §3.1, `GET /`, and the
//! compatibility route `allInfoPage` of §3.2): one HTML page, its script and
//! its style sheet, all embedded in the binary. The page reads the native
//! JSON API every second, so it needs the admin token exactly as the API
//! does; the page itself and its two files are served without it (they
//! hold no data).
//!
//! Every answer carries a strict `Content-Security-Policy`: scripts and
//! styles only from these files (no inline code), fetches only to this
//! origin, no framing.

use axum::http::header::{self, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The page.
const PAGE: &str = include_str!("../../assets/dashboard/index.html");
/// Its script (polling, tables, charts, actions).
const SCRIPT: &str = include_str!("../../assets/dashboard/dashboard.js");
/// Its style sheet.
const STYLE: &str = include_str!("../../assets/dashboard/dashboard.css");

/// Where the page finds its script.
pub const SCRIPT_PATH: &str = "/dashboard/dashboard.js";
/// Where the page finds its style sheet.
pub const STYLE_PATH: &str = "/dashboard/dashboard.css";

/// Only this origin's script, style and API; nothing inline, no frames.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                       img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// An embedded file with the dashboard's headers.
fn embedded(content_type: &'static str, body: &'static str) -> Response {
    let headers: [(HeaderName, HeaderValue); 6] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        // Revalidated on every load, so an upgraded relay serves its own page.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, body).into_response()
}

/// `GET /` and `GET /VideoMeeting/rtpServer/api/allInfoPage`.
pub async fn page() -> Response {
    embedded("text/html; charset=utf-8", PAGE)
}

/// `GET /dashboard/dashboard.js`.
pub async fn script() -> Response {
    embedded("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /dashboard/dashboard.css`.
pub async fn style() -> Response {
    embedded("text/css; charset=utf-8", STYLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page loads exactly the two files served beside it, and holds no
    /// inline script or style the policy would block.
    #[test]
    fn page_names_its_files_and_nothing_inline() {
        assert!(PAGE.contains(&format!(r#"<script src="{SCRIPT_PATH}" defer></script>"#)));
        assert!(PAGE.contains(&format!(r#"<link rel="stylesheet" href="{STYLE_PATH}">"#)));
        assert_eq!(PAGE.matches("<script").count(), 1, "one script, from its own file");
        assert!(!PAGE.contains("<style") && !PAGE.contains(" style="), "no inline style");
        for handler in ["onclick=", "onload=", "onsubmit=", "onerror=", "javascript:"] {
            assert!(!PAGE.contains(handler), "no inline handler {handler}");
        }
        assert!(!SCRIPT.contains("innerHTML") && !SCRIPT.contains("eval("), "data reaches the DOM as text only");
    }
}
