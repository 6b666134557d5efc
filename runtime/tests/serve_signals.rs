//! `rtprelay serve` stops gracefully on SIGTERM and SIGINT at any moment
//! after its ready line, even the very first one: a supervisor that stops
//! the relay right after it starts must get exit 0, never a kill by the
//! signal's default action.

mod support;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use support::{serve_command, temp_dir, wait_bounded};

/// Starts the relay `tries` times, sends `signal` the instant the ready
/// line is read (no parsing, no other work in between) and requires a
/// graceful exit 0 every time.
fn stops_gracefully_on_the_ready_line(signal: Signal, tries: usize) {
    let dir = temp_dir();
    for attempt in 0..tries {
        let mut child = serve_command(dir.path(), &[], &[])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        kill(Pid::from_raw(i32::try_from(child.id()).unwrap()), signal).unwrap();
        assert!(line.starts_with('{'), "attempt {attempt}: no ready line: {line:?}");
        let status = wait_bounded(&mut child);
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "attempt {attempt}: {signal} right after the ready line gave {status}; stderr:\n{stderr}"
        );
        assert!(stderr.contains("stopped"), "attempt {attempt}: no graceful stop logged:\n{stderr}");
    }
}

#[test]
fn sigterm_the_moment_the_ready_line_appears_is_a_graceful_exit_0() {
    stops_gracefully_on_the_ready_line(Signal::SIGTERM, 40);
}

#[test]
fn sigint_the_moment_the_ready_line_appears_is_a_graceful_exit_0() {
    stops_gracefully_on_the_ready_line(Signal::SIGINT, 10);
}
