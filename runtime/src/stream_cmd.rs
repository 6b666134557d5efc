//! `rtprelay stream create`: asks a running relay's HTTP API for new
//! credentials and prints them as one JSON line.

use crate::cli::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE, StreamCreateArgs};
use crate::credentials::NewStream;
use rtprelay_core::auth::is_valid_live_id;
use std::time::Duration;

/// How long the call may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The API base URL from `--http`: a URL, or `host:port` meaning `http://`.
pub fn base_url(http: &str) -> Result<String, String> {
    let http = http.trim();
    let rest = match http.split_once("://") {
        Some(("http", rest)) => rest,
        Some((scheme, _)) => return Err(format!("--http: unsupported scheme {scheme:?} (use http://)")),
        None => http,
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err("--http: no host".into());
    }
    Ok(format!("http://{rest}"))
}

/// Runs the command; returns the exit code.
pub fn create(args: &StreamCreateArgs) -> i32 {
    if args.live_id.as_deref().is_some_and(|id| !is_valid_live_id(id)) {
        eprintln!("rtprelay: --live-id must be 1-40 characters of A-Z a-z 0-9 . _ -");
        return EXIT_USAGE;
    }
    let base = match base_url(&args.http) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("rtprelay: {e}");
            return EXIT_USAGE;
        }
    };
    match call(&base, args) {
        Ok(line) => {
            println!("{line}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("rtprelay: {e}");
            EXIT_FAILURE
        }
    }
}

fn call(base: &str, args: &StreamCreateArgs) -> Result<String, String> {
    let url = format!("{base}/api/streams");
    let body = match &args.live_id {
        Some(id) => serde_json::json!({ "liveId": id }),
        None => serde_json::json!({}),
    };
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(TIMEOUT)).build().into();
    let mut request = agent.post(&url).header("Content-Type", "application/json");
    if let Some(token) = &args.admin_token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let mut response = request.send(body.to_string()).map_err(|e| format!("cannot reach {url}: {e}"))?;
    let status = response.status();
    let text = response.body_mut().read_to_string().map_err(|e| format!("bad answer from {url}: {e}"))?;
    if status.as_u16() != 201 {
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let message = json["error"]["message"].as_str().unwrap_or(text.trim());
        return Err(format!("{url}: HTTP {}: {message}", status.as_u16()));
    }
    let created: NewStream = serde_json::from_str(&text).map_err(|_| format!("{url}: unexpected answer: {text}"))?;
    serde_json::to_string(&created).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(base_url("127.0.0.1:30390").unwrap(), "http://127.0.0.1:30390");
        assert_eq!(base_url("http://h:1/").unwrap(), "http://h:1");
        assert!(base_url("https://h:1").is_err());
        assert!(base_url("").is_err());
        assert!(base_url("http://").is_err());
    }
}
