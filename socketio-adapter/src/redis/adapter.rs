//! The Redis adapter: every [`Adapter`] operation across the nodes of a cluster, speaking the
//! messages of npm `@socket.io/redis-adapter` 8.3 (classic pub/sub, or sharded pub/sub).
//!
//! Each namespace has its own [`RedisAdapter`]; all of them share the [`RedisLink`] of their
//! [`RedisAdapterFactory`]. The local half of every operation is an [`InMemoryAdapter`]; the
//! adapter publishes what other nodes must do and answers what they ask.
//!
//! Behaviour that follows the reference:
//! - a broadcast is delivered to the local sockets at once and published for the others (never
//!   when `flags.local` is set);
//! - requests that wait for answers (`fetch_sockets`, `sockets`, `all_rooms`,
//!   `server_side_emit_with_ack`) count the nodes with `PUBSUB NUMSUB` (`SHARDNUMSUB` in sharded
//!   mode) and wait for one answer per other node, up to the request timeout (5 s by default);
//! - a node ignores its own messages (same uid) and answers a broadcast with acknowledgements
//!   with its client count, then each client's reply.
//!
//! While Redis is unreachable, local delivery keeps working and every operation that needs Redis
//! fails at once with [`AdapterError::Unavailable`]; the link reconnects and resubscribes by
//! itself.
//!
//! Connection state recovery: each node keeps the sessions of its own sockets and every
//! broadcast it delivers (from any node, with an offset appended as the reference's cluster
//! adapter does), so a client that reconnects to the *same* node recovers, missed broadcasts
//! from every node included. Sessions are not shared through Redis: a client that lands on
//! another node starts a new session. The reference's Redis adapters (classic and sharded) do
//! not support recovery at all (its docs list only the in-memory, Redis Streams, MongoDB and
//! Postgres adapters); with sticky sessions ours does. One limit: in sharded *dynamic* mode a
//! node unsubscribes from a room's channel when its last local member leaves, so broadcasts to
//! that one room sent while the member is away are not stored (use classic or static mode with
//! recovery).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use socketio_parser::{Packet, Value};
use tokio::sync::mpsc;

use super::classic::{self, RequestType};
use super::connection::{
    client_for, HandlerGuard, Incoming, LinkConfig, MessageHandler, RedisLink,
};
use super::messages::{random_id, ClusterRequest, ClusterResponse};
use super::sharded::{self, SubscriptionMode};
use crate::{
    Adapter, AdapterContext, AdapterError, AdapterFactory, BroadcastAckEvent, BroadcastAckSink,
    BroadcastOptions, InMemoryAdapter, PersistedSession, RestoredSession, Room, Sid, SocketInfo,
};

/// The reference's default request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_millis(5000);

/// Which Redis pub/sub flavour the cluster uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisMode {
    /// Classic pub/sub (`PUBLISH`/`PSUBSCRIBE`): npm `createAdapter`.
    #[default]
    Classic,
    /// Redis 7 sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`): npm `createShardedAdapter`.
    Sharded(SubscriptionMode),
}

/// Settings of the Redis adapter (same names and defaults as the reference's options).
///
/// ```
/// use std::time::Duration;
/// use socketio_adapter::redis::{RedisAdapterConfig, RedisMode};
///
/// let config = RedisAdapterConfig::default()
///     .key("myapp")
///     .request_timeout(Duration::from_secs(2))
///     .mode(RedisMode::Classic);
/// assert_eq!(config.key_prefix(), "myapp");
/// ```
#[derive(Debug, Clone)]
pub struct RedisAdapterConfig {
    key: String,
    request_timeout: Duration,
    publish_on_specific_response_channel: bool,
    mode: RedisMode,
    link: LinkConfig,
}

impl Default for RedisAdapterConfig {
    fn default() -> Self {
        RedisAdapterConfig {
            key: "socket.io".to_owned(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            publish_on_specific_response_channel: false,
            mode: RedisMode::Classic,
            link: LinkConfig::default(),
        }
    }
}

impl RedisAdapterConfig {
    /// The key prefix of every channel (option `key`, or `channelPrefix` in sharded mode).
    /// Default `socket.io`.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// The key prefix in use.
    pub fn key_prefix(&self) -> &str {
        &self.key
    }

