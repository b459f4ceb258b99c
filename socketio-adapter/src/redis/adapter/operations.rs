//! The [`Adapter`] implementation of the [`RedisAdapter`]: the trait's defaults do the local
//! part of every operation, and these hooks publish to and ask the other nodes.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use socketio_parser::{Packet, Value};

use super::RedisAdapter;
use crate::redis::classic::{self, RequestType};
use crate::redis::cluster::{command_request, ClusterNode};
use crate::redis::messages::{ClusterRequest, ClusterResponse};
use crate::redis::sharded;
use crate::{
    Adapter, AdapterError, BroadcastAckSink, BroadcastOptions, LocalAdapter, RemoteCommand, Room,
    Sid, SocketInfo,
};

#[async_trait]
impl Adapter for RedisAdapter {
    fn local(&self) -> &LocalAdapter {
        &self.local
    }

    async fn init(&self) -> Result<(), AdapterError> {
        match self.sharded_mode() {
            None => {
                self.link
                    .psubscribe(&self.classic.broadcast_pattern())
                    .await?;
                self.link
                    .subscribe(&[
                        self.classic.request.clone(),
                        self.classic.response.clone(),
                        self.specific_response.clone(),
                    ])
                    .await
            }
            Some(_) => {
                self.link.ssubscribe(&self.sharded.main).await?;
                self.link
                    .ssubscribe(&self.sharded.response(&self.uid))
                    .await
            }
        }
    }

    async fn close(&self) -> Result<(), AdapterError> {
        self.guard.lock().take();
        match self.sharded_mode() {
            None => {
                self.link
                    .unsubscribe(
                        &[
                            self.classic.request.clone(),
                            self.classic.response.clone(),
                            self.specific_response.clone(),
                        ],
                        &[self.classic.broadcast_pattern()],
                        &[],
                    )
                    .await
            }
            Some(_) => {
                let mut channels =
                    vec![self.sharded.main.clone(), self.sharded.response(&self.uid)];
                channels.extend(
                    self.local
                        .all_rooms_local()
                        .iter()
                        .map(|r| self.sharded.room(r)),
                );
                self.link.unsubscribe(&[], &[], &channels).await
            }
        }
    }

    fn add_all(&self, sid: &Sid, rooms: &[Room]) {
        let new: Vec<Room> = if self.room_sync.is_some() {
            self.local.with_index(|idx| {
                rooms
                    .iter()
                    .filter(|r| idx.room(r).is_none())
                    .cloned()
                    .collect()
            })
        } else {
            Vec::new()
        };
        self.local.add_all_local(sid, rooms);
        self.sync_room_channels(new);
    }

    fn del(&self, sid: &str, room: &str) {
        self.local.del_local(sid, room);
        if self.room_sync.is_some() && self.local.with_index(|idx| idx.room(room).is_none()) {
            self.sync_room_channels([Room::from(room)]);
        }
    }

    fn del_all(&self, sid: &str) {
        let rooms: Vec<Room> = self
            .local
            .socket_rooms_local(sid)
            .map(|r| r.into_iter().collect())
            .unwrap_or_default();
        self.local.del_all_local(sid);
        if self.room_sync.is_some() {
            let gone: Vec<Room> = self.local.with_index(|idx| {
                rooms
                    .into_iter()
                    .filter(|r| idx.room(r).is_none())
                    .collect()
            });
            self.sync_room_channels(gone);
        }
    }

    fn publish_broadcast(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
    ) -> Result<(), AdapterError> {
        let (channel, bytes) = match self.sharded_mode() {
            None => (
                self.classic.for_broadcast(opts),
                classic::encode_broadcast(&self.uid, packet, opts),
            ),
            Some(mode) => (
                self.sharded.for_broadcast(opts, mode),
                sharded::encode_broadcast(&self.uid, &self.nsp, packet, opts),
            ),
        };
        self.link
            .publish_queued(channel, bytes, self.sharded_mode().is_some())
    }

    fn publish_broadcast_with_ack(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        sink: &BroadcastAckSink,
    ) -> Result<(), AdapterError> {
        self.open_broadcast_with_ack(packet, opts, sink, |request| self.publish_queued(request))
    }

    async fn publish_command(&self, command: RemoteCommand) -> Result<(), AdapterError> {
        let request = command_request(command);
        self.publish_now(&request).await
    }

    async fn remote_sockets(&self, rooms: HashSet<Room>) -> Result<Vec<Sid>, AdapterError> {
        let timeout = self.config.request_timeout;
        if self.sharded_mode().is_some() {
            // The sharded format has no SOCKETS request: ask for the sockets themselves.
            let opts = BroadcastOptions {
                rooms,
                ..Default::default()
            };
            let sockets = self.ask_fetch_sockets(opts, timeout).await?;
            return Ok(sockets.into_iter().map(|s| s.id).collect());
        }
        let responses = self
            .ask(RequestType::Sockets, timeout, |request_id| {
                ClusterRequest::Sockets { request_id, rooms }
            })
            .await?;
        Ok(responses
            .into_iter()
            .flat_map(|r| match r {
                ClusterResponse::Sockets { sockets, .. } => sockets,
                _ => Vec::new(),
            })
            .collect())
    }

    async fn remote_rooms(&self) -> Result<Vec<Room>, AdapterError> {
        let timeout = self.config.request_timeout;
        if self.sharded_mode().is_some() {
            // No ALL_ROOMS in the sharded format: the rooms of every remote socket.
            let sockets = self
                .ask_fetch_sockets(BroadcastOptions::default(), timeout)
                .await?;
            return Ok(sockets.into_iter().flat_map(|s| s.rooms).collect());
        }
        let responses = self
            .ask(RequestType::AllRooms, timeout, |request_id| {
                ClusterRequest::AllRooms { request_id }
            })
            .await?;
        Ok(responses
            .into_iter()
            .flat_map(|r| match r {
                ClusterResponse::AllRooms { rooms, .. } => rooms,
                _ => Vec::new(),
            })
            .collect())
    }

    async fn remote_fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> Result<Vec<SocketInfo>, AdapterError> {
        let timeout = opts.flags.timeout.unwrap_or(self.config.request_timeout);
        self.ask_fetch_sockets(opts, timeout).await
    }

    async fn server_side_emit_with_ack(
        &self,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AdapterError> {
        self.ask_server_side_emit(args, timeout).await
    }

    async fn server_count(&self) -> Result<usize, AdapterError> {
        match self.sharded_mode() {
            None => self.link.numsub(&self.classic.request, false).await,
            Some(_) => self.link.numsub(&self.sharded.main, true).await,
        }
    }
}
