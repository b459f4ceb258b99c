//! [`Handler`]: the callbacks an embedder implements.

use crate::{CloseReason, Message, Socket};
use std::sync::Arc;

/// Callbacks of an Engine.IO server. They are synchronous and called in order
/// from each socket's read path, so they must not block: hand long work to a
/// task. Sending from a callback ([`Socket::try_send`]) is fine.
pub trait Handler: Send + Sync + 'static {
    /// A new session was opened (after its handshake response was produced).
    fn on_connect(&self, socket: Arc<Socket>);
    /// A message arrived.
    fn on_message(&self, socket: &Arc<Socket>, msg: Message);
    /// The session closed; called exactly once per socket. The socket is already
    /// removed from the server; [`Socket::close_description`] may say more.
    fn on_close(&self, socket: &Arc<Socket>, reason: CloseReason);
    /// The socket upgraded from polling to WebSocket.
    fn on_upgrade(&self, socket: &Arc<Socket>) {
        let _ = socket;
    }
    /// Queued packets were written to the transport.
    fn on_drain(&self, socket: &Arc<Socket>) {
        let _ = socket;
    }
    /// A request was refused with an Engine.IO error (unknown transport or session, bad
    /// request, the allow-request hook said no...), e.g. to count refused handshakes.
    fn on_refused(&self, code: crate::ErrorCode) {
        let _ = code;
    }
}

/// The handler behind the stream API ([`crate::Server::accept`], [`Socket::recv`]).
pub(crate) struct StreamHandler {
    pub(crate) accept_tx: tokio::sync::mpsc::Sender<Arc<Socket>>,
}

impl Handler for StreamHandler {
    fn on_connect(&self, socket: Arc<Socket>) {
        if let Err(e) = self.accept_tx.try_send(socket) {
            // Nobody accepts fast enough (or at all): refuse the session rather
            // than buffer without bound.
            let s = match e {
                tokio::sync::mpsc::error::TrySendError::Full(s) => s,
                tokio::sync::mpsc::error::TrySendError::Closed(s) => s,
            };
            s.close();
        }
    }

    fn on_message(&self, socket: &Arc<Socket>, msg: Message) {
        socket.push_inbox(msg);
    }

    fn on_close(&self, socket: &Arc<Socket>, _reason: CloseReason) {
        socket.wake_inbox();
    }
}
