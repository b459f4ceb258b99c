//! Namespaces: the sockets of one endpoint, their middlewares, handlers and adapter.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use socketio_adapter::{
    Adapter, AdapterContext, AdapterError, BroadcastAckSink, BroadcastFlags, DeliverError,
    EncodedPacket, LocalNamespace, RoomEvent, ServerSideAck, Sid, SocketInfo,
};
use socketio_parser::{Packet, Value};

use crate::ack::AckSlot;
use crate::config::ServerConfig;
use crate::parent::ParentInner;
use crate::socket::Socket;
use crate::{BroadcastOperator, EmitError, IntoRooms, RemoteSocket, SocketRef};

pub(crate) use crate::handler::{BoxFuture, BoxedConnectHandler as ConnectHandler, Middleware};
pub(crate) type ServerSideHandler = Arc<dyn Fn(Vec<Value>, Option<ServerSideAck>) + Send + Sync>;
pub(crate) type RoomListener = Arc<dyn Fn(&RoomEvent) + Send + Sync>;

/// The state of a namespace.
pub(crate) struct NsInner {
    pub(crate) name: Arc<str>,
    pub(crate) config: Arc<ServerConfig>,
    adapter: Arc<dyn Adapter>,
    sockets: RwLock<HashMap<Sid, Arc<Socket>, engine_io::SidHashBuilder>>,
    pub(crate) middlewares: RwLock<Vec<Middleware>>,
    pub(crate) connect_handler: RwLock<Option<ConnectHandler>>,
    server_side: RwLock<HashMap<String, ServerSideHandler>>,
    /// Room event listeners. Replaced as a whole when one is added, so a dispatch clones the
    /// `Arc` under the read lock and calls the listeners with no lock held.
    room_listeners: RwLock<Arc<[RoomListener]>>,
    /// Whether `room_listeners` is non-empty: the adapter checks it before every membership
    /// change, so it must be cheaper than the lock.
    has_room_listeners: AtomicBool,
    ack_ids: AtomicU64,
    init_started: AtomicBool,
    pub(crate) parent: Option<Weak<ParentInner>>,
}

impl NsInner {
    pub(crate) fn new(
        name: &str,
        config: Arc<ServerConfig>,
        parent: Option<Weak<ParentInner>>,
    ) -> Arc<Self> {
        // The adapter reaches the namespace through a `Weak` (the namespace owns the adapter).
        let ns = Arc::new_cyclic(|this: &Weak<NsInner>| {
            let namespace: Weak<dyn LocalNamespace> = this.clone();
            let name: Arc<str> = name.into();
            let adapter = config.adapter.create(AdapterContext {
                namespace,
                name: name.clone(),
                recovery: config.recovery.clone(),
            });
            let adapter = config.metrics.wrap_adapter(adapter, &name);
            Self {
                name,
                config: config.clone(),
                adapter,
                sockets: RwLock::new(HashMap::default()),
                middlewares: RwLock::new(Vec::new()),
                connect_handler: RwLock::new(None),
                server_side: RwLock::new(HashMap::new()),
                room_listeners: RwLock::new(Arc::from(Vec::new())),
                has_room_listeners: AtomicBool::new(false),
                ack_ids: AtomicU64::new(0),
                init_started: AtomicBool::new(false),
                parent,
            }
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            ns.ensure_init();
        }
        ns
    }

    /// Starts the adapter's `init` once (at creation inside a runtime, else at the first
    /// connection).
    pub(crate) fn ensure_init(&self) {
        if self.init_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let adapter = self.adapter().clone();
        crate::runner::run(async move {
            if let Err(e) = adapter.init().await {
                tracing::error!(error = %e, "adapter initialisation failed");
            }
        });
    }

    pub(crate) fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.adapter
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn encode_packet(&self, packet: &Packet) -> Result<EncodedPacket, EmitError> {
        self.config.encode(packet)
    }

    pub(crate) fn get_socket(&self, sid: &str) -> Option<Arc<Socket>> {
        self.sockets.read().get(sid).cloned()
    }

    pub(crate) fn insert_socket(&self, socket: Arc<Socket>) {
        self.sockets.write().insert(socket.id().clone(), socket);
    }

    pub(crate) fn remove_socket(&self, sid: &str) {
        let now_empty = {
            let mut sockets = self.sockets.write();
            sockets.remove(sid);
            sockets.is_empty()
        };
        if now_empty {
            if let Some(parent) = self.parent.as_ref().and_then(Weak::upgrade) {
                parent.child_emptied(&self.name);
            }
        }
    }

    pub(crate) fn local_sockets(&self) -> Vec<SocketRef> {
        self.sockets
            .read()
            .values()
            .map(|s| SocketRef(s.clone()))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.sockets.read().len()
    }
}

impl LocalNamespace for NsInner {
    fn name(&self) -> &str {
        &self.name
    }

