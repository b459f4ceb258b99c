//! The WebSocket I/O under a session, after the handshake: the byte stream
//! ([`WsTransport`]), its frames read ([`WsStream`], with the decoder of
//! [`crate::ws_frame`]) and written ([`WsWriter`]), and [`WsIo`], the
//! poll-based side a session's task drives: it batches every queued frame
//! into one flush, answers pings and the close handshake, and sorts read
//! errors into the RFC 6455 close codes.
//!
//! No WebSocket library is on this path (tungstenite only derives the
//! handshake's accept key). A server frame is never masked, so every frame
//! written is a 2-10 byte header and the bytes: data frames straight from the
//! packets into a per-thread buffer and on to the socket, control frames
//! (pong, close) through the same [`WsWriter`], which keeps every byte in the
//! order it was handed over.

use crate::packet::ProtocolVersion;
use crate::packet_queue::PacketQueue;
use crate::ws_frame::{close_reply, Frame, FrameReader, ReadError};
use bytes::BytesMut;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::AsyncWrite;

mod transport;
mod writer;
pub(crate) use transport::{into_transport, with_read_scratch, WsTransport};
use transport::{upgraded, SCRATCH_LEN};
pub(crate) use writer::WsWriter;
use writer::{OP_CLOSE, OP_PONG};

pub(crate) async fn into_ws(
    on_upgrade: hyper::upgrade::OnUpgrade,
    cfg: &crate::Config,
) -> Option<WsStream> {
    let io = into_transport(on_upgrade).await?;
    Some(ws_over(io, cfg).await)
}

/// [`into_ws`] for a new session, whose open packet is queued: the 101 that
/// [`crate::Server::serve`] held back goes out in front of it, with one
/// socket write (the first write, or else the first flush, carries it).
pub(crate) async fn into_new_ws(
    on_upgrade: hyper::upgrade::OnUpgrade,
    cfg: &crate::Config,
) -> Option<WsStream> {
    let (io, held) = upgraded(on_upgrade).await?;
    let mut ws = ws_over(io, cfg).await;
    ws.io.keep(held);
    Some(ws)
}

/// [`into_new_ws`] for a connection whose request [`crate::Server::serve`] read itself
/// ([`crate::direct_upgrade`]): `ahead`, what the client sent behind the request; `head`, the
/// 101, which goes out in front of the open packet as on hyper's path.
pub(crate) async fn new_ws_over_tcp(
    tcp: tokio::net::TcpStream,
    ahead: &[u8],
    head: Vec<u8>,
    cfg: &crate::Config,
) -> WsStream {
    let mut ws = ws_over(WsTransport::tcp(tcp, ahead), cfg).await;
    ws.io.keep(head);
    ws
}

/// The server side of a WebSocket over `io` (the handshake is done).
pub(crate) async fn ws_over(mut io: WsTransport, cfg: &crate::Config) -> WsStream {
    // What was read ahead of the first frame is the reader's first input.
    let carry = io.take_ahead().map(|b| Box::new(BytesMut::from(&b[..])));
    WsStream {
        reader: FrameReader::new(cfg.max_http_buffer_size),
        carry,
        io: WsWriter::new(io),
    }
}

/// Closes a WebSocket with a close frame, without blocking the caller.
pub(crate) fn close_detached(mut ws: WsIo) {
    ws.push_close(None);
    tokio::spawn(async move {
        let flush = std::future::poll_fn(|cx| loop {
            if ws.idle() {
                return Poll::Ready(());
            }
            match ws.poll_event(cx, false) {
                Poll::Ready(WsEvent::Flushed(_)) => continue,
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        });
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), flush).await;
    });
}

/// A close frame this server sends: a status code and a fixed reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CloseFrame {
    /// The status code (RFC 6455 §7.4.1).
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
}

/// The close code of a message over the size limit.
pub(crate) const CLOSE_TOO_BIG: u16 = 1009;

impl CloseFrame {
    /// The close frame that answers a read error (as the `ws` package sends).
    fn of(e: ReadError) -> Self {
        let reason = match e {
            ReadError::TooBig => "Max payload size exceeded",
            _ => "",
        };
        CloseFrame {
            code: e.close_code(),
            reason,
        }
    }
}

