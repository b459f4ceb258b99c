//! Connection handlers, connection middlewares and disconnect handlers with extractors, as
//! event handlers have with [`FromEvent`](crate::FromEvent).
//!
//! Each handler kind is an `async` closure (or function) whose parameters are extracted from
//! what that kind knows about: the socket for a connection ([`FromConnectParts`]), the socket
//! and the reason for a disconnection ([`FromDisconnectParts`]). Extractors that only need the
//! socket work everywhere: [`SocketRef`], [`State`](crate::State),
//! [`Extension`](crate::Extension), [`MaybeExtension`](crate::MaybeExtension),
//! [`HttpExtension`](crate::HttpExtension), [`MaybeHttpExtension`](crate::MaybeHttpExtension)
//! and [`SocketIo`](crate::SocketIo).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::extract::deserialize_args;
use crate::{ConnectError, Data, DisconnectReason, ExtractError, SocketRef, TryData};

/// A parameter of a connection handler or a connection middleware, extracted from the socket
/// that is connecting.
pub trait FromConnectParts: Sized {
    /// Extracts the value.
    fn from_connect_parts(socket: &SocketRef) -> Result<Self, ExtractError>;
}

/// A parameter of a disconnect handler ([`SocketRef::on_disconnect`],
/// [`SocketRef::on_disconnecting`]).
pub trait FromDisconnectParts: Sized {
    /// Extracts the value.
    fn from_disconnect_parts(
        socket: &SocketRef,
        reason: DisconnectReason,
    ) -> Result<Self, ExtractError>;
}

impl FromConnectParts for SocketRef {
    fn from_connect_parts(socket: &SocketRef) -> Result<Self, ExtractError> {
        Ok(socket.clone())
    }
}

impl FromDisconnectParts for SocketRef {
    fn from_disconnect_parts(
        socket: &SocketRef,
        _: DisconnectReason,
    ) -> Result<Self, ExtractError> {
        Ok(socket.clone())
    }
}

impl FromDisconnectParts for DisconnectReason {
    fn from_disconnect_parts(
        _: &SocketRef,
        reason: DisconnectReason,
    ) -> Result<Self, ExtractError> {
        Ok(reason)
    }
}

/// In a connection handler or middleware: the handshake's auth payload (the `auth` option of
/// the client), deserialized like event arguments.
impl<T: DeserializeOwned> FromConnectParts for Data<T> {
    fn from_connect_parts(socket: &SocketRef) -> Result<Self, ExtractError> {
        Ok(Data(deserialize_args(vec![socket
            .handshake()
            .auth
            .clone()])?))
    }
}

/// In a connection handler or middleware: the auth payload, or why it does not deserialize.
impl<T: DeserializeOwned> FromConnectParts for TryData<T> {
    fn from_connect_parts(socket: &SocketRef) -> Result<Self, ExtractError> {
        Ok(TryData(deserialize_args(vec![socket
            .handshake()
            .auth
            .clone()])))
    }
}

/// A connection handler ([`SocketIo::ns`](crate::SocketIo::ns),
/// [`Namespace::on_connection`](crate::Namespace::on_connection), dynamic namespaces): an
/// `async` closure whose parameters (up to 6) are [`FromConnectParts`] extractors. If one
/// cannot be extracted (e.g. a [`State`](crate::State) that was never set), the handler is not
/// called and the error is logged; the socket stays connected.
///
/// ```
/// use socketio_server::{Data, SocketIo, SocketRef, State};
///
/// #[derive(Clone)]
/// struct Motd(&'static str);
/// #[derive(serde::Deserialize)]
/// struct Auth { name: String }
///
/// let io = SocketIo::builder().with_state(Motd("be nice")).build();
/// io.ns("/", |socket: SocketRef, State(motd): State<Motd>, Data(auth): Data<Auth>| async move {
///     let _ = socket.emit("motd", &format!("hello {}, {}", auth.name, motd.0));
/// });
/// ```
pub trait ConnectHandler<M>: Send + Sync + 'static {
    /// Extracts the parameters and runs the handler (inline first, see the crate docs).
    fn call(&self, socket: SocketRef);
}

/// A connection middleware ([`Namespace::use_middleware`](crate::Namespace::use_middleware),
/// [`SocketIo::use_middleware`](crate::SocketIo::use_middleware)): an `async` closure whose
/// parameters (up to 6) are [`FromConnectParts`] extractors and which returns
/// `Result<(), ConnectError>`. If a parameter cannot be extracted, the connection is refused
/// with the extraction error as the message.
///
/// A middleware is where per-socket [`Extension`](crate::Extension)s are set:
///
/// ```
/// use socketio_server::{ConnectError, Data, Extension, SocketIo, SocketRef};
///
/// #[derive(Clone)]
/// struct User(String);
/// #[derive(serde::Deserialize)]
/// struct Auth { token: String }
///
/// let io = SocketIo::new();
/// io.use_middleware(|socket: SocketRef, Data(auth): Data<Auth>| async move {
///     let name = auth.token.strip_prefix("user-").ok_or_else(|| ConnectError::new("bad token"))?;
///     socket.extensions().insert(User(name.to_owned()));
///     Ok(())
/// });
/// io.ns("/", |socket: SocketRef, Extension(user): Extension<User>| async move {
///     let _ = socket.emit("welcome", &user.0);
/// });
/// ```
pub trait ConnectMiddleware<M>: Send + Sync + 'static {
    /// Extracts the parameters and runs the middleware.
    fn call(&self, socket: SocketRef) -> BoxFuture<Result<(), ConnectError>>;
}

