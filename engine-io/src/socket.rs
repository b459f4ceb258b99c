//! [`Socket`]: one Engine.IO session, whatever its transport.
//!
//! # Outgoing queue
//! Every socket has a bounded queue of outgoing messages
//! ([`crate::Config::max_buffered_messages`]). The active transport drains it:
//! a pending polling `GET` takes everything queued into one payload; the
//! WebSocket writer encodes everything queued and flushes it with a single write.
//! When the queue is full (a client that stops reading),
//! [`Socket::try_send`] returns [`TrySendError::Full`] with the message and
//! [`Socket::send`] waits for room: memory stays bounded, and the caller picks
//! the policy (drop, wait, or close). Heartbeat and control packets bypass the
//! limit (they are tiny and at most a few are ever queued).
//!
//! # State
//! The mutable state sits behind one `std::sync::Mutex` that is never held
//! across an `.await`; waiters use `tokio::sync::Notify`.

use crate::heartbeat::{Heartbeat, PacketAction, TimerAction};
use crate::packet::{Packet, PacketType, ProtocolVersion};
use crate::request::RequestInfo;
use crate::server::Shared;
use crate::websocket::WsStream;
use crate::{CloseReason, Closed, Message, SendError, Str, TransportType, TrySendError};
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Lifecycle of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ready {
    Open,
    /// Graceful close requested: flush the queue, then close the transport.
    Closing,
    Closed,
}

pub(crate) struct State {
    pub(crate) ready: Ready,
    pub(crate) transport: TransportType,
    pub(crate) queue: VecDeque<Packet>,
    /// Application messages in `queue` (what the capacity limits).
    pub(crate) queued_messages: usize,
    /// Packets ever queued / ever handed to the transport (for `flush`).
    pub(crate) enqueued: u64,
    pub(crate) written: u64,
    pub(crate) heartbeat: Heartbeat,
    // Polling.
    pub(crate) poll_pending: bool,
    pub(crate) poll_seq: u64,
    pub(crate) post_active: bool,
    pub(crate) post_seq: u64,
    /// What a pending GET answers once the socket is closed (close or noop).
    pub(crate) poll_final: PacketType,
    /// During an upgrade probe: release the pending GET with a noop.
    pub(crate) poll_noop: bool,
    // Upgrade.
    pub(crate) upgrading: bool,
    pub(crate) upgraded: bool,
    pub(crate) probe_offer: Option<Box<WsStream>>,
    pub(crate) upgrade_deadline: Option<Instant>,
    /// Graceful polling close waits at most this long for a GET.
    pub(crate) close_deadline: Option<Instant>,
    // Close.
    pub(crate) close_reason: Option<CloseReason>,
    pub(crate) close_description: Option<String>,
    // Stream API.
    pub(crate) inbox: VecDeque<Message>,
    // Socket task wake-ups (see `Socket::request_wake`).
    /// Something changed that the socket task must look at.
    pub(crate) wake_requested: bool,
    /// The socket task is parked and waits for `task_waker`.
    pub(crate) parked: bool,
    pub(crate) task_waker: Option<std::task::Waker>,
}

/// One Engine.IO session.
///
/// Shared as `Arc<Socket>`; every method takes `&self`. See the module docs for
/// the outgoing queue policy.
pub struct Socket {
    id: Str,
    protocol: ProtocolVersion,
    request: RequestInfo,
    /// JSONP callback index (digits only) when the session polls with JSONP.
    pub(crate) jsonp: Option<Box<str>>,
    /// The client asked for base64 binary (`b64` query parameter).
    pub(crate) b64: bool,
    pub(crate) shared: Arc<Shared>,
    pub(crate) state: Mutex<State>,
    /// Wakes pending polling GETs (notify_waiters).
    pub(crate) poll_wake: Notify,
    /// Wakes callers waiting on the state (notify_waiters): senders waiting
    /// for room, `flush`, `recv` and `closed` callers. One `Notify` for all of
    /// them keeps the per-socket size down; every waiter re-checks its own
    /// condition in a loop, so a wake-up meant for another kind is harmless.
    pub(crate) waiters: Notify,
    /// The embedder's per-socket value ([`Socket::set_data`]).
    data: std::sync::OnceLock<Box<dyn std::any::Any + Send + Sync>>,
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.id)
            .field("protocol", &self.protocol)
            .field("transport", &self.transport())
            .finish_non_exhaustive()
    }
}

