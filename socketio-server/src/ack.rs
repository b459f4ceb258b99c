//! Acknowledgements: answering the client's, and waiting for the client's answers to ours.

use std::collections::{HashSet, VecDeque};
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use socketio_adapter::{AdapterError, BroadcastAckEvent, BroadcastAckSink, Sid};
use socketio_parser::{FromAck, IntoArgs, Value};
use tokio::sync::oneshot;

use crate::socket::Socket;
use crate::{AckError, EmitError, SocketRef};

/// Where the reply to one of our emits goes.
pub(crate) enum AckSlot {
    /// `socket.emit_with_ack`: one reply.
    Single(oneshot::Sender<Result<Vec<Value>, AckError>>),
    /// A broadcast with ack: the reply joins the others.
    Broadcast(BroadcastAckSink),
}

impl AckSlot {
    /// Whether the waiting side is gone.
    pub(crate) fn is_abandoned(&self) -> bool {
        match self {
            AckSlot::Single(tx) => tx.is_closed(),
            AckSlot::Broadcast(sink) => sink.is_closed(),
        }
    }

    /// The answer of socket `sid`.
    pub(crate) fn resolve(self, sid: &Sid, args: Vec<Value>) {
        match self {
            AckSlot::Single(tx) => {
                let _ = tx.send(Ok(args));
            }
            AckSlot::Broadcast(sink) => sink.ack_from(sid.clone(), args),
        }
    }
}

/// Answers an event the client sent with an acknowledgement callback.
///
/// Sending consumes the sender: a client gets at most one answer. When the client did not ask
/// for an acknowledgement (see [`is_requested`](Self::is_requested)), sending does nothing.
#[derive(Debug)]
pub struct AckSender {
    socket: SocketRef,
    id: Option<u64>,
}

impl AckSender {
    pub(crate) fn new(socket: SocketRef, id: Option<u64>) -> Self {
        Self { socket, id }
    }

    /// Whether the client asked for an acknowledgement.
    pub fn is_requested(&self) -> bool {
        self.id.is_some()
    }

    /// Answers with `args`, as [`SocketRef::emit`] takes them and as the client's handlers
    /// return them ([`IntoArgs`]): one `Serialize` value is one argument, `()` none,
    /// [`Args`](crate::Args) any number.
    ///
    /// ```
    /// # fn f(ack: socketio_server::AckSender, other: socketio_server::AckSender) {
    /// use socketio_server::Args;
    ///
    /// let _ = ack.send("done"); // cb("done")
    /// let _ = other.send(Args::new().arg("ok").arg(2)); // cb("ok", 2)
    /// # }
    /// ```
    pub fn send(self, args: impl IntoArgs) -> Result<(), EmitError> {
        let Some(id) = self.id else {
            return Ok(());
        };
        self.socket.send_ack(id, &args.into_args()?)
    }
}

/// The pending answer to [`SocketRef::emit_with_ack`]: `.await` it (optionally after setting a
/// [`timeout`](Self::timeout)) to get the client's answer read as `T` (see [`FromAck`]: any
/// `serde` type, or [`Args`](crate::Args) for the raw argument list).
#[must_use = "the acknowledgement is only received when awaited"]
pub struct AckFuture<T> {
    socket: Arc<Socket>,
    id: u64,
    rx: oneshot::Receiver<Result<Vec<Value>, AckError>>,
    timeout: Duration,
    _t: PhantomData<fn() -> T>,
}

impl<T> AckFuture<T> {
    pub(crate) fn new(
        socket: Arc<Socket>,
        id: u64,
        rx: oneshot::Receiver<Result<Vec<Value>, AckError>>,
        timeout: Duration,
    ) -> Self {
        Self {
            socket,
            id,
            rx,
            timeout,
            _t: PhantomData,
        }
    }

