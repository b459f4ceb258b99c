//! What the nodes of a cluster say to each other, independent of how it is encoded.
//!
//! Both Redis formats (the classic pub/sub one of [`super::classic`] and the sharded one of
//! [`super::sharded`]) decode into and encode from these types, so the adapter logic is written
//! once.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use socketio_parser::{Packet, Value};

use crate::{BroadcastFlags, BroadcastOptions, Handshake, Room, SocketInfo};

/// A message one node publishes to the whole cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterRequest {
    /// Deliver `packet` to the matching local sockets.
    Broadcast {
        /// The packet (its namespace is the adapter's).
        packet: Packet,
        /// The targets and flags.
        opts: BroadcastOptions,
    },
    /// Deliver `packet` asking each client for an acknowledgement; reply with the number of
    /// clients reached, then with each client's reply.
    BroadcastWithAck {
        /// The request id the replies carry.
        request_id: String,
        /// The packet (without an ack id: each node assigns its own).
        packet: Packet,
        /// The targets and flags (`flags.timeout` is the ack timeout).
        opts: BroadcastOptions,
    },
    /// Reply with the ids of the local sockets in `rooms` (all when empty). Classic format only.
    Sockets {
        /// The request id.
        request_id: String,
        /// The rooms.
        rooms: HashSet<Room>,
    },
    /// Reply with the names of all local rooms. Classic format only.
    AllRooms {
        /// The request id.
        request_id: String,
    },
    /// Make the matching sockets join `rooms`.
    SocketsJoin {
        /// The targets.
        opts: BroadcastOptions,
        /// The rooms to join.
        rooms: Vec<Room>,
    },
    /// Make the matching sockets leave `rooms`.
    SocketsLeave {
        /// The targets.
        opts: BroadcastOptions,
        /// The rooms to leave.
        rooms: Vec<Room>,
    },
    /// Disconnect the matching sockets (`close`: also close the underlying connection).
    DisconnectSockets {
        /// The targets.
        opts: BroadcastOptions,
        /// Whether to close the Engine.IO connection too.
        close: bool,
    },
    /// Legacy single-socket join (sent by old adapters): reply with an empty response.
    RemoteJoin {
        /// The request id.
        request_id: Option<String>,
        /// The socket id.
        sid: String,
        /// The room.
        room: Room,
    },
    /// Legacy single-socket leave.
    RemoteLeave {
        /// The request id.
        request_id: Option<String>,
        /// The socket id.
        sid: String,
        /// The room.
        room: Room,
    },
    /// Legacy single-socket disconnect.
    RemoteDisconnect {
        /// The request id.
        request_id: Option<String>,
        /// The socket id.
        sid: String,
        /// Whether to close the connection.
        close: bool,
    },
    /// Reply with the matching local sockets.
    FetchSockets {
        /// The request id.
        request_id: String,
        /// The targets.
        opts: BroadcastOptions,
    },
    /// Deliver an event to the server-side handlers of every other node; with a request id,
    /// each node replies with the first argument its handler acknowledges with.
    ServerSideEmit {
        /// Present when the sender waits for acknowledgements.
        request_id: Option<String>,
        /// `[event, ...args]`.
        data: Vec<Value>,
    },
}

/// A reply to a [`ClusterRequest`].
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterResponse {
    /// How many clients a broadcast with ack reached on the replying node.
    BroadcastClientCount {
        /// The request id.
        request_id: String,
        /// The number of clients.
        client_count: u64,
    },
    /// One client's acknowledgement of a broadcast (its first argument).
    BroadcastAck {
        /// The request id.
        request_id: String,
        /// The reply.
        packet: Value,
    },
    /// The reply of one node's server-side handler.
    ServerSideEmit {
        /// The request id.
        request_id: String,
        /// The acknowledgement argument.
        data: Value,
    },
    /// The local sockets matching a `fetchSockets`.
    FetchSockets {
        /// The request id.
        request_id: String,
        /// The sockets.
        sockets: Vec<SocketInfo>,
    },
    /// The local socket ids matching a `sockets` request (classic).
    Sockets {
        /// The request id.
        request_id: String,
        /// The socket ids.
        sockets: Vec<Room>,
    },
    /// The local rooms (classic).
    AllRooms {
        /// The request id.
        request_id: String,
        /// The room names.
        rooms: Vec<Room>,
    },
    /// An acknowledgement without data (legacy single-socket join/leave/disconnect).
    Done {
        /// The request id.
        request_id: String,
    },
}

