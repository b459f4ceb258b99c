//! The WebSocket I/O under a session: the byte stream ([`WsTransport`]), the
//! stream configuration (small buffers), and [`WsIo`], a poll-based writer
//! that batches every queued frame into one flush and sorts read errors into
//! the RFC 6455 close codes.
//!
//! Data frames are framed here, not by tungstenite: a server frame is never
//! masked, so a packet's frame is a 2-10 byte header and the packet's bytes,
//! written straight from the packet into a per-thread buffer and on to the
//! socket ([`WsWriter`]). tungstenite reads, and writes its control frames
//! (pongs, close) through the same [`WsWriter`], which keeps every byte in
//! the order it was handed over.

use crate::packet::ProtocolVersion;
use futures_util::{Sink, Stream};
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

mod writer;
pub(crate) use writer::WsWriter;

/// The WebSocket stream of an upgraded hyper connection.
pub(crate) type WsStream = WebSocketStream<WsWriter>;

/// The byte stream under a WebSocket. When the connection is a plain
/// `TcpStream` (served by [`crate::Server::serve`], `axum::serve`, or any
/// embedder using hyper-util's `TokioIo<TcpStream>`), the socket is taken back
/// from hyper: reads and writes then go straight to the socket instead of
/// through hyper's type-erased `Upgraded` (a boxed `dyn Io` behind a rewind
/// buffer, and a second `TokioIo` adapter), and the HTTP read buffer is freed
/// at once rather than kept until the first WebSocket read.
///
/// Reads go through a per-thread scratch buffer ([`SCRATCH_LEN`]): the socket
/// is read in large chunks while bytes are available, and only what the frame
/// decoder has not taken yet is kept per connection (`ahead`), released as soon
/// as it is consumed. So tungstenite's own read buffer can be tiny (it is held
/// for the connection's whole life) without more read syscalls: an idle
/// connection holds no read-ahead bytes at all.
pub(crate) struct WsTransport {
    io: RawIo,
    /// Bytes read from the socket that the decoder has not asked for yet
    /// (boxed: rare, and the field sits in every session's task).
    ahead: Option<Box<bytes::Bytes>>,
}

/// The I/O under a [`WsTransport`].
enum RawIo {
    /// The raw TCP socket.
    Tcp(tokio::net::TcpStream),
    /// Any other I/O (TLS, Unix sockets...): hyper's upgraded stream.
    Upgraded(TokioIo<hyper::upgrade::Upgraded>),
    /// A cluster tunnel: the client's bytes relayed by the node its
    /// connection reached (see [`crate::OwnerUpgrade::Tunnel`]).
    Duplex(tokio::io::DuplexStream),
}

/// The most one socket read takes (through the per-thread scratch buffer).
const SCRATCH_LEN: usize = 16 * 1024;

thread_local! {
    /// Shared by every connection polled on this thread; a read only holds
    /// it for the synchronous span of one `poll_read`.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; SCRATCH_LEN].into_boxed_slice());
}

impl WsTransport {
    /// A cluster tunnel's end (see [`crate::OwnerUpgrade::Tunnel`]).
    pub(crate) fn duplex(io: tokio::io::DuplexStream) -> Self {
        WsTransport::new(RawIo::Duplex(io), &[])
    }

    fn new(io: RawIo, ahead: &[u8]) -> Self {
        let ahead = (!ahead.is_empty()).then(|| Box::new(bytes::Bytes::copy_from_slice(ahead)));
        WsTransport { io, ahead }
    }

    fn poll_read_io(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match &mut self.io {
            RawIo::Tcp(t) => tokio::io::AsyncRead::poll_read(Pin::new(t), cx, buf),
            RawIo::Upgraded(u) => tokio::io::AsyncRead::poll_read(Pin::new(u), cx, buf),
            RawIo::Duplex(d) => tokio::io::AsyncRead::poll_read(Pin::new(d), cx, buf),
        }
    }
}

impl tokio::io::AsyncRead for WsTransport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if let Some(ahead) = this.ahead.as_deref_mut() {
            let n = ahead.len().min(buf.remaining());
            buf.put_slice(&ahead[..n]);
            if n == ahead.len() {
                // Release the allocation, not just the view.
                this.ahead = None;
            } else {
                bytes::Buf::advance(ahead, n);
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= SCRATCH_LEN {
            return this.poll_read_io(cx, buf);
        }
        SCRATCH.with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                // Not reachable (no read re-enters another), but safe anyway.
                return this.poll_read_io(cx, buf);
            };
            let mut tmp = tokio::io::ReadBuf::new(&mut scratch[..]);
            match this.poll_read_io(cx, &mut tmp) {
                Poll::Ready(Ok(())) => {
                    let got = tmp.filled();
                    let n = got.len().min(buf.remaining());
                    buf.put_slice(&got[..n]);
                    if n < got.len() {
                        this.ahead = Some(Box::new(bytes::Bytes::copy_from_slice(&got[n..])));
                    }
                    Poll::Ready(Ok(()))
                }
                other => other,
            }
        })
    }
}

