//! The credential store and its disk (docs/protocol.md §3.1 `/healthz`, §4
//! `rtprelay store`): writes recover after a full disk and `/healthz` says
//! so while they fail; a damaged store file stops `serve` with one line and
//! exit 2, never a panic or an empty start; `store check` finds the damage
//! and `store restore` rebuilds the store from the backup written on every
//! change.
//!
//! A full disk is simulated with `RLIMIT_FSIZE` set on the running relay
//! (`prlimit --pid`): with a soft limit of 0 every write to a regular file
//! fails with `EFBIG`, as `ENOSPC` would; raising it is the space coming
//! back. The relay is started through `sh` with `SIGXFSZ` ignored (the
//! disposition survives `exec`), so the limit gives write errors instead of
//! killing it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{Peer, Server, auth, binary, create_stream, eventually, http, run, serve_command, stream_ids, temp_dir};

/// The store's file in `dir`.
fn store_file(dir: &Path) -> PathBuf {
    dir.join("credentials.redb")
}

/// `rtprelay serve` on `dir` through `sh`, with `SIGXFSZ` ignored.
fn serve_ignoring_sigxfsz(dir: &Path) -> Server {
    let cmd = serve_command(dir, &[], &[]);
    let mut sh = Command::new("sh");
    sh.arg("-c").arg("trap '' XFSZ; exec \"$@\"").arg("sh").arg(cmd.get_program()).args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => sh.env(key, value),
            None => sh.env_remove(key),
        };
    }
    Server::spawn(sh)
}

/// Sets the soft file-size limit of process `pid` (`0` or `unlimited`).
fn set_file_size_limit(pid: u32, limit: &str) {
    let status = Command::new("prlimit")
        .arg("--pid")
        .arg(pid.to_string())
        .arg(format!("--fsize={limit}:"))
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(status.success(), "prlimit --fsize={limit}: {status}");
}

