//! WebTransport with the npm `socket.io-client` 4.8 in headless Chromium, which speaks it
//! natively, against our conformance server (`--interop --webtransport`): the page accepts the
//! server's self-signed certificate through `serverCertificateHashes` (the hash the server
//! prints). Once over WebTransport only, once polling then the upgrade to WebTransport; each
//! covers binary, acks, the heartbeat, a 1 MB message, the size limit and both closes
//! (`js/webtransport-browser-test.js`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use protocol_tests::{ensure_deps, run_node, RustPeer};
use serde_json::{json, Value};

/// Our server with WebTransport on, and the certificate hash it printed.
fn server() -> (RustPeer, String) {
    let server = RustPeer::spawn_example(
        "socketio-server",
        "socketio_conformance_server",
        &["--port", "0", "--interop", "--webtransport"],
    );
    let line = server
        .next_line(Duration::from_secs(5))
        .expect("the server printed no line after `listening`");
    let hash = line
        .strip_prefix("webtransport-cert-hash ")
        .unwrap_or_else(|| panic!("expected `webtransport-cert-hash <base64>`, got {line:?}"))
        .to_owned();
    (server, hash)
}

/// One browser session at a time (each runs its own Chromium against a server whose heartbeat
/// times out after 200 ms): see [`protocol_tests::browser`].
async fn drive(mode: &str) -> Value {
    let _one = protocol_tests::browser::one_at_a_time().await;
    ensure_deps();
    let (server, hash) = server();
    let url = format!("http://127.0.0.1:{}", server.port());
    let out = run_node(
        "webtransport-browser-test.js",
        &[&url, &hash, mode],
        &[],
        Duration::from_secs(60),
    )
    .await;
    let result = out.json_result().unwrap_or_else(|| {
        panic!(
            "webtransport-browser-test.js printed no JSON (timed out: {}); stdout:\n{}\nstderr:\n{}",
            out.timed_out, out.stdout, out.stderr
        )
    });
    assert_eq!(
        result["ok"],
        json!(true),
        "browser test failed: {}\nstderr:\n{}",
        result["error"].as_str().unwrap_or_default(),
        out.stderr
    );
    result
}

fn assert_session(r: &Value) {
    assert_eq!(r["transport"], json!("webtransport"), "{r}");
    assert_eq!(r["binaryBack"], json!(true), "binary echo: {r}");
    assert_eq!(r["ackOk"], json!(true), "ack: {r}");
    // pingInterval 300 ms over 1.5 s.
    assert!(r["pings"].as_u64().unwrap_or(0) >= 3, "pings: {r}");
    assert_eq!(r["aliveAfterHeartbeat"], json!(true), "{r}");
    assert_eq!(r["bigOk"], json!(true), "1 MB echo: {r}");
    assert_eq!(r["serverCloseReason"], json!("io server disconnect"), "{r}");
    // The server ends the QUIC connection: wtransport (0.6, and 0.7.2, the latest) cannot send
    // the WebTransport close capsule on the session's CONNECT stream. Chromium aborts that
    // stream with the connection (tried: code 0 with an empty reason, and with the reason "0:"
    // that quiche reads as QUIC_NO_ERROR) and reports the session failed ("Connection lost.", in `overLimitDetail`): the client's "transport
    // error", where the reference's `session.close()` gets "transport close".
    assert_eq!(r["overLimitReason"], json!("transport error"), "{r}");
    assert_eq!(r["clientCloseReason"], json!("io client disconnect"), "{r}");
}

#[tokio::test]
async fn chromium_socketio_client_over_webtransport_only() {
    let r = drive("webtransport").await;
    assert_eq!(r["first"], json!("webtransport"), "{r}");
    assert_eq!(r["s3Transport"], json!("webtransport"), "{r}");
    assert_session(&r);
}

#[tokio::test]
async fn chromium_socketio_client_polling_then_webtransport() {
    let r = drive("upgrade").await;
    assert_eq!(r["first"], json!("polling"), "{r}");
    assert_session(&r);
}
