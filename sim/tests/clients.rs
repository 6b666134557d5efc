//! The real push and pull clients against the relay core in the
//! simulator: complete delivery on a lossless network, recovery from a
//! relay restart, loss recovery by NACK, determinism, and a planted bug
//! the client invariants must catch.

use bytes::Bytes;
use rtprelay_core::packet::is_rtcp;
use rtprelay_core::packet::pt;
use rtprelay_core::{Instant, PullEvent};
use rtprelay_sim::check::RESTART_RECOVERY;
use rtprelay_sim::peer::{Action, Peer};
use rtprelay_sim::scenario::PeerSpec;
use rtprelay_sim::sim::build_relay;
use rtprelay_sim::{Invariant, Options, Scenario, Sim, run};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

mod support;
use support::{Canary, expect_ok, expect_violation};

fn clients(seed: u64, secs: u64) -> Options {
    Options { seed, duration: Duration::from_secs(secs), clients: true, ..Options::default() }
}

#[test]
fn client_scenarios_use_client_peers_and_legacy_ones_stay_legacy() {
    let s = Scenario::generate(&clients(3, 10));
    assert!(matches!(s.peers[0], PeerSpec::ClientPublisher(_)));
    assert!(s.peers.iter().filter(|p| matches!(p, PeerSpec::ClientSubscriber(_))).count() == 2);
    let legacy = Scenario::generate(&Options { clients: false, ..clients(3, 10) });
    assert!(legacy.peers.iter().all(|p| !matches!(p, PeerSpec::ClientPublisher(_) | PeerSpec::ClientSubscriber(_))));
    assert_eq!(legacy.ops, s.ops, "same workload, same addresses");
    assert_eq!(
        legacy.peers.iter().map(PeerSpec::addr).collect::<Vec<_>>(),
        s.peers.iter().map(PeerSpec::addr).collect::<Vec<_>>()
    );
}

#[test]
fn lossless_client_runs_deliver_everything() {
    for seed in 0..4 {
        let report = expect_ok(run(&clients(seed, 10)));
        assert!(report.sent > 400, "seed {seed}: {report}");
        assert_eq!(report.clients.len(), 2);
        for c in &report.clients {
            assert!(c.delivered > 300, "seed {seed}: {report}");
            assert_eq!(c.missing, 0, "seed {seed}: {report}");
            assert_eq!((c.stats.lost, c.stats.late, c.stats.duplicate), (0, 0, 0), "seed {seed}: {report}");
            assert_eq!(c.stream_stops, 1, "seed {seed}: the stop reached the client: {report}");
        }
        assert!(report.counters.ts_data_wrong_source > 0, "seed {seed}: the intruder was refused");
    }
}

#[test]
fn clients_recover_from_a_relay_restart_mid_stream() {
    for seed in [3, 11] {
        let opts = Options { restart_at: Some(Duration::from_secs(6)), ..clients(seed, 14) };
        let report = expect_ok(run(&opts));
        assert_eq!(report.restarts, 1);
        for c in &report.clients {
            assert_eq!(c.recovery.len(), 1, "seed {seed}: data again after the restart: {report}");
            assert!(c.recovery[0] <= RESTART_RECOVERY, "seed {seed}: {report}");
            assert_eq!(c.missing, 0, "seed {seed}: everything after recovery arrived: {report}");
        }
        // The relay after the restart granted a new SSRC and forwarded data.
        assert!(report.counters.ts_data_forwarded > 300, "seed {seed}: {report}");
        assert!(report.counters.ts_data_unknown_ssrc > 0, "seed {seed}: old-SSRC data was refused: {report}");
    }
}

#[test]
fn a_lossy_client_run_recovers_packets_by_nack() {
    let lossy = |clients| Options { loss: 0.05, clients, ..self::clients(2, 15) };
    let report = expect_ok(run(&lossy(true)));
    assert!(report.network.lost > 100, "{report}");
    let legacy = expect_ok(run(&lossy(false)));
    let legacy_share = |d: &rtprelay_sim::report::Delivery| d.delivered_expected as f64 / d.expected as f64;
    for (c, l) in report.clients.iter().zip(&legacy.deliveries) {
        assert!(c.stats.recovered > 20, "{report}");
        let expected = c.delivered + c.missing;
        let share = c.delivered as f64 / expected as f64;
        assert!(share >= 0.99, "{share}: {report}");
        assert!(share > legacy_share(l), "NACKs beat no NACKs: {share} vs {}:\n{report}\n{legacy}", legacy_share(l));
    }
}

/// As in `sim.rs`: each run first holds every invariant, then two
/// universes built apart from one seed agree on report and trace, and the
/// next seed gives another trace.
#[test]
fn a_client_run_replays_the_same_trace() {
    for opts in [
        Options { loss: 0.05, duplicate: 0.01, reorder: 0.02, ..clients(42, 8) },
        Options { restart_at: Some(Duration::from_secs(4)), loss: 0.02, ..clients(7, 8) },
    ] {
        let first = expect_ok(Sim::new(Scenario::generate(&opts)).run());
        let second = expect_ok(Sim::new(Scenario::generate(&opts)).run());
        assert_eq!(first.trace_hash, second.trace_hash, "seed {}: the trace must replay", opts.seed);
        assert_eq!(first, second, "seed {}: the report must replay", opts.seed);
        let other = expect_ok(run(&Options { seed: opts.seed + 1, ..opts.clone() }));
        assert_ne!(first.trace_hash, other.trace_hash, "seed {}: another seed, another trace", opts.seed);
    }
}

