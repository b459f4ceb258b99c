//! Direct TCP links between nodes: the messages of [`crate::message`] go
//! from node to node without crossing Redis, which then only carries
//! membership (the nodes' channels), the peers' addresses and the fallback
//! path. Over pub/sub each foreign request crosses Redis twice; over a link
//! it is one write and one read on each side.
//!
//! A node listens for links ([`Peers::listen`]); a node that has requests
//! for another opens one link to it ([`Peers::open`]) and says who it is
//! and whom it means (a hello); the other checks the hello and echoes it.
//! Each link carries one direction of asking: the node that opened it sends
//! its requests, upgrades, aborts and the opener's tunnel bytes; the other
//! answers on the link the request came in on ([`Side`]). A node checks that
//! what arrives fits the link's side and comes from the node the link
//! names: a hello can be forged (as can a Redis publication), but a forged
//! link only ever gets the answers to its own requests.
//!
//! Frames are a big-endian `u32` length and one message or batch of the
//! codec ([`crate::message::split`]), at most [`MAX_FRAME`] bytes. A sender
//! frames its message into the link's buffer under a short lock and wakes
//! the link's writer task, which writes what the tasks ready meanwhile
//! added too (one write for many connections' requests under load); a
//! flush task waits when the socket is full; and while a link's reader
//! dispatches one read, the answers written to that link are held back and
//! go out in one write after it (corked). Hostile input — garbage, an
//! oversized frame, a hello that never comes or names another node — ends
//! the link; the number of accepted links is bounded ([`MAX_INBOUND`]).

use crate::NodeId;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// The largest frame a link takes (as a Redis bulk string).
pub(crate) const MAX_FRAME: usize = crate::resp::MAX_BULK;
/// How many bytes may wait to be written on one link.
const MAX_UNWRITTEN: usize = 32 * 1024 * 1024;
/// The most links other nodes may have open to this one (handshakes included).
pub(crate) const MAX_INBOUND: usize = 1024;
const READ_CHUNK: usize = 64 * 1024;
/// A hello: magic, version, the sender's id, the id of the node it means.
const HELLO_LEN: usize = 4 + 1 + 2 * crate::NODE_ID_LEN;
const MAGIC: &[u8; 4] = b"EIOC";
const VERSION: u8 = 1;
/// After a failed open, how long messages to that node go over Redis
/// before the next attempt.
const RETRY_AFTER: Duration = Duration::from_secs(1);

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
    /// The node's count of writes on its links ([`Peers::writes`]).
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
struct Place(Arc<AtomicUsize>);

impl Place {
    fn take(count: &Arc<AtomicUsize>) -> Option<Place> {
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

fn hello(from: NodeId, to: NodeId) -> [u8; HELLO_LEN] {
    let mut h = [0u8; HELLO_LEN];
    h[..4].copy_from_slice(MAGIC);
    h[4] = VERSION;
    h[5..13].copy_from_slice(from.as_bytes());
    h[13..].copy_from_slice(to.as_bytes());
    h
}

/// The sender and the node meant of a hello; `None` if it is none.
fn parse_hello(h: &[u8; HELLO_LEN]) -> Option<(NodeId, NodeId)> {
    if &h[..4] != MAGIC || h[4] != VERSION {
        return None;
    }
    Some((NodeId::from_wire(&h[5..13])?, NodeId::from_wire(&h[13..])?))
}

/// The next complete frame of `buf`: `Ok(None)` when it is incomplete,
/// `Err` when its length is beyond [`MAX_FRAME`].
pub(crate) fn next_frame(buf: &mut BytesMut) -> Result<Option<Bytes>, ()> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len > MAX_FRAME {
        return Err(());
    }
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len).freeze()))
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

/// What this node knows of its link to one other node.
enum Route {
    Up(Arc<PeerLink>),
    Opening,
    Failed(Instant),
}

