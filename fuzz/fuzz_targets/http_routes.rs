//! The HTTP API's request handling on arbitrary requests: the method, a
//! route of the API (the compatibility routes of docs/protocol.md §3.2
//! above all) with a fuzzed suffix and query, the `Host` header, and a body
//! that is raw bytes, a correctly signed envelope around fuzzed `data`, or
//! a `packageLoss` / `delay` report with fuzzed fields. Each request goes
//! through the whole router (guards, limits, extractors, handlers) against
//! a live relay and a store in a temporary directory. Nothing may panic,
//! no answer may be a server error, and every compatibility route that
//! answers JSON answers HTTP 200 with an integer `errCode`.
#![no_main]

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::Request;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use rtprelay::config::AppKey;
use rtprelay::credentials::Credentials;
use rtprelay::envelope::sign;
use rtprelay::http::legacy::COMPAT_PREFIX;
use rtprelay::http::{AppState, connections::Connections, router};
use rtprelay::relay_handle::RelayHandle;
use rtprelay::store::Store;
use rtprelay_core::{Config, Endpoint, Instant, Relay, WallClock};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::runtime::Runtime;
use tower::ServiceExt;

const APP_ID: &str = "app";
const SECURE_KEY: &str = "key";

/// The routes asked for; a fuzzed suffix follows.
const ROUTES: [&str; 14] = [
    "/VideoMeeting/rtpServer/api/getLiveInfo",
    "/VideoMeeting/rtpServer/api/stopStream",
    "/VideoMeeting/rtpServer/api/packageLoss",
    "/VideoMeeting/rtpServer/api/delay",
    "/VideoMeeting/rtpServer/api/getAllInfo",
    "/VideoMeeting/rtpServer/stream/getAllStream",
    "/VideoMeeting/rtpServer/stream/getSubscribers",
    "/VideoMeeting/rtpServer/api/allInfoPage",
    "/VideoMeeting/rtpServer/",
    "/api/streams",
    "/api/streams/",
    "/api/clients",
    "/healthz",
    "/metrics",
];
const METHODS: [&str; 5] = ["GET", "POST", "DELETE", "PUT", "HEAD"];

#[derive(Arbitrary, Debug)]
enum Payload {
    Raw(Vec<u8>),
    /// A fresh envelope signed with the configured key (or not, or stale).
    Signed {
        data: String,
        good_signature: bool,
        fresh: bool,
    },
    PackageLoss {
        client: i64,
        streams: Vec<(String, Vec<Option<f64>>)>,
    },
    Delay {
        live_id: String,
        delay: Option<f64>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    method: u8,
    route: u8,
    suffix: String,
    query: Option<String>,
    loopback_host: bool,
    payload: Payload,
}

/// Requests one app serves before the next starts on an empty store:
/// every created stream makes each later write of the store's backup
/// longer, which would slow the target down to a crawl.
const USES: u32 = 1_000;

/// The router over a relay and a store of its own.
struct App {
    router: Router,
    dir: PathBuf,
    uses: u32,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where stores go: memory when the machine has it (a store write syncs).
fn stores() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() { shm.to_owned() } else { std::env::temp_dir() }
}

/// The single-threaded runtime the relay's packet loop and the requests
/// share (the loop runs while a request waits for it). At its start it
/// removes the stores that fuzzing processes which are gone left behind.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        for entry in std::fs::read_dir(stores()).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(STORE_PREFIX).and_then(|rest| rest.split('-').next())
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
    })
}

const STORE_PREFIX: &str = "rtprelay-fuzz-http-";