    /// How long a request waits for the other nodes (option `requestsTimeout`). Default 5 s.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Answer requests on the requester's own response channel (option
    /// `publishOnSpecificResponseChannel`). Default off. Classic mode only.
    #[must_use]
    pub fn publish_on_specific_response_channel(mut self, on: bool) -> Self {
        self.publish_on_specific_response_channel = on;
        self
    }

    /// Classic or sharded pub/sub. Default classic.
    #[must_use]
    pub fn mode(mut self, mode: RedisMode) -> Self {
        self.mode = mode;
        self
    }

    /// Connection timeouts and retry pacing of the Redis link.
    #[must_use]
    pub fn link(mut self, link: LinkConfig) -> Self {
        self.link = link;
        self
    }
}

/// Creates the [`RedisAdapter`] of every namespace, all sharing one Redis link.
///
/// ```no_run
/// # async fn demo() -> Result<(), redis::RedisError> {
/// use socketio_adapter::redis::{RedisAdapterConfig, RedisAdapterFactory};
///
/// let factory = RedisAdapterFactory::connect("redis://127.0.0.1:6379", RedisAdapterConfig::default()).await?;
/// // give `factory` to the server builder as its adapter factory
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisAdapterFactory {
    link: RedisLink,
    config: Arc<RedisAdapterConfig>,
}

impl RedisAdapterFactory {
    /// Connects to Redis at `url` (`redis://host:port[/db]`).
    pub async fn connect(url: &str, config: RedisAdapterConfig) -> Result<Self, redis::RedisError> {
        let client = client_for(url)?;
        let link = RedisLink::connect(client, config.link.clone()).await?;
        Ok(RedisAdapterFactory {
            link,
            config: Arc::new(config),
        })
    }

