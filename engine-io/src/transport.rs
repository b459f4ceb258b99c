//! [`TransportType`]: the transports of Engine.IO, with their one spelling.

use std::fmt;

/// A transport an Engine.IO session can use. [`TransportType::as_str`] is the
/// name in the `transport` query parameter and in the handshake's `upgrades`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportType {
    /// HTTP long-polling (XHR or JSONP).
    Polling,
    /// WebSocket.
    Websocket,
    /// WebTransport (HTTP/3): one bidirectional stream of length-prefixed
    /// frames ([`crate::wt_codec`]).
    Webtransport,
}

impl TransportType {
    /// `"polling"`, `"websocket"` or `"webtransport"`.
    ///
    /// ```
    /// assert_eq!(engine_io::TransportType::Websocket.as_str(), "websocket");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            TransportType::Polling => "polling",
            TransportType::Websocket => "websocket",
            TransportType::Webtransport => "webtransport",
        }
    }

    /// Parses the `transport` query parameter (or an entry of `upgrades`).
    ///
    /// ```
    /// use engine_io::TransportType;
    /// assert_eq!(TransportType::from_query("polling"), Some(TransportType::Polling));
    /// assert_eq!(TransportType::from_query("webtransport"), Some(TransportType::Webtransport));
    /// assert_eq!(TransportType::from_query("flashsocket"), None);
    /// ```
    pub fn from_query(s: &str) -> Option<Self> {
        match s {
            "polling" => Some(TransportType::Polling),
            "websocket" => Some(TransportType::Websocket),
            "webtransport" => Some(TransportType::Webtransport),
            _ => None,
        }
    }
}

impl fmt::Display for TransportType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
