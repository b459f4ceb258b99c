//! What the integration tests of handlers, metrics and the Admin UI share: a raw Socket.IO v5
//! client over a real WebSocket, and a server on a free port.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use socketio_server::SocketIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

pub const STEP: Duration = Duration::from_secs(5);

pub struct Client {
    ws: WebSocketStream<TcpStream>,
}

impl Client {
    pub async fn open(port: u16) -> Self {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
        let mut c = Client { ws };
        let open = c.packet_raw().await.expect("open packet");
        assert!(open.starts_with("0{"), "{open}");
        c
    }

    pub async fn send(&mut self, text: &str) {
        self.ws.send(WsMessage::text(text)).await.unwrap();
    }

    /// The next Engine.IO text message (answering pings); `None` when the connection closed.
    pub async fn packet_raw(&mut self) -> Option<String> {
        loop {
            let msg = tokio::time::timeout(STEP, self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match msg {
                Some(Ok(WsMessage::Text(t))) if t.as_str() == "2" => self.send("3").await,
                Some(Ok(WsMessage::Text(t))) => return Some(t.to_string()),
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next Socket.IO packet (the Engine.IO `4` prefix removed).
    pub async fn packet(&mut self) -> String {
        loop {
            let m = self.packet_raw().await.expect("connection closed");
            if let Some(p) = m.strip_prefix('4') {
                return p.to_owned();
            }
        }
    }

    /// Sends `40{auth}` and returns the reply packet (`0{sid}` or `4{error}`).
    pub async fn connect(&mut self, auth: &str) -> String {
        self.send(&format!("40{auth}")).await;
        self.packet().await
    }
}

/// The socket id in a `0{"sid":…}` CONNECT reply.
pub fn sid_of(reply: &str) -> String {
    reply
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no sid in {reply}"))
        .to_owned()
}

pub async fn serve(io: &SocketIo) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let io = io.clone();
    tokio::spawn(async move { io.serve(listener).await });
    port
}

/// Waits until `cond` holds (handlers of disconnections run after the close is seen).
pub async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + STEP;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A plain HTTP/1.1 request (`Connection: close`); returns the status and the body.
pub async fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(STEP, tcp.read_to_end(&mut raw))
        .await
        .expect("timed out reading an HTTP response")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("an HTTP status line");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
