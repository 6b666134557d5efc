//! `rtprelay serve` ([`ServeArgs`]): opens the store, loads the core, binds
//! the sockets, prints the ready line, serves until SIGINT/SIGTERM, then
//! shuts down gracefully (HTTP first, then `StopAll` and the last packets).

use crate::clock::Clock;
use crate::config::{self, ConfigError, LogFormat, ServerConfig, Settings};
use crate::credentials::Credentials;
use crate::exit;
use crate::http::connections::{CappedAcceptor, Connections};
use crate::http::{self, AppState};
use crate::relay_handle::{self, RelayHandle};
use crate::secrets;
use crate::store::{Store, StoreError, StoreErrorKind};
use crate::udp::{Driver, UdpEndpoint};
use axum_server::accept::DefaultAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use clap::Args;
use rtprelay_core::{Command, Port, Relay};
use std::error::Error;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing_subscriber::EnvFilter;

/// How long open HTTP connections may take to finish at shutdown.
const HTTP_GRACE: Duration = Duration::from_secs(2);

/// `rtprelay serve` flags; each overrides its key from the environment and
/// the config file.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// TOML config file (`rtprelay config` prints every key).
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
    /// Log lines on stderr: readable text or one JSON object per line
    /// [default: text].
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `debug` or `info,rtprelay=debug` (RUST_LOG
    /// overrides it) [default: info].
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
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
        set("log_format", self.log_format.map(|f| if f == LogFormat::Json { "json" } else { "text" }.to_owned()));
        set("log", self.log_level.clone());
        t
    }

    /// The settings: flags over environment over file over defaults. An
    /// error about a key the file set (and nothing above it overrode)
    /// names the file and the line.
    pub fn settings(&self, env: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let file = self.config.as_deref().map(config::read_file).transpose()?;
        let (env, flags) = (config::env_table(env)?, self.overrides());
        let table = file.as_ref().map(|f| f.table.clone()).unwrap_or_default();
        config::build(&[table, env.clone(), flags.clone()]).map_err(|e| {
            let from_file = file.as_ref().and_then(|f| {
                let key = f.table.keys().find(|k| {
                    let named = e.0.contains(&format!("`{k}`")) || e.0.starts_with(&format!("{k}:"));
                    named && !env.contains_key(*k) && !flags.contains_key(*k)
                })?;
                Some(f.error_at(key, &e.0))
            });
            from_file.unwrap_or(e)
        })
    }
}

/// The line printed on stdout once the relay serves.
#[derive(Debug, serde::Serialize)]
pub struct Ready {
    /// The push socket's address.
    pub push: SocketAddr,
    /// The pull socket's address.
    pub pull: SocketAddr,
    /// The HTTP API's address.
    pub http: SocketAddr,
}

/// A runtime failure with context.
type Failure = Box<dyn Error + Send + Sync>;

fn context<E: std::fmt::Display>(what: impl std::fmt::Display) -> impl FnOnce(E) -> Failure {
    move |e| format!("{what}: {e}").into()
}

/// Runs the relay; returns the exit code.
pub fn main(args: &ServeArgs) -> i32 {
    let settings = match args.settings(|name| std::env::var(name).ok()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rtprelay: {e}");
            return exit::USAGE;
        }
    };
    if let Err(e) = init_logging(&settings.server.log, settings.server.log_format) {
        eprintln!("rtprelay: {e}");
        return exit::USAGE;
    }
    for name in std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()) {
        if let Some(hint) = unknown_variable(&name) {
            tracing::warn!(variable = %name, "not a setting, ignored{hint}");
        }
    }
    let tls = match (&settings.server.tls_cert, &settings.server.tls_key) {
        (Some(cert), Some(key)) => match crate::tls::server_config(cert, key) {
            Ok(config) => Some(config),
            Err(e) => {
                eprintln!("rtprelay: {e}");
                return exit::USAGE;
            }
        },
        _ => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rtprelay: cannot start the runtime: {e}");
            return exit::FAILURE;
        }
    };
    match runtime.block_on(run(settings, tls)) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("rtprelay: {e}");
            // A damaged store needs the operator, as bad configuration does.
            match e.downcast_ref::<StoreError>() {
                Some(e) if e.kind() == StoreErrorKind::Damaged => exit::USAGE,
                _ => exit::FAILURE,
            }
        }
    }
}

