//! The Rust `socketio-client` against two servers implementing the same fixture: the npm
//! `socket.io` 4.8 server (`protocol-tests/js/sioclient-peer.js`) and ours
//! (`socketio-server/examples/client_peer.rs`, a one-to-one port of it). Every feature over
//! polling only, WebSocket only and polling-then-upgrade, multiplexing, reconnection after a
//! server restart, ping timeout, connection state recovery, msgpack.
//!
//! Every case is one `async fn(Target, …)`; the `both!` macro turns it into a module with two
//! tests, `<case>::npm` and `<case>::ours`. Passing against npm proves the test describes the
//! reference; passing against ours proves our server behaves the same.
//! `cargo test -p protocol-tests --test socketio sioclient_interop:: -- ::ours` runs only ours.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use protocol_tests::{NodePeer, RustPeer};
use serde_json::{json, Value as Json};
use socketio_client::{
    Args, ClientBuilder, DisconnectReason, Error, Event, FromAck, ManagerEvent, Parser, Socket,
    Transports, Value,
};
use tokio::sync::mpsc;

const STEP: Duration = Duration::from_secs(10);

/// Which server a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `node js/sioclient-peer.js` (npm `socket.io` 4.8).
    Npm,
    /// `cargo run -p socketio-server --example client_peer`.
    Ours,
}

/// A running fixture server of either kind (same flags, same stdout reports), killed on drop.
enum Peer {
    Npm(NodePeer),
    Ours(RustPeer),
}

impl Peer {
    fn port(&self) -> u16 {
        match self {
            Peer::Npm(p) => p.port(),
            Peer::Ours(p) => p.port(),
        }
    }

    fn next_line(&self, timeout: Duration) -> Option<String> {
        match self {
            Peer::Npm(p) => p.next_line(timeout),
            Peer::Ours(p) => p.next_line(timeout),
        }
    }

    fn pid(&mut self) -> u32 {
        match self {
            Peer::Npm(p) => p.process().pid(),
            Peer::Ours(p) => p.process().pid(),
        }
    }
}

/// Starts the fixture of `target` with the fixture's flags (`--port`, `--msgpack`, `--recovery`,
/// `--ping-interval`, `--ping-timeout`); without `--port` it picks a free port.
fn peer(target: Target, args: &[&str]) -> Peer {
    match target {
        Target::Npm => Peer::Npm(NodePeer::spawn("sioclient-peer.js", args, &[])),
        Target::Ours => Peer::Ours(RustPeer::spawn_example(
            "socketio-server",
            "client_peer",
            args,
        )),
    }
}

/// One module per case with an `npm` and an `ours` test. `ours_ignore = "reason"` marks only the
/// `ours` variant ignored (a known server bug, named in the reason).
macro_rules! both {
    ($($name:ident: $run:expr $(, ours_ignore = $why:literal)?;)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn npm() {
                    ($run)(Target::Npm).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[ignore = $why])?
                async fn ours() {
                    ($run)(Target::Ours).await
                }
            }
        )*
    };
}

both! {
    features_over_polling: |t| single_socket_features(t, Transports::Polling);
    features_over_websocket: |t| single_socket_features(t, Transports::WebSocket);
    features_over_upgrade: |t| single_socket_features(t, Transports::Upgrade);
    multiplexing_over_polling: |t| multiplexing(t, Transports::Polling);
    multiplexing_over_websocket: |t| multiplexing(t, Transports::WebSocket);
    multiplexing_over_upgrade: |t| multiplexing(t, Transports::Upgrade);
    connect_error_over_polling: |t| refused(t, Transports::Polling);
    connect_error_over_websocket: |t| refused(t, Transports::WebSocket);
    connect_error_over_upgrade: |t| refused(t, Transports::Upgrade);
    buffering_over_polling: |t| buffering_and_lost_acks(t, Transports::Polling);
    buffering_over_websocket: |t| buffering_and_lost_acks(t, Transports::WebSocket);
    buffering_over_upgrade: |t| buffering_and_lost_acks(t, Transports::Upgrade);
    reconnect_over_polling: |t| reconnect_after_restart(t, Transports::Polling);
    reconnect_over_websocket: |t| reconnect_after_restart(t, Transports::WebSocket);
    reconnect_over_upgrade: |t| reconnect_after_restart(t, Transports::Upgrade);
    reconnection_gives_up: reconnection_gives_up_after_the_attempts;
    recovery_over_polling: |t| recovery(t, Transports::Polling);
    recovery_over_websocket: |t| recovery(t, Transports::WebSocket);
    recovery_over_upgrade: |t| recovery(t, Transports::Upgrade);
    msgpack_over_polling: |t| msgpack(t, Transports::Polling);
    msgpack_over_websocket: |t| msgpack(t, Transports::WebSocket);
    msgpack_over_upgrade: |t| msgpack(t, Transports::Upgrade);
    retries_over_polling: |t| retries(t, Transports::Polling);
    retries_over_websocket: |t| retries(t, Transports::WebSocket);
    retries_over_upgrade: |t| retries(t, Transports::Upgrade);
    disconnect_over_polling: |t| manual_disconnect_and_drop(t, Transports::Polling);
    disconnect_over_websocket: |t| manual_disconnect_and_drop(t, Transports::WebSocket);
    disconnect_over_upgrade: |t| manual_disconnect_and_drop(t, Transports::Upgrade);
    ping_timeout_over_polling: |t| ping_timeout(t, Transports::Polling);
    ping_timeout_over_websocket: |t| ping_timeout(t, Transports::WebSocket);
    ping_timeout_over_upgrade: |t| ping_timeout(t, Transports::Upgrade);
    typed_payloads: typed_payloads_with_binary;
    typed_handlers: typed_handler_arguments;
    manager_namespaces_over_polling: |t| manager_namespaces(t, Transports::Polling);
    manager_namespaces_over_websocket: |t| manager_namespaces(t, Transports::WebSocket);
    manager_namespaces_over_upgrade: |t| manager_namespaces(t, Transports::Upgrade);
    ack_typing: |t| ack_result_typing(t, Parser::Json);
    ack_typing_msgpack: |t| ack_result_typing(t, Parser::MsgPack);
    blocking: |t| async move {
        // The blocking client runs its own runtime: keep it off this one's worker threads.
        tokio::task::spawn_blocking(move || blocking_client(t)).await.unwrap()
    };
}