    fn encode(&self, packet: &Packet) -> EncodedPacket {
        self.encode_packet(packet).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot encode a broadcast packet");
            EncodedPacket::new(Vec::new())
        })
    }

    fn deliver(
        &self,
        sid: &str,
        packet: &EncodedPacket,
        flags: &BroadcastFlags,
    ) -> Result<(), DeliverError> {
        let socket = self.get_socket(sid).ok_or(DeliverError::UnknownSocket)?;
        socket.send_encoded(packet, flags.volatile)
    }

    fn deliver_all(&self, sids: &[Sid], packet: &EncodedPacket, flags: &BroadcastFlags) -> usize {
        // One read lock and no `Arc` clone per recipient. A full queue's policy runs once the
        // lock is released: disconnecting a slow client removes it from this map.
        let mut full = Vec::new();
        let mut delivered = 0;
        {
            let sockets = self.sockets.read();
            for sid in sids {
                let Some(socket) = sockets.get(&**sid) else {
                    continue;
                };
                match socket.client.try_send(packet) {
                    Ok(()) => delivered += 1,
                    Err(true) if !flags.volatile => full.push(socket.clone()),
                    Err(_) => {}
                }
            }
        }
        for socket in full {
            let _ = socket.client.apply_policy(Err(true), false);
        }
        delivered
    }

    fn connection(&self, sid: &str) -> Option<Arc<engine_io::Socket>> {
        self.sockets.read().get(sid).map(|s| s.client.conn.clone())
    }

    fn delivered(&self, packet: &EncodedPacket, count: usize) {
        self.config.metrics.packets_out(count, packet);
    }

    fn deliver_with_ack(
        &self,
        sid: &str,
        packet: &EncodedPacket,
        flags: &BroadcastFlags,
        ack_id: u64,
        sink: &BroadcastAckSink,
    ) -> Result<(), DeliverError> {
        let socket = self.get_socket(sid).ok_or(DeliverError::UnknownSocket)?;
        socket.register_ack(ack_id, AckSlot::Broadcast(sink.clone()));
        let result = socket.send_encoded(packet, flags.volatile);
        match result {
            Ok(()) => sink.sent(socket.id().clone()),
            Err(_) => socket.forget_ack(ack_id),
        }
        result
    }

    fn disconnect(&self, sid: &str, close: bool) {
        if let Some(socket) = self.get_socket(sid) {
            SocketRef(socket).disconnect(close);
        }
    }

    fn socket_info(&self, sid: &str) -> Option<SocketInfo> {
        let socket = self.get_socket(sid)?;
        Some(SocketInfo {
            id: socket.id().clone(),
            handshake: socket.handshake().clone(),
            rooms: Vec::new(),
            data: socket.data_value(),
        })
    }

    fn on_server_side_emit(&self, mut args: Vec<Value>, ack: Option<ServerSideAck>) {
        if args.is_empty() {
            return;
        }
        let Value::String(event) = args.remove(0) else {
            return;
        };
        let handler = self.server_side.read().get(&event).cloned();
        if let Some(handler) = handler {
            handler(args, ack);
        }
    }

    fn wants_room_events(&self) -> bool {
        self.has_room_listeners.load(Ordering::Acquire)
    }

    fn on_room_event(&self, event: RoomEvent) {
        let listeners = self.room_listeners.read().clone();
        for listener in listeners.iter() {
            listener(&event);
        }
    }
}

/// A namespace (`io.of("/chat")` in the reference). Cheap to clone.
///
/// ```
/// use socketio_server::{ConnectError, SocketIo, SocketRef};
///
/// let io = SocketIo::builder().build();
/// let chat = io.ns("/chat", |socket: SocketRef| async move {
///     let _ = socket.emit("hello", &"welcome to /chat");
/// });
/// chat.use_middleware(|socket: SocketRef| async move {
///     match socket.handshake().auth.get("token") {
///         Some(_) => Ok(()),
///         None => Err(ConnectError::new("not authorized")),
///     }
/// });
/// ```
#[derive(Clone)]
pub struct Namespace(pub(crate) Arc<NsInner>);

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.0.name)
            .finish_non_exhaustive()
    }
}

