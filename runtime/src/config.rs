//! The server's configuration: the core's [`Config`] plus the server's own
//! [`ServerConfig`], read from a TOML file, `RTPRELAY_<KEY>` environment
//! variables and command-line flags, in that order of increasing precedence
//! (docs/protocol.md §4). Every key is listed in `runtime/CONFIG.md`.
//!
//! All sources are merged as one flat TOML table first, then split between
//! the two structs: a key neither knows is an error, so a typo never goes
//! unnoticed.

use rtprelay_core::Config;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "RTPRELAY_";

/// One `{appId, secureKey}` pair allowed to call the signed-envelope routes
/// (§3.2).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppKey {
    /// The caller's application id.
    #[serde(rename = "appId", alias = "app_id")]
    pub app_id: String,
    /// The shared secret it signs with.
    #[serde(rename = "secureKey", alias = "secure_key")]
    pub secure_key: String,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppKey").field("app_id", &self.app_id).finish_non_exhaustive()
    }
}

/// The server's own settings (the relay core's are in [`Config`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// UDP address of the push socket.
    pub push_addr: SocketAddr,
    /// UDP address of the pull socket.
    pub pull_addr: SocketAddr,
    /// TCP address of the HTTP API.
    pub http_addr: SocketAddr,
    /// Directory of the credential store (created if missing).
    pub data_dir: PathBuf,
    /// Bearer token required by every native `/api` route; mandatory when
    /// `http_addr` is not a loopback address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// PEM certificate chain: with `tls_key`, the HTTP API speaks HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Callers of the signed-envelope routes.
    pub app_keys: Vec<AppKey>,
    /// `SO_RCVBUF` asked for on both UDP sockets (the kernel may cap it at
    /// `net.core.rmem_max`: the socket then logs a warning); 0 keeps the
    /// OS default.
    pub udp_recv_buffer_bytes: usize,
    /// `SO_SNDBUF` asked for on both UDP sockets (capped at
    /// `net.core.wmem_max`, with a warning); 0 keeps the OS default.
    pub udp_send_buffer_bytes: usize,
    /// After a datagram arrives, how long the packet loop holds its sends
    /// (microseconds, 0: never) so that packets for one subscriber leave
    /// together as one GSO train.
    pub udp_send_hold_us: u64,
    /// On SIGINT/SIGTERM, how long the relay may take to send its last
    /// packets (`STREAM_STOPPED`) before it exits.
    pub shutdown_drain_ms: u64,
    /// How long a client has to send a complete request head, from the
    /// moment the connection waits for one: a silent new connection, a
    /// slow head and an idle keep-alive connection are closed after it.
    pub http_header_timeout_ms: u64,
    /// A connection that moves no byte either way for this long is closed
    /// (a stalled body, a client that stops reading).
    pub http_idle_timeout_ms: u64,
    /// Open HTTP connections at most; at the cap, a new connection takes
    /// the place of the one quiet the longest.
    pub http_max_connections: usize,
    /// Log filter (tracing `EnvFilter` syntax); `RUST_LOG` overrides it.
    pub log: String,
    /// How log lines on stderr look: `text` (readable) or `json` (one
    /// object per line).
    pub log_format: LogFormat,
}

/// The shape of the log lines on stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines: time, level, message, `key=value` fields.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields`
    /// (with `message`).
    Json,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("push_addr", &self.push_addr)
            .field("pull_addr", &self.pull_addr)
            .field("http_addr", &self.http_addr)
            .field("data_dir", &self.data_dir)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field("app_keys", &self.app_keys)
            .finish_non_exhaustive()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            push_addr: SocketAddr::from(([0, 0, 0, 0], 61040)),
            pull_addr: SocketAddr::from(([0, 0, 0, 0], 61041)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 30390)),
            data_dir: PathBuf::from("./rtprelay-data"),
            admin_token: None,
            tls_cert: None,
            tls_key: None,
            app_keys: Vec::new(),
            udp_recv_buffer_bytes: 4 << 20,
            udp_send_buffer_bytes: 4 << 20,
            udp_send_hold_us: 0,
            shutdown_drain_ms: 2_000,
            http_header_timeout_ms: 10_000,
            http_idle_timeout_ms: 60_000,
            http_max_connections: 4_096,
            log: "info".to_owned(),
            log_format: LogFormat::Text,
        }
    }
}