/// Variables `RTPRELAY_*` that are no setting (a misspelt key would
/// otherwise go unnoticed): `Some` with a hint at the nearest setting.
fn unknown_variable(name: &str) -> Option<String> {
    let key = name.strip_prefix(config::ENV_PREFIX)?.to_ascii_lowercase();
    // Read by other commands: the config file, push's code.
    if matches!(key.as_str(), "config" | "live_code") || config::all_keys().contains(&key) {
        return None;
    }
    Some(config::nearest_key(&key).map(|k| format!("; did you mean {}?", config::env_var_name(&k))).unwrap_or_default())
}

/// Logs go to stderr, readable or as JSON lines; `RUST_LOG` overrides the
/// `log` key.
fn init_logging(filter: &str, format: LogFormat) -> Result<(), ConfigError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) => EnvFilter::try_new(&env).map_err(|e| ConfigError(format!("RUST_LOG: {e}")))?,
        Err(_) => EnvFilter::try_new(filter).map_err(|e| ConfigError(format!("log: {e}")))?,
    };
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
    Ok(())
}

/// SIGINT and SIGTERM, watched from the moment this is built: built before
/// the ready line is printed, so a supervisor that stops the relay right
/// after it starts gets a graceful stop, never the default kill.
struct ShutdownSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignals {
    /// Installs the handlers.
    fn install() -> Result<Self, Failure> {
        Ok(ShutdownSignals {
            interrupt: signal(SignalKind::interrupt()).map_err(context("cannot watch SIGINT"))?,
            terminate: signal(SignalKind::terminate()).map_err(context("cannot watch SIGTERM"))?,
        })
    }

    /// Completes on the first SIGINT or SIGTERM.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

fn bind_udp(server: &ServerConfig, addr: SocketAddr, port: Port) -> Result<UdpEndpoint, Failure> {
    let name = if port == Port::Push { "push_addr" } else { "pull_addr" };
    UdpEndpoint::bind(addr, port, server.udp_recv_buffer_bytes, server.udp_send_buffer_bytes)
        .map_err(context(format!("cannot bind {name} {addr}")))
}

/// File descriptors kept free of HTTP connections: the store, the
/// sockets, standard streams, and connections being closed.
const FILES_RESERVED: u64 = 64;

/// The open-file limit (`RLIMIT_NOFILE`), raised at start.
#[derive(Clone, Copy, Debug)]
struct OpenFiles {
    /// The soft limit the server runs with.
    now: u64,
}

impl OpenFiles {
    /// Raises the soft limit to the hard one: supervisors often leave it at
    /// 1024, which about 1,000 idle HTTP connections would exhaust (the
    /// packet loop's sockets and the store need theirs too).
    fn raise() -> Self {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
            tracing::warn!("cannot read the open-file limit");
            return OpenFiles { now: 0 };
        };
        if soft >= hard {
            return OpenFiles { now: soft };
        }
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                tracing::info!(from = soft, to = hard, "raised the open-file limit");
                OpenFiles { now: hard }
            }
            Err(e) => {
                tracing::warn!(soft, hard, error = %e, "cannot raise the open-file limit");
                OpenFiles { now: soft }
            }
        }
    }

    /// How many HTTP connections fit (no cap when the limit is unknown).
    fn connection_room(self) -> usize {
        if self.now == 0 {
            return usize::MAX;
        }
        usize::try_from(self.now.saturating_sub(FILES_RESERVED)).unwrap_or(usize::MAX).max(1)
    }
}

/// hyper's HTTP/1 settings: a request head must arrive whole within
/// `timeout` of the connection waiting for it (new or kept alive).
fn limit_heads(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    timeout: Duration,
) {
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(timeout);
}

