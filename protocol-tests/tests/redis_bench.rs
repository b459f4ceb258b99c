//! Broadcast deliveries per second through Redis, two nodes: ours (`socketio-server` with the
//! Redis adapter) against npm `socket.io` 4.8 with `@socket.io/redis-adapter` 8.3, same load,
//! same Redis, side by side in one run.
//!
//! ```text
//! cargo test --release -p protocol-tests --test redis_bench -- --ignored --nocapture redis_broadcast_benchmark
//! ```
//!
//! Each node is a separate process (ours: this test binary re-run as a server, see
//! [`redis_bench_node`]); the load generator (raw WebSocket clients, like
//! `../shared/bench/sioload bcast`) runs in the test: RECEIVERS sockets in room `bench`, half on
//! each node, and one sender on node 1 that emits `bcast` MSGS times; node 1 publishes each one
//! to Redis, node 2 delivers it to its half.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol_tests::{NodePeer, RedisServer, ServerProcess, WsClient, WsFrame};

const RECEIVERS: usize = 500;
const MSGS: usize = 1000;
const PAYLOAD: usize = 32;

async fn open(port: u16) -> WsClient {
    let mut ws = WsClient::connect(port, "/socket.io/?EIO=4&transport=websocket", &[])
        .await
        .expect("connect");
    assert!(ws.recv_text().await.starts_with('0'), "no open packet");
    ws.send_text("40").await;
    loop {
        let t = ws.recv_text().await;
        if t.starts_with("40") {
            return ws;
        }
        if t == "2" {
            ws.send_text("3").await;
        }
    }
}

/// Runs the load against a two-node cluster; returns (delivered, seconds).
async fn load(node1: u16, node2: u16) -> (u64, f64) {
    let received = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..RECEIVERS {
        let mut ws = open(if i % 2 == 0 { node1 } else { node2 }).await;
        ws.send_text(r#"42["join","bench"]"#).await;
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = 0;
            while got < MSGS {
                match ws.recv_timeout(Duration::from_secs(20)).await {
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
    let mut sender = open(node1).await;
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

fn our_node(redis_url: &str) -> ServerProcess {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "redis_bench_node",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("REDIS_BENCH_NODE", redis_url);
    ServerProcess::spawn("ours", command, Duration::from_secs(20))
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn redis_broadcast_benchmark() {
    let redis = RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    {
        let (a, b) = (our_node(&redis.url()), our_node(&redis.url()));
        let (delivered, secs) = rt.block_on(load(a.port(), b.port()));
        rows.push(("ours (socketio-server + RedisAdapter)", delivered, secs));
    }
    {
        let a = NodePeer::spawn("redis-bench-node-server.js", &[&redis.url()], &[]);
        let b = NodePeer::spawn("redis-bench-node-server.js", &[&redis.url()], &[]);
        let (delivered, secs) = rt.block_on(load(a.port(), b.port()));
        rows.push((
            "node (socket.io 4.8 + @socket.io/redis-adapter 8.3)",
            delivered,
            secs,
        ));
    }
    println!(
        "\nbroadcast through Redis, 2 nodes, {RECEIVERS} receivers (half per node), {MSGS} msgs of {PAYLOAD} B from node 1"
    );
    for (name, delivered, secs) in &rows {
        println!(
            "{name:<52} delivered {delivered}/{} in {secs:.2} s = {:.0} deliveries/s",
            RECEIVERS * MSGS,
            *delivered as f64 / secs
        );
    }
    if let [(_, d1, s1), (_, d2, s2)] = rows.as_slice() {
        println!(
            "ratio ours/node: {:.2}x",
            (*d1 as f64 / s1) / (*d2 as f64 / s2)
        );
    }
    for (name, delivered, _) in &rows {
        assert_eq!(
            *delivered,
            (RECEIVERS * MSGS) as u64,
            "{name} lost deliveries"
        );
    }
}

/// Not a test: the server process of [`redis_broadcast_benchmark`] (this binary re-run with
/// `REDIS_BENCH_NODE=<redis url>`): the bench server events `echo`, `join`, `bcast` with the
/// Redis adapter. Does nothing when run as part of the test suite.
#[test]
#[ignore = "helper process of redis_broadcast_benchmark"]
fn redis_bench_node() {
    use socketio_adapter::redis::{RedisAdapterConfig, RedisAdapterFactory};
    use socketio_server::{Args, Data, SocketIo, SocketRef};

    let Ok(redis_url) = std::env::var("REDIS_BENCH_NODE") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let factory = RedisAdapterFactory::connect(&redis_url, RedisAdapterConfig::default())
            .await
            .unwrap();
        let io = SocketIo::builder().adapter(factory).build();
        let broadcaster = io.clone();
        io.ns("/", move |socket: SocketRef| {
            let io = broadcaster.clone();
            async move {
                socket.on("echo", |socket: SocketRef, Args(args): Args| async move {
                    let _ = socket.emit_values("echo", args);
                });
                socket.on(
                    "join",
                    |socket: SocketRef, Data(room): Data<String>| async move {
                        socket.join(room);
                    },
                );
                socket.on("bcast", move |Args(args): Args| {
                    let io = io.clone();
                    async move {
                        let _ = io.to("bench").emit_values("bcast", args);
                    }
                });
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        // A line of its own: the test harness has already written "test redis_bench_node ... ".
        println!("\nlistening {}", listener.local_addr().unwrap().port());
        tokio::spawn(async move { io.serve(listener).await });
        // Runs until the parent closes our stdin (or kills us).
        tokio::task::spawn_blocking(|| {
            let mut sink = [0u8; 64];
            while std::io::stdin()
                .read(&mut sink)
                .map(|n| n > 0)
                .unwrap_or(false)
            {}
        })
        .await
        .unwrap();
    });
}
