//! Mounting: hyper/tower service, tower layer, standalone listener.

use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::Bytes;
use engine_io::{EngineIoLayer, EngineIoMiddleware, EngineIoService};
use http::Request;
use http_body::Body;
use tokio::net::{TcpListener, ToSocketAddrs};

use crate::SocketIo;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A hyper 1 / tower service answering Socket.IO requests (404 for other paths). It keeps the
/// server alive.
#[derive(Clone, Debug)]
pub struct SocketIoService {
    inner: EngineIoService,
    _io: SocketIo,
}

impl SocketIoService {
    /// The same service, recording `addr` as the peer of every request (the handshake's
    /// `address`). Create one per connection when serving with hyper directly.
    #[must_use]
    pub fn with_remote_addr(mut self, addr: std::net::SocketAddr) -> Self {
        self.inner = self.inner.with_remote_addr(addr);
        self
    }
}

impl<B> hyper::service::Service<Request<B>> for SocketIoService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = <EngineIoService as hyper::service::Service<Request<B>>>::Response;
    type Error = Infallible;
    type Future = <EngineIoService as hyper::service::Service<Request<B>>>::Future;

    fn call(&self, req: Request<B>) -> Self::Future {
        hyper::service::Service::call(&self.inner, req)
    }
}

impl<B> tower_service::Service<Request<B>> for SocketIoService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = <EngineIoService as tower_service::Service<Request<B>>>::Response;
    type Error = Infallible;
    type Future = <EngineIoService as tower_service::Service<Request<B>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower_service::Service::<Request<B>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        tower_service::Service::call(&mut self.inner, req)
    }
}

/// A tower layer mounting the server in front of another service (e.g. an axum `Router`):
/// requests under the Socket.IO path go to the server, all others to the inner service.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use axum::{routing::get, Router};
/// use socketio_server::{SocketIo, SocketRef};
///
/// let io = SocketIo::new();
/// io.ns("/", |socket: SocketRef| async move { let _ = socket.emit("hi", &()); });
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(io.layer());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct SocketIoLayer {
    inner: EngineIoLayer,
    io: SocketIo,
}

impl<S> tower_layer::Layer<S> for SocketIoLayer {
    type Service = SocketIoMiddleware<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SocketIoMiddleware {
            inner: self.inner.layer(inner),
            _io: self.io.clone(),
        }
    }
}

/// The service produced by [`SocketIoLayer`].
#[derive(Clone, Debug)]
pub struct SocketIoMiddleware<S> {
    inner: EngineIoMiddleware<S>,
    _io: SocketIo,
}

impl<S, R> tower_service::Service<R> for SocketIoMiddleware<S>
where
    EngineIoMiddleware<S>: tower_service::Service<R>,
{
    type Response = <EngineIoMiddleware<S> as tower_service::Service<R>>::Response;
    type Error = <EngineIoMiddleware<S> as tower_service::Service<R>>::Error;
    type Future = <EngineIoMiddleware<S> as tower_service::Service<R>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.inner.call(req)
    }
}

impl SocketIo {
    /// A hyper/tower service for this server.
    pub fn service(&self) -> SocketIoService {
        SocketIoService {
            inner: self.engine().service(),
            _io: self.clone(),
        }
    }

    /// A tower layer for this server.
    pub fn layer(&self) -> SocketIoLayer {
        SocketIoLayer {
            inner: self.engine().layer(),
            io: self.clone(),
        }
    }

    /// Binds `addr` and serves forever (HTTP/1.1 with WebSocket upgrades).
    pub async fn listen(&self, addr: impl ToSocketAddrs) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        self.serve(listener).await
    }

    /// Serves on a bound listener forever.
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        self.engine().serve(listener).await
    }
}
