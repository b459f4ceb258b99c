//! The streams adapter of one namespace (see the [module docs](super)): the adapter itself and
//! the entries it writes.

mod operations;
mod responder;
mod sessions;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::{Mutex, ReentrantMutex};
use socketio_parser::{Packet, PacketType, Value};

use super::live::Live;
use super::wire::{self, StreamId};
use super::Shared;
use crate::redis::cluster::NodeCore;
use crate::redis::connection::{HandlerGuard, MessageHandler};
use crate::redis::messages::{random_id, ClusterRequest};
use crate::redis::sharded;
use crate::{
    AdapterContext, AdapterError, BroadcastOptions, LocalAdapter, RecoveryConfig, Room, Sid,
};

/// A session restored by this node whose socket has not joined yet: the entries dispatched
/// meanwhile that target it are held here, so it gets them exactly once.
struct PendingRestore {
    rooms: Vec<Room>,
    /// The client's offset: only entries after it are held.
    after: StreamId,
    held: Vec<Vec<Value>>,
    since: Instant,
}

#[derive(Default)]
struct Dispatch {
    /// The last entry of this namespace handed to the local sockets.
    last: Option<StreamId>,
    pending: HashMap<Sid, PendingRestore>,
}

/// The streams adapter of one namespace.
pub struct StreamsAdapter {
    local: LocalAdapter,
    recovery: Option<RecoveryConfig>,
    pub(crate) shared: Arc<Shared>,
    uid: String,
    nsp: String,
    stream: String,
    public: String,
    private: String,
    core: NodeCore,
    /// Held while an entry is dispatched, so a restore sees a consistent position. Reentrant:
    /// a delivery may disconnect a slow socket, which calls back into `del_all` on this thread.
    dispatch: ReentrantMutex<RefCell<Dispatch>>,
    live: Option<Live>,
    guard: Mutex<Option<HandlerGuard>>,
    this: Weak<StreamsAdapter>,
}

impl std::fmt::Debug for StreamsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsAdapter")
            .field("uid", &self.uid)
            .field("nsp", &self.nsp)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl StreamsAdapter {
    pub(crate) fn new(ctx: AdapterContext, shared: Arc<Shared>) -> Arc<Self> {
        let nsp = ctx.name.to_string();
        let uid = random_id(12);
        let recovery = ctx.recovery.clone();
        let prefix = &shared.config.channel_prefix;
        let public = format!("{prefix}#{nsp}#");
        let private = format!("{public}{uid}#");
        let stream = shared.config.stream_for(&nsp);
        let live = match (&recovery, shared.config.live_sessions) {
            (Some(r), Some(refresh)) => Some(Live::new(refresh, r.max_disconnection_duration)),
            _ => None,
        };
        // The local half keeps no sessions: they live in Redis.
        let local_ctx = AdapterContext {
            recovery: None,
            ..ctx
        };
        let adapter = Arc::new_cyclic(|this| StreamsAdapter {
            local: LocalAdapter::new(local_ctx),
            recovery,
            shared: shared.clone(),
            uid,
            nsp,
            stream,
            public,
            private,
            core: NodeCore::new(shared.config.request_timeout),
            dispatch: ReentrantMutex::new(RefCell::new(Dispatch::default())),
            live,
            guard: Mutex::new(None),
            this: this.clone(),
        });
        let weak: Weak<dyn MessageHandler> = adapter.this.clone();
        *adapter.guard.lock() = Some(shared.link.register(weak));
        if adapter.live.is_some() {
            tokio::spawn(super::live::run(adapter.this.clone()));
        }
        adapter
    }

    /// This node's uid in the cluster messages.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The namespace.
    pub fn nsp(&self) -> &str {
        &self.nsp
    }

    /// The stream this namespace's entries go to.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// How many live sockets of this node have their session record kept in Redis.
    pub fn live_sessions(&self) -> usize {
        self.live.as_ref().map_or(0, Live::len)
    }

    fn sharded(&self) -> bool {
        self.shared.config.use_sharded_pubsub
    }

    /// With recovery on, this node delivers its own broadcasts when it reads them back, so its
    /// sockets see every broadcast in stream order and with its offset.
    fn delivers_own(&self) -> bool {
        self.recovery.is_some()
    }

    /// Appends the offset to an `EVENT` without ack that is not volatile (the reference's
    /// `addOffsetIfNecessary`); returns whether it did.
    fn add_offset(&self, packet: &mut Packet, opts: &BroadcastOptions, id: StreamId) -> bool {
        if self.recovery.is_none()
            || packet.kind != PacketType::Event
            || packet.id.is_some()
            || opts.flags.volatile
        {
            return false;
        }
        match &mut packet.data {
            Some(Value::Array(data)) => {
                data.push(Value::String(id.to_string()));
                true
            }
            _ => false,
        }
    }

    pub(super) fn entry_fields(
        &self,
        request: &ClusterRequest,
    ) -> Option<Vec<(&'static str, bytes::Bytes)>> {
        let (ty, data, _) = sharded::request_parts(request)?;
        Some(self.fields(ty, data))
    }

    /// The entry of a broadcast, without building a [`ClusterRequest`] (no packet copy).
    pub(super) fn broadcast_fields(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
    ) -> Vec<(&'static str, bytes::Bytes)> {
        self.fields(
            sharded::MessageType::Broadcast,
            sharded::broadcast_data(packet, opts),
        )
    }

    pub(super) fn fields(
        &self,
        ty: sharded::MessageType,
        mut data: Value,
    ) -> Vec<(&'static str, bytes::Bytes)> {
        wire::strip_packet_nsp(&mut data);
        wire::entry_fields(
            &self.uid,
            &self.nsp,
            ty,
            Some(&data),
            self.shared.config.only_plaintext,
        )
    }

    pub(super) async fn xadd(&self, request: &ClusterRequest) -> Result<String, AdapterError> {
        let fields = self
            .entry_fields(request)
            .ok_or(AdapterError::Unsupported("request in the streams format"))?;
        self.shared.xadd(self.stream.clone(), fields).await
    }

    pub(super) fn ephemeral(&self, request: &ClusterRequest) -> Result<bytes::Bytes, AdapterError> {
        let (ty, data, _) = sharded::request_parts(request)
            .ok_or(AdapterError::Unsupported("request in the streams format"))?;
        Ok(wire::encode_ephemeral(&self.uid, &self.nsp, ty, data))
    }
}
