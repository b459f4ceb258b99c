//! [`Cluster`]: the hook through which the nodes of a cluster serve each
//! other's sessions, so that a load balancer needs no sticky sessions.
//!
//! A cluster node (crate `engine-io-cluster`) plugs in through
//! [`Config::cluster`](crate::Config::cluster). The server then consults it at
//! these points, and only there:
//! * when it creates a session, for the sid's prefix (the node's id), so that
//!   any node can tell from a sid alone which node owns the session;
//! * when a polling request names an sid this server does not hold: the
//!   cluster carries the request to the owner, which runs it through its own
//!   [`Server::serve_foreign`](crate::Server::serve_foreign) — the session's
//!   own rules (one GET and one POST at a time, close, upgrade noop) apply
//!   there as for a local request — and the answer comes back;
//! * when a polling session opens: [`Cluster::connect_delay`] delays its
//!   `on_connect` (the reference's 300 ms), keeping the messages that arrive
//!   meanwhile for after it;
//! * when a WebSocket upgrade names an sid this server does not hold: the
//!   cluster asks the owner ([`Cluster::upgrade`]), which runs
//!   [`Server::serve_foreign_upgrade`](crate::Server::serve_foreign_upgrade).
//!   A young session (its connection still delayed) is handed over
//!   ([`Handover`]: it leaves the owner without a close, and this server
//!   [`adopt`](crate::Server::adopt)s it and runs the upgrade locally);
//!   otherwise the owner keeps it and runs the WebSocket over a
//!   [`tokio::io::DuplexStream`] whose other end the cluster relays to the
//!   client's connection here ([`TunnelIo`]) — the upgrade, the heartbeat
//!   and the queue's slow-consumer rules run on the owner as for a local
//!   WebSocket.
//!
//! Without a cluster nothing changes: sids are 20 random characters, an
//! unknown sid is answered 400 "Session ID unknown", and `on_connect` runs
//! at once.

use crate::body::ResponseBody;
use crate::conn::Conn;
use crate::refusal::{ErrorCode, Refusal};
use crate::session::{Answer, Upgrade};
use crate::shared::Shared;
use crate::socket::Connect;
use crate::websocket::{accept_key, offer_probe, switching_protocols, upgrade_headers};
use crate::ws_io::{into_transport, into_ws, ws_over, WsIo, WsTransport};
use crate::{
    CloseReason, Message, Packet, ProtocolVersion, RequestInfo, Socket, Str, TransportType,
};
use bytes::Bytes;
use http::Response;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The future of [`Cluster::forward`]: the owner's answer, or `None`.
pub type ForwardFuture = Pin<Box<dyn Future<Output = Option<Response<ResponseBody>>> + Send>>;

/// A polling request (GET or POST) naming a session this node does not hold.
#[derive(Debug)]
pub struct ForeignRequest {
    /// The session id the request names.
    pub sid: String,
    /// The request line and headers.
    pub parts: http::request::Parts,
    /// The body, already read (at most [`Config::max_http_buffer_size`](crate::Config::max_http_buffer_size) bytes).
    pub body: Bytes,
}

/// A cluster of nodes that serve each other's sessions (see the module docs).
pub trait Cluster: Send + Sync + 'static {
    /// What every sid created on this node starts with (the node's id, in
    /// URL-safe base64 characters). The server appends 20 random characters
    /// (120 bits) to it.
    fn sid_prefix(&self) -> &str;

    /// Serves `request` on the node that owns its session. Resolves to that
    /// node's answer, or to `None` when no live node holds the session: the
    /// request is then answered 400 "Session ID unknown", as for any unknown
    /// sid.
    fn forward(&self, request: ForeignRequest) -> ForwardFuture;

    /// Asks the owner of `request`'s session what to do with a WebSocket
    /// that reached this node (see [`UpgradeAnswer`]). `None`: no live node
    /// holds an upgradable session; answered 400 "Session ID unknown" (the
    /// default, for clusters that carry polling only).
    fn upgrade(&self, request: ForeignUpgrade) -> UpgradeFuture {
        drop(request);
        Box::pin(async { None })
    }

    /// How long a new polling session waits before the handler sees it
    /// (`on_connect`), so that an early upgrade reaching another node can
    /// move it there first ([`OwnerUpgrade::Takeover`]). Messages the client
    /// sends meanwhile are kept and delivered after `on_connect`, in order.
    /// `None` (default): at once.
    fn connect_delay(&self) -> Option<std::time::Duration> {
        None
    }
}

