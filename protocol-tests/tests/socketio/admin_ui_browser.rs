//! The real Admin UI (the built page of the npm `@socket.io/admin-ui` 0.5.1) in headless
//! Chromium against our chat demo started with `--admin --metrics`: the page itself must list our
//! socket, its room and our server, and disconnect the socket with its own button
//! (`js/admin-ui-browser-test.js`). The same traffic must show in the chat's `/metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use protocol_tests::{ensure_deps, http, run_node, HttpRequest, RustPeer};

/// The value of the sample `series` (name and labels exactly as printed), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .unwrap_or(0.0)
}

#[tokio::test]
async fn admin_ui_in_headless_chromium_lists_and_disconnects_our_sockets() {
    // One Chromium at a time in this test process (see `protocol_tests::browser`).
    let _one = protocol_tests::browser::one_at_a_time().await;
    ensure_deps();
    let server = RustPeer::spawn_example(
        "socketio-server",
        "chat",
        &["--port", "0", "--admin", "--metrics"],
    );
    let port = server.port();
    let url = format!("http://127.0.0.1:{port}");
    let shot = std::env::temp_dir().join(format!("admin-ui-{port}.png"));
    let shot_arg = shot.to_string_lossy().into_owned();
    let out = run_node(
        "admin-ui-browser-test.js",
        &[&url, &shot_arg],
        &[],
        Duration::from_secs(60),
    )
    .await;
    let result = out.ok_result("admin-ui-browser-test.js");
    // The sockets table shows the socket with its transport; the rooms table the room.
    let socket_row = result["socketRow"].as_str().unwrap();
    assert!(
        socket_row.contains(result["aliceId"].as_str().unwrap()),
        "{socket_row}"
    );
    let row = socket_row.to_lowercase();
    assert!(
        row.contains("websocket") || row.contains("polling"),
        "{socket_row}"
    );
    assert!(result["roomRow"].as_str().unwrap().contains("lobby"));
    let png = std::fs::read(&shot).expect("the screenshot of the sockets page");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    let _ = std::fs::remove_file(&shot);

    // The same port serves the Prometheus text, moved by the browser's traffic.
    let metrics = http(port, HttpRequest::get("/metrics")).await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        sample(&text, "socketio_packets_received_total") >= 3.0,
        "{text}"
    );
    assert!(
        sample(&text, "socketio_sent_bytes_total") > 1000.0,
        "{text}"
    );
}
