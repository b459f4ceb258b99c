//! [`Config`]: server options, with the reference implementation's defaults.

use crate::cluster::Cluster;
use crate::cors::Cors;
use crate::request::RequestInfo;
use crate::{Message, TransportType};
use http::HeaderMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// `SameSite` attribute of the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict`
    Strict,
    /// `SameSite=Lax` (the default)
    Lax,
    /// `SameSite=None` (requires `Secure` in browsers)
    None,
}

/// The session cookie set on the handshake response (the `cookie` option), so
/// cookie-sticky load balancers can route a session's requests to one node.
///
/// Defaults as the reference: name `io`, path `/`, `HttpOnly`, `SameSite=Lax`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieConfig {
    /// Cookie name (default `io`).
    pub name: String,
    /// `Path` attribute (default `/`); `None` omits it.
    pub path: Option<String>,
    /// `HttpOnly` attribute (default true).
    pub http_only: bool,
    /// `SameSite` attribute (default Lax); `None` omits it.
    pub same_site: Option<SameSite>,
    /// `Domain` attribute.
    pub domain: Option<String>,
    /// `Secure` attribute.
    pub secure: bool,
    /// `Max-Age` attribute in seconds.
    pub max_age: Option<i64>,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            name: "io".into(),
            path: Some("/".into()),
            http_only: true,
            same_site: Some(SameSite::Lax),
            domain: None,
            secure: false,
            max_age: None,
        }
    }
}

impl CookieConfig {
    /// The `Set-Cookie` value for session `sid`, attributes in the order the
    /// npm `cookie` package writes them.
    pub fn serialize(&self, sid: &str) -> String {
        let mut s = format!("{}={}", self.name, sid);
        if let Some(age) = self.max_age {
            s.push_str(&format!("; Max-Age={age}"));
        }
        if let Some(d) = &self.domain {
            s.push_str("; Domain=");
            s.push_str(d);
        }
        if let Some(p) = &self.path {
            s.push_str("; Path=");
            s.push_str(p);
        }
        if self.http_only {
            s.push_str("; HttpOnly");
        }
        if self.secure {
            s.push_str("; Secure");
        }
        match self.same_site {
            Some(SameSite::Strict) => s.push_str("; SameSite=Strict"),
            Some(SameSite::Lax) => s.push_str("; SameSite=Lax"),
            Some(SameSite::None) => s.push_str("; SameSite=None"),
            None => {}
        }
        s
    }
}

/// The future returned by an allow-request hook.
pub type AllowRequestFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// The allow-request hook: sees the handshake request, accepts (`Ok`) or refuses
/// with a message (`Err`; an empty message means the default `Forbidden`).
pub type AllowRequestFn = Arc<dyn Fn(Arc<RequestInfo>) -> AllowRequestFuture + Send + Sync>;
/// A hook adding headers to responses: `(request, headers, is_handshake)`.
pub type HeadersFn = Arc<dyn Fn(&RequestInfo, &mut HeaderMap, bool) + Send + Sync>;

