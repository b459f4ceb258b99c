//! The WebTransport transport (feature `webtransport`): Engine.IO over
//! HTTP/3, as the reference (`engine.io` 6.6 `onWebTransportSession`) speaks
//! it.
//!
//! A client opens a WebTransport session to the engine's path, then one
//! bidirectional stream, and writes its first frame ([`crate::wt_codec`]):
//! * an open packet without data (`0`): a new session over WebTransport; the
//!   server answers with the handshake, as over any transport;
//! * an open packet `0{"sid":"…"}`: the upgrade of that polling session; the
//!   probe (`2probe` / `3probe` / `5`) then runs over the stream as over a
//!   WebSocket.
//!
//! Anything else, an unknown sid, a session already upgrading or upgraded, a
//! stream not opened or its first frame not read within
//! [`crate::Config::upgrade_timeout`], closes the WebTransport session. The
//! limits are the other transports': a frame over
//! [`crate::Config::max_http_buffer_size`] closes the session ("parse error").
//! Unlike the reference (which skips its HTTP checks here), the
//! [`crate::Config::allow_request`] hook runs for a new session, and a refusal
//! is answered `403`.
//!
//! # Library
//! Built on [`wtransport`] (quinn + rustls), re-exported as
//! `engine_io::wtransport`. Compared with `h3` + `h3-webtransport` + `quinn`:
//! `wtransport` has both a server and a client (`h3-webtransport` is
//! server-side only and marked experimental), handles the HTTP/3 settings and
//! CONNECT handshake that Chromium expects, generates the ≤ 14-day ECDSA
//! P-256 certificates `serverCertificateHashes` needs, and takes a custom
//! rustls config; it is maintained (0.6 in 2025, 0.7 since) and 0.6's MSRV
//! (1.81) fits the workspace's 1.85, where `h3` is still 0.0.x and needs the
//! glue (settings, session registry, stream routing) written by hand.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use engine_io::wtransport::{Endpoint, Identity, ServerConfig};
//! use engine_io::{Config, Server, TransportType};
//!
//! let config = Config::builder()
//!     .transports([TransportType::Polling, TransportType::Websocket, TransportType::Webtransport])
//!     .build();
//! let server = Server::new_stream(config);
//! let identity = Identity::self_signed(["localhost", "127.0.0.1"])?;
//! let endpoint = Endpoint::server(
//!     ServerConfig::builder()
//!         .with_bind_default(3000)
//!         .with_identity(identity)
//!         .build(),
//! )?;
//! tokio::spawn({
//!     let server = server.clone();
//!     async move { server.serve_webtransport(endpoint).await }
//! });
//! server.serve(tokio::net::TcpListener::bind("127.0.0.1:3000").await?).await?;
//! # Ok(())
//! # }
//! ```

use crate::conn::Conn;
use crate::packet::{Data, PacketType, ProtocolVersion};
use crate::refusal::ErrorCode;
use crate::request::RequestInfo;
use crate::shared::Shared;
use crate::wt_codec::FrameDecoder;
use crate::wt_io::{read_first, WtIo};
use crate::{Server, TransportType};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use std::sync::Arc;
use std::time::Duration;
use wtransport::endpoint::endpoint_side;
use wtransport::endpoint::{IncomingSession, SessionRequest};
use wtransport::{Endpoint, VarInt};

impl Server {
    /// Serves the WebTransport sessions `endpoint` accepts, until the endpoint
    /// is closed. Needs [`TransportType::Webtransport`] in
    /// [`crate::Config::transports`] (it is then listed in the handshake's
    /// `upgrades`); without it every session is refused (`404`).
    #[cfg_attr(docsrs, doc(cfg(feature = "webtransport")))]
    pub async fn serve_webtransport(&self, endpoint: Endpoint<endpoint_side::Server>) {
        loop {
            let incoming = endpoint.accept().await;
            let shared = self.shared.clone();
            // One task per session request until it is handed to a socket
            // task (or refused): QUIC and HTTP/3 handshakes take round trips.
            tokio::spawn(handle(shared, incoming));
        }
    }
}

