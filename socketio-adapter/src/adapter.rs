//! The adapter trait: room membership, broadcasting and cluster-wide operations of one namespace.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use socketio_parser::{Packet, Value};

use crate::{
    BroadcastAckSink, BroadcastOptions, LocalNamespace, PersistedSession, RecoveryConfig,
    RestoredSession, Room, Sid, SocketInfo,
};

/// Errors of adapter operations (mostly cluster communication failures).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// Some nodes did not answer a request in time.
    #[error("timeout reached: only {received} responses received out of {expected}")]
    Timeout {
        /// Responses received.
        received: usize,
        /// Responses expected.
        expected: usize,
    },
    /// The cluster transport (e.g. the Redis connection) is unavailable.
    #[error("cluster transport unavailable: {0}")]
    Unavailable(String),
    /// The operation is not supported by this adapter.
    #[error("operation not supported by this adapter: {0}")]
    Unsupported(&'static str),
    /// Any other failure.
    #[error("{0}")]
    Other(String),
}

/// What an adapter is created with, once per namespace.
#[derive(Clone)]
pub struct AdapterContext {
    /// The namespace on this node. Weak: the namespace owns its adapter.
    pub namespace: Weak<dyn LocalNamespace>,
    /// The namespace name.
    pub name: Arc<str>,
    /// Connection state recovery settings, when enabled on the server: the adapter must then
    /// store sessions and broadcast packets (see [`Adapter::broadcast`]).
    pub recovery: Option<RecoveryConfig>,
}

impl std::fmt::Debug for AdapterContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdapterContext")
            .field("name", &self.name)
            .field("recovery", &self.recovery)
            .finish_non_exhaustive()
    }
}

/// Creates the adapter of each namespace (the server calls it when a namespace is created).
///
/// Implemented for closures:
/// ```
/// use std::sync::Arc;
/// use socketio_adapter::{Adapter, AdapterContext, AdapterFactory, InMemoryAdapter};
///
/// let factory = |ctx: AdapterContext| Arc::new(InMemoryAdapter::new(ctx)) as Arc<dyn Adapter>;
/// fn takes(_: impl AdapterFactory) {}
/// takes(factory);
/// ```
pub trait AdapterFactory: Send + Sync + 'static {
    /// Creates the adapter for one namespace.
    fn create(&self, ctx: AdapterContext) -> Arc<dyn Adapter>;
}

impl<F> AdapterFactory for F
where
    F: Fn(AdapterContext) -> Arc<dyn Adapter> + Send + Sync + 'static,
{
    fn create(&self, ctx: AdapterContext) -> Arc<dyn Adapter> {
        self(ctx)
    }
}

