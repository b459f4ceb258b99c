//! Our Engine.IO client over WebTransport against our server (in process, a real QUIC endpoint
//! on 127.0.0.1 with a self-signed certificate accepted by its hash): a session opened over
//! WebTransport, and polling upgraded to WebTransport; text, binary, a 1 MB message, the
//! heartbeat, and the close.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use engine_io::wtransport::{Endpoint, Identity, ServerConfig};
use engine_io::{Config, Message as SrvMessage, Server, TransportType};
use engine_io_client::{Client, Event, Message};

/// An echo server over polling, WebSocket and WebTransport; returns its port and cert hash.
async fn echo_server() -> (u16, [u8; 32]) {
    let config = Config::builder()
        .ping_interval(Duration::from_millis(300))
        // Not the conformance server's 200 ms: a debug build's QUIC crypto (ring unoptimised)
        // takes that long for a 1 MB echo when the tests run side by side, and the pong waits
        // behind it (measured: "ping timeout" on the server).
        .ping_timeout(Duration::from_millis(1500))
        .transports([
            TransportType::Polling,
            TransportType::Websocket,
            TransportType::Webtransport,
        ])
        .build();
    let server = Server::new_stream(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let identity = Identity::self_signed(["localhost", "127.0.0.1"]).unwrap();
    let hash = *identity.certificate_chain().as_slice()[0].hash().as_ref();
    let endpoint = Endpoint::server(
        ServerConfig::builder()
            .with_bind_address(([127, 0, 0, 1], port).into())
            .with_identity(identity)
            .build(),
    )
    .unwrap();
    let acceptor = server.clone();
    tokio::spawn(async move {
        while let Some(socket) = acceptor.accept().await {
            tokio::spawn(async move {
                while let Some(msg) = socket.recv().await {
                    let msg: SrvMessage = msg;
                    if socket.send(msg).await.is_err() {
                        break;
                    }
                }
                eprintln!(
                    "server: session over {} closed: {:?} {:?}",
                    socket.transport(),
                    socket.close_reason(),
                    socket.close_description()
                );
            });
        }
    });
    let wt = server.clone();
    tokio::spawn(async move { wt.serve_webtransport(endpoint).await });
    tokio::spawn(async move { server.serve(listener).await });
    (port, hash)
}

async fn next_message(events: &mut engine_io_client::Events) -> Message {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Some(Event::Message(m))) => return m,
            Ok(Some(Event::Close(r))) => panic!("closed: {r:?} {:?}", r.error()),
            Ok(Some(_)) => continue,
            Ok(None) => panic!("events ended"),
            Err(_) => panic!("no message within 5 s"),
        }
    }
}

async fn exchange(client: &Client, events: &mut engine_io_client::Events) {
    client.send("hello").await.unwrap();
    assert_eq!(next_message(events).await, Message::Text("hello".into()));
    let bin = bytes::Bytes::from_static(&[0, 1, 2, 255]);
    client.send(bin.clone()).await.unwrap();
    assert_eq!(next_message(events).await, Message::Binary(bin));
    let big = bytes::Bytes::from(
        (0..1_000_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    client.send(big.clone()).await.unwrap();
    assert_eq!(next_message(events).await, Message::Binary(big));
    // Heartbeat: pingInterval 300 ms; the session outlives several pings.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    client.send("still here").await.unwrap();
    assert_eq!(
        next_message(events).await,
        Message::Text("still here".into())
    );
}

#[tokio::test]
async fn our_client_over_webtransport_only() {
    let (port, hash) = echo_server().await;
    let (client, mut events) = Client::builder(format!("http://127.0.0.1:{port}"))
        .transports([TransportType::Webtransport])
        .server_certificate_hashes([hash])
        .connect()
        .await
        .expect("connect over WebTransport");
    assert_eq!(client.transport(), TransportType::Webtransport);
    exchange(&client, &mut events).await;
    client.close().await;
    let reason = tokio::time::timeout(Duration::from_secs(3), client.closed())
        .await
        .unwrap();
    assert_eq!(reason.as_str(), "forced close", "{reason:?}");
}

#[tokio::test]
async fn our_client_polling_then_webtransport() {
    let (port, hash) = echo_server().await;
    let (client, mut events) = Client::builder(format!("http://127.0.0.1:{port}"))
        .transports([TransportType::Polling, TransportType::Webtransport])
        .server_certificate_hashes([hash])
        .connect()
        .await
        .expect("connect over polling");
    assert_eq!(client.transport(), TransportType::Polling);
    match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
        Ok(Some(Event::Upgrade(t))) => assert_eq!(t, TransportType::Webtransport),
        other => panic!("expected the upgrade to webtransport, got {other:?}"),
    }
    assert_eq!(client.transport(), TransportType::Webtransport);
    exchange(&client, &mut events).await;
}

#[tokio::test]
async fn our_client_refuses_a_certificate_with_another_hash() {
    let (port, _) = echo_server().await;
    let err = Client::builder(format!("http://127.0.0.1:{port}"))
        .transports([TransportType::Webtransport])
        .server_certificate_hashes([[7u8; 32]])
        .connect()
        .await
        .map(|_| ())
        .expect_err("a certificate with another hash must be refused");
    assert!(err.to_string().contains("WebTransport"), "{err}");
}
