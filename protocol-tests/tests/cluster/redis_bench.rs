//! Broadcast deliveries per second through Redis, two nodes: ours (`socketio-server` with the
//! Redis adapter) against npm `socket.io` 4.8 with `@socket.io/redis-adapter` 8.3, same load,
//! same Redis, side by side in one run.
//!
//! ```text
//! cargo test --release -p protocol-tests --test cluster -- --ignored --nocapture redis_bench::
//! ```
//!
//! Each node is a separate process (ours: the `bench_server` example with `--redis`); the load
//! (`redis_support::bench::bcast_load`, raw WebSocket clients) runs in the test: RECEIVERS
//! sockets in room `bench`, half on each node, and one sender on node 1 that emits `bcast` MSGS
//! times; node 1 publishes each one to Redis, node 2 delivers it to its half.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::redis_support;

use protocol_tests::{NodePeer, RedisServer};
use redis_support::bench::{bcast_load, our_node, MSGS, PAYLOAD, RECEIVERS};

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
        let (a, b) = (
            our_node(&["--redis", &redis.url()]),
            our_node(&["--redis", &redis.url()]),
        );
        let (delivered, secs) = rt.block_on(bcast_load(a.port(), b.port()));
        rows.push(("ours (socketio-server + RedisAdapter)", delivered, secs));
    }
    {
        let a = NodePeer::spawn("redis-bench-node-server.js", &[&redis.url()], &[]);
        let b = NodePeer::spawn("redis-bench-node-server.js", &[&redis.url()], &[]);
        let (delivered, secs) = rt.block_on(bcast_load(a.port(), b.port()));
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
