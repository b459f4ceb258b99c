//! Memory held by received messages that the application keeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The only test of this binary: it measures the process's RSS, which tests
// running beside it would move.

mod common;
use common::raw_ws::{masked, rss_kb, RawWs};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const FIN_TEXT: u8 = 0x81;

/// Keeps every small message it receives (as an application storing chat
/// lines would) and drops the large ones.
struct Keeper(Arc<std::sync::Mutex<Vec<engine_io::Message>>>);

impl engine_io::Handler for Keeper {
    fn on_connect(&self, _s: Arc<engine_io::Socket>) {}
    fn on_message(&self, _s: &Arc<engine_io::Socket>, m: engine_io::Message) {
        if m.len() < 100 {
            self.0.lock().unwrap().push(m);
        }
    }
    fn on_close(&self, _s: &Arc<engine_io::Socket>, _r: engine_io::CloseReason) {}
}

/// A small message that arrives in one read with a large one is a slice of
/// the connection's read chunk; an application that keeps it must not keep
/// the whole chunk (16 KiB or more) alive with it. 1 000 rounds of a 14 KB
/// message (dropped) plus a small one (kept) grew RSS by 19.1 MB before small
/// messages were copied out once a chunk is found still in use, 1.2 MB
/// after; the bound is 3 MB.
#[tokio::test]
async fn kept_small_messages_do_not_pin_their_read_chunks() {
    const ROUNDS: usize = 1000;
    let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = engine_io::Server::new(engine_io::Config::default(), Keeper(kept.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener).await });
    let mut ws = RawWs::connect(addr).await;
    let big = format!("4{}", "x".repeat(14_000));
    let rss0 = rss_kb();
    for i in 0..ROUNDS {
        // Both frames in one write, so that they arrive in one read.
        let mut both = masked(FIN_TEXT, big.as_bytes());
        both.extend(masked(FIN_TEXT, format!("4k{i}").as_bytes()));
        ws.tcp.write_all(&both).await.unwrap();
        if i % 50 == 49 {
            // Let the server read (and the client not run ahead of it).
            tokio::time::timeout(Duration::from_secs(5), async {
                while kept.lock().unwrap().len() < i + 1 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
            .await
            .expect("the server did not read the messages");
        }
    }
    tokio::time::timeout(Duration::from_secs(5), async {
        while kept.lock().unwrap().len() < ROUNDS {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the server did not read the messages");
    let grown = rss_kb().saturating_sub(rss0);
    eprintln!("RSS grew by {grown} kB for {ROUNDS} kept small messages");
    assert_eq!(kept.lock().unwrap()[7].as_text(), Some("k7"));
    assert!(
        grown < 3 * 1024,
        "RSS grew by {grown} kB for {ROUNDS} kept small messages"
    );
}
