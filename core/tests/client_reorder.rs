//! The pull client's reorder buffer (docs/protocol.md §2.4): order, wraparound,
//! the window's edge, late/lost/duplicate/recovered counters, NACK
//! schedule, restarts, and properties over random arrivals.

use bytes::Bytes;
use proptest::prelude::*;
use rtprelay_core::{Arrival, ReorderBuffer, ReorderConfig};
use rtprelay_core::{Instant, Seq};
use std::time::Duration;

const WINDOW: u64 = 200;

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn data(seq: u16) -> Bytes {
    Bytes::from(seq.to_be_bytes().to_vec())
}

/// The default buffer without NACKs below its first packet (tested in
/// the buffer's own unit tests), so each NACK here is a gap's.
fn buffer() -> ReorderBuffer {
    ReorderBuffer::new(&ReorderConfig { head_nacks: 0, ..ReorderConfig::default() })
}

/// Drains the buffer, checking each payload belongs to its number.
fn drain(b: &mut ReorderBuffer) -> Vec<u16> {
    std::iter::from_fn(|| b.pop())
        .map(|(seq, payload)| {
            assert_eq!(payload, data(seq.get()), "payload of {seq}");
            seq.get()
        })
        .collect()
}

/// NACKed numbers as their wire values.
fn nacks(seqs: Vec<Seq>) -> Vec<u16> {
    seqs.into_iter().map(Seq::get).collect()
}

/// A buffer whose head is settled at `first` (its first window passed).
fn started_at(first: u16) -> (ReorderBuffer, Instant) {
    let mut b = buffer();
    b.insert(ms(0), Seq::new(first), data(first));
    b.handle_timeout(ms(WINDOW));
    assert_eq!(drain(&mut b), [first]);
    (b, ms(WINDOW))
}

#[test]
fn in_order_packets_come_out_at_once_after_the_start() {
    let (mut b, t) = started_at(100);
    for (i, seq) in (101..110).enumerate() {
        assert_eq!(b.insert(t + Duration::from_millis(i as u64), Seq::new(seq), data(seq)), Arrival::Accepted);
        assert_eq!(drain(&mut b), [seq]);
    }
    assert_eq!(b.poll_timeout(), None, "nothing held, nothing missing");
    let s = b.stats();
    assert_eq!((s.received, s.emitted, s.lost, s.late, s.duplicate), (10, 10, 0, 0, 0));
}

#[test]
fn packets_that_overtake_the_first_one_are_not_late() {
    let mut b = buffer();
    for (t, seq) in [(0, 12), (3, 10), (5, 13), (9, 11)] {
        assert_eq!(b.insert(ms(t), Seq::new(seq), data(seq)), Arrival::Accepted);
    }
    assert!(drain(&mut b).is_empty(), "held until the first window passed");
    assert_eq!(b.poll_timeout(), Some(ms(WINDOW)));
    b.handle_timeout(ms(WINDOW - 1));
    assert!(drain(&mut b).is_empty());
    b.handle_timeout(ms(WINDOW));
    assert_eq!(drain(&mut b), [10, 11, 12, 13]);
    assert_eq!(b.stats().lost, 0);
}

#[test]
fn order_holds_across_the_wraparound() {
    let (mut b, t) = started_at(65533);
    for seq in [65535, 1, 0, 65534, 2] {
        b.insert(t, Seq::new(seq), data(seq));
    }
    assert_eq!(drain(&mut b), [65534, 65535, 0, 1, 2]);
}

/// Head 10 emitted at `t`; 11 missing; 12 arrived at `t + 10 ms`.
fn gap_at_11() -> (ReorderBuffer, Instant) {
    let (mut b, t) = started_at(10);
    let arrived = t + Duration::from_millis(10);
    b.insert(arrived, Seq::new(12), data(12));
    assert!(drain(&mut b).is_empty());
    (b, arrived)
}

#[test]
fn window_edge_a_gap_is_lost_exactly_window_after_the_packet_behind_it() {
    let edge = gap_at_11().1 + Duration::from_millis(WINDOW);
    // One microsecond before the edge, 11 still fills the gap.
    let (mut b, _) = gap_at_11();
    assert_eq!(nacks(b.poll_nacks(edge - Duration::from_micros(1))), [11]);
    assert_eq!(b.insert(edge - Duration::from_micros(1), Seq::new(11), data(11)), Arrival::Recovered, "it was NACKed");
    assert_eq!(drain(&mut b), [11, 12]);
    assert_eq!((b.stats().lost, b.stats().late), (0, 0));
    // At the edge the slot has passed: 12 goes out, 11 is lost, then late.
    let (mut b, _) = gap_at_11();
    b.poll_nacks(edge - Duration::from_micros(1));
    assert_eq!(b.poll_timeout(), Some(edge), "the release is the next deadline");
    assert_eq!(b.insert(edge, Seq::new(11), data(11)), Arrival::Late);
    assert_eq!(drain(&mut b), [12]);
    let s = b.stats();
    assert_eq!((s.lost, s.late, s.emitted), (1, 1, 2));
}

