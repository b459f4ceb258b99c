//! Why a socket left its namespace: the reasons of the reference server, plus one of ours.

use std::fmt;

/// Why a socket was disconnected (the `reason` of the reference `disconnect` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The connection failed (e.g. a network error, or an aborted polling request).
    TransportError,
    /// The connection was closed by the client (e.g. the browser tab was closed).
    TransportClose,
    /// The Engine.IO connection was closed by the server.
    ForcedClose,
    /// The client did not answer a ping in time.
    PingTimeout,
    /// The client sent something that is not a valid packet.
    ParseError,
    /// The server is closing ([`SocketIo::close`](crate::SocketIo::close)).
    ServerShuttingDown,
    /// The server closed the whole connection (e.g. `socket.disconnect(true)`, a protocol
    /// violation, or the connect timeout).
    ForcedServerClose,
    /// The client left the namespace (`socket.disconnect()` on the client).
    ClientNamespaceDisconnect,
    /// The server removed the socket from the namespace (`socket.disconnect(false)`).
    ServerNamespaceDisconnect,
    /// Not in the reference: the socket's outgoing queue was full when a non-volatile packet
    /// had to be sent (the client had not read for a while, or the hard cap was reached), so the
    /// server closed the connection rather than drop the packet silently or let memory grow (see
    /// [`SocketIoBuilder::slow_consumer`](crate::SocketIoBuilder::slow_consumer)).
    /// The client reconnects; with connection state recovery on, it gets the missed packets.
    SlowConsumer,
}

impl DisconnectReason {
    /// The reason string of the reference implementation.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TransportError => "transport error",
            Self::TransportClose => "transport close",
            Self::ForcedClose => "forced close",
            Self::PingTimeout => "ping timeout",
            Self::ParseError => "parse error",
            Self::ServerShuttingDown => "server shutting down",
            Self::ForcedServerClose => "forced server close",
            Self::ClientNamespaceDisconnect => "client namespace disconnect",
            Self::ServerNamespaceDisconnect => "server namespace disconnect",
            Self::SlowConsumer => "slow consumer",
        }
    }

    /// Whether a session is kept for connection state recovery after this reason (the
    /// reference's `RECOVERABLE_DISCONNECT_REASONS`, plus [`SlowConsumer`](Self::SlowConsumer)).
    pub fn is_recoverable(self) -> bool {
        matches!(
            self,
            Self::TransportError
                | Self::TransportClose
                | Self::ForcedClose
                | Self::PingTimeout
                | Self::ServerShuttingDown
                | Self::ForcedServerClose
                | Self::SlowConsumer
        )
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
