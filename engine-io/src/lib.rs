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
//! * WebTransport (feature `webtransport`): `Server::serve_webtransport`
//!   serves sessions over HTTP/3 on a `wtransport` endpoint, a new session
//!   or the upgrade of a polling one, framed by [`wt_codec`]. Built on
//!   `wtransport` 0.6 rather than `h3` + `h3-webtransport` + `quinn`: one
//!   crate with a server and a client (`h3-webtransport` is server-only and
//!   experimental), the HTTP/3 handshake Chromium expects, self-signed
//!   ECDSA P-256 ≤ 14-day certificates for `serverCertificateHashes`, rustls,
//!   and an MSRV (1.81) within the workspace's.
//! * The server (feature `server`, on by default): [`Server`], [`Socket`],
//!   [`Handler`], [`Config`], and the integrations [`EngineIoService`] (hyper 1),
//!   [`EngineIoLayer`] (tower / axum) and [`listen`].
//!
//! # Module map
//! Each concept lives in one file named for it.
//!
//! | concept | module |
//! | --- | --- |
//! | packets, payloads (the codec) | `packet`, `payload`, `message`, `str`, `decode_error` |
//! | WebTransport frames (the codec) | `wt_codec` |
//! | WebSocket client frames (the reader, no I/O) | `ws_frame` |
//! | vocabulary shared with the client | `close_reason`, `transport`, `send_error` |
//! | the handshake (open packet JSON; opening a session) | `handshake` |
//! | **the session**: lifecycle, upgrade, close, polling request slots, all deadlines — no I/O | `session` |
//! | the heartbeat rules (v3 and v4) | `heartbeat` |
//! | the socket (public handle, outgoing queue, carrying out the session's effects) | `socket`, `packet_queue` |
//! | the stream API's inbox and its backpressure; the messages kept while a cluster delays the connection | `inbox` |
//! | the socket task (timers and WebSocket I/O around the session) | `driver` |
//! | HTTP long-polling transport (GET / POST) | `polling` |
//! | WebSocket transport: the HTTP upgrade request | `websocket` |
//! | WebSocket transport: the stream, its reads and control frames, batching writer, close codes | `ws_io` |
//! | the transport stream a socket task drives (WebSocket or WebTransport) | `conn` |
//! | WebTransport transport (feature `webtransport`): sessions, first frame; the stream | `webtransport`, `wt_io` |
//! | request routing and verification, the registry | `server`, `shared` |
//! | HTTP refusals (error codes) | `refusal` |
//! | the hook through which cluster nodes serve each other's sessions (foreign requests, delayed connection, takeover and tunneled upgrades) | `cluster` |
//! | configuration, CORS, request info, compression | `config`, `cors`, `request`, `compression` |
//! | embedding (hyper / tower / axum, listener) | `service`, `listen`, `served_tcp`, `body` |
//!
//! The session core is what the transports drive: they feed it events
//! (packet received, GET / POST arrived or ended, probe, timer, close) with
//! the current time and carry out the effects it returns (answer this GET,
//! flush, close the probe...). Anything else — another transport, a node of
//! a cluster — can drive a session the same way.
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
//! Each socket has an outgoing queue bounded by bytes. The transport drains it:
//! a pending polling `GET` takes everything queued as one payload; the
//! WebSocket writer encodes everything queued and writes it with a single
//! flush. A burst between two polls is normal; a client is a slow consumer
//! only when its queue holds more than [`Config::slow_consumer_bytes`]
//! (default 1 MiB) and has not been drained for
//! [`Config::slow_consumer_timeout`] (default 10 s), or reaches the hard cap
//! [`Config::max_buffered_bytes`] (default 16 MiB). Then
//! [`Socket::try_send`] returns [`TrySendError::Full`] with the message (drop
//! it, retry, or close the socket), while [`Socket::send`] waits for room.
//! [`Socket::try_send_many`] / [`Socket::send_many`] queue several messages
//! atomically, and [`Socket::flush`] resolves once everything queued so far
//! was written.
//!
//! Incoming, the stream API's inbox ([`Config::inbox_capacity`]) applies
//! backpressure: when it is full the WebSocket is not read and a polling
//! `POST` waits for room, so a payload of any number of packets is delivered.
//!
//! # Resource use
//! One task per session (heartbeat, WebSocket I/O, upgrade), no task per
//! message, no lock held across `.await`. A WebSocket holds no read or write
//! buffer of its own: socket reads go through a per-thread buffer that
//! messages are sliced from, and only the bytes of a frame that has not fully
//! arrived are kept per connection: an idle Socket.IO WebSocket session costs
//! about 4 KB of server memory. Request bodies are read incrementally and
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
#![cfg_attr(docsrs, feature(doc_cfg))]
// The crate docs describe the server too; without it those links dangle.
#![cfg_attr(not(feature = "server"), allow(rustdoc::broken_intra_doc_links))]

