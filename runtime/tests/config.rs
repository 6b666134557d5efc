//! Configuration through the real binary: flags over environment over file
//! over defaults, core keys reaching the relay, and refusals (exit 2 with
//! one line on stderr).

mod support;

use std::process::Command;
use std::time::Duration;
use support::{
    Peer, Server, auth, bare_serve_command, binary, create_stream, path_in, pt, run, subscribe, temp_dir,
    wait_subscribers,
};

/// Starts the server with `pull_addr` set by a file, maybe the
/// environment, maybe a flag, and returns the IP it bound.
fn pull_ip(env: Option<&str>, flag: Option<&str>) -> String {
    let dir = temp_dir();
    let file = path_in(&dir, "relay.toml");
    std::fs::write(&file, "pull_addr = \"127.0.0.2:0\"\n").unwrap();
    let mut extra =
        vec!["--config", file.to_str().unwrap(), "--push-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"];
    if let Some(f) = flag {
        extra.extend(["--pull-addr", f]);
    }
    let env: Vec<(&str, &str)> = env.map(|e| ("RTPRELAY_PULL_ADDR", e)).into_iter().collect();
    Server::spawn(bare_serve_command(dir.path(), &extra, &env)).ready.pull.ip().to_string()
}

#[test]
fn flags_beat_environment_beat_file() {
    assert_eq!(pull_ip(None, None), "127.0.0.2", "file over default");
    assert_eq!(pull_ip(Some("127.0.0.3:0"), None), "127.0.0.3", "environment over file");
    assert_eq!(pull_ip(Some("127.0.0.3:0"), Some("127.0.0.1:0")), "127.0.0.1", "flag over environment");
}

#[test]
fn core_keys_reach_the_relay() {
    // A 2 s idle timeout from the environment stops a silent stream.
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[("RTPRELAY_STREAM_IDLE_TIMEOUT_MS", "2000")]);
    let code = create_stream(&server, "quiet");
    let publisher = Peer::new();
    auth(&publisher, server.ready.push, "quiet", &code);
    let sub = Peer::new();
    subscribe(&sub, server.ready.pull, "quiet");
    wait_subscribers(&server, "quiet", 1);
    let started = std::time::Instant::now();
    assert_eq!(sub.expect(pt::STREAM_STOPPED).text(), "quiet");
    assert!(started.elapsed() < Duration::from_secs(5), "stopped by the configured timeout, not the 30 s default");
}

/// Environment variables of one case.
type Env<'a> = Vec<(&'a str, &'a str)>;

#[test]
fn bad_configuration_exits_2_with_one_line() {
    let dir = temp_dir();
    let file = path_in(&dir, "bad.toml");
    std::fs::write(&file, "no_such_key = 1\n").unwrap();
    let missing = path_in(&dir, "missing.toml");
    let cases: Vec<(Vec<&str>, Env)> = vec![
        (vec!["--config", file.to_str().unwrap()], vec![]),
        (vec!["--config", missing.to_str().unwrap()], vec![]),
        (vec![], vec![("RTPRELAY_MAX_CLIENTS", "0")]),
        (vec![], vec![("RTPRELAY_MAX_CLIENTS", "lots")]),
    ];
    for (flags, env) in cases {
        let (status, out, err) = run(support::serve_command(dir.path(), &flags, &env));
        assert_eq!(status.code(), Some(2), "{flags:?} {env:?}: {err}");
        assert!(out.is_empty(), "no ready line");
        assert_eq!(err.trim().lines().count(), 1, "{flags:?} {env:?}: one line: {err}");
    }
    // A flag clap refuses: the reason on the first line, its usage after.
    for flags in [vec!["--push-addr", "not-an-address"], vec!["--no-such-flag"]] {
        let (status, out, err) = run(support::serve_command(dir.path(), &flags, &[]));
        assert_eq!(status.code(), Some(2), "{flags:?}: {err}");
        assert!(out.is_empty(), "no ready line");
        assert!(err.starts_with("rtprelay: ") && err.contains("\n\nUsage: rtprelay serve"), "{flags:?}: {err}");
    }
    let (status, out, _) = run({
        let mut c = Command::new(binary());
        c.arg("--help");
        c
    });
    assert!(status.success());
    assert!(out.contains("serve"));
}

#[test]
fn config_file_errors_name_the_file_the_line_and_the_nearest_key() {
    let dir = temp_dir();
    let cases = [
        (
            "log = \"info\"\nstream_idle_timout_ms = 5\n",
            "line 2: unknown key `stream_idle_timout_ms`; did you mean `stream_idle_timeout_ms`?",
        ),
        ("\n\nmax_clients = \"many\"\n", "line 3: invalid type: string \"many\""),
        ("push_addr = 127.0.0.1:0\n", "line 1: "),
    ];
    for (text, expected) in cases {
        let file = path_in(&dir, "relay.toml");
        std::fs::write(&file, text).unwrap();
        let (status, _, err) = run(support::serve_command(dir.path(), &["--config", file.to_str().unwrap()], &[]));
        assert_eq!(status.code(), Some(2), "{text}: {err}");
        let prefix = format!("rtprelay: config file {}, ", file.display());
        assert!(err.starts_with(&prefix) && err.contains(expected), "{text}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}
