//! [`ClientBuilder`]: every option of a socket and its manager, the handlers, and `connect`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use socketio_parser::Parser;

use crate::auth::Auth;
use crate::engine::Transports;
use crate::handler::{BoxFuture, EventHandler, Handlers};
use crate::manager::{ManagerOptions, ManagerShared};
use crate::socket::SocketOptions;
use crate::{DisconnectReason, Error, Event, FromAck, IntoArgs, Manager, Socket, Value};

/// Process-wide managers by server, for multiplexing (the reference's `cache` in `index.ts`).
static CACHE: LazyLock<Mutex<HashMap<String, Weak<ManagerShared>>>> =
    LazyLock::new(Default::default);

/// Configures and connects a [`Socket`].
///
/// Defaults follow the reference client: namespace from the URL path (else `/`), path
/// `/socket.io`, polling then WebSocket upgrade, reconnection on (1 s doubling to 5 s, ±50%
/// jitter, unlimited attempts), connect timeout 20 s, JSON parser, multiplexing on, cookie jar on.
///
/// ```no_run
/// use socketio_client::{Args, ClientBuilder, Event, Parser, Socket, Transports};
/// use serde_json::json;
///
/// # async fn demo() -> Result<(), socketio_client::Error> {
/// let socket = ClientBuilder::new("http://localhost:3000")
///     .namespace("/admin")
///     .auth(json!({"token": "abc"}))
///     .transports(Transports::WebSocket)
///     .parser(Parser::Json)
///     .on("news", |event: Event, _socket: Socket| async move {
///         println!("news: {:?}", event.args());
///     })
///     .on_any(|event: Event, _socket: Socket| async move {
///         println!("any: {}", event.name());
///     })
///     .on_disconnect(|_socket, reason| async move { println!("disconnected: {reason}") })
///     .connect()
///     .await?;
/// socket.emit("hello", Args::new().arg("world").arg(1))?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct ClientBuilder {
    url: String,
    namespace: Option<String>,
    manager: Option<Manager>,
    manager_options: ManagerOptions,
    multiplex: bool,
    force_new: bool,
    socket_options: SocketOptions,
    handlers: Handlers,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("namespace", &self.namespace)
            .field("handlers", &self.handlers)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// A client for `url` (`http`, `https`, `ws` or `wss`). A path in the URL names the
    /// namespace (`http://host/admin` is namespace `/admin`), its query goes to the server.
    pub fn new(url: impl Into<String>) -> Self {
        ClientBuilder {
            url: url.into(),
            namespace: None,
            manager: None,
            manager_options: ManagerOptions::default(),
            multiplex: true,
            force_new: false,
            socket_options: SocketOptions {
                auth: Auth::None,
                ack_timeout: None,
                retries: 0,
                max_send_buffer: 1024,
            },
            handlers: Handlers::default(),
        }
    }

    /// The namespace to join (overrides the URL path).
    pub fn namespace(mut self, nsp: impl Into<String>) -> Self {
        let nsp = nsp.into();
        self.namespace = Some(if nsp.starts_with('/') {
            nsp
        } else {
            format!("/{nsp}")
        });
        self
    }

    /// The auth payload sent with every `CONNECT` (any `Serialize` value; an object for npm
    /// servers, which read it as `socket.handshake.auth`).
    pub fn auth(mut self, auth: impl Serialize) -> Self {
        self.socket_options.auth = match socketio_parser::to_value(&auth) {
            Ok(v) => Auth::Value(v),
            Err(e) => {
                tracing::warn!("auth payload not serializable, ignored: {e}");
                Auth::None
            }
        };
        self
    }

    /// An async callback producing the auth payload, evaluated at every (re)connection.
    pub fn auth_fn<F, Fut, T>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Serialize,
    {
        let f = Arc::new(f);
        self.socket_options.auth = Auth::Callback(Arc::new(move || {
            let fut = f();
            Box::pin(async move { socketio_parser::to_value(&fut.await).ok() })
        }));
        self
    }

    /// The transports: polling, WebSocket, or polling then upgrade (the default).
    pub fn transports(mut self, transports: Transports) -> Self {
        self.manager_options.engine.transports = transports;
        self
    }

    /// Alias of [`transports`](Self::transports).
    pub fn transport(self, transports: Transports) -> Self {
        self.transports(transports)
    }

    /// The server path (`/socket.io` by default).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.manager_options.engine.path = path.into();
        self
    }

    /// An extra HTTP header on every polling request and the WebSocket handshake.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.manager_options
            .engine
            .headers
            .push((name.into(), value.into()));
        self
    }

    /// An extra query parameter (`socket.handshake.query` on the server).
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.manager_options
            .engine
            .query
            .push((name.into(), value.into()));
        self
    }

    /// Turns the cookie jar (on by default, needed behind cookie-sticky load balancers) on or
    /// off. The jar lives as long as the manager, across reconnections.
    pub fn cookie_jar(mut self, enabled: bool) -> Self {
        self.manager_options.engine.cookie_jar =
            enabled.then(|| Arc::new(engine_io_client::CookieJar::new()));
        self
    }

    /// Uses (and shares) this cookie jar.
    pub fn with_cookie_jar(mut self, jar: Arc<engine_io_client::CookieJar>) -> Self {
        self.manager_options.engine.cookie_jar = Some(jar);
        self
    }

    /// The largest polling response or WebSocket message accepted from the server, in bytes
    /// (the `engine-io-client` default, 64 MiB, otherwise). A larger one closes the connection
    /// ("transport error"): a hostile server cannot make the client allocate without bound.
    pub fn max_incoming_payload(mut self, bytes: usize) -> Self {
        self.manager_options.engine.max_incoming_payload = Some(bytes);
        self
    }

    /// Accepts invalid TLS certificates (testing only).
    pub fn accept_invalid_certs(mut self, accept: bool) -> Self {
        self.manager_options.engine.accept_invalid_certs = accept;
        self
    }

    /// The packet format: [`Parser::Json`] (default) or [`Parser::MsgPack`] (the npm
    /// `socket.io-msgpack-parser`); the server must use the same.
    pub fn parser(mut self, parser: Parser) -> Self {
        self.manager_options.parser = parser;
        self
    }

    /// Whether to reconnect automatically (default true).
    pub fn reconnection(mut self, enabled: bool) -> Self {
        self.manager_options.reconnection = enabled;
        self
    }

    /// How many reconnection attempts before giving up (default unlimited).
    pub fn reconnection_attempts(mut self, attempts: u32) -> Self {
        self.manager_options.reconnection_attempts = attempts;
        self
    }

    /// The first reconnection delay (default 1000 ms), doubled at each attempt.
    pub fn reconnection_delay(mut self, delay: Duration) -> Self {
        self.manager_options.reconnection_delay = delay;
        self
    }

    /// The longest reconnection delay (default 5000 ms).
    pub fn reconnection_delay_max(mut self, delay: Duration) -> Self {
        self.manager_options.reconnection_delay_max = delay;
        self
    }

    /// The jitter of the reconnection delay, in `0..=1` (default 0.5: ±50%).
    pub fn randomization_factor(mut self, factor: f64) -> Self {
        self.manager_options.randomization_factor = factor;
        self
    }

    /// How long connecting may take (Engine.IO handshake, then joining the namespace;
    /// default 20 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.manager_options.connect_timeout = timeout;
        self.manager_options.engine.connect_timeout = timeout;
        self
    }

    /// The default timeout of [`Socket::emit_with_ack`] (none by default), and the delay before
    /// a redelivery with [`retries`](Self::retries).
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.socket_options.ack_timeout = Some(timeout);
        self
    }

    /// Redelivers each emitted event up to `retries` more times until the server acknowledges
    /// it (one event in flight at a time, in order). Use with [`ack_timeout`](Self::ack_timeout).
    pub fn retries(mut self, retries: u32) -> Self {
        self.socket_options.retries = retries;
        self
    }

    /// How many emits may wait while disconnected (default 1024); more fail with
    /// [`Error::BufferFull`].
    pub fn max_send_buffer(mut self, packets: usize) -> Self {
        self.socket_options.max_send_buffer = packets.max(1);
        self
    }

    /// Whether to share a connection with other sockets to the same server (default true).
    pub fn multiplex(mut self, multiplex: bool) -> Self {
        self.multiplex = multiplex;
        self
    }

    /// Always opens a new connection (the reference's `forceNew`).
    pub fn force_new(mut self, force: bool) -> Self {
        self.force_new = force;
        self
    }

    /// Uses this manager's connection (its options win over this builder's connection options).
    pub fn manager(mut self, manager: &Manager) -> Self {
        self.manager = Some(manager.clone());
        self
    }

    /// Handles the event `name`. The handler's output is the reply when the server asked for an
    /// acknowledgement: a serializable value (one argument), [`Args`](crate::Args) (several), or
    /// `()` (an empty reply). One handler per event name: registering the name again replaces
    /// it (use [`on_any`](Self::on_any) to observe every event).
    pub fn on<H: EventHandler>(mut self, name: impl Into<String>, handler: H) -> Self {
        self.handlers.events.insert(name.into(), Arc::new(handler));
        self
    }

    /// Handles the event `name` with its arguments read into `T` by the rule the server's
    /// `Data<T>` and [`Socket::emit_with_ack`] follow ([`FromAck`]): one argument
    /// directly (`emit("e", {..})` reads as a struct), several as a sequence (`emit("e", "a", 2)`
    /// reads as `(String, u32)`), none as `()` or `None`. An event that does not fit is logged
    /// and skipped (no handler call, no ack reply); the socket goes on.
    ///
    /// ```no_run
    /// # async fn run() -> socketio_client::Result<()> {
    /// use socketio_client::{ClientBuilder, Socket};
    ///
    /// let socket = ClientBuilder::new("http://localhost:3000")
    ///     .on_typed("move", |(x, y): (i32, i32), _socket: Socket| async move {
    ///         println!("moved to {x},{y}");
    ///     })
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn on_typed<T, F, Fut, R>(self, name: impl Into<String>, handler: F) -> Self
    where
        T: FromAck + Send + 'static,
        F: Fn(T, Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoArgs + Send + 'static,
    {
        self.on(
            name,
            TypedHandler {
                handler,
                _marker: std::marker::PhantomData::<fn() -> T>,
            },
        )
    }

    /// Handles every incoming event, before its named handler (the reference's `onAny`).
    pub fn on_any<H: EventHandler>(mut self, handler: H) -> Self {
        self.handlers.any.push(Arc::new(handler));
        self
    }

    /// Sees every outgoing event as it is sent (the reference's `onAnyOutgoing`): called
    /// synchronously with the event name and arguments.
    pub fn on_any_outgoing<F>(mut self, handler: F) -> Self
    where
        F: Fn(&str, &[Value]) + Send + Sync + 'static,
    {
        self.handlers.outgoing.push(Arc::new(handler));
        self
    }

    /// Called after each successful connection (including reconnections).
    pub fn on_connect<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.handlers
            .connect
            .push(Arc::new(move |socket| Box::pin(handler(socket))));
        self
    }

    /// Called when connecting fails: the server's refusal ([`Error::ConnectRefused`] with its
    /// message and data) or a connection error.
    pub fn on_connect_error<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Socket, Error) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.handlers
            .connect_error
            .push(Arc::new(move |error, socket| {
                Box::pin(handler(socket, error))
            }));
        self
    }

    /// Called when the socket is disconnected: the socket, then the reason (the order of the
    /// server's `on_disconnect(|socket: SocketRef, reason: DisconnectReason| …)`).
    pub fn on_disconnect<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Socket, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.handlers
            .disconnect
            .push(Arc::new(move |reason, socket| {
                Box::pin(handler(socket, reason))
            }));
        self
    }

    /// Builds the socket without connecting (call [`Socket::connect`]). Must run inside a tokio
    /// runtime.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for an unusable URL.
    pub fn build(self) -> Result<Socket, Error> {
        let parsed = url::Url::parse(&self.url)
            .map_err(|e| Error::InvalidUrl(format!("{}: {e}", self.url)))?;
        match parsed.scheme() {
            "http" | "https" | "ws" | "wss" => {}
            other => {
                return Err(Error::InvalidUrl(format!(
                    "{}: unsupported scheme {other:?} (use http, https, ws or wss)",
                    self.url
                )))
            }
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::InvalidUrl(format!("{}: no host", self.url)))?;
        let port = parsed.port_or_known_default().unwrap_or(0);
        let nsp = self.namespace.clone().unwrap_or_else(|| {
            let path = parsed.path();
            if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            }
        });
        // The engine URL: the origin plus the query; the URL path names the namespace.
        let mut engine_url = parsed.clone();
        engine_url.set_path("/");
        engine_url.set_fragment(None);
        let mut options = self.manager_options;
        options.engine.url = engine_url.to_string();

        let manager = match self.manager {
            Some(m) => m.shared().clone(),
            None => {
                // The reference shares by origin; the path and the parser are part of the key
                // too, since a connection cannot serve two of either.
                let key = format!(
                    "{}://{}:{}{} {:?}",
                    parsed.scheme(),
                    host,
                    port,
                    options.engine.path,
                    options.parser
                );
                let mut cache = CACHE.lock();
                cache.retain(|_, m| m.strong_count() > 0);
                let cached = cache.get(&key).and_then(Weak::upgrade);
                let reuse = match &cached {
                    Some(m) if self.multiplex && !self.force_new => !m.has_socket(&nsp),
                    _ => false,
                };
                match cached {
                    Some(m) if reuse => m,
                    _ => {
                        let m = ManagerShared::new(options);
                        if self.multiplex && !self.force_new {
                            cache.insert(key, Arc::downgrade(&m));
                        }
                        m
                    }
                }
            }
        };
        Ok(Socket::create(
            manager,
            nsp,
            self.handlers,
            self.socket_options,
        ))
    }

    /// Connects: opens (or reuses) the connection, joins the namespace, and returns the socket
    /// once joined. When this first connection fails, the socket is closed (no background
    /// retries) and the error returned; reconnection applies to connections lost later.
    ///
    /// # Errors
    /// [`Error::ConnectRefused`] (the server's middleware or an unknown namespace),
    /// [`Error::Engine`] (could not reach the server), [`Error::ConnectTimeout`],
    /// [`Error::InvalidUrl`].
    pub async fn connect(self) -> Result<Socket, Error> {
        let socket = self.build()?;
        match socket.connect().await {
            Ok(()) => Ok(socket),
            Err(e) => {
                socket.disconnect().await;
                Err(e)
            }
        }
    }
}

