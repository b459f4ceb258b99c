//! The Redis adapter across a real cluster: two of our adapter nodes (recording fake sockets)
//! and one npm `socket.io` 4.8 node with `@socket.io/redis-adapter` 8.3 and real npm clients,
//! over a real `redis-server`. Every adapter operation, in every direction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::redis_support;

use std::collections::HashSet;
use std::time::Duration;

use protocol_tests::redis::JsonNode;
use protocol_tests::RedisServer;
use redis_support::mixed::{expect, ok, QUIET, WAIT};
use redis_support::{wait_for_nodes, RustNode};
use serde_json::{json, Value as Json};
use socketio_adapter::redis::{RedisAdapterConfig, RedisMode, SubscriptionMode};
use socketio_adapter::{BroadcastAckEvent, BroadcastAckSink, BroadcastOptions, Room};
use socketio_parser::{Packet, Value};

struct Cluster {
    _redis: RedisServer,
    a: RustNode,
    b: RustNode,
    node: JsonNode,
    clients: JsonNode,
    /// Socket ids of the Node clients x (room r1) and y (no room).
    x: String,
    y: String,
}

async fn cluster(mode: RedisMode) -> Cluster {
    let redis = RedisServer::start();
    let config = || {
        RedisAdapterConfig::default()
            .mode(mode)
            .request_timeout(Duration::from_secs(2))
    };
    let a = RustNode::start(&redis.url(), "A", config()).await;
    let b = RustNode::start(&redis.url(), "B", config()).await;
    a.add_socket("a1", &["r1"]);
    a.add_socket("a2", &[]);
    b.add_socket("b1", &["r1"]);
    let mode_arg = if matches!(mode, RedisMode::Classic) {
        "classic"
    } else {
        "sharded"
    };
    let node = JsonNode::spawn("redis-node-server.js", &[&redis.url(), mode_arg, "n1"]);
    let mut clients = JsonNode::spawn(
        "redis-clients.js",
        &[&json!([
            {"name": "x", "url": node.url(), "rooms": ["r1"]},
            {"name": "y", "url": node.url()},
        ])
        .to_string()],
    );
    let sid = |clients: &mut JsonNode, name: &str| {
        clients
            .wait_for(WAIT, |v| {
                v["client"] == name && v.get("connected").is_some()
            })
            .unwrap()["connected"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let x = sid(&mut clients, "x");
    let y = sid(&mut clients, "y");
    wait_for_nodes(&a.adapter, 3).await;
    if !matches!(mode, RedisMode::Classic) {
        // Dynamic mode: every node (A, B, and N for x) listens on r1's own channel.
        wait_subscribers(&redis, "socket.io#/#r1#", 3).await;
    }
    Cluster {
        _redis: redis,
        a,
        b,
        node,
        clients,
        x,
        y,
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn every_operation(mode: RedisMode) {
    let mut c = cluster(mode).await;
    let (x, y) = (c.x.clone(), c.y.clone());

    // Server count.
    assert_eq!(c.a.adapter.server_count().await.unwrap(), 3);
    assert_eq!(ok(c.node.command(json!({"op": "serverCount"}), WAIT)), 3);

    // Node broadcasts: to a room, and to everyone except a room.
    ok(c.node.command(
        json!({"op": "broadcast", "rooms": ["r1"], "event": "n-r1", "args": [1, {"$bin": "00ff"}]}),
        WAIT,
    ));
    assert_eq!(c.a.ns.receivers("n-r1", 1), vec!["a1"]);
    assert_eq!(c.b.ns.receivers("n-r1", 1), vec!["b1"]);
    let got = c.a.ns.wait_deliveries("n-r1", 1, WAIT);
    assert_eq!(got[0].packet["data"], json!(["n-r1", 1, [0, 255]]));
    expect(&mut c.clients, "n-r1", &["x"]);
    ok(c.node.command(
        json!({"op": "broadcast", "except": ["r1"], "event": "n-ex", "args": []}),
        WAIT,
    ));
    assert_eq!(c.a.ns.receivers("n-ex", 1), vec!["a2"]);
    expect(&mut c.clients, "n-ex", &["y"]);
    assert!(c.b.ns.wait_deliveries("n-ex", 1, QUIET).is_empty());

    // Our broadcasts: to a room (binary), to all but a room, local only.
    c.a.adapter
        .broadcast(
            Packet::event("/", "a-r1", vec![Value::Binary(vec![7u8, 8].into())]),
            BroadcastOptions::default().to("r1"),
        )
        .unwrap();
    assert_eq!(c.a.ns.receivers("a-r1", 1), vec!["a1"]);
    assert_eq!(c.b.ns.receivers("a-r1", 1), vec!["b1"]);
    let got = expect(&mut c.clients, "a-r1", &["x"]);
    assert_eq!(got[0], json!([{"$bin": "0708"}]));
    c.b.adapter
        .broadcast(
            Packet::event("/", "b-ex", vec!["s".into()]),
            BroadcastOptions::default().except("r1"),
        )
        .unwrap();
    assert_eq!(c.a.ns.receivers("b-ex", 1), vec!["a2"]);
    expect(&mut c.clients, "b-ex", &["y"]);
    let mut local = BroadcastOptions::default();
    local.flags.local = true;
    c.a.adapter
        .broadcast(Packet::event("/", "a-local", vec![]), local)
        .unwrap();
    assert_eq!(c.a.ns.receivers("a-local", 2), vec!["a1", "a2"]);
    expect(&mut c.clients, "a-local", &[]);
    assert!(c.b.ns.wait_deliveries("a-local", 1, QUIET).is_empty());

    // Fetch sockets, in both directions.
    let fetched =
        c.a.adapter
            .fetch_sockets(BroadcastOptions::default())
            .await
            .unwrap();
    let ids: Vec<String> = fetched.iter().map(|s| s.id.to_string()).collect();
    assert_eq!(
        sorted(ids),
        sorted(vec![
            "a1".into(),
            "a2".into(),
            "b1".into(),
            x.clone(),
            y.clone()
        ])
    );
    let sx = fetched.iter().find(|s| *s.id == *x).unwrap();
    assert_eq!(sx.data, Value::from(json!({"name": "x", "node": "n1"})));
    assert!(sx.rooms.iter().any(|r| &**r == "r1"));
    assert_eq!(sx.handshake.auth.get("name"), Some(&Value::from("x")));
    let from_node = ok(c
        .node
        .command(json!({"op": "fetch", "rooms": ["r1"]}), WAIT));
    let mut ids: Vec<String> = from_node
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, sorted(vec!["a1".into(), "b1".into(), x.clone()]));
    let b1 = from_node
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "b1")
        .unwrap();
    assert_eq!(b1["data"], json!({"name": "b1", "node": "B"}));
    assert_eq!(b1["rooms"], json!(["b1", "r1"]));
    assert_eq!(b1["handshake"]["address"], "10.0.0.1");

    // sockets() and all_rooms().
    let in_r1 =
        c.a.adapter
            .sockets(["r1".into()].into_iter().collect())
            .await
            .unwrap();
    let in_r1: HashSet<String> = in_r1.iter().map(|s| s.to_string()).collect();
    if matches!(mode, RedisMode::Classic) {
        // The classic format has a SOCKETS request; the Node node answers it.
        assert_eq!(
            in_r1,
            ["a1", "b1", x.as_str()]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
    } else {
        assert_eq!(
            in_r1,
            ["a1", "b1", x.as_str()]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
    }
    let rooms = c.a.adapter.all_rooms().await.unwrap();
    for r in ["r1", "a1", "a2", "b1", x.as_str(), y.as_str()] {
        assert!(rooms.contains(r), "all_rooms lacks {r}: {rooms:?}");
    }
    if matches!(mode, RedisMode::Classic) {
        let node_rooms = ok(c.node.command(json!({"op": "allRooms"}), WAIT));
        for r in ["r1", "a1", "a2", "b1"] {
            assert!(
                node_rooms.as_array().unwrap().contains(&json!(r)),
                "{node_rooms}"
            );
        }
    }

    // Remote join / leave, both directions.
    c.a.adapter
        .add_sockets(BroadcastOptions::default().to("r1"), vec![Room::from("j")])
        .await
        .unwrap();
    assert!(c.a.adapter.socket_rooms("a1").unwrap().contains("j"));
    tokio::time::sleep(QUIET).await;
    assert!(c.b.adapter.socket_rooms("b1").unwrap().contains("j"));
    let in_j = ok(c.node.command(json!({"op": "fetch", "rooms": ["j"]}), WAIT));
    assert_eq!(in_j.as_array().unwrap().len(), 3, "{in_j}");
    ok(c.node
        .command(json!({"op": "join", "except": ["r1"], "room": "k"}), WAIT));
    tokio::time::sleep(QUIET).await;
    assert!(c.a.adapter.socket_rooms("a2").unwrap().contains("k"));
    assert!(!c.a.adapter.socket_rooms("a1").unwrap().contains("k"));
    ok(c.node.command(json!({"op": "leave", "room": "j"}), WAIT));
    tokio::time::sleep(QUIET).await;
    assert!(!c.b.adapter.socket_rooms("b1").unwrap().contains("j"));
    c.b.adapter
        .del_sockets(BroadcastOptions::default(), vec![Room::from("k")])
        .await
        .unwrap();
    tokio::time::sleep(QUIET).await;
    assert!(!c.a.adapter.socket_rooms("a2").unwrap().contains("k"));
    let in_k = ok(c.node.command(json!({"op": "fetch", "rooms": ["k"]}), WAIT));
    assert_eq!(in_k, json!([]));

    // Server-side emit, with and without acknowledgements, both directions.
    c.a.adapter
        .server_side_emit(vec!["hello".into(), 1.into()])
        .await
        .unwrap();
    let got = c
        .node
        .wait_for(WAIT, |v| {
            v["type"] == "server-side" && v["event"] == "hello"
        })
        .unwrap();
    assert_eq!(got["args"], json!([1]));
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        c.b.ns.server_side.lock().unwrap().clone(),
        vec![vec![Value::from("hello"), Value::from(1)]]
    );
    assert!(
        c.a.ns.server_side.lock().unwrap().is_empty(),
        "a node must not get its own emit"
    );
    let mut replies =
        c.a.adapter
            .server_side_emit_with_ack(vec!["ping".into()], WAIT)
            .await
            .unwrap();
    replies.sort_by_key(|v| v.to_string());
    assert_eq!(replies, vec![Value::from("B-ack"), Value::from("n1-ack")]);
    let from_node = ok(c
        .node
        .command(json!({"op": "sseAck", "event": "ping", "args": [2]}), WAIT));
    let mut from_node: Vec<String> = from_node
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    from_node.sort();
    assert_eq!(from_node, vec!["A-ack", "B-ack"]);

    // Broadcast with acknowledgements from our node: counts from the three nodes, acks from
    // every client (Node clients answer by themselves, our fake sockets when told to).
    let (sink, mut rx) = BroadcastAckSink::channel();
    let mut opts = BroadcastOptions::default();
    opts.flags.timeout = Some(Duration::from_secs(3));
    c.a.adapter
        .broadcast_with_ack(
            Packet::event("/", "ask", vec!["q".into()]).with_id(1),
            opts,
            sink,
        )
        .unwrap();
    for d in c.b.ns.wait_deliveries("ask", 1, WAIT) {
        d.ack.unwrap().ack(vec![Value::from("b1-answer")]);
    }
    for d in c.a.ns.wait_deliveries("ask", 2, WAIT) {
        let answer = format!("{}-answer", d.sid);
        d.ack.unwrap().ack(vec![Value::from(answer)]);
    }
    let mut counts = Vec::new();
    let mut acks = Vec::new();
    while counts.len() < 3 || acks.len() < 5 {
        match tokio::time::timeout(WAIT, rx.recv()).await {
            Ok(Some(BroadcastAckEvent::ClientCount(n))) => counts.push(n),
            Ok(Some(BroadcastAckEvent::Ack(args))) => {
                acks.push(args[0].as_str().unwrap().to_owned())
            }
            other => panic!("missing acks: counts {counts:?} acks {acks:?} ({other:?})"),
        }
    }
    counts.sort();
    assert_eq!(counts, vec![1, 2, 2]);
    assert_eq!(
        sorted(acks),
        vec![
            "a1-answer",
            "a2-answer",
            "b1-answer",
            "x-answer",
            "y-answer"
        ]
    );
    // Broadcast with ack from the Node node: our fake sockets' replies come back to it.
    let waiter = {
        let a = c.a.ns.clone();
        let b = c.b.ns.clone();
        std::thread::spawn(move || {
            for d in a
                .wait_deliveries("n-ask", 2, WAIT)
                .into_iter()
                .chain(b.wait_deliveries("n-ask", 1, WAIT))
            {
                let answer = format!("{}-answer", d.sid);
                d.ack.unwrap().ack(vec![Value::from(answer)]);
            }
        })
    };
    let res = ok(c.node.command(
        json!({"op": "broadcastAck", "event": "n-ask", "args": [], "timeout": 3000}),
        Duration::from_secs(10),
    ));
    waiter.join().unwrap();
    assert_eq!(res["err"], Json::Null, "{res}");
    let mut answers: Vec<String> = res["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    answers.sort();
    assert_eq!(
        answers,
        vec![
            "a1-answer",
            "a2-answer",
            "b1-answer",
            "x-answer",
            "y-answer"
        ]
    );

    // Remote disconnect, both directions.
    c.a.adapter
        .disconnect_sockets(BroadcastOptions::default().to("r1"), false)
        .await
        .unwrap();
    let got = c
        .clients
        .wait_for(WAIT, |v| {
            v["client"] == "x" && v.get("disconnect").is_some()
        })
        .unwrap();
    assert_eq!(got["disconnect"], "io server disconnect");
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        c.b.ns.disconnected.lock().unwrap().clone(),
        vec![("b1".to_owned(), false)]
    );
    assert_eq!(
        c.a.ns.disconnected.lock().unwrap().clone(),
        vec![("a1".to_owned(), false)]
    );
    ok(c.node.command(
        json!({"op": "disconnect", "rooms": ["a2"], "close": true}),
        WAIT,
    ));
    tokio::time::sleep(QUIET).await;
    assert!(c
        .a
        .ns
        .disconnected
        .lock()
        .unwrap()
        .contains(&("a2".to_owned(), true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn classic_every_operation_across_rust_and_node_nodes() {
    every_operation(RedisMode::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sharded_every_operation_across_rust_and_node_nodes() {
    every_operation(RedisMode::Sharded(SubscriptionMode::Dynamic)).await;
}

/// Subscribers of a shard channel, from `PUBSUB SHARDNUMSUB` (RESP: `…:<n>\r\n`).
fn shard_subscribers(redis: &RedisServer, channel: &str) -> i64 {
    let reply = redis.command(&["PUBSUB", "SHARDNUMSUB", channel]);
    reply
        .trim_end()
        .rsplit(':')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected reply {reply:?}"))
}

async fn wait_subscribers(redis: &RedisServer, channel: &str, n: i64) {
    let deadline = std::time::Instant::now() + WAIT;
    while shard_subscribers(redis, channel) != n {
        assert!(
            std::time::Instant::now() < deadline,
            "{channel} never had {n} subscribers"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sharded_dynamic_room_channels_follow_membership() {
    let redis = RedisServer::start();
    let config = RedisAdapterConfig::default().mode(RedisMode::Sharded(SubscriptionMode::Dynamic));
    let a = RustNode::start(&redis.url(), "A", config).await;
    a.add_socket("s1", &["room-x"]);
    wait_subscribers(&redis, "socket.io#/#room-x#", 1).await;
    // A private room (a socket id) gets no channel of its own in dynamic mode.
    assert_eq!(shard_subscribers(&redis, "socket.io#/#s1#"), 0);
    a.adapter.del("s1", "room-x");
    wait_subscribers(&redis, "socket.io#/#room-x#", 0).await;
    // Deleted and created again in a burst: the channel ends up subscribed.
    a.add_socket("s2", &["room-y"]);
    a.adapter.del("s2", "room-y");
    a.adapter.add_all(&"s2".into(), &["room-y".into()]);
    wait_subscribers(&redis, "socket.io#/#room-y#", 1).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(shard_subscribers(&redis, "socket.io#/#room-y#"), 1);
    a.adapter.del_all("s2");
    wait_subscribers(&redis, "socket.io#/#room-y#", 0).await;
}