#[test]
fn timeouts_release_what_is_due_and_declare_the_gaps_lost() {
    let (mut b, t) = started_at(0);
    b.insert(t, Seq::new(3), data(3));
    b.insert(t + Duration::from_millis(50), Seq::new(6), data(6));
    b.insert(t + Duration::from_millis(60), Seq::new(4), data(4));
    b.handle_timeout(t + Duration::from_millis(WINDOW));
    assert_eq!(drain(&mut b), [3, 4], "3's window passed: 1 and 2 lost, 4 follows without a gap");
    assert_eq!(b.stats().lost, 2);
    b.handle_timeout(t + Duration::from_millis(WINDOW + 50));
    assert_eq!(drain(&mut b), [6]);
    assert_eq!(b.stats().lost, 3);
}

#[test]
fn duplicates_and_late_packets_are_dropped_and_counted() {
    let (mut b, t) = started_at(0);
    assert_eq!(b.insert(t, Seq::new(0), data(0)), Arrival::Duplicate, "already emitted");
    b.insert(t, Seq::new(2), data(2));
    assert_eq!(b.insert(t, Seq::new(2), data(2)), Arrival::Duplicate, "already held");
    b.handle_timeout(t + Duration::from_millis(WINDOW));
    assert_eq!(drain(&mut b), [2]);
    assert_eq!(
        b.insert(t + Duration::from_millis(WINDOW), Seq::new(1), data(1)),
        Arrival::Late,
        "its slot was declared lost"
    );
    let s = b.stats();
    assert_eq!((s.duplicate, s.late, s.lost, s.emitted), (2, 1, 1, 2));
}

#[test]
fn nacks_follow_delay_interval_and_limit_and_count_recovered() {
    let config = ReorderConfig {
        window_ms: 500,
        nack_delay_ms: 10,
        nack_interval_ms: 50,
        nack_copies: 1,
        head_nacks: 0,
        max_nacks: 3,
    };
    let mut b = ReorderBuffer::new(&config);
    b.insert(ms(0), Seq::new(0), data(0));
    b.handle_timeout(ms(500));
    drain(&mut b);
    let t = ms(500);
    b.insert(t, Seq::new(4), data(4));
    assert!(b.poll_nacks(t).is_empty(), "not before the NACK delay");
    let at = |d: u64| t + Duration::from_millis(d);
    assert_eq!(b.poll_timeout(), Some(at(10)));
    assert_eq!(nacks(b.poll_nacks(at(10))), [1, 2, 3]);
    b.insert(at(20), Seq::new(2), data(2));
    assert_eq!(b.poll_timeout(), Some(at(60)));
    assert_eq!(nacks(b.poll_nacks(at(60))), [1, 3]);
    assert_eq!(nacks(b.poll_nacks(at(110))), [1, 3]);
    assert!(b.poll_nacks(at(160)).is_empty(), "three tries at most");
    assert_eq!(b.insert(at(170), Seq::new(1), data(1)), Arrival::Recovered);
    assert_eq!(drain(&mut b), [1, 2]);
    let s = b.stats();
    assert_eq!((s.recovered, s.nacked), (2, 7));
}

#[test]
fn no_nacks_when_turned_off() {
    let mut b = ReorderBuffer::new(&ReorderConfig { max_nacks: 0, ..ReorderConfig::default() });
    b.insert(ms(0), Seq::new(0), data(0));
    b.insert(ms(1), Seq::new(5), data(5));
    assert!(b.poll_nacks(ms(199)).is_empty());
    assert_eq!(b.poll_timeout(), Some(ms(WINDOW)));
}

