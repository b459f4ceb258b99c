//! `siocat`, the command-line client of `socketio-client`, run as a user would run it against the
//! npm `socket.io` server (`protocol-tests/js/sioclient-peer.js`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use protocol_tests::rust_peer::bin_binary;
use protocol_tests::NodePeer;
use serde_json::{json, Value as Json};
use tokio::io::AsyncWriteExt;

/// `siocat`, built once per process (cargo does not expose another package's binaries to
/// integration tests) with the test build's features, so only siocat itself is compiled.
fn siocat() -> PathBuf {
    bin_binary("socketio-client", "siocat")
        .unwrap_or_else(|e| panic!("building siocat failed: {e}"))
}

struct Run {
    code: Option<i32>,
    stdout: Vec<Json>,
    stderr: String,
}

/// Runs siocat with `args`, writes `stdin_lines`, closes stdin, and waits (bounded).
async fn run(args: &[&str], stdin_lines: &[&str]) -> Run {
    let mut child = tokio::process::Command::new(siocat())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for line in stdin_lines {
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.write_all(b"\n").await.unwrap();
    }
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("siocat did not exit in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    Run {
        code: out.status.code(),
        stdout: stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
            .collect(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn peer() -> NodePeer {
    NodePeer::spawn("sioclient-peer.js", &[], &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emits_prints_events_and_acks() {
    let server = peer();
    let url = format!("http://127.0.0.1:{}", server.port());
    for transport in ["polling", "websocket", "upgrade"] {
        let out = run(
            &[
                &url,
                "--transport",
                transport,
                "--ack",
                "--ack-timeout",
                "1000",
                "--emit",
                "ack",
                r#"{"from":"flag"}"#,
                "--wait",
                "300",
            ],
            &[
                r#"["ack", "hello", 2, {"nested": [true, null]}]"#,
                r#"["echo", {"nested": [1, "two"]}]"#,
                r#"["send-binary"]"#,
                "not json",
            ],
        )
        .await;
        assert_eq!(out.code, Some(0), "{transport}: {}", out.stderr);
        let has = |j: &Json| out.stdout.contains(j);
        assert!(has(&json!({"ack": [{"from": "flag"}]})), "{:?}", out.stdout);
        assert!(
            has(&json!({"ack": ["hello", 2, {"nested": [true, null]}]})),
            "{:?}",
            out.stdout
        );
        assert!(
            has(&json!(["echo", {"nested": [1, "two"]}])),
            "{:?}",
            out.stdout
        );
        // "echo" and "send-binary" are never acknowledged by the server.
        assert!(
            has(&json!({"ack_error": "operation has timed out"})),
            "{:?}",
            out.stdout
        );
        assert!(
            has(&json!(["bin", {"data": {"_binary": "AQID"}}])),
            "{:?}",
            out.stdout
        );
        assert!(out.stderr.contains("ignoring stdin line"), "{}", out.stderr);
        assert!(out.stderr.contains("connected"), "{}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_auth_and_headers() {
    let server = peer();
    let url = format!("http://127.0.0.1:{}", server.port());
    let out = run(
        &[
            &url,
            "--namespace",
            "/admin",
            "--auth",
            r#"{"token":"abc"}"#,
            "--header",
            "X-Siocat: yes",
            "--transport",
            "polling",
            "--ack",
        ],
        &[r#"["whoami"]"#],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let ack = &out.stdout[0]["ack"][0];
    assert_eq!(ack["nsp"], "/admin");
    assert_eq!(ack["auth"], json!({"token": "abc"}));
    assert_eq!(ack["headers"]["x-siocat"], "yes");
    assert_eq!(ack["transport"], "polling");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cannot_connect_exits_non_zero() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(&[&format!("http://127.0.0.1:{port}")], &[]).await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("cannot connect"), "{}", out.stderr);

    let server = peer();
    let url = format!("http://127.0.0.1:{}", server.port());
    let out = run(&[&url, "--namespace", "/refused"], &[]).await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("not authorized"), "{}", out.stderr);

    let out = run(&["--transport", "smoke-signals", &url], &[]).await;
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("usage"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_when_the_server_disconnects() {
    let server = peer();
    let url = format!("http://127.0.0.1:{}", server.port());
    let mut child = tokio::process::Command::new(siocat())
        .args([url.as_str(), "--transport", "websocket"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"[\"server-disconnect\"]\n").await.unwrap();
    // stdin stays open: siocat must exit because the server disconnected it.
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("siocat did not exit after the server disconnect")
        .unwrap();
    drop(stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("io server disconnect"), "{stderr}");
}
