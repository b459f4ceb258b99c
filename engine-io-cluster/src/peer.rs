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
//! codec ([`crate::message::split`]), at most [`MAX_FRAME`](wire::MAX_FRAME) bytes. A sender
//! frames its message into the link's buffer under a short lock and wakes
//! the link's writer task, which writes what the tasks ready meanwhile
//! added too (one write for many connections' requests under load); a
//! flush task waits when the socket is full; and while a link's reader
//! dispatches one read, the answers written to that link are held back and
//! go out in one write after it (corked). Hostile input — garbage, an
//! oversized frame, a hello that never comes or names another node — ends
//! the link; the number of accepted links is bounded ([`MAX_INBOUND`](link::MAX_INBOUND)).
//!
//! The hello and the frames are in `wire`, one link (its buffer, writer
//! and reader) in `link`, and the node's set of links ([`Peers`]) here.

mod link;
mod wire;

use link::Place;
pub(crate) use link::{Event, OnEvent, PeerLink, Side};
use wire::{hello, parse_hello, HELLO_LEN};

use crate::NodeId;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// After a failed open, how long messages to that node go over Redis
/// before the next attempt.
const RETRY_AFTER: Duration = Duration::from_secs(1);

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
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        PeerLink::start(
            stream,
            id,
            peer,
            side,
            self.writes.clone(),
            self.on_event.clone(),
            place,
        )
    }

    /// `link` is gone: the next messages to its node go over Redis (and a
    /// new link is tried after [`RETRY_AFTER`]).
    pub(crate) fn lost(&self, link: &PeerLink) {
        match link.side() {
            Side::Opened => {
                let mut routes = self.routes.lock();
                if matches!(routes.get(&link.peer()), Some(Route::Up(l)) if l.id() == link.id()) {
                    routes.insert(link.peer(), Route::Failed(Instant::now()));
                }
            }
            Side::Accepted => {
                self.accepted.lock().remove(&link.id());
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

/// Takes the links other nodes open, within [`MAX_INBOUND`](link::MAX_INBOUND).
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
            peers
                .accepted
                .lock()
                .insert(link.id(), Arc::downgrade(&link));
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
    use bytes::Bytes;

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
}