fn url(peer: &Peer) -> String {
    format!("http://127.0.0.1:{}", peer.port())
}

fn v(j: Json) -> Value {
    Value::from(j)
}

/// A builder that never shares its connection with other tests' sockets.
fn builder(peer: &Peer, transports: Transports) -> ClientBuilder {
    ClientBuilder::new(url(peer))
        .transports(transports)
        .force_new(true)
        .reconnection_delay(Duration::from_millis(100))
        .reconnection_delay_max(Duration::from_millis(400))
        .connect_timeout(Duration::from_secs(10))
        .ack_timeout(STEP)
}

/// Events received by a socket, forwarded to the test.
fn events() -> (mpsc::UnboundedSender<Event>, mpsc::UnboundedReceiver<Event>) {
    mpsc::unbounded_channel()
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

/// Reads the fixture's stdout JSON lines until one matches.
fn server_line(peer: &Peer, pred: impl Fn(&Json) -> bool) -> Json {
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = peer
            .next_line(left)
            .unwrap_or_else(|| panic!("the server did not report the expected line in time"));
        if let Ok(json) = serde_json::from_str::<Json>(&line) {
            if pred(&json) {
                return json;
            }
        }
    }
}

async fn whoami(socket: &Socket) -> Json {
    socket
        .emit_with_ack("whoami", Args::new())
        .unwrap()
        .await
        .unwrap()
}