mod close_reason;
mod decode_error;
mod handshake;
mod message;
pub mod packet;
pub mod payload;
mod send_error;
mod sid_hash;
mod str;
mod transport;
pub mod ws_frame;
pub mod wt_codec;

pub use close_reason::CloseReason;
pub use decode_error::DecodeError;
pub use handshake::Handshake;
pub use message::Message;
pub use packet::{Data, Frame, Packet, PacketType, ProtocolVersion};
pub use send_error::{Closed, SendError, TrySendError};
pub use sid_hash::{SidHashBuilder, SidHasher};
pub use str::Str;
pub use transport::TransportType;

#[cfg(feature = "server")]
mod body;
#[cfg(feature = "server")]
mod cluster;
#[cfg(feature = "server")]
mod compression;
#[cfg(feature = "server")]
mod config;
#[cfg(feature = "server")]
mod conn;
#[cfg(feature = "server")]
mod cors;
#[cfg(feature = "server")]
mod direct_upgrade;
#[cfg(feature = "server")]
mod driver;
#[cfg(feature = "server")]
mod handler;
#[cfg(feature = "server")]
mod heartbeat;
#[cfg(feature = "server")]
mod inbox;
#[cfg(feature = "server")]
mod listen;
#[cfg(feature = "server")]
mod packet_queue;
#[cfg(feature = "server")]
mod polling;
#[cfg(feature = "server")]
mod refusal;
#[cfg(feature = "server")]
mod request;
#[cfg(feature = "server")]
mod served_tcp;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
mod service;
#[cfg(feature = "server")]
mod session;
#[cfg(feature = "server")]
mod shared;
#[cfg(feature = "server")]
mod socket;
#[cfg(feature = "server")]
mod websocket;
#[cfg(feature = "webtransport")]
mod webtransport;
#[cfg(feature = "server")]
mod ws_io;
#[cfg(feature = "webtransport")]
mod wt_io;
/// The WebTransport library the `webtransport` feature is built on (its
/// endpoint, configuration and identity types).
#[cfg(feature = "webtransport")]
#[cfg_attr(docsrs, doc(cfg(feature = "webtransport")))]
pub use wtransport;

#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use body::ResponseBody;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use cluster::{
    Cluster, ForeignRequest, ForeignUpgrade, ForwardFuture, Handover, OwnerUpgrade, TunnelFn,
    TunnelIo, UpgradeAnswer, UpgradeFuture,
};
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use config::{
    AllowRequestFn, AllowRequestFuture, Config, ConfigBuilder, CookieConfig, HeadersFn, SameSite,
};
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use cors::{Cors, CorsOrigin, OriginPredicate};
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use handler::Handler;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use listen::listen;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use refusal::ErrorCode;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use request::{Headers, QueryPairs, RemoteAddr, RequestInfo};
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use server::Server;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use service::{BoxFuture, EngineIoLayer, EngineIoMiddleware, EngineIoService};
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use socket::Socket;
