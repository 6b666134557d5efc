//! The `rtprelay` command line (docs/protocol.md §4). Exit codes: 0 success,
//! 1 runtime failure, 2 bad usage or configuration (one line on stderr).

use crate::config::{self, ConfigError, Settings};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Success.
pub const EXIT_OK: i32 = 0;
/// The relay or the command failed while running.
pub const EXIT_FAILURE: i32 = 1;
/// Bad usage or configuration.
pub const EXIT_USAGE: i32 = 2;

/// The live-stream relay.
#[derive(Debug, Parser)]
#[command(name = "rtprelay", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the relay.
    Serve(ServeArgs),
    /// Publishes an MPEG-TS file or standard input.
    Push(crate::client_cmd::push::PushArgs),
    /// Writes streams to files or standard output.
    Pull(crate::client_cmd::pull::PullArgs),
    /// Manages streams of a running relay through its HTTP API.
    #[command(subcommand)]
    Stream(StreamCommand),
}

/// `rtprelay serve` flags; each overrides its key from the environment and
/// the config file.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// TOML config file (every key is listed in CONFIG.md).
    #[arg(long, value_name = "FILE", env = "RTPRELAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// UDP address of the push socket [default: 0.0.0.0:61040].
    #[arg(long, value_name = "ADDR")]
    pub push_addr: Option<SocketAddr>,
    /// UDP address of the pull socket [default: 0.0.0.0:61041].
    #[arg(long, value_name = "ADDR")]
    pub pull_addr: Option<SocketAddr>,
    /// Address of the HTTP API [default: 127.0.0.1:30390].
    #[arg(long, value_name = "ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// Directory of the credential store [default: ./rtprelay-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Bearer token for the native /api routes.
    #[arg(long, value_name = "TOKEN")]
    pub admin_token: Option<String>,
    /// PEM certificate chain: serve the HTTP API over TLS (with --tls-key).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
}

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

impl ServeArgs {
    /// The flags that were given, as config keys.
    pub fn overrides(&self) -> toml::Table {
        let mut t = toml::Table::new();
        let mut set = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                t.insert(key.to_owned(), toml::Value::String(v));
            }
        };
        set("push_addr", self.push_addr.map(|a| a.to_string()));
        set("pull_addr", self.pull_addr.map(|a| a.to_string()));
        set("http_addr", self.http_addr.map(|a| a.to_string()));
        set("data_dir", self.data_dir.as_ref().map(|d| d.display().to_string()));
        set("admin_token", self.admin_token.clone());
        set("tls_cert", self.tls_cert.as_ref().map(|p| p.display().to_string()));
        set("tls_key", self.tls_key.as_ref().map(|p| p.display().to_string()));
        t
    }

    /// The settings: flags over environment over file over defaults.
    pub fn settings(&self, env: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let file = match &self.config {
            Some(path) => config::read_file(path)?,
            None => toml::Table::new(),
        };
        config::build(&[file, config::env_table(env)?, self.overrides()])
    }
}

/// Parses the process arguments and runs the command; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // clap's message is several lines; the contract is one.
            let text = e.to_string();
            let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("bad usage");
            eprintln!("rtprelay: {}", line.trim_start_matches("error: "));
            return EXIT_USAGE;
        }
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return EXIT_OK;
        }
    };
    match cli.command {
        Command::Serve(args) => crate::serve::main(&args),
        Command::Stream(StreamCommand::Create(args)) => crate::stream_cmd::create(&args),
        Command::Push(args) => crate::client_cmd::main("push", crate::client_cmd::push::run(args)),
        Command::Pull(args) => crate::client_cmd::main("pull", crate::client_cmd::pull::run(args)),
    }
}
