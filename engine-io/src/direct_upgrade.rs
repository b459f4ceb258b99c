//! New WebSocket sessions on the connections [`Server::serve`] accepts, opened without hyper.
//!
//! The first request of a connection is read into the per-thread read buffer and parsed with
//! `httparse`. When it came whole in that read and asks for a new WebSocket session
//! ([`Server::opens_websocket_session`]), it goes through the routing every request takes
//! ([`Server::handle`]), and this task writes the answer: the 101 goes out in front of the open
//! packet (one socket write, as on hyper's path), then the session's task takes the socket over.
//! A refusal is written and the connection closed, as its `Connection: close` says (the
//! reference's `abortUpgrade`). Every other connection (polling, the upgrade of a polling
//! session, a request that did not come whole in one read, or one `httparse` does not take) is
//! served by hyper, from the bytes read so far.
//!
//! Why: for a WebSocket connect, hyper's part (three 8 KiB buffers, header maps, the upgrade's
//! channel and one more task) was about a fifth of the server's instructions and more of its
//! instruction-cache misses (`scripts/callgrind.sh churn` with `--cache-sim=yes`).

use crate::conn::Conn;
use crate::request::Direct;
use crate::request::ServiceAddr;
use crate::served_tcp::ServedTcp;
use crate::websocket::NewSession;
use crate::ws_io::{new_ws_over_tcp, with_read_scratch};
use crate::{Server, Socket};
use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Empty};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The most headers a first request answered here may have (a browser sends about 15; with
/// more, hyper answers it).
const MAX_HEADERS: usize = 48;

/// What the first read of a connection brought.
// One value per connection, moved once: boxing the request would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum First {
    /// A request for a new WebSocket session, and what came behind it.
    NewSession {
        req: Request<Empty<Bytes>>,
        ahead: Vec<u8>,
    },
    /// Anything else: hyper's, with the bytes read.
    Other(Bytes),
}

/// How long a connection may take to send a request's head, the first one (read here) and
/// every later one (hyper's `header_read_timeout`).
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What answering a connection's first request left to do.
pub(crate) enum Taken {
    /// Drive the new WebSocket session it opened.
    Session(Arc<Socket>, Conn),
    /// Serve it with hyper, from the bytes read so far (they are in the socket).
    Hyper(ServedTcp),
    /// Nothing: refused, closed, or silent for too long.
    Done,
}

/// Reads the first request of a connection [`Server::serve`] accepted from `peer`, and opens
/// the WebSocket session it asks for, or refuses it; anything else is left to hyper.
pub(crate) async fn take(server: Server, tcp: TcpStream, peer: SocketAddr) -> Taken {
    let first =
        match tokio::time::timeout(HEADER_READ_TIMEOUT, read_first(&server, &tcp, peer)).await {
            Ok(Ok(first)) => first,
            // Closed, failed or silent for too long before a request: nothing to answer (hyper
            // closes such a connection the same way).
            _ => return Taken::Done,
        };
    match first {
        First::NewSession { req, ahead } => open(server, tcp, req, ahead).await,
        First::Other(read) => Taken::Hyper(ServedTcp::new(tcp, read)),
    }
}

/// Reads what the client sent first (the socket's first readable bytes, up to the read buffer's
/// size) and sorts it.
async fn read_first(server: &Server, tcp: &TcpStream, peer: SocketAddr) -> io::Result<First> {
    loop {
        tcp.readable().await?;
        let read = with_read_scratch(|buf| match tcp.try_read(buf) {
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => Ok(Some(sort(server, &buf[..n], peer))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        });
        match read {
            Some(Ok(Some(first))) => return Ok(first),
            // Woken without data after all: wait again.
            Some(Ok(None)) => continue,
            Some(Err(e)) => return Err(e),
            None => return Ok(First::Other(Bytes::new())),
        }
    }
}

/// A first read of `bytes`: a whole request for a new WebSocket session, or hyper's.
fn sort(server: &Server, bytes: &[u8], peer: SocketAddr) -> First {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    if let Ok(httparse::Status::Complete(len)) = parsed.parse(bytes) {
        // Only an upgrade can be one (the rest of the rules are the server's): a polling
        // request goes to hyper without being taken apart twice.
        let upgrade = parsed.method == Some("GET")
            && parsed
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("upgrade"));
        if upgrade {
            let head = Bytes::copy_from_slice(&bytes[..len]);
            if let Some(mut req) = to_request(&parsed, bytes, &head) {
                if server.opens_websocket_session(&req) {
                    req.extensions_mut().insert(ServiceAddr(peer));
                    req.extensions_mut().insert(Direct);
                    let ahead = bytes.get(len..).unwrap_or_default().to_vec();
                    return First::NewSession { req, ahead };
                }
            }
        }
    }
    First::Other(Bytes::copy_from_slice(bytes))
}

