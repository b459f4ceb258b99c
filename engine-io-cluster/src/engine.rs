//! [`ClusterEngine`]: one node of the cluster — the borrowing side (carry a
//! foreign request to its owner, wait for the answer) and the owner side
//! (serve another node's request on a local session, send the answer back).

mod borrow;
mod config;
mod headers;
mod health;
#[cfg(test)]
mod peer_tests;
mod route;
mod takeover;

pub use config::{ClusterConfig, ClusterStats};
use headers::{block_map, header_map, raw_headers, sid_of, wire_pairs, wire_uri, LastHeaders};
use health::liveness;

use crate::link::{Link, Push};
use crate::message::{Body, HeaderBlock, Message, Method, RawHeaders, WireHandover, WireMessage};
use crate::peer::{PeerLink, Peers};
use crate::pending::{Pending, Reply};
use crate::tunnel::{self, Role, Tunnels};
use crate::{ClusterError, NodeId};
use bytes::Bytes;
use engine_io::{
    Cluster, ForeignRequest, ForeignUpgrade, ForwardFuture, Handover, OwnerUpgrade, ResponseBody,
    Server, UpgradeAnswer, UpgradeFuture,
};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use redis::IntoConnectionInfo;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};

/// Another node's request served here: who asked, and what its answer concerns.
struct Asked {
    from: NodeId,
    id: u64,
    is_get: bool,
    /// The direct link it came over (its answer goes back on it), if any.
    via: Option<Arc<PeerLink>>,
    /// The session it names, when it is here (looked up once).
    socket: Option<Arc<engine_io::Socket>>,
    /// Else the sid it names (a session that may arrive meanwhile).
    sid: Option<String>,
}

/// A request of another node being served: that node, its request id, and
/// the direct link it came over (its id; `None`: Redis). A request id is
/// another node's only on its own way: a link opened in that node's name
/// cannot take the ids of its real requests.
type RunningKey = (NodeId, u64, Option<u64>);

/// The answer to another node's request, being computed.
type AnswerFuture = std::pin::Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send>>;

#[derive(Default)]
struct Counters {
    forwarded: AtomicU64,
    unknown: AtomicU64,
    served: AtomicU64,
    garbage: AtomicU64,
    dropped: AtomicU64,
    lost: AtomicU64,
    taken_over: AtomicU64,
    handed_over: AtomicU64,
    tunnels: AtomicU64,
    sent_direct: AtomicU64,
    sent_redis: AtomicU64,
    links_opened: AtomicU64,
    links_lost: AtomicU64,
}

struct Inner {
    node: NodeId,
    prefix: String,
    config: ClusterConfig,
    link: Link,
    /// The direct links to the other nodes (`None`: off, or no address).
    peers: Option<Arc<Peers>>,
    pending: Pending,
    /// Requests of other nodes being served: how to abort them. Only the
    /// way each came may abort it (or Redis, which is trusted).
    running: Mutex<HashMap<RunningKey, oneshot::Sender<()>>>,
    foreign_slots: Arc<Semaphore>,
    server: Mutex<Option<Server>>,
    counters: Counters,
    tunnels: Tunnels,
    /// Sessions of this node handed over, by sid: where they went, until
    /// when requests for them are relayed there.
    moved: Mutex<HashMap<String, (NodeId, tokio::time::Instant)>>,
    /// Sessions this node asked to take over, until the answer is in:
    /// requests the old owner relays here meanwhile wait for the session.
    arriving: Mutex<std::collections::HashSet<String>>,
    /// Upgrades whose answer came too late for their WebSocket, by owner
    /// and request id: a handover that still comes is adopted, not lost.
    late: Mutex<HashMap<(NodeId, u64), takeover::Late>>,
    /// The headers of the owners' last answer, validated.
    answer_headers: LastHeaders,
}

/// One node of an Engine.IO cluster (see the crate docs). A cheap, clonable
/// handle.
#[derive(Clone)]
pub struct ClusterEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClusterEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterEngine")
            .field("node", &self.inner.node)
            .field("up", &self.inner.link.is_up())
            .finish_non_exhaustive()
    }
}