impl App {
    /// A relay and an empty store, numbered `n` in this process.
    fn new(n: u64) -> App {
        let dir = stores().join(format!("{STORE_PREFIX}{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(Store::open(&dir).expect("a store in a new temporary directory"));
        let (relay, mut calls) = RelayHandle::channel();
        let now = Instant::from_millis(1_000);
        let mut machine = Relay::new(Arc::new(Config::default()), [9; 32], WallClock::new(now, 1_700_000_000_000));
        runtime().spawn(async move {
            while let Some(call) = calls.recv().await {
                call(&mut machine, now);
                while machine.poll_transmit(8).is_some() {}
                while machine.poll_event().is_some() {}
            }
        });
        let state = Arc::new(AppState {
            credentials: Arc::new(Credentials::new(store, relay.clone())),
            relay,
            admin_token: None,
            app_keys: vec![AppKey { app_id: APP_ID.into(), secure_key: SECURE_KEY.into() }],
            started: std::time::Instant::now(),
            connections: Connections::new(16),
            open_files_limit: 1024,
        });
        App { router: router(state), dir, uses: 0 }
    }
}

/// The app for the next request: a new one every [`USES`] requests.
fn app() -> Router {
    static APP: Mutex<Option<(u64, App)>> = Mutex::new(None);
    let mut app = APP.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (n, mut current) = match app.take() {
        Some((n, current)) if current.uses < USES => (n, current),
        Some((n, old)) => {
            drop(old);
            (n + 1, App::new(n + 1))
        }
        None => (0, App::new(0)),
    };
    current.uses += 1;
    let router = current.router.clone();
    *app = Some((n, current));
    router
}

fn body(payload: &Payload) -> Vec<u8> {
    match payload {
        Payload::Raw(bytes) => bytes.clone(),
        Payload::Signed { data, good_signature, fresh } => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis();
            let timestamp = if *fresh { now.to_string() } else { "1".to_owned() };
            let key = if *good_signature { SECURE_KEY } else { "wrong" };
            let signature = sign(key, APP_ID, "1", &timestamp, "n", data);
            let envelope = json!({"appId": APP_ID, "sn": "1", "timestamp": timestamp, "nonce": "n", "data": data, "signature": signature});
            envelope.to_string().into_bytes()
        }
        Payload::PackageLoss { client, streams } => {
            let names = [
                "lossScale60",
                "throwScale60",
                "lossScale10",
                "throwScale10",
                "lossScale2",
                "throwScale2",
                "lossTotal",
            ];
            let map: serde_json::Map<String, Value> = streams
                .iter()
                .map(|(id, figures)| {
                    (
                        id.clone(),
                        Value::Object(names.iter().zip(figures).map(|(n, f)| ((*n).to_owned(), json!(f))).collect()),
                    )
                })
                .collect();
            json!({"clientId": client, "packageLossMap": map}).to_string().into_bytes()
        }
        Payload::Delay { live_id, delay } => json!({"liveId": live_id, "delay": delay}).to_string().into_bytes(),
    }
}

fuzz_target!(|input: Input| {
    let router = app();
    let route = ROUTES[usize::from(input.route) % ROUTES.len()];
    let mut target = format!("{route}{}", input.suffix);
    if let Some(query) = &input.query {
        target = format!("{target}?{query}");
    }
    let host = if input.loopback_host { "127.0.0.1:8080" } else { "relay.example:8080" };
    let Ok(request) = Request::builder()
        .method(METHODS[usize::from(input.method) % METHODS.len()])
        .uri(&target)
        .header("host", host)
        .header("content-type", "application/json")
        .body(Body::from(body(&input.payload)))
    else {
        return; // not a request (a target that is no URI)
    };
    let path = request.uri().path().to_owned();
    // HEAD answers have no body, by HTTP's rules.
    let head = request.method() == "HEAD";
    let (status, bytes) = runtime().block_on(async {
        let response = router.oneshot(request).await.expect("the router is infallible");
        let status = response.status();
        (status, to_bytes(response.into_body(), 1 << 20).await.expect("a bounded body"))
    });
    assert!(!status.is_server_error(), "{target}: {status}");
    let compat_json =
        path.starts_with(COMPAT_PREFIX) && !path.ends_with("/allInfoPage") && input.loopback_host && !head;
    if compat_json {
        assert_eq!(status, 200, "{target}: the compatibility routes always answer 200");
        let value: Value = serde_json::from_slice(&bytes).expect("a compatibility answer is JSON");
        assert!(value.get("errCode").is_some_and(Value::is_i64), "{target}: {value}");
    }
});
