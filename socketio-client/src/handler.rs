//! Event handlers: async closures registered on the [`ClientBuilder`](crate::ClientBuilder) and
//! run, in arrival order, by the socket's dispatch task.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{DisconnectReason, Error, Event, IntoArgs, Socket, Value};

/// A boxed future returned by handlers.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A handler for a named event (or any event): an async function of the event and the socket
/// whose output is the reply sent when the server asked for an acknowledgement.
///
/// Implemented for every `Fn(Event, Socket) -> impl Future<Output = R>` where `R:`
/// [`IntoArgs`]: return `()` for an empty reply, a serializable value for a one-argument reply,
/// or [`Args`](crate::Args) for several. Handlers of one socket run one at a time, in arrival
/// order: spawn a task for long work.
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event.
    fn call(&self, event: Event, socket: Socket) -> BoxFuture<Result<Vec<Value>, Error>>;
}

impl<F, Fut, R> EventHandler for F
where
    F: Fn(Event, Socket) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoArgs,
{
    fn call(&self, event: Event, socket: Socket) -> BoxFuture<Result<Vec<Value>, Error>> {
        let fut = (self)(event, socket);
        Box::pin(async move { Ok(fut.await.into_args()?) })
    }
}

/// Called when the namespace is joined (after each successful connection).
pub(crate) type ConnectHandler = Arc<dyn Fn(Socket) -> BoxFuture<()> + Send + Sync>;
/// Called when joining fails.
pub(crate) type ConnectErrorHandler = Arc<dyn Fn(Error, Socket) -> BoxFuture<()> + Send + Sync>;
/// Called when the socket is disconnected.
pub(crate) type DisconnectHandler =
    Arc<dyn Fn(DisconnectReason, Socket) -> BoxFuture<()> + Send + Sync>;
/// Called synchronously for every event sent.
pub(crate) type OutgoingHandler = Arc<dyn Fn(&str, &[Value]) + Send + Sync>;

/// Every handler of one socket; immutable once the socket is built.
#[derive(Default, Clone)]
pub(crate) struct Handlers {
    pub(crate) events: HashMap<String, Arc<dyn EventHandler>>,
    pub(crate) any: Vec<Arc<dyn EventHandler>>,
    pub(crate) outgoing: Vec<OutgoingHandler>,
    pub(crate) connect: Vec<ConnectHandler>,
    pub(crate) connect_error: Vec<ConnectErrorHandler>,
    pub(crate) disconnect: Vec<DisconnectHandler>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handlers")
            .field("events", &self.events.keys().collect::<Vec<_>>())
            .field("any", &self.any.len())
            .field("outgoing", &self.outgoing.len())
            .finish_non_exhaustive()
    }
}