/// A node's peer links: its listener and the links it opened.
pub(crate) struct Peers {
    me: NodeId,
    addr: SocketAddr,
    timeout: Duration,
    on_event: OnEvent,
    routes: Mutex<HashMap<NodeId, Route>>,
    /// The links other nodes opened (to close them on [`Peers::close`]).
    accepted: Mutex<HashMap<u64, std::sync::Weak<PeerLink>>>,
    inbound: Arc<AtomicUsize>,
    next_id: AtomicU64,
    /// Writes on the links (system calls), both sides.
    writes: Arc<AtomicU64>,
    listener: Mutex<Option<AbortHandle>>,
}

impl Peers {
    /// Listens on `bind`; `advertise` (or the bound address) is where other
    /// nodes reach this one. Handshakes and links time out after `timeout`
    /// (at least 1 s).
    pub(crate) async fn listen(
        me: NodeId,
        bind: SocketAddr,
        advertise: impl FnOnce(SocketAddr) -> SocketAddr,
        timeout: Duration,
        on_event: OnEvent,
    ) -> io::Result<Arc<Peers>> {
        let listener = TcpListener::bind(bind).await?;
        let addr = advertise(listener.local_addr()?);
        let peers = Arc::new(Peers {
            me,
            addr,
            timeout: timeout.max(Duration::from_secs(1)),
            on_event,
            routes: Mutex::new(HashMap::new()),
            accepted: Mutex::new(HashMap::new()),
            inbound: Arc::new(AtomicUsize::new(0)),
            next_id: AtomicU64::new(1),
            writes: Arc::default(),
            listener: Mutex::new(None),
        });
        let task = tokio::spawn(accept_loop(Arc::downgrade(&peers), listener));
        *peers.listener.lock() = Some(task.abort_handle());
        Ok(peers)
    }

    /// Where other nodes reach this one.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many writes the links made so far (each a system call).
    pub(crate) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// The link this node opened to `node`, if it is up. `Err(true)`: there
    /// is none, and the caller should open one ([`Peers::open`], then
    /// [`Peers::opened`]); `Err(false)`: one is being opened, or the last
    /// attempt failed lately.
    pub(crate) fn link_to(&self, node: NodeId) -> Result<Arc<PeerLink>, bool> {
        let mut routes = self.routes.lock();
        match routes.get(&node) {
            Some(Route::Up(link)) => return Ok(link.clone()),
            Some(Route::Opening) => return Err(false),
            Some(Route::Failed(at)) if at.elapsed() < RETRY_AFTER => return Err(false),
            _ => {}
        }
        // Bounded like the heard-from owners: a cluster has few nodes, and
        // forged sids may name many.
        if routes.len() >= 256 {
            routes.retain(|_, r| !matches!(r, Route::Failed(_)));
            if routes.len() >= 256 {
                return Err(false);
            }
        }
        routes.insert(node, Route::Opening);
        Err(true)
    }

    /// The outcome of opening a link to `node` (after [`Peers::link_to`]).
    pub(crate) fn opened(&self, node: NodeId, link: Option<Arc<PeerLink>>) {
        // Checked under the lock that `lost` takes: a link that fails now
        // is either seen down here or found up there.
        let mut routes = self.routes.lock();
        let route = match link {
            Some(link) if link.is_up() => Route::Up(link),
            _ => Route::Failed(Instant::now()),
        };
        routes.insert(node, route);
    }

