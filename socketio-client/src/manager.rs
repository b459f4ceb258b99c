//! [`Manager`]: one Engine.IO connection shared by every namespace socket of a server
//! (multiplexing, the reference client's `Manager`, socket.io-client 4.8 `lib/manager.ts`). The
//! task that opens and reopens it is [`reconnect`](crate::reconnect)'s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use engine_io::Message;
use parking_lot::{Mutex, MutexGuard};
use socketio_parser::{Packet, Parser};
use tokio::sync::{broadcast, Notify};

use crate::engine::{EngineOptions, Transports};
use crate::handler::BoxFuture;
use crate::{DisconnectReason, Error};

/// What happens to a manager's connection, for [`Manager::events`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ManagerEvent {
    /// The Engine.IO connection is open.
    Open,
    /// The Engine.IO connection closed.
    Close(DisconnectReason),
    /// Opening the connection failed.
    Error(Error),
    /// A reconnection attempt starts (the attempt number, from 1).
    ReconnectAttempt(u32),
    /// Reconnected after this many attempts.
    Reconnect(u32),
    /// A reconnection attempt failed.
    ReconnectError(Error),
    /// Every allowed reconnection attempt failed; the manager gave up.
    ReconnectFailed,
}

/// What the manager needs of a namespace socket: its namespace, and how it reacts to the
/// connection's events (each updates the socket's state machine, then performs the effects).
/// The manager holds its sockets through this, so it does not depend on how a socket is built.
pub(crate) trait NamespaceSocket: Send + Sync + 'static {
    /// The namespace, the key of the socket in its manager.
    fn nsp(&self) -> &str;
    /// The connection is open: send `CONNECT` (after evaluating the auth).
    fn on_open(self: Arc<Self>) -> BoxFuture<()>;
    /// A packet for this namespace arrived.
    fn on_packet(self: Arc<Self>, packet: Packet) -> BoxFuture<()>;
    /// The connection closed.
    fn on_close(self: Arc<Self>, reason: DisconnectReason, cause: Option<String>) -> BoxFuture<()>;
    /// The connection could not be opened.
    fn on_open_error(self: Arc<Self>, error: Error) -> BoxFuture<()>;
}

/// The options of a manager (shared by its sockets).
#[derive(Debug, Clone)]
pub(crate) struct ManagerOptions {
    pub(crate) engine: EngineOptions,
    pub(crate) parser: Parser,
    pub(crate) reconnection: bool,
    pub(crate) reconnection_attempts: u32,
    pub(crate) reconnection_delay: Duration,
    pub(crate) reconnection_delay_max: Duration,
    pub(crate) randomization_factor: f64,
    pub(crate) connect_timeout: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            engine: EngineOptions::default(),
            parser: Parser::Json,
            reconnection: true,
            reconnection_attempts: u32::MAX,
            reconnection_delay: Duration::from_millis(1000),
            reconnection_delay_max: Duration::from_millis(5000),
            randomization_factor: 0.5,
            connect_timeout: Duration::from_millis(20_000),
        }
    }
}

#[derive(Default)]
struct ManagerState {
    /// The sockets that want to be connected, by namespace.
    sockets: HashMap<String, Arc<dyn NamespaceSocket>>,
    /// The open Engine.IO connection.
    engine: Option<engine_io_client::Client>,
    /// Whether the driver task runs.
    driving: bool,
}

/// The shared state of a manager.
pub(crate) struct ManagerShared {
    pub(crate) options: ManagerOptions,
    state: Mutex<ManagerState>,
    events: broadcast::Sender<ManagerEvent>,
    /// Wakes the driver when the last socket left (to close) or during a backoff delay.
    pub(crate) wake: Notify,
}

impl std::fmt::Debug for ManagerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerShared")
            .field("url", &self.options.engine.url)
            .finish_non_exhaustive()
    }
}

