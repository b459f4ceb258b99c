//! Socket.IO conformance and interop targets: the npm `socket.io` 4.8 reference
//! (`js/socketio-reference.js`) and ours (`socketio-server/examples/conformance_server.rs`), started
//! with the same flags, plus a raw Socket.IO-over-Engine.IO client ([`RawConn`]) that speaks either
//! WebSocket or HTTP long-polling frame by frame, answering Engine.IO pings in the background
//! (the conformance servers use pingInterval 300 ms / pingTimeout 200 ms, so a test that paused its
//! reads would otherwise be closed for "ping timeout").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::node_peer::NodePeer;
use crate::raw_http::{http, HttpRequest, HttpResponse};
use crate::rust_peer::RustPeer;

/// pingInterval of both conformance servers.
pub const PING_INTERVAL: Duration = Duration::from_millis(300);
/// pingTimeout of both conformance servers.
pub const PING_TIMEOUT: Duration = Duration::from_millis(200);
/// connectTimeout of both conformance servers.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a raw client waits for one frame before the test fails.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(3);

/// Which Socket.IO server a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The npm `socket.io` 4.8 server (`js/socketio-reference.js`).
    Reference,
    /// Our `socketio-server` crate (`socketio-server/examples/conformance_server.rs`).
    Ours,
}

/// Runs each scenario against both servers: for every `name`, an `async fn name(t: Target)` in
/// scope, generates the tests `reference::name` and `ours::name`.
///
/// ```ignore
/// async fn connects(t: Target) { /* ... */ }
/// protocol_tests::reference_and_ours!(connects);
/// ```
#[macro_export]
macro_rules! reference_and_ours {
    ($($name:ident),* $(,)?) => {
        mod reference {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::socketio::Target::Reference).await
                }
            )*
        }
        mod ours {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::socketio::Target::Ours).await
                }
            )*
        }
    };
}

#[derive(Debug)]
enum Peer {
    Node(NodePeer),
    Rust(RustPeer),
}

/// Starts `target` with `--interop` plus `flags`, runs the Node script `script` with `args` (an
/// argument `"URL"` stands for the server's URL) within `timeout`, and returns the JSON result it
/// prints last, which must say `"ok": true` (the interop and delivery suites' scripts).
///
/// # Panics
/// When the script prints no JSON, or a result without `"ok": true` (with its error and stderr).
pub async fn interop_script(
    target: Target,
    flags: &[&str],
    script: &str,
    args: &[&str],
    timeout: Duration,
) -> Value {
    let mut all = vec!["--interop"];
    all.extend_from_slice(flags);
    let server = SioServer::start_with(target, &all);
    let url = server.url();
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "URL" { url.as_str() } else { a })
        .collect();
    let result = crate::node_peer::run_node(script, &args, &[], timeout)
        .await
        .ok_result(&format!("{script} {args:?}"));
    drop(server);
    result
}

/// A running Socket.IO conformance server (killed on drop).
#[derive(Debug)]
pub struct SioServer {
    peer: Peer,
    /// Which implementation this is.
    pub target: Target,
}

impl SioServer {
    /// Starts `target` with the plain conformance setup (no flags).
    pub fn start(target: Target) -> SioServer {
        SioServer::start_with(target, &[])
    }

    /// Starts `target` with extra `flags` (`--interop`, `--recovery`, `--msgpack`, `--eio3`), the
    /// same on both implementations.
    pub fn start_with(target: Target, flags: &[&str]) -> SioServer {
        let mut args = vec!["--port", "0"];
        args.extend_from_slice(flags);
        let peer = match target {
            Target::Reference => Peer::Node(NodePeer::spawn("socketio-reference.js", &args, &[])),
            Target::Ours => Peer::Rust(RustPeer::spawn_example(
                "socketio-server",
                "socketio_conformance_server",
                &args,
            )),
        };
        SioServer { peer, target }
    }

    /// The port (127.0.0.1).
    pub fn port(&self) -> u16 {
        match &self.peer {
            Peer::Node(p) => p.port(),
            Peer::Rust(p) => p.port(),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }
}

/// What a raw connection received, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SioFrame {
    /// An Engine.IO ping (`2`); already answered.
    Ping,
    /// An Engine.IO text packet, type digit included (e.g. `42["auth",{}]`).
    Text(String),
    /// A binary Engine.IO message (a Socket.IO attachment).
    Binary(Vec<u8>),
    /// The session ended: the text says how (WebSocket close, HTTP 400, close packet).
    Closed(String),
}

/// Transport of a [`RawConn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTP long-polling (v4 payloads).
    Polling,
    /// WebSocket.
    WebSocket,
}