/// The request as the hooks see it: a `CONNECT` to the session's path with
/// its headers.
fn request_info(req: &SessionRequest) -> RequestInfo {
    let uri = req
        .path()
        .parse::<Uri>()
        .unwrap_or_else(|_| Uri::from_static("/"));
    let mut headers = HeaderMap::new();
    for (k, v) in req.headers() {
        if k.starts_with(':') {
            continue;
        }
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
            headers.append(n, v);
        }
    }
    RequestInfo::new(Method::CONNECT, uri, &headers, Some(req.remote_address()))
}

async fn handle(shared: Arc<Shared>, incoming: IncomingSession) {
    let Ok(req) = incoming.await else {
        return;
    };
    let cfg = &shared.config;
    let path = req.path();
    let path_only = path.split('?').next().unwrap_or(path);
    let path_ok = path_only == shared.path || path_only == shared.path.trim_end_matches('/');
    if !path_ok || !cfg.transport_enabled(TransportType::Webtransport) {
        shared.handler.on_refused(ErrorCode::UnknownTransport);
        req.not_found().await;
        return;
    }
    let info = request_info(&req);
    if let Some(hook) = &cfg.allow_request {
        if hook(Arc::new(info.clone())).await.is_err() {
            shared.handler.on_refused(ErrorCode::Forbidden);
            req.forbidden().await;
            return;
        }
    }
    let Ok(conn) = req.accept().await else {
        return;
    };
    // The reference's timer: the stream and its first frame within upgradeTimeout.
    let deadline = tokio::time::Instant::now() + cfg.upgrade_timeout;
    let Ok(Ok((send, mut recv))) = tokio::time::timeout_at(deadline, conn.accept_bi()).await else {
        conn.close(VarInt::from_u32(0), b"");
        return;
    };
    let mut decoder = FrameDecoder::new(cfg.max_http_buffer_size);
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let Some((first, rbuf)) = read_first(&mut recv, &mut decoder, left.max(Duration::ZERO)).await
    else {
        conn.close(VarInt::from_u32(0), b"");
        return;
    };
    if first.packet_type != PacketType::Open {
        conn.close(VarInt::from_u32(0), b"");
        return;
    }
    let sid = match &first.data {
        Data::Empty => None,
        Data::Text(t) => match parse_sid(t) {
            Some(sid) => Some(sid),
            None => {
                conn.close(VarInt::from_u32(0), b"");
                return;
            }
        },
        Data::Binary(_) => {
            conn.close(VarInt::from_u32(0), b"");
            return;
        }
    };
    let io = Conn::Wt(Box::new(WtIo::new(conn, send, recv, decoder, rbuf)));
    match sid {
        None => {
            let socket = crate::handshake::create_socket(
                &shared,
                info,
                ProtocolVersion::V4,
                TransportType::Webtransport,
            );
            shared.handler.on_connect(socket.clone());
            crate::driver::spawn(socket, Some(io));
        }
        Some(sid) => {
            let socket = match shared.get(&sid) {
                // WebTransport speaks v4 only.
                Some(s) if s.protocol() == ProtocolVersion::V4 => s,
                _ => return io.close_detached(),
            };
            crate::websocket::offer_probe(&socket, io, TransportType::Webtransport);
        }
    }
}

/// The sid of an upgrade's open packet `{"sid":"…"}` (the reference's
/// `parseSessionId`: any JSON object whose `sid` is a string).
fn parse_sid(data: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Upgrade {
        sid: String,
    }
    serde_json::from_str::<Upgrade>(data).ok().map(|u| u.sid)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::parse_sid;

    #[test]
    fn upgrade_packet_sid() {
        assert_eq!(parse_sid(r#"{"sid":"abc"}"#).as_deref(), Some("abc"));
        assert_eq!(parse_sid(r#"{"sid":"abc","x":1}"#).as_deref(), Some("abc"));
        assert_eq!(parse_sid(r#"{"sid":1}"#), None);
        assert_eq!(parse_sid("nope"), None);
    }
}
