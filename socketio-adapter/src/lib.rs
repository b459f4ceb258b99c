//! Rooms and broadcasting for the Socket.IO server: the cluster-ready [`Adapter`] trait, the
//! [`LocalNamespace`] trait through which an adapter reaches the sockets of this node, the
//! [`RoomIndex`] of room membership and the default [`InMemoryAdapter`].
//!
//! The design follows the reference `socket.io-adapter` package (4.8): one adapter per
//! namespace; membership is local and synchronous; broadcasts encode a packet once and hand the
//! same bytes to every recipient; the cluster-wide operations (`fetch_sockets`, remote
//! join/leave/disconnect, server-side emit, server count) are async so a cluster adapter (Redis)
//! can ask the other nodes; connection state recovery stores sessions and broadcast packets.
//!
//! # Module map
//!
//! | module | owns |
//! |---|---|
//! | `adapter` | the [`Adapter`] trait (default methods do the local part, hooks do the other nodes), [`AdapterContext`], [`AdapterFactory`], [`AdapterError`], [`RemoteCommand`] |
//! | `local` | [`LocalNamespace`]: what an adapter needs from the namespace on this node; [`EncodedPacket`], [`DeliverError`] |
//! | `local_adapter` | [`LocalAdapter`]: this node's half of every adapter (membership, delivery, recovery store) |
//! | `memory` | [`InMemoryAdapter`]: the local part alone, the default |
//! | `rooms` | [`RoomIndex`]: room membership and broadcast targeting |
//! | `room_event` | [`RoomEvent`]: create/delete/join/leave-room |
//! | `options` | [`BroadcastOptions`], [`BroadcastFlags`] |
//! | `ack` | [`BroadcastAckSink`]: the answers of a broadcast with acknowledgements |
//! | `session` | connection state recovery: [`SessionStore`], sessions and offsets |
//! | `handshake` | [`Handshake`], [`SocketInfo`] |
//! | [`redis`] | the Redis cluster adapter and emitter (feature `redis`; see its own map) |
//! | [`redis_streams`] | the Redis Streams adapter and emitter (feature `redis-streams`) |
//!
//! ```
//! use std::sync::{Arc, Mutex, Weak};
//! use socketio_adapter::*;
//! use socketio_parser::{Packet, Value};
//!
//! // A toy namespace that records what each socket receives.
//! #[derive(Default)]
//! struct Ns(Mutex<Vec<(String, usize)>>);
//! impl LocalNamespace for Ns {
//!     fn name(&self) -> &str { "/" }
//!     fn encode(&self, _p: &Packet) -> EncodedPacket { EncodedPacket::new(vec![]) }
//!     fn deliver(&self, sid: &str, p: &EncodedPacket, _f: &BroadcastFlags) -> Result<(), DeliverError> {
//!         self.0.lock().unwrap().push((sid.to_owned(), p.messages().len()));
//!         Ok(())
//!     }
//!     fn deliver_with_ack(&self, sid: &str, p: &EncodedPacket, f: &BroadcastFlags, _id: u64,
//!                         _s: &BroadcastAckSink) -> Result<(), DeliverError> { self.deliver(sid, p, f) }
//!     fn disconnect(&self, _sid: &str, _close: bool) {}
//!     fn socket_info(&self, _sid: &str) -> Option<SocketInfo> { None }
//!     fn on_server_side_emit(&self, _args: Vec<Value>, _ack: Option<ServerSideAck>) {}
//! }
//!
//! let ns = Arc::new(Ns::default());
//! let weak: Weak<dyn LocalNamespace> = Arc::downgrade(&(ns.clone() as Arc<dyn LocalNamespace>));
//! let adapter = InMemoryAdapter::new(AdapterContext { namespace: weak, name: "/".into(), recovery: None });
//! adapter.add_all(&"a".into(), &["a".into(), "room".into()]);
//! adapter.add_all(&"b".into(), &["b".into()]);
//! adapter.broadcast(Packet::event("/", "hi", vec![]), BroadcastOptions::default().to("room")).unwrap();
//! assert_eq!(ns.0.lock().unwrap().as_slice(), &[("a".to_owned(), 0)]);
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod ack;
mod adapter;
mod handshake;
mod local;
mod local_adapter;
mod memory;
mod options;
mod room_event;
mod rooms;
mod session;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;

#[cfg(feature = "redis-streams")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis-streams")))]
pub mod redis_streams;

use std::sync::Arc;

pub use ack::{BroadcastAckEvent, BroadcastAckReceiver, BroadcastAckSink};
pub use adapter::{Adapter, AdapterContext, AdapterError, AdapterFactory, RemoteCommand};
pub use handshake::{Handshake, SocketInfo};
pub use local::{DeliverError, EncodedPacket, LocalNamespace, ServerSideAck};
pub use local_adapter::LocalAdapter;
pub use memory::{InMemoryAdapter, InMemoryAdapterFactory};
pub use options::{BroadcastFlags, BroadcastOptions};
pub use room_event::RoomEvent;
pub use rooms::{Connection, Member, Members, MembersIter, RoomIndex};
pub use session::{
    PersistedSession, RecoveryConfig, RestoredSession, SessionStore, MAX_STORED_PACKETS,
};

/// A room name. Every socket is in the room named by its own id.
pub type Room = Arc<str>;

/// A Socket.IO socket id (not the Engine.IO session id).
pub type Sid = Arc<str>;
