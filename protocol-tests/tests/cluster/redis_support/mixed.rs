//! The mixed-cluster scenario shared by `redis_cluster` (the Redis pub/sub adapter, classic and
//! sharded) and `redis_streams` (the Redis Streams adapter): two of our servers, one npm
//! `socket.io` node with the matching npm adapter, npm `socket.io-client` clients on each;
//! every adapter operation in every direction. Written once, parameterised by the adapter.

use std::time::Duration;

use protocol_tests::redis::JsonNode;
use serde_json::{json, Value as Json};
use socketio_server::Value;

use super::RustServer;

pub const WAIT: Duration = Duration::from_secs(5);
pub const QUIET: Duration = Duration::from_millis(300);

/// Which adapter the cluster runs: what differs in what the clients receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `@socket.io/redis-adapter` and ours (`socketio_adapter::redis`): broadcasts carry
    /// exactly the emitted arguments.
    PubSub,
    /// `@socket.io/redis-streams-adapter` and ours (`socketio_adapter::redis_streams`), with
    /// recovery on: every non-volatile broadcast carries its entry id as last argument.
    Streams,
}

/// Waits for `event` at each of `expected` clients and checks no other client got it;
/// returns the args each expected client received.
pub fn expect(clients: &mut JsonNode, event: &str, expected: &[&str]) -> Vec<Json> {
    let mut args = Vec::new();
    for name in expected {
        let got = clients
            .wait_for(WAIT, |v| v["client"] == *name && v["event"] == event)
            .unwrap_or_else(|| panic!("{name} did not get {event}"));
        args.push(got["args"].clone());
    }
    let extra: Vec<Json> = clients
        .drain(QUIET)
        .into_iter()
        .filter(|v| v["event"] == event)
        .collect();
    assert!(
        extra.is_empty(),
        "{event} reached unexpected clients: {extra:?}"
    );
    args
}

/// The result of a fixture command, which must not have failed.
pub fn ok(reply: Json) -> Json {
    assert!(reply.get("error").is_none(), "{reply}");
    reply["result"].clone()
}

/// A JSON array of strings, sorted.
pub fn sorted_strings(v: &Json) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

