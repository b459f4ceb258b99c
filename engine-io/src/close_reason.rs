//! [`CloseReason`]: why an Engine.IO session closed, with the reference's strings.
//!
//! The one owner of these strings for the server, the client and everything
//! built on them (Socket.IO disconnect reasons, the Redis adapter).

use std::fmt;

/// Why an Engine.IO session closed. [`CloseReason::as_str`] gives the
/// reference's strings (the same on the server and on the client side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The transport failed: aborted request, duplicate poll, heartbeat in the
    /// wrong direction, WebSocket error or oversized message, a client that
    /// stopped reading.
    TransportError,
    /// The peer closed the transport (close packet over polling, WebSocket closed).
    TransportClose,
    /// This side closed the session on purpose.
    ForcedClose,
    /// No heartbeat answer in time.
    PingTimeout,
    /// The peer sent an undecodable packet.
    ParseError,
}

impl CloseReason {
    /// Every reason, in declaration order.
    pub const ALL: [CloseReason; 5] = [
        CloseReason::TransportError,
        CloseReason::TransportClose,
        CloseReason::ForcedClose,
        CloseReason::PingTimeout,
        CloseReason::ParseError,
    ];

    /// `"transport error"`, `"transport close"`, `"forced close"`, `"ping timeout"`
    /// or `"parse error"`.
    ///
    /// ```
    /// assert_eq!(engine_io::CloseReason::PingTimeout.as_str(), "ping timeout");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportError => "transport error",
            CloseReason::TransportClose => "transport close",
            CloseReason::ForcedClose => "forced close",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ParseError => "parse error",
        }
    }

    /// The reason named by one of the reference's strings.
    ///
    /// ```
    /// use engine_io::CloseReason;
    /// assert_eq!(CloseReason::from_name("parse error"), Some(CloseReason::ParseError));
    /// assert_eq!(CloseReason::from_name("bye"), None);
    /// ```
    pub fn from_name(s: &str) -> Option<CloseReason> {
        CloseReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in CloseReason::ALL {
            assert_eq!(CloseReason::from_name(r.as_str()), Some(r));
            assert_eq!(r.to_string(), r.as_str());
        }
    }
}