/// How an environment variable's text becomes a TOML value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Taken as is (addresses, paths, tokens).
    Text,
    /// Parsed as a TOML value (numbers, booleans, arrays).
    Toml,
    /// A list of strings: a TOML array, or comma-separated text
    /// (`10.0.0.0/8,192.0.2.7`; empty text is the empty list).
    List,
}

/// The server's keys and how their environment variables are read.
const SERVER_KEYS: &[(&str, Kind)] = &[
    ("push_addr", Kind::Text),
    ("pull_addr", Kind::Text),
    ("http_addr", Kind::Text),
    ("data_dir", Kind::Text),
    ("admin_token", Kind::Text),
    ("tls_cert", Kind::Text),
    ("tls_key", Kind::Text),
    ("app_keys", Kind::Toml),
    ("udp_recv_buffer_bytes", Kind::Toml),
    ("udp_send_buffer_bytes", Kind::Toml),
    ("udp_send_hold_us", Kind::Toml),
    ("shutdown_drain_ms", Kind::Toml),
    ("http_header_timeout_ms", Kind::Toml),
    ("http_idle_timeout_ms", Kind::Toml),
    ("http_max_connections", Kind::Toml),
    ("log", Kind::Text),
    ("log_format", Kind::Text),
];

/// A configuration that cannot be used: the server exits with status 2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // One line, whatever the underlying parser printed.
        let text: Vec<&str> = self.0.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        f.write_str(&text.join(" "))
    }
}

impl std::error::Error for ConfigError {}

/// Everything `rtprelay serve` runs with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// The server's own settings.
    pub server: ServerConfig,
    /// The relay core's tunables.
    pub relay: Config,
}

/// Every configuration key: the server's, then the core's.
pub fn all_keys() -> Vec<String> {
    let mut keys: Vec<String> = SERVER_KEYS.iter().map(|(k, _)| (*k).to_owned()).collect();
    keys.extend(core_defaults().keys().cloned());
    keys
}

/// The core's keys with their default values.
fn core_defaults() -> toml::Table {
    toml::Table::try_from(Config::default()).unwrap_or_default()
}

/// The environment variable of `key`.
pub fn env_var_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

/// A config file's text, read and parsed, for errors that point into it.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    /// Where it was read from.
    pub path: PathBuf,
    text: String,
    /// Its keys and values.
    pub table: toml::Table,
}

impl ConfigFile {
    /// The 1-based line where top-level `key` is set (`key = ...` or a
    /// `[key]` / `[[key]]` header), if it can be found.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        let sets = |line: &str| {
            let line = line.trim_start();
            let name = line.trim_start_matches('[').trim_start_matches('"');
            name.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with(['=', ']', '"']) || rest.is_empty())
        };
        self.text.lines().position(sets).map(|i| i + 1)
    }

    /// `message` about `key`, pointing at the file and the line.
    pub fn error_at(&self, key: &str, message: &str) -> ConfigError {
        match self.line_of(key) {
            Some(line) => ConfigError(format!("config file {}, line {line}: {message}", self.path.display())),
            None => ConfigError(format!("config file {}: {message}", self.path.display())),
        }
    }
}

