//! Instrumentation for the [`@socket.io/admin-ui`](https://github.com/socketio/socket.io-admin-ui)
//! web app, version 0.5 (feature `admin-ui`): the same `/admin` namespace, events and actions as
//! the npm package's `instrument(io, options)`, so the Admin UI shows this server (and every
//! node of a cluster: the admin events are broadcast through the adapter).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;
use socketio_adapter::Handshake;
use socketio_parser::{to_value, Map, Value};

use crate::handshake::{iso_date_string, now_millis};
use crate::namespace::NsInner;
use crate::server::ServerInner;
use crate::{
    Args, ConnectError, DisconnectReason, Event, IntoRooms, Namespace, SocketIo, SocketRef,
};

/// How often `server_stats` is emitted (the reference's interval).
const STATS_INTERVAL: Duration = Duration::from_secs(2);
/// Admin sessions remembered for re-authentication (oldest forgotten first).
const MAX_SESSIONS: usize = 1024;
/// Distinct (second, type, subtype) buckets kept between two `server_stats`.
const MAX_BUCKETS: usize = 4096;

/// Options of [`SocketIo::instrument`] (the npm `instrument(io, options)`).
#[derive(Debug, Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
#[non_exhaustive]
pub struct AdminUiOptions {
    /// The namespace the Admin UI connects to. Default `/admin`.
    pub namespace: String,
    /// `None` (the default): no authentication, as the reference's `auth: false`; anybody who
    /// reaches the server can watch it and, unless `readonly`, act on it.
    pub auth: Option<AdminAuth>,
    /// Only watch: the UI's actions (emit, join, leave, disconnect) are not offered nor
    /// honoured. Default false.
    pub readonly: bool,
    /// The id of this server in the UI's server list. Default: the host name.
    pub server_id: Option<String>,
    /// The reference's `mode: "production"`: only the aggregated statistics, no per-socket
    /// events nor socket list (cheaper on a busy server). Default false (`"development"`).
    pub production: bool,
}

impl Default for AdminUiOptions {
    fn default() -> Self {
        Self {
            namespace: "/admin".to_owned(),
            auth: None,
            readonly: false,
            server_id: None,
            production: false,
        }
    }
}

impl AdminUiOptions {
    /// Basic authentication: the UI's username and password, checked against a bcrypt hash
    /// of the password (e.g. `htpasswd -bnBC 10 "" PASSWORD | tr -d ':\n'`).
    pub fn basic_auth(
        mut self,
        username: impl Into<String>,
        bcrypt_hash: impl Into<String>,
    ) -> Self {
        self.auth = Some(AdminAuth {
            username: username.into(),
            password_hash: bcrypt_hash.into(),
        });
        self
    }

    /// See [`readonly`](Self::readonly).
    pub fn readonly(mut self, readonly: bool) -> Self {
        self.readonly = readonly;
        self
    }
}

