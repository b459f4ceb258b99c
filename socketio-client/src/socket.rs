//! [`Socket`]: one namespace of a [`Manager`](crate::Manager)'s connection, the handle users emit
//! on; and the task that runs its handlers in order.

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use socketio_parser::Packet;
use tokio::sync::{mpsc, watch};

use crate::ack::{AckFuture, AckWaiter};
use crate::auth::Auth;
use crate::handler::{BoxFuture, Handlers};
use crate::manager::{ManagerShared, NamespaceSocket};
use crate::reconnect;
use crate::socket_core::{Effect, EmitFlags, Incoming, PendingAck, SocketCore};
use crate::{DisconnectReason, Error, Event, Manager, Value};

/// How many received events may wait for the handlers before the connection stops reading.
const DISPATCH_QUEUE: usize = 1024;

/// The connection status a [`Socket`] reports to waiters.
#[derive(Debug, Clone)]
pub(crate) enum Status {
    /// Not connected (yet, or any more, for now).
    Disconnected,
    /// Joined.
    Connected,
    /// Joining failed (`fatal`: the server refused; no automatic retry).
    Failed(Error),
    /// Closed for good.
    Closed,
}

/// What the dispatch task runs, in order.
pub(crate) enum Dispatch {
    Event(Incoming),
    Connect,
    ConnectError(Error),
    Disconnect(DisconnectReason),
}

/// Per-socket options.
#[derive(Clone)]
pub(crate) struct SocketOptions {
    pub(crate) auth: Auth,
    pub(crate) ack_timeout: Option<Duration>,
    pub(crate) retries: u32,
    pub(crate) max_send_buffer: usize,
}

/// The shared state of one namespace socket.
pub(crate) struct SocketShared {
    pub(crate) nsp: String,
    pub(crate) manager: Arc<ManagerShared>,
    pub(crate) core: Mutex<SocketCore>,
    pub(crate) handlers: Handlers,
    pub(crate) options: SocketOptions,
    /// Each item carries the socket, so queued lifecycle events run even if the user dropped
    /// the socket meanwhile (the loop itself holds no strong reference: no cycle).
    dispatch: mpsc::Sender<(Arc<SocketShared>, Dispatch)>,
    status: watch::Sender<Status>,
    /// The retry queue (the reference's `_queue`) when retries are on: one event in flight.
    retry_queue: Option<mpsc::Sender<RetryItem>>,
}

impl std::fmt::Debug for SocketShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketShared")
            .field("nsp", &self.nsp)
            .finish_non_exhaustive()
    }
}

