//! The Rust `socketio-client` against our own server (`socketio-server`'s `conformance_server`
//! example with `--interop`): the same features as against the npm server, over polling only,
//! WebSocket only and polling-then-upgrade.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use protocol_tests::RustPeer;
use serde_json::{json, Value as Json};
use socketio_client::{
    Args, ClientBuilder, DisconnectReason, Error, Event, ManagerEvent, Parser, Socket, Transports,
    Value,
};
use tokio::sync::mpsc;

const STEP: Duration = Duration::from_secs(10);

fn server(args: &[&str]) -> RustPeer {
    let mut all = vec!["--port", "0", "--interop"];
    all.extend_from_slice(args);
    RustPeer::spawn_example("socketio-server", "socketio_conformance_server", &all)
}

fn builder(peer: &RustPeer, transports: Transports) -> ClientBuilder {
    ClientBuilder::new(format!("http://127.0.0.1:{}", peer.port()))
        .transports(transports)
        .force_new(true)
        .reconnection_delay(Duration::from_millis(100))
        .reconnection_delay_max(Duration::from_millis(400))
        .connect_timeout(STEP)
        .ack_timeout(STEP)
}

fn v(j: Json) -> Value {
    Value::from(j)
}

fn forward(b: ClientBuilder, names: &[&str], tx: &mpsc::UnboundedSender<Event>) -> ClientBuilder {
    let mut b = b;
    for name in names {
        let tx = tx.clone();
        b = b.on(*name, move |event: Event, _s: Socket| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(event);
            }
        });
    }
    b
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<Event>, name: &str) -> Event {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let event = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {name:?} event in time"))
            .expect("channel closed");
        if event.name() == name {
            return event;
        }
    }
}

async fn whoami(socket: &Socket) -> Json {
    Json::from(socket.emit_with_ack("whoami", Args::new()).await.unwrap()[0].clone())
}

fn binary_payload() -> Value {
    let mut map = socketio_client::Map::new();
    map.insert("name".to_owned(), v(json!("file")));
    map.insert(
        "parts".to_owned(),
        Value::Array(vec![
            Value::Binary(Bytes::from_static(b"\x00\x01\x02")),
            v(json!({"deep": [1, null, "x"]})),
        ]),
    );
    Value::Object(map)
}

