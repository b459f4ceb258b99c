//! Broadcast with acknowledgements across a real Redis when some sockets are late: two of our
//! servers and one npm `socket.io` 4.8 server, with the pub/sub adapter (npm
//! `@socket.io/redis-adapter` 8.3) and with the Streams adapter (npm
//! `@socket.io/redis-streams-adapter` 0.3.1). On each node one npm client answers and one stays
//! silent: the stream of answers keeps every answer that came, and reports each late socket
//! (by id on this node, anonymously on the others, whose wire carries no socket id).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::redis_support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use protocol_tests::redis::JsonNode;
use protocol_tests::RedisServer;
use redis_support::RustServer;
use serde_json::json;
use socketio_adapter::redis::RedisMode;
use socketio_adapter::redis_streams::StreamsAdapterConfig;
use socketio_server::AckError;

const WAIT: Duration = Duration::from_secs(10);
const ACK_TIMEOUT: Duration = Duration::from_millis(1500);

/// The clients: on each node one answering (`<x>-answer`, in room `talk`) and one silent.
fn clients(r1: &RustServer, r2: &RustServer, n: &JsonNode) -> (JsonNode, String) {
    let mut clients = JsonNode::spawn(
        "redis-clients.js",
        &[&json!([
            {"name": "a", "url": r1.url(), "rooms": ["talk"]},
            {"name": "b", "url": r1.url(), "silent": true},
            {"name": "c", "url": r2.url(), "rooms": ["talk"]},
            {"name": "d", "url": r2.url(), "silent": true},
            {"name": "e", "url": n.url(), "rooms": ["talk"]},
            {"name": "f", "url": n.url(), "silent": true},
        ])
        .to_string()],
    );
    let b = clients
        .wait_for(WAIT, |v| v["client"] == "b" && v["connected"].is_string())
        .expect("b connected");
    (clients, b["connected"].as_str().unwrap().to_owned())
}

async fn partial_answers(r1: &RustServer, r2: &RustServer, n: &JsonNode) {
    let deadline = Instant::now() + WAIT;
    while r1.io.sockets().adapter().server_count().await.ok() != Some(3) {
        assert!(Instant::now() < deadline, "cluster did not form");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_clients, sid_b) = clients(r1, r2, n);
    let deadline = Instant::now() + WAIT;
    while r1.io.fetch_sockets().await.map(|s| s.len()).unwrap_or(0) != 6 {
        assert!(
            Instant::now() < deadline,
            "not every client is in the cluster"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let started = Instant::now();
    let mut acks = r1
        .io
        .timeout(ACK_TIMEOUT)
        .emit_with_ack::<_, String>("ask", &"?")
        .unwrap();
    let mut local_ok = Vec::new();
    let mut local_late = Vec::new();
    let mut remote_ok = Vec::new();
    let mut remote_late = 0;
    while let Some((sid, answer)) = acks.next().await {
        match (sid, answer) {
            (Some(sid), Ok(a)) => local_ok.push((sid.to_string(), a)),
            (Some(sid), Err(AckError::Timeout)) => local_late.push(sid.to_string()),
            (None, Ok(a)) => remote_ok.push(a),
            (None, Err(AckError::Timeout)) => remote_late += 1,
            other => panic!("unexpected item {other:?}"),
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(local_ok.len(), 1, "{local_ok:?}");
    assert_eq!(local_ok[0].1, "a-answer");
    assert_eq!(
        local_late,
        vec![sid_b],
        "the late socket of this node, by id"
    );
    remote_ok.sort();
    assert_eq!(
        remote_ok,
        vec!["c-answer", "e-answer"],
        "answers of the other nodes"
    );
    assert_eq!(remote_late, 2, "one late socket on each other node");
    assert!(
        elapsed >= ACK_TIMEOUT && elapsed < ACK_TIMEOUT + Duration::from_secs(2),
        "ends at the timeout: {elapsed:?}"
    );

    // Awaited whole, the broadcast fails as before when some are late.
    let err = r1
        .io
        .timeout(Duration::from_millis(500))
        .emit_with_ack::<_, String>("ask", &"?")
        .unwrap()
        .await
        .unwrap_err();
    assert!(matches!(err, AckError::Timeout), "{err}");

    // Only answering sockets: every answer, from every node, and the stream ends as soon as
    // the last one is in (long before the timeout).
    let started = Instant::now();
    let mut answers: Vec<String> = r1
        .io
        .to("talk")
        .timeout(Duration::from_secs(5))
        .emit_with_ack::<_, String>("ask", &"?")
        .unwrap()
        .filter_map(|(_, a)| async move { a.ok() })
        .collect()
        .await;
    answers.sort();
    assert_eq!(answers, vec!["a-answer", "c-answer", "e-answer"]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pubsub_adapter_keeps_partial_answers() {
    let redis = RedisServer::start();
    let r1 = RustServer::start(&redis.url(), "R1", RedisMode::Classic).await;
    let r2 = RustServer::start(&redis.url(), "R2", RedisMode::Classic).await;
    let n = JsonNode::spawn("redis-node-server.js", &[&redis.url(), "classic", "N"]);
    partial_answers(&r1, &r2, &n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_adapter_keeps_partial_answers() {
    let redis = RedisServer::start();
    let config = StreamsAdapterConfig::default();
    let r1 = RustServer::start_streams(&redis.url(), "R1", config.clone(), None).await;
    let r2 = RustServer::start_streams(&redis.url(), "R2", config, None).await;
    let n = JsonNode::spawn("redis-node-server.js", &[&redis.url(), "streams", "N"]);
    partial_answers(&r1, &r2, &n).await;
}
