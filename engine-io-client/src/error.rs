//! The errors of the client: connecting, the handshake, and what ends an open connection.

use std::sync::Arc;
use std::time::Duration;

/// Everything that can go wrong while connecting or while a connection is open.
///
/// The error is cheap to clone (sources are shared behind an [`Arc`]) because it travels both to
/// the caller of [`ClientBuilder::connect`](crate::ClientBuilder::connect) and inside
/// [`CloseReason::TransportError`](crate::CloseReason::TransportError).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL given to the builder is not usable (bad syntax, unsupported scheme, no host).
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// A header name or value given to the builder is not valid HTTP.
    #[error("invalid header: {0}")]
    InvalidHeader(String),
    /// The configuration cannot work (for example an empty transport list).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Opening the TCP connection failed (DNS, refused, reset, ...).
    #[error("connection failed: {0}")]
    Io(#[source] Arc<std::io::Error>),
    /// The TLS handshake or the TLS configuration failed.
    #[error("TLS error: {0}")]
    Tls(String),
    /// The HTTP exchange failed below the Engine.IO level (connection reset, bad HTTP).
    #[error("HTTP error: {0}")]
    Http(String),
    /// The server answered an HTTP request with an error status. Engine.IO servers send a JSON body
    /// `{"code": N, "message": "..."}`; `code` and `message` come from it when present (for
    /// example code 1, "Session ID unknown", when a load balancer sent the request to another node).
    #[error("server answered HTTP {status}: {message}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The Engine.IO error code from the JSON body, if any.
        code: Option<i64>,
        /// The Engine.IO error message from the JSON body, or the raw body (truncated).
        message: String,
    },
    /// The WebSocket connection or handshake failed.
    #[error("WebSocket error: {0}")]
    WebSocket(String),
    /// The WebTransport session or its stream failed (feature `webtransport`).
    #[error("WebTransport error: {0}")]
    WebTransport(String),
    /// The connection (TCP, TLS and the Engine.IO handshake) did not complete in time.
    #[error("connection timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// The server did not answer an HTTP request in time.
    #[error("request timed out after {0:?}")]
    RequestTimeout(Duration),
    /// The server's handshake (the `open` packet) is missing or malformed.
    #[error("invalid handshake: {0}")]
    Handshake(String),
    /// The server sent something that is not valid Engine.IO.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server sent a payload or message larger than the configured limit
    /// ([`ClientBuilder::max_incoming_payload`](crate::ClientBuilder::max_incoming_payload)).
    #[error("incoming payload exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The server sent an `error` packet or closed the WebSocket with an error code.
    #[error("server error: {0}")]
    Server(String),
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
}

impl Error {
    /// The Engine.IO error message the server sent with an HTTP error status (for example
    /// `"Session ID unknown"`), if this error carries one.
    pub fn server_message(&self) -> Option<&str> {
        match self {
            Error::Status { message, .. } => Some(message),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::Io(Arc::new(err))
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
