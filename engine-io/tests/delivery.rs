//! Delivery under pressure, over real sockets: the RFC 6455 close codes of
//! WebSocket protocol errors (asserted on the raw bytes a peer receives), and a
//! client that stops reading being cut off with its memory bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::raw_ws::{masked, rss_kb, RawWs};
use common::*;
use engine_io::TrySendError;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const FIN_TEXT: u8 = 0x81;
const FIN_CLOSE: u8 = 0x88;

/// A burst that arrives in one read and is answered inline, one answer per message, makes
/// the socket task write more times in one poll than tokio's cooperative budget allows (128
/// operations): a write then waits for the next poll. Answers queued meanwhile must still go
/// out once that write is through, not wait for the peer's next frame.
#[tokio::test]
async fn a_burst_answered_inline_is_written_in_full() {
    const N: usize = 1000;
    let (addr, server, _rec) = start(engine_io::Config::default()).await;
    let mut ws = RawWs::connect(addr).await;
    let burst: Vec<u8> = (0..N)
        .flat_map(|i| masked(FIN_TEXT, format!("4m{i}").as_bytes()))
        .collect();
    ws.tcp.write_all(&burst).await.unwrap();
    for i in 0..N {
        let (op, payload) = tokio::time::timeout(Duration::from_secs(4), ws.frame())
            .await
            .unwrap_or_else(|_| panic!("echo {i} of {N} never came"));
        assert_eq!((op, payload), (1, format!("4m{i}").into_bytes()));
    }
    drop(server);
}

async fn close_code_after(send: impl AsyncFnOnce(&mut RawWs)) -> (u16, Vec<String>) {
    let (addr, server, rec) = start(fast_config().max_http_buffer_size(100).build()).await;
    let mut ws = RawWs::connect(addr).await;
    rec.wait_for("connect ").await;
    send(&mut ws).await;
    let code = ws.close_code().await;
    rec.wait_for("close ").await;
    assert_eq!(server.count(), 0);
    let events = rec.events.lock().unwrap().clone();
    (code, events)
}

#[tokio::test]
async fn message_over_max_http_buffer_size_is_1009() {
    let (code, events) = close_code_after(async |ws: &mut RawWs| {
        ws.send(FIN_TEXT, format!("4{}", "x".repeat(200)).as_bytes(), true)
            .await
    })
    .await;
    assert_eq!(code, 1009);
    assert!(
        events.iter().any(|e| e == "close transport error"),
        "{events:?}"
    );
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_is_1007() {
    let (code, events) =
        close_code_after(async |ws: &mut RawWs| ws.send(FIN_TEXT, b"4\xff\xfe", true).await).await;
    assert_eq!(code, 1007);
    assert!(
        events.iter().any(|e| e == "close transport error"),
        "{events:?}"
    );
}

#[tokio::test]
async fn unmasked_client_frame_is_1002() {
    let (code, events) =
        close_code_after(async |ws: &mut RawWs| ws.send(FIN_TEXT, b"4hi", false).await).await;
    assert_eq!(code, 1002);
    assert!(
        events.iter().any(|e| e == "close transport error"),
        "{events:?}"
    );
}

#[tokio::test]
async fn reserved_opcode_is_1002() {
    // Opcode 3 is a reserved data opcode, 0xB a reserved control opcode.
    for first in [0x83, 0x8b] {
        let (code, _) =
            close_code_after(async |ws: &mut RawWs| ws.send(first, b"x", true).await).await;
        assert_eq!(code, 1002, "opcode {first:#x}");
    }
}

#[tokio::test]
async fn frame_after_the_close_handshake_is_1000() {
    let (code, events) = close_code_after(async |ws: &mut RawWs| {
        ws.send(FIN_CLOSE, &1000u16.to_be_bytes(), true).await;
        ws.send(FIN_TEXT, b"4late", true).await;
    })
    .await;
    assert_eq!(code, 1000);
    // The late frame is ignored: no message, a clean close.
    assert!(
        events.iter().any(|e| e == "close transport close"),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e.contains("late")), "{events:?}");
}

