//! The format of npm `@socket.io/redis-adapter` 8.3's sharded adapter (`createShardedAdapter`,
//! Redis 7 sharded pub/sub: `SSUBSCRIBE`/`SPUBLISH`), which is the generic cluster-adapter
//! message of npm `socket.io-adapter` 2.5.
//!
//! Every message is `{type, data, uid, nsp}`, JSON, or msgpack when its data holds binary.
//! Channels (prefix `socket.io` by default): `prefix#nsp#` for messages to every node,
//! `prefix#nsp#<uid>#` for the responses to node `uid`, and, in the default "dynamic"
//! subscription mode, `prefix#nsp#room#` for a plain broadcast to exactly one public room
//! (a room that is not a socket id), which only the nodes having that room subscribe to.
//! The number of nodes is `PUBSUB SHARDNUMSUB prefix#nsp#`.

use bytes::Bytes;
use socketio_parser::{Packet, Value};

use super::messages::{
    opts_of, opts_to_value, packet_of, remote_socket_of, remote_socket_to_value, rooms_of,
    rooms_to_value, ClusterRequest, ClusterResponse, WireError,
};
use super::msgpack::{self, packet_to_value};
use crate::BroadcastOptions;

/// The message types of the cluster-adapter format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MessageType {
    /// `1`: a node started (heartbeat-based adapters only).
    InitialHeartbeat = 1,
    /// `2`: heartbeat (heartbeat-based adapters only).
    Heartbeat = 2,
    /// `3`: broadcast (with `requestId`: with acknowledgements).
    Broadcast = 3,
    /// `4`: sockets join rooms.
    SocketsJoin = 4,
    /// `5`: sockets leave rooms.
    SocketsLeave = 5,
    /// `6`: disconnect sockets.
    DisconnectSockets = 6,
    /// `7`: fetch sockets.
    FetchSockets = 7,
    /// `8`: fetch sockets response.
    FetchSocketsResponse = 8,
    /// `9`: server-side emit.
    ServerSideEmit = 9,
    /// `10`: server-side emit response.
    ServerSideEmitResponse = 10,
    /// `11`: broadcast client count.
    BroadcastClientCount = 11,
    /// `12`: broadcast ack.
    BroadcastAck = 12,
    /// `13`: a node's adapter closed.
    AdapterClose = 13,
}

/// The subscription mode of the sharded adapter (option `subscriptionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubscriptionMode {
    /// One channel per namespace: every node gets every broadcast.
    Static,
    /// Plus one channel per public room (not a socket id), subscribed by the nodes that have the
    /// room (the reference's default).
    #[default]
    Dynamic,
    /// Plus one channel per room, private rooms (socket ids) included.
    DynamicPrivate,
}

/// The channels of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channels {
    /// `prefix#nsp#`.
    pub main: String,
}

impl Channels {
    /// The channels of `nsp` under `prefix`.
    pub fn new(prefix: &str, nsp: &str) -> Self {
        Channels {
            main: format!("{prefix}#{nsp}#"),
        }
    }

    /// The response channel of node `uid`: `prefix#nsp#uid#`.
    pub fn response(&self, uid: &str) -> String {
        format!("{}{uid}#", self.main)
    }

    /// The dynamic channel of `room`: `prefix#nsp#room#`.
    pub fn room(&self, room: &str) -> String {
        format!("{}{room}#", self.main)
    }

    /// The channel a request is published on: the room's channel for a plain broadcast to
    /// exactly one room that gets its own channel in `mode` (in dynamic mode, a room that does
    /// not look like a socket id), the main channel otherwise.
    pub fn for_request(&self, request: &ClusterRequest, mode: SubscriptionMode) -> String {
        match request {
            ClusterRequest::Broadcast { opts, .. } => self.for_broadcast(opts, mode),
            _ => self.main.clone(),
        }
    }

    /// The channel of a plain broadcast (without acknowledgements) with these options.
    pub fn for_broadcast(&self, opts: &BroadcastOptions, mode: SubscriptionMode) -> String {
        if let (1, Some(room)) = (opts.rooms.len(), opts.rooms.iter().next()) {
            let dynamic = match mode {
                SubscriptionMode::Static => false,
                SubscriptionMode::Dynamic => !looks_like_a_socket_id(room),
                SubscriptionMode::DynamicPrivate => true,
            };
            if dynamic {
                return self.room(room);
            }
        }
        self.main.clone()
    }
}

/// The reference's test for "this room is a socket id" when choosing a dynamic channel.
pub fn looks_like_a_socket_id(room: &str) -> bool {
    room.chars().count() == 20
}

/// A decoded sharded message.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A request for every node.
    Request(ClusterRequest),
    /// A response to one of our requests.
    Response(ClusterResponse),
    /// A heartbeat or adapter-close message (used by heartbeat-based adapters; ignored here).
    Other,
}

