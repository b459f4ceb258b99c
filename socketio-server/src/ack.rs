//! Acknowledgements: answering the client's, and waiting for the client's answers to ours.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use socketio_adapter::{BroadcastAckEvent, BroadcastAckSink};
use socketio_parser::{to_value, Packet, Value, ValueError};
use tokio::sync::oneshot;

use crate::extract::deserialize_args;
use crate::socket::Socket;
use crate::{AckError, Args, EmitError, SocketRef};

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

    pub(crate) fn resolve(self, args: Vec<Value>) {
        match self {
            AckSlot::Single(tx) => {
                let _ = tx.send(Ok(args));
            }
            AckSlot::Broadcast(sink) => sink.ack(args),
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

    /// Answers with one argument.
    pub fn send<T: Serialize + ?Sized>(self, data: &T) -> Result<(), EmitError> {
        let value = to_value(data)?;
        self.send_values(vec![value])
    }

    /// Answers with any number of arguments.
    pub fn send_values(self, args: Vec<Value>) -> Result<(), EmitError> {
        let Some(id) = self.id else {
            return Ok(());
        };
        let packet = Packet::ack(self.socket.ns_name(), id, args);
        self.socket.send_packet(&packet, false)
    }
}

/// What the arguments of an acknowledgement can be read as (the `R` of
/// [`SocketRef::emit_with_ack`] and
/// [`BroadcastOperator::emit_with_ack`](crate::BroadcastOperator::emit_with_ack)).
///
/// * Any `serde` type, as [`Data`](crate::Data) reads event arguments: a single argument is
///   deserialized directly, several as a sequence (`(String, u32)` takes two). Convenient, but
///   a single array argument then looks like several arguments.
/// * [`Args`]: exactly the argument list the client answered with, untouched (zero, one or
///   many; binary stays [`Value::Binary`]) — the unambiguous raw form, like the reference's
///   `(...args) => {}` callback.
///
/// ```
/// # async fn f(socket: socketio_server::SocketRef) -> Result<(), Box<dyn std::error::Error>> {
/// use socketio_server::Args;
///
/// let Args(args) = socket.emit_with_ack::<_, Args>("question", &42)?.await?;
/// println!("the client answered with {} arguments", args.len());
/// # Ok(()) }
/// ```
pub trait FromAck: Sized {
    /// Reads the acknowledgement's arguments.
    fn from_ack(args: Vec<Value>) -> Result<Self, ValueError>;
}

impl<T: DeserializeOwned> FromAck for T {
    fn from_ack(args: Vec<Value>) -> Result<Self, ValueError> {
        deserialize_args(args)
    }
}

/// The argument list as it arrived.
impl FromAck for Args {
    fn from_ack(args: Vec<Value>) -> Result<Self, ValueError> {
        Ok(Args(args))
    }
}

/// The pending answer to [`SocketRef::emit_with_ack`]: `.await` it (optionally after setting a
/// [`timeout`](Self::timeout)) to get the client's answer read as `T` (see [`FromAck`]: any
/// `serde` type, or [`Args`] for the raw argument list).
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

/// Waits for the replies of a broadcast with acknowledgement (reference `broadcastWithAck`
/// completeness rule): done when every node reported its client count and that many replies
/// arrived; [`AckError::Timeout`] when the deadline passes first.
pub(crate) async fn collect_broadcast_acks(
    mut rx: socketio_adapter::BroadcastAckReceiver,
    server_count: impl Future<Output = Result<usize, socketio_adapter::AdapterError>>,
    timeout: Duration,
) -> Result<Vec<Vec<Value>>, AckError> {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let servers = tokio::select! {
        n = server_count => n?,
        () = &mut deadline => return Err(AckError::Timeout),
    };
    let (mut reported, mut expected) = (0usize, 0usize);
    let mut responses = Vec::new();
    loop {
        if reported >= servers && responses.len() >= expected {
            return Ok(responses);
        }
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(BroadcastAckEvent::ClientCount(n)) => {
                    reported += 1;
                    expected += n;
                }
                Some(BroadcastAckEvent::Ack(args)) => responses.push(args),
                None => {
                    // Every recipient went away without answering: nothing more can come.
                    (&mut deadline).await;
                    return Err(AckError::Timeout);
                }
            },
            () = &mut deadline => return Err(AckError::Timeout),
        }
    }
}