impl SocketShared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, SocketCore> {
        // parking_lot: a panic in another thread while holding the lock leaves consistent-enough
        // state (every method leaves the core valid between statements), no poisoning.
        self.core.lock()
    }

    /// Queues a connect / connect_error / disconnect notification without waiting: these come
    /// from user calls too (a handler calling `disconnect`), which must not wait for the very
    /// queue that handler is draining.
    fn lifecycle(self: &Arc<Self>, item: Dispatch) {
        match self.dispatch.try_send((self.clone(), item)) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(item)) => {
                let tx = self.dispatch.clone();
                tokio::spawn(async move {
                    let _ = tx.send(item).await;
                });
            }
        }
    }

    /// Performs the effects of a state change. Never called with the core locked.
    pub(crate) async fn perform(self: &Arc<Self>, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send(packet) => self.manager.send_packet(&packet).await,
                Effect::Outgoing(name, args) => {
                    for handler in &self.handlers.outgoing {
                        handler(&name, &args);
                    }
                }
                Effect::Event(incoming) => {
                    // Waiting here is the backpressure that bounds memory when handlers are slow.
                    let _ = self
                        .dispatch
                        .send((self.clone(), Dispatch::Event(incoming)))
                        .await;
                }
                Effect::Connected => {
                    self.status.send_replace(Status::Connected);
                    self.lifecycle(Dispatch::Connect);
                }
                Effect::ConnectError(error) => {
                    // Stays `Failed` (not `Closed`) so waiters learn why.
                    self.status.send_replace(Status::Failed(error.clone()));
                    self.lifecycle(Dispatch::ConnectError(error));
                }
                Effect::Disconnected(reason) => {
                    let closed = self.lock().closed();
                    if !matches!(*self.status.borrow(), Status::Failed(_)) {
                        self.status.send_replace(if closed {
                            Status::Closed
                        } else {
                            Status::Disconnected
                        });
                    }
                    self.lifecycle(Dispatch::Disconnect(reason));
                }
                Effect::Destroy => {
                    if !matches!(*self.status.borrow(), Status::Failed(_)) {
                        self.status.send_replace(Status::Closed);
                    }
                    self.manager.remove_socket(self);
                }
            }
        }
    }

    /// The Engine.IO connection opened: evaluate the auth and send CONNECT.
    pub(crate) async fn on_open(self: &Arc<Self>) {
        let auth = self.options.auth.evaluate().await;
        let packet = self.lock().on_open(auth);
        if let Some(packet) = packet {
            self.manager.send_packet(&packet).await;
        }
    }

    /// Waits until the socket is connected, or fails.
    async fn wait_connected(&self) -> Result<(), Error> {
        let mut rx = self.status.subscribe();
        loop {
            match &*rx.borrow_and_update() {
                Status::Connected => return Ok(()),
                Status::Failed(e) => return Err(e.clone()),
                Status::Closed => return Err(Error::Closed),
                Status::Disconnected => {}
            }
            if rx.changed().await.is_err() {
                return Err(Error::Closed);
            }
        }
    }

    /// Emits through the state machine and performs the effects without waiting (the packet
    /// goes to the connection's bounded queue, or the send buffer while disconnected); returns
    /// the ack id and receiver when `with_ack`.
    fn emit_inner(
        self: &Arc<Self>,
        event: &str,
        args: Vec<Value>,
        with_ack: bool,
        flags: EmitFlags,
    ) -> Result<Option<PendingAck>, Error> {
        let writable = self.manager.writable();
        let (effects, ack) = self.lock().emit(event, args, with_ack, flags, writable)?;
        for effect in effects {
            match effect {
                Effect::Send(packet) => {
                    if let Err(e) = self.manager.try_send_packet(&packet) {
                        if let Some((id, _)) = &ack {
                            self.lock().forget_ack(*id);
                        }
                        return Err(e);
                    }
                }
                Effect::Outgoing(name, args) => {
                    for handler in &self.handlers.outgoing {
                        handler(&name, &args);
                    }
                }
                // An emit changes no connection state.
                _ => {}
            }
        }
        Ok(ack)
    }

    /// Waits for the answer of ack `id`, at most `timeout`.
    async fn wait_ack(
        self: &Arc<Self>,
        id: u64,
        rx: crate::ack::AckReceiver,
        timeout: Option<Duration>,
    ) -> Result<Vec<Value>, Error> {
        let result = match timeout {
            Some(t) => match tokio::time::timeout(t, rx).await {
                Ok(r) => r,
                Err(_) => {
                    self.lock().forget_ack(id);
                    return Err(Error::AckTimeout);
                }
            },
            None => rx.await,
        };
        // A dropped sender means the socket state is gone.
        result.unwrap_or(Err(Error::SocketDisconnected))
    }

    /// One emit with an ack, waiting at most `timeout`.
    async fn ack_once(
        self: &Arc<Self>,
        event: &str,
        args: Vec<Value>,
        timeout: Option<Duration>,
    ) -> Result<Vec<Value>, Error> {
        let Some((id, rx)) = self.emit_inner(event, args, true, EmitFlags::default())? else {
            return Err(Error::Closed);
        };
        self.wait_ack(id, rx, timeout).await
    }

    /// The reference's retry queue entry: sent only while connected, redelivered after each ack
    /// timeout or disconnection until acknowledged or `retries` redeliveries failed.
    async fn deliver_with_retries(
        self: &Arc<Self>,
        event: &str,
        args: Vec<Value>,
    ) -> Result<Vec<Value>, Error> {
        let retries = self.options.retries;
        let timeout = self.options.ack_timeout;
        let mut last = Error::AckTimeout;
        for _ in 0..=retries {
            self.wait_connected().await?;
            match self.ack_once(event, args.clone(), timeout).await {
                Ok(reply) => return Ok(reply),
                Err(e @ (Error::AckTimeout | Error::SocketDisconnected)) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    fn disconnect_now(self: &Arc<Self>) -> Vec<Effect> {
        self.lock().disconnect()
    }
}

impl NamespaceSocket for SocketShared {
    fn nsp(&self) -> &str {
        &self.nsp
    }

    fn on_open(self: Arc<Self>) -> BoxFuture<()> {
        Box::pin(async move { SocketShared::on_open(&self).await })
    }

    fn on_packet(self: Arc<Self>, packet: Packet) -> BoxFuture<()> {
        let effects = self.lock().on_packet(packet);
        Box::pin(async move { self.perform(effects).await })
    }

    fn on_close(self: Arc<Self>, reason: DisconnectReason, cause: Option<String>) -> BoxFuture<()> {
        let effects = self.lock().on_close(reason, cause);
        Box::pin(async move { self.perform(effects).await })
    }

    fn on_open_error(self: Arc<Self>, error: Error) -> BoxFuture<()> {
        let effects = self.lock().on_open_error(&error);
        Box::pin(async move { self.perform(effects).await })
    }
}

/// Keeps the socket alive: when the last user [`Socket`] handle is dropped the socket
/// disconnects (and the manager closes the connection once no socket is left).
#[derive(Debug)]
struct Guard(Arc<SocketShared>);

impl Drop for Guard {
    fn drop(&mut self) {
        let shared = self.0.clone();
        let effects = shared.disconnect_now();
        if effects.is_empty() {
            return;
        }
        // Drop cannot await: send what must be sent right away (sending never blocks), and let
        // the handlers run on the runtime if there is one.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move { shared.perform(effects).await });
            }
            Err(_) => {
                for effect in effects {
                    match effect {
                        Effect::Send(packet) => {
                            let _ = shared.manager.try_send_packet(&packet);
                        }
                        Effect::Destroy => shared.manager.remove_socket(&shared),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// A Socket.IO socket: one namespace over a shared [`Manager`] connection.
///
/// Cheap to clone; every clone is the same socket. When the last clone held by the user is
/// dropped, the socket disconnects for good (as [`disconnect`](Self::disconnect) does), which
/// also stops reconnection. The clones handed to handlers do not keep the socket alive after
/// the user dropped theirs.
///
/// ```no_run
/// use socketio_client::{Args, ClientBuilder, Event, Socket};
/// use serde_json::json;
/// use std::time::Duration;
///
/// # async fn demo() -> Result<(), socketio_client::Error> {
/// let socket = ClientBuilder::new("http://localhost:3000")
///     .namespace("/chat")
///     .auth(json!({"token": "secret"}))
///     .on("message", |event: Event, _socket: Socket| async move {
///         println!("got {:?}", event.args());
///     })
///     // The server emitted "question" with an ack: the handler's output is the reply.
///     .on("question", |event: Event, _socket: Socket| async move {
///         let n: u64 = event.arg(0).unwrap_or(0);
///         n * 2
///     })
///     .connect()
///     .await?;
///
/// socket.emit("message", json!({"text": "hello"}))?;
/// let sum: i64 = socket
///     .emit_with_ack("sum", Args::new().arg(1).arg(2))?
///     .timeout(Duration::from_secs(5))
///     .await?;
/// println!("sum = {sum}");
/// socket.disconnect().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Socket {
    shared: Arc<SocketShared>,
    /// `Some` in user handles (keeps the socket alive), `None` in handler handles.
    _guard: Option<Arc<Guard>>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("nsp", &self.shared.nsp)
            .field("id", &self.id())
            .field("connected", &self.connected())
            .finish()
    }
}

impl Socket {
    /// Creates the socket (not connected yet) and its dispatch task. Must run on a tokio runtime.
    pub(crate) fn create(
        manager: Arc<ManagerShared>,
        nsp: String,
        handlers: Handlers,
        options: SocketOptions,
    ) -> Socket {
        let (dispatch_tx, dispatch_rx) = mpsc::channel(DISPATCH_QUEUE);
        let (status, _) = watch::channel(Status::Disconnected);
        let (retry_tx, retry_rx) = if options.retries > 0 {
            let (tx, rx) = mpsc::channel(options.max_send_buffer.max(1));
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let shared = Arc::new(SocketShared {
            core: Mutex::new(SocketCore::new(nsp.clone(), options.max_send_buffer)),
            nsp,
            manager,
            handlers,
            options,
            dispatch: dispatch_tx,
            status,
            retry_queue: retry_tx,
        });
        if let Some(rx) = retry_rx {
            tokio::spawn(retry_loop(Arc::downgrade(&shared), rx));
        }
        let guard = Arc::new(Guard(shared.clone()));
        tokio::spawn(dispatch_loop(Arc::downgrade(&guard), dispatch_rx));
        Socket {
            shared,
            _guard: Some(guard),
        }
    }

    /// Joins the namespace (opening the manager's connection if needed) and waits until joined
    /// or refused, at most the manager's connect timeout.
    ///
    /// # Errors
    /// [`Error::ConnectRefused`] when the server refused (middleware error, unknown namespace),
    /// the Engine.IO error when the connection could not be opened, [`Error::ConnectTimeout`],
    /// [`Error::InvalidConfig`] when another socket of the manager uses the same namespace.
    pub async fn connect(&self) -> Result<(), Error> {
        if self.connected() {
            return Ok(());
        }
        self.shared.lock().reopen();
        self.shared.status.send_replace(Status::Disconnected);
        if self.shared.manager.add_socket(self.shared.clone())? {
            tokio::spawn(reconnect::drive(self.shared.manager.clone()));
        }
        let timeout = self.shared.manager.options.connect_timeout;
        match tokio::time::timeout(timeout, self.shared.wait_connected()).await {
            Ok(result) => result,
            Err(_) => Err(Error::ConnectTimeout(timeout)),
        }
    }

    /// The namespace (`/` by default).
    pub fn namespace(&self) -> &str {
        &self.shared.nsp
    }

    /// The socket id the server gave, while connected.
    pub fn id(&self) -> Option<String> {
        self.shared.lock().id().map(str::to_owned)
    }

    /// Whether the namespace is joined right now.
    pub fn connected(&self) -> bool {
        self.shared.lock().connected()
    }

    /// Whether the last connection restored the previous session (connection state recovery:
    /// same id, rooms, and the missed events were replayed).
    ///
    /// With recovery on, the server appends each stored event's offset as its last (string)
    /// argument, as the npm server does; handlers see it there, and the client sends the last
    /// one back (`{"pid", "offset"}` merged into the auth payload) when it reconnects.
    pub fn recovered(&self) -> bool {
        self.shared.lock().recovered()
    }

    /// The manager whose connection this socket uses.
    pub fn manager(&self) -> Manager {
        Manager::from_shared(self.shared.manager.clone())
    }

    /// [`emit`](Self::emit) with per-emit flags. A volatile emit skips the retry queue, as in
    /// the reference.
    pub(crate) fn emit_flagged(
        &self,
        event: &str,
        args: Vec<Value>,
        flags: EmitFlags,
    ) -> Result<(), Error> {
        if let Some(queue) = self.retry_queue(flags) {
            check_event_name(event)?;
            if self.shared.lock().closed() {
                return Err(Error::Closed);
            }
            return enqueue(
                queue,
                RetryItem {
                    event: event.to_owned(),
                    args,
                    reply: None,
                },
                self.shared.options.max_send_buffer,
            );
        }
        self.shared
            .emit_inner(event, args, false, flags)
            .map(|_| ())
    }

    /// The retry queue an emit with `flags` goes through, if any.
    fn retry_queue(&self, flags: EmitFlags) -> Option<&mpsc::Sender<RetryItem>> {
        self.shared.retry_queue.as_ref().filter(|_| !flags.volatile)
    }

    /// [`emit_with_ack`](Self::emit_with_ack) with per-emit flags.
    pub(crate) fn emit_with_ack_flagged<R>(
        &self,
        event: &str,
        args: Vec<Value>,
        flags: EmitFlags,
    ) -> Result<AckFuture<R>, Error> {
        if let Some(queue) = self.retry_queue(flags) {
            check_event_name(event)?;
            let (tx, rx) = tokio::sync::oneshot::channel();
            enqueue(
                queue,
                RetryItem {
                    event: event.to_owned(),
                    args,
                    reply: Some(tx),
                },
                self.shared.options.max_send_buffer,
            )?;
            // With retries, `ack_timeout` bounds each delivery (the retry loop's), not the wait.
            let wait: AckWaiter = Box::new(move |timeout| {
                Box::pin(async move {
                    let answer = match timeout {
                        Some(t) => tokio::time::timeout(t, rx)
                            .await
                            .map_err(|_| Error::AckTimeout)?,
                        None => rx.await,
                    };
                    answer.unwrap_or(Err(Error::Closed))
                })
            });
            return Ok(AckFuture::new(wait, None));
        }
        let Some((id, rx)) = self.shared.emit_inner(event, args, true, flags)? else {
            return Err(Error::Closed);
        };
        let shared = self.shared.clone();
        let wait: AckWaiter = Box::new(move |timeout| {
            Box::pin(async move { shared.wait_ack(id, rx, timeout).await })
        });
        Ok(AckFuture::new(wait, self.shared.options.ack_timeout))
    }

    /// Leaves the namespace for good: sends `DISCONNECT` when connected, fails pending acks,
    /// stops reconnection, and closes the manager's connection if no other socket uses it.
    /// The disconnect handlers see [`DisconnectReason::IoClientDisconnect`].
    pub async fn disconnect(&self) {
        let effects = self.shared.disconnect_now();
        self.shared.perform(effects).await;
    }

    fn handler_handle(shared: Arc<SocketShared>) -> Socket {
        Socket {
            shared,
            _guard: None,
        }
    }
}

/// One event waiting in the retry queue.
struct RetryItem {
    event: String,
    args: Vec<Value>,
    reply: Option<tokio::sync::oneshot::Sender<Result<Vec<Value>, Error>>>,
}

/// Queues an event for the retry loop without waiting.
fn enqueue(queue: &mpsc::Sender<RetryItem>, item: RetryItem, capacity: usize) -> Result<(), Error> {
    queue.try_send(item).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => Error::BufferFull(capacity),
        mpsc::error::TrySendError::Closed(_) => Error::Closed,
    })
}

fn check_event_name(event: &str) -> Result<(), Error> {
    if socketio_parser::is_reserved_event(event) {
        Err(Error::ReservedEvent(event.to_owned()))
    } else {
        Ok(())
    }
}

/// Delivers queued events one at a time, in order.
async fn retry_loop(shared: Weak<SocketShared>, mut rx: mpsc::Receiver<RetryItem>) {
    while let Some(item) = rx.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let result = shared.deliver_with_retries(&item.event, item.args).await;
        if let Some(reply) = item.reply {
            let _ = reply.send(result);
        } else if let Err(e) = result {
            tracing::debug!(nsp = %shared.nsp, event = %item.event, "queued event dropped: {e}");
        }
    }
}

/// Runs the handlers of one socket, one dispatch at a time, in arrival order.
async fn dispatch_loop(guard: Weak<Guard>, mut rx: mpsc::Receiver<(Arc<SocketShared>, Dispatch)>) {
    while let Some((shared, item)) = rx.recv().await {
        // Once the user dropped every handle, the socket is going away: events are no longer
        // handled (the lifecycle handlers still run, so the user learns why it ended).
        if guard.strong_count() == 0 && matches!(item, Dispatch::Event(_)) {
            continue;
        }
        let socket = Socket::handler_handle(shared.clone());
        match item {
            Dispatch::Event(incoming) => run_event(&shared, socket, incoming).await,
            Dispatch::Connect => {
                for handler in &shared.handlers.connect {
                    handler(socket.clone()).await;
                }
            }
            Dispatch::ConnectError(error) => {
                for handler in &shared.handlers.connect_error {
                    handler(error.clone(), socket.clone()).await;
                }
            }
            Dispatch::Disconnect(reason) => {
                for handler in &shared.handlers.disconnect {
                    handler(reason, socket.clone()).await;
                }
            }
        }
    }
}

async fn run_event(shared: &Arc<SocketShared>, socket: Socket, incoming: Incoming) {
    let event = Event::new(incoming.name, incoming.args);
    for handler in &shared.handlers.any {
        if let Err(e) = handler.call(event.clone(), socket.clone()).await {
            tracing::warn!(nsp = %shared.nsp, event = event.name(), "catch-all handler: {e}");
        }
    }
    let name = event.name().to_owned();
    let reply = match shared.handlers.events.get(&name) {
        Some(handler) => match handler.call(event, socket).await {
            Ok(reply) => Some(reply),
            Err(e) => {
                tracing::warn!(nsp = %shared.nsp, event = %name, "handler reply: {e}");
                None
            }
        },
        None => None,
    };
    if let (Some(id), Some(reply)) = (incoming.ack_id, reply) {
        let packet = shared.lock().ack_packet(id, reply);
        if let Some(packet) = packet {
            shared.manager.send_packet(&packet).await;
        }
    }
}
