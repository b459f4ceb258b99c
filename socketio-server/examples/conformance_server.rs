//! The Socket.IO conformance server: the setup of the official Socket.IO v5 test suite, used by
//! `protocol-tests` (raw-frame tests and npm client interop), mirroring
//! `protocol-tests/js/socketio-reference.js` (the npm `socket.io` server with the same setup)
//! flag for flag and handler for handler.
//!
//! ```text
//! cargo run -p socketio-server --example socketio_conformance_server -- [--port 3000] [--interop]
//!     [--recovery] [--msgpack] [--eio3] [--default-heartbeat] [--redis-streams redis://HOST:PORT]
//!     [--redis redis://HOST:PORT] [--cluster-engine] [--metrics] [--admin] [--webtransport]
//! ```
//!
//! * pingInterval 300 ms, pingTimeout 200 ms, connectTimeout 1000 ms, maxHttpBufferSize 1e6,
//!   CORS `*`, connection state recovery off.
//! * `/`: on connection emits `auth` with the handshake auth; `message` is answered by emitting
//!   `message-back` with the same arguments; `message-with-ack` is acknowledged with the same
//!   arguments. `/custom` emits `auth` on connection.
//! * `--interop`: the handlers the interop tests call (`join`, `leave`, `socket-broadcast`,
//!   `server-broadcast`, `broadcast-with-ack`, `ask-client`, `whoami`, `server-disconnect`), `/restricted` behind a
//!   middleware refusing with data unless `auth.token == "secret"`, dynamic namespaces
//!   `/dyn-<a-z0-9>`, and `/packet-mw` whose sockets have an async packet middleware (waits
//!   10 ms; refuses `forbidden` with data, reported by emitting `mw-error`; renames `old-name`
//!   to `new-name`; emits `after` once the `slow` handler is done).
//! * `--recovery`: connection state recovery (maxDisconnectionDuration 30 s, skipMiddlewares).
//! * `--msgpack`: the msgpack parser. `--eio3`: accept Socket.IO 2.x (Engine.IO v3) clients.
//! * `--default-heartbeat`: the reference's default pingInterval 25 s / pingTimeout 20 s
//!   (load tests whose peers are busy for longer than 500 ms at a time).
//! * `--redis-streams URL`: join a cluster through the Redis Streams adapter (wire-compatible
//!   with npm `@socket.io/redis-streams-adapter` 0.3.1); with `--recovery`, a client recovers
//!   its session on any node of the cluster.
//! * `--redis URL`: join a cluster through the Redis adapter (wire-compatible with npm
//!   `@socket.io/redis-adapter` 8.3): broadcasts and rooms span every node.
//! * `--cluster-engine`: with `--redis` (or `--redis-streams`), any node serves any HTTP
//!   long-polling request of any session, over the same Redis (crate `engine-io-cluster`):
//!   behind a round-robin load balancer without sticky sessions, cookie-less polling clients
//!   work. A WebSocket upgrade that reaches a node other than the session's owner is refused and
//!   the client keeps polling.
//! * `--metrics`: Prometheus metrics, served at `/metrics` on the same port (feature `metrics`).
//! * `--admin`: the `@socket.io/admin-ui` instrumentation, no authentication (feature
//!   `admin-ui`); point the Admin UI at `http://localhost:<port>` with the `/admin` namespace.
//! * `--webtransport`: the WebTransport transport too (feature `webtransport`), over HTTP/3 on
//!   UDP 127.0.0.1 at the same port number, with a self-signed certificate generated at start
//!   (ECDSA P-256, valid 14 days: what Chromium's `serverCertificateHashes` accepts); the
//!   handshake then lists `"webtransport"` in `upgrades`. Prints, right after the `listening`
//!   line, exactly one line `webtransport-cert-hash <base64>`: the SHA-256 of the certificate
//!   (DER), for `serverCertificateHashes`.
//!
//! `--port 0` picks a free port. Prints `listening <port>` once it accepts connections.
//!
//! The example is named `socketio_conformance_server` in `Cargo.toml`: engine-io has its own
//! `conformance_server` and the two binaries would overwrite each other in `target/`.

mod support;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use engine_io_cluster::{ClusterConfig, ClusterEngine};
use serde::Serialize;
use socketio_adapter::redis::{RedisAdapterConfig, RedisAdapterFactory};
use socketio_adapter::redis_streams::{StreamsAdapterConfig, StreamsAdapterFactory};
use socketio_server::{
    AckSender, Args, ConnectError, Data, IncomingEvent, Next, PacketError, ParentNamespace, Parser,
    RecoveryConfig, SocketIo, SocketRef, Value,
};

