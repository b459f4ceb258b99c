//! The server: namespaces, the Engine.IO handler, server-wide operations and graceful close.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use engine_io::{CloseReason, Message, Socket as EioSocket};
use socketio_adapter::{AdapterError, EncodedPacket};
use socketio_parser::{Packet, Value};

use crate::client::Client;
use crate::config::ServerConfig;
use crate::namespace::NsInner;
use crate::parent::{Matcher, ParentInner};
use crate::{
    BroadcastOperator, DisconnectReason, EmitError, IntoRooms, Namespace, ParentNamespace,
    RemoteSocket, SocketIoBuilder, SocketRef,
};

/// The clients by Engine.IO session id (the server's choice): keyed by the session's own
/// shared id, so an insert allocates no key.
type ClientMap = RwLock<HashMap<engine_io::Str, Arc<Client>, engine_io::SidHashBuilder>>;

pub(crate) struct ServerInner {
    pub(crate) config: Arc<ServerConfig>,
    namespaces: RwLock<HashMap<String, Arc<NsInner>>>,
    parents: RwLock<Vec<Arc<ParentInner>>>,
    engine: engine_io::Server,
    /// The main namespace `/` (also in `namespaces`), which always exists.
    main: Arc<NsInner>,
    clients: Arc<ClientMap>,
}

impl ServerInner {
    pub(crate) fn encode_packet(&self, packet: &Packet) -> Result<EncodedPacket, EmitError> {
        self.config.encode(packet)
    }

    fn main_ns(&self) -> Arc<NsInner> {
        self.main.clone()
    }

    /// The namespace named `name`, creating a dynamic child if a parent matches.
    pub(crate) async fn resolve_namespace(&self, name: &str, auth: &Value) -> Option<Arc<NsInner>> {
        // Nearly every connection joins `/`: no lock or hashing for it (it is never replaced
        // nor removed, and no dynamic child can take its name: the map is looked up first).
        if name == "/" {
            return Some(self.main_ns());
        }
        if let Some(ns) = self.namespaces.read().get(name) {
            return Some(ns.clone());
        }
        let parents = self.parents.read().clone();
        for parent in parents {
            if parent.matches(name, auth).await {
                let mut namespaces = self.namespaces.write();
                if let Some(ns) = namespaces.get(name) {
                    return Some(ns.clone());
                }
                let child = parent.create_child(name);
                namespaces.insert(name.to_owned(), child.clone());
                return Some(child);
            }
        }
        None
    }

    /// Every namespace (static ones and dynamic children), e.g. for metrics.
    pub(crate) fn namespace_list(&self) -> Vec<Arc<NsInner>> {
        self.namespaces.read().values().cloned().collect()
    }

    pub(crate) fn remove_namespace(&self, name: &str) {
        self.namespaces.write().remove(name);
    }
}

/// The Engine.IO callbacks: each connection gets a [`Client`].
struct EngineHandler {
    server: Weak<ServerInner>,
    clients: Arc<ClientMap>,
}

impl EngineHandler {
    fn client(&self, socket: &EioSocket) -> Option<Arc<Client>> {
        // Fast path: the client attached to the engine socket (no lock, no hashing).
        if let Some(client) = socket.data::<Weak<Client>>().and_then(Weak::upgrade) {
            return Some(client);
        }
        self.clients.read().get(socket.id()).cloned()
    }
}

impl engine_io::Handler for EngineHandler {
    fn on_connect(&self, socket: Arc<EioSocket>) {
        let Some(server) = self.server.upgrade() else {
            socket.close();
            return;
        };
        server.config.metrics.connection_opened();
        let client = Client::new(socket.clone(), server);
        // A `Weak`: the client holds the engine socket, so an `Arc` here would be a cycle.
        let _ = socket.set_data(Arc::downgrade(&client));
        self.clients
            .write()
            .insert(socket.sid().clone(), client.clone());
        client.start();
    }

    fn on_message(&self, socket: &Arc<EioSocket>, msg: Message) {
        match self.client(socket) {
            Some(client) => client.on_message(msg),
            // engine-io calls on_connect first; this would lose the message.
            None => {
                tracing::debug!(sid = %socket.id(), "socket.io: a message before its connection, dropped")
            }
        }
    }

