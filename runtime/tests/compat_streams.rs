//! The read-only compatibility routes of docs/protocol.md §3.2:
//! `/VideoMeeting/rtpServer/stream/getAllStream` and `.../getSubscribers`.

mod support;

use support::*;

fn compat(server: &Server, path: &str) -> serde_json::Value {
    let answer = http("GET", &server.url(&format!("/VideoMeeting/rtpServer{path}")), None, &[]);
    assert_eq!(answer.status, 200, "compatibility routes always answer 200: {}", answer.body);
    answer.json()
}

#[test]
fn get_all_stream_lists_live_streams_with_signed_ssrcs_or_null() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let code = create_stream(&server, "cam1");
    create_stream(&server, "idle");
    assert_eq!(compat(&server, "/stream/getAllStream"), serde_json::json!({"infos": null, "errCode": 0, "msg": "ok"}));
    let publisher = Peer::new();
    let ssrc = auth(&publisher, server.ready.push, "cam1", &code);
    let all = compat(&server, "/stream/getAllStream");
    assert_eq!(all["infos"], serde_json::json!([{"liveId": "cam1", "ssrc": ssrc as i32}]), "only live streams");
    assert_eq!((all["errCode"].as_i64(), all["msg"].as_str()), (Some(0), Some("ok")));
}

#[test]
fn get_subscribers_lists_host_and_port_or_null() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let code = create_stream(&server, "cam1");
    let publisher = Peer::new();
    auth(&publisher, server.ready.push, "cam1", &code);
    assert_eq!(compat(&server, "/stream/getSubscribers?liveId=cam1")["subscribers"], serde_json::Value::Null);
    let client = Peer::new();
    subscribe(&client, server.ready.pull, "cam1");
    wait_subscribers(&server, "cam1", 1);
    let subs = compat(&server, "/stream/getSubscribers?liveId=cam1");
    let local = client.socket.local_addr().unwrap();
    assert_eq!(subs["subscribers"], serde_json::json!([{"host": local.ip().to_string(), "port": local.port()}]));
    assert_eq!(compat(&server, "/stream/getSubscribers?liveId=nobody")["subscribers"], serde_json::Value::Null);
    assert_eq!(compat(&server, "/stream/getSubscribers")["errCode"], 0, "a missing liveId is no error either");
}
