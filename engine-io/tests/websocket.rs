//! The WebSocket transport and the upgrade from polling, over real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use bytes::Bytes;
use common::*;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::WebSocketStream;

type Client = WebSocketStream<TcpStream>;

async fn connect(addr: SocketAddr, query: &str) -> Client {
    let stream = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/engine.io/?{query}");
    let (ws, resp) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert_eq!(resp.status(), 101);
    ws
}

async fn next(ws: &mut Client) -> Ws {
    tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("ws timeout")
        .expect("ws ended")
        .expect("ws error")
}

#[tokio::test]
async fn websocket_handshake_echo_and_heartbeat() {
    let (addr, _server, rec) = start(fast_config().build()).await;
    let mut ws = connect(addr, "EIO=4&transport=websocket").await;
    let open = next(&mut ws).await.into_text().unwrap();
    assert!(open.starts_with("0{\"sid\":\""));
    assert!(open.contains("\"upgrades\":[]"));
    ws.send(Ws::text("4hello")).await.unwrap();
    assert_eq!(next(&mut ws).await, Ws::text("4hello"));
    ws.send(Ws::binary(Bytes::from_static(&[1, 2, 3])))
        .await
        .unwrap();
    assert_eq!(
        next(&mut ws).await,
        Ws::binary(Bytes::from_static(&[1, 2, 3]))
    );
    // base64 binary in a text frame is accepted too
    ws.send(Ws::text("bAQI=")).await.unwrap();
    assert_eq!(next(&mut ws).await, Ws::binary(Bytes::from_static(&[1, 2])));
    assert_eq!(next(&mut ws).await, Ws::text("2"));
    ws.send(Ws::text("3")).await.unwrap();
    assert_eq!(next(&mut ws).await, Ws::text("2"));
    // no pong: closed with a close frame after pingTimeout
    match next(&mut ws).await {
        Ws::Close(_) => {}
        other => panic!("{other:?}"),
    }
    rec.wait_for("close ping timeout").await;
}

#[tokio::test]
async fn oversize_websocket_message_closes_with_1009() {
    let (addr, server, rec) = start(fast_config().max_http_buffer_size(100).build()).await;
    let mut ws = connect(addr, "EIO=4&transport=websocket").await;
    next(&mut ws).await;
    ws.send(Ws::text(format!("4{}", "x".repeat(200))))
        .await
        .unwrap();
    match next(&mut ws).await {
        Ws::Close(Some(f)) => assert_eq!(u16::from(f.code), 1009),
        other => panic!("{other:?}"),
    }
    rec.wait_for("close transport error").await;
    assert_eq!(server.count(), 0);
}

/// A peer that vanishes without a close frame (EOF) is a "transport close", as
/// the reference's `ws` reports it with `close` and no `error`.
#[tokio::test]
async fn websocket_eof_without_close_frame_is_transport_close() {
    let (addr, server, rec) = start(fast_config().build()).await;
    let mut ws = connect(addr, "EIO=4&transport=websocket").await;
    next(&mut ws).await;
    rec.wait_for("connect ").await;
    // Drop the TCP connection under the WebSocket: no close frame.
    drop(ws.into_inner());
    rec.wait_for("close transport close").await;
    assert!(!rec.has("close transport error"));
    assert_eq!(server.count(), 0);
}

/// A close frame from the peer is a "transport close" too.
#[tokio::test]
async fn websocket_close_frame_is_transport_close() {
    let (addr, _server, rec) = start(fast_config().build()).await;
    let mut ws = connect(addr, "EIO=4&transport=websocket").await;
    next(&mut ws).await;
    ws.close(None).await.unwrap();
    rec.wait_for("close transport close").await;
}

#[tokio::test]
async fn parse_error_over_websocket() {
    let (addr, _server, rec) = start(fast_config().build()).await;
    let mut ws = connect(addr, "EIO=4&transport=websocket").await;
    next(&mut ws).await;
    ws.send(Ws::text("x")).await.unwrap();
    rec.wait_for("close parse error").await;
}

#[tokio::test]
async fn v3_websocket_binary_has_type_byte() {
    let (addr, _server, _rec) = start(fast_config().allow_eio3(true).build()).await;
    let mut ws = connect(addr, "EIO=3&transport=websocket").await;
    next(&mut ws).await;
    ws.send(Ws::binary(Bytes::from_static(&[4, 9, 9])))
        .await
        .unwrap();
    assert_eq!(
        next(&mut ws).await,
        Ws::binary(Bytes::from_static(&[4, 9, 9]))
    );
    ws.send(Ws::text("2")).await.unwrap();
    assert_eq!(next(&mut ws).await, Ws::text("3"));
}