impl ClusterResponse {
    /// The id of the request this answers.
    pub fn request_id(&self) -> &str {
        match self {
            ClusterResponse::BroadcastClientCount { request_id, .. }
            | ClusterResponse::BroadcastAck { request_id, .. }
            | ClusterResponse::ServerSideEmit { request_id, .. }
            | ClusterResponse::FetchSockets { request_id, .. }
            | ClusterResponse::Sockets { request_id, .. }
            | ClusterResponse::AllRooms { request_id, .. }
            | ClusterResponse::Done { request_id } => request_id,
        }
    }
}

/// Why a message from Redis was ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not valid MessagePack.
    #[error(transparent)]
    Msgpack(#[from] super::msgpack::MsgpackError),
    /// Not valid JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// Valid encoding, but not the expected shape.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// The packet inside the message breaks a rule of the packet format.
    #[error("invalid packet: {0}")]
    InvalidPacket(String),
    /// A request or message type this implementation does not know (ignored, like the
    /// reference does).
    #[error("unknown message type {0}")]
    UnknownType(u64),
}

// ----- helpers shared by both codecs -----

/// A string, or a number turned into its decimal form (room names may be numbers in
/// JavaScript).
pub(crate) fn value_to_room(v: &Value) -> Option<Room> {
    match v {
        Value::String(s) => Some(Room::from(s.as_str())),
        Value::Number(n) => Some(Room::from(n.to_string())),
        _ => None,
    }
}

/// A list of room names; anything that is not a list is an empty list (JavaScript's
/// `new Set(undefined)`).
pub(crate) fn rooms_of<C: FromIterator<Room>>(v: Option<&Value>) -> C {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(value_to_room).collect(),
        _ => std::iter::empty().collect(),
    }
}

/// Reads `{rooms, except, flags}`.
pub(crate) fn opts_of(v: Option<&Value>) -> BroadcastOptions {
    let Some(v) = v else {
        return BroadcastOptions::default();
    };
    let flags = match v.get("flags") {
        Some(f @ Value::Object(_)) => BroadcastFlags {
            volatile: truthy(f.get("volatile")),
            compress: f.get("compress").and_then(Value::as_bool),
            local: truthy(f.get("local")),
            timeout: f
                .get("timeout")
                .and_then(|t| {
                    t.as_u64()
                        .or_else(|| t.as_f64().filter(|x| *x >= 0.0).map(|x| x as u64))
                })
                .map(Duration::from_millis),
        },
        _ => BroadcastFlags::default(),
    };
    BroadcastOptions {
        rooms: rooms_of(v.get("rooms")),
        except: rooms_of(v.get("except")),
        flags,
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// Writes `{rooms, except[, flags]}` as a [`Value`] (same key order as the reference).
pub(crate) fn opts_to_value(opts: &BroadcastOptions, with_flags: bool) -> Value {
    let mut map = socketio_parser::Map::new();
    map.insert("rooms".to_owned(), rooms_to_value(&opts.rooms));
    map.insert("except".to_owned(), rooms_to_value(&opts.except));
    if with_flags {
        map.insert("flags".to_owned(), flags_to_value(&opts.flags));
    }
    Value::Object(map)
}

/// Writes the flags that are set, like a JavaScript object with only those keys.
pub(crate) fn flags_to_value(flags: &BroadcastFlags) -> Value {
    let mut map = socketio_parser::Map::new();
    if flags.volatile {
        map.insert("volatile".to_owned(), Value::Bool(true));
    }
    if let Some(c) = flags.compress {
        map.insert("compress".to_owned(), Value::Bool(c));
    }
    if flags.local {
        map.insert("local".to_owned(), Value::Bool(true));
    }
    if let Some(t) = flags.timeout {
        map.insert(
            "timeout".to_owned(),
            Value::from(u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        );
    }
    Value::Object(map)
}

/// A list of rooms as a JSON array of strings.
pub(crate) fn rooms_to_value<'a>(items: impl IntoIterator<Item = &'a Room>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|r| Value::String(r.to_string()))
            .collect(),
    )
}