impl Namespace {
    /// The namespace name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The adapter of this namespace.
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        self.0.adapter()
    }

    /// Adds an async connection middleware (run in order before the connection handler).
    /// Refusing (`Err`) sends a `CONNECT_ERROR` to the client.
    /// Its parameters are extractors ([`ConnectMiddleware`](crate::ConnectMiddleware)).
    pub fn use_middleware<H: crate::ConnectMiddleware<M>, M>(&self, middleware: H) -> &Self {
        let mw: Middleware = crate::handler::boxed_middleware(middleware);
        self.0.middlewares.write().push(mw);
        self
    }

    /// Sets (replaces) the connection handler; its parameters are extractors
    /// ([`ConnectHandler`](crate::ConnectHandler)).
    pub fn on_connection<H: crate::ConnectHandler<M>, M>(&self, handler: H) -> &Self {
        *self.0.connect_handler.write() = Some(crate::handler::boxed_connect(handler));
        self
    }

    /// Handles an event sent by another node with `server_side_emit` (`args` excludes the
    /// event name; `ack` is set when the sender waits for a reply).
    pub fn on_server_side(
        &self,
        event: impl Into<String>,
        handler: impl Fn(Vec<Value>, Option<ServerSideAck>) + Send + Sync + 'static,
    ) -> &Self {
        self.0
            .server_side
            .write()
            .insert(event.into(), Arc::new(handler));
        self
    }

    /// Listens to the room lifecycle events of this namespace on this node (reference
    /// `io.of("/").adapter.on("create-room" | "delete-room" | "join-room" | "leave-room", ..)`).
    ///
    /// Listeners are called synchronously, in registration order, right after each membership
    /// change (a socket connecting to the namespace joins its own room, `join`, `leave`,
    /// disconnection, remote `add_sockets`/`del_sockets`), with no lock held: a listener may
    /// query the adapter or change membership, but it runs on the caller's task, so keep it
    /// short and never block. With no listener registered, membership changes collect no
    /// events at all. Every adapter built on [`InMemoryAdapter`](socketio_adapter::InMemoryAdapter)
    /// (the default one and the Redis adapter) reports them; for the Redis adapter these are
    /// the changes of this node's sockets only, as in the reference.
    ///
    /// ```
    /// use socketio_server::{RoomEvent, SocketIo, SocketRef};
    ///
    /// let io = SocketIo::builder().build();
    /// let ns = io.ns("/", |socket: SocketRef| async move { socket.join("lobby") });
    /// ns.on_room_event(|event: &RoomEvent| match event {
    ///     RoomEvent::Create(room) => println!("room {room} was created"),
    ///     RoomEvent::Join(room, sid) => println!("socket {sid} has joined room {room}"),
    ///     RoomEvent::Leave(room, sid) => println!("socket {sid} has left room {room}"),
    ///     RoomEvent::Delete(room) => println!("room {room} was deleted"),
    /// });
    /// ```
    pub fn on_room_event(&self, listener: impl Fn(&RoomEvent) + Send + Sync + 'static) -> &Self {
        let mut listeners = self.0.room_listeners.write();
        let mut all: Vec<RoomListener> = listeners.iter().cloned().collect();
        all.push(Arc::new(listener));
        *listeners = all.into();
        self.0.has_room_listeners.store(true, Ordering::Release);
        self
    }

    /// The sockets connected to this namespace on this node.
    pub fn sockets(&self) -> Vec<SocketRef> {
        self.0.local_sockets()
    }

    /// A socket of this node by id.
    pub fn get_socket(&self, sid: &str) -> Option<SocketRef> {
        self.0.get_socket(sid).map(SocketRef)
    }

    /// The number of sockets connected to this namespace on this node.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no socket is connected to this namespace on this node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A broadcast to every socket of the namespace.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.0.clone())
    }

    /// A broadcast to the given rooms.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// Alias of [`to`](Self::to).
    pub fn within(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.to(rooms)
    }

    /// A broadcast to every socket except those in the given rooms.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().except(rooms)
    }

    /// Volatile broadcast.
    pub fn volatile(&self) -> BroadcastOperator {
        self.broadcast().volatile()
    }

    /// Broadcast to the sockets of this node only.
    pub fn local(&self) -> BroadcastOperator {
        self.broadcast().local()
    }

    /// Broadcast with an acknowledgement timeout.
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator {
        self.broadcast().timeout(timeout)
    }

    /// Emits to every socket of the namespace.
    pub fn emit(&self, event: &str, args: impl socketio_parser::IntoArgs) -> Result<(), EmitError> {
        self.broadcast().emit(event, args)
    }

    /// The sockets of the namespace on every node.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, AdapterError> {
        self.broadcast().fetch_sockets().await
    }

    /// Makes every socket join rooms, on every node.
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.broadcast().sockets_join(rooms).await
    }

    /// Makes every socket leave rooms, on every node.
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.broadcast().sockets_leave(rooms).await
    }

    /// Disconnects every socket, on every node.
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), AdapterError> {
        self.broadcast().disconnect_sockets(close).await
    }

    /// Sends an event to the other nodes of the cluster.
    pub async fn server_side_emit(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        crate::socket::check_event(event)?;
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(Value::String(event.to_owned()));
        all.extend(args);
        Ok(self.0.adapter().server_side_emit(all).await?)
    }

    /// Sends an event to the other nodes and waits for one reply per node.
    pub async fn server_side_emit_with_ack(
        &self,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, EmitError> {
        crate::socket::check_event(event)?;
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(Value::String(event.to_owned()));
        all.extend(args);
        Ok(self
            .0
            .adapter()
            .server_side_emit_with_ack(all, timeout)
            .await?)
    }
}