type WsStream = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A raw Engine.IO v4 connection used to speak Socket.IO frame by frame.
///
/// Everything the server sends is queued by a background task (which also answers pings with
/// `3`), so the test reads frames in order with [`RawConn::recv`].
#[derive(Debug)]
pub struct RawConn {
    port: u16,
    /// Engine.IO session id.
    pub sid: String,
    /// The Engine.IO open packet.
    pub handshake: Value,
    /// Current transport.
    pub transport: Transport,
    rx: mpsc::UnboundedReceiver<SioFrame>,
    ws_tx: Option<mpsc::UnboundedSender<Message>>,
    tasks: Vec<JoinHandle<()>>,
    upgrading: Arc<AtomicBool>,
}

impl Drop for RawConn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn polling_target(sid: Option<&str>) -> String {
    match sid {
        Some(sid) => format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
        None => "/socket.io/?EIO=4&transport=polling".to_owned(),
    }
}

async fn ws_connect(port: u16, target: &str) -> WsStream {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let request = format!("ws://127.0.0.1:{port}{target}")
        .into_client_request()
        .unwrap_or_else(|e| panic!("bad websocket url: {e}"));
    let connect = async {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("tcp connect to {port}: {e}"));
        let _ = stream.set_nodelay(true);
        tokio_tungstenite::client_async(request, stream)
            .await
            .unwrap_or_else(|e| panic!("websocket handshake {target}: {e}"))
            .0
    };
    tokio::time::timeout(FRAME_TIMEOUT, connect)
        .await
        .unwrap_or_else(|_| panic!("websocket connect {target} timed out"))
}

/// Splits a v4 polling payload into frames (`b<base64>` is binary).
pub fn decode_payload(body: &[u8]) -> Vec<SioFrame> {
    let text = String::from_utf8_lossy(body);
    text.split('\u{1e}')
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p == "2" {
                SioFrame::Ping
            } else if let Some(b64) = p.strip_prefix('b') {
                match base64::engine::general_purpose::STANDARD.decode(b64) {
                    Ok(bytes) => SioFrame::Binary(bytes),
                    Err(e) => SioFrame::Closed(format!("bad base64 from server: {e}")),
                }
            } else {
                SioFrame::Text(p.to_owned())
            }
        })
        .collect()
}

/// Spawns the reader and writer tasks of a WebSocket: frames go to `out`, pings are answered.
fn spawn_ws(
    ws: WsStream,
    out: mpsc::UnboundedSender<SioFrame>,
) -> (mpsc::UnboundedSender<Message>, Vec<JoinHandle<()>>) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
    });
    let pong = tx.clone();
    let reader = tokio::spawn(async move {
        loop {
            let frame = match stream.next().await {
                Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                    let _ = pong.send(Message::text("3"));
                    SioFrame::Ping
                }
                Some(Ok(Message::Text(t))) => SioFrame::Text(t.as_str().to_owned()),
                Some(Ok(Message::Binary(b))) => SioFrame::Binary(b.to_vec()),
                Some(Ok(Message::Close(c))) => {
                    let _ = out.send(SioFrame::Closed(format!("websocket close {c:?}")));
                    break;
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    let _ = out.send(SioFrame::Closed(format!("websocket error {e}")));
                    break;
                }
                None => {
                    let _ = out.send(SioFrame::Closed("websocket ended".into()));
                    break;
                }
            };
            if out.send(frame).is_err() {
                break;
            }
        }
    });
    (tx, vec![writer, reader])
}

fn spawn_poller(
    port: u16,
    sid: String,
    out: mpsc::UnboundedSender<SioFrame>,
    upgrading: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let target = polling_target(Some(&sid));
        loop {
            if upgrading.load(Ordering::SeqCst) {
                return;
            }
            let response = http(port, HttpRequest::get(&target)).await;
            if response.status != 200 {
                let _ = out.send(SioFrame::Closed(format!(
                    "polling GET answered {} {}",
                    response.status,
                    response.text()
                )));
                return;
            }
            for frame in decode_payload(&response.body) {
                match &frame {
                    SioFrame::Ping => {
                        let _ = http(port, HttpRequest::post(&target, "3")).await;
                    }
                    SioFrame::Text(t) if t == "1" => {
                        let _ = out.send(SioFrame::Closed("close packet".into()));
                        return;
                    }
                    // noop: sent to end a pending GET during an upgrade
                    SioFrame::Text(t) if t == "6" => continue,
                    _ => {}
                }
                if out.send(frame).is_err() {
                    return;
                }
            }
        }
    })
}

impl RawConn {
    /// Opens an Engine.IO v4 session over `transport` (no Socket.IO namespace joined yet).
    pub async fn open(port: u16, transport: Transport) -> RawConn {
        RawConn::open_query(port, transport, "").await
    }

