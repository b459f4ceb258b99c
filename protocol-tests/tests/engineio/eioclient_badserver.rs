//! Our `engine-io-client` against hostile servers: tiny raw TCP / WebSocket servers that send
//! garbage, oversize payloads, or nothing at all. Every case must end with a clear error or a
//! clean close, in bounded time, never a panic or a hang.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_io_client::{Client, CloseReason, Error, Event, Events, TransportType};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const STEP: Duration = Duration::from_secs(10);

/// A request as the raw server saw it.
#[derive(Debug)]
struct Req {
    method: String,
    target: String,
}

impl Req {
    fn has_sid(&self) -> bool {
        self.target.contains("sid=")
    }
}

/// What the raw server does with a request.
enum Reply {
    /// `HTTP/1.1 <status>` with this body.
    Http(u16, Vec<u8>),
    /// These bytes, then close the connection.
    Raw(Vec<u8>),
    /// Never answer (keep the connection open).
    Hang,
}

type Handler = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;

/// A raw HTTP/1.1 server on 127.0.0.1 (keep-alive, `Content-Length` bodies); returns its port.
async fn raw_server(handler: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> u16 {
    let handler: Handler = Arc::new(handler);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_connection(stream, handler.clone()));
        }
    });
    port
}

async fn serve_connection(mut stream: TcpStream, handler: Handler) {
    let mut buf = Vec::new();
    loop {
        // Read one request head (bounded) and its body.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if buf.len() > 64 * 1024 {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.lines();
        let mut first = lines.next().unwrap_or_default().split(' ');
        let req = Req {
            method: first.next().unwrap_or_default().to_owned(),
            target: first.next().unwrap_or_default().to_owned(),
        };
        let length: usize = lines
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        match handler(&req) {
            Reply::Http(status, body) => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).await.is_err()
                    || stream.write_all(&body).await.is_err()
                {
                    return;
                }
            }
            Reply::Raw(bytes) => {
                let _ = stream.write_all(&bytes).await;
                return;
            }
            Reply::Hang => {
                std::future::pending::<()>().await;
            }
        }
    }
}

fn open_packet(ping_interval: u64, ping_timeout: u64) -> String {
    format!(
        "0{{\"sid\":\"raw-sid\",\"upgrades\":[],\"pingInterval\":{ping_interval},\"pingTimeout\":{ping_timeout},\"maxPayload\":1000000}}"
    )
}

/// A server that opens a session normally, then answers polls with `poll` (POSTs get `ok`).
async fn session_server(poll: impl Fn() -> Reply + Send + Sync + 'static) -> u16 {
    raw_server(move |req| {
        if !req.has_sid() {
            Reply::Http(200, open_packet(25000, 20000).into_bytes())
        } else if req.method == "POST" {
            Reply::Http(200, b"ok".to_vec())
        } else {
            poll()
        }
    })
    .await
}

fn polling(port: u16) -> engine_io_client::ClientBuilder {
    Client::builder(format!("http://127.0.0.1:{port}"))
        .transports([TransportType::Polling])
        .connect_timeout(Duration::from_millis(1500))
}

async fn close_reason(events: &mut Events) -> CloseReason {
    loop {
        match timeout(STEP, events.recv())
            .await
            .expect("no close in time")
        {
            Some(Event::Close(reason)) => return reason,
            Some(_) => continue,
            None => panic!("events ended without a close"),
        }
    }
}

#[tokio::test]
async fn handshake_never_answered_times_out() {
    let port = raw_server(|_| Reply::Hang).await;
    for transport in [TransportType::Polling, TransportType::Websocket] {
        let started = Instant::now();
        let err = Client::builder(format!("http://127.0.0.1:{port}"))
            .transports([transport])
            .connect_timeout(Duration::from_millis(500))
            .connect()
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::ConnectTimeout(_)),
            "{transport}: {err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{transport}: too slow"
        );
    }
}

#[tokio::test]
async fn nothing_listening_is_a_connection_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // the listener is dropped: nothing listens there any more
    for transport in [TransportType::Polling, TransportType::Websocket] {
        let err = Client::builder(format!("http://127.0.0.1:{port}"))
            .transports([transport])
            .connect()
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Http(_) | Error::Io(_)),
            "{transport}: {err:?}"
        );
    }
}

#[tokio::test]
async fn garbage_instead_of_http_is_an_error() {
    let port = raw_server(|_| Reply::Raw(b"SSH-2.0-OpenSSH\r\n\r\n".to_vec())).await;
    for transport in [TransportType::Polling, TransportType::Websocket] {
        let err = Client::builder(format!("http://127.0.0.1:{port}"))
            .transports([transport])
            .connect()
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Http(_) | Error::WebSocket(_) | Error::Io(_)),
            "{transport}: {err:?}"
        );
    }
}