impl NsInner {
    /// The connect sequence of a socket (reference `Namespace._add`): restore the session if
    /// asked and possible, run the middlewares (unless recovered and configured to skip them),
    /// then join: own room (and restored rooms), CONNECT reply, missed packets, connection
    /// handler, and finally the client routes packets to the socket.
    pub(crate) async fn connect(self: Arc<Self>, client: Arc<crate::client::Client>, auth: Value) {
        self.ensure_init();
        let protocol = client.protocol;
        let mut restored = None;
        if self.config.recovery.is_some() {
            if let (Some(pid), Some(offset)) = (
                auth.get("pid").and_then(Value::as_str),
                auth.get("offset").and_then(Value::as_str),
            ) {
                match self.adapter().restore_session(pid, offset).await {
                    Ok(session) => restored = session,
                    Err(e) => tracing::debug!(error = %e, "cannot restore the session"),
                }
            }
        }
        let (socket, missed, rooms) = match restored {
            Some(r) => {
                let s = r.session;
                let socket = Socket::new(
                    s.sid,
                    Some(s.pid),
                    self.clone(),
                    client.clone(),
                    auth,
                    true,
                    s.data,
                );
                (socket, r.missed_packets, s.rooms)
            }
            None => {
                let id: Sid = match protocol {
                    // Socket.IO 2.x clients expect the Engine.IO id (prefixed by the namespace).
                    socketio_parser::ProtocolVersion::V4 if &*self.name == "/" => {
                        client.conn.id().into()
                    }
                    socketio_parser::ProtocolVersion::V4 => {
                        format!("{}#{}", self.name, client.conn.id()).into()
                    }
                    socketio_parser::ProtocolVersion::V5 => crate::sid::generate_id().into(),
                };
                let pid = self
                    .config
                    .recovery
                    .as_ref()
                    .map(|_| Sid::from(crate::sid::generate_id()));
                let socket = Socket::new(
                    id,
                    pid,
                    self.clone(),
                    client.clone(),
                    auth,
                    false,
                    Value::Null,
                );
                (socket, Vec::new(), Vec::new())
            }
        };
        let socket_ref = SocketRef(socket.clone());
        let skip = socket.recovered()
            && self
                .config
                .recovery
                .as_ref()
                .is_some_and(|r| r.skip_middlewares);
        if !skip {
            let middlewares = self.middlewares.read().clone();
            for mw in middlewares {
                if let Err(err) = mw(socket_ref.clone()).await {
                    self.config.metrics.refused("middleware");
                    client.connect_failed(&self.name);
                    if client.is_open() {
                        let packet =
                            Packet::connect_error_for(protocol, &*self.name, err.message, err.data);
                        client.send_packet(&packet);
                    }
                    return;
                }
            }
        }
        if !client.is_open() {
            client.connect_failed(&self.name);
            return;
        }
        // Join: the socket is routable from now on.
        self.insert_socket(socket.clone());
        let mut all_rooms = Vec::with_capacity(rooms.len() + 1);
        all_rooms.push(socket.id().clone());
        all_rooms.extend(rooms);
        self.adapter().add_all(socket.id(), &all_rooms);
        if let Some(pid) = socket.pid() {
            self.adapter().track_session(socket.id(), pid);
        }
        socket.set_connected();
        let _ = socket.send_connect_reply(protocol);
        for data in missed {
            let packet = Packet {
                data: Some(Value::Array(data)),
                ..Packet::new(socketio_parser::PacketType::Event, &*self.name)
            };
            let _ = socket.send_packet(&packet, false);
        }
        self.config.metrics.socket_connected(&socket_ref);
        let handler = self.connect_handler.read().clone();
        if let Some(handler) = handler {
            handler(socket_ref);
        }
        client.connected(&self.name, &socket);
    }
}
