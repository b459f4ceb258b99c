//! The server the Rust `socketio-client` is tested against, built on `socketio-server`: a
//! one-to-one port of `protocol-tests/js/sioclient-peer.js` (the npm `socket.io` 4.8 fixture), so
//! `protocol-tests/tests/socketio/sioclient_interop.rs` runs the same feature tests against both.
//!
//! ```text
//! cargo run -p socketio-server --example client_peer -- [--port N] [--msgpack] [--recovery]
//!     [--ping-interval MS] [--ping-timeout MS]
//! ```
//!
//! Prints `listening <port>` once ready, then one JSON line per notable server-side happening
//! (`{"connection": nsp, ...}`, `{"disconnect": nsp, "reason": ...}`, `{"flaky": n, "args": [...]}`)
//! so tests can observe the server.
//!
//! Namespaces: `/`, `/admin`, `/chat` accept everyone; `/refused` refuses every connection in a
//! middleware (message "not authorized", data `{"code": 42}`); any other namespace is unknown.
//! Events every joined socket understands (same as the Node fixture):
//!
//! * `echo ...args` → emits `echo` with the same args back (binary preserved)
//! * `ack ...args, cb` → acks with the same args
//! * `whoami cb` → acks `{id, nsp, auth, recovered, transport, clientsCount, query, headers}`
//! * `stats cb` → acks `{clientsCount, sockets: {nsp: count}}`
//! * `ask [payload, timeoutMs]` → emits `question` payload to this socket with an ack, then
//!   emits `answer` with the reply args (or `answer-error` with the message)
//! * `count cb` → acks the number of events this socket received so far
//! * `server-disconnect` → the server disconnects this socket
//! * `close-transport` → the server closes the whole Engine.IO connection
//! * `drop-and-emit [n]` → closes the Engine.IO connection, then emits n `missed` events to all
//! * `tick [n]` → emits n `tick` events
//! * `big n` → emits `big` with a string of n bytes
//! * `send-binary` → emits `bin` `{data: <01 02 03>}`
//! * `flaky ...args, cb` → acks `("ok", n)` only on every third delivery n

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use socketio_server::{
    AckSender, Args, ConnectError, DisconnectReason, Parser, RecoveryConfig, SocketIo, SocketRef,
    Value,
};

/// The namespaces the fixture declares, in declaration order (the reference's `io._nsps`).
const NAMESPACES: [&str; 4] = ["/", "/admin", "/chat", "/refused"];

