//! `rtprelay stream` ([`StreamCommand`], only `create` so far): `create`
//! asks a running relay's HTTP API for new credentials and prints them as
//! one JSON line.

use crate::credentials::NewStream;
use crate::exit;
use clap::{Args, Subcommand};
use rtprelay_core::LiveId;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the call may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// `rtprelay stream ...`.
#[derive(Debug, Subcommand)]
pub enum StreamCommand {
    /// Creates stream credentials and prints {"liveId", "liveCode"}.
    Create(StreamCreateArgs),
}

/// `rtprelay stream create` flags.
#[derive(Debug, Args)]
pub struct StreamCreateArgs {
    /// The stream id (1-40 of [A-Za-z0-9._-]); generated when absent.
    #[arg(long, value_name = "ID")]
    pub live_id: Option<String>,
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

/// Runs the command; returns the exit code.
pub fn create(args: &StreamCreateArgs) -> i32 {
    let Ok(live_id) = args.live_id.as_deref().map(LiveId::parse).transpose() else {
        eprintln!("rtprelay: --live-id must be 1-40 characters of A-Z a-z 0-9 . _ -");
        return exit::USAGE;
    };
    let (base, agent) = match base_url(&args.http).and_then(|b| Ok((b, agent(args.ca_cert.as_deref())?))) {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("rtprelay: {e}");
            return exit::USAGE;
        }
    };
    match call(&agent, &base, live_id.as_ref(), args) {
        Ok(line) => {
            println!("{line}");
            exit::OK
        }
        Err(e) => {
            eprintln!("rtprelay: {e}");
            exit::FAILURE
        }
    }
}

fn call(agent: &ureq::Agent, base: &str, live_id: Option<&LiveId>, args: &StreamCreateArgs) -> Result<String, String> {
    let url = format!("{base}/api/streams");
    let body = match live_id {
        Some(id) => serde_json::json!({ "liveId": id.as_str() }),
        None => serde_json::json!({}),
    };
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
        assert_eq!(base_url("https://h:1").unwrap(), "https://h:1");
        assert!(base_url("ftp://h:1").is_err());
        assert!(base_url("").is_err());
        assert!(base_url("http://").is_err());
    }
}
