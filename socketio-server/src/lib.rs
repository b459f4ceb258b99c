//! A Socket.IO v5 server (compatible with the npm `socket.io-client` 4.x, and 2.x with
//! [`allow_eio3`](SocketIoBuilder::allow_eio3)), built on the `engine-io` crate.
//!
//! # Overview
//!
//! ```no_run
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//! use socketio_server::{AckSender, ConnectError, Data, DisconnectReason, SocketIo, SocketRef};
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! struct Chat { room: String, text: String }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let io = SocketIo::builder()
//!         .ping_interval(Duration::from_secs(25))
//!         .connect_timeout(Duration::from_secs(45))
//!         .build();
//!
//!     // Connection middleware of the main namespace: refuse with a message and data.
//!     io.use_middleware(|socket: SocketRef| async move {
//!         if socket.handshake().auth.get("token").is_some() {
//!             Ok(())
//!         } else {
//!             Err(ConnectError::new("not authorized").with_data(serde_json::json!({"code": 401})))
//!         }
//!     });
//!
//!     io.ns("/", |socket: SocketRef| async move {
//!         // Typed arguments, optional acknowledgement.
//!         socket.on("join", |socket: SocketRef, Data(room): Data<String>, ack: Option<AckSender>| async move {
//!             socket.join(room.as_str());
//!             if let Some(ack) = ack { let _ = ack.send(&"joined"); }
//!         });
//!         socket.on("chat", |socket: SocketRef, Data(msg): Data<Chat>| async move {
//!             // To everybody in the room except the sender.
//!             let _ = socket.to(msg.room.as_str()).emit("chat", &msg);
//!         });
//!         // Ask the client something and wait for its answer.
//!         socket.on("ready", |socket: SocketRef| async move {
//!             if let Ok(ack) = socket.emit_with_ack::<_, String>("name?", &()) {
//!                 if let Ok(name) = ack.timeout(Duration::from_secs(5)).await {
//!                     let _ = socket.set_data(&name);
//!                 }
//!             }
//!         });
//!         socket.on_disconnect(|socket: SocketRef, reason: DisconnectReason| async move {
//!             println!("{} disconnected: {reason}", socket.id());
//!         });
//!     });
//!
//!     // Server-wide operations go through the adapter (cluster-ready).
//!     let io2 = io.clone();
//!     tokio::spawn(async move {
//!         let _ = io2.emit("tick", &1);
//!         if let Ok(sockets) = io2.fetch_sockets().await {
//!             println!("{} sockets", sockets.len());
//!         }
//!     });
//!
//!     io.listen("127.0.0.1:3000").await
//! }
//! ```
//!
//! # Model
//!
//! * **Namespaces** ([`SocketIo::ns`], [`SocketIo::of`], dynamic ones with
//!   [`SocketIo::dynamic_ns`] / [`SocketIo::dynamic_ns_with`]) hold sockets, connection
//!   middlewares ([`Namespace::use_middleware`]; [`SocketIo::use_middleware`] is the main
//!   namespace's, as the reference `io.use`) and an adapter.
//! * **Handlers** are `async` closures (or `async fn`s) whose parameters are extractors, for
//!   every handler kind: events ([`FromEvent`]: [`SocketRef`], [`Data`], [`TryData`],
//!   [`Args`], [`Event`], [`AckSender`], `Option<AckSender>`), connections and connection
//!   middlewares ([`FromConnectParts`]: [`Data`] / [`TryData`] of the auth payload),
//!   disconnections ([`FromDisconnectParts`]: [`DisconnectReason`]), and in all of them the
//!   state extractors below.
//!   Events from one client are dispatched in the order they arrived: each handler is called
//!   and its future polled once inline; only a handler that is still pending is moved to a
//!   task (its remaining steps then interleave with later handlers, like an `async` function in
//!   Node). A panicking handler is caught and logged.
//! * **Emitting**: [`SocketRef::emit`] and [`SocketRef::emit_with_ack`] take [`IntoArgs`], as
//!   the client's: one serde argument (`&v`), `()` for none, [`Args`] for several (binary
//!   included); broadcasting with
//!   [`BroadcastOperator`] (`to`, `except`, `volatile`, `local`, `compress`, `timeout`,
//!   `emit_with_ack` giving an [`AckStream`] of one answer per recipient, that keeps the
//!   answers of the sockets in time when others are late). A broadcast is encoded once and the
//!   same bytes are queued on every recipient.
//! * **Full outgoing queue** (bounded by bytes and time: [`SocketIoBuilder::slow_consumer`],
//!   [`SocketIoBuilder::max_buffered_bytes`]): volatile packets are
//!   dropped; any other packet disconnects the slow client with
//!   [`DisconnectReason::SlowConsumer`] — never a silent drop, never unbounded memory.
//! * **Connection state recovery** ([`SocketIoBuilder::connection_state_recovery`]): emitted
//!   events carry offsets; a client reconnecting with its `pid` and last offset gets its id,
//!   rooms and data back and the missed events replayed ([`Socket::recovered`]).
//! * **Mounting**: [`SocketIo::listen`], [`SocketIo::service`] (hyper / tower `Service`),
//!   [`SocketIo::layer`] (tower `Layer`, e.g. inside axum next to other routes).
//! * **Adapters**: the default is in memory; a cluster adapter implements
//!   [`socketio_adapter::Adapter`] and is set with [`SocketIoBuilder::adapter`].
//!
//! # Shared state
//!
//! Handlers need not capture clones of the server or of the application state:
//!
//! * [`State<T>`] — set once with [`SocketIoBuilder::with_state`], shared by the whole server;
//! * [`Extension<T>`] / [`MaybeExtension<T>`] — per socket, typically inserted by a connection
//!   middleware into [`Socket::extensions`];
//! * [`HttpExtension<T>`] / [`MaybeHttpExtension<T>`] — from the handshake request, e.g. what
//!   a tower / axum layer in front of the server inserted;
//! * [`SocketIo`] — the server itself.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use socketio_server::{
//!     ConnectError, Data, DisconnectReason, Extension, SocketIo, SocketRef, State,
//! };
//!
//! #[derive(Clone, Default)]
//! struct Online(Arc<AtomicUsize>);
//! #[derive(Clone)]
//! struct User(String);
//! #[derive(serde::Deserialize)]
//! struct Auth { name: String }
//!
//! async fn on_connect(socket: SocketRef, State(online): State<Online>, Extension(user): Extension<User>) {
//!     online.0.fetch_add(1, Ordering::Relaxed);
//!     let _ = socket.emit("welcome", &user.0);
//!     socket.on("say", |io: SocketIo, Extension(user): Extension<User>, Data(text): Data<String>| async move {
//!         let _ = io.emit("said", &format!("{}: {text}", user.0));
//!     });
//!     socket.on_disconnect(|State(online): State<Online>, reason: DisconnectReason| async move {
//!         online.0.fetch_sub(1, Ordering::Relaxed);
//!         println!("left: {reason}");
//!     });
//! }
//!
//! let io = SocketIo::builder().with_state(Online::default()).build();
//! io.use_middleware(|socket: SocketRef, Data(auth): Data<Auth>| async move {
//!     if auth.name.is_empty() {
//!         return Err(ConnectError::new("a name, please"));
//!     }
//!     socket.extensions().insert(User(auth.name));
//!     Ok(())
//! });
//! io.ns("/", on_connect);
//! ```
//!
//! # Cargo features
//!
//! * `axum` (default): the handshake's peer `address` is read from axum's
//!   `ConnectInfo<SocketAddr>` (serve with `into_make_service_with_connect_info`).
//! * `metrics` (default): Prometheus metrics, off until
//!   `SocketIoBuilder::metrics(true)`; see `Metrics`.
//! * `admin-ui` (default): instrumentation for the `@socket.io/admin-ui` web app, off until
//!   `SocketIo::instrument` is called; see `AdminUiOptions`.
//!
//! Both observers cost nothing at run time until they are turned on. Every connection logs
//! within a `socketio_connection` `tracing` span carrying its Engine.IO `sid`.
//!
//! # Compression
//!
//! WebSocket connections never negotiate per-message deflate (the reference's default) and
//! polling responses are compressed as a whole ([`SocketIoBuilder::http_compression`]), so a
//! single socket's emits have no compression flag; a broadcast's
//! [`compress`](BroadcastOperator::compress) only travels to the other nodes of a cluster.

