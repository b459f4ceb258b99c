//! The Redis cluster adapter and the Redis emitter (cargo feature `redis`).
//!
//! Wire-compatible with npm `@socket.io/redis-adapter` 8.3 (the classic pub/sub adapter, and the
//! sharded adapter for Redis 7 sharded pub/sub) and npm `@socket.io/redis-emitter` 5.1: Rust and
//! Node.js Socket.IO servers can share one cluster (e.g. during a migration), and either emitter
//! reaches both.
//!
//! # Using it
//!
//! Give a [`RedisAdapterFactory`] to the server builder; every namespace then gets a
//! [`RedisAdapter`], all sharing one Redis link (one publishing and one subscribed connection):
//!
//! ```text
//! let factory = RedisAdapterFactory::connect("redis://127.0.0.1:6379", RedisAdapterConfig::default()).await?;
//! let io = SocketIo::builder().adapter(factory).build();   // socketio-server
//! io.to("room").emit("news", &"hello")?;                    // reaches the room on every node
//! ```
//!
//! Settings ([`RedisAdapterConfig`]): the key prefix (`socket.io`), the request timeout (5 s),
//! per-node response channels, and [`RedisMode::Classic`] (default) or
//! [`RedisMode::Sharded`] with a [`SubscriptionMode`]. The npm side must use the matching
//! `createAdapter` / `createShardedAdapter` with the same prefix.
//!
//! From a process that is not a Socket.IO server, use the [`Emitter`].
//!
//! # Modules
//!
//! - [`classic`] (`channels`, `broadcast`, `requests`), [`sharded`]: the two wire formats,
//!   I/O-free; [`messages`] the format-independent messages; [`msgpack`] the notepack codec
//!   and the packet map, both owned by `socketio_parser::msgpack`.
//! - [`connection`]: the Redis link (reconnection and resubscription).
//! - `adapter`: the [`RedisAdapter`] (`config`, `responder` for the other nodes' messages,
//!   `operations` for the trait impl).
//! - `cluster`: what this adapter and the Streams adapter do alike, whatever the format
//!   (request/response correlation, asking the other nodes, answering their commands,
//!   server-side emits and broadcasts with acknowledgements).
//! - `emitter`: the [`Emitter`].
//!
//! # The Redis client
//!
//! Built on the `redis` crate (1.2, tokio): its `ConnectionManager` over RESP3 reports
//! disconnections as push messages and reconnects by itself, which is what the link needs to
//! notice a Redis restart at once, fail fast while Redis is away and resubscribe when it is
//! back (see [`connection`]). It is the most widely used Rust Redis client, and the 1.2 line
//! builds with the workspace's minimum Rust version.

mod adapter;
pub mod classic;
pub(crate) mod cluster;
pub mod connection;
mod emitter;
pub mod messages;
pub mod sharded;

/// The notepack-compatible msgpack codec (shared with the msgpack packet format).
pub use socketio_parser::msgpack;

pub use adapter::{
    RedisAdapter, RedisAdapterConfig, RedisAdapterFactory, RedisMode, DEFAULT_REQUEST_TIMEOUT,
};
pub use connection::{LinkConfig, RedisLink};
pub use emitter::{BroadcastOperator, Emitter, EmitterError, EmitterMessage};
pub use sharded::SubscriptionMode;

/// The `redis` crate this module is built on (for [`Emitter::new`] with a connection of your
/// own, or to match error types), re-exported so versions always agree.
pub use ::redis as client;
