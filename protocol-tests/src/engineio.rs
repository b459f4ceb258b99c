//! Engine.IO conformance targets: the npm `engine.io` 6.6 reference (`js/engineio-reference.js`)
//! and ours (`engine-io/examples/conformance_server.rs`), started with the same settings
//! (127.0.0.1, a free port, pingInterval 300 ms, pingTimeout 200 ms, maxHttpBufferSize 1e6,
//! CORS origin `*`, path `/engine.io`, echo of every message), plus small wire helpers.

use std::time::Duration;

use crate::node_peer::NodePeer;
use crate::raw_http::{http, HttpRequest, HttpResponse};
use crate::rust_peer::RustPeer;

/// pingInterval of both conformance servers.
pub const PING_INTERVAL: Duration = Duration::from_millis(300);
/// pingTimeout of both conformance servers.
pub const PING_TIMEOUT: Duration = Duration::from_millis(200);
/// maxHttpBufferSize of both conformance servers.
pub const MAX_PAYLOAD: usize = 1_000_000;
/// The header that makes the allow-request hook refuse when started with
/// [`ServerOptions::deny_header`] (`--deny-header x-deny`).
pub const DENY_HEADER: &str = "x-deny";
/// The refusal message of the allow-request hook.
pub const DENY_MESSAGE: &str = "denied";

/// Which server a conformance test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The npm `engine.io` 6.6 server (`js/engineio-reference.js`).
    Reference,
    /// Our `engine-io` crate (`engine-io/examples/conformance_server.rs`).
    Ours,
}

/// Runs each test body against both servers: every `async fn name(t: Target) { ... }` becomes a
/// module `name` (seeing the caller's items) with the tests `name::reference` and `name::ours`.
///
/// ```ignore
/// protocol_tests::engineio_reference_and_ours! {
///     async fn handshake(t: Target) { /* ... */ }
/// }
/// ```
#[macro_export]
macro_rules! engineio_reference_and_ours {
    ($(async fn $name:ident($target:ident: Target) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($target: $crate::engineio::Target) $body

                #[tokio::test]
                async fn reference() {
                    run($crate::engineio::Target::Reference).await
                }

                #[tokio::test]
                async fn ours() {
                    run($crate::engineio::Target::Ours).await
                }
            }
        )*
    };
}

/// Optional server settings: the same flags on both targets (see the header of
/// `js/engineio-reference.js` and the doc comment of `engine-io/examples/conformance_server.rs`).
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `--allow-eio3`: accept Engine.IO v3 clients.
    pub allow_eio3: bool,
    /// `--cookie`: set the `io` cookie on the handshake.
    pub cookie: bool,
    /// `--deny-header x-deny`: the allow-request hook refuses handshakes carrying [`DENY_HEADER`].
    pub deny_header: bool,
    /// Any further flags, passed as they are (e.g. `["--upgrade-timeout", "300"]`).
    pub extra: Vec<String>,
}

impl ServerOptions {
    /// The command-line flags, starting with `--port 0`.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec!["--port".into(), "0".into()];
        if self.allow_eio3 {
            args.push("--allow-eio3".into());
        }
        if self.cookie {
            args.push("--cookie".into());
        }
        if self.deny_header {
            args.extend(["--deny-header".into(), DENY_HEADER.into()]);
        }
        args.extend(self.extra.iter().cloned());
        args
    }

    /// Options with only the given extra flags.
    pub fn with_flags(flags: &[&str]) -> ServerOptions {
        ServerOptions {
            extra: flags.iter().map(|f| (*f).to_owned()).collect(),
            ..ServerOptions::default()
        }
    }
}

#[derive(Debug)]
enum Peer {
    Node(NodePeer),
    Rust(RustPeer),
}

/// A running conformance server.
#[derive(Debug)]
pub struct EioServer {
    peer: Peer,
    /// Which implementation this is.
    pub target: Target,
}

impl EioServer {
    /// Starts the `target` server with default options.
    pub fn start(target: Target) -> EioServer {
        EioServer::start_with(target, &ServerOptions::default())
    }

    /// Starts the `target` server with `options`.
    pub fn start_with(target: Target, options: &ServerOptions) -> EioServer {
        let owned = options.args();
        let args: Vec<&str> = owned.iter().map(String::as_str).collect();
        let peer = match target {
            Target::Reference => Peer::Node(NodePeer::spawn("engineio-reference.js", &args, &[])),
            Target::Ours => Peer::Rust(RustPeer::spawn_example(
                "engine-io",
                "conformance_server",
                &args,
            )),
        };
        EioServer { peer, target }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        match &self.peer {
            Peer::Node(p) => p.port(),
            Peer::Rust(p) => p.port(),
        }
    }

