//! Engine.IO conformance over raw HTTP and WebSocket, run against both the npm `engine.io` 6.6
//! reference (`js/engineio-reference.js`) and ours (`engine-io/examples/conformance_server.rs`),
//! both started with pingInterval 300 ms, pingTimeout 200 ms, maxHttpBufferSize 1e6, CORS `*`.
//!
//! Every case is one `async fn(Target)`; the `conformance!` macro turns it into a module with two
//! tests, `<case>::reference` and `<case>::ours`. Passing against the reference proves the test
//! describes the reference, not our reading of it. `cargo test -p protocol-tests --test
//! engineio engineio_conformance:: -- ::ours` runs only ours.
//!
//! Tests that are not about heartbeats start the servers with a 5 s pingInterval ([`quiet`]), so a
//! missed pong can never be what closes a session a test expects its trigger to close. Every wait
//! is bounded ([`SOON`], the 5 s HTTP/WebSocket timeouts of the support library).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use protocol_tests::engineio::{
    decode_v3_binary, decode_v3_string, encode_v3_binary, encode_v3_string, error_body, join_v4,
    parse_open, polling_url, split_v4, websocket_url, ws_recv_skip_pings, EioServer,
    PollingSession, ServerOptions, V3Binary, DENY_HEADER, DENY_MESSAGE, MAX_PAYLOAD,
};
use protocol_tests::{
    HttpConnection, HttpRequest, HttpResponse, WsClient, WsConnectError, WsFrame,
};

/// Generous bound for things that should happen within a few hundred milliseconds (CI machines
/// are slow and tests run in parallel).
const SOON: Duration = Duration::from_secs(3);

/// Settings for tests that are not about heartbeats: a 5 s pingInterval, so that neither a ping
/// in a poll nor a ping timeout can stand in for the behaviour under test (every close asserted
/// below must come from the trigger, not from a missed pong).
fn quiet() -> ServerOptions {
    ServerOptions::with_flags(&["--ping-interval", "5000"])
}

fn gunzip(data: &[u8]) -> String {
    let mut out = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(data), &mut out)
        .expect("gzip body");
    out
}