/// Pings are answered with a pong carrying their payload, in order with the
/// data frames; a fragmented message (a ping between its fragments, a
/// character cut by a fragment boundary) reaches the session whole; the close
/// handshake echoes the client's code and reason.
#[tokio::test]
async fn pings_fragments_and_the_close_handshake() {
    const FIN_PING: u8 = 0x89;
    let (addr, server, rec) = start(fast_config().build()).await;
    let mut ws = RawWs::connect(addr).await;
    rec.wait_for("connect ").await;
    ws.send(FIN_PING, b"abc", true).await;
    assert_eq!(ws.frame().await, (0xA, b"abc".to_vec()));
    let msg = "4h€llo".as_bytes();
    ws.send(0x01, &msg[..3], true).await; // "4h" and the first byte of €
    ws.send(FIN_PING, b"", true).await;
    ws.send(0x00, &msg[3..4], true).await;
    ws.send(0x80, &msg[4..], true).await;
    assert_eq!(ws.frame().await, (0xA, Vec::new()));
    rec.wait_for("message Text(\"h€llo\")").await;
    // The test server echoes it.
    assert_eq!(ws.frame().await, (0x1, msg.to_vec()));
    let mut close = 4000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    ws.send(FIN_CLOSE, &close, true).await;
    assert_eq!(ws.frame().await, (0x8, close));
    rec.wait_for("close transport close").await;
    assert_eq!(server.count(), 0);
}

const SOFT: usize = 64 << 10;
const HARD: usize = 4 << 20;
const TIMEOUT: Duration = Duration::from_millis(500);

