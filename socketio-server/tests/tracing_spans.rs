//! `tracing`: every connection has a `socketio_connection` span carrying its Engine.IO sid, and
//! what its handlers log is recorded inside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use socketio_server::{SocketIo, SocketRef};

mod support;
use support::{serve, sid_of, Client};

/// What the subscriber writes, shared with the test.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test]
async fn handler_logs_are_inside_the_connection_span_with_its_sid() {
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // Thread-local: the test's current-thread runtime runs the server and its handlers here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let io = SocketIo::new();
    io.ns("/", |socket: SocketRef| async move {
        socket.on("log", |s: SocketRef| async move {
            tracing::info!("handler ran for {}", s.id());
            let _ = s.emit("eio", &s.conn().id());
        });
    });
    let port = serve(&io).await;

    let mut sids = Vec::new();
    for _ in 0..2 {
        let mut c = Client::open(port).await;
        let reply = c.connect("").await;
        let socket_id = sid_of(&reply);
        c.send(r#"42["log"]"#).await;
        let p = c.packet().await;
        let eio = p
            .strip_prefix(r#"2["eio",""#)
            .and_then(|s| s.strip_suffix(r#""]"#))
            .unwrap_or_else(|| panic!("{p}"))
            .to_owned();
        sids.push((socket_id, eio, c));
    }
    assert_ne!(sids[0].1, sids[1].1);
    let lines = buf.lines();
    for (socket_id, eio, _) in &sids {
        let span = format!("socketio_connection{{sid={eio}}}");
        let line = lines
            .iter()
            .find(|l| l.contains(&format!("handler ran for {socket_id}")))
            .unwrap_or_else(|| panic!("no line for {socket_id}: {lines:#?}"));
        assert!(line.contains(&span), "{line} is not in {span}");
    }
}