/// A decoded message with its envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The sender's uid.
    pub uid: Option<String>,
    /// The namespace.
    pub nsp: String,
    /// The content.
    pub message: Incoming,
}

fn encode(
    ty: MessageType,
    data: Option<Value>,
    uid: &str,
    nsp: &str,
    may_hold_binary: bool,
) -> Bytes {
    let binary = may_hold_binary && data.as_ref().is_some_and(Value::has_binary);
    let mut map = socketio_parser::Map::new();
    map.insert("type".to_owned(), Value::from(ty as u8));
    if let Some(data) = data {
        map.insert("data".to_owned(), data);
    }
    map.insert("uid".to_owned(), Value::String(uid.to_owned()));
    map.insert("nsp".to_owned(), Value::String(nsp.to_owned()));
    let v = Value::Object(map);
    if binary {
        msgpack::encode(&v)
    } else {
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    }
}

fn object(entries: Vec<(&str, Value)>) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// Encodes a plain broadcast from node `uid` (without building a [`ClusterRequest`]).
pub fn encode_broadcast(uid: &str, nsp: &str, packet: &Packet, opts: &BroadcastOptions) -> Bytes {
    encode(
        MessageType::Broadcast,
        Some(broadcast_data(packet, opts)),
        uid,
        nsp,
        true,
    )
}

/// The `data` of a plain broadcast (shared with the Redis Streams adapter, which writes it
/// without building a [`ClusterRequest`] too).
pub(crate) fn broadcast_data(packet: &Packet, opts: &BroadcastOptions) -> Value {
    object(vec![
        ("packet", packet_to_value(packet)),
        ("opts", opts_to_value(opts, true)),
    ])
}

/// Encodes a request from node `uid` in namespace `nsp`. The classic-only requests
/// (`Sockets`, `AllRooms`, legacy single-socket ones) have no sharded form: `None`.
pub fn encode_request(uid: &str, nsp: &str, request: &ClusterRequest) -> Option<Bytes> {
    let (ty, data, may_hold_binary) = request_parts(request)?;
    Some(encode(ty, Some(data), uid, nsp, may_hold_binary))
}

/// The type, `data` and whether the data may hold binary of a request in the cluster-adapter
/// format (shared with the Redis Streams adapter, which frames the same messages differently).
pub(crate) fn request_parts(request: &ClusterRequest) -> Option<(MessageType, Value, bool)> {
    Some(match request {
        ClusterRequest::Broadcast { packet, opts } => {
            (MessageType::Broadcast, broadcast_data(packet, opts), true)
        }
        ClusterRequest::BroadcastWithAck {
            request_id,
            packet,
            opts,
        } => (
            MessageType::Broadcast,
            object(vec![
                ("packet", packet_to_value(packet)),
                ("requestId", Value::String(request_id.clone())),
                ("opts", opts_to_value(opts, true)),
            ]),
            true,
        ),
        ClusterRequest::SocketsJoin { opts, rooms } => (
            MessageType::SocketsJoin,
            object(vec![
                ("opts", opts_to_value(opts, true)),
                ("rooms", rooms_to_value(rooms)),
            ]),
            false,
        ),
        ClusterRequest::SocketsLeave { opts, rooms } => (
            MessageType::SocketsLeave,
            object(vec![
                ("opts", opts_to_value(opts, true)),
                ("rooms", rooms_to_value(rooms)),
            ]),
            false,
        ),
        ClusterRequest::DisconnectSockets { opts, close } => (
            MessageType::DisconnectSockets,
            object(vec![
                ("opts", opts_to_value(opts, true)),
                ("close", Value::Bool(*close)),
            ]),
            false,
        ),
        ClusterRequest::FetchSockets { request_id, opts } => (
            MessageType::FetchSockets,
            object(vec![
                ("opts", opts_to_value(opts, true)),
                ("requestId", Value::String(request_id.clone())),
            ]),
            false,
        ),
        ClusterRequest::ServerSideEmit { request_id, data } => {
            let mut entries = Vec::with_capacity(2);
            if let Some(id) = request_id {
                entries.push(("requestId", Value::String(id.clone())));
            }
            entries.push(("packet", Value::Array(data.clone())));
            (MessageType::ServerSideEmit, object(entries), true)
        }
        ClusterRequest::Sockets { .. }
        | ClusterRequest::AllRooms { .. }
        | ClusterRequest::RemoteJoin { .. }
        | ClusterRequest::RemoteLeave { .. }
        | ClusterRequest::RemoteDisconnect { .. } => return None,
    })
}

