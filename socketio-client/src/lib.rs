//! A Socket.IO v5 client (Socket.IO 3 and 4 servers), async on tokio, with a blocking wrapper.
//!
//! - [`ClientBuilder`] configures a [`Socket`]: namespace, auth (a value, or an async callback
//!   evaluated at each connection), transports, headers, parser (JSON or msgpack), reconnection,
//!   acks, retries, and the event handlers.
//! - A [`Manager`] is one Engine.IO connection shared by the sockets of several namespaces
//!   (multiplexing, on by default), reconnecting with exponential [`Backoff`] and jitter.
//! - [`Socket`]: `emit` (any `Serialize` value, binary at any depth), `emit_with_ack` (a future
//!   with a timeout, the answer read as any [`FromAck`] type as on the server), volatile emits
//!   (`socket.volatile().emit(..)`, as on the server), buffering while disconnected, connection
//!   state recovery ([`Socket::recovered`]), `disconnect` (stops reconnection for good; so does
//!   dropping the last handle).
//! - Handlers are async closures; the value a handler returns is the reply when the server
//!   asked for an acknowledgement.
//! - [`blocking`]: the same for programs without an async runtime.
//!
//! ```no_run
//! use socketio_client::{ClientBuilder, Event, Socket};
//! use serde_json::json;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), socketio_client::Error> {
//!     let socket = ClientBuilder::new("http://localhost:3000")
//!         .auth(json!({"token": "secret"}))
//!         .on("chat", |event: Event, _socket: Socket| async move {
//!             let text: String = event.arg(0).unwrap_or_default();
//!             println!("chat: {text}");
//!         })
//!         .connect()
//!         .await?;
//!     let reply: String = socket.emit_with_ack("join", json!({"room": "rust"}))?.await?;
//!     println!("joined: {reply}");
//!     socket.disconnect().await;
//!     Ok(())
//! }
//! ```
//!
//! # Module map
//!
//! Each concept lives in one module named for it.
//!
//! | Concept | Module |
//! |---|---|
//! | Options, handlers, `connect` ([`ClientBuilder`]) | `builder` |
//! | The auth payload of each `CONNECT` | `auth` |
//! | One namespace as a state machine without I/O: `CONNECT`, buffering of emits and received events, acks failed on disconnect, recovery | `socket_core` |
//! | The [`Socket`] handle: state, retries, the handlers' dispatch task | `socket` |
//! | Emitting: `emit`, `emit_with_ack`, per-emit flags (`socket.volatile()`, [`SocketEmitter`]) | `emitter` |
//! | Acks the client waits for | `ack` |
//! | Multiplexing: one Engine.IO connection per [`Manager`], shared by its sockets | `manager` |
//! | Reconnection: the task that opens, reads and reopens that connection | `reconnect` |
//! | Reconnection delays ([`Backoff`]) | `backoff` |
//! | The Engine.IO connection's options ([`Transports`]) | `engine` |
//! | Received event arguments ([`Event`]; what an emit sends, [`Args`] and [`IntoArgs`], is `socketio-parser`'s, shared with the server) | `args` |
//! | Event handlers ([`EventHandler`]) | `handler` |
//! | Disconnect reasons ([`DisconnectReason`]) | `reason` |
//! | Errors ([`Error`]) | `error` |
//! | The blocking API | [`blocking`] |
//!
//! The Engine.IO transport is `engine-io-client`; packets and parsers are `socketio-parser`.
//!
//! # `siocat`
//!
//! The crate's binary is a command-line client, like `wscat` for Socket.IO:
//!
//! ```text
//! $ siocat http://localhost:3000 --namespace /chat --auth '{"token":"x"}' --ack
//! ["message","hello from the server"]          <- every received event, one JSON line
//! ["message", "hi"]                            -> typed on stdin: emitted
//! {"ack":["ok"]}                               <- its acknowledgement (--ack)
//! ```
//!
//! `siocat --help` lists the options (`--header`, `--transport polling|websocket|upgrade`,
//! `--emit EVENT JSON`, `--msgpack`, ...). It exits with status 1 and a clear message when it
//! cannot connect or the connection is lost, 0 when stdin ends or the server disconnects it,
//! 2 on bad arguments.
//!
//! Behaviour follows the reference JavaScript client (socket.io-client 4.8): reconnection
//! delays, disconnect reasons ([`DisconnectReason`]), no automatic reconnection after the
//! server refused the connection or disconnected the socket, acks pending on a lost connection
//! failing with "socket has been disconnected", buffered emits flushed on connect.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod ack;
mod args;
mod auth;
mod backoff;
pub mod blocking;
mod builder;
mod emitter;
mod engine;
mod error;
mod handler;
mod manager;
mod reason;
mod reconnect;
mod socket;
mod socket_core;

pub use ack::AckFuture;
pub use args::Event;
pub use backoff::Backoff;
pub use builder::ClientBuilder;
pub use emitter::SocketEmitter;
pub use engine::Transports;
pub use error::{Error, Result};
pub use handler::EventHandler;
pub use manager::{Manager, ManagerEvent};
pub use reason::DisconnectReason;
pub use socket::Socket;
pub use socketio_parser::{Args, Bytes, FromAck, IntoArgs, Map, Parser, Value};
