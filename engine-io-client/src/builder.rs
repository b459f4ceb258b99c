//! [`ClientBuilder`]: every option of a connection, then [`connect`](ClientBuilder::connect).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;
use rustls::pki_types::CertificateDer;

use crate::client::{Client, Events};
use crate::config::ConnConfig;
use crate::cookie_jar::CookieJar;
use crate::endpoint::{normalize_path, Endpoint};
use crate::tls::{TlsOptions, TlsRoots};
use crate::{handshake, Error};
use engine_io::TransportType;

/// Configures and opens an Engine.IO connection. Created by [`Client::builder`].
///
/// Defaults follow the reference JavaScript client: path `/engine.io/`, transports polling then
/// WebSocket with upgrade, timestamp parameter `t` on polling requests, `rememberUpgrade` off.
/// In addition: a fresh cookie jar (see [`cookie_jar`](Self::cookie_jar)), a 20 s connect
/// timeout, and bounded queues.
///
/// Setters never fail: a bad URL or header is reported by [`connect`](Self::connect).
/// The builder is cheap to clone, and clones share the cookie jar and the `rememberUpgrade`
/// memory, so reconnecting with a clone keeps the load balancer's session cookie.
///
/// ```no_run
/// use std::time::Duration;
/// use engine_io_client::{Client, TransportType};
///
/// # async fn demo() -> Result<(), engine_io_client::Error> {
/// let (client, events) = Client::builder("https://example.com")
///     .path("/engine.io")
///     .query("token", "abc")
///     .header("x-tenant", "blue")
///     .transports([TransportType::Polling, TransportType::Websocket])
///     .connect_timeout(Duration::from_secs(5))
///     .connect()
///     .await?;
/// # drop((client, events));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    path: String,
    trailing_slash: bool,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    error: Option<Error>,
    transports: Vec<TransportType>,
    upgrade: bool,
    remember_upgrade: bool,
    try_all_transports: bool,
    prior_websocket_success: Arc<AtomicBool>,
    cookie_jar: Option<Arc<CookieJar>>,
    tls: TlsOptions,
    #[cfg(feature = "webtransport")]
    webtransport_cert_hashes: Vec<[u8; 32]>,
    timestamp_param: Option<String>,
    connect_timeout: Duration,
    close_timeout: Duration,
    max_incoming_payload: usize,
    send_queue: usize,
    event_queue: usize,
}

impl ClientBuilder {
    /// A builder for `url` with the defaults. Same as [`Client::builder`].
    pub fn new(url: impl Into<String>) -> Self {
        ClientBuilder {
            url: url.into(),
            path: "/engine.io".to_owned(),
            trailing_slash: true,
            query: Vec::new(),
            headers: HeaderMap::new(),
            error: None,
            transports: vec![TransportType::Polling, TransportType::Websocket],
            upgrade: true,
            remember_upgrade: false,
            try_all_transports: false,
            prior_websocket_success: Arc::new(AtomicBool::new(false)),
            cookie_jar: Some(Arc::new(CookieJar::new())),
            tls: TlsOptions::default(),
            #[cfg(feature = "webtransport")]
            webtransport_cert_hashes: Vec::new(),
            timestamp_param: Some("t".to_owned()),
            connect_timeout: Duration::from_secs(20),
            close_timeout: Duration::from_secs(5),
            max_incoming_payload: 64 * 1024 * 1024,
            send_queue: 1024,
            event_queue: 1024,
        }
    }

    /// The request path of the Engine.IO endpoint (default `/engine.io`, so `/engine.io/` is
    /// requested; Socket.IO servers use `/socket.io`). The URL's own path is ignored, as in the
    /// reference client.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Whether a trailing slash is added to the path (default `true`, as the reference).
    pub fn add_trailing_slash(mut self, yes: bool) -> Self {
        self.trailing_slash = yes;
        self
    }

