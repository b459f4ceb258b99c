//! Interop of the npm `socket.io-client` 4.8 (and 2.x over EIO3) with the Socket.IO server.
//!
//! Each test runs a scenario of `js/socketio-client-interop.js` (or `js/socketio-client-v2-interop.js`)
//! against a server started with `--interop` and asserts on the JSON the script prints. Like the
//! conformance tests, every scenario runs against the npm `socket.io` reference (proving the script
//! and the assertions) and against ours: `reference::<name>` and `ours::<name>`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use protocol_tests::socketio::{interop_script, Target};
use serde_json::{json, Value};

/// Bound on one Node scenario (the scripts give up by themselves after 15 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(25);

/// Runs `script args…` against `t` started with `--interop` plus `flags` (see
/// [`interop_script`]).
async fn scenario(t: Target, flags: &[&str], script: &str, args: &[&str]) -> Value {
    interop_script(t, flags, script, args, SCRIPT_TIMEOUT).await
}

async fn client(t: Target, flags: &[&str], name: &str) -> Value {
    scenario(t, flags, "socketio-client-interop.js", &[name, "URL"]).await
}

fn assert_basic(r: &Value, transport: &str) {
    assert_eq!(r["auth"], json!({}));
    assert_eq!(r["back"], json!([1, "two", {"three": [true]}]));
    assert_eq!(r["ack"], json!(["a", {"b": 2}]));
    assert_eq!(r["transport"], json!(transport));
    assert_eq!(r["inOrder"], json!(true), "events must arrive in order");
}

async fn polling_only(t: Target) {
    let r = client(t, &[], "basic-polling").await;
    assert_basic(&r, "polling");
}

async fn websocket_only(t: Target) {
    let r = client(t, &[], "basic-websocket").await;
    assert_basic(&r, "websocket");
}

async fn upgrade(t: Target) {
    let r = client(t, &[], "basic-upgrade").await;
    assert_basic(&r, "websocket");
}

async fn namespaces_multiplexed(t: Target) {
    let r = client(t, &[], "multiplex").await;
    assert_eq!(r["sameManager"], json!(true));
    assert_eq!(r["sameEngine"], json!(true));
    assert_eq!(r["mainAuth"], json!({"who": "main"}));
    assert_eq!(r["customAuth"], json!({"who": "custom"}));
    assert_eq!(r["mainRooms"], json!(["m"]));
    assert_eq!(r["customRooms"], json!(["c"]));
    assert_eq!(r["mainNsp"], json!("/"));
    assert_eq!(r["customNsp"], json!("/custom"));
    assert_eq!(r["distinctIds"], json!(true));
}

async fn binary_both_ways(t: Target) {
    let r = client(t, &[], "binary").await;
    assert_eq!(r["b1"], json!("010203"));
    assert_eq!(r["nested"], json!("0405"));
    assert_eq!(r["n"], json!(1));
    assert_eq!(r["ackLen"], json!(1000));
    assert_eq!(r["ackOk"], json!(true));
    assert_eq!(r["askedErr"], Value::Null);
    assert_eq!(r["asked"], json!("0a0bff"));
    assert_eq!(r["polling"], json!("00ff"));
}

async fn acks_both_ways_with_timeouts(t: Target) {
    let r = client(t, &[], "acks").await;
    assert_eq!(r["answered"], json!(1));
    assert_eq!(r["clientTimeout"], json!("operation has timed out"));
    assert_eq!(r["serverAsk"], json!({"err": null, "resp": [5]}));
    assert_eq!(
        r["serverTimeout"],
        json!({"err": "operation has timed out", "resp": []})
    );
    assert_eq!(r["cbStyle"], json!(["cb"]));
}

async fn rooms_and_broadcast_with_except(t: Target) {
    let r = client(t, &[], "rooms").await;
    assert_eq!(
        r["joins"],
        json!({"a": ["r1"], "b": ["r1", "r2"], "c": ["r2"]})
    );
    assert_eq!(r["bLeft"], json!(["r2"]));
    // e1: server to r1; e2: a to r1 (not a); e3: r1+r2 except r2; e4: all except r1;
    // e5: c to everyone but itself; e6: r1 after b left; e7: to b's own room; end: everyone.
    assert_eq!(r["a"], json!(["e1", "e3", "e5", "e6", "end"]));
    assert_eq!(r["b"], json!(["e1", "e2", "e5", "e7", "end"]));
    assert_eq!(r["c"], json!(["e4", "end"]));
    assert_eq!(r["e5Binary"], json!("05"));
}

async fn broadcast_with_acks(t: Target) {
    let r = client(t, &[], "broadcast-ack").await;
    assert_eq!(r["answered"], json!({"err": null, "resp": [11, 12]}));
    assert_eq!(r["empty"], json!({"err": null, "resp": []}));
    assert_eq!(
        r["emptyFast"],
        json!(true),
        "no recipient: answered at once"
    );
    assert_eq!(r["timedOut"], json!("operation has timed out"));
}

