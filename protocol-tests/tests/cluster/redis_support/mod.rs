//! Shared by the `redis_*` tests: a recording [`LocalNamespace`] that stands in for a Socket.IO
//! server node, so the Redis adapter can be tested against real Redis and real Node.js nodes
//! before (and independently of) our server.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod bench;
pub mod mixed;

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use engine_io::{Message, Str};
use serde_json::{json, Value as Json};
use socketio_adapter::redis::{RedisAdapterConfig, RedisAdapterFactory, RedisMode};
use socketio_adapter::{
    Adapter, AdapterContext, AdapterFactory, BroadcastAckSink, BroadcastFlags, DeliverError,
    EncodedPacket, Handshake, LocalNamespace, ServerSideAck, SocketInfo,
};
use socketio_parser::{Packet, Value};
use socketio_server::{SocketIo, SocketRef};

/// What a fake socket received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub sid: String,
    /// `{"data": [event, ...args], "id": ack id or null}` as JSON (binary as byte arrays).
    pub packet: Json,
    pub ack: Option<BroadcastAckSink>,
}

/// A namespace of fake sockets that records everything the adapter does to them.
pub struct FakeNamespace {
    pub name: String,
    pub deliveries: Mutex<Vec<Delivery>>,
    pub disconnected: Mutex<Vec<(String, bool)>>,
    pub server_side: Mutex<Vec<Vec<Value>>>,
    /// What this node answers to a server-side emit with ack.
    pub ack_reply: String,
}

impl FakeNamespace {
    pub fn new(name: &str, ack_reply: &str) -> Arc<Self> {
        Arc::new(FakeNamespace {
            name: name.to_owned(),
            deliveries: Mutex::new(Vec::new()),
            disconnected: Mutex::new(Vec::new()),
            server_side: Mutex::new(Vec::new()),
            ack_reply: ack_reply.to_owned(),
        })
    }

