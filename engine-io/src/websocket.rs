//! The WebSocket transport's HTTP side: the upgrade request (handshake
//! validation and the 101 answer), for a new session or to take over a polling
//! session (the probe; the upgrade itself is in [`crate::session`]). The
//! stream under it is [`crate::ws_io`].

use crate::body::{empty, ResponseBody};
use crate::conn::Conn;
use crate::packet::ProtocolVersion;
use crate::refusal::{ErrorCode, Refusal};
use crate::request::{Direct, RequestInfo};
use crate::shared::Shared;
use crate::socket::Socket;
use crate::ws_io::{into_new_ws, into_ws, WsIo, WsStream};
use crate::TransportType;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use std::sync::Arc;
use tokio_tungstenite::tungstenite;

/// Checks the WebSocket handshake headers (as the `ws` package does) and
/// returns the `Sec-WebSocket-Accept` value.
pub(crate) fn accept_key(headers: &HeaderMap) -> Result<String, &'static str> {
    let upgrade_ok = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    if !upgrade_ok {
        return Err("Invalid Upgrade header");
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|v| v.as_bytes().trim_ascii())
        .unwrap_or(b"");
    let decoded_len =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, key).map(|k| k.len());
    if decoded_len != Ok(16) {
        return Err("Missing or invalid Sec-WebSocket-Key header");
    }
    let version = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes());
    if version != Some(b"13") && version != Some(b"8") {
        return Err("Missing or invalid Sec-WebSocket-Version header");
    }
    Ok(tungstenite::handshake::derive_accept_key(key))
}

pub(crate) fn switching_protocols(
    accept: String,
    extra: Option<HeaderMap>,
) -> Response<ResponseBody> {
    let mut res = Response::new(empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    // The extra headers' map becomes the response's (same order as extending an empty one,
    // without copying every header into a map that grows as it goes).
    let mut h = extra.unwrap_or_default();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    *res.headers_mut() = h;
    res
}

/// Headers of a 101 answer: CORS, then the user's hook.
pub(crate) fn upgrade_headers(
    server_cfg: &crate::Config,
    info: &RequestInfo,
    cors: Option<HeaderMap>,
    initial: bool,
) -> HeaderMap {
    let mut h = cors.unwrap_or_default();
    if let Some(hook) = &server_cfg.headers {
        hook(info, &mut h, initial);
    }
    h
}

/// A new session over WebSocket.
pub(crate) fn handshake(
    shared: Arc<Shared>,
    info: RequestInfo,
    protocol: ProtocolVersion,
    mut parts: http::request::Parts,
    cors: Option<HeaderMap>,
) -> Response<ResponseBody> {
    let accept = match accept_key(&parts.headers) {
        Ok(a) => a,
        Err(m) => {
            return Refusal {
                code: ErrorCode::BadRequest,
                message: Some(m.into()),
            }
            .upgrade_response()
        }
    };
    // Read by `Server::serve` itself, the connection is taken over by the task that read it;
    // otherwise by hyper's upgrade.
    let direct = parts.extensions.get::<Direct>().is_some();
    let on_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    if !direct && on_upgrade.is_none() {
        // Served without upgrade support: nothing can take the connection over.
        return Refusal::new(ErrorCode::BadRequest).upgrade_response();
    }
    let headers = upgrade_headers(&shared.config, &info, cors, true);
    let mut res = switching_protocols(accept, Some(headers));
    let session = NewSession {
        shared,
        info,
        protocol,
    };
    match on_upgrade.filter(|_| !direct) {
        // Boxed: the upgrade's future holds the request and the WebSocket being built (a few
        // KB), which tokio would otherwise move three times.
        Some(on_upgrade) => {
            tokio::spawn(Box::pin(async move {
                let Some(ws) = into_new_ws(on_upgrade, &session.shared.config).await else {
                    return;
                };
                let (socket, conn) = session.open(ws);
                // A fresh task for the session: this one (with the upgrade machinery in
                // its state) ends, so an idle connection only keeps the small driver task.
                crate::driver::spawn(socket, Some(conn));
            }));
        }
        None => {
            res.extensions_mut().insert(session);
        }
    }
    res
}

/// A WebSocket session accepted, to be opened once its connection is taken over.
#[derive(Clone)]
pub(crate) struct NewSession {
    shared: Arc<Shared>,
    info: RequestInfo,
    protocol: ProtocolVersion,
}

impl NewSession {
    /// Creates the session over `ws`: its socket, and the connection its task drives
    /// ([`crate::driver::run`]).
    pub(crate) fn open(self, ws: WsStream) -> (Arc<Socket>, Conn) {
        let NewSession {
            shared,
            info,
            protocol,
        } = self;
        let socket =
            crate::handshake::create_socket(&shared, info, protocol, TransportType::Websocket);
        // on_connect before the driver reads anything, so it precedes on_message.
        shared.handler.on_connect(socket.clone());
        (socket, Conn::Ws(WsIo::new(ws)))
    }
}

/// A WebSocket for an existing (polling) session: the upgrade probe.
pub(crate) fn upgrade_existing(
    socket: Arc<Socket>,
    mut parts: http::request::Parts,
    cors: Option<HeaderMap>,
) -> Response<ResponseBody> {
    let accept = match accept_key(&parts.headers) {
        Ok(a) => a,
        Err(m) => {
            return Refusal {
                code: ErrorCode::BadRequest,
                message: Some(m.into()),
            }
            .upgrade_response()
        }
    };
    let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return Refusal::new(ErrorCode::BadRequest).upgrade_response();
    };
    let headers = upgrade_headers(&socket.shared.config, socket.request(), cors, false);
    tokio::spawn(async move {
        let Some(ws) = into_ws(on_upgrade, &socket.shared.config).await else {
            return;
        };
        offer_probe(&socket, Conn::Ws(WsIo::new(ws)), TransportType::Websocket);
    });
    switching_protocols(accept, Some(headers))
}

/// Offers `conn` to take over the polling session of `socket` (the probe of
/// an upgrade): the session decides (already upgrading or upgraded, closed,
/// upgrades off: refused and closed), the socket task takes the offer.
pub(crate) fn offer_probe(socket: &Arc<Socket>, conn: crate::conn::Conn, via: TransportType) {
    let mut st = socket.lock();
    st.session.handle_event(
        tokio::time::Instant::now().into_std(),
        crate::session::Event::ProbeOpened(via),
    );
    let mut after = socket.apply(&mut st);
    if after.refused() {
        drop(st);
        conn.close_detached();
    } else {
        st.probe_offer = Some(Box::new(conn));
        after.wake_task(&mut st);
        drop(st);
    }
    socket.finish(after);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_header_validation() {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        // RFC 6455's example
        assert_eq!(accept_key(&h).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        h.insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_static("short"));
        assert!(accept_key(&h).is_err());
    }
}
