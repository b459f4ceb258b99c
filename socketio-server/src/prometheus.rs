//! The Prometheus side of the metrics (feature `metrics`): turning them on, and reading them
//! as the Prometheus text. What is recorded, and where, is in `metrics.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use prometheus_client::encoding::text::encode;

use crate::metrics::Inner;
use crate::server::ServerInner;
use crate::{SocketIo, SocketIoBuilder};

impl SocketIoBuilder {
    /// Records Prometheus metrics (feature `metrics`); read them with
    /// [`SocketIo::metrics`]. Off by default.
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics.inner = enabled.then(|| Arc::new(Inner::new()));
        self
    }
}

impl SocketIo {
    /// The server's metrics, when enabled with [`SocketIoBuilder::metrics`] (feature
    /// `metrics`).
    ///
    /// ```
    /// # async fn demo() -> std::io::Result<()> {
    /// use axum::{routing::get, Router};
    /// use socketio_server::SocketIo;
    ///
    /// let io = SocketIo::builder().metrics(true).build();
    /// let metrics = io.metrics().expect("enabled above");
    /// // The Prometheus text at /metrics, next to Socket.IO on the same port.
    /// let app: Router = Router::new()
    ///     .route("/metrics", get(move || async move { metrics.render() }))
    ///     .layer(io.layer());
    /// # let _ = app; Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn metrics(&self) -> Option<Metrics> {
        let inner = self.0.config.metrics.inner.clone()?;
        Some(Metrics {
            inner,
            server: Arc::downgrade(&self.0),
        })
    }
}

/// The Prometheus metrics of one server (feature `metrics`): a cheap handle, see
/// [`SocketIo::metrics`].
///
/// | metric | type | labels |
/// | --- | --- | --- |
/// | `socketio_connected_sockets` | gauge | `namespace`, `transport` |
/// | `socketio_packets_received_total`, `socketio_packets_sent_total` | counter | |
/// | `socketio_messages_received_total`, `socketio_messages_sent_total` | counter | |
/// | `socketio_received_bytes_total`, `socketio_sent_bytes_total` | counter | |
/// | `socketio_refused_handshakes_total` | counter | `reason` |
/// | `socketio_slow_consumer_disconnects_total` | counter | |
/// | `socketio_adapter_request_duration_seconds` | histogram | `namespace`, `op` |
///
/// Refusal reasons are the Engine.IO error names (`unknown_transport`, `unknown_sid`,
/// `bad_handshake_method`, `bad_request`, `forbidden`, `unsupported_protocol_version`) and
/// the Socket.IO ones (`invalid_namespace`, `middleware`). Sent packets count one per
/// recipient: a broadcast to 100 sockets is 100 packets out (encoded once).
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub struct Metrics {
    inner: Arc<Inner>,
    server: Weak<ServerInner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The metrics in the OpenMetrics text format (what Prometheus scrapes), ready to serve
    /// at `/metrics`. The socket gauges are counted now, from the live namespaces.
    pub fn render(&self) -> String {
        let _one_at_a_time = self.inner.render.lock();
        self.inner.sockets.clear();
        if let Some(server) = self.server.upgrade() {
            let namespaces = server.namespace_list();
            for ns in namespaces {
                let mut by_transport: HashMap<&'static str, i64> = HashMap::new();
                for socket in ns.local_sockets() {
                    *by_transport.entry(socket.transport()).or_default() += 1;
                }
                for (transport, n) in by_transport {
                    self.inner
                        .sockets
                        .get_or_create(&vec![
                            ("namespace", ns.name.to_string()),
                            ("transport", transport.to_owned()),
                        ])
                        .set(n);
                }
            }
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.inner.registry);
        out
    }

    /// The content type of [`render`](Self::render)'s text.
    /// (OpenMetrics: counters are declared without their `_total` suffix and the text ends
    /// with `# EOF`, so it must not be served as the classic `text/plain; version=0.0.4`.)
    pub const CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";
}
