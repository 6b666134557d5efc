//! The live dashboard (`GET /`, docs/protocol.md §3.1): what it is served
//! with, and the page itself in a real headless Chromium, driven over
//! WebDriver, against the real relay with one live stream and one
//! subscriber.

mod support;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use support::{Peer, Server, http, pt, require_tool, rtp, subscribe, temp_dir};

const TOKEN: &str = "dash-token";
const PAGES: [&str; 2] = ["/", "/VideoMeeting/rtpServer/api/allInfoPage"];
/// Bound on each wait for the page.
const BROWSER_WAIT: Duration = Duration::from_secs(15);
/// Bound on the whole browser session.
const BROWSER_TOTAL: Duration = Duration::from_secs(120);
const LAPTOP: (u32, u32) = (1366, 900);
const PHONE: (u32, u32) = (412, 915);

/// A header of a raw HTTP/1.0 answer, by name (case-insensitive).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// One GET over a bare TCP connection: (head, body). ureq's answer hides
/// the headers this test is about.
fn raw_get(server: &Server, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(server.ready.http).unwrap();
    tcp.set_read_timeout(Some(support::WAIT)).unwrap();
    write!(tcp, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end: {answer}"));
    (head.to_owned(), body.to_owned())
}

/// The page, its script and its style sheet are served with their types,
/// a strict policy and `nosniff`, without the admin token (they hold no
/// data), while the API behind them still wants it.
#[test]
fn page_and_assets_are_served_with_strict_headers() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &["--admin-token", TOKEN], &[]);
    let assets = [
        (PAGES[0], "text/html; charset=utf-8", "<title>rtprelay dashboard</title>"),
        (PAGES[1], "text/html; charset=utf-8", "<title>rtprelay dashboard</title>"),
        ("/dashboard/dashboard.js", "text/javascript; charset=utf-8", "/api/streams"),
        ("/dashboard/dashboard.css", "text/css; charset=utf-8", ".streams"),
    ];
    for (path, content_type, marker) in assets {
        let (head, body) = raw_get(&server, path);
        assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{path}: {head}");
        assert_eq!(header(&head, "content-type"), Some(content_type), "{path}");
        assert_eq!(header(&head, "x-content-type-options"), Some("nosniff"), "{path}");
        let csp = header(&head, "content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP"));
        for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{path}: {csp}");
        assert!(body.contains(marker), "{path}: {body}");
    }
    assert_eq!(http("GET", &server.url("/api/streams"), None, &[]).status, 401, "the data still needs the token");
    let doc = api(&server, "GET", "/api/openapi.json", None).json();
    assert!(doc["paths"]["/"]["get"].is_object(), "GET / undocumented");
}

/// A chromedriver on a free loopback port, in its own process group, which
/// is killed when dropped: the browsers it started go with it even when the
/// test failed before closing its session.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver")
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".to_owned()])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
        support::eventually("chromedriver ready", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http("GET", &format!("{}/status", driver.url), None, &[]).json()["value"]["ready"] == true
        });
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A publisher pushing `TS_DATA` every 10 ms and a subscriber beating its
/// heartbeat, each on its own thread until dropped.
struct Traffic {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    publisher: SocketAddr,
    subscriber: SocketAddr,
}