//! # Module map
//!
//! | module | owns |
//! |---|---|
//! | `server` | [`SocketIo`]: the namespaces, the dynamic parents, the Engine.IO server and its callbacks |
//! | `config` | [`SocketIoBuilder`] and the server settings; encoding a packet with the server's parser |
//! | `client` | one Engine.IO connection: its decoder, its sockets (one per namespace), the CONNECT sequence entry and the outgoing queue policy |
//! | `namespace` | [`Namespace`]: its sockets, middlewares, adapter, and the connect sequence (recovery, middlewares, CONNECT / CONNECT_ERROR) |
//! | `parent` | [`ParentNamespace`]: dynamic namespaces and their children |
//! | `socket` | [`Socket`], [`SocketRef`]: one client in one namespace (listeners, rooms, incoming packets); `socket::emitter` holds [`SocketEmitter`] |
//! | `ack` | acknowledgements both ways: [`AckSender`], [`AckFuture`], [`FromAck`] |
//! | `broadcast` | [`BroadcastOperator`], [`RemoteSocket`] (with [`RemoteEmitter`], [`RemoteAck`]), [`IntoRooms`] |
//! | `extract` | handler extractors: [`Data`], [`TryData`], [`Args`], [`Event`], [`EventHandler`] |
//! | `handshake` | the socket handshake built from the Engine.IO request |
//! | `reason` | [`DisconnectReason`] and its reference strings |
//! | `errors` | [`EmitError`], [`AckError`], [`ConnectError`] |
//! | `extensions` | [`Extensions`]: per-socket typed data |
//! | `runner` | running handler futures inline, moving them to a task only when pending |
//! | `service` | [`SocketIoService`], [`SocketIoLayer`]: mounting in hyper / tower / axum |
//! | `sid` | socket ids |
//! | `handler` | the handler kinds (connect, middleware, event, disconnect) and their boxed forms |
//! | `state` | shared-state extractors: [`State`], [`Extension`], [`HttpExtension`], [`SocketIo`] as an extractor |
//! | `metrics`, `prometheus` | the server's counters and their Prometheus endpoint (feature `metrics`) |
//! | `admin` | the `@socket.io/admin-ui` instrumentation (feature `admin-ui`) |
//!
//! The protocol rules themselves are the codec crates': packets, CONNECT_ERROR per protocol
//! version and the frame → message conversion in `socketio-parser`, the adapter operations in
//! `socketio-adapter`.
//!
//! ## The one remaining module cycle, and why
//!
//! `ack`, `client`, `namespace`, `parent`, `server` and `socket` reach each other because
//! their types own each other at run time: the server owns its namespaces, dynamic parents
//! and clients, and a client resolves namespaces through its server; a parent owns its child
//! namespaces and registers them with the server, and a child tells its parent when it
//! empties; a namespace owns its sockets and runs the client's connect sequence; a socket
//! belongs to both its namespace and its client; and a socket keeps its pending
//! acknowledgements while an [`AckFuture`] removes its own slot from that socket. The other
//! modules (ids, encoding, config, extractors, broadcast, emitter) are outside the cycle.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod ack;
#[cfg(feature = "admin-ui")]
mod admin;
mod broadcast;
mod client;
#[cfg(feature = "cluster-engine")]
mod cluster_engine;
mod config;
mod errors;
mod extensions;
mod extract;
mod handler;
mod handshake;
mod metrics;
mod namespace;
mod parent;
#[cfg(feature = "metrics")]
mod prometheus;
mod reason;
mod runner;
mod server;
mod service;
mod sid;
mod socket;
mod state;

