//! The Redis emitter against real Socket.IO servers through a real Redis:
//! the npm `@socket.io/redis-emitter` reaching clients of a Node.js server (the baseline that
//! proves the scenario), and our emitter reaching the same clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::redis_support;

use protocol_tests::redis::JsonNode;
use protocol_tests::RedisServer;
use redis_support::mixed::{expect, QUIET, WAIT};
use serde_json::{json, Value as Json};
use socketio_adapter::redis::Emitter;
use socketio_parser::Value;

/// Something that performs emitter operations given as JSON (see `redis-npm-emitter.js`).
enum Driver {
    Npm(JsonNode),
    Ours(Emitter),
}

fn values(args: &Json) -> Vec<Value> {
    args.as_array()
        .unwrap()
        .iter()
        .map(|a| match a.get("$bin").and_then(Json::as_str) {
            Some(hex) => Value::Binary(
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect::<Vec<u8>>()
                    .into(),
            ),
            None => Value::from(a.clone()),
        })
        .collect()
}

fn strings(v: &Json) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

impl Driver {
    async fn run(&mut self, op: Json) {
        match self {
            Driver::Npm(node) => {
                let reply = node.command(op.clone(), WAIT);
                assert!(reply.get("error").is_none(), "{op}: {reply}");
            }
            Driver::Ours(root) => {
                let emitter = match op["nsp"].as_str() {
                    Some(nsp) => root.of(nsp),
                    None => root.clone(),
                };
                let mut target = emitter.all();
                for r in strings(&op["rooms"]) {
                    target = target.to(r.as_str());
                }
                for r in strings(&op["except"]) {
                    target = target.except(r.as_str());
                }
                let result = match op["op"].as_str().unwrap() {
                    "emit" => {
                        target
                            .emit(op["event"].as_str().unwrap(), values(&op["args"]))
                            .await
                    }
                    "join" => target.sockets_join(&[op["room"].as_str().unwrap()]).await,
                    "leave" => target.sockets_leave(&[op["room"].as_str().unwrap()]).await,
                    "disconnect" => target.disconnect_sockets(op["close"] == true).await,
                    "sse" => {
                        emitter
                            .server_side_emit(op["event"].as_str().unwrap(), values(&op["args"]))
                            .await
                    }
                    other => panic!("unknown op {other}"),
                };
                result.unwrap();
            }
        }
    }
}

/// Waits for `event` with `args` at each of `expected` clients, then checks that no other
/// client got it.
fn expect_event(clients: &mut JsonNode, event: &str, args: Json, expected: &[&str]) {
    for (client, got) in expected.iter().zip(expect(clients, event, expected)) {
        assert_eq!(got, args, "{client} {event}");
    }
}

/// The scenario: clients a (room r1), b (room r2), c (no room) on `/`, d on `/admin`.
async fn scenario(driver: &mut Driver, server: &mut JsonNode, server_is_node: bool) {
    let url = server.url();
    let mut clients = JsonNode::spawn(
        "redis-clients.js",
        &[&json!([
            {"name": "a", "url": url, "rooms": ["r1"]},
            {"name": "b", "url": url, "rooms": ["r2"]},
            {"name": "c", "url": url},
            {"name": "d", "url": url, "nsp": "/admin"},
        ])
        .to_string()],
    );

    driver
        .run(json!({"op": "emit", "event": "ev1", "args": [1, "x", {"k": [true, null, 1.5]}]}))
        .await;
    expect_event(
        &mut clients,
        "ev1",
        json!([1, "x", {"k": [true, null, 1.5]}]),
        &["a", "b", "c"],
    );

    driver
        .run(json!({"op": "emit", "rooms": ["r1"], "event": "ev2", "args": [{"$bin": "0102ff"}]}))
        .await;
    expect_event(&mut clients, "ev2", json!([{"$bin": "0102ff"}]), &["a"]);

    driver
        .run(json!({"op": "emit", "except": ["r1"], "event": "ev3", "args": []}))
        .await;
    expect_event(&mut clients, "ev3", json!([]), &["b", "c"]);

    driver
        .run(json!({"op": "emit", "rooms": ["r1", "r2"], "except": ["r2"], "event": "ev4", "args": ["y"]}))
        .await;
    expect_event(&mut clients, "ev4", json!(["y"]), &["a"]);

    driver
        .run(json!({"op": "emit", "nsp": "/admin", "event": "ev5", "args": ["adm"]}))
        .await;
    expect_event(&mut clients, "ev5", json!(["adm"]), &["d"]);

    driver.run(json!({"op": "join", "room": "j"})).await;
    driver
        .run(json!({"op": "emit", "rooms": ["j"], "event": "ev6", "args": []}))
        .await;
    expect_event(&mut clients, "ev6", json!([]), &["a", "b", "c"]);

    driver
        .run(json!({"op": "leave", "rooms": ["r1"], "room": "j"}))
        .await;
    driver
        .run(json!({"op": "emit", "rooms": ["j"], "event": "ev7", "args": []}))
        .await;
    expect_event(&mut clients, "ev7", json!([]), &["b", "c"]);

    driver
        .run(json!({"op": "sse", "event": "hello", "args": ["from-emitter", 2]}))
        .await;
    if server_is_node {
        let got = server
            .wait_for(WAIT, |v| {
                v["type"] == "server-side" && v["event"] == "hello"
            })
            .expect("the server did not get the server-side emit");
        assert_eq!(got["args"], json!(["from-emitter", 2]));
    }

    driver
        .run(json!({"op": "disconnect", "rooms": ["r2"], "close": false}))
        .await;
    let got = clients
        .wait_for(WAIT, |v| {
            v["client"] == "b" && v.get("disconnect").is_some()
        })
        .expect("b was not disconnected");
    assert_eq!(got["disconnect"], "io server disconnect");
    let others: Vec<Json> = clients
        .drain(QUIET)
        .into_iter()
        .filter(|v| v.get("disconnect").is_some())
        .collect();
    assert!(others.is_empty(), "{others:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn npm_emitter_reaches_clients_of_a_node_server() {
    let redis = RedisServer::start();
    let mut server = JsonNode::spawn("redis-node-server.js", &[&redis.url(), "classic", "n1"]);
    let mut driver = Driver::Npm(JsonNode::spawn("redis-npm-emitter.js", &[&redis.url()]));
    scenario(&mut driver, &mut server, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn our_emitter_reaches_clients_of_a_node_server() {
    let redis = RedisServer::start();
    let mut server = JsonNode::spawn("redis-node-server.js", &[&redis.url(), "classic", "n1"]);
    let emitter = tokio::time::timeout(WAIT, Emitter::connect(&redis.url()))
        .await
        .unwrap()
        .unwrap();
    let mut driver = Driver::Ours(emitter);
    scenario(&mut driver, &mut server, true).await;
}
