//! The load-balancer case at the Socket.IO level: HAProxy (round-robin, `cookie SERVERID insert
//! indirect nocache`, [`protocol_tests::haproxy::Haproxy::sticky`]) in front of
//! two npm `socket.io` servers. Our Socket.IO client, with its cookie jar (on by default), stays
//! on one node over polling only and over polling-then-upgrade for 100 acknowledged events; with
//! the jar turned off it fails ("Session ID unknown" from the other node).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol_tests::haproxy::Haproxy;
use protocol_tests::NodePeer;
use serde_json::{json, Value as Json};
use socketio_client::{Args, ClientBuilder, DisconnectReason, Transports};

const ROUND_TRIPS: u64 = 100;

struct Cluster {
    _a: NodePeer,
    _b: NodePeer,
    haproxy: Haproxy,
}

fn cluster() -> Cluster {
    let a = NodePeer::spawn("sioclient-peer.js", &[], &[]);
    let b = NodePeer::spawn("sioclient-peer.js", &[], &[]);
    let haproxy = Haproxy::sticky(&[a.port(), b.port()]);
    Cluster {
        _a: a,
        _b: b,
        haproxy,
    }
}

fn client(cluster: &Cluster, transports: Transports, jar: bool) -> ClientBuilder {
    ClientBuilder::new(cluster.haproxy.url())
        .transports(transports)
        .force_new(true)
        .cookie_jar(jar)
        .reconnection(false)
        .connect_timeout(Duration::from_secs(10))
        .ack_timeout(Duration::from_secs(10))
}

async fn with_jar(transports: Transports) {
    let cluster = cluster();
    let reasons = Arc::new(Mutex::new(Vec::<DisconnectReason>::new()));
    let socket = client(&cluster, transports, true)
        .on_disconnect({
            let reasons = reasons.clone();
            move |_s, reason| {
                reasons.lock().unwrap().push(reason);
                async {}
            }
        })
        .connect()
        .await
        .expect("connect through haproxy");
    let id = socket.id().unwrap();
    for i in 0..ROUND_TRIPS {
        let (n, round): (u64, Json) = socket
            .emit_with_ack("ack", Args::new().arg(i).arg(json!({"round": i})))
            .unwrap()
            .await
            .unwrap_or_else(|e| panic!("round trip {i}: {e}"));
        assert_eq!((n, round), (i, json!({"round": i})));
    }
    let me: Json = socket
        .emit_with_ack("whoami", Args::new())
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        me["id"].as_str(),
        Some(id.as_str()),
        "same session, same node"
    );
    if transports == Transports::Upgrade {
        assert_eq!(me["transport"], "websocket", "{me}");
    }
    assert!(
        reasons.lock().unwrap().is_empty(),
        "{:?}",
        reasons.lock().unwrap()
    );
    assert!(socket.connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_through_sticky_haproxy_with_the_jar() {
    with_jar(Transports::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_through_sticky_haproxy_with_the_jar() {
    with_jar(Transports::Upgrade).await;
}

/// Without the jar, the second polling request goes to the other node, which does not know the
/// session: joining the namespace (or the exchange) fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_without_the_jar_fails() {
    let cluster = cluster();
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let result = client(&cluster, Transports::Polling, false).connect().await;
    let failed = match result {
        Err(e) => {
            errors.lock().unwrap().push(e.to_string());
            true
        }
        Ok(socket) => {
            let mut failed = false;
            for i in 0..ROUND_TRIPS {
                let answer = match socket.emit_with_ack::<_, Args>("ack", i) {
                    Ok(pending) => pending.await,
                    Err(e) => Err(e),
                };
                if let Err(e) = answer {
                    errors.lock().unwrap().push(e.to_string());
                    failed = true;
                    break;
                }
            }
            failed
        }
    };
    eprintln!("without the jar: {:?}", errors.lock().unwrap());
    assert!(failed, "without cookies the exchange should have failed");
    let errors = errors.lock().unwrap().clone();
    assert!(
        errors.iter().any(|e| e.contains("Session ID unknown")
            || e.contains("socket has been disconnected")),
        "{errors:?}"
    );
}
