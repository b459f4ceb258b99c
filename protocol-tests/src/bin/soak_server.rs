//! The server of the soak and chaos suite (`protocol-tests/tests/soak.rs`): our Socket.IO server
//! with default limits and a handful of acknowledged events, so a test can prove that every
//! acknowledged message arrives, and read how many sessions are left.
//!
//! ```text
//! cargo run -p protocol-tests --bin soak_server -- --port 0 [--redis redis://127.0.0.1:6379]
//!     [--ping-interval MS] [--ping-timeout MS]
//! ```
//!
//! Namespace `/`:
//! * `echo` (with ack): acknowledged with the same arguments;
//! * `join` ROOM (with ack): joins ROOM, then acknowledges;
//! * `publish` ARGS… (with ack): emits `msg` with ARGS to room `soak` on every node of the
//!   cluster, then acknowledges with `true`, or with `false` when the broadcast failed (Redis
//!   down: only this node's receivers got it);
//! * `count` (with ack): acknowledged with `[engine_io_sessions, sockets_in_namespace]` of this
//!   node, both counting the asking client itself.
//!
//! Logs to stderr at `warn` (or `RUST_LOG`); the suite fails on any `panicked` line.
//! Prints `listening <port>` once it accepts connections; exits when its stdin (a pipe) closes.

// The example servers' harness helpers (logging, exit with the harness): one file for both.
#[path = "../../../socketio-server/examples/support/harness.rs"]
mod harness;

use std::time::Duration;

use socketio_adapter::redis::{RedisAdapterConfig, RedisAdapterFactory};
use socketio_server::{AckSender, Args, Data, SocketIo, SocketRef};

struct Options {
    port: u16,
    redis: Option<String>,
    ping_interval: Option<Duration>,
    ping_timeout: Option<Duration>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        port: 0,
        redis: None,
        ping_interval: None,
        ping_timeout: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let ms = |v: String| {
            v.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|e| format!("{v}: {e}"))
        };
        match arg.as_str() {
            "--port" => o.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--redis" => o.redis = Some(value()?),
            "--ping-interval" => o.ping_interval = Some(ms(value()?)?),
            "--ping-timeout" => o.ping_timeout = Some(ms(value()?)?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    harness::init_logging();
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("soak_server: {e}");
            std::process::exit(2);
        }
    };
    harness::exit_when_stdin_closes();
    let mut builder = SocketIo::builder();
    if let Some(d) = o.ping_interval {
        builder = builder.ping_interval(d);
    }
    if let Some(d) = o.ping_timeout {
        builder = builder.ping_timeout(d);
    }
    if let Some(url) = &o.redis {
        let config = RedisAdapterConfig::default().request_timeout(Duration::from_millis(1500));
        match RedisAdapterFactory::connect(url, config).await {
            Ok(factory) => builder = builder.adapter(factory),
            Err(e) => {
                eprintln!("soak_server: cannot connect to redis {url}: {e}");
                std::process::exit(1);
            }
        }
    }
    let io = builder.build();
    let handle = io.clone();
    io.ns("/", move |socket: SocketRef| {
        let io = handle.clone();
        async move {
            socket.on("echo", |Args(args): Args, ack: AckSender| async move {
                let _ = ack.send(Args(args));
            });
            socket.on(
                "join",
                |socket: SocketRef, Data(room): Data<String>, ack: AckSender| async move {
                    socket.join(room);
                    let _ = ack.send(&true);
                },
            );
            let publisher = io.clone();
            socket.on("publish", move |Args(args): Args, ack: AckSender| {
                let io = publisher.clone();
                async move {
                    let sent = io.to("soak").emit("msg", Args(args)).is_ok();
                    let _ = ack.send(&sent);
                }
            });
            socket.on("count", move |ack: AckSender| {
                let io = io.clone();
                async move {
                    let engine = io.engine().count() as u64;
                    let sockets = io.sockets().len() as u64;
                    let _ = ack.send(Args::new().arg(engine).arg(sockets));
                }
            });
        }
    });
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", o.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("soak_server: cannot bind port {}: {e}", o.port);
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(o.port);
    println!("listening {port}");
    if let Err(e) = io.serve(listener).await {
        eprintln!("soak_server: {e}");
        std::process::exit(1);
    }
}
