//! The Prometheus metrics (feature `metrics`) move with real traffic: WebSocket and polling
//! clients, refused handshakes, a slow consumer, adapter requests.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use socketio_server::{AckSender, ConnectError, Data, SocketIo, SocketRef};

mod support;
use support::{eventually, http, serve, Client};

/// The value of the sample `name{labels}` (exactly as printed), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .unwrap_or(0.0)
}

fn server() -> SocketIo {
    let io = SocketIo::builder()
        .metrics(true)
        .max_buffered_bytes(64)
        .build();
    io.ns("/", |socket: SocketRef| async move {
        socket.on(
            "echo",
            |Data(text): Data<String>, ack: AckSender| async move {
                let _ = ack.send(&text);
            },
        );
        // Far more than the 64-byte queue (about 4 messages) takes at once: the client is a slow consumer.
        socket.on("flood", |socket: SocketRef| async move {
            for i in 0..10_000 {
                if socket.emit("flood", &i).is_err() {
                    break;
                }
            }
        });
    });
    io.of_or_create("/private")
        .use_middleware(|_: SocketRef| async move { Err(ConnectError::new("no")) });
    io
}

#[tokio::test]
async fn counters_and_gauges_follow_real_traffic() {
    let io = server();
    let metrics = io.metrics().expect("metrics are enabled");
    let port = serve(&io).await;
    let before = metrics.render();
    assert!(
        before.contains("# TYPE socketio_packets_received counter"),
        "{before}"
    );
    assert_eq!(sample(&before, "socketio_packets_received_total"), 0.0);

    // One socket over WebSocket, one over polling.
    let mut ws = Client::open(port).await;
    assert!(ws.connect("").await.starts_with("0{"));
    let (status, open) = http(port, "GET", "/socket.io/?EIO=4&transport=polling", "").await;
    assert_eq!(status, 200, "{open}");
    let sid = open
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("sid in the open packet")
        .to_owned();
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(http(port, "POST", &path, "40").await.0, 200);
    let (_, reply) = http(port, "GET", &path, "").await;
    assert!(reply.starts_with("40{\"sid\":"), "{reply}");

    let text = metrics.render();
    assert_eq!(
        sample(
            &text,
            r#"socketio_connected_sockets{namespace="/",transport="websocket"}"#
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"socketio_connected_sockets{namespace="/",transport="polling"}"#
        ),
        1.0,
        "{text}"
    );

    // An event in, its ack out: the counters move by the packets and their bytes.
    let in_before = sample(&text, "socketio_packets_received_total");
    let out_before = sample(&text, "socketio_packets_sent_total");
    let bytes_in_before = sample(&text, "socketio_received_bytes_total");
    let bytes_out_before = sample(&text, "socketio_sent_bytes_total");
    ws.send(r#"421["echo","hello"]"#).await;
    assert_eq!(ws.packet().await, r#"31["hello"]"#);
    let text = metrics.render();
    assert_eq!(
        sample(&text, "socketio_packets_received_total"),
        in_before + 1.0
    );
    assert_eq!(
        sample(&text, "socketio_packets_sent_total"),
        out_before + 1.0
    );
    // The Engine.IO message payloads, without the Engine.IO packet type `4`.
    assert_eq!(
        sample(&text, "socketio_received_bytes_total"),
        bytes_in_before + r#"21["echo","hello"]"#.len() as f64
    );
    assert_eq!(
        sample(&text, "socketio_sent_bytes_total"),
        bytes_out_before + r#"31["hello"]"#.len() as f64
    );

    // Refusals by reason: Engine.IO's and Socket.IO's.
    let (status, _) = http(
        port,
        "GET",
        "/socket.io/?EIO=4&transport=carrier-pigeon",
        "",
    )
    .await;
    assert_eq!(status, 400);
    ws.send("40/nowhere,").await;
    assert!(ws.packet().await.starts_with("4/nowhere,"));
    ws.send("40/private,").await;
    assert!(ws.packet().await.starts_with("4/private,"));
    let text = metrics.render();
    for reason in ["unknown_transport", "invalid_namespace", "middleware"] {
        let series = format!(r#"socketio_refused_handshakes_total{{reason="{reason}"}}"#);
        assert_eq!(sample(&text, &series), 1.0, "{series}\n{text}");
    }

    // Adapter requests are timed.
    let sockets = io.fetch_sockets().await.unwrap();
    assert_eq!(sockets.len(), 2);
    let text = metrics.render();
    assert_eq!(
        sample(
            &text,
            r#"socketio_adapter_request_duration_seconds_count{namespace="/",op="fetch_sockets"}"#
        ),
        1.0,
        "{text}"
    );

    // A slow consumer is counted, and its socket is gone from the gauge.
    ws.send(r#"42["flood"]"#).await;
    eventually("slow consumer counted", || {
        sample(
            &metrics.render(),
            "socketio_slow_consumer_disconnects_total",
        ) == 1.0
    })
    .await;
    let text = metrics.render();
    assert_eq!(
        sample(
            &text,
            r#"socketio_connected_sockets{namespace="/",transport="websocket"}"#
        ),
        0.0,
        "{text}"
    );
}

#[tokio::test]
async fn metrics_are_off_unless_enabled() {
    let io = SocketIo::new();
    assert!(io.metrics().is_none());
}

/// A cluster adapter stand-in: its hooks answer for "other nodes" and record that they ran.
struct Recording {
    local: socketio_adapter::LocalAdapter,
    calls: std::sync::Arc<parking_lot::Mutex<Vec<&'static str>>>,
}

impl Recording {
    fn called(&self, what: &'static str) {
        self.calls.lock().push(what);
    }
}

#[async_trait::async_trait]
impl socketio_adapter::Adapter for Recording {
    fn local(&self) -> &socketio_adapter::LocalAdapter {
        &self.local
    }
    fn track_session(&self, _sid: &socketio_adapter::Sid, _pid: &socketio_adapter::Sid) {
        self.called("track_session");
    }
    fn publish_broadcast(
        &self,
        _packet: &socketio_parser::Packet,
        _opts: &socketio_adapter::BroadcastOptions,
    ) -> Result<(), socketio_adapter::AdapterError> {
        self.called("publish_broadcast");
        Ok(())
    }
    fn publish_broadcast_with_ack(
        &self,
        _packet: &socketio_parser::Packet,
        _opts: &socketio_adapter::BroadcastOptions,
        sink: &socketio_adapter::BroadcastAckSink,
    ) -> Result<(), socketio_adapter::AdapterError> {
        self.called("publish_broadcast_with_ack");
        sink.client_count(0);
        Ok(())
    }
    async fn publish_command(
        &self,
        _command: socketio_adapter::RemoteCommand,
    ) -> Result<(), socketio_adapter::AdapterError> {
        self.called("publish_command");
        Ok(())
    }
    async fn remote_sockets(
        &self,
        _rooms: std::collections::HashSet<socketio_adapter::Room>,
    ) -> Result<Vec<socketio_adapter::Sid>, socketio_adapter::AdapterError> {
        Ok(vec!["remote-sid".into()])
    }
    async fn remote_rooms(
        &self,
    ) -> Result<Vec<socketio_adapter::Room>, socketio_adapter::AdapterError> {
        Ok(vec!["remote-room".into()])
    }
    async fn remote_fetch_sockets(
        &self,
        _opts: socketio_adapter::BroadcastOptions,
    ) -> Result<Vec<socketio_adapter::SocketInfo>, socketio_adapter::AdapterError> {
        self.called("remote_fetch_sockets");
        Ok(Vec::new())
    }
}

/// The timing decorator forwards every method of the adapter trait, the hooks and `local`
/// included: a default running on the decorator instead would skip the adapter's own code.
#[tokio::test]
async fn the_timed_adapter_forwards_the_hooks_and_times_the_requests() {
    use socketio_adapter::{Adapter, AdapterContext, BroadcastOptions, RemoteCommand};
    let calls = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let c = calls.clone();
    let io = SocketIo::builder()
        .metrics(true)
        .adapter(move |ctx: AdapterContext| {
            std::sync::Arc::new(Recording {
                local: socketio_adapter::LocalAdapter::new(ctx),
                calls: c.clone(),
            }) as std::sync::Arc<dyn Adapter>
        })
        .build();
    let adapter = io.sockets().adapter().clone();
    let packet = socketio_parser::Packet::event("/", "e", vec![]);
    let opts = BroadcastOptions::default();

    // `local` is the inner adapter's: membership set through the decorator is there.
    adapter.add_all(&"a".into(), &["a".into(), "red".into()]);
    assert!(adapter
        .local()
        .socket_rooms_local("a")
        .unwrap()
        .contains("red"));
    adapter.track_session(&"a".into(), &"pid".into());
    adapter.publish_broadcast(&packet, &opts).unwrap();
    let (sink, _rx) = socketio_adapter::BroadcastAckSink::channel();
    adapter
        .publish_broadcast_with_ack(&packet.clone().with_id(1), &opts, &sink)
        .unwrap();
    adapter
        .publish_command(RemoteCommand::ServerSideEmit { args: vec![] })
        .await
        .unwrap();
    adapter.remote_fetch_sockets(opts.clone()).await.unwrap();
    assert_eq!(
        adapter.remote_sockets(Default::default()).await.unwrap(),
        [socketio_adapter::Sid::from("remote-sid")]
    );
    assert_eq!(
        adapter.remote_rooms().await.unwrap(),
        [socketio_adapter::Room::from("remote-room")]
    );
    assert_eq!(
        *calls.lock(),
        [
            "track_session",
            "publish_broadcast",
            "publish_broadcast_with_ack",
            "publish_command",
            "remote_fetch_sockets"
        ]
    );

    // The operations reach the hooks through the inner adapter, and are timed once each.
    assert!(adapter.all_rooms().await.unwrap().contains("remote-room"));
    assert!(adapter
        .sockets(Default::default())
        .await
        .unwrap()
        .contains("remote-sid"));
    let text = io.metrics().unwrap().render();
    for op in ["all_rooms", "sockets"] {
        let series = format!(
            r#"socketio_adapter_request_duration_seconds_count{{namespace="/",op="{op}"}}"#
        );
        assert_eq!(sample(&text, &series), 1.0, "{op}: {text}");
    }
    assert!(
        !text.contains(r#"op="remote_rooms""#),
        "hooks are not timed: {text}"
    );
}
