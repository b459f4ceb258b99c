//! A raw WebSocket client for tests that assert on the bytes of frames.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw WebSocket client: the upgrade by hand, then frames as bytes.
pub struct RawWs {
    pub tcp: TcpStream,
    pub buf: Vec<u8>,
    /// The 101's status line and headers.
    pub head: String,
}

impl RawWs {
    pub async fn connect(addr: SocketAddr) -> RawWs {
        RawWs::connect_with(addr, None).await
    }

    /// Connects with a receive buffer of `recv_buffer` bytes, if given (a client whose
    /// window fills fast when it does not read).
    pub async fn connect_with(addr: SocketAddr, recv_buffer: Option<u32>) -> RawWs {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(n) = recv_buffer {
            sock.set_recv_buffer_size(n).unwrap();
        }
        let mut tcp = sock.connect(addr).await.unwrap();
        let req = format!(
            "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        RawWs::after_request(tcp).await
    }

    /// The client of `tcp`, on which an upgrade request was sent: reads the 101 and the open
    /// packet.
    pub async fn after_request(tcp: TcpStream) -> RawWs {
        let mut ws = RawWs {
            tcp,
            buf: Vec::new(),
            head: String::new(),
        };
        let head = loop {
            if let Some(i) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&ws.buf[..i]).into_owned();
                ws.buf.drain(..i + 4);
                break head;
            }
            ws.fill().await;
        };
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        ws.head = head;
        // The open packet.
        let (op, payload) = ws.frame().await;
        assert_eq!(op, 1);
        assert!(payload.starts_with(b"0{\"sid\""));
        ws
    }

    pub async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), self.tcp.read(&mut chunk))
            .await
            .expect("read timeout")
            .unwrap();
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// The next server frame: (opcode, payload). Server frames are unmasked.
    pub async fn frame(&mut self) -> (u8, Vec<u8>) {
        loop {
            if self.buf.len() >= 2 {
                let op = self.buf[0] & 0x0f;
                let (len, start) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    n @ 0..=125 => (n as usize, 2),
                    _ => (usize::MAX, 0),
                };
                if len != usize::MAX && self.buf.len() >= start + len {
                    let payload = self.buf[start..start + len].to_vec();
                    self.buf.drain(..start + len);
                    return (op, payload);
                }
            }
            assert!(
                self.fill().await > 0,
                "connection ended without a close frame (1006)"
            );
        }
    }

    /// Frames until the close frame; its status code.
    pub async fn close_code(&mut self) -> u16 {
        loop {
            let (op, payload) = self.frame().await;
            if op == 8 {
                assert!(payload.len() >= 2, "close frame without a code");
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }

    /// Sends one frame; `mask` false sends it unmasked (forbidden from a client).
    pub async fn send(&mut self, first_byte: u8, payload: &[u8], mask: bool) {
        let f = client_frame(first_byte, payload, mask);
        self.tcp.write_all(&f).await.unwrap();
    }
}

/// One masked client frame.
pub fn masked(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    client_frame(first_byte, payload, true)
}

/// One client frame; `mask` false makes it unmasked (forbidden from a client).
pub fn client_frame(first_byte: u8, payload: &[u8], mask: bool) -> Vec<u8> {
    let mut f = vec![first_byte];
    let m = if mask { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => f.push(m | n as u8),
        n if n <= 0xffff => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if mask {
        let key = [0x12, 0x34, 0x56, 0x78];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// The test process's resident memory.
pub fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