/// The server side of one WebSocket: the socket under a [`WsWriter`], and
/// the frame reader ([`crate::ws_frame`]) with the bytes it has not decoded.
///
/// Reads go through a per-thread scratch buffer ([`READ_SCRATCH`]): the socket
/// is read in chunks of up to [`SCRATCH_LEN`] bytes, and a text or binary
/// message is a slice of that chunk, unmasked in place (no copy). Only the
/// bytes of a frame that has not fully arrived (or of frames not decoded
/// yet) are kept per connection, in `carry`, released once decoded: an idle
/// connection holds no read buffer at all. An application that keeps
/// received messages would keep a chunk alive per message: once a chunk is
/// found still in use, small messages are copied out ([`COPY_SMALL`]).
pub(crate) struct WsStream {
    io: WsWriter,
    reader: FrameReader,
    /// Bytes read and not decoded yet (boxed: rare, and the field sits in
    /// every session's task).
    carry: Option<Box<BytesMut>>,
}

/// The least room a socket read is given.
const MIN_READ: usize = 2 * 1024;

/// Up to this many undecoded bytes are copied out of the scratch buffer when
/// a read would block (so an idle connection never keeps a chunk alive);
/// more (the start of a large frame) keep their buffer, sized for the whole
/// frame.
const CARRY_COPY_MAX: usize = 512;

/// Messages up to this size are copied out of their read chunk while
/// [`COPY_SMALL`] says the application keeps messages: one kept message then
/// holds its own bytes, not a chunk of [`SCRATCH_LEN`] or more; a larger one
/// holds at most about four times its size.
const UNPIN_MAX: usize = SCRATCH_LEN / 4;

/// How many small messages are copied out once a chunk was found still in
/// use: after that, slicing (no copy, no allocation) is tried again, so an
/// application that keeps messages pins at most one chunk per this many.
const UNPIN_MESSAGES: u32 = 4096;

thread_local! {
    /// The buffer socket reads go into, shared by every connection polled on
    /// this thread (see [`WsStream`]). Received messages are slices of it:
    /// a chunk is reused once none of them is alive any more, and a new one
    /// is allocated while some are.
    static READ_SCRATCH: std::cell::RefCell<BytesMut> =
        std::cell::RefCell::new(BytesMut::with_capacity(SCRATCH_LEN));
    /// Small messages still to be copied out of their chunk ([`UNPIN_MAX`]):
    /// set when a full chunk could not be reused because a message sliced
    /// from it is still alive (the application keeps messages), so that
    /// each kept message does not keep a whole chunk alive.
    static COPY_SMALL: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// `t`, copied out of its read chunk if it is small and messages are being
/// kept ([`COPY_SMALL`]); as it is otherwise.
fn unpinned_text(t: crate::Str) -> crate::Str {
    if t.len() > UNPIN_MAX || !take_copy() {
        return t;
    }
    crate::Str::from(t.as_str().to_owned())
}

/// [`unpinned_text`] for a binary message.
fn unpinned_binary(b: bytes::Bytes) -> bytes::Bytes {
    if b.len() > UNPIN_MAX || !take_copy() {
        return b;
    }
    bytes::Bytes::copy_from_slice(&b)
}

/// Whether the next small message is to be copied (one fewer to copy).
fn take_copy() -> bool {
    COPY_SMALL.with(|c| {
        let left = c.get();
        c.set(left.saturating_sub(1));
        left > 0
    })
}

/// What reading a WebSocket gave.
enum Read {
    Frame(Frame),
    /// The connection ended (EOF, reset, any I/O error).
    Ended,
    Failed(ReadError),
}

impl WsStream {
    /// The next frame (a data frame once it ends its message).
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Read> {
        // Frames already read (several arrive in one read) come first.
        if let Some(carry) = self.carry.as_deref_mut() {
            match self.reader.decode(carry) {
                Ok(Some(f)) => {
                    if carry.is_empty() {
                        self.carry = None;
                    }
                    return Poll::Ready(Read::Frame(f));
                }
                Ok(None) => {}
                Err(e) => return Poll::Ready(Read::Failed(e)),
            }
            if carry.len() > CARRY_COPY_MAX {
                // The start of a large frame: read the rest straight after it.
                let mut carry = self.carry.take().unwrap_or_default();
                let got = self.read_into(cx, &mut carry);
                if !carry.is_empty() {
                    self.carry = Some(carry);
                }
                return got;
            }
        }
        READ_SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => {
                scratch.clear();
                // A full chunk that cannot be taken back is held by a message
                // still alive: messages are being kept, so small ones are
                // copied out for a while (see `COPY_SMALL`).
                if scratch.capacity() < MIN_READ && !scratch.try_reclaim(SCRATCH_LEN) {
                    COPY_SMALL.with(|c| c.set(UNPIN_MESSAGES));
                }
                if let Some(carry) = self.carry.take() {
                    scratch.extend_from_slice(&carry);
                }
                let got = self.read_into(cx, &mut scratch);
                if !scratch.is_empty() {
                    // Frames behind the one decoded are taken by the next call
                    // (a slice of the chunk); the start of a frame still to
                    // arrive may wait long, so small ones are copied out.
                    let waiting = got.is_pending();
                    self.carry = Some(Box::new(if waiting && scratch.len() <= CARRY_COPY_MAX {
                        // Exactly the bytes, not the chunk they sit in.
                        let kept = BytesMut::from(&scratch[..]);
                        scratch.clear();
                        kept
                    } else {
                        scratch.split()
                    }));
                }
                got
            }
            // Not reachable (no read re-enters another), but safe anyway.
            Err(_) => {
                let mut buf = self.carry.take().map(|b| *b).unwrap_or_default();
                let got = self.read_into(cx, &mut buf);
                if !buf.is_empty() {
                    self.carry = Some(Box::new(buf));
                }
                got
            }
        })
    }

    /// Reads into `buf` (after what it holds) until a frame is complete or
    /// the socket has nothing more. What is left in `buf` is undecoded.
    fn read_into(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<Read> {
        loop {
            // Room for the whole frame once its header is known (a frame is
            // bounded by the limit), and at least MIN_READ; a new chunk is
            // SCRATCH_LEN (a chunk whose messages are all dropped is reused
            // in place).
            let want = self
                .reader
                .frame_len(buf)
                .map_or(0, |n| n.saturating_sub(buf.len()));
            if buf.capacity() - buf.len() < want.max(MIN_READ) {
                buf.reserve(want.max(SCRATCH_LEN));
            }
            match self.io.transport().poll_read_buf(cx, buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    buf.clear();
                    return Poll::Ready(Read::Ended);
                }
                Poll::Ready(Ok(_)) => match self.reader.decode(buf) {
                    Ok(Some(f)) => return Poll::Ready(Read::Frame(f)),
                    Ok(None) => {}
                    Err(e) => {
                        buf.clear();
                        return Poll::Ready(Read::Failed(e));
                    }
                },
            }
        }
    }
}