/// A WebSocket upgrade (`GET ?transport=websocket&sid=…`) naming a session
/// this node does not hold: the cluster asks the session's owner whether it
/// hands the session over ([`UpgradeAnswer::Takeover`]) or relays the
/// WebSocket ([`UpgradeAnswer::Proxy`]).
#[derive(Debug)]
pub struct ForeignUpgrade {
    /// The session id the request names.
    pub sid: String,
    /// The request line and headers (hyper's upgrade handle is kept by the server).
    pub parts: http::request::Parts,
}

/// The byte stream of a proxied WebSocket on the node the client reached,
/// after the 101 answer: the cluster relays it, unframed, to the owner,
/// which runs the WebSocket over the other end (see [`OwnerUpgrade::Tunnel`]).
///
/// Bytes the HTTP server read beyond the upgrade request are inside the transport, which
/// reads them first.
pub struct TunnelIo {
    pub(crate) io: crate::ws_io::WsTransport,
}

impl std::fmt::Debug for TunnelIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TunnelIo")
    }
}

impl tokio::io::AsyncRead for TunnelIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TunnelIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_flush(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// What to do with the client's connection once the 101 answer is written.
pub type TunnelFn = Box<dyn FnOnce(TunnelIo) + Send>;

/// The owner's decision on a [`ForeignUpgrade`].
pub enum UpgradeAnswer {
    /// The session moved to this node and is served here from now on (the
    /// cluster registered it with [`Server::adopt`](crate::Server::adopt)).
    Takeover(Arc<Socket>),
    /// The owner keeps the session: answer 101 and hand the connection to
    /// the function, which relays it to the owner.
    Proxy(TunnelFn),
}

impl std::fmt::Debug for UpgradeAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpgradeAnswer::Takeover(s) => f.debug_tuple("Takeover").field(s).finish(),
            UpgradeAnswer::Proxy(_) => f.write_str("Proxy"),
        }
    }
}

/// The future of [`Cluster::upgrade`]: the owner's decision, or `None`
/// (answered 400 "Session ID unknown").
pub type UpgradeFuture = Pin<Box<dyn Future<Output = Option<UpgradeAnswer>> + Send>>;

/// A young polling session (its `connection` not emitted yet, see
/// [`Cluster::connect_delay`]) handed by its owner to the node its WebSocket
/// reached: what that node needs to serve it.
#[derive(Debug, Clone, PartialEq)]
pub struct Handover {
    /// The session id (it keeps the old owner's prefix).
    pub sid: String,
    /// The session's protocol.
    pub protocol: ProtocolVersion,
    /// The handshake request's URI.
    pub uri: http::Uri,
    /// The handshake request's headers.
    pub headers: http::HeaderMap,
    /// The client's address, if known.
    pub remote_addr: Option<std::net::SocketAddr>,
    /// Messages queued for the client and not sent yet.
    pub outgoing: Vec<Message>,
    /// Messages the client sent, not delivered yet (the delayed `connection`).
    pub incoming: Vec<Message>,
}

/// What the owner does with a [`ForeignUpgrade`] another node received
/// ([`Server::serve_foreign_upgrade`](crate::Server::serve_foreign_upgrade)).
#[derive(Debug)]
pub enum OwnerUpgrade {
    /// The session was young: it left this server without a close (its
    /// handler never saw it); the other node serves it from now on.
    Takeover(Box<Handover>),
    /// The session stays: its WebSocket probe runs over this stream, whose
    /// other end carries the client's bytes, relayed by the other node.
    Tunnel(tokio::io::DuplexStream),
}

/// How many bytes the owner's end of a tunnel buffers each way (the
/// WebSocket writer then waits: the session's queue grows, and its
/// slow-consumer rules apply as for a local WebSocket).
const TUNNEL_BUFFER: usize = 64 * 1024;

