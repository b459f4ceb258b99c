//! [`Server`]: the session registry and the request router (verification in
//! the reference's order, handshake, dispatch to the transports).

use crate::body::{empty, ResponseBody};
use crate::config::Config;
use crate::handler::{Handler, StreamHandler};
use crate::packet::ProtocolVersion;
use crate::refusal::{ErrorCode, Refusal};
use crate::request::{query_pairs, RequestInfo};
use crate::shared::Shared;
use crate::socket::Socket;
use crate::TransportType;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// An Engine.IO server: a cheap, clonable handle.
///
/// Build it with [`Server::new`] (callbacks through a [`Handler`]) or
/// [`Server::new_stream`] (sockets from [`Server::accept`], messages from
/// [`Socket::recv`]), then mount it with [`Server::service`],
/// [`Server::layer`], [`Server::serve`] or [`crate::listen`].
#[derive(Clone)]
pub struct Server {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("path", &self.shared.path)
            .field("count", &self.count())
            .finish()
    }
}

/// The parameters of a request that routing needs.
struct Query {
    /// `None`: missing or unknown.
    transport: Option<TransportType>,
    sid: Option<String>,
    /// Whether `EIO` is `4`.
    v4: bool,
}

impl Query {
    fn parse(uri: &Uri) -> Query {
        let mut q = Query {
            transport: None,
            sid: None,
            v4: false,
        };
        // Later values win, as `Object.fromEntries(searchParams)` in the
        // reference. Only the sid is copied.
        for (k, v) in query_pairs(uri.query().unwrap_or("")) {
            match &*k {
                "transport" => q.transport = TransportType::from_query(&v),
                "sid" => q.sid = Some(v.into_owned()),
                "EIO" => q.v4 = v == "4",
                _ => {}
            }
        }
        q
    }

    /// The reference: `EIO === "4" ? 4 : 3`.
    fn protocol(&self) -> ProtocolVersion {
        if self.v4 {
            ProtocolVersion::V4
        } else {
            ProtocolVersion::V3
        }
    }
}

