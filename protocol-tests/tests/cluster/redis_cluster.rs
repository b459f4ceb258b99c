//! A mixed cluster over a real Redis: two of our Socket.IO servers (`socketio-server` with the
//! Redis adapter) and one npm `socket.io` 4.8 server with `@socket.io/redis-adapter` 8.3, with
//! npm `socket.io-client` clients on each node. Broadcasts, rooms, except, broadcast with ack,
//! fetch sockets (and acting on remote sockets), remote join/leave/disconnect and server-side
//! emit, in every direction (the scenario shared with `redis_streams`, in
//! `redis_support/mixed.rs`); the npm emitter reaching clients of our servers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::redis_support;

use std::time::{Duration, Instant};

use protocol_tests::redis::JsonNode;
use protocol_tests::RedisServer;
use redis_support::mixed::{self, expect, ok, Flavour, WAIT};
use redis_support::RustServer;
use serde_json::json;
use socketio_adapter::redis::{RedisMode, SubscriptionMode};
use socketio_server::Value;

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
    let mut clients = mixed::spawn_clients(&r1, &r2, &n);
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

    mixed::every_operation_in_every_direction(Flavour::PubSub, &r1, &r2, &mut n, &mut clients)
        .await;
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