/// What happened on a WebSocket.
pub(crate) enum WsEvent {
    /// A data message.
    Message(WsData),
    /// Everything buffered was written and flushed; `n` Engine.IO packets.
    Flushed(u64),
    /// The peer closed the connection (close frame or EOF). With a close
    /// frame, the answering close frame is queued: flush before dropping.
    Closed,
    /// A protocol violation, answered with this close frame (RFC 6455 §7.4.1,
    /// as the `ws` package does): 1009 message too big, 1007 invalid UTF-8,
    /// 1002 anything else.
    Error(CloseFrame),
    /// A packet the transport's own framing decoded (WebTransport), or why
    /// its data could not be decoded.
    #[cfg(feature = "webtransport")]
    Packet(Result<crate::Packet, crate::DecodeError>),
}

/// A WebSocket data message, as the session takes it: text already
/// validated ([`Str`](crate::Str)), binary as received.
pub(crate) enum WsData {
    Text(crate::Str),
    Binary(bytes::Bytes),
}

/// A WebSocket plus its pending outgoing packets. Writing is poll-based so
/// the owner can read, write and run timers concurrently in one task without
/// holding a write future across `select!` iterations.
pub(crate) struct WsIo {
    pub(crate) ws: WsStream,
    /// Packets to write: framed by the next write, straight into one socket
    /// write ([`WsWriter::write_packets`]).
    packets: PacketQueue,
    protocol: ProtocolVersion,
    /// A close frame to write after them (boxed: at most once per connection).
    close: Option<Box<Option<CloseFrame>>>,
    /// Engine.IO packets in `packets` / in the unflushed bytes.
    in_flight: u64,
    needs_flush: bool,
    /// A close frame was queued: nothing can follow it.
    close_queued: bool,
    /// The read side is done (the peer's close frame, EOF, or a protocol
    /// error): nothing more is read.
    read_done: bool,
}

/// A batch of fewer packets than this gives its buffer up once written (see
/// [`WsIo::push_queue`]): an echo, a heartbeat or the last packets of a burst
/// leave the socket with no queue memory, as before buffers were traded;
/// within a burst, batches are far larger.
const KEEP_BATCH_MIN: usize = 8;

/// While more than this many written bytes wait for the socket, pings are not
/// answered.
const PONG_BACKLOG_MAX: usize = 64 * 1024;

/// Writing failed: the connection ended (every I/O error is taken as that,
/// as tungstenite sorted them).
struct WriteFailed;

