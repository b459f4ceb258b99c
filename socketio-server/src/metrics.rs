//! Prometheus metrics (feature `metrics`), with [`prometheus-client`](prometheus_client).
//!
//! Without the feature, every recording hook below is an empty inline function, so the hot
//! paths (a packet in, a packet out) pay nothing.

#[cfg(feature = "metrics")]
pub(crate) use enabled::Inner;

/// The reason label of an Engine.IO refusal.
pub(crate) fn engine_refusal_reason(code: engine_io::ErrorCode) -> &'static str {
    match code {
        engine_io::ErrorCode::UnknownTransport => "unknown_transport",
        engine_io::ErrorCode::UnknownSid => "unknown_sid",
        engine_io::ErrorCode::BadHandshakeMethod => "bad_handshake_method",
        engine_io::ErrorCode::BadRequest => "bad_request",
        engine_io::ErrorCode::Forbidden => "forbidden",
        engine_io::ErrorCode::UnsupportedProtocolVersion => "unsupported_protocol_version",
    }
}

/// What the server records for its observers: the Prometheus metrics (feature `metrics`,
/// `None` until enabled on the builder) and the Admin UI instrumentation (feature `admin-ui`,
/// set by [`SocketIo::instrument`](crate::SocketIo::instrument)). Held by the server
/// configuration; every hook is a no-op when nothing observes.
#[derive(Default, Clone)]
pub(crate) struct ServerMetrics {
    #[cfg(feature = "metrics")]
    pub(crate) inner: Option<std::sync::Arc<enabled::Inner>>,
    #[cfg(feature = "admin-ui")]
    pub(crate) admin: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<dyn AdminHooks>>>,
}

/// What the Admin UI instrumentation records (implemented by `admin::AdminState`; a trait
/// so that the configuration does not depend on the server through it).
#[cfg(feature = "admin-ui")]
pub(crate) trait AdminHooks: Send + Sync {
    /// Counts `count` events of `kind` (and `sub_type`) in the current second.
    fn record(&self, kind: &'static str, sub_type: Option<&'static str>, count: usize);
    /// A socket joined its namespace.
    fn socket_connected(&self, socket: &crate::SocketRef);
    /// The connection of `sockets` upgraded its transport.
    fn upgraded(&self, sockets: &[crate::SocketRef]);
}

#[allow(unused_variables)]
impl ServerMetrics {
    #[cfg(feature = "admin-ui")]
    fn admin(&self) -> Option<&std::sync::Arc<dyn AdminHooks>> {
        self.admin.get()
    }

    /// An Engine.IO message arrived.
    #[inline]
    pub(crate) fn message_in(&self, bytes: usize) {
        if self.observed() {
            self.record_message_in(bytes);
        }
    }

