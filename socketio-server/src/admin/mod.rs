//! Instrumentation for the [`@socket.io/admin-ui`](https://github.com/socketio/socket.io-admin-ui)
//! web app, version 0.5 (feature `admin-ui`): the same `/admin` namespace, events and actions as
//! the npm package's `instrument(io, options)`, so the Admin UI shows this server (and every
//! node of a cluster: the admin events are broadcast through the adapter).
//!
//! # Modules
//!
//! - this module: the options, [`SocketIo::instrument`] and the state of the instrumentation;
//! - `actions`: the UI's actions (emit, join, leave, disconnect);
//! - `auth`: the basic authentication of the UI and its sessions;
//! - `events`: the per-socket events sent to the UI (development mode);
//! - `stats`: the aggregated events and the periodic `server_stats`;
//! - `wire`: the types sent to the UI, as the reference serializes them.

mod actions;
mod auth;
mod events;
mod stats;
mod wire;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use socketio_parser::Value;

use crate::namespace::NsInner;
use crate::server::ServerInner;
use crate::{Namespace, SocketIo, SocketRef};
use actions::register_actions;
use auth::{authenticate, AdminSession};
use stats::BucketKey;
use wire::{all_sockets, Config};

/// How often `server_stats` is emitted (the reference's interval).
const STATS_INTERVAL: Duration = Duration::from_secs(2);

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
        let _ = self.admin().broadcast().emit(event, crate::Args(args));
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
