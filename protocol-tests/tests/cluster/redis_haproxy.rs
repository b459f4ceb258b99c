//! The cluster demo setup: two of our servers joined through Redis, behind HAProxy with
//! cookie-sticky sessions; npm clients that start with HTTP long-polling (cookie jar on) and
//! upgrade to WebSocket land on both nodes, and a broadcast from either node reaches them all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::redis_support;

use std::time::Duration;

use protocol_tests::haproxy::Haproxy;
use protocol_tests::redis::JsonNode;
use protocol_tests::RedisServer;
use redis_support::RustServer;
use serde_json::json;
use socketio_adapter::redis::RedisMode;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_behind_haproxy_with_redis() {
    let redis = RedisServer::start();
    let r1 = RustServer::start(&redis.url(), "R1", RedisMode::Classic).await;
    let r2 = RustServer::start(&redis.url(), "R2", RedisMode::Classic).await;
    let lb = Haproxy::sticky(&[r1.port, r2.port]);
    let url = lb.url();
    let specs: Vec<_> = (0..4)
        .map(|i| {
            json!({"name": format!("c{i}"), "url": url, "transports": ["polling", "websocket"],
                   "withCredentials": true})
        })
        .collect();
    let mut clients = JsonNode::spawn("redis-clients.js", &[&json!(specs).to_string()]);
    for i in 0..4 {
        let name = format!("c{i}");
        clients
            .wait_for(WAIT, |v| {
                v["client"] == name.as_str() && v["upgraded"] == "websocket"
            })
            .unwrap_or_else(|| panic!("{name} did not upgrade to websocket through haproxy"));
    }
    // Round robin spread the clients over both nodes.
    let on_r1 = r1.io.local().fetch_sockets().await.unwrap().len();
    let on_r2 = r2.io.local().fetch_sockets().await.unwrap().len();
    assert_eq!(on_r1 + on_r2, 4);
    assert!(on_r1 > 0 && on_r2 > 0, "r1 {on_r1}, r2 {on_r2}");

    r2.io.emit("news", &"hello everyone").unwrap();
    for i in 0..4 {
        let name = format!("c{i}");
        let got = clients
            .wait_for(WAIT, |v| {
                v["client"] == name.as_str() && v["event"] == "news"
            })
            .unwrap_or_else(|| panic!("{name} did not get the broadcast"));
        assert_eq!(got["args"], json!(["hello everyone"]));
    }
    // Nobody was disconnected by a session landing on the wrong node.
    let drops: Vec<_> = clients
        .drain(Duration::from_millis(300))
        .into_iter()
        .filter(|v| v.get("disconnect").is_some())
        .collect();
    assert!(drops.is_empty(), "{drops:?}");
}
