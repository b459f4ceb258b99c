//! A minimal HTTP/1.1 client over a raw [`TcpStream`], for conformance tests that need full control:
//! requests left pending, aborted mid-way, malformed, or sent concurrently on separate connections.
//! Responses are parsed strictly enough to assert exact status, headers and body bytes
//! (Content-Length, chunked, or read-to-close bodies).

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Default bound on one request/response exchange.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted (tests never expect more).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers in order; names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (case-insensitive), e.g. several `Set-Cookie`.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as UTF-8 (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    /// When the body is not JSON (the message shows it).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Request target (path and query), e.g. `/engine.io/?EIO=4&transport=polling`.
    pub target: String,
    /// Extra headers (`Host` and `Content-Length` are added unless given).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A request with no headers and no body.
    pub fn new(method: &str, target: &str) -> HttpRequest {
        HttpRequest {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A GET request.
    pub fn get(target: &str) -> HttpRequest {
        HttpRequest::new("GET", target)
    }

    /// A POST request with `body`.
    pub fn post(target: &str, body: impl Into<Vec<u8>>) -> HttpRequest {
        HttpRequest::new("POST", target).body(body)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> HttpRequest {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> HttpRequest {
        self.body = body.into();
        self
    }

    /// The request serialized as HTTP/1.1 bytes for `port`.
    pub fn to_bytes(&self, port: u16) -> Vec<u8> {
        let has = |n: &str| self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        if !has("host") {
            head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
        }
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let bodyless = matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS");
        if !has("content-length")
            && !has("transfer-encoding")
            && (!self.body.is_empty() || !bodyless)
        {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// One keep-alive HTTP/1.1 connection.
#[derive(Debug)]
pub struct HttpConnection {
    port: u16,
    stream: TcpStream,
    /// Bytes read past the end of the previous response.
    buffer: Vec<u8>,
}

impl HttpConnection {
    /// Connects to `127.0.0.1:port`.
    pub async fn connect(port: u16) -> io::Result<HttpConnection> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        Ok(HttpConnection {
            port,
            stream,
            buffer: Vec::new(),
        })
    }

    /// Writes `request` without waiting for the response.
    pub async fn send(&mut self, request: &HttpRequest) -> io::Result<()> {
        let bytes = request.to_bytes(self.port);
        self.send_raw(&bytes).await
    }

    /// Writes raw bytes (for malformed or partial requests).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Reads one response, waiting at most `timeout`.
    pub async fn read_response_timeout(
        &mut self,
        method: &str,
        timeout: Duration,
    ) -> io::Result<HttpResponse> {
        match tokio::time::timeout(timeout, self.read_response_inner(method)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no HTTP response within {timeout:?}"),
            )),
        }
    }

    /// Reads one response to a request with `method`, waiting at most [`HTTP_TIMEOUT`].
    pub async fn read_response(&mut self, method: &str) -> io::Result<HttpResponse> {
        self.read_response_timeout(method, HTTP_TIMEOUT).await
    }

    /// Sends `request` and reads its response ([`HTTP_TIMEOUT`]).
    pub async fn request(&mut self, request: &HttpRequest) -> io::Result<HttpResponse> {
        self.send(request).await?;
        self.read_response(&request.method).await
    }

    /// Waits (at most `timeout`) for the server to close the connection; true if it did, false
    /// when data arrived or the time ran out.
    pub async fn closed_by_peer(&mut self, timeout: Duration) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(timeout, self.stream.read(&mut byte)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    async fn read_response_inner(&mut self, method: &str) -> io::Result<HttpResponse> {
        // Interim responses (100 Continue, ...) are skipped; 101 is final.
        loop {
            let response = self.read_one_response(method).await?;
            if !(100..200).contains(&response.status) || response.status == 101 {
                return Ok(response);
            }
        }
    }

    /// Reads exactly one response head (and body), interim or final.
    pub async fn read_interim_or_final(&mut self, method: &str) -> io::Result<HttpResponse> {
        match tokio::time::timeout(HTTP_TIMEOUT, self.read_one_response(method)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no HTTP response")),
        }
    }

    async fn read_one_response(&mut self, method: &str) -> io::Result<HttpResponse> {
        let head_end = loop {
            if let Some(i) = find(&self.buffer, b"\r\n\r\n") {
                break i;
            }
            if self.buffer.len() > MAX_HEAD {
                return Err(bad("response head too large"));
            }
            if self.fill().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed before a full response head ({} bytes: {:?})",
                        self.buffer.len(),
                        String::from_utf8_lossy(&self.buffer)
                    ),
                ));
            }
        };
        let head = String::from_utf8_lossy(&self.buffer[..head_end]).into_owned();
        self.buffer.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(bad(&format!("bad status line {status_line:?}")));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(&format!("bad status line {status_line:?}")))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let response_header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let body = if method == "HEAD" || status < 200 || status == 204 || status == 304 {
            Vec::new()
        } else if response_header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            self.read_chunked().await?
        } else if let Some(len) = response_header("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| bad(&format!("bad content-length {len:?}")))?;
            if len > MAX_BODY {
                return Err(bad("response body too large"));
            }
            while self.buffer.len() < len {
                if self.fill().await? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside the body",
                    ));
                }
            }
            self.buffer.drain(..len).collect()
        } else {
            while self.fill().await? != 0 {
                if self.buffer.len() > MAX_BODY {
                    return Err(bad("response body too large"));
                }
            }
            std::mem::take(&mut self.buffer)
        };
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    async fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buffer, b"\r\n") {
                    break i;
                }
                if self.fill().await? == 0 {
                    return Err(bad("connection closed inside a chunk size"));
                }
            };
            let line = String::from_utf8_lossy(&self.buffer[..line_end]).into_owned();
            self.buffer.drain(..line_end + 2);
            let size_text = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| bad(&format!("bad chunk size {line:?}")))?;
            if body.len() + size > MAX_BODY {
                return Err(bad("response body too large"));
            }
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                loop {
                    if let Some(i) = find(&self.buffer, b"\r\n") {
                        let empty = i == 0;
                        self.buffer.drain(..i + 2);
                        if empty {
                            return Ok(body);
                        }
                    } else if self.fill().await? == 0 {
                        return Ok(body);
                    }
                }
            }
            while self.buffer.len() < size + 2 {
                if self.fill().await? == 0 {
                    return Err(bad("connection closed inside a chunk"));
                }
            }
            body.extend_from_slice(&self.buffer[..size]);
            self.buffer.drain(..size + 2);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn bad(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// Sends `request` on a new connection to `127.0.0.1:port` and returns the response
/// ([`HTTP_TIMEOUT`]).
///
/// # Panics
/// On connection errors or timeout (the message says which request).
pub async fn http(port: u16, request: HttpRequest) -> HttpResponse {
    let what = format!("{} {}", request.method, request.target);
    let mut conn = HttpConnection::connect(port)
        .await
        .unwrap_or_else(|e| panic!("{what}: connect: {e}"));
    conn.request(&request)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Decodes a complete chunked body held in memory; `None` when malformed or incomplete.
pub fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = find(data, b"\r\n")?;
        let line = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}
