//! Handler extractors (`State`, `Extension`, `MaybeExtension`, `HttpExtension`,
//! `MaybeHttpExtension`, `SocketIo`, `Data`/`TryData` of the auth payload, `DisconnectReason`)
//! in every handler kind, over real WebSocket connections with raw Socket.IO v5 frames.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use socketio_server::{
    AckSender, ConnectError, Data, DisconnectReason, Extension, HttpExtension, MaybeExtension,
    MaybeHttpExtension, SocketIo, SocketRef, State, TryData, Value,
};
use tokio::net::TcpListener;

mod support;
use support::{eventually, serve, Client};

#[derive(Clone, Default)]
struct Counters {
    middleware: Arc<AtomicUsize>,
    connect: Arc<AtomicUsize>,
    event: Arc<AtomicUsize>,
    disconnect: Arc<AtomicUsize>,
}

#[derive(Clone, Debug, PartialEq)]
struct User(String);

#[derive(Debug, serde::Deserialize)]
struct Auth {
    name: String,
}

/// One server, every handler kind taking its state from extractors only (no captured clones).
fn stateful_server(counters: Counters) -> SocketIo {
    let io = SocketIo::builder().with_state(counters).build();
    io.use_middleware(
        |socket: SocketRef, State(c): State<Counters>, auth: TryData<Auth>| async move {
            c.middleware.fetch_add(1, Ordering::SeqCst);
            let auth = auth
                .0
                .map_err(|e| ConnectError::new(format!("bad auth: {e}")))?;
            socket.extensions().insert(User(auth.name));
            Ok(())
        },
    );
    io.ns(
        "/",
        |socket: SocketRef, State(c): State<Counters>, Extension(user): Extension<User>| async move {
            c.connect.fetch_add(1, Ordering::SeqCst);
            let _ = socket.emit("hello", &user.0);
            socket.on(
                "whoami",
                |State(c): State<Counters>, Extension(user): Extension<User>, ack: AckSender| async move {
                    c.event.fetch_add(1, Ordering::SeqCst);
                    let _ = ack.send(&user.0);
                },
            );
            socket.on(
                "shout",
                |io: SocketIo, Extension(user): Extension<User>, Data(text): Data<String>| async move {
                    let _ = io.emit("shouted", &format!("{}: {text}", user.0));
                },
            );
            socket.on(
                "number",
                |TryData(n): TryData<u32>, ack: AckSender| async move {
                    let _ = match n {
                        Ok(n) => ack.send(&n),
                        Err(e) => ack.send(&format!("not a number: {e}")),
                    };
                },
            );
            // Parameters in any order, the reason among them.
            socket.on_disconnect(
                |reason: DisconnectReason, State(c): State<Counters>, s: SocketRef, Extension(u): Extension<User>| async move {
                    assert_eq!(reason, DisconnectReason::ClientNamespaceDisconnect);
                    assert_eq!(u, User("ann".into()));
                    assert!(!s.connected());
                    c.disconnect.fetch_add(1, Ordering::SeqCst);
                },
            );
        },
    );
    io
}