/// A relay on `dir` with stream `a`, whose disk is then full; returns it.
fn relay_on_a_full_disk(dir: &Path) -> Server {
    let server = serve_ignoring_sigxfsz(dir);
    create_stream(&server, "a");
    set_file_size_limit(server.pid(), "0");
    let failed = http("POST", &server.url("/api/streams"), Some(r#"{"liveId": "b"}"#), &[]);
    assert_eq!(failed.status, 500, "a write on a full disk fails: {}", failed.body);
    server
}

#[test]
fn writes_recover_once_the_disk_has_space_again() {
    let dir = temp_dir();
    let server = relay_on_a_full_disk(dir.path());
    let again = http("POST", &server.url("/api/streams"), Some(r#"{"liveId": "b"}"#), &[]);
    assert_eq!(again.status, 500, "still full: {}", again.body);

    set_file_size_limit(server.pid(), "unlimited");
    let b = http("POST", &server.url("/api/streams"), Some(r#"{"liveId": "b", "liveCode": "code-b"}"#), &[]);
    assert_eq!(b.status, 201, "the first write after the disk has space succeeds: {}", b.body);
    let c = http("POST", &server.url("/api/streams"), Some("{}"), &[]);
    assert_eq!(c.status, 201, "{}", c.body);
    let generated = c.json()["liveId"].as_str().unwrap().to_owned();
    assert_eq!(http("DELETE", &server.url("/api/streams/a"), None, &[]).status, 204);
    assert!(server.terminate().success());

    // What was answered is on disk.
    let server = Server::start(dir.path(), &[], &[]);
    let ids = stream_ids(&server);
    println!(
        "store on a full disk: writes answered {} while full; the first write with space again {}; \
         after a restart the store holds {ids:?}, as answered",
        again.status, b.status
    );
    assert_eq!(ids, ["b", generated.as_str()]);
    auth(&Peer::new(), server.ready.push, "b", "code-b");
}

#[test]
fn healthz_says_the_store_is_failing_while_writes_fail() {
    let dir = temp_dir();
    let server = relay_on_a_full_disk(dir.path());
    let health = http("GET", &server.url("/healthz"), None, &[]);
    println!("healthz while the disk is full: {} {}", health.status, health.body);
    assert_eq!(health.status, 503, "{}", health.body);
    let body = health.json();
    assert_eq!(body["status"], "failing", "{body}");
    assert_eq!(body["store"]["state"], "failing", "{body}");
    let error = body["store"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("File too large"), "the store's error: {body}");
    // Still failing a little later: health does not forget.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(http("GET", &server.url("/healthz"), None, &[]).status, 503);

    // Space comes back: health recovers by itself, with no write needed.
    set_file_size_limit(server.pid(), "unlimited");
    eventually("healthz ok again", || {
        let h = http("GET", &server.url("/healthz"), None, &[]);
        h.status == 200 && h.body == "ok"
    });
}

/// One way of damaging the store file.
struct Damage {
    name: &'static str,
    apply: fn(&Path),
    /// What the one line must say about the file.
    says: &'static str,
}

fn empty(file: &Path) {
    std::fs::File::options().write(true).open(file).unwrap().set_len(0).unwrap();
}

fn truncated(file: &Path) {
    let len = std::fs::metadata(file).unwrap().len();
    std::fs::File::options().write(true).open(file).unwrap().set_len(len / 2).unwrap();
}

/// Overwrites `at..at + len` with a byte pattern.
fn scribble(file: &Path, at: usize, len: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    for (i, b) in bytes[at..at + len].iter_mut().enumerate() {
        *b = 0xa5 ^ (i as u8);
    }
    std::fs::write(file, bytes).unwrap();
}

fn scribbled_header(file: &Path) {
    scribble(file, 0, 512);
}

/// Scribbles over every copy of the record of stream `studio` (redb
/// copies pages on write, so older copies are in the file too).
fn scribbled_record(file: &Path) {
    let bytes = std::fs::read(file).unwrap();
    let copies: Vec<usize> = bytes.windows(6).enumerate().filter(|(_, w)| *w == b"studio").map(|(i, _)| i).collect();
    assert!(!copies.is_empty(), "the record's key is in the file");
    for at in copies {
        scribble(file, at.saturating_sub(16), 64);
    }
}

const DAMAGES: [Damage; 4] = [
    Damage { name: "truncated to 0 bytes", apply: empty, says: "is empty" },
    Damage { name: "truncated mid-file", apply: truncated, says: "is damaged" },
    Damage { name: "scribbled header", apply: scribbled_header, says: "is damaged" },
    Damage { name: "scribbled record", apply: scribbled_record, says: "is damaged" },
];

/// A data directory with three credentials, written by a relay that then
/// stopped cleanly.
fn stored_credentials(dir: &Path) -> String {
    let server = Server::start(dir, &[], &[]);
    let code = create_stream(&server, "studio");
    create_stream(&server, "other");
    assert_eq!(http("POST", &server.url("/api/streams"), Some("{}"), &[]).status, 201);
    assert!(server.terminate().success());
    code
}

/// Starts `serve` on a store damaged by `damage`; returns (exit code,
/// stderr), printing the outcome.
fn serve_on_damaged_store(damage: &Damage) -> (Option<i32>, String) {
    let dir = temp_dir();
    stored_credentials(dir.path());
    (damage.apply)(&store_file(dir.path()));
    let mut cmd = serve_command(dir.path(), &[], &[("RUST_BACKTRACE", "1")]);
    cmd.env("RUST_BACKTRACE", "1");
    let (status, out, err) = run(cmd);
    println!("{}: exit {:?}, stderr: {}", damage.name, status.code(), err.trim_end());
    assert!(out.is_empty(), "{}: no ready line on a damaged store: {out}", damage.name);
    (status.code(), err.replace(&dir.path().display().to_string(), "D"))
}

/// The one line `serve` must give for `damage`.
fn assert_one_clear_line(damage: &Damage) {
    let (code, err) = serve_on_damaged_store(damage);
    assert_eq!(code, Some(2), "{}: exit 2 (bad data, like bad configuration): {err}", damage.name);
    assert_eq!(err.lines().count(), 1, "{}: exactly one line: {err}", damage.name);
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{}: {err}", damage.name);
    let line = err.trim_end();
    assert!(line.starts_with("rtprelay: the credential store D/credentials.redb "), "{}: {line}", damage.name);
    assert!(line.contains(damage.says), "{}: {line}", damage.name);
    assert!(
        line.ends_with("run `rtprelay store restore --data-dir D` to rebuild it from D/credentials.backup.json"),
        "{}: {line}",
        damage.name
    );
}

#[test]
fn an_empty_store_file_is_an_error_not_an_empty_start() {
    assert_one_clear_line(&DAMAGES[0]);
}

#[test]
fn a_truncated_store_file_is_one_line_not_a_panic() {
    assert_one_clear_line(&DAMAGES[1]);
}

#[test]
fn a_scribbled_store_file_is_one_line() {
    assert_one_clear_line(&DAMAGES[2]);
    assert_one_clear_line(&DAMAGES[3]);
}

/// `rtprelay store SUB --data-dir DIR`; returns (exit code, stdout, stderr).
fn store(sub: &str, dir: &Path) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(["store", sub, "--data-dir"]).arg(dir);
    let (status, out, err) = run(cmd);
    (status.code(), out, err)
}

#[test]
fn store_restore_brings_back_every_credential() {
    for damage in &DAMAGES {
        let dir = temp_dir();
        let code = stored_credentials(dir.path());
        let (ok, out, err) = store("check", dir.path());
        assert_eq!(ok, Some(0), "a healthy store: {out} {err}");
        let backup = std::fs::read_to_string(dir.path().join("credentials.backup.json")).unwrap();
        assert!(backup.contains("\"studio\"") && !backup.contains(&code), "ids and hashes, never codes: {backup}");

        (damage.apply)(&store_file(dir.path()));
        let (bad, out, err) = store("check", dir.path());
        println!("{}: store check: exit {bad:?}: {}", damage.name, err.trim_end());
        assert_eq!(bad, Some(1), "{}: check finds the damage: {out} {err}", damage.name);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(damage.says), "{err}");

        let (restored, out, err) = store("restore", dir.path());
        println!("{}: store restore: exit {restored:?}: {}", damage.name, out.trim_end());
        assert_eq!(restored, Some(0), "{}: {out} {err}", damage.name);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["restored"], 3, "{out}");
        assert_eq!(store("check", dir.path()).0, Some(0));

        let server = Server::start(dir.path(), &[], &[]);
        auth(&Peer::new(), server.ready.push, "studio", &code);
        let next = http("POST", &server.url("/api/streams"), Some("{}"), &[]).json();
        let id = next["liveId"].as_str().unwrap();
        assert!(id.len() == 20 && id.starts_with("user"), "a generated id after a restore: {next}");
    }
}

#[test]
fn store_restore_refuses_while_a_relay_runs() {
    let dir = temp_dir();
    stored_credentials(dir.path());
    let server = Server::start(dir.path(), &[], &[]);
    let (code, out, err) = store("restore", dir.path());
    assert_eq!(code, Some(1), "{out} {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("in use by a running relay"), "{err}");
    let (code, _, err) = store("check", dir.path());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("in use by a running relay"), "{err}");
    drop(server);
}

#[test]
fn a_missing_store_file_next_to_a_backup_is_an_error() {
    let dir = temp_dir();
    stored_credentials(dir.path());
    std::fs::remove_file(store_file(dir.path())).unwrap();
    let (status, _, err) = run(serve_command(dir.path(), &[], &[]));
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("is missing"), "{err}");
    // A first start (nothing at all) is an ordinary empty start.
    let fresh = temp_dir();
    let server = Server::start(fresh.path(), &[], &[]);
    assert_eq!(http("GET", &server.url("/healthz"), None, &[]).status, 200);
}