#[tokio::test]
async fn upgrade_from_polling() {
    let (addr, server, rec) =
        start(fast_config().ping_interval(Duration::from_secs(10)).build()).await;
    let sid = handshake(addr, "EIO=4").await;
    let poll_path = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
    let p2 = poll_path.clone();
    let pending = tokio::spawn(async move { get(addr, &p2).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut ws = connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    ws.send(Ws::text("2probe")).await.unwrap();
    assert_eq!(next(&mut ws).await, Ws::text("3probe"));
    // the pending GET is released with a noop
    assert_eq!(pending.await.unwrap().text(), "6");
    // a message sent before the upgrade completes is flushed over the WebSocket
    server.socket(&sid).unwrap().try_send("buffered").unwrap();
    ws.send(Ws::text("5")).await.unwrap();
    assert_eq!(next(&mut ws).await, Ws::text("4buffered"));
    rec.wait_for("upgrade").await;
    assert_eq!(
        server.socket(&sid).unwrap().transport(),
        engine_io::TransportType::Websocket
    );
    ws.send(Ws::text("4after")).await.unwrap();
    assert_eq!(next(&mut ws).await, Ws::text("4after"));
    // polling after the upgrade is a bad request
    let r = get(addr, &poll_path).await;
    assert_eq!(r.text(), r#"{"code":3,"message":"Bad request"}"#);
    // a second WebSocket for the upgraded session is closed
    let mut ws2 = connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    match tokio::time::timeout(Duration::from_secs(5), ws2.next())
        .await
        .unwrap()
    {
        Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => {}
        Some(Ok(other)) => panic!("{other:?}"),
    }
    // the session still works
    ws.send(Ws::text("4still")).await.unwrap();
    assert_eq!(next(&mut ws).await, Ws::text("4still"));
    // shutdown closes the WebSocket with a close frame
    server.close_all(Duration::from_secs(1)).await;
    assert!(matches!(next(&mut ws).await, Ws::Close(_)));
}

#[tokio::test]
async fn bad_probe_and_upgrade_timeout() {
    let (addr, server, _rec) = start(
        fast_config()
            .ping_interval(Duration::from_secs(10))
            .upgrade_timeout(Duration::from_millis(200))
            .build(),
    )
    .await;
    let sid = handshake(addr, "EIO=4").await;
    let mut ws = connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    ws.send(Ws::text("4nope")).await.unwrap();
    assert!(matches!(next(&mut ws).await, Ws::Close(_)));
    // the session is still polling
    assert_eq!(
        server.socket(&sid).unwrap().transport(),
        engine_io::TransportType::Polling
    );
    let mut ws = connect(addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    ws.send(Ws::text("2probe")).await.unwrap();
    assert_eq!(next(&mut ws).await, Ws::text("3probe"));
    // never sends 5: closed after upgradeTimeout
    assert!(matches!(next(&mut ws).await, Ws::Close(_)));
    assert!(server.socket(&sid).is_some());
}

#[tokio::test]
async fn bad_websocket_requests_are_refused() {
    let (addr, _server, _rec) = start(fast_config().build()).await;
    let headers = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let r = request(
        addr,
        "GET",
        "/engine.io/?EIO=4&transport=websocket&sid=unknown",
        &headers,
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "Session ID unknown");
    let r = request(
        addr,
        "GET",
        "/engine.io/?EIO=4&transport=websocket",
        &headers[..3],
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn graceful_close_over_websocket_flushes_first() {
    let (addr, server, rec) =
        start(fast_config().ping_interval(Duration::from_secs(10)).build()).await;
    let mut ws = connect(addr, "EIO=4&transport=websocket").await;
    let open = next(&mut ws).await.into_text().unwrap();
    let sid = &open[9..29];
    let socket = server.socket(sid).unwrap();
    socket.try_send("one").unwrap();
    socket.try_send(Bytes::from_static(&[7])).unwrap();
    socket.close();
    assert_eq!(next(&mut ws).await, Ws::text("4one"));
    assert_eq!(next(&mut ws).await, Ws::binary(Bytes::from_static(&[7])));
    assert!(matches!(next(&mut ws).await, Ws::Close(_)));
    rec.wait_for("close forced close").await;
}

#[tokio::test]
async fn client_closing_the_websocket_is_transport_close() {
    let (addr, server, rec) = start(fast_config().build()).await;
    let mut ws = connect(addr, "EIO=4&transport=websocket").await;
    next(&mut ws).await;
    ws.close(None).await.unwrap();
    rec.wait_for("close transport close").await;
    assert_eq!(server.count(), 0);
}

/// `Server::serve` writes a new WebSocket session's 101 and its open packet
/// with one socket write: a client blocked in a read gets both from that read
/// (two writes would wake it with the 101 alone). The probe of an upgrade,
/// which waits for the 101 before it sends anything, is `upgrade_from_polling`.
#[tokio::test]
async fn new_websocket_gets_its_101_and_open_packet_in_one_write() {
    let (addr, _server, rec) = start(fast_config().build()).await;
    let first_read = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp.write_all(
            b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\
              Upgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tcp.read(&mut buf).unwrap();
        buf.truncate(n);
        buf
    })
    .await
    .unwrap();
    let head_end = first_read
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no complete 101 in the first read")
        + 4;
    let head = std::str::from_utf8(&first_read[..head_end]).unwrap();
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(head
        .to_ascii_lowercase()
        .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"));
    let frame = &first_read[head_end..];
    assert!(frame.len() > 2, "the open packet came in a later write");
    assert_eq!(frame[0], 0x81, "not a final text frame");
    let len = usize::from(frame[1]);
    assert!(len < 126);
    assert_eq!(frame.len(), 2 + len, "not exactly one whole frame");
    assert!(frame[2..].starts_with(b"0{\"sid\":\""));
    rec.wait_for("connect").await;
}

/// The first read of a connection, parsed by `Server::serve` itself (`direct_upgrade`): what
/// the client sent right behind its upgrade request is its first frames.
#[tokio::test]
async fn frames_sent_with_the_upgrade_request_are_read() {
    let (addr, _server, rec) = start(fast_config().build()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut bytes = UPGRADE_REQUEST.to_vec();
    bytes.extend_from_slice(&raw_ws::masked(0x81, b"4hi"));
    tokio::io::AsyncWriteExt::write_all(&mut tcp, &bytes)
        .await
        .unwrap();
    let mut ws = raw_ws::RawWs::after_request(tcp).await;
    assert_eq!(ws.frame().await, (1, b"4hi".to_vec()), "the echo");
    rec.wait_for("message").await;
}

/// A request that does not come whole in the first read is hyper's, from the bytes read so
/// far: the session works the same (hyper's answers carry a `date` header, `Server::serve`'s
/// own 101 does not, which tells the two paths apart here).
#[tokio::test]
async fn an_upgrade_request_cut_across_reads_is_served_by_hyper() {
    let (addr, _server, _rec) = start(fast_config().build()).await;
    let mut whole = TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut whole, UPGRADE_REQUEST)
        .await
        .unwrap();
    let direct = raw_ws::RawWs::after_request(whole).await;
    assert!(
        !direct.head.to_ascii_lowercase().contains("\r\ndate:"),
        "{}",
        direct.head
    );

    let mut cut = TcpStream::connect(addr).await.unwrap();
    let (first, rest) = UPGRADE_REQUEST.split_at(40);
    tokio::io::AsyncWriteExt::write_all(&mut cut, first)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut bytes = rest.to_vec();
    bytes.extend_from_slice(&raw_ws::masked(0x81, b"4cut"));
    tokio::io::AsyncWriteExt::write_all(&mut cut, &bytes)
        .await
        .unwrap();
    let mut ws = raw_ws::RawWs::after_request(cut).await;
    assert!(
        ws.head.to_ascii_lowercase().contains("\r\ndate:"),
        "{}",
        ws.head
    );
    assert_eq!(ws.frame().await, (1, b"4cut".to_vec()), "the echo");
}

/// Requests that are not new WebSocket sessions go to hyper with every byte read: two
/// pipelined polling handshakes in one write get two answers on the same connection.
#[tokio::test]
async fn pipelined_requests_after_the_first_read_reach_hyper() {
    let (addr, server, _rec) = start(fast_config().build()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let one = "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n";
    let last =
        "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    tokio::io::AsyncWriteExt::write_all(&mut tcp, format!("{one}{last}").as_bytes())
        .await
        .unwrap();
    let mut both = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut both),
    )
    .await
    .expect("the second answer did not come")
    .unwrap();
    let both = String::from_utf8_lossy(&both);
    assert_eq!(both.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{both}");
    assert_eq!(both.matches("\"sid\":").count(), 2, "{both}");
    assert_eq!(server.count(), 2);
}

/// An upgrade refused by `Server::serve` itself is answered as on hyper's path (400 with the
/// reason) and the connection is closed, as its `Connection: close` says.
#[tokio::test]
async fn a_refused_upgrade_is_answered_and_closed() {
    let (addr, server, _rec) = start(fast_config().build()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let bad_key = std::str::from_utf8(UPGRADE_REQUEST)
        .unwrap()
        .replace("dGhlIHNhbXBsZSBub25jZQ==", "short");
    tokio::io::AsyncWriteExt::write_all(&mut tcp, bad_key.as_bytes())
        .await
        .unwrap();
    let r = read_response(&mut tcp).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "Missing or invalid Sec-WebSocket-Key header");
    assert_eq!(r.header("connection"), Some("close"));
    let mut rest = Vec::new();
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut rest),
    )
    .await
    .expect("the connection stayed open")
    .unwrap();
    assert_eq!(n, 0);
    assert_eq!(server.count(), 0);
}

/// A connection that never sends a request is closed after hyper's header timeout (30 s).
#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let (addr, _server, _rec) = start(fast_config().build()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut rest = Vec::new();
    let n = tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut rest)
        .await
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        started.elapsed() >= Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

/// The upgrade request of a new v4 WebSocket session (the key is RFC 6455's example).
const UPGRADE_REQUEST: &[u8] = b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\
    Upgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
