//! A chat with rooms and a user list, served at <http://localhost:3000>.
//!
//! ```text
//! scripts/install-deps.sh          # once: installs the npm socket.io-client browser bundle
//! cargo run -p socketio-server --example chat
//! ```
//!
//! The page (`examples/chat/`) uses the npm `socket.io-client` browser bundle, which this server
//! serves at `/socket.io.min.js` from `protocol-tests/js/node_modules` (installed by
//! `scripts/install-deps.sh`). The Socket.IO server is mounted as a tower layer in front of an
//! axum router that serves the page.
//!
//! Events on `/` (the page's side is in `examples/chat/chat.js`):
//! * `join` `{name, room}` with ack → `{ok, room, users, rooms}` or `{ok: false, error}`;
//! * `chat` `text` with ack → `{ok}`; everybody in the room gets `chat` `{name, text, time}`;
//! * the server sends `system` (someone joined or left), `users` (names in your room) and
//!   `rooms` (`[{name, count}]`).
//!
//! `--port P` (0 = a free port) changes the port; prints `listening <port>` once ready.
//! `--redis redis://HOST:PORT` joins other chat nodes through the Redis adapter
//! (`scripts/cluster-demo.sh` runs two behind HAProxy).
//! `--cluster-engine` (with `--redis`): any chat node serves any polling request of any session
//! over the same Redis (crate `engine-io-cluster`), so the balancer needs no sticky sessions
//! (`scripts/cluster-demo.sh --no-sticky`).
//! `--metrics` serves the Prometheus metrics at `/metrics` on the same port.
//! `--admin` turns on the `@socket.io/admin-ui` instrumentation (no authentication): the
//! Admin UI page is served at `/admin/` (from the npm package installed by
//! `scripts/install-deps.sh`); connect it to this server's URL.
//! `protocol-tests/tests/socketio/socketio_chat_browser.rs` drives two pages in headless Chromium.

mod support;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use engine_io_cluster::{ClusterConfig, ClusterEngine};
use serde::{Deserialize, Serialize};
use socketio_adapter::redis::{RedisAdapterConfig, RedisAdapterFactory};
use socketio_server::{AckSender, Data, DisconnectReason, SocketIo, SocketRef};

const INDEX_HTML: &str = include_str!("chat/index.html");
const CHAT_JS: &str = include_str!("chat/chat.js");
const CHAT_CSS: &str = include_str!("chat/chat.css");
/// Where `scripts/install-deps.sh` puts the npm browser bundle.
const BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../protocol-tests/js/node_modules/socket.io-client/dist/socket.io.min.js"
);
const MAX_NAME: usize = 32;
const MAX_TEXT: usize = 500;

/// Who a socket is, once it joined a room (its per-socket data).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Member {
    name: String,
    room: String,
}

#[derive(Debug, Deserialize)]
struct JoinRequest {
    name: String,
    room: String,
}

#[derive(Debug, Serialize)]
struct RoomInfo {
    name: String,
    count: usize,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum JoinReply {
    Ok {
        ok: bool,
        room: String,
        users: Vec<String>,
        rooms: Vec<RoomInfo>,
    },
    Err {
        ok: bool,
        error: String,
    },
}

#[derive(Debug, Serialize)]
struct ChatMessage<'a> {
    name: &'a str,
    text: &'a str,
    time: u64,
}

#[derive(Debug, Serialize)]
struct Reply<'a> {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

fn trimmed(s: &str, max: usize) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && t.chars().count() <= max).then(|| t.to_owned())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Names of the members in `room` (sorted), leaving out `skip` (a socket on its way out).
async fn users_in(io: &SocketIo, room: &str, skip: Option<&str>) -> Vec<String> {
    let sockets = io.within(room).fetch_sockets().await.unwrap_or_default();
    let mut names: Vec<String> = sockets
        .iter()
        .filter(|s| Some(&**s.id()) != skip)
        .filter_map(|s| s.data::<Member>().ok())
        .filter(|m| m.room == room)
        .map(|m| m.name)
        .collect();
    names.sort();
    names
}

