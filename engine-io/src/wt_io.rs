//! The WebTransport I/O under a session: [`WtIo`], the session's one
//! bidirectional stream with a poll-based writer (every queued frame, then
//! one flush) and the frame decoder ([`crate::wt_codec`]) on the read side.
//! It reports the same [`WsEvent`]s as the WebSocket so the socket task
//! drives both alike.

use crate::ws_io::WsEvent;
use crate::wt_codec::{self, FrameDecoder};
use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::AsyncWrite;
use wtransport::{Connection, RecvStream, SendStream, VarInt};

/// The largest read at once: enough for big frames, small for idle sessions.
const MAX_READ: usize = 64 * 1024;

/// A WebTransport session's stream plus its pending outgoing bytes.
pub(crate) struct WtIo {
    conn: Connection,
    send: SendStream,
    recv: RecvStream,
    decoder: FrameDecoder,
    /// Received bytes not decoded yet (at most one frame's worth: the decoder
    /// refuses frames over the limit from their header).
    rbuf: BytesMut,
    /// Frame headers and payloads to write, in order.
    out: VecDeque<Bytes>,
    /// Engine.IO packets in `out` / not flushed yet.
    in_flight: u64,
    needs_flush: bool,
    /// The session is to end once `out` is written.
    close_queued: bool,
    /// The read side ended (EOF or error): reported once.
    read_done: bool,
}

impl WtIo {
    /// The stream `send` / `recv` of `conn`, with bytes already read from it
    /// (behind the first frame) in `rbuf`.
    pub(crate) fn new(
        conn: Connection,
        send: SendStream,
        recv: RecvStream,
        decoder: FrameDecoder,
        rbuf: BytesMut,
    ) -> Self {
        WtIo {
            conn,
            send,
            recv,
            decoder,
            rbuf,
            out: VecDeque::new(),
            in_flight: 0,
            needs_flush: false,
            close_queued: false,
            read_done: false,
        }
    }

    pub(crate) fn idle(&self) -> bool {
        self.out.is_empty() && !self.needs_flush
    }

    pub(crate) fn reset_in_flight(&mut self) {
        self.in_flight = 0;
    }

    pub(crate) fn close_queued(&self) -> bool {
        self.close_queued
    }

    pub(crate) fn push_close(&mut self) {
        self.close_queued = true;
    }

    /// Queues packets as frames. The payload `Bytes` are shared, not copied
    /// (a broadcast's binary data stays one allocation).
    pub(crate) fn push_packets(&mut self, packets: Vec<crate::Packet>) {
        self.in_flight += packets.len() as u64;
        for p in packets {
            let (body, binary) = wt_codec::payload(&p);
            let (h, n) = wt_codec::header(body.len(), binary);
            self.out.push_back(Bytes::copy_from_slice(&h[..n]));
            self.out.push_back(body);
        }
    }

    /// Ends the WebTransport session at once (the reference's `session.close()`).
    pub(crate) fn close_now(&self) {
        self.conn.close(VarInt::from_u32(0), b"");
    }

    /// Ends the stream and, once the peer acknowledged everything written
    /// (or after `wait`), the session: closing the connection at once could
    /// drop the last packets (a Socket.IO disconnect) still in flight.
    pub(crate) async fn close_after_acked(mut self: Box<Self>, wait: Duration) {
        // `finish` resolves once the peer acknowledged all data.
        let _ = tokio::time::timeout(wait, self.send.finish()).await;
        self.conn.close(VarInt::from_u32(0), b"");
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<u64>> {
        while let Some(front) = self.out.front_mut() {
            match Pin::new(&mut self.send).poll_write(cx, front) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => {
                    front.advance(n);
                    if front.is_empty() {
                        self.out.pop_front();
                    }
                    self.needs_flush = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.needs_flush {
            // QUIC streams have no user-space buffer to flush: written is sent.
            self.needs_flush = false;
            self.out = VecDeque::new();
            return Poll::Ready(Ok(std::mem::take(&mut self.in_flight)));
        }
        Poll::Pending
    }

    /// Makes write progress and, when `read`, reads the next packet.
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>, read: bool) -> Poll<WsEvent> {
        match self.poll_write(cx) {
            Poll::Ready(Ok(n)) => return Poll::Ready(WsEvent::Flushed(n)),
            // The peer stopped the stream or the session ended.
            Poll::Ready(Err(_)) => return Poll::Ready(WsEvent::Closed),
            Poll::Pending => {}
        }
        if !read || self.read_done {
            return Poll::Pending;
        }
        loop {
            match self.decoder.decode(&mut self.rbuf) {
                Ok(Some(p)) => return Poll::Ready(WsEvent::Packet(Ok(p))),
                Err(e) => {
                    self.read_done = true;
                    return Poll::Ready(WsEvent::Packet(Err(e)));
                }
                Ok(None) => {}
            }
            self.rbuf
                .reserve(self.decoder.wanted(self.rbuf.len()).min(MAX_READ));
            match tokio_util::io::poll_read_buf(Pin::new(&mut self.recv), cx, &mut self.rbuf) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    self.read_done = true;
                    return Poll::Ready(WsEvent::Closed);
                }
                Poll::Ready(Ok(_)) => continue,
                Poll::Pending => {
                    if self.rbuf.is_empty() {
                        // Idle sessions keep no read buffer.
                        self.rbuf = BytesMut::new();
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

/// Reads the first frame of a new stream within `timeout` (the reference's
/// upgradeTimeout for the handshake): the open packet, or `{"sid":…}`.
pub(crate) async fn read_first(
    recv: &mut RecvStream,
    decoder: &mut FrameDecoder,
    timeout: Duration,
) -> Option<(crate::Packet, BytesMut)> {
    let mut buf = BytesMut::new();
    let read = async {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(p)) => return Some(p),
                Err(_) => return None,
                Ok(None) => {}
            }
            buf.reserve(decoder.wanted(buf.len()).min(MAX_READ));
            match tokio_util::io::read_buf(recv, &mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    };
    let p = tokio::time::timeout(timeout, read).await.ok()??;
    Some((p, buf))
}
