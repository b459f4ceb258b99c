//! The WebSocket transport: the HTTP upgrade (handshake validation and the 101
//! answer), the stream configuration (small buffers) and a poll-based writer
//! that batches every queued frame into one flush.

use crate::body::{empty, ResponseBody};
use crate::errors::{ErrorCode, Refusal};
use crate::packet::{Frame, ProtocolVersion};
use crate::request::RequestInfo;
use crate::server::Server;
use crate::socket::Socket;
use crate::TransportType;
use futures_util::{Sink, Stream};
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

/// The WebSocket stream of an upgraded hyper connection.
pub(crate) type WsStream = WebSocketStream<WsTransport>;

/// The byte stream under a WebSocket. When the connection is a plain
/// `TcpStream` (served by [`crate::Server::serve`], `axum::serve`, or any
/// embedder using hyper-util's `TokioIo<TcpStream>`), the socket is taken back
/// from hyper: reads and writes then go straight to the socket instead of
/// through hyper's type-erased `Upgraded` (a boxed `dyn Io` behind a rewind
/// buffer, and a second `TokioIo` adapter), and the HTTP read buffer is freed
/// at once rather than kept until the first WebSocket read.
pub(crate) enum WsTransport {
    /// The raw TCP socket.
    Tcp(tokio::net::TcpStream),
    /// Any other I/O (TLS, Unix sockets...): hyper's upgraded stream.
    Upgraded(TokioIo<hyper::upgrade::Upgraded>),
}

impl tokio::io::AsyncRead for WsTransport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            WsTransport::Tcp(t) => Pin::new(t).poll_read(cx, buf),
            WsTransport::Upgraded(u) => Pin::new(u).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for WsTransport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            WsTransport::Tcp(t) => Pin::new(t).poll_write(cx, buf),
            WsTransport::Upgraded(u) => Pin::new(u).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            WsTransport::Tcp(t) => Pin::new(t).poll_write_vectored(cx, bufs),
            WsTransport::Upgraded(u) => Pin::new(u).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            WsTransport::Tcp(t) => t.is_write_vectored(),
            WsTransport::Upgraded(u) => u.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            // A TCP socket has no user-space buffer: nothing to flush.
            WsTransport::Tcp(_) => Poll::Ready(Ok(())),
            WsTransport::Upgraded(u) => Pin::new(u).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            WsTransport::Tcp(t) => Pin::new(t).poll_shutdown(cx),
            WsTransport::Upgraded(u) => Pin::new(u).poll_shutdown(cx),
        }
    }
}

/// Checks the WebSocket handshake headers (as the `ws` package does) and
/// returns the `Sec-WebSocket-Accept` value.
fn accept_key(headers: &HeaderMap) -> Result<String, &'static str> {
    let upgrade_ok = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    if !upgrade_ok {
        return Err("Invalid Upgrade header");
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|v| v.as_bytes().trim_ascii())
        .unwrap_or(b"");
    let decoded_len =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, key).map(|k| k.len());
    if decoded_len != Ok(16) {
        return Err("Missing or invalid Sec-WebSocket-Key header");
    }
    let version = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes());
    if version != Some(b"13") && version != Some(b"8") {
        return Err("Missing or invalid Sec-WebSocket-Version header");
    }
    Ok(tungstenite::handshake::derive_accept_key(key))
}

fn switching_protocols(accept: String, extra: Option<HeaderMap>) -> Response<ResponseBody> {
    let mut res = Response::new(empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    if let Some(x) = extra {
        h.extend(x);
    }
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    res
}

fn ws_config(socket_cfg: &crate::Config) -> WebSocketConfig {
    let limit = socket_cfg.max_http_buffer_size;
    WebSocketConfig::default()
        .read_buffer_size(socket_cfg.ws_read_buffer_size)
        .write_buffer_size(socket_cfg.ws_write_buffer_size)
        .max_write_buffer_size(usize::MAX)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
}

async fn into_ws(on_upgrade: hyper::upgrade::OnUpgrade, cfg: &crate::Config) -> Option<WsStream> {
    let upgraded = on_upgrade.await.ok()?;
    let config = Some(ws_config(cfg));
    Some(
        match upgraded.downcast::<TokioIo<tokio::net::TcpStream>>() {
            Ok(parts) if parts.read_buf.is_empty() => {
                // Dropping `read_buf` here frees hyper's HTTP read buffer.
                WebSocketStream::from_raw_socket(
                    WsTransport::Tcp(parts.io.into_inner()),
                    Role::Server,
                    config,
                )
                .await
            }
            Ok(parts) => {
                // The client sent frames right behind its upgrade request.
                WebSocketStream::from_partially_read(
                    WsTransport::Tcp(parts.io.into_inner()),
                    parts.read_buf.to_vec(),
                    Role::Server,
                    config,
                )
                .await
            }
            Err(upgraded) => {
                WebSocketStream::from_raw_socket(
                    WsTransport::Upgraded(TokioIo::new(upgraded)),
                    Role::Server,
                    config,
                )
                .await
            }
        },
    )
}

/// Closes a WebSocket with a close frame, without blocking the caller.
pub(crate) fn close_detached(mut ws: WsStream) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            futures_util::SinkExt::close(&mut ws),
        )
        .await;
    });
}

