//! A socket: one client connected to one namespace.

mod emitter;
mod middleware;

pub use emitter::SocketEmitter;
pub use middleware::{IncomingEvent, Next, PacketMiddleware};

use middleware::BoxedPacketMiddleware;

use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use engine_io::Str;
use serde::de::DeserializeOwned;
use serde::Serialize;
use socketio_adapter::{
    BroadcastFlags, DeliverError, EncodedPacket, Handshake, PersistedSession, Room, Sid,
};
use socketio_parser::{
    from_value, is_reserved_event, to_value, Decoded, Packet, PacketType, Value, ValueError,
};

use crate::ack::{AckFuture, AckSlot};
use crate::client::Client;
use crate::extract::{boxed, BoxedEventHandler, EventHandler, EventParts};
use crate::namespace::NsInner;
use crate::{
    AckError, BroadcastOperator, DisconnectReason, EmitError, Extensions, IntoRooms, PacketError,
};

type DisconnectHandler = crate::handler::BoxedDisconnectHandler;
type OutgoingHandler = Arc<dyn Fn(&SocketRef, &str, &[Value]) + Send + Sync>;
type ErrorHandler = Arc<dyn Fn(&SocketRef, &PacketError) + Send + Sync>;

/// A socket's handlers. Kept small, since every connected socket has one: the event handlers
/// are a list sorted by name (a socket has a few; no hash table or hasher state per socket),
/// and the kinds most sockets never register sit behind one optional box.
#[derive(Default)]
struct Listeners {
    events: Vec<(Box<str>, BoxedEventHandler)>,
    rare: Option<Box<RareListeners>>,
}

#[derive(Default)]
struct RareListeners {
    any: Vec<BoxedEventHandler>,
    any_outgoing: Vec<OutgoingHandler>,
    /// Replaced as a whole when one is added: an event takes the chain with one `Arc` clone.
    packet_middlewares: Option<Arc<[BoxedPacketMiddleware]>>,
    disconnecting: Vec<DisconnectHandler>,
    disconnect: Vec<DisconnectHandler>,
    error: Vec<ErrorHandler>,
}

impl Listeners {
    fn event(&self, name: &str) -> Option<BoxedEventHandler> {
        let i = self
            .events
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()?;
        Some(self.events[i].1.clone())
    }

    fn set_event(&mut self, name: String, handler: BoxedEventHandler) {
        match self.events.binary_search_by(|(n, _)| (**n).cmp(&*name)) {
            Ok(i) => self.events[i].1 = handler,
            Err(i) => self.events.insert(i, (name.into_boxed_str(), handler)),
        }
    }

    fn remove_event(&mut self, name: &str) {
        if let Ok(i) = self.events.binary_search_by(|(n, _)| (**n).cmp(name)) {
            self.events.remove(i);
        }
    }

    fn rare_mut(&mut self) -> &mut RareListeners {
        self.rare.get_or_insert_with(Default::default)
    }

    /// A clone of one kind of the rare listeners (empty when none was registered).
    fn rare<T: Clone + Default>(&self, pick: impl FnOnce(&RareListeners) -> &T) -> T {
        self.rare.as_deref().map(pick).cloned().unwrap_or_default()
    }
}

/// The state of one socket. Use it through a [`SocketRef`].
pub struct Socket {
    id: Sid,
    pid: Option<Sid>,
    pub(crate) ns: Arc<NsInner>,
    pub(crate) client: Arc<Client>,
    /// Boxed, and `None` for `{}` (the auth of a client that sends none: always an object,
    /// see [`boxed_auth`]): most sockets have no auth, and a `Value` takes 40 bytes.
    auth: Option<Box<Value>>,
    issued: u64,
    // Boxed: an idle socket that never reads its handshake only pays for a pointer.
    handshake: OnceLock<Box<Handshake>>,
    connected: AtomicBool,
    /// An outgoing listener was registered: emits without one (nearly all) skip the
    /// listeners' lock.
    listens_outgoing: AtomicBool,
    recovered: bool,
    listeners: RwLock<Listeners>,
    /// Allocated on the first acknowledgement asked for: many sockets never ask for one, and
    /// an empty map with its hasher state would take 48 bytes in every socket.
    #[allow(clippy::box_collection)]
    acks: Mutex<Option<Box<HashMap<u64, AckSlot>>>>,
    extensions: Extensions,
    data: Mutex<Option<Box<Value>>>,
}

