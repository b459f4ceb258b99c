//! The HTTP long-polling transport: a loop of `GET`s receives, one `POST` at a time sends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use engine_io::{payload, Packet, PacketType, Str};
use http::header::{CONTENT_TYPE, COOKIE};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use url::Url;

use crate::config::ConnConfig;
use crate::connector::HttpConnector;
use crate::transport::{Pause, TransportEvent, TransportHandle, WriteCmd};
use crate::{transport, Error};
use engine_io::TransportType;

/// How much of an error response body is kept for the error message.
const ERROR_BODY_LIMIT: usize = 4096;

/// One client's HTTP machinery: the pooled hyper client (keep-alive connections to the server)
/// and the settings every request needs.
pub(crate) struct Polling {
    config: Arc<ConnConfig>,
    http: HyperClient<HttpConnector, Full<Bytes>>,
}

impl Polling {
    pub(crate) fn new(config: Arc<ConnConfig>) -> Self {
        let connector = HttpConnector {
            tls: config.tls.clone(),
        };
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            // One connection for the long-polling GET, one for POSTs.
            .pool_max_idle_per_host(2)
            .build(connector);
        Polling { config, http }
    }

    /// One `GET`: the handshake (no `sid`) or a poll. Returns the decoded packets.
    pub(crate) async fn get(&self, sid: Option<&str>) -> Result<Vec<Packet>, Error> {
        let url = self.config.endpoint.polling_url(sid);
        let body = self.request(Method::GET, &url, None).await?;
        decode_payload(body)
    }

    /// One `POST` of `packets` (already sized to the server's `maxPayload` by the driver).
    pub(crate) async fn post(&self, sid: &str, packets: &[Packet]) -> Result<(), Error> {
        let url = self.config.endpoint.polling_url(Some(sid));
        let body = payload::encode_v4(packets);
        self.request(Method::POST, &url, Some(Bytes::from(body)))
            .await
            .map(drop)
    }

    async fn request(
        &self,
        method: Method,
        url: &Url,
        body: Option<Bytes>,
    ) -> Result<Bytes, Error> {
        let uri: http::Uri = url
            .as_str()
            .parse()
            .map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(body.clone().unwrap_or_default()))
            .map_err(|e| Error::Http(e.to_string()))?;
        let headers = req.headers_mut();
        for (name, value) in &self.config.headers {
            headers.append(name.clone(), value.clone());
        }
        if body.is_some() {
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain;charset=UTF-8"),
            );
        }
        if let Some(jar) = &self.config.cookie_jar {
            jar.apply(url, headers);
        }
        let has_cookie = headers.contains_key(COOKIE);
        tracing::trace!(method = %req.method(), %url, has_cookie, "engine.io client: request");
        let response = self
            .http
            .request(req)
            .await
            .map_err(|e| Error::Http(error_chain(&e)))?;
        if let Some(jar) = &self.config.cookie_jar {
            jar.store_from(url, response.headers());
        }
        let status = response.status();
        if status != StatusCode::OK {
            let body = Limited::new(response.into_body(), ERROR_BODY_LIMIT)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(status_error(status.as_u16(), &body));
        }
        let limit = self.config.max_incoming_payload;
        Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    Error::PayloadTooLarge { limit }
                } else {
                    Error::Http(error_chain(e.as_ref()))
                }
            })
    }
}

/// Decodes a v4 polling payload.
pub(crate) fn decode_payload(body: Bytes) -> Result<Vec<Packet>, Error> {
    let text = Str::from_utf8(body)
        .map_err(|_| Error::Protocol("polling payload is not valid UTF-8".to_owned()))?;
    payload::decode_v4(text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Protocol(format!("bad polling payload: {e}")))
}

/// The error for a non-200 answer: Engine.IO servers send `{"code":N,"message":"..."}`.
pub(crate) fn status_error(status: u16, body: &[u8]) -> Error {
    #[derive(serde::Deserialize)]
    struct EngineError {
        code: Option<i64>,
        message: Option<String>,
    }
    match serde_json::from_slice::<EngineError>(body) {
        Ok(EngineError {
            code,
            message: Some(message),
        }) => Error::Status {
            status,
            code,
            message,
        },
        _ => {
            let text = String::from_utf8_lossy(body);
            let mut message: String = text.chars().take(200).collect();
            if message.is_empty() {
                message = "(empty body)".to_owned();
            }
            Error::Status {
                status,
                code: None,
                message,
            }
        }
    }
}