/// Reads a Socket.IO packet object `{type, data, nsp, id}` with the rules of the msgpack
/// packet format ([`super::msgpack::packet_from_value`]); a missing `nsp` is `nsp_if_missing`
/// (the reference's cluster adapter publishes some packets before their namespace is set).
pub(crate) fn packet_of(v: Value, nsp_if_missing: &str) -> Result<Packet, WireError> {
    let Value::Object(mut map) = v else {
        return Err(WireError::Malformed("packet is not an object"));
    };
    if map.get("nsp").is_none_or(Value::is_null) {
        map.insert("nsp".to_owned(), Value::from(nsp_if_missing));
    }
    super::msgpack::packet_from_value(Value::Object(map))
        .map_err(|e| WireError::InvalidPacket(e.to_string()))
}

/// Writes `{rooms, except, flags}` straight into a msgpack writer.
pub(crate) fn write_opts(w: &mut super::msgpack::Writer, opts: &BroadcastOptions) {
    w.map_len(3);
    w.str("rooms");
    w.array_len(opts.rooms.len());
    for r in &opts.rooms {
        w.str(r);
    }
    w.str("except");
    w.array_len(opts.except.len());
    for r in &opts.except {
        w.str(r);
    }
    w.str("flags");
    w.value(&flags_to_value(&opts.flags));
}

/// A string-valued map from a JavaScript object (arrays are joined with `", "`, like repeated
/// headers; other values are written in their JSON form).
fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    let Some(Value::Object(map)) = v else {
        return BTreeMap::new();
    };
    map.iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

/// Reads a handshake object sent by any node, leniently (a Node.js node may send fields our
/// type does not know, or leave some out).
pub(crate) fn handshake_of(v: Option<&Value>) -> Handshake {
    let Some(v) = v else {
        return Handshake::default();
    };
    let string = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Handshake {
        headers: string_map(v.get("headers")),
        time: string("time"),
        address: string("address"),
        xdomain: v.get("xdomain").and_then(Value::as_bool).unwrap_or(false),
        secure: v.get("secure").and_then(Value::as_bool).unwrap_or(false),
        issued: v
            .get("issued")
            .and_then(|i| i.as_u64().or_else(|| i.as_f64().map(|f| f as u64)))
            .unwrap_or(0),
        url: string("url"),
        query: string_map(v.get("query")),
        auth: v.get("auth").cloned().unwrap_or(Value::Null),
    }
}

/// Writes a handshake object in the reference's shape.
pub(crate) fn handshake_to_value(h: &Handshake) -> Value {
    let strings = |m: &BTreeMap<String, String>| {
        Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    };
    let mut map = socketio_parser::Map::new();
    map.insert("headers".to_owned(), strings(&h.headers));
    map.insert("time".to_owned(), Value::String(h.time.clone()));
    map.insert("address".to_owned(), Value::String(h.address.clone()));
    map.insert("xdomain".to_owned(), Value::Bool(h.xdomain));
    map.insert("secure".to_owned(), Value::Bool(h.secure));
    map.insert("issued".to_owned(), Value::from(h.issued));
    map.insert("url".to_owned(), Value::String(h.url.clone()));
    map.insert("query".to_owned(), strings(&h.query));
    map.insert("auth".to_owned(), h.auth.clone());
    Value::Object(map)
}

/// Reads one `fetchSockets` reply entry.
pub(crate) fn remote_socket_of(v: &Value) -> Option<SocketInfo> {
    Some(SocketInfo {
        id: Room::from(v.get("id")?.as_str()?),
        handshake: handshake_of(v.get("handshake")),
        rooms: rooms_of(v.get("rooms")),
        data: v.get("data").cloned().unwrap_or(Value::Null),
    })
}

/// Writes one `fetchSockets` reply entry: `{id, handshake, rooms, data}`.
pub(crate) fn remote_socket_to_value(s: &SocketInfo) -> Value {
    let mut map = socketio_parser::Map::new();
    map.insert("id".to_owned(), Value::String(s.id.to_string()));
    map.insert("handshake".to_owned(), handshake_to_value(&s.handshake));
    map.insert("rooms".to_owned(), rooms_to_value(&s.rooms));
    map.insert("data".to_owned(), s.data.clone());
    Value::Object(map)
}

/// Random ids like the reference's `uid2(6)`: letters and digits.
pub(crate) fn random_id(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
