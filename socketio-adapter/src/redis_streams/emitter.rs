//! The streams emitter: reaches the clients of a cluster that uses the streams adapter from a
//! process that is not a Socket.IO server.
//!
//! There is no npm `@socket.io/redis-streams-emitter` (npm answers 404 for it). This one writes
//! what a node of the npm streams adapter writes, with uid `emitter`: broadcasts, remote
//! join/leave and remote disconnect are stream entries (so broadcasts get offsets and are
//! replayed to recovering clients, on every node, Node.js ones included); a server-side emit is
//! a pub/sub message (without acknowledgements).

use std::sync::Arc;

use redis::aio::ConnectionManager;
use socketio_parser::{is_reserved_event, Packet, Value};

use super::{wire, StreamsAdapterConfig};
use crate::redis::connection::{client_for, manager_config};
use crate::redis::messages::ClusterRequest;
use crate::redis::sharded;
use crate::redis::EmitterError;
use crate::{BroadcastOptions, Room};

/// The uid the emitter puts in its messages.
pub const EMITTER_UID: &str = "emitter";

/// Sends to the clients of a cluster through its Redis streams.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use socketio_adapter::redis_streams::{StreamsAdapterConfig, StreamsEmitter};
///
/// let emitter = StreamsEmitter::connect("redis://127.0.0.1:6379", StreamsAdapterConfig::default()).await?;
/// emitter.to("room1").except("room2").emit("news", vec![1.into()]).await?;
/// emitter.of("/admin").all().sockets_join(&["admins"]).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct StreamsEmitter {
    conn: ConnectionManager,
    config: Arc<StreamsAdapterConfig>,
    nsp: Arc<str>,
}

impl std::fmt::Debug for StreamsEmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsEmitter")
            .field("nsp", &self.nsp)
            .finish_non_exhaustive()
    }
}

impl StreamsEmitter {
    /// Connects to Redis; `config` must match the cluster's (stream name and count, maxLen,
    /// channel prefix).
    pub async fn connect(url: &str, config: StreamsAdapterConfig) -> Result<Self, EmitterError> {
        let conn = client_for(url)?
            .get_connection_manager_with_config(manager_config(&config.link))
            .await?;
        Ok(Self::new(conn, config))
    }

    /// An emitter over a connection of your own.
    pub fn new(conn: ConnectionManager, config: StreamsAdapterConfig) -> Self {
        StreamsEmitter {
            conn,
            config: Arc::new(config),
            nsp: Arc::from("/"),
        }
    }

    /// The same emitter for namespace `nsp`.
    #[must_use]
    pub fn of(&self, nsp: &str) -> Self {
        let nsp = if nsp.starts_with('/') {
            nsp.to_owned()
        } else {
            format!("/{nsp}")
        };
        StreamsEmitter {
            nsp: Arc::from(nsp),
            ..self.clone()
        }
    }

    /// Targets every socket of the namespace.
    pub fn all(&self) -> StreamsEmitterOperator {
        StreamsEmitterOperator {
            emitter: self.clone(),
            opts: BroadcastOptions::default(),
        }
    }

    /// Targets room `room`.
    pub fn to(&self, room: impl Into<Room>) -> StreamsEmitterOperator {
        self.all().to(room)
    }

    /// Targets every socket except those in `room`.
    pub fn except(&self, room: impl Into<Room>) -> StreamsEmitterOperator {
        self.all().except(room)
    }

    /// Sends `[event, ...args]` to the server-side handlers of every node (no acks).
    pub async fn server_side_emit(
        &self,
        event: &str,
        args: Vec<Value>,
    ) -> Result<(), EmitterError> {
        check_event(event)?;
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::String(event.to_owned()));
        data.extend(args);
        let request = ClusterRequest::ServerSideEmit {
            request_id: None,
            data,
        };
        let Some((ty, data, _)) = sharded::request_parts(&request) else {
            return Ok(());
        };
        let payload = wire::encode_ephemeral(EMITTER_UID, &self.nsp, ty, data);
        let channel = format!("{}#{}#", self.config.channel_prefix, self.nsp);
        let cmd = if self.config.use_sharded_pubsub {
            "SPUBLISH"
        } else {
            "PUBLISH"
        };
        redis::cmd(cmd)
            .arg(channel)
            .arg(payload.as_ref())
            .exec_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Writes one request as a stream entry; returns its id.
    pub async fn write(&self, request: &ClusterRequest) -> Result<String, EmitterError> {
        let Some((ty, mut data, _)) = sharded::request_parts(request) else {
            return Ok(String::new());
        };
        wire::strip_packet_nsp(&mut data);
        let fields = wire::entry_fields(
            EMITTER_UID,
            &self.nsp,
            ty,
            Some(&data),
            self.config.only_plaintext,
        );
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.config.stream_for(&self.nsp))
            .arg("MAXLEN")
            .arg("~")
            .arg(self.config.max_len)
            .arg("*");
        for (k, v) in &fields {
            cmd.arg(*k).arg(v.as_ref());
        }
        Ok(cmd.query_async(&mut self.conn.clone()).await?)
    }
}

fn check_event(event: &str) -> Result<(), EmitterError> {
    if is_reserved_event(event) {
        return Err(EmitterError::ReservedEvent(event.to_owned()));
    }
    Ok(())
}

/// Targets for [`StreamsEmitter`] operations.
#[derive(Debug, Clone)]
#[must_use]
pub struct StreamsEmitterOperator {
    emitter: StreamsEmitter,
    opts: BroadcastOptions,
}

impl StreamsEmitterOperator {
    /// Adds a target room.
    pub fn to(mut self, room: impl Into<Room>) -> Self {
        self.opts.rooms.insert(room.into());
        self
    }

    /// Adds an excluded room.
    pub fn except(mut self, room: impl Into<Room>) -> Self {
        self.opts.except.insert(room.into());
        self
    }

    /// Marks the broadcast volatile (never replayed to recovering clients).
    pub fn volatile(mut self) -> Self {
        self.opts.flags.volatile = true;
        self
    }

    /// Broadcasts `[event, ...args]`; returns the entry id (the offset clients get).
    pub async fn emit(&self, event: &str, args: Vec<Value>) -> Result<String, EmitterError> {
        check_event(event)?;
        let packet = Packet::event(&*self.emitter.nsp, event, args);
        self.emitter
            .write(&ClusterRequest::Broadcast {
                packet,
                opts: self.opts.clone(),
            })
            .await
    }

    /// Makes the targeted sockets join `rooms`.
    pub async fn sockets_join(&self, rooms: &[&str]) -> Result<(), EmitterError> {
        self.emitter
            .write(&ClusterRequest::SocketsJoin {
                opts: self.opts.clone(),
                rooms: to_rooms(rooms),
            })
            .await
            .map(drop)
    }

    /// Makes the targeted sockets leave `rooms`.
    pub async fn sockets_leave(&self, rooms: &[&str]) -> Result<(), EmitterError> {
        self.emitter
            .write(&ClusterRequest::SocketsLeave {
                opts: self.opts.clone(),
                rooms: to_rooms(rooms),
            })
            .await
            .map(drop)
    }

    /// Disconnects the targeted sockets (`close`: their connections too).
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), EmitterError> {
        self.emitter
            .write(&ClusterRequest::DisconnectSockets {
                opts: self.opts.clone(),
                close,
            })
            .await
            .map(drop)
    }
}

fn to_rooms(rooms: &[&str]) -> Vec<Room> {
    rooms.iter().map(|r| Room::from(*r)).collect()
}
