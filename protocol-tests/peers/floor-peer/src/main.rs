//! The floor: what a bare tokio-tungstenite server must do at least to answer the frames sioload
//! sends over WebSocket. No Engine.IO or Socket.IO parsing beyond prefixes, no heartbeat, one room.
//! Every real Socket.IO server does more, so its figures bound from below what ours can reach on
//! this machine.
//!
//! Usage: `floor-peer --port PORT`; prints `listening PORT`.
use futures_util::{SinkExt, StreamExt};
use std::cell::RefCell;
use std::rc::Rc;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// The receivers of room `bench`; a single-threaded runtime needs no lock.
type Room = Rc<RefCell<Vec<mpsc::UnboundedSender<Utf8Bytes>>>>;

const OPEN: &str = r#"0{"sid":"AAAAAAAAAAAAAAAAAAAA","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
const CONNECT: &str = r#"40{"sid":"BBBBBBBBBBBBBBBBBBBB"}"#;

async fn serve(tcp: tokio::net::TcpStream, room: Room) {
    // Small buffers: the frames are small, and memory per idle connection is one of the measures.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (queue, mut queued) = mpsc::unbounded_channel::<Utf8Bytes>();
    let _ = queue.send(OPEN.into());
    let writer = tokio::task::spawn_local(async move {
        while let Some(first) = queued.recv().await {
            // Everything queued goes out in one flush.
            if sink.feed(Message::Text(first)).await.is_err() {
                return;
            }
            while let Ok(next) = queued.try_recv() {
                if sink.feed(Message::Text(next)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        if text.as_str() == "40" {
            let _ = queue.send(CONNECT.into());
        } else if text.starts_with("42[\"echo\"") {
            let _ = queue.send(text);
        } else if text.starts_with("42[\"join\"") {
            room.borrow_mut().push(queue.clone());
        } else if text.starts_with("42[\"bcast\"") {
            room.borrow_mut().retain(|q| q.send(text.clone()).is_ok());
        }
    }
    writer.abort();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(3100);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("floor-peer: {e}");
            std::process::exit(1);
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("floor-peer: cannot bind {port}: {e}");
                std::process::exit(1);
            }
        };
        println!(
            "listening {}",
            listener.local_addr().map(|a| a.port()).unwrap_or(port)
        );
        let room: Room = Rc::default();
        loop {
            if let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                tokio::task::spawn_local(serve(tcp, Rc::clone(&room)));
            }
        }
    });
}
