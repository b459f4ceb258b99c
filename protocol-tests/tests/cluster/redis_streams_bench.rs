//! Benchmarks of the Redis Streams adapter (not timed tests: `#[ignore]`, run by hand):
//!
//! ```text
//! cargo test --release -p protocol-tests --test cluster -- --ignored --nocapture redis_streams_bench::
//! ```
//!
//! - `streams_broadcast_benchmark`: deliveries per second and CPU per delivery, 2 nodes, ours
//!   (`bench_server --redis-streams URL --recovery`) against npm `socket.io` 4.8 with
//!   `@socket.io/redis-streams-adapter` 0.3.1 (recovery on), same load, same Redis, one run.
//!   RECEIVERS raw WebSocket clients in room `bench`, half per node; one sender on node 1 emits
//!   `bcast` MSGS times.
//! - `streams_recovery_benchmark`: 1000 clients with recovery on node 1 lose their connections;
//!   3 broadcasts go out while they are away; all reconnect at once to node 2. Reports the time
//!   until every one of them has recovered (same sid) and got its 3 missed packets, for ours and
//!   for npm. Then, for ours, the cost of keeping 1000 live session records in Redis: commands
//!   per second and node CPU while idle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::redis_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol_tests::{NodePeer, RedisServer, ServerProcess, WsFrame};
use redis_support::bench::{bcast_load, cpu_seconds, open, MSGS, PAYLOAD, RECEIVERS};

const RECOVERING: usize = 1000;

/// The last argument (the offset) of an event frame `42[...]`.
fn offset_of(frame: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(frame.strip_prefix("42")?).ok()?;
    v.as_array()?.last()?.as_str().map(str::to_owned)
}

/// Our node: the `bench_server` example with the streams adapter and recovery.
fn our_node(redis_url: &str) -> ServerProcess {
    redis_support::bench::our_node(&["--redis-streams", redis_url, "--recovery"])
}

fn npm_node(redis_url: &str) -> NodePeer {
    NodePeer::spawn(
        "redis-bench-node-server.js",
        &[redis_url, "streams", "recovery"],
        &[],
    )
}

struct Row {
    name: &'static str,
    delivered: u64,
    secs: f64,
    cpu: f64,
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn streams_broadcast_benchmark() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    {
        let redis = RedisServer::start();
        let (a, b) = (our_node(&redis.url()), our_node(&redis.url()));
        let pids = [a.pid(), b.pid()];
        let cpu0: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
        let (delivered, secs) = rt.block_on(bcast_load(a.port(), b.port()));
        let cpu = pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>() - cpu0;
        rows.push(Row {
            name: "ours (bench_server --redis-streams --recovery)",
            delivered,
            secs,
            cpu,
        });
    }
    {
        let redis = RedisServer::start();
        let (mut a, mut b) = (npm_node(&redis.url()), npm_node(&redis.url()));
        let pids = [a.process().pid(), b.process().pid()];
        let cpu0: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
        let (delivered, secs) = rt.block_on(bcast_load(a.port(), b.port()));
        let cpu = pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>() - cpu0;
        rows.push(Row {
            name: "node (socket.io 4.8 + redis-streams-adapter 0.3.1)",
            delivered,
            secs,
            cpu,
        });
    }
    println!(
        "\nbroadcast through Redis Streams, 2 nodes, recovery on, {RECEIVERS} receivers (half per node), {MSGS} msgs of {PAYLOAD} B from node 1"
    );
    for r in &rows {
        println!(
            "{:<52} delivered {}/{} in {:.2} s = {:.0} deliveries/s, node CPU {:.2} s = {:.2} us/delivery",
            r.name,
            r.delivered,
            RECEIVERS * MSGS,
            r.secs,
            r.delivered as f64 / r.secs,
            r.cpu,
            r.cpu * 1e6 / r.delivered.max(1) as f64
        );
    }
    if let [a, b] = rows.as_slice() {
        println!(
            "ratio ours/node: {:.2}x deliveries/s, {:.2}x CPU per delivery",
            (a.delivered as f64 / a.secs) / (b.delivered as f64 / b.secs),
            (a.cpu / a.delivered.max(1) as f64) / (b.cpu / b.delivered.max(1) as f64)
        );
    }
    for r in &rows {
        assert_eq!(
            r.delivered,
            (RECEIVERS * MSGS) as u64,
            "{} lost deliveries",
            r.name
        );
    }
}

