//! The `@socket.io/admin-ui` instrumentation (feature `admin-ui`) on the wire: what an Admin UI
//! connected to `/admin` receives and what its actions do, with raw Socket.IO v5 frames (the
//! format of the npm package's `dist/index.js`). The real UI in Chromium is tested in
//! `protocol-tests/tests/admin_ui_browser.rs`.
#![cfg(feature = "admin-ui")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value as Json;
use socketio_server::{AdminUiError, AdminUiOptions, SocketIo, SocketRef};

mod support;
use support::{eventually, serve, sid_of, Client, STEP};

/// bcrypt("changeit"), cost 4 (made with the npm `bcryptjs` the Admin UI uses).
const HASH: &str = "$2a$04$.v4dHizDftW0xf2qp8YML.jdL4lmkyrim1nGQzuYw11V9tlTOY5lK";

/// Reads admin packets until an event named `name` arrives; returns its arguments.
async fn admin_event(admin: &mut Client, name: &str) -> Vec<Json> {
    // The admin namespace also gets `server_stats` every 2 s: without a deadline, a missing
    // event would hang the test instead of failing it.
    let wait = async {
        loop {
            let p = admin.packet().await;
            let Some(body) = p.strip_prefix("2/admin,") else {
                continue;
            };
            let mut args: Vec<Json> = serde_json::from_str(body).expect("an event array");
            if args.first().and_then(Json::as_str) == Some(name) {
                args.remove(0);
                return args;
            }
        }
    };
    tokio::time::timeout(STEP, wait)
        .await
        .unwrap_or_else(|_| panic!("no `{name}` admin event within {STEP:?}"))
}

fn app() -> SocketIo {
    let io = SocketIo::new();
    io.ns("/", |socket: SocketRef| async move {
        socket.on("hello", |s: SocketRef| async move {
            let _ = s.emit("hi", &"there");
        });
    });
    io
}