#[test]
fn a_confirmed_jump_is_a_restart_an_unconfirmed_one_is_late() {
    let (mut b, t) = started_at(100);
    assert_eq!(b.insert(t, Seq::new(9000), data(9000)), Arrival::Probation);
    assert_eq!(b.insert(t, Seq::new(101), data(101)), Arrival::Accepted, "back in range: the jump was a stray");
    assert_eq!(drain(&mut b), [101]);
    assert_eq!(b.stats().late, 1);
    b.insert(t, Seq::new(103), data(103));
    assert_eq!(b.insert(t, Seq::new(40000), data(40000)), Arrival::Probation);
    assert_eq!(b.insert(t, Seq::new(40001), data(40001)), Arrival::Accepted);
    assert_eq!(drain(&mut b), [103], "the old stream is flushed first (102 lost)");
    assert_eq!((b.stats().restarts, b.stats().lost), (1, 1));
    b.handle_timeout(t + Duration::from_millis(WINDOW));
    assert_eq!(drain(&mut b), [40000, 40001]);
}

#[test]
fn the_tail_is_expected_through_the_stop_sequence_number() {
    let (mut b, t) = started_at(10);
    assert!(b.passed(Seq::new(10)));
    assert!(!b.passed(Seq::new(12)));
    assert!(b.expect_through(t, Seq::new(12)), "11 and 12 are outstanding");
    assert_eq!(nacks(b.poll_nacks(t + Duration::from_millis(10))), [11, 12]);
    b.insert(t, Seq::new(11), data(11));
    b.insert(t, Seq::new(12), data(12));
    assert_eq!(drain(&mut b), [11, 12]);
    assert!(b.passed(Seq::new(12)));
    assert!(!b.expect_through(t, Seq::new(12)));
    assert!(b.expect_through(t, Seq::new(14)));
    b.flush();
    assert_eq!(b.stats().lost, 2, "13 and 14 never came");
    assert!(b.passed(Seq::new(14)));
}

#[test]
fn flush_hands_over_everything_in_order() {
    let mut b = buffer();
    for seq in [7, 5, 9] {
        b.insert(ms(0), Seq::new(seq), data(seq));
    }
    b.flush();
    assert_eq!(drain(&mut b), [5, 7, 9]);
    assert_eq!(b.stats().lost, 2);
    assert_eq!(b.poll_timeout(), None);
}

/// A packet's fate in the random schedules below.
#[derive(Clone, Debug)]
struct Send {
    copies: usize,
    delay_ms: u64,
}

fn arb_sends(max_delay: u64) -> impl Strategy<Value = Vec<Send>> {
    proptest::collection::vec(
        (0usize..3, 0..max_delay).prop_map(|(copies, delay_ms)| Send { copies, delay_ms }),
        1..300,
    )
}

/// Feeds `sends` (packet i sent at i × 2 ms from `first`) in arrival order;
/// returns the emitted sequence numbers and the number of arrivals.
fn run(b: &mut ReorderBuffer, first: u16, sends: &[Send]) -> (Vec<u16>, u64) {
    let mut arrivals: Vec<(u64, u16)> = Vec::new();
    for (i, s) in sends.iter().enumerate() {
        for copy in 0..s.copies {
            arrivals.push((i as u64 * 2 + s.delay_ms + copy as u64, first.wrapping_add(i as u16)));
        }
    }
    arrivals.sort_by_key(|a| a.0);
    let mut out = Vec::new();
    for &(t, seq) in &arrivals {
        b.insert(ms(t), Seq::new(seq), data(seq));
        out.extend(drain(b));
    }
    b.flush();
    out.extend(drain(b));
    (out, arrivals.len() as u64)
}

