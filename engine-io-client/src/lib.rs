//! An [Engine.IO](https://socket.io/docs/v4/engine-io-protocol/) v4 client: HTTP long-polling,
//! WebSocket, and polling upgraded to WebSocket, as the reference JavaScript client
//! (`engine.io-client` 6) does it.
//!
//! - **Transports**: polling, WebSocket, or polling then upgrade (`2probe`/`3probe`, pause
//!   polling, `5`); [`ClientBuilder::transports`], `rememberUpgrade`, `tryAllTransports`.
//! - **Heartbeat**: pings are answered; silence longer than `pingInterval + pingTimeout` closes
//!   the connection with "ping timeout".
//! - **Sticky load balancers**: a [`CookieJar`] per client, on by default, stores `Set-Cookie`
//!   from every response and sends `Cookie` on every polling request and on the WebSocket
//!   handshake, so HAProxy (`cookie SERVERID insert`) or AWS ALB (`AWSALB`) keep the session on
//!   one node.
//! - **Binary** both ways (base64 inside polling payloads, binary frames over WebSocket);
//!   polling `POST`s split to respect the server's `maxPayload`.
//! - **TLS** over rustls for `https`/`wss` (Mozilla or system roots, extra roots, or an opt-in
//!   to accept invalid certificates for tests); path, query, extra headers, connect timeout.
//! - **Robust**: bounded queues, no lock across an await, and a server sending garbage,
//!   oversize payloads or nothing at all gives an error and a clean close, never a panic or hang.
//!
//! # Module map
//!
//! Each concept lives in one module named for it. The protocol rules are in modules without
//! I/O (no task, socket or clock); the driver and the transports do the I/O around them.
//!
//! | Concept | Module |
//! |---|---|
//! | One open connection as a state machine: inputs with the time in, effects out | `connection` (tests as event → effects tables in `connection/tests.rs`) |
//! | Handshake: opening a session over the first transport, the `open` packet | `handshake` |
//! | Heartbeat: answering pings, the silence window | `heartbeat` |
//! | Upgrade: the probe's states (`2probe`, `3probe`, pause, `5`) | `upgrade` |
//! | Buffering: the write queue, `POST`s split to `maxPayload`, flush | `write_buffer` |
//! | Deadlines: heartbeat, upgrade, close, in one table | `timer` |
//! | The task that runs a connection: I/O around `connection` | `driver` |
//! | What the driver sees of a transport | `transport` |
//! | HTTP long-polling | `polling` |
//! | WebSocket | `websocket` |
//! | WebTransport (feature `webtransport`) | `webtransport` |
//! | Cookie jar (sticky load balancers) | `cookie_jar` |
//! | Where to connect: URLs and query | `endpoint` |
//! | TCP and TLS connections, TLS roots | `connector`, `tls` |
//! | Options ([`ClientBuilder`]) and their resolved form | `builder`, `config` |
//! | The user's handle, events and close reasons ([`Client`], [`Events`], [`CloseReason`]) | `client` |
//! | Errors ([`Error`]) | `error` |
//!
//! The close-reason strings, the transport names ([`TransportType`]) and the send errors
//! ([`SendError`], [`TrySendError`]) are the codec's (`engine_io`), shared with the server.
//!
//! Not supported: Engine.IO v3 servers (the client speaks `EIO=4` only), JSONP polling,
//! HTTP proxies, HTTP/2. WebTransport (HTTP/3) with the feature `webtransport`: add
//! [`TransportType::Webtransport`] to [`ClientBuilder::transports`] (opt-in; the reference's
//! order is polling, websocket, webtransport, and an upgrade favours WebTransport), and pass the
//! server's certificate with [`ClientBuilder::server_certificate_hashes`] or the TLS roots.
//!
//! ```no_run
//! use engine_io_client::{Client, Event, Message};
//!
//! # async fn demo() -> Result<(), engine_io_client::Error> {
//! let (client, mut events) = Client::builder("http://localhost:3000").connect().await?;
//! client.send("hello").await.ok();
//! while let Some(event) = events.recv().await {
//!     match event {
//!         Event::Message(Message::Text(text)) => println!("got {text}"),
//!         Event::Close(reason) => println!("closed: {reason}"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod client;
mod config;
mod connection;
mod connector;
mod cookie_jar;
mod driver;
mod endpoint;
mod error;
mod handshake;
mod heartbeat;
mod polling;
mod timer;
mod tls;
mod transport;
mod upgrade;
mod websocket;
#[cfg(feature = "webtransport")]
mod webtransport;
mod write_buffer;

pub use builder::ClientBuilder;
pub use client::{Client, CloseReason, Event, Events};
pub use cookie_jar::CookieJar;
pub use error::{Error, Result};
pub use tls::TlsRoots;

/// The Engine.IO types shared with the server crate: what is sent and received, the handshake,
/// the transports, and the errors of sending.
pub use engine_io::{Handshake, Message, SendError, Str, TransportType, TrySendError};

/// The cookie store behind [`CookieJar`] (for [`CookieJar::from_store`] and
/// [`CookieJar::with_store`]).
pub use cookie_store;
/// The TLS library (for [`ClientBuilder::tls_config`] and
/// [`ClientBuilder::add_root_certificate`]).
pub use rustls;