    fn on_upgrade(&self, socket: &Arc<EioSocket>) {
        if let Some(client) = self.client(socket) {
            let sockets: Vec<SocketRef> = client
                .connected_sockets()
                .into_iter()
                .map(SocketRef)
                .collect();
            client.server.config.metrics.upgraded(&sockets);
        }
    }

    fn on_refused(&self, code: engine_io::ErrorCode) {
        if let Some(server) = self.server.upgrade() {
            let reason = crate::metrics::engine_refusal_reason(code);
            server.config.metrics.refused(reason);
        }
    }

    fn on_close(&self, socket: &Arc<EioSocket>, reason: CloseReason) {
        let client = self.clients.write().remove(socket.id());
        if let Some(client) = client {
            client
                .server
                .config
                .metrics
                .connection_closed(reason.as_str());
            client.on_close(reason.into());
        }
    }
}

/// A Socket.IO server (reference `Server`): a cheap, clonable handle.
///
/// Mount it with [`service`](Self::service) (hyper), [`layer`](Self::layer) (tower / axum) or
/// [`listen`](Self::listen); see the crate documentation for a complete example.
#[derive(Clone)]
pub struct SocketIo(pub(crate) Arc<ServerInner>);

impl fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIo").finish_non_exhaustive()
    }
}

impl Default for SocketIo {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl SocketIo {
    /// A builder with the reference defaults.
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder::default()
    }