    /// The next stdout line of the server process (after `listening`), within `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        match &self.peer {
            Peer::Node(p) => p.next_line(timeout),
            Peer::Rust(p) => p.next_line(timeout),
        }
    }

    /// Sends `request` on a new connection.
    pub async fn http(&self, request: HttpRequest) -> HttpResponse {
        http(self.port(), request).await
    }

    /// A v4 polling handshake; returns the sid and the open packet's JSON.
    ///
    /// # Panics
    /// When the response is not a well-formed open packet.
    pub async fn handshake(&self) -> (String, serde_json::Value) {
        let res = self.http(HttpRequest::get(&polling_url(4, None))).await;
        assert_eq!(res.status, 200, "handshake status; body {:?}", res.text());
        let (sid, open) = parse_open(&res.text());
        (sid, open)
    }
}

/// `/engine.io/?EIO=<v>&transport=polling[&sid=<sid>]`.
pub fn polling_url(eio: u8, sid: Option<&str>) -> String {
    match sid {
        Some(sid) => format!("/engine.io/?EIO={eio}&transport=polling&sid={sid}"),
        None => format!("/engine.io/?EIO={eio}&transport=polling"),
    }
}

/// `/engine.io/?EIO=<v>&transport=websocket[&sid=<sid>]`.
pub fn websocket_url(eio: u8, sid: Option<&str>) -> String {
    match sid {
        Some(sid) => format!("/engine.io/?EIO={eio}&transport=websocket&sid={sid}"),
        None => format!("/engine.io/?EIO={eio}&transport=websocket"),
    }
}

/// Parses an open packet `0{…}` (the first packet of a payload); returns the sid and the JSON.
///
/// # Panics
/// When `packet` is not an open packet with a string sid.
pub fn parse_open(packet: &str) -> (String, serde_json::Value) {
    let first = packet.split('\u{1e}').next().unwrap_or_default();
    let json = first
        .strip_prefix('0')
        .unwrap_or_else(|| panic!("not an open packet: {packet:?}"));
    let value: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("open packet JSON ({e}): {json:?}"));
    let sid = value["sid"]
        .as_str()
        .unwrap_or_else(|| panic!("open packet without sid: {json:?}"))
        .to_owned();
    (sid, value)
}

/// Splits a v4 polling payload into its packets (record separator 0x1E).
pub fn split_v4(payload: &str) -> Vec<&str> {
    payload.split('\u{1e}').collect()
}

/// Joins packets into a v4 polling payload.
pub fn join_v4(packets: &[&str]) -> String {
    packets.join("\u{1e}")
}

/// A polling session with a known sid (v4 or v3), for issuing requests on it.
#[derive(Debug, Clone)]
pub struct PollingSession {
    /// Server port.
    pub port: u16,
    /// The session id.
    pub sid: String,
    /// Protocol version (3 or 4).
    pub eio: u8,
    /// Extra query parameters appended to every request (e.g. `&b64=1`, `&j=0`).
    pub extra_query: String,
}

impl PollingSession {
    /// Opens a v4 polling session on `server`; returns it and the open packet's JSON.
    pub async fn open(server: &EioServer) -> (PollingSession, serde_json::Value) {
        let (sid, open) = server.handshake().await;
        (
            PollingSession {
                port: server.port(),
                sid,
                eio: 4,
                extra_query: String::new(),
            },
            open,
        )
    }

    /// The request target of this session.
    pub fn url(&self) -> String {
        format!(
            "{}{}",
            polling_url(self.eio, Some(&self.sid)),
            self.extra_query
        )
    }

    /// A GET on the session (waits for the poll to be answered, at most 5 s).
    pub async fn get(&self) -> HttpResponse {
        http(self.port, HttpRequest::get(&self.url())).await
    }

    /// A text POST on the session.
    pub async fn post(&self, body: impl Into<Vec<u8>>) -> HttpResponse {
        http(
            self.port,
            HttpRequest::post(&self.url(), body).header("Content-Type", "text/plain;charset=UTF-8"),
        )
        .await
    }

