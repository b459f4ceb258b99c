//! Nothing lost, no healthy client dropped: the npm `socket.io-client` 4.8 over HTTP
//! long-polling only, under bursts (`js/delivery.js`).
//!
//! * `burst`: a polling receiver in a room gets 5000 broadcasts of a 32-byte string, sent by a
//!   second client as fast as it can; every one must arrive, in order, and the receiver stays
//!   connected (ours used to drop it after one, with "transport error").
//! * `answered`: a polling client emits 10 000 acked events at once (one POST payload); every
//!   ack comes back, in order (ours used to close the session).
//!
//! Like the interop suites, each scenario runs against the npm `socket.io` reference (proving the
//! script and the assertions describe the reference) and against ours.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use protocol_tests::socketio::{interop_script, Target};
use serde_json::{json, Value};

/// Bound on one Node scenario (the script gives up by itself after 40 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(50);

async fn scenario(t: Target, name: &str, count: usize) -> Value {
    // The reference's default heartbeat: 10 000 events keep either peer busy for longer than
    // the conformance setup's 500 ms.
    let count = count.to_string();
    let result = interop_script(
        t,
        &["--default-heartbeat"],
        "delivery.js",
        &[name, &count, "URL"],
        SCRIPT_TIMEOUT,
    )
    .await;
    eprintln!("{t:?} {name} {count}: {result}");
    result
}

async fn burst_of_5000_broadcasts_to_a_polling_client(t: Target) {
    let r = scenario(t, "burst", 5000).await;
    assert_eq!(r["receiverDisconnects"], json!([]), "{r}");
    assert_eq!(r["received"], json!(5000), "{r}");
    assert_eq!(r["inOrder"], json!(true), "{r}");
    assert_eq!(r["receiverConnected"], json!(true), "{r}");
    assert_eq!(r["receiverTransport"], json!("polling"), "{r}");
    assert_eq!(r["senderDisconnects"], json!([]), "{r}");
}

async fn payload_of_10000_events_answered_in_full(t: Target) {
    let r = scenario(t, "answered", 10_000).await;
    assert_eq!(r["disconnects"], json!([]), "{r}");
    assert_eq!(r["answered"], json!(10_000), "{r}");
    assert_eq!(r["inOrder"], json!(true), "{r}");
    assert_eq!(r["connected"], json!(true), "{r}");
    assert_eq!(r["transport"], json!("polling"), "{r}");
}

protocol_tests::reference_and_ours!(
    burst_of_5000_broadcasts_to_a_polling_client,
    payload_of_10000_events_answered_in_full,
);
