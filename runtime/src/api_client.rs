//! The HTTP client of the commands that manage a running relay
//! (`rtprelay stream ...`, `rtprelay clients`): the flags they share, one
//! call to the native API (docs/protocol.md §3.1), and errors that say
//! what to do.

use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a call may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the relay's API is and how to get in.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The relay's HTTP API: a URL or ip:port.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:30390")]
    pub http: String,
    /// The relay's admin token.
    #[arg(long, value_name = "T", env = "RTPRELAY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// PEM CA certificate to trust for an https:// relay (default: the
    /// WebPKI roots).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

/// The API base URL from `--http`: an `http://` or `https://` URL, or
/// `host:port` meaning `http://`.
pub fn base_url(http: &str) -> Result<String, String> {
    let http = http.trim();
    let (scheme, rest) = match http.split_once("://") {
        Some((scheme @ ("http" | "https"), rest)) => (scheme, rest),
        Some((scheme, _)) => return Err(format!("--http: unsupported scheme {scheme:?} (use http:// or https://)")),
        None => ("http", http),
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err("--http: no host".into());
    }
    Ok(format!("{scheme}://{rest}"))
}

/// The client, trusting `ca_cert` (PEM) instead of the WebPKI roots if given.
fn agent(ca_cert: Option<&Path>) -> Result<ureq::Agent, String> {
    let mut config = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(TIMEOUT));
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path).map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
        let certs = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("--ca-cert {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("--ca-cert {}: no certificate found", path.display()));
        }
        let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&certs)).build();
        config = config.tls_config(tls);
    }
    Ok(config.build().into())
}

/// A relay's API, ready for calls.
#[derive(Debug)]
pub struct Api {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

/// An answer: the status and the body.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

impl Answer {
    /// The message of a native error body, else the body itself.
    pub fn message(&self) -> String {
        let json: serde_json::Value = serde_json::from_str(&self.body).unwrap_or_default();
        json["error"]["message"].as_str().unwrap_or(self.body.trim()).to_owned()
    }
}

impl Api {
    /// The API the flags name; the error is bad usage.
    pub fn new(args: &ApiArgs) -> Result<Api, String> {
        Ok(Api { base: base_url(&args.http)?, agent: agent(args.ca_cert.as_deref())?, token: args.admin_token.clone() })
    }

    /// `method path` with an optional JSON body. The error is one line:
    /// the relay cannot be reached, or it refused the token.
    pub fn call(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Result<Answer, String> {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let sent = match body {
            Some(b) => self.agent.run(
                request.header("Content-Type", "application/json").body(b.to_string()).map_err(|e| e.to_string())?,
            ),
            None => self.agent.run(request.body(()).map_err(|e| e.to_string())?),
        };
        let mut response = sent.map_err(|e| {
            format!(
                "cannot reach the relay's HTTP API at {}: {e} (is `rtprelay serve` running? --http names it)",
                self.base
            )
        })?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().map_err(|e| format!("bad answer from {url}: {e}"))?;
        let answer = Answer { status, body };
        match status {
            401 => Err(format!("{url}: the relay needs its admin token: --admin-token or RTPRELAY_ADMIN_TOKEN")),
            403 => Err(format!("{url}: HTTP 403: {}", answer.message())),
            _ => Ok(answer),
        }
    }

    /// `GET path`, expecting 200 and JSON: the body as sent (for `--json`,
    /// in the API's field order) and parsed.
    pub fn get_json(&self, path: &str) -> Result<(String, serde_json::Value), String> {
        let answer = self.call("GET", path, None)?;
        if answer.status != 200 {
            return Err(format!("{}{path}: HTTP {}: {}", self.base, answer.status, answer.message()));
        }
        let json = serde_json::from_str(&answer.body).map_err(|e| format!("{}{path}: not JSON: {e}", self.base))?;
        Ok((answer.body, json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(base_url("127.0.0.1:30390").unwrap(), "http://127.0.0.1:30390");
        assert_eq!(base_url("http://h:1/").unwrap(), "http://h:1");
        assert_eq!(base_url("https://h:1").unwrap(), "https://h:1");
        assert_eq!(base_url("[::1]:30390").unwrap(), "http://[::1]:30390");
        assert!(base_url("ftp://h:1").is_err());
        assert!(base_url("").is_err());
        assert!(base_url("http://").is_err());
    }
}
