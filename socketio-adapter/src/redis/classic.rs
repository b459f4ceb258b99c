//! The classic (pub/sub) format of npm `@socket.io/redis-adapter` 8.3, also spoken by npm
//! `@socket.io/redis-emitter` 5.1.
//!
//! Channels, with the key prefix `socket.io` by default:
//! - broadcasts: `prefix#nsp#`, or `prefix#nsp#room#` when the broadcast targets exactly one
//!   room; every node subscribes to the pattern `prefix#nsp#*`. A broadcast is the msgpack array
//!   `[uid, packet, {rooms, except, flags}]`.
//! - requests: `prefix-request#nsp#`, JSON `{uid, type, requestId, …}` with the [`RequestType`]s,
//!   except a broadcast with acknowledgements, which is msgpack (the packet may hold binary).
//! - responses: `prefix-response#nsp#` (or `prefix-response#nsp#<uid>#` when the requester asked
//!   for per-node response channels), JSON, except the clients' acks of a broadcast (msgpack).
//!
//! The number of nodes is the number of subscribers of the request channel (`PUBSUB NUMSUB`).

use bytes::Bytes;
use socketio_parser::{Packet, Value};

use super::messages::{
    opts_of, opts_to_value, packet_of, remote_socket_of, remote_socket_to_value, rooms_of,
    rooms_to_value, write_opts, ClusterRequest, ClusterResponse, WireError,
};
use super::msgpack::{self, packet_to_value, write_packet};
use crate::{BroadcastOptions, Room};

/// The uid the emitter (npm `@socket.io/redis-emitter`, and ours) puts in its messages.
pub const EMITTER_UID: &str = "emitter";

/// The request types of the classic format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RequestType {
    /// `0`: socket ids in rooms.
    Sockets = 0,
    /// `1`: all room names.
    AllRooms = 1,
    /// `2`: make sockets join rooms.
    RemoteJoin = 2,
    /// `3`: make sockets leave rooms.
    RemoteLeave = 3,
    /// `4`: disconnect sockets.
    RemoteDisconnect = 4,
    /// `5`: fetch sockets.
    RemoteFetch = 5,
    /// `6`: server-side emit (request and response).
    ServerSideEmit = 6,
    /// `7`: broadcast with acknowledgements.
    Broadcast = 7,
    /// `8`: the number of clients a broadcast with ack reached on one node.
    BroadcastClientCount = 8,
    /// `9`: one client's acknowledgement of a broadcast.
    BroadcastAck = 9,
}

impl RequestType {
    /// The type for its number.
    pub fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            0 => Self::Sockets,
            1 => Self::AllRooms,
            2 => Self::RemoteJoin,
            3 => Self::RemoteLeave,
            4 => Self::RemoteDisconnect,
            5 => Self::RemoteFetch,
            6 => Self::ServerSideEmit,
            7 => Self::Broadcast,
            8 => Self::BroadcastClientCount,
            9 => Self::BroadcastAck,
            _ => return None,
        })
    }

    fn value(self) -> Value {
        Value::from(self as u8)
    }
}

/// The channel names of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channels {
    /// `prefix#nsp#`: broadcasts to the whole namespace (and the pattern prefix).
    pub broadcast: String,
    /// `prefix-request#nsp#`.
    pub request: String,
    /// `prefix-response#nsp#`.
    pub response: String,
}

impl Channels {
    /// The channels of namespace `nsp` under key prefix `prefix`.
    pub fn new(prefix: &str, nsp: &str) -> Self {
        Channels {
            broadcast: format!("{prefix}#{nsp}#"),
            request: format!("{prefix}-request#{nsp}#"),
            response: format!("{prefix}-response#{nsp}#"),
        }
    }

    /// The pattern every node subscribes to for broadcasts: `prefix#nsp#*`.
    pub fn broadcast_pattern(&self) -> String {
        format!("{}*", self.broadcast)
    }

    /// The channel of a broadcast to exactly one room: `prefix#nsp#room#`.
    pub fn room(&self, room: &str) -> String {
        format!("{}{room}#", self.broadcast)
    }

    /// The channel a broadcast with these options is published on.
    pub fn for_broadcast(&self, opts: &BroadcastOptions) -> String {
        match (opts.rooms.len(), opts.rooms.iter().next()) {
            (1, Some(room)) => self.room(room),
            _ => self.broadcast.clone(),
        }
    }

