//! Our `engine-io-client` against the npm `engine.io` 6.6 server (`js/eioclient-peer.js`):
//! polling only, WebSocket only and polling-then-upgrade; text and binary both ways; heartbeat;
//! close reasons; `maxPayload` splitting; path, query, headers and cookies on every request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use engine_io_client::{Client, ClientBuilder, CloseReason, Event, Events, Message, TransportType};
use protocol_tests::NodePeer;
use serde_json::Value;
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(10);

fn peer(args: &[&str]) -> NodePeer {
    NodePeer::spawn("eioclient-peer.js", args, &[])
}

fn url(peer: &NodePeer) -> String {
    format!("http://127.0.0.1:{}", peer.port())
}

/// The next message, skipping upgrade events; panics on close or timeout.
async fn next_message(events: &mut Events) -> Message {
    loop {
        match timeout(STEP, events.recv()).await {
            Ok(Some(Event::Message(m))) => return m,
            Ok(Some(Event::Upgrade(_))) | Ok(Some(Event::UpgradeError(_))) => continue,
            Ok(Some(other)) => panic!("expected a message, got {other:?}"),
            Ok(None) => panic!("events ended"),
            Err(_) => panic!("no message within {STEP:?}"),
        }
    }
}

async fn next_text(events: &mut Events) -> String {
    match next_message(events).await {
        Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

async fn next_close(events: &mut Events) -> CloseReason {
    loop {
        match timeout(STEP, events.recv()).await {
            Ok(Some(Event::Close(reason))) => return reason,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("events ended without a close"),
            Err(_) => panic!("no close within {STEP:?}"),
        }
    }
}

async fn command(client: &Client, events: &mut Events, cmd: &str) -> Value {
    client.send(cmd.to_owned()).await.unwrap();
    serde_json::from_str(&next_text(events).await).unwrap()
}

/// Waits for the upgrade event.
async fn wait_upgrade(events: &mut Events) {
    match timeout(STEP, events.recv()).await {
        Ok(Some(Event::Upgrade(TransportType::Websocket))) => {}
        other => panic!("expected an upgrade, got {other:?}"),
    }
}

/// Echo of text and binary (including bytes that are not UTF-8 and an empty message).
async fn echo_round_trip(client: &Client, events: &mut Events) {
    client.send("hello é ✓").await.unwrap();
    assert_eq!(next_text(events).await, "hello é ✓");
    let binary = Bytes::from_static(&[0, 1, 2, 0xfe, 0xff]);
    client.send(binary.clone()).await.unwrap();
    assert_eq!(next_message(events).await, Message::Binary(binary));
    client.send(Bytes::new()).await.unwrap();
    assert_eq!(next_message(events).await, Message::Binary(Bytes::new()));
    client
        .send_all(vec![
            Message::from("first"),
            Message::from(vec![9u8; 3]),
            Message::from("third"),
        ])
        .await
        .unwrap();
    assert_eq!(next_text(events).await, "first");
    assert_eq!(next_message(events).await, Message::from(vec![9u8; 3]));
    assert_eq!(next_text(events).await, "third");
}

#[tokio::test]
async fn polling_only_text_and_binary() {
    let server = peer(&[]);
    let (client, mut events) = Client::builder(url(&server))
        .transports([TransportType::Polling])
        .connect()
        .await
        .unwrap();
    assert_eq!(client.transport(), TransportType::Polling);
    assert_eq!(client.handshake().upgrades, vec!["websocket".to_owned()]);
    assert_eq!(client.handshake().max_payload, Some(1_000_000));
    echo_round_trip(&client, &mut events).await;
    let info = command(&client, &mut events, "cmd:info").await;
    assert_eq!(info["transport"], "polling");
    assert_eq!(info["sid"], client.sid());
    // A burst of server messages arrives in order (several per polling response).
    client.send("cmd:burst 200").await.unwrap();
    for i in 0..200 {
        assert_eq!(next_text(&mut events).await, format!("burst {i}"));
    }
    client.close().await;
    assert!(matches!(
        next_close(&mut events).await,
        CloseReason::ForcedClose
    ));
}

#[tokio::test]
async fn websocket_only_text_and_binary() {
    let server = peer(&[]);
    let (client, mut events) = Client::builder(url(&server))
        .transports([TransportType::Websocket])
        .connect()
        .await
        .unwrap();
    assert_eq!(client.transport(), TransportType::Websocket);
    assert!(client.handshake().upgrades.is_empty());
    echo_round_trip(&client, &mut events).await;
    let info = command(&client, &mut events, "cmd:info").await;
    assert_eq!(info["transport"], "websocket");
    // `Events` is also a `Stream`.
    client.send("via stream").await.unwrap();
    match timeout(STEP, futures_util::StreamExt::next(&mut events)).await {
        Ok(Some(Event::Message(m))) => assert_eq!(m.as_text(), Some("via stream")),
        other => panic!("{other:?}"),
    }
    client.close().await;
    assert!(matches!(
        next_close(&mut events).await,
        CloseReason::ForcedClose
    ));
    let line = server.next_line(STEP).unwrap();
    assert_eq!(line, format!("close {} transport close", client.sid()));
}

#[tokio::test]
async fn upgrade_keeps_every_message_in_order() {
    let server = peer(&[]);
    let (client, mut events) = Client::builder(url(&server)).connect().await.unwrap();
    assert_eq!(client.transport(), TransportType::Polling);
    // Sent before, during and after the upgrade: all must come back, in order.
    for i in 0..100 {
        if i % 7 == 0 {
            client.send(vec![i as u8; i + 1]).await.unwrap();
        } else {
            client.send(format!("m{i}")).await.unwrap();
        }
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let mut upgraded = false;
    let mut i = 0;
    while i < 100 {
        match timeout(STEP, events.recv()).await.unwrap().unwrap() {
            Event::Message(m) => {
                if i % 7 == 0 {
                    assert_eq!(m, Message::from(vec![i as u8; i + 1]));
                } else {
                    assert_eq!(m.as_text(), Some(format!("m{i}").as_str()));
                }
                i += 1;
            }
            Event::Upgrade(TransportType::Websocket) => upgraded = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    if !upgraded {
        wait_upgrade(&mut events).await;
    }
    assert_eq!(client.transport(), TransportType::Websocket);
    echo_round_trip(&client, &mut events).await;
    let info = command(&client, &mut events, "cmd:info").await;
    assert_eq!(info["transport"], "websocket");
    client.close().await;
    assert!(matches!(
        next_close(&mut events).await,
        CloseReason::ForcedClose
    ));
}

#[tokio::test]
async fn heartbeat_keeps_the_session_alive() {
    // The server pings every 100 ms and gives up after 100 ms without a pong.
    let server = peer(&["--ping-interval", "100", "--ping-timeout", "100"]);
    for transports in [
        vec![TransportType::Polling],
        vec![TransportType::Websocket],
        vec![TransportType::Polling, TransportType::Websocket],
    ] {
        let (client, mut events) = Client::builder(url(&server))
            .transports(transports.clone())
            .connect()
            .await
            .unwrap();
        assert_eq!(client.handshake().ping_interval, 100);
        // 15 ping periods: the session survives only if every ping is answered in time.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            client.is_connected(),
            "{transports:?}: {:?}",
            client.close_reason()
        );
        client.send("still here").await.unwrap();
        assert_eq!(next_text(&mut events).await, "still here");
        client.close().await;
        next_close(&mut events).await;
        let line = server.next_line(STEP).unwrap();
        assert!(!line.contains("ping timeout"), "{transports:?}: {line}");
    }
}

#[tokio::test]
async fn close_reasons() {
    let server = peer(&[]);
    for transports in [vec![TransportType::Polling], vec![TransportType::Websocket]] {
        // The server closes: "transport close".
        let (client, mut events) = Client::builder(url(&server))
            .transports(transports.clone())
            .connect()
            .await
            .unwrap();
        client.send("cmd:close").await.unwrap();
        let reason = next_close(&mut events).await;
        assert!(
            matches!(reason, CloseReason::TransportClose),
            "{transports:?}: {reason:?}"
        );
        assert_eq!(reason.as_str(), "transport close");
        assert!(!client.is_connected());
        assert!(client.send("late").await.is_err());
        assert!(
            events.recv().await.is_none(),
            "the stream ends after the close"
        );

        // The client closes: "forced close" here, the server sees the session end.
        let (client, mut events) = Client::builder(url(&server))
            .transports(transports.clone())
            .connect()
            .await
            .unwrap();
        client.send("queued before close").await.unwrap();
        client.close().await;
        assert_eq!(next_close(&mut events).await.as_str(), "forced close");
        assert_eq!(client.closed().await.as_str(), "forced close");
        // Drain the server's close lines of both sessions.
        let mut closes = 0;
        while closes < 2 {
            let line = server.next_line(STEP).expect("server close line");
            if line.starts_with("close ") {
                closes += 1;
            }
        }
    }
}

#[tokio::test]
async fn dropping_every_handle_closes_the_session() {
    let server = peer(&[]);
    let (client, mut events) = Client::builder(url(&server))
        .transports([TransportType::Websocket])
        .connect()
        .await
        .unwrap();
    let sid = client.sid().to_owned();
    drop(client);
    assert_eq!(next_close(&mut events).await.as_str(), "forced close");
    let line = server.next_line(STEP).unwrap();
    assert!(line.starts_with(&format!("close {sid} ")), "{line}");
}

#[tokio::test]
async fn server_gone_is_a_transport_error_or_close() {
    for transports in [vec![TransportType::Polling], vec![TransportType::Websocket]] {
        let server = peer(&[]);
        let (client, mut events) = Client::builder(url(&server))
            .transports(transports.clone())
            .connect()
            .await
            .unwrap();
        drop(server); // kills node
        let reason = next_close(&mut events).await;
        assert!(
            matches!(
                reason,
                CloseReason::TransportError(_) | CloseReason::TransportClose
            ),
            "{transports:?}: {reason:?}"
        );
        assert!(!client.is_connected());
    }
}

#[tokio::test]
async fn polling_posts_respect_max_payload() {
    // The server refuses (413, closes) any POST over 1000 bytes.
    let mut server = peer(&["--max-buffer", "1000"]);
    let (client, mut events) = Client::builder(url(&server))
        .transports([TransportType::Polling])
        .connect()
        .await
        .unwrap();
    assert_eq!(client.handshake().max_payload, Some(1000));
    // 60 messages of ~100 bytes queued at once: they must go out as several POSTs.
    for i in 0..60 {
        client
            .try_send(format!("{i:03}{}", "x".repeat(97)))
            .unwrap();
    }
    client.send(vec![7u8; 300]).await.unwrap(); // ~400 bytes base64
    for i in 0..60 {
        let text = next_text(&mut events).await;
        assert!(text.starts_with(&format!("{i:03}")), "{text}");
    }
    assert_eq!(
        next_message(&mut events).await,
        Message::from(vec![7u8; 300])
    );
    client.flush().await.unwrap();
    let mut posts = Vec::new();
    while let Some(line) = server.process().next_line(Duration::from_millis(300)) {
        if let Some(n) = line.strip_prefix("post-bytes ") {
            posts.push(n.parse::<usize>().unwrap());
        }
        assert!(!line.starts_with("close "), "the server closed: {line}");
    }
    assert!(posts.len() >= 7, "{posts:?}");
    assert!(posts.iter().all(|&n| n <= 1000), "{posts:?}");
    assert!(client.is_connected());
}

#[tokio::test]
async fn path_query_headers_timestamp_and_cookies_on_every_request() {
    let server = peer(&["--cookie", "--path", "/custom"]);
    let (client, mut events) = Client::builder(format!("{}?from=url", url(&server)))
        .path("/custom")
        .query("token", "a b")
        .header("x-test", "yes")
        .connect()
        .await
        .unwrap();
    wait_upgrade(&mut events).await;
    client.send("ping-after-upgrade").await.unwrap();
    assert_eq!(next_text(&mut events).await, "ping-after-upgrade");
    let requests = command(&client, &mut events, "cmd:requests").await;
    let requests = requests.as_array().unwrap();
    assert!(requests.len() >= 3, "{requests:?}");
    let io_cookie = format!("io={}", client.sid());
    let mut saw_websocket = false;
    for (i, r) in requests.iter().enumerate() {
        let url = r["url"].as_str().unwrap();
        assert!(url.starts_with("/custom/?"), "{url}");
        assert!(
            url.contains("from=url") && url.contains("token=a+b"),
            "{url}"
        );
        assert!(url.contains("EIO=4"), "{url}");
        assert_eq!(r["headers"]["x-test"], "yes", "{r}");
        if r["transport"] == "polling" {
            assert!(url.contains("&t="), "timestamp param missing: {url}");
        } else {
            saw_websocket = true;
        }
        if i > 0 {
            // Every request after the handshake carries the cookie the handshake set.
            let cookie = r["cookie"].as_str().unwrap_or_default();
            assert!(
                cookie.contains(&io_cookie),
                "request {i} {url}: cookie {cookie:?}"
            );
        }
    }
    assert!(
        saw_websocket,
        "the upgrade request was not seen: {requests:?}"
    );
    client.close().await;
}

#[tokio::test]
async fn without_the_jar_no_cookie_is_sent() {
    let server = peer(&["--cookie"]);
    let (client, mut events) = Client::builder(url(&server))
        .transports([TransportType::Polling])
        .without_cookie_jar()
        .connect()
        .await
        .unwrap();
    let requests = command(&client, &mut events, "cmd:requests").await;
    let requests = requests.as_array().unwrap();
    assert!(requests.len() >= 2);
    assert!(
        requests.iter().all(|r| r["cookie"].is_null()),
        "{requests:?}"
    );
    client.close().await;
}

#[tokio::test]
async fn shared_jar_keeps_cookies_across_connections() {
    let server = peer(&["--cookie"]);
    let builder: ClientBuilder = Client::builder(url(&server)).transports([TransportType::Polling]);
    let jar = builder.jar().unwrap().clone();
    let (first, mut events) = builder.clone().connect().await.unwrap();
    let first_sid = first.sid().to_owned();
    first.close().await;
    next_close(&mut events).await;
    assert!(jar
        .cookie_header(&url(&server))
        .unwrap()
        .is_some_and(|c| c.contains(&format!("io={first_sid}"))));
    // A reconnection from a clone of the builder sends the stored cookie on its handshake.
    let (second, mut events) = builder.connect().await.unwrap();
    let requests = command(&second, &mut events, "cmd:requests").await;
    let handshake_cookie = requests[0]["cookie"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        handshake_cookie.contains(&format!("io={first_sid}")),
        "{handshake_cookie:?}"
    );
    second.close().await;
}

#[tokio::test]
async fn remember_upgrade_connects_over_websocket_next_time() {
    let server = peer(&[]);
    let builder = Client::builder(url(&server)).remember_upgrade(true);
    let (first, mut events) = builder.clone().connect().await.unwrap();
    assert_eq!(first.transport(), TransportType::Polling);
    wait_upgrade(&mut events).await;
    first.close().await;
    let (second, mut events) = builder.connect().await.unwrap();
    assert_eq!(second.transport(), TransportType::Websocket);
    second.send("direct").await.unwrap();
    assert_eq!(next_text(&mut events).await, "direct");
    second.close().await;
}

#[tokio::test]
async fn upgrade_off_and_server_without_upgrades_stay_on_polling() {
    let server = peer(&["--no-upgrades"]);
    let (client, mut events) = Client::builder(url(&server)).connect().await.unwrap();
    assert!(client.handshake().upgrades.is_empty());
    let server2 = peer(&[]);
    let (client2, mut events2) = Client::builder(url(&server2))
        .upgrade(false)
        .connect()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (c, e) in [(&client, &mut events), (&client2, &mut events2)] {
        let info = command(c, e, "cmd:info").await;
        assert_eq!(info["transport"], "polling");
        assert_eq!(c.transport(), TransportType::Polling);
    }
}

#[tokio::test]
async fn try_all_transports_falls_back() {
    // The server only allows polling; the client prefers WebSocket.
    let server = peer(&["--transports", "polling"]);
    let refused = Client::builder(url(&server))
        .transports([TransportType::Websocket, TransportType::Polling])
        .connect()
        .await;
    assert!(refused.is_err());
    let (client, mut events) = Client::builder(url(&server))
        .transports([TransportType::Websocket, TransportType::Polling])
        .try_all_transports(true)
        .connect()
        .await
        .unwrap();
    assert_eq!(client.transport(), TransportType::Polling);
    client.send("fallback").await.unwrap();
    assert_eq!(next_text(&mut events).await, "fallback");
}

#[tokio::test]
async fn handshake_errors_are_reported() {
    let server = peer(&["--transports", "websocket"]);
    // Polling is not enabled on this server: 400 {"code":0,"message":"Transport unknown"}.
    let err = Client::builder(url(&server))
        .transports([TransportType::Polling])
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.server_message(), Some("Transport unknown"), "{err}");
    // Nothing listens on the wrong path.
    let err = Client::builder(url(&server))
        .path("/nope")
        .transports([TransportType::Websocket])
        .connect()
        .await
        .unwrap_err();
    assert!(!err.to_string().is_empty());
}

/// The same client against both conformance servers (npm `engine.io` and our `engine-io`, both
/// with pingInterval 300 ms / pingTimeout 200 ms): every transport mode, echo, heartbeat, cookie.
#[tokio::test]
async fn against_the_reference_and_our_engine_io_server() {
    use protocol_tests::engineio::{EioServer, ServerOptions, Target};
    for target in [Target::Reference, Target::Ours] {
        let options = ServerOptions {
            cookie: true,
            ..ServerOptions::default()
        };
        let server = EioServer::start_with(target, &options);
        let url = format!("http://127.0.0.1:{}", server.port());
        for transports in [
            vec![TransportType::Polling],
            vec![TransportType::Websocket],
            vec![TransportType::Polling, TransportType::Websocket],
        ] {
            let what = format!("{target:?} {transports:?}");
            let builder = Client::builder(&url).transports(transports.clone());
            let jar = builder.jar().unwrap().clone();
            let (client, mut events) = builder.connect().await.unwrap();
            if transports.len() == 2 {
                wait_upgrade(&mut events).await;
            }
            echo_round_trip(&client, &mut events).await;
            // Several heartbeats.
            tokio::time::sleep(Duration::from_millis(1200)).await;
            assert!(client.is_connected(), "{what}: {:?}", client.close_reason());
            echo_round_trip(&client, &mut events).await;
            if transports[0] == TransportType::Polling {
                // The servers set the `io` cookie on the polling handshake (over a WebSocket
                // handshake the npm server does not know the sid yet and sets none).
                let cookie = jar.cookie_header(&url).unwrap().unwrap_or_default();
                assert!(
                    cookie.contains(&format!("io={}", client.sid())),
                    "{what}: {cookie:?}"
                );
            }
            client.close().await;
            assert_eq!(
                next_close(&mut events).await.as_str(),
                "forced close",
                "{what}"
            );
        }
    }
}