/// Encodes a response from node `uid`. `Sockets`, `AllRooms` and `Done` have no sharded form:
/// `None`.
pub fn encode_response(uid: &str, nsp: &str, response: &ClusterResponse) -> Option<Bytes> {
    let (ty, data, may_hold_binary) = response_parts(response)?;
    Some(encode(ty, Some(data), uid, nsp, may_hold_binary))
}

/// Like [`request_parts`], for a response.
pub(crate) fn response_parts(response: &ClusterResponse) -> Option<(MessageType, Value, bool)> {
    let id = |s: &str| ("requestId", Value::String(s.to_owned()));
    Some(match response {
        ClusterResponse::BroadcastClientCount {
            request_id,
            client_count,
        } => (
            MessageType::BroadcastClientCount,
            object(vec![
                id(request_id),
                ("clientCount", Value::from(*client_count)),
            ]),
            false,
        ),
        ClusterResponse::BroadcastAck { request_id, packet } => (
            MessageType::BroadcastAck,
            object(vec![id(request_id), ("packet", packet.clone())]),
            true,
        ),
        ClusterResponse::ServerSideEmit { request_id, data } => (
            MessageType::ServerSideEmitResponse,
            object(vec![id(request_id), ("packet", data.clone())]),
            true,
        ),
        ClusterResponse::FetchSockets {
            request_id,
            sockets,
        } => (
            MessageType::FetchSocketsResponse,
            object(vec![
                id(request_id),
                (
                    "sockets",
                    Value::Array(sockets.iter().map(remote_socket_to_value).collect()),
                ),
            ]),
            true,
        ),
        ClusterResponse::Sockets { .. }
        | ClusterResponse::AllRooms { .. }
        | ClusterResponse::Done { .. } => return None,
    })
}

/// Decodes a sharded message (JSON when it starts with `{`, msgpack otherwise).
pub fn decode(msg: &Bytes) -> Result<Envelope, WireError> {
    let v: Value = if msg.first() == Some(&b'{') {
        serde_json::from_slice(msg).map_err(|e| WireError::Json(e.to_string()))?
    } else {
        msgpack::decode(msg)?
    };
    decode_value(&v)
}

