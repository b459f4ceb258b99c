//! Why a socket was disconnected, with the reference client's reason strings.

use std::fmt;

use engine_io::CloseReason as EngineReason;

/// Why a [`Socket`](crate::Socket) was disconnected.
///
/// [`as_str`](Self::as_str) (and `Display`) give the reference client's strings, e.g.
/// `"io server disconnect"`.
///
/// ```
/// use socketio_client::DisconnectReason;
///
/// assert_eq!(DisconnectReason::IoServerDisconnect.to_string(), "io server disconnect");
/// assert!(DisconnectReason::TransportClose.will_reconnect());
/// assert!(!DisconnectReason::IoClientDisconnect.will_reconnect());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server disconnected the socket (a `DISCONNECT` packet); no automatic reconnection.
    IoServerDisconnect,
    /// The client called [`Socket::disconnect`](crate::Socket::disconnect) (or dropped it).
    IoClientDisconnect,
    /// The server stopped sending pings within `pingInterval + pingTimeout`.
    PingTimeout,
    /// The connection was closed (the server closed it, or the network dropped it).
    TransportClose,
    /// The connection failed (an HTTP or WebSocket error).
    TransportError,
    /// The server sent a packet that is not valid Socket.IO or Engine.IO.
    ParseError,
    /// The Engine.IO connection was closed on purpose by this client.
    ForcedClose,
}

impl DisconnectReason {
    /// The reference client's string for this reason.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::IoServerDisconnect => "io server disconnect",
            DisconnectReason::IoClientDisconnect => "io client disconnect",
            // The Engine.IO reasons keep the codec's strings.
            DisconnectReason::PingTimeout => EngineReason::PingTimeout.as_str(),
            DisconnectReason::TransportClose => EngineReason::TransportClose.as_str(),
            DisconnectReason::TransportError => EngineReason::TransportError.as_str(),
            DisconnectReason::ParseError => EngineReason::ParseError.as_str(),
            DisconnectReason::ForcedClose => EngineReason::ForcedClose.as_str(),
        }
    }

    /// Whether the client reconnects on its own after this disconnection (when reconnection is
    /// enabled): everything but a disconnection asked for by either side.
    pub fn will_reconnect(self) -> bool {
        !matches!(
            self,
            DisconnectReason::IoServerDisconnect
                | DisconnectReason::IoClientDisconnect
                | DisconnectReason::ForcedClose
        )
    }
}

impl From<EngineReason> for DisconnectReason {
    /// The socket's reason when its Engine.IO connection closed for `reason`.
    fn from(reason: EngineReason) -> Self {
        match reason {
            EngineReason::TransportError => DisconnectReason::TransportError,
            EngineReason::TransportClose => DisconnectReason::TransportClose,
            EngineReason::ForcedClose => DisconnectReason::ForcedClose,
            EngineReason::PingTimeout => DisconnectReason::PingTimeout,
            EngineReason::ParseError => DisconnectReason::ParseError,
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
