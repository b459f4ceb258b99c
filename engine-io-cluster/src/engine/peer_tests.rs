//! Nodes over direct links, with a real redis-server: foreign requests
//! travel over the link, a lost link fails its requests at once and falls
//! back to Redis, hostile bytes on the peer port are dropped, and a session
//! handed over after its upgrade was given up is adopted, not lost, and a
//! link forged in a node's name cannot take that node's request ids.

use super::*;
use crate::message::Message;
use crate::peer::Side;
use crate::test_redis::Redis;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Node {
    cluster: ClusterEngine,
    port: u16,
}

/// A node on `redis` that echoes every message of its sessions.
async fn node(redis: &Redis, response_timeout: Duration) -> Node {
    let config = ClusterConfig {
        response_timeout,
        connect_delay: None,
        ..ClusterConfig::default()
    };
    node_with(redis, config).await
}

/// [`node`] with `config`.
async fn node_with(redis: &Redis, config: ClusterConfig) -> Node {
    let mut cluster = None;
    for _ in 0..100 {
        match ClusterEngine::connect(redis.url().as_str(), config.clone()).await {
            Ok(c) => {
                cluster = Some(c);
                break;
            }
            // redis-server is starting.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let cluster = cluster.expect("redis-server answers");
    let server = Server::new_stream(engine_io::Config::builder().cluster(cluster.hook()).build());
    cluster.attach(server.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener).await });
    tokio::spawn(async move {
        while let Some(socket) = server.accept().await {
            tokio::spawn(async move {
                while let Some(msg) = socket.recv().await {
                    if socket.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    Node { cluster, port }
}

/// One HTTP/1.1 request; the status and the body.
async fn http(port: u16, method: &str, target: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    (status, body.unwrap_or_default())
}

const PATH: &str = "/engine.io/?EIO=4&transport=polling";

async fn handshake(port: u16) -> String {
    let (status, body) = http(port, "GET", PATH, "").await;
    assert_eq!(status, 200, "{body}");
    let start = body.find("\"sid\":\"").expect("a sid") + 7;
    body[start..start + 28].to_owned()
}

async fn post(port: u16, sid: &str, body: &str) -> (u16, String) {
    http(port, "POST", &format!("{PATH}&sid={sid}"), body).await
}

async fn get(port: u16, sid: &str) -> (u16, String) {
    http(port, "GET", &format!("{PATH}&sid={sid}"), "").await
}

/// Waits (up to 10 s) for `cond`.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_requests_travel_over_the_direct_link_and_a_lost_link_falls_back_to_redis() {
    let redis = Redis::start();
    // A long timeout: a request failed fast is failed by the link, not the liveness check.
    let a = node(&redis, Duration::from_secs(5)).await;
    let b = node(&redis, Duration::from_secs(5)).await;
    let sid = handshake(a.port).await;
    // The first foreign request goes over Redis while B opens its link to A.
    assert_eq!(post(b.port, &sid, "4first").await, (200, "ok".into()));
    assert_eq!(get(b.port, &sid).await, (200, "4first".into()));
    until("B's link to A", || b.cluster.stats().links_opened == 1).await;

    let (sa, sb) = (a.cluster.stats(), b.cluster.stats());
    for i in 0..5 {
        let msg = format!("4hello {i}");
        assert_eq!(post(b.port, &sid, &msg).await, (200, "ok".into()));
        assert_eq!(get(b.port, &sid).await, (200, msg));
    }
    let (na, nb) = (a.cluster.stats(), b.cluster.stats());
    assert_eq!(
        nb.sent_direct - sb.sent_direct,
        10,
        "B's requests went direct"
    );
    assert_eq!(
        na.sent_direct - sa.sent_direct,
        10,
        "A's answers went direct"
    );
    assert_eq!(nb.sent_redis, sb.sent_redis, "nothing from B over Redis");
    assert_eq!(na.sent_redis, sa.sent_redis, "nothing from A over Redis");
    assert_eq!(na.served - sa.served, 10);

    // A long-poll waiting on A when B's link to A breaks fails at once.
    let port = b.port;
    let poll_sid = sid.clone();
    let poll = tokio::spawn(async move { get(port, &poll_sid).await });
    until("the poll to wait on A", || {
        b.cluster.inner.pending.len() == 1
    })
    .await;
    let killed = Instant::now();
    let peers = b.cluster.inner.peers.clone().expect("direct links");
    for link in peers.links() {
        assert_eq!(link.side(), Side::Opened);
        link.fail();
    }
    let (status, body) = poll.await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Session ID unknown"), "{body}");
    assert!(
        killed.elapsed() < Duration::from_secs(2),
        "failed by the link, not by the 5 s liveness check: {:?}",
        killed.elapsed()
    );
    // A saw its end close and dropped the poll, as when a client leaves
    // during a poll: the session is closed (its client got "Session ID
    // unknown" and starts another). The next session works over Redis.
    until("A to see the link end", || {
        a.cluster.stats().links_lost == 1
    })
    .await;
    assert_eq!(post(a.port, &sid, "4late").await.0, 400);
    let sid = handshake(a.port).await;
    let before = b.cluster.stats();
    assert_eq!(post(b.port, &sid, "4again").await, (200, "ok".into()));
    assert_eq!(get(b.port, &sid).await, (200, "4again".into()));
    let after = b.cluster.stats();
    assert_eq!(
        after.sent_redis - before.sent_redis,
        2,
        "fell back to Redis"
    );
    assert_eq!(after.sent_direct, before.sent_direct);
    // And a new link comes up for the next ones.
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.cluster.stats().links_opened < 2 {
        assert!(Instant::now() < deadline, "no new link");
        assert_eq!(post(b.port, &sid, "4x").await, (200, "ok".into()));
        assert_eq!(get(b.port, &sid).await, (200, "4x".into()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads until the node closes the connection (`true`), up to 10 s.
async fn closed_by_node(s: &mut TcpStream) -> bool {
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

fn hello(from: &str, to: NodeId) -> Vec<u8> {
    let mut h = b"EIOC\x01".to_vec();
    h.extend_from_slice(from.as_bytes());
    h.extend_from_slice(to.as_str().as_bytes());
    h
}

fn frame(msg: &[u8]) -> Vec<u8> {
    let mut f = (msg.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(msg);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bytes_on_the_peer_port_are_dropped() {
    let redis = Redis::start();
    let a = node(&redis, Duration::from_secs(1)).await;
    let id = a.cluster.node_id();
    let addr = a.cluster.inner.peers.as_ref().expect("direct links").addr();

    // Garbage for a hello, a hello meant for another node, and none at all.
    for junk in [
        vec![0xff; 64],
        hello("forged01", NodeId::parse("other001").unwrap()),
        hello(id.as_str(), id),
    ] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&junk).await.unwrap();
        assert!(closed_by_node(&mut s).await, "{junk:?}");
    }
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_by_node(&mut silent).await,
        "a link that never says hello"
    );

    // A forged link: what does not fit it is garbage; a request gets its own answer only.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&hello("forged01", id)).await.unwrap();
    let mut echo = [0u8; 21];
    s.read_exact(&mut echo).await.unwrap();
    assert_eq!(
        &echo[..],
        &hello(id.as_str(), NodeId::parse("forged01").unwrap())[..]
    );
    let garbage = a.cluster.stats().garbage;
    let forged = NodeId::parse("forged01").unwrap();
    let other = NodeId::parse("other001").unwrap();
    let answer = Message {
        from: forged,
        id: 1,
        body: Body::Response {
            status: 200,
            headers: crate::message::HeaderBlock::default(),
            body: Bytes::from_static(b"6"),
        },
    };
    let request = |from: NodeId, sid: &str| Message {
        from,
        id: 7,
        body: Body::Request {
            method: Method::Get,
            uri: Bytes::from(format!("{PATH}&sid={sid}")),
            headers: crate::message::HeaderBlock::default(),
            body: Bytes::new(),
        },
    };
    let foreign_sid = format!("{other}{}", "a".repeat(20));
    for bytes in [
        answer.encode().to_vec(),
        request(other, &foreign_sid).encode().to_vec(),
        b"garbage".to_vec(),
    ] {
        s.write_all(&frame(&bytes)).await.unwrap();
    }
    until("three garbage messages", || {
        a.cluster.stats().garbage == garbage + 3
    })
    .await;
    // A request for a session another node owns: "Session ID unknown", on this link.
    s.write_all(&frame(&request(forged, &foreign_sid).encode()))
        .await
        .unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await.unwrap();
    let mut msg = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut msg).await.unwrap();
    let msg = Message::decode(Bytes::from(msg)).unwrap();
    assert_eq!((msg.from, msg.id), (id, 7));
    assert!(
        matches!(msg.body, Body::Response { status: 400, .. }),
        "{:?}",
        msg.body
    );
    // An oversized frame ends the link.
    s.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    assert!(closed_by_node(&mut s).await);

    // The node still serves.
    let sid = handshake(a.port).await;
    assert_eq!(post(a.port, &sid, "4ok").await, (200, "ok".into()));
    assert_eq!(get(a.port, &sid).await, (200, "4ok".into()));
}

/// The status of a WebSocket upgrade request for `sid` on `port`.
async fn upgrade_status(port: u16, sid: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!(
        "GET /engine.io/?EIO=4&transport=websocket&sid={sid} HTTP/1.1\r\nHost: x\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await.unwrap();
    std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_handed_over_after_its_upgrade_was_given_up_is_adopted() {
    let redis = Redis::start();
    // Young sessions (a long connect delay) are handed over. B gives up on
    // an upgrade after 300 ms; A waits for Redis for up to 3 s.
    let config = |response_timeout| ClusterConfig {
        response_timeout,
        connect_delay: Some(Duration::from_secs(5)),
        ..ClusterConfig::default()
    };
    let a = node_with(&redis, config(Duration::from_secs(3))).await;
    let b = node_with(&redis, config(Duration::from_millis(300))).await;
    let sid = handshake(a.port).await;
    assert_eq!(post(b.port, &sid, "4first").await, (200, "ok".into()));
    until("B's link to A", || b.cluster.stats().links_opened == 1).await;

    // A asks Redis whether B is alive before it hands the session over:
    // with Redis stopped for 800 ms, A's handover comes after B gave up.
    redis.signal("-STOP");
    let started = Instant::now();
    let status = upgrade_status(b.port, &sid).await;
    let refused_after = started.elapsed();
    tokio::time::sleep(Duration::from_millis(800).saturating_sub(refused_after)).await;
    redis.signal("-CONT");
    assert_eq!(status, 400, "B gave up the upgrade");
    assert!(
        refused_after < Duration::from_millis(800),
        "{refused_after:?}"
    );
    until("A's handover", || a.cluster.stats().handed_over == 1).await;
    until("B to adopt the session", || {
        b.cluster.stats().taken_over == 1
    })
    .await;

    // The client goes on polling: A relays its requests to B, which serves
    // the session with its first message delivered.
    assert_eq!(post(a.port, &sid, "4again").await, (200, "ok".into()));
    let (status, body) = get(a.port, &sid).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("4first") && body.contains("4again"), "{body}");
    assert_eq!(b.cluster.stats().lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_link_cannot_take_the_request_ids_of_the_node_it_claims_to_be() {
    let redis = Redis::start();
    let a = node(&redis, Duration::from_secs(1)).await;
    let b = node(&redis, Duration::from_secs(1)).await;
    let (a_id, b_id) = (a.cluster.node_id(), b.cluster.node_id());
    let addr = a.cluster.inner.peers.as_ref().expect("direct links").addr();
    // A link in B's name holds B's first request ids with long-polls on A
    // (one session each: a second GET on a session would close it).
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&hello(b_id.as_str(), a_id)).await.unwrap();
    let mut echo = [0u8; 21];
    s.read_exact(&mut echo).await.unwrap();
    for id in 1..=4 {
        let held = handshake(a.port).await;
        let poll = Message {
            from: b_id,
            id,
            body: Body::Request {
                method: Method::Get,
                uri: Bytes::from(format!("{PATH}&sid={held}")),
                headers: crate::message::HeaderBlock::default(),
                body: Bytes::new(),
            },
        };
        s.write_all(&frame(&poll.encode())).await.unwrap();
    }
    until("the forged polls to wait on A", || {
        a.cluster.inner.running.lock().len() == 4
    })
    .await;
    // B's own requests (ids 1, 2, ...) are served all the same.
    let sid = handshake(a.port).await;
    for i in 0..3 {
        let msg = format!("4real {i}");
        assert_eq!(post(b.port, &sid, &msg).await, (200, "ok".into()));
        assert_eq!(get(b.port, &sid).await, (200, msg));
    }
    assert_eq!(a.cluster.stats().dropped, 0);
}
