//! Server options and the builder.

use std::sync::Arc;
use std::time::Duration;

use socketio_adapter::{AdapterFactory, EncodedPacket, InMemoryAdapterFactory, RecoveryConfig};
use socketio_parser::{Packet, Parser};

use crate::{EmitError, SocketIo};

/// Server options (read through the builder).
pub(crate) struct ServerConfig {
    pub(crate) engine: engine_io::Config,
    pub(crate) connect_timeout: Duration,
    pub(crate) recovery: Option<RecoveryConfig>,
    pub(crate) parser: Parser,
    pub(crate) ack_timeout: Duration,
    pub(crate) adapter: Arc<dyn AdapterFactory>,
    pub(crate) cleanup_empty_child_namespaces: bool,
    pub(crate) max_pending_packets: usize,
    pub(crate) state: crate::state::StateMap,
    pub(crate) metrics: crate::metrics::ServerMetrics,
}

/// Builds a [`SocketIo`] server. Every Engine.IO option is available (reference defaults),
/// plus the Socket.IO ones.
///
/// ```
/// use std::time::Duration;
/// use socketio_server::{RecoveryConfig, SocketIo};
///
/// let io = SocketIo::builder()
///     .path("/socket.io")                      // default
///     .ping_interval(Duration::from_secs(25))  // default
///     .connect_timeout(Duration::from_secs(45)) // default
///     .connection_state_recovery(RecoveryConfig::default())
///     .allow_eio3(true)
///     .cors(engine_io::Cors::any())
///     .build();
/// # drop(io);
/// ```
#[must_use]
pub struct SocketIoBuilder {
    pub(crate) engine: engine_io::Config,
    connect_timeout: Duration,
    recovery: Option<RecoveryConfig>,
    parser: Parser,
    ack_timeout: Duration,
    adapter: Arc<dyn AdapterFactory>,
    cleanup_empty_child_namespaces: bool,
    max_pending_packets: usize,
    // Set with `with_state` (in `state.rs`).
    pub(crate) state: crate::state::StateMap,
    // Set with `metrics` (in `metrics.rs`, feature `metrics`).
    pub(crate) metrics: crate::metrics::ServerMetrics,
    // Set with `cluster_engine` (in `cluster_engine.rs`, feature `cluster-engine`).
    #[cfg(feature = "cluster-engine")]
    pub(crate) cluster_engine: Option<engine_io_cluster::ClusterEngine>,
}

impl ServerConfig {
    /// Encodes a packet with the server's parser into the Engine.IO messages to queue, once
    /// for every recipient.
    pub(crate) fn encode(&self, packet: &Packet) -> Result<EncodedPacket, EmitError> {
        // One message (most packets): without a `Vec`. Shared (`to_message`), not taken: the
        // bytes of a clone are in the shared form, which every recipient's clone then takes at
        // the cheapest (a taken `Vec`'s bytes would go through the promotable form's check
        // on each clone).
        let encoded = self.parser.encode(packet)?;
        if let [one] = encoded.frames() {
            return Ok(EncodedPacket::one(one.to_message()?));
        }
        Ok(EncodedPacket::new(encoded.to_messages()?))
    }
}

impl Default for SocketIoBuilder {
    fn default() -> Self {
        let mut engine = engine_io::Config::default();
        engine.path = "/socket.io".into();
        Self {
            engine,
            connect_timeout: Duration::from_secs(45),
            recovery: None,
            parser: Parser::default(),
            ack_timeout: Duration::from_secs(5),
            adapter: Arc::new(InMemoryAdapterFactory),
            cleanup_empty_child_namespaces: false,
            max_pending_packets: 256,
            state: Default::default(),
            metrics: Default::default(),
            #[cfg(feature = "cluster-engine")]
            cluster_engine: None,
        }
    }
}

impl std::fmt::Debug for SocketIoBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIoBuilder")
            .field("engine", &self.engine)
            .field("connect_timeout", &self.connect_timeout)
            .field("recovery", &self.recovery)
            .field("parser", &self.parser)
            .finish_non_exhaustive()
    }
}