    /// The per-node response channel of node `uid`: `prefix-response#nsp#uid#`.
    pub fn specific_response(&self, uid: &str) -> String {
        format!("{}{uid}#", self.response)
    }

    /// The room a broadcast channel names (`""` for the namespace-wide channel), or `None` if
    /// the channel is not one of this namespace's broadcast channels.
    pub fn room_of<'a>(&self, channel: &'a str) -> Option<&'a str> {
        let rest = channel.strip_prefix(self.broadcast.as_str())?;
        if rest.is_empty() {
            return Some("");
        }
        rest.strip_suffix('#')
    }
}

/// Encodes a broadcast: msgpack `[uid, packet, {rooms, except, flags}]`.
pub fn encode_broadcast(uid: &str, packet: &Packet, opts: &BroadcastOptions) -> Bytes {
    let mut w = msgpack::Writer::with_capacity(64);
    w.array_len(3);
    w.str(uid);
    write_packet(&mut w, packet);
    write_opts(&mut w, opts);
    w.into_bytes()
}

/// Encodes a broadcast the way npm `@socket.io/redis-emitter` does (its options are written
/// in the order `{rooms, flags, except}`; same meaning). `rooms` is `opts.rooms` in the order
/// the caller added them.
pub fn encode_emitter_broadcast(packet: &Packet, opts: &BroadcastOptions, rooms: &[Room]) -> Bytes {
    let mut map = socketio_parser::Map::new();
    map.insert("rooms".to_owned(), rooms_to_value(rooms));
    map.insert(
        "flags".to_owned(),
        super::messages::flags_to_value(&opts.flags),
    );
    map.insert("except".to_owned(), rooms_to_value(&opts.except));
    let mut w = msgpack::Writer::with_capacity(64);
    w.array_len(3);
    w.str(EMITTER_UID);
    write_packet(&mut w, packet);
    w.value(&Value::Object(map));
    w.into_bytes()
}

/// A decoded broadcast.
#[derive(Debug, Clone, PartialEq)]
pub struct Broadcast {
    /// The sender's uid (`emitter` for emitters).
    pub uid: String,
    /// The packet (its namespace defaults to `/`).
    pub packet: Packet,
    /// Targets and flags.
    pub opts: BroadcastOptions,
}

/// Decodes a broadcast.
pub fn decode_broadcast(msg: &Bytes) -> Result<Broadcast, WireError> {
    let Value::Array(mut items) = msgpack::decode(msg)? else {
        return Err(WireError::Malformed("broadcast is not an array"));
    };
    if items.len() < 2 {
        return Err(WireError::Malformed("broadcast array too short"));
    }
    let opts = opts_of(items.get(2));
    let packet = packet_of(std::mem::take(&mut items[1]), "/")?;
    let uid = match items.swap_remove(0) {
        Value::String(s) => s,
        _ => String::new(),
    };
    Ok(Broadcast { uid, packet, opts })
}

fn object(entries: Vec<(&str, Value)>) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