    /// How long to wait for the answer (default: the server's
    /// [`ack_timeout`](crate::SocketIoBuilder::ack_timeout)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl<T> std::fmt::Debug for AckFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckFuture")
            .field("id", &self.id)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<T: FromAck + Send + 'static> IntoFuture for AckFuture<T> {
    type Output = Result<T, AckError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let result = tokio::time::timeout(self.timeout, self.rx).await;
            match result {
                Ok(Ok(Ok(args))) => Ok(T::from_ack(args)?),
                Ok(Ok(Err(e))) => Err(e),
                Ok(Err(_)) => Err(AckError::Disconnected),
                Err(_) => {
                    self.socket.forget_ack(self.id);
                    Err(AckError::Timeout)
                }
            }
        })
    }
}

/// The answers of a broadcast with acknowledgements
/// ([`BroadcastOperator::emit_with_ack`](crate::BroadcastOperator::emit_with_ack)), one item
/// per recipient as it answers: `(socket id, answer read as R)`.
///
/// * The socket id is `Some` for this node's sockets. Another node's answer carries none on
///   the wire of the npm Redis adapters, so it is `None`.
/// * A socket of this node that leaves before answering gives `Err(AckError::Disconnected)`
///   at once; one that does not answer in time gives `Err(AckError::Timeout)` when the timeout
///   passes, as does each of another node's late sockets (`None`; that node reported how many
///   sockets got the packet). If a node never reported at all, one `(None, Err(Timeout))`
///   stands for it. An answer that does not read as `R` gives `Err(AckError::Deserialize)`.
/// * The stream ends once every node reported and every recipient answered, or at the
///   timeout; the answers that came are never dropped.
///
/// `.await` it for the simple case: every answer, or the first error (as before
/// [`AckStream`] existed). Otherwise read it as a [`Stream`](futures_util::Stream):
///
/// ```
/// # async fn f(io: socketio_server::SocketIo) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use futures_util::StreamExt;
///
/// // All or nothing:
/// let answers: Vec<String> = io.timeout(Duration::from_secs(1)).emit_with_ack("ping", &())?.await?;
///
/// // Or as they come, keeping what arrived in time:
/// let mut acks = io.timeout(Duration::from_secs(1)).emit_with_ack::<_, String>("ping", &())?;
/// while let Some((sid, answer)) = acks.next().await {
///     match answer {
///         Ok(pong) => println!("{sid:?}: {pong}"),
///         Err(e) => println!("{sid:?} failed: {e}"),
///     }
/// }
/// # Ok(()) }
/// ```
#[must_use = "the acknowledgements are only received when polled"]
pub struct AckStream<R> {
    parts: Vec<NsAcks>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    ready: VecDeque<RawAnswer>,
    timed_out: bool,
    _r: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for AckStream<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckStream")
            .field("namespaces", &self.parts.len())
            .field("ready", &self.ready.len())
            .field("timed_out", &self.timed_out)
            .finish_non_exhaustive()
    }
}

/// One recipient's answer before it is read as the caller's type.
type RawAnswer = (Option<Sid>, Result<Vec<Value>, AckError>);

/// The progress of one namespace's broadcast (reference `broadcastWithAck` completeness rule:
/// done when every node reported its client count and that many recipients answered).
struct NsAcks {
    rx: socketio_adapter::BroadcastAckReceiver,
    /// The number of nodes, while it is being asked.
    count: Option<BoxFuture<'static, Result<usize, AdapterError>>>,
    servers: Option<usize>,
    reported: usize,
    expected: usize,
    answered: usize,
    /// This node's recipients that owe an answer.
    waiting: HashSet<Sid>,
    /// Answers (or losses) seen before the socket's `Sent` (the ack raced the report).
    early: HashSet<Sid>,
    closed: bool,
    done: bool,
}

impl NsAcks {
    fn complete(&self) -> bool {
        self.servers.is_some_and(|s| self.reported >= s) && self.answered >= self.expected
    }