/// Most control packets (pongs) kept waiting in a queue.
const MAX_PENDING_CONTROL: usize = 16;

/// A packet without data (close, noop, ping, pong).
pub(crate) fn control(t: PacketType) -> Packet {
    Packet::empty(t)
}

impl Socket {
    pub(crate) fn new(
        id: Str,
        protocol: ProtocolVersion,
        request: RequestInfo,
        transport: TransportType,
        shared: Arc<Shared>,
    ) -> Arc<Socket> {
        let jsonp = match transport {
            TransportType::Polling => request
                .query("j")
                .map(|j| crate::payload::jsonp_index(j).into()),
            TransportType::Websocket => None,
        };
        let b64 = request.query("b64").is_some_and(|v| !v.is_empty());
        let cfg = &shared.config;
        let heartbeat = Heartbeat::new(
            protocol,
            cfg.ping_interval,
            cfg.ping_timeout,
            Instant::now(),
        );
        Arc::new(Socket {
            id,
            protocol,
            request,
            jsonp,
            b64,
            state: Mutex::new(State {
                ready: Ready::Open,
                transport,
                queue: VecDeque::new(),
                queued_messages: 0,
                enqueued: 0,
                written: 0,
                heartbeat,
                poll_pending: false,
                poll_seq: 0,
                post_active: false,
                post_seq: 0,
                poll_final: PacketType::Close,
                poll_noop: false,
                upgrading: false,
                upgraded: false,
                probe_offer: None,
                upgrade_deadline: None,
                close_deadline: None,
                close_reason: None,
                close_description: None,
                inbox: VecDeque::new(),
                wake_requested: false,
                parked: false,
                task_waker: None,
            }),
            shared,
            poll_wake: Notify::new(),
            waiters: Notify::new(),
            data: std::sync::OnceLock::new(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a panic elsewhere while holding it; the state is
        // still structurally valid, so keep serving rather than cascade panics.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Attaches a value to this socket, once: an embedder finds its own
    /// per-connection state from the socket it is handed in every callback
    /// without a lock or a map lookup. Gives the value back if one was already
    /// set. Beware of cycles: a value holding an `Arc` of this socket keeps it
    /// alive (store a `Weak` instead).
    ///
    /// ```
    /// # let server = engine_io::Server::new_stream(engine_io::Config::default());
    /// # let _ = server;
    /// struct Session { user: String }
    /// fn on_connect(socket: std::sync::Arc<engine_io::Socket>) {
    ///     let _ = socket.set_data(Session { user: "ann".into() });
    ///     assert_eq!(socket.data::<Session>().map(|s| s.user.as_str()), Some("ann"));
    /// }
    /// ```
    pub fn set_data<T: std::any::Any + Send + Sync>(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.data.get_or_init(|| match value.take() {
            Some(v) => Box::new(v),
            None => Box::new(()),
        });
        match value {
            None => Ok(()),
            Some(v) => Err(v),
        }
    }

    /// The value attached with [`Socket::set_data`], if it is a `T`.
    pub fn data<T: std::any::Any + Send + Sync>(&self) -> Option<&T> {
        self.data.get()?.downcast_ref()
    }

    /// The session id (20 URL-safe base64 characters).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session id as a shared string.
    pub fn sid(&self) -> &Str {
        &self.id
    }

    /// The Engine.IO protocol version of the client.
    pub fn protocol(&self) -> ProtocolVersion {
        self.protocol
    }

    /// The current transport.
    pub fn transport(&self) -> TransportType {
        self.lock().transport
    }

    /// The handshake request.
    pub fn request(&self) -> &RequestInfo {
        &self.request
    }

    /// The peer address of the handshake request, if known.
    pub fn remote_addr(&self) -> Option<std::net::SocketAddr> {
        self.request.remote_addr
    }

    /// Whether the socket is open (not closing or closed).
    pub fn is_open(&self) -> bool {
        self.lock().ready == Ready::Open
    }

    /// Whether the socket is closed.
    pub fn is_closed(&self) -> bool {
        self.lock().ready == Ready::Closed
    }

    /// Why the socket closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.lock().close_reason
    }

    /// More detail on the close reason, when there is some (e.g. "overlap from client").
    pub fn close_description(&self) -> Option<String> {
        self.lock().close_description.clone()
    }

    /// Messages waiting in the outgoing queue.
    pub fn queued(&self) -> usize {
        self.lock().queued_messages
    }

    /// Queues a message without waiting. Fails with `Full` when the outgoing
    /// queue is at capacity and `Closed` when the socket is closing or closed;
    /// either way the message is given back.
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<(), TrySendError<Message>> {
        let msg = msg.into();
        let mut st = self.lock();
        if st.ready != Ready::Open {
            return Err(TrySendError::Closed(msg));
        }
        if st.queued_messages >= self.shared.config.max_buffered_messages {
            return Err(TrySendError::Full(msg));
        }
        st.queued_messages += 1;
        st.enqueued += 1;
        st.queue.push_back(Packet::message(msg));
        let waker = Socket::wake_writer_locked(&mut st);
        drop(st);
        self.wake_writer(waker);
        Ok(())
    }

    /// Queues several messages atomically: all of them or none (a Socket.IO
    /// binary packet is one text message plus its attachments and must not be
    /// split by a full queue). A batch larger than the whole capacity is
    /// accepted when the queue is empty, so it can always eventually be sent.
    pub fn try_send_many(&self, msgs: Vec<Message>) -> Result<(), TrySendError<Vec<Message>>> {
        let mut st = self.lock();
        if st.ready != Ready::Open {
            return Err(TrySendError::Closed(msgs));
        }
        let cap = self.shared.config.max_buffered_messages;
        if st.queued_messages + msgs.len() > cap && st.queued_messages > 0 {
            return Err(TrySendError::Full(msgs));
        }
        st.queued_messages += msgs.len();
        st.enqueued += msgs.len() as u64;
        st.queue.extend(msgs.into_iter().map(Packet::message));
        let waker = Socket::wake_writer_locked(&mut st);
        drop(st);
        self.wake_writer(waker);
        Ok(())
    }

    /// Queues a message, waiting for room in the outgoing queue (backpressure).
    /// Fails only when the socket is closed.
    pub async fn send(&self, msg: impl Into<Message>) -> Result<(), SendError<Message>> {
        let mut msg = msg.into();
        loop {
            let notified = self.waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(m)) => return Err(SendError(m)),
                Err(TrySendError::Full(m)) => msg = m,
            }
            notified.await;
        }
    }

    /// Queues several messages atomically, waiting for room.
    pub async fn send_many(&self, msgs: Vec<Message>) -> Result<(), SendError<Vec<Message>>> {
        let mut msgs = msgs;
        loop {
            let notified = self.waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_send_many(msgs) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(m)) => return Err(SendError(m)),
                Err(TrySendError::Full(m)) => msgs = m,
            }
            notified.await;
        }
    }

    /// Waits until everything queued before this call has been handed to the
    /// transport (written to the WebSocket, or returned in a polling response):
    /// the completion signal for sends. Fails if the socket closes first.
    pub async fn flush(&self) -> Result<(), Closed> {
        let target = self.lock().enqueued;
        loop {
            let notified = self.waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.lock();
                if st.written >= target {
                    return Ok(());
                }
                if st.ready == Ready::Closed {
                    return Err(Closed);
                }
            }
            notified.await;
        }
    }

    /// Sends `msg` and waits until it has been written to the transport.
    /// Fails if the socket closes before that.
    pub async fn send_and_flush(&self, msg: impl Into<Message>) -> Result<(), Closed> {
        self.send(msg).await.map_err(|_| Closed)?;
        self.flush().await
    }

    /// Receives the next message (stream API: only for servers built with
    /// [`crate::Server::new_stream`]; with a custom [`crate::Handler`] messages go
    /// to the handler and this waits until the socket closes). Returns `None`
    /// once the socket is closed and the inbox is empty.
    pub async fn recv(&self) -> Option<Message> {
        loop {
            let notified = self.waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                if let Some(m) = st.inbox.pop_front() {
                    return Some(m);
                }
                if st.ready == Ready::Closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Waits until the socket is closed and returns why.
    pub async fn closed(&self) -> CloseReason {
        loop {
            let notified = self.waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.lock().close_reason {
                return r;
            }
            notified.await;
        }
    }

    /// Closes the socket gracefully: queued messages are sent first, then the
    /// transport is closed (a close packet to polling clients, a close frame over
    /// WebSocket). The close reason is "forced close".
    pub fn close(&self) {
        let mut st = self.lock();
        if st.ready != Ready::Open {
            return;
        }
        st.ready = Ready::Closing;
        if st.transport == TransportType::Polling && !st.poll_pending {
            // The reference waits up to 30 s for the next GET to deliver the close packet.
            st.close_deadline = Some(Instant::now() + std::time::Duration::from_secs(30));
        }
        let waker = Socket::request_wake(&mut st);
        drop(st);
        self.poll_wake.notify_waiters();
        if let Some(w) = waker {
            w.wake();
        }
        self.waiters.notify_waiters();
    }

    /// Closes the socket at once, dropping queued messages (as the reference's
    /// `close(true)` / server shutdown): a pending poll gets the close packet, a
    /// WebSocket gets a close frame.
    pub fn close_now(self: &Arc<Self>) {
        self.finalize(CloseReason::ForcedClose, None, PacketType::Close);
    }

    /// Asks the socket task to look at the state again. Returns the waker to
    /// call once the lock is released, if the task is parked. When the task is
    /// running (e.g. a handler answering from inside the task's read path),
    /// the flag alone is enough: the task re-reads the state before it parks,
    /// so no wake-up (and no extra pass through its loop) is needed.
    pub(crate) fn request_wake(st: &mut State) -> Option<std::task::Waker> {
        st.wake_requested = true;
        if st.parked {
            st.parked = false;
            st.task_waker.take()
        } else {
            None
        }
    }

    /// [`Socket::request_wake`] taking the lock.
    pub(crate) fn wake_task(&self) {
        let waker = Socket::request_wake(&mut self.lock());
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Before releasing the lock after queueing: what to wake. `None` inside
    /// means "wake pending polls" (polling transport).
    fn wake_writer_locked(st: &mut State) -> Option<Option<std::task::Waker>> {
        match st.transport {
            TransportType::Polling => None,
            TransportType::Websocket => Some(Socket::request_wake(st)),
        }
    }

    /// After releasing the lock: wakes what [`Socket::wake_writer_locked`] chose.
    fn wake_writer(&self, waker: Option<Option<std::task::Waker>>) {
        match waker {
            None => self.poll_wake.notify_waiters(),
            Some(Some(w)) => w.wake(),
            Some(None) => {}
        }
    }

    /// Queues a control packet (ping, pong), bypassing the capacity limit.
    pub(crate) fn push_control(st: &mut State, p: Packet) {
        st.enqueued += 1;
        st.queue.push_back(p);
    }

    /// Takes everything queued for the transport, counting it as written.
    pub(crate) fn drain_queue(&self, st: &mut State) -> Vec<Packet> {
        // Taking the deque leaves no allocation behind: idle sockets stay small.
        let packets = Vec::from(std::mem::take(&mut st.queue));
        if st.queued_messages > 0 {
            st.queued_messages = 0;
            self.waiters.notify_waiters();
        }
        packets
    }

    /// Counts `n` packets as written and wakes `flush` callers.
    pub(crate) fn mark_written(&self, st: &mut State, n: u64) {
        st.written += n;
        self.waiters.notify_waiters();
    }

    /// The read path: a packet received on the active transport.
    pub(crate) fn handle_packet(self: &Arc<Self>, p: Packet) {
        {
            let mut st = self.lock();
            if st.ready != Ready::Open {
                return;
            }
            match st.heartbeat.on_packet(p.packet_type, Instant::now()) {
                PacketAction::WrongDirection => {
                    drop(st);
                    self.finalize(
                        CloseReason::TransportError,
                        Some("invalid heartbeat direction".into()),
                        PacketType::Close,
                    );
                    return;
                }
                PacketAction::SendPong => {
                    // Control packets bypass the capacity, so a client flooding
                    // pings without reading must not grow the queue: beyond a
                    // few pending control packets, further pongs are redundant.
                    if st.queue.len() - st.queued_messages >= MAX_PENDING_CONTROL {
                        return;
                    }
                    Socket::push_control(&mut st, control(PacketType::Pong));
                    let waker = Socket::wake_writer_locked(&mut st);
                    drop(st);
                    self.wake_writer(waker);
                }
                PacketAction::None => {}
            }
        }
        if let Some(msg) = p.into_message() {
            self.shared.handler.on_message(self, msg);
        }
    }

    /// Heartbeat timer check, called by the socket task under the lock.
    /// Returns the next wake-up, or `Err` on ping timeout (the caller
    /// finalizes once the lock is released). A ping is queued when due; the
    /// caller drains the queue (WebSocket) or wakes the pending poll.
    pub(crate) fn heartbeat_locked(st: &mut State, now: Instant) -> Result<Instant, ()> {
        match st.heartbeat.on_timer(now) {
            TimerAction::Wait => Ok(st.heartbeat.next_wake()),
            TimerAction::SendPing => {
                Socket::push_control(st, control(PacketType::Ping));
                Ok(st.heartbeat.next_wake())
            }
            TimerAction::Timeout => Err(()),
        }
    }

    /// Stream API: a received message.
    pub(crate) fn push_inbox(self: &Arc<Self>, msg: Message) {
        let mut st = self.lock();
        if st.inbox.len() >= self.shared.config.inbox_capacity {
            drop(st);
            self.finalize(
                CloseReason::TransportError,
                Some("inbox full".into()),
                PacketType::Close,
            );
            return;
        }
        st.inbox.push_back(msg);
        drop(st);
        self.waiters.notify_waiters();
    }

    pub(crate) fn wake_inbox(&self) {
        self.waiters.notify_waiters();
    }

    /// Closes the session for `reason` (once): the pending poll is answered with
    /// `poll_final`, the socket task closes the WebSocket, the socket leaves the
    /// server, waiters wake up and the handler's `on_close` runs.
    pub(crate) fn finalize(
        self: &Arc<Self>,
        reason: CloseReason,
        description: Option<String>,
        poll_final: PacketType,
    ) {
        {
            let mut st = self.lock();
            if st.ready == Ready::Closed {
                return;
            }
            st.ready = Ready::Closed;
            st.close_reason = Some(reason);
            st.close_description = description;
            st.poll_final = poll_final;
            st.queue = VecDeque::new();
            st.queued_messages = 0;
            st.probe_offer = None;
        }
        self.shared.remove(self.sid());
        self.poll_wake.notify_waiters();
        self.wake_task();
        self.waiters.notify_waiters();
        self.shared.handler.on_close(self, reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Server};

    fn socket(cap: usize) -> (Server, Arc<Socket>) {
        socket_v(cap, ProtocolVersion::V4)
    }

    fn socket_v(cap: usize, v: ProtocolVersion) -> (Server, Arc<Socket>) {
        let server = Server::new_stream(Config::builder().max_buffered_messages(cap).build());
        let info = crate::RequestInfo::new(
            http::Method::GET,
            http::Uri::from_static("/engine.io/?EIO=4&transport=polling"),
            &http::HeaderMap::new(),
            None,
        );
        let s = server.create_socket(info, v, TransportType::Polling);
        (server, s)
    }

    #[tokio::test]
    async fn queue_capacity_counts_messages_only() {
        let (_server, s) = socket(2);
        // the open packet is queued but does not count
        assert_eq!(s.lock().queue.len(), 1);
        s.try_send("a").unwrap();
        s.try_send("b").unwrap();
        assert!(matches!(s.try_send("c"), Err(TrySendError::Full(_))));
        {
            let mut st = s.lock();
            Socket::push_control(&mut st, control(PacketType::Ping));
        }
        let drained = {
            let mut st = s.lock();
            s.drain_queue(&mut st)
        };
        assert_eq!(drained.len(), 4);
        assert_eq!(s.queued(), 0);
        s.try_send("c").unwrap();
    }

    #[tokio::test]
    async fn batches_are_all_or_nothing() {
        let (_server, s) = socket(3);
        s.try_send("a").unwrap();
        let batch = vec![Message::from("1"), Message::from("2"), Message::from("3")];
        match s.try_send_many(batch) {
            Err(TrySendError::Full(b)) => assert_eq!(b.len(), 3),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.queued(), 1);
        {
            let mut st = s.lock();
            s.drain_queue(&mut st);
        }
        // larger than the capacity: accepted into an empty queue
        s.try_send_many(vec![Message::from("x"); 5]).unwrap();
        assert_eq!(s.queued(), 5);
    }

    #[tokio::test]
    async fn closed_socket_gives_messages_back_and_wakes_waiters() {
        let (server, s) = socket(1);
        s.try_send("a").unwrap();
        let s2 = s.clone();
        let waiting = tokio::spawn(async move { s2.send("b").await });
        let s3 = s.clone();
        let flushing = tokio::spawn(async move { s3.flush().await });
        tokio::task::yield_now().await;
        s.close_now();
        assert_eq!(waiting.await.unwrap(), Err(SendError(Message::from("b"))));
        assert_eq!(flushing.await.unwrap(), Err(Closed));
        assert!(matches!(s.try_send("c"), Err(TrySendError::Closed(_))));
        assert_eq!(s.close_reason(), Some(CloseReason::ForcedClose));
        assert_eq!(s.closed().await, CloseReason::ForcedClose);
        assert_eq!(server.count(), 0);
        assert_eq!(s.recv().await, None);
    }

    #[tokio::test]
    async fn user_data_is_set_once() {
        let (_server, s) = socket(4);
        assert!(s.data::<u32>().is_none());
        s.set_data(7u32).unwrap();
        assert_eq!(s.set_data(8u32), Err(8));
        assert_eq!(s.data::<u32>(), Some(&7));
        assert!(s.data::<String>().is_none());
    }

    #[tokio::test]
    async fn ping_flood_does_not_grow_the_queue() {
        let (_server, s) = socket_v(4, ProtocolVersion::V3);
        for _ in 0..1000 {
            s.handle_packet(control(PacketType::Ping));
        }
        assert!(s.lock().queue.len() <= MAX_PENDING_CONTROL);
        assert!(s.is_open());
    }

    #[tokio::test]
    async fn graceful_close_refuses_new_messages() {
        let (_server, s) = socket(4);
        s.try_send("a").unwrap();
        s.close();
        assert!(!s.is_open());
        assert!(!s.is_closed());
        assert!(matches!(s.try_send("b"), Err(TrySendError::Closed(_))));
        assert_eq!(s.queued(), 1);
    }
}
