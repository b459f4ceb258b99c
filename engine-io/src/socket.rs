//! [`Socket`]: one Engine.IO session, whatever its transport.
//!
//! # Outgoing queue
//! Every socket has an outgoing queue bounded by bytes. The active transport
//! drains it: a pending polling `GET` takes everything queued into one payload;
//! the WebSocket writer encodes everything queued and flushes it with a single
//! write. A client counts as a slow consumer only when its queue holds more
//! than [`crate::Config::slow_consumer_bytes`] *and* has not been drained for
//! [`crate::Config::slow_consumer_timeout`], or when the queue reaches the hard
//! cap [`crate::Config::max_buffered_bytes`]. Then [`Socket::try_send`]
//! returns [`TrySendError::Full`] with the message and [`Socket::send`] waits
//! for room: memory stays bounded, and the caller picks the policy (drop,
//! wait, or close). A burst between two polls is not a slow consumer. Heartbeat
//! and control packets bypass the limit (they are tiny and at most a few are
//! ever queued).
//!
//! # State
//! The protocol state is a [`Session`] (no I/O); this module is its shell:
//! the outgoing queue, the waiters, and carrying out the session's effects.
//! Everything sits behind one `parking_lot::Mutex` that is never held across
//! an `.await`; waiters use `tokio::sync::Notify`.

use crate::packet::{Packet, PacketType, ProtocolVersion};
use crate::packet_queue::PacketQueue;
use crate::request::RequestInfo;
use crate::session::{Answer, Effect, Event, RequestId, Session, SessionConfig};
use crate::shared::Shared;
use crate::{CloseReason, Closed, Message, SendError, Str, TransportType, TrySendError};
use parking_lot::{Mutex, MutexGuard};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::time::Instant;

/// What the socket task must do with its WebSocket probe (session effects
/// that only the task can carry out).
#[derive(Debug)]
pub(crate) enum ProbeCmd {
    Send(Packet),
    Close,
    /// The probe is the transport now. `report`: the task calls
    /// `on_upgrade`; decided under the lock when the upgrade completed, so
    /// that a delayed connection finishing meanwhile (which reports an
    /// upgrade it finds done) and the task never both report it.
    Upgraded {
        report: bool,
    },
}

/// Whether the handler has seen the session (`on_connect`). Only a cluster's
/// delayed connection ([`crate::Cluster::connect_delay`]) leaves `Done`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Connect {
    /// `on_connect` ran (or is not delayed).
    Done,
    /// Not yet: messages wait in `inbox`; the session may still be handed over.
    Delayed,
    /// `on_connect` runs and the kept messages are being delivered.
    Replaying,
}

/// Counts a `send`, `send_many` or `flush` call in [`State::waiting`] until
/// it returns or is dropped.
struct Waiting<'a>(&'a Socket);

impl<'a> Waiting<'a> {
    fn count(socket: &'a Socket, st: &mut State) -> Self {
        st.waiting += 1;
        Waiting(socket)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.lock().waiting -= 1;
    }
}

