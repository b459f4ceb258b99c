//! The Redis cluster adapter and the Redis emitter (cargo feature `redis`).
//!
//! Wire-compatible with npm `@socket.io/redis-adapter` 8.3 (the classic pub/sub adapter, and the
//! sharded adapter for Redis 7 sharded pub/sub) and npm `@socket.io/redis-emitter` 5.1: Rust and
//! Node.js Socket.IO servers can share one cluster, and either emitter reaches both.

mod adapter;
pub mod classic;
pub mod connection;
mod emitter;
pub mod messages;
pub mod msgpack;
pub mod sharded;

pub use adapter::{
    RedisAdapter, RedisAdapterConfig, RedisAdapterFactory, RedisMode, DEFAULT_REQUEST_TIMEOUT,
};
pub use connection::{LinkConfig, RedisLink};
pub use emitter::{BroadcastOperator, Emitter, EmitterError, EmitterMessage};
pub use sharded::SubscriptionMode;
