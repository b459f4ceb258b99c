//! The resolved, validated settings of one client, shared by its transports.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;

use crate::cookie_jar::CookieJar;
use crate::endpoint::Endpoint;
use engine_io::TransportType;

/// Built by [`ClientBuilder::connect`](crate::ClientBuilder::connect) from the builder.
#[derive(Debug)]
pub(crate) struct ConnConfig {
    pub(crate) endpoint: Endpoint,
    pub(crate) headers: HeaderMap,
    pub(crate) cookie_jar: Option<Arc<CookieJar>>,
    /// Present when the endpoint is `https`/`wss`.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    /// How the WebTransport transport checks the server.
    #[cfg(feature = "webtransport")]
    pub(crate) webtransport: WebTransportOptions,
    pub(crate) transports: Vec<TransportType>,
    pub(crate) upgrade: bool,
    pub(crate) try_all_transports: bool,
    /// Set when a WebSocket upgrade succeeded (shared by clients built from one builder).
    pub(crate) prior_websocket_success: Arc<AtomicBool>,
    pub(crate) connect_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) max_incoming_payload: usize,
    pub(crate) send_queue: usize,
    pub(crate) event_queue: usize,
}

#[cfg(feature = "webtransport")]
/// How the client checks the server's certificate over WebTransport (resolved from the builder).
#[derive(Debug, Clone, Default)]
pub(crate) struct WebTransportOptions {
    /// SHA-256 digests of accepted certificates (`serverCertificateHashes`); when empty, `tls`.
    pub(crate) cert_hashes: Vec<[u8; 32]>,
    /// The client's TLS configuration (roots, or a custom verifier).
    pub(crate) tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}
