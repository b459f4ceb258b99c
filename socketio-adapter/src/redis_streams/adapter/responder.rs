//! The responder: what this node does with the stream entries and the pub/sub messages of the
//! other nodes (broadcasts, commands, requests), and the answers it sends back.

use std::sync::Weak;

use socketio_parser::Value;

use super::StreamsAdapter;
use crate::redis::cluster::{ClusterNode, NodeCore};
use crate::redis::connection::{Incoming, MessageHandler};
use crate::redis::messages::{ClusterRequest, ClusterResponse};
use crate::redis::sharded;
use crate::redis_streams::wire::{self, StreamId};
use crate::AdapterError;

impl StreamsAdapter {
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
                    self.handle_request(envelope.uid.as_deref(), request);
                }
            }
        }
    }

    fn handle_request(&self, uid: Option<&str>, request: ClusterRequest) {
        match request {
            ClusterRequest::Broadcast { mut packet, opts } => {
                // Only from a non-standard writer: no offset, since it is not in the stream.
                packet.nsp.clone_from(&self.nsp);
                self.local.broadcast_local(&packet, &opts);
            }
            ClusterRequest::BroadcastWithAck {
                request_id,
                mut packet,
                opts,
            } => {
                packet.nsp.clone_from(&self.nsp);
                self.answer_broadcast_with_ack(uid, request_id, packet, opts);
            }
            command @ (ClusterRequest::SocketsJoin { .. }
            | ClusterRequest::SocketsLeave { .. }
            | ClusterRequest::DisconnectSockets { .. }) => {
                self.apply_command(command);
            }
            ClusterRequest::FetchSockets { request_id, opts } => {
                self.answer_fetch_sockets(uid, request_id, &opts);
            }
            ClusterRequest::ServerSideEmit { request_id, data } => {
                self.on_server_side_emit(uid, request_id, data);
            }
            // Classic-format requests do not exist in this format.
            ClusterRequest::Sockets { .. }
            | ClusterRequest::AllRooms { .. }
            | ClusterRequest::RemoteJoin { .. }
            | ClusterRequest::RemoteLeave { .. }
            | ClusterRequest::RemoteDisconnect { .. } => {}
        }
    }
}

impl ClusterNode for StreamsAdapter {
    fn core(&self) -> &NodeCore {
        &self.core
    }

    fn weak(&self) -> Weak<Self> {
        self.this.clone()
    }

    /// Ephemeral requests are pub/sub messages on the namespace's public channel.
    async fn publish_request(&self, request: &ClusterRequest) -> Result<(), AdapterError> {
        let bytes = self.ephemeral(request)?;
        self.shared
            .link
            .publish(&self.public, bytes, self.sharded())
            .await
            .map(drop)
    }

    fn identity(&self) -> (&str, &str) {
        (&self.uid, &self.nsp)
    }

    fn on_request(&self, requester: Option<&str>, request: ClusterRequest) {
        self.handle_request(requester, request);
    }

    /// Sends the response on the requester's own channel.
    fn respond(&self, requester: Option<&str>, response: &ClusterResponse) {
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
}

impl MessageHandler for StreamsAdapter {
    fn on_message(&self, message: &Incoming) {
        if message.channel == self.public || message.channel == self.private {
            self.on_envelope(wire::decode_ephemeral(&message.payload));
        }
    }
}
