//! The adapter trait: room membership, broadcasting and cluster-wide operations of one namespace.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use socketio_parser::{Packet, Value};

use crate::{
    BroadcastAckSink, BroadcastOptions, LocalAdapter, LocalNamespace, PersistedSession,
    RecoveryConfig, RestoredSession, Room, Sid, SocketInfo,
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

/// A command for the sockets of the other nodes, published by the default
/// [`Adapter`] methods once they have done the local part (see [`Adapter::publish_command`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum RemoteCommand {
    /// Make the targeted sockets join `rooms` ([`Adapter::add_sockets`]).
    AddSockets {
        /// The targets.
        opts: BroadcastOptions,
        /// The rooms to join.
        rooms: Vec<Room>,
    },
    /// Make the targeted sockets leave `rooms` ([`Adapter::del_sockets`]).
    DelSockets {
        /// The targets.
        opts: BroadcastOptions,
        /// The rooms to leave.
        rooms: Vec<Room>,
    },
    /// Disconnect the targeted sockets ([`Adapter::disconnect_sockets`]).
    DisconnectSockets {
        /// The targets.
        opts: BroadcastOptions,
        /// Also close their underlying connections.
        close: bool,
    },
    /// `[event, ...args]` for the other nodes' namespaces ([`Adapter::server_side_emit`]).
    ServerSideEmit {
        /// `[event, ...args]`.
        args: Vec<Value>,
    },
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
/// Every operation has a default that does the local part with the [`LocalAdapter`] of
/// [`local`](Self::local) (which reaches the sockets through the [`LocalNamespace`]) and then
/// calls the matching hook for the other nodes: [`publish_broadcast`](Self::publish_broadcast),
/// [`publish_broadcast_with_ack`](Self::publish_broadcast_with_ack),
/// [`publish_command`](Self::publish_command), [`remote_sockets`](Self::remote_sockets),
/// [`remote_rooms`](Self::remote_rooms), [`remote_fetch_sockets`](Self::remote_fetch_sockets).
/// The hooks' defaults say "there are no other nodes", which is the whole
/// [`InMemoryAdapter`](crate::InMemoryAdapter); a cluster adapter implements the hooks (and
/// `server_count`, `server_side_emit_with_ack`), and answers the same requests when they come
/// from other nodes by calling the `*_local` methods of its [`LocalAdapter`].
///
/// The defaults are monomorphised for each adapter: a broadcast costs one dynamic call into
/// the adapter and nothing more per recipient than the [`LocalNamespace`] delivery itself.
#[async_trait]
pub trait Adapter: Send + Sync + 'static {
    /// This node's part of the adapter: membership, delivery, recovery store.
    fn local(&self) -> &LocalAdapter;

    /// Called once after the namespace is created (e.g. to subscribe to cluster channels).
    async fn init(&self) -> Result<(), AdapterError> {
        Ok(())
    }

    /// Called when the server closes (e.g. to unsubscribe).
    async fn close(&self) -> Result<(), AdapterError> {
        Ok(())
    }

    /// Adds a local socket to rooms.
    fn add_all(&self, sid: &Sid, rooms: &[Room]) {
        self.local().add_all_local(sid, rooms);
    }

    /// Removes a local socket from one room.
    fn del(&self, sid: &str, room: &str) {
        self.local().del_local(sid, room);
    }

    /// Removes a local socket from every room (it left the namespace).
    fn del_all(&self, sid: &str) {
        self.local().del_all_local(sid);
    }

    /// The rooms of a local socket (`None` if unknown).
    fn socket_rooms(&self, sid: &str) -> Option<HashSet<Room>> {
        self.local().socket_rooms_local(sid)
    }

    /// Sends a packet to every targeted socket, encoding it once.
    ///
    /// With connection state recovery enabled, an `EVENT` packet without ack id that is not
    /// volatile gets a unique offset string appended to its arguments and is stored with its
    /// options, so [`restore_session`](Self::restore_session) can replay it.
    ///
    /// The default publishes the packet for the other nodes (unless `flags.local`) before the
    /// offset is added (the other nodes keep no sessions for this node's sockets), then stores
    /// and delivers it here.
    fn broadcast(&self, mut packet: Packet, opts: BroadcastOptions) -> Result<(), AdapterError> {
        let local = self.local();
        local.own_namespace(&mut packet);
        let published = if opts.flags.local {
            Ok(())
        } else {
            self.publish_broadcast(&packet, &opts)
        };
        local.store_for_recovery(&mut packet, &opts);
        local.broadcast_local(&packet, &opts);
        published
    }

    /// Sends a packet carrying an ack id (`packet.id` is set by the caller) to every targeted
    /// socket. Each node (this one included) reports its client count exactly once to `sink`,
    /// then every acknowledgement is reported as it arrives.
    fn broadcast_with_ack(
        &self,
        mut packet: Packet,
        opts: BroadcastOptions,
        sink: BroadcastAckSink,
    ) -> Result<(), AdapterError> {
        let local = self.local();
        local.own_namespace(&mut packet);
        let published = if opts.flags.local {
            Ok(())
        } else {
            self.publish_broadcast_with_ack(&packet, &opts, &sink)
        };
        let count = local.broadcast_with_ack_local(&packet, &opts, &sink);
        sink.client_count(count);
        published
    }

    /// The ids of the sockets in any of `rooms` (every socket when empty), on every node.
    async fn sockets(&self, rooms: HashSet<Room>) -> Result<HashSet<Sid>, AdapterError> {
        let mut sockets = self.local().sockets_local(&rooms);
        sockets.extend(self.remote_sockets(rooms).await?);
        Ok(sockets)
    }

    /// Every room with at least one member, on every node.
    async fn all_rooms(&self) -> Result<HashSet<Room>, AdapterError> {
        let mut rooms = self.local().all_rooms_local();
        rooms.extend(self.remote_rooms().await?);
        Ok(rooms)
    }

    /// Describes the targeted sockets, on every node (unless `opts.flags.local`).
    async fn fetch_sockets(&self, opts: BroadcastOptions) -> Result<Vec<SocketInfo>, AdapterError> {
        let mut sockets = self.local().fetch_sockets_local(&opts);
        if !opts.flags.local {
            sockets.extend(self.remote_fetch_sockets(opts).await?);
        }
        Ok(sockets)
    }

    /// Makes the targeted sockets join `rooms`, on every node (unless `opts.flags.local`).
    /// Locally, each socket joins through [`add_all`](Self::add_all).
    async fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> Result<(), AdapterError> {
        for sid in self.local().local_recipients(&opts) {
            self.add_all(&sid, &rooms);
        }
        if opts.flags.local {
            return Ok(());
        }
        self.publish_command(RemoteCommand::AddSockets { opts, rooms })
            .await
    }

    /// Makes the targeted sockets leave `rooms`, on every node (unless `opts.flags.local`).
    /// Locally, each socket leaves through [`del`](Self::del).
    async fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<Room>,
    ) -> Result<(), AdapterError> {
        for sid in self.local().local_recipients(&opts) {
            for room in &rooms {
                self.del(&sid, room);
            }
        }
        if opts.flags.local {
            return Ok(());
        }
        self.publish_command(RemoteCommand::DelSockets { opts, rooms })
            .await
    }

    /// Disconnects the targeted sockets, on every node (unless `opts.flags.local`);
    /// `close` also closes their underlying connections.
    async fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> Result<(), AdapterError> {
        self.local().disconnect_sockets_local(&opts, close);
        if opts.flags.local {
            return Ok(());
        }
        self.publish_command(RemoteCommand::DisconnectSockets { opts, close })
            .await
    }

    /// Sends `[event, ...args]` to the other nodes' namespaces (not to this node).
    async fn server_side_emit(&self, args: Vec<Value>) -> Result<(), AdapterError> {
        self.publish_command(RemoteCommand::ServerSideEmit { args })
            .await
    }

    /// Sends `[event, ...args]` to the other nodes and waits up to `timeout` for one reply per
    /// node. With a single node (the default), the answer is an empty list.
    async fn server_side_emit_with_ack(
        &self,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AdapterError> {
        let _ = (args, timeout);
        Ok(Vec::new())
    }

    /// The number of nodes of the cluster (1 for a single node, the default).
    async fn server_count(&self) -> Result<usize, AdapterError> {
        Ok(1)
    }

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
    async fn persist_session(&self, session: PersistedSession) -> Result<(), AdapterError> {
        self.local().persist_session_local(session);
        Ok(())
    }

    /// Takes back a stored session and the packets it missed after `offset`; `None` when the
    /// session is unknown or expired or the offset is no longer stored.
    async fn restore_session(
        &self,
        pid: &str,
        offset: &str,
    ) -> Result<Option<RestoredSession>, AdapterError> {
        Ok(self.local().restore_session_local(pid, offset))
    }

    // ----- the other nodes: hooks of the default methods (defaults: there are none) -----

    /// Publishes a broadcast for the other nodes (never called with `flags.local`). Must not
    /// wait: it enqueues, keeping the order of successive broadcasts.
    fn publish_broadcast(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
    ) -> Result<(), AdapterError> {
        let _ = (packet, opts);
        Ok(())
    }

    /// Publishes a broadcast with acknowledgements for the other nodes (never called with
    /// `flags.local`); their client counts and acknowledgements go to `sink`. Must not wait.
    fn publish_broadcast_with_ack(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        sink: &BroadcastAckSink,
    ) -> Result<(), AdapterError> {
        let _ = (packet, opts, sink);
        Ok(())
    }

    /// Sends a command to the other nodes, after the local part is done.
    async fn publish_command(&self, command: RemoteCommand) -> Result<(), AdapterError> {
        let _ = command;
        Ok(())
    }

    /// The ids of the other nodes' sockets in any of `rooms` (all when empty).
    async fn remote_sockets(&self, rooms: HashSet<Room>) -> Result<Vec<Sid>, AdapterError> {
        let _ = rooms;
        Ok(Vec::new())
    }

    /// The other nodes' rooms.
    async fn remote_rooms(&self) -> Result<Vec<Room>, AdapterError> {
        Ok(Vec::new())
    }

    /// The other nodes' sockets targeted by `opts` (never called with `flags.local`).
    async fn remote_fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> Result<Vec<SocketInfo>, AdapterError> {
        let _ = opts;
        Ok(Vec::new())
    }
}