    /// Opens a link to `node` at `addr`: connects, says hello, waits for the echo.
    pub(crate) async fn open(&self, node: NodeId, addr: SocketAddr) -> io::Result<Arc<PeerLink>> {
        let timeout = self.timeout;
        let handshake = async {
            let mut stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            stream.write_all(&hello(self.me, node)).await?;
            let mut echo = [0u8; HELLO_LEN];
            stream.read_exact(&mut echo).await?;
            if parse_hello(&echo) != Some((node, self.me)) {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "not that node"));
            }
            Ok(stream)
        };
        let stream = tokio::time::timeout(timeout, handshake)
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        Ok(self.start(stream, node, Side::Opened, None))
    }

    /// A link over `stream`, greeted; its reader runs.
    fn start(
        &self,
        stream: TcpStream,
        peer: NodeId,
        side: Side,
        place: Option<Place>,
    ) -> Arc<PeerLink> {
        let (read, write) = stream.into_split();
        let link = Arc::new(PeerLink {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
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
            writes: self.writes.clone(),
            reader: Mutex::new(None),
            on_event: self.on_event.clone(),
            _place: place,
        });
        let mut reader = link.reader.lock();
        *reader = Some(tokio::spawn(read_loop(link.clone(), read)).abort_handle());
        drop(reader);
        tokio::spawn(write_loop(link.clone()));
        link
    }

    /// `link` is gone: the next messages to its node go over Redis (and a
    /// new link is tried after [`RETRY_AFTER`]).
    pub(crate) fn lost(&self, link: &PeerLink) {
        match link.side {
            Side::Opened => {
                let mut routes = self.routes.lock();
                if matches!(routes.get(&link.peer), Some(Route::Up(l)) if l.id == link.id) {
                    routes.insert(link.peer, Route::Failed(Instant::now()));
                }
            }
            Side::Accepted => {
                self.accepted.lock().remove(&link.id);
            }
        }
    }

    /// The links up, both sides (tests).
    #[cfg(test)]
    pub(crate) fn links(&self) -> Vec<Arc<PeerLink>> {
        let mut all: Vec<Arc<PeerLink>> = self
            .routes
            .lock()
            .values()
            .filter_map(|r| match r {
                Route::Up(l) => Some(l.clone()),
                _ => None,
            })
            .collect();
        all.extend(
            self.accepted
                .lock()
                .values()
                .filter_map(std::sync::Weak::upgrade),
        );
        all
    }

    /// Stops listening and ends every link.
    pub(crate) fn close(&self) {
        if let Some(listener) = self.listener.lock().take() {
            listener.abort();
        }
        let opened: Vec<Route> = self.routes.lock().drain().map(|(_, r)| r).collect();
        let accepted: Vec<_> = self.accepted.lock().drain().map(|(_, l)| l).collect();
        for route in opened {
            if let Route::Up(link) = route {
                link.fail();
            }
        }
        for link in accepted.iter().filter_map(std::sync::Weak::upgrade) {
            link.fail();
        }
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        self.close();
    }
}

/// Takes the links other nodes open, within [`MAX_INBOUND`].
async fn accept_loop(peers: std::sync::Weak<Peers>, listener: TcpListener) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, most likely: wait rather than spin.
                tracing::debug!("engine.io cluster: peer accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(strong) = peers.upgrade() else {
            return;
        };
        let Some(place) = Place::take(&strong.inbound) else {
            continue;
        };
        let peers = peers.clone();
        let timeout = strong.timeout;
        drop(strong);
        tokio::spawn(async move {
            let greeted = tokio::time::timeout(timeout, greet(stream, &peers)).await;
            let Ok(Some((stream, from))) = greeted else {
                return;
            };
            let Some(peers) = peers.upgrade() else {
                return;
            };
            let link = peers.start(stream, from, Side::Accepted, Some(place));
            peers.accepted.lock().insert(link.id, Arc::downgrade(&link));
        });
    }
}