    /// Like [`RawConn::open`] with extra query parameters (`&foo=bar`).
    pub async fn open_query(port: u16, transport: Transport, query: &str) -> RawConn {
        let (out, rx) = mpsc::unbounded_channel();
        let upgrading = Arc::new(AtomicBool::new(false));
        match transport {
            Transport::WebSocket => {
                let ws = ws_connect(
                    port,
                    &format!("/socket.io/?EIO=4&transport=websocket{query}"),
                )
                .await;
                let (ws_tx, tasks) = spawn_ws(ws, out);
                let mut conn = RawConn {
                    port,
                    sid: String::new(),
                    handshake: Value::Null,
                    transport,
                    rx,
                    ws_tx: Some(ws_tx),
                    tasks,
                    upgrading,
                };
                let open = conn.recv().await;
                conn.set_handshake(open);
                conn
            }
            Transport::Polling => {
                let target = format!("{}{query}", polling_target(None));
                let response = http(port, HttpRequest::get(&target)).await;
                assert_eq!(
                    response.status,
                    200,
                    "polling handshake: {}",
                    response.text()
                );
                let mut frames = decode_payload(&response.body).into_iter();
                let open = frames
                    .next()
                    .unwrap_or(SioFrame::Closed("empty handshake".into()));
                let mut conn = RawConn {
                    port,
                    sid: String::new(),
                    handshake: Value::Null,
                    transport,
                    rx,
                    ws_tx: None,
                    tasks: Vec::new(),
                    upgrading: upgrading.clone(),
                };
                conn.set_handshake(open);
                for f in frames {
                    let _ = out.send(f);
                }
                conn.tasks
                    .push(spawn_poller(port, conn.sid.clone(), out, upgrading));
                conn
            }
        }
    }