impl From<std::io::Error> for WriteFailed {
    fn from(_: std::io::Error) -> Self {
        WriteFailed
    }
}

impl WsIo {
    pub(crate) fn new(ws: WsStream) -> Self {
        WsIo {
            ws,
            packets: PacketQueue::new(),
            protocol: ProtocolVersion::V4,
            close: None,
            in_flight: 0,
            needs_flush: false,
            close_queued: false,
            read_done: false,
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

    /// Takes every packet of the session's `queue` (leaving it empty), as
    /// [`push_packets`](Self::push_packets) does. The two trade buffers: the
    /// queue gets the one the last batch was written from, with its capacity,
    /// so a burst fills a queue the size of the previous batch without growing
    /// it step by step (see [`KEEP_BATCH_MIN`] for when that buffer is let go).
    pub(crate) fn push_queue(&mut self, queue: &mut PacketQueue, protocol: ProtocolVersion) {
        if self.packets.is_empty() && !self.close_queued {
            self.in_flight += queue.len() as u64;
            self.protocol = protocol;
            std::mem::swap(&mut self.packets, queue);
        } else {
            self.push(std::mem::take(queue), protocol);
        }
    }

    /// Queues packets; the next [`poll_event`](Self::poll_event) frames them
    /// and writes and flushes them with one write. Nothing follows a close.
    pub(crate) fn push_packets(&mut self, packets: Vec<crate::Packet>, protocol: ProtocolVersion) {
        self.push(packets.into(), protocol);
    }

    fn push(&mut self, packets: PacketQueue, protocol: ProtocolVersion) {
        if self.close_queued {
            return;
        }
        self.in_flight += packets.len() as u64;
        self.protocol = protocol;
        self.packets.append(packets);
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
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<u64, WriteFailed>> {
        if !self.packets.is_empty() {
            self.needs_flush = true;
            let written = self.ws.io.write_packets(cx, &self.packets, self.protocol);
            let n = self.packets.len();
            self.packets.clear();
            // The buffer goes back to the session's queue for the next batch
            // (`push_queue`), unless that batch was small or far smaller than the
            // buffer: an idle socket then holds no queue memory (a small buffer becomes
            // the thread's spare, which the next queue to start takes).
            if n < KEEP_BATCH_MIN || self.packets.tail_capacity() > 4 * n {
                self.packets.release();
            }
            written?;
        }
        if !self.needs_flush && self.ws.io.pending_len() > 0 {
            // A held 101 (see `into_new_ws`) that no packet took along.
            self.needs_flush = true;
        }
        if let Some(close) = self.close.take() {
            let mut payload = Vec::new();
            if let Some(f) = *close {
                payload.extend_from_slice(&f.code.to_be_bytes());
                payload.extend_from_slice(f.reason.as_bytes());
            }
            self.ws.io.write_control(cx, OP_CLOSE, &payload)?;
            self.needs_flush = true;
        }
        if self.needs_flush {
            ready!(Pin::new(&mut self.ws.io).poll_flush(cx))?;
            self.needs_flush = false;
            let n = std::mem::take(&mut self.in_flight);
            return Poll::Ready(Ok(n));
        }
        Poll::Pending
    }

    /// Makes write progress and, when `read`, reads the next frame (not
    /// reading is the backpressure of a full stream-API inbox). Pings are
    /// answered and a close frame with the close handshake's reply, written
    /// through the same [`WsWriter`] in order with the data frames.
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>, read: bool) -> Poll<WsEvent> {
        loop {
            match self.poll_write(cx) {
                Poll::Ready(Ok(n)) => return Poll::Ready(WsEvent::Flushed(n)),
                // Writing failed: no close frame can follow.
                Poll::Ready(Err(WriteFailed)) => return Poll::Ready(WsEvent::Closed),
                Poll::Pending => {}
            }
            if !read || self.read_done {
                return Poll::Pending;
            }
            let frame = match ready!(self.ws.poll_frame(cx)) {
                Read::Frame(f) => f,
                Read::Ended => {
                    self.read_done = true;
                    return Poll::Ready(WsEvent::Closed);
                }
                Read::Failed(e) => {
                    self.read_done = true;
                    return Poll::Ready(WsEvent::Error(CloseFrame::of(e)));
                }
            };
            match frame {
                Frame::Text(t) => {
                    return Poll::Ready(WsEvent::Message(WsData::Text(unpinned_text(t))))
                }
                Frame::Binary(b) => {
                    return Poll::Ready(WsEvent::Message(WsData::Binary(unpinned_binary(b))))
                }
                Frame::Pong(_) => {}
                // No answer once our close is queued (nothing follows it), nor
                // while the peer leaves much unread (RFC 6455 §5.5.3 lets an
                // endpoint answer only the latest ping): a client sending pings
                // and reading nothing cannot grow what is kept for it.
                Frame::Ping(_)
                    if self.close_queued || self.ws.io.pending_len() > PONG_BACKLOG_MAX => {}
                Frame::Ping(p) => {
                    if self.ws.io.write_control(cx, OP_PONG, &p).is_err() {
                        return Poll::Ready(WsEvent::Closed);
                    }
                    // Flushed by the next pass of this loop.
                    self.needs_flush = true;
                }
                Frame::Close(close) => {
                    self.read_done = true;
                    if self.close_queued {
                        // The peer answered ours: the handshake is complete.
                        return Poll::Ready(WsEvent::Closed);
                    }
                    // The close handshake: the reply is the last frame (written
                    // by a flush before the connection is dropped); packets not
                    // written yet would follow it, so they are dropped.
                    self.close_queued = true;
                    self.in_flight = self.in_flight.saturating_sub(self.packets.len() as u64);
                    self.packets.clear();
                    let mut payload = Vec::new();
                    close_reply(&close, &mut payload);
                    if self.ws.io.write_control(cx, OP_CLOSE, &payload).is_ok() {
                        self.needs_flush = true;
                    }
                    return Poll::Ready(WsEvent::Closed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A peer that sends pings and reads nothing cannot grow what the server
    /// keeps for it: pongs stop while much is unread; the close handshake
    /// still gets its reply.
    #[tokio::test]
    async fn pings_from_a_peer_that_reads_nothing_keep_memory_bounded() {
        let ls = tokio::net::TcpSocket::new_v4().unwrap();
        ls.set_send_buffer_size(8192).unwrap();
        ls.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = ls.listen(1).unwrap();
        let cs = tokio::net::TcpSocket::new_v4().unwrap();
        cs.set_recv_buffer_size(8192).unwrap();
        let mut client = cs.connect(listener.local_addr().unwrap()).await.unwrap();
        let (sock, _) = listener.accept().await.unwrap();
        let ws = ws_over(WsTransport::tcp(sock, &[]), &crate::Config::default()).await;
        let mut io = WsIo::new(ws);
        let writer = tokio::spawn(async move {
            let mut ping = vec![0x89, 0x80 | 125, 0, 0, 0, 0];
            ping.extend_from_slice(&[b'p'; 125]);
            for _ in 0..5000 {
                client.write_all(&ping).await.unwrap();
            }
            client.write_all(&[0x88, 0x80, 0, 0, 0, 0]).await.unwrap();
            client // kept open, unread
        });
        let mut most = 0;
        let done = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                let ev = std::future::poll_fn(|cx| io.poll_event(cx, true)).await;
                most = most.max(io.ws.io.pending_len());
                if matches!(ev, WsEvent::Closed) {
                    break;
                }
            }
        })
        .await;
        assert!(done.is_ok(), "the close frame was never read");
        assert!(io.close_queued(), "the close handshake was not answered");
        assert!(
            most <= PONG_BACKLOG_MAX + 127 + 2,
            "kept {most} bytes for a peer that reads nothing"
        );
        assert!(
            most > PONG_BACKLOG_MAX / 2,
            "the socket took every pong ({most} kept)"
        );
        drop(writer.await.unwrap());
    }

    /// A held 101 goes out in front of the first frames, and also on its
    /// own when no packet comes to take it along.
    #[tokio::test]
    async fn a_held_101_goes_out_first_with_or_without_packets() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for with_packet in [true, false] {
            let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (sock, _) = listener.accept().await.unwrap();
            let mut ws = ws_over(WsTransport::tcp(sock, &[]), &crate::Config::default()).await;
            ws.io.keep(b"HEAD".to_vec());
            let mut io = WsIo::new(ws);
            if with_packet {
                io.push_packets(vec![crate::Packet::message("x")], ProtocolVersion::V4);
            }
            let ev = std::future::poll_fn(|cx| io.poll_event(cx, false)).await;
            assert!(matches!(ev, WsEvent::Flushed(_)));
            let mut expected = b"HEAD".to_vec();
            if with_packet {
                expected.extend_from_slice(&[0x81, 2, b'4', b'x']);
            }
            let mut got = vec![0u8; expected.len()];
            client.read_exact(&mut got).await.unwrap();
            assert_eq!(got, expected, "with a packet: {with_packet}");
            assert!(io.idle() && io.ws.io.pending_len() == 0);
        }
    }
}
