//! The tower layer inside an axum 0.8 router.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use axum::routing::get as route_get;
use axum::Router;
use common::*;

#[tokio::test]
async fn layer_routes_engine_requests_and_passes_others_through() {
    let rec = std::sync::Arc::new(Recorder::default());
    let server = engine_io::Server::new(fast_config().build(), RecHandler(rec.clone()));
    let app: Router = Router::new()
        .route("/hello", route_get(|| async { "world" }))
        .layer(server.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let r = get(addr, "/hello").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "world");
    assert_eq!(get(addr, "/missing").await.status, 404);
    let sid = handshake(addr, "EIO=4").await;
    post(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
        b"4via axum",
    )
    .await;
    assert_eq!(
        get(
            addr,
            &format!("/engine.io/?EIO=4&transport=polling&sid={sid}")
        )
        .await
        .text(),
        "4via axum"
    );

    // WebSocket upgrades work through axum too
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(
        format!("ws://{addr}/engine.io/?EIO=4&transport=websocket"),
        stream,
    )
    .await
    .unwrap();
    use futures_util::{SinkExt, StreamExt};
    let open = ws.next().await.unwrap().unwrap();
    assert!(open.into_text().unwrap().starts_with("0{"));
    ws.send(tokio_tungstenite::tungstenite::Message::text("4x"))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        tokio_tungstenite::tungstenite::Message::text("4x")
    );
}

/// Under axum with `into_make_service_with_connect_info::<SocketAddr>()`, sockets
/// know their peer address (from axum's `ConnectInfo`), over polling and WebSocket.
#[tokio::test]
async fn remote_address_from_axum_connect_info() {
    let rec = std::sync::Arc::new(Recorder::default());
    let server = engine_io::Server::new(fast_config().build(), RecHandler(rec.clone()));
    let app: Router = Router::new()
        .route("/hello", route_get(|| async { "world" }))
        .layer(server.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });

    handshake(addr, "EIO=4").await;
    rec.wait_for("remote Some(127.0.0.1:").await;
    rec.events.lock().unwrap().clear();

    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    let (_ws, _) = tokio_tungstenite::client_async(
        format!("ws://{addr}/engine.io/?EIO=4&transport=websocket"),
        stream,
    )
    .await
    .unwrap();
    rec.wait_for(&format!("remote Some({local})")).await;
}
