//! The load tool's building blocks (`src/bin/sioload.rs`, `tests/soak.rs`): Socket.IO clients that
//! speak raw Engine.IO v4 / Socket.IO v5 frames over WebSocket, HTTP long-polling or
//! WebTransport, so every server is measured the same way; readings of a server's CPU time and memory from `/proc`; and
//! the servers it compares, each started pinned to one CPU.
//!
//! Unlike the conformance clients ([`crate::socketio::RawConn`]), nothing here panics on what the
//! network does: a load or chaos run counts failures instead of stopping at the first one.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::deps::{js_dir, workspace_root};
use crate::process::ServerProcess;
use crate::raw_http::{HttpConnection, HttpRequest};
pub mod workloads;
mod wt;

/// The transport of a load client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTP long-polling (v4 payloads).
    Polling,
    /// WebSocket.
    WebSocket,
    /// WebTransport over HTTP/3 (UDP, the server's port number): the server's self-signed
    /// certificate is accepted by its SHA-256, the `webtransport-cert-hash` line a server with
    /// `--webtransport` prints.
    WebTransport {
        /// The certificate's SHA-256.
        cert_hash: [u8; 32],
    },
}

/// How long a client waits for the server during a handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a long-polling GET may stay pending (longer than any ping interval used here).
const POLL_TIMEOUT: Duration = Duration::from_secs(60);

/// What went wrong with one client.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A socket error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A WebSocket error.
    #[error("websocket: {0}")]
    WebSocket(#[from] tungstenite::Error),
    /// The server answered something the protocol does not allow here.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The server closed the session (close packet, WebSocket close, HTTP 400).
    #[error("closed by the server: {0}")]
    Closed(String),
    /// No answer in time.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// A WebTransport (QUIC, HTTP/3) error.
    #[error("webtransport: {0}")]
    WebTransport(String),
}

type WsStream = tokio_tungstenite::WebSocketStream<TcpStream>;

enum Link {
    WebSocket(Box<WsStream>),
    WebTransport(Box<wt::WtLink>),
    Polling {
        port: u16,
        target: String,
        /// Long-polling GETs.
        get: HttpConnection,
        /// POSTs, on their own connection as a browser does (a GET may be pending).
        post: HttpConnection,
        /// Packets of the last GET not read yet.
        pending: VecDeque<String>,
    },
}

/// One Socket.IO client on namespace `/`, connected (`40` answered) over any transport.
/// [`SioClient::recv`] answers Engine.IO pings by itself.
pub struct SioClient {
    link: Link,
    /// The Engine.IO session id.
    pub sid: String,
    /// How many pings the server sent this client so far.
    pub pings: u64,
    /// A counter shared by many clients that each ping also increments (see
    /// [`SioClient::count_pings_into`]).
    ping_counter: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl std::fmt::Debug for SioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SioClient")
            .field("sid", &self.sid)
            .field("pings", &self.pings)
            .finish()
    }
}

/// The Engine.IO session id in an open packet `0{"sid":"…",…}`.
fn open_sid(open: &str) -> Result<String, LoadError> {
    let json = open
        .strip_prefix('0')
        .ok_or_else(|| LoadError::Protocol(format!("expected an open packet, got {open:.80}")))?;
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| LoadError::Protocol(format!("bad open packet {open:.80}: {e}")))?;
    value["sid"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| LoadError::Protocol(format!("open packet without sid: {open:.80}")))
}

/// Buffers sized for small frames: with 20 000 clients in one process the default 128 KiB read
/// buffer of tungstenite would cost the load generator gigabytes.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