/// A handle to a connected socket (cheap to clone). This is what handlers receive.
///
/// ```
/// # fn f(socket: socketio_server::SocketRef) {
/// use socketio_server::{Data, SocketRef};
///
/// socket.join("lobby");
/// let _ = socket.emit("welcome", &"hello");
/// let _ = socket.to("lobby").emit("joined", socket.id());
/// socket.on("say", |s: SocketRef, Data(text): Data<String>| async move {
///     let _ = s.broadcast().emit("said", &text);
/// });
/// socket.on_disconnect(|s: SocketRef, reason: socketio_server::DisconnectReason| async move {
///     println!("{} left: {reason}", s.id());
/// });
/// # }
/// ```
#[derive(Clone)]
pub struct SocketRef(pub(crate) Arc<Socket>);

impl Deref for SocketRef {
    type Target = Socket;
    fn deref(&self) -> &Socket {
        &self.0
    }
}

impl fmt::Debug for SocketRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.id)
            .field("nsp", &self.ns.name)
            .field("connected", &self.connected())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Socket {
    pub(crate) fn new(
        id: Sid,
        pid: Option<Sid>,
        ns: Arc<NsInner>,
        client: Arc<Client>,
        auth: Value,
        recovered: bool,
        data: Value,
    ) -> Arc<Self> {
        Arc::new(Self {
            id,
            pid,
            ns,
            client,
            auth: boxed_auth(auth),
            issued: crate::handshake::now_millis(),
            handshake: OnceLock::new(),
            connected: AtomicBool::new(false),
            listens_outgoing: AtomicBool::new(false),
            recovered,
            listeners: RwLock::new(Listeners::default()),
            acks: Mutex::new(None),
            extensions: Extensions::default(),
            data: Mutex::new(boxed_value(data)),
        })
    }

    /// The socket id (random, distinct from the Engine.IO session id; kept on recovery).
    pub fn id(&self) -> &Sid {
        &self.id
    }

    pub(crate) fn pid(&self) -> Option<&Sid> {
        self.pid.as_ref()
    }

    /// The namespace name.
    pub fn ns_name(&self) -> &str {
        &self.ns.name
    }

    /// The handshake: headers, query, auth, address, time, url, secure.
    pub fn handshake(&self) -> &Handshake {
        self.handshake.get_or_init(|| {
            Box::new(crate::handshake::build(
                self.client.conn.request(),
                self.auth
                    .as_deref()
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Default::default())),
                self.issued,
            ))
        })
    }

    /// Whether the socket is connected to its namespace.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Whether the socket was restored by connection state recovery (same id, rooms and
    /// data as before, missed packets replayed).
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// The Engine.IO transport in use (`"polling"` or `"websocket"`).
    pub fn transport(&self) -> &'static str {
        self.client.transport()
    }

    /// The underlying Engine.IO connection (the reference `socket.conn`), shared by every
    /// namespace this client joined: its session id, protocol, current transport and opening
    /// request.
    ///
    /// [`close`](engine_io::Socket::close) on it closes the transport, as the reference
    /// `socket.conn.close()`: every socket of the connection leaves with
    /// [`DisconnectReason::ForcedClose`] and the client sees "transport close" and reconnects
    /// (whereas [`disconnect(true)`](SocketRef::disconnect) tells the client not to). Sending on
    /// it directly bypasses Socket.IO framing: use the `emit` methods instead.
    ///
    /// ```
    /// # fn f(socket: socketio_server::SocketRef) {
    /// let conn = socket.conn();
    /// println!("session {} over {}", conn.id(), conn.transport().as_str());
    /// conn.close();
    /// # }
    /// ```
    pub fn conn(&self) -> &Arc<engine_io::Socket> {
        &self.client.conn
    }

    /// Typed, node-local storage attached to this socket.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// Sets the socket's application data (the reference `socket.data`): serializable, it is
    /// returned by `fetch_sockets` (from any node) and kept by connection state recovery.
    pub fn set_data<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), ValueError> {
        let value = to_value(data)?;
        *self.data.lock() = boxed_value(value);
        Ok(())
    }

    /// The socket's application data deserialized into `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        from_value(self.data_value())
    }

    /// The socket's application data as a dynamic value (`null` when unset).
    pub fn data_value(&self) -> Value {
        self.data.lock().as_deref().cloned().unwrap_or_default()
    }

    /// The rooms the socket is in (including the room named by its id).
    pub fn rooms(&self) -> HashSet<Room> {
        self.ns.adapter().socket_rooms(&self.id).unwrap_or_default()
    }

    /// Joins one or more rooms.
    pub fn join(&self, rooms: impl IntoRooms) {
        let rooms = rooms.into_rooms();
        self.ns.adapter().add_all(&self.id, &rooms);
    }

    /// Leaves one or more rooms.
    pub fn leave(&self, rooms: impl IntoRooms) {
        let adapter = self.ns.adapter();
        for room in rooms.into_rooms() {
            adapter.del(&self.id, &room);
        }
    }

    /// Leaves every room (including its own).
    pub fn leave_all(&self) {
        self.ns.adapter().del_all(&self.id);
    }

    /// Sends a packet straight to this socket.
    pub(crate) fn send_packet(&self, packet: &Packet, volatile: bool) -> Result<(), EmitError> {
        if !self.connected() && packet.kind != PacketType::Connect {
            return Err(EmitError::Disconnected);
        }
        let encoded = self.ns.config.parser.encode(packet)?;
        self.send_encoded_frames(encoded, volatile)
    }

    /// Sends the `CONNECT` reply (the socket's id, and its pid for recovery), encoded from its
    /// parts (no packet built).
    pub(crate) fn send_connect_reply(
        &self,
        protocol: socketio_parser::ProtocolVersion,
    ) -> Result<(), EmitError> {
        let encoded = self.ns.config.parser.encode_connect_reply(
            protocol,
            &self.ns.name,
            &self.id,
            self.pid.as_deref(),
        )?;
        self.send_encoded_frames(encoded, false)
    }

    /// Sends an `EVENT` (`id`: asking for an acknowledgement) straight to this socket,
    /// encoded from its parts (no packet built).
    pub(crate) fn send_event(
        &self,
        event: &str,
        args: &[Value],
        id: Option<u64>,
        volatile: bool,
    ) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        let encoded = self
            .ns
            .config
            .parser
            .encode_event(&self.ns.name, event, args, id)?;
        self.send_encoded_frames(encoded, volatile)
    }

    /// Answers the client's acknowledgement `id` with `args`, encoded from its parts.
    pub(crate) fn send_ack(&self, id: u64, args: &[Value]) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        let encoded = self.ns.config.parser.encode_ack(&self.ns.name, id, args)?;
        self.send_encoded_frames(encoded, false)
    }

    /// Hands a packet encoded for this socket alone to the connection.
    fn send_encoded_frames(
        &self,
        encoded: socketio_parser::Encoded,
        volatile: bool,
    ) -> Result<(), EmitError> {
        match self.client.send_frames(encoded, volatile) {
            // Dropped on purpose: that is what volatile means.
            Ok(()) | Err(DeliverError::VolatileDropped) => Ok(()),
            Err(DeliverError::UnknownSocket | DeliverError::SlowConsumer) => {
                Err(EmitError::Disconnected)
            }
        }
    }

    /// Hands encoded messages to the connection (full queue policy in [`Client::send`]).
    pub(crate) fn send_encoded(
        &self,
        encoded: &EncodedPacket,
        volatile: bool,
    ) -> Result<(), DeliverError> {
        self.client.send(encoded, volatile)
    }

    pub(crate) fn set_connected(&self) {
        self.connected.store(true, Ordering::Release);
    }

    pub(crate) fn register_ack(&self, id: u64, slot: AckSlot) {
        let mut acks = self.acks.lock();
        let acks = acks.get_or_insert_with(Box::default);
        // Replies that nobody waits for any more (a broadcast that timed out, an `AckFuture`
        // dropped unawaited) are forgotten here, so a client that never answers cannot make
        // this map grow without bound.
        if acks.len() >= 16 && acks.len().is_power_of_two() {
            acks.retain(|_, slot| !slot.is_abandoned());
        }
        acks.insert(id, slot);
    }

    pub(crate) fn forget_ack(&self, id: u64) {
        if let Some(acks) = self.acks.lock().as_mut() {
            acks.remove(&id);
        }
    }

    fn listeners(&self) -> parking_lot::RwLockReadGuard<'_, Listeners> {
        self.listeners.read()
    }

    fn listeners_mut(&self) -> parking_lot::RwLockWriteGuard<'_, Listeners> {
        self.listeners.write()
    }
}

