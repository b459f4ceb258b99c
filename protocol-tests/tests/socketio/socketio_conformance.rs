//! Raw-frame conformance tests of the Socket.IO v5 protocol (a port and extension of the official
//! `docs/socket.io-protocol/v5-test-suite` of the socket.io repository), over raw Engine.IO
//! WebSocket and HTTP long-polling.
//!
//! Every test runs against both servers with the same setup: the npm `socket.io` 4.8 reference
//! (`js/socketio-reference.js`, which proves the test describes the reference) and ours
//! (`socketio-server/examples/conformance_server.rs`). The macro at the bottom generates
//! `reference::<name>` and `ours::<name>` for each test, so `cargo test -p protocol-tests --test
//! socketio_conformance reference::` runs the reference half.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use protocol_tests::socketio::{
    placeholder, RawConn, SioFrame, SioServer, Target, Transport, CONNECT_TIMEOUT,
};
use serde_json::Value;

/// How long a test waits for the server to close a session it must close.
const CLOSE_WITHIN: Duration = Duration::from_secs(3);

fn server(t: Target) -> SioServer {
    SioServer::start(t)
}

fn interop_server(t: Target) -> SioServer {
    SioServer::start_with(t, &["--interop"])
}

/// Parses `<prefix>{json}` and checks the JSON is exactly `{"sid": "<string>"}`.
fn connect_reply_sid(packet: &str, prefix: &str) -> String {
    let json = packet
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected {prefix}{{…}}, got {packet:?}"));
    let v: Value = serde_json::from_str(json).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 1, "CONNECT reply must only hold sid: {packet}");
    obj["sid"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------- connect

async fn connect_main_namespace(t: Target) {
    for transport in [Transport::WebSocket, Transport::Polling] {
        let s = server(t);
        let mut c = RawConn::open(s.port(), transport).await;
        c.send_text("40").await;
        let sid = connect_reply_sid(&c.recv_text().await, "40");
        assert!(!sid.is_empty());
        assert_ne!(sid, c.sid, "the Socket.IO id is not the Engine.IO sid");
        assert_eq!(c.recv_text().await, r#"42["auth",{}]"#);
    }
}

async fn connect_main_namespace_with_payload(t: Target) {
    let s = server(t);
    let mut c = RawConn::open(s.port(), Transport::WebSocket).await;
    c.send_text(r#"40{"token":"123"}"#).await;
    connect_reply_sid(&c.recv_text().await, "40");
    assert_eq!(c.recv_text().await, r#"42["auth",{"token":"123"}]"#);
}

async fn connect_custom_namespace(t: Target) {
    let s = server(t);
    for (send, auth) in [
        ("40/custom,", "{}"),
        ("40/custom", "{}"),
        (r#"40/custom,{"token":"abc"}"#, r#"{"token":"abc"}"#),
    ] {
        let mut c = RawConn::open(s.port(), Transport::WebSocket).await;
        c.send_text(send).await;
        connect_reply_sid(&c.recv_text().await, "40/custom,");
        assert_eq!(c.recv_text().await, format!(r#"42/custom,["auth",{auth}]"#));
    }
}

async fn connect_custom_namespace_over_polling(t: Target) {
    let s = server(t);
    let mut c = RawConn::open(s.port(), Transport::Polling).await;
    c.send_text(r#"40/custom,{"token":"abc"}"#).await;
    connect_reply_sid(&c.recv_text().await, "40/custom,");
    assert_eq!(c.recv_text().await, r#"42/custom,["auth",{"token":"abc"}]"#);
}

async fn connect_unknown_namespace_refused(t: Target) {
    let s = server(t);
    for transport in [Transport::WebSocket, Transport::Polling] {
        let mut c = RawConn::open(s.port(), transport).await;
        c.send_text("40/random").await;
        assert_eq!(
            c.recv_text().await,
            r#"44/random,{"message":"Invalid namespace"}"#
        );
        // The Engine.IO session stays usable: the main namespace can still be joined.
        c.send_text("40").await;
        connect_reply_sid(&c.recv_text().await, "40");
    }
}

async fn connect_invalid_handshake_closes(t: Target) {
    let s = server(t);
    for transport in [Transport::WebSocket, Transport::Polling] {
        let mut c = RawConn::open(s.port(), transport).await;
        c.send_text("4abc").await;
        c.expect_closed(CLOSE_WITHIN).await;
    }
}

async fn connect_payload_not_an_object_closes(t: Target) {
    let s = server(t);
    for bad in [r#"40"token""#, "40[1]", "40{", r#"40/custom,"x""#] {
        let mut c = RawConn::open(s.port(), Transport::WebSocket).await;
        c.send_text(bad).await;
        let before = c.expect_closed(CLOSE_WITHIN).await;
        assert!(
            before.is_empty(),
            "{bad}: nothing is answered, got {before:?}"
        );
    }
}

async fn connect_timeout_closes_idle_connection(t: Target) {
    let s = server(t);
    for transport in [Transport::WebSocket, Transport::Polling] {
        let mut c = RawConn::open(s.port(), transport).await;
        let start = Instant::now();
        // Pings are answered in the background, so only connectTimeout can end the session.
        c.expect_closed(CONNECT_TIMEOUT + CLOSE_WITHIN).await;
        let elapsed = start.elapsed();
        assert!(
            elapsed >= CONNECT_TIMEOUT - Duration::from_millis(150),
            "{transport:?}: closed after {elapsed:?}, before connectTimeout"
        );
    }
}

async fn connect_timeout_does_not_close_joined_connection(t: Target) {
    let s = server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
    c.expect_silence(CONNECT_TIMEOUT + Duration::from_millis(500))
        .await;
    c.send_text(r#"42["message","still here"]"#).await;
    assert_eq!(c.recv_text().await, r#"42["message-back","still here"]"#);
}

async fn connect_twice_to_same_namespace_closes(t: Target) {
    let s = server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
    c.send_text("40").await;
    c.expect_closed(CLOSE_WITHIN).await;
}

async fn connect_many_namespaces_multiplexed(t: Target) {
    let s = server(t);
    let (mut c, main_id) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
    c.send_text("40/custom,").await;
    let custom_id = connect_reply_sid(&c.recv_text().await, "40/custom,");
    assert_ne!(main_id, custom_id, "one socket id per namespace");
    assert_eq!(c.recv_text().await, r#"42/custom,["auth",{}]"#);
    // Acks are per namespace.
    c.send_text(r#"421["message-with-ack","main"]"#).await;
    assert_eq!(c.recv_text().await, r#"431["main"]"#);
    c.send_text(r#"42/custom,1["message-with-ack","custom"]"#)
        .await;
    // /custom has no such handler in the plain setup: no answer, and the main namespace still works.
    c.send_text(r#"422["message-with-ack","main again"]"#).await;
    assert_eq!(c.recv_text().await, r#"432["main again"]"#);
}

// ---------------------------------------------------------------- disconnect

async fn disconnect_from_main_namespace(t: Target) {
    let s = server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
    c.send_text("41").await;
    // Nothing is answered; the next packet is the Engine.IO ping: the session stays open.
    assert_eq!(
        c.recv_raw_timeout(Duration::from_secs(2)).await,
        Some(SioFrame::Ping)
    );
    // Events for the namespace that was left are refused (closing the connection).
    c.send_text(r#"42["message","gone"]"#).await;
    let before = c.expect_closed(CLOSE_WITHIN).await;
    assert!(before.is_empty(), "got {before:?}");
}

async fn disconnect_then_reconnect_main_namespace(t: Target) {
    let s = server(t);
    let (mut c, first) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
    c.send_text("41").await;
    // The reference handles a DISCONNECT on the next tick: a CONNECT in the same read would still
    // find the namespace joined (and close the connection), so give it a moment.
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.send_text("40").await;
    let second = connect_reply_sid(&c.recv_text().await, "40");
    assert_ne!(first, second, "a new socket gets a new id");
    assert_eq!(c.recv_text().await, r#"42["auth",{}]"#);
}

async fn disconnect_from_custom_namespace_keeps_main(t: Target) {
    let s = server(t);
    for transport in [Transport::WebSocket, Transport::Polling] {
        let (mut c, _) = RawConn::connect_main(s.port(), transport).await;
        c.send_text("40/custom").await;
        connect_reply_sid(&c.recv_text().await, "40/custom,");
        assert_eq!(c.recv_text().await, r#"42/custom,["auth",{}]"#);
        c.send_text("41/custom").await;
        c.send_text(r#"42["message","message to main namespace"]"#)
            .await;
        assert_eq!(
            c.recv_text().await,
            r#"42["message-back","message to main namespace"]"#
        );
    }
}

async fn disconnect_with_payload_closes(t: Target) {
    let s = server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
    c.send_text("41{}").await;
    c.expect_closed(CLOSE_WITHIN).await;
}

async fn packet_for_unjoined_namespace_closes(t: Target) {
    let s = server(t);
    for bad in [r#"42/custom,["message"]"#, "41/custom,", r#"43/custom,1[]"#] {
        let (mut c, _) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
        c.send_text(bad).await;
        let before = c.expect_closed(CLOSE_WITHIN).await;
        assert!(before.is_empty(), "{bad}: got {before:?}");
    }
}

async fn disconnect_from_server_side(t: Target) {
    let s = interop_server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
    c.send_text(r#"42["server-disconnect"]"#).await;
    assert_eq!(c.recv_text().await, "41");
    // Only the namespace was left: the Engine.IO session stays and `/` can be joined again.
    c.send_text("40").await;
    connect_reply_sid(&c.recv_text().await, "40");
    assert_eq!(c.recv_text().await, r#"42["auth",{}]"#);
}

async fn middleware_refusal_is_connect_error(t: Target) {
    let s = interop_server(t);
    let mut c = RawConn::open(s.port(), Transport::WebSocket).await;
    c.send_text(r#"40/restricted,{"token":"wrong"}"#).await;
    let refusal = c.recv_text().await;
    let json = refusal
        .strip_prefix("44/restricted,")
        .unwrap_or_else(|| panic!("expected a CONNECT_ERROR, got {refusal:?}"));
    let v: Value = serde_json::from_str(json).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"message": "not authorized", "data": {"reason": "bad token", "code": 401}})
    );
    // The connection stays usable; the right token gets in.
    c.send_text(r#"40/restricted,{"token":"secret"}"#).await;
    connect_reply_sid(&c.recv_text().await, "40/restricted,");
    assert_eq!(
        c.recv_text().await,
        r#"42/restricted,["auth",{"token":"secret"}]"#
    );
}

async fn dynamic_namespace_connect(t: Target) {
    let s = interop_server(t);
    let mut c = RawConn::open(s.port(), Transport::WebSocket).await;
    c.send_text("40/dyn-abc,").await;
    connect_reply_sid(&c.recv_text().await, "40/dyn-abc,");
    assert_eq!(c.recv_text().await, r#"42/dyn-abc,["welcome","/dyn-abc"]"#);
    c.send_text("40/dyn-NOPE,").await;
    assert_eq!(
        c.recv_text().await,
        r#"44/dyn-NOPE,{"message":"Invalid namespace"}"#
    );
}

/// Splits `42[...,"<offset>"]` into the JSON array without its last element and the offset.
fn strip_offset(packet: &str) -> (Vec<Value>, String) {
    let json = packet
        .strip_prefix("42")
        .unwrap_or_else(|| panic!("expected an event, got {packet:?}"));
    let mut args: Vec<Value> = serde_json::from_value(serde_json::from_str(json).unwrap()).unwrap();
    let offset = args
        .pop()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no offset string at the end of {packet:?}"));
    (args, offset)
}

/// Connection state recovery over raw frames: the CONNECT reply carries a `pid`, stored events
/// carry an offset as last argument, and a CONNECT with `{pid, offset}` restores the id and
/// replays what was missed.
async fn recovery_restores_session(t: Target) {
    let s = SioServer::start_with(t, &["--interop", "--recovery"]);
    let mut a = RawConn::open(s.port(), Transport::WebSocket).await;
    a.send_text("40").await;
    let reply = a.recv_text().await;
    let v: Value = serde_json::from_str(reply.strip_prefix("40").unwrap()).unwrap();
    let (sid, pid) = (
        v["sid"].as_str().unwrap().to_owned(),
        v["pid"].as_str().unwrap().to_owned(),
    );
    assert_eq!(v.as_object().unwrap().len(), 2, "{reply}");
    let (args, offset) = strip_offset(&a.recv_text().await);
    assert_eq!(args, vec![Value::from("auth"), serde_json::json!({})]);
    a.send_text(r#"421["join","rr"]"#).await;
    assert_eq!(a.recv_text().await, r#"431[["rr"]]"#);
    drop(a); // the transport closes without a DISCONNECT: the session is kept

    let mut b = RawConn::open(s.port(), Transport::WebSocket).await;
    b.send_text("40").await;
    assert!(b.recv_text().await.starts_with("40{"));
    assert!(b.recv_text().await.starts_with(r#"42["auth",{},""#));
    // Let the server see the close first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.send_text(r#"421["server-broadcast",{"rooms":["rr"],"event":"missed","args":[1]}]"#)
        .await;
    assert_eq!(b.recv_text().await, r#"431["done"]"#);

    let mut a2 = RawConn::open(s.port(), Transport::WebSocket).await;
    a2.send_text(&format!(r#"40{{"pid":"{pid}","offset":"{offset}"}}"#))
        .await;
    let mut frames = Vec::new();
    while let Some(f) = a2.recv_timeout(Duration::from_millis(500)).await {
        match f {
            SioFrame::Text(t) => frames.push(t),
            other => panic!("unexpected {other:?}"),
        }
    }
    let connect = frames
        .iter()
        .find(|f| f.starts_with("40"))
        .unwrap_or_else(|| panic!("no CONNECT reply in {frames:?}"));
    let v: Value = serde_json::from_str(&connect[2..]).unwrap();
    assert_eq!(v["sid"], Value::from(sid.as_str()), "the id is restored");
    assert_eq!(v["pid"], Value::from(pid.as_str()));
    let missed: Vec<_> = frames
        .iter()
        .filter(|f| f.starts_with(r#"42["missed""#))
        .map(|f| strip_offset(f).0)
        .collect();
    assert_eq!(
        missed,
        vec![vec![Value::from("missed"), Value::from(1)]],
        "{frames:?}"
    );
    // The rooms are back.
    a2.send_text(r#"429["whoami"]"#).await;
    let who = loop {
        let f = a2.recv_text().await;
        if let Some(json) = f.strip_prefix("439") {
            break serde_json::from_str::<Value>(json).unwrap();
        }
    };
    assert_eq!(who[0]["rooms"], serde_json::json!(["rr"]));
    assert_eq!(who[0]["recovered"], Value::from(true));
}

// ---------------------------------------------------------------- events and acks

async fn event_plain_text(t: Target) {
    let s = server(t);
    for transport in [Transport::WebSocket, Transport::Polling] {
        let (mut c, _) = RawConn::connect_main(s.port(), transport).await;
        c.send_text(r#"42["message",1,"2",{"3":[true]}]"#).await;
        assert_eq!(
            c.recv_text().await,
            r#"42["message-back",1,"2",{"3":[true]}]"#
        );
        // Unicode, nulls and nested values round-trip unchanged.
        c.send_text(r#"42["message","héllo ✓ 😀",null,[[]],{"a":{"b":-1.5e-7}}]"#)
            .await;
        assert_eq!(
            c.recv_text().await,
            r#"42["message-back","héllo ✓ 😀",null,[[]],{"a":{"b":-1.5e-7}}]"#
        );
    }
}

async fn event_numeric_name_accepted(t: Target) {
    let s = server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
    // A number is a valid event name (nobody listens to it here), the session stays open.
    c.send_text("42[1,2]").await;
    c.send_text(r#"42["message","after"]"#).await;
    assert_eq!(c.recv_text().await, r#"42["message-back","after"]"#);
}

async fn event_without_payload_ignored(t: Target) {
    let s = server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
    // An EVENT with no data at all is not validated by the reference parser: nothing happens.
    c.send_text("42").await;
    c.send_text(r#"42["message","after"]"#).await;
    assert_eq!(c.recv_text().await, r#"42["message-back","after"]"#);
}

async fn connect_unknown_unicode_namespace_refused(t: Target) {
    let s = server(t);
    let mut c = RawConn::open(s.port(), Transport::WebSocket).await;
    c.send_text("40/ünï cødé,").await;
    assert_eq!(
        c.recv_text().await,
        r#"44/ünï cødé,{"message":"Invalid namespace"}"#
    );
}

async fn event_binary_attachments(t: Target) {
    let s = server(t);
    for transport in [Transport::WebSocket, Transport::Polling] {
        let (mut c, _) = RawConn::connect_main(s.port(), transport).await;
        c.send_frames(&[
            SioFrame::Text(format!(
                r#"452-["message",{},{}]"#,
                placeholder(0),
                placeholder(1)
            )),
            SioFrame::Binary(vec![1, 2, 3]),
            SioFrame::Binary(vec![4, 5, 6]),
        ])
        .await;
        assert_eq!(
            c.recv_text().await,
            format!(
                r#"452-["message-back",{},{}]"#,
                placeholder(0),
                placeholder(1)
            )
        );
        assert_eq!(c.recv_binary().await, vec![1, 2, 3]);
        assert_eq!(c.recv_binary().await, vec![4, 5, 6]);
    }
}

async fn event_binary_in_nested_value(t: Target) {
    let s = server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
    c.send_text(&format!(
        r#"451-["message",{{"file":{},"name":"a"}},[0]]"#,
        placeholder(0)
    ))
    .await;
    c.send_binary(&[0xff, 0x00, 0x10]).await;
    assert_eq!(
        c.recv_text().await,
        format!(
            r#"451-["message-back",{{"file":{},"name":"a"}},[0]]"#,
            placeholder(0)
        )
    );
    assert_eq!(c.recv_binary().await, vec![0xff, 0x00, 0x10]);
}

async fn ack_plain_text(t: Target) {
    let s = server(t);
    for transport in [Transport::WebSocket, Transport::Polling] {
        let (mut c, _) = RawConn::connect_main(s.port(), transport).await;
        c.send_text(r#"42456["message-with-ack",1,"2",{"3":[false]}]"#)
            .await;
        assert_eq!(c.recv_text().await, r#"43456[1,"2",{"3":[false]}]"#);
        c.send_text(r#"420["message-with-ack"]"#).await;
        assert_eq!(c.recv_text().await, "430[]");
    }
}

async fn ack_binary(t: Target) {
    let s = server(t);
    for transport in [Transport::WebSocket, Transport::Polling] {
        let (mut c, _) = RawConn::connect_main(s.port(), transport).await;
        c.send_frames(&[
            SioFrame::Text(format!(
                r#"452-789["message-with-ack",{},{}]"#,
                placeholder(0),
                placeholder(1)
            )),
            SioFrame::Binary(vec![1, 2, 3]),
            SioFrame::Binary(vec![4, 5, 6]),
        ])
        .await;
        assert_eq!(
            c.recv_text().await,
            format!(r#"462-789[{},{}]"#, placeholder(0), placeholder(1))
        );
        assert_eq!(c.recv_binary().await, vec![1, 2, 3]);
        assert_eq!(c.recv_binary().await, vec![4, 5, 6]);
    }
}

async fn ack_in_custom_namespace(t: Target) {
    let s = interop_server(t);
    let mut c = RawConn::open(s.port(), Transport::WebSocket).await;
    c.send_text("40/custom,").await;
    connect_reply_sid(&c.recv_text().await, "40/custom,");
    assert_eq!(c.recv_text().await, r#"42/custom,["auth",{}]"#);
    c.send_text(r#"42/custom,7["join","r1"]"#).await;
    assert_eq!(c.recv_text().await, r#"43/custom,7[["r1"]]"#);
}

async fn ack_unknown_id_ignored(t: Target) {
    let s = server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
    c.send_text("43999[1]").await;
    c.send_text(r#"42["message","ok"]"#).await;
    assert_eq!(c.recv_text().await, r#"42["message-back","ok"]"#);
}

/// Splits `42<id><json>` into the ack id and the JSON (the server picks the id).
fn event_with_ack_id(packet: &str) -> (u64, String) {
    let rest = packet
        .strip_prefix("42")
        .unwrap_or_else(|| panic!("expected an event, got {packet:?}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let id = digits
        .parse()
        .unwrap_or_else(|_| panic!("expected an ack id in {packet:?}"));
    (id, rest[digits.len()..].to_owned())
}

/// The server emits with an ack to the client; the client answers (text and binary).
async fn ack_from_client(t: Target) {
    let s = interop_server(t);
    for transport in [Transport::WebSocket, Transport::Polling] {
        let (mut c, _) = RawConn::connect_main(s.port(), transport).await;
        c.send_text(r#"421["ask-client","question",[1,"two"],2000]"#)
            .await;
        // 42<id>["question",1,"two"]. The reference counts ack ids per namespace, not per
        // socket, so the test only requires a number and answers with it.
        let (id, json) = event_with_ack_id(&c.recv_text().await);
        assert_eq!(json, r#"["question",1,"two"]"#);
        c.send_text(&format!(r#"43{id}["answer",{{"x":1}}]"#)).await;
        assert_eq!(
            c.recv_text().await,
            r#"431[{"err":null,"resp":["answer",{"x":1}]}]"#
        );
        // Second question, answered with a binary ack.
        c.send_text(r#"422["ask-client","question",[],2000]"#).await;
        let (id2, json) = event_with_ack_id(&c.recv_text().await);
        assert_eq!(json, r#"["question"]"#);
        assert_ne!(id, id2, "a new ack id per emit");
        c.send_frames(&[
            SioFrame::Text(format!(r#"461-{id2}[{}]"#, placeholder(0))),
            SioFrame::Binary(vec![9, 8, 7]),
        ])
        .await;
        assert_eq!(
            c.recv_text().await,
            format!(r#"461-2[{{"err":null,"resp":[{}]}}]"#, placeholder(0))
        );
        assert_eq!(c.recv_binary().await, vec![9, 8, 7]);
    }
}

async fn ack_from_client_timeout(t: Target) {
    let s = interop_server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
    c.send_text(r#"421["ask-client","question",[],300]"#).await;
    let (id, json) = event_with_ack_id(&c.recv_text().await);
    assert_eq!(json, r#"["question"]"#);
    let start = Instant::now();
    assert_eq!(
        c.recv_text().await,
        r#"431[{"err":"operation has timed out","resp":[]}]"#
    );
    assert!(start.elapsed() >= Duration::from_millis(200));
    // A late answer is ignored.
    c.send_text(&format!(r#"43{id}["late"]"#)).await;
    c.send_text(r#"42["message","after"]"#).await;
    assert_eq!(c.recv_text().await, r#"42["message-back","after"]"#);
}

// ---------------------------------------------------------------- invalid packets

async fn assert_closes_after(t: Target, frames: &[SioFrame]) {
    let s = server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
    c.send_frames(frames).await;
    let before = c.expect_closed(CLOSE_WITHIN).await;
    assert!(before.is_empty(), "{frames:?}: got {before:?}");
}

fn text(s: &str) -> SioFrame {
    SioFrame::Text(s.to_owned())
}

async fn invalid_unknown_packet_type_closes(t: Target) {
    for bad in ["4abc", "47", "49[]", "4"] {
        assert_closes_after(t, &[text(bad)]).await;
    }
}

async fn invalid_event_payload_closes(t: Target) {
    for bad in [
        "42{}",
        r#"42"message""#,
        "42[]",
        "42[{}]",
        "42[null]",
        "42[true]",
        r#"42["message""#,
    ] {
        assert_closes_after(t, &[text(bad)]).await;
    }
}

async fn invalid_reserved_event_name_closes(t: Target) {
    for name in [
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    ] {
        assert_closes_after(t, &[text(&format!(r#"42["{name}"]"#))]).await;
    }
}

async fn invalid_ack_id_closes(t: Target) {
    assert_closes_after(
        t,
        &[text(r#"42abc["message-with-ack",1,"2",{"3":[false]}]"#)],
    )
    .await;
    assert_closes_after(t, &[text("43abc[]")]).await;
    assert_closes_after(t, &[text("43{}")]).await;
}

async fn invalid_client_connect_error_closes(t: Target) {
    assert_closes_after(t, &[text(r#"44{"message":"x"}"#)]).await;
}

async fn invalid_binary_attachments_closes(t: Target) {
    // Missing '-', non-numeric count, zero, more than 10 attachments.
    for bad in [
        r#"451["message"]"#,
        r#"45a-["message"]"#,
        r#"450-["message"]"#,
        r#"4511-["message"]"#,
        r#"461["x"]"#,
    ] {
        assert_closes_after(t, &[text(bad)]).await;
    }
    // Text while an attachment is awaited.
    assert_closes_after(
        t,
        &[
            text(&format!(r#"451-["message",{}]"#, placeholder(0))),
            text(r#"42["message"]"#),
        ],
    )
    .await;
    // A binary message nobody announced.
    assert_closes_after(t, &[SioFrame::Binary(vec![1, 2, 3])]).await;
    // A placeholder number out of range.
    assert_closes_after(
        t,
        &[
            text(&format!(r#"451-["message",{}]"#, placeholder(3))),
            SioFrame::Binary(vec![1]),
        ],
    )
    .await;
}

async fn invalid_packet_over_polling_closes(t: Target) {
    let s = server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::Polling).await;
    c.send_text("42{}").await;
    c.expect_closed(CLOSE_WITHIN).await;
}

// ---------------------------------------------------------------- transports

async fn upgrade_keeps_namespaces(t: Target) {
    let s = server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::Polling).await;
    c.send_text("40/custom,").await;
    connect_reply_sid(&c.recv_text().await, "40/custom,");
    assert_eq!(c.recv_text().await, r#"42/custom,["auth",{}]"#);
    c.upgrade().await;
    c.send_text(r#"42["message","over websocket"]"#).await;
    assert_eq!(
        c.recv_text().await,
        r#"42["message-back","over websocket"]"#
    );
    c.send_frames(&[
        text(&format!(r#"451-1["message-with-ack",{}]"#, placeholder(0))),
        SioFrame::Binary(vec![7]),
    ])
    .await;
    assert_eq!(c.recv_text().await, format!(r#"461-1[{}]"#, placeholder(0)));
    assert_eq!(c.recv_binary().await, vec![7]);
}

async fn several_packets_in_one_polling_payload(t: Target) {
    let s = server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::Polling).await;
    c.send_frames(&[
        text(r#"42["message",1]"#),
        text(r#"421["message-with-ack",2]"#),
        text(r#"42["message",3]"#),
    ])
    .await;
    assert_eq!(c.recv_text().await, r#"42["message-back",1]"#);
    assert_eq!(c.recv_text().await, "431[2]");
    assert_eq!(c.recv_text().await, r#"42["message-back",3]"#);
}

async fn events_handled_in_order(t: Target) {
    let s = server(t);
    let (mut c, _) = RawConn::connect_main(s.port(), Transport::WebSocket).await;
    let n = 200;
    for i in 0..n {
        if i % 2 == 0 {
            c.send_text(&format!(r#"42["message",{i}]"#)).await;
        } else {
            c.send_text(&format!(r#"42{i}["message-with-ack",{i}]"#))
                .await;
        }
    }
    for i in 0..n {
        let expected = if i % 2 == 0 {
            format!(r#"42["message-back",{i}]"#)
        } else {
            format!(r#"43{i}[{i}]"#)
        };
        assert_eq!(c.recv_text().await, expected);
    }
}

protocol_tests::reference_and_ours!(
    connect_main_namespace,
    connect_main_namespace_with_payload,
    connect_custom_namespace,
    connect_custom_namespace_over_polling,
    connect_unknown_namespace_refused,
    connect_invalid_handshake_closes,
    connect_payload_not_an_object_closes,
    connect_timeout_closes_idle_connection,
    connect_timeout_does_not_close_joined_connection,
    connect_twice_to_same_namespace_closes,
    connect_many_namespaces_multiplexed,
    disconnect_from_main_namespace,
    disconnect_then_reconnect_main_namespace,
    disconnect_from_custom_namespace_keeps_main,
    disconnect_with_payload_closes,
    packet_for_unjoined_namespace_closes,
    disconnect_from_server_side,
    middleware_refusal_is_connect_error,
    dynamic_namespace_connect,
    recovery_restores_session,
    event_plain_text,
    event_numeric_name_accepted,
    event_without_payload_ignored,
    connect_unknown_unicode_namespace_refused,
    event_binary_attachments,
    event_binary_in_nested_value,
    ack_plain_text,
    ack_binary,
    ack_in_custom_namespace,
    ack_unknown_id_ignored,
    ack_from_client,
    ack_from_client_timeout,
    invalid_unknown_packet_type_closes,
    invalid_event_payload_closes,
    invalid_reserved_event_name_closes,
    invalid_ack_id_closes,
    invalid_client_connect_error_closes,
    invalid_binary_attachments_closes,
    invalid_packet_over_polling_closes,
    upgrade_keeps_namespaces,
    several_packets_in_one_polling_payload,
    events_handled_in_order,
);

/// The example's `--admin` and `--metrics` flags (ours only: the reference fixture has neither).
/// With them, `/admin` sends the Admin UI's `config` to a client without credentials and
/// `/metrics` on the same port serves the Prometheus text, counting that client; without them
/// (the control) `/admin` is an unknown namespace and `/metrics` is not served.
#[tokio::test]
async fn ours_admin_and_metrics_flags() {
    let plain = SioServer::start(Target::Ours);
    let mut c = RawConn::open(plain.port(), Transport::WebSocket).await;
    c.send_text("40/admin,").await;
    assert_eq!(
        c.recv_text().await,
        r#"44/admin,{"message":"Invalid namespace"}"#
    );
    let metrics =
        protocol_tests::http(plain.port(), protocol_tests::HttpRequest::get("/metrics")).await;
    assert_ne!(metrics.status, 200);

    let s = SioServer::start_with(Target::Ours, &["--admin", "--metrics"]);
    let mut admin = RawConn::open(s.port(), Transport::WebSocket).await;
    admin.send_text("40/admin,").await;
    connect_reply_sid(&admin.recv_text().await, "40/admin,");
    let mut config = None;
    for _ in 0..20 {
        let p = admin.recv_text().await;
        if p.starts_with(r#"42/admin,["config","#) {
            config = Some(p);
            break;
        }
    }
    let config = config.expect("a config event");
    assert!(config.contains(r#""supportedFeatures":["#), "{config}");

    let metrics =
        protocol_tests::http(s.port(), protocol_tests::HttpRequest::get("/metrics")).await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    let series = r#"socketio_connected_sockets{namespace="/admin",transport="websocket"} 1"#;
    assert!(text.lines().any(|l| l == series), "{series} in\n{text}");
}
