//! Extractors of shared and per-socket state, usable in every handler kind (connection,
//! connection middleware, event, disconnect): [`State`], [`Extension`], [`MaybeExtension`],
//! [`HttpExtension`], [`MaybeHttpExtension`] and [`SocketIo`].

use std::any::{type_name, Any, TypeId};
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

use crate::extract::{EventParts, FromEvent};
use crate::handler::{FromConnectParts, FromDisconnectParts};
use crate::{DisconnectReason, ExtractError, SocketIo, SocketIoBuilder, SocketRef};

/// The states set with [`SocketIoBuilder::with_state`]: one value per type, immutable once
/// the server is built (so reading needs no lock).
#[derive(Default)]
pub(crate) struct StateMap(HashMap<TypeId, Box<dyn Any + Send + Sync>>);

impl StateMap {
    fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.0
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
            .cloned()
    }
}

impl SocketIoBuilder {
    /// Adds a state shared by the whole server, given to any handler that asks for a
    /// [`State<T>`] (one value per type; setting a type again replaces it). Handlers clone it,
    /// so wrap what is not cheap to clone in an `Arc`.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use socketio_server::{SocketIo, SocketRef, State};
    ///
    /// #[derive(Clone, Default)]
    /// struct Stats { online: Arc<AtomicUsize> }
    ///
    /// let io = SocketIo::builder().with_state(Stats::default()).build();
    /// io.ns("/", |socket: SocketRef, State(stats): State<Stats>| async move {
    ///     stats.online.fetch_add(1, Ordering::Relaxed);
    ///     socket.on_disconnect(|State(stats): State<Stats>| async move {
    ///         stats.online.fetch_sub(1, Ordering::Relaxed);
    ///     });
    /// });
    /// ```
    pub fn with_state<T: Clone + Send + Sync + 'static>(mut self, state: T) -> Self {
        self.state.0.insert(TypeId::of::<T>(), Box::new(state));
        self
    }
}

/// A clone of the server state of type `T`, set with [`SocketIoBuilder::with_state`]. If no
/// state of that type was set, the handler is not called (and the error is logged; a
/// connection middleware refuses the connection).
///
/// ```
/// use socketio_server::{Data, SocketIo, SocketRef, State};
///
/// #[derive(Clone)]
/// struct Config { greeting: String }
///
/// let io = SocketIo::builder().with_state(Config { greeting: "hi".into() }).build();
/// io.ns("/", |socket: SocketRef| async move {
///     socket.on("greet", |s: SocketRef, cfg: State<Config>, Data(name): Data<String>| async move {
///         // `State` derefs to the state.
///         let _ = s.emit("greeting", &format!("{} {name}", cfg.greeting));
///     });
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct State<T>(pub T);

/// A clone of the socket's [extension](crate::Socket::extensions) of type `T`, typically
/// inserted by a connection middleware. If the socket has none, the handler is not called
/// (and the error is logged); use [`MaybeExtension`] to handle its absence.
///
/// ```
/// use socketio_server::{ConnectError, Extension, SocketIo, SocketRef};
///
/// #[derive(Clone)]
/// struct UserId(u64);
///
/// let io = SocketIo::new();
/// io.use_middleware(|socket: SocketRef| async move {
///     let id = socket.handshake().auth.get("id").and_then(|v| v.as_u64());
///     let id = id.ok_or_else(|| ConnectError::new("who are you?"))?;
///     socket.extensions().insert(UserId(id));
///     Ok(())
/// });
/// io.ns("/", |socket: SocketRef| async move {
///     socket.on("whoami", |s: SocketRef, Extension(UserId(id)): Extension<UserId>| async move {
///         let _ = s.emit("you-are", &id);
///     });
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Extension<T>(pub T);

/// Like [`Extension`], but `None` when the socket has no extension of type `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaybeExtension<T>(pub Option<T>);