fn json(v: &Value) -> Bytes {
    // Serialising a `Value` to JSON cannot fail (string keys, finite numbers).
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// Encodes a request from node `uid` (JSON, or msgpack for a broadcast with ack).
pub fn encode_request(uid: Option<&str>, request: &ClusterRequest) -> Bytes {
    let uid_entry = |entries: &mut Vec<(&str, Value)>| {
        if let Some(uid) = uid {
            entries.push(("uid", Value::String(uid.to_owned())));
        }
    };
    let mut e: Vec<(&str, Value)> = Vec::with_capacity(6);
    match request {
        ClusterRequest::Broadcast { .. } => {
            // Plain broadcasts go on the broadcast channel, see `encode_broadcast`; a request
            // form does not exist in this format.
            return Bytes::new();
        }
        ClusterRequest::BroadcastWithAck {
            request_id,
            packet,
            opts,
        } => {
            uid_entry(&mut e);
            e.push(("requestId", Value::String(request_id.clone())));
            e.push(("type", RequestType::Broadcast.value()));
            e.push(("packet", packet_to_value(packet)));
            e.push(("opts", opts_to_value(opts, true)));
            return msgpack::encode(&object(e));
        }
        ClusterRequest::Sockets { request_id, rooms } => {
            uid_entry(&mut e);
            e.push(("requestId", Value::String(request_id.clone())));
            e.push(("type", RequestType::Sockets.value()));
            e.push(("rooms", rooms_to_value(rooms)));
        }
        ClusterRequest::AllRooms { request_id } => {
            uid_entry(&mut e);
            e.push(("requestId", Value::String(request_id.clone())));
            e.push(("type", RequestType::AllRooms.value()));
        }
        ClusterRequest::SocketsJoin { opts, rooms }
        | ClusterRequest::SocketsLeave { opts, rooms } => {
            let ty = if matches!(request, ClusterRequest::SocketsJoin { .. }) {
                RequestType::RemoteJoin
            } else {
                RequestType::RemoteLeave
            };
            uid_entry(&mut e);
            e.push(("type", ty.value()));
            e.push(("opts", opts_to_value(opts, false)));
            e.push(("rooms", rooms_to_value(rooms)));
        }
        ClusterRequest::DisconnectSockets { opts, close } => {
            uid_entry(&mut e);
            e.push(("type", RequestType::RemoteDisconnect.value()));
            e.push(("opts", opts_to_value(opts, false)));
            e.push(("close", Value::Bool(*close)));
        }
        ClusterRequest::RemoteJoin {
            request_id,
            sid,
            room,
        }
        | ClusterRequest::RemoteLeave {
            request_id,
            sid,
            room,
        } => {
            let ty = if matches!(request, ClusterRequest::RemoteJoin { .. }) {
                RequestType::RemoteJoin
            } else {
                RequestType::RemoteLeave
            };
            uid_entry(&mut e);
            if let Some(id) = request_id {
                e.push(("requestId", Value::String(id.clone())));
            }
            e.push(("type", ty.value()));
            e.push(("sid", Value::String(sid.clone())));
            e.push(("room", Value::String(room.to_string())));
        }
        ClusterRequest::RemoteDisconnect {
            request_id,
            sid,
            close,
        } => {
            uid_entry(&mut e);
            if let Some(id) = request_id {
                e.push(("requestId", Value::String(id.clone())));
            }
            e.push(("type", RequestType::RemoteDisconnect.value()));
            e.push(("sid", Value::String(sid.clone())));
            e.push(("close", Value::Bool(*close)));
        }
        ClusterRequest::FetchSockets { request_id, opts } => {
            uid_entry(&mut e);
            e.push(("requestId", Value::String(request_id.clone())));
            e.push(("type", RequestType::RemoteFetch.value()));
            e.push(("opts", opts_to_value(opts, false)));
        }
        ClusterRequest::ServerSideEmit { request_id, data } => {
            uid_entry(&mut e);
            if let Some(id) = request_id {
                e.push(("requestId", Value::String(id.clone())));
            }
            e.push(("type", RequestType::ServerSideEmit.value()));
            e.push(("data", Value::Array(data.clone())));
        }
    }
    json(&object(e))
}

/// Decodes JSON (a message starting with `{`) or msgpack, as the reference does.
fn decode_any(msg: &Bytes) -> Result<Value, WireError> {
    if msg.first() == Some(&b'{') {
        serde_json::from_slice(msg).map_err(|e| WireError::Json(e.to_string()))
    } else {
        Ok(msgpack::decode(msg)?)
    }
}

fn string_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Decodes a request: `(sender uid, request)`. The uid is absent in emitter messages.
pub fn decode_request(msg: &Bytes) -> Result<(Option<String>, ClusterRequest), WireError> {
    let v = decode_any(msg)?;
    let uid = string_field(&v, "uid");
    let request_id = string_field(&v, "requestId");
    let need_id = || {
        request_id
            .clone()
            .ok_or(WireError::Malformed("missing requestId"))
    };
    let code = v
        .get("type")
        .and_then(Value::as_u64)
        .ok_or(WireError::Malformed("missing type"))?;
    let ty = RequestType::from_code(code).ok_or(WireError::UnknownType(code))?;
    let request = match ty {
        RequestType::Sockets => ClusterRequest::Sockets {
            request_id: need_id()?,
            rooms: rooms_of(v.get("rooms")),
        },
        RequestType::AllRooms => ClusterRequest::AllRooms {
            request_id: need_id()?,
        },
        RequestType::RemoteJoin | RequestType::RemoteLeave => {
            let join = ty == RequestType::RemoteJoin;
            if v.get("opts").is_some() {
                let opts = opts_of(v.get("opts"));
                let rooms = rooms_of(v.get("rooms"));
                if join {
                    ClusterRequest::SocketsJoin { opts, rooms }
                } else {
                    ClusterRequest::SocketsLeave { opts, rooms }
                }
            } else {
                let sid = string_field(&v, "sid").ok_or(WireError::Malformed("missing sid"))?;
                let room = v
                    .get("room")
                    .and_then(super::messages::value_to_room)
                    .ok_or(WireError::Malformed("missing room"))?;
                if join {
                    ClusterRequest::RemoteJoin {
                        request_id,
                        sid,
                        room,
                    }
                } else {
                    ClusterRequest::RemoteLeave {
                        request_id,
                        sid,
                        room,
                    }
                }
            }
        }
        RequestType::RemoteDisconnect => {
            let close = v.get("close").and_then(Value::as_bool).unwrap_or(false);
            if v.get("opts").is_some() {
                ClusterRequest::DisconnectSockets {
                    opts: opts_of(v.get("opts")),
                    close,
                }
            } else {
                ClusterRequest::RemoteDisconnect {
                    request_id,
                    sid: string_field(&v, "sid").ok_or(WireError::Malformed("missing sid"))?,
                    close,
                }
            }
        }
        RequestType::RemoteFetch => ClusterRequest::FetchSockets {
            request_id: need_id()?,
            opts: opts_of(v.get("opts")),
        },
        RequestType::ServerSideEmit => match v.get("data") {
            Some(Value::Array(data)) => ClusterRequest::ServerSideEmit {
                request_id,
                data: data.clone(),
            },
            _ => return Err(WireError::Malformed("server-side emit without data")),
        },
        RequestType::Broadcast => ClusterRequest::BroadcastWithAck {
            request_id: need_id()?,
            packet: packet_of(
                v.get("packet")
                    .ok_or(WireError::Malformed("missing packet"))?
                    .clone(),
                "/",
            )?,
            opts: opts_of(v.get("opts")),
        },
        RequestType::BroadcastClientCount | RequestType::BroadcastAck => {
            return Err(WireError::Malformed("response type on the request channel"))
        }
    };
    Ok((uid, request))
}

/// Encodes a response (JSON, or msgpack for a client's ack of a broadcast, like the reference).
pub fn encode_response(response: &ClusterResponse) -> Bytes {
    let id = |s: &str| ("requestId", Value::String(s.to_owned()));
    match response {
        ClusterResponse::BroadcastClientCount {
            request_id,
            client_count,
        } => json(&object(vec![
            ("type", RequestType::BroadcastClientCount.value()),
            id(request_id),
            ("clientCount", Value::from(*client_count)),
        ])),
        ClusterResponse::BroadcastAck { request_id, packet } => msgpack::encode(&object(vec![
            ("type", RequestType::BroadcastAck.value()),
            id(request_id),
            ("packet", packet.clone()),
        ])),
        ClusterResponse::ServerSideEmit { request_id, data } => json(&object(vec![
            ("type", RequestType::ServerSideEmit.value()),
            id(request_id),
            ("data", data.clone()),
        ])),
        ClusterResponse::FetchSockets {
            request_id,
            sockets,
        } => json(&object(vec![
            id(request_id),
            (
                "sockets",
                Value::Array(sockets.iter().map(remote_socket_to_value).collect()),
            ),
        ])),
        ClusterResponse::Sockets {
            request_id,
            sockets,
        } => json(&object(vec![
            id(request_id),
            ("sockets", rooms_to_value(sockets)),
        ])),
        ClusterResponse::AllRooms { request_id, rooms } => json(&object(vec![
            id(request_id),
            ("rooms", rooms_to_value(rooms)),
        ])),
        ClusterResponse::Done { request_id } => json(&object(vec![id(request_id)])),
    }
}

/// Decodes a response. Responses to `SOCKETS`, `ALL_ROOMS`, `REMOTE_FETCH` and the legacy
/// single-socket requests carry no type, so `pending` tells which request `requestId` belongs
/// to (`None`: not one of ours, the response is ignored and `Ok(None)` returned).
pub fn decode_response(
    msg: &Bytes,
    pending: impl FnOnce(&str) -> Option<RequestType>,
) -> Result<Option<ClusterResponse>, WireError> {
    let v = decode_any(msg)?;
    let request_id =
        string_field(&v, "requestId").ok_or(WireError::Malformed("missing requestId"))?;
    match v.get("type").and_then(Value::as_u64) {
        Some(8) => {
            return Ok(Some(ClusterResponse::BroadcastClientCount {
                client_count: v
                    .get("clientCount")
                    .and_then(Value::as_u64)
                    .ok_or(WireError::Malformed("missing clientCount"))?,
                request_id,
            }))
        }
        Some(9) => {
            return Ok(Some(ClusterResponse::BroadcastAck {
                packet: v.get("packet").cloned().unwrap_or(Value::Null),
                request_id,
            }))
        }
        Some(6) => {
            return Ok(Some(ClusterResponse::ServerSideEmit {
                data: v.get("data").cloned().unwrap_or(Value::Null),
                request_id,
            }))
        }
        _ => {}
    }
    let Some(ty) = pending(&request_id) else {
        return Ok(None);
    };
    let response = match ty {
        RequestType::Sockets => ClusterResponse::Sockets {
            sockets: rooms_of(v.get("sockets")),
            request_id,
        },
        RequestType::AllRooms => ClusterResponse::AllRooms {
            rooms: rooms_of(v.get("rooms")),
            request_id,
        },
        RequestType::RemoteFetch => match v.get("sockets") {
            Some(Value::Array(items)) => ClusterResponse::FetchSockets {
                sockets: items.iter().filter_map(remote_socket_of).collect(),
                request_id,
            },
            _ => return Err(WireError::Malformed("fetch response without sockets")),
        },
        _ => ClusterResponse::Done { request_id },
    };
    Ok(Some(response))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use socketio_parser::PacketType;

    #[test]
    fn channel_names() {
        let c = Channels::new("socket.io", "/admin");
        assert_eq!(c.broadcast, "socket.io#/admin#");
        assert_eq!(c.broadcast_pattern(), "socket.io#/admin#*");
        assert_eq!(c.request, "socket.io-request#/admin#");
        assert_eq!(c.response, "socket.io-response#/admin#");
        assert_eq!(c.specific_response("abc"), "socket.io-response#/admin#abc#");
        assert_eq!(c.room("r1"), "socket.io#/admin#r1#");
        assert_eq!(c.room_of("socket.io#/admin#r1#"), Some("r1"));
        assert_eq!(c.room_of("socket.io#/admin#"), Some(""));
        assert_eq!(c.room_of("socket.io#/other#"), None);
        let one = BroadcastOptions::default().to("r");
        assert_eq!(c.for_broadcast(&one), "socket.io#/admin#r#");
        let two = BroadcastOptions::default().to("r").to("s");
        assert_eq!(c.for_broadcast(&two), "socket.io#/admin#");
    }

    #[test]
    fn broadcast_roundtrip_with_binary() {
        let packet = Packet::event(
            "/",
            "ev",
            vec![
                Value::from(1),
                Value::Binary(Bytes::from_static(b"\x01\x02")),
            ],
        );
        let mut opts = BroadcastOptions::default().to("a").except("b");
        opts.flags.volatile = true;
        let bytes = encode_broadcast("node1", &packet, &opts);
        let decoded = decode_broadcast(&bytes).unwrap();
        assert_eq!(decoded.uid, "node1");
        assert_eq!(decoded.packet, packet);
        assert_eq!(decoded.opts, opts);
    }

    #[test]
    fn broadcast_without_nsp_defaults_to_root() {
        // [ "x", {type: 2, data: ["a"]}, {} ]
        let mut w = msgpack::Writer::new();
        w.array_len(3);
        w.str("x");
        w.map_len(2);
        w.str("type");
        w.uint(2);
        w.str("data");
        w.array_len(1);
        w.str("a");
        w.map_len(0);
        let b = decode_broadcast(&w.into_bytes()).unwrap();
        assert_eq!(b.packet.nsp, "/");
        assert_eq!(b.packet.kind, PacketType::Event);
        assert!(b.opts.rooms.is_empty());
    }

    #[test]
    fn requests_roundtrip() {
        let opts = BroadcastOptions::default().to("a").except("b");
        let mut ack_opts = opts.clone();
        ack_opts.flags.timeout = Some(std::time::Duration::from_millis(1000));
        let requests = vec![
            ClusterRequest::Sockets {
                request_id: "r1".into(),
                rooms: ["x".into()].into_iter().collect(),
            },
            ClusterRequest::AllRooms {
                request_id: "r2".into(),
            },
            ClusterRequest::SocketsJoin {
                opts: opts.clone(),
                rooms: vec!["j".into()],
            },
            ClusterRequest::SocketsLeave {
                opts: opts.clone(),
                rooms: vec!["j".into()],
            },
            ClusterRequest::DisconnectSockets {
                opts: opts.clone(),
                close: true,
            },
            ClusterRequest::RemoteJoin {
                request_id: Some("r3".into()),
                sid: "s".into(),
                room: "room".into(),
            },
            ClusterRequest::RemoteDisconnect {
                request_id: Some("r4".into()),
                sid: "s".into(),
                close: false,
            },
            ClusterRequest::FetchSockets {
                request_id: "r5".into(),
                opts: opts.clone(),
            },
            ClusterRequest::ServerSideEmit {
                request_id: None,
                data: vec![Value::from("hello"), Value::from(3)],
            },
            ClusterRequest::ServerSideEmit {
                request_id: Some("r6".into()),
                data: vec![Value::from("hello")],
            },
            ClusterRequest::BroadcastWithAck {
                request_id: "r7".into(),
                packet: Packet::event("/", "ev", vec![Value::Binary(Bytes::from_static(b"x"))]),
                opts: ack_opts,
            },
        ];
        for request in requests {
            let bytes = encode_request(Some("me"), &request);
            let (uid, decoded) = decode_request(&bytes).unwrap();
            assert_eq!(uid.as_deref(), Some("me"));
            assert_eq!(decoded, request);
        }
    }

    #[test]
    fn responses_roundtrip() {
        let responses = vec![
            (
                ClusterResponse::BroadcastClientCount {
                    request_id: "a".into(),
                    client_count: 3,
                },
                None,
            ),
            (
                ClusterResponse::BroadcastAck {
                    request_id: "a".into(),
                    packet: Value::Binary(Bytes::from_static(b"\0")),
                },
                None,
            ),
            (
                ClusterResponse::ServerSideEmit {
                    request_id: "a".into(),
                    data: Value::from("ok"),
                },
                None,
            ),
            (
                ClusterResponse::Sockets {
                    request_id: "a".into(),
                    sockets: vec!["s1".into()],
                },
                Some(RequestType::Sockets),
            ),
            (
                ClusterResponse::AllRooms {
                    request_id: "a".into(),
                    rooms: vec!["r".into()],
                },
                Some(RequestType::AllRooms),
            ),
            (
                ClusterResponse::FetchSockets {
                    request_id: "a".into(),
                    sockets: vec![crate::SocketInfo {
                        id: "s1".into(),
                        handshake: crate::Handshake {
                            query: [("a".to_owned(), "b".to_owned())].into_iter().collect(),
                            auth: Value::from(serde_json::json!({"token": "t"})),
                            ..Default::default()
                        },
                        rooms: vec!["s1".into(), "r".into()],
                        data: Value::from(serde_json::json!({"n": 1})),
                    }],
                },
                Some(RequestType::RemoteFetch),
            ),
            (
                ClusterResponse::Done {
                    request_id: "a".into(),
                },
                Some(RequestType::RemoteJoin),
            ),
        ];
        for (response, pending) in responses {
            let bytes = encode_response(&response);
            let decoded = decode_response(&bytes, |_| pending).unwrap();
            assert_eq!(decoded, Some(response));
        }
    }

    #[test]
    fn unknown_or_hostile_messages_are_errors() {
        for msg in [
            &b"{"[..],
            b"{\"type\":42}",
            b"{\"type\":5}",
            b"\xc1",
            b"{\"type\":6,\"data\":3}",
        ] {
            assert!(decode_request(&Bytes::copy_from_slice(msg)).is_err());
        }
        assert!(decode_broadcast(&Bytes::from_static(b"\x93\xa1x\x80\x80")).is_err());
    }
}