    /// A server with the default options.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn from_config(config: ServerConfig) -> Self {
        let config = Arc::new(config);
        let clients: Arc<ClientMap> = Arc::default();
        let inner = Arc::new_cyclic(|weak: &Weak<ServerInner>| {
            let engine = engine_io::Server::new(
                config.engine.clone(),
                EngineHandler {
                    server: weak.clone(),
                    clients: clients.clone(),
                },
            );
            let main = NsInner::new("/", config.clone(), None);
            ServerInner {
                config: config.clone(),
                namespaces: RwLock::new(HashMap::from([("/".to_owned(), main.clone())])),
                parents: RwLock::new(Vec::new()),
                engine,
                main,
                clients,
            }
        });
        SocketIo(inner)
    }

    /// The underlying Engine.IO server.
    pub fn engine(&self) -> &engine_io::Server {
        &self.0.engine
    }

    /// Creates (or gets) the namespace `name` and sets its connection handler (its parameters
    /// are extractors, see [`ConnectHandler`](crate::ConnectHandler)).
    pub fn ns<H: crate::ConnectHandler<M>, M>(&self, name: &str, handler: H) -> Namespace {
        let ns = self.of_or_create(name);
        ns.on_connection(handler);
        ns
    }

    /// Creates (or gets) the namespace `name` without a connection handler.
    pub fn of_or_create(&self, name: &str) -> Namespace {
        let name = normalize(name);
        let mut namespaces = self.0.namespaces.write();
        let ns = namespaces
            .entry(name.clone())
            .or_insert_with(|| NsInner::new(&name, self.0.config.clone(), None))
            .clone();
        Namespace(ns)
    }

    /// The namespace `name`, if it exists (static, or a dynamic child already created).
    pub fn of(&self, name: &str) -> Option<Namespace> {
        self.0
            .namespaces
            .read()
            .get(normalize(name).as_str())
            .cloned()
            .map(Namespace)
    }

    /// The main namespace `/`.
    pub fn sockets(&self) -> Namespace {
        Namespace(self.0.main_ns())
    }

    /// Dynamic namespaces: every namespace whose name matches the regular expression
    /// `pattern` is created on its first connection, with `handler` as its connection handler.
    pub fn dynamic_ns<H: crate::ConnectHandler<M>, M>(
        &self,
        pattern: &str,
        handler: H,
    ) -> Result<ParentNamespace, regex::Error> {
        let re = regex::Regex::new(pattern)?;
        Ok(self.add_parent(Matcher::Regex(re), handler))
    }

    /// Dynamic namespaces decided by an async predicate of the name and the auth payload.
    ///
    /// ```
    /// use socketio_server::{SocketIo, SocketRef};
    ///
    /// let io = SocketIo::new();
    /// io.dynamic_ns_with(
    ///     |name, _auth| async move { name.starts_with("/tenant-") },
    ///     |socket: SocketRef| async move { let _ = socket.emit("ready", &()); },
    /// );
    /// ```
    pub fn dynamic_ns_with<P, PFut, H, M>(&self, predicate: P, handler: H) -> ParentNamespace
    where
        P: Fn(String, Value) -> PFut + Send + Sync + 'static,
        PFut: Future<Output = bool> + Send + 'static,
        H: crate::ConnectHandler<M>,
    {
        let predicate: crate::parent::Predicate = Arc::new(move |n, a| Box::pin(predicate(n, a)));
        self.add_parent(Matcher::Predicate(predicate), handler)
    }

    fn add_parent<H: crate::ConnectHandler<M>, M>(
        &self,
        matcher: Matcher,
        handler: H,
    ) -> ParentNamespace {
        let parent = ParentInner::new(
            matcher,
            crate::handler::boxed_connect(handler),
            Arc::downgrade(&self.0),
            self.0.config.clone(),
        );
        self.0.parents.write().push(parent.clone());
        ParentNamespace(parent)
    }

    /// Adds a connection middleware to the main namespace `/` (reference `io.use`; other
    /// namespaces have their own, see [`Namespace::use_middleware`]).
    pub fn use_middleware<H: crate::ConnectMiddleware<M>, M>(&self, middleware: H) -> &Self {
        self.sockets().use_middleware(middleware);
        self
    }

    /// A broadcast to every socket of the main namespace.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.0.main_ns())
    }

    /// A broadcast to rooms of the main namespace.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// Alias of [`to`](Self::to).
    pub fn within(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.to(rooms)
    }

    /// A broadcast to the main namespace except rooms.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().except(rooms)
    }

    /// A volatile broadcast.
    pub fn volatile(&self) -> BroadcastOperator {
        self.broadcast().volatile()
    }

    /// A broadcast to this node only.
    pub fn local(&self) -> BroadcastOperator {
        self.broadcast().local()
    }

    /// A broadcast with the compression flag, for the other nodes of a cluster (see
    /// [`BroadcastOperator::compress`]).
    pub fn compress(&self, compress: bool) -> BroadcastOperator {
        self.broadcast().compress(compress)
    }

    /// A broadcast with an acknowledgement timeout.
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator {
        self.broadcast().timeout(timeout)
    }

    /// Emits to every socket of the main namespace.
    pub fn emit(&self, event: &str, args: impl crate::IntoArgs) -> Result<(), EmitError> {
        self.broadcast().emit(event, args)
    }

    /// The sockets of the main namespace, on every node.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, AdapterError> {
        self.broadcast().fetch_sockets().await
    }

    /// Makes every socket of the main namespace join rooms, on every node.
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.broadcast().sockets_join(rooms).await
    }

    /// Makes every socket of the main namespace leave rooms, on every node.
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.broadcast().sockets_leave(rooms).await
    }

    /// Disconnects every socket of the main namespace, on every node.
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), AdapterError> {
        self.broadcast().disconnect_sockets(close).await
    }

    /// Sends an event to the main namespace of the other nodes.
    pub async fn server_side_emit(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        self.sockets().server_side_emit(event, args).await
    }

    /// Sends an event to the other nodes and waits for one reply per node.
    pub async fn server_side_emit_with_ack(
        &self,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, EmitError> {
        self.sockets()
            .server_side_emit_with_ack(event, args, timeout)
            .await
    }

    /// Closes the server gracefully: every socket of every namespace leaves with
    /// "server shutting down", the adapters are closed, then every connection is closed.
    pub async fn close(&self) {
        let namespaces = self.0.namespace_list();
        for ns in &namespaces {
            for socket in ns.local_sockets() {
                socket.on_close(DisconnectReason::ServerShuttingDown);
            }
            if let Err(e) = ns.adapter().close().await {
                tracing::warn!(error = %e, nsp = %ns.name, "adapter close failed");
            }
        }
        let clients: Vec<Arc<Client>> = self.0.clients.read().values().cloned().collect();
        for client in clients {
            client.on_close(DisconnectReason::ServerShuttingDown);
        }
        self.engine().close_all(Duration::from_secs(5)).await;
    }
}

/// Namespace names always start with `/` (the reference adds it).
fn normalize(name: &str) -> String {
    if name.starts_with('/') {
        name.to_owned()
    } else {
        format!("/{name}")
    }
}