    /// The deliveries of `event`, waiting up to `timeout` until at least `min` arrived.
    pub fn wait_deliveries(&self, event: &str, min: usize, timeout: Duration) -> Vec<Delivery> {
        let deadline = Instant::now() + timeout;
        loop {
            let found: Vec<Delivery> = self
                .deliveries
                .lock()
                .unwrap()
                .iter()
                .filter(|d| d.packet["data"][0] == event)
                .cloned()
                .collect();
            if found.len() >= min || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The sids that received `event` (sorted), after waiting for `min` of them.
    pub fn receivers(&self, event: &str, min: usize) -> Vec<String> {
        let mut sids: Vec<String> = self
            .wait_deliveries(event, min, Duration::from_secs(5))
            .into_iter()
            .map(|d| d.sid)
            .collect();
        sids.sort();
        sids
    }
}

impl LocalNamespace for FakeNamespace {
    fn name(&self) -> &str {
        &self.name
    }

    fn encode(&self, packet: &Packet) -> EncodedPacket {
        let data = packet.data.clone().map(Json::from).unwrap_or(Json::Null);
        let text = json!({"data": data, "id": packet.id}).to_string();
        EncodedPacket::new(vec![Message::Text(Str::from(text))])
    }

    fn deliver(
        &self,
        sid: &str,
        packet: &EncodedPacket,
        _flags: &BroadcastFlags,
    ) -> Result<(), DeliverError> {
        let Some(Message::Text(text)) = packet.messages().first() else {
            return Err(DeliverError::UnknownSocket);
        };
        self.deliveries.lock().unwrap().push(Delivery {
            sid: sid.to_owned(),
            packet: serde_json::from_str(text.as_str()).unwrap(),
            ack: None,
        });
        Ok(())
    }

    fn deliver_with_ack(
        &self,
        sid: &str,
        packet: &EncodedPacket,
        flags: &BroadcastFlags,
        _ack_id: u64,
        sink: &BroadcastAckSink,
    ) -> Result<(), DeliverError> {
        self.deliver(sid, packet, flags)?;
        if let Some(last) = self.deliveries.lock().unwrap().last_mut() {
            last.ack = Some(sink.clone());
        }
        Ok(())
    }

    fn disconnect(&self, sid: &str, close: bool) {
        self.disconnected
            .lock()
            .unwrap()
            .push((sid.to_owned(), close));
    }

    fn socket_info(&self, sid: &str) -> Option<SocketInfo> {
        Some(SocketInfo {
            id: sid.into(),
            handshake: Handshake {
                address: "10.0.0.1".into(),
                auth: Value::from(json!({"name": sid})),
                ..Default::default()
            },
            rooms: Vec::new(),
            data: Value::from(json!({"name": sid, "node": self.name})),
        })
    }

    fn on_server_side_emit(&self, args: Vec<Value>, ack: Option<ServerSideAck>) {
        self.server_side.lock().unwrap().push(args);
        if let Some(ack) = ack {
            ack(Value::from(self.ack_reply.as_str()));
        }
    }
}

/// One of our nodes: a Redis adapter for namespace `/` over its own Redis connection (as a
/// separate process would have), with fake sockets.
pub struct RustNode {
    pub ns: Arc<FakeNamespace>,
    pub adapter: Arc<dyn Adapter>,
    pub factory: RedisAdapterFactory,
}

impl RustNode {
    pub async fn start(redis_url: &str, name: &str, config: RedisAdapterConfig) -> RustNode {
        let factory = tokio::time::timeout(
            Duration::from_secs(10),
            RedisAdapterFactory::connect(redis_url, config),
        )
        .await
        .expect("connect timeout")
        .expect("connect");
        let ns = FakeNamespace::new(name, &format!("{name}-ack"));
        let weak: Weak<dyn LocalNamespace> =
            Arc::downgrade(&(ns.clone() as Arc<dyn LocalNamespace>));
        let adapter = factory.create(AdapterContext {
            namespace: weak,
            name: "/".into(),
            recovery: None,
        });
        adapter.init().await.expect("init");
        RustNode {
            ns,
            adapter,
            factory,
        }
    }

    /// Adds a fake socket in its own room plus `rooms`.
    pub fn add_socket(&self, sid: &str, rooms: &[&str]) {
        let mut all: Vec<socketio_adapter::Room> = vec![sid.into()];
        all.extend(rooms.iter().map(|r| socketio_adapter::Room::from(*r)));
        self.adapter.add_all(&sid.into(), &all);
    }
}

/// Waits until `PUBSUB NUMSUB` of the request channel of `/` reports `n` nodes.
pub async fn wait_for_nodes(adapter: &Arc<dyn Adapter>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if adapter.server_count().await.ok() == Some(n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster never reached {n} nodes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub type ServerSideLog = Arc<Mutex<Vec<(String, Vec<Value>)>>>;

/// One of our servers, configured like `redis-node-server.js`: clients join the rooms of their
/// `auth.rooms`, `socket.data` is `{name, node}`, server-side events `hello`/`ping` are logged
/// and acked with `<node>-ack`.
pub struct RustServer {
    pub io: SocketIo,
    pub port: u16,
    pub server_side: ServerSideLog,
}

impl RustServer {
    pub async fn start(redis_url: &str, node: &'static str, mode: RedisMode) -> RustServer {
        Self::start_with(redis_url, node, mode, None).await
    }

    /// Like [`RustServer::start`], with connection state recovery when `recovery` is set.
    pub async fn start_with(
        redis_url: &str,
        node: &'static str,
        mode: RedisMode,
        recovery: Option<socketio_adapter::RecoveryConfig>,
    ) -> RustServer {
        let factory = tokio::time::timeout(
            Duration::from_secs(5),
            RedisAdapterFactory::connect(redis_url, RedisAdapterConfig::default().mode(mode)),
        )
        .await
        .unwrap()
        .unwrap();
        Self::start_on(factory, node, recovery).await
    }

    /// Like [`RustServer::start_with`], with the Redis Streams adapter.
    pub async fn start_streams(
        redis_url: &str,
        node: &'static str,
        config: socketio_adapter::redis_streams::StreamsAdapterConfig,
        recovery: Option<socketio_adapter::RecoveryConfig>,
    ) -> RustServer {
        let factory = tokio::time::timeout(
            Duration::from_secs(5),
            socketio_adapter::redis_streams::StreamsAdapterFactory::connect(redis_url, config),
        )
        .await
        .unwrap()
        .unwrap();
        Self::start_on(factory, node, recovery).await
    }

    /// A server on any adapter factory. A recovered socket keeps its restored rooms and data.
    pub async fn start_on(
        factory: impl AdapterFactory,
        node: &'static str,
        recovery: Option<socketio_adapter::RecoveryConfig>,
    ) -> RustServer {
        let mut builder = SocketIo::builder().adapter(factory);
        if let Some(recovery) = recovery {
            builder = builder.connection_state_recovery(recovery);
        }
        let io = builder.build();
        let server_side: ServerSideLog = Arc::default();
        for nsp in ["/", "/admin"] {
            let ns = io.ns(nsp, move |socket: SocketRef| async move {
                if socket.recovered() {
                    return;
                }
                let auth = socket.handshake().auth.clone();
                let name = auth.get("name").cloned().unwrap_or(Value::Null);
                if let Some(Value::Array(rooms)) = auth.get("rooms") {
                    let rooms: Vec<String> = rooms
                        .iter()
                        .filter_map(|r| r.as_str().map(str::to_owned))
                        .collect();
                    socket.join(rooms);
                }
                let _ = socket.set_data(&json!({"name": Json::from(name), "node": node}));
            });
            for event in ["hello", "ping"] {
                let log = server_side.clone();
                ns.on_server_side(event, move |args, ack| {
                    log.lock().unwrap().push((event.to_owned(), args));
                    if let Some(ack) = ack {
                        ack(Value::from(format!("{node}-ack")));
                    }
                });
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let serving = io.clone();
        tokio::spawn(async move { serving.serve(listener).await });
        RustServer {
            io,
            port,
            server_side,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn wait_server_side(&self, event: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some((_, args)) = self
                .server_side
                .lock()
                .unwrap()
                .iter()
                .find(|(e, _)| e == event)
            {
                return args.clone();
            }
            assert!(Instant::now() < deadline, "no server-side {event}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
