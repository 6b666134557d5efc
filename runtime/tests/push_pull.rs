//! End to end with the real binary: `rtprelay push` and `rtprelay pull`
//! (docs/protocol.md §4) through `rtprelay serve`, on loopback.
//!
//! Byte-for-byte checks push with `--realtime`: a whole file pushed in a
//! millisecond can start and stop before a subscriber's ack reaches the
//! relay, and then, as docs/protocol.md says, that subscriber gets only
//! `STREAM_STOPPED`.

mod support;

use rtprelay_core::mpegts::PACKET_LEN;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::media::*;
use support::*;

#[test]
fn a_fixture_pushed_in_real_time_arrives_byte_identical() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let code = create_stream(&server, "cam1");
    let out = path_in(&dir, "out.ts");
    let cmd = pull(&server, &["cam1"], out.to_str().unwrap(), &[]);
    let mut puller = Guard(cmd_spawn(cmd));
    wait_clients(&server, 1);
    let started = Instant::now();
    let (status, _, stderr) = run(push(&server, "cam1", &code, &["--realtime", FIXTURE]));
    let took = started.elapsed();
    assert!(status.success(), "push failed: {stderr}");
    let duration = fixture_duration();
    assert!(took >= duration.mul_f64(0.9), "push took {took:?} for {duration:?} of media");
    let status = wait_exit(&mut puller, Duration::from_secs(10));
    assert!(status.success(), "pull exits 0 once its stream stopped");
    let got = std::fs::read(&out).unwrap();
    assert!(got == fixture(), "pulled {} bytes, not byte-identical to the {}-byte fixture", got.len(), fixture().len());
}

#[test]
fn standard_input_into_push_and_pull_to_standard_output_make_a_stream_ffprobe_reads() {
    if !require_tool("ffprobe") {
        return;
    }
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let code = create_stream(&server, "pipe");
    let mut puller = pull(&server, &["pipe"], "-", &[]);
    let puller = Guard(puller.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap());
    wait_clients(&server, 1);
    let mut pusher = push(&server, "pipe", &code, &["--realtime", "-"]);
    let mut pusher = Guard(pusher.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());
    let mut puller = puller;
    let pulled = puller.0.stdout.take().unwrap();
    let ffprobe = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", "-"])
        .stdin(pulled)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffprobe starts");
    let mut ffprobe = Guard(ffprobe);
    pusher.0.stdin.take().unwrap().write_all(&fixture()).unwrap(); // dropping stdin ends the input
    assert!(wait_exit(&mut pusher, Duration::from_secs(10)).success());
    assert!(wait_exit(&mut puller, Duration::from_secs(10)).success());
    assert!(wait_exit(&mut ffprobe, Duration::from_secs(10)).success());
    let mut codecs = String::new();
    std::io::Read::read_to_string(&mut ffprobe.0.stdout.take().unwrap(), &mut codecs).unwrap();
    // ffprobe prints each stream under its program too.
    let mut codecs: Vec<&str> = codecs.lines().map(|l| l.trim_end_matches(',')).filter(|l| !l.is_empty()).collect();
    codecs.sort();
    codecs.dedup();
    assert_eq!(codecs, ["h264", "mp2"]);
}

#[test]
fn several_streams_go_to_one_file_each_and_need_a_template() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let (status, _, stderr) = run(pull(&server, &["a", "b"], "-", &[]));
    assert_eq!(status.code(), Some(2), "{stderr}");
    let first = stderr.lines().next().unwrap_or("");
    assert!(first.starts_with("rtprelay pull: 2 streams need an -o path containing {liveId}"), "{stderr}");
    assert!(stderr.contains("\n\nUsage: rtprelay pull "), "the usage after the reason: {stderr}");
    let codes: Vec<String> = ["a", "b"].iter().map(|id| create_stream(&server, id)).collect();
    let template = path_in(&dir, "out-{liveId}.ts");
    let mut puller = Guard(cmd_spawn(pull(&server, &["a", "b"], template.to_str().unwrap(), &[])));
    wait_clients(&server, 1);
    let pushers: Vec<_> = ["a", "b"]
        .iter()
        .zip(&codes)
        .map(|(id, code)| {
            std::thread::spawn({
                let cmd = push(&server, id, code, &["--realtime", FIXTURE]);
                move || run(cmd)
            })
        })
        .collect();
    for pusher in pushers {
        let (status, _, stderr) = pusher.join().unwrap();
        assert!(status.success(), "{stderr}");
    }
    assert!(wait_exit(&mut puller, Duration::from_secs(10)).success());
    for id in ["a", "b"] {
        let got = std::fs::read(path_in(&dir, &format!("out-{id}.ts"))).unwrap();
        assert!(got == fixture(), "stream {id}: {} bytes, not the fixture", got.len());
    }
}

