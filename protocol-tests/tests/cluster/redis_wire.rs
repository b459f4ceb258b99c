//! Byte-for-byte compatibility of our Redis messages with the npm packages
//! (`@socket.io/redis-emitter` 5.1, `@socket.io/redis-adapter` 8.3 / notepack.io), checked
//! with `protocol-tests/js/redis-wire.js`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use protocol_tests::{ensure_deps, js_dir, RedisServer};
use serde_json::{json, Value as Json};
use socketio_adapter::redis::messages::{ClusterRequest, ClusterResponse};
use socketio_adapter::redis::{classic, sharded, Emitter, EmitterMessage};
use socketio_adapter::{BroadcastOptions, Handshake, SocketInfo};
use socketio_parser::{Packet, Value};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn node_lines(args: &[&str], stdin: &str) -> Vec<Json> {
    ensure_deps();
    let mut child = Command::new("node")
        .arg("redis-wire.js")
        .args(args)
        .current_dir(js_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "redis-wire.js {args:?} failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn our_emitter_writes_the_same_bytes_as_the_npm_emitter() {
    let redis = RedisServer::start();
    let emitter = tokio::time::timeout(Duration::from_secs(10), Emitter::connect(&redis.url()))
        .await
        .unwrap()
        .unwrap();
    let ours: Vec<(&str, EmitterMessage)> = vec![
        (
            "emit_all",
            emitter
                .all()
                .emit_message(
                    "ev",
                    vec![
                        1.into(),
                        "two".into(),
                        Value::from(json!({"a": [1.5, null, true]})),
                    ],
                )
                .unwrap(),
        ),
        (
            "emit_room_binary",
            emitter
                .to("room1")
                .emit_message("ev", vec![Value::Binary(Bytes::from_static(&[1, 2, 3]))])
                .unwrap(),
        ),
        (
            "emit_rooms_except",
            emitter
                .to("r1")
                .to("r2")
                .except("x")
                .emit_message("ev", vec![])
                .unwrap(),
        ),
        (
            "emit_flags_numbers",
            emitter
                .volatile()
                .compress(false)
                .emit_message(
                    "ev",
                    vec![
                        (-5).into(),
                        300.into(),
                        70000.into(),
                        (1u64 << 40).into(),
                        (-40000).into(),
                    ],
                )
                .unwrap(),
        ),
        (
            "emit_nsp",
            emitter
                .of("admin")
                .all()
                .emit_message("ev", vec!["x".into()])
                .unwrap(),
        ),
        (
            "emit_long_string",
            emitter
                .all()
                .emit_message("ev", vec!["é".repeat(40).into(), "x".repeat(300).into()])
                .unwrap(),
        ),
        (
            "sockets_join",
            emitter.all().sockets_join_message(&["room"]),
        ),
        (
            "sockets_leave",
            emitter.to("a").sockets_leave_message(&["b", "c"]),
        ),
        (
            "disconnect",
            emitter.except("a").disconnect_sockets_message(true),
        ),
        (
            "server_side_emit",
            emitter
                .server_side_emit_message("hello", vec!["world".into(), 1.into()])
                .unwrap(),
        ),
    ];
    let reference = node_lines(&["emitter"], "");
    assert_eq!(reference.len(), ours.len(), "{reference:#?}");
    for ((op, msg), expected) in ours.iter().zip(&reference) {
        assert_eq!(expected["op"], *op);
        assert_eq!(expected["channel"], msg.channel.as_str(), "{op}: channel");
        assert_eq!(expected["hex"], hex(&msg.payload).as_str(), "{op}: payload");
    }
    // And it really publishes: a subscriber sees the message on the channel.
    assert!(emitter.emit("ev", vec!["live".into()]).await.is_ok());
}

#[test]
fn adapter_messages_decode_and_reencode_identically_in_node() {
    let mut opts = BroadcastOptions::default().to("room").except("other");
    opts.flags.volatile = true;
    let packet = Packet::event(
        "/chat",
        "ev",
        vec![
            Value::from(json!({"k": [1, -2, 3.25, "s"]})),
            Value::Binary(Bytes::from_static(b"\x00\xff")),
        ],
    );
    let mut ack_opts = BroadcastOptions::default();
    ack_opts.flags.timeout = Some(Duration::from_millis(1500));
    let socket = SocketInfo {
        id: "sid1".into(),
        handshake: Handshake {
            time: "Mon Nov 23 2026".into(),
            address: "127.0.0.1".into(),
            issued: 1_790_000_000_000,
            url: "/socket.io/?EIO=4".into(),
            auth: Value::from(json!({"token": "abc"})),
            ..Default::default()
        },
        rooms: vec!["sid1".into(), "room".into()],
        data: Value::from(json!({"user": "bob"})),
    };
    let messages: Vec<Bytes> = vec![
        classic::encode_broadcast("uid123", &packet, &opts),
        classic::encode_request(
            Some("uid123"),
            &ClusterRequest::BroadcastWithAck {
                request_id: "req1".into(),
                packet: packet.clone(),
                opts: ack_opts.clone(),
            },
        ),
        classic::encode_request(
            Some("uid123"),
            &ClusterRequest::FetchSockets {
                request_id: "req2".into(),
                opts: BroadcastOptions::default().to("room"),
            },
        ),
        classic::encode_response(&ClusterResponse::BroadcastAck {
            request_id: "req1".into(),
            packet: Value::Binary(Bytes::from_static(b"ok")),
        }),
        classic::encode_response(&ClusterResponse::FetchSockets {
            request_id: "req2".into(),
            sockets: vec![socket],
        }),
        sharded::encode_request(
            "uid123",
            "/chat",
            &ClusterRequest::Broadcast {
                packet: packet.clone(),
                opts: opts.clone(),
            },
        )
        .unwrap(),
        sharded::encode_request(
            "uid123",
            "/chat",
            &ClusterRequest::ServerSideEmit {
                request_id: Some("r".into()),
                data: vec!["hello".into()],
            },
        )
        .unwrap(),
    ];
    let input: String = messages
        .iter()
        .map(|m| format!("{}\n", json!({"hex": hex(m)})))
        .collect();
    let out = node_lines(&["reencode"], &input);
    assert_eq!(out.len(), messages.len());
    for (msg, o) in messages.iter().zip(&out) {
        assert!(o.get("error").is_none(), "{o}");
        assert_eq!(
            o["hex"],
            hex(msg).as_str(),
            "node re-encodes differently: {o}"
        );
    }
    // What Node sees in the broadcast.
    assert_eq!(
        out[0]["value"],
        json!(["uid123",
            {"type": 2, "data": ["ev", {"k": [1, -2, 3.25, "s"]}, {"$bin": "00ff"}], "nsp": "/chat"},
            {"rooms": ["room"], "except": ["other"], "flags": {"volatile": true}}])
    );
    assert_eq!(out[1]["value"]["type"], 7);
    assert_eq!(out[1]["value"]["opts"]["flags"]["timeout"], 1500);
    assert_eq!(out[2]["value"]["type"], 5);
    assert_eq!(out[3]["value"]["packet"], json!({"$bin": "6f6b"}));
    assert_eq!(
        out[4]["value"]["sockets"][0]["handshake"]["auth"]["token"],
        "abc"
    );
    assert_eq!(out[5]["value"]["type"], 3);
    assert_eq!(out[5]["value"]["nsp"], "/chat");
    assert_eq!(out[6]["value"]["data"]["packet"], json!(["hello"]));
}
