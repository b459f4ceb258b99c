//! The Redis emitter: sends events to the clients of a Socket.IO cluster from a process that is
//! not a Socket.IO server (a worker, a cron job), like npm `@socket.io/redis-emitter` 5.1, with the
//! same messages (uid `emitter`, byte for byte), so Rust and Node.js servers both act on them.
//! Like the npm emitter it speaks the classic pub/sub format only (servers using the sharded
//! adapter do not hear it), and server-side emits cannot ask for acknowledgements.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use redis::aio::ConnectionManager;
use socketio_parser::{is_reserved_event, Packet, Value};

use super::classic::{self, Channels};
use super::messages::ClusterRequest;
use crate::{BroadcastOptions, Room};

/// Errors of the emitter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitterError {
    /// The event name is reserved (`connect`, `disconnect`, …).
    #[error("\"{0}\" is a reserved event name")]
    ReservedEvent(String),
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// One message the emitter publishes: the channel and the payload (exposed so callers and
/// tests can see exactly what goes on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitterMessage {
    /// The Redis channel.
    pub channel: String,
    /// The payload (msgpack for broadcasts, JSON for requests).
    pub payload: Bytes,
}

/// Sends to the clients of a Socket.IO cluster through Redis.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use socketio_adapter::redis::Emitter;
///
/// let emitter = Emitter::connect("redis://127.0.0.1:6379").await?;
/// emitter.emit("news", vec!["hello".into()]).await?;
/// emitter.to("room1").except("room2").emit("news", vec![1.into()]).await?;
/// emitter.of("/admin").sockets_join(&["admins"]).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Emitter {
    conn: ConnectionManager,
    prefix: Arc<str>,
    nsp: Arc<str>,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("prefix", &self.prefix)
            .field("nsp", &self.nsp)
            .finish_non_exhaustive()
    }
}

impl Emitter {
    /// Connects to Redis at `url` (e.g. `redis://127.0.0.1:6379`), key prefix `socket.io`,
    /// namespace `/`. The connection reconnects by itself; while Redis is unreachable, emits
    /// fail with an error within a few seconds instead of waiting.
    pub async fn connect(url: &str) -> Result<Self, EmitterError> {
        let client = redis::Client::open(url)?;
        let config = super::connection::manager_config(&super::connection::LinkConfig::default());
        Ok(Self::new(
            client.get_connection_manager_with_config(config).await?,
        ))
    }

    /// An emitter over an existing connection, key prefix `socket.io`, namespace `/`.
    pub fn new(conn: ConnectionManager) -> Self {
        Emitter {
            conn,
            prefix: Arc::from("socket.io"),
            nsp: Arc::from("/"),
        }
    }

    /// The same emitter with another key prefix (option `key` of the reference).
    #[must_use]
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = Arc::from(prefix);
        self
    }

    /// An emitter for namespace `nsp` (a leading `/` is added when missing).
    #[must_use]
    pub fn of(&self, nsp: &str) -> Self {
        let nsp = if nsp.starts_with('/') {
            nsp.to_owned()
        } else {
            format!("/{nsp}")
        };
        Emitter {
            conn: self.conn.clone(),
            prefix: self.prefix.clone(),
            nsp: Arc::from(nsp),
        }
    }

    fn operator(&self) -> BroadcastOperator {
        BroadcastOperator {
            emitter: self.clone(),
            opts: BroadcastOptions::default(),
            rooms_in_order: Vec::new(),
        }
    }

    /// A [`BroadcastOperator`] targeting every socket of the namespace (add rooms, exceptions
    /// and flags to it, or use [`Emitter::to`] and friends directly).
    pub fn all(&self) -> BroadcastOperator {
        self.operator()
    }

    /// Targets a room.
    pub fn to(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.operator().to(room)
    }

    /// Targets a room (same as [`Emitter::to`]).
    pub fn in_(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.to(room)
    }

    /// Excludes a room.
    pub fn except(&self, room: impl Into<Room>) -> BroadcastOperator {
        self.operator().except(room)
    }

    /// Marks the next emit volatile (may be dropped for clients that cannot take it now).
    pub fn volatile(&self) -> BroadcastOperator {
        self.operator().volatile()
    }

    /// Sets the compress flag of the next emit.
    pub fn compress(&self, compress: bool) -> BroadcastOperator {
        self.operator().compress(compress)
    }

    /// Emits `event` with `args` to every client of the namespace.
    pub async fn emit(&self, event: &str, args: Vec<Value>) -> Result<(), EmitterError> {
        self.operator().emit(event, args).await
    }

    /// Makes every socket of the namespace join `rooms`.
    pub async fn sockets_join(&self, rooms: &[&str]) -> Result<(), EmitterError> {
        self.operator().sockets_join(rooms).await
    }

    /// Makes every socket of the namespace leave `rooms`.
    pub async fn sockets_leave(&self, rooms: &[&str]) -> Result<(), EmitterError> {
        self.operator().sockets_leave(rooms).await
    }

    /// Disconnects every socket of the namespace (`close`: also close their connections).
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitterError> {
        self.operator().disconnect_sockets(close).await
    }

    /// Sends `[event, ...args]` to the server-side handlers of every node (no acknowledgement:
    /// the reference emitter does not support them either).
    pub async fn server_side_emit(
        &self,
        event: &str,
        args: Vec<Value>,
    ) -> Result<(), EmitterError> {
        let msg = self.server_side_emit_message(event, args)?;
        self.publish(&msg).await
    }

    /// The message [`Emitter::server_side_emit`] publishes.
    pub fn server_side_emit_message(
        &self,
        event: &str,
        args: Vec<Value>,
    ) -> Result<EmitterMessage, EmitterError> {
        if is_reserved_event(event) {
            return Err(EmitterError::ReservedEvent(event.to_owned()));
        }
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::String(event.to_owned()));
        data.extend(args);
        Ok(EmitterMessage {
            channel: self.channels().request,
            payload: classic::encode_request(
                Some(classic::EMITTER_UID),
                &ClusterRequest::ServerSideEmit {
                    request_id: None,
                    data,
                },
            ),
        })
    }

    fn channels(&self) -> Channels {
        Channels::new(&self.prefix, &self.nsp)
    }

    async fn publish(&self, msg: &EmitterMessage) -> Result<(), EmitterError> {
        redis::cmd("PUBLISH")
            .arg(&msg.channel)
            .arg(msg.payload.as_ref())
            .exec_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}