impl Socket {
    /// Hands a young session over to another node: only while its
    /// connection is delayed (the handler never saw it), over polling, with
    /// no upgrade under way and no POST in flight (its packets would reach a
    /// session that left; the session is then proxied instead). The session
    /// leaves this server without a close; a pending GET is answered with a
    /// noop, as during an upgrade, and requests that found it before it left
    /// are forwarded to its new node ([`Socket::arrive`]).
    fn hand_over(self: &Arc<Self>) -> Option<Handover> {
        let mut st = self.lock();
        let young = st.connect == Connect::Delayed
            && st.session.is_open()
            && st.session.transport() == TransportType::Polling
            && st.session.upgrade() == Upgrade::Idle
            && !st.session.post_in_flight();
        if !young {
            return None;
        }
        st.handed_over = true;
        let outgoing: Vec<Message> = self
            .drain_queue(&mut st)
            .into_iter()
            // Heartbeat packets stay here: the new node runs its own.
            .filter_map(Packet::into_message)
            .collect();
        let incoming = Vec::from(std::mem::take(&mut st.inbox));
        // Closed under the same lock: a packet arriving now finds the session
        // closed rather than an inbox nobody reads.
        st.session.handle_event(
            tokio::time::Instant::now().into_std(),
            crate::session::Event::Abort {
                reason: CloseReason::TransportClose,
                description: Some("moved to another node".into()),
                answer: Answer::Noop,
            },
        );
        let after = self.apply(&mut st);
        drop(st);
        self.finish(after);
        let request = self.request();
        tracing::debug!(
            sid = %self.id(),
            outgoing = outgoing.len(),
            incoming = incoming.len(),
            "engine.io: session handed over"
        );
        Some(Handover {
            sid: self.id().to_owned(),
            protocol: self.protocol(),
            uri: request.uri.clone(),
            headers: request.headers.map().clone(),
            remote_addr: request.remote_addr,
            outgoing,
            incoming,
        })
    }
}

/// The owner's side of a [`ForeignUpgrade`] (see [`OwnerUpgrade`]); `None`
/// when the session cannot upgrade (closed, upgrading or upgraded already).
pub(crate) fn owner_upgrade(socket: &Arc<Socket>) -> Option<OwnerUpgrade> {
    if let Some(h) = socket.hand_over() {
        return Some(OwnerUpgrade::Takeover(Box::new(h)));
    }
    {
        let st = socket.lock();
        let upgradable = socket.shared.config.allow_upgrades
            && st.session.is_open()
            && st.session.transport() == TransportType::Polling
            && st.session.upgrade() == Upgrade::Idle;
        if !upgradable {
            return None;
        }
    }
    let (ours, theirs) = tokio::io::duplex(TUNNEL_BUFFER);
    let socket = socket.clone();
    tokio::spawn(async move {
        let ws = ws_over(WsTransport::duplex(ours), &socket.shared.config).await;
        offer_probe(&socket, Conn::Ws(WsIo::new(ws)), TransportType::Websocket);
    });
    Some(OwnerUpgrade::Tunnel(theirs))
}

/// A session handed over by its old owner, served here from now on:
/// registered under its sid, its queued messages queued again, the handler
/// told, and the messages the client sent meanwhile delivered. `None` if the
/// sid is taken here.
pub(crate) fn adopt(shared: &Arc<Shared>, h: Handover) -> Option<Arc<Socket>> {
    tracing::debug!(
        sid = %h.sid,
        outgoing = h.outgoing.len(),
        incoming = h.incoming.len(),
        "engine.io: session adopted"
    );
    let info = RequestInfo::new(http::Method::GET, h.uri, &h.headers, h.remote_addr);
    let socket = {
        let mut map = shared.sockets.lock();
        let sid = Str::from(h.sid);
        if map.contains_key(&sid) {
            return None;
        }
        let socket = Socket::new(
            sid.clone(),
            h.protocol,
            info,
            TransportType::Polling,
            shared.clone(),
        );
        {
            // Found in the map, it may get a POST (one its old owner relays
            // here) before the handler has seen it: those messages wait
            // behind the ones it brings, as in a delayed connection.
            let mut st = socket.lock();
            st.connect = Connect::Replaying;
            st.inbox.extend(h.incoming);
        }
        map.insert(sid, socket.clone());
        socket
    };
    for m in h.outgoing {
        let _ = socket.try_send(m);
    }
    crate::driver::spawn(socket.clone(), None);
    socket.replay_connect();
    Some(socket)
}

