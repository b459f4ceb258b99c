//! The load-balancer case, for real: HAProxy (round-robin, `cookie SERVERID insert indirect
//! nocache`) in front of two npm `engine.io` servers. Our client, with its cookie jar, keeps its
//! session on one node over polling only and over polling-then-upgrade, for 100 round trips.
//! The same client with the jar turned off fails with "Session ID unknown": the jar is what makes
//! it work.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use engine_io_client::{Client, CloseReason, Event, Events, TransportType};
use protocol_tests::engineio::{EioServer, Target};
use protocol_tests::haproxy::Haproxy;
use protocol_tests::NodePeer;
use serde_json::Value;
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(10);
const ROUND_TRIPS: usize = 100;

/// Two Engine.IO nodes behind HAProxy.
struct Cluster {
    _nodes: Vec<Box<dyn std::any::Any>>,
    haproxy: Haproxy,
    /// Whether the nodes answer `cmd:info` (our `eioclient-peer.js` does; the conformance
    /// servers only echo).
    identify: bool,
}

/// Two npm engine.io nodes (`eioclient-peer.js`, named `a` and `b`).
fn cluster() -> Cluster {
    let a = NodePeer::spawn("eioclient-peer.js", &["--name", "a"], &[]);
    let b = NodePeer::spawn("eioclient-peer.js", &["--name", "b"], &[]);
    let haproxy = Haproxy::sticky(&[a.port(), b.port()]);
    Cluster {
        _nodes: vec![Box::new(a), Box::new(b)],
        haproxy,
        identify: true,
    }
}

/// Two of our `engine-io` servers (`engine-io/examples/conformance_server.rs`).
fn cluster_of_ours() -> Cluster {
    let a = EioServer::start(Target::Ours);
    let b = EioServer::start(Target::Ours);
    let haproxy = Haproxy::sticky(&[a.port(), b.port()]);
    Cluster {
        _nodes: vec![Box::new(a), Box::new(b)],
        haproxy,
        identify: false,
    }
}

/// What went wrong in an exchange: every upgrade error and the close reason.
#[derive(Debug, Default)]
struct Trouble {
    upgrade_errors: Vec<String>,
    close: Option<CloseReason>,
}

impl Trouble {
    fn mentions(&self, text: &str) -> bool {
        self.upgrade_errors.iter().any(|e| e.contains(text))
            || self
                .close
                .as_ref()
                .is_some_and(|c| c.to_string().contains(text))
    }
}