    fn set_handshake(&mut self, open: SioFrame) {
        let SioFrame::Text(text) = open else {
            panic!("expected the Engine.IO open packet, got {open:?}");
        };
        let json = text
            .strip_prefix('0')
            .unwrap_or_else(|| panic!("expected the Engine.IO open packet, got {text:?}"));
        self.handshake =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("bad open packet {text:?}: {e}"));
        self.sid = self.handshake["sid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }

    /// Opens a session and joins the main namespace (`40`), reading the CONNECT reply and the
    /// `auth` event of the conformance server. Returns the connection and the Socket.IO id.
    pub async fn connect_main(port: u16, transport: Transport) -> (RawConn, String) {
        let mut conn = RawConn::open(port, transport).await;
        conn.send_text("40").await;
        let reply = conn.recv_text().await;
        let json = reply
            .strip_prefix("40")
            .unwrap_or_else(|| panic!("expected 40{{…}}, got {reply:?}"));
        let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{reply:?}: {e}"));
        let id = v["sid"].as_str().unwrap_or_default().to_owned();
        assert_eq!(conn.recv_text().await, r#"42["auth",{}]"#);
        (conn, id)
    }

    /// Sends one Engine.IO text packet (e.g. `42["message",1]`).
    pub async fn send_text(&mut self, text: &str) {
        self.send_frames(&[SioFrame::Text(text.to_owned())]).await;
    }

    /// Sends one binary Engine.IO message.
    pub async fn send_binary(&mut self, data: &[u8]) {
        self.send_frames(&[SioFrame::Binary(data.to_vec())]).await;
    }

    /// Sends several frames; over polling they go in one POST payload. Errors are ignored (the
    /// server may have closed the session on purpose); the test sees the close with `recv`.
    pub async fn send_frames(&mut self, frames: &[SioFrame]) {
        match self.transport {
            Transport::WebSocket => {
                if let Some(tx) = &self.ws_tx {
                    for f in frames {
                        let m = match f {
                            SioFrame::Text(t) => Message::text(t.clone()),
                            SioFrame::Binary(b) => Message::binary(b.clone()),
                            SioFrame::Ping => Message::text("2"),
                            SioFrame::Closed(_) => continue,
                        };
                        let _ = tx.send(m);
                    }
                }
            }
            Transport::Polling => {
                let body = frames
                    .iter()
                    .filter_map(|f| match f {
                        SioFrame::Text(t) => Some(t.clone()),
                        SioFrame::Binary(b) => Some(format!(
                            "b{}",
                            base64::engine::general_purpose::STANDARD.encode(b)
                        )),
                        SioFrame::Ping => Some("2".to_owned()),
                        SioFrame::Closed(_) => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\u{1e}");
                let _ = self.post(&body).await;
            }
        }
    }

    /// POSTs a raw polling payload for this session.
    pub async fn post(&self, body: &str) -> HttpResponse {
        http(
            self.port,
            HttpRequest::post(&polling_target(Some(&self.sid)), body)
                .header("Content-Type", "text/plain;charset=UTF-8"),
        )
        .await
    }

    /// The next frame (pings included), or `None` after `timeout`.
    pub async fn recv_raw_timeout(&mut self, timeout: Duration) -> Option<SioFrame> {
        match tokio::time::timeout(timeout, self.rx.recv()).await {
            Ok(Some(f)) => Some(f),
            Ok(None) => Some(SioFrame::Closed("reader stopped".into())),
            Err(_) => None,
        }
    }

    /// The next frame that is not a ping, or `None` after `timeout`.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Option<SioFrame> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_raw_timeout(left).await? {
                SioFrame::Ping => continue,
                f => return Some(f),
            }
        }
    }

    /// The next frame that is not a ping.
    ///
    /// # Panics
    /// After [`FRAME_TIMEOUT`].
    pub async fn recv(&mut self) -> SioFrame {
        self.recv_timeout(FRAME_TIMEOUT)
            .await
            .unwrap_or_else(|| panic!("no frame within {FRAME_TIMEOUT:?}"))
    }

    /// The next non-ping frame, which must be text.
    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            SioFrame::Text(t) => t,
            other => panic!("expected a text packet, got {other:?}"),
        }
    }

    /// The next non-ping frame, which must be binary.
    pub async fn recv_binary(&mut self) -> Vec<u8> {
        match self.recv().await {
            SioFrame::Binary(b) => b,
            other => panic!("expected a binary message, got {other:?}"),
        }
    }

    /// Waits until the server ends the session, returning the non-ping frames that came first.
    ///
    /// # Panics
    /// When the session is still open after `timeout`.
    pub async fn expect_closed(&mut self, timeout: Duration) -> Vec<SioFrame> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_timeout(left).await {
                Some(SioFrame::Closed(_)) => return before,
                Some(f) => before.push(f),
                None => panic!("session still open after {timeout:?}; received {before:?}"),
            }
        }
    }

    /// Asserts that nothing but pings arrives for `quiet` and the session stays open.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        if let Some(f) = self.recv_timeout(quiet).await {
            panic!("expected nothing for {quiet:?}, got {f:?}");
        }
    }

    /// Upgrades a polling session to WebSocket (probe, pause polling, `5`).
    pub async fn upgrade(&mut self) {
        assert_eq!(
            self.transport,
            Transport::Polling,
            "upgrade from polling only"
        );
        let mut ws = ws_connect(
            self.port,
            &format!("/socket.io/?EIO=4&transport=websocket&sid={}", self.sid),
        )
        .await;
        self.upgrading.store(true, Ordering::SeqCst);
        ws.send(Message::text("2probe"))
            .await
            .unwrap_or_else(|e| panic!("send 2probe: {e}"));
        let probe = tokio::time::timeout(FRAME_TIMEOUT, ws.next()).await;
        match probe {
            Ok(Some(Ok(Message::Text(t)))) if t.as_str() == "3probe" => {}
            other => panic!("expected 3probe, got {other:?}"),
        }
        // The server answers the pending GET (noop) so the poller ends; wait for it.
        if let Some(poller) = self.tasks.pop() {
            let _ = tokio::time::timeout(FRAME_TIMEOUT, poller).await;
        }
        ws.send(Message::text("5"))
            .await
            .unwrap_or_else(|e| panic!("send 5: {e}"));
        // Frames still queued from polling stay in `rx`; the WebSocket reader appends to a new
        // channel that is drained after them.
        let (out, rx) = mpsc::unbounded_channel();
        let mut old = std::mem::replace(&mut self.rx, rx);
        let (forward_out, forward_rx) = mpsc::unbounded_channel();
        let mut pending = Vec::new();
        while let Ok(f) = old.try_recv() {
            pending.push(f);
        }
        let (ws_tx, tasks) = spawn_ws(ws, forward_out);
        // Chain: old frames first, then the WebSocket's.
        let chain = tokio::spawn(async move {
            for f in pending {
                let _ = out.send(f);
            }
            let mut forward_rx = forward_rx;
            while let Some(f) = forward_rx.recv().await {
                if out.send(f).is_err() {
                    break;
                }
            }
        });
        self.ws_tx = Some(ws_tx);
        self.tasks.extend(tasks);
        self.tasks.push(chain);
        self.transport = Transport::WebSocket;
    }
}

/// A `{"_placeholder":true,"num":N}` JSON text.
pub fn placeholder(n: usize) -> String {
    format!(r#"{{"_placeholder":true,"num":{n}}}"#)
}
