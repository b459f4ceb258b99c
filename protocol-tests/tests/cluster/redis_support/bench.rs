//! Shared by the Redis benchmarks (`redis_bench`, `redis_streams_bench`): raw WebSocket
//! clients, the two-node broadcast load, our node (the `bench_server` example) and CPU readings.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol_tests::load::{self, ServerKind};
use protocol_tests::rust_peer::example_binary;
use protocol_tests::{ServerProcess, WsClient, WsFrame};

/// Receivers of the broadcast load, half on each node.
pub const RECEIVERS: usize = 500;
/// Broadcasts the sender emits.
pub const MSGS: usize = 1000;
/// Bytes of each broadcast's string.
pub const PAYLOAD: usize = 32;

/// CPU seconds (user + system) used so far by process `pid`.
pub fn cpu_seconds(pid: u32) -> f64 {
    load::cpu_ns(pid).unwrap_or(0) as f64 / 1e9
}

/// A raw client connected to `/` (with `auth` in its CONNECT when given): the WebSocket, the
/// CONNECT reply's `{sid, pid}`, and the events received before that reply (npm `socket.io`
/// sends a recovered socket's missed packets first; ours sends them after).
pub async fn open(port: u16, auth: Option<&str>) -> (WsClient, serde_json::Value, Vec<String>) {
    let mut early = Vec::new();
    let mut ws = WsClient::connect(port, "/socket.io/?EIO=4&transport=websocket", &[])
        .await
        .expect("connect");
    assert!(ws.recv_text().await.starts_with('0'), "no open packet");
    ws.send_text(&format!("40{}", auth.unwrap_or(""))).await;
    loop {
        let t = ws.recv_text().await;
        if let Some(reply) = t.strip_prefix("40") {
            return (ws, serde_json::from_str(reply).unwrap_or_default(), early);
        }
        if t.starts_with("42") {
            early.push(t);
        } else if t == "2" {
            ws.send_text("3").await;
        }
    }
}

/// The broadcast load on a two-node cluster: [`RECEIVERS`] sockets in room `bench`, half on
/// each node, and one sender on node 1 that emits `bcast` [`MSGS`] times; node 1 publishes each
/// one, node 2 delivers it to its half. Returns (deliveries, seconds).
pub async fn bcast_load(node1: u16, node2: u16) -> (u64, f64) {
    let received = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..RECEIVERS {
        let (mut ws, _, _) = open(if i % 2 == 0 { node1 } else { node2 }, None).await;
        ws.send_text(r#"42["join","bench"]"#).await;
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = 0;
            while got < MSGS {
                match ws.recv_timeout(Duration::from_secs(30)).await {
                    Some(WsFrame::Text(t)) => {
                        if t == "2" {
                            ws.send_text("3").await;
                        } else if t.starts_with(r#"42["bcast""#) {
                            got += 1;
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(WsFrame::Binary(_)) => {}
                    _ => break,
                }
            }
        }));
    }
    // Let the joins land everywhere.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut sender, _, _) = open(node1, None).await;
    let frame = format!(r#"42["bcast","{}"]"#, "x".repeat(PAYLOAD));
    let t0 = Instant::now();
    for _ in 0..MSGS {
        sender.send_text(&frame).await;
    }
    for t in tasks {
        let _ = t.await;
    }
    (received.load(Ordering::Relaxed), t0.elapsed().as_secs_f64())
}

/// Our node: the `bench_server` example with `args` (its `--redis URL` or `--redis-streams URL`
/// …) on a free port, built with the profile of this test binary (release for the figures).
pub fn our_node(args: &[&str]) -> ServerProcess {
    let mut command = if cfg!(debug_assertions) {
        Command::new(example_binary("socketio-server", "bench_server").unwrap())
    } else {
        load::build(ServerKind::Ours).unwrap()
    };
    command.args(["--port", "0"]).args(args);
    ServerProcess::spawn("bench_server", command, Duration::from_secs(20))
}