/// The `http` request of a head parsed out of `read`, whose copy `head` its URI and header
/// values are slices of (one copy in all; routing copies what a session keeps out of them).
/// `None` where `http` does not take a part of it (hyper then answers the request as it does
/// today).
fn to_request(
    parsed: &httparse::Request<'_, '_>,
    read: &[u8],
    head: &Bytes,
) -> Option<Request<Empty<Bytes>>> {
    let mut req = Request::new(Empty::new());
    *req.method_mut() = Method::from_bytes(parsed.method?.as_bytes()).ok()?;
    *req.uri_mut() = Uri::from_maybe_shared(slice_of(head, read, parsed.path?.as_bytes())).ok()?;
    *req.version_mut() = match parsed.version? {
        1 => Version::HTTP_11,
        _ => Version::HTTP_10,
    };
    let headers = req.headers_mut();
    headers.reserve(parsed.headers.len());
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_maybe_shared(slice_of(head, read, h.value)).ok()?;
        headers.append(name, value);
    }
    Some(req)
}

/// `part` of the bytes `read` (a slice the parser took out of them), from their copy `head`.
fn slice_of(head: &Bytes, read: &[u8], part: &[u8]) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(read.as_ptr() as usize);
    match start.checked_add(part.len()) {
        Some(end) if end <= head.len() => head.slice(start..end),
        // Not reachable (the parser's slices lie within the head), but never out of bounds.
        _ => Bytes::copy_from_slice(part),
    }
}

/// Routes a request for a new WebSocket session: the session over `tcp` (its 101 goes out with
/// the open packet), or [`Taken::Done`] once the refusal is written.
async fn open(
    server: Server,
    mut tcp: TcpStream,
    req: Request<Empty<Bytes>>,
    ahead: Vec<u8>,
) -> Taken {
    let mut res = server.handle(req).await;
    if res.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(session) = res.extensions_mut().remove::<NewSession>() {
            let ws = new_ws_over_tcp(tcp, &ahead, head(&res, None), &server.shared.config).await;
            let (socket, conn) = session.open(ws);
            return Taken::Session(socket, conn);
        }
    }
    let body = match res.body_mut().collect().await {
        Ok(body) => body.to_bytes(),
        Err(never) => match never {},
    };
    let mut answer = head(&res, Some(body.len()));
    answer.extend_from_slice(&body);
    // A refusal of an upgrade closes the connection (`Connection: close`).
    if tcp.write_all(&answer).await.is_ok() {
        let _ = tcp.shutdown().await;
    }
    Taken::Done
}

/// The status line and headers of `res`, as hyper writes them (but for its `date` header,
/// which the reference does not send on upgrades either); `body_len`: its `content-length`.
fn head<B>(res: &Response<B>, body_len: Option<usize>) -> Vec<u8> {
    let headers: usize = res
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    // The status line, the headers, a content-length and the blank line, and room for what
    // follows in the same socket write: the open packet's frame behind a 101 (about 110
    // bytes), a refusal's body (under 60).
    let mut out = Vec::with_capacity(48 + headers + 40 + 192);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(res.status().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(
        res.status()
            .canonical_reason()
            .unwrap_or("Unknown")
            .as_bytes(),
    );
    out.extend_from_slice(b"\r\n");
    for (name, value) in res.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(n) = body_len.filter(|_| !res.headers().contains_key(header::CONTENT_LENGTH)) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}