pub(crate) struct State {
    /// The protocol state.
    pub(crate) session: Session,
    /// Only ever appended to and taken whole ([`PacketQueue`]: a burst never moves what it
    /// queued). Over WebSocket it trades buffers with the writer ([`Socket::take_queue`]), so
    /// a burst reuses the buffer of the one before it.
    pub(crate) queue: PacketQueue,
    /// Application messages in `queue`.
    pub(crate) queued_messages: usize,
    /// Their weight ([`message_weight`]): what the bounds limit.
    pub(crate) queued_bytes: usize,
    /// Since when `queued_bytes` is over the slow-consumer bound without a
    /// drain (the clock is read only once the bound is crossed).
    pub(crate) over_since: Option<Instant>,
    /// Packets ever queued / ever handed to the transport (for `flush`).
    pub(crate) enqueued: u64,
    pub(crate) written: u64,
    /// `send`, `send_many` and `flush` calls waiting on `waiters` (for room
    /// in the queue, or for `written` to grow): a drain or a write wakes
    /// them only while there are some (each `notify_waiters` takes `Notify`'s
    /// own lock, twice per echo on every session otherwise).
    pub(crate) waiting: u32,
    /// Ids of polling requests (GET and POST).
    pub(crate) request_seq: RequestId,
    /// Answers to pending GETs, taken by their tasks.
    pub(crate) answers: Vec<(RequestId, Vec<Packet>)>,
    /// A WebSocket that asked to take over, for the socket task.
    pub(crate) probe_offer: Option<Box<crate::conn::Conn>>,
    /// What the socket task must do with the probe.
    pub(crate) probe_cmds: Vec<ProbeCmd>,
    pub(crate) close_description: Option<String>,
    // Stream API.
    pub(crate) inbox: VecDeque<Message>,
    // Socket task wake-ups (see `Socket::request_wake`).
    /// Something changed that the socket task must look at.
    pub(crate) wake_requested: bool,
    /// The socket task is parked and waits for `task_waker`.
    pub(crate) parked: bool,
    /// See [`Connect`].
    pub(crate) connect: Connect,
    /// The session left for another node of a cluster (see
    /// [`crate::cluster`]): a polling request that found it before it left is
    /// forwarded there rather than served by the closed session.
    pub(crate) handed_over: bool,
    pub(crate) task_waker: Option<std::task::Waker>,
}

