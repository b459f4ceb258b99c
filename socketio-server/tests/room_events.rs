//! Room lifecycle events (`create-room`, `join-room`, `leave-room`, `delete-room`) observed
//! through `Namespace::on_room_event` while real WebSocket clients connect, join, leave and
//! disconnect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use socketio_server::{Data, RoomEvent, SocketIo, SocketRef, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

const STEP: Duration = Duration::from_secs(5);

struct Client {
    ws: WebSocketStream<TcpStream>,
}

impl Client {
    /// Opens a WebSocket connection and connects to the main namespace; returns the sid.
    async fn connect(port: u16) -> (Self, String) {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
        let mut c = Client { ws };
        assert!(c.recv().await.starts_with("0{"));
        c.send("40").await;
        let reply = c.recv().await;
        let json = reply.strip_prefix("40").expect("connect reply");
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        let sid = Value::from(v)
            .get("sid")
            .and_then(Value::as_str)
            .unwrap()
            .to_owned();
        (c, sid)
    }

    async fn send(&mut self, text: &str) {
        self.ws.send(WsMessage::text(text)).await.unwrap();
    }

    /// The next text frame, answering pings.
    async fn recv(&mut self) -> String {
        loop {
            let msg = tokio::time::timeout(STEP, self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match msg {
                Some(Ok(WsMessage::Text(t))) if t.as_str() == "2" => self.send("3").await,
                Some(Ok(WsMessage::Text(t))) => return t.to_string(),
                Some(Ok(_)) => {}
                other => panic!("connection closed: {other:?}"),
            }
        }
    }
}

/// Waits (bounded) until `events` holds `n` events, then takes them.
async fn take(events: &Mutex<Vec<RoomEvent>>, n: usize) -> Vec<RoomEvent> {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        {
            let mut events = events.lock().unwrap();
            if events.len() >= n {
                return events.drain(..).collect();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {n} events, got {:?}",
            events.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn connect_join_leave_and_disconnect_emit_room_events() {
    use RoomEvent::{Create, Delete, Join, Leave};
    let io = SocketIo::new();
    let ns = io.ns("/", |socket: SocketRef| async move {
        socket.on(
            "join",
            |s: SocketRef, Data(room): Data<String>| async move {
                s.join(room);
                let _ = s.emit("done", &());
            },
        );
        socket.on(
            "leave",
            |s: SocketRef, Data(room): Data<String>| async move {
                s.leave(room);
                let _ = s.emit("done", &());
            },
        );
    });
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let io2 = io.clone();
    ns.on_room_event(move |event: &RoomEvent| {
        // No lock is held while listeners run: querying the adapter here must not deadlock.
        if let (Join(room, sid), Some(ns)) = (event, io2.of("/")) {
            let rooms = ns.adapter().socket_rooms(sid).unwrap_or_default();
            assert!(rooms.contains(room), "{room} not in {rooms:?}");
        }
        sink.lock().unwrap().push(event.clone());
    });

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = io.clone();
    tokio::spawn(async move { server.serve(listener).await });
    let r = |s: &str| -> Arc<str> { s.into() };

    // Connecting: the socket's own room is created and joined.
    let (mut a, sa) = Client::connect(port).await;
    assert_eq!(
        take(&events, 2).await,
        [Create(r(&sa)), Join(r(&sa), r(&sa))]
    );
    let (mut b, sb) = Client::connect(port).await;
    assert_eq!(
        take(&events, 2).await,
        [Create(r(&sb)), Join(r(&sb), r(&sb))]
    );

    // The first join creates the room, the second only joins it, a repeated join is silent.
    a.send(r#"42["join","lobby"]"#).await;
    assert_eq!(a.recv().await, r#"42["done",null]"#);
    assert_eq!(
        take(&events, 2).await,
        [Create(r("lobby")), Join(r("lobby"), r(&sa))]
    );
    b.send(r#"42["join","lobby"]"#).await;
    assert_eq!(b.recv().await, r#"42["done",null]"#);
    b.send(r#"42["join","lobby"]"#).await;
    assert_eq!(b.recv().await, r#"42["done",null]"#);
    assert_eq!(take(&events, 1).await, [Join(r("lobby"), r(&sb))]);

    // Leaving a room that keeps a member: no delete.
    a.send(r#"42["leave","lobby"]"#).await;
    assert_eq!(a.recv().await, r#"42["done",null]"#);
    assert_eq!(take(&events, 1).await, [Leave(r("lobby"), r(&sa))]);

    // Disconnecting: leave then delete for each room of the socket (rooms in any order).
    b.send("41").await;
    let got = take(&events, 4).await;
    let mut pairs: Vec<&[RoomEvent]> = got.chunks(2).collect();
    pairs.sort_by_key(|p| p[0].room().clone());
    let mut expected = [
        vec![Leave(r("lobby"), r(&sb)), Delete(r("lobby"))],
        vec![Leave(r(&sb), r(&sb)), Delete(r(&sb))],
    ];
    expected.sort_by_key(|p| p[0].room().clone());
    assert_eq!(
        pairs,
        expected.iter().map(Vec::as_slice).collect::<Vec<_>>()
    );

    // Closing the connection disconnects the last socket.
    a.ws.close(None).await.unwrap();
    assert_eq!(
        take(&events, 2).await,
        [Leave(r(&sa), r(&sa)), Delete(r(&sa))]
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(events.lock().unwrap().is_empty());
}