impl tokio::io::AsyncWrite for WsTransport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().io {
            RawIo::Tcp(t) => Pin::new(t).poll_write(cx, buf),
            RawIo::Upgraded(u) => Pin::new(u).poll_write(cx, buf),
            RawIo::Duplex(d) => Pin::new(d).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().io {
            RawIo::Tcp(t) => Pin::new(t).poll_write_vectored(cx, bufs),
            RawIo::Upgraded(u) => Pin::new(u).poll_write_vectored(cx, bufs),
            RawIo::Duplex(d) => Pin::new(d).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            RawIo::Tcp(t) => t.is_write_vectored(),
            RawIo::Upgraded(u) => u.is_write_vectored(),
            RawIo::Duplex(d) => d.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            // A TCP socket has no user-space buffer: nothing to flush.
            RawIo::Tcp(_) => Poll::Ready(Ok(())),
            RawIo::Upgraded(u) => Pin::new(u).poll_flush(cx),
            RawIo::Duplex(d) => Pin::new(d).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            RawIo::Tcp(t) => Pin::new(t).poll_shutdown(cx),
            RawIo::Upgraded(u) => Pin::new(u).poll_shutdown(cx),
            RawIo::Duplex(d) => Pin::new(d).poll_shutdown(cx),
        }
    }
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

pub(crate) async fn into_ws(
    on_upgrade: hyper::upgrade::OnUpgrade,
    cfg: &crate::Config,
) -> Option<WsStream> {
    let io = into_transport(on_upgrade).await?;
    Some(ws_over(io, cfg).await)
}

/// The byte stream of an upgraded connection. What hyper read beyond the
/// upgrade request (frames the client sent right behind it) is kept inside
/// the transport, which reads it first.
pub(crate) async fn into_transport(on_upgrade: hyper::upgrade::OnUpgrade) -> Option<WsTransport> {
    let upgraded = on_upgrade.await.ok()?;
    let transport = match upgraded.downcast::<TokioIo<tokio::net::TcpStream>>() {
        // Dropping `read_buf` frees hyper's HTTP read buffer.
        Ok(parts) => WsTransport::new(RawIo::Tcp(parts.io.into_inner()), &parts.read_buf),
        Err(upgraded) => WsTransport::new(RawIo::Upgraded(TokioIo::new(upgraded)), &[]),
    };
    Some(transport)
}

