//! A small WebSocket client (tokio-tungstenite) for conformance tests: connect with chosen headers,
//! see a refused handshake's status and body, send text/binary, receive with a bound, and observe
//! close frames and codes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

/// Default bound on connecting or waiting for a frame.
pub const WS_TIMEOUT: Duration = Duration::from_secs(5);

/// What the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFrame {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A close frame: code and reason (`None` when the frame had no payload).
    Close(Option<(u16, String)>),
    /// The connection ended without a close frame (or with an I/O error).
    Ended(String),
}

/// Why a WebSocket connection was not established.
#[derive(Debug)]
pub enum WsConnectError {
    /// The server answered the upgrade request with a non-101 response.
    Refused {
        /// Status code.
        status: u16,
        /// Body (may be empty).
        body: Vec<u8>,
    },
    /// Anything else (I/O, protocol, timeout).
    Other(String),
}

/// A connected WebSocket client.
#[derive(Debug)]
pub struct WsClient {
    ws: WebSocketStream<TcpStream>,
    /// Headers of the 101 response.
    pub response_headers: Vec<(String, String)>,
}

impl WsClient {
    /// Connects to `ws://127.0.0.1:<port><target>` with extra request `headers`.
    pub async fn connect(
        port: u16,
        target: &str,
        headers: &[(&str, &str)],
    ) -> Result<WsClient, WsConnectError> {
        let url = format!("ws://127.0.0.1:{port}{target}");
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| WsConnectError::Other(e.to_string()))?;
        for (k, v) in headers {
            let name = tungstenite::http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| WsConnectError::Other(e.to_string()))?;
            let value = tungstenite::http::HeaderValue::from_str(v)
                .map_err(|e| WsConnectError::Other(e.to_string()))?;
            request.headers_mut().append(name, value);
        }
        let connect = async {
            let stream = TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| WsConnectError::Other(format!("connect: {e}")))?;
            let _ = stream.set_nodelay(true);
            // No client-side size limit: tests send oversized messages on purpose.
            let config = WebSocketConfig::default()
                .max_message_size(None)
                .max_frame_size(None);
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(|e| match e {
                    tungstenite::Error::Http(response) => {
                        let raw = response.body().clone().unwrap_or_default();
                        // tungstenite hands over the body as received, chunked framing included.
                        let chunked = response
                            .headers()
                            .get("transfer-encoding")
                            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
                        let body = if chunked {
                            crate::raw_http::dechunk(&raw).unwrap_or(raw)
                        } else {
                            raw
                        };
                        WsConnectError::Refused {
                            status: response.status().as_u16(),
                            body,
                        }
                    }
                    other => WsConnectError::Other(other.to_string()),
                })
        };
        let (ws, response) = tokio::time::timeout(WS_TIMEOUT, connect)
            .await
            .map_err(|_| WsConnectError::Other("websocket handshake timed out".into()))??;
        let response_headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        Ok(WsClient {
            ws,
            response_headers,
        })
    }

    /// Sends a text message.
    ///
    /// # Panics
    /// When the connection is gone.
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text))
            .await
            .unwrap_or_else(|e| panic!("websocket send {text:?}: {e}"));
    }

    /// Sends a binary message.
    ///
    /// # Panics
    /// When the connection is gone.
    pub async fn send_binary(&mut self, data: &[u8]) {
        self.ws
            .send(Message::binary(data.to_vec()))
            .await
            .unwrap_or_else(|e| panic!("websocket send binary: {e}"));
    }

    /// Sends a message, returning the error instead of panicking (the server may already have
    /// closed the connection).
    pub async fn try_send(&mut self, message: Message) -> Result<(), tungstenite::Error> {
        self.ws.send(message).await
    }

    /// Sends a close frame with `code`.
    pub async fn close(&mut self, code: u16) {
        let frame = tungstenite::protocol::CloseFrame {
            code: code.into(),
            reason: "".into(),
        };
        let _ = self.ws.close(Some(frame)).await;
    }

    /// The next data or close frame (WebSocket pings/pongs are skipped), or `None` after `timeout`.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Option<WsFrame> {
        let next = async {
            loop {
                return match self.ws.next().await {
                    Some(Ok(Message::Text(t))) => WsFrame::Text(t.as_str().to_owned()),
                    Some(Ok(Message::Binary(b))) => WsFrame::Binary(b.to_vec()),
                    Some(Ok(Message::Close(frame))) => {
                        WsFrame::Close(frame.map(|f| (u16::from(f.code), f.reason.to_string())))
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Err(e)) => WsFrame::Ended(e.to_string()),
                    None => WsFrame::Ended("stream ended".into()),
                };
            }
        };
        tokio::time::timeout(timeout, next).await.ok()
    }

    /// The next frame within [`WS_TIMEOUT`].
    ///
    /// # Panics
    /// On timeout.
    pub async fn recv(&mut self) -> WsFrame {
        self.recv_timeout(WS_TIMEOUT)
            .await
            .unwrap_or_else(|| panic!("no websocket frame within {WS_TIMEOUT:?}"))
    }

    /// The next frame, which must be text.
    ///
    /// # Panics
    /// On timeout or another kind of frame.
    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            WsFrame::Text(t) => t,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next frame, which must be binary.
    ///
    /// # Panics
    /// On timeout or another kind of frame.
    pub async fn recv_binary(&mut self) -> Vec<u8> {
        match self.recv().await {
            WsFrame::Binary(b) => b,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// Reads until the server closes, within `timeout`. Returns how it ended
    /// ([`WsFrame::Close`] or [`WsFrame::Ended`]) and the data frames that arrived before, or
    /// `None` on timeout.
    pub async fn wait_closed(&mut self, timeout: Duration) -> Option<(WsFrame, Vec<WsFrame>)> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_timeout(left).await? {
                end @ (WsFrame::Close(_) | WsFrame::Ended(_)) => return Some((end, before)),
                data => before.push(data),
            }
        }
    }
}
