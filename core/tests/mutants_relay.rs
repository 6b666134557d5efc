//! Relay behaviour pinned for mutation testing (.ci/mutants-in-diff): each
//! test names one observable rule of the relay's public API.

mod common;

use common::{Harness, addr};
use rtprelay_core::{Command, Port, Reply, StreamInfo};

/// A live stream `cam` published from `addr(5000)`; returns its SSRC.
fn live(h: &mut Harness) -> u32 {
    h.add_credential("cam", "code");
    h.auth(Port::Push, addr(5000), "cam", "code")
}

fn info(h: &mut Harness) -> StreamInfo {
    let Ok(Reply::Stream(info)) = h.command(Command::GetStream { live_id: common::stream_id("cam") }) else {
        panic!("GetStream answers for a live stream")
    };
    info
}

/// `lost` in a stream's figures counts the numbers a publisher skipped
/// and has not filled: a gap raises it, a late packet lowers it.
#[test]
fn a_streams_lost_figure_counts_skipped_numbers_until_they_arrive() {
    let mut h = Harness::new();
    let ssrc = live(&mut h);
    for seq in [1, 2, 6] {
        h.ts_data(addr(5000), ssrc, seq, &[0x47; 188]);
    }
    assert_eq!(info(&mut h).lost, 3, "3, 4 and 5 were skipped");
    h.ts_data(addr(5000), ssrc, 4, &[0x47; 188]);
    assert_eq!(info(&mut h).lost, 2, "4 arrived late");
}