/// A pending emit with its targets and flags (built by [`Emitter::to`] and friends).
#[derive(Debug, Clone)]
pub struct BroadcastOperator {
    emitter: Emitter,
    opts: BroadcastOptions,
    // The reference keeps rooms in insertion order; the channel for one room and the message
    // bytes follow it.
    rooms_in_order: Vec<Room>,
}

fn push_unique(list: &mut Vec<Room>, set: &mut HashSet<Room>, room: Room) {
    if set.insert(room.clone()) {
        list.push(room);
    }
}

impl BroadcastOperator {
    /// Adds a target room.
    #[must_use]
    pub fn to(mut self, room: impl Into<Room>) -> Self {
        push_unique(&mut self.rooms_in_order, &mut self.opts.rooms, room.into());
        self
    }

    /// Adds a target room (same as [`BroadcastOperator::to`]).
    #[must_use]
    pub fn in_(self, room: impl Into<Room>) -> Self {
        self.to(room)
    }

    /// Excludes a room.
    #[must_use]
    pub fn except(mut self, room: impl Into<Room>) -> Self {
        self.opts.except.insert(room.into());
        self
    }

    /// Marks the emit volatile.
    #[must_use]
    pub fn volatile(mut self) -> Self {
        self.opts.flags.volatile = true;
        self
    }

    /// Sets the compress flag.
    #[must_use]
    pub fn compress(mut self, compress: bool) -> Self {
        self.opts.flags.compress = Some(compress);
        self
    }

    /// The message [`BroadcastOperator::emit`] publishes.
    pub fn emit_message(
        &self,
        event: &str,
        args: Vec<Value>,
    ) -> Result<EmitterMessage, EmitterError> {
        if is_reserved_event(event) {
            return Err(EmitterError::ReservedEvent(event.to_owned()));
        }
        let packet = Packet::event(self.emitter.nsp.to_string(), event, args);
        let channels = self.emitter.channels();
        let channel = match self.rooms_in_order.as_slice() {
            [room] => channels.room(room),
            _ => channels.broadcast.clone(),
        };
        Ok(EmitterMessage {
            channel,
            payload: classic::encode_emitter_broadcast(&packet, &self.opts, &self.rooms_in_order),
        })
    }

    /// Emits `event` with `args` to the targeted clients.
    pub async fn emit(&self, event: &str, args: Vec<Value>) -> Result<(), EmitterError> {
        let msg = self.emit_message(event, args)?;
        self.emitter.publish(&msg).await
    }

    fn request_message(&self, request: ClusterRequest) -> EmitterMessage {
        EmitterMessage {
            channel: self.emitter.channels().request,
            payload: classic::encode_request(None, &request),
        }
    }

    /// The message [`BroadcastOperator::sockets_join`] publishes.
    pub fn sockets_join_message(&self, rooms: &[&str]) -> EmitterMessage {
        self.request_message(ClusterRequest::SocketsJoin {
            opts: self.ordered_opts(),
            rooms: rooms.iter().map(|r| Room::from(*r)).collect(),
        })
    }

    /// The message [`BroadcastOperator::sockets_leave`] publishes.
    pub fn sockets_leave_message(&self, rooms: &[&str]) -> EmitterMessage {
        self.request_message(ClusterRequest::SocketsLeave {
            opts: self.ordered_opts(),
            rooms: rooms.iter().map(|r| Room::from(*r)).collect(),
        })
    }

    /// The message [`BroadcastOperator::disconnect_sockets`] publishes.
    pub fn disconnect_sockets_message(&self, close: bool) -> EmitterMessage {
        self.request_message(ClusterRequest::DisconnectSockets {
            opts: self.ordered_opts(),
            close,
        })
    }

    fn ordered_opts(&self) -> BroadcastOptions {
        self.opts.clone()
    }

    /// Makes the targeted sockets join `rooms`.
    pub async fn sockets_join(&self, rooms: &[&str]) -> Result<(), EmitterError> {
        self.emitter
            .publish(&self.sockets_join_message(rooms))
            .await
    }

    /// Makes the targeted sockets leave `rooms`.
    pub async fn sockets_leave(&self, rooms: &[&str]) -> Result<(), EmitterError> {
        self.emitter
            .publish(&self.sockets_leave_message(rooms))
            .await
    }

    /// Disconnects the targeted sockets (`close`: also close their connections).
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitterError> {
        self.emitter
            .publish(&self.disconnect_sockets_message(close))
            .await
    }
}