impl SocketRef {
    /// Registers the handler of an event (replacing a previous one for the same name).
    pub fn on<H: EventHandler<M>, M>(&self, event: impl Into<String>, handler: H) {
        self.listeners_mut().set_event(event.into(), boxed(handler));
    }

    /// Removes the handler of an event.
    pub fn off(&self, event: &str) {
        self.listeners_mut().remove_event(event);
    }

    /// Registers a catch-all handler, called for every incoming event before its own handler
    /// (extract the name with [`Event`](crate::Event) and the arguments with
    /// [`Args`](crate::Args)). It gets the [`AckSender`](crate::AckSender) only when the event
    /// has no handler of its own.
    pub fn on_any<H: EventHandler<M>, M>(&self, handler: H) {
        self.listeners_mut().rare_mut().any.push(boxed(handler));
    }

    /// Registers a catch-all listener of outgoing events (`socket.emit*` on this socket).
    pub fn on_any_outgoing(
        &self,
        listener: impl Fn(&SocketRef, &str, &[Value]) + Send + Sync + 'static,
    ) {
        self.listeners_mut()
            .rare_mut()
            .any_outgoing
            .push(Arc::new(listener));
        self.listens_outgoing.store(true, Ordering::Release);
    }

    /// Adds a per-packet middleware (reference `socket.use`), run on every incoming event in
    /// order of registration, after the [`on_any`](Self::on_any) listeners and before the
    /// event's handler. It is `async` and wraps the rest of the chain like a tower layer: work
    /// before `next.run(event).await`, and after it (once the later middlewares and the
    /// handler are done). It may rename the event or change its arguments, or refuse it with
    /// `Err` (then the event goes no further).
    ///
    /// A refusal goes to the [`on_error`](Self::on_error) listeners (the reference's `error`
    /// event). When the client asked for an acknowledgement and the handler was not reached,
    /// the ack is answered with the error, `{"message": …, "data": …}` as in a
    /// `CONNECT_ERROR`, so the client's callback (or `emitWithAck`) gets it instead of timing
    /// out; without an ack the client sees nothing, as in the reference.
    ///
    /// ```
    /// # fn f(socket: socketio_server::SocketRef) {
    /// use std::time::Instant;
    /// use socketio_server::{IncomingEvent, Next, PacketError, SocketRef};
    ///
    /// socket.use_packet_middleware(|socket: SocketRef, event: IncomingEvent, next: Next| async move {
    ///     if event.event == "admin" && socket.extensions().get::<String>().is_none() {
    ///         return Err(PacketError::new("not allowed"));
    ///     }
    ///     let started = Instant::now();
    ///     let name = event.event.clone();
    ///     let result = next.run(event).await;
    ///     tracing::info!(event = %name, took = ?started.elapsed(), "handled");
    ///     result
    /// });
    /// socket.on_error(|_socket, err| tracing::warn!("refused: {err}"));
    /// # }
    /// ```
    pub fn use_packet_middleware(&self, middleware: impl PacketMiddleware) {
        let mut listeners = self.listeners_mut();
        let rare = listeners.rare_mut();
        let mut chain: Vec<BoxedPacketMiddleware> = rare
            .packet_middlewares
            .as_deref()
            .map(<[_]>::to_vec)
            .unwrap_or_default();
        chain.push(Arc::new(middleware));
        rare.packet_middlewares = Some(chain.into());
    }

