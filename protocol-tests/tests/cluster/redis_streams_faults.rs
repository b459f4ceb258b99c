//! The Redis Streams adapter when things go wrong: a node killed with SIGKILL (its clients
//! recover elsewhere thanks to the live session records), Redis restarted mid-stream, a stream
//! trimmed past a client's offset, garbage in the stream and forged session records. Plus
//! recovery across nodes with our own client (`socketio-client`) behind a switching TCP proxy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::redis_support;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol_tests::redis::JsonNode;
use protocol_tests::{RedisServer, RustPeer};
use redis_support::RustServer;
use serde_json::{json, Value as Json};
use socketio_adapter::redis_streams::{wire, StreamId, StreamsAdapterConfig};
use socketio_adapter::{PersistedSession, RecoveryConfig};
use socketio_server::Value;

const WAIT: Duration = Duration::from_secs(5);

fn ok(reply: Json) -> Json {
    assert!(reply.get("error").is_none(), "{reply}");
    reply["result"].clone()
}

fn recovery() -> Option<RecoveryConfig> {
    Some(RecoveryConfig::default())
}

async fn ours(redis: &RedisServer, node: &'static str, config: StreamsAdapterConfig) -> RustServer {
    RustServer::start_streams(&redis.url(), node, config, recovery()).await
}