/// Every room with its number of members, leaving out `skip`.
async fn room_list(io: &SocketIo, skip: Option<&str>) -> Vec<RoomInfo> {
    let sockets = io.fetch_sockets().await.unwrap_or_default();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for s in sockets.iter().filter(|s| Some(&**s.id()) != skip) {
        if let Ok(m) = s.data::<Member>() {
            *counts.entry(m.room).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|(name, count)| RoomInfo { name, count })
        .collect()
}

/// Takes `socket` out of its room (if any) and tells the others.
async fn leave_room(io: &SocketIo, socket: &SocketRef, gone: bool) {
    let Ok(member) = socket.data::<Member>() else {
        return;
    };
    socket.leave(member.room.as_str());
    let _ = socket.set_data(&());
    let skip = gone.then(|| socket.id().to_string());
    let _ = io
        .to(member.room.as_str())
        .except(socket.id().clone())
        .emit("system", &format!("{} left", member.name));
    let users = users_in(io, &member.room, skip.as_deref()).await;
    let _ = io.to(member.room.as_str()).emit("users", &users);
}

/// `join` `{name, room}`: leaves the previous room, joins the new one, tells everybody.
async fn on_join(socket: SocketRef, io: SocketIo, Data(req): Data<JoinRequest>, ack: AckSender) {
    let (Some(name), Some(room)) = (trimmed(&req.name, MAX_NAME), trimmed(&req.room, MAX_NAME))
    else {
        let _ = ack.send(&JoinReply::Err {
            ok: false,
            error: format!("name and room: 1 to {MAX_NAME} characters"),
        });
        return;
    };
    leave_room(&io, &socket, false).await;
    let _ = socket.set_data(&Member {
        name: name.clone(),
        room: room.clone(),
    });
    socket.join(room.as_str());
    let _ = socket
        .to(room.as_str())
        .emit("system", &format!("{name} joined"));
    let users = users_in(&io, &room, None).await;
    let _ = socket.to(room.as_str()).emit("users", &users);
    let rooms = room_list(&io, None).await;
    let _ = socket.broadcast().emit("rooms", &rooms);
    let _ = ack.send(&JoinReply::Ok {
        ok: true,
        room,
        users,
        rooms,
    });
}

/// `chat` `text`: to everybody in the sender's room.
async fn on_chat(socket: SocketRef, io: SocketIo, Data(text): Data<String>, ack: AckSender) {
    let Ok(member) = socket.data::<Member>() else {
        let _ = ack.send(&Reply {
            ok: false,
            error: Some("join a room first"),
        });
        return;
    };
    let Some(text) = trimmed(&text, MAX_TEXT) else {
        let _ = ack.send(&Reply {
            ok: false,
            error: Some("a message is 1 to 500 characters"),
        });
        return;
    };
    let msg = ChatMessage {
        name: &member.name,
        text: &text,
        time: now_ms(),
    };
    let _ = io.to(member.room.as_str()).emit("chat", &msg);
    let _ = ack.send(&Reply {
        ok: true,
        error: None,
    });
}

async fn on_disconnect(socket: SocketRef, io: SocketIo, _reason: DisconnectReason) {
    leave_room(&io, &socket, true).await;
    let skip = socket.id().to_string();
    let rooms = room_list(&io, Some(&skip)).await;
    let _ = io.emit("rooms", &rooms);
}

/// The handlers take the server as an extractor ([`SocketIo`]): nothing to clone into them.
async fn on_connect(socket: SocketRef) {
    socket.on("join", on_join);
    socket.on("chat", on_chat);
    socket.on_disconnect(on_disconnect);
}

struct Options {
    port: u16,
    redis: Option<String>,
    cluster_engine: bool,
    metrics: bool,
    admin: bool,
}

/// `--port P`, `--redis URL`, `--cluster-engine`, `--metrics` and `--admin`.
fn options_from_args() -> Result<Options, String> {
    let mut opts = Options {
        port: 3000,
        redis: None,
        cluster_engine: false,
        metrics: false,
        admin: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or("--port needs a value")?;
                opts.port = value.parse().map_err(|e| format!("--port {value}: {e}"))?;
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
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(opts)
}

fn asset(content_type: &'static str, body: impl IntoResponse) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type)], body)
}

#[tokio::main]
async fn main() {
    support::init_logging();
    let opts = match options_from_args() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("chat: {e}");
            std::process::exit(2);
        }
    };
    let bundle = match std::fs::read(BUNDLE) {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            eprintln!(
                "chat: cannot read the socket.io-client browser bundle {BUNDLE}: {e}\n\
                 Run scripts/install-deps.sh from the project root first (it installs the npm \
                 packages in protocol-tests/js), then start the chat again."
            );
            std::process::exit(1);
        }
    };

    let port = opts.port;
    let mut builder = SocketIo::builder().metrics(opts.metrics);
    if let Some(url) = &opts.redis {
        // Several chat nodes share rooms, user lists and messages through Redis.
        match RedisAdapterFactory::connect(url, RedisAdapterConfig::default()).await {
            Ok(factory) => builder = builder.adapter(factory),
            Err(e) => {
                eprintln!("chat: cannot connect to redis {url}: {e}");
                std::process::exit(1);
            }
        }
    }
    let engine = match (&opts.redis, opts.cluster_engine) {
        (Some(url), true) => {
            match ClusterEngine::connect(url.as_str(), ClusterConfig::default()).await {
                Ok(engine) => Some(engine),
                Err(e) => {
                    eprintln!("chat: cannot connect to redis {url}: {e}");
                    std::process::exit(1);
                }
            }
        }
        (None, true) => {
            eprintln!("chat: --cluster-engine needs --redis");
            std::process::exit(2);
        }
        _ => None,
    };
    if let Some(engine) = &engine {
        builder = builder.engine_io(|c| c.cluster = Some(engine.hook()));
    }
    let io = builder.build();
    if let Some(engine) = &engine {
        engine.attach(io.engine().clone());
    }
    io.ns("/", on_connect);
    if opts.admin {
        support::instrument_admin_ui(&io);
    }

    let app = Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/index.html",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/chat.js",
            get(|| async { asset("text/javascript; charset=utf-8", CHAT_JS) }),
        )
        .route(
            "/chat.css",
            get(|| async { asset("text/css; charset=utf-8", CHAT_CSS) }),
        )
        .route(
            "/socket.io.min.js",
            get(move || {
                let bundle = bundle.clone();
                async move { asset("text/javascript; charset=utf-8", bundle) }
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") });
    let app = match io.metrics() {
        Some(metrics) => app.route("/metrics", support::metrics_route(metrics)),
        None => app,
    };
    let app = if opts.admin {
        support::admin_ui_routes(app)
    } else {
        app
    };
    let app = app.layer(io.layer());

    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("chat: cannot bind 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    support::exit_when_stdin_closes();
    println!("listening {port}");
    eprintln!("chat: open http://localhost:{port} in a browser (two tabs to chat with yourself)");
    if opts.metrics {
        eprintln!("chat: metrics at http://localhost:{port}/metrics");
    }
    if opts.admin {
        eprintln!(
            "chat: Admin UI at http://localhost:{port}/admin/ (server URL http://localhost:{port}, \
             no authentication)"
        );
    }
    // With the peer address, so the handshake's `address` is known (feature `axum`).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("chat: {e}");
        std::process::exit(1);
    }
}