#[test]
fn a_wrong_code_makes_push_exit_1_and_a_missing_input_exit_2() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    create_stream(&server, "cam1");
    let (status, _, stderr) = run(push(&server, "cam1", "wrong", &[FIXTURE]));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.lines().next().is_some_and(|l| l.contains("refused the code of cam1")),
        "the reason first: {stderr}"
    );
    assert_summary_last(&stderr, "push cam1");
    let (status, _, _) = run(push(&server, "cam1", "wrong", &["/nonexistent.ts"]));
    assert_eq!(status.code(), Some(2));
}

#[test]
fn follow_pulls_again_and_keeps_writing_after_a_restart() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let code = create_stream(&server, "cam1");
    let out = path_in(&dir, "out.ts");
    let mut puller = Guard(cmd_spawn(pull(&server, &["cam1"], out.to_str().unwrap(), &["--follow"])));
    wait_clients(&server, 1);
    for run_number in 1..=2u64 {
        // The puller asks again after each stop; the next run starts once
        // the relay applied that request.
        eventually("the puller listed the stream", || metric(&server, "rtprelay_pull_req_applied_total") >= run_number);
        let (status, _, stderr) = run(push(&server, "cam1", &code, &["--realtime", FIXTURE]));
        assert!(status.success(), "{stderr}");
        let written = run_number * fixture().len() as u64;
        eventually("the run written", || std::fs::metadata(&out).is_ok_and(|m| m.len() >= written));
    }
    let expect = [fixture(), fixture()].concat();
    assert!(puller.0.try_wait().unwrap().is_none(), "--follow keeps pulling");
    let got = std::fs::read(&out).unwrap();
    assert!(got == expect, "{} bytes, not the fixture twice", got.len());
}

#[test]
fn pull_exits_1_when_no_relay_answers() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap(); // bound, never answers
    let mut cmd = Command::new(binary());
    cmd.args(["pull", "--server", &silent.local_addr().unwrap().to_string(), "--live-id", "cam1", "-o", "-"]);
    let started = Instant::now();
    let (status, _, stderr) = run(cmd);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.lines().next().is_some_and(|l| l.contains("no answer from a relay")), "{stderr}");
    assert_summary_last(&stderr, "pull cam1");
    assert!(started.elapsed() >= Duration::from_secs(5), "it waited its 5 s first");
}

/// A failure before any data moved still ends with the summary line
/// (docs/protocol.md §4: a one-line summary at every exit), after the
/// reason.
fn assert_summary_last(stderr: &str, name: &str) {
    let last = stderr.lines().last().unwrap_or("");
    let zero = format!("rtprelay {name}: done in 0.0 s: 0 packets, 0 kbit/s, 0 lost, 0 late, 0 recovered");
    assert_eq!(last, zero, "{stderr}");
}

/// Reads a child's stderr lines on a thread, so a test can wait for one.
fn stderr_lines(child: &mut Guard) -> std::sync::mpsc::Receiver<String> {
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The stderr lines received until the child closed it (bounded).
fn all_lines(lines: &std::sync::mpsc::Receiver<String>) -> Vec<String> {
    let mut all = Vec::new();
    while let Ok(line) = lines.recv_timeout(WAIT) {
        all.push(line);
    }
    all
}

/// Whether `line` is the summary line of `name` (e.g. `push cam1`).
fn is_summary(line: &str, name: &str) -> bool {
    let prefix = format!("rtprelay {name}: done in ");
    line.starts_with(&prefix)
        && [" packets, ", " kbit/s, ", " lost, ", " late, ", " recovered"].iter().all(|w| line.contains(w))
}

/// Starts `cmd` (a push of standard input) and writes the first 200 TS
/// packets of `data` until the relay counts them: the push, its stderr
/// lines, its stdin, and the rest of `data`.
fn live_push_from_stdin<'a>(
    server: &Server,
    mut cmd: Command,
    data: &'a [u8],
) -> (Guard, std::sync::mpsc::Receiver<String>, std::process::ChildStdin, &'a [u8]) {
    let mut pusher = Guard(cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());
    let lines = stderr_lines(&mut pusher);
    let mut stdin = pusher.0.stdin.take().unwrap();
    let (head, rest) = data.split_at(PACKET_LEN * 200);
    stdin.write_all(head).unwrap();
    eventually("the push is live", || {
        http("GET", &server.url("/api/streams/cam1"), None, &[]).json()["packetsIn"].as_u64() > Some(0)
    });
    (pusher, lines, stdin, rest)
}

