//! One TCP link to another node: its outgoing buffer and writer task,
//! its reader, and the events it reports to the node.

use super::wire::{next_frame, MAX_FRAME};
use crate::NodeId;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// The most links other nodes may have open to this one (handshakes included).
pub(super) const MAX_INBOUND: usize = 1024;
/// How many bytes may wait to be written on one link.
const MAX_UNWRITTEN: usize = 32 * 1024 * 1024;
const READ_CHUNK: usize = 64 * 1024;

/// Which node opened a link, and so what it carries each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// This node opened it: it sends its requests, and gets their answers.
    Opened,
    /// The peer opened it: it gets the peer's requests, and sends their answers.
    Accepted,
}

/// What a link tells the node (from its reader; the callback never awaits).
pub(crate) enum Event<'a> {
    /// One frame: a message or a batch, untrusted.
    Frame(&'a Arc<PeerLink>, Bytes),
    /// The link is gone (broken, closed, or hostile).
    Lost(&'a PeerLink),
}

/// Where a node's peer links report.
pub(crate) type OnEvent = Arc<dyn Fn(Event<'_>) + Send + Sync>;

struct Out {
    /// `None` once the link failed (dropping it shuts the socket down).
    stream: Option<Arc<OwnedWriteHalf>>,
    buf: BytesMut,
    /// A flush task owns the writing (the socket was full).
    flushing: bool,
    /// The reader is dispatching a read: writes wait for its end.
    corked: bool,
    /// The writer task is woken to write what waits ([`PeerLink::send`]).
    scheduled: bool,
}

/// One TCP link to another node.
pub(crate) struct PeerLink {
    id: u64,
    peer: NodeId,
    side: Side,
    out: Mutex<Out>,
    /// Wakes the link's writer task ([`write_loop`]).
    wake_writer: Notify,
    /// The node's count of writes on its links ([`Peers::writes`](super::Peers::writes)).
    writes: Arc<AtomicU64>,
    reader: Mutex<Option<AbortHandle>>,
    on_event: OnEvent,
    /// An accepted link holds one of [`MAX_INBOUND`] places.
    _place: Option<Place>,
}

impl std::fmt::Debug for PeerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerLink")
            .field("peer", &self.peer)
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

impl PeerLink {
    /// A link over `stream` (greeted) to `peer`; its reader and writer tasks run.
    pub(super) fn start(
        stream: TcpStream,
        id: u64,
        peer: NodeId,
        side: Side,
        writes: Arc<AtomicU64>,
        on_event: OnEvent,
        place: Option<Place>,
    ) -> Arc<PeerLink> {
        let (read, write) = stream.into_split();
        let link = Arc::new(PeerLink {
            id,
            peer,
            side,
            out: Mutex::new(Out {
                stream: Some(Arc::new(write)),
                buf: BytesMut::new(),
                flushing: false,
                corked: false,
                scheduled: false,
            }),
            wake_writer: Notify::new(),
            writes,
            reader: Mutex::new(None),
            on_event,
            _place: place,
        });
        let mut reader = link.reader.lock();
        *reader = Some(tokio::spawn(read_loop(link.clone(), read)).abort_handle());
        drop(reader);
        tokio::spawn(write_loop(link.clone()));
        link
    }

    /// The link's id (unique in this node).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The node at the other end (as its hello said).
    pub(crate) fn peer(&self) -> NodeId {
        self.peer
    }

    /// Who opened the link.
    pub(crate) fn side(&self) -> Side {
        self.side
    }

    /// Whether the link still works.
    pub(crate) fn is_up(&self) -> bool {
        self.out.lock().stream.is_some()
    }

    /// Frames `msg` for the link's writer task, which writes it with what
    /// the other tasks ready now add meanwhile (under load, one write for
    /// the requests of many connections); when the link is corked, the
    /// reader writes it at the end of its read. `false`: the link is gone
    /// or too much waits on it: send it another way.
    pub(crate) fn send(self: &Arc<Self>, msg: &[u8]) -> bool {
        let Ok(len) = u32::try_from(msg.len()) else {
            return false;
        };
        if msg.len() > MAX_FRAME {
            return false;
        }
        let mut out = self.out.lock();
        if out.stream.is_none() || out.buf.len() + msg.len() > MAX_UNWRITTEN {
            return false;
        }
        out.buf.reserve(4 + msg.len());
        out.buf.put_u32(len);
        out.buf.put_slice(msg);
        if !out.flushing && !out.corked && !out.scheduled {
            out.scheduled = true;
            drop(out);
            self.wake_writer.notify_one();
        }
        true
    }

    /// Writes what waits; when the socket is full, a flush task writes the rest.
    fn write_out(self: &Arc<Self>, mut out: parking_lot::MutexGuard<'_, Out>) {
        let Some(stream) = out.stream.clone() else {
            return;
        };
        while !out.buf.is_empty() {
            match stream.try_write(&out.buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.writes.fetch_add(1, Ordering::Relaxed);
                    out.buf.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    out.flushing = true;
                    drop(out);
                    let link = self.clone();
                    tokio::spawn(async move { link.flush(stream).await });
                    return;
                }
                Err(_) => break,
            }
        }
        if out.buf.is_empty() {
            return;
        }
        drop(out);
        self.fail();
    }

    /// Waits until the socket takes more, then writes what waits (the
    /// reader writes it instead if it corked the link meanwhile).
    async fn flush(self: Arc<Self>, stream: Arc<OwnedWriteHalf>) {
        if stream.writable().await.is_err() {
            return self.fail();
        }
        let mut out = self.out.lock();
        if out.stream.is_none() {
            return;
        }
        out.flushing = false;
        if out.corked || out.buf.is_empty() {
            return;
        }
        self.write_out(out);
    }

    /// Holds back (`true`) or releases and writes (`false`) the link's writes.
    fn cork(self: &Arc<Self>, on: bool) {
        let mut out = self.out.lock();
        out.corked = on;
        if !on && !out.flushing && !out.buf.is_empty() {
            self.write_out(out);
        }
    }

    /// Ends the link (once): its socket closes, its reader stops, and the
    /// node learns of it.
    pub(crate) fn fail(&self) {
        let stream = {
            let mut out = self.out.lock();
            out.buf.clear();
            out.stream.take()
        };
        if stream.is_none() {
            return;
        }
        drop(stream);
        // The writer task sees the link gone and ends.
        self.wake_writer.notify_one();
        if let Some(reader) = self.reader.lock().take() {
            reader.abort();
        }
        (self.on_event)(Event::Lost(self));
    }
}

/// One of the [`MAX_INBOUND`] places, given back on drop.
pub(super) struct Place(Arc<AtomicUsize>);

impl Place {
    pub(super) fn take(count: &Arc<AtomicUsize>) -> Option<Place> {
        let mut n = count.load(Ordering::Relaxed);
        loop {
            if n >= MAX_INBOUND {
                return None;
            }
            match count.compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(Place(count.clone())),
                Err(now) => n = now,
            }
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Reads `link`'s frames and hands them to the node, until the link ends.
async fn read_loop(link: Arc<PeerLink>, mut read: OwnedReadHalf) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(READ_CHUNK);
        }
        match read.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        link.cork(true);
        let healthy = loop {
            match next_frame(&mut buf) {
                Ok(Some(frame)) => (link.on_event)(Event::Frame(&link, frame)),
                Ok(None) => break true,
                Err(()) => break false,
            }
        };
        link.cork(false);
        if !healthy {
            tracing::debug!(
                "engine.io cluster: an oversized frame from {}; link dropped",
                link.peer
            );
            break;
        }
    }
    // Not through `fail`'s abort: this task is ending by itself.
    link.reader.lock().take();
    link.fail();
}

/// Writes what [`PeerLink::send`] framed, each time it is woken, until the
/// link ends. Woken rather than writing in `send`: the task runs after the
/// tasks that are ready now (a current-thread runtime runs them in order),
/// so what they all send goes out in one write.
async fn write_loop(link: Arc<PeerLink>) {
    loop {
        link.wake_writer.notified().await;
        let mut out = link.out.lock();
        if out.stream.is_none() {
            return;
        }
        out.scheduled = false;
        if !out.flushing && !out.corked && !out.buf.is_empty() {
            link.write_out(out);
        }
    }
}
