//! The serializable description of a socket: what `fetch_sockets` returns from any node.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use socketio_parser::Value;

use crate::{Room, Sid};

/// The handshake details of a socket, as the reference `socket.handshake` object
/// (same field names once serialized, so cluster adapters can exchange it with Node nodes).
///
/// Deserialization is lenient so descriptions from Node.js nodes are accepted: missing fields
/// take their default, and a header given as an array of strings (Node's `set-cookie`) is joined
/// with `", "`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Handshake {
    /// The headers of the HTTP request that opened the connection (lower-case names;
    /// repeated headers joined with `", "`).
    #[serde(deserialize_with = "lenient_headers")]
    pub headers: BTreeMap<String, String>,
    /// When the socket was created, as a human readable date (JavaScript `Date` string style).
    pub time: String,
    /// The remote address of the connection.
    pub address: String,
    /// Whether the request was cross-domain (it carried an `Origin` header).
    pub xdomain: bool,
    /// Whether the connection was made over TLS.
    pub secure: bool,
    /// When the socket was created, in milliseconds since the Unix epoch.
    pub issued: u64,
    /// The request URL (path and query).
    pub url: String,
    /// The query parameters of the request URL (repeated parameters joined like headers when
    /// received from Node.js).
    #[serde(deserialize_with = "lenient_headers")]
    pub query: BTreeMap<String, String>,
    /// The `auth` payload of the CONNECT packet (`{}` when the client sent none).
    pub auth: Value,
}

/// Header values as strings; arrays of strings are joined, anything else is skipped.
fn lenient_headers<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw: BTreeMap<String, serde_json::Value> = BTreeMap::deserialize(deserializer)?;
    Ok(raw
        .into_iter()
        .filter_map(|(name, value)| match value {
            serde_json::Value::String(s) => Some((name, s)),
            serde_json::Value::Array(items) => {
                let parts: Vec<&str> = items.iter().filter_map(|v| v.as_str()).collect();
                Some((name, parts.join(", ")))
            }
            serde_json::Value::Number(n) => Some((name, n.to_string())),
            _ => None,
        })
        .collect())
}

/// A socket as seen by a cluster-wide query (`fetch_sockets`): enough to address it
/// (its id) and to describe it, wherever it is connected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SocketInfo {
    /// The Socket.IO socket id.
    pub id: Sid,
    /// Its handshake.
    pub handshake: Handshake,
    /// The rooms it is in (including the room named by its id).
    pub rooms: Vec<Room>,
    /// Its application data (`socket.data` in the reference), `null` when unset.
    pub data: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_handshakes_deserialize() {
        let json = r#"{"headers":{"host":"a","set-cookie":["x=1","y=2"]},"time":"t",
            "address":"::1","xdomain":false,"secure":true,"issued":1700000000000,
            "url":"/socket.io/?EIO=4","query":{"EIO":"4"},"auth":{"token":"abc"}}"#;
        let h: Handshake = serde_json::from_str(json).unwrap();
        assert_eq!(h.headers["set-cookie"], "x=1, y=2");
        assert_eq!(h.query["EIO"], "4");
        assert_eq!(h.auth.get("token").and_then(Value::as_str), Some("abc"));
        let partial: Handshake = serde_json::from_str(r#"{"address":"x"}"#).unwrap();
        assert_eq!(partial.address, "x");
        // Round trip.
        let back: Handshake = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }
}