impl SocketIoBuilder {
    /// The request path. Default `/socket.io` (a trailing slash is added, as in the reference).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.engine.path = path.into();
        self
    }

    /// Whether `/` is appended to the path. Default true.
    pub fn add_trailing_slash(mut self, v: bool) -> Self {
        self.engine.add_trailing_slash = v;
        self
    }

    /// Interval between pings. Default 25 s.
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.engine.ping_interval = d;
        self
    }

    /// How long to wait for a pong. Default 20 s.
    pub fn ping_timeout(mut self, d: Duration) -> Self {
        self.engine.ping_timeout = d;
        self
    }

    /// How long a transport upgrade may take. Default 10 s.
    pub fn upgrade_timeout(mut self, d: Duration) -> Self {
        self.engine.upgrade_timeout = d;
        self
    }

    /// Largest accepted message / POST body in bytes (`maxHttpBufferSize`). Default 1e6.
    pub fn max_http_buffer_size(mut self, n: usize) -> Self {
        self.engine.max_http_buffer_size = n;
        self
    }

    /// Enabled transports. Default polling and websocket.
    pub fn transports(mut self, t: impl IntoIterator<Item = engine_io::TransportType>) -> Self {
        self.engine.transports = t.into_iter().collect();
        self
    }

    /// Whether polling clients may upgrade to WebSocket. Default true.
    pub fn allow_upgrades(mut self, v: bool) -> Self {
        self.engine.allow_upgrades = v;
        self
    }

    /// CORS handling. Default none.
    pub fn cors(mut self, cors: engine_io::Cors) -> Self {
        self.engine.cors = Some(cors);
        self
    }

    /// Session cookie for sticky load balancing. Default none.
    pub fn cookie(mut self, cookie: engine_io::CookieConfig) -> Self {
        self.engine.cookie = Some(cookie);
        self
    }

    /// Whether Socket.IO 2.x clients (Engine.IO v3, Socket.IO protocol v4) are accepted.
    /// Default false.
    pub fn allow_eio3(mut self, v: bool) -> Self {
        self.engine.allow_eio3 = v;
        self
    }

    /// Compression threshold of polling responses (`None` disables). Default 1024 bytes.
    pub fn http_compression(mut self, threshold: Option<usize>) -> Self {
        self.engine.http_compression_threshold = threshold;
        self
    }

    /// The slow-consumer rule of each connection's outgoing queue (see
    /// [`engine_io::Config::slow_consumer_bytes`]): a client whose queue holds more than
    /// `bytes` and has not been drained for `timeout` is a slow consumer. Default 1 MiB and
    /// 10 s, so that a healthy polling client receiving a burst between two polls is never one.
    ///
    /// **Full-queue policy**: a volatile packet that does not fit is dropped; any other packet
    /// that does not fit closes the connection with
    /// [`DisconnectReason::SlowConsumer`](crate::DisconnectReason::SlowConsumer) — never a
    /// silent drop, never unbounded memory.
    pub fn slow_consumer(mut self, bytes: usize, timeout: Duration) -> Self {
        self.engine.slow_consumer_bytes = bytes;
        self.engine.slow_consumer_timeout = timeout;
        self
    }

    /// Hard memory cap of each connection's outgoing queue in bytes
    /// ([`engine_io::Config::max_buffered_bytes`]). Default 16 MiB. A packet that does not fit
    /// follows the full-queue policy of [`SocketIoBuilder::slow_consumer`].
    pub fn max_buffered_bytes(mut self, n: usize) -> Self {
        self.engine.max_buffered_bytes = n;
        self
    }

    /// Edits any other Engine.IO option (allow-request hook, headers hook, initial packet,
    /// WebSocket buffer sizes...).
    pub fn engine_io(mut self, f: impl FnOnce(&mut engine_io::Config)) -> Self {
        f(&mut self.engine);
        self
    }

    /// How long a connection may stay without joining a namespace. Default 45 s.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Enables connection state recovery. Default off.
    pub fn connection_state_recovery(mut self, config: RecoveryConfig) -> Self {
        self.recovery = Some(config);
        self
    }

    /// The packet format. Default JSON.
    pub fn parser(mut self, parser: Parser) -> Self {
        self.parser = parser;
        self
    }

    /// Default timeout of emits with acknowledgement (not in the reference, where it is
    /// infinite unless set per emit). Default 5 s.
    pub fn ack_timeout(mut self, d: Duration) -> Self {
        self.ack_timeout = d;
        self
    }

    /// The adapter of every namespace. Default [`InMemoryAdapterFactory`].
    pub fn adapter(mut self, factory: impl AdapterFactory) -> Self {
        self.adapter = Arc::new(factory);
        self
    }

    /// Removes a dynamic child namespace when its last socket leaves. Default false.
    pub fn cleanup_empty_child_namespaces(mut self, v: bool) -> Self {
        self.cleanup_empty_child_namespaces = v;
        self
    }

    /// Builds the server.
    pub fn build(self) -> SocketIo {
        #[cfg(feature = "cluster-engine")]
        let cluster_engine = self.cluster_engine.clone();
        let io = SocketIo::from_config(ServerConfig {
            engine: self.engine,
            connect_timeout: self.connect_timeout,
            recovery: self.recovery,
            parser: self.parser,
            ack_timeout: self.ack_timeout,
            adapter: self.adapter,
            cleanup_empty_child_namespaces: self.cleanup_empty_child_namespaces,
            max_pending_packets: self.max_pending_packets,
            state: self.state,
            metrics: self.metrics,
        });
        #[cfg(feature = "cluster-engine")]
        if let Some(cluster) = cluster_engine {
            cluster.attach(io.engine().clone());
        }
        io
    }
}