    /// The shared Redis link (e.g. to check [`RedisLink::is_up`]).
    pub fn link(&self) -> &RedisLink {
        &self.link
    }
}

impl AdapterFactory for RedisAdapterFactory {
    fn create(&self, ctx: AdapterContext) -> Arc<dyn Adapter> {
        RedisAdapter::new(ctx, self.link.clone(), self.config.clone())
    }
}

/// A request waiting for the answers of other nodes.
struct Pending {
    ty: RequestType,
    tx: mpsc::Sender<ClusterResponse>,
}

/// The Redis adapter of one namespace.
pub struct RedisAdapter {
    local: InMemoryAdapter,
    link: RedisLink,
    config: Arc<RedisAdapterConfig>,
    uid: String,
    nsp: String,
    classic: classic::Channels,
    /// `prefix-response#nsp#<uid>#`, computed once (checked for every message).
    specific_response: String,
    sharded: sharded::Channels,
    requests: Mutex<HashMap<String, Pending>>,
    ack_requests: Mutex<HashMap<String, BroadcastAckSink>>,
    next_ack_id: AtomicU64,
    /// Sharded dynamic mode: rooms whose channel subscription may have to change, handled in
    /// order by one task (so a room deleted and created again ends up subscribed).
    room_sync: Option<mpsc::UnboundedSender<Room>>,
    guard: Mutex<Option<HandlerGuard>>,
    this: Weak<RedisAdapter>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("uid", &self.uid)
            .field("nsp", &self.nsp)
            .field("mode", &self.config.mode)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Ack ids this adapter gives to broadcasts requested by other nodes start here, far above the
/// ids the namespace hands out itself, so the two never collide on a socket (JavaScript clients
/// handle ids up to 2^53 exactly).
const REMOTE_ACK_ID_BASE: u64 = 1 << 40;

impl RedisAdapter {
    /// Creates the adapter of the namespace of `ctx` on `link`.
    pub fn new(ctx: AdapterContext, link: RedisLink, config: Arc<RedisAdapterConfig>) -> Arc<Self> {
        let nsp = ctx.name.to_string();
        let uid = random_id(12);
        let classic = classic::Channels::new(&config.key, &nsp);
        let dynamic = match config.mode {
            RedisMode::Sharded(SubscriptionMode::Dynamic) => Some(false),
            RedisMode::Sharded(SubscriptionMode::DynamicPrivate) => Some(true),
            _ => None,
        };
        let (room_sync, room_sync_rx) = match dynamic {
            Some(_) => {
                let (tx, rx) = mpsc::unbounded_channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let adapter = Arc::new_cyclic(|this| RedisAdapter {
            local: InMemoryAdapter::new(ctx),
            specific_response: classic.specific_response(&uid),
            classic,
            sharded: sharded::Channels::new(&config.key, &nsp),
            link: link.clone(),
            config,
            uid,
            nsp,
            requests: Mutex::new(HashMap::new()),
            ack_requests: Mutex::new(HashMap::new()),
            next_ack_id: AtomicU64::new(REMOTE_ACK_ID_BASE),
            room_sync,
            guard: Mutex::new(None),
            this: this.clone(),
        });
        let weak: Weak<dyn MessageHandler> = adapter.this.clone();
        *lock(&adapter.guard) = Some(link.register(weak));
        if let (Some(rx), Some(private)) = (room_sync_rx, dynamic) {
            tokio::spawn(sync_room_channels(adapter.this.clone(), rx, private));
        }
        adapter
    }

    /// This node's uid in the cluster messages.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The in-memory adapter holding this node's sockets and rooms.
    pub fn local(&self) -> &InMemoryAdapter {
        &self.local
    }

    fn sharded_mode(&self) -> Option<SubscriptionMode> {
        match self.config.mode {
            RedisMode::Classic => None,
            RedisMode::Sharded(mode) => Some(mode),
        }
    }

    // ----- publishing -----

    /// Encodes a request and gives its channel (classic: request channel, or broadcast
    /// channel for a plain broadcast; sharded: main or room channel).
    fn encode_request(&self, request: &ClusterRequest) -> Option<(String, Bytes)> {
        match self.sharded_mode() {
            None => match request {
                ClusterRequest::Broadcast { packet, opts } => Some((
                    self.classic.for_broadcast(opts),
                    classic::encode_broadcast(&self.uid, packet, opts),
                )),
                _ => Some((
                    self.classic.request.clone(),
                    classic::encode_request(Some(&self.uid), request),
                )),
            },
            Some(mode) => {
                let bytes = sharded::encode_request(&self.uid, &self.nsp, request)?;
                Some((self.sharded.for_request(request, mode), bytes))
            }
        }
    }

    fn publish_queued(&self, request: &ClusterRequest) -> Result<(), AdapterError> {
        let (channel, bytes) = self
            .encode_request(request)
            .ok_or(AdapterError::Unsupported("request in sharded mode"))?;
        self.link
            .publish_queued(channel, bytes, self.sharded_mode().is_some())
    }

    async fn publish_now(&self, request: &ClusterRequest) -> Result<(), AdapterError> {
        let (channel, bytes) = self
            .encode_request(request)
            .ok_or(AdapterError::Unsupported("request in sharded mode"))?;
        self.link
            .publish(&channel, bytes, self.sharded_mode().is_some())
            .await
            .map(drop)
    }

    /// Sends a response to node `requester` (queued, in order with every other message).
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

    /// Publishes a request and waits for `expected` answers (or the timeout).
    async fn request(
        &self,
        request_id: &str,
        ty: RequestType,
        request: ClusterRequest,
        expected: usize,
        timeout: Duration,
    ) -> Result<Vec<ClusterResponse>, AdapterError> {
        let (tx, mut rx) = mpsc::channel(expected.max(1));
        lock(&self.requests).insert(request_id.to_owned(), Pending { ty, tx });
        // Removes the pending entry however this function ends (error, timeout, cancellation).
        struct Cleanup<'a>(&'a RedisAdapter, &'a str);
        impl Drop for Cleanup<'_> {
            fn drop(&mut self) {
                lock(&self.0.requests).remove(self.1);
            }
        }
        let _cleanup = Cleanup(self, request_id);
        self.publish_now(&request).await?;
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

    // ----- sharded dynamic room channels -----

    /// In sharded dynamic mode, asks the room-channel task to bring the subscriptions of
    /// `rooms` in line with the rooms that exist now.
    fn sync_room_channels(&self, rooms: impl IntoIterator<Item = Room>) {
        if let Some(tx) = &self.room_sync {
            for room in rooms {
                let _ = tx.send(room);
            }
        }
    }

    // ----- incoming -----

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
                Ok((uid, request)) => self.on_request(uid.as_deref(), request),
                Err(e) => tracing::debug!(nsp = %self.nsp, "ignoring a request: {e}"),
            }
        } else if msg.channel == self.classic.response || msg.channel == self.specific_response {
            let decoded = classic::decode_response(&msg.payload, |id| {
                lock(&self.requests).get(id).map(|p| p.ty)
            });
            match decoded {
                Ok(Some(response)) => self.on_response(response),
                Ok(None) => {}
                Err(e) => tracing::debug!(nsp = %self.nsp, "ignoring a response: {e}"),
            }
        }
    }

