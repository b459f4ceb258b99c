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

mod broadcast;
mod channels;
mod requests;

pub use broadcast::{
    decode_broadcast, encode_broadcast, encode_emitter_broadcast, Broadcast, EMITTER_UID,
};
pub use channels::Channels;
pub use requests::{decode_request, decode_response, encode_request, encode_response, RequestType};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::redis::messages::{ClusterRequest, ClusterResponse};
    use crate::redis::msgpack;
    use crate::BroadcastOptions;
    use bytes::Bytes;
    use socketio_parser::{Packet, PacketType, Value};

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