impl SioClient {
    /// Opens an Engine.IO session on `127.0.0.1:port` and connects to namespace `/`.
    pub async fn connect(port: u16, transport: Transport) -> Result<SioClient, LoadError> {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, Self::connect_inner(port, transport)).await {
            Ok(result) => result,
            Err(_) => Err(LoadError::Timeout("handshake")),
        }
    }

    async fn connect_inner(port: u16, transport: Transport) -> Result<SioClient, LoadError> {
        let mut client = match transport {
            Transport::WebSocket => {
                let stream = TcpStream::connect(("127.0.0.1", port)).await?;
                stream.set_nodelay(true)?;
                let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
                let (mut ws, _) =
                    tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config()))
                        .await?;
                let open = match ws.next().await {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    other => return Err(LoadError::Protocol(format!("no open packet: {other:?}"))),
                };
                SioClient {
                    sid: open_sid(&open)?,
                    link: Link::WebSocket(Box::new(ws)),
                    pings: 0,
                    ping_counter: None,
                }
            }
            Transport::WebTransport { cert_hash } => {
                let (link, open) = wt::WtLink::open(port, cert_hash).await?;
                SioClient {
                    sid: open_sid(&open)?,
                    link: Link::WebTransport(Box::new(link)),
                    pings: 0,
                    ping_counter: None,
                }
            }
            Transport::Polling => {
                let mut get = HttpConnection::connect(port).await?;
                let response = get
                    .request(&HttpRequest::get("/socket.io/?EIO=4&transport=polling"))
                    .await?;
                if response.status != 200 {
                    return Err(LoadError::Closed(format!(
                        "handshake answered {}",
                        response.status
                    )));
                }
                let body = response.text();
                let mut packets = body.split('\u{1e}');
                let sid = open_sid(packets.next().unwrap_or_default())?;
                let pending = packets.map(str::to_owned).collect();
                SioClient {
                    link: Link::Polling {
                        port,
                        target: format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
                        get,
                        post: HttpConnection::connect(port).await?,
                        pending,
                    },
                    sid,
                    pings: 0,
                    ping_counter: None,
                }
            }
        };
        client.send(&["40"]).await?;
        loop {
            let packet = client.recv().await?;
            if packet.starts_with("40") {
                return Ok(client);
            }
            if packet.starts_with("44") {
                return Err(LoadError::Closed(format!("connect refused: {packet:.80}")));
            }
        }
    }

    /// Sends every later polling request of this session to `port` instead (another node of a
    /// cluster: the session stays where it was opened). No request may be pending. A WebSocket
    /// session is left alone.
    pub async fn repoint_polling(&mut self, to: u16) -> Result<(), LoadError> {
        if let Link::Polling {
            port, get, post, ..
        } = &mut self.link
        {
            *get = HttpConnection::connect(to).await?;
            *post = HttpConnection::connect(to).await?;
            *port = to;
        }
        Ok(())
    }

    /// Upgrades a polling session to a WebSocket opened on `port` (any node of a cluster: on a
    /// node other than the owner, and once the session is past the cluster's connect delay, the
    /// WebSocket is proxied to the owner): the probe `2probe` / `3probe`, then `5`. No request
    /// may be pending and no packet unread.
    pub async fn upgrade_websocket(&mut self, port: u16) -> Result<(), LoadError> {
        let Link::Polling { pending, .. } = &self.link else {
            return Err(LoadError::Protocol(
                "only a polling session upgrades".into(),
            ));
        };
        if !pending.is_empty() {
            return Err(LoadError::Protocol(
                "packets unread before the upgrade".into(),
            ));
        }
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        let url = format!(
            "ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket&sid={}",
            self.sid
        );
        let (mut ws, _) =
            tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config())).await?;
        ws.send(Message::text("2probe")).await?;
        let probe = tokio::time::timeout(HANDSHAKE_TIMEOUT, ws.next()).await;
        match probe {
            Ok(Some(Ok(Message::Text(t)))) if t.as_str() == "3probe" => {}
            other => return Err(LoadError::Protocol(format!("no 3probe: {other:?}"))),
        }
        ws.send(Message::text("5")).await?;
        self.link = Link::WebSocket(Box::new(ws));
        Ok(())
    }

    /// Sends Engine.IO text packets (e.g. `42["echo","x"]`): one WebSocket or WebTransport frame
    /// each, or one POST for all of them over polling.
    pub async fn send(&mut self, packets: &[&str]) -> Result<(), LoadError> {
        match &mut self.link {
            Link::WebSocket(ws) => {
                for packet in packets {
                    ws.feed(Message::text(*packet)).await?;
                }
                ws.flush().await?;
                Ok(())
            }
            Link::WebTransport(wt) => wt.send(packets).await,
            Link::Polling { target, post, .. } => {
                let request = HttpRequest::post(target, packets.join("\u{1e}"))
                    .header("Content-Type", "text/plain;charset=UTF-8");
                let response = post.request(&request).await?;
                if response.status == 200 {
                    Ok(())
                } else {
                    Err(LoadError::Closed(format!(
                        "POST answered {}: {}",
                        response.status,
                        response.text()
                    )))
                }
            }
        }
    }

    /// The next Engine.IO text packet that is not a ping (pings are answered), e.g.
    /// `42["echo","x"]`. A close packet, a WebSocket close or a failed poll is an error.
    pub async fn recv(&mut self) -> Result<String, LoadError> {
        loop {
            let packet = match &mut self.link {
                Link::WebSocket(ws) => match ws.next().await {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(frame))) => {
                        return Err(LoadError::Closed(format!("websocket close {frame:?}")))
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err(LoadError::Closed("websocket ended".into())),
                },
                Link::WebTransport(wt) => wt.recv().await?,
                Link::Polling {
                    pending,
                    get,
                    target,
                    ..
                } => match pending.pop_front() {
                    Some(packet) => packet,
                    None => {
                        get.send(&HttpRequest::get(target)).await?;
                        let response = get.read_response_timeout("GET", POLL_TIMEOUT).await?;
                        if response.status != 200 {
                            return Err(LoadError::Closed(format!(
                                "GET answered {}",
                                response.status
                            )));
                        }
                        pending.extend(response.text().split('\u{1e}').map(str::to_owned));
                        continue;
                    }
                },
            };
            match packet.as_str() {
                "2" => {
                    self.pings += 1;
                    if let Some(counter) = &self.ping_counter {
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    self.send(&["3"]).await?;
                }
                "1" => return Err(LoadError::Closed("close packet".into())),
                "6" | "" => {}
                _ => return Ok(packet),
            }
        }
    }

    /// Counts every ping this client answers from now on in `counter` too, so a load run can
    /// sum the heartbeats of thousands of clients that are blocked in [`SioClient::recv`].
    pub fn count_pings_into(&mut self, counter: std::sync::Arc<std::sync::atomic::AtomicU64>) {
        self.ping_counter = Some(counter);
    }

    /// Ends the session: a WebSocket close, a WebTransport session close, or a close packet
    /// over polling.
    pub async fn close(mut self) {
        match &mut self.link {
            Link::WebSocket(ws) => {
                let _ = WsStream::close(&mut **ws, None).await;
            }
            Link::WebTransport(wt) => wt.close().await,
            Link::Polling { .. } => {
                let _ = self.send(&["1"]).await;
            }
        }
    }

    /// Drops the transport without any goodbye: the TCP connections are reset, as when a client
    /// dies or its network goes away.
    pub fn kill(self) {
        drop(self);
    }

    /// Sends the first `bytes` of a WebSocket text frame of `len` bytes and then drops the
    /// connection: a transport killed mid-message. Over polling, a POST cut inside its body; over
    /// WebTransport, a frame cut inside its payload.
    pub async fn kill_mid_message(self, len: usize) -> Result<(), LoadError> {
        use tokio::io::AsyncWriteExt;
        match self.link {
            Link::WebSocket(ws) => {
                let mut tcp = ws.into_inner();
                // A masked text frame header announcing `len` bytes, then half of them.
                let mut frame = vec![0x81u8];
                if len < 126 {
                    frame.push(0x80 | len as u8);
                } else {
                    frame.push(0x80 | 126);
                    frame.extend_from_slice(&(len.min(65535) as u16).to_be_bytes());
                }
                frame.extend_from_slice(&[1, 2, 3, 4]);
                frame.extend(std::iter::repeat_n(b'x', len / 2));
                tcp.write_all(&frame).await?;
                tcp.flush().await?;
                Ok(())
            }
            Link::WebTransport(wt) => wt.kill_mid_message(len).await,
            Link::Polling { port, target, .. } => {
                let mut tcp = TcpStream::connect(("127.0.0.1", port)).await?;
                let head = format!(
                    "POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\n\r\n42[\"echo\",\""
                );
                tcp.write_all(head.as_bytes()).await?;
                tcp.flush().await?;
                Ok(())
            }
        }
    }
}