async fn handshake_and_server_disconnect(t: Target) {
    let r = client(t, &[], "lifecycle").await;
    assert_eq!(r["query"], json!({"foo": "bar"}));
    assert_eq!(r["auth"], json!({"token": 7}));
    assert_eq!(r["idMatches"], json!(true));
    assert_eq!(r["recovered"], json!(false));
    assert_eq!(r["reason"], json!("io server disconnect"));
    assert_eq!(
        r["active"],
        json!(false),
        "no reconnection after a server disconnect"
    );
}

async fn middleware_refusal_with_data(t: Target) {
    let r = client(t, &[], "middleware").await;
    assert_eq!(r["message"], json!("not authorized"));
    assert_eq!(r["data"], json!({"reason": "bad token", "code": 401}));
    assert_eq!(r["auth"], json!({"token": "secret"}));
    assert_eq!(r["goodConnected"], json!(true));
    assert_eq!(
        r["badActive"],
        json!(false),
        "a refused socket does not reconnect"
    );
}

async fn packet_middleware(t: Target) {
    let r = client(t, &[], "packet-middleware").await;
    assert_eq!(r["echo"], json!(1), "passed through the async middleware");
    assert_eq!(
        r["renamed"],
        json!("new-name:2"),
        "renamed by the middleware"
    );
    assert_eq!(
        r["errors"],
        json!(["forbidden event", "forbidden event"]),
        "each refusal reaches the server socket's error listener"
    );
    assert_eq!(r["connected"], json!(true), "a refusal keeps the socket");
    match t {
        // The reference never answers a refused event: the client's ack times out.
        Target::Reference => {
            assert_eq!(r["refusedAck"], json!({"error": "operation has timed out"}));
            assert_eq!(r["order"], json!(["handled"]));
        }
        // Ours answers the ack with the error, and the middleware runs after the handler.
        Target::Ours => {
            assert_eq!(
                r["refusedAck"],
                json!({"answer": {"message": "forbidden event", "data": {"code": 403}}})
            );
            assert_eq!(r["order"], json!(["handled", "after"]));
        }
    }
}

async fn dynamic_namespaces(t: Target) {
    let r = client(t, &[], "dynamic").await;
    assert_eq!(r["wx"], json!("/dyn-abc"));
    assert_eq!(r["wy"], json!("/dyn-xyz"));
    assert_eq!(r["invalid"], json!("Invalid namespace"));
    assert_eq!(
        r["gotX"],
        json!(["hi"]),
        "a parent broadcast reaches every child"
    );
    assert_eq!(r["gotY"], json!(["hi"]));
    assert_eq!(r["nsp"], json!("/dyn-xyz"));
}

async fn connection_state_recovery(t: Target) {
    let r = client(t, &["--recovery"], "recovery").await;
    assert_eq!(r["reason"], json!("forced close"));
    assert_eq!(r["recovered"], json!(true), "client sees socket.recovered");
    assert_eq!(r["sameId"], json!(true), "the id is restored");
    assert_eq!(
        r["got"],
        json!([1, 2, 3]),
        "missed broadcasts replayed in order"
    );
    assert_eq!(r["rooms"], json!(["news-room"]), "rooms are restored");
    assert_eq!(r["serverRecovered"], json!(true));
}

async fn msgpack_parser(t: Target) {
    let r = client(t, &["--msgpack"], "msgpack").await;
    assert_eq!(r["auth"], json!({"token": "mp"}));
    assert_eq!(r["back"], json!([1, "two", "010203"]));
    assert_eq!(r["ack"], json!([[1, 2], "09"]));
    assert_eq!(r["customAuth"], json!({}));
    assert_eq!(r["invalid"], json!("Invalid namespace"));
}

async fn eio3_client(t: Target) {
    for transport in ["polling", "websocket", "upgrade"] {
        let r = scenario(
            t,
            &["--eio3"],
            "socketio-client-v2-interop.js",
            &["URL", transport],
        )
        .await;
        assert_eq!(r["connected"], json!(true), "{transport}");
        assert_eq!(r["protocol"], json!(3), "{transport}: EIO=3 on the wire");
        assert_eq!(r["auth"], json!({}), "{transport}");
        assert_eq!(r["back"], json!([1, "two", {"three": true}]), "{transport}");
        assert_eq!(r["ack"], json!(["x", 2]), "{transport}");
        assert_eq!(r["bin"], json!("010203"), "{transport}");
        assert_eq!(
            r["asked"],
            json!({"err": null, "resp": [42]}),
            "{transport}"
        );
        let expected = if transport == "polling" {
            "polling"
        } else {
            "websocket"
        };
        assert_eq!(r["transport"], json!(expected), "{transport}");
        assert_eq!(r["customAuth"], json!({}), "{transport}");
        assert_eq!(r["rooms"], json!(["v2-room"]), "{transport}");
    }
}

protocol_tests::reference_and_ours!(
    polling_only,
    websocket_only,
    upgrade,
    namespaces_multiplexed,
    binary_both_ways,
    acks_both_ways_with_timeouts,
    rooms_and_broadcast_with_except,
    broadcast_with_acks,
    handshake_and_server_disconnect,
    middleware_refusal_with_data,
    packet_middleware,
    dynamic_namespaces,
    connection_state_recovery,
    msgpack_parser,
    eio3_client,
);