/// Server options. Build with [`Config::builder`]; [`Config::default`] has the
/// reference defaults.
///
/// ```
/// use std::time::Duration;
/// let config = engine_io::Config::builder()
///     .ping_interval(Duration::from_millis(300))
///     .ping_timeout(Duration::from_millis(200))
///     .cors(engine_io::Cors::any())
///     .build();
/// assert_eq!(config.max_http_buffer_size, 1_000_000);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Interval between server pings (v4) or expected client pings (v3). Default 25 s.
    pub ping_interval: Duration,
    /// How long to wait for a pong (v4). Default 20 s. In v3 the session times out
    /// after `ping_interval + ping_timeout` without a client ping.
    pub ping_timeout: Duration,
    /// How long an upgrade (probe to `5`) may take. Default 10 s.
    pub upgrade_timeout: Duration,
    /// Largest accepted POST body / WebSocket message in bytes (sent to clients as
    /// `maxPayload`). Default 1e6.
    pub max_http_buffer_size: usize,
    /// Enabled transports. Default polling and websocket.
    pub transports: Vec<TransportType>,
    /// Whether polling clients may upgrade to WebSocket. Default true.
    pub allow_upgrades: bool,
    /// Request path prefix. Default `/engine.io`.
    pub path: String,
    /// Whether a trailing slash is appended to `path` (`/engine.io/`). Default true.
    pub add_trailing_slash: bool,
    /// CORS handling; `None` (default) adds no CORS headers.
    pub cors: Option<Cors>,
    /// Session cookie; `None` (default) sets none.
    pub cookie: Option<CookieConfig>,
    /// Async hook deciding whether a handshake is allowed.
    pub allow_request: Option<AllowRequestFn>,
    /// Whether Engine.IO v3 clients (socket.io 2.x) are accepted. Default false.
    pub allow_eio3: bool,
    /// A message sent right after the open packet.
    pub initial_packet: Option<Message>,
    /// Compress polling responses of at least this many bytes with gzip/deflate
    /// (by `Accept-Encoding`); `None` disables. Default `Some(1024)`.
    pub http_compression_threshold: Option<usize>,
    /// Hook adding headers to handshake (`is_handshake == true`) and other responses.
    pub headers: Option<HeadersFn>,
    /// The slow-consumer bound of each socket's outgoing queue, in bytes
    /// (message data plus a fixed per-message overhead). Default 1 MiB.
    ///
    /// A queue may hold more than this for up to [`Config::slow_consumer_timeout`]
    /// without being drained: only a client that holds more than this bound
    /// *and* has not read for that long is refused more messages
    /// ([`crate::Socket::try_send`] fails with `Full`). Why 1 MiB: it is the
    /// default [`Config::max_http_buffer_size`], the most one client may send in
    /// one request; a polling client receives everything queued between two GETs
    /// in one response, and a busy room reaches hundreds of KB per round trip on
    /// a slow network, which must never cut off a healthy client.
    pub slow_consumer_bytes: usize,
    /// How long a queue may stay over [`Config::slow_consumer_bytes`] without
    /// being drained (a pending GET answered, or a WebSocket batch written)
    /// before the client counts as a slow consumer. Default 10 s: far longer
    /// than a polling round trip, shorter than the heartbeat's
    /// `ping_interval + ping_timeout` which would end a dead client anyway.
    pub slow_consumer_timeout: Duration,
    /// Hard memory cap of each socket's outgoing queue, in bytes: beyond it
    /// [`crate::Socket::try_send`] fails with `Full` at once, whatever the time.
    /// Default 16 MiB. The reference has no bound at all; this one is 16 times
    /// the slow-consumer bound so that a healthy client never meets it, and it
    /// bounds what a stalled client can cost. A single message (or atomic batch)
    /// larger than the cap is still accepted into an empty queue, so that it
    /// can be sent at all.
    pub max_buffered_bytes: usize,
    /// Capacity of each socket's inbox in the stream API ([`crate::Socket::recv`]),
    /// in messages. Default 1024. When the inbox is full the transport stops
    /// reading (WebSocket) or the `POST` waits for room (polling): backpressure,
    /// never a closed session.
    pub inbox_capacity: usize,
    /// No longer used: the server reads WebSocket frames itself
    /// ([`crate::ws_frame`]) and holds no read buffer per connection (the
    /// socket is read in chunks of up to 16 KiB through a per-thread buffer,
    /// and only bytes of a frame that has not fully arrived are kept per
    /// connection). Kept so that existing configurations still build.
    /// Default 128.
    pub ws_read_buffer_size: usize,
    /// No longer used: every frame, data or control, is written as soon as
    /// it is queued, data frames batched into one write per flush. Kept so
    /// that existing configurations still build. Default 4096.
    pub ws_write_buffer_size: usize,
    /// The cluster this server is a node of (see [`crate::Cluster`]): sids
    /// carry the node's id, and polling requests for sessions held by other
    /// nodes are served through it. `None` (default): a standalone server.
    pub cluster: Option<Arc<dyn Cluster>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_http_buffer_size: 1_000_000,
            transports: vec![TransportType::Polling, TransportType::Websocket],
            allow_upgrades: true,
            path: "/engine.io".into(),
            add_trailing_slash: true,
            cors: None,
            cookie: None,
            allow_request: None,
            allow_eio3: false,
            initial_packet: None,
            http_compression_threshold: Some(1024),
            headers: None,
            slow_consumer_bytes: 1 << 20,
            slow_consumer_timeout: Duration::from_secs(10),
            max_buffered_bytes: 16 << 20,
            inbox_capacity: 1024,
            ws_read_buffer_size: 128,
            ws_write_buffer_size: 4096,
            cluster: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("max_http_buffer_size", &self.max_http_buffer_size)
            .field("transports", &self.transports)
            .field("allow_upgrades", &self.allow_upgrades)
            .field("path", &self.path)
            .field("add_trailing_slash", &self.add_trailing_slash)
            .field("cors", &self.cors)
            .field("cookie", &self.cookie)
            .field("allow_request", &self.allow_request.is_some())
            .field("allow_eio3", &self.allow_eio3)
            .field("initial_packet", &self.initial_packet)
            .field(
                "http_compression_threshold",
                &self.http_compression_threshold,
            )
            .field("headers", &self.headers.is_some())
            .field("slow_consumer_bytes", &self.slow_consumer_bytes)
            .field("slow_consumer_timeout", &self.slow_consumer_timeout)
            .field("max_buffered_bytes", &self.max_buffered_bytes)
            .field("inbox_capacity", &self.inbox_capacity)
            .field("cluster", &self.cluster.is_some())
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
        }
    }

    /// The path prefix requests must start with: `path` without its trailing
    /// slash, plus `/` when `add_trailing_slash` (as the reference computes it).
    pub fn computed_path(&self) -> String {
        let mut p = self.path.strip_suffix('/').unwrap_or(&self.path).to_owned();
        if self.add_trailing_slash {
            p.push('/');
        }
        p
    }

    pub(crate) fn transport_enabled(&self, t: TransportType) -> bool {
        self.transports.contains(&t)
    }
}