/// The CPU time (user + system, all threads) of process `pid` in nanoseconds, from
/// `/proc/PID/task/*/schedstat` (nanoseconds, unlike the clock ticks of `/proc/PID/stat`). A
/// thread that ended between two readings drops out of the sum: the servers measured here keep
/// their threads for their whole life.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0u64;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue; // the thread just ended
        };
        total += stat.split(' ').next()?.trim().parse::<u64>().ok()?;
    }
    Some(total)
}

/// The resident set size of process `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The servers the tool compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Ours: `socketio-server/examples/bench_server.rs`.
    Ours,
    /// The npm reference: `protocol-tests/js/bench-server.js` on npm `socket.io` 4.8.
    Node,
    /// The socketioxide crate: `protocol-tests/peers/socketioxide-peer`.
    Socketioxide,
    /// A bare tokio-tungstenite server answering the same frames: `protocol-tests/peers/floor-peer`.
    Floor,
}

impl ServerKind {
    /// Every kind, in the order the tool prints them.
    pub const ALL: [ServerKind; 4] = [
        ServerKind::Ours,
        ServerKind::Floor,
        ServerKind::Socketioxide,
        ServerKind::Node,
    ];

    /// The name on the command line and in the output.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Ours => "ours",
            ServerKind::Node => "node",
            ServerKind::Socketioxide => "socketioxide",
            ServerKind::Floor => "floor",
        }
    }

    /// The kind named `name` (`npm` is accepted for `node`).
    pub fn parse(name: &str) -> Option<ServerKind> {
        match name {
            "ours" => Some(ServerKind::Ours),
            "node" | "npm" => Some(ServerKind::Node),
            "socketioxide" | "sioxide" => Some(ServerKind::Socketioxide),
            "floor" => Some(ServerKind::Floor),
            _ => None,
        }
    }

    /// Whether the server speaks HTTP long-polling (the floor only answers WebSocket frames).
    pub fn polls(self) -> bool {
        self != ServerKind::Floor
    }

    /// Whether the server sends Engine.IO heartbeats.
    pub fn pings(self) -> bool {
        self != ServerKind::Floor
    }

    /// Whether the server serves WebTransport (`--webtransport`): ours only; the npm server
    /// needs `@fails-components/webtransport`, whose native part does not install here.
    pub fn webtransport(self) -> bool {
        self == ServerKind::Ours
    }
}