/// The `name` in the data of a socket, as `fetchSockets` reports it.
pub fn name_of(s: &socketio_server::RemoteSocket) -> String {
    s.data_value()
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The six clients of [`every_operation_in_every_direction`]. p: on R1 in red; q: on R2 in red;
/// s: on R2; u: on N in red; v: on N; w: on R1, /admin.
pub fn spawn_clients(r1: &RustServer, r2: &RustServer, n: &JsonNode) -> JsonNode {
    JsonNode::spawn(
        "redis-clients.js",
        &[&json!([
            {"name": "p", "url": r1.url(), "rooms": ["red"]},
            {"name": "q", "url": r2.url(), "rooms": ["red"]},
            {"name": "s", "url": r2.url()},
            {"name": "u", "url": n.url(), "rooms": ["red"]},
            {"name": "v", "url": n.url()},
            {"name": "w", "url": r1.url(), "nsp": "/admin"},
        ])
        .to_string()],
    )
}

/// Checks that every receiver of one broadcast got `payload`, and with [`Flavour::Streams`] the
/// same valid entry id after it.
fn same_broadcast(flavour: Flavour, got: &[Json], payload: Json) {
    for args in got {
        let args = args.as_array().unwrap();
        match flavour {
            Flavour::PubSub => assert_eq!(Json::from(args.clone()), payload, "{got:?}"),
            Flavour::Streams => {
                let (offset, emitted) = args.split_last().expect("an offset");
                assert_eq!(Json::from(emitted.to_vec()), payload, "{got:?}");
                let offset = offset.as_str().expect("an offset");
                assert!(
                    socketio_adapter::redis_streams::StreamId::parse(offset).is_some(),
                    "{offset}"
                );
                assert_eq!(*offset, got[0][args.len() - 1], "one offset: {got:?}");
            }
        }
    }
}

/// Every adapter operation in every direction, on a formed cluster of R1, R2 (ours) and N (npm)
/// with the clients of [`spawn_clients`] connected. Ends with every client but u disconnected.
pub async fn every_operation_in_every_direction(
    flavour: Flavour,
    r1: &RustServer,
    r2: &RustServer,
    n: &mut JsonNode,
    clients: &mut JsonNode,
) {
    assert_eq!(ok(n.command(json!({"op": "serverCount"}), WAIT)), 3);

    // Broadcasts from each node: to a room, to everyone except a room, to a namespace.
    r1.io.to("red").emit("from-r1", &json!({"k": 1})).unwrap();
    let got = expect(clients, "from-r1", &["p", "q", "u"]);
    same_broadcast(flavour, &got, json!([{"k": 1}]));
    r2.io
        .except("red")
        .emit(
            "from-r2",
            socketio_server::Args(vec![Value::Binary(vec![1u8, 2].into())]),
        )
        .unwrap();
    let got = expect(clients, "from-r2", &["s", "v"]);
    same_broadcast(flavour, &got, json!([{"$bin": "0102"}]));
    ok(n.command(json!({"op": "broadcast", "rooms": ["red"], "except": ["nothing"], "event": "from-n", "args": ["x"]}), WAIT));
    let got = expect(clients, "from-n", &["p", "q", "u"]);
    same_broadcast(flavour, &got, json!(["x"]));
    ok(n.command(
        json!({"op": "broadcast", "nsp": "/admin", "event": "from-n-admin", "args": [{"$bin": "ff"}]}),
        WAIT,
    ));
    let got = expect(clients, "from-n-admin", &["w"]);
    same_broadcast(flavour, &got, json!([{"$bin": "ff"}]));
    r2.io.local().emit("r2-local", &()).unwrap();
    expect(clients, "r2-local", &["q", "s"]);
    ok(n.command(
        json!({"op": "broadcast", "event": "n-volatile", "args": [], "flags": {"volatile": true}}),
        WAIT,
    ));
    let got = expect(clients, "n-volatile", &["p", "q", "s", "u", "v"]);
    assert!(
        got.iter().all(|a| a.as_array().unwrap().is_empty()),
        "volatile packets get no offset: {got:?}"
    );

    // Broadcast with acknowledgements, from ours and from Node: one reply per client.
    let mut answers: Vec<String> = r1
        .io
        .timeout(Duration::from_secs(3))
        .emit_with_ack("ask", socketio_server::Args(vec!["?".into()]))
        .unwrap()
        .await
        .unwrap();
    answers.sort();
    assert_eq!(
        answers,
        vec!["p-answer", "q-answer", "s-answer", "u-answer", "v-answer"]
    );
    let res = ok(n.command(json!({"op": "broadcastAck", "rooms": ["red"], "event": "n-ask", "args": [], "timeout": 3000}), WAIT));
    assert_eq!(res["err"], Json::Null, "{res}");
    assert_eq!(
        sorted_strings(&res["responses"]),
        vec!["p-answer", "q-answer", "u-answer"]
    );

    // Fetch sockets, sockets and rooms: everyone sees everyone, with data; remote sockets can
    // be acted upon.
    let sockets = r2.io.fetch_sockets().await.unwrap();
    let mut names: Vec<String> = sockets.iter().map(name_of).collect();
    names.sort();
    assert_eq!(names, vec!["p", "q", "s", "u", "v"]);
    let all = r1
        .io
        .sockets()
        .adapter()
        .sockets(Default::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
    let rooms = r1.io.sockets().adapter().all_rooms().await.unwrap();
    assert!(rooms.iter().any(|r| &**r == "red"), "{rooms:?}");
    let u = sockets.iter().find(|s| name_of(s) == "u").unwrap();
    assert_eq!(u.data_value().get("node"), Some(&Value::from("N")));
    assert!(u.rooms().iter().any(|r| &**r == "red"));
    u.emit("direct", &"hi u").unwrap();
    expect(clients, "direct", &["u"]);
    u.join("vip").await.unwrap();
    tokio::time::sleep(QUIET).await;
    ok(n.command(
        json!({"op": "broadcast", "rooms": ["vip"], "event": "to-vip", "args": []}),
        WAIT,
    ));
    expect(clients, "to-vip", &["u"]);
    let from_n = ok(n.command(json!({"op": "fetch", "except": ["red"]}), WAIT));
    let mut names: Vec<String> = from_n
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["data"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["s", "v"]);
    let s = from_n
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["data"]["name"] == "s")
        .unwrap();
    assert_eq!(s["data"]["node"], "R2");
    assert_eq!(s["handshake"]["auth"]["name"], "s");

    // Remote join / leave / disconnect, from each side.
    r1.io.except("red").sockets_join("green").await.unwrap();
    tokio::time::sleep(QUIET).await;
    ok(n.command(
        json!({"op": "broadcast", "rooms": ["green"], "event": "to-green", "args": []}),
        WAIT,
    ));
    expect(clients, "to-green", &["s", "v"]);
    ok(n.command(
        json!({"op": "leave", "rooms": ["green"], "room": "green"}),
        WAIT,
    ));
    tokio::time::sleep(QUIET).await;
    r2.io.to("green").emit("to-green-2", &()).unwrap();
    expect(clients, "to-green-2", &[]);
    ok(n.command(
        json!({"op": "join", "rooms": ["red"], "room": "blue"}),
        WAIT,
    ));
    tokio::time::sleep(QUIET).await;
    r1.io.to("blue").emit("to-blue", &()).unwrap();
    expect(clients, "to-blue", &["p", "q", "u"]);
    r2.io.to("blue").sockets_leave("blue").await.unwrap();
    tokio::time::sleep(QUIET).await;
    let in_blue = ok(n.command(json!({"op": "fetch", "rooms": ["blue"]}), WAIT));
    assert_eq!(in_blue, json!([]));

    // Server-side emit, with and without acks, both directions.
    r1.io
        .server_side_emit("hello", vec!["from-r1".into()])
        .await
        .unwrap();
    assert_eq!(
        r2.wait_server_side("hello").await,
        vec![Value::from("from-r1")]
    );
    let got = n
        .wait_for(WAIT, |v| {
            v["type"] == "server-side" && v["event"] == "hello"
        })
        .unwrap();
    assert_eq!(got["args"], json!(["from-r1"]));
    assert!(
        r1.server_side.lock().unwrap().is_empty(),
        "a node got its own server-side emit"
    );
    let mut replies = r2
        .io
        .server_side_emit_with_ack("ping", vec![], WAIT)
        .await
        .unwrap();
    replies.sort_by_key(|v| v.to_string());
    assert_eq!(replies, vec![Value::from("N-ack"), Value::from("R1-ack")]);
    let replies = ok(n.command(json!({"op": "sseAck", "event": "ping", "args": [1]}), WAIT));
    assert_eq!(sorted_strings(&replies), vec!["R1-ack", "R2-ack"]);

    // Disconnect: from Node, the sockets of ours in red; from ours, the Node ones not in red.
    ok(n.command(
        json!({"op": "disconnect", "rooms": ["red"], "except": ["vip"], "close": false}),
        WAIT,
    ));
    for name in ["p", "q"] {
        let got = clients
            .wait_for(WAIT, |v| {
                v["client"] == name && v.get("disconnect").is_some()
            })
            .unwrap_or_else(|| panic!("{name} not disconnected"));
        assert_eq!(got["disconnect"], "io server disconnect");
    }
    r1.io.except("red").disconnect_sockets(true).await.unwrap();
    for name in ["s", "v"] {
        clients
            .wait_for(WAIT, |v| {
                v["client"] == name && v.get("disconnect").is_some()
            })
            .unwrap_or_else(|| panic!("{name} not disconnected"));
    }
    let left = r2.io.fetch_sockets().await.unwrap();
    let names: Vec<String> = left.iter().map(name_of).collect();
    assert_eq!(names, vec!["u"]);
}
