//! The Redis adapter: every [`Adapter`] operation across the nodes of a cluster, speaking the
//! messages of npm `@socket.io/redis-adapter` 8.3 (classic pub/sub, or sharded pub/sub).
//!
//! Each namespace has its own [`RedisAdapter`]; all of them share the [`RedisLink`] of their
//! [`RedisAdapterFactory`]. The local half of every operation is the [`Adapter`] trait's
//! default, done with a [`LocalAdapter`]; this adapter implements the trait's hooks for the
//! other nodes: it publishes what they must do and answers what they ask.
//!
//! # Modules
//!
//! - `config`: [`RedisAdapterConfig`] and [`RedisMode`];
//! - this module: the [`RedisAdapter`] itself, the channels it publishes on and the factory;
//! - `operations`: the [`Adapter`] implementation (what this node asks of the others);
//! - `crate::redis::cluster` (shared with the Streams adapter): request/response correlation,
//!   asking the other nodes, and answering their commands and broadcasts with acknowledgements;
//! - `responder`: what this node does with the other nodes' messages, and its answers.
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

mod config;
mod operations;
mod responder;

use std::collections::HashSet;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::mpsc;

pub use config::{RedisAdapterConfig, RedisMode, DEFAULT_REQUEST_TIMEOUT};

use crate::redis::classic;
use crate::redis::cluster::NodeCore;
use crate::redis::connection::{client_for, HandlerGuard, MessageHandler, RedisLink};
use crate::redis::messages::{random_id, ClusterRequest};
use crate::redis::sharded::{self, SubscriptionMode};
use crate::{Adapter, AdapterContext, AdapterError, AdapterFactory, LocalAdapter, Room};

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

/// The Redis adapter of one namespace.
pub struct RedisAdapter {
    local: LocalAdapter,
    link: RedisLink,
    config: Arc<RedisAdapterConfig>,
    uid: String,
    nsp: String,
    classic: classic::Channels,
    /// `prefix-response#nsp#<uid>#`, computed once (checked for every message).
    specific_response: String,
    sharded: sharded::Channels,
    core: NodeCore,
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
            local: LocalAdapter::new(ctx),
            specific_response: classic.specific_response(&uid),
            classic,
            sharded: sharded::Channels::new(&config.key, &nsp),
            link: link.clone(),
            core: NodeCore::new(config.request_timeout),
            config,
            uid,
            nsp,
            room_sync,
            guard: Mutex::new(None),
            this: this.clone(),
        });
        let weak: Weak<dyn MessageHandler> = adapter.this.clone();
        *adapter.guard.lock() = Some(link.register(weak));
        if let (Some(rx), Some(private)) = (room_sync_rx, dynamic) {
            tokio::spawn(sync_room_channels(adapter.this.clone(), rx, private));
        }
        adapter
    }

    /// This node's uid in the cluster messages.
    pub fn uid(&self) -> &str {
        &self.uid
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