#[test]
fn a_push_whose_relay_is_killed_mid_stream_warns_and_exits_1() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let code = create_stream(&server, "cam1");
    let mut cmd = push_without_code(&server, "cam1", &["-"]);
    cmd.env("RTPRELAY_LIVE_CODE", &code);
    let data = fixture();
    let (mut pusher, lines, mut stdin, rest) = live_push_from_stdin(&server, cmd, &data);
    drop(server); // SIGKILL: the relay is gone, nothing says goodbye
    // The input goes on for 5 s more, past the 3 s it takes to call the
    // relay lost.
    let chunks: Vec<&[u8]> = rest.chunks(rest.len() / 20 + 1).collect();
    for chunk in chunks {
        stdin.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(stdin);
    let status = wait_exit(&mut pusher, Duration::from_secs(15));
    let stderr = all_lines(&lines);
    assert_eq!(status.code(), Some(1), "{stderr:#?}");
    assert!(
        stderr.iter().any(|l| l.starts_with("rtprelay push cam1: warning: no answer from the relay at ")),
        "a warning while the input went on: {stderr:#?}"
    );
    let n = stderr.len();
    assert!(n >= 2 && is_summary(&stderr[n - 2], "push cam1"), "the summary: {stderr:#?}");
    assert!(stderr[n - 1].starts_with("rtprelay push: lost the relay at "), "the reason last: {stderr:#?}");
}

#[test]
fn pull_says_it_waits_for_a_stream_and_both_end_with_a_summary() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let out = path_in(&dir, "out.ts");
    let mut puller = Guard(cmd_spawn(pull(&server, &["cam1"], out.to_str().unwrap(), &["--progress", "plain"])));
    let lines = stderr_lines(&mut puller);
    let waiting = lines.recv_timeout(WAIT).expect("a first status line");
    assert!(waiting.starts_with("rtprelay pull cam1: waiting for cam1"), "{waiting}");
    wait_clients(&server, 1);
    let code = create_stream(&server, "cam1");
    let code_file = path_in(&dir, "cam1.code");
    std::fs::write(&code_file, format!("{code}\n")).unwrap();
    let cmd =
        push_without_code(&server, "cam1", &["--live-code-file", code_file.to_str().unwrap(), "--realtime", FIXTURE]);
    let (status, _, stderr) = run(cmd);
    assert!(status.success(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "off a terminal: only the summary: {stderr}");
    assert!(is_summary(stderr.trim(), "push cam1"), "{stderr}");
    let sent = http("GET", &server.url("/api/streams/cam1"), None, &[]).json()["packetsIn"].clone();
    assert!(stderr.contains(&format!(": {sent} packets, ")), "the relay's count of packets in: {stderr}");
    assert!(wait_exit(&mut puller, Duration::from_secs(10)).success());
    let stderr = all_lines(&lines);
    let last = stderr.last().map_or("", String::as_str);
    assert!(is_summary(last, "pull cam1") && last.contains(&format!(": {sent} packets, ")), "{stderr:#?}");
    assert!(std::fs::read(&out).unwrap() == fixture());
}

#[test]
fn input_that_is_not_mpeg_ts_is_refused_before_anything_is_sent() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let code = create_stream(&server, "cam1");
    let mp4 = path_in(&dir, "in.mp4");
    let mut bytes = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41".to_vec();
    bytes.resize(4096, 0);
    std::fs::write(&mp4, bytes).unwrap();
    let (status, _, stderr) = run(push(&server, "cam1", &code, &[mp4.to_str().unwrap()]));
    assert_eq!(status.code(), Some(1), "{stderr}");
    let first = stderr.lines().next().unwrap_or("");
    assert!(first.contains("in.mp4 is not MPEG-TS") && first.contains("MP4"), "{stderr}");
    assert_summary_last(&stderr, "push cam1");
    let stream = http("GET", &server.url("/api/streams/cam1"), None, &[]).json();
    assert_eq!((&stream["live"], &stream["packetsIn"]), (&false.into(), &0.into()), "the relay saw nothing");
}

#[test]
fn push_and_pull_work_over_ipv6_loopback() {
    let dir = temp_dir();
    let v6 = ["--push-addr", "[::1]:0", "--pull-addr", "[::1]:0", "--http-addr", "[::1]:0"];
    let server = Server::start(dir.path(), &v6, &[]);
    assert!(server.ready.push.is_ipv6() && server.ready.http.is_ipv6());
    let code = create_stream(&server, "cam1");
    let out = path_in(&dir, "out.ts");
    let mut puller = Guard(cmd_spawn(pull(&server, &["cam1"], out.to_str().unwrap(), &[])));
    wait_clients(&server, 1);
    let (status, _, stderr) = run(push(&server, "cam1", &code, &["--realtime", FIXTURE]));
    assert!(status.success(), "{stderr}");
    assert!(wait_exit(&mut puller, Duration::from_secs(10)).success());
    assert!(std::fs::read(&out).unwrap() == fixture(), "byte-identical over ::1");
}