/// The valid key nearest to a misspelt `key`, if one is near enough.
pub fn nearest_key(key: &str) -> Option<String> {
    all_keys()
        .into_iter()
        .map(|k| (strsim::jaro_winkler(key, &k), k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// Reads a TOML config file; refuses text that is not TOML and keys that
/// do not exist, naming the file, the line and the nearest valid key.
pub fn read_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    let table = text.parse::<toml::Table>().map_err(|e| {
        let line = e.span().map(|span| text[..span.start.min(text.len())].lines().count().max(1));
        let at = line.map(|l| format!(", line {l}")).unwrap_or_default();
        ConfigError(format!("config file {}{at}: {}", path.display(), e.message()))
    })?;
    let file = ConfigFile { path: path.to_owned(), text, table };
    let known = all_keys();
    if let Some(unknown) = file.table.keys().find(|k| !known.contains(k)) {
        let hint = match nearest_key(unknown) {
            Some(near) => format!("; did you mean `{near}`?"),
            None => String::new(),
        };
        return Err(
            file.error_at(unknown, &format!("unknown key `{unknown}`{hint} (`rtprelay config` lists every key)"))
        );
    }
    Ok(file)
}

/// The keys set by `RTPRELAY_<KEY>` variables, from `lookup` (the process
/// environment in production, a map in tests).
pub fn env_table(lookup: impl Fn(&str) -> Option<String>) -> Result<toml::Table, ConfigError> {
    let core = core_defaults();
    let core_kind = |value: &toml::Value| if value.is_array() { Kind::List } else { Kind::Toml };
    let kinds = SERVER_KEYS.iter().copied().chain(core.iter().map(|(k, v)| (k.as_str(), core_kind(v))));
    let mut table = toml::Table::new();
    for (key, kind) in kinds {
        let name = env_var_name(key);
        let Some(raw) = lookup(&name) else { continue };
        let value = match kind {
            Kind::Text => toml::Value::String(raw),
            Kind::Toml => {
                parse_toml_value(&raw).ok_or_else(|| ConfigError(format!("{name}: not a valid value: {raw:?}")))?
            }
            Kind::List if raw.trim_start().starts_with('[') => {
                parse_toml_value(&raw).ok_or_else(|| ConfigError(format!("{name}: not a valid list: {raw:?}")))?
            }
            Kind::List => toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_owned()))
                    .collect(),
            ),
        };
        table.insert(key.to_owned(), value);
    }
    Ok(table)
}

fn parse_toml_value(raw: &str) -> Option<toml::Value> {
    let mut doc = format!("v = {raw}").parse::<toml::Table>().ok()?;
    doc.remove("v")
}

