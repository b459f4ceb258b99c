//! [`Shared`]: what the server handle, its services, its sockets and their
//! tasks share: the configuration, the handler, and the registry of sessions.

use crate::{Config, Handler, SidHashBuilder, Socket, Str};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use tokio::sync::Notify;

/// State shared by the server handle, its services and its sockets.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) handler: Arc<dyn Handler>,
    /// Keyed by session ids, the servers' choice (a client only looks one up).
    pub(crate) sockets: Mutex<HashMap<Str, Arc<Socket>, SidHashBuilder>>,
    pub(crate) path: String,
    pub(crate) accept_rx: Option<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Arc<Socket>>>>,
    /// Socket tasks still running (for graceful shutdown).
    pub(crate) tasks: AtomicUsize,
    pub(crate) tasks_done: Notify,
}

impl Shared {
    /// Whether this is a stream-API server (messages go to each socket's inbox).
    pub(crate) fn is_stream(&self) -> bool {
        self.accept_rx.is_some()
    }

    pub(crate) fn remove(&self, sid: &str) {
        self.sockets.lock().remove(sid);
    }

    pub(crate) fn get(&self, sid: &str) -> Option<Arc<Socket>> {
        self.sockets.lock().get(sid).cloned()
    }
}