#[derive(Debug, Default)]
struct Options {
    port: u16,
    interop: bool,
    recovery: bool,
    msgpack: bool,
    eio3: bool,
    default_heartbeat: bool,
    redis_streams: Option<String>,
    redis: Option<String>,
    cluster_engine: bool,
    metrics: bool,
    admin: bool,
    webtransport: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        port: 3000,
        ..Options::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or("--port needs a value")?;
                opts.port = value.parse().map_err(|e| format!("--port {value}: {e}"))?;
            }
            "--interop" => opts.interop = true,
            "--recovery" => opts.recovery = true,
            "--msgpack" => opts.msgpack = true,
            "--eio3" => opts.eio3 = true,
            "--default-heartbeat" => opts.default_heartbeat = true,
            "--redis-streams" => {
                opts.redis_streams = Some(
                    args.next()
                        .ok_or("--redis-streams needs a value (redis://HOST:PORT)")?,
                );
            }
            "--redis" => {
                opts.redis = Some(
                    args.next()
                        .ok_or("--redis needs a value (redis://HOST:PORT)")?,
                );
            }
            "--cluster-engine" => opts.cluster_engine = true,
            "--metrics" => opts.metrics = true,
            "--admin" => opts.admin = true,
            "--webtransport" => opts.webtransport = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(opts)
}

/// The conformance handlers of `/`.
fn conformance_main(socket: &SocketRef) {
    let _ = socket.emit("auth", Args(vec![socket.handshake().auth.clone()]));
    socket.on(
        "message",
        |socket: SocketRef, Args(args): Args| async move {
            let _ = socket.emit("message-back", Args(args));
        },
    );
    socket.on(
        "message-with-ack",
        |Args(args): Args, ack: AckSender| async move {
            let _ = ack.send(Args(args));
        },
    );
}

