//! A mixed cluster over a real Redis: two of our Socket.IO servers (`socketio-server` with the
//! Redis adapter) and one npm `socket.io` 4.8 server with `@socket.io/redis-adapter` 8.3, with
//! npm `socket.io-client` clients on each node. Broadcasts, rooms, except, broadcast with ack,
//! fetch sockets (and acting on remote sockets), remote join/leave/disconnect and server-side
//! emit, in every direction; the npm emitter reaching clients of our servers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod redis_support;

use std::time::{Duration, Instant};

use protocol_tests::redis::JsonNode;
use protocol_tests::RedisServer;
use redis_support::RustServer;
use serde_json::{json, Value as Json};
use socketio_adapter::redis::{RedisMode, SubscriptionMode};
use socketio_server::Value;

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(300);

/// Waits for `event` at each of `expected` clients and checks no other client got it;
/// returns the args each expected client received.
fn expect(clients: &mut JsonNode, event: &str, expected: &[&str]) -> Vec<Json> {
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

fn ok(reply: Json) -> Json {
    assert!(reply.get("error").is_none(), "{reply}");
    reply["result"].clone()
}

fn sorted_strings(v: &Json) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

async fn mixed_cluster(mode: RedisMode) {
    let redis = RedisServer::start();
    let r1 = RustServer::start(&redis.url(), "R1", mode).await;
    let r2 = RustServer::start(&redis.url(), "R2", mode).await;
    let mode_arg = if matches!(mode, RedisMode::Classic) {
        "classic"
    } else {
        "sharded"
    };
    let mut n = JsonNode::spawn("redis-node-server.js", &[&redis.url(), mode_arg, "N"]);
    // p: on R1 in red; q: on R2 in red; s: on R2; u: on N in red; v: on N; w: on R1, /admin.
    let mut clients = JsonNode::spawn(
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
    );
    let deadline = Instant::now() + WAIT;
    while r1.io.sockets().adapter().server_count().await.ok() != Some(3) {
        assert!(Instant::now() < deadline, "cluster did not form");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !matches!(mode, RedisMode::Classic) {
        // Sharded dynamic mode: a node subscribes to a room's own channel when the room
        // appears there (asynchronously, in the reference too); wait until all three nodes
        // listen on `red` before broadcasting to it.
        while !redis
            .command(&["PUBSUB", "SHARDNUMSUB", "socket.io#/#red#"])
            .trim_end()
            .ends_with(":3")
        {
            assert!(
                Instant::now() < deadline,
                "room channel subscriptions did not settle"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Broadcasts from each node: to a room, to everyone except a room, to a namespace.
    r1.io.to("red").emit("from-r1", &json!({"k": 1})).unwrap();
    let got = expect(&mut clients, "from-r1", &["p", "q", "u"]);
    assert_eq!(got[2], json!([{"k": 1}]));
    r2.io
        .except("red")
        .emit_values("from-r2", vec![Value::Binary(vec![1u8, 2].into())])
        .unwrap();
    let got = expect(&mut clients, "from-r2", &["s", "v"]);
    assert_eq!(got[1], json!([{"$bin": "0102"}]));
    ok(n.command(json!({"op": "broadcast", "rooms": ["red"], "except": ["nothing"], "event": "from-n", "args": ["x"]}), WAIT));
    expect(&mut clients, "from-n", &["p", "q", "u"]);
    ok(n.command(
        json!({"op": "broadcast", "nsp": "/admin", "event": "from-n-admin", "args": []}),
        WAIT,
    ));
    expect(&mut clients, "from-n-admin", &["w"]);
    r2.io.local().emit("r2-local", &()).unwrap();
    expect(&mut clients, "r2-local", &["q", "s"]);

    // Broadcast with acknowledgements, from ours and from Node: one reply per client.
    let answers: Vec<String> = r1
        .io
        .timeout(Duration::from_secs(3))
        .emit_values_with_ack("ask", vec!["?".into()])
        .unwrap()
        .await
        .unwrap();
    let mut answers = answers;
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

    // Fetch sockets: everyone sees everyone, with data; remote sockets can be acted upon.
    let sockets = r2.io.fetch_sockets().await.unwrap();
    let mut names: Vec<String> = sockets
        .iter()
        .map(|s| {
            s.data_value()
                .get("name")
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, vec!["p", "q", "s", "u", "v"]);
    let u = sockets
        .iter()
        .find(|s| s.data_value().get("name") == Some(&Value::from("u")))
        .unwrap();
    assert_eq!(u.data_value().get("node"), Some(&Value::from("N")));
    assert!(u.rooms().iter().any(|r| &**r == "red"));
    u.emit("direct", &"hi u").unwrap();
    expect(&mut clients, "direct", &["u"]);
    u.join("vip").await.unwrap();
    tokio::time::sleep(QUIET).await;
    ok(n.command(
        json!({"op": "broadcast", "rooms": ["vip"], "event": "to-vip", "args": []}),
        WAIT,
    ));
    expect(&mut clients, "to-vip", &["u"]);
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
    expect(&mut clients, "to-green", &["s", "v"]);
    ok(n.command(
        json!({"op": "leave", "rooms": ["green"], "room": "green"}),
        WAIT,
    ));
    tokio::time::sleep(QUIET).await;
    r2.io.to("green").emit("to-green-2", &()).unwrap();
    expect(&mut clients, "to-green-2", &[]);
    ok(n.command(
        json!({"op": "join", "rooms": ["red"], "room": "blue"}),
        WAIT,
    ));
    tokio::time::sleep(QUIET).await;
    r1.io.to("blue").emit("to-blue", &()).unwrap();
    expect(&mut clients, "to-blue", &["p", "q", "u"]);
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
    let names: Vec<String> = left
        .iter()
        .map(|s| {
            s.data_value()
                .get("name")
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, vec!["u"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn classic_mixed_cluster_two_rust_nodes_and_one_node_js() {
    mixed_cluster(RedisMode::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sharded_mixed_cluster_two_rust_nodes_and_one_node_js() {
    mixed_cluster(RedisMode::Sharded(SubscriptionMode::Dynamic)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn npm_emitter_reaches_clients_of_our_servers() {
    let redis = RedisServer::start();
    let r1 = RustServer::start(&redis.url(), "R1", RedisMode::Classic).await;
    let r2 = RustServer::start(&redis.url(), "R2", RedisMode::Classic).await;
    let mut clients = JsonNode::spawn(
        "redis-clients.js",
        &[&json!([
            {"name": "p", "url": r1.url(), "rooms": ["red"]},
            {"name": "q", "url": r2.url()},
            {"name": "w", "url": r2.url(), "nsp": "/admin"},
        ])
        .to_string()],
    );
    let mut emitter = JsonNode::spawn("redis-npm-emitter.js", &[&redis.url()]);
    ok(emitter.command(
        json!({"op": "emit", "event": "all", "args": [1, {"$bin": "ff"}]}),
        WAIT,
    ));
    let got = expect(&mut clients, "all", &["p", "q"]);
    assert_eq!(got[0], json!([1, {"$bin": "ff"}]));
    ok(emitter.command(
        json!({"op": "emit", "rooms": ["red"], "event": "red", "args": []}),
        WAIT,
    ));
    expect(&mut clients, "red", &["p"]);
    ok(emitter.command(
        json!({"op": "emit", "except": ["red"], "event": "not-red", "args": []}),
        WAIT,
    ));
    expect(&mut clients, "not-red", &["q"]);
    ok(emitter.command(
        json!({"op": "emit", "nsp": "/admin", "event": "adm", "args": []}),
        WAIT,
    ));
    expect(&mut clients, "adm", &["w"]);
    ok(emitter.command(json!({"op": "join", "except": ["red"], "room": "j"}), WAIT));
    ok(emitter.command(
        json!({"op": "emit", "rooms": ["j"], "event": "j", "args": []}),
        WAIT,
    ));
    expect(&mut clients, "j", &["q"]);
    ok(emitter.command(json!({"op": "leave", "room": "j"}), WAIT));
    ok(emitter.command(
        json!({"op": "emit", "rooms": ["j"], "event": "j2", "args": []}),
        WAIT,
    ));
    expect(&mut clients, "j2", &[]);
    ok(emitter.command(json!({"op": "sse", "event": "hello", "args": ["e"]}), WAIT));
    assert_eq!(r1.wait_server_side("hello").await, vec![Value::from("e")]);
    assert_eq!(r2.wait_server_side("hello").await, vec![Value::from("e")]);
    ok(emitter.command(
        json!({"op": "disconnect", "rooms": ["red"], "close": true}),
        WAIT,
    ));
    clients
        .wait_for(WAIT, |v| {
            v["client"] == "p" && v.get("disconnect").is_some()
        })
        .expect("p not disconnected");
}

/// Connection state recovery in a cluster: a client that loses its connection and comes back to
/// the same node recovers its session, and the broadcasts it missed are replayed, including
/// those that came from another node through Redis. (The reference's Redis adapters do not
/// support recovery; sessions are per node, see the adapter docs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recovery_on_the_same_node_replays_broadcasts_from_other_nodes() {
    let redis = RedisServer::start();
    let recovery = socketio_adapter::RecoveryConfig::default();
    let r1 = RustServer::start_with(&redis.url(), "R1", RedisMode::Classic, Some(recovery)).await;
    let r2 = RustServer::start(&redis.url(), "R2", RedisMode::Classic).await;
    let mut clients = JsonNode::spawn(
        "redis-clients.js",
        &[
            &json!([{"name": "p", "url": r1.url(), "rooms": ["red"], "reconnection": true}])
                .to_string(),
        ],
    );
    let first = clients
        .wait_for(WAIT, |v| v["client"] == "p" && v.get("connected").is_some())
        .unwrap();
    // A broadcast before the drop gives the client an offset.
    r2.io.to("red").emit("before", &1).unwrap();
    expect(&mut clients, "before", &["p"]);

    ok(clients.command(json!({"op": "drop", "client": "p"}), WAIT));
    clients
        .wait_for(WAIT, |v| {
            v["client"] == "p" && v.get("disconnect").is_some()
        })
        .expect("p did not notice the drop");
    // While p is away: one broadcast from the other node, one from its own node.
    r2.io.to("red").emit("missed-remote", &2).unwrap();
    r1.io.to("red").emit("missed-local", &3).unwrap();

    let again = clients
        .wait_for(Duration::from_secs(10), |v| {
            v["client"] == "p" && v.get("connected").is_some()
        })
        .expect("p did not reconnect");
    assert_eq!(again["recovered"], true, "{again}");
    assert_eq!(
        again["connected"], first["connected"],
        "same socket id after recovery"
    );
    for (event, arg) in [("missed-remote", 2), ("missed-local", 3)] {
        let got = clients
            .wait_for(WAIT, |v| v["client"] == "p" && v["event"] == event)
            .unwrap_or_else(|| panic!("{event} was not replayed"));
        // The argument, then the offset the server appended (the npm client keeps it as its
        // last offset and passes it on to the handler).
        assert_eq!(got["args"][0], arg, "{got}");
        assert!(got["args"][1].is_string(), "{got}");
    }
}