/// [`ClientBuilder::on_typed`]'s handler: reads the arguments as [`FromAck`] does.
struct TypedHandler<T, F> {
    handler: F,
    _marker: std::marker::PhantomData<fn() -> T>,
}

impl<T, F, Fut, R> EventHandler for TypedHandler<T, F>
where
    T: FromAck + Send + 'static,
    F: Fn(T, Socket) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoArgs + Send + 'static,
{
    fn call(&self, event: Event, socket: Socket) -> BoxFuture<Result<Vec<Value>, Error>> {
        match T::from_ack(event.into_args()) {
            Ok(data) => {
                let fut = (self.handler)(data, socket);
                Box::pin(async move { Ok(fut.await.into_args()?) })
            }
            Err(e) => Box::pin(async move { Err(e.into()) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn namespace_from_url_path_and_multiplexing_cache() {
        let a = ClientBuilder::new("http://127.0.0.1:9/admin?x=1")
            .build()
            .unwrap();
        assert_eq!(a.namespace(), "/admin");
        // The query goes to the server, the path does not.
        assert_eq!(a.manager().url(), "http://127.0.0.1:9/?x=1");
        let b = ClientBuilder::new("http://127.0.0.1:9")
            .namespace("chat")
            .build()
            .unwrap();
        assert_eq!(b.namespace(), "/chat");
        // Not connected yet, so not registered: same manager (multiplexing).
        assert!(Arc::ptr_eq(a.manager().shared(), b.manager().shared()));
        let c = ClientBuilder::new("http://127.0.0.1:9")
            .force_new(true)
            .build()
            .unwrap();
        assert!(!Arc::ptr_eq(a.manager().shared(), c.manager().shared()));
        let d = ClientBuilder::new("http://127.0.0.1:9")
            .parser(Parser::MsgPack)
            .build()
            .unwrap();
        assert!(!Arc::ptr_eq(a.manager().shared(), d.manager().shared()));
        assert_eq!(c.namespace(), "/");
        assert!(!c.connected() && c.id().is_none() && !c.recovered());
    }

    #[tokio::test]
    async fn bad_urls() {
        for url in ["nope", "ftp://h/", "http://"] {
            assert!(
                matches!(ClientBuilder::new(url).build(), Err(Error::InvalidUrl(_))),
                "{url}"
            );
        }
    }
}