impl ClusterEngine {
    /// Connects to Redis and joins the cluster: subscribes to this node's
    /// channel. Fails if Redis cannot be reached now; later outages are
    /// survived (the link reconnects and subscribes again).
    pub async fn connect(
        redis: impl IntoConnectionInfo,
        config: ClusterConfig,
    ) -> Result<ClusterEngine, ClusterError> {
        let node = match &config.node_id {
            Some(id) => NodeId::parse(id)?,
            None => NodeId::random(),
        };
        let channel = channel(&config.channel_prefix, node);
        // The node the link's pushes go to, once it exists (nothing is sent
        // to a node before its id is in a sid: earlier pushes are dropped).
        let node_slot: Arc<std::sync::OnceLock<Weak<Inner>>> = Arc::default();
        let slot = node_slot.clone();
        let on_push = move |push: Push| {
            if let Some(inner) = slot.get().and_then(Weak::upgrade) {
                inner.on_push(push);
            }
        };
        let link = Link::connect(redis, channel, config.response_timeout, on_push).await?;
        let slot = node_slot.clone();
        let on_event: crate::peer::OnEvent = Arc::new(move |event| {
            if let Some(inner) = slot.get().and_then(Weak::upgrade) {
                inner.on_peer_event(event);
            }
        });
        let peers = Inner::listen_for_peers(&config, node, &link, on_event).await;
        let inner = Arc::new(Inner {
            node,
            prefix: node.as_str().to_owned(),
            foreign_slots: Arc::new(Semaphore::new(config.max_foreign)),
            pending: Pending::new(config.max_pending),
            config,
            link,
            peers,
            running: Mutex::new(HashMap::new()),
            server: Mutex::new(None),
            counters: Counters::default(),
            tunnels: Tunnels::default(),
            moved: Mutex::new(HashMap::new()),
            arriving: Mutex::new(std::collections::HashSet::new()),
            late: Mutex::new(HashMap::new()),
            answer_headers: LastHeaders::default(),
        });
        let _ = node_slot.set(Arc::downgrade(&inner));
        tokio::spawn(liveness(Arc::downgrade(&inner)));
        Ok(ClusterEngine { inner })
    }

    /// This node's id (the first characters of the sids it creates).
    pub fn node_id(&self) -> NodeId {
        self.inner.node
    }

    /// The hook for [`engine_io::Config::cluster`].
    pub fn hook(&self) -> Arc<dyn Cluster> {
        Arc::new(self.clone())
    }

    /// Serves the sessions of `server` to the other nodes. Until then,
    /// their requests are dropped.
    pub fn attach(&self, server: Server) {
        *self.inner.server.lock() = Some(server);
    }

    /// Leaves the cluster: this node's sessions are no longer served to
    /// other nodes (their requests get "Session ID unknown"), and the handle
    /// lets go of the server.
    pub async fn detach(&self) {
        self.inner.server.lock().take();
        if let Some(peers) = &self.inner.peers {
            // The other nodes' requests then go over Redis, and fail fast.
            peers.close();
            let key = route::addr_key(&self.inner.config.channel_prefix, self.inner.node);
            let _ = self.inner.link.del(&key).await;
        }
        if let Err(e) = self.inner.link.unsubscribe().await {
            tracing::debug!("engine.io cluster: unsubscribe failed: {e}");
        }
    }

    /// Whether the link to Redis is up.
    pub fn is_up(&self) -> bool {
        self.inner.link.is_up()
    }

    /// The node's counters.
    pub fn stats(&self) -> ClusterStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ClusterStats {
            forwarded: get(&c.forwarded),
            unknown: get(&c.unknown),
            served: get(&c.served),
            garbage: get(&c.garbage),
            dropped: get(&c.dropped),
            lost: get(&c.lost),
            taken_over: get(&c.taken_over),
            handed_over: get(&c.handed_over),
            tunnels: get(&c.tunnels),
            sent_direct: get(&c.sent_direct),
            sent_redis: get(&c.sent_redis),
            links_opened: get(&c.links_opened),
            links_lost: get(&c.links_lost),
            link_writes: self.inner.peers.as_ref().map_or(0, |p| p.writes()),
        }
    }
}