    /// Listens to errors of the packet middlewares.
    pub fn on_error(&self, listener: impl Fn(&SocketRef, &PacketError) + Send + Sync + 'static) {
        self.listeners_mut()
            .rare_mut()
            .error
            .push(Arc::new(listener));
    }

    /// Registers a handler called when the socket is about to leave (it is still in its rooms).
    /// Its parameters are extractors ([`DisconnectHandler`](crate::DisconnectHandler)).
    pub fn on_disconnecting<H: crate::DisconnectHandler<M>, M>(&self, handler: H) {
        self.listeners_mut()
            .rare_mut()
            .disconnecting
            .push(crate::handler::boxed_disconnect(handler));
    }

    /// Registers a handler called once the socket has left its namespace.
    /// Its parameters are extractors ([`DisconnectHandler`](crate::DisconnectHandler)).
    pub fn on_disconnect<H: crate::DisconnectHandler<M>, M>(&self, handler: H) {
        self.listeners_mut()
            .rare_mut()
            .disconnect
            .push(crate::handler::boxed_disconnect(handler));
    }

    /// Emits an event with `args`: one `serde` value (`&v`; binary as `bytes::Bytes`), `()`
    /// for none, or [`Args`](crate::Args) for several (see [`IntoArgs`](crate::IntoArgs)),
    /// as the client's `emit`.
    ///
    /// ```
    /// # fn f(socket: socketio_server::SocketRef) -> Result<(), socketio_server::EmitError> {
    /// use socketio_server::Args;
    /// socket.emit("greeting", "hello")?; // one argument
    /// socket.emit("position", &(1, 2))?; // one argument: the array [1, 2]
    /// socket.emit("ping", ())?; // no argument
    /// socket.emit("move", Args::new().arg(1).arg(2))?; // two arguments
    /// # Ok(()) }
    /// ```
    pub fn emit(&self, event: &str, args: impl crate::IntoArgs) -> Result<(), EmitError> {
        self.emitter().emit(event, args)
    }