proptest! {
    /// Any permutation with duplicates of a contiguous run, all arriving
    /// within one window, comes out complete, in order, once.
    #[test]
    fn permutations_within_the_window_come_out_in_order(
        first in prop_oneof![Just(65_500u16), any::<u16>()],
        n in 1u16..200,
        order in proptest::collection::vec(any::<u32>(), 200),
        dups in proptest::collection::vec(0u16..200, 0..40),
    ) {
        let mut seqs: Vec<u16> = (0..n).collect();
        seqs.sort_by_key(|&i| order[usize::from(i)]);
        seqs.extend(dups.iter().filter(|&&d| d < n));
        let mut b = buffer();
        let mut out = Vec::new();
        for (k, &i) in seqs.iter().enumerate() {
            let t = Instant::from_micros(k as u64 * (WINDOW * 1000 - 1) / seqs.len() as u64);
            let seq = first.wrapping_add(i);
            b.insert(t, Seq::new(seq), data(seq));
            out.extend(drain(&mut b));
        }
        b.handle_timeout(ms(WINDOW * 2));
        out.extend(drain(&mut b));
        let expected: Vec<u16> = (0..n).map(|i| first.wrapping_add(i)).collect();
        prop_assert_eq!(out, expected);
        let s = b.stats();
        prop_assert_eq!((s.lost, s.late, s.duplicate), (0, 0, (seqs.len() - usize::from(n)) as u64));
    }

    /// Random loss, duplication and delay up to twice the window: output is
    /// strictly increasing (across wraparound), never repeats, only holds
    /// numbers that were sent, and the counters add up.
    #[test]
    fn random_arrivals_keep_the_invariants(first in any::<u16>(), sends in arb_sends(2 * WINDOW)) {
        let mut b = buffer();
        let (out, arrivals) = run(&mut b, first, &sends);
        let index: Vec<u64> = out.iter().map(|&s| u64::from(s.wrapping_sub(first))).collect();
        prop_assert!(index.windows(2).all(|w| w[0] < w[1]), "not strictly increasing: {:?}", index);
        prop_assert!(index.iter().all(|&i| sends[i as usize].copies > 0), "emitted a packet never sent");
        let s = b.stats();
        prop_assert_eq!(s.emitted, out.len() as u64);
        prop_assert_eq!(s.received, s.emitted, "after a flush everything received was emitted");
        prop_assert_eq!(s.received + s.late + s.duplicate, arrivals);
        if let (Some(lo), Some(hi)) = (index.first(), index.last()) {
            prop_assert_eq!(s.emitted + s.lost, hi - lo + 1, "every number in the span is emitted or lost");
        }
    }

    /// Without reordering beyond the window nothing is lost or late: a
    /// delay below the window never costs a packet that was sent.
    #[test]
    fn delays_below_the_window_lose_nothing(first in any::<u16>(), sends in arb_sends(WINDOW / 2)) {
        let sends: Vec<Send> = sends.into_iter().map(|s| Send { copies: s.copies.max(1), ..s }).collect();
        let mut b = buffer();
        let (out, _) = run(&mut b, first, &sends);
        let expected: Vec<u16> = (0..sends.len()).map(|i| first.wrapping_add(i as u16)).collect();
        prop_assert_eq!(out, expected);
        prop_assert_eq!((b.stats().lost, b.stats().late), (0, 0));
    }
}

/// The verdicts on packets arriving again after their slot passed.
fn verdicts(b: &mut ReorderBuffer, now: Instant, seqs: impl IntoIterator<Item = u16>) -> Vec<(u16, Arrival)> {
    seqs.into_iter().map(|seq| (seq, b.insert(now, Seq::new(seq), data(seq)))).collect()
}

#[test]
fn a_number_already_emitted_is_a_duplicate_and_one_declared_lost_is_late() {
    // Head 0; 1..=300 arrive except the numbers ending in 2, 3 or 7 (so
    // lost numbers sit next to each other and next to emitted ones, in
    // every word of the bit set the buffer keeps).
    let lost = |n: u16| matches!(n % 10, 2 | 3 | 7);
    let (mut b, t) = started_at(0);
    for seq in (1..=300).filter(|&n| !lost(n)) {
        b.insert(t, Seq::new(seq), data(seq));
    }
    b.handle_timeout(t + Duration::from_millis(WINDOW));
    let out = drain(&mut b);
    assert_eq!(out, (1..=300).filter(|&n| !lost(n)).collect::<Vec<_>>());
    let again = t + Duration::from_millis(WINDOW + 1);
    let got = verdicts(&mut b, again, 0..=300);
    let expected: Vec<(u16, Arrival)> =
        (0..=300).map(|n| (n, if lost(n) { Arrival::Late } else { Arrival::Duplicate })).collect();
    assert_eq!(got, expected);
    let s = b.stats();
    assert_eq!((s.emitted, s.lost, s.duplicate, s.late), (211, 90, 211, 90));
    assert_eq!(
        verdicts(&mut b, again, [65535, 65000]),
        [(65535, Arrival::Late), (65000, Arrival::Late)],
        "numbers before the first one (across the wrap) were never emitted"
    );
}

#[test]
fn a_packet_more_than_1024_numbers_behind_the_head_is_late_even_if_emitted() {
    let (mut b, t) = started_at(0);
    for seq in 1..=1100 {
        b.insert(t, Seq::new(seq), data(seq));
    }
    assert_eq!(drain(&mut b).len(), 1100);
    // The head is 1101: 77 is 1024 behind it, 76 is 1025 behind.
    assert_eq!(verdicts(&mut b, t, [77, 76, 50]), [(77, Arrival::Duplicate), (76, Arrival::Late), (50, Arrival::Late)]);
    assert_eq!((b.stats().duplicate, b.stats().late), (1, 2));
}