    // The recording bodies of the per-message hooks are out of line and cold: when nothing
    // observes (the usual case) the hot path keeps only the test, and its code stays dense
    // (first-level instruction cache misses per round trip, not instructions, decide there).
    #[cold]
    #[inline(never)]
    fn record_message_in(&self, bytes: usize) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.inner {
            m.message_in(bytes);
        }
        #[cfg(feature = "admin-ui")]
        if let Some(a) = self.admin() {
            a.record("packetsIn", None, 1);
            a.record("bytesIn", None, bytes);
        }
    }

    /// A Socket.IO packet was decoded.
    #[inline]
    pub(crate) fn packet_in(&self) {
        if self.observed() {
            self.record_packet_in();
        }
    }

    #[cold]
    #[inline(never)]
    fn record_packet_in(&self) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.inner {
            m.packets_in.inc();
        }
    }

    /// Whether anything records: the hot paths skip computing what nobody reads.
    #[inline]
    fn observed(&self) -> bool {
        let on = false;
        #[cfg(feature = "metrics")]
        let on = on || self.inner.is_some();
        #[cfg(feature = "admin-ui")]
        let on = on || self.admin().is_some();
        on
    }

    /// `count` sockets took `packet` (a broadcast counts once per recipient).
    #[inline]
    pub(crate) fn packets_out(&self, count: usize, packet: &socketio_adapter::EncodedPacket) {
        if self.observed() {
            self.record_packets_out(count, packet);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_packets_out(&self, count: usize, packet: &socketio_adapter::EncodedPacket) {
        let messages = packet.messages().len();
        let bytes = packet.len();
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.inner {
            m.packets_out(count, messages * count, bytes * count);
        }
        #[cfg(feature = "admin-ui")]
        if let Some(a) = self.admin() {
            a.record("packetsOut", None, messages * count);
            a.record("bytesOut", None, bytes * count);
        }
    }

    /// A Socket.IO packet (`messages` Engine.IO messages, `bytes` long) was queued.
    #[inline]
    pub(crate) fn packet_out(&self, messages: usize, bytes: usize) {
        if self.observed() {
            self.record_packet_out(messages, bytes);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_packet_out(&self, messages: usize, bytes: usize) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.inner {
            m.packet_out(messages, bytes);
        }
        #[cfg(feature = "admin-ui")]
        if let Some(a) = self.admin() {
            a.record("packetsOut", None, messages);
            a.record("bytesOut", None, bytes);
        }
    }

    /// A request or a namespace connection was refused.
    pub(crate) fn refused(&self, reason: &'static str) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.inner {
            m.refused
                .get_or_create(&vec![("reason", reason.to_owned())])
                .inc();
        }
    }

    /// A connection was closed because its outgoing queue was full.
    pub(crate) fn slow_consumer(&self) {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.inner {
            m.slow_consumers.inc();
        }
    }

    /// An Engine.IO connection opened.
    pub(crate) fn connection_opened(&self) {
        #[cfg(feature = "admin-ui")]
        if let Some(a) = self.admin() {
            a.record("rawConnection", None, 1);
        }
    }

    /// An Engine.IO connection closed.
    pub(crate) fn connection_closed(&self, reason: &'static str) {
        #[cfg(feature = "admin-ui")]
        if let Some(a) = self.admin() {
            a.record("rawDisconnection", Some(reason), 1);
        }
    }

    /// A socket joined its namespace (before its connection handler runs).
    pub(crate) fn socket_connected(&self, socket: &crate::SocketRef) {
        #[cfg(feature = "admin-ui")]
        if let Some(a) = self.admin() {
            a.socket_connected(socket);
        }
    }

    /// A connection upgraded its transport; `sockets` are its sockets.
    pub(crate) fn upgraded(&self, sockets: &[crate::SocketRef]) {
        #[cfg(feature = "admin-ui")]
        if let Some(a) = self.admin() {
            a.upgraded(sockets);
        }
    }

    /// The adapter of a new namespace, timed when metrics are on.
    pub(crate) fn wrap_adapter(
        &self,
        adapter: std::sync::Arc<dyn socketio_adapter::Adapter>,
        nsp: &str,
    ) -> std::sync::Arc<dyn socketio_adapter::Adapter> {
        #[cfg(feature = "metrics")]
        if let Some(m) = &self.inner {
            return std::sync::Arc::new(enabled::MeasuredAdapter {
                inner: adapter,
                metrics: m.clone(),
                nsp: nsp.to_owned(),
            });
        }
        adapter
    }
}

#[cfg(feature = "metrics")]
mod enabled {
    use std::collections::HashSet;
    use std::future::Future;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use async_trait::async_trait;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
    use prometheus_client::registry::Registry;
    use socketio_adapter::{
        Adapter, AdapterError, BroadcastAckSink, BroadcastOptions, LocalAdapter, PersistedSession,
        RemoteCommand, RestoredSession, Room, Sid, SocketInfo,
    };
    use socketio_parser::{Packet, Value};

    type Labels = Vec<(&'static str, String)>;
    type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

    fn latency_histogram() -> Histogram {
        // 0.25 ms to about 8 s: a local adapter answers in microseconds, a Redis round trip in
        // a millisecond or two, a cluster request that waits for a dead node in its timeout.
        Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
    }

    pub(crate) struct Inner {
        pub(crate) registry: Registry,
        pub(crate) sockets: Family<Labels, Gauge>,
        pub(super) packets_in: Counter,
        bytes_in: Counter,
        packets_out: Counter,
        bytes_out: Counter,
        messages_in: Counter,
        messages_out: Counter,
        pub(super) refused: Family<Labels, Counter>,
        pub(super) slow_consumers: Counter,
        adapter_latency: HistogramFamily,
        /// Serializes scrapes: each one rebuilds the socket gauges.
        pub(crate) render: parking_lot::Mutex<()>,
    }

    impl Inner {
        pub(crate) fn new() -> Self {
            let mut registry = Registry::with_prefix("socketio");
            let sockets = Family::<Labels, Gauge>::default();
            registry.register(
                "connected_sockets",
                "Sockets connected to this node, by namespace and Engine.IO transport",
                sockets.clone(),
            );
            let counter = |registry: &mut Registry, name: &str, help: &str| {
                let c = Counter::default();
                registry.register(name, help, c.clone());
                c
            };
            let packets_in = counter(
                &mut registry,
                "packets_received",
                "Socket.IO packets received (decoded)",
            );
            let messages_in = counter(
                &mut registry,
                "messages_received",
                "Engine.IO messages received (a binary packet is several)",
            );
            let bytes_in = counter(
                &mut registry,
                "received_bytes",
                "Bytes of the Engine.IO messages received",
            );
            let packets_out = counter(&mut registry, "packets_sent", "Socket.IO packets sent");
            let messages_out = counter(&mut registry, "messages_sent", "Engine.IO messages sent");
            let bytes_out = counter(
                &mut registry,
                "sent_bytes",
                "Bytes of the Engine.IO messages sent",
            );
            let refused = Family::<Labels, Counter>::default();
            registry.register(
                "refused_handshakes",
                "Requests and namespace connections refused, by reason",
                refused.clone(),
            );
            let slow_consumers = counter(
                &mut registry,
                "slow_consumer_disconnects",
                "Connections closed because their outgoing queue was full",
            );
            let adapter_latency =
                HistogramFamily::new_with_constructor(latency_histogram as fn() -> Histogram);
            registry.register(
                "adapter_request_duration_seconds",
                "Duration of the adapter's async requests (cluster-wide with a cluster adapter)",
                adapter_latency.clone(),
            );
            Inner {
                registry,
                sockets,
                packets_in,
                bytes_in,
                packets_out,
                bytes_out,
                messages_in,
                messages_out,
                refused,
                slow_consumers,
                adapter_latency,
                render: parking_lot::Mutex::new(()),
            }
        }
    }

    impl Inner {
        #[inline]
        pub(super) fn message_in(&self, bytes: usize) {
            self.messages_in.inc();
            self.bytes_in.inc_by(bytes as u64);
        }

        #[inline]
        pub(super) fn packet_out(&self, messages: usize, bytes: usize) {
            self.packets_out(1, messages, bytes);
        }

        pub(super) fn packets_out(&self, packets: usize, messages: usize, bytes: usize) {
            self.packets_out.inc_by(packets as u64);
            self.messages_out.inc_by(messages as u64);
            self.bytes_out.inc_by(bytes as u64);
        }
    }

    /// Times the async requests of the namespace's adapter; everything else is forwarded as is.
    /// Every method is forwarded, the hooks and `local` too: the inner adapter's overrides
    /// must run, not the trait's defaults on the decorator. The hooks are not timed (the
    /// operations calling them are).
    pub(crate) struct MeasuredAdapter {
        pub(super) inner: Arc<dyn Adapter>,
        pub(super) metrics: Arc<Inner>,
        pub(super) nsp: String,
    }

    impl MeasuredAdapter {
        async fn timed<T>(&self, op: &'static str, fut: impl Future<Output = T>) -> T {
            let start = Instant::now();
            let out = fut.await;
            let elapsed: Duration = start.elapsed();
            self.metrics
                .adapter_latency
                .get_or_create(&vec![
                    ("namespace", self.nsp.clone()),
                    ("op", op.to_owned()),
                ])
                .observe(elapsed.as_secs_f64());
            out
        }
    }

    #[async_trait]
    impl Adapter for MeasuredAdapter {
        fn local(&self) -> &LocalAdapter {
            self.inner.local()
        }
        async fn init(&self) -> Result<(), AdapterError> {
            self.inner.init().await
        }
        async fn close(&self) -> Result<(), AdapterError> {
            self.inner.close().await
        }
        fn add_all(&self, sid: &Sid, rooms: &[Room]) {
            self.inner.add_all(sid, rooms);
        }
        fn del(&self, sid: &str, room: &str) {
            self.inner.del(sid, room);
        }
        fn del_all(&self, sid: &str) {
            self.inner.del_all(sid);
        }
        fn socket_rooms(&self, sid: &str) -> Option<HashSet<Room>> {
            self.inner.socket_rooms(sid)
        }
        fn broadcast(&self, packet: Packet, opts: BroadcastOptions) -> Result<(), AdapterError> {
            self.inner.broadcast(packet, opts)
        }
        fn broadcast_with_ack(
            &self,
            packet: Packet,
            opts: BroadcastOptions,
            sink: BroadcastAckSink,
        ) -> Result<(), AdapterError> {
            self.inner.broadcast_with_ack(packet, opts, sink)
        }
        async fn sockets(&self, rooms: HashSet<Room>) -> Result<HashSet<Sid>, AdapterError> {
            self.timed("sockets", self.inner.sockets(rooms)).await
        }
        async fn all_rooms(&self) -> Result<HashSet<Room>, AdapterError> {
            self.timed("all_rooms", self.inner.all_rooms()).await
        }
        async fn fetch_sockets(
            &self,
            opts: BroadcastOptions,
        ) -> Result<Vec<SocketInfo>, AdapterError> {
            self.timed("fetch_sockets", self.inner.fetch_sockets(opts))
                .await
        }
        async fn add_sockets(
            &self,
            opts: BroadcastOptions,
            rooms: Vec<Room>,
        ) -> Result<(), AdapterError> {
            self.timed("add_sockets", self.inner.add_sockets(opts, rooms))
                .await
        }
        async fn del_sockets(
            &self,
            opts: BroadcastOptions,
            rooms: Vec<Room>,
        ) -> Result<(), AdapterError> {
            self.timed("del_sockets", self.inner.del_sockets(opts, rooms))
                .await
        }
        async fn disconnect_sockets(
            &self,
            opts: BroadcastOptions,
            close: bool,
        ) -> Result<(), AdapterError> {
            self.timed(
                "disconnect_sockets",
                self.inner.disconnect_sockets(opts, close),
            )
            .await
        }
        async fn server_side_emit(&self, args: Vec<Value>) -> Result<(), AdapterError> {
            self.timed("server_side_emit", self.inner.server_side_emit(args))
                .await
        }
        async fn server_side_emit_with_ack(
            &self,
            args: Vec<Value>,
            timeout: Duration,
        ) -> Result<Vec<Value>, AdapterError> {
            self.timed(
                "server_side_emit_with_ack",
                self.inner.server_side_emit_with_ack(args, timeout),
            )
            .await
        }
        async fn server_count(&self) -> Result<usize, AdapterError> {
            self.timed("server_count", self.inner.server_count()).await
        }
        fn track_session(&self, sid: &Sid, pid: &Sid) {
            self.inner.track_session(sid, pid);
        }
        async fn persist_session(&self, session: PersistedSession) -> Result<(), AdapterError> {
            self.timed("persist_session", self.inner.persist_session(session))
                .await
        }
        async fn restore_session(
            &self,
            pid: &str,
            offset: &str,
        ) -> Result<Option<RestoredSession>, AdapterError> {
            self.timed("restore_session", self.inner.restore_session(pid, offset))
                .await
        }
        fn publish_broadcast(
            &self,
            packet: &Packet,
            opts: &BroadcastOptions,
        ) -> Result<(), AdapterError> {
            self.inner.publish_broadcast(packet, opts)
        }
        fn publish_broadcast_with_ack(
            &self,
            packet: &Packet,
            opts: &BroadcastOptions,
            sink: &BroadcastAckSink,
        ) -> Result<(), AdapterError> {
            self.inner.publish_broadcast_with_ack(packet, opts, sink)
        }
        async fn publish_command(&self, command: RemoteCommand) -> Result<(), AdapterError> {
            self.inner.publish_command(command).await
        }
        async fn remote_sockets(&self, rooms: HashSet<Room>) -> Result<Vec<Sid>, AdapterError> {
            self.inner.remote_sockets(rooms).await
        }
        async fn remote_rooms(&self) -> Result<Vec<Room>, AdapterError> {
            self.inner.remote_rooms().await
        }
        async fn remote_fetch_sockets(
            &self,
            opts: BroadcastOptions,
        ) -> Result<Vec<SocketInfo>, AdapterError> {
            self.inner.remote_fetch_sockets(opts).await
        }
    }
}