/// The next message as text, recording upgrade errors; `Err` when the connection closes.
async fn next_text(events: &mut Events, trouble: &mut Trouble) -> Result<String, ()> {
    loop {
        match timeout(STEP, events.recv())
            .await
            .expect("no event in time")
        {
            Some(Event::Message(m)) => return Ok(m.as_text().unwrap().to_owned()),
            Some(Event::Upgrade(_)) => continue,
            Some(Event::UpgradeError(e)) => trouble.upgrade_errors.push(e.to_string()),
            Some(Event::Close(reason)) => {
                trouble.close = Some(reason);
                return Err(());
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => return Err(()),
        }
    }
}

/// 100 echo round trips, checking every 10th that the session is still on its first node.
/// Returns the node that served it.
async fn exchange(
    client: &Client,
    events: &mut Events,
    trouble: &mut Trouble,
    identify: bool,
) -> Result<String, ()> {
    let mut node = None;
    for i in 0..ROUND_TRIPS {
        if identify && i % 10 == 0 {
            client.send("cmd:info").await.map_err(drop)?;
            let info: Value = serde_json::from_str(&next_text(events, trouble).await?).unwrap();
            let this = info["node"].as_str().unwrap().to_owned();
            assert_eq!(info["sid"], client.sid(), "another session answered");
            match &node {
                None => node = Some(this),
                Some(first) => assert_eq!(first, &this, "the session moved between nodes"),
            }
        }
        let text = format!("message {i}");
        client.send(text.clone()).await.map_err(drop)?;
        assert_eq!(next_text(events, trouble).await?, text);
    }
    Ok(node.unwrap_or_default())
}

async fn run(
    cluster: &Cluster,
    upgrade: bool,
    jar: bool,
) -> (Result<String, ()>, Trouble, TransportType) {
    run_url(&cluster.haproxy.url(), cluster.identify, upgrade, jar).await
}

async fn run_url(
    url: &str,
    identify: bool,
    upgrade: bool,
    jar: bool,
) -> (Result<String, ()>, Trouble, TransportType) {
    let mut builder = Client::builder(url);
    builder = if upgrade {
        builder.transports([TransportType::Polling, TransportType::Websocket])
    } else {
        builder.transports([TransportType::Polling])
    };
    if !jar {
        builder = builder.without_cookie_jar();
    }
    let (client, mut events) = builder.connect().await.expect("handshake through haproxy");
    let mut trouble = Trouble::default();
    let result = exchange(&client, &mut events, &mut trouble, identify).await;
    if result.is_ok() && upgrade {
        // Give an upgrade still in progress the time to finish or fail, then check again.
        let deadline = Instant::now() + STEP;
        while client.transport() != TransportType::Websocket && Instant::now() < deadline {
            if let Ok(Some(Event::UpgradeError(e))) =
                timeout(Duration::from_millis(50), events.recv()).await
            {
                trouble.upgrade_errors.push(e.to_string());
                break;
            }
        }
    }
    let transport = client.transport();
    client.close().await;
    (result, trouble, transport)
}

#[tokio::test]
async fn polling_through_sticky_haproxy_with_the_jar() {
    let cluster = cluster();
    let (result, trouble, transport) = run(&cluster, false, true).await;
    assert!(result.is_ok(), "{trouble:?}");
    assert!(!trouble.mentions("Session ID unknown"), "{trouble:?}");
    assert_eq!(transport, TransportType::Polling);
}

#[tokio::test]
async fn upgrade_through_sticky_haproxy_with_the_jar() {
    let cluster = cluster();
    let (result, trouble, transport) = run(&cluster, true, true).await;
    assert!(result.is_ok(), "{trouble:?}");
    assert!(trouble.upgrade_errors.is_empty(), "{trouble:?}");
    assert_eq!(
        transport,
        TransportType::Websocket,
        "the upgrade did not happen"
    );
}

#[tokio::test]
async fn several_clients_each_stay_on_their_node() {
    let cluster = cluster();
    let url = cluster.haproxy.url();
    let runs = (0..4).map(|i| {
        let url = url.clone();
        tokio::spawn(async move { run_url(&url, true, i % 2 == 0, true).await })
    });
    let mut nodes = Vec::new();
    for r in runs {
        let (result, trouble, _) = r.await.unwrap();
        nodes.push(result.unwrap_or_else(|()| panic!("{trouble:?}")));
    }
    // Round-robin spread the sessions over both nodes, and each stayed where it started.
    assert!(
        nodes.iter().any(|n| n == "a") && nodes.iter().any(|n| n == "b"),
        "{nodes:?}"
    );
}

#[tokio::test]
async fn polling_without_the_jar_fails_with_session_id_unknown() {
    let cluster = cluster();
    let (result, trouble, _) = run(&cluster, false, false).await;
    eprintln!("without the jar (polling): {trouble:?}");
    assert!(
        result.is_err(),
        "without cookies the exchange should have failed"
    );
    assert!(
        matches!(trouble.close, Some(CloseReason::TransportError(_))),
        "{trouble:?}"
    );
    assert!(trouble.mentions("Session ID unknown"), "{trouble:?}");
}

#[tokio::test]
async fn upgrade_without_the_jar_fails_with_session_id_unknown() {
    let cluster = cluster();
    let (result, trouble, _) = run(&cluster, true, false).await;
    eprintln!("without the jar (upgrade): {result:?} {trouble:?}");
    // Either the polling exchange broke, or the upgrade was refused by the other node: in both
    // cases the load balancer sent a request of the session to a node that does not know it.
    assert!(
        result.is_err() || !trouble.upgrade_errors.is_empty(),
        "without cookies something should have failed: {trouble:?}"
    );
    assert!(trouble.mentions("Session ID unknown"), "{trouble:?}");
}

#[tokio::test]
async fn our_servers_behind_haproxy_with_and_without_the_jar() {
    let cluster = cluster_of_ours();
    for upgrade in [false, true] {
        let (result, trouble, transport) = run(&cluster, upgrade, true).await;
        assert!(result.is_ok(), "upgrade {upgrade}: {trouble:?}");
        assert!(
            trouble.upgrade_errors.is_empty(),
            "upgrade {upgrade}: {trouble:?}"
        );
        let expected = if upgrade {
            TransportType::Websocket
        } else {
            TransportType::Polling
        };
        assert_eq!(transport, expected);
    }
    let (result, trouble, _) = run(&cluster, false, false).await;
    eprintln!("our servers without the jar: {trouble:?}");
    assert!(result.is_err());
    assert!(trouble.mentions("Session ID unknown"), "{trouble:?}");
}