fn inflate(data: &[u8]) -> String {
    let mut out = String::new();
    std::io::Read::read_to_string(&mut flate2::read::ZlibDecoder::new(data), &mut out)
        .expect("deflate body");
    out
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Asserts an Engine.IO HTTP error: status (403 for code 4, else 400), JSON content type, exact body.
fn assert_error(res: &HttpResponse, code: u8, what: &str) {
    let status = if code == 4 { 403 } else { 400 };
    assert_eq!(res.status, status, "{what}: status (body {:?})", res.text());
    assert_eq!(
        res.header("content-type"),
        Some("application/json"),
        "{what}: content-type"
    );
    assert_eq!(res.text(), error_body(code), "{what}: body");
}

async fn get(server: &EioServer, target: &str) -> HttpResponse {
    server.http(HttpRequest::get(target)).await
}

/// Opens a WebSocket that must succeed.
async fn ws_open(server: &EioServer, target: &str) -> WsClient {
    match WsClient::connect(server.port(), target, &[]).await {
        Ok(ws) => ws,
        Err(e) => panic!("websocket {target}: {e:?}"),
    }
}

/// Opens a v4 WebSocket session; returns it and the sid.
async fn ws_session(server: &EioServer) -> (WsClient, String) {
    let mut ws = ws_open(server, &websocket_url(4, None)).await;
    let open = ws.recv_text().await;
    let (sid, _) = parse_open(&open);
    (ws, sid)
}

/// Asserts the server closes the WebSocket with a close frame within `within`, and that no data
/// frame other than pings comes first. Returns the close frame's code and reason, if it had any.
async fn assert_ws_closed(
    ws: &mut WsClient,
    within: Duration,
    what: &str,
) -> Option<(u16, String)> {
    let (end, before) = ws
        .wait_closed(within)
        .await
        .unwrap_or_else(|| panic!("{what}: websocket not closed within {within:?}"));
    let unexpected: Vec<_> = before
        .into_iter()
        .filter(|f| *f != WsFrame::Text("2".into()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{what}: frames before the close: {unexpected:?}"
    );
    match end {
        WsFrame::Close(frame) => frame,
        other => panic!("{what}: connection ended without a close frame: {other:?}"),
    }
}

/// Asserts the session `sid` no longer exists (400, code 1).
async fn assert_session_gone(server: &EioServer, sid: &str, what: &str) {
    let res = get(server, &polling_url(4, Some(sid))).await;
    assert_error(&res, 1, what);
}

/// Polls `session` until the server answered a ping (`2`), which must come alone.
async fn wait_for_ping(session: &PollingSession) -> Instant {
    let deadline = Instant::now() + SOON;
    loop {
        let res = session.get().await;
        assert_eq!(res.status, 200, "poll: {:?}", res.text());
        let text = res.text();
        if text == "2" {
            return Instant::now();
        }
        assert_eq!(text, "6", "only noops may come before the first ping");
        assert!(Instant::now() < deadline, "no ping within {SOON:?}");
    }
}

protocol_tests::engineio_reference_and_ours! {
    // ---------------------------------------------------------------- handshake

    async fn handshake_polling(target: Target) {
        let server = EioServer::start(target);
        let res = get(&server, "/engine.io/?EIO=4&transport=polling").await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), Some("text/plain; charset=UTF-8"));
        assert_eq!(res.header("cache-control"), Some("no-store"));
        assert_eq!(res.header("set-cookie"), None, "no cookie unless the option is on");
        let body = res.text();
        let (sid, _) = parse_open(&body);
        // Exactly these keys, in this order, with the configured values.
        assert_eq!(
            body,
            format!(
                "0{{\"sid\":\"{sid}\",\"upgrades\":[\"websocket\"],\"pingInterval\":300,\
                 \"pingTimeout\":200,\"maxPayload\":1000000}}"
            )
        );
        // At least 120 random bits, URL-safe.
        assert!(sid.len() >= 20, "sid too short: {sid:?}");
        assert!(
            sid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "sid not URL-safe: {sid:?}"
        );
        let mut sids = std::collections::HashSet::new();
        sids.insert(sid.clone());
        for _ in 0..20 {
            let (other, _) = server.handshake().await;
            assert!(sids.insert(other), "a sid was handed out twice");
        }
        // The session is usable.
        let session = PollingSession { port: server.port(), sid, eio: 4, extra_query: String::new() };
        assert_eq!(session.post("4hi").await.text(), "ok");
        assert_eq!(session.recv_messages(1, SOON).await, ["4hi"]);
    }

    async fn handshake_websocket(target: Target) {
        let server = EioServer::start(target);
        let mut ws = ws_open(&server, &websocket_url(4, None)).await;
        let open = ws.recv_text().await;
        let (sid, _) = parse_open(&open);
        assert_eq!(
            open,
            format!(
                "0{{\"sid\":\"{sid}\",\"upgrades\":[],\"pingInterval\":300,\
                 \"pingTimeout\":200,\"maxPayload\":1000000}}"
            )
        );
        ws.send_text("4hello").await;
        assert_eq!(ws_recv_skip_pings(&mut ws, SOON).await, Some(WsFrame::Text("4hello".into())));
        // A WebSocket session is not reachable over polling.
        let res = get(&server, &polling_url(4, Some(&sid))).await;
        assert_error(&res, 3, "polling on a websocket session");
    }

    // ---------------------------------------------------------------- errors

    async fn error_transport_unknown(target: Target) {
        let server = EioServer::start(target);
        for url in [
            "/engine.io/?EIO=4&transport=foo",
            "/engine.io/?EIO=4",
            "/engine.io/?EIO=4&transport=",
            "/engine.io/?EIO=4&transport=webtransport",
        ] {
            assert_error(&get(&server, url).await, 0, url);
        }
        // Transport is checked before the sid.
        assert_error(&get(&server, "/engine.io/?EIO=4&transport=foo&sid=nope").await, 0, "foo+sid");
    }

    async fn error_session_id_unknown(target: Target) {
        let server = EioServer::start(target);
        assert_error(&get(&server, &polling_url(4, Some("nope"))).await, 1, "GET unknown sid");
        let res = server.http(HttpRequest::post(&polling_url(4, Some("nope")), "4x")).await;
        assert_error(&res, 1, "POST unknown sid (sid is checked before the method)");
        match WsClient::connect(server.port(), &websocket_url(4, Some("nope")), &[]).await {
            Err(WsConnectError::Refused { status, body }) => {
                assert_eq!(status, 400);
                assert_eq!(String::from_utf8_lossy(&body), "Session ID unknown");
            }
            other => panic!("websocket with unknown sid: {other:?}"),
        }
    }

    async fn error_bad_handshake_method(target: Target) {
        let server = EioServer::start(target);
        let res = server.http(HttpRequest::post("/engine.io/?EIO=4&transport=polling", "4x")).await;
        assert_error(&res, 2, "POST handshake");
        let res = server.http(HttpRequest::new("PUT", "/engine.io/?EIO=4&transport=polling")).await;
        assert_error(&res, 2, "PUT handshake");
        // The method is checked before the protocol version.
        let res = server.http(HttpRequest::post("/engine.io/?EIO=3&transport=polling", "1:6")).await;
        assert_error(&res, 2, "POST v3 handshake");
    }

    async fn error_bad_request(target: Target) {
        let server = EioServer::start(target);
        // A websocket handshake without the Upgrade header.
        assert_error(&get(&server, &websocket_url(4, None)).await, 3, "websocket without upgrade");
        // ... checked before the protocol version.
        assert_error(&get(&server, &websocket_url(3, None)).await, 3, "v3 websocket without upgrade");
        // Transport mismatch on an existing polling session.
        let (session, _) = PollingSession::open(&server).await;
        let res = get(&server, &websocket_url(4, Some(&session.sid))).await;
        assert_error(&res, 3, "websocket GET without upgrade on a polling session");
        // Protocol mismatch on an existing session (a missing EIO means 3).
        let res = get(&server, &polling_url(3, Some(&session.sid))).await;
        assert_error(&res, 3, "EIO=3 on a v4 session");
        let res = get(&server, &format!("/engine.io/?transport=polling&sid={}", session.sid)).await;
        assert_error(&res, 3, "no EIO on a v4 session");
        match WsClient::connect(server.port(), &websocket_url(3, Some(&session.sid)), &[]).await {
            Err(WsConnectError::Refused { status, body }) => {
                assert_eq!(status, 400);
                assert_eq!(String::from_utf8_lossy(&body), "Bad request");
            }
            other => panic!("v3 websocket upgrade of a v4 session: {other:?}"),
        }
        // The session survived all of that.
        assert_eq!(session.post("4alive").await.text(), "ok");
        assert_eq!(session.recv_messages(1, SOON).await, ["4alive"]);
    }

    async fn error_unsupported_protocol_version(target: Target) {
        let server = EioServer::start(target);
        for url in [
            "/engine.io/?EIO=3&transport=polling",
            "/engine.io/?transport=polling",
            "/engine.io/?EIO=5&transport=polling",
        ] {
            assert_error(&get(&server, url).await, 5, url);
        }
        // The reference checks the version only after the WebSocket upgrade (it then writes a raw
        // `400 Unsupported protocol version` onto the upgraded socket and destroys it); refusing
        // before the upgrade is the clean equivalent. Either way: no session, connection closed.
        match WsClient::connect(server.port(), &websocket_url(3, None), &[]).await {
            Err(WsConnectError::Refused { status, body }) => {
                assert_eq!(status, 400);
                assert_eq!(String::from_utf8_lossy(&body), "Unsupported protocol version");
            }
            Ok(mut ws) => match ws.recv().await {
                WsFrame::Ended(_) | WsFrame::Close(_) => {}
                other => panic!("v3 websocket without allowEIO3 got {other:?}"),
            },
            Err(e) => panic!("v3 websocket without allowEIO3: {e:?}"),
        }
    }

    async fn allow_request_refusal(target: Target) {
        let options = ServerOptions { deny_header: true, ..Default::default() };
        let server = EioServer::start_with(target, &options);
        let refused = HttpRequest::get(&polling_url(4, None)).header(DENY_HEADER, "1");
        let res = server.http(refused).await;
        assert_eq!(res.status, 403);
        assert_eq!(res.header("content-type"), Some("application/json"));
        assert_eq!(res.text(), format!("{{\"code\":4,\"message\":\"{DENY_MESSAGE}\"}}"));
        // The hook runs before the protocol version check.
        let res = server.http(HttpRequest::get(&polling_url(3, None)).header(DENY_HEADER, "1")).await;
        assert_eq!(res.status, 403, "hook before version: {:?}", res.text());
        // ... but after the method check and the WebSocket-without-upgrade check.
        let res = server
            .http(HttpRequest::post(&polling_url(4, None), "4x").header(DENY_HEADER, "1"))
            .await;
        assert_error(&res, 2, "POST handshake with the deny header");
        let res = server
            .http(HttpRequest::get(&websocket_url(4, None)).header(DENY_HEADER, "1"))
            .await;
        assert_error(&res, 3, "websocket without upgrade, with the deny header");
        // Without the header: accepted.
        let (session, _) = PollingSession::open(&server).await;
        // The hook sees only handshakes: requests of an existing session are not refused.
        let res = server
            .http(HttpRequest::post(&session.url(), "4ok").header(DENY_HEADER, "1"))
            .await;
        assert_eq!((res.status, res.text().as_str()), (200, "ok"));
        assert_eq!(session.recv_messages(1, SOON).await, ["4ok"]);
        // A refused WebSocket handshake: 400 with the message as the body.
        match WsClient::connect(server.port(), &websocket_url(4, None), &[(DENY_HEADER, "1")]).await {
            Err(WsConnectError::Refused { status, body }) => {
                assert_eq!(status, 400);
                assert_eq!(String::from_utf8_lossy(&body), DENY_MESSAGE);
            }
            other => panic!("refused websocket: {other:?}"),
        }
    }

    // ---------------------------------------------------------------- payloads

    async fn payload_polling_text_and_binary(target: Target) {
        let server = EioServer::start_with(target, &quiet());
        let (session, _) = PollingSession::open(&server).await;
        let all_bytes: Vec<u8> = (0..=255).collect();
        let binary = format!("b{}", b64(&all_bytes));
        let body = join_v4(&["4hello", "4€uro ✓ 😀", &binary, "4", "bAQID"]);
        let res = session.post(body).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.text(), "ok");
        assert_eq!(res.header("content-type"), Some("text/html"));
        let messages = session.recv_messages(5, SOON).await;
        assert_eq!(messages, ["4hello", "4€uro ✓ 😀", binary.as_str(), "4", "bAQID"]);
    }

    async fn payload_websocket_text_and_binary(target: Target) {
        let server = EioServer::start(target);
        let (mut ws, _) = ws_session(&server).await;
        let all_bytes: Vec<u8> = (0..=255).collect();
        ws.send_text("4hello").await;
        ws.send_binary(&all_bytes).await;
        ws.send_text("4€uro ✓ 😀").await;
        ws.send_binary(&[]).await;
        ws.send_text("4").await;
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(ws_recv_skip_pings(&mut ws, SOON).await.expect("echo"));
        }
        assert_eq!(
            got,
            [
                WsFrame::Text("4hello".into()),
                WsFrame::Binary(all_bytes),
                WsFrame::Text("4€uro ✓ 😀".into()),
                WsFrame::Binary(vec![]),
                WsFrame::Text("4".into()),
            ]
        );
    }

    async fn many_messages_both_ways(target: Target) {
        let server = EioServer::start(target);
        let (session, _) = PollingSession::open(&server).await;
        let sent: Vec<String> = (0..500).map(|i| format!("4message {i}")).collect();
        let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
        assert_eq!(session.post(join_v4(&refs)).await.text(), "ok");
        assert_eq!(session.recv_messages(500, SOON).await, sent);
    }

    async fn keep_alive_connection_reuse(target: Target) {
        // Real clients reuse connections: every kind of answer must leave the connection usable.
        // No heartbeat: the polls below expect exactly the echoes.
        let server = EioServer::start_with(target, &ServerOptions::with_flags(&["--ping-interval", "5000"]));
        let mut conn = HttpConnection::connect(server.port()).await.unwrap();
        let res = conn.request(&HttpRequest::get(&polling_url(4, None))).await.unwrap();
        let (sid, _) = parse_open(&res.text());
        let url = polling_url(4, Some(&sid));
        let res = conn.request(&HttpRequest::post(&url, "4a")).await.unwrap();
        assert_eq!((res.status, res.text().as_str()), (200, "ok"));
        let res = conn.request(&HttpRequest::get(&url)).await.unwrap();
        assert_eq!((res.status, res.text().as_str()), (200, "4a"));
        let res = conn.request(&HttpRequest::get(&polling_url(4, Some("nope")))).await.unwrap();
        assert_error(&res, 1, "unknown sid on a reused connection");
        let res = conn.request(&HttpRequest::get("/engine.io/?EIO=4&transport=foo")).await.unwrap();
        assert_error(&res, 0, "unknown transport on a reused connection");
        let preflight = HttpRequest::new("OPTIONS", &url)
            .header("Origin", "http://example.com")
            .header("Access-Control-Request-Method", "POST");
        assert_eq!(conn.request(&preflight).await.unwrap().status, 204);
        let res = conn.request(&HttpRequest::post(&url, "4b")).await.unwrap();
        assert_eq!((res.status, res.text().as_str()), (200, "ok"));
        let res = conn.request(&HttpRequest::get(&url)).await.unwrap();
        assert_eq!((res.status, res.text().as_str()), (200, "4b"));
    }

    async fn expect_100_continue(target: Target) {
        // curl and others send `Expect: 100-continue` before large bodies.
        let server = EioServer::start(target);
        let (session, _) = PollingSession::open(&server).await;
        let mut conn = HttpConnection::connect(server.port()).await.unwrap();
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n\
             Expect: 100-continue\r\nContent-Length: 6\r\n\r\n",
            session.url()
        );
        conn.send_raw(head.as_bytes()).await.unwrap();
        let interim = conn.read_interim_or_final("POST").await.unwrap();
        assert_eq!(interim.status, 100);
        conn.send_raw(b"4hello").await.unwrap();
        let res = conn.read_response("POST").await.unwrap();
        assert_eq!((res.status, res.text().as_str()), (200, "ok"));
        assert_eq!(session.recv_messages(1, SOON).await, ["4hello"]);
    }

    async fn parse_error_closes_session(target: Target) {
        let server = EioServer::start_with(target, &quiet());
        let (session, _) = PollingSession::open(&server).await;
        // Whatever the POST's own answer, the session is closed.
        let _ = HttpConnection::connect(server.port())
            .await
            .unwrap()
            .request(&HttpRequest::post(&session.url(), "9nonsense"))
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_session_gone(&server, &session.sid, "after an undecodable packet").await;

        // An empty payload, or an empty packet inside one, is undecodable too.
        for body in ["", "4a\u{1e}\u{1e}4b"] {
            let (session, _) = PollingSession::open(&server).await;
            let _ = HttpConnection::connect(server.port())
                .await
                .unwrap()
                .request(&HttpRequest::post(&session.url(), body))
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_session_gone(&server, &session.sid, &format!("after POST {body:?}")).await;
        }

        let (mut ws, _) = ws_session(&server).await;
        ws.send_text("9nonsense").await;
        assert_ws_closed(&mut ws, SOON, "undecodable packet over websocket").await;
    }

    async fn client_packets_without_meaning_are_ignored(target: Target) {
        let server = EioServer::start_with(target, &quiet());
        let (session, _) = PollingSession::open(&server).await;
        // noop, open and upgrade packets from a polling client change nothing.
        assert_eq!(session.post(join_v4(&["6", "0", "5", "4after"])).await.text(), "ok");
        assert_eq!(session.recv_messages(1, SOON).await, ["4after"]);
        let (mut ws, _) = ws_session(&server).await;
        ws.send_text("6").await;
        ws.send_text("4after").await;
        assert_eq!(ws_recv_skip_pings(&mut ws, SOON).await, Some(WsFrame::Text("4after".into())));
    }

    async fn other_methods_on_a_session(target: Target) {
        let server = EioServer::start_with(target, &quiet());
        let (session, _) = PollingSession::open(&server).await;
        // Neither GET nor POST on an existing session: 500, empty body; the session lives on.
        let res = server.http(HttpRequest::new("PUT", &session.url()).body("4x")).await;
        assert_eq!(res.status, 500);
        assert_eq!(res.text(), "");
        assert_eq!(session.post("4alive").await.text(), "ok");
        assert_eq!(session.recv_messages(1, SOON).await, ["4alive"]);
    }

    async fn origin_with_control_bytes_refused(target: Target) {
        let server = EioServer::start(target);
        // Control characters in Origin are refused by the HTTP layer (400, no body); bytes >= 0x80
        // are accepted (obs-text).
        for (origin, status) in [(&b"http://a\x7fb"[..], 400), (b"http://a\x01b", 400), (b"http://a\xffb", 200)] {
            let mut conn = HttpConnection::connect(server.port()).await.unwrap();
            let mut req = b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: ".to_vec();
            req.extend_from_slice(origin);
            req.extend_from_slice(b"\r\n\r\n");
            conn.send_raw(&req).await.unwrap();
            let res = conn.read_response("GET").await.expect("response");
            assert_eq!(res.status, status, "Origin {origin:?}: {:?}", res.text());
            if status == 400 {
                assert_eq!(res.text(), "");
            } else {
                parse_open(&res.text());
            }
        }
    }

    // ---------------------------------------------------------------- heartbeat

    async fn heartbeat_v4_polling(target: Target) {
        let server = EioServer::start(target);
        let opened = Instant::now();
        let (session, _) = PollingSession::open(&server).await;
        let first = wait_for_ping(&session).await;
        let waited = first - opened;
        assert!(waited >= Duration::from_millis(250), "first ping after {waited:?}, expected ~300 ms");
        assert_eq!(session.post("3").await.text(), "ok");
        let second = wait_for_ping(&session).await;
        let gap = second - first;
        assert!(gap >= Duration::from_millis(250), "second ping after {gap:?}");
        assert_eq!(session.post("3").await.text(), "ok");
        assert_eq!(session.post("4alive").await.text(), "ok");
        assert_eq!(session.recv_messages(1, SOON).await, ["4alive"]);
    }

    async fn heartbeat_v4_websocket(target: Target) {
        let server = EioServer::start(target);
        let opened = Instant::now();
        let (mut ws, _) = ws_session(&server).await;
        for round in 0..3 {
            assert_eq!(ws.recv_timeout(SOON).await, Some(WsFrame::Text("2".into())), "ping {round}");
            if round == 0 {
                assert!(opened.elapsed() >= Duration::from_millis(250), "first ping too early");
            }
            ws.send_text("3").await;
        }
        ws.send_text("4alive").await;
        assert_eq!(ws_recv_skip_pings(&mut ws, SOON).await, Some(WsFrame::Text("4alive".into())));
    }

    async fn heartbeat_wrong_direction_closes(target: Target) {
        let server = EioServer::start_with(target, &quiet());
        // v4: the client must not ping.
        let (mut ws, _) = ws_session(&server).await;
        ws.send_text("2").await;
        assert_ws_closed(&mut ws, SOON, "client ping in v4").await;
        let (session, _) = PollingSession::open(&server).await;
        let _ = HttpConnection::connect(server.port())
            .await
            .unwrap()
            .request(&HttpRequest::post(&session.url(), "2"))
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_session_gone(&server, &session.sid, "client ping over v4 polling").await;
    }

    async fn heartbeat_v3_client_pings(target: Target) {
        let options = ServerOptions { allow_eio3: true, ..Default::default() };
        let server = EioServer::start_with(target, &options);
        // Polling: the client pings, the server answers; the server never pings.
        let res = get(&server, "/engine.io/?EIO=3&transport=polling&b64=1").await;
        assert_eq!(res.status, 200);
        let packets = decode_v3_string(&res.text()).expect("v3 payload");
        let (sid, _) = parse_open(&packets[0]);
        let session = PollingSession { port: server.port(), sid, eio: 3, extra_query: "&b64=1".into() };
        assert_eq!(session.post(encode_v3_string(&["2"])).await.text(), "ok");
        assert_eq!(session.get().await.text(), encode_v3_string(&["3"]));
        // WebSocket: same, and no server ping within a pingInterval.
        let mut ws = ws_open(&server, &websocket_url(3, None)).await;
        let (_, open) = parse_open(&ws.recv_text().await);
        assert_eq!(open["upgrades"], serde_json::json!([]));
        for _ in 0..2 {
            assert_eq!(ws.recv_timeout(Duration::from_millis(400)).await, None, "v3 server must not ping");
            ws.send_text("2").await;
            assert_eq!(ws.recv_text().await, "3");
        }
        // v3 WebSocket messages: text as is, binary with a leading packet-type byte.
        ws.send_text("4v3 text").await;
        assert_eq!(ws.recv_text().await, "4v3 text");
        ws.send_binary(&[4, 0, 1, 255]).await;
        assert_eq!(ws.recv_binary().await, [4, 0, 1, 255]);
        // A v3 client that stops pinging times out after pingInterval + pingTimeout.
        let silent = Instant::now();
        assert_ws_closed(&mut ws, SOON, "v3 ping timeout").await;
        assert!(silent.elapsed() >= Duration::from_millis(400), "v3 timeout too early: {:?}", silent.elapsed());
        // v3: a server-direction pong from the client closes the session (with a 5 s heartbeat,
        // so the close cannot be a ping timeout).
        let options = ServerOptions {
            allow_eio3: true,
            extra: vec!["--ping-interval".into(), "5000".into()],
            ..Default::default()
        };
        let server = EioServer::start_with(target, &options);
        let mut ws = ws_open(&server, &websocket_url(3, None)).await;
        let _open = ws.recv_text().await;
        ws.send_text("3").await;
        assert_ws_closed(&mut ws, SOON, "client pong in v3").await;
    }

    async fn ping_timeout_extended_once_by_other_packets(target: Target) {
        // While a pong is awaited, the first other packet restarts the ping timeout once.
        let options = ServerOptions::with_flags(&["--ping-interval", "300", "--ping-timeout", "1000"]);
        let server = EioServer::start_with(target, &options);

        let (mut ws, _) = ws_session(&server).await;
        assert_eq!(ws.recv_timeout(SOON).await, Some(WsFrame::Text("2".into())));
        let pinged = Instant::now();
        tokio::time::sleep(Duration::from_millis(600)).await;
        ws.send_text("4extend").await; // deadline moves to ~1600 ms after the ping
        assert_eq!(ws.recv_text().await, "4extend");
        tokio::time::sleep_until((pinged + Duration::from_millis(1300)).into()).await;
        ws.send_text("3").await;
        ws.send_text("4alive").await;
        assert_eq!(ws_recv_skip_pings(&mut ws, SOON).await, Some(WsFrame::Text("4alive".into())));

        let (mut ws, _) = ws_session(&server).await;
        assert_eq!(ws.recv_timeout(SOON).await, Some(WsFrame::Text("2".into())));
        let pinged = Instant::now();
        tokio::time::sleep(Duration::from_millis(600)).await;
        ws.send_text("4extend").await;
        assert_eq!(ws.recv_text().await, "4extend");
        tokio::time::sleep_until((pinged + Duration::from_millis(1200)).into()).await;
        ws.send_text("4no second extension").await;
        // Closed ~1600 ms after the ping despite the second message.
        let (end, frames) = ws.wait_closed(SOON).await.expect("closed by ping timeout");
        assert!(matches!(end, WsFrame::Close(_)), "{end:?}");
        assert!(frames.len() <= 1, "{frames:?}");
        let closed = pinged.elapsed();
        assert!(
            closed >= Duration::from_millis(1450) && closed < Duration::from_millis(2500),
            "closed {closed:?} after the ping, expected ~1600 ms"
        );
    }

    async fn ping_timeout_polling(target: Target) {
        let server = EioServer::start(target);
        let (session, _) = PollingSession::open(&server).await;
        let pinged = wait_for_ping(&session).await;
        // No pong: the pending poll is answered with a close packet when the timeout fires.
        let res = session.get().await;
        let waited = pinged.elapsed();
        assert_eq!((res.status, res.text().as_str()), (200, "1"));
        assert!(waited >= Duration::from_millis(150), "closed {waited:?} after the ping");
        assert!(waited < SOON, "closed {waited:?} after the ping");
        assert_session_gone(&server, &session.sid, "after ping timeout").await;
    }

    async fn ping_timeout_websocket(target: Target) {
        let server = EioServer::start(target);
        let (mut ws, _) = ws_session(&server).await;
        assert_eq!(ws.recv_timeout(SOON).await, Some(WsFrame::Text("2".into())));
        let pinged = Instant::now();
        assert_ws_closed(&mut ws, SOON, "ping timeout").await;
        assert!(pinged.elapsed() >= Duration::from_millis(150), "closed too early: {:?}", pinged.elapsed());
    }

    // ---------------------------------------------------------------- close

    async fn client_close_polling(target: Target) {
        let server = EioServer::start_with(target, &quiet());
        let (session, _) = PollingSession::open(&server).await;
        let pending = {
            let session = session.clone();
            tokio::spawn(async move { session.get().await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let res = session.post("1").await;
        assert_eq!((res.status, res.text().as_str()), (200, "ok"));
        let res = pending.await.unwrap();
        assert_eq!((res.status, res.text().as_str()), (200, "6"), "pending GET answered with noop");
        assert_session_gone(&server, &session.sid, "after client close").await;
    }

    async fn client_close_websocket(target: Target) {
        let server = EioServer::start_with(target, &quiet());
        let (mut ws, sid) = ws_session(&server).await;
        // Over WebSocket a close *packet* means nothing (clients close the WebSocket itself):
        // the reference ignores it.
        ws.send_text("1").await;
        ws.send_text("4still open").await;
        assert_eq!(ws.recv_text().await, "4still open");
        // A close frame from the client ends the session.
        ws.close(1000).await;
        // Finish the closing handshake and the TCP connection, as a real client does.
        let (end, _) = ws.wait_closed(SOON).await.expect("close handshake");
        assert!(matches!(end, WsFrame::Close(_) | WsFrame::Ended(_)), "{end:?}");
        drop(ws);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_session_gone(&server, &sid, "after the client closed its websocket").await;
    }

    // ---------------------------------------------------------------- misbehaving polling

    async fn duplicate_get_closes_session(target: Target) {
        let server = EioServer::start_with(target, &quiet());
        let (session, _) = PollingSession::open(&server).await;
        let first = {
            let session = session.clone();
            tokio::spawn(async move { session.get().await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = session.get().await;
        assert_eq!(second.status, 400, "second GET: {:?}", second.text());
        assert_eq!(second.text(), "", "second GET body");
        let first = first.await.unwrap();
        assert_eq!((first.status, first.text().as_str()), (200, "1"), "first GET gets a close packet");
        assert_session_gone(&server, &session.sid, "after duplicate GET").await;
    }

    async fn duplicate_post_closes_session(target: Target) {
        let server = EioServer::start_with(target, &quiet());
        let (session, _) = PollingSession::open(&server).await;
        // A POST whose body never completes.
        let mut slow = HttpConnection::connect(server.port()).await.unwrap();
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 10\r\n\r\n4a",
            session.url()
        );
        slow.send_raw(head.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = session.post("4b").await;
        assert_eq!(second.status, 400, "second POST: {:?}", second.text());
        assert_eq!(second.text(), "", "second POST body");
        assert_session_gone(&server, &session.sid, "after duplicate POST").await;
    }

    async fn aborted_get_closes_session(target: Target) {
        let server = EioServer::start_with(target, &quiet());
        let (session, _) = PollingSession::open(&server).await;
        let mut conn = HttpConnection::connect(server.port()).await.unwrap();
        conn.send(&HttpRequest::get(&session.url())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(conn);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_session_gone(&server, &session.sid, "after an aborted GET").await;
    }

    async fn aborted_post_closes_session(target: Target) {
        let server = EioServer::start_with(target, &quiet());
        let (session, _) = PollingSession::open(&server).await;
        let mut conn = HttpConnection::connect(server.port()).await.unwrap();
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 10\r\n\r\n4a",
            session.url()
        );
        conn.send_raw(head.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(conn);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_session_gone(&server, &session.sid, "after an aborted POST").await;
    }

    // ---------------------------------------------------------------- upgrade

    async fn upgrade_polling_to_websocket(target: Target) {
        let server = EioServer::start(target);
        let (session, open) = PollingSession::open(&server).await;
        assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
        let pending = {
            let session = session.clone();
            tokio::spawn(async move { session.get().await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut ws = ws_open(&server, &websocket_url(4, Some(&session.sid))).await;
        // No open packet on an upgrade: the probe comes first.
        ws.send_text("2probe").await;
        assert_eq!(ws.recv_text().await, "3probe");
        // The pending GET is released with a noop (possibly after a ping the test answers).
        let mut res = pending.await.unwrap();
        loop {
            assert_eq!(res.status, 200);
            let text = res.text();
            let packets = split_v4(&text);
            if packets.contains(&"6") {
                break;
            }
            assert_eq!(packets, ["2"], "pending GET during the probe");
            assert_eq!(session.post("3").await.text(), "ok");
            res = session.get().await;
        }
        // A message sent while upgrading is buffered and flushed over the WebSocket.
        assert_eq!(session.post("4during").await.text(), "ok");
        ws.send_text("5").await;
        assert_eq!(ws_recv_skip_pings(&mut ws, SOON).await, Some(WsFrame::Text("4during".into())));
        ws.send_text("4after").await;
        assert_eq!(ws_recv_skip_pings(&mut ws, SOON).await, Some(WsFrame::Text("4after".into())));
        ws.send_binary(&[1, 2, 3]).await;
        assert_eq!(ws_recv_skip_pings(&mut ws, SOON).await, Some(WsFrame::Binary(vec![1, 2, 3])));
        // Polling is over for this session.
        assert_error(&session.get().await, 3, "GET after upgrade");
        assert_error(&session.post("4late").await, 3, "POST after upgrade");
        // A second WebSocket for the upgraded sid is closed without data.
        match WsClient::connect(server.port(), &websocket_url(4, Some(&session.sid)), &[]).await {
            Ok(mut second) => {
                assert_ws_closed(&mut second, SOON, "second websocket for an upgraded sid").await;
            }
            Err(WsConnectError::Refused { status, .. }) => assert_eq!(status, 400),
            Err(e) => panic!("second websocket: {e:?}"),
        }
        // The upgraded WebSocket still works.
        ws.send_text("4still").await;
        assert_eq!(ws_recv_skip_pings(&mut ws, SOON).await, Some(WsFrame::Text("4still".into())));
    }

    async fn upgrade_v3(target: Target) {
        // A v3 session expires pingInterval + pingTimeout after the last client ping; a long
        // pingTimeout keeps a loaded machine from expiring it between the requests.
        let options = ServerOptions {
            allow_eio3: true,
            extra: vec!["--ping-timeout".into(), "2000".into()],
            ..Default::default()
        };
        let server = EioServer::start_with(target, &options);
        let res = get(&server, "/engine.io/?EIO=3&transport=polling&b64=1").await;
        let packets = decode_v3_string(&res.text()).expect("v3 payload");
        let (sid, open) = parse_open(&packets[0]);
        assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
        let session = PollingSession { port: server.port(), sid, eio: 3, extra_query: "&b64=1".into() };
        let pending = {
            let session = session.clone();
            tokio::spawn(async move { session.get().await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut ws = ws_open(&server, &websocket_url(3, Some(&session.sid))).await;
        ws.send_text("2probe").await;
        assert_eq!(ws.recv_text().await, "3probe");
        let res = pending.await.unwrap();
        assert_eq!((res.status, res.text()), (200, encode_v3_string(&["6"])));
        assert_eq!(session.post(encode_v3_string(&["4during"])).await.text(), "ok");
        ws.send_text("5").await;
        assert_eq!(ws.recv_text().await, "4during");
        ws.send_binary(&[4, 7, 8]).await;
        assert_eq!(ws.recv_binary().await, [4, 7, 8]);
        ws.send_text("2").await;
        assert_eq!(ws.recv_text().await, "3");
        let res = get(&server, &session.url()).await;
        assert_error(&res, 3, "v3 GET after upgrade");
    }

    async fn upgrade_without_probe_closes_new_transport(target: Target) {
        let server = EioServer::start_with(target, &quiet());
        let (session, _) = PollingSession::open(&server).await;
        let mut ws = ws_open(&server, &websocket_url(4, Some(&session.sid))).await;
        ws.send_text("4not a probe").await;
        assert_ws_closed(&mut ws, SOON, "non-probe packet during upgrade").await;
        // The polling session survives and did not get the message.
        assert_eq!(session.post("4still polling").await.text(), "ok");
        assert_eq!(session.recv_messages(1, SOON).await, ["4still polling"]);
    }

    // ---------------------------------------------------------------- limits

    async fn oversize_post_gets_413(target: Target) {
        // Heartbeats are not under test here: a long pingInterval keeps a loaded machine from timing out idle sessions.
        let server = EioServer::start_with(target, &ServerOptions::with_flags(&["--ping-interval", "5000"]));
        let (session, _) = PollingSession::open(&server).await;
        // Exactly the limit is accepted.
        let at_limit = format!("4{}", "a".repeat(MAX_PAYLOAD - 1));
        assert_eq!(session.post(at_limit.clone()).await.text(), "ok");
        assert_eq!(session.recv_messages(1, SOON).await, [at_limit]);
        // One byte more: 413, and the data is dropped.
        let over = format!("4{}", "b".repeat(MAX_PAYLOAD));
        let mut conn = HttpConnection::connect(server.port()).await.unwrap();
        // The server may answer before the body is fully sent.
        let _ = conn.send(&HttpRequest::post(&session.url(), over).header("Content-Type", "text/plain;charset=UTF-8")).await;
        let res = conn.read_response("POST").await.expect("413 response");
        assert_eq!(res.status, 413);
        // The same without a Content-Length (chunked): the limit applies to what is read.
        let mut conn = HttpConnection::connect(server.port()).await.unwrap();
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n\
             Transfer-Encoding: chunked\r\n\r\n",
            session.url()
        );
        let _ = conn.send_raw(head.as_bytes()).await;
        let chunk = "c".repeat(100_000);
        for _ in 0..11 {
            if conn.send_raw(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = conn.send_raw(b"0\r\n\r\n").await;
        let res = conn.read_response("POST").await.expect("413 response to a chunked POST");
        assert_eq!(res.status, 413);
        assert_eq!(session.post("4next").await.text(), "ok");
        assert_eq!(session.recv_messages(1, SOON).await, ["4next"]);
    }

    async fn oversize_websocket_message_closes_1009(target: Target) {
        let server = EioServer::start(target);
        let (mut ws, _) = ws_session(&server).await;
        let at_limit = format!("4{}", "a".repeat(MAX_PAYLOAD - 1));
        ws.send_text(&at_limit).await;
        assert_eq!(ws_recv_skip_pings(&mut ws, SOON).await, Some(WsFrame::Text(at_limit)));
        ws.send_text(&format!("4{}", "b".repeat(MAX_PAYLOAD))).await;
        let frame = assert_ws_closed(&mut ws, SOON, "oversized message").await;
        assert_eq!(frame.map(|(code, _)| code), Some(1009));
    }

    async fn v4_binary_post_body_rejected(target: Target) {
        let server = EioServer::start_with(target, &quiet());
        let (session, _) = PollingSession::open(&server).await;
        let res = server
            .http(HttpRequest::post(&session.url(), vec![4u8, 1, 2]).header("Content-Type", "application/octet-stream"))
            .await;
        assert_eq!(res.status, 400);
        assert_session_gone(&server, &session.sid, "after an octet-stream v4 POST").await;
    }

    async fn http_compression(target: Target) {
        // Heartbeats are not under test here: a long pingInterval keeps a loaded machine from timing out idle sessions.
        let server = EioServer::start_with(target, &ServerOptions::with_flags(&["--ping-interval", "5000"]));
        let (session, _) = PollingSession::open(&server).await;
        let big = format!("4{}", "z".repeat(2000));
        for (encoding, decode) in [
            ("gzip", gunzip as fn(&[u8]) -> String),
            ("deflate", inflate as fn(&[u8]) -> String),
        ] {
            assert_eq!(session.post(big.clone()).await.text(), "ok");
            let res = server
                .http(HttpRequest::get(&session.url()).header("Accept-Encoding", encoding))
                .await;
            assert_eq!(res.status, 200);
            assert_eq!(res.header("content-encoding"), Some(encoding));
            assert_eq!(res.header("content-type"), Some("text/plain; charset=UTF-8"));
            assert_eq!(decode(&res.body), big, "{encoding} body");
        }
        // Below the 1024-byte threshold: not compressed.
        assert_eq!(session.post("4small").await.text(), "ok");
        let res = server
            .http(HttpRequest::get(&session.url()).header("Accept-Encoding", "gzip, deflate"))
            .await;
        assert_eq!(res.header("content-encoding"), None);
        assert_eq!(res.text(), "4small");
    }

    async fn upgrade_timeout_closes_new_transport(target: Target) {
        // A long pingInterval keeps heartbeats out of the way while nothing polls.
        let options = ServerOptions::with_flags(&["--upgrade-timeout", "300", "--ping-interval", "5000"]);
        let server = EioServer::start_with(target, &options);
        let (session, _) = PollingSession::open(&server).await;
        let mut ws = ws_open(&server, &websocket_url(4, Some(&session.sid))).await;
        let started = Instant::now();
        ws.send_text("2probe").await;
        assert_eq!(ws.recv_text().await, "3probe");
        // No `5`: the upgrade times out and the new transport is closed.
        assert_ws_closed(&mut ws, SOON, "unfinished upgrade").await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(250), "closed after {waited:?}, upgradeTimeout is 300 ms");
        // The polling session carries on.
        assert_eq!(session.post("4still polling").await.text(), "ok");
        assert_eq!(session.recv_messages(1, SOON).await, ["4still polling"]);
    }

    async fn option_initial_packet(target: Target) {
        let server = EioServer::start_with(target, &ServerOptions::with_flags(&["--initial-packet", "hi"]));
        let res = get(&server, &polling_url(4, None)).await;
        let body = res.text();
        let packets = split_v4(&body);
        assert_eq!(packets.len(), 2, "{body:?}");
        assert_eq!(packets[1], "4hi");
        let mut ws = ws_open(&server, &websocket_url(4, None)).await;
        parse_open(&ws.recv_text().await);
        assert_eq!(ws.recv_text().await, "4hi");
    }

    async fn option_transports_and_upgrades(target: Target) {
        // Polling only: nothing to upgrade to, and WebSocket requests are an unknown transport.
        let server = EioServer::start_with(target, &ServerOptions::with_flags(&["--transports", "polling"]));
        let (_, open) = server.handshake().await;
        assert_eq!(open["upgrades"], serde_json::json!([]));
        match WsClient::connect(server.port(), &websocket_url(4, None), &[]).await {
            Err(WsConnectError::Refused { status, body }) => {
                assert_eq!(status, 400);
                assert_eq!(String::from_utf8_lossy(&body), error_body(0));
            }
            other => panic!("websocket with polling only: {other:?}"),
        }
        // WebSocket only: polling is an unknown transport.
        let server = EioServer::start_with(target, &ServerOptions::with_flags(&["--transports", "websocket"]));
        assert_error(&get(&server, &polling_url(4, None)).await, 0, "polling with websocket only");
        let (mut ws, _) = ws_session(&server).await;
        ws.send_text("4ws only").await;
        assert_eq!(ws_recv_skip_pings(&mut ws, SOON).await, Some(WsFrame::Text("4ws only".into())));
        // allowUpgrades false: none advertised.
        let server = EioServer::start_with(target, &ServerOptions::with_flags(&["--no-upgrades"]));
        let (_, open) = server.handshake().await;
        assert_eq!(open["upgrades"], serde_json::json!([]));
    }

    async fn option_no_compression(target: Target) {
        let server = EioServer::start_with(target, &ServerOptions::with_flags(&["--no-compression", "--ping-interval", "5000"]));
        let (session, _) = PollingSession::open(&server).await;
        let big = format!("4{}", "z".repeat(2000));
        assert_eq!(session.post(big.clone()).await.text(), "ok");
        let res = server
            .http(HttpRequest::get(&session.url()).header("Accept-Encoding", "gzip, deflate"))
            .await;
        assert_eq!(res.header("content-encoding"), None);
        assert_eq!(res.text(), big);
    }

    async fn cors_credentials(target: Target) {
        let server = EioServer::start_with(target, &ServerOptions::with_flags(&["--cors-credentials"]));
        let res = server
            .http(
                HttpRequest::new("OPTIONS", "/engine.io/?EIO=4&transport=polling")
                    .header("Origin", "http://example.com")
                    .header("Access-Control-Request-Method", "POST"),
            )
            .await;
        assert_eq!(res.status, 204);
        assert_eq!(res.header("access-control-allow-origin"), Some("http://example.com"));
        assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(res.header("access-control-allow-methods"), Some("GET,HEAD,PUT,PATCH,POST,DELETE"));
        let vary = res.header_all("vary").join(", ").to_ascii_lowercase();
        assert!(vary.contains("origin"), "Vary: {vary:?}");
        let res = server
            .http(HttpRequest::get(&polling_url(4, None)).header("Origin", "http://example.com"))
            .await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("access-control-allow-origin"), Some("http://example.com"));
        assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
    }

    // ---------------------------------------------------------------- JSONP

    async fn jsonp_polling(target: Target) {
        let server = EioServer::start_with(target, &quiet());
        // Non-digits of `j` are dropped.
        let res = get(&server, "/engine.io/?EIO=4&transport=polling&j=a1b2").await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), Some("text/plain; charset=UTF-8"));
        let body = res.text();
        let json = body
            .strip_prefix("___eio[12](")
            .and_then(|b| b.strip_suffix(");"))
            .unwrap_or_else(|| panic!("JSONP framing: {body:?}"));
        let payload: String = serde_json::from_str(json).unwrap();
        parse_open(&payload);
        assert_eq!(json, serde_json::to_string(&payload).unwrap(), "exact JSON string encoding");
        // The session keeps the callback index of its handshake.
        let res = get(&server, "/engine.io/?EIO=4&transport=polling&j=0").await;
        let body = res.text();
        let payload: String = serde_json::from_str(&body["___eio[0](".len()..body.len() - 2]).unwrap();
        let (sid, _) = parse_open(&payload);
        let session = PollingSession { port: server.port(), sid, eio: 4, extra_query: "&j=0".into() };
        // Form-encoded POST; U+2028 must come back escaped; a literal `\n` is a newline.
        let form = "d=4line%E2%80%A8sep%1E4a%5Cnb%1EbAQID";
        let res = server
            .http(HttpRequest::post(&session.url(), form).header("Content-Type", "application/x-www-form-urlencoded"))
            .await;
        assert_eq!((res.status, res.text().as_str()), (200, "ok"));
        let mut got = String::new();
        let deadline = Instant::now() + SOON;
        while !got.contains("bAQID") {
            assert!(Instant::now() < deadline, "echo did not arrive: {got:?}");
            let res = session.get().await;
            assert_eq!(res.status, 200);
            let text = res.text();
            if text == "___eio[0](\"2\");" {
                let pong = server
                    .http(HttpRequest::post(&session.url(), "d=3").header("Content-Type", "application/x-www-form-urlencoded"))
                    .await;
                assert_eq!(pong.text(), "ok");
                continue;
            }
            got = text;
        }
        assert_eq!(got, "___eio[0](\"4line\\u2028sep\\u001e4a\\nb\\u001ebAQID\");");
    }

    // ---------------------------------------------------------------- CORS and cookie

    async fn cors_preflight_and_headers(target: Target) {
        let server = EioServer::start(target);
        let res = server
            .http(
                HttpRequest::new("OPTIONS", "/engine.io/?EIO=4&transport=polling")
                    .header("Origin", "http://example.com")
                    .header("Access-Control-Request-Method", "POST")
                    .header("Access-Control-Request-Headers", "content-type"),
            )
            .await;
        assert_eq!(res.status, 204);
        assert_eq!(res.header("access-control-allow-origin"), Some("*"));
        assert_eq!(res.header("access-control-allow-methods"), Some("GET,HEAD,PUT,PATCH,POST,DELETE"));
        assert_eq!(res.header("access-control-allow-headers"), Some("content-type"));
        assert_eq!(res.header("access-control-allow-credentials"), None);
        assert!(res.body.is_empty());
        // A preflight is answered before any Engine.IO check.
        let res = server
            .http(
                HttpRequest::new("OPTIONS", "/engine.io/?EIO=4&transport=foo&sid=nope")
                    .header("Origin", "http://example.com")
                    .header("Access-Control-Request-Method", "POST"),
            )
            .await;
        assert_eq!(res.status, 204);
        assert_eq!(res.header("access-control-allow-origin"), Some("*"));
        // Handshake, data requests and errors all carry the origin header.
        let res = server.http(HttpRequest::get(&polling_url(4, None)).header("Origin", "http://example.com")).await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("access-control-allow-origin"), Some("*"));
        let (sid, _) = parse_open(&res.text());
        let res = server
            .http(HttpRequest::post(&polling_url(4, Some(&sid)), "4x").header("Origin", "http://example.com"))
            .await;
        assert_eq!(res.header("access-control-allow-origin"), Some("*"));
        let res = server.http(HttpRequest::get("/engine.io/?EIO=4&transport=foo").header("Origin", "http://example.com")).await;
        assert_error(&res, 0, "unknown transport with Origin");
        assert_eq!(res.header("access-control-allow-origin"), Some("*"));
    }

    async fn cookie_on_handshake(target: Target) {
        let options = ServerOptions { cookie: true, ..Default::default() };
        let server = EioServer::start_with(target, &options);
        let res = get(&server, &polling_url(4, None)).await;
        assert_eq!(res.status, 200);
        let (sid, _) = parse_open(&res.text());
        assert_eq!(res.header_all("set-cookie"), [format!("io={sid}; Path=/; HttpOnly; SameSite=Lax")]);
        // Only the handshake sets it.
        let session = PollingSession { port: server.port(), sid, eio: 4, extra_query: String::new() };
        let res = session.post("4x").await;
        assert_eq!(res.header("set-cookie"), None);
        let res = session.get().await;
        assert_eq!(res.header("set-cookie"), None);
    }

    // ---------------------------------------------------------------- v3 payloads

    async fn v3_string_payloads(target: Target) {
        // A v3 session expires pingInterval + pingTimeout after the last client ping; a long
        // pingTimeout keeps a loaded machine from expiring it between the requests.
        let options = ServerOptions {
            allow_eio3: true,
            extra: vec!["--ping-timeout".into(), "2000".into()],
            ..Default::default()
        };
        let server = EioServer::start_with(target, &options);
        let res = get(&server, "/engine.io/?EIO=3&transport=polling&b64=1").await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), Some("text/plain; charset=UTF-8"));
        let body = res.text();
        let packets = decode_v3_string(&body).expect("v3 payload");
        assert_eq!(packets.len(), 1, "{body:?}");
        let (sid, _) = parse_open(&packets[0]);
        assert_eq!(
            body,
            encode_v3_string(&[&format!(
                "0{{\"sid\":\"{sid}\",\"upgrades\":[\"websocket\"],\"pingInterval\":300,\
                 \"pingTimeout\":2000,\"maxPayload\":1000000}}"
            )])
        );
        let session = PollingSession { port: server.port(), sid, eio: 3, extra_query: "&b64=1".into() };
        let binary = format!("b4{}", b64(&[0, 1, 2, 255]));
        // Lengths count UTF-16 code units: 😀 is 2 of them.
        let payload = encode_v3_string(&["4hello", "4😀€", &binary]);
        assert!(payload.contains("4:4😀€"), "{payload:?}");
        assert_eq!(session.post(payload.clone()).await.text(), "ok");
        let res = session.get().await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), Some("text/plain; charset=UTF-8"));
        assert_eq!(res.text(), payload);
        // A bad length is a parse error: the session closes.
        let _ = session.post("99:4short").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let res = get(&server, &format!("{}&b64=1", polling_url(3, Some(&session.sid)))).await;
        assert_error(&res, 1, "after a bad v3 payload");
    }

    async fn v3_binary_payloads(target: Target) {
        // A v3 session expires pingInterval + pingTimeout after the last client ping; a long
        // pingTimeout keeps a loaded machine from expiring it between the requests.
        let options = ServerOptions {
            allow_eio3: true,
            extra: vec!["--ping-timeout".into(), "2000".into()],
            ..Default::default()
        };
        let server = EioServer::start_with(target, &options);
        // Without b64 the client supports XHR2 binary; the handshake itself has no binary,
        // so it is a string payload.
        let res = get(&server, "/engine.io/?EIO=3&transport=polling").await;
        assert_eq!(res.status, 200);
        let packets = decode_v3_string(&res.text()).expect("v3 string payload");
        let (sid, _) = parse_open(&packets[0]);
        let session = PollingSession { port: server.port(), sid, eio: 3, extra_query: String::new() };
        let sent = [
            V3Binary::Text("4hello €".into()),
            V3Binary::Binary(4, (0..=255).collect()),
            V3Binary::Text("4".into()),
        ];
        let res = server
            .http(HttpRequest::post(&session.url(), encode_v3_binary(&sent)).header("Content-Type", "application/octet-stream"))
            .await;
        assert_eq!((res.status, res.text().as_str()), (200, "ok"));
        let res = session.get().await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("content-type"), Some("application/octet-stream"));
        assert_eq!(decode_v3_binary(&res.body), Some(sent.to_vec()));
        assert_eq!(res.body, encode_v3_binary(&sent), "exact bytes");
        // Text only: the answer is a string payload.
        assert_eq!(session.post(encode_v3_string(&["4text only"])).await.text(), "ok");
        let res = session.get().await;
        assert_eq!(res.header("content-type"), Some("text/plain; charset=UTF-8"));
        assert_eq!(res.text(), encode_v3_string(&["4text only"]));
    }
}

/// Plain helper tests of the support library's codecs (no server).
#[test]
fn v3_codec_helpers_round_trip() {
    let s = encode_v3_string(&["4😀", "2"]);
    assert_eq!(s, "3:4😀1:2");
    assert_eq!(
        decode_v3_string(&s),
        Some(vec!["4😀".to_owned(), "2".to_owned()])
    );
    let b = encode_v3_binary(&[
        V3Binary::Text("4ab".into()),
        V3Binary::Binary(4, vec![9; 12]),
    ]);
    assert_eq!(&b[..6], &[0, 3, 0xFF, b'4', b'a', b'b']);
    assert_eq!(&b[6..11], &[1, 1, 3, 0xFF, 4]);
    assert_eq!(decode_v3_binary(&b).unwrap().len(), 2);
}
