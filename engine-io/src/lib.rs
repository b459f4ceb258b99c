//! Engine.IO server and the Engine.IO packet and payload codec.
//!
//! This crate speaks Engine.IO v4 (and v3 with [`Config::allow_eio3`]) the way
//! the npm `engine.io` 6.6 server does on the wire: HTTP long-polling (XHR and
//! JSONP), WebSocket, and the upgrade from one to the other.
//!
//! * The codec ([`packet`], [`payload`], [`Str`], [`Message`], [`Handshake`])
//!   has no I/O and compiles with `default-features = false`, and so do the
//!   vocabulary types shared with the client: [`CloseReason`],
//!   [`TransportType`], [`TrySendError`], [`SendError`] and [`Closed`].
//! * The server (feature `server`, on by default): [`Server`], [`Socket`],
//!   [`Handler`], [`Config`], and the integrations [`EngineIoService`] (hyper 1),
//!   [`EngineIoLayer`] (tower / axum) and [`listen`].
//!
//! # Example: an echo server
//! ```no_run
//! # #[cfg(feature = "server")]
//! # async fn demo() -> std::io::Result<()> {
//! use engine_io::{Config, Server};
//!
//! let server = Server::new_stream(Config::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! let acceptor = server.clone();
//! tokio::spawn(async move {
//!     while let Some(socket) = acceptor.accept().await {
//!         tokio::spawn(async move {
//!             while let Some(msg) = socket.recv().await {
//!                 if socket.send(msg).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         });
//!     }
//! });
//! server.serve(listener).await
//! # }
//! ```
//!
//! # Outgoing queue and backpressure
//! Each socket has a bounded outgoing queue ([`Config::max_buffered_messages`],
//! default 1024 messages). The transport drains it: a pending polling `GET`
//! takes everything queued as one payload; the WebSocket writer encodes
//! everything queued and writes it with a single flush. When a client stops
//! reading, the queue fills up and then [`Socket::try_send`] returns
//! [`TrySendError::Full`] with the message (drop it, retry, or close the
//! socket), while [`Socket::send`] waits for room. [`Socket::try_send_many`] /
//! [`Socket::send_many`] queue several messages atomically, and
//! [`Socket::flush`] resolves once everything queued so far was written.
//!
//! # Resource use
//! One task per session (heartbeat, WebSocket I/O, upgrade), no task per
//! message, no lock held across `.await`. WebSocket buffers are small by
//! default ([`Config::ws_read_buffer_size`]): an idle WebSocket session costs
//! about 5 KB of server memory. Request bodies are read incrementally and
//! refused (413) as soon as they exceed [`Config::max_http_buffer_size`].
//!
//! # Example: the codec alone
//! ```
//! use engine_io::packet::{Packet, ProtocolVersion};
//! use engine_io::{payload, Str};
//!
//! let body = payload::encode_v4(&[Packet::message("hello"), Packet::message(bytes::Bytes::from_static(&[1, 2]))]);
//! assert_eq!(body, "4hello\x1ebAQI=");
//! let packets: Vec<Packet> = payload::decode_v4(Str::from(body)).collect::<Result<_, _>>().unwrap();
//! assert_eq!(packets.len(), 2);
//! assert_eq!(Packet::message("x").encode_text(ProtocolVersion::V4), "4x");
//! ```

// The crate docs describe the server too; without it those links dangle.
#![cfg_attr(not(feature = "server"), allow(rustdoc::broken_intra_doc_links))]

mod close_reason;
mod error;
mod handshake;
mod message;
pub mod packet;
pub mod payload;
mod send_error;
mod str;
mod transport;

pub use close_reason::CloseReason;
pub use error::DecodeError;
pub use handshake::Handshake;
pub use message::Message;
pub use packet::{Data, Frame, Packet, PacketType, ProtocolVersion};
pub use send_error::{Closed, SendError, TrySendError};
pub use str::Str;
pub use transport::TransportType;

#[cfg(feature = "server")]
mod body;
#[cfg(feature = "server")]
mod compression;
#[cfg(feature = "server")]
mod config;
#[cfg(feature = "server")]
mod cors;
#[cfg(feature = "server")]
mod driver;
#[cfg(feature = "server")]
mod errors;
#[cfg(feature = "server")]
mod handler;
#[cfg(feature = "server")]
mod heartbeat;
#[cfg(feature = "server")]
mod listen;
#[cfg(feature = "server")]
mod polling;
#[cfg(feature = "server")]
mod request;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
mod service;
#[cfg(feature = "server")]
mod socket;
#[cfg(feature = "server")]
mod websocket;

#[cfg(feature = "server")]
pub use body::ResponseBody;
#[cfg(feature = "server")]
pub use config::{
    AllowRequestFn, AllowRequestFuture, Config, ConfigBuilder, CookieConfig, HeadersFn, SameSite,
};
#[cfg(feature = "server")]
pub use cors::{Cors, CorsOrigin, OriginPredicate};
#[cfg(feature = "server")]
pub use errors::ErrorCode;
#[cfg(feature = "server")]
pub use handler::Handler;
#[cfg(feature = "server")]
pub use listen::listen;
#[cfg(feature = "server")]
pub use request::{Headers, QueryPairs, RemoteAddr, RequestInfo};
#[cfg(feature = "server")]
pub use server::Server;
#[cfg(feature = "server")]
pub use service::{BoxFuture, EngineIoLayer, EngineIoMiddleware, EngineIoService};
#[cfg(feature = "server")]
pub use socket::Socket;
