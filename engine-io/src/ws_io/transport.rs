//! The byte stream under a WebSocket ([`WsTransport`]) and how an upgraded
//! connection becomes one.

use bytes::BytesMut;
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The byte stream under a WebSocket. When the connection is a plain
/// `TcpStream` (served by [`crate::Server::serve`], through
/// [`crate::served_tcp::ServedTcp`], or by `axum::serve` or any embedder using
/// hyper-util's `TokioIo<TcpStream>`), the socket is taken back
/// from hyper: reads and writes then go straight to the socket instead of
/// through hyper's type-erased `Upgraded` (a boxed `dyn Io` behind a rewind
/// buffer, and a second `TokioIo` adapter), and the HTTP read buffer is freed
/// at once rather than kept until the first WebSocket read.
///
/// The frame reader ([`super::WsStream`]) reads it straight into its own buffer
/// ([`WsTransport::poll_read_buf`]). Read as a plain byte stream (a cluster
/// tunnel's relay), small reads go through a per-thread scratch buffer
/// ([`SCRATCH_LEN`]): the socket is read in large chunks while bytes are
/// available, and only what the reader has not taken yet is kept per
/// connection (`ahead`), released as soon as it is consumed.
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
pub(super) const SCRATCH_LEN: usize = 16 * 1024;

thread_local! {
    /// Shared by every connection polled on this thread; a read only holds
    /// it for the synchronous span of one `poll_read`.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; SCRATCH_LEN].into_boxed_slice());
}

/// Runs `f` on this thread's read buffer: `None` if it is in use (no caller
/// reads while holding it, so not reachable, but safe anyway).
pub(crate) fn with_read_scratch<R>(f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
    SCRATCH.with(|s| s.try_borrow_mut().ok().map(|mut s| f(&mut s)))
}

impl WsTransport {
    /// A plain TCP socket's stream; `ahead`: bytes read from it already, read first.
    pub(crate) fn tcp(io: tokio::net::TcpStream, ahead: &[u8]) -> Self {
        WsTransport::new(RawIo::Tcp(io), ahead)
    }

    /// A cluster tunnel's end (see [`crate::OwnerUpgrade::Tunnel`]).
    pub(crate) fn duplex(io: tokio::io::DuplexStream) -> Self {
        WsTransport::new(RawIo::Duplex(io), &[])
    }

    fn new(io: RawIo, ahead: &[u8]) -> Self {
        let ahead = (!ahead.is_empty()).then(|| Box::new(bytes::Bytes::copy_from_slice(ahead)));
        WsTransport { io, ahead }
    }

    /// What was read ahead of the first frame (for the frame reader).
    pub(super) fn take_ahead(&mut self) -> Option<Box<bytes::Bytes>> {
        self.ahead.take()
    }

    fn poll_read_io(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        tokio::io::AsyncRead::poll_read(Pin::new(&mut self.io), cx, buf)
    }

    /// Reads into `buf`'s spare capacity, straight from the socket (what was
    /// read ahead is taken by [`super::ws_over`] before the first read).
    pub(crate) fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<std::io::Result<usize>> {
        debug_assert!(self.ahead.is_none());
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, buf)
    }
}

impl tokio::io::AsyncRead for RawIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            RawIo::Tcp(t) => Pin::new(t).poll_read(cx, buf),
            RawIo::Upgraded(u) => Pin::new(u).poll_read(cx, buf),
            RawIo::Duplex(d) => Pin::new(d).poll_read(cx, buf),
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

/// The byte stream of an upgraded connection. What hyper read beyond the
/// upgrade request (frames the client sent right behind it) is kept inside
/// the transport, which reads it first; a 101 held back by
/// [`crate::Server::serve`] is written first.
pub(crate) async fn into_transport(on_upgrade: hyper::upgrade::OnUpgrade) -> Option<WsTransport> {
    let (mut io, held) = upgraded(on_upgrade).await?;
    if !held.is_empty() {
        tokio::io::AsyncWriteExt::write_all(&mut io, &held)
            .await
            .ok()?;
    }
    Some(io)
}

/// The transport of an upgraded connection, and the bytes of its 101 not
/// written yet (see [`crate::served_tcp::ServedTcp`]).
pub(super) async fn upgraded(
    on_upgrade: hyper::upgrade::OnUpgrade,
) -> Option<(WsTransport, Vec<u8>)> {
    let upgraded = on_upgrade.await.ok()?;
    // Dropping `read_buf` frees hyper's HTTP read buffer.
    let upgraded = match upgraded.downcast::<TokioIo<crate::served_tcp::ServedTcp>>() {
        Ok(parts) => {
            let (tcp, held, unread) = parts.io.into_inner().into_parts();
            let transport = if unread.is_empty() {
                WsTransport::new(RawIo::Tcp(tcp), &parts.read_buf)
            } else {
                // hyper read the request but not all that came with it.
                WsTransport::new(
                    RawIo::Tcp(tcp),
                    &[&parts.read_buf[..], &unread[..]].concat(),
                )
            };
            return Some((transport, held));
        }
        Err(upgraded) => upgraded,
    };
    let transport = match upgraded.downcast::<TokioIo<tokio::net::TcpStream>>() {
        Ok(parts) => WsTransport::new(RawIo::Tcp(parts.io.into_inner()), &parts.read_buf),
        Err(upgraded) => WsTransport::new(RawIo::Upgraded(TokioIo::new(upgraded)), &[]),
    };
    Some((transport, Vec::new()))
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