#[tokio::test]
async fn state_and_extensions_reach_every_handler_kind() {
    let counters = Counters::default();
    let io = stateful_server(counters.clone());
    let port = serve(&io).await;

    let mut ann = Client::open(port).await;
    let reply = ann.connect(r#"{"name":"ann"}"#).await;
    assert!(reply.starts_with("0{\"sid\":"), "{reply}");
    assert_eq!(ann.packet().await, r#"2["hello","ann"]"#);

    ann.send(r#"421["whoami"]"#).await;
    assert_eq!(ann.packet().await, r#"31["ann"]"#);

    // `SocketIo` as an extractor: a server-wide emit reaches the sender too.
    ann.send(r#"42["shout","hi"]"#).await;
    assert_eq!(ann.packet().await, r#"2["shouted","ann: hi"]"#);

    // `TryData`: the handler sees the payload that does not parse.
    ann.send(r#"422["number",7]"#).await;
    assert_eq!(ann.packet().await, "32[7]");
    ann.send(r#"423["number","seven"]"#).await;
    let p = ann.packet().await;
    assert!(p.starts_with(r#"33["not a number: "#), "{p}");

    ann.send("41").await;
    eventually("disconnect handler ran", || {
        counters.disconnect.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(counters.middleware.load(Ordering::SeqCst), 1);
    assert_eq!(counters.connect.load(Ordering::SeqCst), 1);
    assert_eq!(counters.event.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn auth_that_does_not_parse_is_refused_by_the_middleware() {
    let counters = Counters::default();
    let io = stateful_server(counters.clone());
    let port = serve(&io).await;
    let mut bob = Client::open(port).await;
    let reply = bob.connect(r#"{"nom":"bob"}"#).await;
    assert!(reply.starts_with(r#"4{"message":"bad auth: "#), "{reply}");
    assert_eq!(counters.middleware.load(Ordering::SeqCst), 1);
    assert_eq!(counters.connect.load(Ordering::SeqCst), 0);
}

#[derive(Clone)]
struct NeverSet;

#[tokio::test]
async fn a_missing_state_refuses_in_a_middleware_and_skips_other_handlers() {
    let io = SocketIo::new();
    let restricted = io.of_or_create("/restricted");
    restricted.use_middleware(|_: State<NeverSet>| async move { Ok(()) });
    restricted.on_connection(|s: SocketRef| async move {
        let _ = s.emit("unexpected", &());
    });

    // In a connection handler: not called, the socket stays connected.
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    io.ns("/", move |s: SocketRef| {
        let c = c.clone();
        async move {
            s.on("ping", |s: SocketRef| async move {
                let _ = s.emit("pong", &());
            });
            s.on("needs-state", move |_: State<NeverSet>| {
                c.fetch_add(1, Ordering::SeqCst);
                async {}
            });
        }
    });
    io.of_or_create("/other")
        .on_connection(|_: SocketRef, _: State<NeverSet>| async move {
            unreachable!("a connection handler without its state is not called")
        });
    let port = serve(&io).await;

    let mut c1 = Client::open(port).await;
    c1.send("40/restricted,").await;
    let reply = c1.packet().await;
    assert!(
        reply.starts_with(r#"4/restricted,{"message":"no state of type "#),
        "{reply}"
    );

    let mut c2 = Client::open(port).await;
    assert!(c2.connect("").await.starts_with("0{"));
    c2.send(r#"42["needs-state"]"#).await;
    c2.send(r#"42["ping"]"#).await;
    assert_eq!(c2.packet().await, r#"2["pong",null]"#);
    assert_eq!(called.load(Ordering::SeqCst), 0);

    c2.send("40/other,").await;
    let reply = c2.packet().await;
    assert!(reply.starts_with("0/other,{\"sid\":"), "{reply}");
}

#[derive(Clone, Debug, PartialEq)]
struct Tenant(String);

/// Serves `io` under axum, behind a layer that puts `Tenant("acme")` into every request's
/// extensions.
async fn serve_behind_a_tenant_layer(io: &SocketIo) -> u16 {
    use axum::extract::Request;
    use axum::middleware::{from_fn, Next};
    let app: axum::Router = axum::Router::new().layer(io.layer()).layer(from_fn(
        |mut req: Request, next: Next| async move {
            req.extensions_mut().insert(Tenant("acme".into()));
            next.run(req).await
        },
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test]
async fn http_extensions_inserted_by_an_outer_layer_are_extracted() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let io = SocketIo::new();
    let s1 = seen.clone();
    io.ns(
        "/",
        move |socket: SocketRef, HttpExtension(t): HttpExtension<Tenant>| {
            s1.lock().unwrap().push(format!("connect {}", t.0));
            let s2 = s1.clone();
            async move {
                socket.on(
                    "tenant",
                    |t: HttpExtension<Tenant>, none: MaybeHttpExtension<User>, ack: AckSender| async move {
                        assert!(none.0.is_none());
                        let _ = ack.send(&t.0 .0);
                    },
                );
                socket.on_disconnect(move |MaybeHttpExtension(t): MaybeHttpExtension<Tenant>| {
                    s2.lock().unwrap().push(format!("disconnect {t:?}"));
                    async {}
                });
            }
        },
    );
    let port = serve_behind_a_tenant_layer(&io).await;

    let mut c = Client::open(port).await;
    assert!(c.connect("").await.starts_with("0{"));
    c.send(r#"421["tenant"]"#).await;
    assert_eq!(c.packet().await, r#"31["acme"]"#);
    c.send("41").await;
    eventually("disconnect handler ran", || seen.lock().unwrap().len() == 2).await;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            "connect acme".to_owned(),
            r#"disconnect Some(Tenant("acme"))"#.to_owned()
        ]
    );
}

#[tokio::test]
async fn maybe_extension_and_auth_data_in_a_connection_handler() {
    #[derive(serde::Deserialize)]
    struct Token {
        token: String,
    }
    let io = SocketIo::new();
    io.ns(
        "/",
        |socket: SocketRef, Data(auth): Data<Token>, MaybeExtension(user): MaybeExtension<User>| async move {
            let _ = socket.emit("seen", &(auth.token, user.is_some()));
        },
    );
    let port = serve(&io).await;
    let mut c = Client::open(port).await;
    assert!(c.connect(r#"{"token":"t0k"}"#).await.starts_with("0{"));
    assert_eq!(c.packet().await, r#"2["seen",["t0k",false]]"#);
    // The namespace keeps working after an event whose extractor failed.
    drop(c);
    let mut c = Client::open(port).await;
    assert!(c.connect(r#"{"other":1}"#).await.starts_with("0{"));
    let io2 = io.clone();
    eventually("socket connected", || io2.sockets().len() == 1).await;
    let _ = io.emit("after", &Value::Null);
    assert_eq!(c.packet().await, r#"2["after",null]"#);
}

type Log = Arc<Mutex<Vec<String>>>;

/// The kinds the tests above leave out: `SocketIo` and `HttpExtension` in middlewares, `Extension`
/// set by one middleware and extracted by the next, `TryData` and `SocketIo` in a connection
/// handler, `SocketIo` and `HttpExtension` in a disconnect handler. Each handler reaches another
/// client through the `SocketIo` it extracted, so the test sees that it ran with the right values.
#[tokio::test]
async fn every_extractor_in_middlewares_connection_and_disconnect_handlers() {
    let log: Log = Arc::default();
    let io = SocketIo::builder().with_state(log.clone()).build();
    io.use_middleware(
        |socket: SocketRef, HttpExtension(t): HttpExtension<Tenant>, auth: TryData<Auth>| async move {
            let name = auth.0.map_or_else(|_| "anonymous".to_owned(), |a| a.name);
            socket.extensions().insert(User(format!("{name}@{}", t.0)));
            Ok(())
        },
    );
    io.use_middleware(
        |Extension(user): Extension<User>, io: SocketIo, State(log): State<Log>| async move {
            log.lock().unwrap().push(format!("middleware {}", user.0));
            let _ = io.emit("middleware", &user.0);
            Ok(())
        },
    );
    io.ns(
        "/",
        |socket: SocketRef, io: SocketIo, TryData(auth): TryData<Auth>, State(log): State<Log>| async move {
            let name = match auth {
                Ok(a) => a.name,
                Err(e) => format!("unparsed ({e})"),
            };
            log.lock().unwrap().push(format!("connect {name}"));
            let _ = io.emit("connected", &name);
            socket.on_disconnect(
                |io: SocketIo, HttpExtension(t): HttpExtension<Tenant>, Extension(u): Extension<User>, State(log): State<Log>| async move {
                    log.lock().unwrap().push(format!("disconnect {} {}", u.0, t.0));
                    let _ = io.emit("left", &u.0);
                },
            );
        },
    );
    let port = serve_behind_a_tenant_layer(&io).await;

    // The watcher: it sees what the other clients' handlers emit through `SocketIo`.
    let mut watcher = Client::open(port).await;
    assert!(watcher.connect(r#"{"name":"ann"}"#).await.starts_with("0{"));
    assert_eq!(watcher.packet().await, r#"2["connected","ann"]"#);

    let mut bob = Client::open(port).await;
    assert!(bob.connect(r#"{"name":"bob"}"#).await.starts_with("0{"));
    assert_eq!(watcher.packet().await, r#"2["middleware","bob@acme"]"#);
    assert_eq!(watcher.packet().await, r#"2["connected","bob"]"#);

    // Auth that does not parse: the middleware's and the handler's `TryData` both see it.
    let mut carol = Client::open(port).await;
    assert!(carol.connect(r#"{"nom":"carol"}"#).await.starts_with("0{"));
    assert_eq!(
        watcher.packet().await,
        r#"2["middleware","anonymous@acme"]"#
    );
    let p = watcher.packet().await;
    assert!(p.starts_with(r#"2["connected","unparsed ("#), "{p}");

    bob.send("41").await;
    assert_eq!(watcher.packet().await, r#"2["left","bob@acme"]"#);
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains(&"disconnect bob@acme acme".to_owned()),
        "{log:?}"
    );
    assert_eq!(
        log.iter().filter(|l| l.starts_with("middleware")).count(),
        3
    );
}