fn channel(prefix: &str, node: NodeId) -> String {
    // Built by hand: `format!` costs more than the whole copy (twice per
    // foreign request).
    let mut channel = String::with_capacity(prefix.len() + 1 + crate::NODE_ID_LEN);
    channel.push_str(prefix);
    channel.push('#');
    channel.push_str(node.as_str());
    channel
}

impl Cluster for ClusterEngine {
    fn sid_prefix(&self) -> &str {
        &self.inner.prefix
    }

    fn forward(&self, request: ForeignRequest) -> ForwardFuture {
        let inner = self.inner.clone();
        // Sent now: the future only waits (see `borrow`).
        let ForeignRequest { sid, parts, body } = request;
        let sent = inner
            .route(&sid)
            .and_then(|owner| inner.send_request(owner, &parts, &body));
        drop((parts, body));
        Box::pin(async move {
            let res = match sent {
                Some(sent) => inner.answer_of(sent, &sid).await,
                None => None,
            };
            let counter = if res.is_some() {
                &inner.counters.forwarded
            } else {
                &inner.counters.unknown
            };
            counter.fetch_add(1, Ordering::Relaxed);
            res
        })
    }

    fn upgrade(&self, request: ForeignUpgrade) -> UpgradeFuture {
        let inner = self.inner.clone();
        Box::pin(async move { inner.upgrade(request).await })
    }

    fn connect_delay(&self) -> Option<Duration> {
        self.inner.config.connect_delay
    }
}

impl Inner {
    /// Where requests for `sid` go: the node in its prefix, or for a session
    /// this node handed over, the node it moved to. `None`: no live node.
    fn route(&self, sid: &str) -> Option<NodeId> {
        let owner = NodeId::of_sid(sid)?;
        if !self.link.is_up() {
            return None;
        }
        if owner != self.node {
            return Some(owner);
        }
        // Our own id: a session that moved, or one that is gone (or a forged sid).
        self.moved_to(sid)
    }