#[tokio::test]
async fn an_admin_ui_sees_sockets_rooms_events_and_acts_on_them() {
    let io = app();
    io.instrument(AdminUiOptions::default()).unwrap();
    assert!(matches!(
        io.instrument(AdminUiOptions::default()),
        Err(AdminUiError::AlreadyInstrumented)
    ));
    let port = serve(&io).await;

    let mut user = Client::open(port).await;
    let reply = user.connect("").await;
    let user_sid = sid_of(&reply);

    let mut admin = Client::open(port).await;
    admin.send("40/admin,").await;
    let p = admin.packet().await;
    assert!(p.starts_with("0/admin,{\"sid\":"), "{p}");
    let config = admin_event(&mut admin, "config").await;
    assert_eq!(
        config[0]["supportedFeatures"],
        serde_json::json!([
            "EMIT",
            "JOIN",
            "LEAVE",
            "DISCONNECT",
            "MJOIN",
            "MLEAVE",
            "MDISCONNECT",
            "AGGREGATED_EVENTS",
            "ALL_EVENTS"
        ])
    );
    let all = admin_event(&mut admin, "all_sockets").await;
    let sockets = all[0].as_array().unwrap();
    let mine = sockets
        .iter()
        .find(|s| s["id"] == user_sid.as_str())
        .expect("the user's socket is listed");
    assert_eq!(mine["nsp"], "/");
    assert_eq!(mine["transport"], "websocket");
    assert_eq!(mine["rooms"], serde_json::json!([user_sid]));
    assert_eq!(mine["clientId"].as_str().unwrap().len(), 12);
    assert_eq!(
        mine["handshake"]["url"].as_str().unwrap().split('?').next(),
        Some("/socket.io/")
    );
    // The admin socket itself is listed too, as in the reference.
    assert!(sockets.iter().any(|s| s["nsp"] == "/admin"));

    // server_stats: at once for the first node-wide tick, then every 2 s.
    let stats = admin_event(&mut admin, "server_stats").await;
    let stats = &stats[0];
    assert_eq!(stats["clientsCount"], 2, "{stats}");
    assert_eq!(stats["pollingClientsCount"], 0);
    assert!(stats["pid"].as_u64().is_some() && stats["hostname"].as_str().is_some());
    let namespaces = stats["namespaces"].as_array().unwrap();
    assert!(namespaces.contains(&serde_json::json!({"name": "/", "socketsCount": 1})));
    let kinds: Vec<&str> = stats["aggregatedEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for kind in [
        "rawConnection",
        "packetsIn",
        "packetsOut",
        "bytesIn",
        "bytesOut",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {stats}");
    }

    // Events of a socket, in and out.
    user.send(r#"42["hello",1]"#).await;
    assert_eq!(user.packet().await, r#"2["hi","there"]"#);
    let received = admin_event(&mut admin, "event_received").await;
    assert_eq!(received[0], "/");
    assert_eq!(received[1], user_sid.as_str());
    assert_eq!(received[2], serde_json::json!(["hello", 1]));
    assert!(received[3].as_str().unwrap().ends_with('Z'), "a JSON date");
    let sent = admin_event(&mut admin, "event_sent").await;
    assert_eq!(sent[2], serde_json::json!(["hi", "there"]));

    // The UI's actions: join (room_joined follows), emit to that room, leave, disconnect.
    admin
        .send(&format!(r#"42/admin,["join","/","lobby","{user_sid}"]"#))
        .await;
    let joined = admin_event(&mut admin, "room_joined").await;
    assert_eq!(&joined[..3], &["/", "lobby", user_sid.as_str()]);
    admin
        .send(r#"42/admin,["emit","/","lobby","news",{"n":1},"two"]"#)
        .await;
    assert_eq!(user.packet().await, r#"2["news",{"n":1},"two"]"#);
    admin.send(r#"42/admin,["leave","/","lobby",null]"#).await;
    let left = admin_event(&mut admin, "room_left").await;
    assert_eq!(&left[..3], &["/", "lobby", user_sid.as_str()]);
    admin
        .send(&format!(
            r#"42/admin,["_disconnect","/",false,"{user_sid}"]"#
        ))
        .await;
    assert_eq!(user.packet().await, "1");
    let gone = admin_event(&mut admin, "socket_disconnected").await;
    assert_eq!(
        &gone[..3],
        &["/", user_sid.as_str(), "server namespace disconnect"]
    );

    // A new socket is announced.
    let mut other = Client::open(port).await;
    assert!(other.connect("").await.starts_with("0{"));
    let connected = admin_event(&mut admin, "socket_connected").await;
    assert_eq!(connected[0]["nsp"], "/");
    let io2 = io.clone();
    eventually("one socket on /", || io2.sockets().len() == 1).await;
}

#[tokio::test]
async fn readonly_offers_and_honours_no_action() {
    let io = app();
    io.instrument(AdminUiOptions::default().readonly(true))
        .unwrap();
    let port = serve(&io).await;
    let mut user = Client::open(port).await;
    assert!(user.connect("").await.starts_with("0{"));
    let mut admin = Client::open(port).await;
    admin.send("40/admin,").await;
    let config = admin_event(&mut admin, "config").await;
    assert_eq!(
        config[0]["supportedFeatures"],
        serde_json::json!(["AGGREGATED_EVENTS", "ALL_EVENTS"])
    );
    admin
        .send(r#"42/admin,["_disconnect","/",false,null]"#)
        .await;
    admin.send(r#"42/admin,["emit","/",null,"news"]"#).await;
    // Nothing reaches the user but what it asks for.
    user.send(r#"42["hello"]"#).await;
    assert_eq!(user.packet().await, r#"2["hi","there"]"#);
    assert_eq!(io.sockets().len(), 1);
}

#[tokio::test]
async fn basic_auth_with_a_bcrypt_hash_and_sessions() {
    let io = app();
    assert!(matches!(
        io.instrument(AdminUiOptions::default().basic_auth("admin", "not a hash")),
        Err(AdminUiError::InvalidHash)
    ));
    let io = app();
    io.instrument(AdminUiOptions::default().basic_auth("admin", HASH))
        .unwrap();
    let port = serve(&io).await;

    let mut c = Client::open(port).await;
    c.send(r#"40/admin,{"username":"admin","password":"wrong"}"#)
        .await;
    assert_eq!(
        c.packet().await,
        r#"4/admin,{"message":"invalid credentials"}"#
    );
    c.send(r#"40/admin,{"username":"admin","password":"changeit"}"#)
        .await;
    assert!(c.packet().await.starts_with("0/admin,"));
    let session = admin_event(&mut c, "session").await;
    let session = session[0].as_str().unwrap().to_owned();
    assert_eq!(session.len(), 16);

    // The UI reconnects with its session id instead of the password.
    let mut again = Client::open(port).await;
    again
        .send(&format!(r#"40/admin,{{"sessionId":"{session}"}}"#))
        .await;
    assert!(again.packet().await.starts_with("0/admin,"));
    let mut stranger = Client::open(port).await;
    stranger
        .send(r#"40/admin,{"sessionId":"0123456789abcdef"}"#)
        .await;
    assert_eq!(
        stranger.packet().await,
        r#"4/admin,{"message":"invalid credentials"}"#
    );
}

/// `server_stats` comes every 2 s, as the reference's `setInterval(emitStats, 2000)`: two
/// consecutive node ticks are 2 s apart (the bounds leave room for a loaded machine; a tick
/// late under load makes the next one come sooner).
#[tokio::test]
async fn server_stats_every_two_seconds() {
    use std::time::{Duration, Instant};
    let io = app();
    io.instrument(AdminUiOptions::default()).unwrap();
    let port = serve(&io).await;
    let mut admin = Client::open(port).await;
    admin.send("40/admin,").await;
    admin_event(&mut admin, "server_stats").await;
    admin_event(&mut admin, "server_stats").await;
    let tick = Instant::now();
    let stats = admin_event(&mut admin, "server_stats").await;
    let gap = tick.elapsed();
    assert!(
        gap >= Duration::from_millis(1500) && gap < Duration::from_millis(3500),
        "{gap:?} between two server_stats"
    );
    assert!(stats[0]["uptime"].as_f64().is_some(), "{}", stats[0]);
}
