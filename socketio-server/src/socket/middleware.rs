//! Per-packet middlewares (reference `socket.use((packet, next) => …)`), async and layered:
//! each one gets the incoming event and the [`Next`] step of the chain, may do work before and
//! after the rest of the chain (later middlewares, then the event's handler, awaited to its
//! end), rewrite the event, or refuse it.
//!
//! A refusal is reported as in the reference, to the socket's
//! [`on_error`](crate::SocketRef::on_error) listeners. Beyond the reference, the client learns
//! of it when it asked for an acknowledgement and the handler was not reached: the ack is
//! answered with one argument, the error as a `CONNECT_ERROR` carries it
//! (`{"message": …, "data": …}`), so `socket.emitWithAck()` resolves with it instead of timing
//! out. An event sent without an ack is dropped silently, as in the reference.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use socketio_parser::{Map, Packet, Value};

use crate::extract::EventParts;
use crate::{PacketError, SocketRef};

/// An incoming event on its way through the packet middlewares to its handler.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    /// The event name; a middleware may rename it (the handler of the new name is called).
    pub event: String,
    /// The event's arguments (the ack callback is not among them).
    pub args: Vec<Value>,
    ack_id: Option<u64>,
}

impl IncomingEvent {
    /// Whether the client asked for an acknowledgement.
    pub fn wants_ack(&self) -> bool {
        self.ack_id.is_some()
    }
}

/// A per-packet middleware: an `async` closure (or function) taking the socket, the event
/// and the rest of the chain; see [`SocketRef::use_packet_middleware`].
pub trait PacketMiddleware: Send + Sync + 'static {
    /// Runs the middleware.
    fn call(
        &self,
        socket: SocketRef,
        event: IncomingEvent,
        next: Next,
    ) -> BoxFuture<'static, Result<(), PacketError>>;
}

impl<F, Fut> PacketMiddleware for F
where
    F: Fn(SocketRef, IncomingEvent, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), PacketError>> + Send + 'static,
{
    fn call(
        &self,
        socket: SocketRef,
        event: IncomingEvent,
        next: Next,
    ) -> BoxFuture<'static, Result<(), PacketError>> {
        Box::pin(self(socket, event, next))
    }
}

pub(crate) type BoxedPacketMiddleware = Arc<dyn PacketMiddleware>;

/// The rest of the packet middleware chain: the later middlewares, then the event's handler.
#[must_use = "the event goes no further unless `run` is awaited"]
pub struct Next {
    socket: SocketRef,
    chain: Arc<[BoxedPacketMiddleware]>,
    index: usize,
    /// Set once the handler is reached (it owns the acknowledgement from then on).
    reached: Arc<AtomicBool>,
}

impl std::fmt::Debug for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next")
            .field("remaining", &(self.chain.len() - self.index))
            .finish_non_exhaustive()
    }
}

impl Next {
    /// Passes `event` on, and returns once the rest of the chain is done: the later
    /// middlewares, and the event's handler awaited to its end (its `Err` is the first refusal
    /// below this one). An event whose socket left meanwhile, or with no handler, ends here.
    pub async fn run(self, event: IncomingEvent) -> Result<(), PacketError> {
        if let Some(mw) = self.chain.get(self.index) {
            let next = Next {
                socket: self.socket.clone(),
                chain: self.chain.clone(),
                index: self.index + 1,
                reached: self.reached.clone(),
            };
            return mw.call(self.socket, event, next).await;
        }
        self.reached.store(true, Ordering::Relaxed);
        if !self.socket.connected() {
            return Ok(());
        }
        if let Some(fut) = self.socket.call_handler(EventParts {
            socket: self.socket.clone(),
            event: event.event.into(),
            args: event.args,
            ack_id: event.ack_id,
        }) {
            fut.await;
        }
        Ok(())
    }
}

/// Runs `event` through `chain` to its handler (inline first, see the crate docs), and
/// reports a refusal.
pub(crate) fn dispatch(
    socket: SocketRef,
    chain: Arc<[BoxedPacketMiddleware]>,
    event: String,
    args: Vec<Value>,
    ack_id: Option<u64>,
) {
    let reached = Arc::new(AtomicBool::new(false));
    let next = Next {
        socket: socket.clone(),
        chain,
        index: 0,
        reached: reached.clone(),
    };
    let event = IncomingEvent {
        event,
        args,
        ack_id,
    };
    crate::runner::run(async move {
        let Err(err) = next.run(event).await else {
            return;
        };
        socket.report_error(&err);
        if let (Some(id), false) = (ack_id, reached.load(Ordering::Relaxed)) {
            let mut error = Map::new();
            error.insert("message".to_owned(), Value::String(err.message));
            if let Some(data) = err.data {
                error.insert("data".to_owned(), data);
            }
            let packet = Packet::ack(socket.ns_name(), id, vec![Value::Object(error)]);
            // A socket that left meanwhile cannot be answered; nothing else to do.
            let _ = socket.send_packet(&packet, false);
        }
    });
}
