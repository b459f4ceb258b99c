//! Why a socket left its namespace: the reasons of the reference server, plus one of ours.

use std::fmt;

use engine_io::CloseReason as EngineReason;

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
            // The Engine.IO reasons keep the codec's strings.
            Self::TransportError => EngineReason::TransportError.as_str(),
            Self::TransportClose => EngineReason::TransportClose.as_str(),
            Self::ForcedClose => EngineReason::ForcedClose.as_str(),
            Self::PingTimeout => EngineReason::PingTimeout.as_str(),
            Self::ParseError => EngineReason::ParseError.as_str(),
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

impl From<EngineReason> for DisconnectReason {
    /// The socket's reason when its Engine.IO connection closed for `reason`.
    fn from(reason: EngineReason) -> Self {
        match reason {
            EngineReason::TransportError => Self::TransportError,
            EngineReason::TransportClose => Self::TransportClose,
            EngineReason::ForcedClose => Self::ForcedClose,
            EngineReason::PingTimeout => Self::PingTimeout,
            EngineReason::ParseError => Self::ParseError,
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_reasons_map_to_the_same_strings() {
        for reason in [
            EngineReason::TransportError,
            EngineReason::TransportClose,
            EngineReason::ForcedClose,
            EngineReason::PingTimeout,
            EngineReason::ParseError,
        ] {
            assert_eq!(DisconnectReason::from(reason).as_str(), reason.as_str());
            assert!(
                DisconnectReason::from(reason).is_recoverable()
                    || reason == EngineReason::ParseError
            );
        }
    }
}
