//! The Engine.IO conformance server: echoes every message (text and binary).
//!
//! Settings (the same as `protocol-tests`' reference Node server): 127.0.0.1,
//! port 3000, path `/engine.io`, pingInterval 300 ms, pingTimeout 200 ms,
//! maxHttpBufferSize 1e6, CORS origin `*`; every other option at its default.
//! Once bound it prints `listening <port>` on stdout (one line).
//!
//! Flags:
//! * `--port P`: listen on port P (0 picks a free port; the line above tells which).
//! * `--allow-eio3`: accept Engine.IO v3 clients (`allowEIO3: true`).
//! * `--cookie`: set the session cookie (`cookie: true`: `io=<sid>; Path=/; HttpOnly; SameSite=Lax`).
//! * `--deny-header NAME`: the allow-request hook refuses handshakes carrying
//!   header NAME, with the message `denied` (403 `{"code":4,"message":"denied"}`).
//! * `--ping-interval MS`, `--ping-timeout MS`, `--upgrade-timeout MS`,
//!   `--max-http-buffer-size BYTES`: override those settings.
//! * `--transports polling,websocket`: enabled transports.
//! * `--initial-packet TEXT`: a message sent right after the open packet.
//! * `--no-upgrades`: `allowUpgrades: false`.
//! * `--ws-read-buffer-size BYTES`, `--ws-write-buffer-size BYTES`: WebSocket buffer sizes (memory tuning).
//! * `--no-compression`: `httpCompression: false`.
//! * `--cors-credentials`: CORS with the request origin reflected and credentials on.
//! * `--close-on TEXT`: a text message equal to TEXT is not echoed: the server
//!   closes that socket (`socket.close()`), to test server-initiated closes.
//!
//! Prints `close <sid> <reason>` on stdout when a socket closes.
//!
//! Run with `cargo run -p engine-io --example conformance_server -- --port 0`.

use engine_io::{
    CloseReason, Config, CookieConfig, Cors, Handler, Message, Server, Socket, TransportType,
};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

struct Echo {
    /// `--close-on`: the text message that makes the server close the socket.
    close_on: Option<String>,
}

impl Handler for Echo {
    fn on_connect(&self, _socket: Arc<Socket>) {}

    fn on_message(&self, socket: &Arc<Socket>, msg: Message) {
        if let (Some(close_on), Message::Text(text)) = (&self.close_on, &msg) {
            if text.as_str() == close_on {
                socket.close();
                return;
            }
        }
        // A full queue means the client stopped reading: drop the echo.
        let _ = socket.try_send(msg);
    }

    fn on_close(&self, socket: &Arc<Socket>, reason: CloseReason) {
        println!("close {} {}", socket.id(), reason);
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("conformance_server: {msg} (see the doc comment of examples/conformance_server.rs)");
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut port: u16 = 3000;
    let mut close_on: Option<String> = None;
    let mut builder = Config::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_http_buffer_size(1_000_000)
        .path("/engine.io")
        .cors(Cors::any());
    let num = |v: Option<String>, name: &str| -> u64 {
        v.and_then(|s| s.parse().ok())
            .unwrap_or_else(|| usage(&format!("{name} needs a number")))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = num(args.next(), "--port") as u16,
            "--allow-eio3" => builder = builder.allow_eio3(true),
            "--cookie" => builder = builder.cookie(CookieConfig::default()),
            "--deny-header" => {
                let name = args
                    .next()
                    .unwrap_or_else(|| usage("--deny-header needs a header name"));
                let name = name.to_ascii_lowercase();
                builder = builder.allow_request(move |req| {
                    let denied = req.headers.contains_key(name.as_str());
                    async move {
                        if denied {
                            Err("denied".to_owned())
                        } else {
                            Ok(())
                        }
                    }
                });
            }
            "--ping-interval" => {
                builder = builder.ping_interval(Duration::from_millis(num(args.next(), &a)))
            }
            "--ping-timeout" => {
                builder = builder.ping_timeout(Duration::from_millis(num(args.next(), &a)))
            }
            "--upgrade-timeout" => {
                builder = builder.upgrade_timeout(Duration::from_millis(num(args.next(), &a)))
            }
            "--max-http-buffer-size" => {
                builder = builder.max_http_buffer_size(num(args.next(), &a) as usize)
            }
            "--transports" => {
                let list = args
                    .next()
                    .unwrap_or_else(|| usage("--transports needs a list"));
                let ts: Vec<TransportType> = list
                    .split(',')
                    .map(|t| {
                        TransportType::from_query(t.trim())
                            .unwrap_or_else(|| usage("unknown transport"))
                    })
                    .collect();
                builder = builder.transports(ts);
            }
            "--initial-packet" => {
                let text = args
                    .next()
                    .unwrap_or_else(|| usage("--initial-packet needs a text"));
                builder = builder.initial_packet(text);
            }
            "--ws-read-buffer-size" => {
                builder = builder.ws_read_buffer_size(num(args.next(), &a) as usize)
            }
            "--ws-write-buffer-size" => {
                builder = builder.ws_write_buffer_size(num(args.next(), &a) as usize)
            }
            "--close-on" => {
                close_on = Some(
                    args.next()
                        .unwrap_or_else(|| usage("--close-on needs a text")),
                )
            }
            "--no-upgrades" => builder = builder.allow_upgrades(false),
            "--no-compression" => builder = builder.http_compression(None),
            "--cors-credentials" => {
                builder = builder.cors(
                    Cors {
                        origin: engine_io::CorsOrigin::Mirror,
                        ..Cors::any()
                    }
                    .credentials(true),
                )
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let config = builder.build();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| usage(&format!("cannot start the runtime: {e}")));
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| usage(&format!("cannot bind port {port}: {e}")));
        let bound = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        println!("listening {bound}");
        let _ = std::io::stdout().flush();
        let server = Server::new(config, Echo { close_on });
        if let Err(e) = server.serve(listener).await {
            eprintln!("conformance_server: {e}");
        }
    });
}
