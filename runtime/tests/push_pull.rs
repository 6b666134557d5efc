//! End to end with the real binary: `rtprelay push` and `rtprelay pull`
//! (docs/protocol.md §4) through `rtprelay serve`, on loopback.
//!
//! Byte-for-byte checks push with `--realtime`: a whole file pushed in a
//! millisecond can start and stop before a subscriber's ack reaches the
//! relay, and then, as docs/protocol.md says, that subscriber gets only
//! `STREAM_STOPPED`.

mod support;

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
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
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
    assert!(stderr.contains("refused"), "{stderr}");
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
    assert!(stderr.contains("no answer from a relay"), "{stderr}");
    assert!(started.elapsed() >= Duration::from_secs(5), "it waited its 5 s first");
}