async fn features(transports: Transports, parser: Parser) {
    let peer = server(if parser == Parser::MsgPack {
        &["--msgpack"]
    } else {
        &[]
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let disconnects = Arc::new(Mutex::new(Vec::new()));
    let socket = forward(
        builder(&peer, transports).parser(parser),
        &["auth", "message-back"],
        &tx,
    )
    .auth(json!({"token": "secret"}))
    .on("question", |event: Event, _s: Socket| async move {
        let n: u64 = event.arg(0).unwrap();
        Args::new().arg(n + 1).arg(Bytes::from_static(b"\xffbin"))
    })
    .on_disconnect({
        let disconnects = disconnects.clone();
        move |reason, _s| {
            disconnects.lock().unwrap().push(reason);
            async {}
        }
    })
    .connect()
    .await
    .expect("connect");
    // On connection the server emits "auth" with our auth payload.
    let auth = next_event(&mut rx, "auth").await;
    assert_eq!(auth.args(), &[v(json!({"token": "secret"}))]);
    let me = whoami(&socket).await;
    assert_eq!(me["nsp"], "/");
    assert_eq!(me["id"].as_str(), socket.id().as_deref());

    // Binary nested in objects, both ways.
    let payload = binary_payload();
    socket
        .emit("message", Args::new().arg(&payload).arg(3))
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut rx, "message-back").await.args(),
        &[payload.clone(), v(json!(3))]
    );
    let reply = socket
        .emit_with_ack("message-with-ack", Args::new().arg(&payload).arg("x"))
        .await
        .unwrap();
    assert_eq!(reply, vec![payload.clone(), v(json!("x"))]);

    // The server asks us, with an ack; our handler's output is the answer.
    let answer = socket
        .emit_with_ack(
            "ask-client",
            Args::new().arg("question").arg(vec![41]).arg(3000),
        )
        .await
        .unwrap();
    let answer = &answer[0];
    assert_eq!(answer.get("err"), Some(&Value::Null), "{answer:?}");
    assert_eq!(
        answer.get("resp"),
        Some(&Value::Array(vec![
            v(json!(42)),
            Value::Binary(Bytes::from_static(b"\xffbin"))
        ]))
    );

    // Several namespaces on the same connection (sharing this socket's manager).
    let custom = socket
        .manager()
        .socket("/custom")
        .auth(json!({"token": "c"}))
        .connect()
        .await
        .unwrap();
    assert_eq!(whoami(&custom).await["nsp"], "/custom");
    let restricted = socket
        .manager()
        .socket("/restricted")
        .auth(json!({"token": "secret"}))
        .connect()
        .await
        .unwrap();
    assert_eq!(whoami(&restricted).await["nsp"], "/restricted");
    // The same namespace twice on one connection is refused locally (the server would close
    // the connection on a second CONNECT).
    let twice = socket
        .manager()
        .socket("/custom")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(twice, Error::InvalidConfig(_)), "{twice:?}");
    let refused = builder(&peer, transports)
        .parser(parser)
        .namespace("/restricted")
        .auth(json!({"token": "wrong"}))
        .connect()
        .await
        .unwrap_err();
    match refused {
        Error::ConnectRefused { message, data } => {
            assert_eq!(message, "not authorized");
            assert_eq!(data, Some(v(json!({"reason": "bad token", "code": 401}))));
        }
        other => panic!("{other:?}"),
    }
    let unknown = socket
        .manager()
        .socket("/nope")
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(&unknown, Error::ConnectRefused { message, .. } if message == "Invalid namespace"),
        "{unknown:?}"
    );

    // The server pings every 300 ms with a 200 ms timeout: staying connected proves the
    // heartbeat is answered on every transport.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(socket.connected() && custom.connected() && restricted.connected());

    // The server disconnects "/": no reconnection, the other namespaces stay.
    socket.emit("server-disconnect", Args::new()).await.unwrap();
    let deadline = tokio::time::Instant::now() + STEP;
    while socket.connected() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!socket.connected());
    assert_eq!(
        disconnects.lock().unwrap().as_slice(),
        &[DisconnectReason::IoServerDisconnect]
    );
    assert_eq!(whoami(&custom).await["nsp"], "/custom");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_features_over_polling() {
    features(Transports::Polling, Parser::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_features_over_websocket() {
    features(Transports::WebSocket, Parser::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_features_over_upgrade() {
    features(Transports::Upgrade, Parser::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_msgpack_over_websocket() {
    features(Transports::WebSocket, Parser::MsgPack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_msgpack_over_polling() {
    features(Transports::Polling, Parser::MsgPack).await;
}

async fn reconnect(transports: Transports) {
    let peer = server(&[]);
    let port = peer.port().to_string();
    let socket = builder(&peer, transports)
        .auth(json!({"token": "secret"}))
        .connect()
        .await
        .unwrap();
    let mut events = socket.manager().events();
    drop(peer);
    let deadline = tokio::time::Instant::now() + STEP;
    while socket.connected() {
        assert!(tokio::time::Instant::now() < deadline, "still connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    socket.emit("message", "while-down").await.unwrap();
    let _peer = RustPeer::spawn_example(
        "socketio-server",
        "socketio_conformance_server",
        &["--port", &port, "--interop"],
    );
    loop {
        match tokio::time::timeout_at(deadline + STEP, events.recv()).await {
            Ok(Ok(ManagerEvent::Reconnect(_))) => break,
            Ok(Ok(_)) => {}
            other => panic!("no reconnect: {other:?}"),
        }
    }
    let deadline = tokio::time::Instant::now() + STEP;
    while !socket.connected() {
        assert!(tokio::time::Instant::now() < deadline, "not reconnected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(whoami(&socket).await["auth"], json!({"token": "secret"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_reconnect_over_polling() {
    reconnect(Transports::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_reconnect_over_websocket() {
    reconnect(Transports::WebSocket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_reconnect_over_upgrade() {
    reconnect(Transports::Upgrade).await;
}