#[test]
fn a_jump_of_3000_is_a_gap_and_one_of_3001_needs_confirmation() {
    // After the start at 100 the head is 101.
    let (mut b, t) = started_at(100);
    assert_eq!(b.insert(t, Seq::new(3101), data(3101)), Arrival::Accepted, "3000 ahead: a gap");
    assert_eq!(b.stats().restarts, 0);
    let (mut b, t) = started_at(100);
    assert_eq!(b.insert(t, Seq::new(3102), data(3102)), Arrival::Probation, "3001 ahead: a restart if confirmed");
    // Behind: 3000 back is an old packet (late), 3001 back a jump.
    let (mut b, t) = started_at(5000);
    assert_eq!(b.insert(t, Seq::new(2001), data(2001)), Arrival::Late);
    assert_eq!(b.insert(t, Seq::new(2000), data(2000)), Arrival::Probation);
}

#[test]
fn a_second_jump_that_does_not_follow_the_first_replaces_it() {
    let (mut b, t) = started_at(100);
    assert_eq!(b.insert(t, Seq::new(9000), data(9000)), Arrival::Probation);
    assert_eq!(b.insert(t, Seq::new(20000), data(20000)), Arrival::Probation, "not 9001: no restart");
    assert_eq!((b.stats().late, b.stats().restarts), (1, 0), "the first jump is dropped");
    assert_eq!(b.insert(t, Seq::new(20001), data(20001)), Arrival::Accepted, "20001 confirms 20000");
    assert_eq!((b.stats().late, b.stats().restarts), (1, 1));
    b.handle_timeout(t + Duration::from_millis(WINDOW));
    assert_eq!(drain(&mut b), [20000, 20001]);
}

#[test]
fn a_jump_awaiting_confirmation_is_late_when_the_buffer_is_flushed() {
    let (mut b, t) = started_at(100);
    assert_eq!(b.insert(t, Seq::new(9000), data(9000)), Arrival::Probation);
    b.flush();
    assert!(drain(&mut b).is_empty());
    let s = b.stats();
    assert_eq!((s.late, s.received, s.restarts), (1, 1, 0));
}

#[test]
fn before_the_start_a_lower_number_becomes_the_head_unless_the_span_exceeds_3000() {
    let mut b = buffer();
    assert_eq!(b.insert(ms(0), Seq::new(1000), data(1000)), Arrival::Accepted);
    assert_eq!(b.insert(ms(1), Seq::new(3500), data(3500)), Arrival::Accepted);
    assert_eq!(b.insert(ms(2), Seq::new(500), data(500)), Arrival::Accepted, "3500 - 500 = 3000: still one stream");
    assert_eq!(b.insert(ms(3), Seq::new(499), data(499)), Arrival::Late, "3500 - 499 = 3001");
    assert_eq!((b.stats().late, b.stats().received), (1, 3));
    b.handle_timeout(ms(WINDOW));
    assert_eq!(drain(&mut b), [500, 1000], "1000's window passed: 501..=999 are lost");
    assert_eq!(b.stats().lost, 499);
    b.handle_timeout(ms(WINDOW + 1));
    assert_eq!(drain(&mut b), [3500]);
    assert_eq!(b.stats().lost, 499 + 2499);
}

#[test]
fn before_the_start_a_second_copy_of_the_first_packet_is_a_duplicate() {
    let mut b = buffer();
    assert_eq!(b.insert(ms(0), Seq::new(10), data(10)), Arrival::Accepted);
    assert_eq!(b.insert(ms(1), Seq::new(10), data(10)), Arrival::Duplicate);
    assert_eq!((b.stats().received, b.stats().duplicate), (1, 1));
    b.handle_timeout(ms(WINDOW));
    assert_eq!(drain(&mut b), [10]);
}

#[test]
fn before_the_start_only_the_numbers_in_a_gap_are_nacked() {
    // A gap behind the first packet.
    let mut b = buffer();
    b.insert(ms(0), Seq::new(10), data(10));
    b.insert(ms(1), Seq::new(12), data(12));
    assert!(b.poll_nacks(ms(10)).is_empty(), "not before the NACK delay");
    assert_eq!(nacks(b.poll_nacks(ms(11))), [11]);
    // A packet that overtook the first one: the numbers between them.
    let mut b = buffer();
    b.insert(ms(0), Seq::new(12), data(12));
    b.insert(ms(1), Seq::new(10), data(10));
    assert_eq!(nacks(b.poll_nacks(ms(11))), [11]);
    assert_eq!(b.stats().nacked, 1);
}