impl ManagerShared {
    pub(crate) fn new(options: ManagerOptions) -> Arc<Self> {
        let (events, _) = broadcast::channel(64);
        Arc::new(ManagerShared {
            options,
            state: Mutex::new(ManagerState::default()),
            events,
            wake: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ManagerState> {
        self.state.lock()
    }

    pub(crate) fn emit(&self, event: ManagerEvent) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    /// Whether a packet written now would go out on an open connection (for volatile emits).
    pub(crate) fn writable(&self) -> bool {
        self.lock()
            .engine
            .as_ref()
            .is_some_and(engine_io_client::Client::is_connected)
    }

    /// A socket wants to connect: open it now if the connection is open. Returns whether no
    /// driver runs, so the caller must start [`reconnect::drive`](crate::reconnect::drive).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when another socket of this manager already uses the namespace:
    /// the server would close the connection on a second `CONNECT` for a joined namespace.
    pub(crate) fn add_socket(
        self: &Arc<Self>,
        socket: Arc<dyn NamespaceSocket>,
    ) -> Result<bool, Error> {
        let (open_now, spawn) = {
            let mut state = self.lock();
            if let Some(other) = state.sockets.get(socket.nsp()) {
                if !Arc::ptr_eq(other, &socket) {
                    return Err(Error::InvalidConfig(format!(
                        "namespace {} is already joined on this connection (use force_new or \
                         multiplex(false) for a second socket of the same namespace)",
                        socket.nsp()
                    )));
                }
            }
            state
                .sockets
                .insert(socket.nsp().to_owned(), socket.clone());
            let open_now = state.engine.as_ref().is_some_and(|e| e.is_connected());
            let spawn = !state.driving;
            if spawn {
                state.driving = true;
            }
            (open_now, spawn)
        };
        if open_now {
            tokio::spawn(socket.on_open());
        }
        Ok(spawn)
    }

    /// A socket is closed for good: stop tracking it, and close the connection when it was the
    /// last one (the reference's `_destroy`).
    pub(crate) fn remove_socket<S: NamespaceSocket>(&self, socket: &Arc<S>) {
        let mut state = self.lock();
        let nsp = socket.nsp();
        if let Some(current) = state.sockets.get(nsp) {
            // The same allocation (the map holds it as a trait object).
            if std::ptr::addr_eq(Arc::as_ptr(current), Arc::as_ptr(socket)) {
                state.sockets.remove(nsp);
            }
        }
        if state.sockets.is_empty() {
            drop(state);
            self.wake.notify_one();
        }
    }

    /// Whether some namespace socket of this manager is active.
    pub(crate) fn has_socket(&self, nsp: &str) -> bool {
        self.lock().sockets.contains_key(nsp)
    }

    fn engine(&self) -> Option<engine_io_client::Client> {
        self.lock().engine.clone()
    }

    /// Encodes and sends a packet on the open connection; dropped when there is none (the
    /// state machine only sends while connected, so this is a race with a close).
    pub(crate) async fn send_packet(&self, packet: &Packet) {
        let Some(engine) = self.engine() else {
            return;
        };
        if let Some(messages) = self.encode(packet) {
            // Waiting for room is the backpressure against a slow server.
            let _ = engine.send_all(messages).await;
        }
    }

    /// [`send_packet`](Self::send_packet) without waiting: [`Error::BufferFull`] when the
    /// connection's send queue is full (a closing connection drops the packet, as
    /// `send_packet` does).
    pub(crate) fn try_send_packet(&self, packet: &Packet) -> Result<(), Error> {
        let Some(engine) = self.engine() else {
            return Ok(());
        };
        if let Some(messages) = self.encode(packet) {
            if let Err(engine_io_client::TrySendError::Full(_)) = engine.try_send_all(messages) {
                return Err(Error::BufferFull(crate::engine::SEND_QUEUE));
            }
        }
        Ok(())
    }

    fn encode(&self, packet: &Packet) -> Option<Vec<Message>> {
        let encoded = match self.options.parser.encode(packet) {
            Ok(encoded) => encoded,
            Err(e) => {
                tracing::warn!(nsp = %packet.nsp, "cannot encode packet: {e}");
                return None;
            }
        };
        match encoded.to_messages() {
            Ok(messages) => Some(messages),
            Err(e) => {
                tracing::warn!(nsp = %packet.nsp, "cannot send packet: {e}");
                None
            }
        }
    }

    /// The sockets that want to be connected.
    pub(crate) fn sockets(&self) -> Vec<Arc<dyn NamespaceSocket>> {
        self.lock().sockets.values().cloned().collect()
    }

    /// The socket of namespace `nsp`, if any.
    pub(crate) fn socket(&self, nsp: &str) -> Option<Arc<dyn NamespaceSocket>> {
        self.lock().sockets.get(nsp).cloned()
    }

    /// Whether the driver should stop: no socket is left.
    pub(crate) fn should_stop(&self) -> bool {
        self.lock().sockets.is_empty()
    }

    /// The connection is open: sockets send on `client` from now on. Returns the sockets to
    /// connect.
    pub(crate) fn opened(&self, client: engine_io_client::Client) -> Vec<Arc<dyn NamespaceSocket>> {
        let mut state = self.lock();
        state.engine = Some(client);
        state.sockets.values().cloned().collect()
    }

    /// The connection is lost: nothing is sent until the next one opens.
    pub(crate) fn lost(&self) {
        self.lock().engine = None;
    }

    /// The driver ends (`idle`: because no socket was left). Returns the connection to close,
    /// and whether the driver must run again (a socket was added meanwhile).
    pub(crate) fn stop_driving(&self, idle: bool) -> (Option<engine_io_client::Client>, bool) {
        let mut state = self.lock();
        state.driving = false;
        let restart = idle && !state.sockets.is_empty();
        if restart {
            state.driving = true;
        }
        (state.engine.take(), restart)
    }
}

/// A connection to a Socket.IO server shared by several namespace sockets (multiplexing).
///
/// [`ClientBuilder::connect`](crate::ClientBuilder::connect) reuses a process-wide manager per
/// server (origin and path) unless [`force_new`](crate::ClientBuilder::force_new) or
/// [`multiplex(false)`](crate::ClientBuilder::multiplex) is set, so sockets of several
/// namespaces share one Engine.IO connection. Build sockets of one manager explicitly with
/// [`ClientBuilder::manager`](crate::ClientBuilder::manager).
///
/// ```no_run
/// use socketio_client::{ClientBuilder, ManagerEvent};
///
/// # async fn demo() -> Result<(), socketio_client::Error> {
/// let admin = ClientBuilder::new("http://localhost:3000").namespace("/admin").connect().await?;
/// // Same connection, another namespace:
/// let chat = admin.manager().socket("/chat").connect().await?;
/// let mut events = chat.manager().events();
/// tokio::spawn(async move {
///     while let Ok(event) = events.recv().await {
///         if let ManagerEvent::ReconnectAttempt(n) = event {
///             eprintln!("reconnecting, attempt {n}");
///         }
///     }
/// });
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Manager {
    shared: Arc<ManagerShared>,
}

impl Manager {
    pub(crate) fn from_shared(shared: Arc<ManagerShared>) -> Self {
        Manager { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<ManagerShared> {
        &self.shared
    }

    /// A builder for a socket of namespace `nsp` sharing this manager's connection (options of
    /// the connection come from the manager; the socket's own options and handlers from the
    /// builder).
    pub fn socket(&self, nsp: impl Into<String>) -> crate::ClientBuilder {
        crate::ClientBuilder::new(self.url().to_owned())
            .manager(self)
            .namespace(nsp)
    }

    /// The manager's events: open, close, reconnection attempts, successes and failures.
    /// (A receiver that falls more than 64 events behind skips the oldest.)
    pub fn events(&self) -> broadcast::Receiver<ManagerEvent> {
        self.shared.events.subscribe()
    }

    /// Whether the Engine.IO connection is open.
    pub fn is_open(&self) -> bool {
        self.shared.writable()
    }

    /// The transport setting the manager connects with.
    pub fn transports(&self) -> Transports {
        self.shared.options.engine.transports
    }

    /// The URL the manager connects to.
    pub fn url(&self) -> &str {
        &self.shared.options.engine.url
    }
}
