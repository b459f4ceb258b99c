//! Interoperability: the npm `engine.io-client` 6.6 (Node, `js/engineio-client-interop.js`) — and
//! `engine.io-client` 3.5 (protocol v3, the one inside socket.io-client 2.x) — against our
//! Engine.IO server over polling only, WebSocket only, and polling-then-upgrade. The client sends
//! text (ASCII, non-ASCII, 100 000 characters) and binary, the server echoes, then the client closes
//! (or asks the server to close, and sees that close). Each case also runs against the npm
//! `engine.io` reference, which proves the expectations describe real behaviour.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::Engine as _;
use protocol_tests::engineio::{error_body, polling_url, EioServer, ServerOptions, Target};
use protocol_tests::run_node;
use protocol_tests::HttpRequest;
use serde_json::{json, Value};

/// The script's own timeout is 8 s; this bounds node start-up on top of it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// What the script reports for one batch (see the script's header).
fn batch(tag: &str) -> Vec<Value> {
    let bytes: Vec<u8> = (0..=255).collect();
    vec![
        json!({"type": "text", "data": format!("hello {tag}")}),
        json!({"type": "text", "data": format!("€uro ✓ 😀 {tag}")}),
        json!({"type": "binary", "data": base64::engine::general_purpose::STANDARD.encode(bytes)}),
        json!({"type": "text", "length": 100_000, "prefix": format!("{tag}xxxxxxxx").chars().take(8).collect::<String>()}),
    ]
}

/// Pings still go every 300 ms, but a loaded machine gets 1 s (not 200 ms) to answer: a starved
/// Node process must not turn an interop run into a "ping timeout".
const PING_TIMEOUT_MS: &str = "1000";

/// The text that makes the conformance servers close the socket (`--close-on`).
const CLOSE_ON: &str = "bye";

/// Runs the Node client against `server` in `mode` (plus script flags) and returns its result line.
async fn run_client(server: &EioServer, mode: &str, flags: &[&str]) -> Value {
    let url = format!("http://127.0.0.1:{}", server.port());
    let mut args = vec![url.as_str(), mode];
    args.extend_from_slice(flags);
    let out = run_node("engineio-client-interop.js", &args, &[], CLIENT_TIMEOUT).await;
    assert!(
        !out.timed_out,
        "node client timed out; stderr:\n{}",
        out.stderr
    );
    assert_eq!(
        out.code,
        Some(0),
        "node client failed; stderr:\n{}",
        out.stderr
    );
    out.json_result().unwrap_or_else(|| {
        panic!(
            "no JSON result line; stdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        )
    })
}

/// What a run must report.
struct Expect {
    protocol: u8,
    open: &'static str,
    upgraded: bool,
    last: &'static str,
    close_reason: &'static str,
}

impl Expect {
    fn mode(mode: &str, protocol: u8, close_reason: &'static str) -> Expect {
        let (open, upgraded, last) = match mode {
            "polling" => ("polling", false, "polling"),
            "websocket" => ("websocket", false, "websocket"),
            _ => ("polling", true, "websocket"),
        };
        Expect {
            protocol,
            open,
            upgraded,
            last,
            close_reason,
        }
    }
}

fn assert_result(result: &Value, expect: &Expect) {
    assert_eq!(result["errors"], json!([]), "client errors: {result:#}");
    assert_eq!(result["protocol"], expect.protocol, "{result:#}");
    assert_eq!(result["openTransport"], expect.open, "{result:#}");
    assert_eq!(result["upgraded"], expect.upgraded, "{result:#}");
    assert_eq!(result["finalTransport"], expect.last, "{result:#}");
    let mut received = batch("first");
    if expect.upgraded {
        received.extend(batch("second"));
    }
    assert_eq!(result["received"], Value::Array(received), "echoes");
    assert_eq!(result["closeReason"], expect.close_reason, "{result:#}");
    assert_eq!(result["ok"], true, "{result:#}");
    let sid = result["sid"].as_str().expect("sid");
    assert!(sid.len() >= 20, "sid {sid:?}");
}

/// The server must have dropped the session the client saw closed: a request with its sid gets
/// 400 "Session ID unknown" (polled briefly: the close travels asynchronously).
async fn assert_server_dropped(server: &EioServer, result: &Value) {
    let sid = result["sid"].as_str().expect("sid");
    let url = polling_url(4, Some(sid));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let res = server.http(HttpRequest::get(&url)).await;
        if res.status == 400 && res.text() == error_body(1) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server still knows session {sid} after the client saw it closed: {} {:?}",
            res.status,
            res.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One client-closed run per protocol version in `mode` (v3 needs `--allow-eio3`).
async fn client_closes(target: Target, mode: &str) {
    let options = ServerOptions {
        allow_eio3: true,
        extra: vec!["--ping-timeout".into(), PING_TIMEOUT_MS.into()],
        ..ServerOptions::default()
    };
    let server = EioServer::start_with(target, &options);
    let result = run_client(&server, mode, &[]).await;
    assert_result(&result, &Expect::mode(mode, 4, "forced close"));
    assert_server_dropped(&server, &result).await;
    let result = run_client(&server, mode, &["--eio3"]).await;
    assert_result(&result, &Expect::mode(mode, 3, "forced close"));
    assert_server_dropped(&server, &result).await;
}

/// The server closes the socket (`--close-on bye`); the client sees "transport close".
async fn server_closes(target: Target, mode: &str) {
    let options = ServerOptions {
        allow_eio3: true,
        extra: vec![
            "--close-on".into(),
            CLOSE_ON.into(),
            "--ping-timeout".into(),
            PING_TIMEOUT_MS.into(),
        ],
        ..ServerOptions::default()
    };
    let server = EioServer::start_with(target, &options);
    let result = run_client(&server, mode, &["--server-close", CLOSE_ON]).await;
    assert_result(&result, &Expect::mode(mode, 4, "transport close"));
    assert_server_dropped(&server, &result).await;
    let result = run_client(&server, mode, &["--eio3", "--server-close", CLOSE_ON]).await;
    assert_result(&result, &Expect::mode(mode, 3, "transport close"));
    assert_server_dropped(&server, &result).await;
}

protocol_tests::engineio_reference_and_ours! {
    async fn polling_only(target: Target) {
        client_closes(target, "polling").await;
    }

    async fn websocket_only(target: Target) {
        client_closes(target, "websocket").await;
    }

    async fn polling_then_upgrade(target: Target) {
        client_closes(target, "upgrade").await;
    }

    async fn server_close_polling(target: Target) {
        server_closes(target, "polling").await;
    }

    async fn server_close_websocket(target: Target) {
        server_closes(target, "websocket").await;
    }

    async fn server_close_after_upgrade(target: Target) {
        server_closes(target, "upgrade").await;
    }
}