    /// v4: polls until `count` message packets (`4…` or `b…`) arrived, answering pings (`2`) with
    /// pongs and skipping noops; at most `timeout`.
    ///
    /// # Panics
    /// On a non-200 poll, a close packet, or the timeout.
    pub async fn recv_messages(&self, count: usize, timeout: Duration) -> Vec<String> {
        let collect = async {
            let mut messages = Vec::new();
            while messages.len() < count {
                let res = self.get().await;
                assert_eq!(res.status, 200, "poll failed: {:?}", res.text());
                for packet in split_v4(&res.text()) {
                    match packet.as_bytes().first() {
                        Some(b'4') | Some(b'b') => messages.push(packet.to_owned()),
                        Some(b'2') => {
                            let pong = self.post("3").await;
                            assert_eq!(pong.status, 200, "pong failed: {:?}", pong.text());
                        }
                        Some(b'6') => {}
                        _ => panic!("unexpected packet {packet:?} while waiting for messages"),
                    }
                }
            }
            messages
        };
        tokio::time::timeout(timeout, collect)
            .await
            .unwrap_or_else(|_| panic!("{count} messages did not arrive within {timeout:?}"))
    }
}

/// The next WebSocket frame that is not an Engine.IO v4 ping (`2`, answered with `3`), within
/// `timeout`; `None` on timeout.
pub async fn ws_recv_skip_pings(
    ws: &mut crate::ws::WsClient,
    timeout: Duration,
) -> Option<crate::ws::WsFrame> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.recv_timeout(left).await? {
            crate::ws::WsFrame::Text(t) if t == "2" => ws.send_text("3").await,
            other => return Some(other),
        }
    }
}

/// The exact JSON body of an Engine.IO HTTP error.
pub fn error_body(code: u8) -> String {
    let message = match code {
        0 => "Transport unknown",
        1 => "Session ID unknown",
        2 => "Bad handshake method",
        3 => "Bad request",
        4 => "Forbidden",
        5 => "Unsupported protocol version",
        _ => "?",
    };
    format!("{{\"code\":{code},\"message\":\"{message}\"}}")
}

/// v3 string payload: `<UTF-16 length>:<packet>` for each packet.
pub fn encode_v3_string(packets: &[&str]) -> String {
    packets
        .iter()
        .map(|p| format!("{}:{p}", p.encode_utf16().count()))
        .collect()
}

/// One entry of a v3 binary (XHR2) payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V3Binary {
    /// A text packet (`0` marker, UTF-8 bytes).
    Text(String),
    /// A binary packet (`1` marker): packet type byte, then data.
    Binary(u8, Vec<u8>),
}

/// v3 binary payload: `<0|1><length digits as bytes 0-9><0xFF><packet>` for each packet.
pub fn encode_v3_binary(packets: &[V3Binary]) -> Vec<u8> {
    let mut out = Vec::new();
    for packet in packets {
        let (marker, bytes) = match packet {
            V3Binary::Text(t) => (0u8, t.as_bytes().to_vec()),
            V3Binary::Binary(ty, data) => {
                let mut b = vec![*ty];
                b.extend_from_slice(data);
                (1u8, b)
            }
        };
        out.push(marker);
        out.extend(bytes.len().to_string().bytes().map(|d| d - b'0'));
        out.push(0xFF);
        out.extend_from_slice(&bytes);
    }
    out
}

/// Decodes a v3 binary (XHR2) payload; `None` when malformed.
pub fn decode_v3_binary(mut data: &[u8]) -> Option<Vec<V3Binary>> {
    let mut packets = Vec::new();
    while let Some((&marker, rest)) = data.split_first() {
        let end = rest.iter().position(|&b| b == 0xFF)?;
        let mut len = 0usize;
        for &digit in &rest[..end] {
            if digit > 9 {
                return None;
            }
            len = len.checked_mul(10)?.checked_add(usize::from(digit))?;
        }
        let body = rest.get(end + 1..end + 1 + len)?;
        packets.push(match marker {
            0 => V3Binary::Text(String::from_utf8(body.to_vec()).ok()?),
            1 => {
                let (&ty, data) = body.split_first()?;
                V3Binary::Binary(ty, data.to_vec())
            }
            _ => return None,
        });
        data = &rest[end + 1 + len..];
    }
    Some(packets)
}

/// Decodes a v3 string payload into packets; `None` when malformed.
pub fn decode_v3_string(payload: &str) -> Option<Vec<String>> {
    let units: Vec<u16> = payload.encode_utf16().collect();
    let mut packets = Vec::new();
    let mut i = 0;
    while i < units.len() {
        let colon = units[i..].iter().position(|&u| u == u16::from(b':'))? + i;
        let len: usize = String::from_utf16(&units[i..colon]).ok()?.parse().ok()?;
        let body = units.get(colon + 1..colon + 1 + len)?;
        packets.push(String::from_utf16(body).ok()?);
        i = colon + 1 + len;
    }
    Some(packets)
}
