//! Integration with hyper and tower: [`EngineIoService`] (a hyper 1 and tower
//! service answering engine requests, 404 otherwise) and [`EngineIoLayer`] (a
//! tower layer routing engine requests to the server and everything else to
//! the inner service untouched, e.g. inside an axum `Router`).

use crate::body::{empty, ResponseBody};
use crate::request::ServiceAddr;
use crate::server::Server;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Either;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A boxed, `Send` future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A hyper 1 / tower service for one server. Requests outside the server's path
/// get 404. Create one per connection with [`EngineIoService::with_remote_addr`]
/// so sockets know their peer address.
#[derive(Clone, Debug)]
pub struct EngineIoService {
    server: Server,
    remote_addr: Option<SocketAddr>,
}

impl EngineIoService {
    /// A service for `server`.
    pub fn new(server: Server) -> Self {
        EngineIoService {
            server,
            remote_addr: None,
        }
    }

    /// The same service, recording `addr` as the peer of every request.
    pub fn with_remote_addr(mut self, addr: SocketAddr) -> Self {
        self.remote_addr = Some(addr);
        self
    }

    /// The server behind this service.
    pub fn server(&self) -> &Server {
        &self.server
    }

    fn respond<B>(
        &self,
        mut req: Request<B>,
    ) -> BoxFuture<Result<Response<ResponseBody>, Infallible>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let server = self.server.clone();
        if let Some(a) = self.remote_addr {
            req.extensions_mut().insert(ServiceAddr(a));
        }
        Box::pin(async move {
            if !server.matches(req.uri()) {
                let mut res = Response::new(empty());
                *res.status_mut() = StatusCode::NOT_FOUND;
                return Ok(res);
            }
            Ok(server.handle(req).await)
        })
    }
}

impl<B> hyper::service::Service<Request<B>> for EngineIoService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn call(&self, req: Request<B>) -> Self::Future {
        self.respond(req)
    }
}

impl<B> tower_service::Service<Request<B>> for EngineIoService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.respond(req)
    }
}

/// A tower layer mounting a server in front of another service: requests for
/// the server's path go to the engine, all others to the inner service untouched.
///
/// ```no_run
/// # async fn demo() {
/// use axum::{routing::get, Router};
/// struct Echo;
/// impl engine_io::Handler for Echo {
///     fn on_connect(&self, _s: std::sync::Arc<engine_io::Socket>) {}
///     fn on_message(&self, s: &std::sync::Arc<engine_io::Socket>, m: engine_io::Message) { let _ = s.try_send(m); }
///     fn on_close(&self, _s: &std::sync::Arc<engine_io::Socket>, _r: engine_io::CloseReason) {}
/// }
/// let server = engine_io::Server::new(engine_io::Config::default(), Echo);
/// let app: Router = Router::new().route("/", get(|| async { "hello" })).layer(server.layer());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// axum::serve(listener, app).await.unwrap();
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct EngineIoLayer {
    server: Server,
}

impl EngineIoLayer {
    /// A layer for `server`.
    pub fn new(server: Server) -> Self {
        EngineIoLayer { server }
    }
}

impl<S> tower_layer::Layer<S> for EngineIoLayer {
    type Service = EngineIoMiddleware<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EngineIoMiddleware {
            inner,
            server: self.server.clone(),
        }
    }
}

/// The service produced by [`EngineIoLayer`].
#[derive(Clone, Debug)]
pub struct EngineIoMiddleware<S> {
    inner: S,
    server: Server,
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for EngineIoMiddleware<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
{
    type Response = Response<Either<ResponseBody, ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if self.server.matches(req.uri()) {
            let server = self.server.clone();
            Box::pin(async move { Ok(server.handle(req).await.map(Either::Left)) })
        } else {
            // Keep the instance that was polled ready, leave a fresh clone behind.
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            Box::pin(async move { inner.call(req).await.map(|r| r.map(Either::Right)) })
        }
    }
}

impl Server {
    /// A hyper/tower service answering this server's requests (404 for others).
    pub fn service(&self) -> EngineIoService {
        EngineIoService::new(self.clone())
    }

    /// A tower layer mounting this server in front of another service.
    pub fn layer(&self) -> EngineIoLayer {
        EngineIoLayer::new(self.clone())
    }
}
