//! Socket.IO protocol v4 (Socket.IO 2.x clients, over Engine.IO v3) versus v5.
//!
//! The packet encoding is the same in both revisions; what differs is what the peers put
//! in some packets and when they send them. A server that serves old clients must:
//!
//! - **Implicit main namespace.** A v4 client is connected to `/` as soon as the Engine.IO
//!   connection opens: it never sends `CONNECT` for `/`. The server joins it to `/`
//!   itself and sends `0` (no payload). For other namespaces the client sends
//!   `0/admin,` (or `0/admin?token=abc,`).
//! - **`CONNECT` without auth, reply without sid.** The client's `CONNECT` has no payload;
//!   the server's reply is `0/admin,` with no payload (v5: `0/admin,{"sid":"…"}`).
//!   Build it with [`Packet::connect_reply`].
//! - **Query string in the namespace.** The v4 client appends its handshake query to the
//!   namespace of `CONNECT`: `0/admin?token=abc,`. Split it with
//!   [`split_namespace_query`]; the query takes the role of the v5 auth payload.
//! - **`CONNECT_ERROR` is a plain string.** v4: `4/admin,"Not authorized"`; v5:
//!   `4/admin,{"message":"Not authorized","data":…}`. Build it with
//!   [`Packet::connect_error_for`].
//! - The decoder accepts both forms everywhere (a `CONNECT` without payload, a string
//!   `CONNECT_ERROR`), so the same [`Decoder`](crate::Decoder) serves both.

use crate::packet::Packet;
use crate::value::{Map, Value};

/// The Socket.IO protocol revision of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProtocolVersion {
    /// Protocol v4: Socket.IO 2.x, carried by Engine.IO protocol 3 (`EIO=3`).
    V4,
    /// Protocol v5: Socket.IO 3.x and 4.x, carried by Engine.IO protocol 4 (`EIO=4`).
    #[default]
    V5,
}

impl ProtocolVersion {
    /// The Socket.IO protocol a client speaks, from its Engine.IO protocol (`EIO` query
    /// parameter): 3 means v4, anything else v5.
    pub fn from_engine_io(eio: u8) -> Self {
        if eio == 3 {
            Self::V4
        } else {
            Self::V5
        }
    }
}

/// Splits a namespace from a v4 `CONNECT` into the namespace and its query string:
/// `/admin?token=abc` gives `("/admin", Some("token=abc"))`.
///
/// ```
/// use socketio_parser::split_namespace_query;
///
/// assert_eq!(split_namespace_query("/admin?token=abc"), ("/admin", Some("token=abc")));
/// assert_eq!(split_namespace_query("/admin"), ("/admin", None));
/// ```
pub fn split_namespace_query(nsp: &str) -> (&str, Option<&str>) {
    match nsp.split_once('?') {
        Some((nsp, query)) => (nsp, Some(query)),
        None => (nsp, None),
    }
}

impl Packet {
    /// The server's reply to a `CONNECT`: v5 carries `{"sid": sid}` (plus `"pid"` when
    /// connection state recovery is on); v4 carries nothing.
    ///
    /// ```
    /// use socketio_parser::{Packet, Parser, ProtocolVersion, Frame};
    ///
    /// let v5 = Packet::connect_reply(ProtocolVersion::V5, "/admin", "abc", None);
    /// assert_eq!(Parser::Json.encode(&v5)?.frames(), &[Frame::Text(r#"0/admin,{"sid":"abc"}"#.into())]);
    /// let v4 = Packet::connect_reply(ProtocolVersion::V4, "/admin", "abc", None);
    /// assert_eq!(Parser::Json.encode(&v4)?.frames(), &[Frame::Text("0/admin,".into())]);
    /// # Ok::<(), socketio_parser::EncodeError>(())
    /// ```
    pub fn connect_reply(
        version: ProtocolVersion,
        nsp: impl Into<String>,
        sid: &str,
        pid: Option<&str>,
    ) -> Packet {
        match version {
            ProtocolVersion::V4 => Packet::connect(nsp, None),
            ProtocolVersion::V5 => {
                let mut map = Map::with_capacity(2);
                map.insert("sid".to_owned(), Value::from(sid));
                if let Some(pid) = pid {
                    map.insert("pid".to_owned(), Value::from(pid));
                }
                Packet::connect(nsp, Some(Value::Object(map)))
            }
        }
    }

    /// A `CONNECT_ERROR` for the given protocol: v5 `{"message": …, "data": …}`; v4 has one
    /// value only, the `data` when there is one, else the message as a plain string (the
    /// reference's `socket._error(err.data || err.message)` for Socket.IO 2.x clients).
    ///
    /// ```
    /// use socketio_parser::{Packet, Parser, ProtocolVersion, Frame};
    ///
    /// let v4 = Packet::connect_error_for(ProtocolVersion::V4, "/", "Invalid namespace", None);
    /// assert_eq!(Parser::Json.encode(&v4)?.frames(), &[Frame::Text(r#"4"Invalid namespace""#.into())]);
    /// let v4 = Packet::connect_error_for(ProtocolVersion::V4, "/", "refused", Some(7.into()));
    /// assert_eq!(Parser::Json.encode(&v4)?.frames(), &[Frame::Text("47".into())]);
    /// # Ok::<(), socketio_parser::EncodeError>(())
    /// ```
    pub fn connect_error_for(
        version: ProtocolVersion,
        nsp: impl Into<String>,
        message: impl Into<String>,
        data: Option<Value>,
    ) -> Packet {
        match version {
            ProtocolVersion::V4 => Packet {
                data: Some(data.unwrap_or_else(|| Value::String(message.into()))),
                ..Packet::new(crate::PacketType::ConnectError, nsp)
            },
            ProtocolVersion::V5 => Packet::connect_error(nsp, message, data),
        }
    }

    /// The message of a `CONNECT_ERROR`: the string (v4) or the `message` member (v5).
    pub fn connect_error_message(&self) -> Option<&str> {
        if self.kind != crate::PacketType::ConnectError {
            return None;
        }
        match &self.data {
            Some(Value::String(s)) => Some(s),
            Some(v @ Value::Object(_)) => v.get("message").and_then(Value::as_str),
            _ => None,
        }
    }
}
