//! The benchmark server measured by `scripts/bench.sh` (load generator
//! `protocol-tests/src/bin/sioload.rs`), equivalent to the npm peer `protocol-tests/js/bench-server.js`.
//!
//! Namespace `/`:
//! * `echo`: emits `echo` back to the sender with the same argument;
//! * `join`: joins the room named by the argument;
//! * `bcast`: emits `bcast` with the same argument to every socket in room `bench`.
//!
//! ```text
//! cargo run --release -p socketio-server --example bench_server -- --port 3100
//! ```
//!
//! Default settings otherwise (like the Node peer, which only sets CORS), no logging.
//!
//! `--redis redis://HOST:PORT` joins a cluster through the Redis adapter (wire-compatible with
//! npm `@socket.io/redis-adapter` 8.3): `bcast` then reaches room `bench` on every node.
//! `--cluster-engine` (with `--redis` or `--redis-streams`): any node serves any HTTP
//! long-polling request of any session over the same Redis (crate `engine-io-cluster`), so a
//! round-robin balancer needs no sticky sessions; the load tool measures local against foreign
//! polling round trips with it. `--no-direct-links` keeps the messages between its nodes on
//! Redis pub/sub (the path before direct links: the comparison of `scripts/cluster-bench.sh`
//! with `DIRECT=0`).
//! `--ping-interval MS` sets the Engine.IO heartbeat interval (default 25 s, as the reference): the
//! load tool's scale mode uses a short one to measure the CPU that heartbeats cost.
//! `--redis-streams redis://HOST:PORT` joins a cluster through the Redis Streams adapter
//! (wire-compatible with npm `@socket.io/redis-streams-adapter` 0.3.1) instead: `bcast` then
//! reaches room `bench` on every node too.
//! `--recovery` turns connection state recovery on (maxDisconnectionDuration 2 minutes,
//! skipMiddlewares); with `--redis-streams`, a client recovers its session on any node.
//! `--webtransport` serves the WebTransport transport too (feature `webtransport`, a default
//! one), over HTTP/3 on UDP 127.0.0.1 at the same port number, with a self-signed certificate
//! generated at start; the handshake then lists `"webtransport"` in `upgrades`. Right after the
//! `listening` line it prints one line `webtransport-cert-hash <base64>` (the certificate's
//! SHA-256), which the load tool takes as `--cert-hash` (`sioload echo --transport webtransport`).
//! Prints `listening <port>` once it accepts connections.
//!
//! Runtime: a single-threaded (`current_thread`) tokio runtime, like the floor peer.
//! `scripts/bench.sh` pins every server to one CPU; a multi-threaded runtime there only adds
//! cross-thread wake-ups (futex calls, work stealing) between workers that share that CPU.
//! A deployment that wants several cores runs one such server per core (behind a load
//! balancer, with a cluster adapter) or uses the default multi-threaded runtime: the
//! library works with either.

mod support;

use engine_io_cluster::{ClusterConfig, ClusterEngine};
use socketio_adapter::redis::{RedisAdapterConfig, RedisAdapterFactory};
use socketio_adapter::redis_streams::{StreamsAdapterConfig, StreamsAdapterFactory};
use socketio_server::{Args, Data, RecoveryConfig, SocketIo, SocketRef};

/// What the command line sets.
struct Options {
    port: u16,
    redis: Option<String>,
    redis_streams: Option<String>,
    recovery: bool,
    ping_interval: Option<std::time::Duration>,
    cluster_engine: bool,
    direct_links: bool,
    webtransport: bool,
}

