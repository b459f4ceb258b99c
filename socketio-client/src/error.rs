//! The errors of the Socket.IO client.

use std::time::Duration;

use crate::{DisconnectReason, Value};

/// Everything that can go wrong with a Socket.IO client.
///
/// Cheap to clone: the same connection error is reported to every socket of a manager.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not usable.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The options cannot work together.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The Engine.IO connection could not be opened or failed.
    #[error("{0}")]
    Engine(#[from] engine_io_client::Error),
    /// The server refused to let the socket join its namespace (a `CONNECT_ERROR` packet, e.g.
    /// a middleware error or an unknown namespace). The socket does not reconnect on its own.
    #[error("the server refused the connection: {message}")]
    ConnectRefused {
        /// The server's message (`err.message` on the server).
        message: String,
        /// The server's extra data (`err.data` on the server), if any.
        data: Option<Value>,
    },
    /// Connecting (Engine.IO handshake plus the namespace `CONNECT`) took longer than the
    /// connect timeout.
    #[error("connection timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// The connection closed before the namespace was joined (or every reconnection attempt
    /// failed).
    #[error("the connection closed before the namespace was joined: {reason}{}", cause.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    ConnectionLost {
        /// Why the connection closed.
        reason: DisconnectReason,
        /// The underlying error, when there is one (e.g. the server's HTTP error message).
        cause: Option<String>,
    },
    /// An acknowledgement will never come: the socket was disconnected while waiting for it.
    #[error("socket has been disconnected")]
    SocketDisconnected,
    /// The server did not acknowledge in time.
    #[error("operation has timed out")]
    AckTimeout,
    /// The socket was disconnected for good ([`Socket::disconnect`](crate::Socket::disconnect),
    /// a server disconnect or a refused connection) and can no longer emit.
    #[error("the socket is closed")]
    Closed,
    /// Too many emits are buffered while disconnected.
    #[error("the send buffer is full ({0} packets)")]
    BufferFull(usize),
    /// The event name is reserved by Socket.IO (`connect`, `disconnect`, ...).
    #[error("{0:?} is a reserved event name")]
    ReservedEvent(String),
    /// A value could not be converted to or from a Socket.IO payload.
    #[error("serialization error: {0}")]
    Serde(String),
    /// The server sent a packet that is not valid Socket.IO.
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A value that cannot become a payload, or a payload that is not the type asked for.
impl From<socketio_parser::ValueError> for Error {
    fn from(e: socketio_parser::ValueError) -> Self {
        Error::Serde(e.to_string())
    }
}