    /// Emits an event (`args` as in [`emit`](Self::emit)) and waits for the client's acknowledgement, read as
    /// `R` (see [`FromAck`](crate::FromAck): a `serde` type, or [`Args`](crate::Args) for the
    /// raw argument list).
    ///
    /// ```
    /// # async fn f(socket: socketio_server::SocketRef) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// let answer: String = socket
    ///     .emit_with_ack("question", &42)?
    ///     .timeout(Duration::from_secs(2))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn emit_with_ack<A: crate::IntoArgs, R>(
        &self,
        event: &str,
        args: A,
    ) -> Result<AckFuture<R>, EmitError> {
        self.emitter().emit_with_ack(event, args)
    }

    /// The next emit on this socket may be dropped if the client cannot take it now.
    pub fn volatile(&self) -> SocketEmitter<'_> {
        let mut e = self.emitter();
        e.flags.volatile = true;
        e
    }

    fn emitter(&self) -> SocketEmitter<'_> {
        SocketEmitter {
            socket: self,
            flags: BroadcastFlags::default(),
        }
    }

    /// Broadcasts to the given rooms, except this socket.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// Alias of [`to`](Self::to).
    pub fn within(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.to(rooms)
    }

    /// Broadcasts to every socket except this one and those in the given rooms.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().except(rooms)
    }

    /// Broadcasts to every socket of the namespace except this one.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.ns.clone()).except(self.id.clone())
    }

    /// Disconnects the socket from its namespace (`close`: also closes the underlying
    /// connection, disconnecting it from every namespace).
    pub fn disconnect(&self, close: bool) {
        if !self.connected() {
            return;
        }
        if close {
            self.client.disconnect_all();
        } else {
            let _ = self.send_packet(&Packet::disconnect(&*self.ns.name), false);
            self.on_close(DisconnectReason::ServerNamespaceDisconnect);
        }
    }

    /// Dispatches an incoming packet (the client routed it here, in order).
    pub(crate) fn on_packet(&self, packet: Decoded) {
        match packet {
            Decoded::Event(e) => self.on_event(e.event, e.args, e.id),
            Decoded::Packet(p) => self.on_decoded_packet(p),
        }
    }

    /// [`on_packet`](Self::on_packet) for a packet decoded whole (binary events, acks,
    /// DISCONNECT): out of line, away from the text event path.
    #[cold]
    #[inline(never)]
    fn on_decoded_packet(&self, packet: Packet) {
        match packet.kind {
            PacketType::Event | PacketType::BinaryEvent => {
                let ack_id = packet.id;
                // `None`: an event named by a number, valid on the wire, but nothing can
                // listen to it.
                if let Some((event, args)) = packet.into_event() {
                    self.on_event(Str::from(event), args, ack_id);
                }
            }
            PacketType::Ack | PacketType::BinaryAck => {
                let Some(id) = packet.id else { return };
                let slot = self.acks.lock().as_mut().and_then(|acks| acks.remove(&id));
                if let Some(slot) = slot {
                    let args = match packet.data {
                        Some(Value::Array(args)) => args,
                        _ => Vec::new(),
                    };
                    slot.resolve(&self.id, args);
                }
            }
            PacketType::Disconnect => self.on_close(DisconnectReason::ClientNamespaceDisconnect),
            // The client routes CONNECT/CONNECT_ERROR elsewhere.
            PacketType::Connect | PacketType::ConnectError => {}
        }
    }

    fn on_event(&self, event: Str, args: Vec<Value>, ack_id: Option<u64>) {
        let (handler, rare) = {
            let l = self.listeners();
            (l.event(&event), l.rare.is_some())
        };
        if rare {
            return self.on_event_rare(event, args, ack_id, handler);
        }
        if !self.connected() {
            return;
        }
        let Some(handler) = handler else { return };
        self.call(&handler, event, args, ack_id);
    }

    /// [`on_event`](Self::on_event) for a socket with catch-all listeners or packet
    /// middlewares: out of line, so that the usual event path (one handler) stays dense in the
    /// instruction cache.
    #[cold]
    #[inline(never)]
    fn on_event_rare(
        &self,
        event: Str,
        args: Vec<Value>,
        ack_id: Option<u64>,
        handler: Option<BoxedEventHandler>,
    ) {
        let (any, middlewares) = {
            let l = self.listeners();
            (l.rare(|r| &r.any), l.rare(|r| &r.packet_middlewares))
        };
        for listener in &any {
            let ack = if handler.is_some() { None } else { ack_id };
            self.call(listener, event.clone(), args.clone(), ack);
        }
        if let Some(chain) = middlewares {
            middleware::dispatch(self.clone(), chain, event.to_string(), args, ack_id);
            return;
        }
        if !self.connected() {
            return;
        }
        let Some(handler) = handler else { return };
        self.call(&handler, event, args, ack_id);
    }

    /// Calls `handler` with one event's parts and runs its future.
    fn call(&self, handler: &BoxedEventHandler, event: Str, args: Vec<Value>, ack_id: Option<u64>) {
        if let Some(fut) = handler(EventParts {
            socket: self.clone(),
            event,
            args,
            ack_id,
        }) {
            crate::runner::run_boxed(fut);
        }
    }

    /// Calls the handler of `parts.event`, if any: its future, to be run.
    fn call_handler(
        &self,
        parts: EventParts,
    ) -> Option<futures_util::future::BoxFuture<'static, ()>> {
        let handler = self.listeners().event(&parts.event)?;
        handler(parts)
    }

    /// Tells the [`on_error`](Self::on_error) listeners of a refusal.
    fn report_error(&self, err: &PacketError) {
        let listeners = self.listeners().rare(|r| &r.error);
        for l in listeners {
            l(self, err);
        }
    }

    /// Leaves the namespace (reference `Socket._onclose`).
    pub(crate) fn on_close(&self, reason: DisconnectReason) {
        if !self.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        let disconnecting = self.listeners().rare(|r| &r.disconnecting);
        // `connected` is already false so a handler cannot emit; it still sees the rooms.
        for h in disconnecting {
            h(self.clone(), reason);
        }
        let adapter = self.ns.adapter();
        if reason.is_recoverable() && self.ns.config.recovery.is_some() {
            if let Some(pid) = self.pid.clone() {
                let session = PersistedSession {
                    sid: self.id.clone(),
                    pid,
                    rooms: self.rooms().into_iter().collect(),
                    data: self.data_value(),
                };
                let adapter = adapter.clone();
                crate::runner::run(async move {
                    if let Err(e) = adapter.persist_session(session).await {
                        tracing::warn!(error = %e, "cannot persist the session");
                    }
                });
            }
        }
        adapter.del_all(&self.id);
        self.ns.remove_socket(&self.id);
        self.client.remove_socket(&self.ns.name);
        // Pending acknowledgements will never come.
        let acks = self.acks.lock().take();
        for (_, slot) in acks.into_iter().flat_map(|acks| *acks) {
            match slot {
                AckSlot::Single(tx) => {
                    let _ = tx.send(Err(AckError::Disconnected));
                }
                AckSlot::Broadcast(sink) => sink.lost(self.id.clone()),
            }
        }
        let disconnect = self.listeners().rare(|r| &r.disconnect);
        for h in disconnect {
            h(self.clone(), reason);
        }
        // Drop the handlers: they usually capture the socket, which would leak otherwise.
        *self.listeners_mut() = Listeners::default();
    }
}

/// The auth payload as a socket keeps it: `None` for the empty object (no allocation for
/// the auth of the many clients that send none), boxed otherwise (`null` included, though
/// the connect sequence always gives an object).
fn boxed_auth(v: Value) -> Option<Box<Value>> {
    match &v {
        Value::Object(map) if map.is_empty() => None,
        _ => Some(Box::new(v)),
    }
}

/// A value kept by a socket: boxed, and nothing for `null`.
fn boxed_value(v: Value) -> Option<Box<Value>> {
    (!matches!(v, Value::Null)).then(|| Box::new(v))
}

pub(crate) fn notify_outgoing(socket: &SocketRef, event: &str, args: &[Value]) {
    if !socket.listens_outgoing.load(Ordering::Acquire) {
        return;
    }
    let listeners = socket.listeners().rare(|r| &r.any_outgoing);
    for l in listeners {
        l(socket, event, args);
    }
}

pub(crate) fn check_event(event: &str) -> Result<(), EmitError> {
    if is_reserved_event(event) {
        return Err(EmitError::ReservedEvent(event.to_owned()));
    }
    Ok(())
}
