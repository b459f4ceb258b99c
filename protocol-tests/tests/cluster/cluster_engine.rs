//! The cluster engine (crate `engine-io-cluster`) on real infrastructure: three of our
//! `socketio_conformance_server`s sharing one real redis-server (`--redis URL --cluster-engine`)
//! behind a real HAProxy with plain `balance roundrobin` — no cookie, no stickiness of any kind —
//! so consecutive polling requests of one session land on different nodes.
//!
//! * raw HTTP: a handshake, then 20 POSTs and the GETs that read their echoes spread over all
//!   three nodes; every packet is delivered once, in order;
//! * the control: the same nodes without `--cluster-engine` answer the first foreign request
//!   400 "Session ID unknown" (this is what proves the requests really cross nodes);
//! * the owner killed with SIGKILL: requests for its sessions fail fast (< 1 s) with
//!   "Session ID unknown", also a long-poll already waiting on it, and a new session through
//!   the balancer works;
//! * hostile cluster traffic: garbage on the nodes' channels, forged requests and replies, and
//!   forged node ids in sids crash nothing and change nothing; so do forged upgrades, handovers
//!   and tunnel messages; so do garbage, forged links and oversized frames on the direct links'
//!   port;
//! * a WebSocket upgrade reaching a node other than the owner: early (within the delayed
//!   connection's 300 ms) the session is taken over — it lives on after its old owner is killed —
//!   and late it is proxied through a tunnel — it ends with its owner; both ways every packet
//!   arrives once, in order, acks and binary included;
//! * the npm `socket.io-client` 4.8 over polling-then-upgrade ends on WebSocket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use engine_io_cluster::message::{Body, Dir, HeaderBlock, Message, Method};
use engine_io_cluster::NodeId;
use protocol_tests::haproxy::Haproxy;
use protocol_tests::{http, HttpRequest, HttpResponse, RedisServer, RustPeer, WsClient, WsFrame};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PATH: &str = "/socket.io/?EIO=4&transport=polling";

/// One node: `--redis URL`, and `--cluster-engine` when `cluster`. The default heartbeat (25 s)
/// keeps pings out of the raw exchanges.
fn node(redis: &RedisServer, cluster: bool) -> RustPeer {
    let url = redis.url();
    let mut args = vec![
        "--port",
        "0",
        "--interop",
        "--default-heartbeat",
        "--redis",
        &url,
    ];
    if cluster {
        args.push("--cluster-engine");
    }
    // Shown only when a test fails: which sessions closed and why, which upgrades moved.
    let env = [
        ("RUST_LOG", protocol_tests::test_log::SERVER_DEBUG),
        ("NO_COLOR", "1"),
    ];
    RustPeer::spawn_example_with_env(
        "socketio-server",
        "socketio_conformance_server",
        &args,
        &env,
    )
}

fn nodes(redis: &RedisServer, n: usize, cluster: bool) -> Vec<RustPeer> {
    (0..n).map(|_| node(redis, cluster)).collect()
}

fn ports(nodes: &[RustPeer]) -> Vec<u16> {
    nodes.iter().map(RustPeer::port).collect()
}

/// A polling session driven request by request.
struct Session {
    sid: String,
}

impl Session {
    /// The Engine.IO handshake on `port`.
    async fn open(port: u16) -> Session {
        let res = http(port, HttpRequest::get(PATH)).await;
        assert_eq!(res.status, 200, "handshake: {}", res.text());
        let text = res.text();
        let open: Value = serde_json::from_str(text.strip_prefix('0').expect("open packet"))
            .unwrap_or_else(|e| panic!("open packet {text:?}: {e}"));
        Session {
            sid: open["sid"].as_str().unwrap().to_owned(),
        }
    }

    fn target(&self) -> String {
        format!("{PATH}&sid={}", self.sid)
    }

    async fn get(&self, port: u16) -> HttpResponse {
        http(port, HttpRequest::get(&self.target())).await
    }

    async fn post(&self, port: u16, body: &str) -> HttpResponse {
        http(
            port,
            HttpRequest::post(&self.target(), body.as_bytes().to_vec()),
        )
        .await
    }
}

/// No node panicked or exited.
fn assert_healthy(nodes: Vec<RustPeer>) {
    for mut n in nodes {
        let panics = n.process().panics();
        assert!(panics.is_empty(), "{panics:?}");
        assert!(!n.process().has_exited(), "a node exited");
    }
}

