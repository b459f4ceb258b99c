//! The chat demo (`socketio-server/examples/chat.rs`) in headless Chromium: two pages join a room,
//! see each other in the user list, exchange messages, and one moves to another room
//! (`js/chat-browser-test.js` drives Chromium through the DevTools protocol).
//!
//! The same page and script also run against `js/chat-reference.js`, the chat's logic on the npm
//! `socket.io` server, which proves the driver.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use protocol_tests::{ensure_deps, run_node, NodePeer, RustPeer};
use serde_json::{json, Value};

async fn drive(port: u16) -> Value {
    // One Chromium at a time in this test process (see `protocol_tests::browser`).
    let _one = protocol_tests::browser::one_at_a_time().await;
    ensure_deps();
    let url = format!("http://127.0.0.1:{port}");
    let out = run_node(
        "chat-browser-test.js",
        &[&url],
        &[],
        Duration::from_secs(60),
    )
    .await;
    out.ok_result("chat-browser-test.js")
}

fn assert_chat(r: &Value) {
    assert_eq!(
        r["aliceLines"],
        json!([
            "you joined lobby as alice",
            "bob joined",
            "alicehello bob",
            "bobhi alice <b>not bold</b>",
            "bob left",
            "aliceonly lobby"
        ])
    );
    assert_eq!(
        r["bobLines"],
        json!(["you joined other as bob", "bobonly other"])
    );
    assert_eq!(r["aliceUsers"], json!(["alice"]));
    assert_eq!(r["bobUsers"], json!(["bob"]));
    assert_eq!(
        r["escaped"],
        json!(true),
        "messages are shown as text, not HTML"
    );
}

#[tokio::test]
async fn chat_in_headless_chromium_reference() {
    let server = NodePeer::spawn("chat-reference.js", &["--port", "0"], &[]);
    let r = drive(server.port()).await;
    assert_chat(&r);
}

#[tokio::test]
async fn chat_in_headless_chromium_ours() {
    let server = RustPeer::spawn_example("socketio-server", "chat", &["--port", "0"]);
    let r = drive(server.port()).await;
    assert_chat(&r);
}
