//! docs/protocol.md §3.2 `packageLoss` and `delay` as commands
//! (`Command::ReportLoss`, `Command::ReportDelay`), and the lifecycle events
//! the driver logs (auth accepted or refused, a source rate-limited).

mod common;

use common::*;
use rtprelay_core::packet::pt;
use rtprelay_core::{ClientId, LiveId, LossReport, StreamInfo, SubscriptionInfo};
use rtprelay_core::{Command, Config, Port, RelayEvent, Reply};
use std::time::Duration;

const PUB: u16 = 5000;
const SUB: u16 = 7000;

fn subscriptions(h: &mut Harness) -> Vec<SubscriptionInfo> {
    let Ok(Reply::Clients(clients)) = h.command(Command::ListClients) else { panic!() };
    clients.into_iter().flat_map(|c| c.subscriptions).collect()
}

fn stream(h: &mut Harness, live_id: &str) -> StreamInfo {
    let Ok(Reply::Stream(info)) = h.command(Command::GetStream { live_id: LiveId::parse(live_id).unwrap() }) else {
        panic!()
    };
    info
}

fn report(loss_10: Option<f64>) -> LossReport {
    LossReport { loss_scale_10: loss_10, loss_total: Some(3.0), ..LossReport::default() }
}

/// A loss report lands on the client's subscription to each stream it
/// names; streams it does not list are ignored; `-1` is unknown.
#[test]
fn reported_loss_is_kept_per_subscription() {
    let mut h = Harness::new();
    h.add_credential("live1", "code");
    h.auth(Port::Push, addr(PUB), "live1", "code");
    let id = h.subscriber(Port::Pull, addr(SUB), &["live1", "later"]);
    let streams = vec![
        ("live1".to_owned(), report(Some(0.25))),
        ("later".to_owned(), LossReport { throw_scale_2: Some(-1.0), ..LossReport::default() }),
        ("unlisted".to_owned(), report(Some(0.5))),
    ];
    assert!(matches!(h.command(Command::ReportLoss { client: ClientId::new(id), streams }), Ok(Reply::Done)));
    let subs = subscriptions(&mut h);
    assert_eq!(subs[0].package_loss, Some(report(Some(0.25))));
    assert_eq!(subs[1].package_loss, None, "nothing known in it");
    assert_eq!(subs.len(), 2, "a report adds no subscription");
    // A later report replaces the figures; a null figure is unknown.
    let streams = vec![("live1".to_owned(), report(None))];
    h.command(Command::ReportLoss { client: ClientId::new(id), streams }).unwrap();
    assert_eq!(subscriptions(&mut h)[0].package_loss, Some(report(None)));
}

/// A client id the relay does not know gets the same answer as a known
/// one, and changes nothing.
#[test]
fn reported_loss_for_an_unknown_client_is_ignored_alike() {
    let mut h = Harness::new();
    let id = h.subscriber(Port::Pull, addr(SUB), &["live1"]);
    let streams = vec![("live1".to_owned(), report(Some(0.1)))];
    let unknown = h.command(Command::ReportLoss { client: ClientId::new(id ^ 1), streams: streams.clone() });
    assert!(matches!(unknown, Ok(Reply::Done)));
    assert_eq!(subscriptions(&mut h)[0].package_loss, None);
    assert!(matches!(h.command(Command::ReportLoss { client: ClientId::new(id), streams }), Ok(Reply::Done)));
    assert!(subscriptions(&mut h)[0].package_loss.is_some());
    assert!(h.events.iter().all(|e| matches!(e, RelayEvent::ClientJoined { .. })), "reports emit nothing");
}

/// A reported delay is kept on a stream that has been live; unknown ids
/// (probes like `liveIdTest-0`) and negative values change nothing.
#[test]
fn reported_delay_is_kept_per_stream() {
    let mut h = Harness::new();
    h.add_credential("live1", "code");
    h.add_credential("never", "code");
    h.auth(Port::Push, addr(PUB), "live1", "code");
    for (live_id, delay_ms) in [("live1", Some(42.5)), ("liveIdTest-0", Some(1.0)), ("never", Some(2.0))] {
        let reply = h.command(Command::ReportDelay { live_id: live_id.into(), delay_ms });
        assert!(matches!(reply, Ok(Reply::Done)), "{live_id}");
    }
    assert_eq!(stream(&mut h, "live1").reported_delay_ms, Some(42.5));
    assert_eq!(stream(&mut h, "never").reported_delay_ms, None);
    h.command(Command::ReportDelay { live_id: "live1".into(), delay_ms: Some(-1.0) }).unwrap();
    assert_eq!(stream(&mut h, "live1").reported_delay_ms, None, "-1 is unknown");
    h.command(Command::ReportDelay { live_id: "live1".into(), delay_ms: Some(7.0) }).unwrap();
    h.command(Command::ReportDelay { live_id: "live1".into(), delay_ms: None }).unwrap();
    assert_eq!(stream(&mut h, "live1").reported_delay_ms, None, "null is unknown");
}

/// Each auth is one event: accepted (first or renewed) or refused, with
/// the source and whether the id was unknown.
#[test]
fn auths_are_reported_as_events() {
    let mut h = Harness::new();
    h.add_credential("live1", "code");
    h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, false, 0, 0, 0, b"live1#wrong"));
    h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, false, 0, 0, 0, b"ghost#code"));
    h.auth(Port::Push, addr(PUB), "live1", "code");
    h.auth(Port::Push, addr(PUB), "live1", "code");
    let source = addr(PUB);
    let auths: Vec<RelayEvent> =
        h.events.iter().filter(|e| !matches!(e, RelayEvent::StreamLive { .. })).cloned().collect();
    assert_eq!(
        auths,
        [
            RelayEvent::AuthRefused { source, live_id: "live1".into(), unknown_id: false },
            RelayEvent::AuthRefused { source, live_id: "ghost".into(), unknown_id: true },
            RelayEvent::AuthAccepted { source, live_id: LiveId::parse("live1").unwrap(), renewed: false },
            RelayEvent::AuthAccepted { source, live_id: LiveId::parse("live1").unwrap(), renewed: true },
        ]
    );
    // An id named by a peer is cut to a bounded length.
    let long = format!("{}#code", "x".repeat(1000));
    h.send(Port::Push, addr(PUB), packet(pt::AUTH_REQ, false, 0, 0, 0, long.as_bytes()));
    let Some(RelayEvent::AuthRefused { live_id, .. }) = h.events.last() else { panic!() };
    assert_eq!(live_id.len(), rtprelay_core::MAX_EVENT_TEXT);
}

/// A source blocked by the failed-auth limit is reported once per window.
#[test]
fn a_rate_limited_source_is_reported_once_per_window() {
    let mut h = Harness::with_config(Config { max_auth_failures_per_ip_per_minute: 2, ..Config::default() });
    h.add_credential("live1", "code");
    let limited = |h: &Harness| h.events.iter().filter(|e| matches!(e, RelayEvent::SourceRateLimited { .. })).count();
    for port in 0..10 {
        h.send(Port::Push, addr(9000 + port), packet(pt::AUTH_REQ, false, 0, 0, 0, b"live1#guess"));
    }
    assert_eq!(limited(&h), 1);
    assert!(h.events.contains(&RelayEvent::SourceRateLimited { source: addr(9000).ip() }));
    h.advance(Duration::from_secs(60));
    for port in 0..10 {
        h.send(Port::Push, addr(9000 + port), packet(pt::AUTH_REQ, false, 0, 0, 0, b"live1#guess"));
    }
    assert_eq!(limited(&h), 2, "once more in the next window");
}