/// Decodes a message already parsed into `{type, data, uid, nsp}`.
pub(crate) fn decode_value(v: &Value) -> Result<Envelope, WireError> {
    let uid = v.get("uid").and_then(Value::as_str).map(str::to_owned);
    let nsp = v
        .get("nsp")
        .and_then(Value::as_str)
        .unwrap_or("/")
        .to_owned();
    let code = v
        .get("type")
        .and_then(Value::as_u64)
        .ok_or(WireError::Malformed("missing type"))?;
    let null = Value::Null;
    let data = v.get("data").unwrap_or(&null);
    let request_id = data
        .get("requestId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let need_id = || {
        request_id
            .clone()
            .ok_or(WireError::Malformed("missing requestId"))
    };
    let message = match code {
        1 | 2 | 13 => Incoming::Other,
        3 => {
            let raw = data
                .get("packet")
                .ok_or(WireError::Malformed("missing packet"))?;
            // The reference's cluster adapter publishes the packet before the namespace is set
            // on it: the message's namespace is the packet's.
            let packet = packet_of(raw.clone(), &nsp)?;
            let opts = opts_of(data.get("opts"));
            Incoming::Request(match request_id {
                Some(request_id) => ClusterRequest::BroadcastWithAck {
                    request_id,
                    packet,
                    opts,
                },
                None => ClusterRequest::Broadcast { packet, opts },
            })
        }
        4 => Incoming::Request(ClusterRequest::SocketsJoin {
            opts: opts_of(data.get("opts")),
            rooms: rooms_of(data.get("rooms")),
        }),
        5 => Incoming::Request(ClusterRequest::SocketsLeave {
            opts: opts_of(data.get("opts")),
            rooms: rooms_of(data.get("rooms")),
        }),
        6 => Incoming::Request(ClusterRequest::DisconnectSockets {
            opts: opts_of(data.get("opts")),
            close: data.get("close").and_then(Value::as_bool).unwrap_or(false),
        }),
        7 => Incoming::Request(ClusterRequest::FetchSockets {
            request_id: need_id()?,
            opts: opts_of(data.get("opts")),
        }),
        8 => match data.get("sockets") {
            Some(Value::Array(items)) => Incoming::Response(ClusterResponse::FetchSockets {
                request_id: need_id()?,
                sockets: items.iter().filter_map(remote_socket_of).collect(),
            }),
            _ => return Err(WireError::Malformed("fetch response without sockets")),
        },
        9 => match data.get("packet") {
            Some(Value::Array(items)) => Incoming::Request(ClusterRequest::ServerSideEmit {
                request_id,
                data: items.clone(),
            }),
            _ => return Err(WireError::Malformed("server-side emit without packet")),
        },
        10 => Incoming::Response(ClusterResponse::ServerSideEmit {
            request_id: need_id()?,
            data: data.get("packet").cloned().unwrap_or(Value::Null),
        }),
        11 => Incoming::Response(ClusterResponse::BroadcastClientCount {
            request_id: need_id()?,
            client_count: data
                .get("clientCount")
                .and_then(Value::as_u64)
                .ok_or(WireError::Malformed("missing clientCount"))?,
        }),
        12 => Incoming::Response(ClusterResponse::BroadcastAck {
            request_id: need_id()?,
            packet: data.get("packet").cloned().unwrap_or(Value::Null),
        }),
        other => return Err(WireError::UnknownType(other)),
    };
    Ok(Envelope { uid, nsp, message })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::BroadcastOptions;

    #[test]
    fn channels() {
        let c = Channels::new("socket.io", "/");
        assert_eq!(c.main, "socket.io#/#");
        assert_eq!(c.response("u1"), "socket.io#/#u1#");
        let to_room = ClusterRequest::Broadcast {
            packet: Packet::event("/", "e", vec![]),
            opts: BroadcastOptions::default().to("room"),
        };
        assert_eq!(
            c.for_request(&to_room, SubscriptionMode::Dynamic),
            "socket.io#/#room#"
        );
        assert_eq!(
            c.for_request(&to_room, SubscriptionMode::Static),
            "socket.io#/#"
        );
        let to_sid = ClusterRequest::Broadcast {
            packet: Packet::event("/", "e", vec![]),
            opts: BroadcastOptions::default().to("abcdefghijklmnopqrst"),
        };
        assert_eq!(
            c.for_request(&to_sid, SubscriptionMode::Dynamic),
            "socket.io#/#"
        );
        assert_eq!(
            c.for_request(&to_sid, SubscriptionMode::DynamicPrivate),
            "socket.io#/#abcdefghijklmnopqrst#"
        );
    }

    #[test]
    fn a_broadcast_without_packet_nsp_takes_the_message_nsp() {
        // What npm socket.io-adapter's ClusterAdapter publishes for `io.of("/admin").emit("e")`.
        let msg = br#"{"type":3,"data":{"packet":{"type":2,"data":["e"]},"opts":{"rooms":[],"except":[],"flags":{}}},"uid":"n","nsp":"/admin"}"#;
        let env = decode(&Bytes::from_static(msg)).unwrap();
        let Incoming::Request(ClusterRequest::Broadcast { packet, .. }) = env.message else {
            panic!("{env:?}");
        };
        assert_eq!(packet.nsp, "/admin");
    }

    #[test]
    fn roundtrip() {
        let opts = BroadcastOptions::default().to("a");
        let requests = vec![
            ClusterRequest::Broadcast {
                packet: Packet::event("/", "e", vec![Value::from(1)]),
                opts: opts.clone(),
            },
            ClusterRequest::Broadcast {
                packet: Packet::event("/", "e", vec![Value::Binary(Bytes::from_static(b"b"))]),
                opts: opts.clone(),
            },
            ClusterRequest::BroadcastWithAck {
                request_id: "r".into(),
                packet: Packet::event("/", "e", vec![]),
                opts: opts.clone(),
            },
            ClusterRequest::SocketsJoin {
                opts: opts.clone(),
                rooms: vec!["x".into()],
            },
            ClusterRequest::SocketsLeave {
                opts: opts.clone(),
                rooms: vec!["x".into()],
            },
            ClusterRequest::DisconnectSockets {
                opts: opts.clone(),
                close: true,
            },
            ClusterRequest::FetchSockets {
                request_id: "r".into(),
                opts: opts.clone(),
            },
            ClusterRequest::ServerSideEmit {
                request_id: Some("r".into()),
                data: vec![Value::from("e")],
            },
        ];
        for request in requests {
            let bytes = encode_request("me", "/", &request).unwrap();
            let env = decode(&bytes).unwrap();
            assert_eq!(env.uid.as_deref(), Some("me"));
            assert_eq!(env.nsp, "/");
            assert_eq!(env.message, Incoming::Request(request));
        }
        let responses = vec![
            ClusterResponse::BroadcastClientCount {
                request_id: "r".into(),
                client_count: 2,
            },
            ClusterResponse::BroadcastAck {
                request_id: "r".into(),
                packet: Value::Binary(Bytes::from_static(b"b")),
            },
            ClusterResponse::ServerSideEmit {
                request_id: "r".into(),
                data: Value::from("ok"),
            },
            ClusterResponse::FetchSockets {
                request_id: "r".into(),
                sockets: vec![],
            },
        ];
        for response in responses {
            let bytes = encode_response("me", "/", &response).unwrap();
            assert_eq!(
                decode(&bytes).unwrap().message,
                Incoming::Response(response)
            );
        }
    }
}
