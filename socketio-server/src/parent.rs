//! Dynamic namespaces: a parent matches names (by pattern or async predicate) and creates a
//! child namespace per matching name; children inherit its middlewares and handler, and a
//! broadcast on the parent reaches every child.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use socketio_parser::Value;

use crate::config::ServerConfig;
use crate::namespace::{BoxFuture, ConnectHandler, Middleware, NsInner};
use crate::server::ServerInner;
use crate::{BroadcastOperator, EmitError, IntoRooms, Namespace};

pub(crate) type Predicate = Arc<dyn Fn(String, Value) -> BoxFuture<bool> + Send + Sync>;

pub(crate) enum Matcher {
    Regex(regex::Regex),
    Predicate(Predicate),
}

pub(crate) struct ParentInner {
    matcher: Matcher,
    middlewares: RwLock<Vec<Middleware>>,
    connect_handler: RwLock<Option<ConnectHandler>>,
    children: RwLock<HashMap<String, Arc<NsInner>>>,
    pub(crate) server: Weak<ServerInner>,
    config: Arc<ServerConfig>,
}

impl ParentInner {
    pub(crate) fn new(
        matcher: Matcher,
        handler: ConnectHandler,
        server: Weak<ServerInner>,
        config: Arc<ServerConfig>,
    ) -> Arc<Self> {
        Arc::new(Self {
            matcher,
            middlewares: RwLock::new(Vec::new()),
            connect_handler: RwLock::new(Some(handler)),
            children: RwLock::new(HashMap::new()),
            server,
            config,
        })
    }

    pub(crate) async fn matches(&self, name: &str, auth: &Value) -> bool {
        match &self.matcher {
            Matcher::Regex(re) => re.is_match(name),
            Matcher::Predicate(p) => p(name.to_owned(), auth.clone()).await,
        }
    }

    /// Creates a child namespace inheriting the parent's middlewares and handler (a snapshot,
    /// as the reference's `createChild`).
    pub(crate) fn create_child(self: &Arc<Self>, name: &str) -> Arc<NsInner> {
        let child = NsInner::new(name, self.config.clone(), Some(Arc::downgrade(self)));
        child
            .middlewares
            .write()
            .clone_from(&self.middlewares.read());
        child
            .connect_handler
            .write()
            .clone_from(&self.connect_handler.read());
        self.children.write().insert(name.to_owned(), child.clone());
        child
    }

    pub(crate) fn children(&self) -> Vec<Arc<NsInner>> {
        self.children.read().values().cloned().collect()
    }

    /// The last socket of a child left: remove the child if configured to.
    pub(crate) fn child_emptied(&self, name: &str) {
        if !self.config.cleanup_empty_child_namespaces {
            return;
        }
        let removed = self.children.write().remove(name);
        if let Some(child) = removed {
            if let Some(server) = self.server.upgrade() {
                server.remove_namespace(name);
            }
            let adapter = child.adapter().clone();
            if tokio::runtime::Handle::try_current().is_ok() {
                crate::runner::run(async move {
                    let _ = adapter.close().await;
                });
            }
        }
    }
}

/// A dynamic namespace: the parent of every namespace whose name matches its pattern or
/// predicate (reference `ParentNamespace`). Middlewares and the connection handler set here
/// are copied into each child when it is created; broadcasts reach every child.
///
/// ```
/// use socketio_server::{SocketIo, SocketRef};
///
/// let io = SocketIo::builder().build();
/// let workspaces = io
///     .dynamic_ns(r"^/workspace-\d+$", |socket: SocketRef| async move {
///         let _ = socket.emit("hello", socket.ns_name());
///     })
///     .expect("valid pattern");
/// let _ = workspaces.emit("announcement", &"to every workspace");
/// ```
#[derive(Clone)]
pub struct ParentNamespace(pub(crate) Arc<ParentInner>);

impl fmt::Debug for ParentNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParentNamespace").finish_non_exhaustive()
    }
}

impl ParentNamespace {
    /// Adds a connection middleware (inherited by children created afterwards).
    pub fn use_middleware<H: crate::ConnectMiddleware<M>, M>(&self, middleware: H) -> &Self {
        let mw: Middleware = crate::handler::boxed_middleware(middleware);
        self.0.middlewares.write().push(mw);
        self
    }

    /// The child namespaces created so far.
    pub fn children(&self) -> Vec<Namespace> {
        self.0.children().into_iter().map(Namespace).collect()
    }

    /// A broadcast to every child namespace.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::parent(self.0.clone())
    }

    /// A broadcast to the given rooms of every child.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// A broadcast to every child except the given rooms.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.broadcast().except(rooms)
    }

    /// A broadcast with an acknowledgement timeout.
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator {
        self.broadcast().timeout(timeout)
    }

    /// Emits to every socket of every child.
    pub fn emit(&self, event: &str, args: impl socketio_parser::IntoArgs) -> Result<(), EmitError> {
        self.broadcast().emit(event, args)
    }
}