#[tokio::test]
async fn malformed_handshakes_are_rejected() {
    let long_json = format!("0{}", "{".repeat(100_000));
    let hostile = [
        "hello".to_owned(),            // not a packet type
        "4not-open".to_owned(),        // not an open packet
        "0{\"sid\":\"x\"}".to_owned(), // missing fields
        "0[1,2,3]".to_owned(),         // not an object
        "0{\"sid\":\"\",\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":1}".to_owned(),
        String::new(), // empty body
        long_json,     // deeply nested garbage
    ];
    for body in hostile {
        let shown: String = body.chars().take(40).collect();
        let port = raw_server(move |_| Reply::Http(200, body.clone().into_bytes())).await;
        let err = polling(port).connect().await.unwrap_err();
        assert!(
            matches!(err, Error::Handshake(_) | Error::Protocol(_)),
            "{shown:?}: {err:?}"
        );
    }
    // Not UTF-8.
    let port = raw_server(|_| Reply::Http(200, vec![0x30, 0xff, 0xfe])).await;
    assert!(matches!(
        polling(port).connect().await,
        Err(Error::Protocol(_))
    ));
    // An HTTP error status with an Engine.IO error body.
    let port =
        raw_server(|_| Reply::Http(403, br#"{"code":4,"message":"Forbidden"}"#.to_vec())).await;
    let err = polling(port).connect().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Status {
                status: 403,
                code: Some(4),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_packets_close_with_parse_error() {
    for bad in [
        &b"4ok\x1e9garbage"[..],
        b"bnot base64!",
        b"\x1e\x1e",
        b"\xff",
    ] {
        let body = bad.to_vec();
        let port = session_server(move || Reply::Http(200, body.clone())).await;
        let (client, mut events) = polling(port).connect().await.unwrap();
        let reason = close_reason(&mut events).await;
        assert!(
            matches!(reason, CloseReason::ParseError(_)),
            "{bad:?}: {reason:?}"
        );
        assert_eq!(reason.as_str(), "parse error");
        assert!(!client.is_connected());
    }
}

#[tokio::test]
async fn oversize_payloads_are_refused() {
    // Mid-session.
    let port = session_server(|| Reply::Http(200, vec![b'4'; 2 * 1024 * 1024])).await;
    let (_client, mut events) = polling(port)
        .max_incoming_payload(64 * 1024)
        .connect()
        .await
        .unwrap();
    let reason = close_reason(&mut events).await;
    assert!(
        matches!(
            reason,
            CloseReason::TransportError(Error::PayloadTooLarge { limit: 65536 })
        ),
        "{reason:?}"
    );
    // In the handshake.
    let port = raw_server(|_| Reply::Http(200, vec![b'0'; 2 * 1024 * 1024])).await;
    let err = polling(port)
        .max_incoming_payload(64 * 1024)
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PayloadTooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn a_silent_server_is_a_ping_timeout() {
    // pingInterval 100 ms + pingTimeout 100 ms, and then nothing: every poll hangs.
    let port = raw_server(|req| {
        if req.has_sid() {
            Reply::Hang
        } else {
            Reply::Http(200, open_packet(100, 100).into_bytes())
        }
    })
    .await;
    let started = Instant::now();
    let (_client, mut events) = polling(port).connect().await.unwrap();
    let reason = close_reason(&mut events).await;
    assert!(matches!(reason, CloseReason::PingTimeout), "{reason:?}");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(190) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn hostile_heartbeat_values_do_not_panic() {
    let port = raw_server(|req| {
        if req.method == "POST" {
            Reply::Http(200, b"ok".to_vec())
        } else if req.has_sid() {
            Reply::Hang
        } else {
            let open = format!(
                "0{{\"sid\":\"s\",\"upgrades\":[\"websocket\"],\"pingInterval\":{max},\"pingTimeout\":{max},\"maxPayload\":0}}",
                max = u64::MAX
            );
            Reply::Http(200, open.into_bytes())
        }
    })
    .await;
    let (client, mut events) = polling(port).upgrade(false).connect().await.unwrap();
    client.close().await;
    assert_eq!(close_reason(&mut events).await.as_str(), "forced close");
}

#[tokio::test]
async fn http_errors_mid_session_are_transport_errors() {
    let port = session_server(|| Reply::Http(500, b"<html>oops</html>".to_vec())).await;
    let (_client, mut events) = polling(port).connect().await.unwrap();
    let reason = close_reason(&mut events).await;
    match &reason {
        CloseReason::TransportError(Error::Status {
            status: 500,
            message,
            ..
        }) => {
            assert!(message.contains("oops"));
        }
        other => panic!("{other:?}"),
    }
    // A connection cut in the middle of a poll.
    let port =
        session_server(|| Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n4a".to_vec()))
            .await;
    let (_client, mut events) = polling(port).connect().await.unwrap();
    assert!(matches!(
        close_reason(&mut events).await,
        CloseReason::TransportError(_)
    ));
}

#[tokio::test]
async fn a_close_that_is_never_acknowledged_is_bounded() {
    // Polls hang and so does the close POST: close() must still return.
    let port = raw_server(|req| {
        if req.has_sid() {
            Reply::Hang
        } else {
            Reply::Http(200, open_packet(25000, 20000).into_bytes())
        }
    })
    .await;
    let (client, mut events) = polling(port)
        .close_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    let started = Instant::now();
    client.close().await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(close_reason(&mut events).await.as_str(), "forced close");
}

/// A raw WebSocket server: after the handshake, `script` runs on the connection.
async fn ws_server<F, Fut>(script: F) -> u16
where
    F: Fn(tokio_tungstenite::WebSocketStream<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = Arc::new(script);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let script = script.clone();
            tokio::spawn(async move {
                if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                    script(ws).await;
                }
            });
        }
    });
    port
}

fn websocket(port: u16) -> engine_io_client::ClientBuilder {
    Client::builder(format!("ws://127.0.0.1:{port}"))
        .transports([TransportType::Websocket])
        .connect_timeout(Duration::from_millis(1500))
}

#[tokio::test]
async fn websocket_bad_input() {
    // No open packet ever: connect times out.
    let port = ws_server(|ws| async move {
        let _held_open = ws;
        std::future::pending::<()>().await;
    })
    .await;
    assert!(matches!(
        websocket(port).connect().await,
        Err(Error::ConnectTimeout(_))
    ));
    // A garbage first frame: handshake error.
    let port = ws_server(|mut ws| async move {
        let _ = ws.send(WsMessage::Text("hello".into())).await;
        std::future::pending::<()>().await;
    })
    .await;
    assert!(matches!(
        websocket(port).connect().await,
        Err(Error::Protocol(_) | Error::Handshake(_))
    ));
    // Closed right away.
    let port = ws_server(|mut ws| async move {
        let _ = ws.close(None).await;
    })
    .await;
    assert!(matches!(
        websocket(port).connect().await,
        Err(Error::WebSocket(_))
    ));
    // A malformed packet after the open: parse error.
    let port = ws_server(|mut ws| async move {
        let _ = ws
            .send(WsMessage::Text(open_packet(25000, 20000).into()))
            .await;
        let _ = ws.send(WsMessage::Text("9nope".into())).await;
        std::future::pending::<()>().await;
    })
    .await;
    let (_client, mut events) = websocket(port).connect().await.unwrap();
    assert!(matches!(
        close_reason(&mut events).await,
        CloseReason::ParseError(_)
    ));
    // An oversize frame: transport error, not an allocation of the whole thing.
    let port = ws_server(|mut ws| async move {
        let _ = ws
            .send(WsMessage::Text(open_packet(25000, 20000).into()))
            .await;
        let _ = ws
            .send(WsMessage::Binary(vec![0u8; 1024 * 1024].into()))
            .await;
        std::future::pending::<()>().await;
    })
    .await;
    let (_client, mut events) = websocket(port)
        .max_incoming_payload(64 * 1024)
        .connect()
        .await
        .unwrap();
    let reason = close_reason(&mut events).await;
    assert!(
        matches!(
            reason,
            CloseReason::TransportError(Error::PayloadTooLarge { .. })
        ),
        "{reason:?}"
    );
    // Silence after the open: ping timeout.
    let port = ws_server(|mut ws| async move {
        let _ = ws.send(WsMessage::Text(open_packet(100, 100).into())).await;
        while ws.next().await.is_some() {}
    })
    .await;
    let (_client, mut events) = websocket(port).connect().await.unwrap();
    assert!(matches!(
        close_reason(&mut events).await,
        CloseReason::PingTimeout
    ));
}

#[tokio::test]
async fn a_failed_upgrade_keeps_polling() {
    // The session advertises an upgrade, but the server is not a WebSocket server.
    let port = raw_server(|req| {
        if req.target.contains("transport=websocket") {
            Reply::Http(400, br#"{"code":3,"message":"Bad request"}"#.to_vec())
        } else if !req.has_sid() {
            let open = "0{\"sid\":\"s\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}";
            Reply::Http(200, open.as_bytes().to_vec())
        } else if req.method == "POST" {
            Reply::Http(200, b"ok".to_vec())
        } else {
            std::thread::sleep(Duration::from_millis(50));
            Reply::Http(200, b"4tick".to_vec())
        }
    })
    .await;
    let (client, mut events) = Client::builder(format!("http://127.0.0.1:{port}"))
        .connect()
        .await
        .unwrap();
    let mut upgrade_error = None;
    let mut ticks = 0;
    while ticks < 5 {
        match timeout(STEP, events.recv()).await.unwrap().unwrap() {
            Event::UpgradeError(e) => upgrade_error = Some(e),
            Event::Message(_) => ticks += 1,
            other => panic!("{other:?}"),
        }
    }
    let err = upgrade_error.expect("an upgrade error");
    assert_eq!(err.server_message(), Some("Bad request"));
    assert_eq!(client.transport(), TransportType::Polling);
    assert!(client.is_connected());
}