/// Reads a hello meant for this node and echoes it; the sender's id.
async fn greet(
    mut stream: TcpStream,
    peers: &std::sync::Weak<Peers>,
) -> Option<(TcpStream, NodeId)> {
    let mut h = [0u8; HELLO_LEN];
    stream.read_exact(&mut h).await.ok()?;
    let (from, to) = parse_hello(&h)?;
    let me = peers.upgrade()?.me;
    if to != me || from == me {
        return None;
    }
    stream.set_nodelay(true).ok()?;
    stream.write_all(&hello(me, from)).await.ok()?;
    Some((stream, from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_at_their_lengths_and_oversized_ones_are_refused() {
        let mut buf = BytesMut::new();
        buf.put_u32(3);
        buf.put_slice(b"abc");
        buf.put_u32(0);
        buf.put_u32(5);
        buf.put_slice(b"de");
        assert_eq!(next_frame(&mut buf), Ok(Some(Bytes::from_static(b"abc"))));
        assert_eq!(next_frame(&mut buf), Ok(Some(Bytes::new())));
        assert_eq!(next_frame(&mut buf), Ok(None), "incomplete");
        buf.put_slice(b"fgh");
        assert_eq!(next_frame(&mut buf), Ok(Some(Bytes::from_static(b"defgh"))));
        assert_eq!(next_frame(&mut buf), Ok(None));
        let mut short = BytesMut::from(&[0u8, 0][..]);
        assert_eq!(next_frame(&mut short), Ok(None));
        let mut huge = BytesMut::new();
        huge.put_u32(MAX_FRAME as u32 + 1);
        assert_eq!(next_frame(&mut huge), Err(()));
    }

    /// Two nodes' [`Peers`] on localhost; the frames the second gets.
    async fn two_nodes() -> (Arc<Peers>, Arc<Peers>, Arc<Mutex<Vec<Bytes>>>) {
        let local = "127.0.0.1:0".parse().unwrap();
        let got: Arc<Mutex<Vec<Bytes>>> = Arc::default();
        let sink = got.clone();
        let on_event: OnEvent = Arc::new(move |event| {
            if let Event::Frame(_, frame) = event {
                sink.lock().push(frame);
            }
        });
        let timeout = Duration::from_secs(2);
        let a = NodeId::parse("node-_0a").unwrap();
        let b = NodeId::parse("node-_0b").unwrap();
        let on_a: OnEvent = Arc::new(|_| {});
        let a = Peers::listen(a, local, |addr| addr, timeout, on_a)
            .await
            .unwrap();
        let b = Peers::listen(b, local, |addr| addr, timeout, on_event)
            .await
            .unwrap();
        (a, b, got)
    }

    #[tokio::test]
    async fn messages_sent_by_tasks_ready_together_go_out_in_one_write() {
        let (a, b, got) = two_nodes().await;
        let link = a.open(b.me, b.addr()).await.unwrap();
        let before = a.writes();
        // Eight connections' tasks, woken together, each sending a request.
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let link = link.clone();
                tokio::spawn(async move { assert!(link.send(&[i; 3])) })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.lock().len() < 8 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let frames: Vec<Bytes> = got.lock().clone();
        let sent: Vec<Bytes> = (0..8u8).map(|i| Bytes::from(vec![i; 3])).collect();
        assert_eq!(frames, sent, "every message arrives, in order");
        assert_eq!(a.writes() - before, 1, "one write for the eight");
        // Alone, a message still goes at once (no wait for company).
        assert!(link.send(b"late"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.lock().len() < 9 && Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert_eq!(got.lock().last().map(|f| &f[..]), Some(&b"late"[..]));
        assert_eq!(a.writes() - before, 2);
    }

    #[test]
    fn a_hello_names_both_nodes_and_garbage_is_none() {
        let a = NodeId::parse("node-_01").unwrap();
        let b = NodeId::parse("node-_02").unwrap();
        assert_eq!(parse_hello(&hello(a, b)), Some((a, b)));
        let mut bad = hello(a, b);
        bad[4] = 9;
        assert_eq!(parse_hello(&bad), None);
        let mut bad = hello(a, b);
        bad[6] = b' ';
        assert_eq!(parse_hello(&bad), None);
        assert_eq!(parse_hello(&[0xff; HELLO_LEN]), None);
    }
}
