//! Test helpers: a server on a free port and a minimal raw HTTP/1.1 client.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

pub mod raw_ws;

use engine_io::{CloseReason, Config, Handler, Message, Server, Socket};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Records events and echoes messages.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<String>>,
}

/// The handler recording into a shared [`Recorder`].
pub struct RecHandler(pub Arc<Recorder>);

impl Handler for RecHandler {
    fn on_connect(&self, s: Arc<Socket>) {
        self.0
            .events
            .lock()
            .unwrap()
            .push(format!("connect {}", s.id()));
        let addr = s.remote_addr();
        self.0
            .events
            .lock()
            .unwrap()
            .push(format!("remote {addr:?}"));
    }
    fn on_message(&self, s: &Arc<Socket>, m: Message) {
        self.0.events.lock().unwrap().push(format!("message {m:?}"));
        let _ = s.try_send(m);
    }
    fn on_close(&self, _s: &Arc<Socket>, r: CloseReason) {
        self.0.events.lock().unwrap().push(format!("close {r}"));
    }
    fn on_upgrade(&self, _s: &Arc<Socket>) {
        self.0.events.lock().unwrap().push("upgrade".into());
    }
}

impl Recorder {
    pub fn has(&self, prefix: &str) -> bool {
        self.events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.starts_with(prefix))
    }
    pub async fn wait_for(&self, prefix: &str) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while !self.has(prefix) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no event {prefix:?} in {:?}", self.events.lock().unwrap()));
    }
}

pub fn fast_config() -> engine_io::ConfigBuilder {
    Config::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
}

pub async fn start(config: Config) -> (SocketAddr, Server, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let server = Server::new(config, RecHandler(rec.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener).await });
    (addr, server, rec)
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request on a fresh connection and reads the whole response.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(addr).await.unwrap();
    send_head(&mut s, method, path, headers, body).await;
    tokio::time::timeout(Duration::from_secs(5), read_response(&mut s))
        .await
        .expect("response timeout")
}

pub async fn send_head(
    s: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
}

pub async fn read_response(s: &mut TcpStream) -> Resp {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(r) = parse(&buf) {
            return r;
        }
    }
    parse(&buf)
        .unwrap_or_else(|| panic!("incomplete response: {:?}", String::from_utf8_lossy(&buf)))
}

fn parse(buf: &[u8]) -> Option<Resp> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let body = &buf[end + 4..];
    if body.len() < len {
        return None;
    }
    Some(Resp {
        status,
        headers,
        body: body[..len].to_vec(),
    })
}

pub async fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[], b"").await
}

pub async fn post(addr: SocketAddr, path: &str, body: &[u8]) -> Resp {
    request(
        addr,
        "POST",
        path,
        &[("Content-Type", "text/plain;charset=UTF-8")],
        body,
    )
    .await
}

/// Opens a v4 polling session and returns its sid.
pub async fn handshake(addr: SocketAddr, query: &str) -> String {
    let r = get(addr, &format!("/engine.io/?{query}&transport=polling")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let json_start = text.find('{').unwrap();
    let json_end = text.find('}').unwrap();
    let v: serde_json::Value = serde_json::from_str(&text[json_start..=json_end]).unwrap();
    v["sid"].as_str().unwrap().to_owned()
}
