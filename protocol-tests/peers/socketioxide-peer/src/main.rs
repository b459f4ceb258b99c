//! socketioxide with the three events sioload measures, on namespace `/`:
//! `echo` (emit `echo` back to the sender), `join` (join the named room) and `bcast` (emit `bcast`
//! to room `bench`). Settings are socketioxide's defaults except `--ping-interval MS`.
//!
//! Usage: `socketioxide-peer --port PORT [--ping-interval MS]`; prints `listening PORT`.
//! Runs a single-threaded runtime like our `bench_server`: the harness pins it to one CPU.
use serde_json::Value;
use socketioxide::extract::{Data, SocketRef};
use socketioxide::SocketIo;
use std::time::Duration;

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port = arg("--port").unwrap_or(3100) as u16;
    let mut builder = SocketIo::builder();
    if let Some(ms) = arg("--ping-interval") {
        builder = builder.ping_interval(Duration::from_millis(ms));
    }
    let (layer, io) = builder.build_layer();
    io.ns("/", async |socket: SocketRef| {
        socket.on("echo", async |s: SocketRef, Data::<Value>(v)| {
            let _ = s.emit("echo", &v);
        });
        socket.on("join", async |s: SocketRef, Data::<String>(room)| {
            s.join(room);
        });
        socket.on("bcast", async |s: SocketRef, Data::<Value>(v)| {
            let _ = s.within("bench").emit("bcast", &v).await;
        });
    });
    let app = axum::Router::new().layer(layer);
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("socketioxide-peer: cannot bind {port}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "listening {}",
        listener.local_addr().map(|a| a.port()).unwrap_or(port)
    );
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("socketioxide-peer: {e}");
        std::process::exit(1);
    }
}