/// The 32 bytes of a certificate hash printed as base64 (`webtransport-cert-hash <base64>`).
pub fn parse_cert_hash(base64_hash: &str) -> Result<[u8; 32], String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_hash.trim())
        .map_err(|e| format!("certificate hash {base64_hash:?}: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("certificate hash {base64_hash:?}: not 32 bytes"))
}

/// The target directory cargo builds into (`CARGO_TARGET_DIR`, or the workspace's `target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn cargo_build(args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-q"])
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "cargo build --release {} failed ({status})",
            args.join(" ")
        ))
    }
}

/// Builds (release) what `kind` needs and returns the command that runs it, without arguments.
/// The peers have their own `[workspace]` (and `Cargo.lock`) and build into the same target
/// directory as the project, so shared dependencies are compiled once per version.
pub fn build(kind: ServerKind) -> Result<Command, String> {
    let peers = target_dir();
    let peer = |name: &str| -> Result<Command, String> {
        let manifest = workspace_root().join(format!("protocol-tests/peers/{name}/Cargo.toml"));
        let manifest = manifest.to_string_lossy().into_owned();
        let dir = peers.to_string_lossy().into_owned();
        cargo_build(&["--manifest-path", &manifest, "--target-dir", &dir])?;
        Ok(Command::new(peers.join("release").join(name)))
    };
    match kind {
        ServerKind::Ours => {
            cargo_build(&["-p", "socketio-server", "--example", "bench_server"])?;
            Ok(Command::new(
                target_dir().join("release/examples/bench_server"),
            ))
        }
        ServerKind::Socketioxide => peer("socketioxide-peer"),
        ServerKind::Floor => peer("floor-peer"),
        ServerKind::Node => {
            crate::deps::ensure_deps();
            let mut command = Command::new("node");
            command.arg(js_dir().join("bench-server.js"));
            Ok(command)
        }
    }
}