/// Basic authentication of the Admin UI (see [`AdminUiOptions::basic_auth`]).
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
pub struct AdminAuth {
    /// The expected username.
    pub username: String,
    /// The bcrypt hash of the expected password (`$2a$`, `$2b$` or `$2y$`).
    pub password_hash: String,
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why [`SocketIo::instrument`] failed.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
#[non_exhaustive]
pub enum AdminUiError {
    /// The password hash is not a bcrypt hash (the reference's message).
    #[error("the `password` field must be a valid bcrypt hash")]
    InvalidHash,
    /// The server is already instrumented.
    #[error("the server is already instrumented")]
    AlreadyInstrumented,
    /// Called outside a Tokio runtime (the statistics timer needs one).
    #[error("instrument must be called within a Tokio runtime")]
    NoRuntime,
}

impl SocketIo {
    /// Instruments the server for the `@socket.io/admin-ui` web app, version 0.5 (feature
    /// `admin-ui`; the npm `instrument(io, options)`). Point the UI at this server's URL, with
    /// the path of the server (`/socket.io`) and the namespace of the options (`/admin`).
    ///
    /// What the UI gets, as from the reference:
    /// * `config` (the supported features) on connection, then in the default development mode
    ///   `all_sockets` (every socket of every namespace, across the cluster);
    /// * `server_stats` every 2 s: host, pid, uptime, connection counts, sockets per namespace,
    ///   and the aggregated connections, disconnections, packets and bytes per second;
    /// * `socket_connected`, `socket_disconnected`, `socket_updated` (transport upgrade),
    ///   `room_joined`, `room_left`, `event_received`, `event_sent`;
    /// * unless `readonly`, its actions: `emit`, `join`, `leave` and `_disconnect`, on a whole
    ///   namespace or the sockets of a room (a socket id targets one socket), across the cluster.
    ///
    /// With a cluster adapter every node is instrumented the same way and the admin events go
    /// to the admin sockets of every node, so one UI sees the whole cluster (npm nodes
    /// included). Differences from the reference: `socket_updated` is not sent when a socket's
    /// data changes, and a socket of another Rust node shows its own id as client id and no
    /// transport in `all_sockets` (npm nodes send theirs in the socket data).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use socketio_server::{AdminUiOptions, SocketIo};
    ///
    /// let io = SocketIo::new();
    /// // The UI logs in as admin / changeit; the hash is bcrypt("changeit").
    /// io.instrument(AdminUiOptions::default().basic_auth(
    ///     "admin",
    ///     "$2a$10$C8sIDXMd4siAan83ImWubeyIx/d.lMFymlNpISgzSf6VTGrjzyXkK",
    /// ))
    /// .expect("a valid bcrypt hash");
    /// # }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "admin-ui")))]
    pub fn instrument(&self, options: AdminUiOptions) -> Result<(), AdminUiError> {
        if let Some(auth) = &options.auth {
            auth.password_hash
                .parse::<bcrypt::HashParts>()
                .map_err(|_| AdminUiError::InvalidHash)?;
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| AdminUiError::NoRuntime)?;
        let admin_ns = self.of_or_create(&options.namespace);
        let features = supported_features(&options);
        let state = Arc::new_cyclic(|me| AdminState {
            me: me.clone(),
            server: Arc::downgrade(&self.0),
            admin_nsp: admin_ns.0.clone(),
            verbose: !options.production,
            watched: parking_lot::Mutex::new(HashSet::new()),
            buffer: parking_lot::Mutex::new(HashMap::new()),
            started: Instant::now(),
            server_id: options.server_id.clone().unwrap_or_else(hostname),
        });
        self.0
            .config
            .metrics
            .admin
            .set(state.clone() as Arc<dyn crate::metrics::AdminHooks>)
            .map_err(|_| AdminUiError::AlreadyInstrumented)?;

        if let Some(auth) = options.auth.clone() {
            let sessions: Arc<parking_lot::Mutex<VecDeque<String>>> = Arc::default();
            admin_ns.use_middleware(move |socket: SocketRef| {
                authenticate(socket, auth.clone(), sessions.clone())
            });
        }
        let readonly = options.readonly;
        let verbose = state.verbose;
        admin_ns.on_connection(
            move |socket: SocketRef, io: SocketIo, session: crate::MaybeExtension<AdminSession>| {
                if let Some(AdminSession(id)) = session.0 {
                    let _ = socket.emit("session", &id);
                }
                if !readonly {
                    register_actions(&socket);
                }
                let _ = socket.emit(
                    "config",
                    &Config {
                        supported_features: features.clone(),
                    },
                );
                async move {
                    if verbose {
                        let all = all_sockets(&io).await;
                        let _ = socket.emit("all_sockets", &all);
                    }
                }
            },
        );
        if state.verbose {
            for ns in self.0.namespace_list() {
                state.watch_rooms(&ns);
            }
        }
        // The first `server_stats` at once, then every 2 s until the server is dropped.
        state.emit_stats();
        let weak = Arc::downgrade(&state);
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(STATS_INTERVAL);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(state) = weak.upgrade() else { return };
                if state.server.strong_count() == 0 {
                    return;
                }
                state.emit_stats();
            }
        });
        Ok(())
    }
}

/// The admin session id given to a UI that logged in with its password.
#[derive(Clone)]
struct AdminSession(String);

/// The reference's basic authentication: a known session id, or the username and a password
/// matching the bcrypt hash (checked on the blocking pool: bcrypt is slow on purpose).
async fn authenticate(
    socket: SocketRef,
    auth: AdminAuth,
    sessions: Arc<parking_lot::Mutex<VecDeque<String>>>,
) -> Result<(), ConnectError> {
    let handshake_auth = &socket.handshake().auth;
    if let Some(id) = handshake_auth.get("sessionId").and_then(Value::as_str) {
        if sessions.lock().iter().any(|s| s == id) {
            return Ok(());
        }
    }
    let username = handshake_auth.get("username").and_then(Value::as_str);
    let password = handshake_auth
        .get("password")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let (Some(username), Some(password)) = (username, password) {
        if username == auth.username {
            let hash = auth.password_hash.clone();
            let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(false);
            if matches {
                let id = random_id();
                {
                    let mut sessions = sessions.lock();
                    if sessions.len() >= MAX_SESSIONS {
                        sessions.pop_front();
                    }
                    sessions.push_back(id.clone());
                }
                // Sent once connected (the reference emits it from the middleware; its client
                // buffers it until the connection).
                socket.extensions().insert(AdminSession(id));
                return Ok(());
            }
        }
    }
    Err(ConnectError::new("invalid credentials"))
}