/// Client events with their times, as a peer reports them.
type Events = Vec<(Instant, PullEvent)>;

/// A pull-client subscriber with a planted bug: its events pass through
/// `mangle` before the checker sees them.
struct Mangled {
    inner: Box<dyn Peer>,
    buffer: Events,
    mangle: Box<dyn FnMut(&mut Events)>,
}

impl Peer for Mangled {
    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.inner.start(now, out);
    }
    fn stop(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.inner.stop(now, out);
    }
    fn on_datagram(&mut self, now: Instant, data: &[u8], out: &mut Vec<Action>) {
        self.inner.on_datagram(now, data, out);
    }
    fn on_wake(&mut self, now: Instant, token: u32, out: &mut Vec<Action>) {
        self.inner.on_wake(now, token, out);
    }
    fn new_events(&mut self) -> &[(Instant, PullEvent)] {
        self.buffer = self.inner.new_events().to_vec();
        (self.mangle)(&mut self.buffer);
        &self.buffer
    }
}

fn mangled(
    mangle: impl FnMut(&mut Vec<(Instant, PullEvent)>) + 'static,
) -> impl FnOnce(Box<dyn Peer>) -> Box<dyn Peer> {
    move |inner| Box::new(Mangled { inner, buffer: Vec::new(), mangle: Box::new(mangle) })
}

fn is_data(e: &(Instant, PullEvent)) -> bool {
    matches!(e.1, PullEvent::PullStreamData { .. })
}

#[test]
fn canary_client_data_out_of_order_is_caught() {
    // The 50th data event is held back and emitted after the 51st (on a
    // lossy network, so the gap it leaves is no breach by itself).
    let (mut seen, mut held) = (0, None);
    let sim = Sim::new(Scenario::generate(&Options { loss: 0.01, ..clients(5, 5) })).with_peer(
        1,
        mangled(move |events: &mut Events| {
            let mut out = Vec::new();
            for e in events.drain(..) {
                if is_data(&e) {
                    seen += 1;
                    if seen == 50 {
                        held = Some(e);
                        continue;
                    }
                }
                out.push(e);
                if seen == 51 {
                    out.extend(held.take());
                }
            }
            *events = out;
        }),
    );
    expect_violation(sim.run(), Invariant::ClientOrder);
}

#[test]
fn canary_client_data_emitted_twice_is_caught() {
    let mut seen = 0;
    let sim = Sim::new(Scenario::generate(&clients(6, 5))).with_peer(
        2,
        mangled(move |events| {
            if let Some(e) = events.iter().find(|e| is_data(e)).cloned() {
                seen += 1;
                if seen == 30 {
                    events.push(e);
                }
            }
        }),
    );
    expect_violation(sim.run(), Invariant::ClientOrder);
}

#[test]
fn canary_corrupted_client_data_is_caught() {
    let mut seen = 0;
    let sim = Sim::new(Scenario::generate(&clients(7, 5))).with_peer(
        1,
        mangled(move |events| {
            for e in events.iter_mut() {
                if let PullEvent::PullStreamData { data, .. } = &mut e.1 {
                    seen += 1;
                    if seen == 40 {
                        let mut bytes = data.to_vec();
                        bytes[100] ^= 0x40;
                        *data = Bytes::from(bytes);
                    }
                }
            }
        }),
    );
    expect_violation(sim.run(), Invariant::ClientAltered);
}

#[test]
fn canary_a_dropped_client_packet_is_caught_on_a_lossless_network() {
    let mut seen = 0;
    let sim = Sim::new(Scenario::generate(&clients(8, 5))).with_peer(
        2,
        mangled(move |events| {
            events.retain(|e| {
                seen += u32::from(is_data(e));
                !(is_data(e) && seen == 60)
            })
        }),
    );
    expect_violation(sim.run(), Invariant::Incomplete);
}

/// A relay that sends one `TS_DATA` to a pull client twice, after the
/// client's first NACK, with a sequence number it did not ask for: the
/// NACK allowance must not cover it.
#[test]
fn canary_an_unrequested_second_copy_to_a_nacking_client_is_caught() {
    let scenario = Scenario::generate(&Options { loss: 0.05, ..clients(2, 10) });
    let victim = scenario.peers[1].addr();
    let nacked = Rc::new(Cell::new(false));
    let done = Cell::new(false);
    let saw_nack = Rc::clone(&nacked);
    let sim = Sim::with_relay(scenario, move |relay| {
        Canary::new(
            relay,
            move |_, from, data, _| saw_nack.set(saw_nack.get() || (from == victim && is_rtcp(data))),
            move |t, extra| {
                let data = t.destination == victim && t.segments.iter().any(|s| s.get(1) == Some(&pt::TS_DATA));
                if nacked.get() && !done.get() && data {
                    done.set(true);
                    extra.push_back(t.clone());
                }
            },
        )
    });
    expect_violation(sim.run(), Invariant::DuplicateForward);
}