/// The adapter of one namespace: it keeps room membership of the local sockets, delivers
/// broadcasts and answers the cluster-wide queries and commands of the reference API.
///
/// The same shape as the reference `Adapter`/`ClusterAdapter` classes of `socket.io-adapter`:
///
/// * **membership** ([`add_all`](Self::add_all), [`del`](Self::del), [`del_all`](Self::del_all),
///   [`socket_rooms`](Self::socket_rooms)) concerns sockets of *this* node and is synchronous
///   (the reference's is too), so `socket.join(..)` followed by a broadcast always sees the join;
/// * **broadcasts** ([`broadcast`](Self::broadcast),
///   [`broadcast_with_ack`](Self::broadcast_with_ack)) are synchronous fire-and-forget like the
///   reference's: an implementation delivers to local sockets at once and *enqueues* what it sends
///   to other nodes (keeping the order of successive broadcasts), reporting only errors it knows
///   about immediately (e.g. a cluster connection known to be down);
/// * **cluster-wide operations** (queries, remote join/leave/disconnect, server-side emit,
///   server count, sessions) are async: a cluster adapter sends a request and waits for the
///   answers of the other nodes, honouring its request timeout. Unless `opts.flags.local` is
///   set, they cover every node.
///
/// A cluster adapter implements the local part of each operation by calling the
/// [`LocalNamespace`] of its [`AdapterContext`] and the shared helpers of
/// [`InMemoryAdapter`](crate::InMemoryAdapter) (it can wrap one), and answers the same requests
/// when they come from other nodes.
#[async_trait]
pub trait Adapter: Send + Sync + 'static {
    /// Called once after the namespace is created (e.g. to subscribe to cluster channels).
    async fn init(&self) -> Result<(), AdapterError> {
        Ok(())
    }

    /// Called when the server closes (e.g. to unsubscribe).
    async fn close(&self) -> Result<(), AdapterError> {
        Ok(())
    }

    /// Adds a local socket to rooms.
    fn add_all(&self, sid: &Sid, rooms: &[Room]);

    /// Removes a local socket from one room.
    fn del(&self, sid: &str, room: &str);

    /// Removes a local socket from every room (it left the namespace).
    fn del_all(&self, sid: &str);

    /// The rooms of a local socket (`None` if unknown).
    fn socket_rooms(&self, sid: &str) -> Option<HashSet<Room>>;

    /// Sends a packet to every targeted socket, encoding it once.
    ///
    /// With connection state recovery enabled, an `EVENT` packet without ack id that is not
    /// volatile gets a unique offset string appended to its arguments and is stored with its
    /// options, so [`restore_session`](Self::restore_session) can replay it.
    fn broadcast(&self, packet: Packet, opts: BroadcastOptions) -> Result<(), AdapterError>;

    /// Sends a packet carrying an ack id (`packet.id` is set by the caller) to every targeted
    /// socket. Each node (this one included) reports its client count exactly once to `sink`,
    /// then every acknowledgement is reported as it arrives.
    fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        sink: BroadcastAckSink,
    ) -> Result<(), AdapterError>;

    /// The ids of the sockets in any of `rooms` (every socket when empty), on every node.
    async fn sockets(&self, rooms: HashSet<Room>) -> Result<HashSet<Sid>, AdapterError>;

    /// Every room with at least one member, on every node.
    async fn all_rooms(&self) -> Result<HashSet<Room>, AdapterError>;

    /// Describes the targeted sockets, on every node (unless `opts.flags.local`).
    async fn fetch_sockets(&self, opts: BroadcastOptions) -> Result<Vec<SocketInfo>, AdapterError>;

    /// Makes the targeted sockets join `rooms`, on every node (unless `opts.flags.local`).
    async fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> Result<(), AdapterError>;

    /// Makes the targeted sockets leave `rooms`, on every node (unless `opts.flags.local`).
    async fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> Result<(), AdapterError>;

    /// Disconnects the targeted sockets, on every node (unless `opts.flags.local`);
    /// `close` also closes their underlying connections.
    async fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> Result<(), AdapterError>;

    /// Sends `[event, ...args]` to the other nodes' namespaces (not to this node).
    async fn server_side_emit(&self, args: Vec<Value>) -> Result<(), AdapterError>;

    /// Sends `[event, ...args]` to the other nodes and waits up to `timeout` for one reply per
    /// node. With a single node, the answer is an empty list.
    async fn server_side_emit_with_ack(
        &self,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AdapterError>;

    /// The number of nodes of the cluster (1 for a single node).
    async fn server_count(&self) -> Result<usize, AdapterError>;

    /// A socket with connection state recovery (private session id `pid`) joined this node,
    /// new or restored. An adapter that shares sessions across the cluster may keep the
    /// socket's session stored while it lives (so it survives a crash of this node), reading
    /// its rooms from the adapter and its data from [`LocalNamespace::socket_info`]. The
    /// server calls it after [`add_all`](Self::add_all). Default: nothing (sessions are
    /// stored on disconnection only, see [`persist_session`](Self::persist_session)).
    fn track_session(&self, sid: &Sid, pid: &Sid) {
        let _ = (sid, pid);
    }

    /// Stores the session of a socket that disconnected for a recoverable reason.
    async fn persist_session(&self, session: PersistedSession) -> Result<(), AdapterError>;

    /// Takes back a stored session and the packets it missed after `offset`; `None` when the
    /// session is unknown or expired or the offset is no longer stored.
    async fn restore_session(
        &self,
        pid: &str,
        offset: &str,
    ) -> Result<Option<RestoredSession>, AdapterError>;
}