/// A server under test: started by [`BenchServer::start`], killed on drop.
#[derive(Debug)]
pub struct BenchServer {
    /// Which server.
    pub kind: ServerKind,
    process: ServerProcess,
    /// With `--webtransport`: the hash of its certificate.
    cert_hash: Option<[u8; 32]>,
}

impl BenchServer {
    /// Builds and starts `kind` on a free port, pinned to CPU `cpu` with `taskset` when given,
    /// with `--ping-interval MS` when given (ignored by the floor, which sends no heartbeat).
    ///
    /// # Panics
    /// When the server does not start (its stderr is in the message).
    pub fn start(
        kind: ServerKind,
        cpu: Option<usize>,
        ping_interval: Option<Duration>,
    ) -> Result<BenchServer, String> {
        Self::start_with(kind, cpu, ping_interval, false)
    }

    /// [`BenchServer::start`], and with `webtransport` (for a kind that serves it, see
    /// [`ServerKind::webtransport`]) the server also serves WebTransport: [`BenchServer::webtransport`].
    pub fn start_with(
        kind: ServerKind,
        cpu: Option<usize>,
        ping_interval: Option<Duration>,
        webtransport: bool,
    ) -> Result<BenchServer, String> {
        if webtransport && !kind.webtransport() {
            return Err(format!("{} does not serve WebTransport here", kind.name()));
        }
        let server = build(kind)?;
        let mut command = match cpu {
            Some(cpu) => {
                let mut taskset = Command::new("taskset");
                taskset
                    .arg("-c")
                    .arg(cpu.to_string())
                    .arg(server.get_program());
                taskset.args(server.get_args());
                taskset
            }
            None => server,
        };
        command.args(["--port", "0"]);
        if let (Some(interval), true) = (ping_interval, kind.pings()) {
            command
                .arg("--ping-interval")
                .arg(interval.as_millis().to_string());
        }
        if webtransport {
            command.arg("--webtransport");
        }
        command.current_dir(workspace_root());
        let process = ServerProcess::spawn(kind.name(), command, Duration::from_secs(30));
        let cert_hash = if webtransport {
            let line = process
                .next_line(Duration::from_secs(10))
                .unwrap_or_default();
            let hash = line
                .strip_prefix("webtransport-cert-hash ")
                .ok_or_else(|| {
                    format!("expected `webtransport-cert-hash <base64>`, got {line:?}")
                })?;
            Some(parse_cert_hash(hash)?)
        } else {
            None
        };
        Ok(BenchServer {
            kind,
            process,
            cert_hash,
        })
    }

    /// The WebTransport transport to reach it with, when started with `webtransport`.
    pub fn webtransport(&self) -> Option<Transport> {
        self.cert_hash
            .map(|cert_hash| Transport::WebTransport { cert_hash })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// Its process id (`taskset` execs the server, so this is the server itself).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Its CPU time so far, in nanoseconds.
    pub fn cpu_ns(&self) -> u64 {
        cpu_ns(self.pid()).unwrap_or(0)
    }

    /// Its resident memory now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid()).unwrap_or(0)
    }
}
