//! The wire trace of fixed seeds in each simulator mode, pinned: every
//! datagram's time, socket, source, destination and bytes, and every figure
//! of the report. A change that keeps the relay's behaviour (a refactor)
//! keeps these files byte for byte; a change of behaviour shows up here as
//! a diff of the report, and is pinned anew on purpose with
//! `RTPRELAY_BLESS=1 cargo test -p rtprelay-sim --test wire_trace`.
//!
//! The step trace (`trace …` in the report's run line) is masked: it also
//! hashes the relay's events as their `Debug` text, which a renamed type
//! changes without changing anything on the wire.

use rtprelay_sim::{Options, run};
use std::path::PathBuf;
use std::time::Duration;

/// The cases: (file name, options).
fn cases() -> Vec<(String, Options)> {
    let lossy = |seed| Options {
        seed,
        loss: 0.05,
        duplicate: 0.02,
        reorder: 0.05,
        duration: Duration::from_secs(20),
        ..Options::default()
    };
    let mut cases = Vec::new();
    for seed in [1, 2] {
        cases.push((format!("legacy-{seed}"), lossy(seed)));
        cases.push((format!("clients-{seed}"), Options { clients: true, ..lossy(seed) }));
        cases.push((
            format!("restart-{seed}"),
            Options { clients: true, restart_at: Some(Duration::from_secs(8)), ..lossy(seed) },
        ));
        cases.push((
            format!("legacy-restart-{seed}"),
            Options { restart_at: Some(Duration::from_secs(8)), ..lossy(seed) },
        ));
    }
    cases
}

/// The report with the step-trace hash masked.
fn pinned_text(options: &Options) -> String {
    let report = match run(options) {
        Ok(report) => report,
        Err(violation) => panic!("{violation}"),
    };
    report.to_string().replace(&format!("trace {},", report.trace_hash), "trace (masked),")
}

#[test]
fn each_mode_keeps_its_wire_trace_and_report() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("RTPRELAY_BLESS").is_some();
    let mut changed = Vec::new();
    for (name, options) in cases() {
        let text = pinned_text(&options);
        let path = dir.join(format!("{name}.txt"));
        if bless {
            std::fs::write(&path, &text).expect("write golden file");
            continue;
        }
        let pinned = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if pinned != text {
            changed.push(format!("{name}:\n--- pinned\n{pinned}--- now\n{text}"));
        }
    }
    assert!(changed.is_empty(), "the wire or the report changed:\n{}", changed.join("\n"));
}

/// The pin can fail: another seed gives another wire trace.
#[test]
fn the_wire_trace_depends_on_what_is_sent() {
    let (_, options) = cases().remove(0);
    let a = run(&options).expect("clean run");
    let b = run(&Options { seed: options.seed + 100, ..options }).expect("clean run");
    assert_ne!(a.wire_hash, b.wire_hash);
    assert_eq!(a.wire_hash, run(&options).expect("clean run").wire_hash, "one seed, one wire trace");
}