    fn on_sharded(&self, msg: &Incoming) {
        if !msg.channel.starts_with(self.sharded.main.as_str()) {
            return;
        }
        let envelope = match sharded::decode(&msg.payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(nsp = %self.nsp, "ignoring a sharded message: {e}");
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

    fn on_request(&self, uid: Option<&str>, request: ClusterRequest) {
        let from_self = uid == Some(self.uid.as_str());
        match request {
            ClusterRequest::Broadcast { mut packet, opts } => {
                if !from_self && packet.nsp == self.nsp {
                    self.local.store_for_recovery(&mut packet, &opts);
                    self.local.broadcast_local(&packet, &opts);
                }
            }
            ClusterRequest::BroadcastWithAck {
                request_id,
                packet,
                opts,
            } => {
                if from_self || lock(&self.ack_requests).contains_key(&request_id) {
                    return;
                }
                self.answer_broadcast_with_ack(uid, request_id, packet, opts);
            }
            ClusterRequest::Sockets { request_id, rooms } => {
                if lock(&self.requests).contains_key(&request_id) {
                    return;
                }
                let sockets = self.local.sockets_local(&rooms).into_iter().collect();
                self.respond(
                    uid,
                    &ClusterResponse::Sockets {
                        request_id,
                        sockets,
                    },
                );
            }
            ClusterRequest::AllRooms { request_id } => {
                if lock(&self.requests).contains_key(&request_id) {
                    return;
                }
                let rooms = self.local.all_rooms_local().into_iter().collect();
                self.respond(uid, &ClusterResponse::AllRooms { request_id, rooms });
            }
            ClusterRequest::SocketsJoin { opts, rooms } => {
                if !from_self {
                    self.add_sockets_local(&opts, &rooms);
                }
            }
            ClusterRequest::SocketsLeave { opts, rooms } => {
                if !from_self {
                    self.del_sockets_local(&opts, &rooms);
                }
            }
            ClusterRequest::DisconnectSockets { opts, close } => {
                if !from_self {
                    self.local.disconnect_sockets_local(&opts, close);
                }
            }
            ClusterRequest::RemoteJoin {
                request_id,
                sid,
                room,
            } => {
                if self.local.socket_rooms(&sid).is_none() {
                    return;
                }
                self.add_all(&Sid::from(sid.as_str()), &[room]);
                if let Some(request_id) = request_id {
                    self.respond(uid, &ClusterResponse::Done { request_id });
                }
            }
            ClusterRequest::RemoteLeave {
                request_id,
                sid,
                room,
            } => {
                if self.local.socket_rooms(&sid).is_none() {
                    return;
                }
                self.del(&sid, &room);
                if let Some(request_id) = request_id {
                    self.respond(uid, &ClusterResponse::Done { request_id });
                }
            }
            ClusterRequest::RemoteDisconnect {
                request_id,
                sid,
                close,
            } => {
                if self.local.socket_rooms(&sid).is_none() {
                    return;
                }
                if let Some(ns) = self.local.namespace() {
                    ns.disconnect(&sid, close);
                }
                if let Some(request_id) = request_id {
                    self.respond(uid, &ClusterResponse::Done { request_id });
                }
            }
            ClusterRequest::FetchSockets { request_id, opts } => {
                if lock(&self.requests).contains_key(&request_id) {
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
                if from_self {
                    return;
                }
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
        }
    }

    /// Delivers another node's broadcast with acknowledgements to the local sockets, reports
    /// the client count, then relays each client's reply.
    fn answer_broadcast_with_ack(
        &self,
        requester: Option<&str>,
        request_id: String,
        mut packet: Packet,
        opts: BroadcastOptions,
    ) {
        if packet.nsp != self.nsp {
            return;
        }
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
        let timeout = opts.flags.timeout.unwrap_or(self.config.request_timeout);
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
                if let Some(sink) = lock(&self.ack_requests).get(&request_id) {
                    sink.client_count(usize::try_from(client_count).unwrap_or(usize::MAX));
                }
            }
            ClusterResponse::BroadcastAck { request_id, packet } => {
                if let Some(sink) = lock(&self.ack_requests).get(&request_id) {
                    sink.ack(vec![packet]);
                }
            }
            other => {
                let requests = lock(&self.requests);
                if let Some(pending) = requests.get(other.request_id()) {
                    // A full channel means more answers than nodes were counted: extra ones
                    // are dropped.
                    let _ = pending.tx.try_send(other);
                }
            }
        }
    }

    fn add_sockets_local(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for sid in self.local.local_recipients(opts) {
            self.add_all(&sid, rooms);
        }
    }

    fn del_sockets_local(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for sid in self.local.local_recipients(opts) {
            for room in rooms {
                self.del(&sid, room);
            }
        }
    }
}

impl MessageHandler for RedisAdapter {
    fn on_message(&self, message: &Incoming) {
        match self.sharded_mode() {
            None => self.on_classic(message),
            Some(_) => self.on_sharded(message),
        }
    }
}

#[async_trait]
impl Adapter for RedisAdapter {
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
        lock(&self.guard).take();
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
        self.local.add_all(sid, rooms);
        self.sync_room_channels(new);
    }

    fn del(&self, sid: &str, room: &str) {
        self.local.del(sid, room);
        if self.room_sync.is_some() && self.local.with_index(|idx| idx.room(room).is_none()) {
            self.sync_room_channels([Room::from(room)]);
        }
    }

    fn del_all(&self, sid: &str) {
        let rooms: Vec<Room> = self
            .local
            .socket_rooms(sid)
            .map(|r| r.into_iter().collect())
            .unwrap_or_default();
        self.local.del_all(sid);
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

    fn socket_rooms(&self, sid: &str) -> Option<HashSet<Room>> {
        self.local.socket_rooms(sid)
    }

    fn broadcast(&self, mut packet: Packet, opts: BroadcastOptions) -> Result<(), AdapterError> {
        packet.nsp.clone_from(&self.nsp);
        let published = if opts.flags.local {
            Ok(())
        } else {
            // Published before the offset for recovery is added: the other nodes do not keep
            // sessions for this node's sockets (see the module docs).
            let (channel, bytes) = match self.sharded_mode() {
                None => (
                    self.classic.for_broadcast(&opts),
                    classic::encode_broadcast(&self.uid, &packet, &opts),
                ),
                Some(mode) => (
                    self.sharded.for_broadcast(&opts, mode),
                    sharded::encode_broadcast(&self.uid, &self.nsp, &packet, &opts),
                ),
            };
            self.link
                .publish_queued(channel, bytes, self.sharded_mode().is_some())
        };
        self.local.store_for_recovery(&mut packet, &opts);
        self.local.broadcast_local(&packet, &opts);
        published
    }

    fn broadcast_with_ack(
        &self,
        mut packet: Packet,
        opts: BroadcastOptions,
        sink: BroadcastAckSink,
    ) -> Result<(), AdapterError> {
        packet.nsp.clone_from(&self.nsp);
        let mut published = Ok(());
        if !opts.flags.local {
            let request_id = random_id(12);
            // Each node gives the packet its own ack id.
            let mut remote = packet.clone();
            remote.id = None;
            let request = ClusterRequest::BroadcastWithAck {
                request_id: request_id.clone(),
                packet: remote,
                opts: opts.clone(),
            };
            lock(&self.ack_requests).insert(request_id.clone(), sink.clone());
            published = self.publish_queued(&request);
            if published.is_err() {
                lock(&self.ack_requests).remove(&request_id);
            } else {
                // As in the reference, the answers are awaited for the ack timeout, then
                // forgotten.
                let this = self.this.clone();
                let timeout = opts.flags.timeout.unwrap_or(self.config.request_timeout);
                tokio::spawn(async move {
                    tokio::time::sleep(timeout).await;
                    if let Some(this) = this.upgrade() {
                        lock(&this.ack_requests).remove(&request_id);
                    }
                });
            }
        }
        let count = self.local.broadcast_with_ack_local(&packet, &opts, &sink);
        sink.client_count(count);
        published
    }

    async fn sockets(&self, rooms: HashSet<Room>) -> Result<HashSet<Sid>, AdapterError> {
        let mut sockets = self.local.sockets_local(&rooms);
        let others = self.other_nodes().await?;
        if others == 0 {
            return Ok(sockets);
        }
        let request_id = random_id(12);
        if self.sharded_mode().is_some() {
            // The sharded format has no SOCKETS request: ask for the sockets themselves.
            let opts = BroadcastOptions {
                rooms,
                ..Default::default()
            };
            let request = ClusterRequest::FetchSockets {
                request_id: request_id.clone(),
                opts,
            };
            for r in self
                .request(
                    &request_id,
                    RequestType::RemoteFetch,
                    request,
                    others,
                    self.config.request_timeout,
                )
                .await?
            {
                if let ClusterResponse::FetchSockets { sockets: s, .. } = r {
                    sockets.extend(s.into_iter().map(|s| s.id));
                }
            }
            return Ok(sockets);
        }
        let request = ClusterRequest::Sockets {
            request_id: request_id.clone(),
            rooms,
        };
        for r in self
            .request(
                &request_id,
                RequestType::Sockets,
                request,
                others,
                self.config.request_timeout,
            )
            .await?
        {
            if let ClusterResponse::Sockets { sockets: s, .. } = r {
                sockets.extend(s);
            }
        }
        Ok(sockets)
    }

    async fn all_rooms(&self) -> Result<HashSet<Room>, AdapterError> {
        let mut rooms = self.local.all_rooms_local();
        let others = self.other_nodes().await?;
        if others == 0 {
            return Ok(rooms);
        }
        let request_id = random_id(12);
        if self.sharded_mode().is_some() {
            // No ALL_ROOMS in the sharded format: the rooms of every remote socket.
            let request = ClusterRequest::FetchSockets {
                request_id: request_id.clone(),
                opts: BroadcastOptions::default(),
            };
            for r in self
                .request(
                    &request_id,
                    RequestType::RemoteFetch,
                    request,
                    others,
                    self.config.request_timeout,
                )
                .await?
            {
                if let ClusterResponse::FetchSockets { sockets, .. } = r {
                    rooms.extend(sockets.into_iter().flat_map(|s| s.rooms));
                }
            }
            return Ok(rooms);
        }
        let request = ClusterRequest::AllRooms {
            request_id: request_id.clone(),
        };
        for r in self
            .request(
                &request_id,
                RequestType::AllRooms,
                request,
                others,
                self.config.request_timeout,
            )
            .await?
        {
            if let ClusterResponse::AllRooms { rooms: r, .. } = r {
                rooms.extend(r);
            }
        }
        Ok(rooms)
    }

    async fn fetch_sockets(&self, opts: BroadcastOptions) -> Result<Vec<SocketInfo>, AdapterError> {
        let mut sockets = self.local.fetch_sockets_local(&opts);
        if opts.flags.local {
            return Ok(sockets);
        }
        let others = self.other_nodes().await?;
        if others == 0 {
            return Ok(sockets);
        }
        let timeout = opts.flags.timeout.unwrap_or(self.config.request_timeout);
        let request_id = random_id(12);
        let request = ClusterRequest::FetchSockets {
            request_id: request_id.clone(),
            opts,
        };
        for r in self
            .request(
                &request_id,
                RequestType::RemoteFetch,
                request,
                others,
                timeout,
            )
            .await?
        {
            if let ClusterResponse::FetchSockets { sockets: s, .. } = r {
                sockets.extend(s);
            }
        }
        Ok(sockets)
    }

    async fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> Result<(), AdapterError> {
        self.add_sockets_local(&opts, &rooms);
        if opts.flags.local {
            return Ok(());
        }
        self.publish_now(&ClusterRequest::SocketsJoin { opts, rooms })
            .await
    }

    async fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> Result<(), AdapterError> {
        self.del_sockets_local(&opts, &rooms);
        if opts.flags.local {
            return Ok(());
        }
        self.publish_now(&ClusterRequest::SocketsLeave { opts, rooms })
            .await
    }

    async fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> Result<(), AdapterError> {
        let remote = (!opts.flags.local).then(|| ClusterRequest::DisconnectSockets {
            opts: opts.clone(),
            close,
        });
        self.local.disconnect_sockets_local(&opts, close);
        match remote {
            Some(request) => self.publish_now(&request).await,
            None => Ok(()),
        }
    }

    async fn server_side_emit(&self, args: Vec<Value>) -> Result<(), AdapterError> {
        self.publish_now(&ClusterRequest::ServerSideEmit {
            request_id: None,
            data: args,
        })
        .await
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
        let responses = self
            .request(
                &request_id,
                RequestType::ServerSideEmit,
                request,
                others,
                timeout,
            )
            .await?;
        Ok(responses
            .into_iter()
            .filter_map(|r| match r {
                ClusterResponse::ServerSideEmit { data, .. } => Some(data),
                _ => None,
            })
            .collect())
    }

    async fn server_count(&self) -> Result<usize, AdapterError> {
        match self.sharded_mode() {
            None => self.link.numsub(&self.classic.request, false).await,
            Some(_) => self.link.numsub(&self.sharded.main, true).await,
        }
    }

    async fn persist_session(&self, session: PersistedSession) -> Result<(), AdapterError> {
        self.local.persist_session_local(session);
        Ok(())
    }

    async fn restore_session(
        &self,
        pid: &str,
        offset: &str,
    ) -> Result<Option<RestoredSession>, AdapterError> {
        Ok(self.local.restore_session_local(pid, offset))
    }
}

/// The room-channel task of sharded dynamic mode: for each room it is told about, subscribes to
/// `prefix#nsp#room#` if the room exists on this node (and is public, unless `private`), and
/// unsubscribes if it does not, checking the state at the time it runs.
async fn sync_room_channels(
    adapter: Weak<RedisAdapter>,
    mut rx: mpsc::UnboundedReceiver<Room>,
    private: bool,
) {
    let mut subscribed: HashSet<Room> = HashSet::new();
    while let Some(room) = rx.recv().await {
        let Some(this) = adapter.upgrade() else {
            return;
        };
        let wanted = this.local.with_index(|idx| {
            idx.room(&room).is_some() && (private || idx.socket_rooms(&room).is_none())
        });
        let channel = this.sharded.room(&room);
        let link = this.link.clone();
        drop(this);
        if wanted && !subscribed.contains(&room) {
            match link.ssubscribe(&channel).await {
                Ok(()) => {
                    subscribed.insert(room);
                }
                Err(e) => tracing::warn!("cannot subscribe to {channel}: {e}"),
            }
        } else if !wanted && subscribed.remove(&room) {
            if let Err(e) = link.unsubscribe(&[], &[], &[channel]).await {
                tracing::debug!("cannot unsubscribe a room channel: {e}");
            }
        }
    }
}