/// A WebSocket upgrade for a session this node does not hold: the owner
/// hands the session over (it is then served here, the upgrade running
/// locally) or keeps it (the connection is relayed to it); else 400
/// "Session ID unknown".
pub(crate) async fn foreign_upgrade(
    shared: &Arc<Shared>,
    cluster: Arc<dyn Cluster>,
    sid: String,
    mut parts: http::request::Parts,
    cors: Option<http::HeaderMap>,
) -> Response<ResponseBody> {
    let refuse = |r: Refusal| {
        shared.handler.on_refused(r.code);
        r.upgrade_response()
    };
    let accept = match accept_key(&parts.headers) {
        Ok(a) => a,
        Err(m) => {
            return refuse(Refusal {
                code: ErrorCode::BadRequest,
                message: Some(m.into()),
            })
        }
    };
    let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return refuse(Refusal::new(ErrorCode::BadRequest));
    };
    let info = RequestInfo::from_parts(&parts);
    let request = ForeignUpgrade {
        sid: sid.clone(),
        parts,
    };
    match cluster.upgrade(request).await {
        Some(UpgradeAnswer::Takeover(socket)) if socket.id() == sid => {
            let headers = upgrade_headers(&shared.config, socket.request(), cors, false);
            tokio::spawn(async move {
                let Some(ws) = into_ws(on_upgrade, &socket.shared.config).await else {
                    return;
                };
                offer_probe(&socket, Conn::Ws(WsIo::new(ws)), TransportType::Websocket);
            });
            switching_protocols(accept, Some(headers))
        }
        Some(UpgradeAnswer::Proxy(relay)) => {
            let headers = upgrade_headers(&shared.config, &info, cors, false);
            tokio::spawn(async move {
                if let Some(io) = into_transport(on_upgrade).await {
                    relay(TunnelIo { io });
                }
            });
            switching_protocols(accept, Some(headers))
        }
        Some(UpgradeAnswer::Takeover(_)) | None => refuse(Refusal::new(ErrorCode::UnknownSid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Handler};
    use http_body_util::BodyExt;
    use parking_lot::Mutex;
    use std::time::Duration;

    /// A cluster hook with the delayed connection and nothing else.
    struct Delayed;

    impl Cluster for Delayed {
        fn sid_prefix(&self) -> &str {
            "nodeAAAA"
        }
        fn forward(&self, _request: ForeignRequest) -> ForwardFuture {
            Box::pin(async { None })
        }
        fn connect_delay(&self) -> Option<Duration> {
            Some(Duration::from_millis(300))
        }
    }

    /// [`Delayed`] whose forwards reach a node that answers "relayed".
    struct Relaying;

    impl Cluster for Relaying {
        fn sid_prefix(&self) -> &str {
            "nodeAAAA"
        }
        fn forward(&self, _request: ForeignRequest) -> ForwardFuture {
            Box::pin(async { Some(Response::new(crate::body::full("relayed"))) })
        }
        fn connect_delay(&self) -> Option<Duration> {
            Some(Duration::from_millis(300))
        }
    }

    /// Records the handler's calls.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<String>>>);

    impl Handler for Log {
        fn on_connect(&self, _socket: Arc<Socket>) {
            self.0.lock().push("connect".into());
        }
        fn on_message(&self, _socket: &Arc<Socket>, msg: Message) {
            self.0.lock().push(msg.as_text().unwrap_or("?").to_owned());
        }
        fn on_close(&self, _socket: &Arc<Socket>, _reason: CloseReason) {
            self.0.lock().push("close".into());
        }
    }

    fn server(log: &Log) -> crate::Server {
        let config = Config::builder().cluster(Arc::new(Delayed)).build();
        crate::Server::new(config, log.clone())
    }

    async fn request(
        server: &crate::Server,
        method: http::Method,
        uri: &str,
        body: &str,
    ) -> String {
        let mut req = http::Request::new(http_body_util::Full::new(Bytes::from(body.to_owned())));
        *req.method_mut() = method;
        *req.uri_mut() = uri.parse().unwrap();
        let res = server.handle(req).await;
        let body = res.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    async fn handshake(server: &crate::Server) -> String {
        let open = request(
            server,
            http::Method::GET,
            "/engine.io/?EIO=4&transport=polling",
            "",
        )
        .await;
        let json: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
        json["sid"].as_str().unwrap().to_owned()
    }

    fn upgrade_parts(sid: &str) -> http::request::Parts {
        let uri = format!("/engine.io/?EIO=4&transport=websocket&sid={sid}");
        http::Request::get(uri).body(()).unwrap().into_parts().0
    }

    #[tokio::test(start_paused = true)]
    async fn the_delayed_connection_keeps_messages_for_after_it_in_order() {
        let log = Log::default();
        let server = server(&log);
        let sid = handshake(&server).await;
        assert!(sid.starts_with("nodeAAAA"));
        let uri = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
        assert_eq!(
            request(&server, http::Method::POST, &uri, "4a\x1e4b").await,
            "ok"
        );
        assert!(log.0.lock().is_empty(), "nothing before the delay");
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(request(&server, http::Method::POST, &uri, "4c").await, "ok");
        assert_eq!(*log.0.lock(), ["connect", "a", "b", "c"]);
        // A connected session is not handed over: its upgrade runs over a tunnel.
        assert!(matches!(
            server.serve_foreign_upgrade(&upgrade_parts(&sid)),
            Some(OwnerUpgrade::Tunnel(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_young_session_is_handed_over_without_a_close_and_adopted() {
        let (log, log2) = (Log::default(), Log::default());
        let (old, new) = (server(&log), server(&log2));
        let sid = handshake(&old).await;
        let uri = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
        assert_eq!(request(&old, http::Method::POST, &uri, "4a").await, "ok");
        old.socket(&sid).unwrap().try_send("queued").unwrap();
        let Some(OwnerUpgrade::Takeover(h)) = old.serve_foreign_upgrade(&upgrade_parts(&sid))
        else {
            panic!("a young session is handed over");
        };
        assert_eq!(h.sid, sid);
        assert_eq!(h.incoming, vec![Message::from("a")]);
        assert_eq!(h.outgoing, vec![Message::from("queued")]);
        assert!(old.socket(&sid).is_none(), "it left the old owner");
        assert!(old.serve_foreign_upgrade(&upgrade_parts(&sid)).is_none());
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(
            log.0.lock().is_empty(),
            "the old owner's handler never saw it: {:?}",
            log.0.lock()
        );
        let socket = new.adopt(*h).expect("adopted");
        assert_eq!(*log2.0.lock(), ["connect", "a"]);
        assert_eq!(socket.queued(), 1);
        assert!(new.socket(&sid).is_some());
        socket.close_now();
    }

    /// A handler whose `on_connect` takes 200 ms (a busy application's).
    #[derive(Clone, Default)]
    struct SlowConnect(Log);

    impl Handler for SlowConnect {
        fn on_connect(&self, socket: Arc<Socket>) {
            std::thread::sleep(Duration::from_millis(200));
            self.0.on_connect(socket);
        }
        fn on_message(&self, socket: &Arc<Socket>, msg: Message) {
            self.0.on_message(socket, msg);
        }
        fn on_close(&self, socket: &Arc<Socket>, reason: CloseReason) {
            self.0.on_close(socket, reason);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_post_that_reaches_an_adopted_session_before_its_connect_waits_for_it() {
        let (log, log2) = (Log::default(), SlowConnect::default());
        let old = server(&log);
        let config = Config::builder().cluster(Arc::new(Delayed)).build();
        let new = crate::Server::new(config, log2.clone());
        let sid = handshake(&old).await;
        let uri = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
        assert_eq!(request(&old, http::Method::POST, &uri, "4a").await, "ok");
        let Some(OwnerUpgrade::Takeover(h)) = old.serve_foreign_upgrade(&upgrade_parts(&sid))
        else {
            panic!("a young session is handed over");
        };
        let adopting = new.clone();
        let adopted = tokio::task::spawn_blocking(move || adopting.adopt(*h));
        // The old owner relays the client's next POST as soon as the session is found here.
        while new.socket(&sid).is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(request(&new, http::Method::POST, &uri, "4b").await, "ok");
        let socket = adopted.await.unwrap().expect("adopted");
        assert_eq!(*log2.0 .0.lock(), ["connect", "a", "b"]);
        socket.close_now();
    }

    /// Another node's request found the session here, which then left (its
    /// upgrade on a third node): it follows the session, not "Session ID unknown".
    #[tokio::test(start_paused = true)]
    async fn a_foreign_request_for_a_session_handed_over_meanwhile_follows_it() {
        let config = Config::builder().cluster(Arc::new(Relaying)).build();
        let server = crate::Server::new(config, Log::default());
        let sid = handshake(&server).await;
        let held = server.socket(&sid).expect("held");
        assert!(matches!(
            server.serve_foreign_upgrade(&upgrade_parts(&sid)),
            Some(OwnerUpgrade::Takeover(_))
        ));
        let uri = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
        let req = |method| {
            let mut req = http::Request::new(crate::body::full(""));
            *req.method_mut() = method;
            *req.uri_mut() = uri.parse().unwrap();
            req
        };
        let text = |res: Response<ResponseBody>| async move {
            let body = res.into_body().collect().await.unwrap().to_bytes();
            String::from_utf8(body.to_vec()).unwrap()
        };
        let unknown = server.serve_foreign(req(http::Method::GET)).await;
        assert!(text(unknown).await.contains("Session ID unknown"));
        for method in [http::Method::GET, http::Method::POST] {
            let res = server.serve_foreign_held(held.clone(), req(method)).await;
            assert_eq!(text(res).await, "relayed");
        }
    }

    /// A POST body that arrives when `tx` sends it.
    fn slow_body(
        rx: tokio::sync::oneshot::Receiver<Bytes>,
    ) -> impl http_body::Body<Data = Bytes, Error = std::convert::Infallible> + Send + 'static {
        http_body_util::StreamBody::new(futures_util::stream::once(async move {
            Ok(http_body::Frame::data(rx.await.unwrap_or_default()))
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_with_a_post_in_flight_is_proxied_not_handed_over() {
        let log = Log::default();
        let server = server(&log);
        let sid = handshake(&server).await;
        let uri = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut req = http::Request::new(slow_body(rx));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = uri.parse().unwrap();
        let s = server.clone();
        let post = tokio::spawn(async move { s.handle(req).await });
        tokio::time::sleep(Duration::from_millis(5)).await;
        // Handed over now, the POST's packets would reach a session that left.
        assert!(matches!(
            server.serve_foreign_upgrade(&upgrade_parts(&sid)),
            Some(OwnerUpgrade::Tunnel(_))
        ));
        tx.send(Bytes::from_static(b"4a")).unwrap();
        let res = post.await.unwrap();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "ok");
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(*log.0.lock(), ["connect", "a"]);
        server.socket(&sid).unwrap().close_now();
    }

    #[tokio::test(start_paused = true)]
    async fn requests_that_found_the_session_before_it_left_are_not_served_by_it() {
        let log = Log::default();
        let server = server(&log);
        let sid = handshake(&server).await;
        let socket = server.socket(&sid).unwrap();
        assert!(matches!(
            server.serve_foreign_upgrade(&upgrade_parts(&sid)),
            Some(OwnerUpgrade::Takeover(_))
        ));
        let uri = format!("/engine.io/?EIO=4&transport=polling&sid={sid}");
        let parts = |method| {
            let mut req = http::Request::new(());
            *req.method_mut() = method;
            *req.uri_mut() = uri.parse().unwrap();
            req.into_parts().0
        };
        let body = http_body_util::Full::new(Bytes::from_static(b"4a"));
        let post_parts = parts(http::Method::POST);
        let post = crate::polling::post(socket.clone(), &post_parts, body, None);
        let Err(body) = post.await else {
            panic!("a POST reached a session that moved");
        };
        assert_eq!(body.collect().await.unwrap().to_bytes(), "4a", "unread");
        let get = crate::polling::get(socket, &parts(http::Method::GET), None).await;
        assert!(get.is_none(), "a GET reached a session that moved");
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(log.0.lock().is_empty(), "{:?}", log.0.lock());
    }
}