#[test]
fn a_rate_limited_source_is_told_so_and_the_relay_logs_it() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[("RTPRELAY_MAX_AUTH_FAILURES_PER_IP_PER_MINUTE", "2")]);
    let code = create_stream(&server, "cam1");
    let guesser = Peer::new();
    for _ in 0..3 {
        guesser.send(server.ready.push, &rtp(pt::AUTH_REQ, false, 0, 0, 0, b"cam1#wrong"));
    }
    eventually("the relay logs the limit", || server.stderr_text().contains("source rate-limited"));
    // The same IP with the right code: the relay answers its probes but
    // ignores its auth for the rest of the minute.
    let mut pusher = Guard(cmd_spawn(push(&server, "cam1", &code, &[FIXTURE])));
    let lines = stderr_lines(&mut pusher);
    let status = wait_exit(&mut pusher, Duration::from_secs(20));
    let stderr = all_lines(&lines).join("\n");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("answers but ignored the auth of cam1"), "{stderr}");
    assert!(!stderr.contains("no answer from a relay"), "not the words of a dead relay: {stderr}");
}

#[test]
fn a_push_carries_on_when_its_relay_comes_back() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let push_addr = server.ready.push.to_string();
    let code = create_stream(&server, "cam1");
    let data = fixture();
    let (mut pusher, lines, mut stdin, rest) =
        live_push_from_stdin(&server, push(&server, "cam1", &code, &["-"]), &data);
    drop(server);
    let mut back = None;
    for (i, chunk) in rest.chunks(rest.len() / 28 + 1).enumerate() {
        if i == 16 {
            // 4 s later, a relay on the same push port and data directory.
            back = Some(Server::start(dir.path(), &["--push-addr", &push_addr], &[]));
        }
        stdin.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
    let back = back.expect("restarted");
    eventually("the push is live again", || {
        http("GET", &back.url("/api/streams/cam1"), None, &[]).json()["packetsIn"].as_u64() > Some(0)
    });
    drop(stdin);
    let status = wait_exit(&mut pusher, Duration::from_secs(15));
    let stderr = all_lines(&lines);
    assert_eq!(status.code(), Some(0), "{stderr:#?}");
    let warned = |what: &str| stderr.iter().any(|l| l.starts_with("rtprelay push cam1: warning: ") && l.contains(what));
    assert!(warned("no answer from the relay") && warned("answers again after"), "{stderr:#?}");
    assert!(is_summary(stderr.last().unwrap(), "push cam1"), "{stderr:#?}");
}

#[test]
fn pull_says_when_the_relay_stops_answering() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let mut puller = Guard(cmd_spawn(pull(&server, &["cam1"], "-", &["--progress", "off"])));
    let lines = stderr_lines(&mut puller);
    wait_clients(&server, 1);
    drop(server); // SIGKILL: nothing says goodbye
    let warning = lines.recv_timeout(WAIT).expect("a warning");
    assert!(warning.starts_with("rtprelay pull cam1: warning: no answer from the relay at "), "{warning}");
    assert!(puller.0.try_wait().unwrap().is_none(), "it keeps waiting for the relay");
}

#[test]
fn an_interrupted_push_stops_its_stream_and_prints_its_summary() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &[], &[]);
    let code = create_stream(&server, "cam1");
    let mut cmd = push(&server, "cam1", &code, &["-"]);
    let mut pusher = Guard(cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());
    let lines = stderr_lines(&mut pusher);
    let mut stdin = pusher.0.stdin.take().unwrap();
    stdin.write_all(&fixture()[..PACKET_LEN * 70]).unwrap();
    eventually("the push is live", || {
        http("GET", &server.url("/api/streams/cam1"), None, &[]).json()["packetsIn"].as_u64() > Some(0)
    });
    let pid = nix::unistd::Pid::from_raw(pusher.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = wait_exit(&mut pusher, Duration::from_secs(10));
    let stderr = all_lines(&lines);
    assert_eq!(status.code(), Some(0), "{stderr:#?}");
    assert!(stderr.last().is_some_and(|l| is_summary(l, "push cam1")), "{stderr:#?}");
    assert_eq!(
        http("GET", &server.url("/api/streams/cam1"), None, &[]).json()["live"],
        false,
        "stopped, not left to time out"
    );
    drop(stdin);
}