    /// Adds a query parameter to every request (after those of the URL). `EIO`, `transport` and
    /// `sid` are set by the client and ignored here.
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Adds a header to every polling request and to the WebSocket handshake (for example
    /// `Authorization`). An invalid name or value makes [`connect`](Self::connect) fail.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let name = HeaderName::from_bytes(name.as_ref().as_bytes());
        let value = HeaderValue::from_str(value.as_ref());
        match (name, value) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            (Err(e), _) => self.set_error(Error::InvalidHeader(format!("bad name: {e}"))),
            (_, Err(e)) => self.set_error(Error::InvalidHeader(e.to_string())),
        }
        self
    }

    /// Adds all of `headers` (see [`header`](Self::header)).
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        for (name, value) in &headers {
            self.headers.append(name.clone(), value.clone());
        }
        self
    }

    /// The transports to use, in order of preference (default polling then WebSocket). The first
    /// opens the connection; with polling first and WebSocket also listed, the connection is
    /// upgraded (unless [`upgrade`](Self::upgrade) is off).
    pub fn transports(mut self, transports: impl IntoIterator<Item = TransportType>) -> Self {
        let mut list: Vec<TransportType> = Vec::new();
        for t in transports {
            if !list.contains(&t) {
                list.push(t);
            }
        }
        self.transports = list;
        self
    }

    /// Whether to upgrade from polling to WebSocket (default `true`).
    pub fn upgrade(mut self, yes: bool) -> Self {
        self.upgrade = yes;
        self
    }

    /// The reference's `rememberUpgrade` (default `false`): after an upgrade succeeded on a
    /// connection from this builder (or a clone), connect directly over WebSocket.
    pub fn remember_upgrade(mut self, yes: bool) -> Self {
        self.remember_upgrade = yes;
        self
    }

    /// The SHA-256 digests of the server certificates accepted over WebTransport (the browser's
    /// `serverCertificateHashes`; ECDSA P-256 certificates valid at most 14 days, such as
    /// `socketio_conformance_server --webtransport` prints). Without any, WebTransport checks
    /// the server with the TLS roots ([`tls_roots`](Self::tls_roots),
    /// [`add_root_certificate`](Self::add_root_certificate), [`tls_config`](Self::tls_config)).
    ///
    /// ```
    /// use engine_io_client::{Client, TransportType};
    /// let builder = Client::builder("http://127.0.0.1:3000")
    ///     .transports([TransportType::Webtransport])
    ///     .server_certificate_hashes([[0u8; 32]]);
    /// ```
    #[cfg(feature = "webtransport")]
    #[cfg_attr(docsrs, doc(cfg(feature = "webtransport")))]
    pub fn server_certificate_hashes(mut self, hashes: impl IntoIterator<Item = [u8; 32]>) -> Self {
        self.webtransport_cert_hashes.extend(hashes);
        self
    }

    /// The reference's `tryAllTransports` (default `false`): when the first transport cannot
    /// connect, try the next ones.
    pub fn try_all_transports(mut self, yes: bool) -> Self {
        self.try_all_transports = yes;
        self
    }

    /// Uses `jar` for cookies (to share it between clients, or to inspect it). By default every
    /// builder has its own jar, kept across connections made from it and its clones.
    pub fn cookie_jar(mut self, jar: Arc<CookieJar>) -> Self {
        self.cookie_jar = Some(jar);
        self
    }

    /// Turns cookie handling off: `Set-Cookie` is ignored and no `Cookie` is sent (but a `Cookie`
    /// set with [`header`](Self::header) still is). Behind a cookie-sticky load balancer,
    /// polling then fails with "Session ID unknown".
    pub fn without_cookie_jar(mut self) -> Self {
        self.cookie_jar = None;
        self
    }

    /// The cookie jar in use, if any.
    pub fn jar(&self) -> Option<&Arc<CookieJar>> {
        self.cookie_jar.as_ref()
    }

    /// Which certificate authorities to trust for `https`/`wss` (default [`TlsRoots::WebPki`]).
    pub fn tls_roots(mut self, roots: TlsRoots) -> Self {
        self.tls.roots = roots;
        self
    }

    /// Trusts `cert` (DER) as a certificate authority, in addition to the
    /// [`tls_roots`](Self::tls_roots).
    pub fn add_root_certificate(mut self, cert: CertificateDer<'static>) -> Self {
        self.tls.extra_roots.push(cert);
        self
    }

    /// Accepts any server certificate, even self-signed, expired or for another name.
    /// **For tests only**: the connection is encrypted but the server is not authenticated.
    pub fn danger_accept_invalid_certs(mut self, yes: bool) -> Self {
        self.tls.accept_invalid_certs = yes;
        self
    }

    /// Uses this rustls configuration as is (client certificates, custom verifiers, ...);
    /// overrides the other TLS settings.
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls.custom = Some(config);
        self
    }

    /// Whether polling requests carry a unique cache-busting parameter (default `true`).
    pub fn timestamp_requests(mut self, yes: bool) -> Self {
        if yes {
            self.timestamp_param.get_or_insert_with(|| "t".to_owned());
        } else {
            self.timestamp_param = None;
        }
        self
    }

    /// The name of the cache-busting parameter (default `t`); turns it on.
    pub fn timestamp_param(mut self, name: impl Into<String>) -> Self {
        self.timestamp_param = Some(name.into());
        self
    }

    /// How long [`connect`](Self::connect) (TCP, TLS, handshake) may take, and also an upgrade
    /// probe (default 20 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long [`Client::close`] may take to write what is queued and tell the server
    /// (default 5 s).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// The largest polling response or WebSocket message accepted from the server, in bytes
    /// (default 64 MiB). Larger closes the connection with an error: a hostile server cannot
    /// make the client allocate without bound.
    pub fn max_incoming_payload(mut self, bytes: usize) -> Self {
        self.max_incoming_payload = bytes.max(1);
        self
    }

    /// How many messages may wait to be written (default 1024); beyond, [`Client::send`] waits
    /// and [`Client::try_send`] fails.
    pub fn send_queue_capacity(mut self, capacity: usize) -> Self {
        self.send_queue = capacity.max(1);
        self
    }

    /// How many events may wait in [`Events`] (default 1024); beyond, the connection stops
    /// reading until the application catches up.
    pub fn event_queue_capacity(mut self, capacity: usize) -> Self {
        self.event_queue = capacity.max(1);
        self
    }

    fn set_error(&mut self, err: Error) {
        self.error.get_or_insert(err);
    }

    /// Connects: opens the first transport, performs the Engine.IO handshake, and starts the
    /// connection's task (so this must run inside a Tokio runtime). Returns the handle and the
    /// event stream. An upgrade to WebSocket, if any, happens afterwards in the background
    /// ([`Event::Upgrade`](crate::Event::Upgrade)).
    ///
    /// # Errors
    /// A bad URL, header or TLS setting; the server unreachable or refusing (for example
    /// [`Error::Status`]); an invalid handshake; [`Error::ConnectTimeout`].
    pub async fn connect(self) -> Result<(Client, Events), Error> {
        if let Some(err) = self.error {
            return Err(err);
        }
        if self.transports.is_empty() {
            return Err(Error::InvalidConfig("no transport enabled".to_owned()));
        }
        let path = normalize_path(&self.path, self.trailing_slash);
        let endpoint = Endpoint::new(&self.url, &path, &self.query, self.timestamp_param)?;
        let tls = if endpoint.secure {
            Some(self.tls.client_config()?)
        } else {
            None
        };
        let mut transports = self.transports;
        if self.remember_upgrade
            && self.prior_websocket_success.load(Ordering::Relaxed)
            && transports.contains(&TransportType::Websocket)
        {
            transports.retain(|t| *t == TransportType::Websocket);
        }
        #[cfg(feature = "webtransport")]
        let webtransport = crate::config::WebTransportOptions {
            tls: if transports.contains(&TransportType::Webtransport)
                && self.webtransport_cert_hashes.is_empty()
            {
                Some(self.tls.client_config()?)
            } else {
                None
            },
            cert_hashes: self.webtransport_cert_hashes,
        };
        let config = Arc::new(ConnConfig {
            #[cfg(feature = "webtransport")]
            webtransport,
            endpoint,
            headers: self.headers,
            cookie_jar: self.cookie_jar,
            tls,
            transports,
            upgrade: self.upgrade,
            try_all_transports: self.try_all_transports,
            prior_websocket_success: self.prior_websocket_success,
            connect_timeout: self.connect_timeout,
            close_timeout: self.close_timeout,
            max_incoming_payload: self.max_incoming_payload,
            send_queue: self.send_queue,
            event_queue: self.event_queue,
        });
        let timeout = config.connect_timeout;
        match tokio::time::timeout(timeout, handshake::open(config)).await {
            Ok(result) => result,
            Err(_) => Err(Error::ConnectTimeout(timeout)),
        }
    }
}
