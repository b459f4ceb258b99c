//! The WebSocket transport: one Engine.IO packet per frame, binary messages as binary frames.

use engine_io::{Frame, Packet, ProtocolVersion, Str};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use http::header::COOKIE;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

use crate::config::ConnConfig;
use crate::connector::{self, MaybeTlsStream};
use crate::polling::status_error;
use crate::transport::{TransportEvent, TransportHandle, WriteCmd};
use crate::{transport, Error};
use engine_io::TransportType;

pub(crate) type WsStream = WebSocketStream<MaybeTlsStream>;

/// Opens a WebSocket to the Engine.IO endpoint (`sid` for an upgrade probe, `None` to start a
/// session directly over WebSocket), with the extra headers and the jar's cookies.
pub(crate) async fn connect(config: &ConnConfig, sid: Option<&str>) -> Result<WsStream, Error> {
    let endpoint = &config.endpoint;
    let url = endpoint.websocket_url(sid);
    let cookie_url = endpoint.websocket_cookie_url(sid);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
    let headers = request.headers_mut();
    for (name, value) in &config.headers {
        headers.append(name.clone(), value.clone());
    }
    if let Some(jar) = &config.cookie_jar {
        jar.apply(&cookie_url, headers);
    }
    tracing::trace!(%url, cookie = headers.contains_key(COOKIE), "engine.io client: websocket connect");
    let tls = if endpoint.secure {
        Some(
            config
                .tls
                .as_ref()
                .ok_or_else(|| Error::Tls("TLS is not configured".to_owned()))?,
        )
    } else {
        None
    };
    let stream = connector::connect(&endpoint.host, endpoint.port, tls).await?;
    let limit = config.max_incoming_payload;
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    match tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config)).await {
        Ok((ws, response)) => {
            if let Some(jar) = &config.cookie_jar {
                jar.store_from(&cookie_url, response.headers());
            }
            Ok(ws)
        }
        Err(tungstenite::Error::Http(response)) => {
            if let Some(jar) = &config.cookie_jar {
                jar.store_from(&cookie_url, response.headers());
            }
            let body = response.body().as_deref().unwrap_or_default();
            Err(status_error(response.status().as_u16(), body))
        }
        Err(err) => Err(ws_error(err, limit)),
    }
}

/// Maps a tungstenite error to ours.
fn ws_error(err: tungstenite::Error, limit: usize) -> Error {
    match err {
        tungstenite::Error::Capacity(_) => Error::PayloadTooLarge { limit },
        tungstenite::Error::Io(io) => Error::from(io),
        other => Error::WebSocket(other.to_string()),
    }
}

/// Decodes one frame into a packet; `Ok(None)` for control frames.
pub(crate) fn decode_frame(msg: WsMessage) -> Result<Option<Packet>, Error> {
    let packet = match msg {
        WsMessage::Text(text) => {
            let text = Str::from_utf8(text.into())
                .map_err(|_| Error::Protocol("text frame is not UTF-8".to_owned()))?;
            Packet::decode_text(&text, ProtocolVersion::V4)
        }
        WsMessage::Binary(data) => Packet::decode_binary(data, ProtocolVersion::V4),
        WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) | WsMessage::Close(_) => {
            return Ok(None)
        }
    };
    packet
        .map(Some)
        .map_err(|e| Error::Protocol(format!("bad WebSocket frame: {e}")))
}

/// Reads the first packet of a session opened over WebSocket (the server's `open`).
pub(crate) async fn read_packet(ws: &mut WsStream, limit: usize) -> Result<Packet, Error> {
    loop {
        match ws.next().await {
            Some(Ok(WsMessage::Close(frame))) => {
                return Err(Error::WebSocket(match frame {
                    Some(f) => format!("closed by the server ({}: {})", f.code, f.reason),
                    None => "closed by the server".to_owned(),
                }))
            }
            Some(Ok(msg)) => {
                if let Some(packet) = decode_frame(msg)? {
                    return Ok(packet);
                }
            }
            Some(Err(err)) => return Err(ws_error(err, limit)),
            None => return Err(Error::WebSocket("closed by the server".to_owned())),
        }
    }
}

/// Runs an open WebSocket as a transport.
pub(crate) fn start(ws: WsStream, limit: usize) -> TransportHandle {
    let (sink, stream) = ws.split();
    transport::spawn_duplex(
        TransportType::Websocket,
        |events| read_loop(stream, events, limit),
        |commands, events| write_loop(sink, commands, events),
    )
}

async fn read_loop(
    mut stream: SplitStream<WsStream>,
    events: mpsc::Sender<TransportEvent>,
    limit: usize,
) {
    loop {
        let event = match stream.next().await {
            Some(Ok(WsMessage::Close(_))) | None => TransportEvent::Closed(None),
            Some(Ok(msg)) => match decode_frame(msg) {
                Ok(Some(packet)) => {
                    if transport::forward(&events, packet).await {
                        continue;
                    }
                    return;
                }
                Ok(None) => continue,
                Err(err) => TransportEvent::Closed(Some(err)),
            },
            Some(Err(tungstenite::Error::ConnectionClosed)) => TransportEvent::Closed(None),
            Some(Err(err)) => TransportEvent::Closed(Some(ws_error(err, limit))),
        };
        let _ = events.send(event).await;
        return;
    }
}

async fn write_loop(
    mut sink: SplitSink<WsStream, WsMessage>,
    mut commands: mpsc::Receiver<WriteCmd>,
    events: mpsc::Sender<TransportEvent>,
) {
    while let Some(cmd) = commands.recv().await {
        let result = match cmd {
            WriteCmd::Packets(packets) => write_packets(&mut sink, packets).await,
            WriteCmd::Close => {
                // As the reference client: a clean close handshake, no Engine.IO close packet.
                let _ = sink.close().await;
                let _ = events.send(TransportEvent::Drained).await;
                return;
            }
        };
        let event = match result {
            Ok(()) => TransportEvent::Drained,
            Err(err) => TransportEvent::Closed(Some(ws_error(err, usize::MAX))),
        };
        let failed = matches!(event, TransportEvent::Closed(_));
        if events.send(event).await.is_err() || failed {
            return;
        }
    }
}

async fn write_packets(
    sink: &mut SplitSink<WsStream, WsMessage>,
    packets: Vec<Packet>,
) -> Result<(), tungstenite::Error> {
    for packet in packets {
        let frame = match packet.encode(ProtocolVersion::V4) {
            Frame::Text(text) => WsMessage::Text(text.into()),
            Frame::Binary(data) => WsMessage::Binary(data),
        };
        sink.feed(frame).await?;
    }
    sink.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_io::PacketType;

    #[test]
    fn decodes_frames() {
        let p = decode_frame(WsMessage::Text("4hi".into()))
            .unwrap()
            .unwrap();
        assert_eq!(p.packet_type, PacketType::Message);
        let p = decode_frame(WsMessage::Binary(bytes::Bytes::from_static(b"\x01")))
            .unwrap()
            .unwrap();
        assert!(p.is_binary());
        assert!(decode_frame(WsMessage::Ping(bytes::Bytes::new()))
            .unwrap()
            .is_none());
        assert!(matches!(
            decode_frame(WsMessage::Text("x".into())),
            Err(Error::Protocol(_))
        ));
    }
}
