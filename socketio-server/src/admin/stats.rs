//! The statistics of the UI: events counted per second, type and subtype (reference
//! `EventBuffer`) and the `server_stats` emitted every 2 s.

use socketio_parser::to_value;

use super::wire::{AggregatedEvent, NamespaceStats, ServerStats};
use super::{hostname, AdminState};
use crate::handshake::now_millis;
use crate::SocketIo;

/// Distinct (second, type, subtype) buckets kept between two `server_stats`.
const MAX_BUCKETS: usize = 4096;

pub(super) type BucketKey = (u64, &'static str, Option<&'static str>);
impl AdminState {
    pub(super) fn record_event(
        &self,
        kind: &'static str,
        sub_type: Option<&'static str>,
        count: usize,
    ) {
        let second = now_millis() / 1000 * 1000;
        let mut buffer = self.buffer.lock();
        let key = (second, kind, sub_type);
        if let Some(n) = buffer.get_mut(&key) {
            *n += count;
        } else if buffer.len() < MAX_BUCKETS {
            buffer.insert(key, count);
        }
    }

    pub(super) fn emit_stats(&self) {
        let Some(server) = self.server.upgrade() else {
            return;
        };
        let io = SocketIo(server);
        let aggregated_events = std::mem::take(&mut *self.buffer.lock())
            .into_iter()
            .map(|((timestamp, kind, sub_type), count)| AggregatedEvent {
                timestamp,
                kind,
                sub_type,
                count,
            })
            .collect();
        let engine = io.engine();
        let stats = ServerStats {
            server_id: self.server_id.clone(),
            hostname: hostname(),
            pid: std::process::id(),
            uptime: self.started.elapsed().as_secs_f64(),
            clients_count: engine.count(),
            polling_clients_count: engine
                .sockets()
                .iter()
                .filter(|s| s.transport() == engine_io::TransportType::Polling)
                .count(),
            aggregated_events,
            namespaces: io
                .0
                .namespace_list()
                .iter()
                .map(|ns| NamespaceStats {
                    name: ns.name.to_string(),
                    sockets_count: ns.len(),
                })
                .collect(),
        };
        if let Ok(v) = to_value(&stats) {
            self.emit("server_stats", vec![v]);
        }
    }
}
