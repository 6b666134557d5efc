//! Operator commands: credentials, stops and snapshots.

use super::command::{ClientInfo, Command, CommandError, Reply, StreamInfo, SubscriberInfo, SubscriptionInfo};
use super::publish::Stream;
use super::{Relay, StopReason};
use crate::time::Instant;

impl Relay {
    pub(super) fn run_command(&mut self, now: Instant, command: Command) -> Result<Reply, CommandError> {
        match command {
            Command::AddCredential(credential) => {
                if self.credentials.contains_key(&credential.live_id) {
                    return Err(CommandError::AlreadyExists);
                }
                self.credentials.insert(credential.live_id.clone(), credential);
                Ok(Reply::Done)
            }
            Command::StopStream { live_id } => {
                let idx = self.streams.index_of(&live_id).ok_or(CommandError::NotFound)?;
                if !self.streams.get_mut(idx).live {
                    return Err(CommandError::NotLive);
                }
                self.counters.streams_stopped_by_operator += 1;
                self.stop_stream(now, idx, StopReason::Operator);
                Ok(Reply::Done)
            }
            Command::RevokeStream { live_id } => {
                self.credentials.remove(&live_id).ok_or(CommandError::NotFound)?;
                if let Some(idx) = self.streams.index_of(&live_id).filter(|&i| self.streams.get_mut(i).live) {
                    self.counters.streams_stopped_by_operator += 1;
                    self.stop_stream(now, idx, StopReason::Revoked);
                }
                Ok(Reply::Done)
            }
            Command::ListStreams => Ok(Reply::Streams(self.stream_infos(now))),
            Command::GetStream { live_id } => {
                let known =
                    self.credentials.contains_key(&live_id) || self.streams.by_id(&live_id).is_some_and(|s| s.live);
                if !known {
                    return Err(CommandError::NotFound);
                }
                let mut info = self.stream_info(now, &live_id);
                if let Some(stream) = self.streams.by_id(&live_id) {
                    info.subscriber_list = stream
                        .subscribers
                        .iter()
                        .map(|s| SubscriberInfo {
                            address: self.clients.by_id[&s.client].addr,
                            packets_sent: s.packets,
                            bytes_sent: s.bytes,
                            retransmitted: s.retransmitted,
                        })
                        .collect();
                }
                Ok(Reply::Stream(info))
            }
            Command::ListClients => Ok(Reply::Clients(self.client_infos())),
            Command::Counters => Ok(Reply::Counters(Box::new(self.counters.clone()))),
            Command::StopAll => {
                let live: Vec<String> = self.streams.iter().filter(|s| s.live).map(|s| s.live_id.clone()).collect();
                for live_id in live {
                    if let Some(idx) = self.streams.index_of(&live_id) {
                        self.counters.streams_stopped_by_operator += 1;
                        self.stop_stream(now, idx, StopReason::Operator);
                    }
                }
                Ok(Reply::Done)
            }
        }
    }

    /// Every stream with a credential or live now, sorted by id.
    fn stream_infos(&mut self, now: Instant) -> Vec<StreamInfo> {
        let mut ids: Vec<String> = self.credentials.keys().cloned().collect();
        ids.extend(
            self.streams
                .iter()
                .filter(|s| s.live && !self.credentials.contains_key(&s.live_id))
                .map(|s| s.live_id.clone()),
        );
        ids.sort();
        ids.iter().map(|id| self.stream_info(now, id)).collect()
    }

    fn stream_info(&mut self, now: Instant, live_id: &str) -> StreamInfo {
        let Some(idx) = self.streams.index_of(live_id) else {
            return StreamInfo {
                live_id: live_id.to_owned(),
                live: false,
                ssrc: None,
                publisher: None,
                bitrate_bps: [0; 3],
                packets_in: 0,
                bytes_in: 0,
                lost: 0,
                recovered: 0,
                rtt_ms: None,
                subscribers: 0,
                subscriber_list: Vec::new(),
            };
        };
        let s: &mut Stream = self.streams.get_mut(idx);
        StreamInfo {
            live_id: live_id.to_owned(),
            live: s.live,
            ssrc: Some(s.ssrc),
            publisher: s.live.then_some(s.publisher),
            bitrate_bps: [1, 3, 10].map(|secs| s.rate.bits_per_second(now, secs)),
            packets_in: s.packets_in,
            bytes_in: s.bytes_in,
            lost: s.seq.missing,
            recovered: s.ingress.recovered,
            rtt_ms: s.ingress.rtt().map(|d| d.as_secs_f64() * 1000.0),
            subscribers: s.subscribers.len(),
            subscriber_list: Vec::new(),
        }
    }

    /// Every client, sorted by address.
    fn client_infos(&self) -> Vec<ClientInfo> {
        let mut infos: Vec<ClientInfo> = self
            .clients
            .by_id
            .iter()
            .map(|(&id, c)| {
                let mut info = ClientInfo {
                    address: c.addr,
                    verified: c.verified,
                    subscriptions: Vec::new(),
                    packets_sent: 0,
                    bytes_sent: 0,
                    retransmitted: 0,
                };
                for sub in &c.subscriptions {
                    let entry =
                        self.streams.by_id(&sub.live_id).and_then(|s| s.subscribers.iter().find(|s| s.client == id));
                    let report = entry.and_then(|e| e.report);
                    info.subscriptions.push(SubscriptionInfo {
                        live_id: sub.live_id.clone(),
                        acked: sub.acked,
                        reported_loss: report.map(|r| f64::from(r.fraction_lost) / 256.0),
                        reported_lost_total: report.map(|r| i64::from(r.cumulative_lost)),
                        reported_jitter: report.map(|r| r.jitter),
                    });
                    if let Some(entry) = entry {
                        info.packets_sent += entry.packets;
                        info.bytes_sent += entry.bytes;
                        info.retransmitted += entry.retransmitted;
                    }
                }
                info
            })
            .collect();
        infos.sort_by_key(|i| i.address);
        infos
    }
}
