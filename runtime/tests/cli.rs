//! The command line with the real binary (docs/protocol.md §4): usage
//! mistakes (the one-line reason first, then the usage, exit 2), help that
//! stands without the repository, completions, and `stream
//! list|show|stop|delete` and `clients` against a running relay, as tables
//! and as `--json`.

mod support;

use std::process::Command;
use support::{Peer, Server, auth, binary, http, run, subscribe, temp_dir, wait_subscribers};

/// `rtprelay ARGS` run to the end, with no `RTPRELAY_*` variables but `env`.
fn rtprelay(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("RTPRELAY_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    let (status, out, err) = run(cmd);
    (status.code(), out, err)
}

/// `rtprelay ARGS --http <the server>`.
fn against(server: &Server, args: &[&str]) -> (Option<i32>, String, String) {
    let http = server.ready.http.to_string();
    let mut all = args.to_vec();
    all.extend(["--http", &http]);
    rtprelay(&all, &[])
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[test]
fn usage_mistakes_give_the_reason_first_then_the_usage_and_exit_2() {
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &["push"],
            "rtprelay: the following required arguments were not provided: --live-id <ID>",
            "Usage: rtprelay push",
        ),
        (&[], "rtprelay: `rtprelay` needs a command", "\n  serve "),
        (&["stream"], "rtprelay: `rtprelay stream` needs a command", "\n  list "),
        (&["stream", "lst"], "rtprelay: unrecognized subcommand 'lst'", "\n  delete "),
        (&["serve", "--bogus"], "rtprelay: unexpected argument '--bogus' found", "Usage: rtprelay serve"),
    ];
    for (args, reason, later) in cases {
        let (code, out, err) = rtprelay(args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: nothing on stdout: {out}");
        assert!(first_line(&err).starts_with(reason), "{args:?}: first line: {err}");
        assert!(err.contains(later), "{args:?}: {later:?} follows: {err}");
    }
    let (_, _, err) = rtprelay(&["stream", "lst"], &[]);
    for command in ["create", "list", "show", "stop", "delete"] {
        assert!(err.contains(&format!("\n  {command} ")), "every stream command is listed: {err}");
    }
}

#[test]
fn help_and_config_stand_without_the_repository() {
    let (code, out, _) = rtprelay(&["serve", "--help"], &[]);
    assert_eq!(code, Some(0));
    assert!(out.contains("rtprelay config") && !out.contains("CONFIG.md"), "{out}");
    let (code, out, err) = rtprelay(&["config"], &[]);
    assert_eq!(code, Some(0), "{err}");
    for key in rtprelay::config::all_keys() {
        assert!(out.contains(&format!("\n#{key} = ")), "{key}");
        assert!(out.contains(&rtprelay::config::env_var_name(&key)), "{key}");
    }
    let (code, out, _) = rtprelay(&["completions", "bash"], &[]);
    assert_eq!(code, Some(0));
    assert!(out.contains("_rtprelay") && out.contains("clients"), "a bash completion script");
}

#[test]
fn stream_subcommands_print_tables_and_json() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let (code, out, err) = against(&server, &["stream", "list"]);
    assert_eq!((code, first_line(&out)), (Some(0), "no streams: `rtprelay stream create` makes one"), "{err}");

    let (code, out, err) = against(&server, &["stream", "create", "--live-id", "cam1"]);
    assert_eq!(code, Some(0), "{err}");
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    let live_code = created["liveCode"].as_str().unwrap().to_owned();
    let publisher = Peer::new();
    auth(&publisher, server.ready.push, "cam1", &live_code);
    let subscriber = Peer::new();
    subscribe(&subscriber, server.ready.pull, "cam1");
    wait_subscribers(&server, "cam1", 1);

    let (code, out, _) = against(&server, &["stream", "list"]);
    assert_eq!(code, Some(0));
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("LIVE ID  LIVE  PUBLISHER"), "{out}");
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!((row[0], row[1], row[7]), ("cam1", "yes", "1"), "live, one subscriber: {out}");

    let (code, out, _) = against(&server, &["stream", "list", "--json"]);
    assert_eq!(code, Some(0));
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out.trim(), http("GET", &server.url("/api/streams"), None, &[]).body.trim(), "the API's body as is");
    assert_eq!((&list["streams"][0]["subscribers"], &list["streams"][0]["subscriberCount"]), (&1.into(), &1.into()));

    let (code, out, _) = against(&server, &["stream", "show", "cam1", "--json"]);
    assert_eq!(code, Some(0));
    let one: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((one["subscribers"].as_array().map(Vec::len), &one["subscriberCount"]), (Some(1), &1.into()));
    let (_, out, _) = against(&server, &["stream", "show", "cam1"]);
    let address = subscriber.socket.local_addr().unwrap().to_string();
    assert!(out.contains("live         yes") && out.contains(&address), "{out}");

    let (code, out, _) = against(&server, &["clients", "--json"]);
    assert_eq!(code, Some(0));
    let clients: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(clients["clients"][0]["address"], address.as_str());
    let (_, out, _) = against(&server, &["clients"]);
    assert!(out.starts_with("ADDRESS") && out.contains(&address) && out.contains("cam1"), "{out}");

    assert_eq!(against(&server, &["stream", "stop", "cam1"]).1, "cam1: stopped\n");
    let (code, _, err) = against(&server, &["stream", "stop", "cam1"]);
    assert_eq!((code, err.trim()), (Some(1), "rtprelay: stream cam1 is not live"));
    let (code, out, _) = against(&server, &["stream", "delete", "cam1", "--json"]);
    assert_eq!((code, out.trim()), (Some(0), r#"{"liveId":"cam1","deleted":true}"#));
    let (code, _, err) = against(&server, &["stream", "show", "cam1"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(first_line(&err).starts_with("rtprelay: no stream cam1"), "{err}");
    let (code, _, _) = against(&server, &["stream", "show", ".."]);
    assert_eq!(code, Some(2), "not a stream id");
}

#[test]
fn api_commands_say_what_is_missing() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &["--admin-token", "s3cret"], &[]);
    let (code, _, err) = against(&server, &["stream", "list"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("RTPRELAY_ADMIN_TOKEN") && err.lines().count() == 1, "{err}");
    let http = server.ready.http.to_string();
    let (code, _, err) = rtprelay(&["clients", "--http", &http], &[("RTPRELAY_ADMIN_TOKEN", "s3cret")]);
    assert_eq!(code, Some(0), "the token from the environment: {err}");
    drop(server);
    let (code, _, err) = rtprelay(&["stream", "list", "--http", &http], &[]);
    assert_eq!(code, Some(1));
    assert!(err.starts_with("rtprelay: cannot reach the relay's HTTP API"), "{err}");
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rtprelay.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    let exec = text.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("an ExecStart line");
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    assert_eq!(args[..2], ["serve", "--config"], "{exec}");
    let help = rtprelay(&["serve", "--help"], &[]).1;
    assert!(args.iter().filter(|a| a.starts_with("--")).all(|flag| help.contains(flag)), "{exec}");
    for setting in ["DynamicUser=yes", "StateDirectory=rtprelay", "Restart=on-failure", "NoNewPrivileges=yes"] {
        assert!(text.lines().any(|l| l == setting), "{setting}");
    }
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        println!("SKIPPED: systemd-analyze missing");
        return;
    }
    // With this build's binary in place of the installed one.
    let dir = temp_dir();
    let copy = dir.path().join("rtprelay.service");
    std::fs::write(&copy, text.replace("/usr/local/bin/rtprelay", binary())).unwrap();
    let (status, out, err) = run({
        let mut c = Command::new("systemd-analyze");
        c.arg("verify").arg(&copy);
        c
    });
    assert!(status.success() && err.trim().is_empty(), "systemd-analyze verify: {out}{err}");
}
