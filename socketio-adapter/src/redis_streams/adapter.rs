//! The streams adapter of one namespace (see the [module docs](super)).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::{Mutex, ReentrantMutex};
use redis::Value as RedisValue;
use socketio_parser::{Packet, PacketType, Value};
use tokio::sync::mpsc;

use super::live::{Live, LiveSource};
use super::reader::parse_entries;
use super::wire::{self, StreamId};
use super::{Shared, XAddJob};
use crate::redis::connection::{HandlerGuard, Incoming, MessageHandler};
use crate::redis::messages::{random_id, ClusterRequest, ClusterResponse};
use crate::redis::sharded;
use crate::{
    Adapter, AdapterContext, AdapterError, BroadcastAckEvent, BroadcastAckSink, BroadcastOptions,
    LocalAdapter, PersistedSession, RecoveryConfig, RemoteCommand, RestoredSession, Room, Sid,
    SocketInfo,
};

/// Entries read per `XRANGE` while replaying.
const REPLAY_PAGE: usize = 1000;

/// How long a restored session waits for its socket to join before it is forgotten.
const PENDING_RESTORE_TTL: Duration = Duration::from_secs(30);

/// Ack ids given to broadcasts requested by other nodes start here, far above the ids the
/// namespace hands out itself (same reasoning as the pub/sub Redis adapter).
const REMOTE_ACK_ID_BASE: u64 = 1 << 40;

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
    requests: Mutex<HashMap<String, mpsc::Sender<ClusterResponse>>>,
    ack_requests: Mutex<HashMap<String, BroadcastAckSink>>,
    next_ack_id: AtomicU64,
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
            requests: Mutex::new(HashMap::new()),
            ack_requests: Mutex::new(HashMap::new()),
            next_ack_id: AtomicU64::new(REMOTE_ACK_ID_BASE),
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

    // ----- writing -----

    fn entry_fields(&self, request: &ClusterRequest) -> Option<Vec<(&'static str, bytes::Bytes)>> {
        let (ty, data, _) = sharded::request_parts(request)?;
        Some(self.fields(ty, data))
    }

    /// The entry of a broadcast, without building a [`ClusterRequest`] (no packet copy).
    fn broadcast_fields(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
    ) -> Vec<(&'static str, bytes::Bytes)> {
        self.fields(
            sharded::MessageType::Broadcast,
            sharded::broadcast_data(packet, opts),
        )
    }

    fn fields(
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

    async fn xadd(&self, request: &ClusterRequest) -> Result<String, AdapterError> {
        let fields = self
            .entry_fields(request)
            .ok_or(AdapterError::Unsupported("request in the streams format"))?;
        self.shared.xadd(self.stream.clone(), fields).await
    }

    fn ephemeral(&self, request: &ClusterRequest) -> Result<bytes::Bytes, AdapterError> {
        let (ty, data, _) = sharded::request_parts(request)
            .ok_or(AdapterError::Unsupported("request in the streams format"))?;
        Ok(wire::encode_ephemeral(&self.uid, &self.nsp, ty, data))
    }

    /// Sends a response to node `requester` on its own channel.
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

    /// Publishes an ephemeral request and waits for `expected` answers (or the timeout).
    async fn request(
        &self,
        request_id: &str,
        request: ClusterRequest,
        expected: usize,
        timeout: Duration,
    ) -> Result<Vec<ClusterResponse>, AdapterError> {
        let (tx, mut rx) = mpsc::channel(expected.max(1));
        self.requests.lock().insert(request_id.to_owned(), tx);
        struct Cleanup<'a>(&'a StreamsAdapter, &'a str);
        impl Drop for Cleanup<'_> {
            fn drop(&mut self) {
                self.0.requests.lock().remove(self.1);
            }
        }
        let _cleanup = Cleanup(self, request_id);
        let bytes = self.ephemeral(&request)?;
        self.shared
            .link
            .publish(&self.public, bytes, self.sharded())
            .await?;
        let mut responses = Vec::with_capacity(expected);
        let deadline = tokio::time::Instant::now() + timeout;
        while responses.len() < expected {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => responses.push(r),
                Ok(None) | Err(_) => {
                    return Err(AdapterError::Timeout {
                        received: responses.len(),
                        expected,
                    })
                }
            }
        }
        Ok(responses)
    }

    async fn other_nodes(&self) -> Result<usize, AdapterError> {
        Ok(self.server_count().await?.saturating_sub(1))
    }

    async fn fetch_remote(&self, opts: BroadcastOptions) -> Result<Vec<SocketInfo>, AdapterError> {
        let others = self.other_nodes().await?;
        if others == 0 {
            return Ok(Vec::new());
        }
        let timeout = opts
            .flags
            .timeout
            .unwrap_or(self.shared.config.request_timeout);
        let request_id = random_id(12);
        let request = ClusterRequest::FetchSockets {
            request_id: request_id.clone(),
            opts,
        };
        let mut sockets = Vec::new();
        for r in self.request(&request_id, request, others, timeout).await? {
            if let ClusterResponse::FetchSockets { sockets: s, .. } = r {
                sockets.extend(s);
            }
        }
        Ok(sockets)
    }

    // ----- reading -----

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

    fn on_response(&self, response: ClusterResponse) {
        match response {
            ClusterResponse::BroadcastClientCount {
                request_id,
                client_count,
            } => {
                if let Some(sink) = self.ack_requests.lock().get(&request_id) {
                    sink.client_count(usize::try_from(client_count).unwrap_or(usize::MAX));
                }
            }
            ClusterResponse::BroadcastAck { request_id, packet } => {
                if let Some(sink) = self.ack_requests.lock().get(&request_id) {
                    sink.ack(vec![packet]);
                }
            }
            other => {
                if let Some(tx) = self.requests.lock().get(other.request_id()) {
                    // A full channel means more answers than nodes were counted.
                    let _ = tx.try_send(other);
                }
            }
        }
    }

    // ----- recovery -----

    async fn xrange(
        &self,
        start: &str,
        end: &str,
        count: usize,
    ) -> Result<Vec<(StreamId, wire::RawEntry)>, AdapterError> {
        let reply: RedisValue = redis::cmd("XRANGE")
            .arg(&self.stream)
            .arg(start)
            .arg(end)
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.shared.conn.clone())
            .await
            .map_err(|e| AdapterError::Unavailable(format!("redis: {e}")))?;
        Ok(parse_entries(reply))
    }

    /// The payloads of the entries after `offset` up to `end` (inclusive) that target a socket
    /// in `rooms`; `None` when `offset` is no longer in the stream or entries were trimmed
    /// while they were being read (the replay would not be whole).
    async fn replay(
        &self,
        offset: StreamId,
        end: Option<StreamId>,
        rooms: &[Room],
    ) -> Result<Option<Vec<Vec<Value>>>, AdapterError> {
        let end_arg = end.map_or_else(|| "+".to_owned(), |e| e.to_string());
        if end.is_some_and(|e| e < offset) {
            // This node has not dispatched the client's offset yet: nothing to replay, what
            // follows is held or delivered live. The offset must still exist.
            let found = self
                .xrange(&offset.to_string(), &offset.to_string(), 1)
                .await?;
            return Ok((!found.is_empty()).then(Vec::new));
        }
        let mut missed = Vec::new();
        let mut start = offset;
        let mut first = true;
        loop {
            let page = self
                .xrange(&start.to_string(), &end_arg, REPLAY_PAGE)
                .await?;
            if first {
                // The client's own offset opens the first page, or it was trimmed.
                if page.first().map(|(id, _)| *id) != Some(offset) {
                    return Ok(None);
                }
            }
            let full = page.len() == REPLAY_PAGE;
            let mut last = start;
            for (id, entry) in page {
                last = id;
                if id <= offset {
                    continue;
                }
                if let Some(data) = self.replayable(id, &entry, rooms) {
                    missed.push(data);
                }
            }
            if !full {
                break;
            }
            let Some(next) = last.next() else { break };
            start = next;
            first = false;
        }
        if !first {
            // Trimming only removes the oldest entries: if the stream still begins at or before
            // the start of the last page read, no page lost an entry before it was read.
            let head = self.xrange("-", "+", 1).await?;
            if head.first().is_none_or(|(id, _)| *id > start) {
                return Ok(None);
            }
        }
        Ok(Some(missed))
    }

    /// An entry's payload with its offset when it is a broadcast a socket in `rooms` would have
    /// received (and that the reference would have given an offset).
    fn replayable(
        &self,
        id: StreamId,
        entry: &wire::RawEntry,
        rooms: &[Room],
    ) -> Option<Vec<Value>> {
        if entry.nsp.as_deref() != Some(self.nsp.as_str()) || entry.ty.as_deref() != Some("3") {
            return None;
        }
        let envelope = entry.decode().ok()?;
        let sharded::Incoming::Request(ClusterRequest::Broadcast { mut packet, opts }) =
            envelope.message
        else {
            return None;
        };
        if !opts.matches_rooms(rooms.iter()) || !self.add_offset(&mut packet, &opts, id) {
            return None;
        }
        match packet.data {
            Some(Value::Array(data)) => Some(data),
            _ => None,
        }
    }

    /// Sends the entries held for a restored socket that joined after its restore returned.
    fn deliver_late(&self, sid: &Sid, held: Vec<Vec<Value>>) {
        let Some(ns) = self.local.namespace() else {
            return;
        };
        let sid = sid.clone();
        let nsp = self.nsp.clone();
        // After the server's CONNECT reply and replay, which follow the join synchronously.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            for data in held {
                let packet = Packet {
                    data: Some(Value::Array(data)),
                    ..Packet::new(PacketType::Event, nsp.as_str())
                };
                let _ = ns.deliver(&sid, &ns.encode(&packet), &Default::default());
            }
        });
    }
}