/// Builder for [`Config`].
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// See [`Config::ping_interval`].
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.config.ping_interval = d;
        self
    }
    /// See [`Config::ping_timeout`].
    pub fn ping_timeout(mut self, d: Duration) -> Self {
        self.config.ping_timeout = d;
        self
    }
    /// See [`Config::upgrade_timeout`].
    pub fn upgrade_timeout(mut self, d: Duration) -> Self {
        self.config.upgrade_timeout = d;
        self
    }
    /// See [`Config::max_http_buffer_size`].
    pub fn max_http_buffer_size(mut self, n: usize) -> Self {
        self.config.max_http_buffer_size = n;
        self
    }
    /// See [`Config::transports`].
    pub fn transports(mut self, t: impl IntoIterator<Item = TransportType>) -> Self {
        self.config.transports = t.into_iter().collect();
        self
    }
    /// See [`Config::allow_upgrades`].
    pub fn allow_upgrades(mut self, v: bool) -> Self {
        self.config.allow_upgrades = v;
        self
    }
    /// See [`Config::path`].
    pub fn path(mut self, p: impl Into<String>) -> Self {
        self.config.path = p.into();
        self
    }
    /// See [`Config::add_trailing_slash`].
    pub fn add_trailing_slash(mut self, v: bool) -> Self {
        self.config.add_trailing_slash = v;
        self
    }
    /// See [`Config::cors`].
    pub fn cors(mut self, cors: Cors) -> Self {
        self.config.cors = Some(cors);
        self
    }
    /// See [`Config::cookie`].
    pub fn cookie(mut self, cookie: CookieConfig) -> Self {
        self.config.cookie = Some(cookie);
        self
    }
    /// Sets the async allow-request hook ([`Config::allow_request`]).
    ///
    /// ```
    /// let config = engine_io::Config::builder()
    ///     .allow_request(|req| async move {
    ///         if req.headers.contains_key("x-banned") { Err("banned".to_owned()) } else { Ok(()) }
    ///     })
    ///     .build();
    /// # let _ = config;
    /// ```
    pub fn allow_request<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Arc<RequestInfo>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.config.allow_request = Some(Arc::new(move |req| Box::pin(f(req))));
        self
    }
    /// See [`Config::allow_eio3`].
    pub fn allow_eio3(mut self, v: bool) -> Self {
        self.config.allow_eio3 = v;
        self
    }
    /// See [`Config::initial_packet`].
    pub fn initial_packet(mut self, m: impl Into<Message>) -> Self {
        self.config.initial_packet = Some(m.into());
        self
    }
    /// See [`Config::http_compression_threshold`].
    pub fn http_compression(mut self, threshold: Option<usize>) -> Self {
        self.config.http_compression_threshold = threshold;
        self
    }
    /// Sets the headers hook ([`Config::headers`]).
    pub fn headers<F>(mut self, f: F) -> Self
    where
        F: Fn(&RequestInfo, &mut HeaderMap, bool) + Send + Sync + 'static,
    {
        self.config.headers = Some(Arc::new(f));
        self
    }
    /// See [`Config::slow_consumer_bytes`] and [`Config::slow_consumer_timeout`].
    pub fn slow_consumer(mut self, bytes: usize, timeout: Duration) -> Self {
        self.config.slow_consumer_bytes = bytes;
        self.config.slow_consumer_timeout = timeout;
        self
    }
    /// See [`Config::max_buffered_bytes`].
    pub fn max_buffered_bytes(mut self, n: usize) -> Self {
        self.config.max_buffered_bytes = n;
        self
    }
    /// See [`Config::inbox_capacity`] (at least 1).
    pub fn inbox_capacity(mut self, n: usize) -> Self {
        self.config.inbox_capacity = n.max(1);
        self
    }
    /// See [`Config::ws_read_buffer_size`] (at least 64).
    pub fn ws_read_buffer_size(mut self, n: usize) -> Self {
        self.config.ws_read_buffer_size = n.max(64);
        self
    }
    /// See [`Config::ws_write_buffer_size`].
    pub fn ws_write_buffer_size(mut self, n: usize) -> Self {
        self.config.ws_write_buffer_size = n;
        self
    }
    /// Sets the cluster ([`Config::cluster`]).
    pub fn cluster(mut self, cluster: Arc<dyn Cluster>) -> Self {
        self.config.cluster = Some(cluster);
        self
    }
    /// Finishes the configuration.
    pub fn build(self) -> Config {
        self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_reference() {
        let c = Config::default();
        assert_eq!(c.ping_interval, Duration::from_millis(25000));
        assert_eq!(c.ping_timeout, Duration::from_millis(20000));
        assert_eq!(c.upgrade_timeout, Duration::from_millis(10000));
        assert_eq!(c.max_http_buffer_size, 1_000_000);
        assert_eq!(c.slow_consumer_bytes, 1 << 20);
        assert_eq!(c.max_buffered_bytes, 16 << 20);
        assert_eq!(c.computed_path(), "/engine.io/");
        let c = Config::builder()
            .path("/x/")
            .add_trailing_slash(false)
            .build();
        assert_eq!(c.computed_path(), "/x");
    }

    #[test]
    fn cookie_serialization() {
        assert_eq!(
            CookieConfig::default().serialize("abc"),
            "io=abc; Path=/; HttpOnly; SameSite=Lax"
        );
        let c = CookieConfig {
            name: "sticky".into(),
            path: Some("/p".into()),
            http_only: false,
            same_site: Some(SameSite::None),
            domain: Some("example.com".into()),
            secure: true,
            max_age: Some(60),
        };
        assert_eq!(
            c.serialize("x"),
            "sticky=x; Max-Age=60; Domain=example.com; Path=/p; Secure; SameSite=None"
        );
    }
}