/// The server side of a WebSocket over `io`.
pub(crate) async fn ws_over(io: WsTransport, cfg: &crate::Config) -> WsStream {
    WebSocketStream::from_raw_socket(WsWriter::new(io), Role::Server, Some(ws_config(cfg))).await
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

/// What happened on a WebSocket.
pub(crate) enum WsEvent {
    /// A data frame.
    Message(WsMessage),
    /// Everything buffered was written and flushed; `n` Engine.IO packets.
    Flushed(u64),
    /// The peer closed the connection (close frame or EOF). With a close
    /// frame, tungstenite's echo of it is queued: flush before dropping.
    Closed,
    /// A protocol violation, answered with this close frame (RFC 6455 §7.4.1,
    /// as the `ws` package does): 1009 message too big, 1007 invalid UTF-8,
    /// 1002 anything else.
    Error(CloseFrame),
    /// Writing failed other than by the connection ending.
    WriteFailed,
    /// A packet the transport's own framing decoded (WebTransport), or why
    /// its data could not be decoded.
    #[cfg(feature = "webtransport")]
    Packet(Result<crate::Packet, crate::DecodeError>),
}

/// A WebSocket plus its pending outgoing packets. Writing is poll-based so
/// the owner can read, write and run timers concurrently in one task without
/// holding a write future across `select!` iterations.
pub(crate) struct WsIo {
    pub(crate) ws: WsStream,
    /// Packets to write: framed by the next write, straight into one socket
    /// write ([`WsWriter::write_packets`]).
    packets: Vec<crate::Packet>,
    protocol: ProtocolVersion,
    /// A close frame to write after them (boxed: at most once per connection).
    close: Option<Box<Option<CloseFrame>>>,
    /// Engine.IO packets in `packets` / in the unflushed bytes.
    in_flight: u64,
    needs_flush: bool,
    /// A close frame was queued: nothing can follow it.
    close_queued: bool,
}

/// Why writing failed.
#[derive(Clone, Copy)]
enum WriteFailure {
    /// The connection ended.
    Closed,
    /// Any other write error.
    Failed,
}

impl WriteFailure {
    fn of(e: tungstenite::Error) -> Self {
        match classify(e) {
            WsEvent::Closed => WriteFailure::Closed,
            _ => WriteFailure::Failed,
        }
    }
}

impl WsIo {
    pub(crate) fn new(ws: WsStream) -> Self {
        WsIo {
            ws,
            packets: Vec::new(),
            protocol: ProtocolVersion::V4,
            close: None,
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
        self.packets.is_empty() && self.close.is_none() && !self.needs_flush
    }

    /// Queues packets; the next [`poll_event`](Self::poll_event) frames them
    /// and writes and flushes them with one write. Nothing follows a close.
    pub(crate) fn push_packets(&mut self, packets: Vec<crate::Packet>, protocol: ProtocolVersion) {
        if self.close_queued {
            return;
        }
        self.in_flight += packets.len() as u64;
        self.protocol = protocol;
        if self.packets.is_empty() {
            self.packets = packets;
        } else {
            self.packets.extend(packets);
        }
    }

    /// Queues the close frame (`frame` for a protocol error), after the
    /// packets queued before it.
    pub(crate) fn push_close(&mut self, frame: Option<CloseFrame>) {
        if !self.close_queued {
            self.close_queued = true;
            self.close = Some(Box::new(frame));
        }
    }

    /// Whether a close frame was queued.
    pub(crate) fn close_queued(&self) -> bool {
        self.close_queued
    }

    /// Writes what is queued, then flushes once.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<u64, WriteFailure>> {
        if !self.packets.is_empty() {
            let packets = std::mem::take(&mut self.packets);
            self.needs_flush = true;
            // An I/O error means the connection ended (as tungstenite's are sorted).
            self.ws
                .get_mut()
                .write_packets(cx, &packets, self.protocol)
                .map_err(|_| WriteFailure::Closed)?;
        }
        if let Some(close) = self.close.take() {
            match Pin::new(&mut self.ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(WriteFailure::of(e))),
                Poll::Pending => {
                    self.close = Some(close);
                    return Poll::Pending;
                }
            }
            Pin::new(&mut self.ws)
                .start_send(WsMessage::Close(*close))
                .map_err(WriteFailure::of)?;
            self.needs_flush = true;
        }
        if self.needs_flush {
            match Pin::new(&mut self.ws).poll_flush(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(WriteFailure::of(e))),
                Poll::Pending => return Poll::Pending,
            }
            self.needs_flush = false;
            let n = std::mem::take(&mut self.in_flight);
            return Poll::Ready(Ok(n));
        }
        Poll::Pending
    }

    /// Makes write progress and, when `read`, reads the next frame (not
    /// reading is the backpressure of a full stream-API inbox).
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>, read: bool) -> Poll<WsEvent> {
        match self.poll_write(cx) {
            Poll::Ready(Ok(n)) => return Poll::Ready(WsEvent::Flushed(n)),
            // Writing failed: no close frame can follow.
            Poll::Ready(Err(WriteFailure::Closed)) => return Poll::Ready(WsEvent::Closed),
            Poll::Ready(Err(WriteFailure::Failed)) => return Poll::Ready(WsEvent::WriteFailed),
            Poll::Pending => {}
        }
        if !read {
            return Poll::Pending;
        }
        loop {
            return match Pin::new(&mut self.ws).poll_next(cx) {
                Poll::Ready(Some(Ok(WsMessage::Close(_)))) => {
                    // tungstenite queued the echo of the peer's close frame
                    // (the close handshake); it is written by a flush, and
                    // nothing may be sent after it.
                    self.close_queued = true;
                    self.needs_flush = true;
                    Poll::Ready(WsEvent::Closed)
                }
                Poll::Ready(None) => Poll::Ready(WsEvent::Closed),
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

/// Sorts a read error as the reference does: the `ws` package emits `error`
/// (→ "transport error", and a close frame with the RFC 6455 code) only for
/// protocol violations such as a bad or oversized frame; a connection that
/// just ends — EOF without a close frame, reset, broken pipe, a frame after
/// the close handshake — only emits `close` (→ "transport close").
fn classify(e: tungstenite::Error) -> WsEvent {
    use tungstenite::error::ProtocolError;
    let code = match e {
        tungstenite::Error::Capacity(_) => {
            return WsEvent::Error(CloseFrame {
                code: CloseCode::Size,
                reason: "Max payload size exceeded".into(),
            })
        }
        tungstenite::Error::Utf8(_) => CloseCode::Invalid,
        tungstenite::Error::Protocol(
            ProtocolError::NonZeroReservedBits
            | ProtocolError::UnmaskedFrameFromClient
            | ProtocolError::FragmentedControlFrame
            | ProtocolError::ControlFrameTooBig
            | ProtocolError::UnknownControlFrameType(_)
            | ProtocolError::UnknownDataFrameType(_)
            | ProtocolError::UnexpectedContinueFrame
            | ProtocolError::ExpectedFragment(_)
            | ProtocolError::InvalidOpcode(_)
            | ProtocolError::InvalidCloseSequence,
        ) => CloseCode::Protocol,
        _ => return WsEvent::Closed,
    };
    WsEvent::Error(CloseFrame {
        code,
        reason: "".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Small reads are served from one large socket read; what is left is
    /// kept only until it is read, and the bytes come out whole and in order.
    #[tokio::test]
    async fn read_ahead_is_released_once_consumed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            c.write_all(&sent).await.unwrap();
        });
        let (sock, _) = listener.accept().await.unwrap();
        let mut t = WsTransport::new(RawIo::Tcp(sock), b"head");
        let mut got = Vec::new();
        let mut buf = [0u8; 100];
        loop {
            let n = t.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        writer.await.unwrap();
        assert_eq!(&got[..4], b"head");
        assert_eq!(&got[4..], &data[..]);
        assert!(
            t.ahead.is_none(),
            "read-ahead kept after everything was read"
        );
    }
}
