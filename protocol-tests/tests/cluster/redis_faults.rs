//! Faults in a Redis cluster: Redis killed and restarted mid-run, a node killed mid-request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::redis_support;

use std::time::{Duration, Instant};

use protocol_tests::redis::JsonNode;
use protocol_tests::RedisServer;
use redis_support::{wait_for_nodes, RustNode};
use serde_json::json;
use socketio_adapter::redis::RedisAdapterConfig;
use socketio_adapter::{AdapterError, BroadcastOptions};
use socketio_parser::Packet;

const WAIT: Duration = Duration::from_secs(5);

fn config() -> RedisAdapterConfig {
    RedisAdapterConfig::default().request_timeout(Duration::from_millis(1500))
}

async fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_restart_local_delivery_continues_and_nodes_resubscribe() {
    let mut redis = RedisServer::start();
    let a = RustNode::start(&redis.url(), "A", config()).await;
    let b = RustNode::start(&redis.url(), "B", config()).await;
    a.add_socket("a1", &[]);
    b.add_socket("b1", &[]);
    let node = JsonNode::spawn("redis-node-server.js", &[&redis.url(), "classic", "n1"]);
    let mut clients = JsonNode::spawn(
        "redis-clients.js",
        &[&json!([{"name": "x", "url": node.url()}]).to_string()],
    );
    wait_for_nodes(&a.adapter, 3).await;

    redis.stop();
    wait_until("A notices that Redis is gone", WAIT, || {
        !a.factory.link().is_up()
    })
    .await;

    // Local delivery keeps working; the part that needs Redis fails with a clear error.
    let err = a
        .adapter
        .broadcast(
            Packet::event("/", "during", vec![]),
            BroadcastOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(err, AdapterError::Unavailable(_)), "{err:?}");
    assert_eq!(a.ns.receivers("during", 1), vec!["a1"]);
    // Operations that need Redis fail at once instead of hanging.
    let started = Instant::now();
    let err = a.adapter.server_count().await.unwrap_err();
    assert!(matches!(err, AdapterError::Unavailable(_)), "{err:?}");
    let err = a
        .adapter
        .fetch_sockets(BroadcastOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, AdapterError::Unavailable(_)), "{err:?}");
    let err = a
        .adapter
        .server_side_emit(vec!["x".into()])
        .await
        .unwrap_err();
    assert!(matches!(err, AdapterError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("redis"), "{err}");

    // Redis comes back (empty: no subscriptions): every node reconnects and resubscribes.
    // Long enough for the connection manager's own retries to run out: the link keeps trying.
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.restart();
    wait_until("A is back", Duration::from_secs(10), || {
        a.factory.link().is_up()
    })
    .await;
    wait_until("B is back", Duration::from_secs(10), || {
        b.factory.link().is_up()
    })
    .await;
    wait_for_nodes(&a.adapter, 3).await;

    a.adapter
        .broadcast(
            Packet::event("/", "after", vec![]),
            BroadcastOptions::default(),
        )
        .unwrap();
    assert_eq!(b.ns.receivers("after", 1), vec!["b1"]);
    clients
        .wait_for(WAIT, |v| v["client"] == "x" && v["event"] == "after")
        .expect("the Node client did not get the broadcast after the restart");
    let all = a
        .adapter
        .fetch_sockets(BroadcastOptions::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_request_times_out_cleanly_and_the_count_drops() {
    let redis = RedisServer::start();
    let a = RustNode::start(&redis.url(), "A", config()).await;
    let b = RustNode::start(&redis.url(), "B", config()).await;
    a.add_socket("a1", &[]);
    b.add_socket("b1", &[]);
    let mut node = JsonNode::spawn("redis-node-server.js", &[&redis.url(), "classic", "n1"]);
    wait_for_nodes(&a.adapter, 3).await;

    // The Node node freezes (still subscribed, so still counted), then dies mid-request.
    node.signal("STOP");
    let adapter = a.adapter.clone();
    let started = Instant::now();
    let request =
        tokio::spawn(async move { adapter.fetch_sockets(BroadcastOptions::default()).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    node.kill();
    let result = tokio::time::timeout(WAIT, request).await.unwrap().unwrap();
    match result {
        Err(AdapterError::Timeout { received, expected }) => {
            assert_eq!((received, expected), (1, 2));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_millis(3000),
        "{elapsed:?}"
    );

    // Redis noticed the dead connection: the server count drops, requests work again.
    wait_for_nodes(&a.adapter, 2).await;
    let all = a
        .adapter
        .fetch_sockets(BroadcastOptions::default())
        .await
        .unwrap();
    let mut ids: Vec<String> = all.iter().map(|s| s.id.to_string()).collect();
    ids.sort();
    assert_eq!(ids, vec!["a1", "b1"]);
    let replies = a
        .adapter
        .server_side_emit_with_ack(vec!["ping".into()], WAIT)
        .await
        .unwrap();
    assert_eq!(replies.len(), 1);

    // One of our nodes going away is seen the same way.
    drop(b);
    wait_for_nodes(&a.adapter, 1).await;
    assert_eq!(
        a.adapter
            .server_side_emit_with_ack(vec!["ping".into()], WAIT)
            .await
            .unwrap(),
        vec![]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_messages_on_the_channels_are_ignored() {
    let redis = RedisServer::start();
    let a = RustNode::start(&redis.url(), "A", config()).await;
    let b = RustNode::start(&redis.url(), "B", config()).await;
    a.add_socket("a1", &["r"]);
    b.add_socket("b1", &["r"]);
    wait_for_nodes(&a.adapter, 2).await;
    let deep = "[".repeat(100_000);
    let deep_rooms = format!(r#"{{"type":0,"requestId":"q","rooms":{deep}}}"#);
    let huge_array = "\u{dd}\u{7f}\u{ff}\u{ff}\u{ff}";
    let garbage: Vec<(&str, &str)> = vec![
        ("socket.io#/#", "garbage"),
        ("socket.io#/#", huge_array),
        ("socket.io#/#r#", "\u{93}\u{a1}x\u{80}\u{80}"),
        ("socket.io#/#", &deep),
        ("socket.io-request#/#", "{"),
        ("socket.io-request#/#", r#"{"type":5}"#),
        ("socket.io-request#/#", r#"{"type":42,"requestId":"x"}"#),
        (
            "socket.io-request#/#",
            r#"{"type":7,"requestId":"x","packet":{"type":99}}"#,
        ),
        (
            "socket.io-request#/#",
            r#"{"type":6,"data":"not an array"}"#,
        ),
        (
            "socket.io-request#/#",
            r#"{"type":2,"opts":{"rooms":"r"},"rooms":[1,{},null]}"#,
        ),
        ("socket.io-request#/#", &deep_rooms),
        (
            "socket.io-response#/#",
            r#"{"requestId":"zzz","sockets":5}"#,
        ),
        (
            "socket.io-response#/#",
            r#"{"type":8,"requestId":"zzz","clientCount":-1}"#,
        ),
        ("socket.io-response#/#", huge_array),
    ];
    for (channel, payload) in &garbage {
        redis.command(&["PUBLISH", channel, payload]);
    }
    // Both nodes are still alive and in sync.
    a.adapter
        .broadcast(
            Packet::event("/", "still-fine", vec![]),
            BroadcastOptions::default().to("r"),
        )
        .unwrap();
    assert_eq!(b.ns.receivers("still-fine", 1), vec!["b1"]);
    let all = a
        .adapter
        .fetch_sockets(BroadcastOptions::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
}