    /// Reads what arrived, queueing the answers in `ready`.
    fn poll_events(&mut self, cx: &mut Context<'_>, ready: &mut VecDeque<RawAnswer>) {
        if let Some(count) = self.count.as_mut() {
            if let Poll::Ready(result) = count.as_mut().poll(cx) {
                self.count = None;
                match result {
                    Ok(n) => self.servers = Some(n),
                    Err(e) => {
                        ready.push_back((None, Err(AckError::Adapter(e))));
                        self.done = true;
                        return;
                    }
                }
            }
        }
        while !self.closed {
            let Poll::Ready(event) = self.rx.poll_recv(cx) else {
                break;
            };
            match event {
                Some(BroadcastAckEvent::ClientCount(n)) => {
                    self.reported += 1;
                    self.expected += n;
                }
                Some(BroadcastAckEvent::Sent(sid)) => {
                    if !self.early.remove(&sid) {
                        self.waiting.insert(sid);
                    }
                }
                Some(BroadcastAckEvent::Ack(args)) => {
                    self.answered += 1;
                    ready.push_back((None, Ok(args)));
                }
                Some(BroadcastAckEvent::AckFrom(sid, args)) => {
                    self.answered_by(&sid);
                    ready.push_back((Some(sid), Ok(args)));
                }
                Some(BroadcastAckEvent::Lost(sid)) => {
                    self.answered_by(&sid);
                    ready.push_back((Some(sid), Err(AckError::Disconnected)));
                }
                // Every sink is gone: nothing more can come, the timeout tells the rest.
                None => self.closed = true,
            }
        }
        if self.complete() {
            self.done = true;
        }
    }

    fn answered_by(&mut self, sid: &Sid) {
        self.answered += 1;
        if !self.waiting.remove(sid) {
            self.early.insert(sid.clone());
        }
    }

    /// The timeout passed: one error for each recipient that did not answer.
    fn time_out(&mut self, ready: &mut VecDeque<RawAnswer>) {
        self.done = true;
        let missing = self.expected.saturating_sub(self.answered);
        let named = self.waiting.len();
        for sid in self.waiting.drain() {
            ready.push_back((Some(sid), Err(AckError::Timeout)));
        }
        for _ in named..missing {
            ready.push_back((None, Err(AckError::Timeout)));
        }
        if missing == 0 && self.servers.is_none_or(|s| self.reported < s) {
            ready.push_back((None, Err(AckError::Timeout)));
        }
    }
}

impl<R> AckStream<R> {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            parts: Vec::new(),
            deadline: Box::pin(tokio::time::sleep(timeout)),
            ready: VecDeque::new(),
            timed_out: false,
            _r: PhantomData,
        }
    }

    /// Adds one namespace's broadcast: its events, and how many nodes will report.
    pub(crate) fn add(
        &mut self,
        rx: socketio_adapter::BroadcastAckReceiver,
        count: BoxFuture<'static, Result<usize, AdapterError>>,
    ) {
        self.parts.push(NsAcks {
            rx,
            count: Some(count),
            servers: None,
            reported: 0,
            expected: 0,
            answered: 0,
            waiting: HashSet::new(),
            early: HashSet::new(),
            closed: false,
            done: false,
        });
    }
}

impl<R: FromAck> futures_util::Stream for AckStream<R> {
    type Item = (Option<Sid>, Result<R, AckError>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some((sid, answer)) = this.ready.pop_front() {
                let answer = answer.and_then(|args| R::from_ack(args).map_err(AckError::from));
                return Poll::Ready(Some((sid, answer)));
            }
            if this.parts.iter().all(|p| p.done) {
                return Poll::Ready(None);
            }
            for part in this.parts.iter_mut().filter(|p| !p.done) {
                part.poll_events(cx, &mut this.ready);
            }
            if !this.ready.is_empty() {
                continue;
            }
            if this.parts.iter().all(|p| p.done) {
                return Poll::Ready(None);
            }
            if this.deadline.as_mut().poll(cx).is_ready() {
                this.timed_out = true;
                for part in this.parts.iter_mut().filter(|p| !p.done) {
                    part.time_out(&mut this.ready);
                }
                continue;
            }
            return Poll::Pending;
        }
    }
}

impl<R: FromAck + Send + 'static> IntoFuture for AckStream<R> {
    type Output = Result<Vec<R>, AckError>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    /// Every answer, or the first error (a late, lost or unreadable answer).
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            use futures_util::StreamExt;
            let mut stream = self;
            let mut answers = Vec::new();
            while let Some((_, answer)) = stream.next().await {
                answers.push(answer?);
            }
            Ok(answers)
        })
    }
}