/// A disconnect handler ([`SocketRef::on_disconnect`], [`SocketRef::on_disconnecting`]): an
/// `async` closure whose parameters (up to 6) are [`FromDisconnectParts`] extractors, in any
/// order. If one cannot be extracted, the handler is not called and the error is logged.
///
/// ```
/// # fn f(socket: socketio_server::SocketRef) {
/// use socketio_server::{DisconnectReason, SocketIo, SocketRef};
///
/// socket.on_disconnect(|socket: SocketRef, reason: DisconnectReason, io: SocketIo| async move {
///     let _ = io.emit("left", &format!("{} ({reason})", socket.id()));
/// });
/// # }
/// ```
pub trait DisconnectHandler<M>: Send + Sync + 'static {
    /// Extracts the parameters and runs the handler.
    fn call(&self, socket: SocketRef, reason: DisconnectReason);
}

macro_rules! impl_handlers {
    ($($ty:ident),*) => {
        #[allow(non_snake_case, unused_variables)]
        impl<F, Fut, $($ty,)*> ConnectHandler<($($ty,)*)> for F
        where
            F: Fn($($ty,)*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($ty: FromConnectParts + Send + 'static,)*
        {
            fn call(&self, socket: SocketRef) {
                $(
                    let $ty = match $ty::from_connect_parts(&socket) {
                        Ok(v) => v,
                        Err(e) => {
                            tracing::error!(nsp = %socket.ns_name(), sid = %socket.id(), error = %e, "connection handler not called");
                            return;
                        }
                    };
                )*
                crate::runner::run(self($($ty,)*));
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<F, Fut, $($ty,)*> ConnectMiddleware<($($ty,)*)> for F
        where
            F: Fn($($ty,)*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
            $($ty: FromConnectParts + Send + 'static,)*
        {
            fn call(&self, socket: SocketRef) -> BoxFuture<Result<(), ConnectError>> {
                $(
                    let $ty = match $ty::from_connect_parts(&socket) {
                        Ok(v) => v,
                        Err(e) => {
                            tracing::debug!(nsp = %socket.ns_name(), sid = %socket.id(), error = %e, "connection refused by an extractor");
                            let message = e.to_string();
                            return Box::pin(async move { Err(ConnectError::new(message)) });
                        }
                    };
                )*
                Box::pin(self($($ty,)*))
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<F, Fut, $($ty,)*> DisconnectHandler<($($ty,)*)> for F
        where
            F: Fn($($ty,)*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($ty: FromDisconnectParts + Send + 'static,)*
        {
            fn call(&self, socket: SocketRef, reason: DisconnectReason) {
                $(
                    let $ty = match $ty::from_disconnect_parts(&socket, reason) {
                        Ok(v) => v,
                        Err(e) => {
                            tracing::error!(nsp = %socket.ns_name(), sid = %socket.id(), error = %e, "disconnect handler not called");
                            return;
                        }
                    };
                )*
                crate::runner::run(self($($ty,)*));
            }
        }
    };
}

impl_handlers!();
impl_handlers!(T1);
impl_handlers!(T1, T2);
impl_handlers!(T1, T2, T3);
impl_handlers!(T1, T2, T3, T4);
impl_handlers!(T1, T2, T3, T4, T5);
impl_handlers!(T1, T2, T3, T4, T5, T6);

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// A type-erased connection middleware.
pub(crate) type Middleware =
    Arc<dyn Fn(SocketRef) -> BoxFuture<Result<(), ConnectError>> + Send + Sync>;
/// A type-erased connection handler.
pub(crate) type BoxedConnectHandler = Arc<dyn Fn(SocketRef) + Send + Sync>;
/// A type-erased disconnect handler.
pub(crate) type BoxedDisconnectHandler = Arc<dyn Fn(SocketRef, DisconnectReason) + Send + Sync>;

pub(crate) fn boxed_connect<H: ConnectHandler<M>, M>(handler: H) -> BoxedConnectHandler {
    Arc::new(move |socket| handler.call(socket))
}

pub(crate) fn boxed_middleware<H: ConnectMiddleware<M>, M>(middleware: H) -> Middleware {
    Arc::new(move |socket| middleware.call(socket))
}

pub(crate) fn boxed_disconnect<H: DisconnectHandler<M>, M>(handler: H) -> BoxedDisconnectHandler {
    Arc::new(move |socket, reason| handler.call(socket, reason))
}