fn assert_unknown_sid(res: &HttpResponse, what: &str) {
    assert_eq!(res.status, 400, "{what}: {}", res.text());
    assert_eq!(
        res.json(),
        serde_json::json!({"code": 1, "message": "Session ID unknown"}),
        "{what}"
    );
}

/// The `message-back` arguments in a polling payload.
fn echoes(payload: &str) -> Vec<i64> {
    payload
        .split('\x1e')
        .filter_map(|p| p.strip_prefix("42"))
        .filter_map(|json| serde_json::from_str::<Value>(json).ok())
        .filter(|v| v[0] == "message-back")
        .map(|v| v[1].as_i64().expect("a number"))
        .collect()
}

/// Connects to `/`, then sends `message` 0..20 and reads the echoes, every request through
/// `port` (the balancer): returns the echoes in the order they arrived.
async fn exchange(port: u16, session: &Session) -> Vec<i64> {
    let res = session.post(port, "40").await;
    assert_eq!((res.status, res.text()), (200, "ok".to_owned()), "CONNECT");
    let mut got = Vec::new();
    let mut connected = false;
    for i in 0..20 {
        let res = session.post(port, &format!("42[\"message\",{i}]")).await;
        assert_eq!((res.status, res.text()), (200, "ok".to_owned()), "POST {i}");
        while got.len() <= i {
            let res = session.get(port).await;
            assert_eq!(res.status, 200, "GET after POST {i}: {}", res.text());
            let text = res.text();
            connected |= text.split('\x1e').any(|p| p.starts_with("40{"));
            got.extend(echoes(&text));
        }
    }
    assert!(connected, "the CONNECT was answered");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_http_round_robin_over_three_nodes_delivers_every_packet_once() {
    let redis = RedisServer::start();
    let nodes = nodes(&redis, 3, true);
    let lb = Haproxy::round_robin(&ports(&nodes));
    let session = Session::open(lb.port()).await;
    assert_eq!(session.sid.len(), 28, "node id (8) + 120 random bits (20)");
    let got = exchange(lb.port(), &session).await;
    assert_eq!(
        got,
        (0..20).collect::<Vec<_>>(),
        "every echo once, in order"
    );
    // Requests naming the session go to each node directly, too: all of them serve it.
    for (i, port) in ports(&nodes).into_iter().enumerate() {
        let res = session.post(port, "42[\"message\",100]").await;
        assert_eq!((res.status, res.text()), (200, "ok".to_owned()), "node {i}");
        let res = session.get(port).await;
        assert_eq!(echoes(&res.text()), vec![100], "node {i}");
    }
    assert_healthy(nodes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_without_the_cluster_engine_a_cookieless_client_fails() {
    let redis = RedisServer::start();
    let nodes = nodes(&redis, 3, false);
    let lb = Haproxy::round_robin(&ports(&nodes));
    let session = Session::open(lb.port()).await;
    // The next request goes to the next node, which does not know the session.
    let res = session.post(lb.port(), "40").await;
    assert_unknown_sid(&res, "the second request, on another node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_owner_fails_fast_and_a_new_session_works() {
    let redis = RedisServer::start();
    let owner = node(&redis, true);
    let others = nodes(&redis, 2, true);
    let [a, b] = [others[0].port(), others[1].port()];
    let session = Session::open(owner.port()).await;
    // Served by the others while the owner lives.
    let res = session.post(a, "40").await;
    assert_eq!(res.status, 200, "{}", res.text());
    // The connection is delayed (300 ms): the CONNECT's answer and the `auth` event the
    // server emits on connection may come in two polls.
    let mut polled = String::new();
    while !polled.contains("42[\"auth\"") {
        let res = session.get(b).await;
        assert_eq!(res.status, 200, "{}", res.text());
        polled.push_str(&res.text());
    }
    assert!(polled.contains("40{"), "{polled}");
    // A long-poll waiting on the owner (nothing is queued) when it is killed.
    let waiting = {
        let target = session.target();
        tokio::spawn(async move { http(a, HttpRequest::get(&target)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the long-poll waits on the owner");
    drop(owner); // SIGKILL
    let killed = Instant::now();
    let res = waiting.await.unwrap();
    assert_unknown_sid(&res, "the long-poll waiting on the dead owner");
    assert!(
        killed.elapsed() < Duration::from_millis(1500),
        "{:?}",
        killed.elapsed()
    );
    // New requests fail fast.
    for port in [a, b] {
        let t = Instant::now();
        let res = session.get(port).await;
        assert_unknown_sid(&res, "GET for the dead owner's session");
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        let t = Instant::now();
        let res = session.post(port, "42[\"message\",1]").await;
        assert_unknown_sid(&res, "POST for the dead owner's session");
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
    // The client reconnects through the balancer (over the live nodes) and works.
    let lb = Haproxy::round_robin(&[a, b]);
    let fresh = Session::open(lb.port()).await;
    let got = exchange(lb.port(), &fresh).await;
    assert_eq!(got, (0..20).collect::<Vec<_>>());
}

/// Publishes raw bytes on a node's channel.
async fn publish(redis: &mut redis::aio::MultiplexedConnection, node: NodeId, payload: &[u8]) {
    let channel = format!("engine.io-cluster#{node}");
    let _: usize = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(payload)
        .query_async(redis)
        .await
        .unwrap();
}

/// A request from `from`, a node that does not own `session`, that would close it (a POST of
/// Engine.IO's close packet, `1`).
fn forged_close(from: NodeId, session: &Session) -> Message {
    Message {
        from,
        id: 1,
        body: Body::Request {
            method: Method::Post,
            uri: Bytes::from(session.target()),
            headers: HeaderBlock::default(),
            body: Bytes::from_static(b"1"),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_cluster_traffic_crashes_nothing() {
    let redis = RedisServer::start();
    let nodes = nodes(&redis, 3, true);
    let ports = ports(&nodes);
    let lb = Haproxy::round_robin(&ports);
    // One session per node, to learn each node's id from its sids.
    let mut sessions = Vec::new();
    for &port in &ports {
        sessions.push(Session::open(port).await);
    }
    let ids: Vec<NodeId> = sessions
        .iter()
        .map(|s| NodeId::of_sid(&s.sid).expect("a cluster sid"))
        .collect();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let forged_from = NodeId::parse("forged00").unwrap();
    for (i, &id) in ids.iter().enumerate() {
        // Garbage of every shape.
        for junk in [
            &b""[..],
            b"\x01",
            b"hello",
            &[0xff; 64],
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        ] {
            publish(&mut conn, id, junk).await;
        }
        let mut header_bomb = vec![1u8, 3];
        header_bomb.extend_from_slice(b"forged00");
        header_bomb.extend_from_slice(&[0; 8]);
        header_bomb.extend_from_slice(&[0, 200, 0xff, 0xff]);
        publish(&mut conn, id, &header_bomb).await;
        // A forged request for a session another node owns: this node does not hold it.
        let other = &sessions[(i + 1) % sessions.len()];
        publish(&mut conn, id, &forged_close(forged_from, other).encode()).await;
        // A forged request with a URI that is no URI, and replies nobody asked for.
        let bad_uri = Message {
            from: forged_from,
            id: 2,
            body: Body::Request {
                method: Method::Get,
                uri: Bytes::from_static(b"\x00 not a uri"),
                headers: HeaderBlock::from_pairs([(&b"bad name"[..], &b"\n"[..])].into_iter()),
                body: Bytes::new(),
            },
        };
        publish(&mut conn, id, &bad_uri.encode()).await;
        for body in [
            Body::Accepted,
            Body::Abort,
            Body::Response {
                status: 200,
                headers: HeaderBlock::default(),
                body: Bytes::from_static(b"6"),
            },
        ] {
            let m = Message {
                from: ids[(i + 1) % ids.len()],
                id: 12345,
                body,
            };
            publish(&mut conn, id, &m.encode()).await;
        }
    }
    // Forged upgrade traffic: an upgrade for a session another node owns, one for the node's
    // own session from a node that does not exist (it must not leave), handovers and tunnel
    // bytes nobody asked for, and truncated messages of every new kind.
    for (i, &id) in ids.iter().enumerate() {
        let other = &sessions[(i + 1) % sessions.len()];
        let own = &sessions[i];
        for (n, sid) in [&other.sid, &own.sid].into_iter().enumerate() {
            let forged = Message {
                from: forged_from,
                id: 100 + n as u64,
                body: Body::Upgrade {
                    uri: Bytes::from(format!("/socket.io/?EIO=4&transport=websocket&sid={sid}")),
                    headers: vec![],
                },
            };
            publish(&mut conn, id, &forged.encode()).await;
        }
        for body in [
            Body::Handover(engine_io_cluster::message::WireHandover {
                sid: Bytes::from(own.sid.clone()),
                protocol: 4,
                uri: Bytes::from_static(b"/socket.io/?EIO=4&transport=polling"),
                headers: vec![],
                remote_addr: None,
                outgoing: vec![],
                incoming: vec![],
            }),
            Body::Proxied,
            Body::TunnelData {
                dir: Dir::FromOwner,
                data: Bytes::from_static(b"\x81\x012"),
            },
            Body::TunnelData {
                dir: Dir::FromOpener,
                data: Bytes::from(vec![0u8; 300 * 1024]),
            },
            Body::TunnelAck {
                dir: Dir::FromOwner,
                credit: u32::MAX,
            },
            Body::TunnelClose {
                dir: Dir::FromOpener,
            },
        ] {
            let m = Message {
                from: ids[(i + 1) % ids.len()],
                id: 100,
                body,
            };
            let bytes = m.encode();
            publish(&mut conn, id, &bytes).await;
            publish(&mut conn, id, &bytes[..bytes.len() - 1]).await;
        }
        // A message count far beyond the message's size.
        let mut bomb = vec![1u8, 6];
        bomb.extend_from_slice(b"forged00");
        bomb.extend_from_slice(&[0; 8]);
        bomb.extend_from_slice(&[0, 1, b's', 4, 0, 1, b'/', 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        publish(&mut conn, id, &bomb).await;
    }
    // The direct links' port: garbage, a hello for another node, a forged link's request for
    // a session another node owns, and an oversized frame.
    for (i, &id) in ids.iter().enumerate() {
        let key = format!("engine.io-cluster#peer#{id}");
        let addr: String = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("each node advertises its address");
        let hello = |from: &str, to: NodeId| {
            let mut h = b"EIOC\x01".to_vec();
            h.extend_from_slice(from.as_bytes());
            h.extend_from_slice(to.to_string().as_bytes());
            h
        };
        for junk in [vec![0xffu8; 64], hello("forged00", forged_from)] {
            let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
            s.write_all(&junk).await.unwrap();
            assert!(closed_by_peer(&mut s).await, "{junk:?} on {addr}");
        }
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(&hello("forged00", id)).await.unwrap();
        let mut echo = [0u8; 21];
        s.read_exact(&mut echo).await.unwrap();
        let other = &sessions[(i + 1) % sessions.len()];
        let forged = forged_close(forged_from, other).encode();
        let mut frame = (forged.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&forged);
        s.write_all(&frame).await.unwrap();
        let mut len = [0u8; 4];
        s.read_exact(&mut len).await.unwrap();
        let mut answer = vec![0u8; u32::from_be_bytes(len) as usize];
        s.read_exact(&mut answer).await.unwrap();
        let answer = Message::decode(Bytes::from(answer)).unwrap();
        assert!(matches!(answer.body, Body::Response { status: 400, .. }));
        s.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        assert!(closed_by_peer(&mut s).await, "an oversized frame on {addr}");
    }
    // A sid naming a node that does not exist, and one of the wrong shape: 400 at once.
    for sid in ["zzzzzzzz0123456789abcdefghij", "short", &"a".repeat(300)] {
        let t = Instant::now();
        let res = http(lb.port(), HttpRequest::get(&format!("{PATH}&sid={sid}"))).await;
        assert_unknown_sid(&res, sid);
        assert!(t.elapsed() < Duration::from_secs(1));
    }
    // Every session still works over every node: the forged close (`1`) reached nobody.
    for s in &sessions {
        let got = exchange(lb.port(), s).await;
        assert_eq!(got, (0..20).collect::<Vec<_>>());
    }
    assert_healthy(nodes);
}

/// Reads until the other end closes the connection (`true`), up to 10 s.
async fn closed_by_peer(s: &mut tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; 256];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap_or(false)
}

/// Runs `cluster-client.js` over `transports` against 3 cluster nodes behind round-robin.
async fn npm_client(redis: &RedisServer, transports: &str) -> Value {
    let nodes = nodes(redis, 3, true);
    let lb = Haproxy::round_robin(&ports(&nodes));
    let out = protocol_tests::run_node(
        "cluster-client.js",
        &[&lb.url(), transports],
        &[],
        Duration::from_secs(40),
    )
    .await;
    let result = out
        .json_result()
        .unwrap_or_else(|| panic!("no result: {out:?}"));
    assert_eq!(result["ok"], true, "{result}\nstderr: {}", out.stderr);
    assert_healthy(nodes);
    result
}

fn assert_scenarios(r: &Value) {
    let owners = r["owners"].as_array().unwrap();
    assert_eq!(owners.len(), 3, "one client per node: {r}");
    let echoed: Vec<i64> = r["echoed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(echoed, (0..200).collect::<Vec<_>>(), "200 echoes in order");
    assert_eq!(r["ack"], serde_json::json!(["hello", 42]));
    assert_eq!(
        r["asked"]["resp"],
        serde_json::json!([{"answer": 42}]),
        "{r}"
    );
    assert_eq!(r["binary"], "000102fdfeff");
    let mut all: Vec<&Value> = owners.iter().collect();
    all.sort_by_key(|v| v.as_str().unwrap().to_owned());
    for got in r["received"].as_array().unwrap() {
        let got: Vec<&Value> = got.as_array().unwrap().iter().collect();
        assert_eq!(
            got, all,
            "every client got one broadcast from every node: {r}"
        );
    }
    assert_eq!(r["disconnects"], serde_json::json!([]), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_client_polling_only_over_round_robin() {
    let redis = RedisServer::start();
    let r = npm_client(&redis, r#"["polling"]"#).await;
    assert_scenarios(&r);
    assert_eq!(
        r["transports"],
        serde_json::json!(["polling", "polling", "polling"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_client_websocket_only_over_round_robin() {
    // A WebSocket session lives on the node its connection reached: nothing crosses nodes but
    // the broadcasts (through the Redis adapter).
    let redis = RedisServer::start();
    let r = npm_client(&redis, r#"["websocket"]"#).await;
    assert_scenarios(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_client_polling_then_upgrade_over_round_robin() {
    // An upgrade reaching a node other than the owner takes the session over (early) or is
    // proxied (late); one reaching the owner upgrades. Every client ends on WebSocket, and
    // nothing is lost or duplicated.
    let redis = RedisServer::start();
    let r = npm_client(&redis, r#"["polling", "websocket"]"#).await;
    assert_scenarios(&r);
    assert_eq!(
        r["transports"],
        serde_json::json!(["websocket", "websocket", "websocket"]),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_local_requests_work_foreign_ones_fail_then_recover() {
    let mut redis = RedisServer::start();
    let owner = node(&redis, true);
    let other = node(&redis, true);
    let session = Session::open(owner.port()).await;
    let res = session.post(other.port(), "40").await;
    assert_eq!(
        res.status,
        200,
        "foreign POST while Redis is up: {}",
        res.text()
    );
    let res = session.get(owner.port()).await;
    assert!(res.text().contains("40{"), "{}", res.text());

    redis.stop();
    // Local requests do not need Redis.
    let res = session.post(owner.port(), "42[\"message\",1]").await;
    assert_eq!(res.status, 200, "local POST with Redis down");
    let res = session.get(owner.port()).await;
    assert_eq!(echoes(&res.text()), vec![1], "local GET with Redis down");
    // Foreign ones get the protocol's error, fast.
    let t = Instant::now();
    let res = session.post(other.port(), "42[\"message\",2]").await;
    assert_unknown_sid(&res, "foreign POST with Redis down");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    redis.restart();
    // Once both nodes have resubscribed, foreign requests work again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = session.post(other.port(), "42[\"message\",3]").await;
        if res.status == 200 {
            break;
        }
        assert_unknown_sid(&res, "foreign POST while Redis comes back");
        assert!(
            Instant::now() < deadline,
            "foreign requests did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = session.get(other.port()).await;
    assert_eq!(
        echoes(&res.text()),
        vec![3],
        "foreign GET after the restart"
    );
}

/// Our Socket.IO client with its cookie jar off, through the balancer: 200 events echoed in
/// order, acks both ways, binary.
async fn rust_client(transports: socketio_client::Transports) {
    use socketio_client::{Args, ClientBuilder, Event, Socket, Value as SioValue};
    protocol_tests::test_log::capture("warn,engine_io_client=trace,socketio_client=debug");
    let redis = RedisServer::start();
    let nodes = nodes(&redis, 3, true);
    let lb = Haproxy::round_robin(&ports(&nodes));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let disconnects = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let socket = ClientBuilder::new(lb.url())
        .transports(transports)
        .force_new(true)
        .cookie_jar(false)
        .reconnection(false)
        .connect_timeout(Duration::from_secs(10))
        .ack_timeout(Duration::from_secs(10))
        .on("message-back", move |event: Event, _s: Socket| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(event);
            }
        })
        .on("question", |event: Event, _s: Socket| async move {
            let n: i64 = event.arg(0).unwrap();
            n * 2
        })
        .on_disconnect({
            let disconnects = disconnects.clone();
            move |reason, _s| {
                disconnects.lock().push(reason);
                async {}
            }
        })
        .connect()
        .await
        .expect("connect through the round-robin balancer without cookies");
    for i in 0..200 {
        socket.emit("message", i).unwrap();
    }
    for i in 0..200 {
        let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("echo {i} did not arrive"))
            .unwrap();
        assert_eq!(event.arg::<i64>(0).unwrap(), i, "echoes in order");
    }
    let reply: (String, u64) = socket
        .emit_with_ack("message-with-ack", Args::new().arg("hello").arg(42))
        .unwrap()
        .await
        .unwrap();
    assert_eq!(reply, ("hello".to_owned(), 42));
    let asked: Value = socket
        .emit_with_ack("ask-client", Args::new().arg(("question", [21], 5000)))
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        asked["resp"],
        serde_json::json!([42]),
        "the server's ack came back through the cluster"
    );
    socket
        .emit("message", Bytes::from_static(b"\x00\x01\xfe\xff"))
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("binary echo")
        .unwrap();
    assert_eq!(
        event.args()[0],
        SioValue::Binary(Bytes::from_static(b"\x00\x01\xfe\xff"))
    );
    assert!(socket.connected());
    assert!(disconnects.lock().is_empty(), "{:?}", disconnects.lock());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_without_cookies_polling_only() {
    rust_client(socketio_client::Transports::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_without_cookies_polling_then_upgrade() {
    rust_client(socketio_client::Transports::Upgrade).await;
}

/// The Engine.IO upgrade of `session` over a WebSocket on `port`: the probe, then `5`.
async fn upgrade_on(port: u16, session: &Session) -> WsClient {
    let mut ws = open_ws(port, session).await;
    finish_upgrade(&mut ws).await;
    ws
}

async fn open_ws(port: u16, session: &Session) -> WsClient {
    let target = format!("/socket.io/?EIO=4&transport=websocket&sid={}", session.sid);
    WsClient::connect(port, &target, &[])
        .await
        .unwrap_or_else(|e| panic!("the upgrade on another node: {e:?}"))
}

async fn finish_upgrade(ws: &mut WsClient) {
    ws.send_text("2probe").await;
    assert_eq!(ws.recv_text().await, "3probe");
    ws.send_text("5").await;
}

/// Over the WebSocket: `message` for every number of `range`, then the echoes read until the
/// last one (other packets skipped); returns the echoes in the order they arrived.
async fn ws_exchange(ws: &mut WsClient, range: std::ops::Range<i64>) -> Vec<i64> {
    for i in range.clone() {
        ws.send_text(&format!("42[\"message\",{i}]")).await;
    }
    let mut got = Vec::new();
    while got.last() != Some(&(range.end - 1)) {
        got.extend(echoes(&ws.recv_text().await));
    }
    got
}

/// An ack over the WebSocket, then binary messages larger than a tunnel's window echoed whole.
async fn ws_ack_and_binary(ws: &mut WsClient) {
    ws.send_text(r#"421["message-with-ack","hello",42]"#).await;
    loop {
        let t = ws.recv_text().await;
        if t.starts_with("43") {
            assert_eq!(t, r#"431["hello",42]"#);
            break;
        }
    }
    for n in 0..4u8 {
        let data: Vec<u8> = (0..300 * 1024).map(|i| (i % 251) as u8 ^ n).collect();
        ws.send_text(r#"451-["message",{"_placeholder":true,"num":0}]"#)
            .await;
        ws.send_binary(&data).await;
        assert_eq!(
            ws.recv_text().await,
            r#"451-["message-back",{"_placeholder":true,"num":0}]"#
        );
        assert!(ws.recv_binary().await == data, "binary echo {n} whole");
    }
}

/// Nothing more arrives (no duplicate), pings aside.
async fn assert_quiet(ws: &mut WsClient) {
    while let Some(frame) = ws.recv_timeout(Duration::from_millis(300)).await {
        assert_eq!(frame, WsFrame::Text("2".into()), "nothing but pings");
        ws.send_text("3").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_upgrade_on_another_node_takes_the_session_over() {
    let redis = RedisServer::start();
    let owner = node(&redis, true);
    let others = nodes(&redis, 2, true);
    let [b, c] = [others[0].port(), others[1].port()];
    let session = Session::open(owner.port()).await;
    let opened = Instant::now();
    // The CONNECT reaches the owner while the connection is delayed: it is kept.
    let res = session.post(owner.port(), "40").await;
    assert_eq!((res.status, res.text()), (200, "ok".to_owned()));
    // The WebSocket reaches B within the delay: B takes the session over with the CONNECT.
    let mut ws = open_ws(b, &session).await;
    assert!(
        opened.elapsed() < Duration::from_millis(300),
        "the upgrade came late ({:?}): this test needs the takeover window",
        opened.elapsed()
    );
    // Polling requests sent before the switch reach the old owner by the sid's prefix (here
    // through C): it relays them to B, where the session now is.
    let res = session.post(c, "42[\"message\",0]").await;
    assert_eq!(
        (res.status, res.text()),
        (200, "ok".to_owned()),
        "relayed POST"
    );
    let mut connected = false;
    let mut got = Vec::new();
    while got.is_empty() {
        let res = session.get(c).await;
        assert_eq!(res.status, 200, "relayed GET: {}", res.text());
        connected |= res.text().split('\x1e').any(|p| p.starts_with("40{"));
        got.extend(echoes(&res.text()));
    }
    assert!(
        connected,
        "the CONNECT kept by the old owner was answered by B"
    );
    assert_eq!(got, vec![0]);
    finish_upgrade(&mut ws).await;
    assert_eq!(
        ws_exchange(&mut ws, 1..21).await,
        (1..21).collect::<Vec<_>>()
    );
    ws_ack_and_binary(&mut ws).await;
    // The session lives on B: the old owner's death changes nothing.
    drop(owner);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        ws_exchange(&mut ws, 21..41).await,
        (21..41).collect::<Vec<_>>()
    );
    assert_quiet(&mut ws).await;
    assert_healthy(others);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_upgrade_on_another_node_is_proxied() {
    let redis = RedisServer::start();
    let mut owner = node(&redis, true);
    let other = node(&redis, true);
    let session = Session::open(owner.port()).await;
    let res = session.post(owner.port(), "40").await;
    assert_eq!(res.status, 200);
    // Past the delay: the connection is emitted on the owner, which keeps the session.
    let res = session.get(owner.port()).await;
    assert!(res.text().contains("40{"), "{}", res.text());
    let res = session.post(owner.port(), "42[\"message\",0]").await;
    assert_eq!(res.status, 200);
    let res = session.get(other.port()).await;
    assert_eq!(
        echoes(&res.text()),
        vec![0],
        "a foreign poll before the upgrade"
    );
    let mut ws = upgrade_on(other.port(), &session).await;
    assert_eq!(
        ws_exchange(&mut ws, 1..101).await,
        (1..101).collect::<Vec<_>>()
    );
    ws_ack_and_binary(&mut ws).await;
    assert_quiet(&mut ws).await;
    // The session is still the owner's: the tunnel ends with it.
    let panics = owner.process().panics();
    assert!(panics.is_empty(), "{panics:?}");
    drop(owner);
    let (end, _) = ws
        .wait_closed(Duration::from_secs(5))
        .await
        .expect("the proxied WebSocket ends with its owner");
    assert!(
        matches!(end, WsFrame::Close(_) | WsFrame::Ended(_)),
        "{end:?}"
    );
    assert_healthy(vec![other]);
}
