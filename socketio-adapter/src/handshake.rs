//! The serializable description of a socket: what `fetch_sockets` returns from any node.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use socketio_parser::Value;

use crate::{Room, Sid};

/// The handshake details of a socket, as the reference `socket.handshake` object
/// (same field names once serialized, so cluster adapters can exchange it with Node nodes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Handshake {
    /// The headers of the HTTP request that opened the connection (lower-case names;
    /// repeated headers joined with `", "`).
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
    /// The query parameters of the request URL.
    pub query: BTreeMap<String, String>,
    /// The `auth` payload of the CONNECT packet (`{}` when the client sent none).
    pub auth: Value,
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
