//! The native API's JSON bodies (docs/protocol.md §3.1). The core answers
//! with plain snapshots ([`StreamInfo`], [`ClientInfo`], ...); these views
//! give them the API's field names (camelCase) and layout, so that every
//! name a caller sees is chosen here and the core knows nothing of JSON.

use rtprelay_core::Ssrc;
use rtprelay_core::{ClientInfo, LossReport, StreamInfo, SubscriberInfo, SubscriptionInfo};
use serde::Serialize;
use std::net::SocketAddr;

/// Incoming bitrate over three windows.
#[derive(Debug, Serialize)]
struct Bitrates {
    #[serde(rename = "1s")]
    one: u64,
    #[serde(rename = "3s")]
    three: u64,
    #[serde(rename = "10s")]
    ten: u64,
}

/// What both stream views show.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamView {
    live_id: String,
    live: bool,
    /// Unsigned; `null` before the stream first went live.
    ssrc: Option<u32>,
    publisher: Option<String>,
    bitrate_bps: Bitrates,
    packets_in: u64,
    bytes_in: u64,
    lost: u64,
    recovered: u64,
    /// Round trip to the publisher (push-leg NACK to retransmission),
    /// once measured.
    delay_ms: Option<f64>,
    /// The delay the publisher last reported (§3.2 `delay`), if any.
    reported_delay_ms: Option<f64>,
}

impl From<&StreamInfo> for StreamView {
    fn from(s: &StreamInfo) -> Self {
        let [one, three, ten] = s.bitrate_bps;
        StreamView {
            live_id: s.live_id.to_string(),
            live: s.live,
            ssrc: s.ssrc.map(Ssrc::get),
            publisher: s.publisher.map(|a| a.to_string()),
            bitrate_bps: Bitrates { one, three, ten },
            packets_in: s.packets_in,
            bytes_in: s.bytes_in,
            lost: s.lost,
            recovered: s.recovered,
            delay_ms: s.rtt_ms,
            reported_delay_ms: s.reported_delay_ms,
        }
    }
}

/// An entry of `GET /api/streams`: `subscribers` is a count, repeated as
/// `subscriberCount` (the name both views share).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamSummary {
    #[serde(flatten)]
    view: StreamView,
    subscribers: usize,
    subscriber_count: usize,
}

impl From<&StreamInfo> for StreamSummary {
    fn from(s: &StreamInfo) -> Self {
        StreamSummary { view: s.into(), subscribers: s.subscribers, subscriber_count: s.subscribers }
    }
}

/// `GET /api/streams`.
#[derive(Debug, Serialize)]
pub(super) struct StreamList {
    streams: Vec<StreamSummary>,
}

impl From<&[StreamInfo]> for StreamList {
    fn from(streams: &[StreamInfo]) -> Self {
        StreamList { streams: streams.iter().map(StreamSummary::from).collect() }
    }
}

/// One subscriber in `GET /api/streams/{liveId}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SubscriberView {
    address: SocketAddr,
    packets_sent: u64,
    bytes_sent: u64,
    retransmitted: u64,
}

impl From<&SubscriberInfo> for SubscriberView {
    fn from(s: &SubscriberInfo) -> Self {
        SubscriberView {
            address: s.address,
            packets_sent: s.packets_sent,
            bytes_sent: s.bytes_sent,
            retransmitted: s.retransmitted,
        }
    }
}

/// `GET /api/streams/{liveId}`: `subscribers` is the list, and
/// `subscriberCount` the same count as in the stream list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StreamDetail {
    #[serde(flatten)]
    view: StreamView,
    subscribers: Vec<SubscriberView>,
    subscriber_count: usize,
}

impl From<&StreamInfo> for StreamDetail {
    fn from(s: &StreamInfo) -> Self {
        StreamDetail {
            view: s.into(),
            subscribers: s.subscriber_list.iter().map(SubscriberView::from).collect(),
            subscriber_count: s.subscribers,
        }
    }
}

/// One entry of a client's `subscriptions`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionView {
    live_id: String,
    acked: bool,
    reported_loss: Option<f64>,
    reported_lost_total: Option<i64>,
    reported_jitter: Option<u32>,
    /// What the client last posted to `packageLoss` (§3.2) for it.
    package_loss: Option<PackageLossView>,
}

/// A `packageLoss` entry under the legacy names; each figure `null` when
/// unknown.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PackageLossView {
    #[serde(rename = "lossScale60")]
    loss_scale_60: Option<f64>,
    #[serde(rename = "throwScale60")]
    throw_scale_60: Option<f64>,
    #[serde(rename = "lossScale10")]
    loss_scale_10: Option<f64>,
    #[serde(rename = "throwScale10")]
    throw_scale_10: Option<f64>,
    #[serde(rename = "lossScale2")]
    loss_scale_2: Option<f64>,
    #[serde(rename = "throwScale2")]
    throw_scale_2: Option<f64>,
    loss_total: Option<f64>,
}

impl From<&LossReport> for PackageLossView {
    fn from(r: &LossReport) -> Self {
        PackageLossView {
            loss_scale_60: r.loss_scale_60,
            throw_scale_60: r.throw_scale_60,
            loss_scale_10: r.loss_scale_10,
            throw_scale_10: r.throw_scale_10,
            loss_scale_2: r.loss_scale_2,
            throw_scale_2: r.throw_scale_2,
            loss_total: r.loss_total,
        }
    }
}

