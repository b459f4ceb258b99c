//! The responder: what this node does with the messages of the other nodes (broadcasts,
//! commands, queries) and the answers it sends back.

use std::sync::Weak;

use super::RedisAdapter;
use crate::redis::classic;
use crate::redis::cluster::{ClusterNode, NodeCore};
use crate::redis::connection::{Incoming, MessageHandler};
use crate::redis::messages::{ClusterRequest, ClusterResponse};
use crate::redis::sharded;
use crate::{Adapter, AdapterError, Sid};

impl MessageHandler for RedisAdapter {
    fn on_message(&self, message: &Incoming) {
        match self.sharded_mode() {
            None => self.on_classic(message),
            Some(_) => self.on_sharded(message),
        }
    }
}

impl RedisAdapter {
    fn on_classic(&self, msg: &Incoming) {
        if let Some(room) = self.classic.room_of(&msg.channel) {
            // The reference skips broadcasts to rooms this node does not have; with recovery on,
            // they are still stored, for the members that are away and may come back.
            if !room.is_empty()
                && self.local.context().recovery.is_none()
                && self.local.with_index(|idx| idx.room(room).is_none())
            {
                return;
            }
            match classic::decode_broadcast(&msg.payload) {
                Ok(mut b) if b.uid != self.uid && b.packet.nsp == self.nsp => {
                    self.local.store_for_recovery(&mut b.packet, &b.opts);
                    self.local.broadcast_local(&b.packet, &b.opts);
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(nsp = %self.nsp, "ignoring a malformed broadcast: {e}"),
            }
        } else if msg.channel == self.classic.request {
            match classic::decode_request(&msg.payload) {
                Ok((uid, request)) => self.handle_request(uid.as_deref(), request),
                Err(e) => tracing::debug!(nsp = %self.nsp, "ignoring a request: {e}"),
            }
        } else if msg.channel == self.classic.response || msg.channel == self.specific_response {
            let decoded =
                classic::decode_response(&msg.payload, |id| self.core.correlation.kind_of(id));
            match decoded {
                Ok(Some(response)) => self.core.correlation.dispatch(response),
                Ok(None) => {}
                Err(e) => tracing::debug!(nsp = %self.nsp, "ignoring a response: {e}"),
            }
        }
    }

    fn on_sharded(&self, msg: &Incoming) {
        if msg.channel.starts_with(self.sharded.main.as_str()) {
            self.on_envelope(sharded::decode(&msg.payload));
        }
    }

    fn handle_request(&self, uid: Option<&str>, request: ClusterRequest) {
        let from_self = uid == Some(self.uid.as_str());
        let local = &self.local;
        match request {
            // Broadcasts and commands: done here unless this node sent them.
            ClusterRequest::Broadcast { mut packet, opts } => {
                if !from_self && packet.nsp == self.nsp {
                    local.store_for_recovery(&mut packet, &opts);
                    local.broadcast_local(&packet, &opts);
                }
            }
            ClusterRequest::BroadcastWithAck {
                request_id,
                packet,
                opts,
            } => {
                if !from_self && packet.nsp == self.nsp {
                    self.answer_broadcast_with_ack(uid, request_id, packet, opts);
                }
            }
            command @ (ClusterRequest::SocketsJoin { .. }
            | ClusterRequest::SocketsLeave { .. }
            | ClusterRequest::DisconnectSockets { .. }) => {
                if !from_self {
                    self.apply_command(command);
                }
            }
            // Queries: answered unless this node asked.
            ClusterRequest::Sockets { request_id, rooms } => {
                self.answer(uid, request_id, |request_id| ClusterResponse::Sockets {
                    request_id,
                    sockets: local.sockets_local(&rooms).into_iter().collect(),
                });
            }
            ClusterRequest::AllRooms { request_id } => {
                self.answer(uid, request_id, |request_id| ClusterResponse::AllRooms {
                    request_id,
                    rooms: local.all_rooms_local().into_iter().collect(),
                });
            }
            ClusterRequest::FetchSockets { request_id, opts } => {
                self.answer_fetch_sockets(uid, request_id, &opts);
            }
            // Legacy single-socket commands: done by the node that has the socket.
            ClusterRequest::RemoteJoin {
                request_id,
                sid,
                room,
            } => self.on_single_socket(uid, request_id, &sid, || {
                self.add_all(&Sid::from(sid.as_str()), &[room]);
            }),
            ClusterRequest::RemoteLeave {
                request_id,
                sid,
                room,
            } => self.on_single_socket(uid, request_id, &sid, || self.del(&sid, &room)),
            ClusterRequest::RemoteDisconnect {
                request_id,
                sid,
                close,
            } => self.on_single_socket(uid, request_id, &sid, || {
                if let Some(ns) = local.namespace() {
                    ns.disconnect(&sid, close);
                }
            }),
            ClusterRequest::ServerSideEmit { request_id, data } => {
                if !from_self {
                    self.on_server_side_emit(uid, request_id, data);
                }
            }
        }
    }

    /// Answers a query of node `requester`, unless it is one of this node's own requests.
    fn answer(
        &self,
        requester: Option<&str>,
        request_id: String,
        build: impl FnOnce(String) -> ClusterResponse,
    ) {
        if !self.core.correlation.is_ours(&request_id) {
            self.respond(requester, &build(request_id));
        }
    }

    /// A legacy single-socket command: done, and acknowledged when it carries a request id, by
    /// the node that has the socket.
    fn on_single_socket(
        &self,
        requester: Option<&str>,
        request_id: Option<String>,
        sid: &str,
        act: impl FnOnce(),
    ) {
        if self.local.socket_rooms_local(sid).is_none() {
            return;
        }
        act();
        if let Some(request_id) = request_id {
            self.respond(requester, &ClusterResponse::Done { request_id });
        }
    }
}

impl ClusterNode for RedisAdapter {
    fn core(&self) -> &NodeCore {
        &self.core
    }

    fn weak(&self) -> Weak<Self> {
        self.this.clone()
    }

    async fn publish_request(&self, request: &ClusterRequest) -> Result<(), AdapterError> {
        self.publish_now(request).await
    }

    fn identity(&self) -> (&str, &str) {
        (&self.uid, &self.nsp)
    }

    fn on_request(&self, requester: Option<&str>, request: ClusterRequest) {
        self.handle_request(requester, request);
    }

    fn respond(&self, requester: Option<&str>, response: &ClusterResponse) {
        let result = match self.sharded_mode() {
            None => {
                let channel = match (self.config.publish_on_specific_response_channel, requester) {
                    (true, Some(uid))
                        if !matches!(response, ClusterResponse::ServerSideEmit { .. }) =>
                    {
                        self.classic.specific_response(uid)
                    }
                    _ => self.classic.response.clone(),
                };
                self.link
                    .publish_queued(channel, classic::encode_response(response), false)
            }
            Some(_) => {
                let Some(uid) = requester else {
                    return;
                };
                match sharded::encode_response(&self.uid, &self.nsp, response) {
                    Some(bytes) => {
                        self.link
                            .publish_queued(self.sharded.response(uid), bytes, true)
                    }
                    None => return,
                }
            }
        };
        if let Err(e) = result {
            tracing::warn!(nsp = %self.nsp, "cannot answer a cluster request: {e}");
        }
    }
}