/// Everything a single socket does, over one transport setting.
async fn single_socket_features(target: Target, transports: Transports) {
    let server = peer(target, &[]);
    let (tx, mut rx) = events();
    let outgoing = Arc::new(Mutex::new(Vec::<String>::new()));
    let any_count = Arc::new(AtomicUsize::new(0));
    let disconnects = Arc::new(Mutex::new(Vec::<DisconnectReason>::new()));
    let socket = builder(&server, transports)
        .auth(json!({"token": "t0k", "n": 1}))
        .on("echo", {
            let tx = tx.clone();
            move |event: Event, _s: Socket| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(event);
                }
            }
        })
        .on("answer", {
            let tx = tx.clone();
            move |event: Event, _s: Socket| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(event);
                }
            }
        })
        // The server emits "question" with an ack: our reply is the handler's output.
        .on("question", |event: Event, _s: Socket| async move {
            let n: u64 = event.arg::<Json>(0).unwrap()["n"].as_u64().unwrap();
            Args::new()
                .arg(json!({"double": n * 2}))
                .arg(Bytes::from_static(b"\x00reply"))
        })
        .on_any({
            let any_count = any_count.clone();
            move |_e: Event, _s: Socket| {
                let any_count = any_count.clone();
                async move {
                    any_count.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
        .on_any_outgoing({
            let outgoing = outgoing.clone();
            move |name: &str, _args: &[Value]| outgoing.lock().unwrap().push(name.to_owned())
        })
        .on_disconnect({
            let disconnects = disconnects.clone();
            move |_s, reason| {
                disconnects.lock().unwrap().push(reason);
                async {}
            }
        })
        .connect()
        .await
        .expect("connect");
    assert!(socket.connected());
    assert!(socket.id().is_some());
    let seen = server_line(&server, |j| j["connection"] == "/");
    assert_eq!(seen["auth"], json!({"token": "t0k", "n": 1}));
    assert_eq!(seen["id"].as_str(), socket.id().as_deref());

    let me = whoami(&socket).await;
    assert_eq!(me["auth"], json!({"token": "t0k", "n": 1}));
    match transports {
        Transports::Polling => assert_eq!(me["transport"], "polling"),
        Transports::WebSocket => assert_eq!(me["transport"], "websocket"),
        Transports::Upgrade => {
            // The upgrade happens in the background: wait for it.
            let deadline = tokio::time::Instant::now() + STEP;
            loop {
                if whoami(&socket).await["transport"] == "websocket" {
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "never upgraded");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    // Binary nested in objects, both ways.
    let nested = v(json!({"name": "file", "meta": {"sizes": [1, 2]}}));
    let mut payload = match nested {
        Value::Object(map) => map,
        _ => unreachable!(),
    };
    payload.insert(
        "data".to_owned(),
        Value::Array(vec![
            Value::Binary(Bytes::from_static(b"\x01\x02\x03")),
            v(json!({"deep": null})),
        ]),
    );
    payload.insert(
        "blob".to_owned(),
        Value::Binary(Bytes::from(vec![0u8; 5000])),
    );
    let payload = Value::Object(payload);
    socket
        .emit("echo", Args::new().arg(&payload).arg("second").arg(42))
        .unwrap();
    let echo = next_event(&mut rx, "echo").await;
    assert_eq!(
        echo.args(),
        &[payload.clone(), v(json!("second")), v(json!(42))]
    );

    // Ack with binary, raw and typed.
    let Args(reply) = socket
        .emit_with_ack("ack", Args::new().arg(&payload).arg(7))
        .unwrap()
        .await
        .unwrap();
    assert_eq!(reply, vec![payload.clone(), v(json!(7))]);
    let n: u32 = socket.emit_with_ack("ack", 5).unwrap().await.unwrap();
    assert_eq!(n, 5);

    // Server-requested ack answered by our handler's return value.
    socket
        .emit("ask", Args::new().arg(json!({"n": 21})).arg(5000))
        .unwrap();
    let answer = next_event(&mut rx, "answer").await;
    assert_eq!(
        answer.args(),
        &[
            v(json!({"double": 42})),
            Value::Binary(Bytes::from_static(b"\x00reply"))
        ]
    );

    // Volatile while connected is delivered.
    socket.volatile().emit("echo", "volatile").unwrap();
    let echo = next_event(&mut rx, "echo").await;
    assert_eq!(echo.args(), &[v(json!("volatile"))]);

    // Catch-all listeners saw the traffic.
    assert!(any_count.load(Ordering::SeqCst) >= 3);
    let sent = outgoing.lock().unwrap().clone();
    for name in ["whoami", "echo", "ack", "ask"] {
        assert!(
            sent.iter().any(|s| s == name),
            "{name} not seen in {sent:?}"
        );
    }

    // Reserved names are refused locally.
    assert!(matches!(
        socket.emit("disconnect", 1),
        Err(Error::ReservedEvent(_))
    ));

    // An ack that never comes times out.
    let err = socket
        .emit_with_ack::<_, Args>("no-such-handler", 1)
        .unwrap()
        .timeout(Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AckTimeout), "{err:?}");

    // The server disconnects us: no automatic reconnection.
    socket.emit("server-disconnect", Args::new()).unwrap();
    let deadline = tokio::time::Instant::now() + STEP;
    while socket.connected() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !socket.connected(),
        "reconnected after io server disconnect"
    );
    assert_eq!(
        disconnects.lock().unwrap().as_slice(),
        &[DisconnectReason::IoServerDisconnect]
    );
    assert!(matches!(socket.emit("echo", 1), Err(Error::Closed)));
}

/// Forwards every event of the named kinds to the test.
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

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + STEP;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn multiplexing(target: Target, transports: Transports) {
    let server = peer(target, &[]);
    // No force_new: the three sockets share the process-wide manager of this server.
    let base = || {
        ClientBuilder::new(url(&server))
            .transports(transports)
            .connect_timeout(STEP)
    };
    let root = base().connect().await.unwrap();
    let admin = base().namespace("/admin").connect().await.unwrap();
    let chat = ClientBuilder::new(format!("{}/chat", url(&server)))
        .transports(transports)
        .connect()
        .await
        .unwrap();
    assert_eq!(chat.namespace(), "/chat");
    let stats = crate::sioclient_interop::stats(&admin).await;
    assert_eq!(
        stats["clientsCount"], 1,
        "one Engine.IO connection: {stats}"
    );
    assert_eq!(stats["sockets"]["/"], 1);
    assert_eq!(stats["sockets"]["/admin"], 1);
    assert_eq!(stats["sockets"]["/chat"], 1);
    assert_eq!(whoami(&chat).await["nsp"], "/chat");
    assert_eq!(whoami(&root).await["nsp"], "/");

    // A second socket for an already-joined namespace gets its own connection (as in the
    // reference), and so does force_new.
    let second_admin = base().namespace("/admin").connect().await.unwrap();
    let forced = base().force_new(true).connect().await.unwrap();
    let stats = crate::sioclient_interop::stats(&forced).await;
    assert_eq!(stats["clientsCount"], 3, "{stats}");

    // Leaving one namespace keeps the shared connection for the others.
    admin.disconnect().await;
    let stats = crate::sioclient_interop::stats(&chat).await;
    assert_eq!(stats["clientsCount"], 3, "{stats}");
    assert_eq!(stats["sockets"]["/admin"], 1, "only second_admin left");
    // Leaving the last namespace of the manager closes its connection.
    root.disconnect().await;
    chat.disconnect().await;
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let stats = crate::sioclient_interop::stats(&forced).await;
        if stats["clientsCount"] == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(second_admin);
}

async fn refused(target: Target, transports: Transports) {
    let server = peer(target, &[]);
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let err = builder(&server, transports)
        .namespace("/refused")
        .on_connect_error({
            let errors = errors.clone();
            move |_s, e| {
                errors.lock().unwrap().push(e.to_string());
                async {}
            }
        })
        .connect()
        .await
        .unwrap_err();
    match err {
        Error::ConnectRefused { message, data } => {
            assert_eq!(message, "not authorized");
            assert_eq!(data, Some(v(json!({"code": 42}))));
        }
        other => panic!("{other:?}"),
    }
    wait_until("connect_error handler", || {
        !errors.lock().unwrap().is_empty()
    })
    .await;
    let err = builder(&server, transports)
        .namespace("/nope")
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ConnectRefused { message, .. } if message == "Invalid namespace"),
        "{err:?}"
    );
    // After a refusal there is no automatic retry: the server saw no new connection attempt.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let probe = builder(&server, transports).connect().await.unwrap();
    let stats = crate::sioclient_interop::stats(&probe).await;
    assert_eq!(stats["clientsCount"], 1, "{stats}");
}

async fn buffering_and_lost_acks(target: Target, transports: Transports) {
    let server = peer(target, &[]);
    let (tx, mut rx) = events();
    let socket = forward(builder(&server, transports), &["echo"], &tx)
        .build()
        .unwrap();
    // Emitted before connecting: buffered, then flushed in order on connect.
    socket.emit("echo", "early-1").unwrap();
    socket.volatile().emit("echo", "volatile-dropped").unwrap();
    // A dropped volatile emit's ack still waits, as in the reference: here until its timeout.
    let dropped = socket
        .volatile()
        .emit_with_ack::<_, Args>("ack", "volatile-dropped")
        .unwrap()
        .timeout(Duration::from_millis(400));
    socket.emit("echo", "early-2").unwrap();
    socket.connect().await.unwrap();
    let err = dropped.await.unwrap_err();
    assert!(matches!(err, Error::AckTimeout), "{err:?}");
    assert_eq!(
        next_event(&mut rx, "echo").await.args(),
        &[v(json!("early-1"))]
    );
    assert_eq!(
        next_event(&mut rx, "echo").await.args(),
        &[v(json!("early-2"))]
    );

    // An ack pending when the connection drops fails with "socket has been disconnected".
    let pending = {
        let socket = socket.clone();
        tokio::spawn(async move {
            socket
                .emit_with_ack::<_, Args>("no-such-handler", 1)
                .unwrap()
                .timeout(STEP)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    socket.emit("close-transport", Args::new()).unwrap();
    let err = pending.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::SocketDisconnected), "{err:?}");
    assert_eq!(err.to_string(), "socket has been disconnected");
    // ... and the socket reconnects on its own ("transport close").
    wait_until("reconnection", || socket.connected()).await;
    socket.emit("echo", "after").unwrap();
    assert_eq!(
        next_event(&mut rx, "echo").await.args(),
        &[v(json!("after"))]
    );
}

async fn reconnect_after_restart(target: Target, transports: Transports) {
    let server = peer(target, &[]);
    let port = server.port().to_string();
    let connects = Arc::new(AtomicUsize::new(0));
    let auth_calls = Arc::new(AtomicUsize::new(0));
    let disconnects = Arc::new(Mutex::new(Vec::<DisconnectReason>::new()));
    let socket = builder(&server, transports)
        .auth_fn({
            let auth_calls = auth_calls.clone();
            move || {
                let n = auth_calls.fetch_add(1, Ordering::SeqCst) + 1;
                async move { json!({"attempt": n}) }
            }
        })
        .on_connect({
            let connects = connects.clone();
            move |_s| {
                connects.fetch_add(1, Ordering::SeqCst);
                async {}
            }
        })
        .on_disconnect({
            let disconnects = disconnects.clone();
            move |_s, reason| {
                disconnects.lock().unwrap().push(reason);
                async {}
            }
        })
        .connect()
        .await
        .unwrap();
    let mut manager_events = socket.manager().events();
    wait_until("connect handler", || connects.load(Ordering::SeqCst) == 1).await;
    assert_eq!(whoami(&socket).await["auth"], json!({"attempt": 1}));

    drop(server); // kills the server process
    wait_until("disconnect", || !socket.connected()).await;
    // While the server is down, attempts fail and are reported.
    let mut attempts = 0;
    let mut errors = 0;
    let deadline = tokio::time::Instant::now() + STEP;
    while errors < 2 {
        match tokio::time::timeout_at(deadline, manager_events.recv()).await {
            Ok(Ok(ManagerEvent::ReconnectAttempt(_))) => attempts += 1,
            Ok(Ok(ManagerEvent::ReconnectError(_))) => errors += 1,
            Ok(Ok(_)) => {}
            other => panic!("no reconnect errors: {other:?}"),
        }
    }
    assert!(attempts >= 2);
    // Emits while down are buffered.
    socket.emit("echo", "buffered").unwrap();

    let server = peer(target, &["--port", &port]);
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        match tokio::time::timeout_at(deadline, manager_events.recv()).await {
            Ok(Ok(ManagerEvent::Reconnect(n))) => {
                assert!(n >= 2);
                break;
            }
            Ok(Ok(_)) => {}
            other => panic!("no reconnect: {other:?}"),
        }
    }
    wait_until("reconnected", || socket.connected()).await;
    assert_eq!(connects.load(Ordering::SeqCst), 2);
    let me = whoami(&socket).await;
    // The auth callback ran again for the new connection.
    let attempt = me["auth"]["attempt"].as_u64().unwrap();
    assert!(attempt >= 2, "{me}");
    assert_eq!(auth_calls.load(Ordering::SeqCst) as u64, attempt);
    let reasons = disconnects.lock().unwrap().clone();
    assert_eq!(reasons.len(), 1);
    assert!(
        matches!(
            reasons[0],
            DisconnectReason::TransportClose | DisconnectReason::TransportError
        ),
        "{reasons:?}"
    );
    // The buffered emit reached the restarted server.
    let count: u64 = socket
        .emit_with_ack("count", Args::new())
        .unwrap()
        .await
        .unwrap();
    assert!(count >= 1);
    drop(server);
}

async fn reconnection_gives_up_after_the_attempts(target: Target) {
    let server = peer(target, &[]);
    let socket = builder(&server, Transports::WebSocket)
        .reconnection_attempts(2)
        .connect()
        .await
        .unwrap();
    let mut manager_events = socket.manager().events();
    drop(server);
    let mut attempts = 0;
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        match tokio::time::timeout_at(deadline, manager_events.recv()).await {
            Ok(Ok(ManagerEvent::ReconnectAttempt(n))) => {
                attempts += 1;
                assert_eq!(n, attempts);
            }
            Ok(Ok(ManagerEvent::ReconnectFailed)) => break,
            Ok(Ok(_)) => {}
            other => panic!("no reconnect_failed: {other:?}"),
        }
    }
    assert_eq!(attempts, 2);
}

async fn recovery(target: Target, transports: Transports) {
    let server = peer(target, &["--recovery"]);
    let (tx, mut rx) = events();
    let socket = forward(builder(&server, transports), &["tick", "missed"], &tx)
        .connect()
        .await
        .unwrap();
    assert!(!socket.recovered());
    let id = socket.id().unwrap();
    socket.emit("tick", 2).unwrap();
    for i in 1..=2 {
        let tick = next_event(&mut rx, "tick").await;
        assert_eq!(tick.args()[0], v(json!(i)));
        // With recovery on, the server appends the offset.
        assert!(tick.args()[1].as_str().is_some(), "{tick:?}");
    }
    // The server drops the connection, then emits 3 events we miss.
    socket.emit("drop-and-emit", 3).unwrap();
    for i in 1..=3 {
        let missed = next_event(&mut rx, "missed").await;
        assert_eq!(missed.args()[0], v(json!(i)));
    }
    wait_until("reconnected", || socket.connected()).await;
    assert!(socket.recovered(), "the session was not recovered");
    assert_eq!(socket.id().unwrap(), id, "same id after recovery");
    let me = whoami(&socket).await;
    assert_eq!(me["recovered"], true);
}

async fn msgpack(target: Target, transports: Transports) {
    let server = peer(target, &["--msgpack"]);
    let (tx, mut rx) = events();
    let socket = forward(builder(&server, transports), &["echo", "answer"], &tx)
        .parser(Parser::MsgPack)
        .on("question", |event: Event, _s: Socket| async move {
            let n: u64 = event.arg::<Json>(0).unwrap()["n"].as_u64().unwrap();
            json!({"double": n * 2})
        })
        .connect()
        .await
        .unwrap();
    let payload = v(json!({"a": [1, 2.5, "x", null, true]}));
    let mut payload = match payload {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    payload.insert(
        "bin".to_owned(),
        Value::Array(vec![Value::Binary(Bytes::from_static(b"\xff\x00"))]),
    );
    let payload = Value::Object(payload);
    socket.emit("echo", &payload).unwrap();
    assert_eq!(
        next_event(&mut rx, "echo").await.args(),
        std::slice::from_ref(&payload)
    );
    let Args(reply) = socket
        .emit_with_ack("ack", Args::new().arg(&payload).arg("two"))
        .unwrap()
        .await
        .unwrap();
    assert_eq!(reply, vec![payload, v(json!("two"))]);
    socket
        .emit("ask", Args::new().arg(json!({"n": 4})).arg(5000))
        .unwrap();
    assert_eq!(
        next_event(&mut rx, "answer").await.args(),
        &[v(json!({"double": 8}))]
    );
}

async fn retries(target: Target, transports: Transports) {
    let server = peer(target, &[]);
    let socket = builder(&server, transports)
        .ack_timeout(Duration::from_millis(300))
        .retries(3)
        .connect()
        .await
        .unwrap();
    // The server acks only the third delivery.
    let reply: (String, u64) = socket
        .emit_with_ack("flaky", "payload")
        .unwrap()
        .await
        .unwrap();
    assert_eq!(reply, ("ok".to_owned(), 3));
    let mut deliveries = 0;
    while deliveries < 3 {
        let line = server_line(&server, |j| j.get("flaky").is_some());
        assert_eq!(line["args"], json!(["payload"]));
        deliveries += 1;
    }
    // Fire-and-forget emits go through the same queue: redelivered until acked (3 more).
    socket.emit("flaky", "second").unwrap();
    let line = server_line(&server, |j| j["flaky"] == 6);
    assert_eq!(line["args"], json!(["second"]));
    // A volatile emit skips the retry queue (as in the reference): delivered once, no ack asked
    // for, never redelivered although unanswered.
    // (Two arguments: the npm fixture pops the last one, taking it for the ack callback.)
    let two = |first: &str| Args::new().arg(first).arg(0);
    socket.volatile().emit("flaky", two("volatile")).unwrap();
    let line = server_line(&server, |j| j["flaky"] == 7);
    assert_eq!(line["args"][0], json!("volatile"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    socket.volatile().emit("flaky", two("marker")).unwrap();
    let line = server_line(&server, |j| j["flaky"] == 8);
    assert_eq!(
        line["args"][0],
        json!("marker"),
        "the volatile emit was redelivered"
    );
    // With too few retries the ack fails.
    let few = builder(&server, transports)
        .ack_timeout(Duration::from_millis(200))
        .retries(1)
        .connect()
        .await
        .unwrap();
    let err = few
        .emit_with_ack::<_, Args>("flaky", 1)
        .unwrap()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AckTimeout), "{err:?}");
}

async fn manual_disconnect_and_drop(target: Target, transports: Transports) {
    let server = peer(target, &[]);
    let socket = builder(&server, transports).connect().await.unwrap();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    socket.disconnect().await;
    let line = server_line(&server, |j| j.get("disconnect").is_some());
    assert_eq!(line["reason"], "client namespace disconnect");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!socket.connected(), "reconnected after a manual disconnect");
    assert!(matches!(socket.emit("echo", 1), Err(Error::Closed)));
    // An explicit connect() joins again.
    socket.connect().await.unwrap();
    assert!(socket.connected());
    assert_eq!(whoami(&socket).await["nsp"], "/");
    socket.disconnect().await;
    server_line(&server, |j| j.get("disconnect").is_some());

    // Dropping the last handle disconnects too, and no reconnection follows.
    let dropped = builder(&server, transports)
        .on_disconnect({
            let reasons = reasons.clone();
            move |_s, reason| {
                reasons.lock().unwrap().push(reason);
                async {}
            }
        })
        .connect()
        .await
        .unwrap();
    server_line(&server, |j| j.get("connection").is_some());
    drop(dropped);
    let line = server_line(&server, |j| j.get("disconnect").is_some());
    assert_eq!(line["reason"], "client namespace disconnect");
    let probe = builder(&server, transports).connect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let stats = crate::sioclient_interop::stats(&probe).await;
    assert_eq!(stats["clientsCount"], 1, "{stats}");
}

fn blocking_client(target: Target) {
    let server = peer(target, &[]);
    let (tx, rx) = std::sync::mpsc::channel::<Event>();
    let tx = Mutex::new(tx);
    let socket =
        socketio_client::blocking::connect(ClientBuilder::new(url(&server)).force_new(true).on(
            "echo",
            move |event: Event, _s: Socket| {
                let _ = tx.lock().unwrap().send(event);
                async {}
            },
        ))
        .unwrap();
    assert!(socket.connected());
    socket.emit("echo", json!({"from": "blocking"})).unwrap();
    let event = rx.recv_timeout(STEP).unwrap();
    assert_eq!(event.args(), &[v(json!({"from": "blocking"}))]);
    // The answer reads as on the async socket and the server (`FromAck`).
    let n: u32 = socket
        .emit_with_ack("ack", 9)
        .unwrap()
        .timeout(STEP)
        .wait()
        .unwrap();
    assert_eq!(n, 9);
    let pair: (String, u8) = socket
        .emit_with_ack("ack", Args::new().arg("pair").arg(2))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(pair, ("pair".to_owned(), 2));
    let Args(reply) = socket.emit_with_ack("ack", "raw").unwrap().wait().unwrap();
    assert_eq!(reply, vec![v(json!("raw"))]);
    let err = socket
        .emit_with_ack::<_, u64>("ack", "not a number")
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(matches!(err, Error::Serde(_)), "{err:?}");
    assert!(
        socket.connected(),
        "a mismatched answer is not a connection error"
    );
    // Volatile while connected is delivered, with the same shape as the async socket's.
    socket
        .volatile()
        .emit("echo", json!({"volatile": true}))
        .unwrap();
    let event = rx.recv_timeout(STEP).unwrap();
    assert_eq!(event.args(), &[v(json!({"volatile": true}))]);
    // An event the server never answers: the wait ends at the timeout.
    let started = std::time::Instant::now();
    let err = socket
        .emit_with_ack::<_, Args>("no-such-handler", 1)
        .unwrap()
        .timeout(Duration::from_millis(300))
        .wait()
        .unwrap_err();
    assert!(matches!(err, socketio_client::Error::AckTimeout), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    socket.disconnect();
    assert!(!socket.connected());
}

/// The server stops answering (SIGSTOP): the client notices within pingInterval + pingTimeout,
/// disconnects with "ping timeout", and reconnects once the server runs again.
async fn ping_timeout(target: Target, transports: Transports) {
    let mut server = peer(target, &["--ping-interval", "300", "--ping-timeout", "200"]);
    let pid = server.pid().to_string();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let socket = builder(&server, transports)
        .on_disconnect({
            let reasons = reasons.clone();
            move |_s, reason| {
                reasons.lock().unwrap().push(reason);
                async {}
            }
        })
        .connect()
        .await
        .unwrap();
    // Heartbeats are answered: still connected after several ping intervals.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(socket.connected());
    assert!(
        reasons.lock().unwrap().is_empty(),
        "{:?}",
        reasons.lock().unwrap()
    );

    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, pid.as_str()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    let stopped = tokio::time::Instant::now();
    wait_until("ping timeout", || !reasons.lock().unwrap().is_empty()).await;
    signal("-CONT");
    assert!(
        stopped.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopped.elapsed()
    );
    assert_eq!(
        reasons.lock().unwrap()[0],
        DisconnectReason::PingTimeout,
        "{:?}",
        reasons.lock().unwrap()
    );
    wait_until("reconnection", || socket.connected()).await;
    assert_eq!(whoami(&socket).await["nsp"], "/");
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
struct Upload {
    name: String,
    data: Bytes,
    parts: Vec<Part>,
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
struct Part {
    index: u32,
    chunk: Bytes,
}

async fn stats(socket: &Socket) -> Json {
    socket
        .emit_with_ack("stats", Args::new())
        .unwrap()
        .await
        .unwrap()
}

/// Namespaces opened from one manager (`socket.manager().socket(nsp)`) share its Engine.IO
/// connection; refusals and a server-side namespace disconnect leave the other namespaces of
/// that connection alone; heartbeats keep every namespace connected (pings every 300 ms: a
/// connection that did not answer them would be closed after 1.3 s; the 1 s pingTimeout keeps
/// a loaded test machine from closing it).
async fn manager_namespaces(target: Target, transports: Transports) {
    let server = peer(
        target,
        &["--ping-interval", "300", "--ping-timeout", "1000"],
    );
    let disconnects = Arc::new(Mutex::new(Vec::new()));
    let root = builder(&server, transports)
        .auth(json!({"token": "root"}))
        .on_disconnect({
            let disconnects = disconnects.clone();
            move |_s, reason| {
                disconnects.lock().unwrap().push(reason);
                async {}
            }
        })
        .connect()
        .await
        .unwrap();
    let admin = root
        .manager()
        .socket("/admin")
        .auth(json!({"token": "a"}))
        .connect()
        .await
        .unwrap();
    let chat = root.manager().socket("/chat").connect().await.unwrap();
    let me = whoami(&admin).await;
    assert_eq!(me["nsp"], "/admin");
    assert_eq!(me["auth"], json!({"token": "a"}));
    assert_eq!(whoami(&chat).await["nsp"], "/chat");
    let seen = stats(&root).await;
    assert_eq!(seen["clientsCount"], 1, "one Engine.IO connection: {seen}");
    assert_eq!(seen["sockets"]["/admin"], 1, "{seen}");
    assert_eq!(seen["sockets"]["/chat"], 1, "{seen}");

    // The same namespace twice on one connection is refused locally (the server would close
    // the connection on a second CONNECT).
    let twice = root.manager().socket("/chat").connect().await.unwrap_err();
    assert!(matches!(twice, Error::InvalidConfig(_)), "{twice:?}");
    // Refusals on the shared connection: the error comes back, the connection stays.
    let refused = root
        .manager()
        .socket("/refused")
        .connect()
        .await
        .unwrap_err();
    match refused {
        Error::ConnectRefused { message, data } => {
            assert_eq!(message, "not authorized");
            assert_eq!(data, Some(v(json!({"code": 42}))));
        }
        other => panic!("{other:?}"),
    }
    let unknown = root.manager().socket("/nope").connect().await.unwrap_err();
    assert!(
        matches!(&unknown, Error::ConnectRefused { message, .. } if message == "Invalid namespace"),
        "{unknown:?}"
    );

    // Several ping intervals later every namespace is still connected.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(root.connected() && admin.connected() && chat.connected());
    assert_eq!(stats(&chat).await["clientsCount"], 1);

    // The server disconnects "/": no reconnection, the other namespaces keep the connection.
    root.emit("server-disconnect", Args::new()).unwrap();
    wait_until("server disconnect", || !root.connected()).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!root.connected(), "reconnected after io server disconnect");
    assert_eq!(
        disconnects.lock().unwrap().as_slice(),
        &[DisconnectReason::IoServerDisconnect]
    );
    let seen = stats(&admin).await;
    assert_eq!(seen["clientsCount"], 1, "{seen}");
    assert_eq!(seen["sockets"]["/"], 0, "{seen}");
    assert_eq!(whoami(&chat).await["nsp"], "/chat");
}

/// A socket of its own (`force_new`) whose `on_typed("echo")` handler forwards each `T` it reads.
async fn typed_echo<T: FromAck + Send + 'static>(
    server: &Peer,
    transports: Transports,
) -> (Socket, mpsc::UnboundedReceiver<T>) {
    let (tx, rx) = mpsc::unbounded_channel::<T>();
    let socket = builder(server, transports)
        .force_new(true)
        .on_typed("echo", move |data: T, _s: Socket| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(data);
            }
        })
        .connect()
        .await
        .unwrap();
    (socket, rx)
}

