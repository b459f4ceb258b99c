//! Errors of the public API.

use socketio_adapter::AdapterError;
use socketio_parser::{EncodeError, Value, ValueError};

/// Why an emit failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The data could not be converted to a Socket.IO value.
    #[error("cannot serialize the event data: {0}")]
    Serialize(#[from] ValueError),
    /// The packet could not be encoded (e.g. an invalid namespace name).
    #[error("cannot encode the packet: {0}")]
    Encode(#[from] EncodeError),
    /// The event name is reserved (`connect`, `disconnect`, ...).
    #[error("{0:?} is a reserved event name")]
    ReservedEvent(String),
    /// The socket is not connected anymore.
    #[error("the socket is disconnected")]
    Disconnected,
    /// The adapter refused the broadcast (e.g. the cluster connection is down).
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// Why waiting for an acknowledgement failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// No (or not every) acknowledgement arrived in time. The reference's message.
    #[error("operation has timed out")]
    Timeout,
    /// The socket disconnected before acknowledging.
    #[error("socket has been disconnected")]
    Disconnected,
    /// The acknowledgement did not have the expected type.
    #[error("cannot deserialize the acknowledgement: {0}")]
    Deserialize(#[from] ValueError),
    /// Sending the event failed.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// The adapter failed (cluster communication).
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// A refusal from a connection middleware, sent to the client as a `CONNECT_ERROR` packet
/// (`{"message": message, "data": data}`; a plain string for Socket.IO 2.x clients).
///
/// ```
/// use socketio_server::ConnectError;
///
/// let err = ConnectError::new("not authorized").with_data(serde_json::json!({"retry": false}));
/// assert_eq!(err.to_string(), "not authorized");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    /// The error message (the client's `err.message`).
    pub message: String,
    /// Extra data (the client's `err.data`).
    pub data: Option<Value>,
}

impl ConnectError {
    /// A refusal with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: None,
        }
    }

    /// Adds data; anything convertible to a [`Value`] (e.g. `serde_json::Value`).
    #[must_use]
    pub fn with_data(mut self, data: impl Into<Value>) -> Self {
        self.data = Some(data.into());
        self
    }
}

/// Why an incoming packet was refused by a per-socket packet middleware.
pub type PacketError = ConnectError;
