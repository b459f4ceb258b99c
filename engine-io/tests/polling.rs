//! The polling transport over real HTTP, against the reference's behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use engine_io::{Config, CookieConfig, Cors};
use std::time::Duration;
use tokio::net::TcpStream;

#[tokio::test]
async fn handshake_and_echo() {
    let (addr, server, rec) = start(fast_config().build()).await;
    let r = get(addr, "/engine.io/?EIO=4&transport=polling").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=UTF-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let text = r.text();
    assert!(text.starts_with("0{\"sid\":\""), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text[1..]).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5);
    assert_eq!(v["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(v["pingInterval"], 300);
    assert_eq!(v["pingTimeout"], 200);
    assert_eq!(v["maxPayload"], 1_000_000);
    let sid = v["sid"].as_str().unwrap().to_owned();
    assert_eq!(sid.len(), 20);
    assert!(sid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(server.count(), 1);
    rec.wait_for("connect").await;

    let p = post(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
        b"4hello\x1ebAQID",
    )
    .await;
    assert_eq!(p.status, 200);
    assert_eq!(p.text(), "ok");
    assert_eq!(p.header("content-type"), Some("text/html"));
    let g = get(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
    )
    .await;
    assert_eq!(g.text(), "4hello\x1ebAQID");
}

#[tokio::test]
async fn error_codes_in_reference_order() {
    let config = fast_config()
        .allow_request(|req| async move {
            if req.headers.contains_key("x-deny") {
                Err("denied".into())
            } else {
                Ok(())
            }
        })
        .build();
    let (addr, _server, _rec) = start(config).await;
    let check = |r: Resp, status: u16, body: &str| {
        assert_eq!(r.status, status, "{}", r.text());
        assert_eq!(r.text(), body);
        assert_eq!(r.header("content-type"), Some("application/json"));
    };
    check(
        get(addr, "/engine.io/?EIO=4").await,
        400,
        r#"{"code":0,"message":"Transport unknown"}"#,
    );
    check(
        get(addr, "/engine.io/?EIO=4&transport=tcp").await,
        400,
        r#"{"code":0,"message":"Transport unknown"}"#,
    );
    // transport is checked before sid
    check(
        get(addr, "/engine.io/?EIO=4&transport=x&sid=nope").await,
        400,
        r#"{"code":0,"message":"Transport unknown"}"#,
    );
    check(
        get(addr, "/engine.io/?EIO=4&transport=polling&sid=nope").await,
        400,
        r#"{"code":1,"message":"Session ID unknown"}"#,
    );
    check(
        post(addr, "/engine.io/?EIO=4&transport=polling", b"4x").await,
        400,
        r#"{"code":2,"message":"Bad handshake method"}"#,
    );
    check(
        get(addr, "/engine.io/?EIO=4&transport=websocket").await,
        400,
        r#"{"code":3,"message":"Bad request"}"#,
    );
    check(
        request(
            addr,
            "GET",
            "/engine.io/?EIO=4&transport=polling",
            &[("X-Deny", "1")],
            b"",
        )
        .await,
        403,
        r#"{"code":4,"message":"denied"}"#,
    );
    // the hook runs before the version check
    check(
        request(
            addr,
            "GET",
            "/engine.io/?EIO=3&transport=polling",
            &[("X-Deny", "1")],
            b"",
        )
        .await,
        403,
        r#"{"code":4,"message":"denied"}"#,
    );
    check(
        get(addr, "/engine.io/?EIO=3&transport=polling").await,
        400,
        r#"{"code":5,"message":"Unsupported protocol version"}"#,
    );
    check(
        get(addr, "/engine.io/?transport=polling").await,
        400,
        r#"{"code":5,"message":"Unsupported protocol version"}"#,
    );
    // transport mismatch for an existing polling session
    let sid = handshake(addr, "EIO=4").await;
    check(
        get(
            addr,
            &format!("/engine.io/?EIO=4&transport=websocket&sid={sid}"),
        )
        .await,
        400,
        r#"{"code":3,"message":"Bad request"}"#,
    );
    // outside the path: not ours
    assert_eq!(
        get(addr, "/engine.io?EIO=4&transport=polling").await.status,
        404
    );
}

#[tokio::test]
async fn v4_heartbeat_and_ping_timeout() {
    let (addr, server, rec) = start(fast_config().build()).await;
    let sid = handshake(addr, "EIO=4").await;
    let path = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
    let t = std::time::Instant::now();
    assert_eq!(get(addr, &path).await.text(), "2");
    assert!(t.elapsed() >= Duration::from_millis(250));
    assert_eq!(post(addr, &path, b"3").await.text(), "ok");
    assert_eq!(get(addr, &path).await.text(), "2");
    // no pong: the pending GET is answered with a close packet after pingTimeout
    assert_eq!(get(addr, &path).await.text(), "1");
    rec.wait_for("close ping timeout").await;
    assert_eq!(server.count(), 0);
    let r = get(addr, &path).await;
    assert_eq!(r.text(), r#"{"code":1,"message":"Session ID unknown"}"#);
}

#[tokio::test]
async fn client_ping_in_v4_is_a_transport_error() {
    let (addr, _server, rec) = start(fast_config().build()).await;
    let sid = handshake(addr, "EIO=4").await;
    post(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
        b"2",
    )
    .await;
    rec.wait_for("close transport error").await;
}

#[tokio::test]
async fn v3_payloads_and_client_heartbeat() {
    let (addr, _server, rec) = start(fast_config().allow_eio3(true).build()).await;
    let r = get(addr, "/engine.io/?EIO=3&transport=polling").await;
    let text = r.text();
    let (len, rest) = text.split_once(':').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), rest.encode_utf16().count());
    let v: serde_json::Value = serde_json::from_str(&rest[1..]).unwrap();
    let sid = v["sid"].as_str().unwrap();
    let path = format!("/engine.io/?EIO=3&transport=polling&sid={sid}");
    // string payload with a ping, a text and a base64 binary message
    assert_eq!(
        post(addr, &path, "1:26:4héllo6:b4AQID".as_bytes())
            .await
            .text(),
        "ok"
    );
    rec.wait_for("message Binary").await;
    // the client supports binary: the answer is the XHR2 binary payload
    let g = get(addr, &path).await;
    assert_eq!(g.header("content-type"), Some("application/octet-stream"));
    assert_eq!(
        g.body,
        vec![
            0, 1, 0xFF, b'3', 0, 7, 0xFF, b'4', b'h', 0xC3, 0xA9, b'l', b'l', b'o', 1, 4, 0xFF, 4,
            1, 2, 3
        ]
    );
    // b64=1: everything as text
    let r = get(addr, "/engine.io/?EIO=3&transport=polling&b64=1").await;
    let text = r.text();
    let v: serde_json::Value = serde_json::from_str(&text[text.find('{').unwrap()..]).unwrap();
    let sid = v["sid"].as_str().unwrap();
    let path = format!("/engine.io/?EIO=3&transport=polling&b64=1&sid={sid}");
    post(addr, &path, b"6:b4AQID").await;
    assert_eq!(get(addr, &path).await.text(), "6:b4AQID");
    // v3 times out after pingInterval + pingTimeout without a client ping
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(get(addr, &path).await.status, 400);
}

#[tokio::test]
async fn duplicate_get_closes_the_session() {
    let (addr, _server, rec) =
        start(fast_config().ping_interval(Duration::from_secs(10)).build()).await;
    let sid = handshake(addr, "EIO=4").await;
    let path = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
    let first = tokio::spawn(async move {
        get(
            addr,
            &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = get(addr, &path).await;
    assert_eq!(second.status, 400);
    assert!(second.body.is_empty());
    assert_eq!(first.await.unwrap().text(), "1");
    rec.wait_for("close transport error").await;
}

#[tokio::test]
async fn aborted_get_is_a_transport_error() {
    let (addr, server, rec) =
        start(fast_config().ping_interval(Duration::from_secs(10)).build()).await;
    let sid = handshake(addr, "EIO=4").await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    send_head(
        &mut s,
        "GET",
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
        &[],
        b"",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(s);
    rec.wait_for("close transport error").await;
    assert_eq!(server.count(), 0);
}

#[tokio::test]
async fn client_close_packet_releases_the_pending_get_with_noop() {
    let (addr, _server, rec) =
        start(fast_config().ping_interval(Duration::from_secs(10)).build()).await;
    let sid = handshake(addr, "EIO=4").await;
    let s2 = sid.clone();
    let pending = tokio::spawn(async move {
        get(
            addr,
            &format!("/engine.io/?EIO=4&transport=polling&sid={s2}"),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        post(
            addr,
            &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
            b"1"
        )
        .await
        .text(),
        "ok"
    );
    assert_eq!(pending.await.unwrap().text(), "6");
    rec.wait_for("close transport close").await;
}

#[tokio::test]
async fn parse_error_closes_the_session_after_valid_packets() {
    let (addr, _server, rec) = start(fast_config().build()).await;
    let sid = handshake(addr, "EIO=4").await;
    let r = post(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
        b"4first\x1e9bad",
    )
    .await;
    assert_eq!(r.text(), "ok");
    rec.wait_for("close parse error").await;
    assert!(rec.has("message Text(\"first\")"));
}

#[tokio::test]
async fn oversize_post_is_413_and_the_session_lives() {
    let (addr, server, _rec) = start(fast_config().max_http_buffer_size(1000).build()).await;
    let sid = handshake(addr, "EIO=4").await;
    let path = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
    let big = vec![b'4'; 1001];
    assert_eq!(post(addr, &path, &big).await.status, 413);
    assert_eq!(server.count(), 1);
    assert_eq!(post(addr, &path, b"4ok").await.text(), "ok");
    // octet-stream is refused in v4 and closes the session
    let r = request(
        addr,
        "POST",
        &path,
        &[("Content-Type", "application/octet-stream")],
        b"4x",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(server.count(), 0);
}

#[tokio::test]
async fn jsonp_polling() {
    let (addr, _server, rec) =
        start(fast_config().ping_interval(Duration::from_secs(10)).build()).await;
    let r = get(addr, "/engine.io/?EIO=4&transport=polling&j=4").await;
    let text = r.text();
    assert!(text.starts_with("___eio[4](\"0{\\\"sid\\\":\\\""), "{text}");
    assert!(text.ends_with("\");"));
    let sid_start = text.find("sid\\\":\\\"").unwrap() + 8;
    let sid = &text[sid_start..sid_start + 20];
    let path = format!("/engine.io/?EIO=4&transport=polling&j=4&sid={sid}");
    let r = request(
        addr,
        "POST",
        &path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"d=4a%5Cnb%E2%80%A8",
    )
    .await;
    assert_eq!(r.text(), "ok");
    rec.wait_for("message").await;
    assert_eq!(
        get(addr, &path).await.text(),
        "___eio[4](\"4a\\nb\\u2028\");"
    );
}

#[tokio::test]
async fn cors_preflight_and_cookie() {
    let config = fast_config()
        .cors(Cors::any().credentials(true))
        .cookie(CookieConfig::default())
        .build();
    let (addr, _server, _rec) = start(config).await;
    let r = request(
        addr,
        "OPTIONS",
        "/engine.io/?EIO=4&transport=polling",
        &[
            ("Origin", "http://example.com"),
            ("Access-Control-Request-Headers", "x-custom"),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-headers"), Some("x-custom"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let r = request(
        addr,
        "GET",
        "/engine.io/?EIO=4&transport=polling",
        &[("Origin", "http://example.com")],
        b"",
    )
    .await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let sid = &r.text()[9..29];
    assert_eq!(
        r.header("set-cookie"),
        Some(format!("io={sid}; Path=/; HttpOnly; SameSite=Lax").as_str())
    );
    // only on the handshake
    let r = get(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
    )
    .await;
    assert_eq!(r.header("set-cookie"), None);
    // errors carry the CORS headers too
    let r = request(
        addr,
        "GET",
        "/engine.io/?EIO=4",
        &[("Origin", "http://example.com")],
        b"",
    )
    .await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn http_compression_above_threshold() {
    let (addr, server, _rec) = start(fast_config().build()).await;
    let sid = handshake(addr, "EIO=4").await;
    let socket = server.socket(&sid).unwrap();
    socket.try_send("x".repeat(2000)).unwrap();
    let r = request(
        addr,
        "GET",
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
        &[("Accept-Encoding", "gzip, deflate")],
        b"",
    )
    .await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r.body.len() < 200);
    socket.try_send("y".repeat(10)).unwrap();
    let r = request(
        addr,
        "GET",
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
        &[("Accept-Encoding", "gzip")],
        b"",
    )
    .await;
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.text(), format!("4{}", "y".repeat(10)));
}

#[tokio::test]
async fn bounded_queue_and_flush_signal() {
    let (addr, server, _rec) = start(
        fast_config()
            .ping_interval(Duration::from_secs(10))
            // The hard cap: one message into the empty queue, then nothing.
            .max_buffered_bytes(1)
            .build(),
    )
    .await;
    let sid = handshake(addr, "EIO=4").await;
    let socket = server.socket(&sid).unwrap();
    socket.try_send("ab").unwrap();
    match socket.try_send("c") {
        Err(engine_io::TrySendError::Full(m)) => assert_eq!(m, engine_io::Message::from("c")),
        other => panic!("{other:?}"),
    }
    assert!(socket.try_send_many(vec!["d".into(), "e".into()]).is_err());
    let s2 = socket.clone();
    let waiter = tokio::spawn(async move { s2.send("c").await });
    let flushed = {
        let s3 = socket.clone();
        tokio::spawn(async move { s3.flush().await })
    };
    let r = get(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
    )
    .await;
    assert_eq!(r.text(), "4ab");
    waiter.await.unwrap().unwrap();
    flushed.await.unwrap().unwrap();
    let r = get(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
    )
    .await;
    assert_eq!(r.text(), "4c");
}

#[tokio::test]
async fn graceful_close_and_close_all() {
    let (addr, server, rec) =
        start(fast_config().ping_interval(Duration::from_secs(10)).build()).await;
    let sid = handshake(addr, "EIO=4").await;
    let socket = server.socket(&sid).unwrap();
    socket.try_send("bye").unwrap();
    socket.close();
    let r = get(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
    )
    .await;
    assert_eq!(r.text(), "4bye\x1e1");
    rec.wait_for("close forced close").await;

    let sid = handshake(addr, "EIO=4").await;
    let pending = tokio::spawn(async move {
        get(
            addr,
            &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.close_all(Duration::from_secs(1)).await;
    assert_eq!(pending.await.unwrap().text(), "1");
    assert_eq!(server.count(), 0);
}

#[tokio::test]
async fn stream_api() {
    let server = engine_io::Server::new_stream(Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener).await });
    let sid = handshake(addr, "EIO=4").await;
    let socket = server.accept().await.unwrap();
    assert_eq!(socket.id(), sid);
    post(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
        b"4hi",
    )
    .await;
    assert_eq!(socket.recv().await, Some(engine_io::Message::from("hi")));
    post(
        addr,
        &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
        b"1",
    )
    .await;
    assert_eq!(socket.recv().await, None);
}
