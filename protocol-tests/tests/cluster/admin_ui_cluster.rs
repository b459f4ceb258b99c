//! The Admin UI instrumentation across a real Redis cluster: an Admin UI connected to node A
//! sees the sockets of node B (`all_sockets` through the adapter's fetch), B's `server_stats`
//! and socket events, and its actions reach B's sockets (Admin UI wire format of the npm
//! `@socket.io/admin-ui` 0.5.1, raw Socket.IO v5 frames over WebSocket).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use protocol_tests::{RedisServer, WsClient};
use serde_json::{json, Value as Json};
use socketio_adapter::redis::{RedisAdapterConfig, RedisAdapterFactory};
use socketio_server::{AdminUiOptions, SocketIo, SocketRef, Value};

const WAIT: Duration = Duration::from_secs(8);

async fn node(redis_url: &str, id: &str) -> (SocketIo, u16) {
    let factory = tokio::time::timeout(
        Duration::from_secs(5),
        RedisAdapterFactory::connect(redis_url, RedisAdapterConfig::default()),
    )
    .await
    .expect("redis adapter in time")
    .expect("redis adapter");
    let io = SocketIo::builder().adapter(factory).build();
    io.ns("/", |socket: SocketRef| async move {
        if let Some(Value::String(room)) = socket.handshake().auth.get("room") {
            socket.join(room.as_str());
        }
    });
    let mut options = AdminUiOptions::default();
    options.server_id = Some(id.to_owned());
    io.instrument(options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = io.clone();
    tokio::spawn(async move { serving.serve(listener).await });
    (io, port)
}

/// A raw Socket.IO v5 client over WebSocket.
struct Sio(WsClient);

impl Sio {
    async fn open(port: u16) -> Sio {
        let ws = WsClient::connect(port, "/socket.io/?EIO=4&transport=websocket", &[])
            .await
            .unwrap();
        let mut c = Sio(ws);
        assert!(c.0.recv_text().await.starts_with("0{"));
        c
    }

    async fn send(&mut self, text: &str) {
        self.0.send_text(text).await;
    }

    /// The next Socket.IO packet, answering pings.
    async fn packet(&mut self) -> String {
        loop {
            let t = self.0.recv_text().await;
            if t == "2" {
                self.send("3").await;
            } else if let Some(p) = t.strip_prefix('4') {
                return p.to_owned();
            }
        }
    }

    /// Connects to `/` and returns the socket id.
    async fn connect_main(&mut self, auth: &str) -> String {
        self.send(&format!("40{auth}")).await;
        let reply = self.packet().await;
        let v: Json = serde_json::from_str(&reply[1..]).unwrap();
        v["sid"].as_str().unwrap().to_owned()
    }

    /// The arguments of the next admin event matching `pred` (others are skipped).
    async fn admin_event(&mut self, name: &str, pred: impl Fn(&[Json]) -> bool) -> Vec<Json> {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "no {name} event");
            let p = tokio::time::timeout(WAIT, self.packet())
                .await
                .unwrap_or_else(|_| panic!("no {name} event"));
            let Some(body) = p.strip_prefix("2/admin,") else {
                continue;
            };
            let mut args: Vec<Json> = serde_json::from_str(body).unwrap();
            if args.first().and_then(Json::as_str) == Some(name) {
                args.remove(0);
                if pred(&args) {
                    return args;
                }
            }
        }
    }
}

#[tokio::test]
async fn one_admin_ui_sees_and_acts_on_the_whole_cluster() {
    let redis = RedisServer::start();
    let (_a, port_a) = node(&redis.url(), "node-a").await;
    let (b, port_b) = node(&redis.url(), "node-b").await;
    // Both nodes subscribed: B answers A's requests.
    let deadline = Instant::now() + WAIT;
    while b.sockets().adapter().server_count().await.unwrap_or(0) < 2 {
        assert!(Instant::now() < deadline, "the cluster never had two nodes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut ann = Sio::open(port_b).await;
    let ann_id = ann.connect_main(r#"{"room":"lobby"}"#).await;

    let mut admin = Sio::open(port_a).await;
    admin.send("40/admin,").await;
    assert!(admin.packet().await.starts_with("0/admin,"));
    // The socket list covers node B.
    let all = admin.admin_event("all_sockets", |_| true).await;
    let listed = all[0]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == ann_id.as_str())
        .cloned()
        .expect("node B's socket in all_sockets");
    assert_eq!(listed["nsp"], "/");
    let mut rooms: Vec<&str> = listed["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Json::as_str)
        .collect();
    rooms.sort_unstable();
    let mut expected = vec![ann_id.as_str(), "lobby"];
    expected.sort_unstable();
    assert_eq!(rooms, expected);

    // Both nodes' statistics reach the UI on A.
    admin
        .admin_event("server_stats", |a| a[0]["serverId"] == "node-b")
        .await;
    admin
        .admin_event("server_stats", |a| a[0]["serverId"] == "node-a")
        .await;

    // A socket connecting to B is announced to the UI on A, with its room joins.
    let mut bob = Sio::open(port_b).await;
    let bob_id = bob.connect_main(r#"{"room":"lobby"}"#).await;
    let connected = admin
        .admin_event("socket_connected", |a| a[0]["id"] == bob_id.as_str())
        .await;
    assert_eq!(connected[0]["transport"], "websocket");
    admin
        .admin_event("room_joined", |a| {
            a[..3] == [json!("/"), json!("lobby"), json!(bob_id)]
        })
        .await;

    // The UI's actions on A reach B's sockets: an emit to the room, then a disconnection.
    admin
        .send(r#"42/admin,["emit","/","lobby","news","from the admin"]"#)
        .await;
    assert_eq!(ann.packet().await, r#"2["news","from the admin"]"#);
    assert_eq!(bob.packet().await, r#"2["news","from the admin"]"#);
    // Join and leave from A move B's socket, and B announces it: only Bob gets the room's
    // emit (Ann's next packet below is her disconnection).
    admin
        .send(&format!(r#"42/admin,["join","/","vip","{bob_id}"]"#))
        .await;
    admin
        .admin_event("room_joined", |a| {
            a[..3] == [json!("/"), json!("vip"), json!(bob_id)]
        })
        .await;
    admin
        .send(r#"42/admin,["emit","/","vip","vip-news",1]"#)
        .await;
    assert_eq!(bob.packet().await, r#"2["vip-news",1]"#);
    admin
        .send(&format!(r#"42/admin,["leave","/","vip","{bob_id}"]"#))
        .await;
    admin
        .admin_event("room_left", |a| {
            a[..3] == [json!("/"), json!("vip"), json!(bob_id)]
        })
        .await;
    admin
        .send(r#"42/admin,["emit","/","vip","vip-news",2]"#)
        .await;
    admin
        .send(&format!(r#"42/admin,["_disconnect","/",false,"{ann_id}"]"#))
        .await;
    assert_eq!(ann.packet().await, "1");
    let gone = admin
        .admin_event("socket_disconnected", |a| a[1] == ann_id.as_str())
        .await;
    assert_eq!(gone[2], "server namespace disconnect");
    // Bob stays, and the emit to the room he left did not reach him.
    bob.send(r#"42["ping"]"#).await;
    assert_eq!(b.sockets().len(), 1);
    admin
        .send(r#"42/admin,["emit","/","lobby","news","again"]"#)
        .await;
    assert_eq!(bob.packet().await, r#"2["news","again"]"#);
}