/// What to do once the lock is released, after carrying out effects.
#[derive(Debug, Default)]
#[must_use]
pub(crate) struct After {
    /// Wake pending GETs (an answer is ready).
    wake_polls: bool,
    /// Wake the socket task (parked task's waker).
    task: Option<std::task::Waker>,
    /// The session closed for this reason: finish it.
    closed: Option<CloseReason>,
    /// A request of this event was refused.
    refused: bool,
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

/// What a queued message counts for against the byte bounds: its data plus the
/// queue entry itself, so that a flood of empty messages is bounded too.
pub(crate) fn message_weight(m: &Message) -> usize {
    m.len() + std::mem::size_of::<Packet>()
}

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
            TransportType::Websocket | TransportType::Webtransport => None,
        };
        let b64 = request.query("b64").is_some_and(|v| !v.is_empty());
        let cfg = &shared.config;
        let session = Session::new(
            SessionConfig {
                protocol,
                transport,
                ping_interval: cfg.ping_interval,
                ping_timeout: cfg.ping_timeout,
                upgrade_timeout: cfg.upgrade_timeout,
                allow_upgrades: cfg.allow_upgrades,
            },
            Instant::now().into_std(),
        );
        Arc::new(Socket {
            id,
            protocol,
            request,
            jsonp,
            b64,
            state: Mutex::new(State {
                session,
                queue: PacketQueue::new(),
                queued_messages: 0,
                queued_bytes: 0,
                over_since: None,
                enqueued: 0,
                written: 0,
                waiting: 0,
                request_seq: 0,
                answers: Vec::new(),
                probe_offer: None,
                probe_cmds: Vec::new(),
                close_description: None,
                inbox: VecDeque::new(),
                wake_requested: false,
                parked: false,
                connect: Connect::Done,
                handed_over: false,
                task_waker: None,
            }),
            shared,
            poll_wake: Notify::new(),
            waiters: Notify::new(),
            data: std::sync::OnceLock::new(),
        })
    }

    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
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
        self.lock().session.transport()
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
        self.lock().session.is_open()
    }

    /// Whether the socket is closed.
    pub fn is_closed(&self) -> bool {
        self.lock().session.is_closed()
    }

    /// Why the socket closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.lock().session.close_reason()
    }

    /// More detail on the close reason, when there is some (e.g. "overlap from client").
    pub fn close_description(&self) -> Option<String> {
        self.lock().close_description.clone()
    }

    /// Messages waiting in the outgoing queue.
    pub fn queued(&self) -> usize {
        self.lock().queued_messages
    }

    /// What the messages waiting in the outgoing queue weigh against its byte
    /// bounds (their data plus a fixed overhead per message).
    pub fn queued_bytes(&self) -> usize {
        self.lock().queued_bytes
    }

    /// Whether `bytes` more may be queued (see the module docs): refused at the
    /// hard cap, or over the slow-consumer bound once the queue has not been
    /// drained for the slow-consumer timeout. An empty queue takes anything, so
    /// a message larger than the cap can still be sent.
    #[inline]
    fn admit(&self, st: &mut State, bytes: usize) -> bool {
        let cfg = &self.shared.config;
        if st.queued_bytes == 0 {
            return true;
        }
        let after = st.queued_bytes.saturating_add(bytes);
        if after > cfg.max_buffered_bytes {
            return false;
        }
        if after > cfg.slow_consumer_bytes {
            let now = Instant::now();
            match st.over_since {
                None => st.over_since = Some(now),
                Some(since) if now.duration_since(since) >= cfg.slow_consumer_timeout => {
                    return false
                }
                Some(_) => {}
            }
        }
        true
    }

    /// Queues a message without waiting. Fails with `Full` when the outgoing
    /// queue is at capacity and `Closed` when the socket is closing or closed;
    /// either way the message is given back.
    #[inline]
    pub fn try_send(&self, msg: impl Into<Message>) -> Result<(), TrySendError<Message>> {
        let msg = msg.into();
        let weight = message_weight(&msg);
        let mut st = self.lock();
        if !st.session.is_open() {
            return Err(TrySendError::Closed(msg));
        }
        if !self.admit(&mut st, weight) {
            return Err(TrySendError::Full(msg));
        }
        // Messages already waiting: their consumer knows (the first one told the session,
        // which answered a pending GET or woke the socket task; a GET finding a queue takes
        // it, and the task does not park while it can drain one), so this one only joins
        // them: the hot path of a broadcast burst, with no session call and no wake-up.
        let first = st.queued_messages == 0;
        st.queued_messages += 1;
        st.queued_bytes += weight;
        st.enqueued += 1;
        st.queue.push(Packet::message(msg));
        if first {
            self.first_queued(st);
        }
        Ok(())
    }

    /// The first message of an empty queue was queued: tells the session, and wakes the
    /// consumer once the lock is released. Out of line, so that `try_send` stays small
    /// enough to inline into a broadcast's loop (its later messages take none of this).
    #[inline(never)]
    fn first_queued(&self, mut st: MutexGuard<'_, State>) {
        let after = self.queued_locked(&mut st);
        drop(st);
        self.wake(after);
    }

    /// Queues several messages atomically: all of them or none (a Socket.IO
    /// binary packet is one text message plus its attachments and must not be
    /// split by a full queue). A batch larger than the hard cap is accepted
    /// when the queue is empty, so it can always eventually be sent.
    pub fn try_send_many(&self, msgs: Vec<Message>) -> Result<(), TrySendError<Vec<Message>>> {
        let mut st = self.lock();
        if !st.session.is_open() {
            return Err(TrySendError::Closed(msgs));
        }
        let weight = msgs.iter().map(message_weight).sum();
        if !self.admit(&mut st, weight) {
            return Err(TrySendError::Full(msgs));
        }
        st.queued_messages += msgs.len();
        st.queued_bytes += weight;
        st.enqueued += msgs.len() as u64;
        st.queue.extend(msgs.into_iter().map(Packet::message));
        let after = self.queued_locked(&mut st);
        drop(st);
        self.wake(after);
        Ok(())
    }

    /// Queues a message, waiting for room in the outgoing queue (backpressure).
    /// Fails only when the socket is closed.
    pub async fn send(&self, msg: impl Into<Message>) -> Result<(), SendError<Message>> {
        let mut msg = msg.into();
        let mut waiting = None;
        loop {
            let notified = self.waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(m)) => return Err(SendError(m)),
                Err(TrySendError::Full(m)) => msg = m,
            }
            if waiting.is_none() {
                // Counted first, then checked once more: a drain after the
                // count wakes `notified`, one before it made room.
                waiting = Some(Waiting::count(self, &mut self.lock()));
                continue;
            }
            notified.await;
        }
    }

    /// Queues several messages atomically, waiting for room.
    pub async fn send_many(&self, msgs: Vec<Message>) -> Result<(), SendError<Vec<Message>>> {
        let mut msgs = msgs;
        let mut waiting = None;
        loop {
            let notified = self.waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_send_many(msgs) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(m)) => return Err(SendError(m)),
                Err(TrySendError::Full(m)) => msgs = m,
            }
            if waiting.is_none() {
                // Counted first, then checked once more: a drain after the
                // count wakes `notified`, one before it made room.
                waiting = Some(Waiting::count(self, &mut self.lock()));
                continue;
            }
            notified.await;
        }
    }

    /// Waits until everything queued before this call has been handed to the
    /// transport (written to the WebSocket, or returned in a polling response):
    /// the completion signal for sends. Fails if the socket closes first.
    pub async fn flush(&self) -> Result<(), Closed> {
        let target = self.lock().enqueued;
        let mut waiting = None;
        loop {
            let notified = self.waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.lock();
                if st.written >= target {
                    return Ok(());
                }
                if st.session.is_closed() {
                    return Err(Closed);
                }
                // Counted under the lock `mark_written` takes: a write after
                // this check sees the count and wakes `notified`.
                if waiting.is_none() {
                    waiting = Some(Waiting::count(self, &mut st));
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

    /// Waits until the socket is closed and returns why.
    pub async fn closed(&self) -> CloseReason {
        loop {
            let notified = self.waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.lock().session.close_reason() {
                return r;
            }
            notified.await;
        }
    }

    /// Closes the socket gracefully: queued messages are sent first, then the
    /// transport is closed (a close packet to polling clients, a close frame over
    /// WebSocket). The close reason is "forced close".
    pub fn close(self: &Arc<Self>) {
        // Over polling the reference waits up to 30 s for the next GET to
        // deliver the close packet (the session's close timer).
        self.event(Event::Close);
        self.waiters.notify_waiters();
    }

    /// Closes the socket gracefully, as [`close`](Self::close), once `timeout` has passed,
    /// unless this is called again first: `None` cancels it, a new timeout replaces it.
    /// Socket.IO's connect timeout is one. It rides on the session's own timer: no task or
    /// timer of its own per socket.
    pub fn close_after(self: &Arc<Self>, timeout: Option<std::time::Duration>) {
        self.event(Event::CloseAfter(timeout));
    }

    /// Closes the socket at once, dropping queued messages (as the reference's
    /// `close(true)` / server shutdown): a pending poll gets the close packet, a
    /// WebSocket gets a close frame.
    pub fn close_now(self: &Arc<Self>) {
        self.finalize(CloseReason::ForcedClose, None, Answer::Close);
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

    /// Feeds `event` to the session now and carries out its effects.
    /// Returns whether the event's request was refused.
    pub(crate) fn event(self: &Arc<Self>, event: Event) -> bool {
        self.event_locked(self.lock(), event)
    }

    /// Whether the session left this server for another node (a handover).
    pub(crate) fn was_handed_over(&self) -> bool {
        self.lock().handed_over
    }

    /// A polling request's arrival ([`Event::GetArrived`] or
    /// [`Event::PostArrived`]), unless the session was handed over to another
    /// node: then `None`, checked under the same lock as the handover, so
    /// that a request either reaches the session before it leaves or is
    /// forwarded after it. Otherwise whether the request was refused.
    pub(crate) fn arrive(self: &Arc<Self>, event: Event) -> Option<bool> {
        let st = self.lock();
        if st.handed_over {
            tracing::debug!(sid = %self.id(), ?event, "engine.io: a request found the session as it left");
            return None;
        }
        Some(self.event_locked(st, event))
    }

    fn event_locked(self: &Arc<Self>, mut st: MutexGuard<'_, State>, event: Event) -> bool {
        let before = st.session.poll_timeout();
        st.session.handle_event(Instant::now().into_std(), event);
        let mut after = self.apply(&mut st);
        if st.session.poll_timeout() != before && after.task.is_none() {
            // A deadline changed: the socket task re-arms its timer.
            after.task = Socket::request_wake(&mut st);
        }
        drop(st);
        let refused = after.refused;
        self.finish(after);
        refused
    }

    /// After queueing under the lock: tells the session (the hot path of
    /// every send: no clock read, no effect queue unless something happens).
    fn queued_locked(&self, st: &mut State) -> After {
        let mut after = After::default();
        match st.session.data_queued() {
            None => {}
            // Over WebSocket (every send): wake the socket task, if it is parked.
            Some(Effect::Flush) => after.wake_task(st),
            Some(e) => self.apply_one(st, e, &mut after),
        }
        let effects = st.session.take_effects();
        if !effects.is_empty() {
            for e in effects {
                self.apply_one(st, e, &mut after);
            }
        }
        after
    }

    /// Carries out the session's pending effects under the lock; the rest
    /// is for [`Socket::finish`] once the lock is released.
    pub(crate) fn apply(&self, st: &mut State) -> After {
        let mut after = After::default();
        for e in st.session.take_effects() {
            self.apply_one(st, e, &mut after);
        }
        after
    }

    fn apply_one(&self, st: &mut State, e: Effect, after: &mut After) {
        match e {
            Effect::AnswerGet(id, answer) => {
                let packets = match answer {
                    Answer::Queued => self.drain_queue(st),
                    Answer::QueuedThenClose => {
                        let mut p = self.drain_queue(st);
                        p.push(control(PacketType::Close));
                        p
                    }
                    Answer::Noop => vec![control(PacketType::Noop)],
                    Answer::Close => vec![control(PacketType::Close)],
                };
                self.mark_written(st, packets.len() as u64);
                st.answers.push((id, packets));
                after.wake_polls = true;
            }
            Effect::Refuse(_) | Effect::RefuseProbe => after.refused = true,
            Effect::Queue(p) => {
                // Control packets bypass the capacity, so a client flooding
                // pings without reading must not grow the queue: beyond a
                // few pending control packets, further pongs are redundant.
                if p.packet_type != PacketType::Pong
                    || st.queue.len() - st.queued_messages < MAX_PENDING_CONTROL
                {
                    Socket::push_control(st, p);
                }
            }
            Effect::Flush | Effect::CloseTransport => after.wake_task(st),
            Effect::ProbeSend(p) => after.probe(st, ProbeCmd::Send(p)),
            Effect::CloseProbe => {
                // Not taken by the task yet: dropping it closes it.
                st.probe_offer = None;
                after.probe(st, ProbeCmd::Close)
            }
            Effect::Upgraded => {
                let report = st.connect == Connect::Done;
                after.probe(st, ProbeCmd::Upgraded { report })
            }
            Effect::Closed(reason, description) => {
                st.close_description = description;
                st.queue = PacketQueue::new();
                st.queued_messages = 0;
                st.queued_bytes = 0;
                st.over_since = None;
                st.probe_offer = None;
                after.wake_polls = true;
                after.wake_task(st);
                after.closed = Some(reason);
            }
        }
    }

    /// The wake-ups of [`Socket::apply`], once the lock is released; returns
    /// the close reason when the session just closed (see [`Socket::finish`]).
    fn wake(&self, after: After) -> Option<CloseReason> {
        if after.wake_polls {
            self.poll_wake.notify_waiters();
        }
        if let Some(w) = after.task {
            w.wake();
        }
        after.closed
    }

    /// Everything [`Socket::apply`] left for after the lock: wake-ups, and
    /// when the session just closed, leaving the server and `on_close`.
    pub(crate) fn finish(self: &Arc<Self>, after: After) {
        if let Some(reason) = self.wake(after) {
            self.shared.remove(self.sid());
            self.waiters.notify_waiters();
            let (connect, description) = {
                let st = self.lock();
                (st.connect, st.close_description.clone())
            };
            tracing::debug!(sid = %self.sid(), %reason, ?description, "engine.io: session closed");
            // A session whose connection was delayed and never emitted (it
            // closed or moved to another node first) is unknown to the handler.
            if connect != Connect::Delayed {
                self.shared.handler.on_close(self, reason);
            }
        }
    }

    /// Queues a control packet (ping, pong), bypassing the capacity limit.
    pub(crate) fn push_control(st: &mut State, p: Packet) {
        st.enqueued += 1;
        st.queue.push(p);
    }

    /// Takes everything queued for the transport, counting it as written.
    pub(crate) fn drain_queue(&self, st: &mut State) -> Vec<Packet> {
        // Taking the queue leaves no allocation behind: idle sockets stay small.
        std::mem::take(self.take_queue(st)).into_vec()
    }

    /// Empties the queue's counts for the transport taking what it holds: the
    /// caller takes the packets out of the returned queue (by swapping buffers,
    /// or [`Socket::drain_queue`]).
    pub(crate) fn take_queue<'a>(&self, st: &'a mut State) -> &'a mut PacketQueue {
        st.over_since = None;
        if st.queued_messages > 0 {
            st.queued_messages = 0;
            st.queued_bytes = 0;
            if st.waiting > 0 {
                self.waiters.notify_waiters();
            }
        }
        &mut st.queue
    }

    /// Counts `n` packets as written and wakes `flush` callers.
    pub(crate) fn mark_written(&self, st: &mut State, n: u64) {
        st.written += n;
        if st.waiting > 0 {
            self.waiters.notify_waiters();
        }
    }

    /// The read path: a packet received on the active transport. Its type
    /// goes to the session (heartbeat, close); its message to the handler.
    pub(crate) fn handle_packet(self: &Arc<Self>, p: Packet) {
        self.handle_packet_at(p, &mut Clock::lazy());
    }

    /// [`handle_packet`](Self::handle_packet) with the clock of the caller's
    /// pass (the socket task reads it at most once per pass).
    pub(crate) fn handle_packet_at(self: &Arc<Self>, p: Packet, clock: &mut Clock) {
        let mut st = self.lock();
        if !st.session.is_open() {
            return;
        }
        if !st.session.ignores_received(p.packet_type) {
            st.session
                .handle_event(clock.now().into_std(), Event::Received(p.packet_type));
        }
        let after = self.apply(&mut st);
        let open = st.session.is_open();
        let mut msg = p.into_message();
        if open && st.connect != Connect::Done && !self.shared.is_stream() {
            // The handler has not seen the session yet (the stream API's
            // inbox already is where messages go).
            if let Some(msg) = msg.take() {
                return self.keep_until_connected(st, msg, after);
            }
        }
        drop(st);
        self.finish(after);
        if !open {
            return;
        }
        if let Some(msg) = msg {
            self.shared.handler.on_message(self, msg);
        }
    }

    /// Closes the session for `reason` (once): a pending poll is answered as
    /// `answer` says, the socket task closes the WebSocket, the socket leaves
    /// the server, waiters wake up and the handler's `on_close` runs.
    pub(crate) fn finalize(
        self: &Arc<Self>,
        reason: CloseReason,
        description: Option<String>,
        answer: Answer,
    ) {
        self.event(Event::Abort {
            reason,
            description,
            answer,
        });
    }
}

impl After {
    /// Wakes the socket task (once the lock is released).
    pub(crate) fn wake_task(&mut self, st: &mut State) {
        if self.task.is_none() {
            self.task = Socket::request_wake(st);
        }
    }

    /// Hands `cmd` to the socket task.
    fn probe(&mut self, st: &mut State, cmd: ProbeCmd) {
        st.probe_cmds.push(cmd);
        self.wake_task(st);
    }

    /// Whether a request of this event was refused.
    pub(crate) fn refused(&self) -> bool {
        self.refused
    }
}

/// The time of one socket task pass (or one request), read at most once and
/// only when a rule needs it: most passes (a message on a session whose
/// heartbeat awaits no pong, a flush, no timer due) need none, and the clock
/// read was the socket task's one per wake-up.
pub(crate) struct Clock(Option<Instant>);

impl Clock {
    /// Not read yet.
    pub(crate) fn lazy() -> Clock {
        Clock(None)
    }

    /// The time, read on the first call (tokio's clock, which tests pause).
    pub(crate) fn now(&mut self) -> Instant {
        *self.0.get_or_insert_with(Instant::now)
    }
}

#[cfg(test)]
#[path = "socket_tests.rs"]
mod tests;
