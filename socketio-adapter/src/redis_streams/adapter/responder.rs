//! The responder: what this node does with the stream entries and the pub/sub messages of the
//! other nodes (broadcasts, commands, requests), and the answers it sends back.

use std::sync::atomic::Ordering;

use socketio_parser::{Packet, Value};

use super::StreamsAdapter;
use crate::redis::connection::{Incoming, MessageHandler};
use crate::redis::messages::{ClusterRequest, ClusterResponse};
use crate::redis::sharded;
use crate::redis_streams::wire::{self, StreamId};
use crate::{Adapter, BroadcastAckEvent, BroadcastAckSink, BroadcastOptions};

impl StreamsAdapter {
    /// Sends a response to node `requester` on its own channel.
    pub(super) fn respond(&self, requester: Option<&str>, response: &ClusterResponse) {
        let Some(uid) = requester else {
            return;
        };
        let Some((ty, data, _)) = sharded::response_parts(response) else {
            return;
        };
        let channel = format!("{}{uid}#", self.public);
        let bytes = wire::encode_ephemeral(&self.uid, &self.nsp, ty, data);
        if let Err(e) = self
            .shared
            .link
            .publish_queued(channel, bytes, self.sharded())
        {
            tracing::warn!(nsp = %self.nsp, "cannot answer a cluster request: {e}");
        }
    }

    /// An entry of this namespace's stream, in stream order (called by the reader).
    pub(crate) fn on_entry(&self, id: StreamId, entry: &wire::RawEntry) {
        let envelope = match entry.decode() {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(nsp = %self.nsp, %id, "ignoring a stream entry: {e}");
                return;
            }
        };
        if envelope.nsp != self.nsp {
            return;
        }
        let own = envelope.uid.as_deref() == Some(self.uid.as_str());
        let sharded::Incoming::Request(request) = envelope.message else {
            return;
        };
        match request {
            ClusterRequest::Broadcast { mut packet, opts } => {
                if own && !self.delivers_own() {
                    return;
                }
                packet.nsp.clone_from(&self.nsp);
                let guard = self.dispatch.lock();
                {
                    let mut dispatch = guard.borrow_mut();
                    dispatch.last = Some(id);
                    if self.add_offset(&mut packet, &opts, id) {
                        if let Some(Value::Array(data)) = &packet.data {
                            for pending in dispatch.pending.values_mut() {
                                if id > pending.after && opts.matches_rooms(pending.rooms.iter()) {
                                    pending.held.push(data.clone());
                                }
                            }
                        }
                    }
                }
                // Under the lock: a restored socket joins either before (and gets it live) or
                // after (and gets it from `held`), never both.
                self.local.broadcast_local(&packet, &opts);
                drop(guard);
            }
            ClusterRequest::BroadcastWithAck { .. } | ClusterRequest::FetchSockets { .. } => {
                // Ephemeral requests are pub/sub messages; one in the stream is not answered
                // (the reference would answer it, but none writes one).
            }
            request => {
                if !own {
                    self.on_request(envelope.uid.as_deref(), request);
                }
            }
        }
    }

    fn on_request(&self, uid: Option<&str>, request: ClusterRequest) {
        match request {
            ClusterRequest::Broadcast { mut packet, opts } => {
                // Only from a non-standard writer: no offset, since it is not in the stream.
                packet.nsp.clone_from(&self.nsp);
                self.local.broadcast_local(&packet, &opts);
            }
            ClusterRequest::BroadcastWithAck {
                request_id,
                packet,
                opts,
            } => {
                if self.ack_requests.lock().contains_key(&request_id) {
                    return;
                }
                self.answer_broadcast_with_ack(uid, request_id, packet, opts);
            }
            ClusterRequest::SocketsJoin { opts, rooms } => {
                for sid in self.local.local_recipients(&opts) {
                    self.add_all(&sid, &rooms);
                }
            }
            ClusterRequest::SocketsLeave { opts, rooms } => {
                for sid in self.local.local_recipients(&opts) {
                    for room in &rooms {
                        self.del(&sid, room);
                    }
                }
            }
            ClusterRequest::DisconnectSockets { opts, close } => {
                self.local.disconnect_sockets_local(&opts, close);
            }
            ClusterRequest::FetchSockets { request_id, opts } => {
                if self.requests.lock().contains_key(&request_id) {
                    return;
                }
                let sockets = self.local.fetch_sockets_local(&opts);
                self.respond(
                    uid,
                    &ClusterResponse::FetchSockets {
                        request_id,
                        sockets,
                    },
                );
            }
            ClusterRequest::ServerSideEmit { request_id, data } => {
                let Some(ns) = self.local.namespace() else {
                    return;
                };
                let ack = request_id.map(|request_id| {
                    let this = self.this.clone();
                    let requester = uid.map(str::to_owned);
                    Box::new(move |data: Value| {
                        if let Some(this) = this.upgrade() {
                            this.respond(
                                requester.as_deref(),
                                &ClusterResponse::ServerSideEmit { request_id, data },
                            );
                        }
                    }) as crate::ServerSideAck
                });
                ns.on_server_side_emit(data, ack);
            }
            // Classic-format requests do not exist in this format.
            ClusterRequest::Sockets { .. }
            | ClusterRequest::AllRooms { .. }
            | ClusterRequest::RemoteJoin { .. }
            | ClusterRequest::RemoteLeave { .. }
            | ClusterRequest::RemoteDisconnect { .. } => {}
        }
    }

    fn answer_broadcast_with_ack(
        &self,
        requester: Option<&str>,
        request_id: String,
        mut packet: Packet,
        opts: BroadcastOptions,
    ) {
        packet.nsp.clone_from(&self.nsp);
        packet.id = Some(self.next_ack_id.fetch_add(1, Ordering::Relaxed));
        let (sink, mut rx) = BroadcastAckSink::channel();
        let count = self.local.broadcast_with_ack_local(&packet, &opts, &sink);
        drop(sink);
        self.respond(
            requester,
            &ClusterResponse::BroadcastClientCount {
                request_id: request_id.clone(),
                client_count: count as u64,
            },
        );
        if count == 0 {
            return;
        }
        let this = self.this.clone();
        let requester = requester.map(str::to_owned);
        let timeout = opts
            .flags
            .timeout
            .unwrap_or(self.shared.config.request_timeout);
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let mut relayed = 0;
            while relayed < count {
                let Ok(Some(event)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                    return;
                };
                if let BroadcastAckEvent::Ack(args) = event {
                    relayed += 1;
                    let Some(this) = this.upgrade() else {
                        return;
                    };
                    this.respond(
                        requester.as_deref(),
                        &ClusterResponse::BroadcastAck {
                            request_id: request_id.clone(),
                            packet: args.into_iter().next().unwrap_or(Value::Null),
                        },
                    );
                }
            }
        });
    }
}

impl MessageHandler for StreamsAdapter {
    fn on_message(&self, message: &Incoming) {
        if message.channel != self.public && message.channel != self.private {
            return;
        }
        let envelope = match wire::decode_ephemeral(&message.payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(nsp = %self.nsp, "ignoring a pub/sub message: {e}");
                return;
            }
        };
        if envelope.uid.as_deref() == Some(self.uid.as_str()) || envelope.nsp != self.nsp {
            return;
        }
        match envelope.message {
            sharded::Incoming::Request(request) => {
                self.on_request(envelope.uid.as_deref(), request)
            }
            sharded::Incoming::Response(response) => self.on_response(response),
            sharded::Incoming::Other => {}
        }
    }
}
