//! The Redis Streams adapter in a mixed cluster over a real Redis: two of our servers
//! (`socketio-server` with `socketio_adapter::redis_streams`) and one npm `socket.io` 4.8 server
//! with `@socket.io/redis-streams-adapter` 0.3.1, npm `socket.io-client` clients on each node.
//!
//! Every adapter operation in every direction (the scenario shared with `redis_cluster`, in
//! `redis_support/mixed.rs`), then connection state recovery across nodes:
//! a client leaves one node and comes back on another (ours or the Node.js one), recovering its
//! sid, rooms, data and every broadcast it missed, once and in order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::redis_support;

use std::time::{Duration, Instant};

use protocol_tests::redis::JsonNode;
use protocol_tests::RedisServer;
use redis_support::mixed::{self, expect, name_of, ok, Flavour, QUIET, WAIT};
use redis_support::RustServer;
use serde_json::{json, Value as Json};
use socketio_adapter::redis_streams::{StreamsAdapterConfig, StreamsEmitter};
use socketio_adapter::RecoveryConfig;
use socketio_server::Value;

fn recovery() -> Option<RecoveryConfig> {
    Some(RecoveryConfig::default())
}

/// Two of ours and one Node.js node, all with the streams adapter and recovery on.
async fn cluster(redis: &RedisServer) -> (RustServer, RustServer, JsonNode) {
    let config = StreamsAdapterConfig::default();
    let r1 = RustServer::start_streams(&redis.url(), "R1", config.clone(), recovery()).await;
    let r2 = RustServer::start_streams(&redis.url(), "R2", config, recovery()).await;
    let n = JsonNode::spawn(
        "redis-node-server.js",
        &[&redis.url(), "streams", "N", "recovery"],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while r1.io.sockets().adapter().server_count().await.ok() != Some(3) {
        assert!(Instant::now() < deadline, "cluster did not form");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (r1, r2, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_mixed_cluster_every_operation_in_every_direction() {
    let redis = RedisServer::start();
    let (r1, r2, mut n) = cluster(&redis).await;
    let mut clients = mixed::spawn_clients(&r1, &r2, &n);
    mixed::every_operation_in_every_direction(Flavour::Streams, &r1, &r2, &mut n, &mut clients)
        .await;
}

/// Waits for a client's next `connected` line.
fn reconnected(clients: &mut JsonNode, name: &str) -> Json {
    clients
        .wait_for(Duration::from_secs(10), |v| {
            v["client"] == name && v.get("connected").is_some()
        })
        .unwrap_or_else(|| panic!("{name} did not reconnect"))
}

/// Collects the events `name` receives within `window`, in order: `(event, args)`.
fn events_of(clients: &mut JsonNode, name: &str, window: Duration) -> Vec<(String, Json)> {
    clients
        .drain(window)
        .into_iter()
        .filter(|v| v["client"] == name && v.get("event").is_some())
        .map(|v| (v["event"].as_str().unwrap().to_owned(), v["args"].clone()))
        .collect()
}

/// Moves client `name` to `url` (its transport closes; it reconnects there).
fn move_client(clients: &mut JsonNode, name: &str, url: &str) {
    ok(clients.command(json!({"op": "move", "client": name, "url": url}), WAIT));
    clients
        .wait_for(WAIT, |v| {
            v["client"] == name && v.get("disconnect").is_some()
        })
        .unwrap_or_else(|| panic!("{name} did not notice the drop"));
}

/// Checks the replay: exactly `expected` (event names), each once, with offsets increasing.
/// (Broadcasts from different nodes land in the stream in the order Redis took them, which is
/// not always the order the test asked for them; the stream order is what every client sees.)
fn assert_replayed(events: &[(String, Json)], expected: &[&str]) {
    let mut names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    names.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected, "{events:?}");
    let offsets: Vec<socketio_adapter::redis_streams::StreamId> = events
        .iter()
        .map(|(_, a)| {
            let last = a.as_array().unwrap().last().unwrap().as_str().unwrap();
            socketio_adapter::redis_streams::StreamId::parse(last).unwrap()
        })
        .collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{offsets:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recovery_across_nodes_with_the_npm_client() {
    let redis = RedisServer::start();
    let (r1, r2, mut n) = cluster(&redis).await;
    // p starts on R1 (ours), x on N (Node.js).
    let mut clients = JsonNode::spawn(
        "redis-clients.js",
        &[&json!([
            {"name": "p", "url": r1.url(), "rooms": ["red"], "reconnection": true},
            {"name": "x", "url": n.url(), "rooms": ["red"], "reconnection": true},
        ])
        .to_string()],
    );
    let first_p = reconnected(&mut clients, "p");
    let first_x = reconnected(&mut clients, "x");
    // A broadcast before the drop gives the clients an offset.
    r2.io.to("red").emit("before", &0).unwrap();
    expect(&mut clients, "before", &["p", "x"]);

    // p: R1 -> R2. While away: broadcasts from R1, R2 and N, in that order, one to a room it
    // is not in and one that excludes it.
    move_client(&mut clients, "p", &r2.url());
    r1.io.to("red").emit("m1", &1).unwrap();
    r2.io.to("red").emit("m2", &2).unwrap();
    ok(n.command(
        json!({"op": "broadcast", "rooms": ["red"], "event": "m3", "args": [3]}),
        WAIT,
    ));
    r1.io.to("blue").emit("not-for-p", &()).unwrap();
    r2.io.except("red").emit("not-for-p-either", &()).unwrap();
    r1.io.emit("m4", &4).unwrap();
    let again = reconnected(&mut clients, "p");
    assert_eq!(again["recovered"], true, "{again}");
    assert_eq!(again["connected"], first_p["connected"], "same sid");
    let events = events_of(&mut clients, "p", Duration::from_secs(1));
    assert_replayed(&events, &["m1", "m2", "m3", "m4"]);
    let m1 = events.iter().find(|(e, _)| e == "m1").unwrap();
    assert_eq!(m1.1[0], 1);
    // Same rooms and data, now on R2.
    let on_r2 = r2.io.local().fetch_sockets().await.unwrap();
    let p = on_r2.iter().find(|s| name_of(s) == "p").expect("p on R2");
    assert_eq!(p.data_value().get("node"), Some(&Value::from("R1")));
    assert!(p.rooms().iter().any(|r| &**r == "red"));
    r1.io.to("red").emit("live", &5).unwrap();
    let got = expect(&mut clients, "live", &["p", "x"]);
    assert_eq!(got[0][0], 5);

    // p: R2 -> N (ours to Node.js).
    move_client(&mut clients, "p", &n.url());
    r2.io.to("red").emit("k1", &1).unwrap();
    ok(n.command(
        json!({"op": "broadcast", "rooms": ["red"], "event": "k2", "args": [2]}),
        WAIT,
    ));
    // x (on N) must get k2 before k3 is sent: the npm node replies to `broadcast` before its
    // XADD is done and delivers its own entry to its sockets as soon as XADD returns, ahead of
    // the entries its stream reader has not returned yet. Sent at once, R1's k3 can enter the
    // stream before N's k2 and still reach x after it: x's last offset is then k3's, older than
    // k2's, and when x recovers (below) k2 is rightly replayed again (the reference does the
    // same). Once x has k2, every later entry reaches x through the stream, in stream order.
    clients
        .wait_for(WAIT, |v| v["client"] == "x" && v["event"] == "k2")
        .expect("x got k2");
    r1.io.to("red").emit("k3", &3).unwrap();
    let again = reconnected(&mut clients, "p");
    assert_eq!(again["recovered"], true, "{again}");
    assert_eq!(again["connected"], first_p["connected"]);
    let events = events_of(&mut clients, "p", Duration::from_secs(1));
    assert_replayed(&events, &["k1", "k2", "k3"]);
    let on_n = ok(n.command(json!({"op": "fetch", "rooms": ["red"]}), WAIT));
    let p = on_n
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["data"]["name"] == "p")
        .expect("p on N");
    assert_eq!(p["data"]["node"], "R1");
    assert!(p["rooms"].as_array().unwrap().iter().any(|r| r == "red"));

    // x: N -> R1 (a session saved by the Node.js node, recovered on ours).
    move_client(&mut clients, "x", &r1.url());
    ok(n.command(
        json!({"op": "broadcast", "rooms": ["red"], "event": "j1", "args": [1]}),
        WAIT,
    ));
    r2.io.to("red").emit("j2", &2).unwrap();
    let again = reconnected(&mut clients, "x");
    assert_eq!(again["recovered"], true, "{again}");
    assert_eq!(again["connected"], first_x["connected"]);
    let events = events_of(&mut clients, "x", Duration::from_secs(1));
    assert_replayed(&events, &["j1", "j2"]);
    let on_r1 = r1.io.local().fetch_sockets().await.unwrap();
    let x = on_r1.iter().find(|s| name_of(s) == "x").expect("x on R1");
    assert_eq!(x.data_value().get("node"), Some(&Value::from("N")));
    assert!(x.rooms().iter().any(|r| &**r == "red"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_streams_emitter_reaches_both_kinds_of_node_and_is_replayed() {
    let redis = RedisServer::start();
    let (r1, _r2, mut n) = cluster(&redis).await;
    let mut clients = JsonNode::spawn(
        "redis-clients.js",
        &[&json!([
            {"name": "p", "url": r1.url(), "rooms": ["red"], "reconnection": true},
            {"name": "u", "url": n.url(), "rooms": ["red"]},
            {"name": "w", "url": n.url(), "nsp": "/admin"},
        ])
        .to_string()],
    );
    let emitter = StreamsEmitter::connect(&redis.url(), StreamsAdapterConfig::default())
        .await
        .unwrap();
    let id = emitter
        .to("red")
        .emit("e1", vec![Value::from(1), Value::Binary(vec![9u8].into())])
        .await
        .unwrap();
    let got = expect(&mut clients, "e1", &["p", "u"]);
    assert_eq!(got[0], json!([1, {"$bin": "09"}, id]));
    assert_eq!(got[1], got[0]);
    emitter.of("/admin").all().emit("e2", vec![]).await.unwrap();
    expect(&mut clients, "e2", &["w"]);
    emitter.except("red").sockets_join(&["x"]).await.unwrap();
    emitter.to("red").sockets_join(&["green"]).await.unwrap();
    tokio::time::sleep(QUIET).await;
    emitter.to("green").emit("e3", vec![]).await.unwrap();
    expect(&mut clients, "e3", &["p", "u"]);
    emitter
        .server_side_emit("hello", vec!["em".into()])
        .await
        .unwrap();
    assert_eq!(r1.wait_server_side("hello").await, vec![Value::from("em")]);
    n.wait_for(WAIT, |v| {
        v["type"] == "server-side" && v["args"] == json!(["em"])
    })
    .expect("N got the server-side emit");
    // Replayed to a client that was away.
    move_client(&mut clients, "p", &n.url());
    emitter.to("green").emit("e4", vec![]).await.unwrap();
    let again = reconnected(&mut clients, "p");
    assert_eq!(again["recovered"], true, "{again}");
    let events = events_of(&mut clients, "p", Duration::from_secs(1));
    assert_replayed(&events, &["e4"]);
    emitter.to("red").disconnect_sockets(true).await.unwrap();
    clients
        .wait_for(WAIT, |v| {
            v["client"] == "u" && v.get("disconnect").is_some()
        })
        .expect("u disconnected by the emitter");
}

/// The fields of the newest entry of stream `socket.io`, parsed from the raw RESP reply of
/// `XREVRANGE socket.io + - COUNT 1`: `[(field, value)]`.
fn newest_entry(redis: &RedisServer) -> Vec<(String, String)> {
    let reply = redis.command(&["XREVRANGE", "socket.io", "+", "-", "COUNT", "1"]);
    // Bulk strings: "$<len>\r\n<bytes>\r\n"; the first one is the id.
    let mut strings = Vec::new();
    let mut rest = reply.as_str();
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        let (len, tail) = after.split_once("\r\n").unwrap();
        let len: usize = len.parse().unwrap();
        strings.push(tail[..len].to_owned());
        rest = &tail[len..];
    }
    strings[1..]
        .chunks(2)
        .map(|kv| (kv[0].clone(), kv[1].clone()))
        .collect()
}

/// Stream entries written by ours and by the npm adapter for the same broadcast are the same
/// bytes (but the uid), JSON and base64 msgpack alike; session records too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn entries_and_session_records_are_byte_identical_to_the_npm_adapter() {
    let redis = RedisServer::start();
    let (r1, _r2, mut n) = cluster(&redis).await;
    let cases = [
        (json!(["same", 1, {"a": [true, null, "x"]}]), "json"),
        (json!(["same", {"$bin": "00ff10"}, "é"]), "binary"),
    ];
    for (args, kind) in cases {
        ok(n.command(
            json!({"op": "broadcast", "rooms": ["red"], "event": args[0], "args": args.as_array().unwrap()[1..]}),
            WAIT,
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let theirs = newest_entry(&redis);
        let values: Vec<Value> = args.as_array().unwrap()[1..]
            .iter()
            .map(|a| match a.get("$bin") {
                Some(hex) => Value::Binary(
                    (0..hex.as_str().unwrap().len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex.as_str().unwrap()[i..i + 2], 16).unwrap())
                        .collect::<Vec<u8>>()
                        .into(),
                ),
                None => Value::from(a.clone()),
            })
            .collect();
        r1.io
            .to("red")
            .emit("same", socketio_server::Args(values))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mine = newest_entry(&redis);
        let names = |e: &[(String, String)]| e.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        assert_eq!(names(&mine), ["uid", "nsp", "type", "data"]);
        assert_eq!(names(&mine), names(&theirs));
        assert_ne!(mine[0].1, theirs[0].1, "different uids");
        assert_eq!(mine[1..], theirs[1..], "{kind}");
    }

    // A session record saved by the Node.js node re-encodes to the same bytes with ours.
    let mut clients = JsonNode::spawn(
        "redis-clients.js",
        &[&json!([{"name": "u", "url": n.url(), "rooms": ["red"]}]).to_string()],
    );
    clients
        .wait_for(WAIT, |v| v["client"] == "u" && v.get("connected").is_some())
        .unwrap();
    ok(clients.command(json!({"op": "drop", "client": "u"}), WAIT));
    let deadline = Instant::now() + WAIT;
    let (key, record) = loop {
        let keys = redis.command(&["KEYS", "sio:session:*"]);
        if let Some(key) = keys.lines().find(|l| l.starts_with("sio:session:")) {
            let value = redis.command(&["GET", key]);
            let record = value.lines().nth(1).unwrap().to_owned();
            break (key.to_owned(), record);
        }
        assert!(
            Instant::now() < deadline,
            "the Node.js node saved no session"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let pid = key.strip_prefix("sio:session:").unwrap();
    let session = socketio_adapter::redis_streams::wire::decode_session(record.as_bytes(), pid)
        .expect("ours reads the npm record");
    assert!(session.rooms.iter().any(|r| &**r == "red"));
    assert_eq!(session.data.get("name").and_then(Value::as_str), Some("u"));
    assert_eq!(
        socketio_adapter::redis_streams::wire::encode_session(&session),
        record
    );
}
