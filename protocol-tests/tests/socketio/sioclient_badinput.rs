//! The Rust `socketio-client` against misbehaving servers (`protocol-tests/js/sioclient-badserver.js`,
//! a raw npm engine.io server answering CONNECT wrongly): a clear error and a clean close, never a
//! panic or a hang.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol_tests::NodePeer;
use socketio_client::{ClientBuilder, DisconnectReason, Error, Transports};

const STEP: Duration = Duration::from_secs(10);

fn bad_server(mode: &str) -> NodePeer {
    NodePeer::spawn("sioclient-badserver.js", &[mode], &[])
}

fn builder(peer: &NodePeer, transports: Transports) -> ClientBuilder {
    ClientBuilder::new(format!("http://127.0.0.1:{}", peer.port()))
        .transports(transports)
        .force_new(true)
        .reconnection(false)
        .connect_timeout(Duration::from_secs(3))
}

/// The server answers CONNECT, then sends something invalid: the client closes the connection
/// with "parse error".
async fn closes_with_parse_error(mode: &str, transports: Transports) {
    let server = bad_server(mode);
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
        .expect("the CONNECT answer is valid");
    let deadline = tokio::time::Instant::now() + STEP;
    while reasons.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no disconnect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        reasons.lock().unwrap().as_slice(),
        &[DisconnectReason::ParseError]
    );
    assert!(!socket.connected());
    assert!(!socket.manager().is_open(), "the connection was closed");
    // Emitting now buffers (reconnection is off, nothing is lost silently: no panic either).
    socket.emit("x", 1).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_packet_polling() {
    closes_with_parse_error("garbage", Transports::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_packet_websocket() {
    closes_with_parse_error("garbage", Transports::WebSocket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unexpected_binary_polling() {
    closes_with_parse_error("bad-binary", Transports::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unexpected_binary_websocket() {
    closes_with_parse_error("bad-binary", Transports::WebSocket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_attachments_upgrade() {
    closes_with_parse_error("huge-attachments", Transports::Upgrade).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_answer_without_sid() {
    let server = bad_server("no-sid");
    let err = builder(&server, Transports::WebSocket)
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Protocol(m) if m.contains("v2")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_never_answered() {
    let server = bad_server("silent");
    let started = tokio::time::Instant::now();
    let err = builder(&server, Transports::Polling)
        .connect_timeout(Duration::from_millis(800))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConnectTimeout(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = ClientBuilder::new(format!("http://127.0.0.1:{port}"))
        .force_new(true)
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Engine(_)), "{err:?}");
    let err = ClientBuilder::new("ftp://127.0.0.1/")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUrl(_)), "{err:?}");
}

/// The npm server sends a message larger than the client's limit: the connection closes with a
/// clear reason, nothing is buffered without bound, and the client reconnects.
async fn oversize(transports: Transports) {
    let server = NodePeer::spawn("sioclient-peer.js", &[], &[]);
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let socket = ClientBuilder::new(format!("http://127.0.0.1:{}", server.port()))
        .transports(transports)
        .force_new(true)
        .max_incoming_payload(100_000)
        .reconnection_delay(Duration::from_millis(100))
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
    // Under the limit, then far over it.
    socket.emit("big", 50_000).unwrap();
    socket.emit("big", 1_000_000).unwrap();
    let deadline = tokio::time::Instant::now() + STEP;
    while reasons.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no disconnect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reason = reasons.lock().unwrap()[0];
    assert!(
        matches!(
            reason,
            DisconnectReason::TransportError | DisconnectReason::ParseError
        ),
        "{reason:?}"
    );
    // Reconnection brings it back.
    let deadline = tokio::time::Instant::now() + STEP;
    while !socket.connected() {
        assert!(tokio::time::Instant::now() < deadline, "no reconnection");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_message_polling() {
    oversize(Transports::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_message_websocket() {
    oversize(Transports::WebSocket).await;
}