/// Headers of a 101 answer: CORS, then the user's hook.
fn upgrade_headers(
    server_cfg: &crate::Config,
    info: &RequestInfo,
    cors: Option<HeaderMap>,
    initial: bool,
) -> HeaderMap {
    let mut h = cors.unwrap_or_default();
    if let Some(hook) = &server_cfg.headers {
        hook(info, &mut h, initial);
    }
    h
}

/// A new session over WebSocket.
pub(crate) fn handshake(
    server: Server,
    info: RequestInfo,
    protocol: ProtocolVersion,
    mut parts: http::request::Parts,
    cors: Option<HeaderMap>,
) -> Response<ResponseBody> {
    let accept = match accept_key(&parts.headers) {
        Ok(a) => a,
        Err(m) => {
            return Refusal {
                code: ErrorCode::BadRequest,
                message: Some(m.into()),
            }
            .upgrade_response()
        }
    };
    let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        // Served without upgrade support: nothing can take the connection over.
        return Refusal::new(ErrorCode::BadRequest).upgrade_response();
    };
    let headers = upgrade_headers(&server.shared.config, &info, cors, true);
    tokio::spawn(async move {
        let Some(ws) = into_ws(on_upgrade, &server.shared.config).await else {
            return;
        };
        let socket = server.create_socket(info, protocol, TransportType::Websocket);
        // on_connect before the driver reads anything, so it precedes on_message.
        server.shared.handler.on_connect(socket.clone());
        // A fresh task for the session: this one (with the upgrade machinery in
        // its state) ends, so an idle connection only keeps the small driver task.
        crate::driver::spawn(socket, Some(WsIo::new(ws)));
    });
    switching_protocols(accept, Some(headers))
}

/// A WebSocket for an existing (polling) session: the upgrade probe.
pub(crate) fn upgrade_existing(
    socket: Arc<Socket>,
    mut parts: http::request::Parts,
    cors: Option<HeaderMap>,
) -> Response<ResponseBody> {
    let accept = match accept_key(&parts.headers) {
        Ok(a) => a,
        Err(m) => {
            return Refusal {
                code: ErrorCode::BadRequest,
                message: Some(m.into()),
            }
            .upgrade_response()
        }
    };
    let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return Refusal::new(ErrorCode::BadRequest).upgrade_response();
    };
    let headers = upgrade_headers(&socket.shared.config, socket.request(), cors, false);
    tokio::spawn(async move {
        let Some(ws) = into_ws(on_upgrade, &socket.shared.config).await else {
            return;
        };
        let refused = {
            let mut st = socket.lock();
            let ok = st.ready == crate::socket::Ready::Open
                && !st.upgrading
                && !st.upgraded
                && st.transport == TransportType::Polling
                && socket.shared.config.allow_upgrades;
            if ok {
                st.upgrading = true;
                st.upgrade_deadline =
                    Some(tokio::time::Instant::now() + socket.shared.config.upgrade_timeout);
                st.probe_offer = Some(Box::new(ws));
                None
            } else {
                Some(ws)
            }
        };
        match refused {
            // Already upgrading/upgraded or closed: the new WebSocket is closed.
            Some(ws) => close_detached(ws),
            None => socket.wake_task(),
        }
    });
    switching_protocols(accept, Some(headers))
}

/// What happened on a WebSocket.
pub(crate) enum WsEvent {
    /// A data frame.
    Message(WsMessage),
    /// Everything buffered was written and flushed; `n` Engine.IO packets.
    Flushed(u64),
    /// The peer closed the connection (close frame or EOF).
    Closed,
    /// A read or write error; `too_big` when a message exceeded the limit.
    Error { too_big: bool },
}