/// `--port P`, `--redis URL`, `--redis-streams URL`, `--recovery`, `--ping-interval MS` and
/// `--cluster-engine`, `--no-direct-links`, `--webtransport`.
fn options_from_args() -> Result<Options, String> {
    let mut port = 3100;
    let mut redis = None;
    let mut redis_streams = None;
    let mut recovery = false;
    let mut ping_interval = None;
    let mut cluster_engine = false;
    let mut direct_links = true;
    let mut webtransport = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or("--port needs a value")?;
                port = value.parse().map_err(|e| format!("--port {value}: {e}"))?;
            }
            "--redis" => {
                redis = Some(
                    args.next()
                        .ok_or("--redis needs a value (redis://HOST:PORT)")?,
                );
            }
            "--ping-interval" => {
                let value = args.next().ok_or("--ping-interval needs a value (ms)")?;
                let ms: u64 = value
                    .parse()
                    .map_err(|e| format!("--ping-interval {value}: {e}"))?;
                ping_interval = Some(std::time::Duration::from_millis(ms));
            }
            "--redis-streams" => {
                redis_streams = Some(
                    args.next()
                        .ok_or("--redis-streams needs a value (redis://HOST:PORT)")?,
                );
            }
            "--recovery" => recovery = true,
            "--cluster-engine" => cluster_engine = true,
            "--no-direct-links" => direct_links = false,
            "--webtransport" if cfg!(feature = "webtransport") => webtransport = true,
            // Also accept the port alone, like the Node peer.
            other => {
                port = other
                    .parse()
                    .map_err(|_| format!("unknown argument {other}"))?
            }
        }
    }
    Ok(Options {
        port,
        redis,
        ping_interval,
        redis_streams,
        recovery,
        cluster_engine,
        direct_links,
        webtransport,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Options {
        port,
        redis,
        ping_interval,
        redis_streams,
        recovery,
        cluster_engine,
        direct_links,
        webtransport,
    } = match options_from_args() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("bench_server: {e}");
            std::process::exit(2);
        }
    };
    let mut builder = SocketIo::builder().cors(engine_io::Cors::any());
    if let Some(interval) = ping_interval {
        builder = builder.ping_interval(interval);
    }
    if webtransport {
        builder = builder.engine_io(|c| c.transports.push(engine_io::TransportType::Webtransport));
    }
    if let Some(url) = &redis {
        match RedisAdapterFactory::connect(url, RedisAdapterConfig::default()).await {
            Ok(factory) => builder = builder.adapter(factory),
            Err(e) => {
                eprintln!("bench_server: cannot connect to redis {url}: {e}");
                std::process::exit(1);
            }
        }
    }
    if let Some(url) = &redis_streams {
        match StreamsAdapterFactory::connect(url, StreamsAdapterConfig::default()).await {
            Ok(factory) => builder = builder.adapter(factory),
            Err(e) => {
                eprintln!("bench_server: cannot connect to redis {url}: {e}");
                std::process::exit(1);
            }
        }
    }
    if recovery {
        builder = builder.connection_state_recovery(RecoveryConfig {
            max_disconnection_duration: std::time::Duration::from_secs(120),
            skip_middlewares: true,
        });
    }
    let engine = if cluster_engine {
        let Some(url) = redis.as_ref().or(redis_streams.as_ref()) else {
            eprintln!("bench_server: --cluster-engine needs --redis or --redis-streams");
            std::process::exit(2);
        };
        let mut config = ClusterConfig::default();
        config.direct_links = direct_links;
        match ClusterEngine::connect(url.as_str(), config).await {
            Ok(engine) => Some(engine),
            Err(e) => {
                eprintln!("bench_server: cannot connect to redis {url}: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    if let Some(engine) = &engine {
        builder = builder.engine_io(|c| c.cluster = Some(engine.hook()));
    }
    let io = builder.build();
    if let Some(engine) = &engine {
        engine.attach(io.engine().clone());
    }
    let broadcaster = io.clone();
    io.ns("/", move |socket: SocketRef| {
        let io = broadcaster.clone();
        async move {
            socket.on("echo", |socket: SocketRef, Args(args): Args| async move {
                let _ = socket.emit("echo", Args(args));
            });
            socket.on(
                "join",
                |socket: SocketRef, Data(room): Data<String>| async move {
                    socket.join(room);
                },
            );
            socket.on("bcast", move |Args(args): Args| {
                let io = io.clone();
                async move {
                    let _ = io.to("bench").emit("bcast", Args(args));
                }
            });
        }
    });
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bench_server: cannot bind port {port}: {e}");
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    #[cfg(feature = "webtransport")]
    let cert_hash = webtransport.then(|| support::serve_webtransport(&io, port, "bench_server"));
    println!("listening {port}");
    #[cfg(feature = "webtransport")]
    if let Some(hash) = cert_hash {
        println!("webtransport-cert-hash {hash}");
    }
    if let Err(e) = io.serve(listener).await {
        eprintln!("bench_server: {e}");
        std::process::exit(1);
    }
}