/// Sends 8 KB messages every 2 ms to a client that does not read, until the
/// queue refuses one. Returns how long the queue was over the bound before
/// that, and the largest queue seen.
async fn flood_until_full(socket: &engine_io::Socket) -> (Duration, usize) {
    let msg = engine_io::Message::from("x".repeat(8 << 10));
    let start = Instant::now();
    let mut over: Option<Instant> = None;
    let mut peak = 0;
    loop {
        assert!(start.elapsed() < Duration::from_secs(20), "never cut off");
        match socket.try_send(msg.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => break,
            Err(e) => panic!("{e}"),
        }
        let q = socket.queued_bytes();
        peak = peak.max(q);
        assert!(q <= HARD, "queue over the hard cap: {q}");
        if q > SOFT {
            over.get_or_insert_with(Instant::now);
        } else {
            over = None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (over.expect("cut off under the bound").elapsed(), peak)
}

fn stall_config() -> engine_io::Config {
    fast_config()
        .ping_interval(Duration::from_secs(60))
        .ping_timeout(Duration::from_secs(60))
        .slow_consumer(SOFT, TIMEOUT)
        .max_buffered_bytes(HARD)
        .build()
}

#[tokio::test]
async fn stalled_websocket_reader_is_cut_off_with_memory_bounded() {
    let (addr, server, rec) = start(stall_config()).await;
    let rss_before = rss_kb();
    // A client with a tiny receive window that never reads.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(addr).await.unwrap();
    let mut ws = RawWs {
        tcp,
        buf: Vec::new(),
        head: String::new(),
    };
    let req = format!(
        "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    ws.tcp.write_all(req.as_bytes()).await.unwrap();
    rec.wait_for("connect ").await;
    let socket = server.sockets().pop().unwrap();
    let (over_for, peak) = flood_until_full(&socket).await;
    let rss_peak = rss_kb();
    eprintln!(
        "stalled websocket reader: cut off after {over_for:?} over the {SOFT}-byte bound; \
         peak queue {peak} bytes (hard cap {HARD}); process RSS {rss_before} kB -> {rss_peak} kB"
    );
    assert!(
        over_for + Duration::from_millis(50) >= TIMEOUT,
        "{over_for:?}"
    );
    assert!(peak > SOFT);
    // What an embedder does with a slow consumer (socketio-server: "slow consumer").
    socket.close_now();
    rec.wait_for("close forced close").await;
    assert_eq!(server.count(), 0);
}

#[tokio::test]
async fn stalled_polling_reader_is_cut_off_with_memory_bounded() {
    let (addr, server, _rec) = start(stall_config()).await;
    let rss_before = rss_kb();
    // The handshake GET, then no GET ever again.
    let sid = handshake(addr, "EIO=4").await;
    let socket = server.socket(&sid).unwrap();
    let (over_for, peak) = flood_until_full(&socket).await;
    let rss_peak = rss_kb();
    eprintln!(
        "stalled polling reader: cut off after {over_for:?} over the {SOFT}-byte bound; \
         peak queue {peak} bytes (hard cap {HARD}); process RSS {rss_before} kB -> {rss_peak} kB"
    );
    assert!(
        over_for + Duration::from_millis(50) >= TIMEOUT,
        "{over_for:?}"
    );
    // The queue is what holds the memory: bounded by the cap.
    assert!(peak <= HARD);
    socket.close_now();
    assert_eq!(server.count(), 0);
}

/// A healthy polling client that reads between bursts is never cut off, even
/// far over the bound: it drains within the timeout.
#[tokio::test]
async fn reading_polling_client_is_never_a_slow_consumer() {
    let (addr, server, _rec) = start(stall_config()).await;
    let sid = handshake(addr, "EIO=4").await;
    let socket = server.socket(&sid).unwrap();
    let path = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
    let msg = engine_io::Message::from("y".repeat(1000));
    let mut received = 0;
    for _ in 0..5 {
        // 2 MB per round: 32 times the bound, half the hard cap.
        for _ in 0..2000 {
            socket.try_send(msg.clone()).unwrap();
        }
        tokio::time::sleep(TIMEOUT + Duration::from_millis(100)).await;
        let r = get(addr, &path).await;
        received += r.text().split('\x1e').count();
    }
    assert_eq!(received, 10_000);
    assert!(socket.is_open());
}

/// A message queued while the writer still waits for the socket to take the previous batch
/// is written once that batch is, with nothing else sent meanwhile: the socket task must not
/// park with a queue it can drain (no further send, and no timer, would wake it before the
/// next ping, a minute away here).
#[tokio::test]
async fn message_queued_while_the_socket_is_full_follows_without_another_send() {
    let (addr, server, rec) = start(stall_config()).await;
    let mut ws = RawWs::connect_with(addr, Some(4096)).await;
    rec.wait_for("connect ").await;
    let socket = server.sockets().pop().unwrap();
    // More than the socket takes at once: the writer keeps the rest and waits.
    let big = "x".repeat(4 << 20);
    socket.try_send(big.clone()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    socket.try_send("tail").unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (op, payload) = ws.frame().await;
    assert_eq!((op, payload.len()), (1, 1 + big.len()));
    assert_eq!(ws.frame().await, (1, b"4tail".to_vec()));
    assert!(socket.is_open());
}

/// A stream-API server with a 16-message inbox.
async fn start_stream() -> (SocketAddr, engine_io::Server) {
    let server = engine_io::Server::new_stream(
        fast_config()
            .ping_interval(Duration::from_secs(60))
            .ping_timeout(Duration::from_secs(60))
            .inbox_capacity(16)
            .build(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener).await });
    (addr, server)
}

/// Reads `n` messages slowly; gives them back with the socket.
fn slow_reader(
    socket: std::sync::Arc<engine_io::Socket>,
    n: usize,
) -> tokio::task::JoinHandle<(Vec<engine_io::Message>, std::sync::Arc<engine_io::Socket>)> {
    tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < n {
            match socket.recv().await {
                Some(m) => got.push(m),
                None => break,
            }
            if got.len() % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        (got, socket)
    })
}

/// Over WebSocket a full inbox stops the reads until the reader makes room:
/// 3000 frames into a 16-message inbox all arrive, and the session stays open.
#[tokio::test]
async fn websocket_frames_beyond_the_inbox_apply_backpressure() {
    let (addr, server) = start_stream().await;
    let mut ws = RawWs::connect(addr).await;
    let socket = server.accept().await.unwrap();
    let reader = slow_reader(socket, 3000);
    for i in 0..3000 {
        ws.send(FIN_TEXT, format!("4{i}").as_bytes(), true).await;
    }
    let (got, socket) = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 3000);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(*m, engine_io::Message::from(i.to_string()));
    }
    assert!(socket.is_open(), "{:?}", socket.close_description());
}

/// A POST payload of more packets than the stream API's inbox holds is
/// delivered in full (the POST waits for the reader: backpressure), and the
/// session stays open.
#[tokio::test]
async fn post_larger_than_the_inbox_applies_backpressure() {
    let (addr, server) = start_stream().await;
    let sid = handshake(addr, "EIO=4").await;
    let socket = server.accept().await.unwrap();
    let reader = slow_reader(socket, 3000);
    let body: Vec<String> = (0..3000).map(|i| format!("4{i}")).collect();
    let path = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
    let r = post(addr, &path, body.join("\x1e").as_bytes()).await;
    assert_eq!(r.text(), "ok");
    let (got, socket) = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 3000);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(*m, engine_io::Message::from(i.to_string()));
    }
    assert!(socket.is_open(), "{:?}", socket.close_description());
}