#[derive(Debug)]
struct Options {
    port: u16,
    msgpack: bool,
    recovery: bool,
    ping_interval: u64,
    ping_timeout: u64,
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        port: 0,
        msgpack: false,
        recovery: false,
        ping_interval: 25_000,
        ping_timeout: 20_000,
    };
    let mut args = std::env::args().skip(1);
    let number = |name: &str, value: Option<String>| -> Result<u64, String> {
        let value = value.ok_or_else(|| format!("{name} needs a value"))?;
        value.parse().map_err(|e| format!("{name} {value}: {e}"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let port = number("--port", args.next())?;
                opts.port = u16::try_from(port).map_err(|e| format!("--port {port}: {e}"))?;
            }
            "--msgpack" => opts.msgpack = true,
            "--recovery" => opts.recovery = true,
            "--ping-interval" => opts.ping_interval = number("--ping-interval", args.next())?,
            "--ping-timeout" => opts.ping_timeout = number("--ping-timeout", args.next())?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(opts)
}

/// One JSON line on stdout (`println!` locks stdout, so lines never interleave).
fn report(line: serde_json::Value) {
    println!("{line}");
}

fn count_arg(args: &[Value]) -> u64 {
    args.first().and_then(Value::as_u64).unwrap_or(1)
}

fn setup(io: &SocketIo, socket: &SocketRef) {
    let nsp = socket.ns_name().to_owned();
    report(json!({
        "connection": nsp,
        "id": socket.id().to_string(),
        "auth": socket.handshake().auth,
        "recovered": socket.recovered(),
        "transport": socket.transport(),
    }));
    let received = Arc::new(AtomicU64::new(0));
    {
        let received = received.clone();
        socket.on_any(move || {
            received.fetch_add(1, Ordering::SeqCst);
            async {}
        });
    }
    socket.on_disconnect(
        move |socket: SocketRef, reason: DisconnectReason| async move {
            report(json!({"disconnect": socket.ns_name(), "reason": reason.to_string()}));
        },
    );
    socket.on("echo", |socket: SocketRef, Args(args): Args| async move {
        let _ = socket.emit("echo", Args(args));
    });
    socket.on(
        "ack",
        |Args(args): Args, ack: Option<AckSender>| async move {
            if let Some(ack) = ack {
                let _ = ack.send(Args(args));
            }
        },
    );
    {
        let io = io.clone();
        socket.on("whoami", move |socket: SocketRef, ack: AckSender| {
            let io = io.clone();
            async move {
                let handshake = socket.handshake();
                let _ = ack.send(&json!({
                    "id": socket.id().to_string(),
                    "nsp": socket.ns_name(),
                    "auth": handshake.auth,
                    "recovered": socket.recovered(),
                    "transport": socket.transport(),
                    "clientsCount": io.engine().count(),
                    "query": handshake.query,
                    "headers": handshake.headers,
                }));
            }
        });
    }
    {
        let io = io.clone();
        socket.on("stats", move |ack: AckSender| {
            let io = io.clone();
            async move {
                let sockets: serde_json::Map<String, serde_json::Value> = NAMESPACES
                    .iter()
                    .map(|name| {
                        let n = io.of(name).map_or(0, |ns| ns.len());
                        ((*name).to_owned(), json!(n))
                    })
                    .collect();
                let _ = ack.send(&json!({
                    "clientsCount": io.engine().count(),
                    "sockets": sockets,
                }));
            }
        });
    }
    {
        let received = received.clone();
        socket.on("count", move |ack: AckSender| {
            let n = received.load(Ordering::SeqCst);
            async move {
                let _ = ack.send(&n);
            }
        });
    }
    socket.on("ask", |socket: SocketRef, Args(args): Args| async move {
        let mut args = args.into_iter();
        let payload = args.next().unwrap_or(Value::Null);
        let timeout = args
            .next()
            .and_then(|t| t.as_u64())
            .filter(|t| *t > 0)
            .unwrap_or(5000);
        let pending = socket.emit_with_ack::<_, Args>("question", Args(vec![payload]));
        let result = match pending {
            Ok(pending) => pending
                .timeout(Duration::from_millis(timeout))
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let _ = match result {
            Ok(Args(reply)) => socket.emit("answer", Args(reply)),
            Err(message) => socket.emit("answer-error", &message),
        };
    });
    socket.on("server-disconnect", |socket: SocketRef| async move {
        socket.disconnect(false);
    });
    // Acks only every third delivery, to exercise the client's retries.
    let flaky = Arc::new(AtomicU64::new(0));
    socket.on("flaky", move |Args(args): Args, ack: Option<AckSender>| {
        let n = flaky.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            report(json!({"flaky": n, "args": args}));
            if n % 3 == 0 {
                if let Some(ack) = ack {
                    let _ = ack.send(Args::new().arg("ok").arg(n));
                }
            }
        }
    });
    socket.on("close-transport", |socket: SocketRef| {
        socket.conn().close();
        async {}
    });
    {
        let io = io.clone();
        socket.on(
            "drop-and-emit",
            move |socket: SocketRef, Args(args): Args| {
                socket.conn().close();
                for i in 1..=count_arg(&args) {
                    let _ = io.emit("missed", &i);
                }
                async {}
            },
        );
    }
    socket.on("big", |socket: SocketRef, Args(args): Args| async move {
        let n = args.first().and_then(Value::as_u64).unwrap_or(0);
        let n = usize::try_from(n).unwrap_or(0);
        let _ = socket.emit("big", &"x".repeat(n));
    });
    socket.on("send-binary", |socket: SocketRef| async move {
        let mut data = socketio_parser::Map::new();
        data.insert(
            "data".to_owned(),
            Value::Binary(Bytes::from_static(&[1, 2, 3])),
        );
        let _ = socket.emit("bin", Args(vec![Value::Object(data)]));
    });
    socket.on("tick", |socket: SocketRef, Args(args): Args| async move {
        for i in 1..=count_arg(&args) {
            let _ = socket.emit("tick", &i);
        }
    });
}

fn build(opts: &Options) -> SocketIo {
    let mut builder = SocketIo::builder()
        .ping_interval(Duration::from_millis(opts.ping_interval))
        .ping_timeout(Duration::from_millis(opts.ping_timeout))
        .max_http_buffer_size(1_000_000);
    if opts.msgpack {
        builder = builder.parser(Parser::MsgPack);
    }
    if opts.recovery {
        builder = builder.connection_state_recovery(RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(60),
            skip_middlewares: true,
        });
    }
    let io = builder.build();
    for name in NAMESPACES {
        let ns = io.of_or_create(name);
        if name == "/refused" {
            ns.use_middleware(|_socket: SocketRef| async move {
                Err(ConnectError::new("not authorized").with_data(json!({"code": 42})))
            });
        }
        let handle = io.clone();
        ns.on_connection(move |socket: SocketRef| {
            setup(&handle, &socket);
            async {}
        });
    }
    io
}

#[tokio::main]
async fn main() {
    support::init_logging();
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("client_peer: {e}");
            std::process::exit(2);
        }
    };
    let io = build(&opts);
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("client_peer: cannot bind 127.0.0.1:{}: {e}", opts.port);
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(opts.port);
    support::exit_when_stdin_closes();
    println!("listening {port}");
    if let Err(e) = io.serve(listener).await {
        eprintln!("client_peer: {e}");
        std::process::exit(1);
    }
}
