//! Interoperability: the npm `engine.io-client` 6.6 (Node, `js/engineio-client-interop.js`)
//! against our Engine.IO server over polling only, WebSocket only, and polling-then-upgrade. The
//! client sends text (ASCII, non-ASCII, 100 000 characters) and binary, the server echoes, and the
//! client closes. Each case also runs against the npm `engine.io` reference, which proves the
//! expectations describe real behaviour.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::Engine as _;
use protocol_tests::engineio::{EioServer, Target};
use protocol_tests::run_node;
use serde_json::{json, Value};

/// The script's own timeout is 8 s; this bounds node start-up on top of it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

macro_rules! interop {
    ($(async fn $name:ident($target:ident: Target) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($target: Target) $body

                #[tokio::test]
                async fn reference() {
                    run(Target::Reference).await
                }

                #[tokio::test]
                async fn ours() {
                    run(Target::Ours).await
                }
            }
        )*
    };
}

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

/// Runs the Node client against `server` in `mode` and returns its result line.
async fn run_client(server: &EioServer, mode: &str) -> Value {
    let url = format!("http://127.0.0.1:{}", server.port());
    let out = run_node(
        "engineio-client-interop.js",
        &[&url, mode],
        &[],
        CLIENT_TIMEOUT,
    )
    .await;
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

/// The checks common to every mode.
fn assert_result(result: &Value, open: &str, upgraded: bool, last: &str, received: Vec<Value>) {
    assert_eq!(result["errors"], json!([]), "client errors: {result:#}");
    assert_eq!(result["openTransport"], open, "{result:#}");
    assert_eq!(result["upgraded"], upgraded, "{result:#}");
    assert_eq!(result["finalTransport"], last, "{result:#}");
    assert_eq!(result["received"], Value::Array(received), "echoes");
    assert_eq!(result["closeReason"], "forced close", "{result:#}");
    assert_eq!(result["ok"], true, "{result:#}");
    let sid = result["sid"].as_str().expect("sid");
    assert!(sid.len() >= 20, "sid {sid:?}");
}

interop! {
    async fn polling_only(target: Target) {
        let server = EioServer::start(target);
        let result = run_client(&server, "polling").await;
        assert_result(&result, "polling", false, "polling", batch("first"));
    }

    async fn websocket_only(target: Target) {
        let server = EioServer::start(target);
        let result = run_client(&server, "websocket").await;
        assert_result(&result, "websocket", false, "websocket", batch("first"));
    }

    async fn polling_then_upgrade(target: Target) {
        let server = EioServer::start(target);
        let result = run_client(&server, "upgrade").await;
        let mut expected = batch("first");
        expected.extend(batch("second"));
        assert_result(&result, "polling", true, "websocket", expected);
    }
}
