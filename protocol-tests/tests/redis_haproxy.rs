//! The cluster demo setup: two of our servers joined through Redis, behind HAProxy with
//! cookie-sticky sessions; npm clients that start with HTTP long-polling (cookie jar on) and
//! upgrade to WebSocket land on both nodes, and a broadcast from either node reaches them all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod redis_support;

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use protocol_tests::redis::JsonNode;
use protocol_tests::{ensure_deps, RedisServer};
use redis_support::RustServer;
use serde_json::json;
use socketio_adapter::redis::RedisMode;

const WAIT: Duration = Duration::from_secs(5);

struct Haproxy {
    child: Child,
    port: u16,
    _dir: std::path::PathBuf,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

/// The HAProxy configuration of the demo: round robin, a `SERVERID` cookie to keep a client
/// on its node (long-polling needs every request of a session on the same node).
fn haproxy_config(port: u16, backends: &[u16]) -> String {
    let mut cfg = format!(
        "defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h

frontend socketio
  bind 127.0.0.1:{port}
  default_backend nodes

backend nodes
  balance roundrobin
  cookie SERVERID insert indirect nocache
"
    );
    for (i, b) in backends.iter().enumerate() {
        cfg.push_str(&format!("  server n{i} 127.0.0.1:{b} cookie n{i}\n"));
    }
    cfg
}

fn start_haproxy(backends: &[u16]) -> Haproxy {
    ensure_deps();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("redis-haproxy-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, haproxy_config(port, backends)).unwrap();
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("haproxy");
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "haproxy did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Haproxy {
        child,
        port,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_behind_haproxy_with_redis() {
    let redis = RedisServer::start();
    let r1 = RustServer::start(&redis.url(), "R1", RedisMode::Classic).await;
    let r2 = RustServer::start(&redis.url(), "R2", RedisMode::Classic).await;
    let lb = start_haproxy(&[r1.port, r2.port]);
    let url = format!("http://127.0.0.1:{}", lb.port);
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
