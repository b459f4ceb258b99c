//! The Engine.IO side of a manager: which transports, and how the `engine-io-client` builder is
//! configured for each (re)connection.

use std::sync::Arc;
use std::time::Duration;

use engine_io_client::{CookieJar, TransportType};

/// Which Engine.IO transports the client uses.
///
/// ```
/// use socketio_client::Transports;
///
/// assert_eq!(Transports::default(), Transports::Upgrade);
/// assert_eq!("websocket".parse::<Transports>(), Ok(Transports::WebSocket));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Transports {
    /// HTTP long-polling only.
    Polling,
    /// WebSocket only (no polling handshake).
    WebSocket,
    /// Polling first, then upgrade to WebSocket (the reference default).
    #[default]
    Upgrade,
}

impl std::str::FromStr for Transports {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The transports' names are the codec's; `upgrade` is the client's policy of both.
        match (s, TransportType::from_query(s)) {
            (_, Some(TransportType::Polling)) => Ok(Transports::Polling),
            (_, Some(TransportType::Websocket)) => Ok(Transports::WebSocket),
            ("upgrade", None) => Ok(Transports::Upgrade),
            (other, _) => Err(format!(
                "unknown transport {other:?} (expected polling, websocket or upgrade)"
            )),
        }
    }
}

/// How to open the Engine.IO connection.
#[derive(Debug, Clone)]
pub(crate) struct EngineOptions {
    /// The server origin (plus query), without the namespace.
    pub(crate) url: String,
    /// The Engine.IO path (`/socket.io` for Socket.IO).
    pub(crate) path: String,
    pub(crate) transports: Transports,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) accept_invalid_certs: bool,
    /// Shared across reconnections so sticky-session cookies survive them.
    pub(crate) cookie_jar: Option<Arc<CookieJar>>,
    pub(crate) connect_timeout: Duration,
    /// The largest polling response or WebSocket message accepted (engine default when `None`).
    pub(crate) max_incoming_payload: Option<usize>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            url: String::new(),
            path: "/socket.io".to_owned(),
            transports: Transports::Upgrade,
            headers: Vec::new(),
            query: Vec::new(),
            accept_invalid_certs: false,
            cookie_jar: Some(Arc::new(CookieJar::new())),
            connect_timeout: Duration::from_millis(20_000),
            max_incoming_payload: None,
        }
    }
}

/// How many packets the connection's send queue holds before an emit fails with
/// [`Error::BufferFull`](crate::Error::BufferFull) (emits never wait; see `Socket::emit`).
pub(crate) const SEND_QUEUE: usize = 1024;

impl EngineOptions {
    /// Opens one Engine.IO connection.
    pub(crate) async fn connect(
        &self,
    ) -> Result<(engine_io_client::Client, engine_io_client::Events), engine_io_client::Error> {
        let mut builder = engine_io_client::ClientBuilder::new(self.url.clone())
            .send_queue_capacity(SEND_QUEUE)
            .path(self.path.clone())
            .connect_timeout(self.connect_timeout)
            .danger_accept_invalid_certs(self.accept_invalid_certs);
        builder = match self.transports {
            Transports::Polling => builder.transports([TransportType::Polling]).upgrade(false),
            Transports::WebSocket => builder.transports([TransportType::Websocket]),
            Transports::Upgrade => builder
                .transports([TransportType::Polling, TransportType::Websocket])
                .upgrade(true),
        };
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        for (k, v) in &self.query {
            builder = builder.query(k.clone(), v.clone());
        }
        if let Some(limit) = self.max_incoming_payload {
            builder = builder.max_incoming_payload(limit);
        }
        builder = match &self.cookie_jar {
            Some(jar) => builder.cookie_jar(jar.clone()),
            None => builder.without_cookie_jar(),
        };
        builder.connect().await
    }
}