impl LiveSource for StreamsAdapter {
    fn live(&self) -> Option<&Live> {
        self.live.as_ref()
    }

    fn session_state(&self, sid: &str) -> Option<(Vec<Room>, Value)> {
        let rooms = self.local.socket_rooms_local(sid)?.into_iter().collect();
        let data = self
            .local
            .namespace()
            .and_then(|ns| ns.socket_info(sid))
            .map(|info| info.data)
            .unwrap_or_default();
        Some((rooms, data))
    }

    fn key_prefix(&self) -> &str {
        &self.shared.config.session_key_prefix
    }

    fn connection(&self) -> redis::aio::ConnectionManager {
        self.shared.conn.clone()
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
        let request_id = random_id(12);
        let mut remote = packet.clone();
        remote.id = None;
        let request = ClusterRequest::BroadcastWithAck {
            request_id: request_id.clone(),
            packet: remote,
            opts: opts.clone(),
        };
        self.ack_requests
            .lock()
            .insert(request_id.clone(), sink.clone());
        let published = self.ephemeral(&request).and_then(|bytes| {
            self.shared
                .link
                .publish_queued(self.public.clone(), bytes, self.sharded())
        });
        if published.is_err() {
            self.ack_requests.lock().remove(&request_id);
        } else {
            let this = self.this.clone();
            let timeout = opts
                .flags
                .timeout
                .unwrap_or(self.shared.config.request_timeout);
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                if let Some(this) = this.upgrade() {
                    this.ack_requests.lock().remove(&request_id);
                }
            });
        }
        published
    }

    async fn publish_command(&self, command: RemoteCommand) -> Result<(), AdapterError> {
        let request = match command {
            RemoteCommand::AddSockets { opts, rooms } => {
                ClusterRequest::SocketsJoin { opts, rooms }
            }
            RemoteCommand::DelSockets { opts, rooms } => {
                ClusterRequest::SocketsLeave { opts, rooms }
            }
            RemoteCommand::DisconnectSockets { opts, close } => {
                ClusterRequest::DisconnectSockets { opts, close }
            }
            RemoteCommand::ServerSideEmit { args } => {
                // A pub/sub message, not a stream entry.
                let bytes = self.ephemeral(&ClusterRequest::ServerSideEmit {
                    request_id: None,
                    data: args,
                })?;
                return self
                    .shared
                    .link
                    .publish(&self.public, bytes, self.sharded())
                    .await
                    .map(drop);
            }
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
        let others = self.other_nodes().await?;
        if others == 0 {
            return Ok(Vec::new());
        }
        let request_id = random_id(12);
        let request = ClusterRequest::ServerSideEmit {
            request_id: Some(request_id.clone()),
            data: args,
        };
        let responses = self.request(&request_id, request, others, timeout).await?;
        Ok(responses
            .into_iter()
            .filter_map(|r| match r {
                ClusterResponse::ServerSideEmit { data, .. } => Some(data),
                _ => None,
            })
            .collect())
    }

    async fn server_count(&self) -> Result<usize, AdapterError> {
        self.shared.link.numsub(&self.public, self.sharded()).await
    }

    async fn persist_session(&self, session: PersistedSession) -> Result<(), AdapterError> {
        // Synchronous part first: the live record must not be deleted by `del_all` after this.
        if let Some(live) = &self.live {
            live.persisted(&session.sid);
        }
        let Some(recovery) = &self.recovery else {
            return Ok(());
        };
        let ttl =
            u64::try_from(recovery.max_disconnection_duration.as_millis()).unwrap_or(u64::MAX);
        let key = wire::session_key(&self.shared.config.session_key_prefix, &session.pid);
        let record = wire::encode_session(&session);
        redis::cmd("SET")
            .arg(key)
            .arg(record)
            .arg("PX")
            .arg(ttl.max(1))
            .exec_async(&mut self.shared.conn.clone())
            .await
            .map_err(|e| AdapterError::Unavailable(format!("redis: {e}")))
    }

    async fn restore_session(
        &self,
        pid: &str,
        offset: &str,
    ) -> Result<Option<RestoredSession>, AdapterError> {
        if self.recovery.is_none() {
            return Ok(None);
        }
        let Some(offset) = StreamId::parse(offset) else {
            tracing::debug!(nsp = %self.nsp, "not restoring: the offset is not a stream id");
            return Ok(None);
        };
        if pid.is_empty() || pid.len() > 256 {
            return Ok(None);
        }
        let key = wire::session_key(&self.shared.config.session_key_prefix, pid);
        let (record, _): (Option<Vec<u8>>, i64) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(&key)
            .cmd("DEL")
            .arg(&key)
            .query_async(&mut self.shared.conn.clone())
            .await
            .map_err(|e| AdapterError::Unavailable(format!("redis: {e}")))?;
        let Some(record) = record else {
            return Ok(None);
        };
        let session = match wire::decode_session(&record, pid) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(nsp = %self.nsp, "refusing a session record: {e}");
                return Ok(None);
            }
        };
        if self.local.socket_rooms_local(&session.sid).is_some() {
            // A live socket of this node has that id: never two sockets with one id.
            return Ok(None);
        }
        // From here on, entries this node dispatches for the session are held for it, and
        // those dispatched before are replayed: together, each exactly once.
        let end = {
            let guard = self.dispatch.lock();
            let mut dispatch = guard.borrow_mut();
            let now = Instant::now();
            dispatch
                .pending
                .retain(|_, p| now.duration_since(p.since) < PENDING_RESTORE_TTL);
            if dispatch.pending.contains_key(&session.sid) {
                return Ok(None);
            }
            dispatch.pending.insert(
                session.sid.clone(),
                PendingRestore {
                    rooms: session.rooms.clone(),
                    after: offset,
                    held: Vec::new(),
                    since: now,
                },
            );
            dispatch.last.max(self.shared.reader_start(&self.stream))
        };
        let replayed = self.replay(offset, end, &session.rooms).await;
        let guard = self.dispatch.lock();
        let mut dispatch = guard.borrow_mut();
        let mut missed = match replayed {
            Ok(Some(missed)) => missed,
            Ok(None) => {
                dispatch.pending.remove(&session.sid);
                tracing::debug!(nsp = %self.nsp, "not restoring: the offset left the stream");
                return Ok(None);
            }
            Err(e) => {
                dispatch.pending.remove(&session.sid);
                return Err(e);
            }
        };
        if let Some(pending) = dispatch.pending.get_mut(&session.sid) {
            missed.append(&mut pending.held);
        }
        Ok(Some(RestoredSession {
            session,
            missed_packets: missed,
        }))
    }
}
