//! The signed-envelope routes (docs/protocol.md §3.2), signed here the way the
//! document describes: SHA-1 of the six strings sorted and concatenated.

mod support;

use sha1::{Digest, Sha1};
use std::time::{SystemTime, UNIX_EPOCH};
use support::{Peer, Server, auth, http, temp_dir};

const PREFIX: &str = "/VideoMeeting/rtpServer/api";

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A signed body for `data`, with `key` as the secret and `timestamp`.
fn envelope(app_id: &str, key: &str, timestamp: u64, data: &str) -> String {
    let ts = timestamp.to_string();
    let (sn, nonce) = ("42", "a1b2c3");
    let mut parts = [key, app_id, sn, ts.as_str(), nonce, data];
    parts.sort();
    let digest = Sha1::digest(parts.concat().as_bytes());
    let signature: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    serde_json::json!({
        "appId": app_id, "sn": sn, "timestamp": ts, "nonce": nonce, "data": data, "signature": signature
    })
    .to_string()
}

fn start() -> (tempfile::TempDir, Server) {
    let dir = temp_dir();
    let keys = r#"[{appId = "room-manager", secureKey = "k3y"}, {appId = "other", secureKey = "zzz"}]"#;
    // A token is set: these routes ignore it.
    let server = Server::start(dir.path(), &["--admin-token", "t"], &[("RTPRELAY_APP_KEYS", keys)]);
    (dir, server)
}

fn post(server: &Server, route: &str, body: &str) -> serde_json::Value {
    let a = http("POST", &server.url(&format!("{PREFIX}/{route}")), Some(body), &[]);
    assert_eq!(a.status, 200, "legacy routes always answer 200: {}", a.body);
    a.json()
}

#[test]
fn get_live_info_creates_working_credentials() {
    let (_dir, server) = start();
    let answer = post(&server, "getLiveInfo", &envelope("room-manager", "k3y", now_ms(), "{}"));
    assert_eq!(answer["errCode"], 0, "{answer}");
    assert_eq!(answer["msg"], "");
    let id = answer["liveInfo"]["liveId"].as_str().unwrap();
    let code = answer["liveInfo"]["liveCode"].as_str().unwrap();
    assert!(id.starts_with("user"));
    assert_eq!(code.len(), 20);
    let publisher = Peer::new();
    auth(&publisher, server.ready.push, id, code);

    // stopStream: the live stream stops; then it does not exist.
    let data = serde_json::json!({ "liveId": id }).to_string();
    let stop = post(&server, "stopStream", &envelope("other", "zzz", now_ms(), &data));
    assert_eq!((stop["errCode"].as_i64(), stop["msg"].as_str()), (Some(0), Some("ok")));
    let again = post(&server, "stopStream", &envelope("other", "zzz", now_ms(), &data));
    assert_eq!(again["errCode"], 110002);
    assert_eq!(again["msg"], "stream does not exist");
}

#[test]
fn each_envelope_error_has_its_code() {
    let (_dir, server) = start();
    let now = now_ms();
    let cases = [
        ("bad signature", envelope("room-manager", "wrong-key", now, "{}"), 1000001),
        ("unknown appId", envelope("stranger", "k3y", now, "{}"), 1000002),
        ("old timestamp", envelope("room-manager", "k3y", now - 121_000, "{}"), 1000003),
        ("not JSON", "{\"appId\": ".to_owned(), 10002),
        ("missing fields", r#"{"appId": "room-manager"}"#.to_owned(), 10002),
    ];
    for (what, body, code) in cases {
        for route in ["getLiveInfo", "stopStream"] {
            let answer = post(&server, route, &body);
            assert_eq!(answer["errCode"], code, "{what} on {route}: {answer}");
            assert!(answer["msg"].is_string());
        }
    }
    let bad_data = post(&server, "stopStream", &envelope("room-manager", "k3y", now, "not json"));
    assert_eq!(bad_data["errCode"], 10002);
    let streams = http("GET", &server.url("/api/streams"), None, &[("Authorization", "Bearer t")]).json();
    assert_eq!(streams["streams"].as_array().unwrap().len(), 0, "no refused call created anything");
}