fn random_id() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 8];
    rand::rng().fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn supported_features(options: &AdminUiOptions) -> Vec<&'static str> {
    let mut features = if options.readonly {
        Vec::new()
    } else {
        vec![
            "EMIT",
            "JOIN",
            "LEAVE",
            "DISCONNECT",
            "MJOIN",
            "MLEAVE",
            "MDISCONNECT",
        ]
    };
    features.push("AGGREGATED_EVENTS");
    if !options.production {
        features.push("ALL_EVENTS");
    }
    features
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    supported_features: Vec<&'static str>,
}

/// The UI's actions (reference `registerFeatureHandlers`, Socket.IO v4 flavour): on a whole
/// namespace, or on the sockets of the room `filter` (a socket id is a room).
fn register_actions(socket: &SocketRef) {
    socket.on("emit", |io: SocketIo, Args(args): Args| async move {
        let mut args = args.into_iter();
        let (Some(nsp), filter, Some(Value::String(event))) =
            (args.next(), args.next(), args.next())
        else {
            return;
        };
        if let Some(op) = target(&io, &nsp, filter.as_ref()) {
            let _ = op.emit_values(&event, args.collect());
        }
    });
    socket.on("join", |io: SocketIo, Args(args): Args| async move {
        if let [nsp, Value::String(room), rest @ ..] = args.as_slice() {
            if let Some(op) = target(&io, nsp, rest.first()) {
                let _ = op.sockets_join(room.as_str()).await;
            }
        }
    });
    socket.on("leave", |io: SocketIo, Args(args): Args| async move {
        if let [nsp, Value::String(room), rest @ ..] = args.as_slice() {
            if let Some(op) = target(&io, nsp, rest.first()) {
                let _ = op.sockets_leave(room.as_str()).await;
            }
        }
    });
    socket.on("_disconnect", |io: SocketIo, Args(args): Args| async move {
        if let [nsp, close, rest @ ..] = args.as_slice() {
            let close = close.as_bool().unwrap_or(false);
            if let Some(op) = target(&io, nsp, rest.first()) {
                let _ = op.disconnect_sockets(close).await;
            }
        }
    });
}

/// The broadcast an action targets: namespace `nsp` (it must exist), in room `filter` if set.
fn target(io: &SocketIo, nsp: &Value, filter: Option<&Value>) -> Option<crate::BroadcastOperator> {
    let ns = io.of(nsp.as_str()?)?;
    Some(match filter.and_then(Value::as_str) {
        Some(room) if !room.is_empty() => ns.to(room.into_rooms()),
        _ => ns.broadcast(),
    })
}

/// A socket as the UI knows it (reference `serialize`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SerializedSocket {
    id: String,
    client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<String>,
    nsp: String,
    data: Value,
    handshake: SerializedHandshake,
    rooms: Vec<String>,
}

#[derive(Serialize)]
struct SerializedHandshake {
    address: String,
    headers: std::collections::BTreeMap<String, String>,
    query: std::collections::BTreeMap<String, String>,
    issued: u64,
    secure: bool,
    time: String,
    url: String,
    xdomain: bool,
}

impl SerializedHandshake {
    fn new(h: &Handshake) -> Self {
        // Behind a proxy, the client's address as the reference reads it.
        let address = h
            .headers
            .get("cf-connecting-ip")
            .or_else(|| h.headers.get("x-forwarded-for"))
            .cloned()
            .unwrap_or_else(|| h.address.clone());
        Self {
            address,
            headers: h.headers.clone(),
            query: h.query.clone(),
            issued: h.issued,
            secure: h.secure,
            time: h.time.clone(),
            url: h.url.clone(),
            xdomain: h.xdomain,
        }
    }
}

/// The socket data without the reference's `_admin` bookkeeping (reference `serializeData`).
fn user_data(data: &Value) -> Value {
    match data {
        Value::Object(map) => {
            let mut map = map.clone();
            map.shift_remove("_admin");
            Value::Object(map)
        }
        _ => Value::Object(Map::new()),
    }
}

