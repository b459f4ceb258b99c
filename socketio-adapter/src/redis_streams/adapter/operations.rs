//! The [`Adapter`] implementation of the [`StreamsAdapter`]: the trait's defaults do the local
//! part of every operation, and these hooks write to the stream or ask the other nodes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use socketio_parser::{Packet, Value};

use super::StreamsAdapter;
use crate::redis::cluster::{command_request, ClusterNode};
use crate::redis::messages::ClusterRequest;
use crate::redis_streams::XAddJob;
use crate::{
    Adapter, AdapterError, BroadcastAckSink, BroadcastOptions, LocalAdapter, PersistedSession,
    RemoteCommand, RestoredSession, Room, Sid, SocketInfo,
};

#[async_trait]
impl Adapter for StreamsAdapter {
    fn local(&self) -> &LocalAdapter {
        &self.local
    }

    async fn init(&self) -> Result<(), AdapterError> {
        let channels = [self.public.clone(), self.private.clone()];
        if self.sharded() {
            for c in &channels {
                self.shared.link.ssubscribe(c).await?;
            }
            Ok(())
        } else {
            self.shared.link.subscribe(&channels).await
        }
    }

    async fn close(&self) -> Result<(), AdapterError> {
        self.guard.lock().take();
        self.shared.adapters.write().remove(&self.nsp);
        let channels = [self.public.clone(), self.private.clone()];
        if self.sharded() {
            self.shared.link.unsubscribe(&[], &[], &channels).await
        } else {
            self.shared.link.unsubscribe(&channels, &[], &[]).await
        }
    }

    fn add_all(&self, sid: &Sid, rooms: &[Room]) {
        let late = {
            let guard = self.dispatch.lock();
            self.local.add_all_local(sid, rooms);
            let held = guard.borrow_mut().pending.remove(sid).map(|p| p.held);
            held
        };
        if let Some(held) = late.filter(|h| !h.is_empty()) {
            self.deliver_late(sid, held);
        }
        if let Some(live) = &self.live {
            live.touched(sid);
        }
    }

    fn del(&self, sid: &str, room: &str) {
        self.local.del_local(sid, room);
        if let Some(live) = &self.live {
            live.touched(sid);
        }
    }

    fn del_all(&self, sid: &str) {
        self.local.del_all_local(sid);
        self.dispatch.lock().borrow_mut().pending.remove(sid);
        if let Some(live) = &self.live {
            live.ended(sid);
        }
    }

    fn track_session(&self, sid: &Sid, pid: &Sid) {
        if let Some(live) = &self.live {
            live.track(sid, pid);
        }
    }

    /// With recovery on, this node delivers its own broadcasts when it reads them back from
    /// the stream (see `delivers_own`), which the trait's default (delivering at once) cannot
    /// do; without, the default's steps (the local half stores no packets).
    fn broadcast(&self, mut packet: Packet, opts: BroadcastOptions) -> Result<(), AdapterError> {
        self.local.own_namespace(&mut packet);
        if opts.flags.local || !self.delivers_own() {
            let published = if opts.flags.local {
                Ok(())
            } else {
                self.publish_broadcast(&packet, &opts)
            };
            self.local.broadcast_local(&packet, &opts);
            return published;
        }
        let fields = self.broadcast_fields(&packet, &opts);
        // Delivered locally when read back from the stream, with its offset; when it cannot
        // be written, at once without one (the local sockets still get it).
        let packet = Arc::new(packet);
        let opts = Arc::new(opts);
        let this = self.this.clone();
        let (fallback_packet, fallback_opts) = (packet.clone(), opts.clone());
        let on_fail = Box::new(move || {
            if let Some(this) = this.upgrade() {
                this.local.broadcast_local(&fallback_packet, &fallback_opts);
            }
        });
        let queued = self.shared.xadd_queued(XAddJob {
            stream: self.stream.clone(),
            fields,
            done: None,
            on_fail: Some(on_fail),
        });
        if queued.is_err() {
            self.local.broadcast_local(&packet, &opts);
        }
        queued
    }

    fn publish_broadcast(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
    ) -> Result<(), AdapterError> {
        self.shared.xadd_queued(XAddJob {
            stream: self.stream.clone(),
            fields: self.broadcast_fields(packet, opts),
            done: None,
            on_fail: None,
        })
    }

    fn publish_broadcast_with_ack(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        sink: &BroadcastAckSink,
    ) -> Result<(), AdapterError> {
        self.open_broadcast_with_ack(packet, opts, sink, |request| {
            let bytes = self.ephemeral(request)?;
            self.shared
                .link
                .publish_queued(self.public.clone(), bytes, self.sharded())
        })
    }

    async fn publish_command(&self, command: RemoteCommand) -> Result<(), AdapterError> {
        let request = match command_request(command) {
            // A pub/sub message, not a stream entry.
            request @ ClusterRequest::ServerSideEmit { .. } => {
                return self.publish_request(&request).await;
            }
            request => request,
        };
        self.xadd(&request).await.map(drop)
    }

    async fn remote_sockets(&self, rooms: HashSet<Room>) -> Result<Vec<Sid>, AdapterError> {
        // No SOCKETS request in this format: ask for the sockets themselves.
        let opts = BroadcastOptions {
            rooms,
            ..Default::default()
        };
        let sockets = self.fetch_remote(opts).await?;
        Ok(sockets.into_iter().map(|s| s.id).collect())
    }

    async fn remote_rooms(&self) -> Result<Vec<Room>, AdapterError> {
        // No ALL_ROOMS either: the rooms of every remote socket.
        let sockets = self.fetch_remote(BroadcastOptions::default()).await?;
        Ok(sockets.into_iter().flat_map(|s| s.rooms).collect())
    }

    async fn remote_fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> Result<Vec<SocketInfo>, AdapterError> {
        self.fetch_remote(opts).await
    }

    async fn server_side_emit_with_ack(
        &self,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AdapterError> {
        self.ask_server_side_emit(args, timeout).await
    }

    async fn server_count(&self) -> Result<usize, AdapterError> {
        self.shared.link.numsub(&self.public, self.sharded()).await
    }

    async fn persist_session(&self, session: PersistedSession) -> Result<(), AdapterError> {
        self.persist(session).await
    }

    async fn restore_session(
        &self,
        pid: &str,
        offset: &str,
    ) -> Result<Option<RestoredSession>, AdapterError> {
        self.restore(pid, offset).await
    }
}

impl StreamsAdapter {
    /// The other nodes' sockets targeted by `opts`, with the request timeout unless `opts`
    /// has its own.
    async fn fetch_remote(&self, opts: BroadcastOptions) -> Result<Vec<SocketInfo>, AdapterError> {
        let timeout = opts
            .flags
            .timeout
            .unwrap_or(self.shared.config.request_timeout);
        self.ask_fetch_sockets(opts, timeout).await
    }
}
