//! The compatibility routes the fleet's clients post to and the legacy page
//! reads (docs/protocol.md §3.2): `packageLoss`, `delay` and `getAllInfo`.

mod support;

use serde_json::{Value, json};
use support::{Peer, Server, auth, create_stream, http, pt, rtp, subscribe, temp_dir, wait_subscribers};

const PREFIX: &str = "/VideoMeeting/rtpServer/api";

fn post(server: &Server, route: &str, body: &str) -> Value {
    let a = http("POST", &server.url(&format!("{PREFIX}/{route}")), Some(body), &[]);
    assert_eq!(a.status, 200, "legacy routes always answer 200: {}", a.body);
    a.json()
}

fn all_info(server: &Server) -> Value {
    let a = http("GET", &server.url(&format!("{PREFIX}/getAllInfo")), None, &[]);
    assert_eq!(a.status, 200);
    let info = a.json();
    assert_no_null(&info, "getAllInfo");
    info
}

/// The legacy page calls `toFixed` on every number: nothing may be `null`.
fn assert_no_null(value: &Value, path: &str) {
    match value {
        Value::Null => panic!("null at {path}"),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| assert_no_null(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().for_each(|(k, v)| assert_no_null(v, &format!("{path}.{k}"))),
        _ => {}
    }
}

fn ok() -> Value {
    json!({"errCode": 0, "msg": "ok"})
}

/// A live stream `cam1` with one acknowledged subscriber; returns the
/// server, the publisher, the stream's SSRC, the subscriber and its id.
fn live_with_subscriber() -> (tempfile::TempDir, Server, Peer, u32, Peer, u32) {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let code = create_stream(&server, "cam1");
    let publisher = Peer::new();
    let ssrc = auth(&publisher, server.ready.push, "cam1", &code);
    let subscriber = Peer::new();
    let id = subscribe(&subscriber, server.ready.pull, "cam1");
    wait_subscribers(&server, "cam1", 1);
    (dir, server, publisher, ssrc, subscriber, id)
}

#[test]
fn package_loss_is_kept_and_shown_beside_the_receiver_report_figures() {
    let (_dir, server, _publisher, _ssrc, subscriber, id) = live_with_subscriber();
    let report = |client: i64| {
        json!({"clientId": client, "packageLossMap": {
            "cam1": {"lossScale60": 0.1, "throwScale60": null, "lossScale10": 0.25, "throwScale10": 0.0,
                     "lossScale2": -1, "throwScale2": 0.5, "lossTotal": 3},
            "other": {"lossScale60": 0.9},
        }})
        .to_string()
    };
    // The fleet sends the id signed.
    let signed = i64::from(id as i32);
    assert_eq!(post(&server, "packageLoss", &report(signed)), ok());
    let clients = http("GET", &server.url("/api/clients"), None, &[]).json();
    let sub = &clients["clients"][0]["subscriptions"][0];
    assert_eq!(sub["liveId"], "cam1");
    assert!(sub.get("reportedLoss").is_some(), "beside the receiver-report figures: {sub}");
    let expected = json!({"lossScale60": 0.1, "throwScale60": null, "lossScale10": 0.25, "throwScale10": 0.0,
        "lossScale2": null, "throwScale2": 0.5, "lossTotal": 3.0});
    assert_eq!(sub["packageLoss"], expected, "-1 and null are unknown");
    assert_eq!(clients["clients"][0]["subscriptions"].as_array().unwrap().len(), 1, "unlisted ids are ignored");

    // An id the relay does not know gets the very same answer, and changes nothing.
    let unknown = i64::from((id ^ 0x5a5a) as i32);
    let a = http("POST", &server.url(&format!("{PREFIX}/packageLoss")), Some(&report(unknown)), &[]);
    let b = http("POST", &server.url(&format!("{PREFIX}/packageLoss")), Some(&report(signed)), &[]);
    assert_eq!((a.status, &a.body), (b.status, &b.body), "no oracle for guessing ids");
    // The unsigned reading of the id is accepted too; null entries are unknown.
    let nulls = json!({"clientId": i64::from(id), "packageLossMap": {"cam1": null}}).to_string();
    assert_eq!(post(&server, "packageLoss", &nulls), ok());
    let clients = http("GET", &server.url("/api/clients"), None, &[]).json();
    assert!(clients["clients"][0]["subscriptions"][0]["packageLoss"].is_null());

    for bad in [
        "not json",
        "{}",
        "[]",
        r#"{"clientId": "1"}"#,
        r#"{"clientId": 1.5}"#,
        r#"{"clientId": 1099511627776}"#,
        r#"{"clientId": 1, "packageLossMap": 5}"#,
        r#"{"clientId": 1, "packageLossMap": {"cam1": 5}}"#,
        r#"{"clientId": 1, "packageLossMap": {"cam1": {"lossScale60": "0.1"}}}"#,
    ] {
        let answer = post(&server, "packageLoss", bad);
        assert_eq!(answer["errCode"], 110_003, "{bad}: {answer}");
        assert!(answer["msg"].is_string());
    }
    drop(subscriber);
}

#[test]
fn delay_is_kept_per_stream_and_unknown_ids_are_answered_alike() {
    let (_dir, server, _publisher, _ssrc, _subscriber, _id) = live_with_subscriber();
    let stream = || http("GET", &server.url("/api/streams/cam1"), None, &[]).json();
    assert!(stream()["reportedDelayMs"].is_null());
    assert_eq!(post(&server, "delay", r#"{"liveId": "cam1", "delay": 42.5}"#), ok());
    assert_eq!(stream()["reportedDelayMs"], 42.5);
    assert_eq!(post(&server, "delay", r#"{"liveId": "liveIdTest-0", "delay": 3.0}"#), ok());
    assert_eq!(post(&server, "delay", r#"{"liveId": "cam1", "delay": null}"#), ok());
    assert!(stream()["reportedDelayMs"].is_null(), "null is unknown");
    for bad in ["", "nope", r#"{"delay": 1}"#, r#"{"liveId": 5, "delay": 1}"#, r#"{"liveId": "cam1", "delay": "1"}"#] {
        let answer = post(&server, "delay", bad);
        assert_eq!(answer["errCode"], 110_004, "{bad}: {answer}");
        assert!(answer["msg"].is_string());
    }
}

#[test]
fn get_all_info_has_the_legacy_shape_and_never_null() {
    let (_dir, server, publisher, ssrc, subscriber, id) = live_with_subscriber();
    // A second client that lists nothing.
    let idle = Peer::new();
    idle.send(server.ready.pull, &rtp(pt::CLIENT_ID_REQ, false, 0, 0, 0, b""));
    idle.expect(pt::CLIENT_ID_RSP);

    let info = all_info(&server);
    assert_eq!(info["errCode"], 0);
    let pulls = info["pullStreamInfo"].as_array().unwrap();
    assert_eq!(pulls.len(), 2);
    let find = |peer: &Peer| {
        let port = peer.socket.local_addr().unwrap().port();
        pulls.iter().find(|p| p["address"]["port"] == port).unwrap_or_else(|| panic!("{port} in {info}")).clone()
    };
    let sub = find(&subscriber);
    assert_eq!(sub["address"]["host"], "127.0.0.1");
    assert_eq!(sub["packageInfo"][0]["liveId"], "cam1");
    let unknown = json!({"lossScale60": -1, "throwScale60": -1, "lossScale10": -1, "throwScale10": -1,
        "lossScale2": -1, "throwScale2": -1, "lossTotal": -1});
    assert_eq!(sub["packageInfo"][0]["packageLossInfo"], unknown, "-1 for unknown numbers");
    for key in ["in1s", "in3s", "in10s"] {
        assert!(sub["bandwidthInfo"][key].is_u64(), "{key} in {sub}");
    }
    let lonely = find(&idle);
    assert_eq!(
        lonely["packageInfo"],
        json!([{"liveId": "-1", "packageLossInfo": unknown}]),
        "a client with no streams"
    );

    let streams = info["streamInfo"].as_array().unwrap();
    assert_eq!(streams.len(), 1);
    let s = &streams[0];
    let publisher_addr = publisher.socket.local_addr().unwrap();
    assert_eq!(s["liveId"], "cam1");
    assert_eq!(s["ssrc"], i64::from(ssrc as i32), "signed SSRC");
    assert_eq!((s["ip"].as_str(), s["port"].as_u64()), (Some("127.0.0.1"), Some(u64::from(publisher_addr.port()))));
    let bandwidth = s["bandwidth"].as_array().unwrap();
    assert_eq!(bandwidth.iter().map(|b| b[0].as_u64().unwrap()).collect::<Vec<_>>(), [1, 3, 10]);
    assert_eq!(s["delay"], -1, "no delay known yet");

    // Reported figures show up.
    publisher.send(server.ready.push, &rtp(pt::TS_DATA, false, 1, 0, ssrc, &[0x47; 188]));
    post(&server, "delay", r#"{"liveId": "cam1", "delay": 12.5}"#);
    let loss = json!({"clientId": id as i32, "packageLossMap": {"cam1": {"lossScale10": 0.5}}}).to_string();
    post(&server, "packageLoss", &loss);
    let info = all_info(&server);
    assert_eq!(info["streamInfo"][0]["delay"], 12.5);
    let sub = info["pullStreamInfo"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["packageInfo"][0]["liveId"] == "cam1")
        .unwrap()
        .clone();
    assert_eq!(sub["packageInfo"][0]["packageLossInfo"]["lossScale10"], 0.5);
    assert_eq!(sub["packageInfo"][0]["packageLossInfo"]["lossScale60"], -1);
    assert!(sub["bandwidthInfo"]["in1s"].as_u64().unwrap() > 0, "what it receives: {sub}");
}