/// An error and its sources on one line (hyper's errors say little at the top level).
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The driver's control over the receive loop (for pausing during an upgrade).
struct PollingControl {
    polling: Arc<Polling>,
    sid: Arc<str>,
    events: mpsc::Sender<TransportEvent>,
    paused: Arc<AtomicBool>,
}

impl Pause for PollingControl {
    /// Asks the receive loop to stop after the pending `GET` (it reports `Paused`).
    fn pause(&mut self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Starts a new receive loop. Only call after the old one reported `Paused`.
    fn resume(&mut self) -> JoinHandle<()> {
        self.paused.store(false, Ordering::SeqCst);
        spawn_reader(
            self.polling.clone(),
            self.sid.clone(),
            self.events.clone(),
            self.paused.clone(),
        )
    }
}

/// Starts polling for session `sid`: a receive loop and a writer.
pub(crate) fn start(polling: Arc<Polling>, sid: &str) -> TransportHandle {
    let sid: Arc<str> = Arc::from(sid);
    let (events_tx, events) = mpsc::channel(transport::EVENT_CHANNEL);
    // Capacity 1: the driver hands over one batch and waits for `Drained`.
    let (writer, writer_rx) = mpsc::channel(1);
    let paused = Arc::new(AtomicBool::new(false));
    let reader = spawn_reader(
        polling.clone(),
        sid.clone(),
        events_tx.clone(),
        paused.clone(),
    );
    let writer_task = tokio::spawn(write_loop(
        polling.clone(),
        sid.clone(),
        writer_rx,
        events_tx.clone(),
    ));
    TransportHandle {
        kind: TransportType::Polling,
        events,
        writer,
        control: Some(Box::new(PollingControl {
            polling,
            sid,
            events: events_tx,
            paused,
        })),
        tasks: vec![reader, writer_task],
    }
}

fn spawn_reader(
    polling: Arc<Polling>,
    sid: Arc<str>,
    events: mpsc::Sender<TransportEvent>,
    paused: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if paused.load(Ordering::SeqCst) {
                let _ = events.send(TransportEvent::Paused).await;
                return;
            }
            match polling.get(Some(&sid)).await {
                Ok(packets) => {
                    let closed = packets.iter().any(|p| p.packet_type == PacketType::Close);
                    if events.send(TransportEvent::Packets(packets)).await.is_err() || closed {
                        return;
                    }
                }
                Err(err) => {
                    let _ = events.send(TransportEvent::Closed(Some(err))).await;
                    return;
                }
            }
        }
    })
}

async fn write_loop(
    polling: Arc<Polling>,
    sid: Arc<str>,
    mut commands: mpsc::Receiver<WriteCmd>,
    events: mpsc::Sender<TransportEvent>,
) {
    while let Some(cmd) = commands.recv().await {
        let (packets, last) = match cmd {
            WriteCmd::Packets(packets) => (packets, false),
            WriteCmd::Close => (vec![Packet::empty(PacketType::Close)], true),
        };
        match polling.post(&sid, &packets).await {
            Ok(()) => {
                if events.send(TransportEvent::Drained).await.is_err() || last {
                    return;
                }
            }
            Err(err) => {
                let _ = events.send(TransportEvent::Closed(Some(err))).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_carry_the_engine_io_message() {
        let err = status_error(400, br#"{"code":1,"message":"Session ID unknown"}"#);
        assert_eq!(err.server_message(), Some("Session ID unknown"));
        assert!(matches!(
            err,
            Error::Status {
                status: 400,
                code: Some(1),
                ..
            }
        ));
        let err = status_error(502, b"<html>bad gateway</html>");
        assert_eq!(err.server_message(), Some("<html>bad gateway</html>"));
    }

    #[test]
    fn decodes_payloads_and_rejects_garbage() {
        let packets = decode_payload(Bytes::from_static(b"4hello\x1ebAQI=\x1e2")).unwrap();
        assert_eq!(packets.len(), 3);
        assert!(matches!(
            decode_payload(Bytes::from_static(b"9what")),
            Err(Error::Protocol(_))
        ));
        assert!(matches!(
            decode_payload(Bytes::from_static(b"\xff\xfe")),
            Err(Error::Protocol(_))
        ));
    }
}
