//! Why a socket was disconnected, with the reference client's reason strings.

use std::fmt;

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
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ForcedClose => "forced close",
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

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