/// Typed serde arguments with binary fields at any depth, both ways, over every transport.
async fn typed_payloads_with_binary(target: Target) {
    let server = peer(target, &[]);
    for transports in [
        Transports::Polling,
        Transports::WebSocket,
        Transports::Upgrade,
    ] {
        let (socket, mut rx) = typed_echo::<Upload>(&server, transports).await;
        let upload = Upload {
            name: "photo.png".to_owned(),
            data: Bytes::from_static(b"\x89PNG\r\n"),
            parts: vec![
                Part {
                    index: 0,
                    chunk: Bytes::from(vec![7u8; 300]),
                },
                Part {
                    index: 1,
                    chunk: Bytes::new(),
                },
            ],
        };
        socket.emit("echo", &upload).unwrap();
        let back = tokio::time::timeout(STEP, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, upload);
        let acked: Upload = socket.emit_with_ack("ack", &upload).unwrap().await.unwrap();
        assert_eq!(acked, upload);
        socket.disconnect().await;
    }
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Profile {
    name: String,
    tags: Vec<String>,
    score: f64,
}

/// `on_typed` reads an event's arguments by the `FromAck` rule the server's `Data<T>` uses: one
/// argument directly (a struct), several as a sequence (a tuple). An event that does not fit is
/// skipped (logged) and the socket goes on. The fixture's `echo` emits back what it got.
async fn typed_handler_arguments(target: Target) {
    let server = peer(target, &[]);
    let (one, mut profiles) = typed_echo::<Profile>(&server, Transports::WebSocket).await;
    let (two, mut pairs) = typed_echo::<(String, u32)>(&server, Transports::WebSocket).await;
    let ada = json!({"name": "ada", "tags": ["x"], "score": 1.5});
    let expected = |name: &str| Profile {
        name: name.to_owned(),
        tags: vec!["x".to_owned()],
        score: 1.5,
    };

    // One argument read as a struct.
    one.emit("echo", &ada).unwrap();
    let got = tokio::time::timeout(STEP, profiles.recv()).await.unwrap();
    assert_eq!(got, Some(expected("ada")));
    // Mismatches are skipped: a wrong field type, and two arguments for a struct (the old
    // first-argument rule would have taken this one).
    one.emit("echo", json!({"name": 3})).unwrap();
    one.emit("echo", Args::new().arg(&ada).arg("extra"))
        .unwrap();
    // Events are handled in order, so the next good one arriving first proves both were skipped.
    one.emit("echo", json!({"name": "bob", "tags": ["x"], "score": 1.5}))
        .unwrap();
    let got = tokio::time::timeout(STEP, profiles.recv()).await.unwrap();
    assert_eq!(got, Some(expected("bob")));
    assert!(profiles.try_recv().is_err());

    // Two arguments read as a tuple; one argument does not fit a pair and is skipped.
    two.emit("echo", Args::new().arg("a").arg(2)).unwrap();
    let got = tokio::time::timeout(STEP, pairs.recv()).await.unwrap();
    assert_eq!(got, Some(("a".to_owned(), 2)));
    two.emit("echo", "only-one").unwrap();
    two.emit("echo", Args::new().arg("b").arg(3)).unwrap();
    let got = tokio::time::timeout(STEP, pairs.recv()).await.unwrap();
    assert_eq!(got, Some(("b".to_owned(), 3)));
    assert!(pairs.try_recv().is_err());

    // Both sockets still work after the skipped events.
    assert!(one.connected() && two.connected());
    let n: u64 = one.emit_with_ack("ack", 5).unwrap().await.unwrap();
    assert_eq!(n, 5);
    let n: u64 = two.emit_with_ack("ack", 6).unwrap().await.unwrap();
    assert_eq!(n, 6);
    one.disconnect().await;
    two.disconnect().await;
}

/// The answer to an ack reads as the server reads one (`FromAck`, shared through
/// `socketio-parser`): one argument directly, several as a sequence (a tuple), `Args` as the
/// raw list, no argument as `()` or `None`, and an answer of another shape as a typed error that
/// leaves the socket working. The fixture's `ack` answers with the arguments it got
/// (`cb(...args)`).
async fn ack_result_typing(target: Target, parser: Parser) {
    let flags: &[&str] = if parser == Parser::MsgPack {
        &["--msgpack"]
    } else {
        &[]
    };
    let server = peer(target, flags);
    let socket = builder(&server, Transports::WebSocket)
        .parser(parser)
        .connect()
        .await
        .unwrap();
    // `cb(7)` is 7, not `[7]`.
    let n: u64 = socket.emit_with_ack("ack", 7).unwrap().await.unwrap();
    assert_eq!(n, 7);
    let n = socket
        .emit_with_ack::<_, u64>("ack", 8)
        .unwrap()
        .timeout(STEP)
        .await
        .unwrap();
    assert_eq!(n, 8);
    // A struct.
    let profile: Profile = socket
        .emit_with_ack(
            "ack",
            json!({"name": "ada", "tags": ["x", "y"], "score": 1.5}),
        )
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        profile,
        Profile {
            name: "ada".to_owned(),
            tags: vec!["x".to_owned(), "y".to_owned()],
            score: 1.5
        }
    );
    // Several answers as a tuple; a one-element tuple takes one answer.
    let (text, count, flag): (String, u32, bool) = socket
        .emit_with_ack("ack", Args::new().arg("a").arg(2).arg(true))
        .unwrap()
        .await
        .unwrap();
    assert_eq!((text.as_str(), count, flag), ("a", 2, true));
    let (one,): (String,) = socket.emit_with_ack("ack", "solo").unwrap().await.unwrap();
    assert_eq!(one, "solo");
    // Binary.
    let bytes: Bytes = socket
        .emit_with_ack("ack", Bytes::from_static(b"\x00\xffbin"))
        .unwrap()
        .await
        .unwrap();
    assert_eq!(bytes, Bytes::from_static(b"\x00\xffbin"));
    // The raw answers: `Args` keeps one array argument as one argument; `Vec<Value>` follows
    // the serde rule, so `cb([1, 2])` and `cb(1, 2)` read alike.
    let Args(raw) = socket
        .emit_with_ack("ack", vec![1, 2])
        .unwrap()
        .await
        .unwrap();
    assert_eq!(raw, vec![v(json!([1, 2]))]);
    let Args(raw) = socket
        .emit_with_ack("ack", Args::new().arg(1).arg("two"))
        .unwrap()
        .await
        .unwrap();
    assert_eq!(raw, vec![v(json!(1)), v(json!("two"))]);
    let flat: Vec<Value> = socket
        .emit_with_ack("ack", vec![1, 2])
        .unwrap()
        .await
        .unwrap();
    assert_eq!(flat, vec![v(json!(1)), v(json!(2))]);
    // No argument (`cb()`).
    let Args(none) = socket.emit_with_ack("ack", ()).unwrap().await.unwrap();
    assert!(none.is_empty(), "{none:?}");
    let () = socket.emit_with_ack("ack", ()).unwrap().await.unwrap();
    let nothing: Option<String> = socket.emit_with_ack("ack", ()).unwrap().await.unwrap();
    assert_eq!(nothing, None);
    // An answer of another shape is `Error::Serde`, not a panic, and the socket goes on.
    let err = socket
        .emit_with_ack::<_, u64>("ack", "seven")
        .unwrap()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Serde(_)), "{err:?}");
    let err = socket
        .emit_with_ack::<_, (String, u32)>("ack", "only-one")
        .unwrap()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Serde(_)), "{err:?}");
    let err = socket
        .emit_with_ack::<_, Profile>("ack", json!({"name": 3}))
        .unwrap()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Serde(_)), "{err:?}");
    assert!(socket.connected());
    let n: u64 = socket.emit_with_ack("ack", 9).unwrap().await.unwrap();
    assert_eq!(n, 9);
    socket.disconnect().await;
}