pub use ack::{AckFuture, AckSender, AckStream};
#[cfg(feature = "admin-ui")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
pub use admin::{AdminAuth, AdminUiError, AdminUiOptions};
pub use broadcast::{BroadcastOperator, IntoRooms, RemoteAck, RemoteEmitter, RemoteSocket};
pub use config::SocketIoBuilder;
pub use errors::{AckError, ConnectError, EmitError, PacketError};
pub use extensions::Extensions;
pub use extract::{Data, Event, EventHandler, EventParts, ExtractError, FromEvent, TryData};
pub use handler::{
    ConnectHandler, ConnectMiddleware, DisconnectHandler, FromConnectParts, FromDisconnectParts,
};
pub use namespace::Namespace;
pub use parent::ParentNamespace;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use prometheus::Metrics;
pub use reason::DisconnectReason;
pub use server::SocketIo;
pub use service::{SocketIoLayer, SocketIoService};
pub use socket::{IncomingEvent, Next, PacketMiddleware, Socket, SocketEmitter, SocketRef};
pub use state::{Extension, HttpExtension, MaybeExtension, MaybeHttpExtension, State};

pub use socketio_adapter::{
    Adapter, AdapterError, AdapterFactory, BroadcastFlags, BroadcastOptions, Handshake,
    RecoveryConfig, Room, RoomEvent, ServerSideAck, Sid, SocketInfo,
};
pub use socketio_parser::{Args, FromAck, IntoArgs, Parser, Value};