fn serialize_local(socket: &SocketRef) -> SerializedSocket {
    SerializedSocket {
        id: socket.id().to_string(),
        client_id: socket.conn().id().chars().take(12).collect(),
        transport: Some(socket.transport().to_owned()),
        nsp: socket.ns_name().to_owned(),
        data: user_data(&socket.data_value()),
        handshake: SerializedHandshake::new(socket.handshake()),
        rooms: socket.rooms().iter().map(|r| r.to_string()).collect(),
    }
}

/// Every socket of every namespace of this node, on every node (reference `fetchAllSockets`).
async fn all_sockets(io: &SocketIo) -> Vec<SerializedSocket> {
    let mut out = Vec::new();
    for ns in io.0.namespace_list() {
        let ns = Namespace(ns);
        let Ok(remote) = ns.fetch_sockets().await else {
            continue;
        };
        for r in remote {
            if let Some(local) = ns.get_socket(r.id()) {
                out.push(serialize_local(&local));
                continue;
            }
            // Another node: npm nodes keep the client id and transport in `data._admin`.
            let admin = r.data_value().get("_admin");
            let field = |name: &str| {
                admin
                    .and_then(|a| a.get(name))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            out.push(SerializedSocket {
                id: r.id().to_string(),
                client_id: field("clientId").unwrap_or_else(|| r.id().to_string()),
                transport: field("transport"),
                nsp: ns.name().to_owned(),
                data: user_data(r.data_value()),
                handshake: SerializedHandshake::new(r.handshake()),
                rooms: r.rooms().iter().map(|room| room.to_string()).collect(),
            });
        }
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AggregatedEvent {
    timestamp: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_type: Option<&'static str>,
    count: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NamespaceStats {
    name: String,
    sockets_count: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServerStats {
    server_id: String,
    hostname: String,
    pid: u32,
    uptime: f64,
    clients_count: usize,
    polling_clients_count: usize,
    aggregated_events: Vec<AggregatedEvent>,
    namespaces: Vec<NamespaceStats>,
}

type BucketKey = (u64, &'static str, Option<&'static str>);

/// The instrumentation of one server, reached from its hooks (see `metrics::ServerMetrics`).
pub(crate) struct AdminState {
    /// Itself, for the handlers it registers (they hold it weakly).
    me: Weak<AdminState>,
    server: Weak<ServerInner>,
    admin_nsp: Arc<NsInner>,
    verbose: bool,
    /// Namespaces whose room events are forwarded.
    watched: parking_lot::Mutex<HashSet<Arc<str>>>,
    /// Counts per second, type and subtype since the last `server_stats` (reference
    /// `EventBuffer`).
    buffer: parking_lot::Mutex<HashMap<BucketKey, usize>>,
    started: Instant,
    server_id: String,
}

impl AdminState {
    fn admin(&self) -> Namespace {
        Namespace(self.admin_nsp.clone())
    }

    /// Emits to the admin sockets of every node.
    fn emit(&self, event: &str, args: Vec<Value>) {
        let _ = self.admin().broadcast().emit_values(event, args);
    }

    fn record_event(&self, kind: &'static str, sub_type: Option<&'static str>, count: usize) {
        let second = now_millis() / 1000 * 1000;
        let mut buffer = self.buffer.lock();
        let key = (second, kind, sub_type);
        if let Some(n) = buffer.get_mut(&key) {
            *n += count;
        } else if buffer.len() < MAX_BUCKETS {
            buffer.insert(key, count);
        }
    }

    fn emit_stats(&self) {
        let Some(server) = self.server.upgrade() else {
            return;
        };
        let io = SocketIo(server);
        let aggregated_events = std::mem::take(&mut *self.buffer.lock())
            .into_iter()
            .map(|((timestamp, kind, sub_type), count)| AggregatedEvent {
                timestamp,
                kind,
                sub_type,
                count,
            })
            .collect();
        let engine = io.engine();
        let stats = ServerStats {
            server_id: self.server_id.clone(),
            hostname: hostname(),
            pid: std::process::id(),
            uptime: self.started.elapsed().as_secs_f64(),
            clients_count: engine.count(),
            polling_clients_count: engine
                .sockets()
                .iter()
                .filter(|s| s.transport() == engine_io::TransportType::Polling)
                .count(),
            aggregated_events,
            namespaces: io
                .0
                .namespace_list()
                .iter()
                .map(|ns| NamespaceStats {
                    name: ns.name.to_string(),
                    sockets_count: ns.len(),
                })
                .collect(),
        };
        if let Ok(v) = to_value(&stats) {
            self.emit("server_stats", vec![v]);
        }
    }

    /// Forwards the room events of `ns` (once per namespace).
    fn watch_rooms(self: &Arc<Self>, ns: &Arc<NsInner>) {
        if !self.watched.lock().insert(ns.name.clone()) {
            return;
        }
        let weak = Arc::downgrade(self);
        let nsp = ns.name.clone();
        Namespace(ns.clone()).on_room_event(move |event| {
            let Some(state) = weak.upgrade() else { return };
            let (kind, room, sid) = match event {
                // A socket joins its own room before its CONNECT reply: the UI learns about
                // that room from `socket_connected`, and the joining socket (an admin one,
                // in `/admin`) must get nothing before its CONNECT.
                crate::RoomEvent::Join(room, sid) if **room == **sid => return,
                crate::RoomEvent::Join(room, sid) => ("room_joined", room, sid),
                crate::RoomEvent::Leave(room, sid) => ("room_left", room, sid),
                _ => return,
            };
            state.emit(
                kind,
                vec![
                    Value::String(nsp.to_string()),
                    Value::String(room.to_string()),
                    Value::String(sid.to_string()),
                    now(),
                ],
            );
        });
    }

    /// Reference `registerVerboseListeners`, for one socket that just connected.
    fn on_socket_connected(self: &Arc<Self>, socket: &SocketRef) {
        if !self.verbose {
            return;
        }
        self.watch_rooms(&socket.ns);
        if let Ok(v) = to_value(&serialize_local(socket)) {
            self.emit("socket_connected", vec![v, now()]);
        }
        let is_admin = Arc::ptr_eq(&socket.ns, &self.admin_nsp);
        if !is_admin {
            let weak = Arc::downgrade(self);
            socket.on_any(move |s: SocketRef, Event(event): Event, Args(args): Args| {
                if let Some(state) = weak.upgrade() {
                    let mut all = Vec::with_capacity(args.len() + 1);
                    all.push(Value::String(event));
                    all.extend(args);
                    state.emit(
                        "event_received",
                        vec![
                            Value::String(s.ns_name().to_owned()),
                            Value::String(s.id().to_string()),
                            Value::Array(all),
                            now(),
                        ],
                    );
                }
                async {}
            });
            let weak = Arc::downgrade(self);
            socket.on_any_outgoing(move |s, event, args| {
                if let Some(state) = weak.upgrade() {
                    let mut all = Vec::with_capacity(args.len() + 1);
                    all.push(Value::String(event.to_owned()));
                    all.extend_from_slice(args);
                    state.emit(
                        "event_sent",
                        vec![
                            Value::String(s.ns_name().to_owned()),
                            Value::String(s.id().to_string()),
                            Value::Array(all),
                            now(),
                        ],
                    );
                }
            });
        }
        let weak = Arc::downgrade(self);
        socket.on_disconnect(move |s: SocketRef, reason: DisconnectReason| {
            if let Some(state) = weak.upgrade() {
                state.emit(
                    "socket_disconnected",
                    vec![
                        Value::String(s.ns_name().to_owned()),
                        Value::String(s.id().to_string()),
                        Value::String(reason.to_string()),
                        now(),
                    ],
                );
            }
            async {}
        });
    }

    /// The connection of `sockets` upgraded its transport (reference `socket_updated`).
    fn on_upgraded(&self, sockets: &[SocketRef]) {
        if !self.verbose {
            return;
        }
        for s in sockets {
            let mut update = Map::new();
            update.insert("id".to_owned(), Value::String(s.id().to_string()));
            update.insert("nsp".to_owned(), Value::String(s.ns_name().to_owned()));
            update.insert(
                "transport".to_owned(),
                Value::String(s.transport().to_owned()),
            );
            self.emit("socket_updated", vec![Value::Object(update)]);
        }
    }
}

impl crate::metrics::AdminHooks for AdminState {
    fn record(&self, kind: &'static str, sub_type: Option<&'static str>, count: usize) {
        self.record_event(kind, sub_type, count);
    }

    fn socket_connected(&self, socket: &SocketRef) {
        if let Some(me) = self.me.upgrade() {
            me.on_socket_connected(socket);
        }
    }

    fn upgraded(&self, sockets: &[SocketRef]) {
        self.on_upgraded(sockets);
    }
}

/// `new Date()` as it travels in JSON.
fn now() -> Value {
    Value::String(iso_date_string(now_millis()))
}
