//! [`ServedTcp`]: the TCP socket a connection of [`Server::serve`](crate::Server::serve)
//! runs on, which holds hyper's `101 Switching Protocols` back so that a new WebSocket session
//! writes it with its open packet (one socket write, not two), and gives hyper first what was
//! read from it before hyper took it ([`crate::direct_upgrade`]).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connection [`Server::serve`](crate::Server::serve) serves: the TCP socket, with hyper's
/// `101 Switching Protocols` held back instead of written. hyper writes the
/// 101 on its own and then hands the connection over; the WebSocket takes the
/// held bytes with the socket ([`crate::ws_io::into_transport`]) and writes
/// them in front of its first frames, so a new WebSocket session costs one
/// socket write for its 101 and its open packet, not two. A WebSocket that
/// sends nothing first (the probe of an upgrade) writes them at once.
pub(crate) struct ServedTcp {
    tcp: TcpStream,
    /// The 101 hyper wrote, not on the wire yet (empty but for that: no
    /// allocation on a connection that is not upgraded).
    held: Vec<u8>,
    /// Read from the socket before hyper took it, and not read by hyper yet.
    ahead: bytes::Bytes,
}

/// How every 101 hyper writes begins (the status line it formats).
const SWITCHING: &[u8] = b"HTTP/1.1 101 ";

impl ServedTcp {
    /// `tcp`, of which `ahead` was read already (what hyper reads first).
    pub(crate) fn new(tcp: TcpStream, ahead: bytes::Bytes) -> Self {
        ServedTcp {
            tcp,
            held: Vec::new(),
            ahead,
        }
    }

    /// The socket, the bytes held back (to be written before anything else) and what is left
    /// of the bytes read ahead (to be read before anything else).
    pub(crate) fn into_parts(self) -> (TcpStream, Vec<u8>, bytes::Bytes) {
        (self.tcp, self.held, self.ahead)
    }

    /// Writes what is held; ready once nothing is.
    fn poll_release(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.held.is_empty() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.held))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.held.drain(..n);
        }
        self.held = Vec::new();
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ServedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.ahead.is_empty() {
            let n = this.ahead.len().min(buf.remaining());
            buf.put_slice(&this.ahead.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for ServedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.held.is_empty() && buf.starts_with(SWITCHING) {
            this.held.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        // Nothing follows a 101 on hyper's side; were anything to, it would
        // go after the held bytes.
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|b| !b.is_empty());
        if this.held.is_empty() && first.is_some_and(|b| b.starts_with(SWITCHING)) {
            for b in bufs {
                this.held.extend_from_slice(b);
            }
            return Poll::Ready(Ok(this.held.len()));
        }
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A TCP socket has no user-space buffer, and the held 101 waits for
        // the WebSocket's first write: hyper's flush after the 101 is done.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_release(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A client's socket and the server's end of it, as `Server::serve` wraps it.
    async fn connected() -> (TcpStream, ServedTcp) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        (client, ServedTcp::new(tcp, bytes::Bytes::new()))
    }

    /// hyper's 101 (written and flushed) stays off the wire until it is
    /// taken with the socket; any other write goes straight out.
    #[tokio::test]
    async fn a_101_is_held_and_anything_else_is_written() {
        let (mut client, mut served) = connected().await;
        served.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        let mut got = [0u8; 19];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"HTTP/1.1 200 OK\r\n\r\n");

        let switching = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        served.write_all(switching).await.unwrap();
        served.flush().await.unwrap();
        // Written: a round trip through the socket shows nothing came.
        served.tcp.write_all(b"!").await.unwrap();
        let mut one = [0u8; 1];
        client.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"!", "the 101 went out");
        let (_tcp, held, _) = served.into_parts();
        assert_eq!(held, switching);
    }

    /// A shutdown (hyper closing the connection) writes what was held first.
    #[tokio::test]
    async fn a_shutdown_writes_the_held_101() {
        let (mut client, mut served) = connected().await;
        let switching = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        served.write_all(switching).await.unwrap();
        served.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, switching);
    }
}