impl Traffic {
    fn start(server: &Server, live_id: &str, code: &str) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let publisher = Peer::new();
        let ssrc = support::auth(&publisher, server.ready.push, live_id, code);
        let subscriber = Peer::new();
        let client_id = subscribe(&subscriber, server.ready.pull, live_id);
        let (publisher_addr, subscriber_addr) =
            (publisher.socket.local_addr().unwrap(), subscriber.socket.local_addr().unwrap());
        let (push, pull) = (server.ready.push, server.ready.pull);
        let flag = Arc::clone(&stop);
        let pushing = std::thread::spawn(move || {
            let payload = [0x47u8; 188 * 7];
            let mut seq: u16 = 1;
            while !flag.load(Ordering::Relaxed) {
                publisher.send(push, &rtp(pt::TS_DATA, false, seq, u32::from(seq), ssrc, &payload));
                seq = seq.wrapping_add(1);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let flag = Arc::clone(&stop);
        let beating = std::thread::spawn(move || {
            let mut last_beat = Instant::now() - Duration::from_secs(1);
            while !flag.load(Ordering::Relaxed) {
                if last_beat.elapsed() >= Duration::from_millis(500) {
                    subscriber.send(pull, &rtp(pt::HEARTBEAT, false, 0, 0, client_id, b""));
                    last_beat = Instant::now();
                }
                let _ = subscriber.recv(Duration::from_millis(50));
            }
        });
        Traffic { stop, threads: vec![pushing, beating], publisher: publisher_addr, subscriber: subscriber_addr }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Polls an async expression yielding `Option` until it is `Some`, at most
/// [`BROWSER_WAIT`].
macro_rules! until {
    ($what:expr, $probe:expr) => {{
        let deadline = Instant::now() + BROWSER_WAIT;
        loop {
            if let Some(value) = $probe {
                break value;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {}", $what);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }};
}

/// The visible text of the first element matching `css`, if any.
async fn text(c: &Client, css: &str) -> Option<String> {
    c.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

/// A counter cell read as a number (thousands separators dropped).
async fn count(c: &Client, css: &str) -> Option<u64> {
    text(c, css).await?.replace(',', "").trim().parse().ok()
}

/// The number of points of the stream's chart line.
async fn chart_points(c: &Client, live_id: &str) -> Option<usize> {
    let css = format!("tr[data-live-id='{live_id}'] svg.chart path.line");
    let d = c.find(Locator::Css(&css)).await.ok()?.attr("d").await.ok()??;
    let points = d.matches(['M', 'L']).count();
    (points >= 2).then_some(points)
}

/// Writes a screenshot of the viewport at `size`, scrolled to the element
/// `scroll_to`, and prints its path.
async fn screenshot(c: &Client, size: (u32, u32), scroll_to: &str, name: &str) {
    c.set_window_size(size.0, size.1).await.unwrap();
    let scroll = "document.querySelector(arguments[0]).scrollIntoView()";
    c.execute(scroll, vec![serde_json::json!(scroll_to)]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await; // one poll at the new width
    let png = c.screenshot().await.unwrap();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
}

fn api(server: &Server, method: &str, path: &str, body: Option<&str>) -> support::Answer {
    http(method, &server.url(path), body, &[("Authorization", &format!("Bearer {TOKEN}"))])
}

/// The whole operator's path: the page asks for the token, shows the live
/// stream, its chart and its subscriber updating, and stops the stream.
#[test]
fn dashboard_in_chromium_shows_and_stops_a_live_stream() {
    if !require_tool("chromium") || !require_tool("chromedriver") {
        return;
    }
    let dir = temp_dir();
    let server = Server::start(dir.path(), &["--admin-token", TOKEN], &[]);
    let created = api(&server, "POST", "/api/streams", Some(r#"{"liveId":"cam1"}"#));
    assert_eq!(created.status, 201, "{}", created.body);
    let code = created.json()["liveCode"].as_str().unwrap().to_owned();
    let traffic = Traffic::start(&server, "cam1", &code);
    support::eventually("one acknowledged subscriber", || {
        let a = api(&server, "GET", "/api/streams/cam1", None);
        a.status == 200 && a.json()["subscribers"].as_array().is_some_and(|s| s.len() == 1)
    });
    let driver = Driver::start();
    let profile = dir.path().join("chromium-profile");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let browse = drive(&driver, &server, &traffic, &profile);
        tokio::time::timeout(BROWSER_TOTAL, browse).await.expect("the browser session took too long");
    });
    drop(traffic);
    drop(driver);
}

async fn drive(driver: &Driver, server: &Server, traffic: &Traffic, profile: &Path) {
    let mut caps = serde_json::Map::new();
    let args = [
        format!("--user-data-dir={}", profile.display()),
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--no-first-run".to_owned(),
        format!("--window-size={},{}", LAPTOP.0, LAPTOP.1),
    ];
    caps.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": "/usr/bin/chromium", "args": args }));
    let c = ClientBuilder::new(HttpConnector::new()).capabilities(caps).connect(&driver.url).await.unwrap();

    c.goto(&server.url(PAGES[1])).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "rtprelay dashboard", "the compatibility route serves the page");
    c.goto(&server.url("/")).await.unwrap();

    // The API answers 401: the page asks for the token, once.
    let input = until!("the token form", {
        match c.find(Locator::Css("#token-input")).await {
            Ok(e) if e.is_displayed().await.unwrap_or(false) => Some(e),
            _ => None,
        }
    });
    input.send_keys(TOKEN).await.unwrap();
    c.find(Locator::Css("#token-form button[type=submit]")).await.unwrap().click().await.unwrap();

    // The stream row, live, with its publisher; the subscriber under it.
    let row = "tr[data-live-id='cam1']";
    let live =
        until!("the live stream row", text(&c, &format!("{row} td[data-field=live]")).await.filter(|t| t == "live"));
    assert_eq!(live, "live");
    let publisher = text(&c, &format!("{row} td[data-field=publisher]")).await.unwrap();
    assert_eq!(publisher, traffic.publisher.to_string());
    let sent =
        format!("tr[data-subscribers-of='cam1'] tr[data-address='{}'] td[data-field=packetsSent]", traffic.subscriber);
    let acked =
        format!("tr[data-subscribers-of='cam1'] tr[data-address='{}'] td[data-field=acked]", traffic.subscriber);
    until!("the subscriber row", text(&c, &acked).await.filter(|t| t == "yes"));
    assert!(!c.find(Locator::Css("#token-panel")).await.unwrap().is_displayed().await.unwrap(), "asked once");

    // Counters and the chart grow between two reads.
    let packets_in = format!("{row} td[data-field=packetsIn]");
    let first_in = until!("packets in", count(&c, &packets_in).await.filter(|n| *n > 0));
    let first_sent = until!("packets sent", count(&c, &sent).await.filter(|n| *n > 0));
    let first_points = until!("a chart line", chart_points(&c, "cam1").await);
    until!("packets in growing", count(&c, &packets_in).await.filter(|n| *n > first_in));
    until!("packets sent growing", count(&c, &sent).await.filter(|n| *n > first_sent));
    until!("the chart growing", chart_points(&c, "cam1").await.filter(|n| *n > first_points));
    let bitrate = text(&c, &format!("{row} td[data-field=bitrate]")).await.unwrap();
    assert!(bitrate.contains("kb/s") || bitrate.contains("Mb/s"), "{bitrate}");
    assert_eq!(text(&c, "[data-total=live]").await.unwrap(), "1 of 1");

    // Pause holds the figures still; Resume lets them move again.
    c.find(Locator::Css("#pause")).await.unwrap().click().await.unwrap();
    until!("paused", text(&c, "#status").await.filter(|t| t == "paused"));
    let held = count(&c, &packets_in).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(count(&c, &packets_in).await, Some(held), "paused, the page does not update");
    c.find(Locator::Css("#pause")).await.unwrap().click().await.unwrap();
    until!("updates after Resume", count(&c, &packets_in).await.filter(|n| *n > held));

    // Create credentials: the code is shown once, the new stream is listed.
    c.find(Locator::Css("#create-id")).await.unwrap().send_keys("cam2").await.unwrap();
    c.find(Locator::Css("#create-form button[type=submit]")).await.unwrap().click().await.unwrap();
    let shown = until!("the new code", text(&c, "#created-code").await.filter(|t| t.len() == 20));
    assert_eq!(text(&c, "#created-id").await.as_deref(), Some("cam2"));
    assert_eq!(api(server, "GET", "/api/streams/cam2", None).status, 200, "created in the relay");
    until!("the cam2 row", text(&c, "tr[data-live-id='cam2'] td[data-field=live]").await.filter(|t| t == "off"));
    assert_eq!(text(&c, "[data-total=live]").await.unwrap(), "1 of 2");

    // Nothing the API left out shows as a JavaScript placeholder.
    let page = text(&c, "body").await.unwrap();
    for placeholder in ["null", "undefined", "NaN"] {
        assert!(!page.contains(placeholder), "{placeholder} on the page: {page}");
    }

    screenshot(&c, LAPTOP, "body", "dashboard.png").await;
    screenshot(&c, PHONE, "#streams", "dashboard-phone.png").await;
    c.set_window_size(LAPTOP.0, LAPTOP.1).await.unwrap();
    c.find(Locator::Css("#created-done")).await.unwrap().click().await.unwrap();
    assert_eq!(text(&c, "#created-code").await.as_deref(), Some(""), "the code is gone once done: {shown}");

    // Stop, confirmed: the relay stops the stream and the page shows it.
    c.find(Locator::Css(&format!("{row} button.stop"))).await.unwrap().click().await.unwrap();
    let question = until!("the confirmation", c.get_alert_text().await.ok());
    assert!(question.contains("cam1"), "{question}");
    c.accept_alert().await.unwrap();
    until!("the relay to stop cam1", {
        let a = api(server, "GET", "/api/streams/cam1", None);
        (a.status == 200 && a.json()["live"] == false).then_some(())
    });
    until!("the row to show it off", text(&c, &format!("{row} td[data-field=live]")).await.filter(|t| t == "off"));
    let message = text(&c, "#action-message").await.unwrap();
    assert_eq!(message, "Stopped cam1.");
    c.close().await.unwrap();
}