/// Builds the settings from tables in increasing precedence (file, then
/// environment, then flags) over the defaults, and validates them.
pub fn build(layers: &[toml::Table]) -> Result<Settings, ConfigError> {
    let mut merged = toml::Table::new();
    for layer in layers {
        merged.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let core_keys: HashSet<String> = core_defaults().keys().cloned().collect();
    let (core, server): (toml::Table, toml::Table) = merged.into_iter().partition(|(k, _)| core_keys.contains(k));
    let relay: Config = toml::Value::Table(core).try_into().map_err(|e| ConfigError(e.to_string()))?;
    relay.validate().map_err(|e| ConfigError(e.to_string()))?;
    let server: ServerConfig = toml::Value::Table(server).try_into().map_err(|e| ConfigError(e.to_string()))?;
    server.validate()?;
    Ok(Settings { server, relay })
}

impl ServerConfig {
    /// Refuses settings the server must not run with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(token) = &self.admin_token {
            if token.trim().is_empty() {
                return Err(ConfigError("admin_token: must not be empty or only whitespace".into()));
            }
            // The bearer check trims what clients send: such a token could never match.
            if token.trim() != token {
                return Err(ConfigError("admin_token: must not start or end with whitespace".into()));
            }
        }
        if self.admin_token.is_none() && !self.http_addr.ip().is_loopback() {
            return Err(ConfigError(format!(
                "http_addr {} is not a loopback address: set admin_token (--admin-token) or bind 127.0.0.1",
                self.http_addr
            )));
        }
        for (key, value) in [
            ("http_header_timeout_ms", self.http_header_timeout_ms),
            ("http_idle_timeout_ms", self.http_idle_timeout_ms),
            ("http_max_connections", self.http_max_connections as u64),
        ] {
            if value == 0 {
                return Err(ConfigError(format!("{key}: must be greater than 0")));
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError("tls_cert and tls_key go together".into()));
        }
        if self.push_addr == self.pull_addr && self.push_addr.port() != 0 {
            return Err(ConfigError(format!("push_addr and pull_addr are both {}", self.push_addr)));
        }
        let mut ids = HashSet::new();
        for key in &self.app_keys {
            if key.app_id.is_empty() || key.secure_key.is_empty() {
                return Err(ConfigError("app_keys: appId and secureKey must not be empty".into()));
            }
            if !ids.insert(key.app_id.as_str()) {
                return Err(ConfigError(format!("app_keys: appId {:?} is listed twice", key.app_id)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| map.get(k).cloned()
    }

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn the_example_config_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rtprelay.toml");
        let file = read_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let s = build(&[file.table]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.server.data_dir, PathBuf::from("/var/lib/rtprelay"), "an absolute data directory");
        assert!(s.server.http_addr.ip().is_loopback(), "the API stays local");
    }

    #[test]
    fn a_misspelt_key_points_at_the_nearest() {
        assert_eq!(nearest_key("stream_idle_timout_ms").as_deref(), Some("stream_idle_timeout_ms"));
        assert_eq!(nearest_key("pushaddr").as_deref(), Some("push_addr"));
        assert_eq!(nearest_key("zzzz"), None);
    }

    #[test]
    fn defaults_match_the_protocol() {
        let s = build(&[]).unwrap();
        assert_eq!(s.server.push_addr.to_string(), "0.0.0.0:61040");
        assert_eq!(s.server.pull_addr.to_string(), "0.0.0.0:61041");
        assert_eq!(s.server.http_addr.to_string(), "127.0.0.1:30390");
        assert_eq!(s.server.data_dir, PathBuf::from("./rtprelay-data"));
        assert_eq!(s.relay, Config::default());
    }

    #[test]
    fn every_server_field_has_a_key() {
        let full = ServerConfig {
            admin_token: Some("t".into()),
            tls_cert: Some("c".into()),
            tls_key: Some("k".into()),
            app_keys: vec![AppKey { app_id: "a".into(), secure_key: "k".into() }],
            ..ServerConfig::default()
        };
        let mut fields: Vec<String> = toml::Table::try_from(full).unwrap().keys().cloned().collect();
        let mut keys: Vec<String> = SERVER_KEYS.iter().map(|(k, _)| (*k).to_owned()).collect();
        fields.sort();
        keys.sort();
        assert_eq!(fields, keys);
        assert!(all_keys().contains(&"stream_idle_timeout_ms".to_owned()));
    }

    /// A default as CONFIG.md writes it.
    fn shown(value: &toml::Value) -> String {
        match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Array(a) if a.is_empty() => "[]".to_owned(),
            other => other.to_string(),
        }
    }

    #[test]
    fn config_md_lists_every_key_with_its_default() {
        let doc = include_str!("../CONFIG.md");
        let mut defaults = toml::Table::try_from(ServerConfig::default()).unwrap();
        defaults.extend(core_defaults());
        for key in all_keys() {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{key}` |")))
                .unwrap_or_else(|| panic!("CONFIG.md has no row for {key}"));
            assert!(row.contains(&format!("`{}`", env_var_name(&key))), "{row}");
            let default = defaults.get(&key).map_or("none".to_owned(), shown);
            assert!(
                row.contains(&format!("`{default}`")) || default == "none" && row.contains("| none |"),
                "{key}: {default} not in {row}"
            );
        }
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let file =
            table("stream_idle_timeout_ms = 1000\nclient_heartbeat_timeout_ms = 2000\nmax_clients = 3\nlog = \"warn\"");
        let env = env_table(env(&[
            ("RTPRELAY_STREAM_IDLE_TIMEOUT_MS", "4000"),
            ("RTPRELAY_CLIENT_HEARTBEAT_TIMEOUT_MS", "5000"),
            ("RTPRELAY_DATA_DIR", "/env/dir"),
        ]))
        .unwrap();
        let flags = table("stream_idle_timeout_ms = 6000");
        let s = build(&[file, env, flags]).unwrap();
        assert_eq!(s.relay.stream_idle_timeout_ms, 6000, "flag wins");
        assert_eq!(s.relay.client_heartbeat_timeout_ms, 5000, "env beats file");
        assert_eq!(s.relay.max_clients, 3, "file beats default");
        assert_eq!(s.server.log, "warn");
        assert_eq!(s.server.data_dir, PathBuf::from("/env/dir"));
        assert_eq!(s.relay.max_clients_per_ip, Config::default().max_clients_per_ip, "default stays");
    }

    #[test]
    fn env_values_are_typed_per_key() {
        let t = env_table(env(&[
            ("RTPRELAY_ADMIN_TOKEN", "12345"),
            ("RTPRELAY_LEGACY_TRUST", "true"),
            ("RTPRELAY_MOVE_QUIET_MS", "500"),
            ("RTPRELAY_MAX_UNBOUND_IDS_PER_IP_PER_SEC", "16"),
            ("RTPRELAY_APP_KEYS", r#"[{appId = "a", secureKey = "k"}]"#),
            ("RTPRELAY_PUSH_ADDR", "127.0.0.1:0"),
            ("RTPRELAY_PULL_ADDR", "127.0.0.1:0"),
        ]))
        .unwrap();
        let s = build(&[t]).unwrap();
        assert_eq!(s.server.admin_token.as_deref(), Some("12345"), "a numeric token stays text");
        assert!(s.relay.legacy_trust);
        assert_eq!((s.relay.move_quiet_ms, s.relay.max_unbound_ids_per_ip_per_sec), (500, 16));
        assert_eq!(s.server.app_keys, vec![AppKey { app_id: "a".into(), secure_key: "k".into() }]);
        let err = env_table(env(&[("RTPRELAY_MAX_CLIENTS", "many")])).unwrap_err();
        assert!(err.to_string().contains("RTPRELAY_MAX_CLIENTS"), "{err}");
    }

    #[test]
    fn bad_settings_are_refused_in_one_line() {
        let cases = [
            "no_such_key = 1",
            "max_clients = 0",
            "http_addr = \"0.0.0.0:30390\"",
            "admin_token = \"\"",
            "admin_token = \"   \"",
            "admin_token = \" \\t\\n\"",
            "http_header_timeout_ms = 0",
            "http_max_connections = 0",
            "tls_cert = \"cert.pem\"",
            "push_addr = \"1.2.3.4:5\"\npull_addr = \"1.2.3.4:5\"",
            "stream_idle_timeout_ms = \"soon\"",
            "[[app_keys]]\nappId = \"a\"\nsecureKey = \"k\"\n[[app_keys]]\napp_id = \"a\"\nsecure_key = \"j\"",
        ];
        for case in cases {
            let err = build(&[table(case)]).unwrap_err();
            assert!(!err.to_string().contains('\n'), "{case}: {err}");
        }
        let open = table("http_addr = \"0.0.0.0:30390\"\nadmin_token = \"secret\"");
        assert!(build(&[open]).is_ok(), "a token makes a public bind acceptable");
    }

    #[test]
    fn allowlists_come_from_toml_and_from_comma_separated_env() {
        let file: toml::Table =
            "push_allow = [\"10.0.0.0/8\", \"2001:db8::/32\"]\npull_allow = [\"192.0.2.7\"]".parse().unwrap();
        let s = build(std::slice::from_ref(&file)).unwrap();
        let shown = |l: &rtprelay_core::AllowList| l.entries().iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(shown(&s.relay.push_allow), ["10.0.0.0/8", "2001:db8::/32"]);
        assert_eq!(shown(&s.relay.pull_allow), ["192.0.2.7/32"]);

        let vars = |name: &str| match name {
            "RTPRELAY_PULL_ALLOW" => Some(" 127.0.0.2/32, ::1 ".to_owned()),
            "RTPRELAY_PUSH_ALLOW" => Some(r#"["127.0.0.0/8"]"#.to_owned()),
            _ => None,
        };
        let s = build(&[file, env_table(vars).unwrap()]).unwrap();
        assert_eq!(shown(&s.relay.pull_allow), ["127.0.0.2/32", "::1/128"], "env beats file");
        assert_eq!(shown(&s.relay.push_allow), ["127.0.0.0/8"], "a TOML array works too");
        let empty = env_table(|n: &str| (n == "RTPRELAY_PULL_ALLOW").then(String::new)).unwrap();
        assert!(build(&[empty]).unwrap().relay.pull_allow.is_empty(), "empty text: allow all");
    }

    #[test]
    fn a_bad_cidr_is_one_line_naming_the_key_and_the_value() {
        let err = build(&["pull_allow = [\"127.0.0.2/32\", \"10.0.0/8\"]".parse().unwrap()]).unwrap_err().to_string();
        assert!(!err.contains('\n') && err.contains("pull_allow") && err.contains("\"10.0.0/8\""), "{err}");
        let env = env_table(|n: &str| (n == "RTPRELAY_PUSH_ALLOW").then(|| "10.0.0.0/33".to_owned())).unwrap();
        let err = build(&[env]).unwrap_err().to_string();
        assert!(!err.contains('\n') && err.contains("push_allow") && err.contains("\"10.0.0.0/33\""), "{err}");
        let long = (0..257).map(|i| format!("\"10.0.{}.{}\"", i / 256, i % 256)).collect::<Vec<_>>().join(",");
        let err = build(&[format!("push_allow = [{long}]").parse().unwrap()]).unwrap_err().to_string();
        assert_eq!(err, "push_allow: must have at most 256 entries");
    }
}