impl From<&SubscriptionInfo> for SubscriptionView {
    fn from(s: &SubscriptionInfo) -> Self {
        SubscriptionView {
            live_id: s.live_id.clone(),
            acked: s.acked,
            reported_loss: s.reported_loss,
            reported_lost_total: s.reported_lost_total,
            reported_jitter: s.reported_jitter,
            package_loss: s.package_loss.as_ref().map(PackageLossView::from),
        }
    }
}

/// One pull client in `GET /api/clients` (addresses, never ids).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ClientView {
    address: SocketAddr,
    verified: bool,
    subscriptions: Vec<SubscriptionView>,
    packets_sent: u64,
    bytes_sent: u64,
    retransmitted: u64,
}

impl From<&ClientInfo> for ClientView {
    fn from(c: &ClientInfo) -> Self {
        ClientView {
            address: c.address,
            verified: c.verified,
            subscriptions: c.subscriptions.iter().map(SubscriptionView::from).collect(),
            packets_sent: c.packets_sent,
            bytes_sent: c.bytes_sent,
            retransmitted: c.retransmitted,
        }
    }
}

/// `GET /api/clients`.
#[derive(Debug, Serialize)]
pub(super) struct ClientList {
    clients: Vec<ClientView>,
}

impl From<&[ClientInfo]> for ClientList {
    fn from(clients: &[ClientInfo]) -> Self {
        ClientList { clients: clients.iter().map(ClientView::from).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 7], port))
    }

    fn stream() -> StreamInfo {
        StreamInfo {
            live_id: rtprelay_core::LiveId::parse("cam1").unwrap(),
            live: true,
            ssrc: Some(Ssrc::new(0x8000_0001)),
            publisher: Some(addr(5000)),
            bitrate_bps: [1, 3, 10],
            packets_in: 4,
            bytes_in: 52,
            lost: 2,
            recovered: 1,
            rtt_ms: Some(12.5),
            reported_delay_ms: None,
            subscribers: 1,
            subscriber_list: vec![SubscriberInfo {
                address: addr(6000),
                packets_sent: 3,
                bytes_sent: 39,
                retransmitted: 1,
            }],
        }
    }

    /// Field names and order of both stream views, byte for byte.
    #[test]
    fn stream_views_are_camel_case() {
        let view = r#""liveId":"cam1","live":true,"ssrc":2147483649,"publisher":"192.0.2.7:5000","bitrateBps":{"1s":1,"3s":3,"10s":10},"packetsIn":4,"bytesIn":52,"lost":2,"recovered":1,"delayMs":12.5,"reportedDelayMs":null"#;
        let list = serde_json::to_string(&StreamList::from([stream()].as_slice())).unwrap();
        assert_eq!(list, format!(r#"{{"streams":[{{{view},"subscribers":1,"subscriberCount":1}}]}}"#));
        let detail = serde_json::to_string(&StreamDetail::from(&stream())).unwrap();
        let subscriber = r#"{"address":"192.0.2.7:6000","packetsSent":3,"bytesSent":39,"retransmitted":1}"#;
        assert_eq!(detail, format!(r#"{{{view},"subscribers":[{subscriber}],"subscriberCount":1}}"#));
    }

    /// Field names and order of the client list, byte for byte.
    #[test]
    fn client_views_are_camel_case() {
        let client = ClientInfo {
            address: addr(7000),
            verified: false,
            subscriptions: vec![
                SubscriptionInfo {
                    live_id: "cam1".into(),
                    acked: true,
                    reported_loss: Some(0.25),
                    reported_lost_total: Some(-1),
                    reported_jitter: Some(40),
                    package_loss: Some(LossReport { loss_scale_10: Some(0.5), ..LossReport::default() }),
                },
                SubscriptionInfo {
                    live_id: "cam2".into(),
                    acked: false,
                    reported_loss: None,
                    reported_lost_total: None,
                    reported_jitter: None,
                    package_loss: None,
                },
            ],
            packets_sent: 5,
            bytes_sent: 65,
            retransmitted: 2,
        };
        let json = serde_json::to_string(&ClientList::from([client].as_slice())).unwrap();
        let expected = concat!(
            r#"{"clients":[{"address":"192.0.2.7:7000","verified":false,"subscriptions":["#,
            r#"{"liveId":"cam1","acked":true,"reportedLoss":0.25,"reportedLostTotal":-1,"reportedJitter":40,"#,
            r#""packageLoss":{"lossScale60":null,"throwScale60":null,"lossScale10":0.5,"throwScale10":null,"#,
            r#""lossScale2":null,"throwScale2":null,"lossTotal":null}},"#,
            r#"{"liveId":"cam2","acked":false,"reportedLoss":null,"reportedLostTotal":null,"reportedJitter":null,"#,
            r#""packageLoss":null}"#,
            r#"],"packetsSent":5,"bytesSent":65,"retransmitted":2}]}"#,
        );
        assert_eq!(json, expected);
    }
}
