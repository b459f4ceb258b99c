//! Requests and responses of the classic format: JSON on the request and response channels,
//! msgpack for what may hold binary (a broadcast with acknowledgements, a client's ack).

use bytes::Bytes;
use socketio_parser::Value;

use crate::redis::messages::{
    opts_of, opts_to_value, packet_of, remote_socket_of, remote_socket_to_value, rooms_of,
    rooms_to_value, value_to_room, ClusterRequest, ClusterResponse, WireError,
};
use crate::redis::msgpack::{self, packet_to_value};

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
                    .and_then(value_to_room)
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