/// Room names from a string or an array of strings (like `socket.join` in Node).
fn room_names(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The socket's rooms, without its own id, sorted.
fn rooms_of(socket: &SocketRef) -> Vec<String> {
    let mut rooms: Vec<String> = socket
        .rooms()
        .iter()
        .filter(|r| ***r != **socket.id())
        .map(|r| r.to_string())
        .collect();
    rooms.sort();
    rooms
}

#[derive(Serialize)]
struct WhoAmI {
    id: String,
    nsp: String,
    rooms: Vec<String>,
    recovered: bool,
    auth: Value,
    query: Query,
}

#[derive(Serialize)]
struct Query {
    foo: Option<String>,
}

#[derive(Serialize)]
struct AskResult {
    err: Option<String>,
    resp: Vec<Value>,
}

/// What the interop handlers need besides the socket.
struct Ctx {
    io: SocketIo,
    /// The parent of the dynamic namespaces (set once they are declared).
    parent: OnceLock<ParentNamespace>,
}

/// The extra handlers the interop tests call (same names and answers as the Node fixture).
fn interop(socket: &SocketRef, ctx: &Arc<Ctx>) {
    socket.on(
        "join",
        |socket: SocketRef, Data(rooms): Data<Value>, ack: AckSender| async move {
            socket.join(room_names(Some(&rooms)));
            let _ = ack.send(&rooms_of(&socket));
        },
    );
    socket.on(
        "leave",
        |socket: SocketRef, Data(room): Data<String>, ack: AckSender| async move {
            socket.leave(room);
            let _ = ack.send(&rooms_of(&socket));
        },
    );
    socket.on(
        "socket-broadcast",
        |socket: SocketRef, Data(req): Data<Value>, ack: AckSender| async move {
            let event = req.get("event").and_then(Value::as_str).unwrap_or("");
            let args = req.get("args").and_then(Value::as_array).cloned();
            let _ = socket
                .to(room_names(req.get("rooms")))
                .except(room_names(req.get("except")))
                .emit(event, Args(args.unwrap_or_default()));
            let _ = ack.send("done");
        },
    );
    let ctx_cast = ctx.clone();
    socket.on(
        "server-broadcast",
        move |socket: SocketRef, Data(req): Data<Value>, ack: AckSender| {
            let ctx = ctx_cast.clone();
            async move {
                let event = req.get("event").and_then(Value::as_str).unwrap_or("");
                let args = req
                    .get("args")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let to_parent = req.get("parent").and_then(Value::as_bool) == Some(true);
                let op = match (ctx.parent.get(), ctx.io.of(socket.ns_name())) {
                    (Some(p), _) if to_parent => p.broadcast(),
                    (_, Some(ns)) => ns.broadcast(),
                    // The namespace of a connected socket always exists.
                    (_, None) => return,
                };
                let _ = op
                    .to(room_names(req.get("rooms")))
                    .except(room_names(req.get("except")))
                    .emit(event, Args(args));
                let _ = ack.send("done");
            }
        },
    );
    socket.on(
        "ask-client",
        |socket: SocketRef,
         Data((event, args, timeout_ms)): Data<(String, Vec<Value>, u64)>,
         ack: AckSender| async move {
            // The raw argument list: binary kept, a single array answer stays one argument.
            let answer = match socket.emit_with_ack::<_, Args>(&event, Args(args)) {
                Ok(pending) => pending.timeout(Duration::from_millis(timeout_ms)).await,
                Err(e) => {
                    let _ = ack.send(&AskResult {
                        err: Some(e.to_string()),
                        resp: Vec::new(),
                    });
                    return;
                }
            };
            let result = match answer {
                Ok(Args(resp)) => AskResult { err: None, resp },
                Err(e) => AskResult {
                    err: Some(e.to_string()),
                    resp: Vec::new(),
                },
            };
            let _ = ack.send(&result);
        },
    );
    // A broadcast with acks from the namespace: one answer (first argument) per recipient.
    let ctx_ack = ctx.clone();
    socket.on(
        "broadcast-with-ack",
        move |socket: SocketRef, Data(req): Data<Value>, ack: AckSender| {
            let ctx = ctx_ack.clone();
            async move {
                let Some(ns) = ctx.io.of(socket.ns_name()) else {
                    return;
                };
                let event = req.get("event").and_then(Value::as_str).unwrap_or("");
                let args = req
                    .get("args")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let timeout = req.get("timeout").and_then(Value::as_u64).unwrap_or(1000);
                let answers = match ns
                    .to(room_names(req.get("rooms")))
                    .timeout(Duration::from_millis(timeout))
                    .emit_with_ack::<_, Args>(event, Args(args))
                {
                    Ok(acks) => acks.await,
                    Err(e) => Err(e.into()),
                };
                let result = match answers {
                    // The reference passes each recipient's first argument on.
                    Ok(resp) => AskResult {
                        err: None,
                        resp: resp
                            .into_iter()
                            .map(|Args(args)| args.into_iter().next().unwrap_or(Value::Null))
                            .collect(),
                    },
                    Err(e) => AskResult {
                        err: Some(e.to_string()),
                        resp: Vec::new(),
                    },
                };
                let _ = ack.send(&result);
            }
        },
    );
    socket.on("whoami", |socket: SocketRef, ack: AckSender| async move {
        let who = WhoAmI {
            id: socket.id().to_string(),
            nsp: socket.ns_name().to_owned(),
            rooms: rooms_of(&socket),
            recovered: socket.recovered(),
            auth: socket.handshake().auth.clone(),
            query: Query {
                foo: socket.handshake().query.get("foo").cloned(),
            },
        };
        let _ = ack.send(&who);
    });
    socket.on("server-disconnect", |socket: SocketRef| async move {
        socket.disconnect(false);
    });
}

/// What joins the process to a cluster: an adapter, and the cluster engine.
#[derive(Default)]
struct ClusterParts {
    streams: Option<StreamsAdapterFactory>,
    redis: Option<RedisAdapterFactory>,
    engine: Option<ClusterEngine>,
}

fn build(opts: &Options, cluster: ClusterParts) -> SocketIo {
    let (interval, timeout) = if opts.default_heartbeat {
        (25_000, 20_000)
    } else {
        (300, 200)
    };
    let mut builder = SocketIo::builder()
        .ping_interval(Duration::from_millis(interval))
        .ping_timeout(Duration::from_millis(timeout))
        .connect_timeout(Duration::from_millis(1000))
        .max_http_buffer_size(1_000_000)
        .cors(engine_io::Cors::any())
        .allow_eio3(opts.eio3)
        .metrics(opts.metrics);
    if opts.webtransport {
        builder = builder.engine_io(|c| c.transports.push(engine_io::TransportType::Webtransport));
    }
    if opts.recovery {
        builder = builder.connection_state_recovery(RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(30),
            skip_middlewares: true,
        });
    }
    if opts.msgpack {
        builder = builder.parser(Parser::MsgPack);
    }
    if let Some(factory) = cluster.streams {
        builder = builder.adapter(factory);
    }
    if let Some(factory) = cluster.redis {
        builder = builder.adapter(factory);
    }
    if let Some(engine) = &cluster.engine {
        builder = builder.engine_io(|c| c.cluster = Some(engine.hook()));
    }
    let io = builder.build();
    if let Some(engine) = &cluster.engine {
        engine.attach(io.engine().clone());
    }

    let ctx = Arc::new(Ctx {
        io: io.clone(),
        parent: OnceLock::new(),
    });
    let interop_on = opts.interop;
    let p = ctx.clone();
    io.ns("/", move |socket: SocketRef| {
        let p = p.clone();
        async move {
            conformance_main(&socket);
            if interop_on {
                interop(&socket, &p);
            }
        }
    });
    let p = ctx.clone();
    io.ns("/custom", move |socket: SocketRef| {
        let p = p.clone();
        async move {
            let _ = socket.emit("auth", Args(vec![socket.handshake().auth.clone()]));
            if interop_on {
                interop(&socket, &p);
            }
        }
    });

    if opts.interop {
        let restricted = io.of_or_create("/restricted");
        restricted.use_middleware(|socket: SocketRef| async move {
            let token = socket.handshake().auth.get("token").and_then(Value::as_str);
            if token == Some("secret") {
                Ok(())
            } else {
                Err(ConnectError::new("not authorized")
                    .with_data(serde_json::json!({"reason": "bad token", "code": 401})))
            }
        });
        let p = ctx.clone();
        restricted.on_connection(move |socket: SocketRef| {
            let p = p.clone();
            async move {
                let _ = socket.emit("auth", Args(vec![socket.handshake().auth.clone()]));
                interop(&socket, &p);
            }
        });

        io.ns("/packet-mw", |socket: SocketRef| async move {
            packet_middleware(&socket)
        });

        let p = ctx.clone();
        match io.dynamic_ns(r"^/dyn-[a-z0-9]+$", move |socket: SocketRef| {
            let p = p.clone();
            async move {
                let _ = socket.emit("welcome", socket.ns_name());
                interop(&socket, &p);
            }
        }) {
            Ok(dyn_parent) => {
                let _ = ctx.parent.set(dyn_parent);
            }
            Err(e) => eprintln!("invalid dynamic namespace pattern: {e}"),
        }
    }
    io
}