/// 1000 clients on node 1 (each given an offset by a first broadcast) lose their connections;
/// 3 broadcasts while away; all reconnect at once to node 2. Returns the seconds until all
/// recovered with their 3 packets, and how many did.
async fn recover_all(node1: u16, node2: u16) -> (f64, usize) {
    let mut clients = Vec::with_capacity(RECOVERING);
    for _ in 0..RECOVERING {
        let (ws, reply, _) = open(node1, None).await;
        clients.push((ws, reply));
    }
    let (mut sender, _, _) = open(node1, None).await;
    sender.send_text(r#"42["join","bench"]"#).await;
    for (ws, _) in &mut clients {
        ws.send_text(r#"42["join","bench"]"#).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    sender.send_text(r#"42["bcast","first"]"#).await;
    let mut sessions = Vec::with_capacity(RECOVERING);
    for (mut ws, reply) in clients {
        let offset = loop {
            match ws.recv_timeout(Duration::from_secs(10)).await {
                Some(WsFrame::Text(t)) if t == "2" => ws.send_text("3").await,
                Some(WsFrame::Text(t)) if t.starts_with(r#"42["bcast""#) => {
                    break offset_of(&t).expect("an offset")
                }
                Some(_) => {}
                None => panic!("no first broadcast"),
            }
        };
        // Lose the transport (the server sees a transport close: recoverable).
        drop(ws);
        sessions.push((
            reply["sid"].as_str().unwrap().to_owned(),
            reply["pid"].as_str().unwrap().to_owned(),
            offset,
        ));
    }
    // The sender (also in `bench`) stays on node 1; let node 1 notice and save the sessions.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for i in 0..3 {
        sender
            .send_text(&format!(r#"42["bcast","missed-{i}"]"#))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let recovered = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|(sid, pid, offset)| {
            let recovered = recovered.clone();
            tokio::spawn(async move {
                let auth = serde_json::json!({"pid": pid, "offset": offset}).to_string();
                let (mut ws, reply, early) = open(node2, Some(&auth)).await;
                if reply["sid"] != sid.as_str() {
                    return;
                }
                let mut missed = early
                    .iter()
                    .filter(|t| t.starts_with(r#"42["bcast","missed-"#))
                    .count();
                while missed < 3 {
                    match ws.recv_timeout(Duration::from_secs(30)).await {
                        Some(WsFrame::Text(t)) if t == "2" => ws.send_text("3").await,
                        Some(WsFrame::Text(t)) if t.starts_with(r#"42["bcast","missed-"#) => {
                            missed += 1
                        }
                        Some(_) => {}
                        None => return,
                    }
                }
                recovered.fetch_add(1, Ordering::Relaxed);
                // Keep the connection until every client is done.
                let _ = ws.recv_timeout(Duration::from_secs(5)).await;
            })
        })
        .collect();
    let mut done_at = None;
    while done_at.is_none() && t0.elapsed() < Duration::from_secs(60) {
        if recovered.load(Ordering::Relaxed) as usize == RECOVERING {
            done_at = Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let secs = done_at.unwrap_or_else(|| t0.elapsed()).as_secs_f64();
    for t in tasks {
        t.abort();
    }
    (secs, recovered.load(Ordering::Relaxed) as usize)
}

/// `cmdstat_<name>:calls=N` from `INFO commandstats`.
fn calls(redis: &RedisServer, command: &str) -> u64 {
    let info = redis.command(&["INFO", "commandstats"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn streams_recovery_benchmark() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("\n{RECOVERING} clients reconnecting at once to another node, 3 missed packets each");
    let mut results = Vec::new();
    {
        let redis = RedisServer::start();
        let (a, b) = (our_node(&redis.url()), our_node(&redis.url()));
        let (secs, n) = rt.block_on(recover_all(a.port(), b.port()));
        println!("ours  (bench_server --redis-streams --recovery): {n}/{RECOVERING} recovered in {:.0} ms", secs * 1e3);
        results.push(n);

        // The cost of live session records: 1000 idle clients on one node for 10 s.
        let c = our_node(&redis.url());
        let pid = c.pid();
        let clients: Vec<_> = rt.block_on(async {
            let mut v = Vec::new();
            for _ in 0..RECOVERING {
                v.push(open(c.port(), None).await);
            }
            v
        });
        std::thread::sleep(Duration::from_secs(2));
        let (set0, exp0, cpu0) = (
            calls(&redis, "set"),
            calls(&redis, "pexpire"),
            cpu_seconds(pid),
        );
        std::thread::sleep(Duration::from_secs(10));
        let (set1, exp1, cpu1) = (
            calls(&redis, "set"),
            calls(&redis, "pexpire"),
            cpu_seconds(pid),
        );
        println!(
            "live session records, {RECOVERING} idle sockets over 10 s: {:.0} SET/s, {:.0} PEXPIRE/s, node CPU {:.1} ms/s (pings included)",
            (set1 - set0) as f64 / 10.0,
            (exp1 - exp0) as f64 / 10.0,
            (cpu1 - cpu0) * 1e3 / 10.0
        );
        drop(clients);
    }
    {
        let redis = RedisServer::start();
        let (a, b) = (npm_node(&redis.url()), npm_node(&redis.url()));
        let (secs, n) = rt.block_on(recover_all(a.port(), b.port()));
        println!("node  (socket.io 4.8 + redis-streams-adapter):  {n}/{RECOVERING} recovered in {:.0} ms", secs * 1e3);
        results.push(n);
    }
    assert_eq!(results[0], RECOVERING, "ours did not recover every client");
}
