//! Raw Socket.IO v5 frames over real WebSocket / HTTP connections against our server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use socketio_server::{
    AckError, AckSender, Args, ConnectError, Data, DisconnectReason, FromAck, RecoveryConfig,
    SocketIo, SocketRef, Value,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

const STEP: Duration = Duration::from_secs(5);

async fn start(io: &SocketIo) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let io = io.clone();
    tokio::spawn(async move { io.serve(listener).await });
    port
}

struct Client {
    ws: WebSocketStream<TcpStream>,
}

impl Client {
    async fn open(port: u16, eio: u8) -> (Self, String) {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO={eio}&transport=websocket");
        let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
        let mut c = Client { ws };
        let open = c.recv().await.expect("open packet");
        assert!(open.starts_with("0{"), "{open}");
        (c, open)
    }

    async fn send(&mut self, text: &str) {
        self.ws.send(WsMessage::text(text)).await.unwrap();
    }

    async fn send_binary(&mut self, data: &[u8]) {
        self.ws
            .send(WsMessage::binary(data.to_vec()))
            .await
            .unwrap();
    }

    /// The next Engine.IO text message (answering pings); `None` when the connection closed.
    async fn recv(&mut self) -> Option<String> {
        loop {
            let msg = tokio::time::timeout(STEP, self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match msg {
                Some(Ok(WsMessage::Text(t))) => {
                    let t = t.to_string();
                    if t == "2" {
                        self.send("3").await;
                        continue;
                    }
                    return Some(t);
                }
                Some(Ok(WsMessage::Binary(b))) => return Some(format!("<bin {}>", hex(&b))),
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next Socket.IO packet (Engine.IO message packets only, prefix `4` removed).
    async fn packet(&mut self) -> Option<String> {
        loop {
            let m = self.recv().await?;
            if let Some(p) = m.strip_prefix('4') {
                return Some(p.to_owned());
            }
            if m.starts_with("<bin") {
                return Some(m);
            }
            if m == "1" {
                return None;
            }
        }
    }

    async fn expect_closed(&mut self) {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "connection not closed"
            );
            match self.recv().await {
                None => return,
                Some(m) if m == "1" => return,
                Some(_) => {}
            }
        }
    }

    /// Joins the default namespace and gives the socket id.
    async fn connect_sid(&mut self) -> String {
        let reply = self.connect("").await;
        reply.get("sid").and_then(Value::as_str).unwrap().to_owned()
    }

    async fn connect(&mut self, nsp_and_payload: &str) -> Value {
        self.send(&format!("40{nsp_and_payload}")).await;
        let p = self.packet().await.expect("connect reply");
        assert!(p.starts_with('0'), "{p}");
        let json = &p[p.find('{').expect("payload")..];
        serde_json::from_str::<serde_json::Value>(json)
            .unwrap()
            .into()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn conformance_server() -> SocketIo {
    let io = SocketIo::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_millis(1000))
        .build();
    io.ns("/", |socket: SocketRef| async move {
        let _ = socket.emit("auth", &socket.handshake().auth);
        socket.on("message", |s: SocketRef, Args(args): Args| async move {
            let _ = s.emit("message-back", Args(args));
        });
        socket.on(
            "message-with-ack",
            |Args(args): Args, ack: AckSender| async move {
                let _ = ack.send(Args(args));
            },
        );
    });
    io.ns("/custom", |socket: SocketRef| async move {
        let _ = socket.emit("auth", &socket.handshake().auth);
    });
    io
}

#[tokio::test]
async fn connect_emit_echo_and_ack() {
    let io = conformance_server();
    let port = start(&io).await;
    let (mut c, _) = Client::open(port, 4).await;
    let reply = c.connect(r#"{"token":"abc"}"#).await;
    let sid = reply.get("sid").and_then(Value::as_str).unwrap().to_owned();
    assert_eq!(sid.len(), 20);
    assert_eq!(c.packet().await.unwrap(), r#"2["auth",{"token":"abc"}]"#);
    c.send(r#"42["message",1,"two",{"three":3}]"#).await;
    assert_eq!(
        c.packet().await.unwrap(),
        r#"2["message-back",1,"two",{"three":3}]"#
    );
    c.send(r#"4213["message-with-ack",1,"two"]"#).await;
    assert_eq!(c.packet().await.unwrap(), r#"313[1,"two"]"#);
    // Binary in, binary out.
    c.send(r#"451-["message",{"_placeholder":true,"num":0}]"#)
        .await;
    c.send_binary(&[1, 2, 3]).await;
    assert_eq!(
        c.packet().await.unwrap(),
        r#"51-["message-back",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(c.packet().await.unwrap(), "<bin 010203>");
    // Multiplexing: a second namespace over the same connection.
    let custom = c.connect("/custom,").await;
    assert!(custom.get("sid").is_some());
    assert_eq!(c.packet().await.unwrap(), r#"2/custom,["auth",{}]"#);
    assert_eq!(io.sockets().len(), 1);
    assert_eq!(io.of("/custom").unwrap().len(), 1);
}

#[tokio::test]
async fn invalid_namespace_and_bad_input_close() {
    let io = conformance_server();
    let port = start(&io).await;
    let (mut c, _) = Client::open(port, 4).await;
    c.send("40/nope,").await;
    assert_eq!(
        c.packet().await.unwrap(),
        r#"4/nope,{"message":"Invalid namespace"}"#
    );
    // Still usable after a refused namespace.
    c.connect("").await;

    // A parser violation closes the connection.
    let (mut bad, _) = Client::open(port, 4).await;
    bad.connect("").await;
    bad.send(r#"42["message""#).await;
    bad.expect_closed().await;

    // A packet for a namespace that was not joined closes the connection.
    let (mut bad, _) = Client::open(port, 4).await;
    bad.connect("").await;
    bad.send(r#"42/custom,["message"]"#).await;
    bad.expect_closed().await;

    // A second CONNECT for a joined namespace closes the connection.
    let (mut bad, _) = Client::open(port, 4).await;
    bad.connect("").await;
    bad.send("40").await;
    bad.expect_closed().await;

    // A reserved event name closes the connection.
    let (mut bad, _) = Client::open(port, 4).await;
    bad.connect("").await;
    bad.send(r#"42["disconnect"]"#).await;
    bad.expect_closed().await;
}

#[tokio::test]
async fn connect_timeout_closes_idle_connections() {
    let io = conformance_server();
    let port = start(&io).await;
    let (mut c, _) = Client::open(port, 4).await;
    let started = tokio::time::Instant::now();
    c.expect_closed().await;
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn middleware_refusal_is_a_connect_error_with_data() {
    let io = SocketIo::new();
    io.use_middleware(|socket: SocketRef| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if socket.handshake().auth.get("token").is_some() {
            socket.extensions().insert(42u32);
            Ok(())
        } else {
            Err(ConnectError::new("not authorized").with_data(serde_json::json!({"code": 401})))
        }
    });
    io.ns("/", |socket: SocketRef| async move {
        let n = socket.extensions().get::<u32>().unwrap_or(0);
        let _ = socket.emit("ext", &n);
    });
    let port = start(&io).await;
    let (mut c, _) = Client::open(port, 4).await;
    c.send("40").await;
    assert_eq!(
        c.packet().await.unwrap(),
        r#"4{"message":"not authorized","data":{"code":401}}"#
    );
    c.connect(r#"{"token":1}"#).await;
    assert_eq!(c.packet().await.unwrap(), r#"2["ext",42]"#);
}

#[tokio::test]
async fn rooms_broadcast_except_and_disconnect_reasons() {
    let io = SocketIo::new();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let r2 = reasons.clone();
    io.ns("/", move |socket: SocketRef| {
        let reasons = r2.clone();
        async move {
            socket.on(
                "join",
                |s: SocketRef, Data(room): Data<String>| async move {
                    s.join(room);
                    let _ = s.emit("joined", &());
                },
            );
            socket.on(
                "shout",
                |s: SocketRef, Data(room): Data<String>| async move {
                    let _ = s.to(room).emit("shout", s.id());
                },
            );
            socket.on(
                "all-but",
                |s: SocketRef, Data(room): Data<String>| async move {
                    let _ = s.ns_broadcast_except(room);
                },
            );
            socket.on_disconnect(move |_s: SocketRef, reason: DisconnectReason| {
                let reasons = reasons.clone();
                async move { reasons.lock().unwrap().push(reason) }
            });
        }
    });
    let port = start(&io).await;
    let mut clients = Vec::new();
    let mut sids = Vec::new();
    for _ in 0..3 {
        let (mut c, _) = Client::open(port, 4).await;
        let r = c.connect("").await;
        sids.push(r.get("sid").and_then(Value::as_str).unwrap().to_owned());
        clients.push(c);
    }
    // 0 and 1 join "a"; 2 joins "b".
    for (i, room) in [(0, "a"), (1, "a"), (2, "b")] {
        clients[i].send(&format!(r#"42["join","{room}"]"#)).await;
        assert_eq!(clients[i].packet().await.unwrap(), r#"2["joined",null]"#);
    }
    // 0 shouts to "a": only 1 gets it (the sender is excluded).
    clients[0].send(r#"42["shout","a"]"#).await;
    assert_eq!(
        clients[1].packet().await.unwrap(),
        format!(r#"2["shout","{}"]"#, sids[0])
    );
    // Server-side broadcast to every socket except room "a": only 2.
    io.except("a").emit("news", &"x").unwrap();
    assert_eq!(clients[2].packet().await.unwrap(), r#"2["news","x"]"#);
    // to(a, b) except b: 0 and 1.
    io.to(["a", "b"]).except("b").emit("ab", &1).unwrap();
    assert_eq!(clients[0].packet().await.unwrap(), r#"2["ab",1]"#);
    assert_eq!(clients[1].packet().await.unwrap(), r#"2["ab",1]"#);
    // Nothing else was queued for 2: the next thing it sees is this.
    io.to(sids[2].as_str()).emit("direct", &2).unwrap();
    assert_eq!(clients[2].packet().await.unwrap(), r#"2["direct",2]"#);

    // fetch_sockets / sockets_join through the adapter.
    let in_a = io.to("a").fetch_sockets().await.unwrap();
    assert_eq!(in_a.len(), 2);
    io.to("b").sockets_join("c").await.unwrap();
    io.to("c").emit("in-c", &()).unwrap();
    assert_eq!(clients[2].packet().await.unwrap(), r#"2["in-c",null]"#);
    // The other argument shapes of `IntoArgs`: `()` is no argument, `Args` several, a `&str`
    // one (and `&()` above stays one `null`, as before `emit` took `IntoArgs`).
    io.to("c").emit("none", ()).unwrap();
    assert_eq!(clients[2].packet().await.unwrap(), r#"2["none"]"#);
    let two = socketio_server::Args::new().arg("x").arg(2);
    io.to("c").emit("two", two).unwrap();
    assert_eq!(clients[2].packet().await.unwrap(), r#"2["two","x",2]"#);
    io.to("c").emit("str", "y").unwrap();
    assert_eq!(clients[2].packet().await.unwrap(), r#"2["str","y"]"#);

    // Client namespace disconnect, then server-side disconnect.
    clients[0].send("41").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    io.to(sids[1].as_str())
        .disconnect_sockets(false)
        .await
        .unwrap();
    assert_eq!(clients[1].packet().await.unwrap(), "1");
    // A clean WebSocket close from the client.
    let mut last = clients.pop().unwrap();
    last.ws.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reasons = reasons.lock().unwrap().clone();
    assert_eq!(
        reasons,
        vec![
            DisconnectReason::ClientNamespaceDisconnect,
            DisconnectReason::ServerNamespaceDisconnect,
            DisconnectReason::TransportClose
        ]
    );
    assert_eq!(io.sockets().len(), 0);
}

trait NsBroadcastExcept {
    fn ns_broadcast_except(&self, room: String) -> Result<(), socketio_server::EmitError>;
}

impl NsBroadcastExcept for SocketRef {
    fn ns_broadcast_except(&self, room: String) -> Result<(), socketio_server::EmitError> {
        self.except(room).emit("all-but", &())
    }
}

#[tokio::test]
async fn events_are_dispatched_in_order_and_panics_are_contained() {
    let io = SocketIo::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    io.ns("/", move |socket: SocketRef| {
        let log = l2.clone();
        async move {
            let log2 = log.clone();
            socket.on("n", move |Data(n): Data<u32>| {
                let log = log2.clone();
                async move {
                    log.lock().unwrap().push(n);
                    if n % 7 == 0 {
                        // Slow handlers must not let later events overtake their start.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            });
            socket.on(
                "boom",
                |_s: SocketRef| async move { panic!("handler panic") },
            );
            socket.on("ping", |ack: AckSender| async move {
                let _ = ack.send(&"pong");
            });
        }
    });
    let port = start(&io).await;
    let (mut c, _) = Client::open(port, 4).await;
    c.connect("").await;
    for n in 0..200 {
        c.send(&format!(r#"42["n",{n}]"#)).await;
    }
    c.send(r#"42["boom"]"#).await;
    c.send(r#"421["ping"]"#).await;
    assert_eq!(c.packet().await.unwrap(), r#"31["pong"]"#);
    assert_eq!(*log.lock().unwrap(), (0..200).collect::<Vec<_>>());
}

#[tokio::test]
async fn acks_both_ways_and_broadcast_with_ack() {
    let (io, port) = ack_server(Duration::from_millis(500)).await;
    let (mut a, _) = Client::open(port, 4).await;
    let (mut b, _) = Client::open(port, 4).await;
    let sid_a = a.connect_sid().await;
    b.connect("").await;

    // Server asks one socket, the client answers.
    let socket = io.sockets().get_socket(&sid_a).unwrap();
    let ack = socket.emit_with_ack::<_, String>("question", &1).unwrap();
    let answer = tokio::spawn(async move { ack.timeout(Duration::from_secs(2)).await });
    let p = a.packet().await.unwrap();
    assert!(
        p.starts_with('2') && p.ends_with(r#"["question",1]"#),
        "{p}"
    );
    let id: String = p[1..].chars().take_while(char::is_ascii_digit).collect();
    a.send(&format!(r#"43{id}["yes"]"#)).await;
    assert_eq!(answer.await.unwrap().unwrap(), "yes");

    // Broadcast with ack: one answer per socket.
    let io2 = io.clone();
    let all = tokio::spawn(async move {
        io2.timeout(Duration::from_secs(2))
            .emit_with_ack::<_, u32>("count", &())
            .unwrap()
            .await
    });
    for (c, n) in [(&mut a, 1), (&mut b, 2)] {
        let p = c.packet().await.unwrap();
        let id: String = p[1..].chars().take_while(char::is_ascii_digit).collect();
        c.send(&format!("43{id}[{n}]")).await;
    }
    let mut got = all.await.unwrap().unwrap();
    got.sort_unstable();
    assert_eq!(got, vec![1, 2]);

    // A socket that never answers: timeout.
    let err = io
        .timeout(Duration::from_millis(200))
        .emit_with_ack::<_, u32>("count", &())
        .unwrap()
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "operation has timed out");
}

/// A broadcast with ack read as a stream keeps the answers that came, and names the sockets
/// that were late or left.
#[tokio::test]
async fn broadcast_ack_stream_keeps_partial_answers() {
    let io = SocketIo::builder().build();
    io.ns("/", |_socket: SocketRef| async move {});
    let port = start(&io).await;
    let mut clients = Vec::new();
    let mut sids = Vec::new();
    for _ in 0..3 {
        let (mut c, _) = Client::open(port, 4).await;
        let sid = c.connect_sid().await;
        clients.push(c);
        sids.push(sid);
    }
    let mut acks = io
        .timeout(Duration::from_millis(400))
        .emit_with_ack::<_, u32>("count", &())
        .unwrap();
    let started = tokio::time::Instant::now();
    // The first answers, the second leaves, the third stays silent.
    let id = ack_id(&clients[0].packet().await.unwrap());
    clients[0].send(&format!("43{id}[7]")).await;
    let _ = clients[1].packet().await.unwrap();
    clients[1].send("41").await;
    let _ = clients[2].packet().await.unwrap();

    let mut got = Vec::new();
    while let Some((sid, answer)) = acks.next().await {
        got.push((
            sid.map(|s| s.to_string()),
            answer.map_err(|e| e.to_string()),
            started.elapsed(),
        ));
    }
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(
        (got[0].0.as_deref(), got[0].1.clone()),
        (Some(sids[0].as_str()), Ok(7))
    );
    assert_eq!(
        (got[1].0.as_deref(), got[1].1.clone()),
        (
            Some(sids[1].as_str()),
            Err("socket has been disconnected".to_owned())
        )
    );
    assert!(
        got[1].2 < Duration::from_millis(400),
        "a socket that leaves is reported at once"
    );
    assert_eq!(
        (got[2].0.as_deref(), got[2].1.clone()),
        (
            Some(sids[2].as_str()),
            Err("operation has timed out".to_owned())
        )
    );
    assert!(
        got[2].2 >= Duration::from_millis(400),
        "the late one at the timeout"
    );

    // Everybody answers: the stream ends as soon as the last answer is in.
    let mut acks = io
        .timeout(Duration::from_secs(5))
        .emit_with_ack::<_, u32>("count", &())
        .unwrap();
    for (n, i) in [0usize, 2].into_iter().enumerate() {
        let id = ack_id(&clients[i].packet().await.unwrap());
        clients[i].send(&format!("43{id}[{n}]")).await;
    }
    let started = tokio::time::Instant::now();
    let mut answers: Vec<u32> = Vec::new();
    while let Some((_, answer)) = acks.next().await {
        answers.push(answer.unwrap());
    }
    answers.sort_unstable();
    assert_eq!(answers, vec![0, 1]);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn eio3_clients_are_connected_to_the_main_namespace() {
    let io = SocketIo::builder().allow_eio3(true).build();
    io.ns("/", |socket: SocketRef| async move {
        let _ = socket.emit("hello", socket.id());
    });
    io.ns("/custom", |socket: SocketRef| async move {
        let _ = socket.emit("auth", &socket.handshake().auth);
    });
    let port = start(&io).await;
    let (mut c, open) = Client::open(port, 3).await;
    let open: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    let eio_sid = open["sid"].as_str().unwrap().to_owned();
    assert_eq!(c.packet().await.unwrap(), "0");
    assert_eq!(
        c.packet().await.unwrap(),
        format!(r#"2["hello","{eio_sid}"]"#)
    );
    c.send("40/custom?token=abc,").await;
    assert_eq!(c.packet().await.unwrap(), "0/custom,");
    assert_eq!(
        c.packet().await.unwrap(),
        r#"2/custom,["auth",{"token":"abc"}]"#
    );
}

#[tokio::test]
async fn dynamic_namespaces_inherit_and_parent_broadcasts() {
    let io = SocketIo::new();
    let parent = io
        .dynamic_ns(r"^/dyn-\d+$", |socket: SocketRef| async move {
            let _ = socket.emit("ns", socket.ns_name());
        })
        .unwrap();
    parent.use_middleware(|socket: SocketRef| async move {
        if socket.ns_name() == "/dyn-13" {
            Err(ConnectError::new("unlucky"))
        } else {
            Ok(())
        }
    });
    let port = start(&io).await;
    let (mut c, _) = Client::open(port, 4).await;
    c.connect("/dyn-1,").await;
    assert_eq!(c.packet().await.unwrap(), r#"2/dyn-1,["ns","/dyn-1"]"#);
    c.connect("/dyn-2,").await;
    assert_eq!(c.packet().await.unwrap(), r#"2/dyn-2,["ns","/dyn-2"]"#);
    c.send("40/dyn-13,").await;
    assert_eq!(
        c.packet().await.unwrap(),
        r#"4/dyn-13,{"message":"unlucky"}"#
    );
    c.send("40/other,").await;
    assert_eq!(
        c.packet().await.unwrap(),
        r#"4/other,{"message":"Invalid namespace"}"#
    );
    assert_eq!(parent.children().len(), 3);
    parent.emit("all", &1).unwrap();
    let mut got = vec![c.packet().await.unwrap(), c.packet().await.unwrap()];
    got.sort();
    assert_eq!(got, vec![r#"2/dyn-1,["all",1]"#, r#"2/dyn-2,["all",1]"#]);
}

#[tokio::test]
async fn connection_state_recovery_replays_missed_events() {
    let io = SocketIo::builder()
        .connection_state_recovery(RecoveryConfig::default())
        .build();
    let recovered = Arc::new(AtomicUsize::new(0));
    let r2 = recovered.clone();
    io.ns("/", move |socket: SocketRef| {
        let recovered = r2.clone();
        async move {
            if socket.recovered() {
                recovered.fetch_add(1, Ordering::SeqCst);
            } else {
                socket.join("room");
                let _ = socket.set_data(&"state");
            }
        }
    });
    let port = start(&io).await;
    let (mut c, _) = Client::open(port, 4).await;
    let reply = c.connect("").await;
    let sid = reply.get("sid").and_then(Value::as_str).unwrap().to_owned();
    let pid = reply.get("pid").and_then(Value::as_str).unwrap().to_owned();
    io.to("room").emit("e", &1).unwrap();
    let p = c.packet().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&p[1..]).unwrap();
    assert_eq!(v[0], "e");
    assert_eq!(v[1], 1);
    let offset = v[2].as_str().unwrap().to_owned();
    // Lose the transport, miss two events.
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    io.to("room").emit("e", &2).unwrap();
    io.emit("e", &3).unwrap();
    let (mut c, _) = Client::open(port, 4).await;
    let reply = c
        .connect(&format!(r#"{{"pid":"{pid}","offset":"{offset}"}}"#))
        .await;
    assert_eq!(reply.get("sid").and_then(Value::as_str), Some(sid.as_str()));
    for n in [2, 3] {
        let p = c.packet().await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&p[1..]).unwrap();
        assert_eq!((v[0].as_str(), v[1].as_u64()), (Some("e"), Some(n)));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(recovered.load(Ordering::SeqCst), 1);
    let socket = io.sockets().get_socket(&sid).unwrap();
    assert!(socket.rooms().contains("room"));
    assert_eq!(socket.data::<String>().unwrap(), "state");
}

/// Over polling nobody drains the queue until the next GET: a full queue is deterministic.
/// A 1-byte cap takes one packet into the empty queue and nothing more.
#[tokio::test]
async fn full_queue_disconnects_the_slow_client_and_drops_volatile() {
    let io = SocketIo::builder().max_buffered_bytes(1).build();
    let (socket, reason) = slow_polling_client(&io).await;
    socket.emit("fill", &0).unwrap();
    // Volatile: dropped, the client stays.
    socket.volatile().emit("v", &()).unwrap();
    assert!(socket.connected());
    // Not volatile: the slow client is disconnected with a reason.
    let _ = socket.emit("overflow", &());
    assert!(!socket.connected());
    assert_eq!(
        *reason.lock().unwrap(),
        Some(DisconnectReason::SlowConsumer)
    );
}

/// The same policy when the packet comes from a broadcast (delivered to all recipients in one
/// pass, the policy applied after it).
#[tokio::test]
async fn a_broadcast_to_a_full_queue_disconnects_the_slow_client_and_drops_volatile() {
    let io = SocketIo::builder().max_buffered_bytes(1).build();
    let (socket, reason) = slow_polling_client(&io).await;
    io.emit("fill", &0).unwrap();
    io.volatile().emit("v", &()).unwrap();
    assert!(socket.connected());
    io.emit("overflow", &()).unwrap();
    assert!(!socket.connected());
    assert_eq!(
        *reason.lock().unwrap(),
        Some(DisconnectReason::SlowConsumer)
    );
    assert!(io.sockets().sockets().is_empty());
}

/// A polling client connected to `/` that reads nothing after its CONNECT reply, and where its
/// disconnect reason is recorded.
async fn slow_polling_client(io: &SocketIo) -> (SocketRef, Arc<Mutex<Option<DisconnectReason>>>) {
    let reason = Arc::new(Mutex::new(None));
    let r2 = reason.clone();
    io.ns("/", move |socket: SocketRef| {
        let reason = r2.clone();
        async move {
            socket.on_disconnect(move |_s: SocketRef, r: DisconnectReason| {
                let reason = reason.clone();
                async move { *reason.lock().unwrap() = Some(r) }
            });
        }
    });
    let port = start(io).await;
    let open = http(port, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    let sid = open.split(r#""sid":""#).nth(1).unwrap()[..20].to_owned();
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(http(port, "POST", &path, "40").await, "ok");
    let reply = http(port, "GET", &path, "").await;
    assert!(reply.starts_with("40{"), "{reply}");
    let socket = io.sockets().sockets().pop().unwrap();
    (socket, reason)
}

async fn http(port: u16, method: &str, path: &str, body: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(STEP, tcp.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
}

#[tokio::test]
async fn graceful_close_disconnects_everyone_with_server_shutting_down() {
    let io = SocketIo::new();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let r2 = reasons.clone();
    io.ns("/", move |socket: SocketRef| {
        let reasons = r2.clone();
        async move {
            socket.on_disconnect(move |_s: SocketRef, r: DisconnectReason| {
                let reasons = reasons.clone();
                async move { reasons.lock().unwrap().push(r) }
            });
        }
    });
    io.ns("/other", |_s: SocketRef| async move {});
    let port = start(&io).await;
    let (mut a, _) = Client::open(port, 4).await;
    a.connect("").await;
    a.connect("/other,").await;
    let (mut b, _) = Client::open(port, 4).await;
    b.connect("").await;
    io.close().await;
    a.expect_closed().await;
    b.expect_closed().await;
    assert_eq!(
        *reasons.lock().unwrap(),
        vec![DisconnectReason::ServerShuttingDown; 2]
    );
    assert!(io.sockets().is_empty());
    assert!(io.of("/other").unwrap().is_empty());
}

#[tokio::test]
async fn mounted_as_an_axum_layer_next_to_other_routes() {
    use axum::{routing::get, Router};
    let io = SocketIo::new();
    io.ns("/", |socket: SocketRef| async move {
        let _ = socket.emit("hi", &"from axum");
    });
    let app: Router = Router::new()
        .route("/hello", get(|| async { "world" }))
        .layer(io.layer());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    assert_eq!(http(port, "GET", "/hello", "").await, "world");
    let (mut c, _) = Client::open(port, 4).await;
    c.connect("").await;
    assert_eq!(c.packet().await.unwrap(), r#"2["hi","from axum"]"#);
    // The same server over polling: connect and receive in one payload.
    let open = http(port, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    let sid = open.split(r#""sid":""#).nth(1).unwrap()[..20].to_owned();
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(http(port, "POST", &path, "40").await, "ok");
    let payload = http(port, "GET", &path, "").await;
    let packets: Vec<&str> = payload.split('\u{1e}').collect();
    assert!(packets[0].starts_with("40{\"sid\":"), "{payload}");
    assert_eq!(
        packets.get(1),
        Some(&r#"42["hi","from axum"]"#),
        "{payload}"
    );
}

/// The `axum` feature (forwarded to engine-io's): mounted under axum with
/// `into_make_service_with_connect_info`, the handshake carries the peer address, over WebSocket
/// and polling; without the connect info it is empty (the control).
#[tokio::test]
async fn the_peer_address_is_known_under_axum_with_connect_info() {
    use axum::Router;
    use std::net::SocketAddr;
    let io = SocketIo::new();
    io.ns("/", |socket: SocketRef| async move {
        let _ = socket.emit("address", &socket.handshake().address);
    });
    let app: Router = Router::new().layer(io.layer());
    let with_info = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = with_info.local_addr().unwrap().port();
    let service = app
        .clone()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(with_info, service).await });
    let without = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_port = without.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(without, app).await });

    let (mut c, _) = Client::open(port, 4).await;
    c.connect("").await;
    assert_eq!(c.packet().await.unwrap(), r#"2["address","127.0.0.1"]"#);
    let open = http(port, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    let sid = open.split(r#""sid":""#).nth(1).unwrap()[..20].to_owned();
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(http(port, "POST", &path, "40").await, "ok");
    let payload = http(port, "GET", &path, "").await;
    assert!(
        payload.ends_with("\u{1e}42[\"address\",\"127.0.0.1\"]"),
        "{payload}"
    );

    let (mut c, _) = Client::open(bare_port, 4).await;
    c.connect("").await;
    assert_eq!(c.packet().await.unwrap(), r#"2["address",""]"#);
}

/// The `compress` flag does one thing, as documented on `BroadcastOperator::compress`: it
/// travels with a broadcast to the other nodes of a cluster (the adapter's `flags.compress`,
/// which the Redis adapters encode byte for byte as the npm ones, see
/// `protocol-tests/tests/redis_wire.rs`). Locally it changes nothing on the wire.
#[tokio::test]
async fn the_compress_flag_travels_to_the_cluster_adapter_only() {
    use socketio_adapter::{Adapter, AdapterContext, AdapterError, BroadcastOptions, LocalAdapter};
    struct Capture {
        local: LocalAdapter,
        seen: Arc<Mutex<Vec<Option<bool>>>>,
    }
    impl Adapter for Capture {
        fn local(&self) -> &LocalAdapter {
            &self.local
        }
        fn publish_broadcast(
            &self,
            _packet: &socketio_parser::Packet,
            opts: &BroadcastOptions,
        ) -> Result<(), AdapterError> {
            self.seen.lock().unwrap().push(opts.flags.compress);
            Ok(())
        }
    }
    let seen: Arc<Mutex<Vec<Option<bool>>>> = Arc::default();
    let s = seen.clone();
    let io = SocketIo::builder()
        .adapter(move |ctx: AdapterContext| {
            Arc::new(Capture {
                local: LocalAdapter::new(ctx),
                seen: s.clone(),
            }) as Arc<dyn Adapter>
        })
        .build();
    io.ns("/", |_: SocketRef| async move {});
    let port = start(&io).await;
    let (mut c, _) = Client::open(port, 4).await;
    c.connect("").await;
    io.compress(false).emit("a", &1).unwrap();
    io.emit("b", &2).unwrap();
    io.compress(true).emit("c", &3).unwrap();
    for expected in [r#"2["a",1]"#, r#"2["b",2]"#, r#"2["c",3]"#] {
        assert_eq!(c.packet().await.unwrap(), expected);
    }
    assert_eq!(*seen.lock().unwrap(), [Some(false), None, Some(true)]);
}

#[tokio::test]
async fn socket_data_handshake_and_typed_handlers() {
    #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
    struct Point {
        x: i32,
        y: i32,
    }
    let io = SocketIo::new();
    io.ns("/", |socket: SocketRef| async move {
        let _ = socket.set_data(&Point { x: 1, y: 2 });
        socket.on(
            "pair",
            |s: SocketRef, Data((a, b)): Data<(String, u32)>| async move {
                let _ = s.emit("pair", &format!("{a}{b}"));
            },
        );
        socket.on(
            "point",
            |s: SocketRef, Data(p): Data<Point>, ack: Option<AckSender>| async move {
                let _ = s.emit("point", &(p.x + p.y));
                assert!(ack.is_none());
            },
        );
        socket.on_any(
            |s: SocketRef, socketio_server::Event(name): socketio_server::Event| async move {
                if name == "unknown" {
                    let _ = s.emit("any", &name);
                }
            },
        );
        socket.on("hs", |s: SocketRef| async move {
            let h = s.handshake();
            let _ = s.emit(
                "hs",
                Args(vec![
                    Value::from(h.query.get("EIO").cloned()),
                    Value::from(h.address.clone()),
                    Value::from(h.url.starts_with("/socket.io/")),
                    Value::from(h.headers.contains_key("host")),
                    Value::from(h.time.ends_with("(Coordinated Universal Time)")),
                ]),
            );
        });
    });
    let port = start(&io).await;
    let (mut c, _) = Client::open(port, 4).await;
    c.connect("").await;
    c.send(r#"42["pair","a",1]"#).await;
    assert_eq!(c.packet().await.unwrap(), r#"2["pair","a1"]"#);
    c.send(r#"42["point",{"x":2,"y":3}]"#).await;
    assert_eq!(c.packet().await.unwrap(), r#"2["point",5]"#);
    // Undeserializable arguments: the handler is not called (nothing comes back).
    c.send(r#"42["point","nope"]"#).await;
    c.send(r#"42["unknown"]"#).await;
    assert_eq!(c.packet().await.unwrap(), r#"2["any","unknown"]"#);
    c.send(r#"42["hs"]"#).await;
    assert_eq!(
        c.packet().await.unwrap(),
        r#"2["hs","4","127.0.0.1",true,true,true]"#
    );
    let sockets = io.fetch_sockets().await.unwrap();
    assert_eq!(sockets.len(), 1);
    assert_eq!(sockets[0].data::<Point>().unwrap(), Point { x: 1, y: 2 });
    sockets[0].emit("remote", &1).unwrap();
    assert_eq!(c.packet().await.unwrap(), r#"2["remote",1]"#);
}

#[tokio::test]
async fn empty_child_namespaces_are_cleaned_up_when_configured() {
    let io = SocketIo::builder()
        .cleanup_empty_child_namespaces(true)
        .build();
    let parent = io
        .dynamic_ns(r"^/room-\w+$", |_s: SocketRef| async move {})
        .unwrap();
    let port = start(&io).await;
    let (mut c, _) = Client::open(port, 4).await;
    c.connect("/room-a,").await;
    c.connect("/room-b,").await;
    assert_eq!(parent.children().len(), 2);
    assert!(io.of("/room-a").is_some());
    c.send("41/room-a,").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(parent.children().len(), 1);
    assert!(io.of("/room-a").is_none());
    // It is created again on the next connection.
    c.connect("/room-a,").await;
    assert_eq!(parent.children().len(), 2);
}

/// The Engine.IO session id of an open packet (`0{"sid":"..."...}`).
fn open_sid(open: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    json["sid"].as_str().unwrap().to_owned()
}

/// Waits (bounded) until `n` disconnect reasons were recorded.
async fn wait_reasons(reasons: &Mutex<Vec<DisconnectReason>>, n: usize) -> Vec<DisconnectReason> {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let got = reasons.lock().unwrap().clone();
        if got.len() >= n || tokio::time::Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn conn_is_the_engine_io_connection_and_close_closes_the_transport() {
    use engine_io::{ProtocolVersion, TransportType};
    let io = SocketIo::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let (s2, r2) = (seen.clone(), reasons.clone());
    io.ns("/", move |socket: SocketRef| {
        let (seen, reasons) = (s2.clone(), r2.clone());
        async move {
            let conn = socket.conn();
            seen.lock()
                .unwrap()
                .push((conn.id().to_owned(), conn.transport(), conn.protocol()));
            // As the reference `socket.conn.close()`.
            socket.on("close-transport", |s: SocketRef| async move {
                s.conn().close();
            });
            socket.on_disconnect(move |_s: SocketRef, r: DisconnectReason| {
                let reasons = reasons.clone();
                async move { reasons.lock().unwrap().push(r) }
            });
        }
    });
    let port = start(&io).await;

    // WebSocket: the server closes the WebSocket itself (the client's "transport close", after
    // which it reconnects), not a Socket.IO DISCONNECT packet ("io server disconnect").
    let (mut c, open) = Client::open(port, 4).await;
    c.connect("").await;
    c.send(r#"42["close-transport"]"#).await;
    loop {
        match c.recv().await {
            None => break,
            Some(m) => assert!(m == "1" || !m.starts_with("41"), "unexpected {m}"),
        }
    }
    assert_eq!(
        wait_reasons(&reasons, 1).await,
        vec![DisconnectReason::ForcedClose]
    );
    assert_eq!(
        seen.lock().unwrap()[0],
        (
            open_sid(&open),
            TransportType::Websocket,
            ProtocolVersion::V4
        )
    );

    // Polling: the next GET gets the close packet.
    let open = http(port, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    let sid = open_sid(&open);
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(http(port, "POST", &path, "40").await, "ok");
    let payload = http(port, "GET", &path, "").await;
    assert!(payload.starts_with("40{\"sid\":"), "{payload}");
    assert_eq!(
        http(port, "POST", &path, r#"42["close-transport"]"#).await,
        "ok"
    );
    let payload = http(port, "GET", &path, "").await;
    assert_eq!(payload.split('\u{1e}').next_back(), Some("1"), "{payload}");
    assert_eq!(
        wait_reasons(&reasons, 2).await,
        vec![DisconnectReason::ForcedClose; 2]
    );
    assert_eq!(
        seen.lock().unwrap()[1],
        (sid, TransportType::Polling, ProtocolVersion::V4)
    );
    assert!(io.sockets().is_empty());
}

/// The ack id of an event packet `2<id>[...]` (or `5<n>-<id>[...]`).
/// A server with one empty namespace whose acks wait at most `ack_timeout`, and its port.
async fn ack_server(ack_timeout: Duration) -> (SocketIo, u16) {
    let io = SocketIo::builder().ack_timeout(ack_timeout).build();
    io.ns("/", |_socket: SocketRef| async move {});
    let port = start(&io).await;
    (io, port)
}

/// Emits "question" with an ack from `socket`, answers it from `client` with `args` (JSON
/// text), and gives the answer read as `R`.
async fn answer_as<R: FromAck + Send + 'static>(
    socket: &SocketRef,
    client: &mut Client,
    args: &str,
) -> Result<R, AckError> {
    let pending = socket.emit_with_ack::<_, R>("question", &1).unwrap();
    let answer = tokio::spawn(async move { pending.await });
    let id = ack_id(&client.packet().await.unwrap());
    client.send(&format!("43{id}{args}")).await;
    answer.await.unwrap()
}

fn ack_id(packet: &str) -> String {
    let rest = if packet.starts_with('5') {
        packet.split_once('-').map_or("", |(_, r)| r)
    } else {
        &packet[1..]
    };
    rest.chars().take_while(char::is_ascii_digit).collect()
}

#[tokio::test]
async fn args_acks_are_the_raw_argument_list() {
    use bytes::Bytes;
    let (io, port) = ack_server(Duration::from_secs(2)).await;
    let (mut a, _) = Client::open(port, 4).await;
    let sid = a.connect_sid().await;
    let socket = io.sockets().get_socket(&sid).unwrap();

    // (answer frames, expected argument list)
    let cases: Vec<(Vec<&str>, Vec<Value>)> = vec![
        // One binary argument: binary, not a list of numbers.
        (
            vec![r#"61-ID[{"_placeholder":true,"num":0}]"#, "<bin 090807>"],
            vec![Value::Binary(Bytes::from_static(&[9, 8, 7]))],
        ),
        // One array argument: one argument, not two.
        (
            vec!["3ID[[1,2]]"],
            vec![Value::Array(vec![Value::from(1), Value::from(2)])],
        ),
        // Several arguments.
        (
            vec![r#"3ID[1,"two",null]"#],
            vec![Value::from(1), Value::from("two"), Value::Null],
        ),
        // None.
        (vec!["3ID[]"], vec![]),
    ];
    for (frames, expected) in cases {
        let pending = socket.emit_with_ack::<_, Args>("question", &1).unwrap();
        let answer = tokio::spawn(async move { pending.await });
        let p = a.packet().await.unwrap();
        let id = ack_id(&p);
        for frame in frames {
            if frame == "<bin 090807>" {
                a.send_binary(&[9, 8, 7]).await;
            } else {
                a.send(&format!("4{}", frame.replace("ID", &id))).await;
            }
        }
        assert_eq!(answer.await.unwrap().unwrap(), Args(expected));
    }

    // The serde form keeps its convenience: one argument is itself, several a sequence.
    let pending = socket
        .emit_with_ack::<_, (u32, String)>("question", &1)
        .unwrap();
    let answer = tokio::spawn(async move { pending.await });
    let id = ack_id(&a.packet().await.unwrap());
    a.send(&format!(r#"43{id}[1,"two"]"#)).await;
    assert_eq!(answer.await.unwrap().unwrap(), (1, "two".to_owned()));
    // One argument is itself (`cb(7)` is 7), no argument reads as `()`, and an answer of
    // another shape is `AckError::Deserialize`: the client's `emit_with_ack` reads the same.
    assert_eq!(answer_as::<u64>(&socket, &mut a, "[7]").await.unwrap(), 7);
    answer_as::<()>(&socket, &mut a, "[]").await.unwrap();
    let err = answer_as::<u64>(&socket, &mut a, r#"["seven"]"#)
        .await
        .unwrap_err();
    assert!(matches!(err, AckError::Deserialize(_)), "{err:?}");
    assert!(socket.connected());

    // Broadcast acks: one raw argument list per recipient.
    let (mut b, _) = Client::open(port, 4).await;
    let sid_b = b.connect_sid().await;
    let io2 = io.clone();
    let all = tokio::spawn(async move {
        io2.timeout(Duration::from_secs(2))
            .emit_with_ack::<_, Args>("poll", &())
            .unwrap()
            .await
    });
    let id = ack_id(&a.packet().await.unwrap());
    a.send(&format!("43{id}[[1,2]]")).await;
    let id = ack_id(&b.packet().await.unwrap());
    b.send(&format!(r#"461-{id}[{{"_placeholder":true,"num":0}},"x"]"#))
        .await;
    b.send_binary(&[4, 2]).await;
    let mut got = all.await.unwrap().unwrap();
    got.sort_by_key(|Args(args)| args.len());
    assert_eq!(
        got,
        vec![
            Args(vec![Value::Array(vec![Value::from(1), Value::from(2)])]),
            Args(vec![
                Value::Binary(Bytes::from_static(&[4, 2])),
                Value::from("x")
            ]),
        ]
    );

    // Typed broadcast answers are read one by one with the same `FromAck`: an answer that
    // does not read is that socket's error, the other keeps its answer.
    let mut acks = io
        .timeout(Duration::from_secs(2))
        .emit_with_ack::<_, u64>("poll", &())
        .unwrap();
    let id = ack_id(&a.packet().await.unwrap());
    a.send(&format!("43{id}[7]")).await;
    let id = ack_id(&b.packet().await.unwrap());
    b.send(&format!(r#"43{id}["x"]"#)).await;
    let mut got = Vec::new();
    while let Some((from, answer)) = acks.next().await {
        got.push((from.unwrap().to_string(), answer));
    }
    got.sort_by_key(|(from, _)| from != &sid);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].0.as_str(), got[0].1.as_ref().ok()),
        (sid.as_str(), Some(&7))
    );
    assert_eq!(got[1].0, sid_b);
    assert!(matches!(got[1].1, Err(AckError::Deserialize(_))), "{got:?}");
}

/// Per-packet middlewares nest like tower layers: each one is async, runs before and after the
/// rest of the chain (the later middlewares, then the handler awaited to its end), and sees an
/// inner one's refusal as the `Err` of `next.run`. A refusal reaches the socket's error
/// listeners, and the client through its ack when it asked for one; without an ack it is
/// dropped silently, as in the reference.
#[tokio::test]
async fn packet_middlewares_nest_like_layers_and_refuse_through_the_ack() {
    use socketio_server::{IncomingEvent, Next, PacketError};
    let io = SocketIo::builder().build();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = log.clone();
    io.ns("/", move |socket: SocketRef| {
        let log = seen.clone();
        async move {
            for layer in ["outer", "inner"] {
                let log = log.clone();
                socket.use_packet_middleware(
                    move |_s: SocketRef, ev: IncomingEvent, next: Next| {
                        let log = log.clone();
                        async move {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            log.lock()
                                .unwrap()
                                .push(format!("{layer} before {}", ev.event));
                            if layer == "inner" && ev.event == "forbidden" {
                                return Err(PacketError::new("no")
                                    .with_data(serde_json::json!({"code": 403})));
                            }
                            let result = next.run(ev).await;
                            let outcome = result.as_ref().err().map_or("ok", |e| &e.message);
                            log.lock().unwrap().push(format!("{layer} after {outcome}"));
                            result
                        }
                    },
                );
            }
            let handled = log.clone();
            socket.on("work", move |ack: AckSender| {
                let log = handled.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    log.lock().unwrap().push("handler".to_owned());
                    let _ = ack.send("done");
                }
            });
            let errors = log.clone();
            socket.on_error(move |_s, err| {
                errors
                    .lock()
                    .unwrap()
                    .push(format!("error {}", err.message));
            });
        }
    });
    let port = start(&io).await;
    let (mut c, _) = Client::open(port, 4).await;
    c.connect("").await;
    let settled = |want: usize| {
        let log = log.clone();
        async move {
            let deadline = tokio::time::Instant::now() + STEP;
            while log.lock().unwrap().len() < want {
                assert!(tokio::time::Instant::now() < deadline, "{log:?}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            std::mem::take(&mut *log.lock().unwrap())
        }
    };

    c.send(r#"421["work"]"#).await;
    assert_eq!(c.packet().await.unwrap(), r#"31["done"]"#);
    assert_eq!(
        settled(5).await,
        [
            "outer before work",
            "inner before work",
            "handler",
            "inner after ok",
            "outer after ok"
        ]
    );

    c.send(r#"422["forbidden"]"#).await;
    assert_eq!(
        c.packet().await.unwrap(),
        r#"32[{"message":"no","data":{"code":403}}]"#
    );
    assert_eq!(
        settled(4).await,
        [
            "outer before forbidden",
            "inner before forbidden",
            "outer after no",
            "error no"
        ]
    );

    // Without an ack nothing is sent back: the next packet is the answer to the next event.
    c.send(r#"42["forbidden"]"#).await;
    assert_eq!(settled(4).await.last().unwrap(), "error no");
    c.send(r#"423["work"]"#).await;
    assert_eq!(c.packet().await.unwrap(), r#"33["done"]"#);
}

/// A socket from `fetch_sockets` acknowledges as a `SocketRef` does: `emit_with_ack(..)?.await`
/// gives its one answer read as `R`; `timeout(d)` bounds the wait (set before the emit, as a
/// broadcast's), and no answer is `AckError::Timeout`.
#[tokio::test]
async fn a_fetched_socket_acks_like_a_socket() {
    let (io, port) = ack_server(Duration::from_secs(3)).await;
    let (mut a, _) = Client::open(port, 4).await;
    a.connect("").await;
    let remote = io.fetch_sockets().await.unwrap().pop().unwrap();
    let pending = remote.emit_with_ack::<_, u64>("question", 1).unwrap();
    let answer = tokio::spawn(async move { pending.await });
    let p = a.packet().await.unwrap();
    assert!(p.ends_with(r#"["question",1]"#), "{p}");
    a.send(&format!("43{}[7]", ack_id(&p))).await;
    assert_eq!(answer.await.unwrap().unwrap(), 7);

    let started = tokio::time::Instant::now();
    let err = remote
        .timeout(Duration::from_millis(200))
        .emit_with_ack::<_, Args>("question", 2)
        .unwrap()
        .await
        .unwrap_err();
    assert!(matches!(err, AckError::Timeout), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the emitter's timeout, not ack_timeout"
    );
}