/// A clone of an extension of the HTTP request that opened the connection (the handshake
/// request), e.g. what a tower / axum layer in front of the server inserted. If the request has
/// none of that type, the handler is not called (and the error is logged); use
/// [`MaybeHttpExtension`] to handle its absence.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use axum::{middleware::{self, Next}, extract::Request, Router};
/// use socketio_server::{HttpExtension, SocketIo, SocketRef};
///
/// #[derive(Clone)]
/// struct Tenant(String);
///
/// let io = SocketIo::new();
/// io.ns("/", |socket: SocketRef, HttpExtension(tenant): HttpExtension<Tenant>| async move {
///     let _ = socket.emit("tenant", &tenant.0);
/// });
/// let app: Router = Router::new()
///     .layer(io.layer())
///     // Runs before the Socket.IO layer: what it inserts is in the handshake request.
///     .layer(middleware::from_fn(|mut req: Request, next: Next| async move {
///         req.extensions_mut().insert(Tenant("acme".into()));
///         next.run(req).await
///     }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpExtension<T>(pub T);

/// Like [`HttpExtension`], but `None` when the request has no extension of type `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaybeHttpExtension<T>(pub Option<T>);

macro_rules! deref_impls {
    ($($ty:ident),*) => {$(
        impl<T> Deref for $ty<T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.0
            }
        }
        impl<T> DerefMut for $ty<T> {
            fn deref_mut(&mut self) -> &mut T {
                &mut self.0
            }
        }
    )*};
}
deref_impls!(State, Extension, HttpExtension);

fn state<T: Clone + Send + Sync + 'static>(socket: &SocketRef) -> Result<State<T>, ExtractError> {
    socket
        .client
        .server
        .config
        .state
        .get::<T>()
        .map(State)
        .ok_or(ExtractError::MissingState(type_name::<T>()))
}

fn extension<T: Clone + Send + Sync + 'static>(socket: &SocketRef) -> Option<T> {
    socket.extensions().get::<T>()
}

fn http_extension<T: Clone + Send + Sync + 'static>(socket: &SocketRef) -> Option<T> {
    socket.conn().request().extensions.get::<T>().cloned()
}

fn server(socket: &SocketRef) -> SocketIo {
    SocketIo(socket.client.server.clone())
}

/// Implements the three extractor traits for a type extracted from the socket alone.
macro_rules! from_socket {
    ([$($gen:tt)*] $ty:ty, $extract:expr) => {
        impl<$($gen)*> FromConnectParts for $ty {
            fn from_connect_parts(socket: &SocketRef) -> Result<Self, ExtractError> {
                $extract(socket)
            }
        }
        impl<$($gen)*> FromDisconnectParts for $ty {
            fn from_disconnect_parts(
                socket: &SocketRef,
                _: DisconnectReason,
            ) -> Result<Self, ExtractError> {
                $extract(socket)
            }
        }
        impl<$($gen)*> FromEvent for $ty {
            fn from_event(parts: &mut EventParts) -> Result<Self, ExtractError> {
                $extract(&parts.socket)
            }
        }
    };
}

from_socket!([T: Clone + Send + Sync + 'static] State<T>, state::<T>);
from_socket!([T: Clone + Send + Sync + 'static] Extension<T>, |s| {
    extension::<T>(s)
        .map(Extension)
        .ok_or(ExtractError::MissingExtension(type_name::<T>()))
});
from_socket!([T: Clone + Send + Sync + 'static] MaybeExtension<T>, |s| {
    Ok(MaybeExtension(extension::<T>(s)))
});
from_socket!([T: Clone + Send + Sync + 'static] HttpExtension<T>, |s| {
    http_extension::<T>(s)
        .map(HttpExtension)
        .ok_or(ExtractError::MissingHttpExtension(type_name::<T>()))
});
from_socket!([T: Clone + Send + Sync + 'static] MaybeHttpExtension<T>, |s| {
    Ok(MaybeHttpExtension(http_extension::<T>(s)))
});
// The server itself (cheap: a handle), so handlers need not capture a clone of `io`.
from_socket!([] SocketIo, |s| Ok(server(s)));
