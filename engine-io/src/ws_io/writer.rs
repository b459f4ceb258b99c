//! [`WsWriter`]: the write side of a server WebSocket, and its frames: data
//! frames of Engine.IO packets and the control frames (pong, close). A server
//! frame is never masked, so a frame is a 2-10 byte header and the bytes.

use super::WsTransport;
use crate::packet::{Data, ProtocolVersion};
use crate::packet_queue::PacketQueue;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// A [`WsTransport`] whose writes are always taken whole. What the socket
/// does not take at once is kept (`pending`) and written before anything
/// handed over later, so data frames ([`WsWriter::write_packets`]) and control
/// frames ([`WsWriter::write_control`]) reach the wire in order, never a frame
/// cut in two. Bounded by what is handed over: the session's queue bounds
/// the batches, and a batch is only taken once the previous one is flushed.
pub(crate) struct WsWriter {
    io: WsTransport,
    /// Accepted bytes the socket has not taken yet (no allocation when empty,
    /// as on an idle connection).
    pending: Vec<u8>,
}

/// A per-thread buffer that frames are encoded into before one socket write
/// (no allocation per batch); kept across batches unless a large one grew it
/// beyond this.
const OUT_SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    static OUT_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl WsWriter {
    pub(super) fn new(io: WsTransport) -> Self {
        WsWriter {
            io,
            pending: Vec::new(),
        }
    }

    /// Keeps `bytes` (a 101 not written yet) to go out first, with what is
    /// written next.
    pub(super) fn keep(&mut self, bytes: Vec<u8>) {
        if self.pending.is_empty() {
            self.pending = bytes;
        } else {
            self.pending.splice(..0, bytes);
        }
    }

    /// Writes what is pending; ready once nothing is.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(tokio::io::AsyncWrite::poll_write(
                Pin::new(&mut self.io),
                cx,
                &self.pending
            ))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        // Release the allocation, not just the bytes.
        self.pending = Vec::new();
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` whole: written now as far as the socket takes it, the rest
    /// kept, after what was kept before.
    fn accept(&mut self, cx: &mut Context<'_>, mut buf: &[u8]) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            // Behind what is kept, in the same socket write (a held 101 and
            // the open packet go out together).
            self.pending.extend_from_slice(buf);
            return match self.poll_pending(cx) {
                Poll::Ready(Err(e)) => Err(e),
                _ => Ok(()),
            };
        }
        match tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.io), cx, buf) {
            Poll::Ready(Ok(0)) if !buf.is_empty() => {
                return Err(std::io::ErrorKind::WriteZero.into())
            }
            Poll::Ready(Ok(n)) => buf = &buf[n..],
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => {}
        }
        self.pending.extend_from_slice(buf);
        Ok(())
    }

    /// Writes the WebSocket frames of `packets` (one per packet, as
    /// [`crate::Packet::encode`] gives them) with one socket write.
    pub(super) fn write_packets(
        &mut self,
        cx: &mut Context<'_>,
        packets: &PacketQueue,
        protocol: ProtocolVersion,
    ) -> std::io::Result<()> {
        let put_all = |out: &mut Vec<u8>| {
            for chunk in packets.chunks() {
                put_frames(out, chunk, protocol);
            }
        };
        OUT_SCRATCH.with(|scratch| {
            let Ok(mut out) = scratch.try_borrow_mut() else {
                // Not reachable (no write re-enters another), but safe anyway.
                let mut out = Vec::new();
                put_all(&mut out);
                return self.accept(cx, &out);
            };
            out.clear();
            put_all(&mut out);
            let result = self.accept(cx, &out);
            if out.capacity() > OUT_SCRATCH_KEEP {
                *out = Vec::new();
            }
            result
        })
    }
}

/// The close frame's opcode (RFC 6455 §5.5.1).
pub(super) const OP_CLOSE: u8 = 0x8;
/// The pong frame's opcode (RFC 6455 §5.5.3).
pub(super) const OP_PONG: u8 = 0xA;

impl WsWriter {
    /// How many accepted bytes the socket has not taken yet.
    pub(super) fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The stream under the writer, for reading.
    pub(super) fn transport(&mut self) -> &mut WsTransport {
        &mut self.io
    }

    /// Writes one final control frame (`payload` at most 125 bytes: a ping's
    /// or a close frame's), after everything handed over before.
    pub(super) fn write_control(
        &mut self,
        cx: &mut Context<'_>,
        opcode: u8,
        payload: &[u8],
    ) -> std::io::Result<()> {
        let mut frame = [0u8; 2 + crate::ws_frame::MAX_CONTROL_PAYLOAD];
        let len = payload.len().min(crate::ws_frame::MAX_CONTROL_PAYLOAD);
        frame[0] = 0x80 | opcode;
        frame[1] = len as u8;
        frame[2..2 + len].copy_from_slice(&payload[..len]);
        self.accept(cx, &frame[..2 + len])
    }
}

/// Appends the frames of `packets` to `out`, in one pass (`out`, the per-thread scratch, keeps
/// its capacity across batches: a pass to size it first would only read every packet twice).
fn put_frames(out: &mut Vec<u8>, packets: &[crate::Packet], protocol: ProtocolVersion) {
    for p in packets {
        put_frame(out, p, protocol);
    }
}

/// Appends the WebSocket frame of one packet: final, unmasked (RFC 6455 §5.1:
/// a server never masks), text as `<type><text>`, binary raw (v4) or after
/// the type byte (v3); the same bytes as tungstenite writes for the frame of
/// [`crate::Packet::encode`].
fn put_frame(out: &mut Vec<u8>, p: &crate::Packet, protocol: ProtocolVersion) {
    const FIN_TEXT: u8 = 0x81;
    const FIN_BINARY: u8 = 0x82;
    let kind = p.packet_type.as_u8();
    match &p.data {
        Data::Binary(b) => {
            let v3 = protocol == ProtocolVersion::V3;
            put_header(out, FIN_BINARY, b.len() + usize::from(v3));
            if v3 {
                out.push(kind);
            }
            out.extend_from_slice(b);
        }
        Data::Text(t) => {
            let len = 1 + t.len();
            if len < 126 {
                // A short frame (most broadcasts): its header and type byte in one step.
                out.extend_from_slice(&[FIN_TEXT, len as u8, b'0' + kind]);
            } else {
                put_header(out, FIN_TEXT, len);
                out.push(b'0' + kind);
            }
            out.extend_from_slice(t.as_bytes());
        }
        Data::Empty => {
            put_header(out, FIN_TEXT, 1);
            out.push(b'0' + kind);
        }
    }
}

/// A frame header: the first byte, then the payload length in 7 bits, or 126
/// and 16 bits, or 127 and 64 bits (RFC 6455 §5.2).
fn put_header(out: &mut Vec<u8>, first: u8, len: usize) {
    if len < 126 {
        out.extend_from_slice(&[first, len as u8]);
    } else if let Ok(len) = u16::try_from(len) {
        out.extend_from_slice(&[first, 126]);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.extend_from_slice(&[first, 127]);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

impl tokio::io::AsyncRead for WsWriter {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for WsWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.get_mut().accept(cx, buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Our frames are byte for byte the ones tungstenite writes for
    /// [`crate::Packet::encode`], in every length class (7, 16 and 64 bits),
    /// text and binary, in both protocol versions.
    #[test]
    fn frames_match_tungstenites() {
        use crate::packet::{Frame, Packet, PacketType};
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as OpData, OpCode};
        use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
        let theirs = |p: &Packet, v: ProtocolVersion| {
            let (data, op) = match p.encode(v) {
                Frame::Text(s) => (bytes::Bytes::from(s), OpData::Text),
                Frame::Binary(b) => (b, OpData::Binary),
            };
            let mut out = Vec::new();
            WsFrame::message(data, OpCode::Data(op), true)
                .format(&mut out)
                .unwrap();
            out
        };
        let mut packets = vec![
            Packet::empty(PacketType::Ping),
            Packet::pong_probe(),
            Packet::message(crate::Message::Text(crate::Str::new())),
        ];
        for n in [0, 1, 124, 125, 126, 127, 65_534, 65_535, 65_536, 70_000] {
            packets.push(Packet::message("é".repeat(n / 2) + &"x".repeat(n % 2)));
            packets.push(Packet::message(vec![7u8; n]));
        }
        for v in [ProtocolVersion::V3, ProtocolVersion::V4] {
            let mut all = Vec::new();
            put_frames(&mut all, &packets, v);
            let expected: Vec<u8> = packets.iter().flat_map(|p| theirs(p, v)).collect();
            assert_eq!(all.len(), expected.len(), "{v}");
            assert!(all == expected, "frames differ from tungstenite's ({v})");
        }
    }

    /// Everything handed to the writer reaches the peer whole and in order,
    /// also when the socket takes only part of it (a peer that reads
    /// slowly): what is left is kept and written first, then released.
    #[tokio::test]
    async fn writer_keeps_order_when_the_socket_is_full() {
        use std::future::poll_fn;
        // Small socket buffers (accepted sockets inherit the listener's).
        let ls = tokio::net::TcpSocket::new_v4().unwrap();
        ls.set_send_buffer_size(8192).unwrap();
        ls.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = ls.listen(1).unwrap();
        let addr = listener.local_addr().unwrap();
        let cs = tokio::net::TcpSocket::new_v4().unwrap();
        cs.set_recv_buffer_size(8192).unwrap();
        let client = cs.connect(addr).await.unwrap();
        let (sock, _) = listener.accept().await.unwrap();
        let mut w = WsWriter::new(WsTransport::tcp(sock, &[]));
        let chunk: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let mut sent = Vec::new();
        // Far more than the socket buffers take while nobody reads.
        for i in 0..40u8 {
            let mut c = chunk.clone();
            c[0] = i;
            poll_fn(|cx| Poll::Ready(w.accept(cx, &c))).await.unwrap();
            sent.extend_from_slice(&c);
        }
        assert!(!w.pending.is_empty(), "the socket took everything at once");
        let reader = tokio::spawn(async move {
            let mut client = client;
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        tokio::io::AsyncWriteExt::shutdown(&mut w).await.unwrap();
        assert!(w.pending.is_empty() && w.pending.capacity() == 0);
        drop(w);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "bytes reordered or lost");
    }
}