/// Whether the request asks for a protocol upgrade (what makes Node emit `upgrade`).
fn is_upgrade_request(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// The reference's `checkInvalidHeaderChar` on the Origin header.
fn origin_invalid(headers: &HeaderMap) -> bool {
    headers.get(header::ORIGIN).is_some_and(|v| {
        v.as_bytes()
            .iter()
            .any(|&b| !(b == b'\t' || (32..127).contains(&b) || b >= 128))
    })
}

impl Server {
    /// A server calling `handler` for every session event.
    pub fn new(config: Config, handler: impl Handler) -> Server {
        Server::with_handler(config, Arc::new(handler), None)
    }

    /// A server whose sockets are taken with [`Server::accept`] and whose
    /// messages are read with [`Socket::recv`].
    ///
    /// Up to 1024 sockets wait to be accepted; further handshakes are closed
    /// right away while the backlog is full.
    pub fn new_stream(config: Config) -> Server {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        Server::with_handler(config, Arc::new(StreamHandler { accept_tx: tx }), Some(rx))
    }

    fn with_handler(
        config: Config,
        handler: Arc<dyn Handler>,
        rx: Option<tokio::sync::mpsc::Receiver<Arc<Socket>>>,
    ) -> Server {
        let path = config.computed_path();
        Server {
            shared: Arc::new(Shared {
                config,
                handler,
                sockets: Mutex::new(HashMap::default()),
                path,
                accept_rx: rx.map(tokio::sync::Mutex::new),
                tasks: AtomicUsize::new(0),
                tasks_done: Notify::new(),
            }),
        }
    }

    /// The next new socket (stream API). `None` if this server was not built
    /// with [`Server::new_stream`].
    pub async fn accept(&self) -> Option<Arc<Socket>> {
        let rx = self.shared.accept_rx.as_ref()?;
        rx.lock().await.recv().await
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The path prefix this server answers (e.g. `/engine.io/`).
    pub fn path(&self) -> &str {
        &self.shared.path
    }

    /// Number of open sessions.
    pub fn count(&self) -> usize {
        self.shared.sockets.lock().len()
    }

    /// The session with this id, if open.
    pub fn socket(&self, sid: &str) -> Option<Arc<Socket>> {
        self.shared.get(sid)
    }

    /// All open sessions.
    pub fn sockets(&self) -> Vec<Arc<Socket>> {
        self.shared.sockets.lock().values().cloned().collect()
    }

    /// Closes every session now ("forced close"): pending polls are answered
    /// with a close packet and WebSockets get a close frame. Waits (at most
    /// `timeout`) for the socket tasks to finish writing.
    pub async fn close_all(&self, timeout: Duration) {
        for s in self.sockets() {
            s.close_now();
        }
        let wait = async {
            loop {
                let notified = self.shared.tasks_done.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.shared.tasks.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(timeout, wait).await;
    }

    /// Whether a request URI is for this server: the path-and-query starts with
    /// [`Server::path`], as the reference's `check`.
    pub fn matches(&self, uri: &Uri) -> bool {
        let pq = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        pq.starts_with(self.shared.path.as_str())
    }

    /// Whether `req` asks for a new WebSocket session, which routing answers either with its
    /// 101 or with a refusal that closes the connection (never with a response that keeps the
    /// connection for a next request): what [`Server::serve`] answers without hyper (see
    /// [`crate::direct_upgrade`]). An upgrade of an existing session needs hyper's upgrade.
    pub(crate) fn opens_websocket_session<B>(&self, req: &Request<B>) -> bool {
        if req.method() != Method::GET
            || req.version() != http::Version::HTTP_11
            || !self.matches(req.uri())
            || !is_upgrade_request(req.headers())
            || req.headers().contains_key(header::CONTENT_LENGTH)
            || req.headers().contains_key(header::TRANSFER_ENCODING)
            || !self
                .shared
                .config
                .transport_enabled(TransportType::Websocket)
        {
            return false;
        }
        let query = Query::parse(req.uri());
        query.transport == Some(TransportType::Websocket)
            && query.sid.as_deref().is_none_or(str::is_empty)
    }

    /// Handles one HTTP request addressed to the engine (see [`Server::matches`]).
    /// WebSocket upgrades need the connection to be served with upgrades enabled
    /// (hyper's `with_upgrades()`; axum does this).
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.route(req, true).await
    }

    /// Serves a polling request that another node of the cluster received for
    /// a session this node holds (see [`crate::Cluster`]): like
    /// [`Server::handle`], except that it never creates a session and never
    /// forwards again, so a request naming an sid this node does not hold is
    /// answered 400 "Session ID unknown".
    pub async fn serve_foreign(&self, req: Request<ResponseBody>) -> Response<ResponseBody> {
        let query = Query::parse(req.uri());
        let has_sid = query.sid.as_ref().is_some_and(|s| !s.is_empty());
        if !has_sid || is_upgrade_request(req.headers()) {
            let r = Refusal::new(ErrorCode::UnknownSid);
            self.shared.handler.on_refused(r.code);
            return r.http_response(None);
        }
        self.route_parsed(req, query, false, None).await
    }

    /// [`Server::serve_foreign`] for the session `held`, which this node held
    /// when the request came ([`Server::socket`]): if it has been handed over
    /// to another node since (a young session's upgrade there), the request
    /// follows it through the cluster instead of being answered "Session ID
    /// unknown" by the node it just left.
    pub async fn serve_foreign_held(
        &self,
        held: Arc<Socket>,
        req: Request<ResponseBody>,
    ) -> Response<ResponseBody> {
        let query = Query::parse(req.uri());
        let names_it = query.sid.as_deref() == Some(held.id());
        if !names_it || is_upgrade_request(req.headers()) {
            return self.serve_foreign(req).await;
        }
        self.route_parsed(req, query, false, Some(held)).await
    }

    /// Serves a WebSocket upgrade that another node of the cluster received
    /// for a session this node holds (see [`crate::Cluster::upgrade`]): the
    /// session is handed over if young, else its probe runs over a tunnel
    /// whose other end the cluster relays. `None` when this node does not
    /// hold an upgradable polling session of that sid and protocol.
    pub fn serve_foreign_upgrade(
        &self,
        parts: &http::request::Parts,
    ) -> Option<crate::cluster::OwnerUpgrade> {
        let query = Query::parse(&parts.uri);
        let websocket = query.transport == Some(TransportType::Websocket)
            && self
                .shared
                .config
                .transport_enabled(TransportType::Websocket);
        let socket = self.shared.get(query.sid.as_deref()?)?;
        if !websocket
            || socket.protocol() != query.protocol()
            || socket.transport() != TransportType::Polling
        {
            return None;
        }
        crate::cluster::owner_upgrade(&socket)
    }

    /// Serves from now on a session that another node of the cluster handed
    /// over ([`crate::OwnerUpgrade::Takeover`] there): registers it under its
    /// sid, queues its outgoing messages, calls `on_connect` and delivers the
    /// messages the client sent meanwhile. `None` if the sid is taken here.
    pub fn adopt(&self, handover: crate::cluster::Handover) -> Option<Arc<Socket>> {
        crate::cluster::adopt(&self.shared, handover)
    }

    /// Carries a polling request (GET or POST) for a session this node does
    /// not serve to the cluster's node that does. `None`: no cluster, another
    /// method, or no live node holds the session ("Session ID unknown").
    async fn forward<B>(
        &self,
        sid: &str,
        parts: http::request::Parts,
        body: B,
        cors: &Option<HeaderMap>,
    ) -> Option<Response<ResponseBody>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let cluster = self.shared.config.cluster.as_ref()?;
        if parts.method != Method::GET && parts.method != Method::POST {
            return None;
        }
        let limit = self.shared.config.max_http_buffer_size;
        let body = match crate::polling::read_limited(Box::pin(body), limit).await {
            Ok(b) => b,
            Err(crate::polling::BodyError::TooLarge) => {
                return Some(crate::polling::bare(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    cors.clone(),
                ))
            }
            Err(crate::polling::BodyError::Failed) => {
                return Some(crate::polling::bare(StatusCode::BAD_REQUEST, cors.clone()))
            }
        };
        let sid = sid.to_owned();
        let request = crate::cluster::ForeignRequest { sid, parts, body };
        cluster.forward(request).await
    }

    /// Routes a request; `forward`: a request for an sid this node does not
    /// hold may be carried to its owner by the cluster.
    async fn route<B>(&self, req: Request<B>, forward: bool) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let query = Query::parse(req.uri());
        self.route_parsed(req, query, forward, None).await
    }

    /// [`Server::route`] with the request's query parsed already; `held`:
    /// the session the request names, looked up before (it is served even if
    /// it left the map since by a handover, which it then follows).
    async fn route_parsed<B>(
        &self,
        req: Request<B>,
        query: Query,
        forward: bool,
        held: Option<Arc<Socket>>,
    ) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let cfg = &self.shared.config;
        // Without the websocket transport the reference installs no upgrade
        // handler, so upgrade requests are answered like plain HTTP requests.
        let upgrade =
            is_upgrade_request(&parts.headers) && cfg.transport_enabled(TransportType::Websocket);

        // The CORS middleware runs before verification, like the reference's.
        let cors_headers = cfg
            .cors
            .as_ref()
            .and_then(|c| c.headers(&parts.method, &parts.headers));
        if let Some(h) = &cors_headers {
            if parts.method == Method::OPTIONS && !upgrade {
                let mut res = Response::new(empty());
                *res.status_mut() = StatusCode::NO_CONTENT;
                res.headers_mut().extend(h.clone());
                res.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
                return res;
            }
        }

        let refuse = |r: Refusal| {
            self.shared.handler.on_refused(r.code);
            if upgrade {
                r.upgrade_response()
            } else {
                r.http_response(cors_headers.as_ref())
            }
        };

        // 1. transport
        let transport = match query.transport {
            // WebTransport never comes over HTTP/1 (the reference refuses it here too).
            Some(t) if cfg.transport_enabled(t) && t != TransportType::Webtransport => t,
            _ => return refuse(Refusal::new(ErrorCode::UnknownTransport)),
        };
        // 2. origin
        if origin_invalid(&parts.headers) {
            return refuse(Refusal::new(ErrorCode::BadRequest));
        }
        // 3. sid
        if let Some(sid) = query.sid.as_deref().filter(|s| !s.is_empty()) {
            let found = self
                .shared
                .get(sid)
                .or_else(|| held.filter(|s| s.was_handed_over()));
            let Some(socket) = found else {
                if let Some(cluster) = cfg.cluster.as_ref().filter(|_| forward && upgrade) {
                    if transport == TransportType::Websocket {
                        let sid = sid.to_owned();
                        return crate::cluster::foreign_upgrade(
                            &self.shared,
                            cluster.clone(),
                            sid,
                            parts,
                            cors_headers,
                        )
                        .await;
                    }
                }
                if forward && !upgrade {
                    if let Some(res) = self.forward(sid, parts, body, &cors_headers).await {
                        return res;
                    }
                }
                return refuse(Refusal::new(ErrorCode::UnknownSid));
            };
            if !upgrade && socket.transport() != transport {
                return refuse(Refusal::new(ErrorCode::BadRequest));
            }
            if socket.protocol() != query.protocol() {
                return refuse(Refusal::new(ErrorCode::BadRequest));
            }
            if !upgrade && transport == TransportType::Websocket {
                // A plain HTTP request for a WebSocket session (the reference
                // leaves it hanging); it must not touch the session's queue.
                return refuse(Refusal::new(ErrorCode::BadRequest));
            }
            if upgrade {
                if transport != TransportType::Websocket {
                    return refuse(Refusal::new(ErrorCode::BadRequest));
                }
                return crate::websocket::upgrade_existing(socket, parts, cors_headers);
            }
            // A session handed over meanwhile (see `Socket::arrive`) is served
            // by its new node, also when this request came from another node.
            return match parts.method {
                Method::GET => {
                    match crate::polling::get(socket, &parts, cors_headers.clone()).await {
                        Some(res) => res,
                        None => match self.forward(sid, parts, body, &cors_headers).await {
                            Some(res) => res,
                            None => refuse(Refusal::new(ErrorCode::UnknownSid)),
                        },
                    }
                }
                Method::POST => {
                    match crate::polling::post(socket, &parts, body, cors_headers.clone()).await {
                        Ok(res) => res,
                        Err(body) => match self.forward(sid, parts, body, &cors_headers).await {
                            Some(res) => res,
                            None => refuse(Refusal::new(ErrorCode::UnknownSid)),
                        },
                    }
                }
                _ => {
                    let mut res = Response::new(empty());
                    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    if let Some(h) = cors_headers {
                        res.headers_mut().extend(h);
                    }
                    res
                }
            };
        }
        // 4. handshake method
        if parts.method != Method::GET {
            return refuse(Refusal::new(ErrorCode::BadHandshakeMethod));
        }
        // 5. websocket without upgrade
        if transport == TransportType::Websocket && !upgrade {
            return refuse(Refusal::new(ErrorCode::BadRequest));
        }
        // 6. allow-request hook
        let info = Arc::new(RequestInfo::from_parts(&parts));
        if let Some(hook) = &cfg.allow_request {
            if let Err(message) = hook(info.clone()).await {
                return refuse(Refusal {
                    code: ErrorCode::Forbidden,
                    message: Some(message),
                });
            }
        }
        // 7. protocol version
        let protocol = query.protocol();
        if protocol == ProtocolVersion::V3 && !cfg.allow_eio3 {
            return refuse(Refusal::new(ErrorCode::UnsupportedProtocolVersion));
        }
        let info = Arc::unwrap_or_clone(info);
        match transport {
            TransportType::Polling => {
                crate::handshake::polling(&self.shared, info, protocol, &parts, cors_headers)
            }
            TransportType::Websocket => crate::websocket::handshake(
                self.shared.clone(),
                info,
                protocol,
                parts,
                cors_headers,
            ),
            TransportType::Webtransport => refuse(Refusal::new(ErrorCode::UnknownTransport)),
        }
    }

    /// Creates and registers a new socket with its open packet (and initial packet) queued.
    #[cfg(test)]
    pub(crate) fn create_socket(
        &self,
        info: RequestInfo,
        protocol: ProtocolVersion,
        transport: TransportType,
    ) -> Arc<Socket> {
        crate::handshake::create_socket(&self.shared, info, protocol, transport)
    }
}