async fn wait_nodes(server: &RustServer, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.io.sockets().adapter().server_count().await.ok() != Some(n) {
        assert!(
            Instant::now() < deadline,
            "the cluster never reached {n} nodes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn connected(clients: &mut JsonNode, name: &str) -> Json {
    clients
        .wait_for(Duration::from_secs(10), |v| {
            v["client"] == name && v.get("connected").is_some()
        })
        .unwrap_or_else(|| panic!("{name} did not (re)connect"))
}

fn got(clients: &mut JsonNode, name: &str, event: &str) -> Json {
    clients
        .wait_for(WAIT, |v| v["client"] == name && v["event"] == event)
        .unwrap_or_else(|| panic!("{name} did not get {event}"))["args"]
        .clone()
}

fn events_of(clients: &mut JsonNode, name: &str, window: Duration) -> Vec<String> {
    clients
        .drain(window)
        .into_iter()
        .filter(|v| v["client"] == name && v.get("event").is_some())
        .map(|v| v["event"].as_str().unwrap().to_owned())
        .collect()
}

fn move_client(clients: &mut JsonNode, name: &str, url: &str) {
    ok(clients.command(json!({"op": "move", "client": name, "url": url}), WAIT));
}

/// The number of keys matching `pattern` (`KEYS`, fine on a test Redis).
fn keys(redis: &RedisServer, pattern: &str) -> usize {
    let reply = redis.command(&["KEYS", pattern]);
    reply
        .lines()
        .next()
        .and_then(|l| l.strip_prefix('*'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_of_a_sigkilled_node_recover_on_ours_and_on_node_js() {
    let redis = RedisServer::start();
    let r2 = ours(&redis, "R2", StreamsAdapterConfig::default()).await;
    let mut n = JsonNode::spawn(
        "redis-node-server.js",
        &[&redis.url(), "streams", "N", "recovery"],
    );
    let url = redis.url();
    let mut killed = RustPeer::spawn_example(
        "socketio-server",
        "bench_server",
        &["--port", "0", "--redis-streams", &url, "--recovery"],
    );
    let k_url = format!("http://127.0.0.1:{}", killed.port());
    wait_nodes(&r2, 3).await;
    let mut clients = JsonNode::spawn(
        "redis-clients.js",
        &[&json!([
            {"name": "p", "url": k_url, "reconnection": true},
            {"name": "x", "url": k_url, "reconnection": true},
        ])
        .to_string()],
    );
    let first_p = connected(&mut clients, "p");
    let first_x = connected(&mut clients, "x");
    for name in ["p", "x"] {
        ok(clients.command(
            json!({"op": "emit", "client": name, "event": "join", "args": ["bench"]}),
            WAIT,
        ));
    }
    // The live records appear while the clients are connected (batched, within a flush).
    let deadline = Instant::now() + WAIT;
    while keys(&redis, "sio:session:*") < 2 {
        assert!(Instant::now() < deadline, "no live session records");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    r2.io.to("bench").emit("before", &0).unwrap();
    got(&mut clients, "p", "before");
    got(&mut clients, "x", "before");
    // Rooms are written with the record: let the join's rewrite land.
    tokio::time::sleep(Duration::from_millis(600)).await;

    killed.process().pid();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &killed.process().pid().to_string()])
        .status();
    for name in ["p", "x"] {
        clients
            .wait_for(WAIT, |v| {
                v["client"] == name && v.get("disconnect").is_some()
            })
            .unwrap_or_else(|| panic!("{name} did not notice the crash"));
    }
    r2.io.to("bench").emit("m1", &1).unwrap();
    // `emit` queues its XADD; let it reach the stream before the npm node adds m2, or m2 can
    // enter the stream first and be replayed first (seen once in CI).
    tokio::time::sleep(Duration::from_millis(300)).await;
    ok(n.command(
        json!({"op": "broadcast", "rooms": ["bench"], "event": "m2", "args": [2]}),
        WAIT,
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    move_client(&mut clients, "p", &r2.url());
    move_client(&mut clients, "x", &n.url());
    let again_p = connected(&mut clients, "p");
    let again_x = connected(&mut clients, "x");
    assert_eq!(again_p["recovered"], true, "{again_p}");
    assert_eq!(again_x["recovered"], true, "{again_x}");
    assert_eq!(again_p["connected"], first_p["connected"]);
    assert_eq!(again_x["connected"], first_x["connected"]);
    let events = clients.drain(Duration::from_secs(1));
    for name in ["p", "x"] {
        let mine: Vec<&str> = events
            .iter()
            .filter(|v| v["client"] == name && v.get("event").is_some())
            .map(|v| v["event"].as_str().unwrap())
            .collect();
        assert_eq!(mine, ["m1", "m2"], "{name}: {events:?}");
    }
    // The rooms came back with the sessions.
    r2.io.to("bench").emit("after", &3).unwrap();
    got(&mut clients, "p", "after");
    got(&mut clients, "x", "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_restarted_mid_stream_readers_resume_without_reading_twice() {
    let mut redis = RedisServer::start();
    let r1 = ours(&redis, "R1", StreamsAdapterConfig::default()).await;
    let r2 = ours(&redis, "R2", StreamsAdapterConfig::default()).await;
    wait_nodes(&r1, 2).await;
    let mut clients = JsonNode::spawn(
        "redis-clients.js",
        &[&json!([{"name": "q", "url": r2.url(), "rooms": ["red"]}]).to_string()],
    );
    for i in 0..5 {
        r1.io.to("red").emit(&format!("a{i}"), &i).unwrap();
    }
    assert_eq!(
        events_of(&mut clients, "q", Duration::from_millis(700)),
        ["a0", "a1", "a2", "a3", "a4"]
    );
    redis.stop();
    // The gap: while Redis is away, a broadcast cannot be written; it fails at once (or is
    // dropped by the writer) and reaches no other node.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = r1.io.to("red").emit("lost", &());
    redis.restart();
    wait_nodes(&r1, 2).await;
    // Readers poll again with backoff (at most 1 s); give them time to be blocked in XREAD.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in 0..5 {
        r1.io.to("red").emit(&format!("b{i}"), &i).unwrap();
    }
    let after = events_of(&mut clients, "q", Duration::from_millis(1500));
    assert_eq!(
        after,
        ["b0", "b1", "b2", "b3", "b4"],
        "(the broadcast during the outage returned {during:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_trimmed_past_the_offset_gives_a_fresh_session() {
    let redis = RedisServer::start();
    let config = StreamsAdapterConfig::default().max_len(10);
    let r1 = ours(&redis, "R1", config.clone()).await;
    let r2 = ours(&redis, "R2", config).await;
    wait_nodes(&r1, 2).await;
    let mut clients = JsonNode::spawn(
        "redis-clients.js",
        &[
            &json!([{"name": "p", "url": r1.url(), "rooms": ["red"], "reconnection": true}])
                .to_string(),
        ],
    );
    let first = connected(&mut clients, "p");
    r1.io.to("red").emit("before", &0).unwrap();
    let offset = got(&mut clients, "p", "before")[1]
        .as_str()
        .unwrap()
        .to_owned();
    // Make sure the server saw the drop before the flood (so nothing reaches p live).
    move_client(&mut clients, "p", &r2.url());
    clients
        .wait_for(WAIT, |v| {
            v["client"] == "p" && v.get("disconnect").is_some()
        })
        .unwrap();
    r1.io.to("red").emit("missed", &1).unwrap();
    for i in 0..600 {
        r1.io.to("nobody").emit("flood", &i).unwrap();
    }
    // MAXLEN ~ trims whole nodes of 100 entries: the offset is gone once the flood is written.
    let deadline = Instant::now() + WAIT;
    loop {
        let reply = redis.command(&["XRANGE", "socket.io", &offset, &offset]);
        if reply.starts_with("*0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stream was not trimmed: {reply}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = connected(&mut clients, "p");
    assert_eq!(again["recovered"], false, "{again}");
    assert_ne!(again["connected"], first["connected"], "a fresh sid");
    let events = events_of(&mut clients, "p", Duration::from_millis(500));
    assert!(events.is_empty(), "nothing replayed: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_entries_and_forged_sessions_are_ignored() {
    let redis = RedisServer::start();
    let r1 = ours(&redis, "R1", StreamsAdapterConfig::default()).await;
    let r2 = ours(&redis, "R2", StreamsAdapterConfig::default()).await;
    let mut n = JsonNode::spawn(
        "redis-node-server.js",
        &[&redis.url(), "streams", "N", "recovery"],
    );
    wait_nodes(&r1, 3).await;
    let mut clients = JsonNode::spawn(
        "redis-clients.js",
        &[&json!([
            {"name": "p", "url": r1.url(), "rooms": ["red"], "reconnection": true},
            {"name": "q", "url": r2.url(), "rooms": ["red"]},
        ])
        .to_string()],
    );
    connected(&mut clients, "p");
    let q = connected(&mut clients, "q");
    let q_sid = q["connected"].as_str().unwrap().to_owned();
    r1.io.to("red").emit("before", &0).unwrap();
    let offset = got(&mut clients, "p", "before")[1]
        .as_str()
        .unwrap()
        .to_owned();
    got(&mut clients, "q", "before");
    move_client(&mut clients, "p", &r2.url());
    clients
        .wait_for(WAIT, |v| {
            v["client"] == "p" && v.get("disconnect").is_some()
        })
        .unwrap();

    // Garbage in the stream, between two real broadcasts.
    r1.io.to("red").emit("real1", &1).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let garbage: &[&[&str]] = &[
        &["nsp", "/", "type", "3", "data", "{not json"],
        &["nsp", "/", "type", "3", "data", "!!!not base64!!!"],
        &["nsp", "/", "type", "3", "data", "3q2+7w=="],
        &[
            "nsp",
            "/",
            "type",
            "3",
            "data",
            r#"{"packet":{"type":2,"data":"x"},"opts":7}"#,
        ],
        &[
            "nsp",
            "/",
            "type",
            "3",
            "data",
            r#"{"packet":{"type":99},"opts":{}}"#,
        ],
        &["nsp", "/", "type", "nope", "data", "{}"],
        &["nsp", "/", "type", "99999999999999999999999", "data", "{}"],
        &[
            "nsp",
            "/",
            "type",
            "4",
            "data",
            r#"{"opts":{"rooms":"red"},"rooms":[{"a":1}]}"#,
        ],
        &["nsp", "/", "type", "6", "data", r#"{"opts":null}"#],
        &["uid", "x"],
        &["nsp", "/nowhere", "type", "3", "data", "{}"],
    ];
    for fields in garbage {
        let mut args = vec!["XADD", "socket.io", "*"];
        args.extend_from_slice(fields);
        let reply = redis.command(&args);
        assert!(reply.starts_with('$'), "{reply}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    r1.io.to("red").emit("real2", &2).unwrap();
    // A recovery across the garbage replays the real broadcasts only.
    let again = connected(&mut clients, "p");
    assert_eq!(again["recovered"], true, "{again}");
    let all = clients.drain(Duration::from_millis(800));
    let of = |name: &str| -> Vec<&str> {
        all.iter()
            .filter(|v| v["client"] == name && v.get("event").is_some())
            .map(|v| v["event"].as_str().unwrap())
            .collect()
    };
    assert_eq!(of("p"), ["real1", "real2"]);
    // Every node still delivers (and survived: the Node.js node answers too).
    assert_eq!(of("q"), ["real1", "real2"]);
    assert_eq!(ok(n.command(json!({"op": "serverCount"}), WAIT)), 3);

    // Forged and bad session records, and bad offsets: each gives a fresh session.
    let set = |pid: &str, record: &str| {
        let key = format!("sio:session:{pid}");
        assert!(redis.command(&["SET", &key, record]).starts_with("+OK"));
    };
    let record = |sid: &str, pid: &str| {
        wire::encode_session(&PersistedSession {
            sid: sid.into(),
            pid: pid.into(),
            rooms: vec![sid.into(), "vip".into()],
            data: Value::from("forged"),
        })
    };
    set("forged-pid", &record("someone", "another-pid"));
    set("steals-q", &record(&q_sid, "steals-q"));
    set("garbage", "!!!");
    set("not-msgpack", "3q2+7w==");
    set("good", &record("good-sid", "good"));
    let cases = [
        ("forged", json!({"pid": "forged-pid", "offset": offset})),
        ("thief", json!({"pid": "steals-q", "offset": offset})),
        ("garbage", json!({"pid": "garbage", "offset": offset})),
        ("notmp", json!({"pid": "not-msgpack", "offset": offset})),
        ("badoffset", json!({"pid": "good", "offset": "not-an-id"})),
        (
            "hugeoffset",
            json!({"pid": "good", "offset": "99999999999999999999-0"}),
        ),
        ("unknown", json!({"pid": "no-such-pid", "offset": offset})),
        ("numbers", json!({"pid": 12, "offset": 13})),
    ];
    let specs: Vec<Json> = cases
        .iter()
        .map(|(name, auth)| json!({"name": name, "url": r2.url(), "auth": auth}))
        .collect();
    let mut bad = JsonNode::spawn("redis-clients.js", &[&Json::Array(specs).to_string()]);
    for (name, _) in &cases {
        let c = connected(&mut bad, name);
        assert_eq!(c["recovered"], false, "{name}: {c}");
        assert_ne!(c["connected"], q_sid.as_str(), "{name} got q's session");
        assert_ne!(c["connected"], "someone");
    }
    // q still has its session, alone.
    r2.io.to(q_sid.as_str()).emit("still-q", &()).unwrap();
    got(&mut clients, "q", "still-q");
    // A bad offset does not consume the record: the real owner can still use it.
    assert_eq!(keys(&redis, "sio:session:good"), 1);
    // Directly through the adapter: the same answers, never an error for bad input.
    let nsp = r2.io.sockets();
    let adapter = nsp.adapter();
    for (pid, off) in [("good", "x-1"), ("good", ""), ("", "1-1"), ("nope", "1-1")] {
        assert!(adapter.restore_session(pid, off).await.unwrap().is_none());
    }
    assert!(StreamId::parse(&offset).is_some());
}

/// A TCP proxy whose target can be switched, and whose connections can be cut: a load balancer
/// sending a reconnecting client to another node.
struct SwitchProxy {
    port: u16,
    target: Arc<AtomicU16>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl SwitchProxy {
    async fn start(target: u16) -> SwitchProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(AtomicU16::new(target));
        let conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (t, c) = (target.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let to = t.load(Ordering::SeqCst);
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", to)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                c.lock().unwrap().push(task.abort_handle());
            }
        });
        SwitchProxy {
            port,
            target,
            conns,
        }
    }

    /// Cuts every connection; new ones go to `target`.
    fn switch(&self, target: u16) {
        self.target.store(target, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

/// What our client received: `(event, args)`.
type EventLog = Arc<Mutex<Vec<(String, Vec<Value>)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recovery_across_nodes_with_our_client() {
    let redis = RedisServer::start();
    let r1 = ours(&redis, "R1", StreamsAdapterConfig::default()).await;
    let r2 = ours(&redis, "R2", StreamsAdapterConfig::default()).await;
    let mut n = JsonNode::spawn(
        "redis-node-server.js",
        &[&redis.url(), "streams", "N", "recovery"],
    );
    wait_nodes(&r1, 3).await;
    let proxy = SwitchProxy::start(r1.port).await;
    let events: EventLog = Arc::default();
    let log = events.clone();
    let socket = socketio_client::ClientBuilder::new(format!("http://127.0.0.1:{}", proxy.port))
        .auth(json!({"name": "ours", "rooms": ["red"]}))
        .transports(socketio_client::Transports::WebSocket)
        .reconnection_delay(Duration::from_millis(100))
        .on_any(
            move |event: socketio_client::Event, _s: socketio_client::Socket| {
                let log = log.clone();
                async move {
                    log.lock()
                        .unwrap()
                        .push((event.name().to_owned(), event.args().to_vec()));
                }
            },
        )
        .connect()
        .await
        .unwrap();
    let sid = socket.id().unwrap();
    let wait_events = |n: usize| {
        let events = events.clone();
        async move {
            let deadline = Instant::now() + WAIT;
            while events.lock().unwrap().len() < n {
                assert!(Instant::now() < deadline, "{:?}", events.lock().unwrap());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            std::mem::take(&mut *events.lock().unwrap())
        }
    };
    r1.io.to("red").emit("before", &0).unwrap();
    wait_events(1).await;

    // R1 -> R2, then R2 -> N: each time three broadcasts from the three nodes while away.
    for (hop, to) in [("a", r2.port), ("b", n.port())] {
        proxy.switch(to);
        let deadline = Instant::now() + WAIT;
        while socket.connected() {
            assert!(
                Instant::now() < deadline,
                "the client did not notice the cut"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        r1.io.to("red").emit(&format!("{hop}1"), &1).unwrap();
        r2.io.to("red").emit(&format!("{hop}2"), &2).unwrap();
        ok(n.command(
            json!({"op": "broadcast", "rooms": ["red"], "event": format!("{hop}3"), "args": [3]}),
            WAIT,
        ));
        let got = wait_events(3).await;
        assert!(socket.recovered(), "hop {hop}");
        assert_eq!(socket.id().unwrap(), sid);
        let mut names: Vec<&str> = got.iter().map(|(e, _)| e.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [format!("{hop}1"), format!("{hop}2"), format!("{hop}3")]
        );
        let offsets: Vec<StreamId> = got
            .iter()
            .map(|(_, a)| StreamId::parse(a.last().unwrap().as_str().unwrap()).unwrap())
            .collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]), "{got:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(events.lock().unwrap().is_empty(), "nothing twice");
    }
    socket.disconnect().await;
}