/// The server from start to graceful stop.
async fn run(settings: Settings, tls: Option<Arc<rustls::ServerConfig>>) -> Result<(), Failure> {
    // First of all, so that a stop at any point of the start is graceful.
    let mut signals = ShutdownSignals::install()?;
    let open_files = OpenFiles::raise();
    let Settings { server, relay: relay_config } = settings;
    let dir = server.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&dir)).await??;
    let store = Arc::new(store);
    let stored = store.load()?;
    let file = std::path::absolute(store.path()).unwrap_or_else(|_| store.path().to_owned());
    let data_dir = std::path::absolute(&server.data_dir).unwrap_or_else(|_| server.data_dir.clone());
    tracing::info!(data_dir = %data_dir.display(), "data directory");
    if store.created() {
        // A relay started from another directory with the default relative
        // data_dir lands here and refuses every code: say where it looked.
        tracing::warn!(
            file = %file.display(),
            "created an empty credential store: no stream can publish until one is created; \
             if streams were expected, check data_dir (a relative path depends on the current directory)"
        );
    } else {
        tracing::info!(file = %file.display(), credentials = stored.len(), "credential store opened");
    }

    let clock = Clock::start();
    let seed = secrets::seed().map_err(context("random source"))?;
    let mut relay = Relay::new(Arc::new(relay_config), seed, clock.wall_clock());
    for credential in stored.iter().cloned() {
        // Ids are unique in the store, so this cannot fail.
        let _ = relay.handle_command(clock.now(), Command::AddCredential(credential));
    }

    let push = bind_udp(&server, server.push_addr, Port::Push)?;
    let pull = bind_udp(&server, server.pull_addr, Port::Pull)?;
    let listener = std::net::TcpListener::bind(server.http_addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(context(format!("cannot bind http_addr {}", server.http_addr)))?;
    let ready = Ready { push: push.local_addr()?, pull: pull.local_addr()?, http: listener.local_addr()? };

    let (handle, requests) = RelayHandle::channel();
    let (stop_driver, driver_stopped) = tokio::sync::oneshot::channel::<()>();
    let drain = Duration::from_millis(server.shutdown_drain_ms);
    let driver = Driver::new(relay, clock, [push, pull], requests, relay_handle::LogEvents)
        .with_send_hold(Duration::from_micros(server.udp_send_hold_us));
    let mut driver = tokio::spawn(driver.run(
        async {
            let _ = driver_stopped.await;
        },
        drain,
        relay_handle::farewell,
    ));

    let connections = Connections::new(server.http_max_connections.min(open_files.connection_room()));
    if connections.cap() < server.http_max_connections {
        tracing::warn!(
            http_max_connections = server.http_max_connections,
            cap = connections.cap(),
            open_files_limit = open_files.now,
            "the open-file limit is too low for http_max_connections: lowered"
        );
    }
    let state = Arc::new(AppState {
        relay: handle.clone(),
        credentials: Arc::new(Credentials::new(Arc::clone(&store), handle)),
        admin_token: server.admin_token.clone(),
        app_keys: server.app_keys.clone(),
        started: std::time::Instant::now(),
        connections: Arc::clone(&connections),
        open_files_limit: open_files.now,
    });
    let service = http::router(state).into_make_service();
    let http_handle = axum_server::Handle::new();
    let idle = Duration::from_millis(server.http_idle_timeout_ms);
    let header_timeout = Duration::from_millis(server.http_header_timeout_ms);
    let mut http = match tls {
        Some(config) => {
            let acceptor = RustlsAcceptor::new(RustlsConfig::from_config(config));
            let mut http =
                axum_server::from_tcp(listener).acceptor(CappedAcceptor::new(acceptor, Arc::clone(&connections), idle));
            limit_heads(http.http_builder(), header_timeout);
            tokio::spawn(http.handle(http_handle.clone()).serve(service))
        }
        None => {
            let mut http = axum_server::from_tcp(listener).acceptor(CappedAcceptor::new(
                DefaultAcceptor,
                Arc::clone(&connections),
                idle,
            ));
            limit_heads(http.http_builder(), header_timeout);
            tokio::spawn(http.handle(http_handle.clone()).serve(service))
        }
    };

    let line = serde_json::to_string(&ready)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").and_then(|()| stdout.flush()).map_err(context("cannot write the ready line"))?;
    drop(stdout);
    tracing::info!(push = %ready.push, pull = %ready.pull, http = %ready.http, credentials = stored.len(), "serving");

    tokio::select! {
        () = signals.recv() => {}
        r = &mut driver => return Err(match r {
            Ok(Ok(())) => "the packet loop stopped".into(),
            Ok(Err(e)) => format!("packet loop: {e}").into(),
            Err(e) => format!("packet loop: {e}").into(),
        }),
        r = &mut http => return Err(format!("http server stopped: {r:?}").into()),
    }
    tracing::info!("shutting down");
    http_handle.graceful_shutdown(Some(HTTP_GRACE));
    if tokio::time::timeout(HTTP_GRACE * 2, &mut http).await.is_err() {
        http.abort();
    }
    let _ = stop_driver.send(());
    driver.await?.map_err(context("packet loop"))?;
    // Every change was committed when it was answered; dropping the last
    // handle closes the database cleanly.
    drop(store);
    tracing::info!("stopped");
    Ok(())
}