/// `/packet-mw`: an async per-packet middleware around the handlers (the Node fixture's
/// `socket.use`, plus what only ours can do: work after the handler).
fn packet_middleware(socket: &SocketRef) {
    socket.use_packet_middleware(
        |socket: SocketRef, mut ev: IncomingEvent, next: Next| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if ev.event == "forbidden" {
                return Err(
                    PacketError::new("forbidden event").with_data(serde_json::json!({"code": 403}))
                );
            }
            if ev.event == "old-name" {
                ev.event = "new-name".into();
            }
            let name = ev.event.clone();
            let result = next.run(ev).await;
            if name == "slow" {
                let _ = socket.emit("after", &name);
            }
            result
        },
    );
    socket.on_error(|socket, err| {
        let _ = socket.emit("mw-error", &err.message);
    });
    socket.on("echo", |Data(v): Data<Value>, ack: AckSender| async move {
        let _ = ack.send(&v);
    });
    socket.on(
        "new-name",
        |Data(v): Data<Value>, ack: AckSender| async move {
            let _ = ack.send(&format!("new-name:{}", v.as_i64().unwrap_or_default()));
        },
    );
    socket.on("slow", |socket: SocketRef| async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = socket.emit("handled", &());
    });
}

#[tokio::main]
async fn main() {
    support::init_logging();
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("conformance_server: {e}");
            std::process::exit(2);
        }
    };
    let fail = |url: &str, e: &dyn std::fmt::Display| -> ! {
        eprintln!("conformance_server: cannot connect to redis {url}: {e}");
        std::process::exit(1);
    };
    let mut cluster = ClusterParts::default();
    if let Some(url) = &opts.redis_streams {
        match StreamsAdapterFactory::connect(url, StreamsAdapterConfig::default()).await {
            Ok(factory) => cluster.streams = Some(factory),
            Err(e) => fail(url, &e),
        }
    }
    if let Some(url) = &opts.redis {
        match RedisAdapterFactory::connect(url, RedisAdapterConfig::default()).await {
            Ok(factory) => cluster.redis = Some(factory),
            Err(e) => fail(url, &e),
        }
    }
    if opts.cluster_engine {
        let Some(url) = opts.redis.as_ref().or(opts.redis_streams.as_ref()) else {
            eprintln!("conformance_server: --cluster-engine needs --redis or --redis-streams");
            std::process::exit(2);
        };
        match ClusterEngine::connect(url.as_str(), ClusterConfig::default()).await {
            Ok(engine) => cluster.engine = Some(engine),
            Err(e) => fail(url, &e),
        }
    }
    let io = build(&opts, cluster);
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "conformance_server: cannot bind 127.0.0.1:{}: {e}",
                opts.port
            );
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(opts.port);
    if opts.admin {
        support::instrument_admin_ui(&io);
    }
    support::exit_when_stdin_closes();
    let cert_hash = opts
        .webtransport
        .then(|| support::serve_webtransport(&io, port, "conformance_server"));
    println!("listening {port}");
    if let Some(hash) = cert_hash {
        println!("webtransport-cert-hash {hash}");
    }
    if let Some(metrics) = io.metrics() {
        // `/metrics` next to Socket.IO: the same port, through axum.
        let app = axum::Router::new()
            .route("/metrics", support::metrics_route(metrics))
            .layer(io.layer());
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("conformance_server: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = io.serve(listener).await {
        eprintln!("conformance_server: {e}");
        std::process::exit(1);
    }
}