/// A NAT rebinds a pull client mid-stream: its heartbeats come from a new
/// address, the relay challenges it there, the client echoes, and data
/// follows it (docs/protocol.md §2.3) while every invariant holds, amplification
/// and address moves included.
#[test]
fn a_pull_client_follows_a_nat_rebinding() {
    for seed in [3, 9] {
        let scenario = Scenario::generate(&clients(seed, 14)).with_rebinding(1, Duration::from_secs(6));
        let new_addr = scenario.addrs_of(1)[1];
        let report = expect_ok(Sim::new(scenario).run());
        assert_eq!(report.counters.address_change_completed, 1, "seed {seed}: {report}");
        assert!(report.counters.amplification_limited > 0, "seed {seed}: the PULL_RSP waited for credit: {report}");
        let moved = &report.clients[0];
        assert_eq!(moved.peer, 1);
        assert_eq!(moved.missing, 0, "seed {seed}: all but the move's gap arrived: {report}");
        assert!(moved.delivered > 400, "seed {seed}: data went on at {new_addr}: {report}");
        assert_eq!(moved.stream_stops, 1, "seed {seed}: the stop reached the new address: {report}");
    }
}

/// Forged NACKs for a pull client, from another address, on a lossy
/// network where the client's own NACKs are answered.
#[test]
fn forged_nacks_for_a_pull_client_cause_no_retransmission() {
    let scenario = Scenario::generate(&Options { loss: 0.05, ..clients(2, 10) }).with_nack_intruder(1);
    let report = expect_ok(Sim::new(scenario).run());
    assert!(report.counters.retransmitted > 20, "the client's own NACKs are answered: {report}");
    assert!(report.counters.rtcp_ignored > 20, "the intruder's are not: {report}");
}

/// The legacy relay's trust (`legacy_trust`: a heartbeat from a new
/// address moves the client at once, §1.4.10) as the planted bug:
/// data goes to an address that never echoed a challenge.
#[test]
fn canary_data_moved_to_an_address_without_an_echoed_challenge_is_caught() {
    let mut scenario = Scenario::generate(&clients(3, 10)).with_rebinding(1, Duration::from_secs(5));
    scenario.relay.legacy_trust = true;
    let new_addr = scenario.addrs_of(1)[1];
    let v = expect_violation(Sim::new(scenario).run(), Invariant::AddressMove);
    assert!(v.breach.detail.contains(&new_addr.to_string()) && v.at >= Duration::from_secs(5), "{v}");
}

/// A relay that moves a client as soon as its challenge is echoed
/// (`move_quiet_ms` = 0, the behaviour before §2.3 asked for a quiet old
/// address) as the planted bug, against a checker expecting 8 s (longer
/// than the rebinding client takes to earn and echo a challenge, a few
/// heartbeats): the echo moves it while its old address's last heartbeat
/// is more recent than that.
#[test]
fn canary_a_move_while_the_old_address_was_heard_within_move_quiet_ms_is_caught() {
    let mut scenario = Scenario::generate(&clients(3, 10)).with_rebinding(1, Duration::from_secs(5));
    scenario.relay.move_quiet_ms = 8_000;
    let mut buggy = scenario.clone();
    buggy.relay.move_quiet_ms = 0;
    let v = expect_violation(Sim::with_relay(scenario, |_| build_relay(&buggy)).run(), Invariant::QuietMove);
    assert!(v.at >= Duration::from_secs(5), "{v}");
}

/// A pull-client subscriber that never hears `CLIENT_UNKNOWN`, so it
/// never registers again after a relay restart (a planted client bug).
struct Deaf {
    inner: Box<dyn Peer>,
}

impl Peer for Deaf {
    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.inner.start(now, out);
    }
    fn stop(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.inner.stop(now, out);
    }
    fn on_datagram(&mut self, now: Instant, data: &[u8], out: &mut Vec<Action>) {
        if data.get(1) != Some(&pt::CLIENT_UNKNOWN) {
            self.inner.on_datagram(now, data, out);
        }
    }
    fn on_wake(&mut self, now: Instant, token: u32, out: &mut Vec<Action>) {
        self.inner.on_wake(now, token, out);
    }
    fn new_events(&mut self) -> &[(Instant, PullEvent)] {
        self.inner.new_events()
    }
}

#[test]
fn canary_a_client_that_never_recovers_from_a_restart_is_caught() {
    let opts = Options { restart_at: Some(Duration::from_secs(6)), ..clients(3, 14) };
    let sim = Sim::new(Scenario::generate(&opts)).with_peer(2, |inner| Box::new(Deaf { inner }));
    let v = expect_violation(sim.run(), Invariant::NotRecovered);
    assert!(v.breach.detail.starts_with("subscriber 2"), "{v}");
    assert!(v.at > Duration::from_secs(6) + RESTART_RECOVERY, "{v}");
}
