//! Typed event handlers: the arguments a handler asks for are extracted from the event.
//!
//! A handler is an `async` closure whose parameters all implement [`FromEvent`]:
//! [`SocketRef`], [`Data<T>`], [`TryData<T>`], [`Args`], [`Event`], [`AckSender`],
//! `Option<AckSender>`, or one of the state extractors ([`State`](crate::State),
//! [`Extension`](crate::Extension), [`HttpExtension`](crate::HttpExtension),
//! [`SocketIo`](crate::SocketIo)...), in any order, up to 5 of them.

use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use serde::de::DeserializeOwned;
use socketio_parser::{Args, FromAck, Value, ValueError};

use crate::{AckSender, SocketRef};

/// Everything a handler can extract from one incoming event.
#[derive(Debug)]
pub struct EventParts {
    pub(crate) socket: SocketRef,
    /// Shares the buffer of the message it came in.
    pub(crate) event: engine_io::Str,
    pub(crate) args: Vec<Value>,
    pub(crate) ack_id: Option<u64>,
}

impl EventParts {
    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The arguments (taken by the first [`Data`]/[`TryData`]/[`Args`] extractor).
    pub fn args(&self) -> &[Value] {
        &self.args
    }
}

/// Why a handler could not be called; the event is then ignored (and logged).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// The arguments do not deserialize into the requested type.
    #[error("cannot deserialize the event arguments: {0}")]
    Data(#[from] ValueError),
    /// A [`State`](crate::State) of this type was never set on the builder.
    #[error("no state of type {0} (set it with SocketIoBuilder::with_state)")]
    MissingState(&'static str),
    /// The socket has no [`Extension`](crate::Extension) of this type.
    #[error("the socket has no extension of type {0}")]
    MissingExtension(&'static str),
    /// The handshake request has no [`HttpExtension`](crate::HttpExtension) of this type.
    #[error("the handshake request has no extension of type {0}")]
    MissingHttpExtension(&'static str),
}

/// A handler parameter extracted from an incoming event.
pub trait FromEvent: Sized {
    /// Extracts the value. [`Data`] and [`Args`] take the arguments out of `parts`.
    fn from_event(parts: &mut EventParts) -> Result<Self, ExtractError>;
}

/// The event's arguments deserialized into `T` (with `serde`): a single argument is
/// deserialized directly, several arguments (or a single one that does not fit `T`) as a
/// sequence (so `Data<(String, u32)>` takes two arguments). If they do not deserialize, the
/// handler is not called (the event is logged and ignored); use [`TryData`] to handle it.
/// `Data<Value>` gives the dynamic value; binary values are [`Value::Binary`] (deserialize them
/// into `bytes::Bytes` or `serde_bytes::ByteBuf`).
#[derive(Debug, Clone, PartialEq)]
pub struct Data<T>(pub T);

/// Like [`Data`], but gives the deserialization error to the handler instead.
#[derive(Debug)]
pub struct TryData<T>(pub Result<T, ValueError>);

/// The event name (useful in [`SocketRef::on_any`] handlers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event(pub String);

/// Event arguments read as `T`: one argument directly, several as a sequence (the rule of
/// [`FromAck`], which owns it).
pub(crate) fn deserialize_args<T: DeserializeOwned>(args: Vec<Value>) -> Result<T, ValueError> {
    T::from_ack(args)
}

impl<T: DeserializeOwned> FromEvent for Data<T> {
    fn from_event(parts: &mut EventParts) -> Result<Self, ExtractError> {
        Ok(Data(deserialize_args(std::mem::take(&mut parts.args))?))
    }
}

impl<T: DeserializeOwned> FromEvent for TryData<T> {
    fn from_event(parts: &mut EventParts) -> Result<Self, ExtractError> {
        Ok(TryData(deserialize_args(std::mem::take(&mut parts.args))))
    }
}

/// Every argument, untouched (zero, one or many).
impl FromEvent for Args {
    fn from_event(parts: &mut EventParts) -> Result<Self, ExtractError> {
        Ok(Args(std::mem::take(&mut parts.args)))
    }
}

impl FromEvent for Event {
    fn from_event(parts: &mut EventParts) -> Result<Self, ExtractError> {
        Ok(Event(parts.event.to_string()))
    }
}

impl FromEvent for SocketRef {
    fn from_event(parts: &mut EventParts) -> Result<Self, ExtractError> {
        Ok(parts.socket.clone())
    }
}

impl FromEvent for Option<AckSender> {
    fn from_event(parts: &mut EventParts) -> Result<Self, ExtractError> {
        Ok(parts
            .ack_id
            .take()
            .map(|id| AckSender::new(parts.socket.clone(), Some(id))))
    }
}

/// Always extractable: when the client did not ask for an acknowledgement, sending is a no-op.
impl FromEvent for AckSender {
    fn from_event(parts: &mut EventParts) -> Result<Self, ExtractError> {
        Ok(AckSender::new(parts.socket.clone(), parts.ack_id.take()))
    }
}

/// An event handler: an `async` closure (or function) whose parameters are [`FromEvent`]
/// extractors. `M` only disambiguates the implementations (one per arity).
///
/// ```
/// # fn f(socket: socketio_server::SocketRef) {
/// use socketio_server::{AckSender, Data, SocketRef};
///
/// #[derive(serde::Deserialize)]
/// struct Msg { text: String }
///
/// socket.on("chat", |s: SocketRef, Data(msg): Data<Msg>, ack: Option<AckSender>| async move {
///     let _ = s.broadcast().emit("chat", &msg.text);
///     if let Some(ack) = ack { let _ = ack.send(&"ok"); }
/// });
/// # }
/// ```
pub trait EventHandler<M>: Send + Sync + 'static {
    /// Extracts the parameters and calls the handler: its future, or `None` when an
    /// extractor refused the event (the caller runs the future, see the crate docs).
    fn call(&self, parts: EventParts) -> Option<BoxFuture<'static, ()>>;
}

macro_rules! impl_handler {
    ($($ty:ident),*) => {
        #[allow(non_snake_case, unused_mut, unused_variables)]
        impl<F, Fut, $($ty,)*> EventHandler<($($ty,)*)> for F
        where
            F: Fn($($ty,)*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($ty: FromEvent + Send + 'static,)*
        {
            fn call(&self, mut parts: EventParts) -> Option<BoxFuture<'static, ()>> {
                $(
                    let $ty = match $ty::from_event(&mut parts) {
                        Ok(v) => v,
                        Err(e) => {
                            tracing::debug!(event = %parts.event, sid = %parts.socket.id(), error = %e, "event ignored");
                            return None;
                        }
                    };
                )*
                Some(Box::pin(self($($ty,)*)))
            }
        }
    };
}

impl_handler!();
impl_handler!(T1);
impl_handler!(T1, T2);
impl_handler!(T1, T2, T3);
impl_handler!(T1, T2, T3, T4);
impl_handler!(T1, T2, T3, T4, T5);

/// A type-erased event handler.
pub(crate) type BoxedEventHandler =
    Arc<dyn Fn(EventParts) -> Option<BoxFuture<'static, ()>> + Send + Sync>;

pub(crate) fn boxed<H: EventHandler<M>, M>(handler: H) -> BoxedEventHandler {
    Arc::new(move |parts| handler.call(parts))
}