    /// A request for a session this node is taking over, relayed by the old
    /// owner before the handover was through here: waits (briefly) for it.
    async fn wait_arriving(&self, server: &Server, sid: &str) {
        let deadline = tokio::time::Instant::now() + self.config.response_timeout;
        while (self.arriving.lock().contains(sid) || self.late_for(sid))
            && server.socket(sid).is_none()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn moved_to(&self, sid: &str) -> Option<NodeId> {
        let mut moved = self.moved.lock();
        let (to, until) = *moved.get(sid)?;
        if tokio::time::Instant::now() < until {
            Some(to)
        } else {
            moved.remove(sid);
            None
        }
    }

    /// Handles one message on this node's channel, or from the direct link
    /// `via`. Never awaits.
    fn on_message(self: &Arc<Self>, payload: Bytes, via: Option<&Arc<PeerLink>>) {
        let msg = match Message::decode(payload) {
            Ok(m) => m,
            Err(e) => {
                self.counters.garbage.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("engine.io cluster: dropped a message: {e}");
                return;
            }
        };
        if via.is_some_and(|link| !route::fits(link, msg.from, &msg.body)) {
            self.counters.garbage.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match msg.body {
            Body::Accepted => {
                let _ = self.pending.deliver(msg.from, msg.id, Reply::Accepted);
            }
            Body::Response {
                status,
                headers,
                body,
            } => {
                let _ = self.pending.deliver(
                    msg.from,
                    msg.id,
                    Reply::Response {
                        status,
                        headers,
                        body,
                    },
                );
            }
            Body::Abort => {
                tracing::debug!(from = %msg.from, id = msg.id, "engine.io cluster: request aborted by its node");
                let mut running = self.running.lock();
                // Over a link, only a request that came over it (a link
                // may be opened in any node's name); Redis aborts one that
                // came either way (the liveness check sends its aborts there).
                match via {
                    Some(link) => {
                        if let Some(abort) = running.remove(&(msg.from, msg.id, Some(link.id()))) {
                            let _ = abort.send(());
                        }
                    }
                    None => {
                        let asked: Vec<RunningKey> = running
                            .keys()
                            .filter(|&&(from, id, _)| (from, id) == (msg.from, msg.id))
                            .copied()
                            .collect();
                        for key in asked {
                            if let Some(abort) = running.remove(&key) {
                                let _ = abort.send(());
                            }
                        }
                    }
                }
            }
            Body::Request {
                method,
                uri,
                headers,
                body,
            } => self.on_request(msg.from, msg.id, method, uri, headers, body, via),
            Body::Upgrade { uri, headers } => {
                self.on_upgrade(msg.from, msg.id, uri, headers, via.cloned())
            }
            Body::Handover(h) => {
                if let Err(late) =
                    self.pending
                        .deliver(msg.from, msg.id, Reply::Handover(Box::new(h)))
                {
                    self.on_late_answer(msg.from, msg.id, late, via);
                }
            }
            Body::Proxied => {
                if let Err(late) = self.pending.deliver(msg.from, msg.id, Reply::Proxied) {
                    self.on_late_answer(msg.from, msg.id, late, via);
                }
            }
            body
            @ (Body::TunnelData { .. } | Body::TunnelAck { .. } | Body::TunnelClose { .. }) => {
                let way = via.map(|l| l.id());
                if let Some(close) = self.tunnels.deliver(msg.from, msg.id, body, way) {
                    let close = Message {
                        from: self.node,
                        id: msg.id,
                        body: close,
                    };
                    self.send_via(via, msg.from, close.encode(), None);
                }
            }
        }
    }

    /// The owner side: serves another node's request on a local session.
    /// Runs in the link's reader: an answer that is ready at once (a POST, a
    /// GET with packets queued) is sent from here, without a task; only a
    /// request that must wait (a long-poll, a relay) gets one.
    #[allow(clippy::too_many_arguments)]
    fn on_request(
        self: &Arc<Self>,
        from: NodeId,
        id: u64,
        method: Method,
        uri: Bytes,
        headers: HeaderBlock,
        body: Bytes,
        via: Option<&Arc<PeerLink>>,
    ) {
        let drop_it = || {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        };
        if from == self.node {
            return drop_it();
        }
        let Some(server) = self.server.lock().clone() else {
            return drop_it();
        };
        let Ok(permit) = self.foreign_slots.clone().try_acquire_owned() else {
            return drop_it();
        };
        let Ok(uri) = http::Uri::from_maybe_shared(uri) else {
            return drop_it();
        };
        let key = (from, id, via.map(|l| l.id()));
        if self.running.lock().contains_key(&key) {
            return drop_it();
        }
        let mut req = Request::new(http_body_util::Full::new(body));
        *req.method_mut() = match method {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
        };
        *req.uri_mut() = uri;
        *req.headers_mut() = block_map(&headers);
        let sid = sid_of(req.uri());
        let socket = sid.and_then(|sid| server.socket(sid));
        let sid = socket.is_none().then(|| sid.map(str::to_owned)).flatten();
        let mut fut = self.answer_future(server.clone(), socket.clone(), sid.clone(), req);
        let asked = Asked {
            from,
            id,
            is_get: method == Method::Get,
            via: via.cloned(),
            socket,
            sid,
        };
        let waker = std::task::Waker::noop();
        if let std::task::Poll::Ready(res) = fut
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
        {
            drop(permit);
            return self.answer(&server, asked, res);
        }
        let (abort_tx, abort_rx) = oneshot::channel();
        self.running.lock().insert(key, abort_tx);
        let inner = self.clone();
        // The answer must wait (as hyper has a task per connection): a task.
        tokio::spawn(async move {
            let _permit = permit;
            inner.serve(&server, asked, fut, abort_rx).await;
            inner.running.lock().remove(&key);
        });
    }

    /// What answers request `req` for session `sid`: the session if it is
    /// here (`held`, also if it is handed over meanwhile: the request then
    /// follows it); if it moved, the node it moved to; else "Session ID unknown".
    fn answer_future(
        self: &Arc<Self>,
        server: Server,
        held: Option<Arc<engine_io::Socket>>,
        sid: Option<String>,
        req: Request<ResponseBody>,
    ) -> AnswerFuture {
        if let Some(held) = held {
            return Box::pin(async move { server.serve_foreign_held(held, req).await });
        }
        let inner = self.clone();
        Box::pin(async move {
            let sid = sid.unwrap_or_default();
            inner.wait_arriving(&server, &sid).await;
            match inner.moved_to(&sid) {
                // Handed over: relay to the node the session moved to.
                Some(to) => {
                    let (parts, body) = req.into_parts();
                    let uri = parts.uri.clone();
                    let body = match body.collect().await {
                        Ok(b) => b.to_bytes(),
                        Err(never) => match never {},
                    };
                    let request = ForeignRequest { sid, parts, body };
                    match inner.forward_to(to, request).await {
                        Some(res) => res,
                        // Gone there too: this server's own "Session ID unknown".
                        None => server.serve_foreign(unknown_request(uri)).await,
                    }
                }
                None => {
                    if server.socket(&sid).is_none() {
                        tracing::debug!(%sid, "engine.io cluster: a request from another node for a session neither here nor moved");
                    }
                    server.serve_foreign(req).await
                }
            }
        })
    }

    /// A request whose answer was not ready at once: waits for it (or the
    /// abort), saying first that the session is here if it takes long.
    async fn serve(
        self: &Arc<Self>,
        server: &Server,
        asked: Asked,
        mut fut: AnswerFuture,
        abort: oneshot::Receiver<()>,
    ) {
        // The answer alone when it is ready within half the other node's
        // timeout (a GET whose data is soon queued: one message each way);
        // else first say the session is here, so that the other node waits
        // as long as a long-poll may.
        tokio::pin!(abort);
        let res = tokio::select! {
            res = &mut fut => res,
            _ = &mut abort => return,
            _ = tokio::time::sleep(self.config.response_timeout / 2) => {
                let accepted = Message {
                    from: self.node,
                    id: asked.id,
                    body: Body::Accepted,
                };
                let via = asked.via.as_ref();
                if !self.publish_via(via, asked.from, accepted.encode(), false).await {
                    // The other node is gone: dropping the request ends the poll.
                    return;
                }
                tokio::select! {
                    res = &mut fut => res,
                    // The client went away: dropping the request is what a local abort does.
                    _ = &mut abort => return,
                }
            }
        };
        self.answer(server, asked, res);
    }

    /// Sends the answer to the request `asked`. Never awaits.
    fn answer(self: &Arc<Self>, server: &Server, asked: Asked, res: Response<ResponseBody>) {
        let Asked {
            from,
            id,
            is_get,
            via,
            socket,
            sid,
        } = asked;
        self.counters.served.fetch_add(1, Ordering::Relaxed);
        let (parts, body) = res.into_parts();
        let body = full_bytes(body);
        let delivered_payload = is_get && parts.status == StatusCode::OK && !body.is_empty();
        let msg = Message::encode_response(
            self.node,
            id,
            parts.status.as_u16(),
            || wire_pairs(&parts.headers),
            &body,
        );
        // The drained payload is lost with the node that asked: then close
        // the session rather than lose packets silently.
        let on_loss = delivered_payload
            .then(|| socket.or_else(|| sid.and_then(|sid| server.socket(&sid))))
            .flatten()
            .map(|socket| {
                let inner = self.clone();
                Box::new(move |heard: bool| {
                    if !heard {
                        inner.counters.lost.fetch_add(1, Ordering::Relaxed);
                        socket.close_now();
                    }
                }) as Box<dyn FnOnce(bool) + Send>
            });
        self.send_via(via.as_ref(), from, msg, on_loss);
    }
}

/// The bytes of a full body (it is ready: no waiting). Its one frame is
/// taken as it is (collecting would gather it into a list first).
fn full_bytes(mut body: ResponseBody) -> Bytes {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(body.frame()).poll(&mut cx) {
        std::task::Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        std::task::Poll::Ready(Some(Err(never))) => match never {},
        // A `Full` body is one frame, ready; an empty one has none.
        std::task::Poll::Ready(None) | std::task::Poll::Pending => Bytes::new(),
    }
}

/// A request naming `uri` only: what this node answers for an sid it does
/// not hold (400 "Session ID unknown", in the request's format).
fn unknown_request(uri: http::Uri) -> Request<ResponseBody> {
    let mut req = Request::new(http_body_util::Full::new(Bytes::new()));
    *req.uri_mut() = uri;
    req
}
