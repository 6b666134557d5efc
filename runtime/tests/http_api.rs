//! The native HTTP API (docs/protocol.md §3.1), its guards, `rtprelay stream
//! create`, and credentials surviving a restart.

mod support;

use std::process::Command;
use support::{Peer, Server, auth, binary, create_stream, http, pt, rtp, run, stream_ids, temp_dir};

/// `user` and 16 decimal digits (§3.1).
fn is_generated_id(id: &str) -> bool {
    id.strip_prefix("user").is_some_and(|d| d.len() == 16 && d.bytes().all(|b| b.is_ascii_digit()))
}

fn is_code_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

#[test]
fn create_list_get_stop_delete() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let streams = server.url("/api/streams");

    // Generated id and code.
    let a = http("POST", &streams, Some("{}"), &[]);
    assert_eq!(a.status, 201, "{}", a.body);
    let j = a.json();
    let user_a = j["liveId"].as_str().unwrap().to_owned();
    assert!(is_generated_id(&user_a), "{j}");
    let code = j["liveCode"].as_str().unwrap();
    assert_eq!(code.len(), 20);
    assert!(code.chars().all(is_code_char));
    let b = http("POST", &streams, None, &[]).json();
    let user_b = b["liveId"].as_str().unwrap().to_owned();
    assert!(is_generated_id(&user_b), "an empty body counts as {{}}: {b}");
    assert_ne!(b["liveCode"], j["liveCode"]);

    // Chosen id; imported id and code.
    let c = http("POST", &streams, Some(r#"{"liveId": "cam.1_x-Y"}"#), &[]);
    assert_eq!((c.status, c.json()["liveId"].as_str()), (201, Some("cam.1_x-Y")));
    let imported = http("POST", &streams, Some(r#"{"liveId": "old", "liveCode": "legacy-code"}"#), &[]);
    assert_eq!(imported.status, 201);
    assert_eq!(imported.json()["liveCode"], "legacy-code");
    let publisher = Peer::new();
    let ssrc = auth(&publisher, server.ready.push, "old", "legacy-code");

    // Refusals.
    let dup = http("POST", &streams, Some(r#"{"liveId": "old"}"#), &[]);
    assert_eq!(dup.status, 409);
    assert_eq!(dup.json()["error"]["code"], "already_exists");
    let no_id = r#"{"liveCode": "abc"}"#; // not one of the three forms
    for bad in [r#"{"liveId": "a#b"}"#, r#"{"liveId": ""}"#, &format!(r#"{{"liveId": "{}"}}"#, "x".repeat(41)), no_id] {
        let r = http("POST", &streams, Some(bad), &[]);
        assert_eq!((r.status, r.json()["error"]["code"].as_str()), (400, Some("invalid_live_id")), "{bad}");
    }
    let bad_code =
        http("POST", &streams, Some(&format!(r#"{{"liveId": "z", "liveCode": "{}"}}"#, "c".repeat(65))), &[]);
    assert_eq!((bad_code.status, bad_code.json()["error"]["code"].as_str()), (400, Some("invalid_live_code")));
    let bad_json = http("POST", &streams, Some("{not json"), &[]);
    assert_eq!(bad_json.status, 400);
    let err = bad_json.json();
    assert!(err["error"]["code"].is_string() && err["error"]["message"].is_string(), "{err}");

    // List and get.
    let list = http("GET", &streams, None, &[]).json();
    let entries = list["streams"].as_array().unwrap();
    let ids: Vec<&str> = entries.iter().map(|s| s["liveId"].as_str().unwrap()).collect();
    let mut expected = vec!["cam.1_x-Y", "old", user_a.as_str(), user_b.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let old = entries.iter().find(|s| s["liveId"] == "old").unwrap();
    assert_eq!(old["live"], true);
    assert_eq!(old["ssrc"], ssrc, "unsigned SSRC");
    assert_eq!(old["publisher"], publisher.socket.local_addr().unwrap().to_string());
    assert_eq!(old["subscribers"], 0);
    for key in ["bitrateBps", "packetsIn", "bytesIn", "lost", "recovered", "delayMs"] {
        assert!(old.get(key).is_some(), "{key} in {old}");
    }
    let one = http("GET", &server.url("/api/streams/old"), None, &[]);
    assert_eq!(one.status, 200);
    assert!(one.json()["subscribers"].is_array());
    assert_eq!(http("GET", &server.url("/api/streams/nope"), None, &[]).status, 404);
    assert_eq!(http("POST", &server.url(&format!("/api/streams/{user_a}/stop")), None, &[]).status, 404, "not live");

    // Delete revokes: the live stream stops and its code no longer works.
    assert_eq!(http("DELETE", &server.url("/api/streams/old"), None, &[]).status, 204);
    assert_eq!(http("DELETE", &server.url("/api/streams/old"), None, &[]).status, 404);
    assert_eq!(http("GET", &server.url("/api/streams/old"), None, &[]).status, 404);
    publisher.send(server.ready.push, &rtp(pt::AUTH_REQ, false, 0, 0, 0, b"old#legacy-code"));
    assert_eq!(publisher.expect(pt::AUTH_REFUSED).text(), "old");

    // Open pages.
    let health = http("GET", &server.url("/healthz"), None, &[]);
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    let metrics = http("GET", &server.url("/metrics"), None, &[]);
    assert!(metrics.body.contains("rtprelay_auth_accepted_total 1"), "{}", metrics.body);
    assert!(metrics.body.contains("rtprelay_credentials_stored 3"), "{}", metrics.body);
    let clients = http("GET", &server.url("/api/clients"), None, &[]).json();
    assert!(clients["clients"].is_array());
}

#[test]
fn openapi_document_describes_every_route() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let doc = http("GET", &server.url("/api/openapi.json"), None, &[]);
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let routes = [
        ("/healthz", "get"),
        ("/metrics", "get"),
        ("/api/openapi.json", "get"),
        ("/api/streams", "post"),
        ("/api/streams", "get"),
        ("/api/streams/{liveId}", "get"),
        ("/api/streams/{liveId}", "delete"),
        ("/api/streams/{liveId}/stop", "post"),
        ("/api/clients", "get"),
    ];
    for (path, method) in routes {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} undocumented");
    }
    // The documented stream fields are the served ones.
    create_stream(&server, "doc");
    let served = http("GET", &server.url("/api/streams"), None, &[]).json();
    let entry = served["streams"][0].as_object().unwrap();
    let base = &doc["components"]["schemas"]["StreamBase"]["properties"];
    for key in entry.keys().filter(|k| *k != "subscribers") {
        assert!(base[key].is_object(), "{key} undocumented");
    }
    assert_eq!(entry.len(), base.as_object().unwrap().len() + 1);
}

#[test]
fn admin_token_and_host_rules() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &["--admin-token", "s3cret"], &[]);
    let streams = server.url("/api/streams");
    let missing = http("GET", &streams, None, &[]);
    assert_eq!((missing.status, missing.json()["error"]["code"].as_str()), (401, Some("unauthorized")));
    let wrong = http("GET", &streams, None, &[("Authorization", "Bearer nope")]);
    assert_eq!(wrong.status, 403);
    let right = http("GET", &streams, None, &[("Authorization", "Bearer s3cret")]);
    assert_eq!(right.status, 200);
    assert_eq!(http("GET", &server.url("/healthz"), None, &[]).status, 200, "no token needed");
    assert_eq!(http("GET", &server.url("/metrics"), None, &[]).status, 200, "no token needed");
    // With a token, any Host is fine.
    let foreign = http("GET", &streams, None, &[("Authorization", "Bearer s3cret"), ("Host", "relay.example")]);
    assert_eq!(foreign.status, 200);

    // The CLI passes the token.
    let mut cmd = Command::new(binary());
    cmd.args(["stream", "create", "--http", &server.ready.http.to_string(), "--admin-token", "s3cret"]);
    let (status, out, _) = run(cmd);
    assert!(status.success());
    assert!(out.contains("\"liveId\":\"user"), "{out}");
    drop(server);

    // Without a token: a non-loopback Host is refused.
    let server = Server::start(dir.path(), &[], &[]);
    let rebinding = http("GET", &server.url("/api/streams"), None, &[("Host", "attacker.example:30390")]);
    assert_eq!(rebinding.status, 403);
    assert_eq!(rebinding.json()["error"]["code"], "forbidden_host");
    assert_eq!(http("GET", &server.url("/api/streams"), None, &[("Host", "localhost:30390")]).status, 200);
}

#[test]
fn a_public_http_bind_needs_a_token() {
    let dir = temp_dir();
    let mut cmd = support::serve_command(dir.path(), &["--http-addr", "0.0.0.0:0"], &[]);
    cmd.env("RTPRELAY_PUSH_ADDR", "127.0.0.1:0");
    let (status, out, err) = run(cmd);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(out.is_empty());
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("admin_token"), "{err}");
}

#[test]
fn stream_create_cli_and_restart_keep_credentials() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let http_addr = server.ready.http.to_string();
    let create = |extra: &[&str], http: &str| {
        let mut cmd = Command::new(binary());
        cmd.args(["stream", "create", "--http", http]).args(extra).env_remove("RTPRELAY_ADMIN_TOKEN");
        run(cmd)
    };
    let (status, out, err) = create(&["--live-id", "studio"], &http_addr);
    assert!(status.success(), "{err}");
    let created: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(created.as_object().unwrap().len(), 2);
    assert_eq!(created["liveId"], "studio");
    let code = created["liveCode"].as_str().unwrap().to_owned();
    let (status, out, _) = create(&[], &format!("http://{http_addr}/"));
    assert!(status.success());
    let generated: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let generated = generated["liveId"].as_str().unwrap().to_owned();
    assert!(is_generated_id(&generated), "{out}");
    let (status, _, err) = create(&["--live-id", "studio"], &http_addr);
    assert_eq!(status.code(), Some(1), "409 is a failure");
    assert!(err.contains("409"), "{err}");
    let (status, _, _) = create(&["--live-id", "bad id"], &http_addr);
    assert_eq!(status.code(), Some(2), "bad usage");
    let imported_code = create_stream(&server, "imported");

    assert!(server.terminate().success());

    // Restart on the same data dir: every credential still works.
    let server = Server::start(dir.path(), &[], &[]);
    let publisher = Peer::new();
    auth(&publisher, server.ready.push, "studio", &code);
    auth(&publisher, server.ready.push, "imported", &imported_code);
    let ids = stream_ids(&server);
    assert_eq!(ids, ["imported", "studio", generated.as_str()]);
    let next = http("POST", &server.url("/api/streams"), Some("{}"), &[]).json();
    assert!(next["liveId"].as_str().is_some_and(|id| is_generated_id(id) && id != generated), "{next}");

    // A second server on the same data dir cannot open the store.
    let mut cmd = support::serve_command(dir.path(), &[], &[]);
    cmd.env("RUST_LOG", "off");
    let (status, _, err) = run(cmd);
    assert_eq!(status.code(), Some(1), "{err}");
}