/// A WebSocket plus its pending outgoing frames. Writing is poll-based so the
/// owner can read, write and run timers concurrently in one task without
/// holding a write future across `select!` iterations.
pub(crate) struct WsIo {
    pub(crate) ws: WsStream,
    out: VecDeque<WsMessage>,
    /// Engine.IO packets in `out` / in the unflushed buffer.
    in_flight: u64,
    needs_flush: bool,
    /// A close frame was queued: nothing can follow it.
    close_queued: bool,
}

impl WsIo {
    pub(crate) fn new(ws: WsStream) -> Self {
        WsIo {
            ws,
            out: VecDeque::new(),
            in_flight: 0,
            needs_flush: false,
            close_queued: false,
        }
    }

    /// Forgets packets counted in flight (probe answers are not session packets).
    pub(crate) fn reset_in_flight(&mut self) {
        self.in_flight = 0;
    }

    /// Whether nothing is waiting to be written.
    pub(crate) fn idle(&self) -> bool {
        self.out.is_empty() && !self.needs_flush
    }

    /// Queues encoded packets for writing.
    pub(crate) fn push_packets(&mut self, packets: Vec<crate::Packet>, protocol: ProtocolVersion) {
        self.in_flight += packets.len() as u64;
        for p in packets {
            self.out.push_back(match p.encode(protocol) {
                Frame::Text(s) => WsMessage::Text(s.into()),
                Frame::Binary(b) => WsMessage::Binary(b),
            });
        }
    }

    /// Queues a raw frame (probe answers, close frames).
    pub(crate) fn push_frame(&mut self, m: WsMessage) {
        self.close_queued |= matches!(m, WsMessage::Close(_));
        self.out.push_back(m);
    }

    /// Whether a close frame was queued.
    pub(crate) fn close_queued(&self) -> bool {
        self.close_queued
    }

    /// Writes what is queued, then flushes once.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<u64, tungstenite::Error>> {
        while !self.out.is_empty() {
            match Pin::new(&mut self.ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            if let Some(m) = self.out.pop_front() {
                Pin::new(&mut self.ws).start_send(m)?;
                self.needs_flush = true;
            }
        }
        if self.needs_flush {
            match Pin::new(&mut self.ws).poll_flush(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            self.needs_flush = false;
            let n = std::mem::take(&mut self.in_flight);
            // Idle connections keep no frame buffer.
            self.out = VecDeque::new();
            return Poll::Ready(Ok(n));
        }
        Poll::Pending
    }

    /// Makes write progress and reads the next frame.
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<WsEvent> {
        match self.poll_write(cx) {
            Poll::Ready(Ok(n)) => return Poll::Ready(WsEvent::Flushed(n)),
            Poll::Ready(Err(e)) => return Poll::Ready(classify(e)),
            Poll::Pending => {}
        }
        loop {
            return match Pin::new(&mut self.ws).poll_next(cx) {
                Poll::Ready(Some(Ok(WsMessage::Close(_)))) | Poll::Ready(None) => {
                    Poll::Ready(WsEvent::Closed)
                }
                // Control frames are answered by tungstenite itself.
                Poll::Ready(Some(Ok(
                    WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_),
                ))) => continue,
                Poll::Ready(Some(Ok(m))) => Poll::Ready(WsEvent::Message(m)),
                Poll::Ready(Some(Err(e))) => Poll::Ready(classify(e)),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

/// Sorts a WebSocket error as the reference does: the `ws` package emits
/// `error` (→ "transport error") only for protocol violations such as a bad or
/// oversized frame; a connection that just ends — EOF without a close frame,
/// reset, broken pipe — only emits `close` (→ "transport close").
fn classify(e: tungstenite::Error) -> WsEvent {
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)
        | tungstenite::Error::Io(_) => WsEvent::Closed,
        tungstenite::Error::Capacity(_) => WsEvent::Error { too_big: true },
        _ => WsEvent::Error { too_big: false },
    }
}

/// The close frame sent when a message exceeds `maxHttpBufferSize` (as `ws`).
pub(crate) fn too_big_frame() -> WsMessage {
    WsMessage::Close(Some(tungstenite::protocol::CloseFrame {
        code: tungstenite::protocol::frame::coding::CloseCode::Size,
        reason: "Max payload size exceeded".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_header_validation() {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        // RFC 6455's example
        assert_eq!(accept_key(&h).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        h.insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_static("short"));
        assert!(accept_key(&h).is_err());
    }
}
